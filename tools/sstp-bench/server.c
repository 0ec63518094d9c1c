/* server.c — --serve, the reference target. */
#include "tools/sstp-bench/bench.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/io.h"
#include "core/log.h"
#include "core/net.h"
#include "sstp/binding.h"
#include "sstp/ctrl.h"
#include "sstp/http.h"
#include "sstp/packet.h"
#include "sstp/proxyproto.h"


enum sp_phase {
    SP_PROXY = 0,  /* waiting for the PROXY header */
    SP_TLS,        /* TLS handshake */
    SP_HTTP,       /* request head */
    SP_REQ,        /* 200 sent, waiting for CALL_CONNECT_REQUEST */
    SP_CONN_WAIT,  /* ACK sent, waiting for CALL_CONNECTED */
    SP_UP,         /* connected: data packets are echoed */
};

struct srv_worker;

/* What only the set-up needs; freed once the call is connected, so an idle
 * session holds just struct srv_conn and its SSL. */
struct srv_setup {
    ev_timer deadline;                 /* MS-SSTP 3.3.2: negotiation timer */
    struct sstp_http_req *http;        /* only during SP_HTTP */
    uint8_t nonce[SSTP_NONCE_LEN];
    bool have_tlv256, have_tlv1;       /* cert hashes from the PROXY header */
    uint8_t tlv256[SSTP_SHA256_LEN];
    uint8_t tlv1[SSTP_SHA1_LEN];
};

struct srv_conn {
    ev_io w;                           /* first: the callback casts back */
    struct io io;
    struct srv_worker *wk;
    struct srv_conn *prev, *next;
    struct srv_setup *setup;
    struct buf in, out;                /* pool buffers, held only while not empty */
    size_t span;                       /* data packets at the front of `in` being echoed */
    struct again_link again;
    enum sp_phase phase;
    int want;                          /* EV_READ or EV_WRITE */
    bool closing;                      /* close once `out` is flushed */
};

struct srv_worker {
    struct ev_loop *loop;
    const struct opts *o;
    SSL_CTX *ctx;                      /* NULL: plain */
    int lfd;
    ev_io lw;
    ev_timer pause;                    /* accept paused after EMFILE */
    ev_signal sigterm, sigint;
    struct buf_pool pool;
    struct again_q again;
    bool have_trust;                   /* hashes of the certificate the client saw */
    struct tls_cert_hashes trust;
    struct srv_conn *conns;
    struct srv_stats st;
};

static void srv_close(struct srv_conn *c)
{
    struct srv_worker *wk = c->wk;
    ev_io_stop(wk->loop, &c->w);
    again_remove(&wk->again, &c->again);
    if (c->setup) {
        ev_timer_stop(wk->loop, &c->setup->deadline);
        free(c->setup->http);
        free(c->setup);
    }
    io_close(&c->io);
    buf_drop(&wk->pool, &c->in);
    buf_drop(&wk->pool, &c->out);
    if (c->prev)
        c->prev->next = c->next;
    else
        wk->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    free(c);
}

static struct sstp_wbuf *srv_out(struct srv_conn *c, struct sstp_wbuf *w)
{
    return out_begin(&c->wk->pool, &c->out, w);
}

static void srv_commit(struct srv_conn *c, const struct sstp_wbuf *w)
{
    c->out.tail += w->len;
}

/* Queues CALL_ABORT and closes after flushing it (MS-SSTP 3.3.5.2.x). */
static int srv_send_abort(struct srv_conn *c, uint8_t attrib, uint32_t status)
{
    struct sstp_status_info si = { .attrib_id = attrib, .status = status };
    struct sstp_wbuf w;
    if (srv_out(c, &w) && sstp_ctrl_encode_abort(&w, &si) == SSTP_OK)
        srv_commit(c, &w);
    c->closing = true;
    return 1;
}

/* A protocol error: counted, then CALL_ABORT with AttribID STATUS_INFO. */
static int srv_abort(struct srv_conn *c, uint32_t status)
{
    c->wk->st.sstp_err++;
    return srv_send_abort(c, SSTP_ATTRIB_STATUS_INFO, status);
}

