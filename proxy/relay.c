/* relay.c — the byte relay of an established session: client to backend
 * and back, plain or TLS on either side, with back-pressure and half-close.
 *
 * Each direction has one fixed buffer from the worker's pool (a big block:
 * a busy direction moves 64 KiB per system call), taken when bytes arrive
 * and given back as soon as it drains, so an idle session holds none. A
 * side is not read while the buffer towards the other side is full
 * (back-pressure instead of growth). Whatever is read is written on in the
 * same callback: nothing waits for a later event, and no write is parked
 * until the peer sends something (only the start of a packet whose rest
 * the backend has yet to deliver). Towards the client the framer
 * (framer.h) cuts the TLS records on packet boundaries — a control packet
 * or the last packet buffered alone, runs of data packets together — and
 * the records of one round leave together in one send() (wstage.h). EOF on
 * one side (TCP FIN or TLS close_notify) is passed on once its buffer has
 * drained — close_notify then FIN — and the other direction goes on until
 * it ends too. After relayed traffic a worker polls briefly before it
 * sleeps (see "polling" below). */
#include "proxy/relay.h"

#include <openssl/err.h>
#include <sched.h>

#include "core/log.h"
#include "proxy/stats.h"
#include "proxy/worker.h"

#define RELAY_ROUNDS 16 /* read/write rounds per event before yielding to other sessions */

/* ---- polling: a moment of it instead of sleeping after relayed traffic ----
 * On a virtual machine a worker that blocks in epoll_wait hands its vCPU
 * back to the host, and being woken for the next packet costs tens of
 * microseconds (about 30 us per process-to-process hop on the benchmark
 * host, whose kernel does no halt-polling of its own) — more than relaying
 * the packet. So after relayed traffic the worker keeps polling
 * (epoll_wait with a zero timeout, through an idle watcher; each turn
 * yields the CPU to any task runnable on it) for a window before it
 * blocks. The window adapts as Linux's cpuidle-haltpoll governor does:
 * when the worker blocked and the next relay event came within SPIN_MAX_S,
 * it grows (x2, from SPIN_GROW_S); when the wait was longer, it halves,
 * down to 0 — traffic with longer gaps never makes a worker spin. And in
 * each SPIN_PERIOD_S the worker spins at most SPIN_RATIO times as long as
 * it spent relaying, so polling can at most triple a worker's CPU time,
 * however the gaps fall. The trade (CPU for latency) is HAProxy's
 * `busy-polling`, bounded and adaptive; SPIN_MAX_S 0 turns it off. State
 * of the worker process: a worker's relays share its loop. */
#define SPIN_MAX_S 200e-6
#define SPIN_GROW_S 25e-6
#define SPIN_MIN_S 5e-6    /* a shorter window is none */
#define SPIN_PERIOD_S 0.1
#define SPIN_RATIO 2.0

static struct {
    ev_idle idle;
    ev_tstamp window;   /* current polling window; 0: block at once */
    ev_tstamp since;    /* polling since then (idle watcher active) */
    ev_tstamp deadline; /* poll until then */
    ev_tstamp last_end; /* when the last relay run that moved data ended; 0: none yet */
    ev_tstamp period;   /* start of the current accounting period */
    ev_tstamp work, spun; /* relaying and polling time in this period */
} spin;

/* Polling ends (timeout, or the event it waited for): count its time. */
static void spin_end(struct ev_loop *loop, ev_tstamp now)
{
    ev_idle_stop(loop, &spin.idle);
    spin.spun += now - spin.since;
}

static void spin_cb(struct ev_loop *loop, ev_idle *w, int revents)
{
    (void)w;
    (void)revents;
    ev_tstamp now = ev_now(loop);
    if (now >= spin.deadline) {
        spin_end(loop, now); /* nothing came: block from now on */
        return;
    }
    sched_yield(); /* a runnable task goes first; with none, this returns at once */
}

/* A relay event woke the worker at `now`: adapt the window to how long it
 * waited since the last traffic. */
static void spin_adapt(struct ev_loop *loop, ev_tstamp now)
{
    if (ev_is_active(&spin.idle))
        spin_end(loop, now); /* caught while polling */
    if (spin.last_end == 0)
        return;
    ev_tstamp waited = now - spin.last_end;
    if (waited <= spin.window)
        return;
    if (waited <= SPIN_MAX_S) {
        ev_tstamp v = spin.window * 2;
        spin.window = v < SPIN_GROW_S ? SPIN_GROW_S : v > SPIN_MAX_S ? SPIN_MAX_S : v;
    } else {
        spin.window /= 2;
        if (spin.window < SPIN_MIN_S)
            spin.window = 0;
    }
}

