/* server.c — --serve, the reference target: TLS or plain (optionally
 * behind a PROXY header), the HTTP handshake, then the product's SSTP
 * server state machine (sstp/server_fsm.c) with PPP stubbed: it
 * "authenticates" at once with a zero HLAK and echoes every data frame.
 * It trusts its peers: for benchmarks on a private host only. */
#include "tools/sstp-bench/bench.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/io.h"
#include "core/listener.h"
#include "core/log.h"
#include "core/net.h"
#include "sstp/binding.h"
#include "sstp/http.h"
#include "sstp/packet.h"
#include "sstp/proxyproto.h"
#include "sstp/server_fsm.h"


/* A connection's transport phases; once the 200 is sent, sstp_srv_step
 * decides everything (SP_SSTP). */
enum sp_phase {
    SP_PROXY = 0,  /* waiting for the PROXY header */
    SP_TLS,        /* TLS handshake */
    SP_HTTP,       /* request head */
    SP_SSTP,       /* 200 sent: the state machine runs the call */
};

struct srv_worker;

/* What only the set-up needs; freed once the call is connected, so an idle
 * session holds just struct srv_conn and its SSL. */
struct srv_setup {
    struct sstp_http_req *http;        /* only during SP_HTTP */
    struct sstp_bind_trust trust;      /* lent to the state machine until connected */
    uint8_t tlv256[SSTP_SHA256_LEN];   /* cert hashes from the PROXY header */
    uint8_t tlv1[SSTP_SHA1_LEN];
};

struct srv_conn {
    ev_io w;                           /* first: the callback casts back */
    ev_timer timer;                    /* set-up deadline, then the earliest machine timer */
    struct io io;
    struct srv_worker *wk;
    struct srv_conn *prev, *next;
    struct srv_setup *setup;
    struct sstp_srv sm;                /* the product's SSTP server state machine */
    ev_tstamp due[SSTP_SRV_T_COUNT];   /* when each armed machine timer expires; 0: off */
    struct buf in, out;                /* pool buffers, held only while not empty */
    size_t span;                       /* data packets at the front of `in` being echoed */
    struct again_link again;
    enum sp_phase phase;
    int want;                          /* EV_READ or EV_WRITE */
    bool closing;                      /* close once `out` is flushed */
    bool ended;                        /* the call's abort was counted */
};

struct srv_worker {
    struct ev_loop *loop;
    const struct opts *o;
    SSL_CTX *ctx;                      /* NULL: plain */
    struct listener listener;
    ev_signal sigterm, sigint;
    struct buf_pool pool;
    struct again_q again;
    struct sstp_srv_cfg fsm_cfg;       /* MS-SSTP defaults, --hash-bits */
    bool have_trust;                   /* hashes of the certificate the client saw */
    struct tls_cert_hashes trust;
    struct srv_conn *conns;
    struct srv_stats st;
};

static void setup_free(struct srv_conn *c)
{
    if (!c->setup)
        return;
    free(c->setup->http);
    free(c->setup);
    c->setup = NULL;
}