static int srv_connected(struct srv_conn *c, const struct sstp_pkt *pkt)
{
    struct srv_worker *wk = c->wk;
    struct srv_setup *s = c->setup;
    const uint8_t (*h256)[32] = NULL, (*h1)[20] = NULL;
    if (s->have_tlv256 || s->have_tlv1) {
        h256 = s->have_tlv256 ? &s->tlv256 : NULL;
        h1 = s->have_tlv1 ? &s->tlv1 : NULL;
    } else if (wk->have_trust) {
        h256 = &wk->trust.sha256;
        h1 = &wk->trust.sha1;
    }
    if (!h256 && !h1) {
        wk->st.binding_unchecked++;
    } else {
        uint8_t hlak[SSTP_HLAK_LEN];
        struct sstp_bind_trust trust = { h256, h256 ? 1u : 0u, h1, h1 ? 1u : 0u };
        sstp_bind_hlak_none(hlak);
        enum sstp_rc rc = sstp_bind_verify(pkt->raw, pkt->len, wk->o->hash_bits, s->nonce, &trust, hlak);
        if (rc != SSTP_OK) {
            /* MS-SSTP 3.3.5.2.3: ABORT about the Crypto Binding attribute */
            wk->st.binding_fail++;
            return srv_send_abort(c, SSTP_ATTRIB_CRYPTO_BINDING, SSTP_STATUS_VALUE_NOT_SUPPORTED);
        }
    }
    wk->st.connected++;
    c->phase = SP_UP;
    ev_timer_stop(wk->loop, &s->deadline);
    free(s->http);
    free(s);
    c->setup = NULL;
    return 1;
}

/* One control packet. 1, or -1 when the connection was closed. */
static int srv_ctrl(struct srv_conn *c, const struct sstp_pkt *pkt)
{
    struct srv_worker *wk = c->wk;
    struct sstp_ctrl m;
    struct sstp_wbuf w;
    if (sstp_ctrl_decode(&m, pkt->raw, pkt->len) != SSTP_OK)
        return srv_abort(c, SSTP_STATUS_INVALID_FRAME_RECEIVED);
    switch (m.type) {
    case SSTP_MSG_CALL_CONNECT_REQUEST:
        if (c->phase != SP_REQ || sstp_ctrl_check(&m) != SSTP_OK)
            return srv_abort(c, SSTP_STATUS_UNACCEPTED_FRAME_RECEIVED);
        if (RAND_bytes(c->setup->nonce, SSTP_NONCE_LEN) != 1 || !srv_out(c, &w) ||
            sstp_ctrl_encode_connect_ack(&w, wk->o->hash_bits, c->setup->nonce) != SSTP_OK) {
            srv_close(c);
            return -1;
        }
        srv_commit(c, &w);
        wk->st.acked++;
        c->phase = SP_CONN_WAIT;
        return 1;
    case SSTP_MSG_CALL_CONNECTED:
        if (c->phase != SP_CONN_WAIT)
            return srv_abort(c, SSTP_STATUS_UNACCEPTED_FRAME_RECEIVED);
        return srv_connected(c, pkt);
    case SSTP_MSG_ECHO_REQUEST:
        /* lenient like the backend: answered from the ACK on */
        if (c->phase < SP_CONN_WAIT)
            return srv_abort(c, SSTP_STATUS_UNACCEPTED_FRAME_RECEIVED);
        if (!srv_out(c, &w) || sstp_ctrl_encode_echo_response(&w) != SSTP_OK) {
            srv_close(c);
            return -1;
        }
        srv_commit(c, &w);
        wk->st.echo_replies++;
        return 1;
    case SSTP_MSG_ECHO_RESPONSE:
        return 1;
    case SSTP_MSG_CALL_DISCONNECT:
        if (srv_out(c, &w) && sstp_ctrl_encode_disconnect_ack(&w) == SSTP_OK)
            srv_commit(c, &w);
        c->closing = true;
        return 1;
    case SSTP_MSG_CALL_ABORT:
    case SSTP_MSG_CALL_DISCONNECT_ACK:
        srv_close(c);
        return -1;
    default:
        return srv_abort(c, SSTP_STATUS_INVALID_FRAME_RECEIVED);
    }
}

