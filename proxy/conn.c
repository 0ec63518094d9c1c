/* conn.c — the connection state machine of sstp-proxy (see conn.h): PROXY
 * header, TLS, request head, the affinity look-up, backend connect with
 * retries, then the relay (relay.c). Codecs come from sstp/, backend choice
 * from lb/, Redis through fleet.h; this file moves bytes, applies their
 * verdicts and logs. */
#include "proxy/conn.h"

#include <errno.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "core/log.h"
#include "core/term.h"
#include "proxy/fleet.h"
#include "proxy/passthrough.h"
#include "proxy/pphdr.h"
#include "proxy/relay.h"
#include "proxy/stats.h"
#include "proxy/web.h"
#include "proxy/worker.h"
#include "sstp/proxyproto.h"

#define CLOSE_LINGER_S 2.0 /* a last answer gets this long to leave */
#define ANSWER_MAX 512     /* an HTTP error or probe answer */
#define LINGER_MAX (64 * 1024) /* client bytes dropped after an answer before we just close */
#define SLOW_DOUBLINGS_MAX 3 /* after slow answers an attempt waits up to 8x connect_timeout */
#define VERIFY_NO_CERT 1   /* PP2 SSL `verify` when no client certificate: non-zero (PROXY v2 §2.2.5) */

static const char *const state_names[PXC_STATE_COUNT] = {
    [PXC_PROXY_HDR] = "PROXY_HDR", [PXC_TLS] = "TLS",         [PXC_HTTP_HEAD] = "HTTP_HEAD",
    [PXC_AFFINITY] = "AFFINITY",   [PXC_BACKEND_CONNECT] = "BACKEND_CONNECT",
    [PXC_RELAY] = "RELAY",         [PXC_CLOSING] = "CLOSING", [PXC_CLOSED] = "CLOSED",
    [PXC_PEEK] = "PEEK",           [PXC_PASS] = "PASS",
};
/* second letter of `term`: the phase the decision was taken in (choosing
 * the backend, affinity included, is the backend connect phase) */
static const enum term_phase term_phases[PXC_STATE_COUNT] = {
    [PXC_PROXY_HDR] = TERM_PH_PROXY_HDR, [PXC_TLS] = TERM_PH_TLS,
    [PXC_HTTP_HEAD] = TERM_PH_REQUEST,   [PXC_AFFINITY] = TERM_PH_BACKEND,
    [PXC_BACKEND_CONNECT] = TERM_PH_BACKEND, [PXC_RELAY] = TERM_PH_DATA,
    [PXC_CLOSING] = TERM_PH_DATA,        [PXC_CLOSED] = TERM_PH_DATA,
    [PXC_PEEK] = TERM_PH_TLS,            [PXC_PASS] = TERM_PH_DATA,
};

static void client_cb(struct ev_loop *loop, ev_io *w, int revents);
static void backend_cb(struct ev_loop *loop, ev_io *w, int revents);
static void timer_cb(struct ev_loop *loop, ev_timer *w, int revents);
static void begin_backend(struct px_conn *c);
static void pick_and_connect(struct px_conn *c, struct lb_backend *want);
static void update(struct px_conn *c);
static void do_backend_connect(struct px_conn *c);
static int send_preamble(struct px_conn *c);
static void send_failed(struct px_conn *c);
static void answer_and_close(struct px_conn *c, int status, bool probe, bool accepting);

/* ---- small helpers -------------------------------------------------------- */

static const struct metrics_family *fam(const struct px_conn *c, enum px_metric f)
{
    return &c->w->m->fam[f];
}

static void count(struct px_conn *c, enum px_metric f, size_t i)
{
    metrics_add(c->w->mv, fam(c, f), i, 1);
}

const char *px_conn_state_str(enum px_conn_state s)
{
    return (unsigned)s < PXC_STATE_COUNT ? state_names[s] : "?";
}

void px_conn_set_state(struct px_conn *c, enum px_conn_state s)
{
    log_debug("state", "sid=%s from=%s to=%s", c->sid, px_conn_state_str(c->state), px_conn_state_str(s));
    c->state = s;
}

static void set_term(struct px_conn *c, char who, enum sstp_rc rc)
{
    if (term_set(c->term, who, term_phases[c->state])) /* the first reason wins */
        c->rc = rc;
}

void px_conn_watch(struct px_conn *c, ev_io *w, int fd, int events)
{
    if (fd == -1)
        events = 0;
    if (ev_is_active(w) && w->fd == fd && (w->events & (EV_READ | EV_WRITE)) == events)
        return;
    ev_io_stop(c->w->loop, w);
    if (!events)
        return;
    ev_io_set(w, fd, events);
    ev_io_start(c->w->loop, w);
}

void px_conn_arm_timer(struct px_conn *c, double after)
{
    ev_timer_stop(c->w->loop, &c->timer);
    ev_timer_set(&c->timer, after, 0);
    ev_timer_start(c->w->loop, &c->timer);
}

static const char *backend_name(const struct px_conn *c)
{
    return c->backend ? c->backend->spec.name : "-";
}

/* The lines of a connection refused before it asked for a backend (its
 * refusal and its close) pass the worker's rate limit together: asked
 * once per connection, so a flood of them cannot fill the log. */
static bool refusal_log_ok(struct px_conn *c)
{
    if (c->log_gate == PXG_ASK)
        c->log_gate = px_worker_log_ok(c->w) ? PXG_LOG : PXG_MUTE;
    return c->log_gate == PXG_LOG;
}

bool px_conn_log_ok(struct px_conn *c)
{
    return refusal_log_ok(c);
}

/* The connection leaves the worker's handshakes in flight (relayed or closed). */
static void handshake_done(struct px_conn *c)
{
    if (!c->in_handshake)
        return;
    c->in_handshake = false;
    c->w->n_handshakes--;
}

void px_conn_handshake_done(struct px_conn *c)
{
    handshake_done(c);
}

/* ---- closing --------------------------------------------------------------- */

/* A reject event for the fleet's stream (batched by fleet.c). */
static void fleet_reject(struct px_conn *c, const char *reason)
{
    if (c->w->fleet)
        px_fleet_reject(c->w->fleet, c->sid, c->client, reason);
}

static void hs_free(struct px_conn *c)
{
    struct px_hs *hs = c->hs;
    if (!hs)
        return;
    lb_aff_cancel(hs->aff); /* its answer must not reach a closed connection */
    hs->aff = NULL;
    px_tls_hs_detach(c->cli.ssl);
    buf_drop(&c->w->pool, &hs->pre);
    OPENSSL_cleanse(&hs->http, sizeof hs->http); /* the head may name the user's host */
    free(hs);
    c->hs = NULL;
}

static void log_close(struct px_conn *c)
{
    double dur_ms = (ev_now(c->w->loop) - c->t_start) * 1000.0;
    /* load balancers probe every few seconds: their lines are debug */
    enum log_level lvl = c->term[0] == TERM_NORMAL && c->state == PXC_CLOSING ? LOG_DEBUG : LOG_INFO;
    /* a connection refused before it asked for a backend (bad TLS, bad
     * request, silence: the PROXY header, TLS and request head phases)
     * shares the refusal lines' rate limit */
    bool refused = (c->term[0] == TERM_CLIENT && c->term[1] && strchr("XTR", c->term[1])) ||
                   (c->term[0] == TERM_RESOURCE && c->term[1] == term_phase_letter(TERM_PH_PROXY_HDR));
    if (lvl == LOG_INFO && refused && !refusal_log_ok(c))
        return;
    log_at(lvl, "close", "sid=%s client=%s sni=%s backend=%s state=%s term=%s rc=%s dur_ms=%.0f "
           "bytes_in=%llu bytes_out=%llu",
           c->sid, c->client, c->sni[0] ? c->sni : "-", backend_name(c), px_conn_state_str(c->state),
           c->term, sstp_rc_name(c->rc), dur_ms, (unsigned long long)c->bytes_in,
           (unsigned long long)c->bytes_out);
}

static void ktls_gauge(struct px_conn *c, int sign);

