/* client.c — the load client: TLS (or plain) connections that run what an
 * SSTP client runs (HTTP request, CALL_CONNECT_REQUEST/ACK, CALL_CONNECTED
 * with a crypto binding over the certificate received and a zero HLAK, a
 * PAP-like client, MS-SSTP 3.2.5.2.2); then each mode measures one thing:
 * handshakes/s, bulk throughput, echo latency, or sessions held idle. */
#include "tools/sstp-bench/bench.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/io.h"
#include "core/log.h"
#include "core/net.h"
#include "sstp/binding.h"
#include "sstp/ctrl.h"
#include "sstp/http.h"
#include "sstp/packet.h"
#include "sstp/proxyproto.h"

/* ============================================================================
 * Client
 * ========================================================================== */

enum cl_phase {
    CP_FREE = 0,   /* slot unused */
    CP_WAIT,       /* handshake mode: pausing after an error */
    CP_CONNECT,    /* TCP connect in progress */
    CP_TLS,        /* TLS handshake */
    CP_HTTP,       /* request sent, waiting for 200 */
    CP_ACK,        /* CALL_CONNECT_REQUEST sent, waiting for the ACK */
    CP_UP,         /* set up: ACK received (and CALL_CONNECTED sent) */
};

enum cl_stage { ST_RAMP, ST_WARMUP, ST_WINDOW, ST_HOLD, ST_DONE };

struct cl_worker;

struct cl_conn {
    ev_io w;                 /* first: the callback casts back */
    ev_timer timer;          /* set-up deadline, or the retry pause */
    struct io io;
    struct cl_worker *wk;
    enum cl_phase phase;
    bool bulk_again;         /* the last bulk write got IO_AGAIN: retry it first */
    bool echo_wait;
    const struct net_addr *addr; /* its target, of the --target list */
    uint64_t t0_us;          /* connect start, or echo request sent */
    size_t bulk_off;         /* position in wk->blk */
    struct buf in, out;      /* pool buffers, held only while not empty */
    struct again_link again;
};

struct cl_worker {
    struct ev_loop *loop;
    const struct opts *o;
    SSL_CTX *ctx;            /* NULL: plain */
    struct net_addr *addrs;  /* the --target list */
    size_t n_addrs;
    const char *host;        /* HTTP Host */
    struct buf_pool pool;
    struct again_q again;
    struct cl_conn *conns;
    size_t n_conns;          /* slots: sessions, or concurrency in handshake mode */
    size_t n_started, n_inflight, n_up;
    bool ramping;
    enum cl_stage stage;
    bool measuring;
    ev_tstamp t_window;
    ev_timer stage_timer;
    ev_timer pace_timer;     /* echo --rate: one request per tick */
    size_t pace_next;        /* the session whose turn it is */
    uint8_t *blk;            /* bulk: whole data packets back to back */
    size_t blk_len, pkt_len;
    bool have_front_cert;    /* plain: hashes of --cert */
    struct tls_cert_hashes front;
    int notify_fd;           /* pipe to the parent, -1 when alone */
    struct cl_result res;
};

static void cl_io_cb(struct ev_loop *loop, ev_io *w, int revents);
static void cl_timer_cb(struct ev_loop *loop, ev_timer *w, int revents);
static void cl_start(struct cl_conn *c);
static void ramp_more(struct cl_worker *wk);

static void cl_close(struct cl_conn *c)
{
    struct cl_worker *wk = c->wk;
    ev_io_stop(wk->loop, &c->w);
    ev_timer_stop(wk->loop, &c->timer);
    again_remove(&wk->again, &c->again);
    io_close(&c->io);
    buf_drop(&wk->pool, &c->in);
    buf_drop(&wk->pool, &c->out);
    c->phase = CP_FREE;
    c->bulk_again = c->echo_wait = false;
    c->bulk_off = 0;
}

static void cl_wait(struct cl_conn *c, double delay)
{
    c->phase = CP_WAIT;
    ev_timer_set(&c->timer, delay, 0.);
    ev_timer_start(c->wk->loop, &c->timer);
}

static void notify_ready(struct cl_worker *wk)
{
    if (wk->notify_fd != -1) {
        char m = MSG_READY;
        if (write_all(wk->notify_fd, &m, 1) == -1)
            wk->notify_fd = -1;
        return;
    }
    printf("ready mode=%s up=%llu failed=%llu\n", mode_names[wk->o->mode],
           (unsigned long long)wk->n_up, (unsigned long long)wk->res.failed);
    fflush(stdout);
}

static void stage_set(struct cl_worker *wk, enum cl_stage st, double after)
{
    wk->stage = st;
    ev_timer_stop(wk->loop, &wk->stage_timer);
    ev_timer_set(&wk->stage_timer, after, 0.);
    ev_timer_start(wk->loop, &wk->stage_timer);
}