/* Consumes the front of `in`: 1 on progress, 0 when more bytes are needed,
 * -1 when the connection was closed. */
static int srv_parse(struct srv_conn *c)
{
    struct srv_worker *wk = c->wk;
    struct buf *in = &c->in;
    struct sstp_wbuf w;
    size_t used = 0;
    enum sstp_rc rc;
    switch (c->phase) {
    case SP_PROXY: {
        struct sstp_pp_hdr h;
        rc = sstp_pp_parse(&h, &used, buf_rptr(in), buf_len(in));
        if (rc == SSTP_AGAIN)
            return 0;
        if (rc != SSTP_OK) {
            wk->st.proxy_err++;
            srv_close(c);
            return -1;
        }
        /* sstp-proxy's TLVs: the certificate this client saw (a bench target
         * trusts its PROXY peer; a real backend checks who sent them) */
        if (h.present & SSTP_PP_HAS_CERT_SHA256) {
            memcpy(c->setup->tlv256, h.cert_sha256, SSTP_SHA256_LEN);
            c->setup->have_tlv256 = true;
        }
        if (h.present & SSTP_PP_HAS_CERT_SHA1) {
            memcpy(c->setup->tlv1, h.cert_sha1, SSTP_SHA1_LEN);
            c->setup->have_tlv1 = true;
        }
        buf_consume(in, used);
        c->phase = SP_HTTP;
        return 1;
    }
    case SP_HTTP: {
        struct srv_setup *s = c->setup;
        if (!s->http) {
            s->http = malloc(sizeof *s->http);
            if (!s->http) {
                srv_close(c);
                return -1;
            }
            sstp_http_req_init(s->http, 0);
        }
        rc = sstp_http_req_feed(s->http, buf_rptr(in), buf_len(in), &used);
        buf_consume(in, used);
        if (rc == SSTP_AGAIN)
            return 0;
        time_t now = (time_t)ev_now(wk->loop);
        if (!srv_out(c, &w)) {
            srv_close(c);
            return -1;
        }
        if (rc == SSTP_OK && !sstp_http_req_is_probe(s->http)) {
            rc = sstp_http_resp_ok_build(&w, now);
            wk->st.http_ok++;
            c->phase = SP_REQ;
        } else {
            if (rc == SSTP_OK) {
                rc = sstp_http_resp_probe_build(&w, true, now);
            } else {
                wk->st.http_err++;
                rc = sstp_http_resp_error_build(&w, sstp_http_status_for(rc), now);
            }
            c->closing = true;
        }
        if (rc == SSTP_OK)
            srv_commit(c, &w);
        free(s->http);
        s->http = NULL;
        return 1;
    }
    default:
        break;
    }
    struct sstp_pkt pkt;
    rc = sstp_pkt_decode(&pkt, &used, buf_rptr(in), buf_len(in));
    if (rc == SSTP_AGAIN)
        return 0;
    if (rc != SSTP_OK) { /* MS-SSTP 3.1.5.1: cannot delineate, close silently */
        wk->st.sstp_err++;
        srv_close(c);
        return -1;
    }
    if (pkt.is_ctrl) {
        if (srv_ctrl(c, &pkt) == -1)
            return -1;
        buf_consume(in, used);
        return 1;
    }
    if (c->phase != SP_UP) { /* MS-SSTP 3.3.7: no data before CALL_CONNECTED */
        wk->st.dropped++;
        buf_consume(in, used);
        return 1;
    }
    /* echo every whole data packet up to the next control packet in one write */
    size_t span = used;
    uint64_t n_pkts = 1;
    while (span < buf_len(in)) {
        rc = sstp_pkt_decode(&pkt, &used, buf_rptr(in) + span, buf_len(in) - span);
        if (rc != SSTP_OK || pkt.is_ctrl)
            break;
        span += used;
        n_pkts++;
    }
    wk->st.data_pkts += n_pkts;
    c->span = span;
    return 1;
}