void px_conn_close(struct px_conn *c, char who, enum sstp_rc rc)
{
    if (c->state == PXC_CLOSED)
        return;
    struct px_worker *w = c->w;
    set_term(c, who, rc);
    ev_io_stop(w->loop, &c->cw);
    ev_io_stop(w->loop, &c->bw);
    ev_timer_stop(w->loop, &c->timer);
    log_close(c);
    count(c, PXM_TERM, metrics_slot(w->m, w->index, PXM_TERM, c->term));
    if (c->state == PXC_RELAY) {
        if (c->tls && c->tls->ktls)
            ktls_gauge(c, -1);
        metrics_sub(w->mv, fam(c, PXM_SESSIONS_ACTIVE), 0, 1);
        w->n_sessions--;
    }
    handshake_done(c);
    px_worker_memory_leave(w, c);
    if (c->src_held && !srclimit_release(&w->src, &c->src_key))
        log_error("srclimit", "sid=%s msg=release_without_count", c->sid);
    c->src_held = false;
    io_close(&c->cli);
    io_close(&c->be);
    px_wstage_cleanup(&c->ws); /* after io_close: its close_notify may land there */
    hs_free(c);
    buf_drop(&w->pool, &c->c2b);
    buf_drop(&w->pool, &c->b2c);
    lb_release(c->backend);
    c->backend = NULL;
    px_fleet_aff_release(c->aff_hold);
    c->aff_hold = NULL;
    px_tls_unref(c->tls);
    c->tls = NULL;
    px_conn_set_state(c, PXC_CLOSED);
    px_worker_conn_closed(w, c);
}

void px_conn_kill(struct px_conn *c)
{
    px_conn_close(c, TERM_KILLED, SSTP_OK);
}

void px_conn_free(struct px_conn *c)
{
    free(c);
}

/* ---- watchers by state ------------------------------------------------------ */

static int want_or(uint8_t want, int dflt)
{
    return want ? want : dflt;
}

static void update(struct px_conn *c)
{
    struct px_hs *hs = c->hs;
    switch (c->state) {
    case PXC_PROXY_HDR:
        px_conn_watch(c, &c->cw, c->cli.fd, EV_READ);
        break;
    case PXC_TLS:
    case PXC_HTTP_HEAD:
        px_conn_watch(c, &c->cw, c->cli.fd, want_or((uint8_t)c->cli.want, EV_READ));
        break;
    case PXC_AFFINITY:
        /* only to notice a client that leaves while Redis is asked */
        px_conn_watch(c, &c->bw, c->be.fd, 0);
        px_conn_watch(c, &c->cw, c->cli.fd, hs->aff_watch_off ? 0 : EV_READ);
        break;
    case PXC_BACKEND_CONNECT: {
        int ev = hs->step == PXB_CONNECTING || hs->step == PXB_PP_CLEAR ? EV_WRITE
                 : hs->step == PXB_WAIT     ? want_or((uint8_t)c->be.want, EV_READ)
                                            : want_or((uint8_t)c->be.want, EV_WRITE);
        px_conn_watch(c, &c->cw, c->cli.fd, 0);
        px_conn_watch(c, &c->bw, c->be.fd, ev);
        break;
    }
    case PXC_RELAY:
        px_relay_watch(c);
        break;
    case PXC_CLOSING:
        px_conn_watch(c, &c->bw, c->be.fd, 0);
        px_conn_watch(c, &c->cw, c->cli.fd,
                      want_or((uint8_t)c->cli.want, buf_len(&c->b2c) > 0 ? EV_WRITE : EV_READ));
        break;
    case PXC_PEEK:
        px_conn_watch(c, &c->cw, c->cli.fd, hs->hello_partial ? 0 : EV_READ);
        break;
    case PXC_PASS:
        px_pass_watch(c);
        break;
    case PXC_CLOSED:
        break;
    }
}

/* ---- a last answer to the client ------------------------------------------ */

void px_conn_shut_write(struct io *io)
{
    io_close_notify(io); /* best effort, one small record */
    shutdown(io->fd, SHUT_WR);
}

/* Sends the answer, then closes gracefully: our side ends (close_notify,
 * FIN) and what the client still sends is read and dropped until it closes,
 * so the unread rest of its request cannot turn our close into a reset
 * that destroys the answer before the client reads it (nginx's lingering
 * close). Bounded by LINGER_MAX bytes and the CLOSE_LINGER_S timer. */
static void do_flush(struct px_conn *c)
{
    uint8_t junk[4096];
    while (buf_len(&c->b2c) > 0) {
        ssize_t n = io_write(&c->cli, buf_rptr(&c->b2c), buf_len(&c->b2c));
        if (n == IO_AGAIN)
            return;
        if (n < 0) {
            px_conn_close(c, TERM_CLIENT, SSTP_OK);
            return;
        }
        c->bytes_out += (uint64_t)n;
        buf_consume(&c->b2c, (size_t)n);
    }
    buf_release(&c->w->pool, &c->b2c);
    if (!c->cli_shut) {
        px_conn_shut_write(&c->cli);
        c->cli_shut = true;
        c->cli.want = 0;
    }
    for (;;) {
        ssize_t n = io_read(&c->cli, junk, sizeof junk);
        if (n == IO_AGAIN)
            return;
        if (n <= 0 || (c->bytes_in += (uint64_t)n) > LINGER_MAX) {
            px_conn_close(c, TERM_NORMAL, SSTP_OK); /* the term set before the answer stays */
            return;
        }
    }
}

/* Queues an HTTP answer (an error status, or a probe's 200/503) and closes
 * after it is sent or after CLOSE_LINGER_S. */
static void answer_and_close(struct px_conn *c, int status, bool probe, bool accepting)
{
    struct px_worker *w = c->w;
    struct sstp_wbuf wb;
    if (buf_take(&w->pool, &c->b2c) == -1) {
        px_conn_close(c, TERM_RESOURCE, SSTP_E_NOSPACE);
        return;
    }
    buf_compact(&c->b2c);
    sstp_wbuf_init(&wb, buf_wptr(&c->b2c), buf_room(&c->b2c) < ANSWER_MAX ? buf_room(&c->b2c) : ANSWER_MAX);
    enum sstp_rc rc = probe ? sstp_http_resp_probe_build(&wb, accepting, time(NULL))
                            : sstp_http_resp_error_build(&wb, status, time(NULL));
    if (rc != SSTP_OK) {
        px_conn_close(c, TERM_INTERNAL, rc);
        return;
    }
    c->b2c.tail += wb.len;
    px_conn_set_state(c, PXC_CLOSING);
    px_conn_arm_timer(c, CLOSE_LINGER_S);
    c->cli.want = 0;
    do_flush(c);
}

/* ---- admission ---------------------------------------------------------------- */

static const char *const refuse_names[PXR_COUNT] = {
    [PXR_SOURCE_RATE] = "source_rate", [PXR_SOURCE_CONNS] = "source_conns",
    [PXR_SOURCE_TABLE] = "source_table_full",
};

/* Admission by the real client address (after a trusted PROXY header, so
 * a load balancer's address is never the one limited): new connections a
 * second and connections at once per source prefix. Returns 0, or -1 with
 * the connection closed (refused, counted, a rate-limited line). */
static int admit(struct px_conn *c)
{
    struct px_worker *w = c->w;
    const struct sockaddr *sa = (const struct sockaddr *)&c->hs->client;
    enum px_refuse why;
    if (!ratelimit_allow(&w->rate, sa, ev_now(w->loop))) {
        why = PXR_SOURCE_RATE;
    } else {
        enum srclimit_verdict v = srclimit_acquire(&w->src, &c->src_key, sa);
        if (v == SRCLIMIT_OK) {
            c->src_held = true;
            return 0;
        }
        why = v == SRCLIMIT_OVER ? PXR_SOURCE_CONNS : PXR_SOURCE_TABLE;
    }
    count(c, PXM_REFUSED, why);
    if (refusal_log_ok(c))
        log_info("refuse", "sid=%s client=%s reason=%s", c->sid, c->client, refuse_names[why]);
    fleet_reject(c, refuse_names[why]);
    px_conn_close(c, TERM_RESOURCE, SSTP_OK);
    return -1;
}