/* Every session of a non-handshake run is up or failed: start the clock. */
static void check_all_set(struct cl_worker *wk)
{
    if (wk->stage != ST_RAMP || wk->n_started < wk->n_conns || wk->n_inflight > 0)
        return;
    wk->res.up = wk->n_up;
    if (wk->o->mode == M_IDLE) {
        notify_ready(wk);
        stage_set(wk, ST_HOLD, wk->o->duration);
    } else {
        stage_set(wk, ST_WARMUP, wk->o->warmup);
    }
    /* echo: the paced requests; idle: the keepalives of the hold */
    if (wk->o->rate > 0 && wk->n_conns > 0) {
        /* this process's share of the rate, as of its share of the sessions */
        double share = wk->o->rate * (double)wk->n_conns / wk->o->sessions;
        ev_timer_set(&wk->pace_timer, 1.0 / share, 1.0 / share);
        ev_timer_start(wk->loop, &wk->pace_timer);
    }
}

static void stage_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
    (void)revents;
    struct cl_worker *wk = t->data;
    switch (wk->stage) {
    case ST_WARMUP:
        /* the window starts clean: only errors count over the whole run */
        wk->res.done = wk->res.tx_bytes = wk->res.rx_bytes = wk->res.rx_pkts = 0;
        wk->res.pace_skips = 0;
        memset(&wk->res.lat, 0, sizeof wk->res.lat);
        wk->measuring = true;
        wk->t_window = ev_time();
        stage_set(wk, ST_WINDOW, wk->o->duration);
        break;
    case ST_WINDOW:
        wk->res.window_s = ev_time() - wk->t_window;
        wk->measuring = false;
        wk->stage = ST_DONE;
        ev_break(loop, EVBREAK_ALL);
        break;
    case ST_HOLD:
        wk->res.still_up = wk->n_up;
        wk->res.window_s = wk->o->duration;
        wk->stage = ST_DONE;
        ev_break(loop, EVBREAK_ALL);
        break;
    default:
        break;
    }
}

/* Ends a connection on an error. In handshake mode the slot starts over
 * after a pause; otherwise the session is lost for the run. */
static void cl_fail(struct cl_conn *c, enum cl_err e)
{
    struct cl_worker *wk = c->wk;
    bool was_up = c->phase == CP_UP;
    if (wk->stage != ST_DONE)
        wk->res.err[e]++;
    cl_close(c);
    if (wk->o->mode == M_HANDSHAKE) {
        if (wk->stage != ST_DONE)
            cl_wait(c, RETRY_DELAY_S);
        return;
    }
    if (was_up) {
        wk->n_up--;
    } else {
        wk->n_inflight--;
        wk->res.failed++;
        ramp_more(wk);
        check_all_set(wk);
    }
}

static void ramp_more(struct cl_worker *wk)
{
    if (wk->ramping)
        return; /* called again from a failing start below: the loop continues */
    wk->ramping = true;
    while (wk->n_started < wk->n_conns && wk->n_inflight < wk->o->concurrency &&
           wk->stage == ST_RAMP) {
        struct cl_conn *c = &wk->conns[wk->n_started++];
        wk->n_inflight++;
        cl_start(c);
    }
    wk->ramping = false;
}

static void cl_mark_up(struct cl_conn *c)
{
    struct cl_worker *wk = c->wk;
    c->phase = CP_UP;
    ev_timer_stop(wk->loop, &c->timer);
    wk->n_up++;
    wk->n_inflight--;
    ramp_more(wk);
    check_all_set(wk);
}

static int cl_queue_http(struct cl_conn *c)
{
    struct cl_worker *wk = c->wk;
    struct sstp_wbuf w;
    uint8_t r[16];
    char corr[CORR_ID_LEN + 1];
    if (RAND_bytes(r, sizeof r) != 1)
        memset(r, 0, sizeof r);
    snprintf(corr, sizeof corr, "{%02X%02X%02X%02X-%02X%02X-%02X%02X-%02X%02X-%02X%02X%02X%02X%02X%02X}",
             r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7], r[8], r[9], r[10], r[11], r[12],
             r[13], r[14], r[15]);
    if (!out_begin(&wk->pool, &c->out, &w) ||
        sstp_http_req_build(&w, SSTP_HTTP_M_DUPLEX_POST, wk->host, corr, NULL) != SSTP_OK)
        return -1;
    c->out.tail += w.len;
    c->phase = CP_HTTP;
    return 0;
}

/* TCP is up: PROXY header (plain), then TLS or the HTTP request. */
static int cl_connected(struct cl_conn *c)
{
    struct cl_worker *wk = c->wk;
    if (wk->o->proxy_v2) {
        struct sstp_pp_hdr h;
        struct sstp_wbuf w;
        socklen_t sl = sizeof h.src, dl = sizeof h.dst;
        memset(&h, 0, sizeof h);
        h.version = SSTP_PP_V2;
        h.command = SSTP_PP_CMD_PROXY;
        if (getsockname(c->io.fd, (struct sockaddr *)&h.src, &sl) == -1 ||
            getpeername(c->io.fd, (struct sockaddr *)&h.dst, &dl) == -1)
            return -1;
        h.family = h.src.ss_family == AF_INET6 ? SSTP_PP_FAM_TCP6 : SSTP_PP_FAM_TCP4;
        if (wk->have_front_cert) {
            /* what sstp-proxy tells its backends (proxyproto.h) */
            h.present = SSTP_PP_HAS_CERT_SHA256 | SSTP_PP_HAS_CERT_SHA1;
            h.cert_sha256 = wk->front.sha256;
            h.cert_sha1 = wk->front.sha1;
        }
        if (!out_begin(&wk->pool, &c->out, &w) || sstp_pp2_build(&w, &h) != SSTP_OK)
            return -1;
        c->out.tail += w.len;
    }
    if (!wk->ctx)
        return cl_queue_http(c);
    SSL *ssl = SSL_new(wk->ctx);
    if (!ssl)
        return -1;
    c->io.ssl = ssl;
    if (SSL_set_fd(ssl, c->io.fd) != 1 ||
        (wk->o->sni && SSL_set_tlsext_host_name(ssl, wk->o->sni) != 1))
        return -1;
    SSL_set_connect_state(ssl);
    c->phase = CP_TLS;
    return 0;
}

