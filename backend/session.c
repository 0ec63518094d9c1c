/* session.c — the client side of an sstp-backend session: TLS, PROXY
 * header, HTTP head, SSTP packets, and running the state machine's actions.
 *
 * The pppd side (spawn, pty relay, plugin messages, reaping) is in
 * session_ppp.c. Codecs come from sstp/; this file only moves bytes and
 * applies the decisions of sstp_srv_step(). */
#include "backend/session.h"

#include <errno.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "backend/fleet.h"
#include "backend/pppd-plugin/plugin-proto.h"
#include "backend/session_int.h"
#include "core/log.h"
#include "core/tls.h"
#include "sstp/packet.h"
#include "sstp/proxyproto.h"
#include "sstp/record.h"

#define FLUSH_LINGER_S 2.0  /* last ABORT/DISCONNECT/HTTP error gets this long to leave */
/* A refused negotiation's Retry-After: a few seconds is what one
 * negotiation takes, so a slot may be free again by then. */
#define BUSY_RETRY_AFTER_S 5
/* Ids that reach pppd's scripts (ip-up) as SSTP_* variables: a GUID for the
 * client's correlation id (MS-SSTP 2.2.8 / 3.2.4.1), a token for the
 * proxy's session id; nothing a shell could read as syntax. */
#define CORR_ID_ENV_MAX 38  /* "{xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx}" */
#define CORR_ID_CHARS "0123456789abcdefABCDEF{}-"

static const char *const phase_names[BE_PH_COUNT] = {
    [BE_PH_TLS] = "TLS",   [BE_PH_PROXY] = "PROXY", [BE_PH_HTTP] = "HTTP",
    [BE_PH_SSTP] = "SSTP", [BE_PH_FLUSH] = "FLUSH", [BE_PH_CLOSED] = "CLOSED",
    [BE_PH_DEAD] = "DEAD",
};
/* second letter of `term`: the phase a session ended in (an SSTP call that
 * reached Call_Connected is in the data phase, see term_phase_of) */
static const enum term_phase term_phases[BE_PH_COUNT] = {
    [BE_PH_TLS] = TERM_PH_TLS,     [BE_PH_PROXY] = TERM_PH_PROXY_HDR, [BE_PH_HTTP] = TERM_PH_REQUEST,
    [BE_PH_SSTP] = TERM_PH_SETUP,  [BE_PH_FLUSH] = TERM_PH_DATA,      [BE_PH_CLOSED] = TERM_PH_DATA,
    [BE_PH_DEAD] = TERM_PH_DATA,
};

static void client_cb(struct ev_loop *loop, ev_io *w, int revents);
static void deadline_cb(struct ev_loop *loop, ev_timer *w, int revents);
static void fsm_timer_cb(struct ev_loop *loop, ev_timer *w, int revents);

/* ---- lifecycle ---------------------------------------------------------- */

static const char *phase_str(enum be_phase phase)
{
    return (unsigned)phase < BE_PH_COUNT ? phase_names[phase] : "?";
}

/* The one place the phase changes (traced at debug). */
static void set_phase(struct be_session *s, enum be_phase phase)
{
    log_debug("phase", "sid=%s from=%s to=%s", s->sid, phase_str(s->phase), phase_str(phase));
    s->phase = phase;
}

static enum term_phase term_phase_of(const struct be_session *s)
{
    if (s->phase == BE_PH_SSTP && s->call_connected)
        return TERM_PH_DATA;
    return (unsigned)s->phase < BE_PH_COUNT ? term_phases[s->phase] : TERM_PH_DATA;
}

void be_session_set_term(struct be_session *s, char who, enum sstp_rc rc)
{
    if (term_set(s->term, who, term_phase_of(s))) /* the first reason wins */
        s->rc = rc;
}

static void log_close(struct be_session *s)
{
    ev_tstamp dur = ev_now(s->srv->loop) - s->t_start;
    /* health probes come every few hundred ms from each proxy: not news */
    log_at(s->probe ? LOG_DEBUG : LOG_INFO, "close", "sid=%s client=%s user=%s ip=%s state=%s term=%s rc=%s dur_ms=%.0f "
             "bytes_in=%llu bytes_out=%llu",
             s->sid, s->client_str, s->user[0] ? s->user : "-", s->ip_remote[0] ? s->ip_remote : "-",
             sstp_srv_state_str(sstp_srv_state(&s->fsm)), term_str(s->term),
             sstp_rc_name(s->rc), dur * 1000.0, (unsigned long long)s->bytes_in,
             (unsigned long long)s->bytes_out);
}

static void set_negotiating(struct be_session *s, bool on)
{
    if (s->negotiating == on)
        return;
    s->negotiating = on;
    if (on) {
        s->srv->n_negotiating++;
    } else {
        s->srv->n_negotiating--;
        if (s->src_held)
            srclimit_release(&s->srv->negotiating_by_source, &s->src_key);
        s->src_held = false;
    }
}

/* Admission, once the real client address is known (at accept on the
 * direct listener, after the PROXY header behind sstp-proxy): each
 * negotiation will cost a root pppd, so one source (prefix) may hold only
 * max_negotiating_per_source of them and never starve the others. A
 * session not admitted is not counted as negotiating and is answered 503
 * at its request head, before any pppd starts. */
static void admit(struct be_session *s)
{
    struct be_server *srv = s->srv;
    enum srclimit_verdict v = srclimit_acquire(&srv->negotiating_by_source, &s->src_key,
                                               (const struct sockaddr *)&s->client);
    if (v != SRCLIMIT_OK) {
        s->busy = true;
        s->busy_why = BE_REFUSE_PER_SOURCE_NEGOTIATING;
        s->busy_verdict = v;
        return;
    }
    s->src_held = true;
    if (srv->n_negotiating >= (uint64_t)srv->cfg->max_negotiating) {
        srclimit_release(&srv->negotiating_by_source, &s->src_key);
        s->src_held = false;
        s->busy = true;
        s->busy_why = BE_REFUSE_MAX_NEGOTIATING;
        s->busy_verdict = SRCLIMIT_OK;
        return;
    }
    set_negotiating(s, true);
}

static bool id_safe(const char *p, size_t n, size_t max, const char *charset)
{
    if (n == 0 || n > max)
        return false;
    for (size_t i = 0; i < n; i++)
        if (p[i] == '\0' || !strchr(charset, p[i]))
            return false;
    return true;
}