/* A relay run that began about `start` (the loop's time) moved data: poll
 * for the window before blocking, within the period's allowance. */
static void spin_arm(struct ev_loop *loop, ev_tstamp start)
{
    ev_tstamp now = ev_time();
    spin.last_end = now;
    if (ev_is_active(&spin.idle)) { /* a run that no event started: count what was polled */
        spin.spun += now - spin.since;
        spin.since = now;
    }
    if (now - spin.period >= SPIN_PERIOD_S) {
        spin.period = now;
        spin.work = spin.spun = 0;
    }
    spin.work += now - start;
    if (spin.window <= 0 || spin.spun >= SPIN_RATIO * spin.work) {
        if (ev_is_active(&spin.idle))
            spin_end(loop, now);
        return;
    }
    spin.since = now;
    spin.deadline = now + spin.window;
    if (!ev_is_active(&spin.idle)) {
        ev_idle_init(&spin.idle, spin_cb);
        ev_idle_start(loop, &spin.idle);
    }
}

struct dir {
    struct io *src, *dst;
    struct buf *b;
    bool *src_eof, *dst_shut;
    uint8_t *rd_want, *wr_want;
    uint64_t *bytes_read, *bytes_written;
    enum px_dir metric;           /* counted when written */
    bool to_client;               /* framed records through the staging buffer */
    char src_who, dst_who;        /* term letter if that side fails */
};

static bool has_room(const struct buf *b)
{
    return !buf_full(b);
}

static void count_written(struct px_conn *c, const struct dir *d, size_t n)
{
    *d->bytes_written += (uint64_t)n;
    metrics_add(c->w->mv, &c->w->m->fam[PXM_BYTES], d->metric, (uint64_t)n);
}

static int write_failed(struct px_conn *c, const struct dir *d)
{
    log_debug("relay_error", "sid=%s side=%c op=write err=%d ssl_err=%d", c->sid, d->dst_who,
              d->dst->err, d->dst->ssl_err);
    px_conn_close(c, c->ws.failed ? 'R' : d->dst_who, c->ws.failed ? SSTP_E_NOSPACE : SSTP_OK);
    return -1;
}

/* Towards the backend: write until sent or the socket blocks. Returns -1
 * if the connection was closed. */
static int flush_backend(struct px_conn *c, const struct dir *d, bool *progress)
{
    while (buf_len(d->b) > 0 && !*d->wr_want) {
        ssize_t n = io_write(d->dst, buf_rptr(d->b), buf_len(d->b));
        if (n == IO_AGAIN) {
            *d->wr_want = (uint8_t)d->dst->want;
            break;
        }
        if (n < 0)
            return write_failed(c, d);
        buf_consume(d->b, (size_t)n);
        count_written(c, d, (size_t)n);
        *progress = true;
    }
    return 0;
}

/* The bytes of b2c that make the next TLS record towards the client
 * (framer.h); 0 when what is there must wait for the rest of a packet. */
static size_t next_record(const struct px_conn *c)
{
    if (buf_len(&c->b2c) == 0)
        return 0;
    return px_framer_record(&c->fr, buf_rptr(&c->b2c), buf_len(&c->b2c), c->be_eof);
}

/* Towards the client: send what is staged; encrypt one record at a time
 * (framer.h) into the staging buffer until it is full or nothing more can
 * go; send again. With kernel TLS nothing is staged: each write is a
 * record the kernel seals. Stops when the socket is full (cli_wr_want = WRITE).
 * Returns -1 if the connection was closed. */
static int flush_client(struct px_conn *c, const struct dir *d, bool *progress)
{
    while (!c->cli_wr_want) {
        int r = px_wstage_flush(&c->ws, c->cli.fd);
        if (r == -1) {
            c->cli.err = errno;
            return write_failed(c, d);
        }
        if (r == 1) {
            c->cli_wr_want = EV_WRITE;
            return 0;
        }
        size_t len;
        if ((len = next_record(c)) == 0)
            return 0;
        do {
            ssize_t n = io_write(&c->cli, buf_rptr(d->b), len);
            if (n == IO_AGAIN) {
                if (c->cli.want == IO_WANT_WRITE && px_wstage_pending(&c->ws) > 0)
                    break; /* staging full: send it, then go on */
                c->cli_wr_want = (uint8_t)(c->cli.want ? c->cli.want : EV_WRITE);
                return 0;
            }
            if (n < 0)
                return write_failed(c, d);
            px_framer_consume(&c->fr, buf_rptr(d->b), (size_t)n);
            buf_consume(d->b, (size_t)n);
            count_written(c, d, (size_t)n);
            *progress = true;
        } while ((len = next_record(c)) > 0);
    }
    return 0;
}