static void cl_start(struct cl_conn *c)
{
    struct cl_worker *wk = c->wk;
    c->t0_us = mono_us();
    c->io = (struct io){ .fd = net_connect(c->addr) };
    if (c->io.fd == -1) {
        cl_fail(c, errno == EMFILE || errno == ENFILE ? CL_E_RESOURCE : CL_E_CONNECT);
        return;
    }
    c->phase = CP_CONNECT;
    ev_io_set(&c->w, c->io.fd, EV_WRITE);
    ev_io_start(wk->loop, &c->w);
    ev_timer_set(&c->timer, wk->o->timeout, 0.);
    ev_timer_start(wk->loop, &c->timer);
}

static void cl_timer_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
    (void)loop;
    (void)revents;
    struct cl_conn *c = t->data;
    if (c->phase == CP_WAIT)
        cl_start(c);
    else
        cl_fail(c, CL_E_TIMEOUT);
}

/* The hash of the certificate this connection received (what a real
 * client puts in its crypto binding, MS-SSTP 3.2.5.2.1). */
static int cl_cert_hash(struct cl_conn *c, enum sstp_bind_hash hash, uint8_t out[SSTP_HASH_MAX_LEN])
{
    struct cl_worker *wk = c->wk;
    memset(out, 0, SSTP_HASH_MAX_LEN);
    if (!c->io.ssl) {
        if (wk->have_front_cert)
            memcpy(out, hash == SSTP_BIND_HASH_SHA256 ? wk->front.sha256 : wk->front.sha1,
                   sstp_bind_hash_len(hash));
        return 0;
    }
    X509 *x = SSL_get0_peer_certificate(c->io.ssl);
    unsigned char *der = NULL;
    int len = x ? i2d_X509(x, &der) : -1;
    if (len <= 0)
        return -1;
    enum sstp_rc rc = hash == SSTP_BIND_HASH_SHA256 ? sstp_bind_cert_sha256(out, der, (size_t)len)
                                                    : sstp_bind_cert_sha1(out, der, (size_t)len);
    OPENSSL_free(der);
    return rc == SSTP_OK ? 0 : -1;
}

static int cl_queue_echo(struct cl_conn *c)
{
    struct sstp_wbuf w;
    if (!out_begin(&c->wk->pool, &c->out, &w) || sstp_ctrl_encode_echo_request(&w) != SSTP_OK)
        return -1;
    c->out.tail += w.len;
    c->echo_wait = true;
    c->t0_us = mono_us();
    return 0;
}

/* echo --rate: the next session in turn sends one request, unless it still
 * waits for its last answer (its turn is skipped, counted). */
static void pace_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
    (void)revents;
    struct cl_worker *wk = t->data;
    struct cl_conn *c = &wk->conns[wk->pace_next];
    wk->pace_next = (wk->pace_next + 1) % wk->n_conns;
    if (c->phase != CP_UP || wk->stage == ST_DONE)
        return;
    if (c->echo_wait) {
        if (wk->measuring)
            wk->res.pace_skips++;
        return;
    }
    if (cl_queue_echo(c) == -1) {
        cl_fail(c, CL_E_RESOURCE);
        return;
    }
    cl_io_cb(loop, &c->w, EV_WRITE); /* write it now, not at the next wake-up */
}

/* CALL_CONNECT_ACK arrived. Returns 0, or -1 when the connection is gone
 * (closed, or restarted in handshake mode): the caller must not touch it. */