/* An id the client or proxy sent that will not reach pppd's scripts. */
static void unsafe_id(struct be_session *s, const char *what)
{
    uint64_t suppressed;
    s->srv->stats.unsafe_ids++;
    if (be_log_limit_allow(&s->srv->log_unsafe_id, ev_now(s->srv->loop), &suppressed))
        log_info("unsafe_id", "sid=%s client=%s what=%s suppressed=%llu", s->sid, s->client_str,
                 what, (unsigned long long)suppressed);
}

/* The one way out: once both halves are done (transport closed, pppd
 * reaped) the session logs its close line, gives back what it counted
 * (fleet record, negotiation slot, its place among the sessions), and goes
 * on srv->dead. Its memory is freed by the reaper, an ev_check that runs
 * after the callbacks of this loop iteration, so a caller (a libev callback,
 * a list walk) may still read s after this returns. */
void be_session_maybe_free(struct be_session *s)
{
    if (s->phase != BE_PH_CLOSED || s->pid != 0)
        return;
    struct be_server *srv = s->srv;
    char why[48];
    log_close(s);
    snprintf(why, sizeof why, "term=%s rc=%s", term_str(s->term), sstp_rc_name(s->rc));
    be_fleet_ask_cancel(s->admit);
    s->admit = NULL;
    be_fleet_session_end(srv->fleet, &s->fleet, why);
    set_negotiating(s, false);
    if (s->prev)
        s->prev->next = s->next;
    else
        srv->sessions = s->next;
    if (s->next)
        s->next->prev = s->prev;
    srv->n_sessions--;
    if (s->held_refusal)
        srv->n_held_refusals--;
    srv->stats.sessions_ended++;
    set_phase(s, BE_PH_DEAD);
    s->prev = NULL;
    s->next = srv->dead; /* freed after the running callback */
    srv->dead = s;
    ev_check_start(srv->loop, &srv->reaper);
    if (srv->stopping && srv->n_sessions == 0)
        ev_break(srv->loop, EVBREAK_ALL);
}

static void session_free(struct be_session *s)
{
    struct be_server *srv = s->srv;
    sstp_srv_cleanup(&s->fsm);
    buf_drop(&srv->pool, &s->cin);
    buf_drop(&srv->pool, &s->cout);
    buf_drop(&srv->pool, &s->pout);
    free(s->http);
    free(s);
}

void be_session_reap(struct be_server *srv)
{
    while (srv->dead) {
        struct be_session *s = srv->dead;
        srv->dead = s->next;
        session_free(s);
    }
    ev_check_stop(srv->loop, &srv->reaper);
}

static void reaper_cb(struct ev_loop *loop, ev_check *chk, int revents)
{
    (void)loop;
    (void)revents;
    be_session_reap(chk->data);
}

void be_session_reaper_init(struct be_server *srv)
{
    ev_check_init(&srv->reaper, reaper_cb);
    srv->reaper.data = srv;
}

/* Closes the client transport now. pppd, if running, is hung up. */
void be_session_close_transport(struct be_session *s)
{
    if (s->phase >= BE_PH_CLOSED)
        return;
    struct ev_loop *loop = s->srv->loop;
    bool in_call = s->phase == BE_PH_SSTP;
    ev_io_stop(loop, &s->cw);
    ev_timer_stop(loop, &s->deadline);
    for (int t = 0; t < SSTP_SRV_T_COUNT; t++)
        ev_timer_stop(loop, &s->fsm_timer[t]);
    s->srv->stats.bytes_in += s->bytes_in;
    s->srv->stats.bytes_out += s->bytes_out;
    io_close(&s->io);
    set_phase(s, BE_PH_CLOSED);
    set_negotiating(s, false);
    if (sstp_srv_state(&s->fsm) != SSTP_SRV_CLOSED) {
        struct sstp_srv_ev ev = { .type = SSTP_SRV_EV_TRANSPORT_LOST };
        struct sstp_srv_actions act;
        sstp_srv_step(&s->fsm, &ev, &act); /* only hang-up actions remain */
        /* a call lost outside teardown says so in ev=close (the read that
         * saw the EOF or reset recorded SSTP_OK) */
        if (in_call && s->rc == SSTP_OK && act.rc != SSTP_OK)
            s->rc = act.rc;
    }
    be_session_ppp_hangup(s);
}

/* Sends what is queued, then closes (HTTP errors, final ABORT/DISCONNECT). */
static void close_after_flush(struct be_session *s)
{
    if (s->phase >= BE_PH_FLUSH)
        return;
    set_phase(s, BE_PH_FLUSH);
    ev_timer_stop(s->srv->loop, &s->deadline);
    ev_timer_set(&s->deadline, FLUSH_LINGER_S, 0);
    ev_timer_start(s->srv->loop, &s->deadline);
    be_session_update_client(s);
}

/* ---- queueing bytes to the client ---------------------------------------- */

/* Appends bytes to the client output. The callers keep the buffer from
 * overflowing (back-pressure); if it would anyway, the session is closed
 * rather than a control message silently lost. */
int be_session_queue_client(struct be_session *s, const uint8_t *p, size_t n)
{
    if (buf_take(&s->srv->pool, &s->cout) == -1) {
        be_session_set_term(s, TERM_RESOURCE, SSTP_E_NOSPACE);
        be_session_close_transport(s);
        return -1;
    }
    if (buf_room(&s->cout) < n)
        buf_compact(&s->cout);
    if (buf_room(&s->cout) < n) {
        log_error("overflow", "sid=%s what=client_out need=%zu", s->sid, n);
        be_session_set_term(s, TERM_INTERNAL, SSTP_E_NOSPACE);
        be_session_close_transport(s);
        return -1;
    }
    memcpy(buf_wptr(&s->cout), p, n);
    s->cout.tail += n;
    return 0;
}

/* ---- the state machine's actions ----------------------------------------- */

static void timer_set(struct be_session *s, enum sstp_srv_timer t, uint32_t ms)
{
    ev_timer *w = &s->fsm_timer[t];
    ev_timer_stop(s->srv->loop, w);
    ev_timer_set(w, ms / 1000.0, 0);
    ev_timer_start(s->srv->loop, w);
}