/* ---- PXC_PROXY_HDR ----------------------------------------------------------- */

int px_conn_start_tls(struct px_conn *c)
{
    SSL *ssl = px_tls_server_ssl(c->tls, c->cli.fd, &c->hs->tls);
    if (!ssl) {
        px_conn_close(c, TERM_RESOURCE, SSTP_E_NOSPACE);
        return -1;
    }
    c->cli.ssl = ssl;
    c->cli.want = 0;
    px_conn_set_state(c, PXC_TLS);
    return 0;
}

/* With SNI passthrough configured the ClientHello is peeked first. */
static int begin_tls(struct px_conn *c)
{
    if (c->w->cfg->passthrough.n == 0)
        return px_conn_start_tls(c);
    px_conn_set_state(c, PXC_PEEK);
    return 0;
}

/* Reads exactly the PROXY header, never a byte of the TLS stream after it:
 * peek at what is there, let the parser say how much is header, and take
 * only that. Bytes seen while the parser wants more all belong to it (v1
 * ends at the first LF, v2's length is in its first 16 bytes). */
static void do_proxy_hdr(struct px_conn *c)
{
    struct px_worker *w = c->w;
    struct px_hs *hs = c->hs;
    if (buf_take(&w->pool, &c->c2b) == -1) {
        px_conn_close(c, TERM_RESOURCE, SSTP_E_NOSPACE);
        return;
    }
    size_t have = buf_len(&c->c2b);
    ssize_t n = recv(c->cli.fd, buf_wptr(&c->c2b), SSTP_PP_MAX_HDR_LEN - have, MSG_PEEK);
    if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
        return;
    if (n <= 0) {
        px_conn_close(c, TERM_CLIENT, SSTP_OK);
        return;
    }
    struct sstp_pp_hdr h;
    size_t used = 0;
    enum sstp_rc rc = sstp_pp_parse(&h, &used, buf_rptr(&c->c2b), have + (size_t)n);
    if (rc != SSTP_OK && rc != SSTP_AGAIN) {
        count(c, PXM_PROTO_ERRORS, px_stats_rc_index(w->m, rc));
        if (refusal_log_ok(c))
            log_info("proxy_reject", "sid=%s peer=%s rc=%s", c->sid, c->client, sstp_rc_name(rc));
        fleet_reject(c, sstp_rc_name(rc));
        px_conn_close(c, TERM_CLIENT, rc);
        return;
    }
    size_t take = rc == SSTP_AGAIN ? (size_t)n : used - have;
    if (recv(c->cli.fd, buf_wptr(&c->c2b), take, 0) != (ssize_t)take) {
        px_conn_close(c, TERM_CLIENT, SSTP_OK); /* the peeked bytes are ours: cannot happen */
        return;
    }
    c->c2b.tail += take;
    if (rc == SSTP_AGAIN)
        return;
    if (h.command == SSTP_PP_CMD_PROXY &&
        (h.src.ss_family == AF_INET || h.src.ss_family == AF_INET6)) {
        hs->client = h.src;
        hs->local = h.dst;
        net_addr_str((const struct sockaddr *)&hs->client, c->client, sizeof c->client);
    }
    /* the load balancer's own TLVs (cloud vendor ids) are never passed on */
    log_debug("proxy_hdr", "sid=%s client=%s version=%d command=%d foreign_tlvs=%u", c->sid,
              c->client, (int)h.version, (int)h.command, h.n_foreign);
    buf_drop(&w->pool, &c->c2b);
    if (admit(c) == -1)
        return;
    begin_tls(c); /* the handshake timer, armed at accept, covers both */
}

/* ---- PXC_TLS ------------------------------------------------------------------ */

static void note_client_cert(struct px_conn *c)
{
    struct px_hs *hs = c->hs;
    X509 *peer = SSL_get0_peer_certificate(c->cli.ssl);
    hs->client_verify = VERIFY_NO_CERT;
    if (!peer)
        return;
    hs->client_cert = true;
    hs->client_cert_conn = !SSL_session_reused(c->cli.ssl);
    hs->client_verify = (uint32_t)SSL_get_verify_result(c->cli.ssl);
    if (tls_x509_sha256(peer, hs->client_sha256) == -1)
        hs->client_cert = false;
    char cn[PX_CN_MAX];
    if (X509_NAME_get_text_by_NID(X509_get_subject_name(peer), NID_commonName, cn, sizeof cn) > 0)
        log_sanitize(hs->client_cn, sizeof hs->client_cn, cn, strlen(cn));
    else
        hs->client_cn[0] = '\0';
}

static void do_http(struct px_conn *c);

static void do_tls(struct px_conn *c)
{
    struct px_worker *w = c->w;
    struct px_hs *hs = c->hs;
    int r = io_accept(&c->cli);
    if (r == IO_AGAIN)
        return;
    if (r != 1) {
        char ossl[512];
        count(c, PXM_TLS_FAILURES, 0);
        /* drained whether logged or not: the next connection's errors are its own */
        const char *err = c->cli.err ? strerror(c->cli.err) : log_openssl_errors(ossl, sizeof ossl);
        if (refusal_log_ok(c))
            log_info("tls_fail", "sid=%s client=%s err=%s", c->sid, c->client, err);
        px_conn_close(c, TERM_CLIENT, SSTP_OK);
        return;
    }
    c->cli.want = 0;
    if (hs->tls.ticket_not_served)
        count(c, PXM_TLS_POLICY, PXTP_TICKET_CERT_NOT_SERVED);
    if (px_tls_presented(c->cli.ssl, &hs->tls, &hs->presented) == -1) {
        /* no verified client certificate under `required` (a resumed
         * session too), or the backend's crypto binding check would
         * compare against a guess */
        bool client = hs->tls.refused == PXTP_NO_VERIFIED_CLIENT_CERT;
        count(c, PXM_TLS_POLICY, hs->tls.refused);
        log_at(client ? LOG_INFO : LOG_ERROR, "tls_refuse", "sid=%s client=%s reason=%s resumed=%d",
               c->sid, c->client, client ? "no_verified_client_cert" : "cert_unknown",
               (int)SSL_session_reused(c->cli.ssl));
        px_conn_close(c, client ? TERM_CLIENT : TERM_INTERNAL, SSTP_OK);
        return;
    }
    if (hs->tls.sni[0])
        log_sanitize(c->sni, sizeof c->sni, hs->tls.sni, strlen(hs->tls.sni));
    const char *version = SSL_get_version(c->cli.ssl);
    const char *cipher = SSL_get_cipher_name(c->cli.ssl);
    count(c, PXM_TLS_HANDSHAKES, metrics_slot(w->m, w->index, PXM_TLS_HANDSHAKES, version));
    count(c, PXM_TLS_CIPHERS, metrics_slot(w->m, w->index, PXM_TLS_CIPHERS, cipher));
    if (SSL_session_reused(c->cli.ssl))
        count(c, PXM_TLS_RESUMED, 0);
    note_client_cert(c);
    log_debug("tls_ok", "sid=%s client=%s sni=%s version=%s cipher=%s resumed=%d cert=%s",
              c->sid, c->client, c->sni[0] ? c->sni : "-", version, cipher,
              (int)SSL_session_reused(c->cli.ssl), hs->tls.cert ? hs->tls.cert->file : "-");
    px_conn_set_state(c, PXC_HTTP_HEAD);
    px_conn_arm_timer(c, w->cfg->request_timeout);
    do_http(c); /* the request may already be in OpenSSL's buffer */
}

/* ---- PXC_HTTP_HEAD ------------------------------------------------------------- */