static int cl_got_ack(struct cl_conn *c, const struct sstp_ctrl *m)
{
    struct cl_worker *wk = c->wk;
    const struct opts *o = wk->o;
    if (o->mode == M_HANDSHAKE) {
        if (wk->measuring) {
            hist_add(&wk->res.lat, mono_us() - c->t0_us);
            wk->res.done++;
        }
        cl_close(c);
        if (wk->stage != ST_DONE)
            cl_start(c);
        return -1;
    }
    struct sstp_binding_req req;
    if (sstp_attr_binding_req(&req, sstp_ctrl_find(m, SSTP_ATTRIB_CRYPTO_BINDING_REQ)) != SSTP_OK) {
        cl_fail(c, CL_E_SSTP);
        return -1;
    }
    if (o->mode == M_IDLE && o->idle_ack) {
        cl_mark_up(c);
        return 0;
    }
    /* MS-SSTP 2.2.10: SHA-256 when offered */
    enum sstp_bind_hash hash = (req.hash_bitmask & SSTP_HASH_BIT_SHA256) ? SSTP_BIND_HASH_SHA256
                                                                          : SSTP_BIND_HASH_SHA1;
    uint8_t cert_hash[SSTP_HASH_MAX_LEN], hlak[SSTP_HLAK_LEN], msg[SSTP_CONNECTED_LEN];
    struct sstp_wbuf w;
    sstp_bind_hlak_none(hlak);
    if (cl_cert_hash(c, hash, cert_hash) == -1 ||
        sstp_bind_connected_build(msg, hash, req.nonce.p, cert_hash, hlak) != SSTP_OK) {
        cl_fail(c, CL_E_SSTP);
        return -1;
    }
    if (!out_begin(&wk->pool, &c->out, &w)) {
        cl_fail(c, CL_E_RESOURCE);
        return -1;
    }
    sstp_put_bytes(&w, msg, sizeof msg);
    c->out.tail += w.len;
    if (w.err || (o->mode == M_ECHO && !o->rate && cl_queue_echo(c) == -1)) {
        cl_fail(c, CL_E_RESOURCE);
        return -1;
    }
    cl_mark_up(c);
    return 0;
}

static int cl_ctrl(struct cl_conn *c, const struct sstp_pkt *pkt)
{
    struct cl_worker *wk = c->wk;
    struct sstp_ctrl m;
    struct sstp_wbuf w;
    if (sstp_ctrl_decode(&m, pkt->raw, pkt->len) != SSTP_OK) {
        cl_fail(c, CL_E_SSTP);
        return -1;
    }
    switch (m.type) {
    case SSTP_MSG_CALL_CONNECT_ACK:
        if (c->phase != CP_ACK || sstp_ctrl_check(&m) != SSTP_OK) {
            cl_fail(c, CL_E_SSTP);
            return -1;
        }
        return cl_got_ack(c, &m);
    case SSTP_MSG_ECHO_RESPONSE:
        if (c->echo_wait && c->phase == CP_UP) {
            if (wk->measuring) {
                hist_add(&wk->res.lat, mono_us() - c->t0_us);
                wk->res.done++;
            }
            c->echo_wait = false;
            if (!wk->o->rate && wk->stage != ST_DONE && cl_queue_echo(c) == -1) {
                cl_fail(c, CL_E_RESOURCE);
                return -1;
            }
        }
        return 0;
    case SSTP_MSG_ECHO_REQUEST:
        if (!out_begin(&wk->pool, &c->out, &w) || sstp_ctrl_encode_echo_response(&w) != SSTP_OK) {
            cl_fail(c, CL_E_RESOURCE);
            return -1;
        }
        c->out.tail += w.len;
        return 0;
    case SSTP_MSG_CALL_DISCONNECT_ACK:
        return 0;
    default: /* NAK, ABORT, DISCONNECT, anything unexpected */
        cl_fail(c, CL_E_SSTP);
        return -1;
    }
}

/* Consumes what `in` holds. 0, or -1 when the connection is gone. */
static int cl_parse(struct cl_conn *c)
{
    struct cl_worker *wk = c->wk;
    struct buf *in = &c->in;
    if (c->phase == CP_HTTP) {
        const uint8_t *p = buf_rptr(in);
        size_t n = buf_len(in), head;
        const uint8_t *end = memmem(p, n, "\r\n\r\n", 4);
        if (end) {
            head = (size_t)(end - p) + 4;
        } else if ((end = memmem(p, n, "\n\n", 2)) != NULL) {
            head = (size_t)(end - p) + 2;
        } else {
            if (n > HTTP_RESP_MAX) {
                cl_fail(c, CL_E_HTTP);
                return -1;
            }
            return 0;
        }
        /* sstpc's check (MS-SSTP 3.2.4.1): HTTP/1.1 and status 200 */
        static const char ok[] = "HTTP/1.1 200";
        if (head < sizeof ok || memcmp(p, ok, sizeof ok - 1) != 0 ||
            (p[sizeof ok - 1] != ' ' && p[sizeof ok - 1] != '\r' && p[sizeof ok - 1] != '\n')) {
            cl_fail(c, CL_E_HTTP);
            return -1;
        }
        buf_consume(in, head);
        struct sstp_wbuf w;
        if (!out_begin(&wk->pool, &c->out, &w) ||
            sstp_ctrl_encode_connect_request(&w, SSTP_ENCAP_PROTO_PPP) != SSTP_OK) {
            cl_fail(c, CL_E_RESOURCE);
            return -1;
        }
        c->out.tail += w.len;
        c->phase = CP_ACK;
    }
    while (buf_len(in)) {
        struct sstp_pkt pkt;
        size_t used;
        enum sstp_rc rc = sstp_pkt_decode(&pkt, &used, buf_rptr(in), buf_len(in));
        if (rc == SSTP_AGAIN)
            break;
        if (rc != SSTP_OK) {
            cl_fail(c, CL_E_SSTP);
            return -1;
        }
        if (pkt.is_ctrl) {
            if (cl_ctrl(c, &pkt) == -1)
                return -1;
        } else if (wk->measuring) {
            wk->res.rx_pkts++;
        }
        buf_consume(in, used);
    }
    return 0;
}