static void log_binding(struct be_session *s, const struct sstp_srv_actions *act)
{
    struct be_stats *st = &s->srv->stats;
    if (act->bind == SSTP_SRV_BIND_OK) {
        /* the certificate hash the client saw and we matched: an operator
         * compares it with the certificate the TLS side presents */
        size_t hash_len = sstp_bind_hash_len((enum sstp_bind_hash)act->bind_hash);
        char cert_hex[2 * SSTP_BIND_FIELD_LEN + 1];
        tls_hex(cert_hex, act->bind_cert_hash, hash_len);
        st->binding_ok++;
        st->sessions_connected++;
        set_negotiating(s, false);
        log_info("binding_ok", "sid=%s client=%s user=%s cert_%s=%s", s->sid, s->client_str,
                 s->user[0] ? s->user : "-", hash_len == 20 ? "sha1" : "sha256", cert_hex);
        be_fleet_session_state(s->srv->fleet, &s->fleet, BE_FS_CONNECTED);
    } else if (act->bind == SSTP_SRV_BIND_FAILED) {
        st->binding_fail++;
        if (act->bind_rc != act->rc) /* else counted once with the step's rc */
            st->proto_err[act->bind_rc]++;
        /* security event: the client's MAC or certificate view does not match */
        log_warn("binding_fail", "sid=%s client=%s user=%s rc=%s reason=\"%s\"", s->sid,
                 s->client_str, s->user[0] ? s->user : "-", sstp_rc_name(act->bind_rc),
                 sstp_rc_str(act->bind_rc));
        be_fleet_session_event(s->srv->fleet, &s->fleet, "binding_fail", sstp_rc_name(act->bind_rc));
    }
}

/* Runs the actions of one step in the documented order. Returns -1 if the
 * transport was closed by them (the caller stops touching the client side). */
int be_session_run_actions(struct be_session *s, const struct sstp_srv_actions *act)
{
    if (sstp_srv_state(&s->fsm) == SSTP_SRV_CALL_CONNECTED)
        s->call_connected = true; /* from now on an end is in the data phase */
    for (int t = 0; t < SSTP_SRV_T_COUNT; t++)
        if (act->timers_stop & SSTP_SRV_TIMER_BIT(t))
            ev_timer_stop(s->srv->loop, &s->fsm_timer[t]);
    if (act->send_len && s->phase < BE_PH_CLOSED && be_session_queue_client(s, act->send, act->send_len) == -1)
        return -1;
    for (int t = 0; t < SSTP_SRV_T_COUNT; t++)
        if (act->timers_start & SSTP_SRV_TIMER_BIT(t))
            timer_set(s, (enum sstp_srv_timer)t, act->timer_ms[t]);
    log_binding(s, act);
    if (act->rc != SSTP_OK && act->rc != SSTP_AGAIN) {
        /* once per call: the clean-up after an abort repeats its reason */
        if (s->term[0] == '\0')
            s->srv->stats.proto_err[act->rc]++;
        be_session_set_term(s, act->rc == SSTP_E_FSM_TIMEOUT ? TERM_CLIENT : TERM_PROXY, act->rc);
    }
    if (act->peer_status_valid)
        log_info("peer_status", "sid=%s attrib=%u status=%u", s->sid, act->peer_attrib_id,
                 (unsigned)act->peer_status);
    if (act->ppp_start && be_session_ppp_start(s) == -1) {
        /* cannot host PPP: tell the client the call is over */
        struct sstp_srv_ev ev = { .type = SSTP_SRV_EV_PPPD_EXITED };
        struct sstp_srv_actions next;
        sstp_srv_step(&s->fsm, &ev, &next);
        if (be_session_run_actions(s, &next) == -1)
            return -1;
    }
    if (act->ppp_stop)
        be_session_ppp_hangup(s);
    if (act->close) {
        if (s->term[0] == '\0')
            be_session_set_term(s, TERM_NORMAL, SSTP_OK);
        close_after_flush(s);
        return -1;
    }
    if (act->bind == SSTP_SRV_BIND_OK)
        be_session_bound(s);
    if (s->phase == BE_PH_SSTP && sstp_srv_state(&s->fsm) != SSTP_SRV_CONNECT_REQUEST_PENDING)
        ev_timer_stop(s->srv->loop, &s->deadline); /* the request came (or the call ended) */
    be_session_update_client(s);
    return 0;
}

int be_session_step(struct be_session *s, const struct sstp_srv_ev *ev, struct sstp_srv_actions *act)
{
    sstp_srv_step(&s->fsm, ev, act);
    return be_session_run_actions(s, act);
}

static void fsm_timer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop;
    (void)revents;
    struct be_session *s = w->data;
    struct sstp_srv_ev ev = { .type = SSTP_SRV_EV_TIMER,
                              .timer = (enum sstp_srv_timer)(w - s->fsm_timer) };
    struct sstp_srv_actions act;
    be_session_step(s, &ev, &act);
    be_session_maybe_free(s);
}

/* ---- parsing client input, by phase ------------------------------------- */

static void http_reject(struct be_session *s, enum sstp_rc rc)
{
    uint8_t out[512];
    struct sstp_wbuf w;
    s->srv->stats.proto_err[rc]++;
    be_session_set_term(s, TERM_CLIENT, rc);
    log_info("http_reject", "sid=%s client=%s rc=%s status=%d", s->sid, s->client_str,
             sstp_rc_name(rc), sstp_http_status_for(rc));
    sstp_wbuf_init(&w, out, sizeof out);
    if (sstp_http_resp_error_build(&w, sstp_http_status_for(rc), time(NULL)) == SSTP_OK)
        be_session_queue_client(s, out, w.len);
    close_after_flush(s);
}

/* Not admitted (admit()): answered before any pppd starts, and counted. */
static void busy_reject(struct be_session *s)
{
    struct be_server *srv = s->srv;
    uint8_t out[256];
    struct sstp_wbuf w;
    uint64_t suppressed;
    if (s->busy_why != BE_REFUSE_RATE) /* that one is counted at accept, answered or not */
        srv->stats.refused[s->busy_why]++;
    /* a client can repeat this at will: one line per interval */
    if (be_log_limit_allow(&srv->log_refuse_source, ev_now(srv->loop), &suppressed))
        log_info("refuse", "sid=%s client=%s reason=%s table=%s status=503 suppressed=%llu", s->sid,
                 s->client_str, be_refuse_name(s->busy_why), srclimit_verdict_name(s->busy_verdict),
                 (unsigned long long)suppressed);
    be_session_set_term(s, TERM_RESOURCE, SSTP_OK);
    sstp_wbuf_init(&w, out, sizeof out);
    if (sstp_http_resp_busy_build(&w, BUSY_RETRY_AFTER_S, time(NULL)) == SSTP_OK)
        be_session_queue_client(s, out, w.len);
    close_after_flush(s);
}