/* One step: flush, handshake, parse or read. 1 on progress, 0 when blocked
 * (c->want says on what), -1 when the connection was closed. */
static int srv_step(struct srv_conn *c)
{
    struct srv_worker *wk = c->wk;
    ssize_t n;
    if (buf_len(&c->out)) {
        n = io_write(&c->io, buf_rptr(&c->out), buf_len(&c->out));
        if (n > 0) {
            buf_consume(&c->out, (size_t)n);
            buf_release(&wk->pool, &c->out);
            wk->st.bytes_out += (uint64_t)n;
            return 1;
        }
        goto io_fail;
    }
    if (c->span) {
        n = io_write(&c->io, buf_rptr(&c->in), c->span);
        if (n > 0) {
            buf_consume(&c->in, (size_t)n);
            c->span -= (size_t)n;
            wk->st.bytes_out += (uint64_t)n;
            return 1;
        }
        goto io_fail;
    }
    if (c->closing) {
        srv_close(c);
        return -1;
    }
    if (c->phase == SP_TLS) {
        int r = io_accept(&c->io);
        if (r == 1) {
            c->phase = SP_HTTP;
            return 1;
        }
        if (r == IO_AGAIN) {
            c->want = c->io.want;
            return 0;
        }
        wk->st.tls_fail++;
        srv_close(c);
        return -1;
    }
    if (buf_len(&c->in)) {
        int r = srv_parse(c);
        if (r != 0)
            return r;
    }
    if (buf_take(&wk->pool, &c->in) == -1) {
        srv_close(c);
        return -1;
    }
    if (buf_room(&c->in) == 0)
        buf_compact(&c->in);
    if (buf_room(&c->in) == 0) { /* cannot happen: heads and packets are smaller */
        wk->st.sstp_err++;
        srv_close(c);
        return -1;
    }
    n = io_read(&c->io, buf_wptr(&c->in), buf_room(&c->in));
    if (n > 0) {
        c->in.tail += (size_t)n;
        wk->st.bytes_in += (uint64_t)n;
        return 1;
    }
    if (n == IO_AGAIN)
        buf_release(&wk->pool, &c->in);
io_fail:
    if (n == IO_AGAIN) {
        c->want = c->io.want;
        return 0;
    }
    srv_close(c);
    return -1;
}

static void srv_io_cb(struct ev_loop *loop, ev_io *w, int revents)
{
    (void)revents;
    struct srv_conn *c = (struct srv_conn *)w;
    for (int i = 0; i < RUN_ROUNDS * IO_BATCH; i++) {
        int r = srv_step(c);
        if (r < 0)
            return;
        if (r == 0) {
            watch(loop, w, c->want);
            return;
        }
    }
    /* still busy: let other connections run, then come back */
    watch(loop, w, EV_READ);
    again_push(loop, &c->wk->again, &c->again, w);
}

static void srv_deadline_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
    (void)loop;
    (void)revents;
    struct srv_conn *c = t->data;
    c->wk->st.timeouts++;
    srv_close(c);
}

static void srv_pause_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
    (void)revents;
    struct srv_worker *wk = t->data;
    ev_io_start(loop, &wk->lw);
}