/* Writes what is queued, and in bulk mode the endless packet stream.
 * Returns 1 on progress, 0 when blocked or idle (*ev gets the readiness to
 * wait for), -1 when the connection is gone. */
static int cl_write(struct cl_conn *c, int *ev)
{
    struct cl_worker *wk = c->wk;
    bool bulk = wk->blk && c->phase == CP_UP && wk->stage != ST_DONE;
    int progress = 0;
    for (int i = 0; i < IO_BATCH; i++) {
        /* A write that got IO_AGAIN is retried with the same bytes first
         * (OpenSSL requires it); control messages go between packets. */
        bool from_bulk = c->bulk_again ||
                         (bulk && (c->bulk_off % wk->pkt_len != 0 || buf_len(&c->out) == 0));
        const uint8_t *p;
        size_t n;
        if (from_bulk) {
            p = wk->blk + c->bulk_off;
            n = wk->blk_len - c->bulk_off;
        } else if (buf_len(&c->out)) {
            p = buf_rptr(&c->out);
            n = buf_len(&c->out);
        } else {
            buf_release(&wk->pool, &c->out);
            return progress;
        }
        ssize_t w = io_write(&c->io, p, n);
        if (w == IO_AGAIN) {
            c->bulk_again = from_bulk;
            *ev |= c->io.want;
            return progress;
        }
        if (w < 0) {
            cl_fail(c, CL_E_CLOSED);
            return -1;
        }
        c->bulk_again = false;
        progress = 1;
        if (from_bulk) {
            c->bulk_off += (size_t)w;
            if (c->bulk_off == wk->blk_len)
                c->bulk_off = 0;
            if (wk->measuring)
                wk->res.tx_bytes += (uint64_t)w;
        } else {
            buf_consume(&c->out, (size_t)w);
        }
    }
    return progress;
}

/* Reads and parses. Same returns as cl_write. */
static int cl_read(struct cl_conn *c, int *ev)
{
    struct cl_worker *wk = c->wk;
    int progress = 0;
    for (int i = 0; i < IO_BATCH; i++) {
        if (buf_take(&wk->pool, &c->in) == -1) {
            cl_fail(c, CL_E_RESOURCE);
            return -1;
        }
        if (buf_room(&c->in) == 0)
            buf_compact(&c->in);
        if (buf_room(&c->in) == 0) { /* an HTTP head of 16 KiB */
            cl_fail(c, CL_E_HTTP);
            return -1;
        }
        ssize_t r = io_read(&c->io, buf_wptr(&c->in), buf_room(&c->in));
        if (r == IO_AGAIN) {
            *ev |= c->io.want;
            break;
        }
        if (r <= 0) {
            cl_fail(c, r == IO_EOF ? CL_E_CLOSED : (c->io.ssl ? CL_E_TLS : CL_E_CLOSED));
            return -1;
        }
        c->in.tail += (size_t)r;
        if (wk->measuring)
            wk->res.rx_bytes += (uint64_t)r;
        progress = 1;
        if (cl_parse(c) == -1)
            return -1;
    }
    buf_release(&wk->pool, &c->in);
    return progress;
}

static void cl_tls_done(struct cl_conn *c)
{
    struct cl_result *res = &c->wk->res;
    if (!res->tls_version[0]) {
        snprintf(res->tls_version, sizeof res->tls_version, "%s", SSL_get_version(c->io.ssl));
        snprintf(res->cipher, sizeof res->cipher, "%s", SSL_get_cipher_name(c->io.ssl));
    }
}

static void cl_io_cb(struct ev_loop *loop, ev_io *w, int revents)
{
    struct cl_conn *c = (struct cl_conn *)w;
    if (c->phase == CP_CONNECT) {
        int err = 0;
        socklen_t len = sizeof err;
        if (!(revents & EV_WRITE))
            return;
        if (getsockopt(c->io.fd, SOL_SOCKET, SO_ERROR, &err, &len) == -1 || err) {
            cl_fail(c, CL_E_CONNECT);
            return;
        }
        if (cl_connected(c) == -1) {
            cl_fail(c, CL_E_RESOURCE);
            return;
        }
    }
    if (c->phase == CP_TLS) {
        int r = io_connect(&c->io);
        if (r == IO_AGAIN) {
            watch(loop, w, c->io.want);
            return;
        }
        if (r != 1) {
            cl_fail(c, CL_E_TLS);
            return;
        }
        cl_tls_done(c);
        if (cl_queue_http(c) == -1) {
            cl_fail(c, CL_E_RESOURCE);
            return;
        }
    }
    int ev = 0;
    for (int round = 0; round < RUN_ROUNDS; round++) {
        ev = 0;
        int wr = cl_write(c, &ev);
        if (wr < 0)
            return;
        int rd = cl_read(c, &ev);
        if (rd < 0)
            return;
        if (!wr && !rd) {
            watch(loop, w, ev | EV_READ);
            return;
        }
    }
    /* still busy: let other connections run, then come back */
    watch(loop, w, ev | EV_READ);
    again_push(loop, &c->wk->again, &c->again, w);
}