static bool looks_like_proxy_header(const uint8_t *p, size_t n)
{
    static const uint8_t v2[] = { 0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D };
    return (n >= 6 && memcmp(p, "PROXY ", 6) == 0) || (n >= 6 && memcmp(p, v2, 6) == 0);
}

static void trust_list(struct be_session *s, const struct be_hash_list *l)
{
    s->trust.sha256 = (const uint8_t(*)[32])l->sha256;
    s->trust.n_sha256 = l->n_sha256;
    s->trust.sha1 = (const uint8_t(*)[20])l->sha1;
    s->trust.n_sha1 = l->n_sha1;
    sstp_srv_set_trust(&s->fsm, &s->trust);
}

/* The mtls listener's PROXY header placement (listen.mtls_proxy_header). */
static bool pp_before_tls(const struct be_session *s)
{
    return s->kind == BE_LISTEN_MTLS && s->srv->cfg->mtls_proxy_header == BE_PP_BEFORE;
}

static bool pp_none(const struct be_session *s)
{
    return s->kind == BE_LISTEN_MTLS && s->srv->cfg->mtls_proxy_header == BE_PP_NONE;
}

/* The TLVs of an authenticated sstp-proxy say which certificate the client
 * saw; without them the operator's configured hashes apply. */
static void trust_from_proxy(struct be_session *s, const struct sstp_pp_hdr *h)
{
    const struct be_hash_list *cfg = &s->srv->cfg->trusted;
    if (h->present & (SSTP_PP_HAS_CERT_SHA256 | SSTP_PP_HAS_CERT_SHA1)) {
        memset(&s->trust, 0, sizeof s->trust);
        if (h->present & SSTP_PP_HAS_CERT_SHA256) {
            memcpy(s->tlv_sha256, h->cert_sha256, SSTP_SHA256_LEN);
            s->trust.sha256 = (const uint8_t(*)[32])s->tlv_sha256;
            s->trust.n_sha256 = 1;
        }
        if (h->present & SSTP_PP_HAS_CERT_SHA1) {
            memcpy(s->tlv_sha1, h->cert_sha1, SSTP_SHA1_LEN);
            s->trust.sha1 = (const uint8_t(*)[20])s->tlv_sha1;
            s->trust.n_sha1 = 1;
        }
        sstp_srv_set_trust(&s->fsm, &s->trust);
    } else {
        trust_list(s, cfg);
    }
}

static int parse_proxy(struct be_session *s)
{
    struct sstp_pp_hdr h;
    size_t used = 0;
    enum sstp_rc rc = sstp_pp_parse(&h, &used, buf_rptr(&s->cin), buf_len(&s->cin));
    if (rc == SSTP_AGAIN)
        return 0;
    if (rc != SSTP_OK) {
        s->srv->stats.proto_err[rc]++;
        be_session_set_term(s, TERM_CLIENT, rc);
        log_info("proxy_reject", "sid=%s peer=%s rc=%s", s->sid, s->client_str, sstp_rc_name(rc));
        be_session_close_transport(s);
        return -1;
    }
    if (h.command == SSTP_PP_CMD_PROXY && h.src.ss_family != AF_UNSPEC &&
        h.src.ss_family != AF_UNIX) {
        s->client = h.src;
        net_addr_str((struct sockaddr *)&s->client, s->client_str, sizeof s->client_str);
    }
    if (h.present & SSTP_PP_HAS_UNIQUE_ID) { /* the proxy's session id: one id in both logs */
        /* it also reaches pppd (ipparam, SSTP_SESSION_ID): a token or ours */
        if (id_safe((const char *)h.unique_id.p, h.unique_id.len, sizeof s->sid - 1, SSTP_PLUGIN_SID_CHARS))
            log_sanitize(s->sid, sizeof s->sid, (const char *)h.unique_id.p, h.unique_id.len);
        else
            unsafe_id(s, "proxy_session_id");
    }
    if (h.present & SSTP_PP_HAS_META)
        log_sanitize(s->proxy_id, sizeof s->proxy_id, (const char *)h.meta.proxy_id.p,
                     h.meta.proxy_id.len);
    s->sni[0] = '\0'; /* the client's SNI, or none: never a hop's */
    if (h.present & SSTP_PP_HAS_AUTHORITY)
        log_sanitize(s->sni, sizeof s->sni, (const char *)h.authority.p, h.authority.len);
    if (h.n_foreign)
        log_info("proxy_foreign_tlv", "sid=%s count=%u", s->sid, h.n_foreign);
    trust_from_proxy(s, &h);
    buf_consume(&s->cin, used);
    set_phase(s, BE_PH_HTTP); /* admitted at the request head: a probe holds no slot */
    return 0;
}