static int flush_dir(struct px_conn *c, const struct dir *d, bool *progress)
{
    return d->to_client ? flush_client(c, d, progress) : flush_backend(c, d, progress);
}

/* Ends our sending side towards d->dst once its data is out. */
static int shut_dst(struct px_conn *c, const struct dir *d, bool *progress)
{
    *d->dst_shut = true;
    *progress = true;
    if (!d->to_client) {
        px_conn_shut_write(d->dst);
        return 0;
    }
    io_close_notify(&c->cli); /* into the staging buffer, or through the kernel's TLS */
    c->ws.fin = true;         /* then FIN, once it has left */
    return flush_client(c, d, progress);
}

/* Reads from d->src into its buffer until the source blocks, ends or the
 * buffer is full; with `buffered_only`, only while OpenSSL holds input it
 * already took off the socket. Returns -1 if the connection was closed. */
static int fill(struct px_conn *c, const struct dir *d, bool *progress, bool buffered_only)
{
    struct px_worker *w = c->w;
    while (!*d->src_eof && !*d->rd_want && has_room(d->b)) {
        if (buffered_only && !(d->src->ssl && SSL_has_pending(d->src->ssl)))
            break;
        /* A session that holds no buffer starts only within the worker's
         * relay memory, else it waits for it without reading, so its
         * peer's TCP window closes (back-pressure, never a drop). One that
         * holds a buffer may take its second: a round trip in progress
         * (client -> backend -> echo -> client) must be able to finish, or
         * buffers held on one side would wait forever for the other. */
        if (!d->b->data && !c->c2b.data && !c->b2c.data && !px_worker_memory_ok(w, c))
            break;
        /* big blocks: a busy direction reads and sends 64 KiB per call */
        if (buf_take_big(&w->pool, d->b) == -1) {
            px_conn_close(c, 'R', SSTP_E_NOSPACE);
            return -1;
        }
        px_worker_buf_taken(w);
        if (buf_room(d->b) == 0)
            buf_compact(d->b); /* TLS allows the retried write's buffer to move */
        ssize_t n = io_read(d->src, buf_wptr(d->b), buf_room(d->b));
        if (n > 0) {
            d->b->tail += (size_t)n;
            *d->bytes_read += (uint64_t)n;
            *progress = true;
            if (d->src->dry)
                *d->rd_want = IO_WANT_READ; /* the socket is empty: a read now would only block */
        } else if (n == IO_AGAIN) {
            *d->rd_want = (uint8_t)d->src->want;
        } else if (n == IO_EOF) {
            *d->src_eof = true;
            *progress = true;
        } else {
            log_debug("relay_error", "sid=%s side=%c op=read err=%d ssl_err=%d refused=%d", c->sid,
                      d->src_who, d->src->err, d->src->ssl_err, (int)d->src->refused);
            enum sstp_rc rc = SSTP_OK;
            px_conn_ktls_refused(c, d->src, &rc);
            px_conn_close(c, d->src_who, rc);
            return -1;
        }
    }
    return 0;
}

/* Gives back an emptied buffer and passes EOF on once the data is out.
 * Returns -1 if the connection was closed. */
static int settle(struct px_conn *c, const struct dir *d, bool *progress)
{
    buf_release(&c->w->pool, d->b);
    if (*d->src_eof && buf_len(d->b) == 0 && !*d->dst_shut && shut_dst(c, d, progress) == -1)
        return -1;
    return 0;
}

/* Moves input OpenSSL holds into the buffer (see px_relay_run). */
static int drain(struct px_conn *c, const struct dir *d, bool *progress)
{
    return fill(c, d, progress, true) == -1 ? -1 : settle(c, d, progress);
}

/* One round of a direction: send what is buffered, read until the source
 * blocks or the buffer is full (fewer, larger writes), send that, and pass
 * EOF on once drained. An operation that blocked is not retried until its
 * readiness came back (its want was cleared by the event), so no system
 * call is wasted on a socket known to be empty or full. Returns -1 if the
 * connection was closed. */
static int pump(struct px_conn *c, const struct dir *d, bool *progress)
{
    if (flush_dir(c, d, progress) == -1)
        return -1;
    if (fill(c, d, progress, false) == -1 || flush_dir(c, d, progress) == -1)
        return -1;
    return settle(c, d, progress);
}