static SSL_CTX *cl_ctx_new(const struct opts *o)
{
    char err[512];
    SSL_CTX *ctx;
    if (o->ca) {
        ctx = tls_client_ctx_new(o->ca, NULL, NULL, err, sizeof err);
        if (!ctx) {
            fprintf(stderr, "sstp-bench: %s\n", err);
            return NULL;
        }
        X509_VERIFY_PARAM *vp = SSL_CTX_get0_param(ctx);
        char ip[NET_ADDR_STR_MAX];
        struct net_addr a;
        int ok = 1;
        if (o->sni) {
            ok = X509_VERIFY_PARAM_set1_host(vp, o->sni, 0);
        } else if (net_addr_parse(&a, o->target) == 0) {
            net_addr_ip((struct sockaddr *)&a.ss, ip, sizeof ip);
            ok = X509_VERIFY_PARAM_set1_ip_asc(vp, ip);
        }
        if (ok != 1) {
            fprintf(stderr, "sstp-bench: cannot set the name to verify\n");
            SSL_CTX_free(ctx);
            return NULL;
        }
    } else {
        ctx = SSL_CTX_new(TLS_client_method());
        if (!ctx)
            return NULL;
        SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
        SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
    }
    if (o->tls_ver) {
        SSL_CTX_set_min_proto_version(ctx, o->tls_ver);
        SSL_CTX_set_max_proto_version(ctx, o->tls_ver);
    }
    /* every handshake full: no tickets, no session cache */
    SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
    SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS | SSL_MODE_ENABLE_PARTIAL_WRITE |
                              SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    return ctx;
}

/* Fills wk->addrs from "ip:port[,ip:port...]". 0, or -1 with the reason printed. */
static int parse_targets(struct cl_worker *wk, const char *text)
{
    size_t n = 1;
    for (const char *p = text; *p; p++)
        n += *p == ',';
    wk->addrs = calloc(n, sizeof *wk->addrs);
    if (!wk->addrs)
        return -1;
    const char *p = text;
    for (wk->n_addrs = 0; wk->n_addrs < n; wk->n_addrs++) {
        char one[NET_ADDR_STR_MAX + 8];
        size_t len = strcspn(p, ",");
        if (len >= sizeof one) {
            fprintf(stderr, "sstp-bench: bad target %.*s\n", (int)len, p);
            return -1;
        }
        memcpy(one, p, len);
        one[len] = '\0';
        if (net_addr_parse(&wk->addrs[wk->n_addrs], one) == -1) {
            fprintf(stderr, "sstp-bench: bad target %s\n", one);
            return -1;
        }
        p += len + (p[len] == ',');
    }
    return 0;
}

/* Runs one client process's share. res is filled; returns 0 or -1. */
static int cl_worker_run(const struct opts *o, SSL_CTX *ctx, unsigned idx, int notify_fd,
                         struct cl_result *res)
{
    struct cl_worker *wk = calloc(1, sizeof *wk);
    int rc = -1;
    if (!wk)
        return -1;
    wk->o = o;
    wk->ctx = ctx;
    wk->notify_fd = notify_fd;
    wk->loop = ev_default_loop(EVFLAG_AUTO);
    buf_pool_init(&wk->pool, POOL_SPARE);
    again_init(wk->loop, &wk->again);
    char ipbuf[NET_ADDR_STR_MAX];
    if (parse_targets(wk, o->target) == -1)
        goto out;
    wk->host = o->host ? o->host : o->sni ? o->sni
                                          : net_addr_ip((struct sockaddr *)&wk->addrs[0].ss, ipbuf, sizeof ipbuf);
    if (o->plain && o->cert) {
        if (cert_file_hashes(o->cert, &wk->front) == -1) {
            fprintf(stderr, "sstp-bench: cannot read certificate %s\n", o->cert);
            goto out;
        }
        wk->have_front_cert = true;
    }
    unsigned total = o->mode == M_HANDSHAKE ? o->concurrency : o->sessions;
    wk->n_conns = share_of(total, idx, o->procs);
    wk->conns = calloc(wk->n_conns, sizeof *wk->conns);
    if (!wk->conns)
        goto out;
    size_t first = 0; /* this process's first session, over all processes */
    for (unsigned k = 0; k < idx; k++)
        first += share_of(total, k, o->procs);
    for (size_t i = 0; i < wk->n_conns; i++) {
        struct cl_conn *c = &wk->conns[i];
        c->wk = wk;
        c->addr = &wk->addrs[(first + i) % wk->n_addrs];
        c->io.fd = -1;
        ev_init(&c->w, cl_io_cb);
        ev_init(&c->timer, cl_timer_cb);
        c->timer.data = c;
    }
    if (o->mode == M_BULK) {
        wk->pkt_len = SSTP_HDR_LEN + o->payload;
        size_t n_pkts = BUF_SIZE / wk->pkt_len ? BUF_SIZE / wk->pkt_len : 1;
        wk->blk_len = n_pkts * wk->pkt_len;
        wk->blk = malloc(wk->blk_len);
        if (!wk->blk)
            goto out;
        for (size_t k = 0; k < n_pkts; k++) {
            struct sstp_wbuf w;
            uint8_t frame[SSTP_PPP_MAX_FRAME];
            /* an IPv4 frame as PPP carries it (FF 03 00 21), then filler */
            frame[0] = 0xFF, frame[1] = 0x03, frame[2] = 0x00, frame[3] = 0x21;
            for (size_t b = 4; b < o->payload; b++)
                frame[b] = (uint8_t)(b + k);
            sstp_wbuf_init(&w, wk->blk + k * wk->pkt_len, wk->pkt_len);
            if (sstp_pkt_data_encode(&w, frame, o->payload) != SSTP_OK)
                goto out;
        }
    }
    ev_init(&wk->stage_timer, stage_cb);
    wk->stage_timer.data = wk;
    ev_init(&wk->pace_timer, pace_cb);
    wk->pace_timer.data = wk;
    if (o->mode == M_HANDSHAKE) {
        for (size_t i = 0; i < wk->n_conns; i++)
            cl_start(&wk->conns[i]);
        stage_set(wk, ST_WARMUP, o->warmup);
    } else {
        wk->stage = ST_RAMP;
        ramp_more(wk);
        check_all_set(wk);
    }
    ev_run(wk->loop, 0);
    rc = 0;
out:
    if (wk->conns)
        for (size_t i = 0; i < wk->n_conns; i++)
            cl_close(&wk->conns[i]);
    ev_timer_stop(wk->loop, &wk->stage_timer);
    ev_timer_stop(wk->loop, &wk->pace_timer);
    again_stop(wk->loop, &wk->again);
    *res = wk->res;
    free(wk->conns);
    free(wk->addrs);
    free(wk->blk);
    buf_pool_cleanup(&wk->pool);
    ev_loop_destroy(wk->loop);
    free(wk);
    return rc;
}