static int parse_http(struct be_session *s)
{
    size_t used = 0;
    if (s->kind == BE_LISTEN_TLS && s->http->head_len == 0 &&
        looks_like_proxy_header(buf_rptr(&s->cin), buf_len(&s->cin))) {
        /* a PROXY header is only honoured on the proxy listeners */
        s->srv->stats.refused[BE_REFUSE_UNEXPECTED_PROXY_HEADER]++;
        log_warn("refuse", "sid=%s client=%s reason=%s", s->sid, s->client_str,
                 "proxy_header_on_direct_listener");
        be_session_set_term(s, TERM_CLIENT, SSTP_E_HTTP_MALFORMED);
        be_session_close_transport(s);
        return -1;
    }
    enum sstp_rc rc = sstp_http_req_feed(s->http, buf_rptr(&s->cin), buf_len(&s->cin), &used);
    buf_consume(&s->cin, used);
    if (rc == SSTP_AGAIN)
        return 0;
    if (rc != SSTP_OK) {
        http_reject(s, rc);
        return -1;
    }
    const struct sstp_http_fields *f = &s->http->f;
    if (f->has_corr_id) {
        /* it reaches pppd's scripts (SSTP_CORRELATION_ID): a GUID or nothing */
        if (id_safe(f->corr_id, f->corr_id_len, CORR_ID_ENV_MAX, CORR_ID_CHARS))
            log_sanitize(s->corr_id, sizeof s->corr_id, f->corr_id, f->corr_id_len);
        else
            unsafe_id(s, "correlation_id");
    }
    if (f->method == SSTP_HTTP_M_HEAD) {
        uint8_t out[256];
        struct sstp_wbuf w;
        struct be_server *srv = s->srv;
        bool accepting = !srv->stopping && be_fleet_accepting(srv->fleet) &&
                         srv->n_sessions <= (uint64_t)srv->cfg->max_sessions;
        srv->stats.probes++;
        s->probe = true;
        sstp_wbuf_init(&w, out, sizeof out);
        if (sstp_http_resp_probe_build(&w, accepting, time(NULL)) == SSTP_OK)
            be_session_queue_client(s, out, w.len);
        be_session_set_term(s, TERM_NORMAL, SSTP_OK);
        close_after_flush(s);
        return -1;
    }
    if (!be_fleet_accepting(s->srv->fleet)) {
        /* drained: probes still get their answer (503); a new call is closed
         * before any byte, which a proxy that has not yet seen the drain in
         * the registry takes as "try another backend" */
        s->srv->stats.refused[BE_REFUSE_DRAINING]++;
        log_info("refuse", "sid=%s client=%s reason=draining", s->sid, s->client_str);
        be_session_set_term(s, TERM_KILLED, SSTP_OK);
        be_session_close_transport(s);
        return -1;
    }
    if (!s->busy && !s->negotiating)
        admit(s);
    if (s->busy) {
        busy_reject(s);
        return -1;
    }
    free(s->http);
    s->http = NULL;
    /* a request head alone holds a negotiation slot: CALL_CONNECT_REQUEST
     * must follow soon (the FSM's negotiation timer is for pppd's work) */
    ev_timer_stop(s->srv->loop, &s->deadline);
    ev_timer_set(&s->deadline, s->srv->cfg->connect_request_timeout, 0);
    ev_timer_start(s->srv->loop, &s->deadline);

    uint8_t out[256];
    struct sstp_wbuf w;
    sstp_wbuf_init(&w, out, sizeof out);
    if (sstp_http_resp_ok_build(&w, time(NULL)) != SSTP_OK || be_session_queue_client(s, out, w.len) == -1)
        return -1;
    s->srv->stats.sessions_started++;
    log_info("start", "sid=%s client=%s listener=%d sni=%s corr=%s", s->sid, s->client_str,
             (int)s->kind, s->sni[0] ? s->sni : "-", s->corr_id[0] ? s->corr_id : "-");
    set_phase(s, BE_PH_SSTP);
    be_fleet_session_start(s->srv->fleet, &s->fleet, s->sid, s->t_start);
    struct sstp_srv_ev ev = { .type = SSTP_SRV_EV_HTTP_DONE };
    struct sstp_srv_actions act;
    return be_session_step(s, &ev, &act);
}

/* Room the SSTP phase needs before it takes another client packet: a whole
 * HDLC-encoded frame for pppd and a worst-case control reply. */
static bool sstp_input_blocked(const struct be_session *s)
{
    size_t pty_room = s->pout.data ? BUF_SIZE - buf_len(&s->pout) : BUF_SIZE;
    size_t cli_room = s->cout.data ? BUF_SIZE - buf_len(&s->cout) : BUF_SIZE;
    return pty_room < HDLC_ENCODED_MAX(SSTP_PPP_MAX_FRAME) || cli_room < SSTP_SRV_SEND_MAX;
}

/* True (read_blocked set) when client input must wait even after the pty
 * batch went: flushing first lets a full batch leave in one write instead
 * of stalling the reader. Not blocked: false after a single test. */
static bool sstp_input_wait(struct be_session *s)
{
    if (!sstp_input_blocked(s))
        return false;
    be_session_ppp_flush(s);
    if (!sstp_input_blocked(s))
        return false;
    s->read_blocked = true;
    return true;
}

static int parse_sstp(struct be_session *s)
{
    while (buf_len(&s->cin) > 0 && s->phase == BE_PH_SSTP) {
        if (sstp_input_wait(s))
            return 0;
        struct sstp_pkt pkt;
        size_t used;
        enum sstp_rc rc = sstp_pkt_decode(&pkt, &used, buf_rptr(&s->cin), buf_len(&s->cin));
        if (rc == SSTP_AGAIN)
            return 0;
        if (rc != SSTP_OK) {
            /* the stream cannot be delineated: close without a message (MS-SSTP 3.1.5.1) */
            s->srv->stats.proto_err[rc]++;
            be_session_set_term(s, TERM_CLIENT, rc);
            log_info("sstp_reject", "sid=%s client=%s rc=%s", s->sid, s->client_str, sstp_rc_name(rc));
            be_session_close_transport(s);
            return -1;
        }
        struct sstp_srv_ev ev = {
            .type = pkt.is_ctrl ? SSTP_SRV_EV_CTRL : SSTP_SRV_EV_PPP_FROM_CLIENT,
            .data = pkt.is_ctrl ? pkt.raw : pkt.payload.p,
            .len = pkt.is_ctrl ? pkt.len : pkt.payload.len,
        };
        struct sstp_srv_actions act;
        uint16_t ctype = 0;
        if (pkt.is_ctrl && pkt.payload.len >= 2) {
            ctype = sstp_pkt_ctrl_type(&pkt);
            log_debug("ctrl_in", "sid=%s type=%s state=%s", s->sid, sstp_ctrl_type_name(ctype),
                      sstp_srv_state_str(sstp_srv_state(&s->fsm)));
        }
        sstp_srv_step(&s->fsm, &ev, &act);
        /* neither verified nor failed: kept until pppd's plugin reports the keys */
        if (ctype == SSTP_MSG_CALL_CONNECTED && act.bind == SSTP_SRV_BIND_NONE &&
            sstp_srv_state(&s->fsm) == SSTP_SRV_CALL_CONNECTED_PENDING)
            log_debug("binding_deferred", "sid=%s client=%s reason=no_keys_yet", s->sid, s->client_str);
        if (act.frame == SSTP_SRV_FRAME_FORWARD)
            be_session_send_frame_to_pppd(s, pkt.payload.p, pkt.payload.len);
        buf_consume(&s->cin, used);
        if (be_session_run_actions(s, &act) == -1)
            return -1;
    }
    return 0;
}