/* Something can be sent to the client now (a packet whose rest is still
 * to come from the backend does not count: it waits for the backend). */
static bool client_out_pending(const struct px_conn *c)
{
    return next_record(c) > 0 || px_wstage_pending(&c->ws) > 0 || (c->ws.fin && !c->ws.fin_sent);
}

/* A side may be read: not ended, room in its buffer, and a buffer held
 * or memory to take one (not waiting in line for it). */
static bool readable(const struct px_conn *c, bool eof, const struct buf *b)
{
    return !eof && has_room(b) && (b->data || !c->mem_wait);
}

void px_relay_watch(struct px_conn *c)
{
    int cev = 0, bev = 0;
    if (readable(c, c->cli_eof, &c->c2b))
        cev |= c->cli_rd_want ? c->cli_rd_want : EV_READ;
    if (client_out_pending(c))
        cev |= c->cli_wr_want ? c->cli_wr_want : EV_WRITE;
    if (readable(c, c->be_eof, &c->b2c))
        bev |= c->be_rd_want ? c->be_rd_want : EV_READ;
    if (buf_len(&c->c2b) > 0)
        bev |= c->be_wr_want ? c->be_wr_want : EV_WRITE;
    px_conn_watch(c, &c->cw, c->cli.fd, cev);
    px_conn_watch(c, &c->bw, c->be.fd, bev);
}

/* A readiness event satisfies the wants waiting for it. */
static void ready(uint8_t *rd_want, uint8_t *wr_want, int revents)
{
    if (*rd_want & revents)
        *rd_want = 0;
    if (*wr_want & revents)
        *wr_want = 0;
}

void px_relay_run(struct px_conn *c, int cli_revents, int be_revents)
{
    struct px_worker *w = c->w;
    ev_tstamp start = ev_now(w->loop);
    if (SPIN_MAX_S > 0 && (cli_revents | be_revents))
        spin_adapt(w->loop, start);
    ready(&c->cli_rd_want, &c->cli_wr_want, cli_revents & (EV_READ | EV_WRITE));
    ready(&c->be_rd_want, &c->be_wr_want, be_revents & (EV_READ | EV_WRITE));
    struct dir up = {
        &c->cli, &c->be, &c->c2b, &c->cli_eof, &c->be_shut, &c->cli_rd_want, &c->be_wr_want,
        &c->bytes_in, NULL, PXD_IN, false, 'C', 'S',
    };
    struct dir down = {
        &c->be, &c->cli, &c->b2c, &c->be_eof, &c->cli_shut, &c->be_rd_want, &c->cli_wr_want,
        NULL, &c->bytes_out, PXD_OUT, true, 'S', 'C',
    };
    /* bytes_in counts what was read from the client, bytes_out what was
     * written to it */
    uint64_t discard = 0;
    down.bytes_read = &discard;
    up.bytes_written = &discard;

    bool moved = false;
    for (int round = 0; round < RELAY_ROUNDS; round++) {
        bool progress = false;
        if (pump(c, &up, &progress) == -1 || pump(c, &down, &progress) == -1)
            return;
        /* Budget spent after this round: the others' turn. The sockets are
         * watched level-triggered, so what they still hold brings us back
         * after the next poll; only input OpenSSL already took off a socket
         * would not, so that is moved into the buffers now (up to their
         * room), where the watchers see it. No event is fed back: it would
         * run before the others and starve them. */
        if (round == RELAY_ROUNDS - 1 &&
            (drain(c, &up, &progress) == -1 || drain(c, &down, &progress) == -1))
            return;
        /* reading from the client may have queued TLS bytes of its own */
        if (px_wstage_pending(&c->ws) > 0 && flush_client(c, &down, &progress) == -1)
            return;
        if (c->cli_eof && c->be_eof && c->cli_shut && c->be_shut && !client_out_pending(c)) {
            px_conn_close(c, '-', SSTP_OK);
            return;
        }
        if (!progress)
            break;
        moved = true;
    }
    if (moved) {
        c->t_last = ev_now(w->loop);
        if (SPIN_MAX_S > 0)
            spin_arm(w->loop, start);
    }
    if ((c->cli_eof || c->be_eof) && !c->fin_armed) {
        c->fin_armed = true; /* one side is done: the other gets fin_timeout */
        px_conn_arm_timer(c, w->cfg->fin_timeout);
    }
    px_relay_watch(c);
}