static void srv_close(struct srv_conn *c)
{
    struct srv_worker *wk = c->wk;
    ev_io_stop(wk->loop, &c->w);
    ev_timer_stop(wk->loop, &c->timer);
    again_remove(&wk->again, &c->again);
    sstp_srv_cleanup(&c->sm);
    setup_free(c);
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

/* The hashes the client may have bound to: sstp-proxy's TLVs when the PROXY
 * header carried them (a bench target trusts its PROXY peer; a real backend
 * checks who sent them), else the certificate this target knows. None:
 * every binding fails, as in the product. */
static void trust_set(struct srv_conn *c, const struct sstp_pp_hdr *h)
{
    struct srv_setup *s = c->setup;
    struct srv_worker *wk = c->wk;
    bool tlv256 = h && (h->present & SSTP_PP_HAS_CERT_SHA256);
    bool tlv1 = h && (h->present & SSTP_PP_HAS_CERT_SHA1);
    memset(&s->trust, 0, sizeof s->trust);
    if (tlv256 || tlv1) {
        if (tlv256) {
            memcpy(s->tlv256, h->cert_sha256, SSTP_SHA256_LEN);
            s->trust.sha256 = &s->tlv256;
            s->trust.n_sha256 = 1;
        }
        if (tlv1) {
            memcpy(s->tlv1, h->cert_sha1, SSTP_SHA1_LEN);
            s->trust.sha1 = &s->tlv1;
            s->trust.n_sha1 = 1;
        }
    } else if (wk->have_trust) {
        s->trust.sha256 = &wk->trust.sha256;
        s->trust.n_sha256 = 1;
        s->trust.sha1 = &wk->trust.sha1;
        s->trust.n_sha1 = 1;
    }
    sstp_srv_set_trust(&c->sm, &s->trust);
}

/* Arms c->timer for the earliest machine timer (or leaves it armed when it
 * fires sooner: the callback re-arms for what is left). */
static void timer_rearm(struct srv_conn *c)
{
    struct ev_loop *loop = c->wk->loop;
    ev_tstamp next = 0;
    for (int t = 0; t < SSTP_SRV_T_COUNT; t++)
        if (c->due[t] > 0 && (next == 0 || c->due[t] < next))
            next = c->due[t];
    if (next == 0) {
        ev_timer_stop(loop, &c->timer);
        return;
    }
    ev_tstamp fires = ev_now(loop) + ev_timer_remaining(loop, &c->timer);
    if (ev_is_active(&c->timer) && fires <= next)
        return;
    ev_timer_stop(loop, &c->timer);
    ev_timer_set(&c->timer, next - ev_now(loop), 0.);
    ev_timer_start(loop, &c->timer);
}

/* Runs one step's actions in the documented order (server_fsm.h). PPP is a
 * stub: started, it authenticates at once with a zero HLAK (what the
 * bench client binds with, like a PAP client); data frames are echoed by
 * the caller. Returns -1 when the connection was closed. */
static int srv_run_actions(struct srv_conn *c, const struct sstp_srv_actions *a)
{
    struct srv_worker *wk = c->wk;
    bool timers = a->timers_stop || a->timers_start;
    for (int t = 0; t < SSTP_SRV_T_COUNT; t++) {
        if (a->timers_stop & SSTP_SRV_TIMER_BIT(t))
            c->due[t] = 0;
        if (a->timers_start & SSTP_SRV_TIMER_BIT(t))
            c->due[t] = ev_now(wk->loop) + a->timer_ms[t] / 1000.0;
    }
    if (a->send_len) {
        struct sstp_wbuf w;
        if (!srv_out(c, &w)) {
            srv_close(c);
            return -1;
        }
        sstp_put_bytes(&w, a->send, a->send_len);
        if (w.err) { /* cannot happen: a pool buffer holds the largest step */
            srv_close(c);
            return -1;
        }
        srv_commit(c, &w);
    }
    if (timers)
        timer_rearm(c);
    if (a->bind == SSTP_SRV_BIND_OK) {
        wk->st.connected++;
        setup_free(c); /* the machine no longer reads the trust */
    } else if (a->bind == SSTP_SRV_BIND_FAILED) {
        wk->st.binding_fail++;
        c->ended = true;
    }
    if (a->rc != SSTP_OK && a->rc != SSTP_AGAIN && !c->ended) {
        /* once per call: the clean-up after an abort repeats its reason */
        c->ended = true;
        if (a->rc == SSTP_E_FSM_TIMEOUT)
            wk->st.timeouts++;
        else
            wk->st.sstp_err++;
    }
    if (a->close) {
        c->closing = true;
        return 0;
    }
    if (a->ppp_start) {
        wk->st.acked++;
        uint8_t hlak[SSTP_HLAK_LEN];
        sstp_bind_hlak_none(hlak);
        struct sstp_srv_ev keys = { .type = SSTP_SRV_EV_KEYS, .hlak = hlak };
        struct sstp_srv_actions next;
        sstp_srv_step(&c->sm, &keys, &next);
        return srv_run_actions(c, &next);
    }
    return 0;
}

/* Data packets from the front of `in`, each through the machine twice: from
 * the client, then back from the stub pppd that echoes it. Whole packets
 * up to the next control packet go back in one write (c->span). */
static int srv_data(struct srv_conn *c, const struct sstp_pkt *first, size_t first_used)
{
    struct srv_worker *wk = c->wk;
    struct buf *in = &c->in;
    struct sstp_pkt pkt = *first;
    size_t used = first_used, span = 0;
    struct sstp_srv_actions a;
    for (;;) {
        struct sstp_srv_ev ev = { .type = SSTP_SRV_EV_PPP_FROM_CLIENT, .data = pkt.payload.p,
                                  .len = pkt.payload.len };
        sstp_srv_step(&c->sm, &ev, &a);
        bool forward = a.frame == SSTP_SRV_FRAME_FORWARD;
        if (srv_run_actions(c, &a) == -1)
            return -1;
        if (forward) {
            ev.type = SSTP_SRV_EV_PPP_FROM_PPPD;
            sstp_srv_step(&c->sm, &ev, &a);
            forward = a.frame == SSTP_SRV_FRAME_FORWARD;
            if (srv_run_actions(c, &a) == -1)
                return -1;
        }
        if (!forward) { /* MS-SSTP 3.3.7: gated (no data before CALL_CONNECTED) */
            wk->st.dropped++;
            if (span == 0)
                buf_consume(in, used);
            break; /* a drop in a span only comes with an abort: c->closing */
        }
        wk->st.data_pkts++;
        span += used;
        if (c->closing || span >= buf_len(in) ||
            sstp_pkt_decode(&pkt, &used, buf_rptr(in) + span, buf_len(in) - span) != SSTP_OK ||
            pkt.is_ctrl)
            break;
    }
    c->span = span;
    return 1;
}

/* Consumes the front of `in`: 1 on progress, 0 when more bytes are needed,
 * -1 when the connection was closed. */
static int srv_parse(struct srv_conn *c)
{
    struct srv_worker *wk = c->wk;
    struct buf *in = &c->in;
    struct sstp_wbuf w;
    struct sstp_srv_actions a;
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
        trust_set(c, &h);
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
        bool call = rc == SSTP_OK && !sstp_http_req_is_probe(s->http);
        if (call) {
            rc = sstp_http_resp_ok_build(&w, now);
            wk->st.http_ok++;
        } else if (rc == SSTP_OK) {
            rc = sstp_http_resp_probe_build(&w, true, now);
        } else {
            wk->st.http_err++;
            rc = sstp_http_resp_error_build(&w, sstp_http_status_for(rc), now);
        }
        if (rc == SSTP_OK)
            srv_commit(c, &w);
        free(s->http);
        s->http = NULL;
        if (!call) {
            c->closing = true;
            return 1;
        }
        c->phase = SP_SSTP;
        ev_timer_stop(wk->loop, &c->timer); /* the machine's negotiation timer takes over */
        struct sstp_srv_ev ev = { .type = SSTP_SRV_EV_HTTP_DONE };
        sstp_srv_step(&c->sm, &ev, &a);
        return srv_run_actions(c, &a) == -1 ? -1 : 1;
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
    if (!pkt.is_ctrl)
        return srv_data(c, &pkt, used);
    struct sstp_srv_ev ev = { .type = SSTP_SRV_EV_CTRL, .data = pkt.raw, .len = pkt.len };
    sstp_srv_step(&c->sm, &ev, &a);
    buf_consume(in, used);
    return srv_run_actions(c, &a) == -1 ? -1 : 1;
}

/* A PROXY header in clear before TLS (HAProxy's send-proxy-v2 to an ssl
 * server, sstp-proxy's proxy_header=before): peeked, so not one byte of
 * the ClientHello behind it is taken from OpenSSL. 1 on to TLS, 0 wait,
 * -1 closed. */
static int srv_proxy_before_tls(struct srv_conn *c)
{
    static uint8_t hb[SSTP_PP_MAX_HDR_LEN];
    struct sstp_pp_hdr h;
    size_t used = 0;
    ssize_t k = recv(c->io.fd, hb, sizeof hb, MSG_PEEK);
    if (k < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        c->want = EV_READ;
        return 0;
    }
    enum sstp_rc rc = k > 0 ? sstp_pp_parse(&h, &used, hb, (size_t)k) : SSTP_E_PP_SIGNATURE;
    if (rc == SSTP_AGAIN && (size_t)k < sizeof hb) { /* the rest is in flight (rare: one segment) */
        c->want = EV_READ;
        return 0;
    }
    if (rc != SSTP_OK || recv(c->io.fd, hb, used, 0) != (ssize_t)used) {
        c->wk->st.proxy_err++;
        srv_close(c);
        return -1;
    }
    trust_set(c, &h);
    c->phase = SP_TLS;
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
    if (c->phase == SP_PROXY && c->io.ssl)
        return srv_proxy_before_tls(c);
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

/* Before the 200: the set-up deadline (MS-SSTP 3.3.2). After: each
 * machine timer that is due, then the next one armed. */
static void srv_timer_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
    (void)revents;
    struct srv_conn *c = t->data;
    if (c->phase != SP_SSTP) {
        c->wk->st.timeouts++;
        srv_close(c);
        return;
    }
    for (int i = 0; i < SSTP_SRV_T_COUNT; i++) {
        if (c->due[i] == 0 || c->due[i] > ev_now(loop))
            continue;
        c->due[i] = 0;
        struct sstp_srv_ev ev = { .type = SSTP_SRV_EV_TIMER, .timer = (enum sstp_srv_timer)i };
        struct sstp_srv_actions a;
        sstp_srv_step(&c->sm, &ev, &a);
        if (srv_run_actions(c, &a) == -1)
            return;
    }
    timer_rearm(c);
    ev_feed_event(loop, &c->w, EV_WRITE); /* flush what the timers sent, or close */
}

/* A new connection from the listener (core/listener.c). */
static void srv_accept(struct listener *l, int fd, const struct sockaddr *peer, socklen_t peer_len)
{
    (void)peer;
    (void)peer_len;
    struct srv_worker *wk = l->data;
    struct ev_loop *loop = wk->loop;
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    struct srv_conn *c = calloc(1, sizeof *c);
    struct srv_setup *s = calloc(1, sizeof *s);
    SSL *ssl = wk->ctx ? SSL_new(wk->ctx) : NULL;
    uint8_t nonce[SSTP_NONCE_LEN];
    if (!c || !s || (wk->ctx && (!ssl || SSL_set_fd(ssl, fd) != 1)) ||
        RAND_bytes(nonce, sizeof nonce) != 1) {
        wk->st.accept_err++;
        SSL_free(ssl);
        free(s);
        free(c);
        close(fd);
        return;
    }
    wk->st.accepted++;
    if (ssl)
        SSL_set_accept_state(ssl);
    c->io = (struct io){ .fd = fd, .ssl = ssl };
    c->wk = wk;
    c->setup = s;
    sstp_srv_init(&c->sm, &wk->fsm_cfg, nonce);
    if (!wk->o->proxy_in)
        trust_set(c, NULL);
    c->phase = wk->o->proxy_in ? SP_PROXY : ssl ? SP_TLS : SP_HTTP;
    c->want = EV_READ;
    c->next = wk->conns;
    if (wk->conns)
        wk->conns->prev = c;
    wk->conns = c;
    ev_timer_init(&c->timer, srv_timer_cb, SSTP_NEGOTIATION_TIMEOUT_S, 0.);
    c->timer.data = c;
    ev_timer_start(loop, &c->timer);
    ev_io_init(&c->w, srv_io_cb, fd, EV_READ);
    ev_io_start(loop, &c->w);
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
    wk->loop = ev_default_loop(EVFLAG_AUTO);
    buf_pool_init(&wk->pool, POOL_SPARE);
    again_init(wk->loop, &wk->again);
    sstp_srv_cfg_default(&wk->fsm_cfg);
    wk->fsm_cfg.hash_bitmask = o->hash_bits;
    if (ctx) {
        wk->have_trust = tls_ctx_cert_hashes(ctx, &wk->trust) == 0;
    } else if (o->cert) {
        wk->have_trust = cert_file_hashes(o->cert, &wk->trust) == 0;
        if (!wk->have_trust)
            log_warn("cert_unreadable", "file=%s msg=bindings_fail_without_proxy_tlvs", o->cert);
    }
    listener_init(&wk->listener, wk->loop, lfd, o->listen, srv_accept, wk);
    listener_start(&wk->listener);
    ev_signal_init(&wk->sigterm, srv_signal_cb, SIGTERM);
    ev_signal_start(wk->loop, &wk->sigterm);
    ev_signal_init(&wk->sigint, srv_signal_cb, SIGINT);
    ev_signal_start(wk->loop, &wk->sigint);
    ev_run(wk->loop, 0);
    while (wk->conns)
        srv_close(wk->conns);
    listener_stop(&wk->listener);
    wk->st.accept_err += wk->listener.n_resource_fail;
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

struct srv_proc_arg {
    const struct opts *o;
    SSL_CTX *ctx;
    const int *lfds;        /* one listening socket per worker */
    sigset_t old_mask;      /* the parent blocks the signals it waits for */
};

/* A worker process: its own listening socket, its stats to the parent. */
static int srv_proc_main(unsigned i, int result_fd, void *arg)
{
    struct srv_proc_arg *a = arg;
    struct srv_stats one;
    sigprocmask(SIG_SETMASK, &a->old_mask, NULL);
    for (unsigned k = 0; k < a->o->procs; k++)
        if (k != i)
            close(a->lfds[k]);
    memset(&one, 0, sizeof one);
    if (srv_worker_run(a->o, a->ctx, a->lfds[i], &one) == -1)
        return -1;
    return result_send(result_fd, &one, sizeof one);
}

int serve_main(const struct opts *o)
{
    struct net_addr a;
    SSL_CTX *ctx = NULL;
    int lfds[MAX_PROCS];
    unsigned n_listen = 0;
    int rc = 1;
    struct srv_stats sum, one;
    struct procs ps = { .n = 0 };
    struct srv_proc_arg arg = { .o = o };
    memset(&sum, 0, sizeof sum);
    if (net_addr_parse(&a, o->listen) == -1) {
        fprintf(stderr, "sstp-bench: bad listen address %s\n", o->listen);
        return 1;
    }
    if (!o->plain) {
        char err[512];
        struct tls_server_opts to = { .cert_file = o->cert, .key_file = o->key, .client_ca = o->client_ca };
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
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGCHLD);
    sigprocmask(SIG_BLOCK, &set, &arg.old_mask);
    arg.lfds = lfds;
    arg.ctx = ctx;
    if (procs_spawn(&ps, o->procs, srv_proc_main, &arg) == 0) {
        int sig = 0;
        sigwait(&set, &sig); /* SIGTERM/SIGINT, or SIGCHLD: a worker died */
        rc = sig == SIGCHLD ? 1 : 0;
    }
    for (unsigned k = 0; k < ps.n; k++)
        kill(ps.pid[k], SIGTERM);
    for (unsigned k = 0; k < ps.n; k++) {
        if (result_recv(ps.fd[k], &one, sizeof one) == 0)
            srv_stats_add(&sum, &one);
        else
            rc = 1;
    }
    unsigned n = ps.n;
    procs_reap(&ps); /* the results above already tell whether each worker did its part */
    srv_print(o, &sum, n);
out:
    for (unsigned k = 0; k < n_listen; k++)
        close(lfds[k]);
    SSL_CTX_free(ctx);
    return rc;
}