static int process_input(struct be_session *s)
{
    if (s->phase == BE_PH_PROXY && parse_proxy(s) == -1)
        return -1;
    if (s->phase == BE_PH_HTTP && buf_len(&s->cin) > 0 && parse_http(s) == -1)
        return -1;
    if (s->phase == BE_PH_SSTP && parse_sstp(s) == -1)
        return -1;
    return 0;
}

/* ---- client I/O ---------------------------------------------------------- */

static void io_failed(struct be_session *s, ssize_t r)
{
    if (r == IO_EOF) {
        be_session_set_term(s, TERM_CLIENT, SSTP_OK);
    } else {
        char ossl[256];
        if (s->io.ssl && s->io.err == 0)
            log_info("tls_error", "sid=%s client=%s err=%s", s->sid, s->client_str,
                     log_openssl_errors(ossl, sizeof ossl));
        be_session_set_term(s, TERM_CLIENT, SSTP_OK);
    }
    be_session_close_transport(s);
}

/* Bytes of cout for the next write: over TLS, one record as
 * sstp_record_len cuts them (sstpc reads one SSTP packet per socket
 * wake-up, so a packet must never end the last record sent while sharing
 * it: a lost CHAP Challenge costs a 3 s retransmit; data packets with more
 * behind them may share, which saves a write and a record per packet
 * under load). Once a record is started its length is kept until it is
 * written, as a retried SSL_write needs. Bytes that are not an SSTP header
 * (the HTTP response) go as they are. */
static size_t client_write_len(struct be_session *s)
{
    size_t n = buf_len(&s->cout);
    const uint8_t *p = buf_rptr(&s->cout);
    if (!s->io.ssl)
        return n;
    if (s->cout_pkt_left == 0 && n >= SSTP_HDR_LEN && p[0] == SSTP_VERSION)
        s->cout_pkt_left = sstp_record_len(p, n, SSTP_TLS_RECORD_MAX);
    return s->cout_pkt_left && s->cout_pkt_left < n ? s->cout_pkt_left : n;
}

static int flush_client(struct be_session *s)
{
    while (buf_len(&s->cout) > 0) {
        ssize_t n = io_write(&s->io, buf_rptr(&s->cout), client_write_len(s));
        if (n == IO_AGAIN)
            return 0;
        if (n < 0) {
            io_failed(s, n);
            return -1;
        }
        s->bytes_out += (uint64_t)n;
        buf_consume(&s->cout, (size_t)n);
        s->cout_pkt_left -= s->cout_pkt_left < (size_t)n ? s->cout_pkt_left : (size_t)n;
    }
    buf_release(&s->srv->pool, &s->cout);
    return 0;
}

static int read_client(struct be_session *s)
{
    /* Read until the socket (and OpenSSL's buffer) is dry or the far side is
     * full: a budget per event would strand bytes OpenSSL already decrypted,
     * which no socket event announces. Back-pressure bounds the loop. */
    while (s->phase < BE_PH_FLUSH) {
        if (s->phase == BE_PH_SSTP && sstp_input_wait(s))
            return 0;
        if (buf_take(&s->srv->pool, &s->cin) == -1) {
            be_session_set_term(s, TERM_RESOURCE, SSTP_E_NOSPACE);
            be_session_close_transport(s);
            return -1;
        }
        buf_compact(&s->cin);
        if (buf_room(&s->cin) == 0) {
            /* a full buffer the parsers cannot use: a peer pushing garbage */
            be_session_set_term(s, TERM_CLIENT, SSTP_E_NOSPACE);
            be_session_close_transport(s);
            return -1;
        }
        ssize_t n = io_read(&s->io, buf_wptr(&s->cin), buf_room(&s->cin));
        if (n == IO_AGAIN)
            break;
        if (n <= 0) {
            io_failed(s, n);
            return -1;
        }
        s->bytes_in += (uint64_t)n;
        s->cin.tail += (size_t)n;
        if (process_input(s) == -1)
            return -1;
        /* the socket gave less than asked and OpenSSL holds nothing: a
         * read now would say EAGAIN; epoll reports what comes later */
        if (s->io.dry)
            break;
    }
    buf_release(&s->srv->pool, &s->cin);
    return 0;
}

/* Re-arms the client watcher from the session's state: write when output
 * is queued, read unless back-pressured or closing. Bytes OpenSSL already
 * decrypted never wake the socket, so they are fed as an event.
 *
 * SSTP output queued while the last write did not block (frames from the
 * pty) is written without arming EV_WRITE: an event fed to the watcher
 * runs client_cb in this same loop pass, after the caller has queued all
 * its frames (so they still share records), instead of an epoll_ctl to add
 * EPOLLOUT, a wake-up, and another epoll_ctl to take it away. After a
 * write that blocked, EV_WRITE is armed as before (no spin). */
void be_session_update_client(struct be_session *s)
{
    if (s->phase >= BE_PH_CLOSED)
        return;
    int events = 0;
    bool feed = false;
    if (s->phase == BE_PH_TLS) {
        events = s->io.want ? s->io.want : IO_WANT_READ;
    } else {
        if (s->read_blocked && !(s->phase == BE_PH_SSTP && sstp_input_blocked(s))) {
            s->read_blocked = false;
            s->feed_read = true;
            feed = true; /* resume parsing queued input, and reading */
        }
        if (s->phase < BE_PH_FLUSH && !s->read_blocked)
            events |= EV_READ;
        if (buf_len(&s->cout) > 0) {
            /* the last write blocked: plain TCP's last EAGAIN was a
             * write's; over TLS a record was started and not written (its
             * length is kept, see client_write_len), or the bytes are not
             * records (an HTTP response) */
            bool write_blocked = s->io.want == IO_WANT_WRITE ||
                                 (s->io.ssl && (s->cout_pkt_left != 0 || buf_rptr(&s->cout)[0] != SSTP_VERSION));
            if (s->phase == BE_PH_SSTP && !write_blocked && !(s->cw.events & EV_WRITE))
                feed = true;
            else
                events |= EV_WRITE;
        }
        /* TLS may need the opposite readiness to make progress */
        if (s->io.ssl && s->io.want && events)
            events |= s->io.want;
    }
    if (s->phase == BE_PH_FLUSH && buf_len(&s->cout) == 0) {
        be_session_close_transport(s);
        return;
    }
    if (events != (s->cw.events & (EV_READ | EV_WRITE))) {
        /* same fd: ev_io_modify, so libev asks the kernel only if the
         * fd's mask differs when the loop comes round */
        ev_io_stop(s->srv->loop, &s->cw);
        ev_io_modify(&s->cw, events);
        if (events)
            ev_io_start(s->srv->loop, &s->cw);
    }
    /* after the restart above: ev_io_stop() discards a pending fed event */
    if (feed)
        ev_feed_event(s->srv->loop, &s->cw, EV_CUSTOM);
}