static void http_reject(struct px_conn *c, enum sstp_rc rc)
{
    struct px_worker *w = c->w;
    int status = sstp_http_status_for(rc);
    count(c, PXM_PROTO_ERRORS, px_stats_rc_index(w->m, rc));
    if (refusal_log_ok(c))
        log_info("http_reject", "sid=%s client=%s sni=%s rc=%s status=%d", c->sid, c->client,
                 c->sni[0] ? c->sni : "-", sstp_rc_name(rc), status);
    fleet_reject(c, sstp_rc_name(rc));
    set_term(c, TERM_CLIENT, rc);
    if (w->cfg->http_errors == PX_HTTP_ERRORS_SILENT) {
        px_conn_close(c, TERM_CLIENT, rc);
        return;
    }
    answer_and_close(c, status, false, false);
}

static void do_http(struct px_conn *c)
{
    struct px_worker *w = c->w;
    struct px_hs *hs = c->hs;
    for (;;) {
        if (buf_take(&w->pool, &c->c2b) == -1) {
            px_conn_close(c, TERM_RESOURCE, SSTP_E_NOSPACE);
            return;
        }
        buf_compact(&c->c2b);
        ssize_t n = io_read(&c->cli, buf_wptr(&c->c2b), buf_room(&c->c2b));
        if (n == IO_AGAIN)
            break;
        if (n <= 0) {
            enum sstp_rc rc = SSTP_OK;
            if (n == IO_ERR)
                px_conn_ktls_refused(c, &c->cli, &rc); /* a KeyUpdate with the head */
            px_conn_close(c, TERM_CLIENT, rc);
            return;
        }
        c->bytes_in += (uint64_t)n;
        c->c2b.tail += (size_t)n;
        size_t used = 0;
        enum sstp_rc rc = sstp_http_req_feed(&hs->http, buf_rptr(&c->c2b), buf_len(&c->c2b), &used);
        buf_consume(&c->c2b, used);
        if (rc == SSTP_AGAIN)
            continue;
        if (rc != SSTP_OK) {
            if (px_web_wanted(w->cfg, &hs->http, rc))
                px_web_start(c); /* not SSTP: the website on the same port */
            else
                http_reject(c, rc);
            return;
        }
        if (sstp_http_req_is_probe(&hs->http)) {
            bool ok = px_worker_accepting(w);
            count(c, PXM_PROBES, ok ? PXP_200 : PXP_503);
            set_term(c, TERM_NORMAL, SSTP_OK);
            answer_and_close(c, ok ? 200 : 503, true, ok);
            return;
        }
        begin_backend(c); /* what is left in c2b was pipelined after the head */
        return;
    }
    buf_release(&w->pool, &c->c2b);
}

/* ---- PXC_BACKEND_CONNECT ---------------------------------------------------------- */

/* Our PROXY v2 header, then the canonical request head rebuilt from what
 * the parser validated (sstp_http_req_canonical_build): a backend never
 * sees client bytes the proxy did not understand, so a request the proxy
 * accepts cannot be one a backend reads differently and fails on. */
static int build_preamble(struct px_conn *c)
{
    struct px_worker *w = c->w;
    struct px_hs *hs = c->hs;
    const struct sstp_http_fields *f = &hs->http.f;
    bool full = !SSL_session_reused(c->cli.ssl) && hs->tls.cert;
    struct px_pp_info in = {
        .src = (const struct sockaddr *)&hs->client,
        .dst = (const struct sockaddr *)&hs->local,
        .sni = hs->tls.sni,
        .sid = c->sid,
        .presented = &hs->presented,
        .tls_version = SSL_get_version(c->cli.ssl),
        .tls_cipher = SSL_get_cipher_name(c->cli.ssl),
        /* on a resumption the certificate is not sent again: name only what was */
        .sig_alg = full ? hs->tls.cert->sig_alg : NULL,
        .key_alg = full ? hs->tls.cert->key_alg : NULL,
        .client_cert = hs->client_cert,
        .client_cert_this_conn = hs->client_cert_conn,
        .client_verify = hs->client_verify,
        .client_sha256 = hs->client_sha256,
        .client_cn = hs->client_cn,
        .proxy_id = w->cfg->id,
        .tenant = f->has_tenantid ? f->tenantid : NULL,
    };
    struct sstp_wbuf wb;
    if (buf_take(&w->pool, &hs->pre) == -1)
        return -1;
    sstp_wbuf_init(&wb, buf_wptr(&hs->pre), buf_room(&hs->pre));
    if (px_pp_build(&wb, &in) != SSTP_OK)
        return -1;
    hs->pp_len = wb.len; /* a server may want it before TLS, or not at all */
    if (sstp_http_req_canonical_build(&wb, &hs->http.f) != SSTP_OK || wb.err)
        return -1;
    hs->pre.tail += wb.len;
    return 0;
}

static const char *const nb_reasons[PXN_COUNT] = { "no_backend_up", "no_backend_for_tenant",
                                                    "attempts_failed" };

/* 503: nothing can take the session. Why: every attempt failed; or,
 * before any, no backend serves the request's tenant group at all; or none
 * that does can take it now (down, full, drained). */
static void no_backend(struct px_conn *c, char who)
{
    const struct lb_req *req = &c->hs->req;
    char tenant[SSTP_HTTP_TENANTID_MAX + 1];
    enum px_nb_reason why = req->n_tried > 0 ? PXN_ATTEMPTS_FAILED
                            : req->tenant && req->tenant[0] && !lb_group_served(c->w->lb, req->tenant)
                                ? PXN_NO_BACKEND_FOR_TENANT
                                : PXN_NO_BACKEND_UP;
    count(c, PXM_NO_BACKEND, 0);
    count(c, PXM_NO_BACKEND_REASON, why);
    log_warn("no_backend", "sid=%s client=%s tried=%u reason=%s tenant=%s", c->sid, c->client,
             req->n_tried, nb_reasons[why],
             req->tenant ? log_sanitize(tenant, sizeof tenant, req->tenant, strlen(req->tenant)) : "-");
    fleet_reject(c, nb_reasons[why]);
    set_term(c, who, SSTP_OK);
    answer_and_close(c, 503, false, false);
}

static const char *const cause_names[PXF_COUNT] = { "backend", "slow", "busy", "request", "local",
                                                    "refused" };

/* One key=value token: strerror() and OpenSSL texts have spaces. */
static void reason_token(char *out, size_t out_len, const char *reason)
{
    snprintf(out, out_len, "%s", reason);
    for (char *p = out; *p; p++)
        if (*p == ' ' || *p == '=' || *p == '"')
            *p = '_';
}

/* Gives up the current backend attempt without answering the client. */
static void drop_attempt(struct px_conn *c)
{
    px_conn_watch(c, &c->bw, -1, 0);
    io_close(&c->be);
    c->be.fd = -1;
    c->be.want = 0;
    buf_consume(&c->b2c, buf_len(&c->b2c)); /* a partial or refused answer is not relayed */
    buf_release(&c->w->pool, &c->b2c);
    lb_release(c->backend);
    c->backend = NULL;
}

/* The attempt on c->backend failed. Only PXF_BACKEND, what the backend
 * itself did, counts against it (the passive down mark; PXF_REFUSED only
 * marks a registered backend full): a slow answer
 * under load, a busy 503 and a refused request do not, so neither a surge
 * nor a client can take backends out. Then the next backend is tried, or
 * the client gets 503. */
static void attempt_failed(struct px_conn *c, enum px_attempt cause, const char *reason)
{
    struct px_worker *w = c->w;
    struct px_hs *hs = c->hs;
    struct lb_backend *be = c->backend;
    char why[256];
    reason_token(why, sizeof why, reason);
    count(c, PXM_ATTEMPTS_FAILED, cause);
    bool changed = false;
    if (cause == PXF_BACKEND || cause == PXF_REFUSED) {
        /* a refusal marks a registered backend full until its next
         * heartbeat (it is alive), a static one down (lb_report) */
        metrics_add(w->mv, fam(c, PXM_BACKEND_FAILURES), px_worker_backend_slot(w, be), 1);
        changed = lb_report(w->lb, be, cause == PXF_REFUSED ? LB_EV_REFUSED : LB_EV_CONNECT_FAIL,
                            ev_now(w->loop));
    }
    log_info("backend_fail", "sid=%s backend=%s attempt=%u cause=%s reason=%s", c->sid, be->spec.name,
             hs->req.n_tried, cause_names[cause], why);
    if (changed)
        log_warn("backend_down", "backend=%s reason=%s for_s=%g", be->spec.name, why, w->lb->params.down_time);
    drop_attempt(c);
    if (hs->req.n_tried > (unsigned)w->cfg->retries) {
        no_backend(c, TERM_SERVER);
        return;
    }
    count(c, PXM_RETRIES, 0);
    pick_and_connect(c, NULL);
}