static void us_str(char *out, size_t len, uint64_t us)
{
    if (us >= 10000)
        snprintf(out, len, "%.1f ms", (double)us / 1000.0);
    else
        snprintf(out, len, "%llu us", (unsigned long long)us);
}

static void cl_print(const struct opts *o, const struct cl_result *r, double rate_done,
                     double rate_tx, double rate_rx, double rate_rxp, double window)
{
    uint64_t errors = 0;
    char errs[512];
    size_t off = 0;
    for (int e = 0; e < CL_E_COUNT; e++) {
        errors += r->err[e];
        off += (size_t)snprintf(errs + off, sizeof errs - off, " err_%s=%llu", cl_err_names[e],
                                (unsigned long long)r->err[e]);
    }
    const char *tls = o->plain ? "plain" : r->tls_version[0] ? r->tls_version : "-";
    const char *cipher = o->plain ? "-" : r->cipher[0] ? r->cipher : "-";
    printf("bench mode=%s target=%s tls=%s cipher=%s procs=%u ", mode_names[o->mode], o->target,
           tls, cipher, o->procs);
    uint64_t p50 = hist_pct(&r->lat, 50), p90 = hist_pct(&r->lat, 90), p99 = hist_pct(&r->lat, 99);
    char a[32], b[32];
    switch (o->mode) {
    case M_HANDSHAKE:
        printf("conns=%u window_s=%.2f handshakes=%llu hs_per_s=%.1f lat_p50_us=%llu "
               "lat_p90_us=%llu lat_p99_us=%llu errors=%llu%s\n",
               o->concurrency, window, (unsigned long long)r->done, rate_done,
               (unsigned long long)p50, (unsigned long long)p90, (unsigned long long)p99,
               (unsigned long long)errors, errs);
        us_str(a, sizeof a, p50);
        us_str(b, sizeof b, p99);
        printf("# handshake: %.0f handshakes/s (connect to ACK p50 %s, p99 %s), %llu errors, "
               "%u in flight over %u process(es), %.1f s\n",
               rate_done, a, b, (unsigned long long)errors, o->concurrency, o->procs, window);
        break;
    case M_BULK:
        printf("sessions=%u up=%llu payload=%u window_s=%.2f tx_bytes=%llu rx_bytes=%llu "
               "tx_gbps=%.3f rx_gbps=%.3f tx_pps=%.0f rx_pps=%.0f errors=%llu%s\n",
               o->sessions, (unsigned long long)r->up, o->payload, window,
               (unsigned long long)r->tx_bytes, (unsigned long long)r->rx_bytes,
               rate_tx * 8 / 1e9, rate_rx * 8 / 1e9, rate_tx / (double)(SSTP_HDR_LEN + o->payload),
               rate_rxp, (unsigned long long)errors, errs);
        printf("# bulk: %.3f Gbit/s sent, %.3f Gbit/s echoed back (%u-byte frames, %llu of %u "
               "sessions), %llu errors, %.1f s\n",
               rate_tx * 8 / 1e9, rate_rx * 8 / 1e9, o->payload, (unsigned long long)r->up,
               o->sessions, (unsigned long long)errors, window);
        break;
    case M_ECHO:
        printf("sessions=%u up=%llu window_s=%.2f echoes=%llu echo_per_s=%.0f rate=%.0f "
               "pace_skips=%llu echo_p50_us=%llu echo_p90_us=%llu echo_p99_us=%llu errors=%llu%s\n",
               o->sessions, (unsigned long long)r->up, window, (unsigned long long)r->done,
               rate_done, o->rate, (unsigned long long)r->pace_skips, (unsigned long long)p50,
               (unsigned long long)p90, (unsigned long long)p99, (unsigned long long)errors, errs);
        printf("# echo: RTT p50 %llu us, p90 %llu us, p99 %llu us over %llu round trips "
               "(%llu of %u sessions), %llu errors\n",
               (unsigned long long)p50, (unsigned long long)p90, (unsigned long long)p99,
               (unsigned long long)r->done, (unsigned long long)r->up, o->sessions,
               (unsigned long long)errors);
        break;
    case M_IDLE:
        printf("sessions=%u state=%s up=%llu failed=%llu held_s=%.2f still_up=%llu errors=%llu%s\n",
               o->sessions, o->idle_ack ? "ack" : "connected", (unsigned long long)r->up,
               (unsigned long long)r->failed, o->duration, (unsigned long long)r->still_up,
               (unsigned long long)errors, errs);
        printf("# idle: %llu of %u sessions up (%s), %llu still up after %.1f s, %llu errors\n",
               (unsigned long long)r->up, o->sessions, o->idle_ack ? "past the ACK" : "connected",
               (unsigned long long)r->still_up, o->duration, (unsigned long long)errors);
        break;
    default:
        break;
    }
    fflush(stdout);
}