/* The TLS server side of a tls or mtls connection. 0, or -1 (no SSL). */
static int tls_start(struct be_session *s)
{
    s->io.ssl = SSL_new(s->kind == BE_LISTEN_TLS ? s->srv->tls_ctx : s->srv->mtls_ctx);
    if (!s->io.ssl || SSL_set_fd(s->io.ssl, s->io.fd) != 1) {
        SSL_free(s->io.ssl);
        s->io.ssl = NULL;
        return -1;
    }
    /* one socket read takes what has arrived, not 5 header bytes and then
     * the rest of each record; the bytes it takes early stay inside
     * OpenSSL, and read_client reads on until the socket is dry
     * (a resumed reader is fed an event, see be_session_update_client) */
    SSL_set_read_ahead(s->io.ssl, 1);
    s->phase = BE_PH_TLS;
    return 0;
}

/* PROXY v2 in front of the TLS handshake (HAProxy's send-proxy-v2 with
 * ssl): read exactly its signature, its fixed part, then the length it
 * announces, so no byte of the ClientHello is taken from the socket. v1
 * (a line of unknown length) is refused here. */
static void read_proxy_before_tls(struct be_session *s)
{
    static const uint8_t sig[] = SSTP_PP2_SIG;
    enum { SIG_LEN = sizeof sig - 1, FIXED_LEN = 16 }; /* PROXY v2 §2.2 */
    if (buf_take(&s->srv->pool, &s->cin) == -1) {
        be_session_set_term(s, TERM_RESOURCE, SSTP_E_NOSPACE);
        be_session_close_transport(s);
        return;
    }
    while (s->phase == BE_PH_PROXY) {
        size_t have = buf_len(&s->cin);
        const uint8_t *p = buf_rptr(&s->cin);
        size_t want = sstp_pp2_want(p, have);
        if (have >= SIG_LEN && memcmp(p, sig, SIG_LEN) != 0) {
            s->srv->stats.proto_err[SSTP_E_PP_SIGNATURE]++;
            be_session_set_term(s, TERM_CLIENT, SSTP_E_PP_SIGNATURE);
            log_info("proxy_reject", "sid=%s peer=%s rc=%s placement=before", s->sid, s->client_str,
                     sstp_rc_name(SSTP_E_PP_SIGNATURE));
            be_session_close_transport(s);
            return;
        }
        /* the parser judges the fixed part (an over-long header is an error
         * before its body is read), and takes the header once whole */
        if (have >= FIXED_LEN && parse_proxy(s) == -1)
            return;
        if (s->phase != BE_PH_PROXY)
            break;
        if (want > have + buf_room(&s->cin)) {
            be_session_set_term(s, TERM_CLIENT, SSTP_E_NOSPACE);
            be_session_close_transport(s);
            return;
        }
        ssize_t n = recv(s->io.fd, buf_wptr(&s->cin), want - have, 0);
        if (n == -1 && (errno == EAGAIN || errno == EINTR))
            return;
        if (n <= 0) {
            be_session_set_term(s, TERM_CLIENT, SSTP_OK);
            be_session_close_transport(s);
            return;
        }
        s->bytes_in += (uint64_t)n;
        s->cin.tail += (size_t)n;
    }
    buf_release(&s->srv->pool, &s->cin);
    if (tls_start(s) == -1) {
        be_session_set_term(s, TERM_RESOURCE, SSTP_E_NOSPACE);
        be_session_close_transport(s);
    }
}

static void tls_handshake(struct be_session *s)
{
    int r = io_accept(&s->io);
    if (r == IO_AGAIN)
        return;
    if (r != 1) {
        char ossl[512];
        s->srv->stats.tls_fail++;
        log_info("tls_fail", "sid=%s peer=%s err=%s", s->sid, s->client_str,
                 log_openssl_errors(ossl, sizeof ossl));
        be_session_set_term(s, TERM_CLIENT, SSTP_OK);
        be_session_close_transport(s);
        return;
    }
    s->io.want = 0;
    /* behind a PROXY header the client's SNI is its AUTHORITY TLV: the
     * hop's SNI names the backend, not what the client asked for */
    const char *sni = SSL_get_servername(s->io.ssl, TLSEXT_NAMETYPE_host_name);
    if (sni && (s->kind == BE_LISTEN_TLS || pp_none(s)))
        log_sanitize(s->sni, sizeof s->sni, sni, strlen(sni));
    set_phase(s, s->kind == BE_LISTEN_MTLS && !pp_none(s) && !pp_before_tls(s) ? BE_PH_PROXY : BE_PH_HTTP);
}

static void client_cb(struct ev_loop *loop, ev_io *w, int revents)
{
    (void)loop;
    struct be_session *s = w->data;
    bool clear_header = s->phase == BE_PH_PROXY && pp_before_tls(s) && !s->io.ssl;
    if (clear_header)
        read_proxy_before_tls(s);
    if (s->phase == BE_PH_TLS)
        tls_handshake(s);
    /* a header before TLS still incomplete: nothing else may read the socket */
    if (s->phase > BE_PH_TLS && s->phase < BE_PH_CLOSED && !(clear_header && s->phase == BE_PH_PROXY)) {
        /* an event fed only to write what the pty gave: the socket said
         * nothing and OpenSSL holds nothing (the last read was dry), so a
         * read would only say EAGAIN */
        bool write_only = revents == EV_CUSTOM && !s->feed_read && s->phase == BE_PH_SSTP;
        if (revents & EV_CUSTOM)
            process_input(s);
        s->feed_read = false;
        if (s->phase < BE_PH_CLOSED && flush_client(s) == 0 && s->phase < BE_PH_FLUSH && !write_only)
            if (read_client(s) == 0 && s->phase < BE_PH_CLOSED)
                flush_client(s);
        if (s->phase < BE_PH_CLOSED)
            be_session_ppp_flush(s); /* what this pass decoded, in one write */
    }
    be_session_update_client(s);
    be_session_ppp_update(s);
    be_session_maybe_free(s);
}