/* errno values that say this proxy ran out of something (descriptors,
 * buffers, memory, local ports), not that the backend did anything:
 * returns its label, or PXE_COUNT for anything else. */
static enum px_resource local_errno(int e)
{
    if (!lb_errno_is_local(e))
        return PXE_COUNT;
    switch (e) {
    case EMFILE:
        return PXE_EMFILE;
    case ENFILE:
        return PXE_ENFILE;
    case ENOBUFS:
        return PXE_ENOBUFS;
    case ENOMEM:
        return PXE_ENOMEM;
    case EADDRNOTAVAIL: /* no local port left to connect from */
        return PXE_EADDRNOTAVAIL;
    default:
        return PXE_COUNT;
    }
}

/* Our own resources failed on a backend attempt: counted by reason, never
 * blamed on the backend, and not retried (another backend needs the same
 * resources); the client gets 503 (term R). */
static void local_failure(struct px_conn *c, enum px_resource r, const char *reason)
{
    struct px_worker *w = c->w;
    char why[256];
    reason_token(why, sizeof why, reason);
    count(c, PXM_ATTEMPTS_FAILED, PXF_LOCAL);
    count(c, PXM_RESOURCE_ERRORS, r);
    if (px_worker_log_ok(w))
        log_warn("resource_error", "sid=%s backend=%s reason=%s", c->sid, backend_name(c), why);
    drop_attempt(c);
    set_term(c, TERM_RESOURCE, SSTP_E_NOSPACE);
    answer_and_close(c, 503, false, false);
}

/* A failed system call on a backend attempt: ours or the backend's. */
static void attempt_errno(struct px_conn *c, int e)
{
    enum px_resource r = local_errno(e);
    if (r != PXE_COUNT)
        local_failure(c, r, strerror(e));
    else
        attempt_failed(c, PXF_BACKEND, strerror(e));
}

/* ---- PXC_AFFINITY ------------------------------------------------------------------- */

static void affinity_log(const struct px_conn *c, const char *result, const char *backend)
{
    log_debug("affinity", "sid=%s key=%s result=%s backend=%s", c->sid, c->hs->aff_key, result,
              backend ? backend : "-");
}

/* Redis answered: the backend recorded for the key (NULL: none, or the
 * reply was lost). It is used if it can take the session now; otherwise
 * the policy chooses, and that choice is recorded once it succeeds. */
static void on_affinity(const char *backend, void *ud)
{
    struct px_conn *c = ud;
    struct px_worker *w = c->w;
    struct px_hs *hs = c->hs;
    struct lb_backend *want = NULL;
    char name[LB_NAME_MAX];
    hs->aff = NULL; /* the handle frees itself after this call */
    if (!backend) {
        count(c, PXM_AFFINITY, PXA_MISS);
    } else if (!(want = lb_find(w->lb, backend)) || !lb_candidate(want, &hs->req, ev_now(w->loop))) {
        count(c, PXM_AFFINITY, PXA_STALE);
        want = NULL;
    } else {
        count(c, PXM_AFFINITY, PXA_HIT);
    }
    affinity_log(c, !backend ? "miss" : want ? "hit" : "stale",
                 backend ? log_sanitize(name, sizeof name, backend, strlen(backend)) : NULL);
    px_conn_set_state(c, PXC_BACKEND_CONNECT);
    pick_and_connect(c, want);
    update(c);
}

/* PXC_AFFINITY waits with the client's watcher on only to see it leave:
 * peek, never read (its bytes are the relay's). More data means it is
 * still there; stop looking until the answer. */
static void affinity_client(struct px_conn *c)
{
    uint8_t b;
    ssize_t n = recv(c->cli.fd, &b, 1, MSG_PEEK | MSG_DONTWAIT);
    if (n > 0) {
        c->hs->aff_watch_off = true;
        return;
    }
    if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
        return;
    affinity_log(c, "client_gone", NULL);
    px_conn_close(c, TERM_CLIENT, SSTP_OK); /* hs_free cancels the look-up */
}

static void affinity_timeout(struct px_conn *c)
{
    lb_aff_cancel(c->hs->aff);
    c->hs->aff = NULL;
    count(c, PXM_AFFINITY, PXA_TIMEOUT);
    affinity_log(c, "timeout", NULL);
    px_conn_set_state(c, PXC_BACKEND_CONNECT);
    pick_and_connect(c, NULL);
}

static bool any_group(const struct lb *lb)
{
    for (size_t i = 0; i < lb->n_be; i++)
        if (lb->be[i]->spec.group[0])
            return true;
    return false;
}

/* The backend group: tenantid > SNI > Host (route.h). */
static void route(struct px_conn *c, const char *tenant)
{
    struct px_hs *hs = c->hs;
    const struct px_config *cfg = c->w->cfg;
    enum px_route_by by;
    const char *group = px_route_group(&cfg->routes, tenant, hs->tls.sni,
                                       hs->http.f.has_host ? hs->http.f.host : NULL, &by);
    if (by == PX_ROUTE_TENANTID)
        /* without any tenant group a tenantid selects nothing: the default
         * pool takes it, unless tenant_strict keeps such requests out (503) */
        hs->req.tenant = cfg->tenant_strict || any_group(c->w->lb) ? group : NULL;
    else
        hs->req.tenant = group; /* a route's group, or NULL: the default group */
    log_debug("route", "sid=%s by=%s group=%s", c->sid, px_route_by_name(by), group ? group : "-");
}

/* The request head is valid: from here the connection needs a backend.
 * The affinity key is computed once (consistent hashing uses it too); with
 * Redis the backend recorded for it is asked first (PXC_AFFINITY). */
static void begin_backend(struct px_conn *c)
{
    struct px_worker *w = c->w;
    struct px_hs *hs = c->hs;
    const struct px_config *cfg = w->cfg;
    px_conn_set_state(c, PXC_BACKEND_CONNECT);
    hs->req.client = (const struct sockaddr *)&hs->client;
    const char *tenant = hs->http.f.has_tenantid ? hs->http.f.tenantid : NULL;
    route(c, tenant);
    if (build_preamble(c) == -1) {
        px_conn_close(c, TERM_INTERNAL, SSTP_E_NOSPACE);
        return;
    }
    if (cfg->aff_mode != LB_AFF_NONE) {
        struct lb_aff_cfg ac = { (enum lb_aff_mode)cfg->aff_mode, (unsigned)cfg->aff_prefix4,
                                 (unsigned)cfg->aff_prefix6, cfg->aff_ttl };
        if (lb_aff_key(hs->aff_key, sizeof hs->aff_key, &ac, (const struct sockaddr *)&hs->client,
                       hs->client_cert ? hs->client_sha256 : NULL, tenant) == 0) {
            hs->req.affinity = hs->aff_key;
        } else {
            hs->aff_key[0] = '\0';
            count(c, PXM_AFFINITY, PXA_NO_KEY);
        }
    }
    if (hs->aff_key[0] && w->fleet) {
        hs->aff = lb_aff_lookup(px_fleet_rds(w->fleet), hs->aff_key, on_affinity, c);
        if (hs->aff) {
            px_conn_set_state(c, PXC_AFFINITY);
            px_conn_arm_timer(c, cfg->aff_lookup_timeout);
            update(c);
            return;
        }
        count(c, PXM_AFFINITY, PXA_UNAVAILABLE); /* Redis down or its queue full: carry on */
        affinity_log(c, "unavailable", NULL);
    }
    pick_and_connect(c, NULL);
}

/* ---- PXC_BACKEND_CONNECT: the pick ---------------------------------------------------- */