static void srv_accept_cb(struct ev_loop *loop, ev_io *w, int revents)
{
    (void)revents;
    struct srv_worker *wk = w->data;
    for (int i = 0; i < ACCEPT_BATCH; i++) {
        int fd = accept4(wk->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd == -1) {
            if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
                wk->st.accept_err++;
                ev_io_stop(loop, &wk->lw);
                ev_timer_set(&wk->pause, ACCEPT_PAUSE_S, 0.);
                ev_timer_start(loop, &wk->pause);
            }
            return;
        }
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        struct srv_conn *c = calloc(1, sizeof *c);
        struct srv_setup *s = calloc(1, sizeof *s);
        SSL *ssl = wk->ctx ? SSL_new(wk->ctx) : NULL;
        if (!c || !s || (wk->ctx && (!ssl || SSL_set_fd(ssl, fd) != 1))) {
            wk->st.accept_err++;
            SSL_free(ssl);
            free(s);
            free(c);
            close(fd);
            continue;
        }
        wk->st.accepted++;
        if (ssl)
            SSL_set_accept_state(ssl);
        c->io = (struct io){ .fd = fd, .ssl = ssl };
        c->wk = wk;
        c->setup = s;
        c->phase = wk->o->proxy_in ? SP_PROXY : ssl ? SP_TLS : SP_HTTP;
        c->want = EV_READ;
        c->next = wk->conns;
        if (wk->conns)
            wk->conns->prev = c;
        wk->conns = c;
        ev_timer_init(&s->deadline, srv_deadline_cb, SSTP_NEGOTIATION_TIMEOUT_S, 0.);
        s->deadline.data = c;
        ev_timer_start(loop, &s->deadline);
        ev_io_init(&c->w, srv_io_cb, fd, EV_READ);
        ev_io_start(loop, &c->w);
    }
}

static void srv_signal_cb(struct ev_loop *loop, ev_signal *w, int revents)
{
    (void)w;
    (void)revents;
    ev_break(loop, EVBREAK_ALL);
}

static void srv_print(const struct opts *o, const struct srv_stats *st, unsigned workers)
{
    printf("serve listen=%s tls=%s proxy_in=%s workers=%u", o->listen, o->plain ? "no" : "yes",
           o->proxy_in ? "yes" : "no", workers);
#define X(n) printf(" " #n "=%llu", (unsigned long long)st->n);
    SRV_STAT_LIST(X)
#undef X
    printf("\n");
    fflush(stdout);
}

/* Runs one target process on listening socket lfd until SIGTERM/SIGINT. */
static int srv_worker_run(const struct opts *o, SSL_CTX *ctx, int lfd, struct srv_stats *out)
{
    struct srv_worker *wk = calloc(1, sizeof *wk);
    if (!wk)
        return -1;
    wk->o = o;
    wk->ctx = ctx;
    wk->lfd = lfd;
    wk->loop = ev_default_loop(EVFLAG_AUTO);
    buf_pool_init(&wk->pool, POOL_SPARE);
    again_init(wk->loop, &wk->again);
    if (ctx) {
        wk->have_trust = tls_ctx_cert_hashes(ctx, &wk->trust) == 0;
    } else if (o->cert) {
        wk->have_trust = cert_file_hashes(o->cert, &wk->trust) == 0;
        if (!wk->have_trust)
            log_warn("cert_unreadable", "file=%s msg=binding_not_checked", o->cert);
    }
    ev_io_init(&wk->lw, srv_accept_cb, lfd, EV_READ);
    wk->lw.data = wk;
    ev_io_start(wk->loop, &wk->lw);
    ev_init(&wk->pause, srv_pause_cb);
    wk->pause.data = wk;
    ev_signal_init(&wk->sigterm, srv_signal_cb, SIGTERM);
    ev_signal_start(wk->loop, &wk->sigterm);
    ev_signal_init(&wk->sigint, srv_signal_cb, SIGINT);
    ev_signal_start(wk->loop, &wk->sigint);
    ev_run(wk->loop, 0);
    while (wk->conns)
        srv_close(wk->conns);
    ev_io_stop(wk->loop, &wk->lw);
    ev_timer_stop(wk->loop, &wk->pause);
    ev_signal_stop(wk->loop, &wk->sigterm);
    ev_signal_stop(wk->loop, &wk->sigint);
    again_stop(wk->loop, &wk->again);
    *out = wk->st;
    buf_pool_cleanup(&wk->pool);
    ev_loop_destroy(wk->loop);
    free(wk);
    return 0;
}