static void cl_accumulate(struct cl_result *sum, const struct cl_result *r, double *rate_done,
                          double *rate_tx, double *rate_rx, double *rate_rxp, double *window)
{
    sum->done += r->done;
    sum->up += r->up;
    sum->failed += r->failed;
    sum->still_up += r->still_up;
    sum->tx_bytes += r->tx_bytes;
    sum->rx_bytes += r->rx_bytes;
    sum->rx_pkts += r->rx_pkts;
    sum->pace_skips += r->pace_skips;
    for (int e = 0; e < CL_E_COUNT; e++)
        sum->err[e] += r->err[e];
    if (!sum->tls_version[0]) {
        memcpy(sum->tls_version, r->tls_version, sizeof sum->tls_version);
        memcpy(sum->cipher, r->cipher, sizeof sum->cipher);
    }
    hist_merge(&sum->lat, &r->lat);
    /* each process timed its own window: rates add up */
    if (r->window_s > 0) {
        *rate_done += (double)r->done / r->window_s;
        *rate_tx += (double)r->tx_bytes / r->window_s;
        *rate_rx += (double)r->rx_bytes / r->window_s;
        *rate_rxp += (double)r->rx_pkts / r->window_s;
    }
    if (r->window_s > *window)
        *window = r->window_s;
}

struct cl_proc_arg {
    const struct opts *o;
    SSL_CTX *ctx;
    struct cl_result *one;
};

/* A worker process: its share of the connections, its result to the parent. */
static int cl_proc_main(unsigned i, int result_fd, void *arg)
{
    struct cl_proc_arg *a = arg;
    if (cl_worker_run(a->o, a->ctx, i, result_fd, a->one) == -1)
        return -1;
    return result_send(result_fd, a->one, sizeof *a->one);
}

int client_main(const struct opts *o)
{
    SSL_CTX *ctx = NULL;
    if (!o->plain && !(ctx = cl_ctx_new(o)))
        return 1;
    struct cl_result *sum = calloc(1, sizeof *sum), *one = calloc(1, sizeof *one);
    double rate_done = 0, rate_tx = 0, rate_rx = 0, rate_rxp = 0, window = 0;
    int rc = 1;
    struct procs ps = { .n = 0 };
    if (!sum || !one)
        goto out;
    if (o->procs == 1) {
        if (cl_worker_run(o, ctx, 0, -1, one) == 0) {
            cl_accumulate(sum, one, &rate_done, &rate_tx, &rate_rx, &rate_rxp, &window);
            rc = 0;
        }
        goto print;
    }
    struct cl_proc_arg arg = { o, ctx, one };
    rc = procs_spawn(&ps, o->procs, cl_proc_main, &arg) == 0 ? 0 : 1;
    if (o->mode == M_IDLE && rc == 0) {
        uint64_t ready = 0;
        for (unsigned k = 0; k < ps.n; k++) {
            char m = 0;
            if (read_all(ps.fd[k], &m, 1) == 0 && m == MSG_READY)
                ready++;
        }
        if (ready == ps.n) {
            printf("ready mode=idle procs=%u\n", ps.n);
            fflush(stdout);
        } else {
            rc = 1;
        }
    }
    for (unsigned k = 0; k < ps.n; k++) {
        if (result_recv(ps.fd[k], one, sizeof *one) == 0)
            cl_accumulate(sum, one, &rate_done, &rate_tx, &rate_rx, &rate_rxp, &window);
        else
            rc = 1;
    }
    if (procs_reap(&ps) == -1)
        rc = 1;
    if (rc != 0)
        fprintf(stderr, "sstp-bench: a worker process failed; results are partial\n");
print:
    cl_print(o, sum, rate_done, rate_tx, rate_rx, rate_rxp, window);
out:
    free(sum);
    free(one);
    SSL_CTX_free(ctx);
    return rc;
}