/* Picks a backend — `want` (the recorded affinity, a candidate) if given,
 * else the policy's choice — and starts connecting to it. */
static void pick_and_connect(struct px_conn *c, struct lb_backend *want)
{
    struct px_worker *w = c->w;
    struct px_hs *hs = c->hs;
    ev_tstamp now = ev_now(w->loop);
    if ((!want || lb_pick_backend(w->lb, &hs->req, want, now) != LB_PICKED) &&
        lb_pick(w->lb, &hs->req, now) != LB_PICKED) {
        no_backend(c, hs->req.n_tried == 0 ? TERM_DOWN : TERM_SERVER);
        return;
    }
    c->backend = hs->req.picked;
    if (hs->req.panic)
        count(c, PXM_PANIC_PICKS, 0);
    const struct lb_spec *sp = &c->backend->spec;
    int fd = net_connect(&sp->addr);
    if (fd == -1) {
        attempt_errno(c, errno); /* it retries, or answers 503 */
        return;
    }
    c->be.fd = fd;
    c->be.want = 0;
    if (sp->tls && !(c->be.ssl = px_tls_backend_ssl(c->tls, fd, sp))) {
        local_failure(c, PXE_SSL, "tls_setup"); /* SSL_new and friends: our memory */
        return;
    }
    hs->step = PXB_CONNECTING;
    /* proxy_header=none: servers that read no header get the request head
     * first; before (on a tls server) sends it in front of the handshake */
    hs->pre_off = sp->pp == LB_PP_NONE ? hs->pp_len : 0;
    hs->pipe_off = 0;
    hs->late_look = false;
    /* after slow answers, more patience: a surge lengthens every queue,
     * and an attempt given up still costs the backend its work */
    unsigned doublings = hs->n_slow < SLOW_DOUBLINGS_MAX ? hs->n_slow : SLOW_DOUBLINGS_MAX;
    /* from now, not from when this loop pass began: a pass that runs long
     * (a handshake surge) would otherwise start the timer already spent */
    ev_now_update(w->loop);
    px_conn_arm_timer(c, w->cfg->connect_timeout * (double)(1u << doublings));
    log_debug("backend_pick", "sid=%s backend=%s attempt=%u", c->sid, sp->name, hs->req.n_tried);
    if (!c->be.ssl) {
        /* A plain backend gets the request at once: on the same host the
         * connection is up as soon as connect() returns (EINPROGRESS or
         * not), which saves a wake-up for writability and the SO_ERROR
         * query. Still connecting, the send says EAGAIN: the step stays
         * PXB_CONNECTING (a timeout then is the backend's, not slowness)
         * and EV_WRITE brings us back; refused, the send fails with the
         * reason. */
        size_t pre = hs->pre_off, pipe = hs->pipe_off;
        int r = send_preamble(c);
        if (r == -1) {
            send_failed(c);
        } else if (r == 0) {
            hs->step = PXB_SEND;
            do_backend_connect(c); /* the answer, if it is there already */
        } else if (hs->pre_off != pre || hs->pipe_off != pipe) {
            hs->step = PXB_SEND; /* the rest when there is room */
        } else {
            c->be.want = 0; /* not connected yet */
        }
    }
    update(c);
}

/* Kernel TLS of a relayed session in the gauge (sign +1 / -1). */
static void ktls_gauge(struct px_conn *c, int sign)
{
    const struct io *sides[2] = { &c->cli, &c->be };
    for (size_t i = 0; i < 2; i++) {
        bool on[3] = { sides[i]->ktls_tx, sides[i]->ktls_rx, sides[i]->ktls_only };
        for (size_t k = 0; k < 3; k++) {
            if (!on[k])
                continue;
            size_t slot = (i ? PXK_BACKEND_TX : PXK_CLIENT_TX) + k; /* tx, rx, kernel_only */
            if (sign > 0)
                metrics_add(c->w->mv, fam(c, PXM_KTLS_SESSIONS), slot, 1);
            else
                metrics_sub(c->w->mv, fam(c, PXM_KTLS_SESSIONS), slot, 1);
        }
    }
}

/* Entering the relay: with the keys in the kernel both ways, OpenSSL's
 * per-connection state (~14 KiB idle) is freed where nothing is left in it. */
static void ktls_start(struct px_conn *c)
{
    if (!c->tls->ktls)
        return;
    /* still asked for (not a TLS 1.3 client under auto) but not taken:
     * the kernel refused the cipher or OpenSSL held data at the switch */
    if (!c->cli.ktls_tx && c->cli.ssl && (SSL_get_options(c->cli.ssl) & SSL_OP_ENABLE_KTLS))
        count(c, PXM_KTLS_EVENTS, PXKE_FALLBACK);
    io_ktls_release(&c->cli);
    io_ktls_release(&c->be);
    ktls_gauge(c, +1);
    log_debug("ktls", "sid=%s client_tx=%d client_rx=%d client_kernel_only=%d backend_tx=%d "
              "backend_rx=%d backend_kernel_only=%d", c->sid, (int)c->cli.ktls_tx, (int)c->cli.ktls_rx,
              (int)c->cli.ktls_only, (int)c->be.ktls_tx, (int)c->be.ktls_rx, (int)c->be.ktls_only);
}

void px_conn_ktls_refused(struct px_conn *c, const struct io *io, enum sstp_rc *rc)
{
    static const enum px_ktls_event evs[] = { PXKE_COUNT, PXKE_KEY_UPDATE, PXKE_RENEGOTIATION,
                                              PXKE_ALERT, PXKE_RECORD };
    if (io->refused == IO_REF_NONE || io->refused >= sizeof evs / sizeof evs[0])
        return;
    *rc = io_refusal_rc(io->refused);
    count(c, PXM_KTLS_EVENTS, evs[io->refused]);
}

static void established(struct px_conn *c)
{
    struct px_worker *w = c->w;
    struct px_hs *hs = c->hs;
    struct lb_backend *be = c->backend;
    char hex[2 * SSTP_SHA256_LEN + 1], corr[SSTP_CORRELATION_ID_MAX + 1], tenant[SSTP_HTTP_TENANTID_MAX + 1];
    io_ktls_note(&c->cli);
    io_ktls_note(&c->be);
    /* staging would hand OpenSSL's records to a socket whose kernel
     * encrypts: with kernel TLS each write is a record already */
    if (!c->cli.ktls_tx && px_wstage_attach(c->cli.ssl, w->wstage_meth, &c->ws, &w->pool) == -1) {
        px_conn_close(c, TERM_RESOURCE, SSTP_E_NOSPACE);
        return;
    }
    if (lb_report(w->lb, be, LB_EV_CONNECT_OK, ev_now(w->loop)))
        log_info("backend_up", "backend=%s", be->spec.name);
    if (hs->aff_key[0] && w->fleet) /* (re)start the key's TTL on the backend that took it */
        c->aff_hold = px_fleet_aff_hold(w->fleet, hs->aff_key, be->spec.name);
    buf_consume(&c->c2b, hs->pipe_off);
    buf_release(&w->pool, &c->c2b);
    count(c, PXM_SESSIONS, 0);
    metrics_add(w->mv, fam(c, PXM_BACKEND_SESSIONS), px_worker_backend_slot(w, be), 1);
    metrics_add(w->mv, fam(c, PXM_SESSIONS_ACTIVE), 0, 1);
    w->n_sessions++;
    const struct sstp_http_fields *f = &hs->http.f;
    log_info("start", "sid=%s client=%s sni=%s backend=%s tls=%s cipher=%s resumed=%d cert_sha256=%s "
             "client_cert=%d corr=%s tenant=%s",
             c->sid, c->client, c->sni[0] ? c->sni : "-", be->spec.name, SSL_get_version(c->cli.ssl),
             SSL_get_cipher_name(c->cli.ssl), (int)SSL_session_reused(c->cli.ssl),
             tls_hex(hex, hs->presented.sha256, SSTP_SHA256_LEN), (int)hs->client_cert,
             f->has_corr_id ? log_sanitize(corr, sizeof corr, f->corr_id, f->corr_id_len) : "-",
             f->has_tenantid ? log_sanitize(tenant, sizeof tenant, f->tenantid, f->tenantid_len) : "-");
    hs_free(c);
    handshake_done(c);
    ktls_start(c);
    px_conn_set_state(c, PXC_RELAY);
    c->t_last = ev_now(w->loop);
    px_conn_arm_timer(c, w->cfg->idle_timeout);
    /* the answer came in a short read: the backend's socket is empty, so
     * the relay waits for its next event instead of a read that would fail */
    if (c->be.dry)
        c->be_rd_want = IO_WANT_READ;
    px_relay_run(c, 0, 0); /* the backend's first bytes go to the client now */
}