static void srv_stats_add(struct srv_stats *to, const struct srv_stats *from)
{
#define X(n) to->n += from->n;
    SRV_STAT_LIST(X)
#undef X
}

int serve_main(const struct opts *o)
{
    struct net_addr a;
    SSL_CTX *ctx = NULL;
    int lfds[MAX_PROCS], fds[MAX_PROCS];
    pid_t pids[MAX_PROCS];
    unsigned n = 0, n_listen = 0;
    int rc = 1;
    struct srv_stats sum, one;
    memset(&sum, 0, sizeof sum);
    if (net_addr_parse(&a, o->listen) == -1) {
        fprintf(stderr, "sstp-bench: bad listen address %s\n", o->listen);
        return 1;
    }
    if (!o->plain) {
        char err[512];
        struct tls_server_opts to = { .cert_file = o->cert, .key_file = o->key };
        if (!(ctx = tls_server_ctx_new(&to, err, sizeof err))) {
            fprintf(stderr, "sstp-bench: %s\n", err);
            return 1;
        }
    }
    /* one socket per worker: the kernel spreads connections (SO_REUSEPORT) */
    for (; n_listen < o->procs; n_listen++) {
        lfds[n_listen] = net_listen(&a, LISTEN_BACKLOG, o->procs > 1);
        if (lfds[n_listen] == -1) {
            fprintf(stderr, "sstp-bench: listen %s: %s\n", o->listen, strerror(errno));
            goto out;
        }
    }
    log_info("ready", "listen=%s tls=%s proxy_in=%s workers=%u", o->listen, o->plain ? "no" : "yes",
             o->proxy_in ? "yes" : "no", o->procs);
    if (o->procs == 1) {
        rc = srv_worker_run(o, ctx, lfds[0], &sum) == 0 ? 0 : 1;
        srv_print(o, &sum, 1);
        goto out;
    }
    sigset_t set, old;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGCHLD);
    sigprocmask(SIG_BLOCK, &set, &old);
    for (; n < o->procs; n++) {
        int p[2];
        if (pipe(p) == -1)
            break;
        fflush(stdout);
        pid_t pid = fork();
        if (pid == -1) {
            close(p[0]);
            close(p[1]);
            break;
        }
        if (pid == 0) {
            sigprocmask(SIG_SETMASK, &old, NULL);
            prctl(PR_SET_PDEATHSIG, SIGTERM);
            close(p[0]);
            for (unsigned k = 0; k < n; k++)
                close(fds[k]);
            for (unsigned k = 0; k < n_listen; k++)
                if (k != n)
                    close(lfds[k]);
            char m = MSG_RESULT;
            memset(&one, 0, sizeof one);
            int wrc = srv_worker_run(o, ctx, lfds[n], &one);
            close(lfds[n]);
            if (wrc == 0 && (write_all(p[1], &m, 1) == -1 || write_all(p[1], &one, sizeof one) == -1))
                wrc = -1;
            close(p[1]);
            SSL_CTX_free(ctx);
            _exit(wrc == 0 ? 0 : 1);
        }
        close(p[1]);
        pids[n] = pid;
        fds[n] = p[0];
    }
    if (n == o->procs) {
        int sig = 0;
        sigwait(&set, &sig); /* SIGTERM/SIGINT, or SIGCHLD: a worker died */
        rc = sig == SIGCHLD ? 1 : 0;
    }
    for (unsigned k = 0; k < n; k++)
        kill(pids[k], SIGTERM);
    for (unsigned k = 0; k < n; k++) {
        char m = 0;
        if (read_all(fds[k], &m, 1) == 0 && m == MSG_RESULT && read_all(fds[k], &one, sizeof one) == 0)
            srv_stats_add(&sum, &one);
        else
            rc = 1;
        close(fds[k]);
        int st;
        while (waitpid(pids[k], &st, 0) == -1 && errno == EINTR)
            ;
    }
    srv_print(o, &sum, n);
out:
    for (unsigned k = 0; k < n_listen; k++)
        close(lfds[k]);
    SSL_CTX_free(ctx);
    return rc;
}