static void deadline_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop;
    (void)revents;
    struct be_session *s = w->data;
    if (s->phase < BE_PH_SSTP) {
        s->srv->stats.handshake_timeout++;
        log_info("handshake_timeout", "sid=%s client=%s phase=%s", s->sid, s->client_str,
                 phase_str(s->phase));
        be_session_set_term(s, TERM_CLIENT, SSTP_AGAIN);
    } else if (s->phase == BE_PH_SSTP) {
        uint64_t suppressed;
        s->srv->stats.connect_request_timeout++;
        if (be_log_limit_allow(&s->srv->log_connect_request, ev_now(loop), &suppressed))
            log_info("connect_request_timeout", "sid=%s client=%s suppressed=%llu", s->sid,
                     s->client_str, (unsigned long long)suppressed);
        be_session_set_term(s, TERM_CLIENT, SSTP_E_FSM_TIMEOUT);
    }
    be_session_close_transport(s);
    be_session_maybe_free(s);
}

/* ---- entry points -------------------------------------------------------- */

static void hash_bitmask(const struct be_config *cfg, struct sstp_srv_cfg *fc)
{
    fc->hash_bitmask = cfg->hash == BE_HASH_SHA1 ? SSTP_HASH_BIT_SHA1
                       : cfg->hash == BE_HASH_BOTH ? (SSTP_HASH_BIT_SHA1 | SSTP_HASH_BIT_SHA256)
                                                   : SSTP_HASH_BIT_SHA256;
}

int be_session_accept(struct be_server *srv, enum be_listener_kind kind, int fd,
                      const struct sockaddr *peer, socklen_t peer_len, enum be_refuse refuse)
{
    const struct be_config *cfg = srv->cfg;
    uint8_t nonce[SSTP_NONCE_LEN], rnd[8];
    struct be_session *s = calloc(1, sizeof *s);
    if (!s || RAND_bytes(nonce, sizeof nonce) != 1 || RAND_bytes(rnd, sizeof rnd) != 1) {
        free(s);
        close(fd);
        srv->stats.refused[BE_REFUSE_ACCEPT_ERROR]++;
        return -1;
    }
    s->srv = srv;
    s->kind = kind;
    s->io.fd = fd;
    s->pty_fd = s->plugin_fd = -1;
    memcpy(&s->peer, peer, peer_len);
    s->client = s->peer;
    net_addr_str(peer, s->client_str, sizeof s->client_str);
    tls_hex(s->sid, rnd, sizeof rnd);
    s->t_start = ev_now(srv->loop);

    struct sstp_srv_cfg fc;
    sstp_srv_cfg_default(&fc);
    fc.negotiation_ms = (uint32_t)(cfg->negotiation_timeout * 1000);
    fc.hello_ms = (uint32_t)(cfg->hello_interval * 1000);
    fc.abort_t1_ms = (uint32_t)(cfg->abort_t1 * 1000);
    fc.abort_t2_ms = (uint32_t)(cfg->abort_t2 * 1000);
    fc.disconnect_t1_ms = (uint32_t)(cfg->disconnect_t1 * 1000);
    fc.disconnect_t2_ms = (uint32_t)(cfg->disconnect_t2 * 1000);
    hash_bitmask(cfg, &fc);
    sstp_srv_init(&s->fsm, &fc, nonce);
    OPENSSL_cleanse(nonce, sizeof nonce);
    if (kind == BE_LISTEN_TLS) {
        /* single-node mode: the client saw our own certificate, or that of
         * an offloader re-encrypting to us */
        trust_list(s, &srv->direct_trust);
    } else if (kind == BE_LISTEN_MTLS && cfg->mtls_proxy_header == BE_PP_NONE) {
        trust_list(s, &cfg->trusted); /* no header, so no TLVs: the offloader's certificate */
    }

    s->http = malloc(sizeof *s->http);
    if (!s->http) {
        free(s);
        close(fd);
        srv->stats.refused[BE_REFUSE_ACCEPT_ERROR]++;
        return -1;
    }
    sstp_http_req_init(s->http, (size_t)cfg->max_head);

    if (kind == BE_LISTEN_PROXY || pp_before_tls(s)) {
        set_phase(s, BE_PH_PROXY);
    } else if (tls_start(s) == -1) {
        free(s->http);
        free(s);
        close(fd);
        srv->stats.refused[BE_REFUSE_ACCEPT_ERROR]++;
        return -1;
    }

    ev_io_init(&s->cw, client_cb, fd, 0);
    s->cw.data = s;
    ev_timer_init(&s->deadline, deadline_cb, cfg->handshake_timeout, 0);
    s->deadline.data = s;
    for (int t = 0; t < SSTP_SRV_T_COUNT; t++) {
        ev_timer_init(&s->fsm_timer[t], fsm_timer_cb, 1, 0);
        s->fsm_timer[t].data = s;
    }
    be_session_ppp_init(s);

    s->next = srv->sessions;
    if (srv->sessions)
        srv->sessions->prev = s;
    srv->sessions = s;
    srv->n_sessions++;
    /* behind sstp-proxy the client's address comes with the PROXY header:
     * admitted at the request head */
    if (refuse != BE_REFUSE_COUNT) {
        s->busy = true;
        s->busy_why = refuse;
        s->busy_verdict = SRCLIMIT_OK;
        s->held_refusal = true;
        srv->n_held_refusals++;
    } else if (kind == BE_LISTEN_TLS) {
        admit(s);
    }
    srv->stats.accepted[kind]++;
    ev_timer_start(srv->loop, &s->deadline);
    log_debug("accept", "sid=%s peer=%s listener=%d", s->sid, s->client_str, (int)kind);
    be_session_update_client(s);
    return 0;
}

void be_session_disconnect(struct be_session *s)
{
    if (s->phase == BE_PH_SSTP) {
        struct sstp_srv_ev ev = { .type = SSTP_SRV_EV_LOCAL_DISCONNECT };
        struct sstp_srv_actions act;
        be_session_set_term(s, TERM_KILLED, SSTP_OK);
        be_session_step(s, &ev, &act);
    } else if (s->phase < BE_PH_SSTP) {
        be_session_set_term(s, TERM_KILLED, SSTP_OK);
        be_session_close_transport(s);
    }
    be_session_maybe_free(s);
}