/* The PROXY v2 header, in the clear, before the TLS handshake. 0 sent, 1
 * again later, -1 failed (errno). */
static int send_clear_header(struct px_conn *c)
{
    struct px_hs *hs = c->hs;
    while (hs->pre_off < hs->pp_len) {
        ssize_t n = send(c->be.fd, buf_rptr(&hs->pre) + hs->pre_off, hs->pp_len - hs->pre_off,
                         MSG_NOSIGNAL);
        if (n == -1 && (errno == EAGAIN || errno == EINTR))
            return 1;
        if (n == -1)
            return -1;
        hs->pre_off += (size_t)n;
    }
    return 0;
}

/* Returns 0 when everything is sent, 1 to wait, -1 when the attempt failed. */
static int send_preamble(struct px_conn *c)
{
    struct px_hs *hs = c->hs;
    while (hs->pre_off < buf_len(&hs->pre) || hs->pipe_off < buf_len(&c->c2b)) {
        bool pre = hs->pre_off < buf_len(&hs->pre);
        const uint8_t *p = pre ? buf_rptr(&hs->pre) + hs->pre_off : buf_rptr(&c->c2b) + hs->pipe_off;
        size_t n = pre ? buf_len(&hs->pre) - hs->pre_off : buf_len(&c->c2b) - hs->pipe_off;
        ssize_t r = io_write(&c->be, p, n);
        if (r == IO_AGAIN)
            return 1;
        if (r < 0)
            return -1;
        if (pre)
            hs->pre_off += (size_t)r;
        else
            hs->pipe_off += (size_t)r;
    }
    return 0;
}

/* The backend accepted, then closed before one byte of its own: alive, but
 * full or draining (sstp-backend closes such a connection at accept; with
 * our bytes unread the close is a reset). A dead one refuses the connect or
 * lets it time out instead. */
static bool closed_unanswered(const struct px_conn *c)
{
    if (c->be.ssl && BIO_number_read(SSL_get_rbio(c->be.ssl)) != 0)
        return false;
    return c->be.err == 0 || c->be.err == ECONNRESET || c->be.err == EPIPE;
}

/* A write of the request failed: which attempt outcome that is. */
static void send_failed(struct px_conn *c)
{
    if (closed_unanswered(c))
        attempt_failed(c, PXF_REFUSED, "closed_before_answer");
    else if (c->be.err)
        attempt_errno(c, c->be.err);
    else
        attempt_failed(c, PXF_BACKEND, "write_failed");
}

/* The backend's first bytes are in b2c: judge its status line. 2xx: it
 * took the session. 4xx: it refused this request, which is the client's
 * business, not a fault: the client gets the same status, the backend
 * keeps its state. 503: alive but busy or draining: the next backend is
 * tried, nothing is marked. Anything else (another 5xx, not HTTP) is the
 * backend's own fault. */
static void backend_answered(struct px_conn *c)
{
    int status = 0;
    char why[32];
    enum sstp_rc rc = sstp_http_resp_status(&status, buf_rptr(&c->b2c), buf_len(&c->b2c));
    if (rc == SSTP_AGAIN)
        return; /* the rest of the status line comes with the next read */
    if (rc != SSTP_OK) {
        attempt_failed(c, PXF_BACKEND, "answer:not_http");
        return;
    }
    if (status >= 200 && status < 300) {
        established(c);
        return;
    }
    snprintf(why, sizeof why, "answer:%d", status);
    if (status == 503) {
        attempt_failed(c, PXF_BUSY, why);
        return;
    }
    if (status < 400 || status >= 500) {
        attempt_failed(c, PXF_BACKEND, why);
        return;
    }
    count(c, PXM_ATTEMPTS_FAILED, PXF_REQUEST);
    log_info("backend_refused", "sid=%s client=%s backend=%s status=%d", c->sid, c->client,
             backend_name(c), status);
    drop_attempt(c);
    set_term(c, TERM_SERVER, SSTP_OK);
    answer_and_close(c, sstp_http_reason(status) ? status : 400, false, false);
}

static void do_backend_connect(struct px_conn *c)
{
    struct px_worker *w = c->w;
    struct px_hs *hs = c->hs;
    char why[256];
    switch (hs->step) {
    case PXB_CONNECTING: {
        int err = 0;
        socklen_t len = sizeof err;
        if (getsockopt(c->be.fd, SOL_SOCKET, SO_ERROR, &err, &len) == -1)
            err = errno;
        if (err) {
            attempt_errno(c, err);
            return;
        }
        hs->step = !c->be.ssl                                            ? PXB_SEND
                   : c->backend->spec.pp == LB_PP_BEFORE && hs->pp_len > 0 ? PXB_PP_CLEAR
                                                                       : PXB_TLS;
        c->be.want = 0;
        if (hs->step == PXB_SEND)
            break;
    } /* fall through */
    case PXB_PP_CLEAR:
        if (hs->step == PXB_PP_CLEAR) {
            int r = send_clear_header(c);
            if (r == 1)
                return;
            if (r == -1) {
                attempt_errno(c, errno);
                return;
            }
            hs->step = PXB_TLS;
        } /* fall through */
    case PXB_TLS: {
        int r = io_connect(&c->be);
        if (r == IO_AGAIN)
            return;
        if (r != 1) {
            char ossl[256];
            if (closed_unanswered(c)) {
                ERR_clear_error();
                attempt_failed(c, PXF_REFUSED, "closed_before_answer");
                return;
            }
            long v = SSL_get_verify_result(c->be.ssl);
            const char *err = log_openssl_errors(ossl, sizeof ossl);
            if (strcmp(err, "-") == 0) /* nothing queued: the socket said why, or the peer closed */
                err = c->be.err ? strerror(c->be.err) : "closed_in_handshake";
            snprintf(why, sizeof why, "tls:%s%s%s", err, v != X509_V_OK ? ":" : "",
                     v != X509_V_OK ? X509_verify_cert_error_string(v) : "");
            attempt_failed(c, PXF_BACKEND, why);
            return;
        }
        hs->step = PXB_SEND;
        c->be.want = 0;
        break;
    }
    case PXB_SEND:
    case PXB_WAIT:
        break;
    }
    if (hs->step == PXB_SEND) {
        int r = send_preamble(c);
        if (r == 1)
            return;
        if (r == -1) {
            send_failed(c);
            return;
        }
        hs->step = PXB_WAIT;
        c->be.want = 0;
    }
    /* PXB_WAIT: the backend's status line says whether it took the session */
    if (buf_take(&w->pool, &c->b2c) == -1) {
        local_failure(c, PXE_ENOMEM, "buffer");
        return;
    }
    ssize_t n = io_read(&c->be, buf_wptr(&c->b2c), buf_room(&c->b2c));
    if (n == IO_AGAIN) {
        buf_release(&w->pool, &c->b2c);
        return;
    }
    if (n <= 0) {
        if (n != IO_EOF && c->be.err && local_errno(c->be.err) != PXE_COUNT)
            attempt_errno(c, c->be.err);
        else if (n == IO_EOF || closed_unanswered(c))
            attempt_failed(c, PXF_REFUSED, "closed_before_answer");
        else
            attempt_failed(c, PXF_BACKEND, "read_failed");
        return;
    }
    c->b2c.tail += (size_t)n;
    backend_answered(c);
}

/* ---- callbacks -------------------------------------------------------------------- */

static void client_cb(struct ev_loop *loop, ev_io *w, int revents)
{
    (void)loop;
    struct px_conn *c = w->data;
    switch (c->state) {
    case PXC_PROXY_HDR:
        do_proxy_hdr(c);
        break;
    case PXC_PEEK:
        px_pass_peek(c);
        break;
    case PXC_PASS:
        px_pass_run(c, revents, 0);
        return; /* it sets the watchers */
    case PXC_TLS:
        do_tls(c);
        break;
    case PXC_HTTP_HEAD:
        do_http(c);
        break;
    case PXC_AFFINITY:
        affinity_client(c);
        break;
    case PXC_RELAY:
        px_relay_run(c, revents, 0);
        return; /* it sets the watchers */
    case PXC_CLOSING:
        do_flush(c);
        break;
    case PXC_BACKEND_CONNECT:
    case PXC_CLOSED:
        break;
    }
    update(c);
}

static void backend_cb(struct ev_loop *loop, ev_io *w, int revents)
{
    (void)loop;
    struct px_conn *c = w->data;
    if (c->state == PXC_BACKEND_CONNECT)
        do_backend_connect(c);
    else if (c->state == PXC_PASS) {
        px_pass_run(c, 0, revents);
        return;
    } else if (c->state == PXC_RELAY) {
        px_relay_run(c, 0, revents);
        return;
    }
    update(c);
}

/* Whether a non-blocking connect on fd has completed (writable, no socket
 * error), whether or not the loop has seen it yet. */
static bool connect_completed(int fd)
{
    struct pollfd pf = { .fd = fd, .events = POLLOUT };
    int err = 0;
    socklen_t len = sizeof err;
    if (poll(&pf, 1, 0) != 1 || (pf.revents & (POLLERR | POLLHUP)) || !(pf.revents & POLLOUT))
        return false;
    return getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) == 0 && err == 0;
}

/* Whether the backend has sent bytes this loop has not read yet. */
static bool backend_unread(const struct px_conn *c)
{
    struct pollfd pf = { .fd = c->be.fd, .events = POLLIN };
    return (c->be.ssl && SSL_pending(c->be.ssl) > 0) || (poll(&pf, 1, 0) == 1 && (pf.revents & POLLIN));
}

/* The backend connect timer fired, but the backend did its part in time
 * and this loop was late to notice (a pass that ran long under a handshake
 * surge fires the timer and reports the socket ready together, timer
 * first): the connect completed, or the answer waits unread. Then the
 * attempt goes on under a fresh timer, blaming nobody: after the connect,
 * and once more for bytes from the backend (so one trickling its answer
 * gets no more). Returns whether it did. */
static bool backend_late_look(struct px_conn *c)
{
    struct px_hs *hs = c->hs;
    if (hs->step == PXB_CONNECTING) {
        if (!connect_completed(c->be.fd))
            return false;
    } else if (hs->late_look || !backend_unread(c)) {
        return false;
    } else {
        hs->late_look = true;
    }
    log_debug("backend_late", "sid=%s backend=%s step=%d", c->sid, backend_name(c), (int)hs->step);
    px_conn_arm_timer(c, c->w->cfg->connect_timeout);
    do_backend_connect(c);
    update(c);
    return true;
}

static void timer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)revents;
    struct px_conn *c = w->data;
    struct px_worker *wk = c->w;
    switch (c->state) {
    case PXC_PROXY_HDR:
    case PXC_TLS:
    case PXC_HTTP_HEAD: {
        bool req = c->state == PXC_HTTP_HEAD;
        count(c, PXM_TIMEOUTS, req ? PXT_REQUEST : PXT_HANDSHAKE);
        if (refusal_log_ok(c))
            log_info("timeout", "sid=%s client=%s state=%s", c->sid, c->client,
                     px_conn_state_str(c->state));
        px_conn_close(c, TERM_CLIENT, SSTP_AGAIN);
        return;
    }
    case PXC_AFFINITY:
        affinity_timeout(c);
        update(c);
        return;
    case PXC_BACKEND_CONNECT:
        if (backend_late_look(c))
            return;
        count(c, PXM_TIMEOUTS, PXT_BACKEND);
        /* no TCP connection in time: the backend's fault; accepted but
         * its TLS handshake or answer late: slow, which under a surge (a
         * handshake costs the backend CPU) is not death */
        if (c->hs->step == PXB_CONNECTING)
            attempt_failed(c, PXF_BACKEND, "timeout");
        else {
            c->hs->n_slow++; /* bounded by LB_TRIES_MAX */
            attempt_failed(c, PXF_SLOW, "timeout");
        }
        update(c);
        return;
    case PXC_RELAY: {
        bool half = c->cli_eof || c->be_eof;
        double limit = half ? wk->cfg->fin_timeout : wk->cfg->idle_timeout;
        double idle = ev_now(loop) - c->t_last;
        if (idle < limit) {
            px_conn_arm_timer(c, limit - idle);
            return;
        }
        count(c, PXM_TIMEOUTS, half ? PXT_FIN : PXT_IDLE);
        px_conn_close(c, TERM_PROXY, SSTP_OK);
        return;
    }
    case PXC_CLOSING:
        px_conn_close(c, TERM_CLIENT, SSTP_OK);
        return;
    case PXC_PEEK:
        px_pass_peek_timer(c);
        update(c);
        return;
    case PXC_PASS:
        px_pass_timer(c);
        return;
    case PXC_CLOSED:
        return;
    }
}

/* ---- accept -------------------------------------------------------------------- */

int px_conn_accept(struct px_worker *w, int fd, const struct sockaddr *peer, socklen_t peer_len,
                   const struct net_addr *local, bool proxy_hdr)
{
    struct px_conn *c = calloc(1, sizeof *c);
    struct px_hs *hs = calloc(1, sizeof *hs);
    uint8_t rnd[PX_SID_LEN / 2];
    if (!c || !hs || RAND_bytes(rnd, sizeof rnd) != 1 || peer_len > sizeof hs->client) {
        free(c);
        free(hs);
        close(fd);
        metrics_add(w->mv, &w->m->fam[PXM_REFUSED], PXR_NO_MEMORY, 1);
        return -1;
    }
    c->w = w;
    c->hs = hs;
    c->cli.fd = fd;
    c->be.fd = -1;
    c->proxy_hdr = proxy_hdr;
    memcpy(&hs->client, peer, peer_len);
    socklen_t local_len = sizeof hs->local;
    if (local)
        memcpy(&hs->local, &local->ss, local->len);
    else if (getsockname(fd, (struct sockaddr *)&hs->local, &local_len) == -1)
        hs->local.ss_family = AF_UNSPEC;
    net_addr_str(peer, c->client, sizeof c->client);
    tls_hex(c->sid, rnd, sizeof rnd);
    sstp_http_req_init(&hs->http, (size_t)w->cfg->max_head);
    c->tls = w->tls;
    px_tls_ref(c->tls);
    c->t_start = c->t_last = ev_now(w->loop);
    ev_io_init(&c->cw, client_cb, fd, EV_READ);
    c->cw.data = c;
    ev_io_init(&c->bw, backend_cb, fd, EV_READ); /* fd set when a backend is picked */
    c->bw.data = c;
    ev_timer_init(&c->timer, timer_cb, w->cfg->handshake_timeout, 0);
    c->timer.data = c;

    c->next = w->conns;
    if (w->conns)
        w->conns->prev = c;
    w->conns = c;
    w->n_conns++;
    w->n_handshakes++;
    c->in_handshake = true;
    count(c, PXM_CONNECTIONS, 0);
    metrics_add(w->mv, fam(c, PXM_CONNECTIONS_ACTIVE), 0, 1);
    log_debug("accept", "sid=%s peer=%s proxy_hdr=%d", c->sid, c->client, (int)proxy_hdr);

    c->state = PXC_PROXY_HDR;
    if (!proxy_hdr && (admit(c) == -1 || begin_tls(c) == -1))
        return 0; /* closed and counted */
    ev_timer_start(w->loop, &c->timer);
    update(c);
    return 0;
}
