/* server.c — sstp-backend's listeners, admission limits and graceful stop. */
#include "backend/server.h"

#include <errno.h>
#include <stddef.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "backend/fleet.h"
#include "backend/metrics.h"
#include "backend/session.h"
#include "core/log.h"
#include "core/net.h"

#define LISTEN_BACKLOG 1024
#define SPARE_BUFFERS 256
#define RATE_SLOTS 65536
#define STOP_SLACK_S 2.0 /* beyond disconnect_timeout + kill_grace */
/* Connections accepted only to be answered 503 (over per_source_rate, or
 * a proxy listener's connection while the backend is full), at once: each
 * costs a TLS handshake or a request head. Beyond this a flood is closed at
 * accept. */
#define HELD_REFUSALS_MAX 64

static const char *const refuse_names[] = {
#define X(n, s) s,
    BE_REFUSE_LIST(X)
#undef X
};

static const char *const listener_names[] = { "tls", "proxy", "mtls" };

const char *be_refuse_name(enum be_refuse why)
{
    return (unsigned)why < BE_REFUSE_COUNT ? refuse_names[why] : "?";
}

/* ---- the fleet's hooks (fleet.c knows nothing of sessions) --------------- */

static struct be_session *session_of(const struct be_fleet_sess *fs)
{
    return (struct be_session *)((char *)fs - offsetof(struct be_session, fleet));
}

static void fleet_view(const struct be_fleet_sess *fs, struct be_fleet_view *out, void *ud)
{
    const struct be_session *x = session_of(fs);
    (void)ud;
    net_addr_ip((const struct sockaddr *)&x->client, out->client_ip, sizeof out->client_ip);
    out->client_port = net_port((const struct sockaddr *)&x->client);
    out->sni = x->sni;
    out->proxy = x->proxy_id;
    out->user = x->user;
    out->ip = x->ip_remote;
    out->ip6 = x->ip6_remote;
    out->bytes_in = x->bytes_in;
    out->bytes_out = x->bytes_out;
}

static void fleet_kick(struct be_fleet_sess *fs, void *ud)
{
    (void)ud;
    be_session_disconnect(session_of(fs));
}

static void fleet_drain(bool draining, bool disconnect, void *ud)
{
    struct be_server *s = ud;
    (void)draining;
    for (struct be_session *x = s->sessions, *next; disconnect && x; x = next) {
        next = x->next;
        be_session_disconnect(x);
    }
}

static uint64_t fleet_load(bool *stopping, void *ud)
{
    const struct be_server *s = ud;
    *stopping = s->stopping;
    return s->n_sessions;
}

static void refuse(struct be_server *s, int fd, enum be_refuse why, const struct sockaddr *peer)
{
    char addr[NET_ADDR_STR_MAX];
    uint64_t suppressed = 0;
    s->stats.refused[why]++;
    /* a flood comes at accept speed: one line per interval */
    if (be_log_limit_allow(&s->log_refuse_accept, ev_now(s->loop), &suppressed))
        log_info("refuse", "peer=%s reason=%s suppressed=%llu", net_addr_str(peer, addr, sizeof addr),
                 refuse_names[why], (unsigned long long)suppressed);
    close(fd);
}

/* Why a new connection will be refused, or BE_REFUSE_COUNT. */
static enum be_refuse load_refusal(struct be_server *s, enum be_listener_kind kind,
                                   const struct sockaddr *sa)
{
    const struct be_config *cfg = s->cfg;
    if (s->n_sessions >= (uint64_t)cfg->max_sessions)
        return BE_REFUSE_MAX_SESSIONS;
    if (s->n_negotiating >= (uint64_t)cfg->max_negotiating)
        return BE_REFUSE_MAX_NEGOTIATING;
    /* behind a proxy every connection has the proxy's address: the
     * per-source rate only makes sense for direct clients */
    if (kind == BE_LISTEN_TLS && !ratelimit_allow(&s->rate, sa, ev_now(s->loop)))
        return BE_REFUSE_RATE;
    return BE_REFUSE_COUNT;
}

/* Whether a refused connection is still answered (held for its request
 * head, then 503 or a probe's answer) rather than closed at accept. On the
 * proxy listeners it may be a proxy's HEAD probe, which must be answered
 * even when full (a close would mark this backend down); a direct client
 * over per_source_rate gets a 503 it can read. Load on the tls listener is
 * refused before the TLS handshake it would cost. */
static bool refusal_answered(const struct be_server *s, enum be_listener_kind kind, enum be_refuse why)
{
    if (s->n_held_refusals >= HELD_REFUSALS_MAX)
        return false;
    return kind != BE_LISTEN_TLS || why == BE_REFUSE_RATE;
}

/* A new connection on one of the listeners (core/listener): admitted to a
 * session, or refused. */
static void accept_one(struct listener *ln, int fd, const struct sockaddr *sa, socklen_t len)
{
    struct be_listener *l = ln->data;
    struct be_server *s = l->srv;
    const struct be_config *cfg = s->cfg;
    if (l->kind != BE_LISTEN_TLS && cfg->proxy_allow.n > 0 && !net_cidr_list_match(&cfg->proxy_allow, sa)) {
        refuse(s, fd, BE_REFUSE_UNTRUSTED_SOURCE, sa);
        return;
    }
    enum be_refuse why = load_refusal(s, l->kind, sa);
    if (why != BE_REFUSE_COUNT && !refusal_answered(s, l->kind, why)) {
        refuse(s, fd, why, sa);
        return;
    }
    if (why == BE_REFUSE_RATE) /* counted at the decision, answered or not */
        s->stats.refused[BE_REFUSE_RATE]++;
    be_session_accept(s, l->kind, fd, sa, len, why);
}

/* EMFILE and friends: the listener pauses itself and logs (rate-limited);
 * here only the counter. */
static void accept_error(struct listener *ln, int err)
{
    struct be_listener *l = ln->data;
    (void)err;
    l->srv->stats.refused[BE_REFUSE_ACCEPT_ERROR]++;
}

static void close_listener(struct be_listener *l)
{
    if (l->fd == -1)
        return;
    listener_stop(&l->l);
    close(l->fd);
    l->fd = -1;
}

static int open_listener(struct be_server *s, enum be_listener_kind kind, const char *addr)
{
    struct net_addr a;
    struct be_listener *l = &s->listeners[kind];
    l->fd = -1;
    if (!addr || !addr[0])
        return 0;
    if (net_addr_parse(&a, addr) == -1) {
        log_error("config", "listener=%s addr=%s err=bad_address", listener_names[kind], addr);
        return -1;
    }
    l->fd = net_listen(&a, LISTEN_BACKLOG, false);
    if (l->fd == -1) {
        log_error("listen_fail", "listener=%s addr=%s err=\"%s\"", listener_names[kind], addr,
                  strerror(errno));
        return -1;
    }
    l->kind = kind;
    l->srv = s;
    listener_init(&l->l, s->loop, l->fd, listener_names[kind], accept_one, l);
    l->l.on_error = accept_error;
    listener_start(&l->l);
    log_info("listen", "listener=%s addr=%s", listener_names[kind], addr);
    return 0;
}

static void signal_cb(struct ev_loop *loop, ev_signal *w, int revents)
{
    (void)loop;
    (void)revents;
    struct be_server *s = w->data;
    if (w->signum == SIGHUP) {
        be_server_log_stats(s);
        return;
    }
    log_info("signal", "signum=%d action=stop", w->signum);
    be_server_stop(s);
}

static void stop_deadline_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)revents;
    struct be_server *s = w->data;
    log_warn("stop_deadline", "sessions_left=%llu", (unsigned long long)s->n_sessions);
    for (struct be_session *x = s->sessions; x; x = x->next)
        be_session_kill_pppd(x);
    ev_break(loop, EVBREAK_ALL);
}

/* The tls listener's clients saw this server's certificate, or that of an
 * offloader re-encrypting to it (sstp.trusted_cert_hash). */
static int direct_trust_build(struct be_server *s)
{
    const struct be_hash_list *cfg = &s->cfg->trusted;
    struct be_hash_list *t = &s->direct_trust;
    t->sha256 = calloc(cfg->n_sha256 + 1, sizeof *t->sha256);
    t->sha1 = calloc(cfg->n_sha1 + 1, sizeof *t->sha1);
    if (!t->sha256 || !t->sha1)
        return -1;
    memcpy(t->sha256[0], s->own.sha256, SSTP_SHA256_LEN);
    memcpy(t->sha1[0], s->own.sha1, SSTP_SHA1_LEN);
    if (cfg->n_sha256)
        memcpy(t->sha256 + 1, cfg->sha256, cfg->n_sha256 * sizeof *t->sha256);
    if (cfg->n_sha1)
        memcpy(t->sha1 + 1, cfg->sha1, cfg->n_sha1 * sizeof *t->sha1);
    t->n_sha256 = cfg->n_sha256 + 1;
    t->n_sha1 = cfg->n_sha1 + 1;
    return 0;
}

int be_server_start(struct be_server *s, struct ev_loop *loop, struct be_config *cfg)
{
    char err[512];
    memset(s, 0, sizeof *s);
    s->admin.fd = -1;
    s->loop = loop;
    s->cfg = cfg;
    for (int k = 0; k < BE_LISTEN_COUNT; k++)
        s->listeners[k].fd = -1;
    buf_pool_init(&s->pool, SPARE_BUFFERS);
    struct log_limit *limits[] = { &s->log_refuse_accept, &s->log_refuse_source, &s->log_auth_refused,
                                   &s->log_unsafe_id, &s->log_connect_request };
    for (size_t i = 0; i < sizeof limits / sizeof limits[0]; i++)
        log_limit_init(limits[i], BE_LOG_LIMIT_S, 1);
    be_session_reaper_init(s);
    if (ratelimit_init(&s->rate, RATE_SLOTS, (double)cfg->per_source_rate,
                       (double)cfg->per_source_burst) == -1)
        return -1;
    /* room for every negotiating session with a sparse table: a source is
     * refused for a full table only when max_negotiating is nearly reached */
    if (srclimit_init(&s->negotiating_by_source, 4 * (size_t)cfg->max_negotiating,
                      (uint32_t)cfg->max_negotiating_per_source, (unsigned)cfg->source_prefix4,
                      (unsigned)cfg->source_prefix6) == -1)
        return -1;

    struct tls_server_opts o = {
        .cert_file = cfg->cert, .key_file = cfg->key,
        .ciphers = cfg->ciphers, .ciphersuites = cfg->ciphersuites,
    };
    if (cfg->listen_tls && cfg->listen_tls[0]) {
        s->tls_ctx = tls_server_ctx_new(&o, err, sizeof err);
        if (!s->tls_ctx || tls_ctx_cert_hashes(s->tls_ctx, &s->own) == -1) {
            log_error("tls_config", "err=\"%s\"", s->tls_ctx ? "cannot hash certificate" : err);
            return -1;
        }
        char hex[2 * SSTP_SHA256_LEN + 1];
        log_info("cert", "sha256=%s", tls_hex(hex, s->own.sha256, SSTP_SHA256_LEN));
        if (direct_trust_build(s) == -1) {
            log_error("tls_config", "err=\"out of memory\"");
            return -1;
        }
    }
    if (cfg->listen_mtls && cfg->listen_mtls[0]) {
        o.client_ca = cfg->proxy_ca;
        s->mtls_ctx = tls_server_ctx_new(&o, err, sizeof err);
        if (!s->mtls_ctx) {
            log_error("tls_config", "listener=mtls err=\"%s\"", err);
            return -1;
        }
        /* only sstp-proxy connects here and it never resumes: TLS 1.3 tickets
         * would cost two encryptions per connection here and 650 bytes per
         * session in the proxy (tests/bench/ssl_mem.sh) */
        SSL_CTX_set_options(s->mtls_ctx, SSL_OP_NO_TICKET);
        SSL_CTX_set_num_tickets(s->mtls_ctx, 0);
    }
    if (open_listener(s, BE_LISTEN_TLS, cfg->listen_tls) == -1 ||
        open_listener(s, BE_LISTEN_PROXY, cfg->listen_proxy) == -1 ||
        open_listener(s, BE_LISTEN_MTLS, cfg->listen_mtls) == -1)
        return -1;

    ev_signal_init(&s->sigterm, signal_cb, SIGTERM);
    ev_signal_init(&s->sigint, signal_cb, SIGINT);
    ev_signal_init(&s->sighup, signal_cb, SIGHUP);
    s->sigterm.data = s->sigint.data = s->sighup.data = s;
    ev_signal_start(loop, &s->sigterm);
    ev_signal_start(loop, &s->sigint);
    ev_signal_start(loop, &s->sighup);
    bool fleet_err;
    struct be_fleet_hooks hooks = { fleet_view, fleet_kick, fleet_drain, fleet_load, s };
    s->fleet = be_fleet_new(loop, cfg, &hooks, &fleet_err);
    if (fleet_err || be_metrics_start(s) == -1)
        return -1;
    be_cert_watch_start(s);
    pppd_pool_start(&s->pppd_pool, loop, (int)cfg->pppd_pool_size, cfg->pppd_path, cfg->pppd_options,
                    cfg->plugin);
    heap_watch_start(&s->heap, s->loop, 1.0);
    ev_timer_init(&s->stop_deadline, stop_deadline_cb,
                  cfg->disconnect_t1 + cfg->kill_grace + STOP_SLACK_S, 0);
    s->stop_deadline.data = s;
    return 0;
}

void be_server_stop(struct be_server *s)
{
    if (s->stopping)
        return;
    s->stopping = true;
    for (int k = 0; k < BE_LISTEN_COUNT; k++)
        close_listener(&s->listeners[k]);
    log_info("stopping", "sessions=%llu", (unsigned long long)s->n_sessions);
    pppd_pool_stop(&s->pppd_pool);
    if (s->n_sessions == 0) {
        ev_break(s->loop, EVBREAK_ALL);
        return;
    }
    ev_timer_start(s->loop, &s->stop_deadline);
    for (struct be_session *x = s->sessions, *next; x; x = next) {
        next = x->next;
        be_session_disconnect(x);
    }
}

void be_server_cleanup(struct be_server *s)
{
    be_session_reap(s);
    if (s->pppd_pool.loop)
        pppd_pool_cleanup(&s->pppd_pool);
    be_fleet_free(s->fleet);
    s->fleet = NULL;
    be_metrics_stop(s);
    be_cert_watch_stop(s);
    heap_watch_stop(&s->heap, s->loop);
    ev_timer_stop(s->loop, &s->stop_deadline);
    ev_signal_stop(s->loop, &s->sigterm);
    ev_signal_stop(s->loop, &s->sigint);
    ev_signal_stop(s->loop, &s->sighup);
    for (int k = 0; k < BE_LISTEN_COUNT; k++)
        close_listener(&s->listeners[k]);
    SSL_CTX_free(s->tls_ctx);
    SSL_CTX_free(s->mtls_ctx);
    free(s->direct_trust.sha256);
    free(s->direct_trust.sha1);
    ratelimit_cleanup(&s->rate);
    srclimit_cleanup(&s->negotiating_by_source);
    buf_pool_cleanup(&s->pool);
}

void be_server_log_stats(const struct be_server *s)
{
    const struct be_stats *st = &s->stats;
    log_info("stats", "sessions=%llu negotiating=%llu started=%llu connected=%llu ended=%llu "
             "binding_ok=%llu binding_fail=%llu tls_fail=%llu handshake_timeout=%llu probes=%llu "
             "pppd_spawned=%llu pppd_spawn_fail=%llu pppd_killed=%llu plugin_bad_msg=%llu "
             "refused_max_sessions=%llu refused_max_negotiating=%llu refused_rate=%llu "
             "refused_untrusted=%llu refused_proxy_header=%llu refused_per_source=%llu "
             "connect_request_timeout=%llu "
             "auth_again=%llu unsafe_ids=%llu bytes_in=%llu bytes_out=%llu",
             (unsigned long long)s->n_sessions, (unsigned long long)s->n_negotiating,
             (unsigned long long)st->sessions_started, (unsigned long long)st->sessions_connected,
             (unsigned long long)st->sessions_ended, (unsigned long long)st->binding_ok,
             (unsigned long long)st->binding_fail, (unsigned long long)st->tls_fail,
             (unsigned long long)st->handshake_timeout, (unsigned long long)st->probes,
             (unsigned long long)st->pppd_spawned, (unsigned long long)st->pppd_spawn_fail,
             (unsigned long long)st->pppd_killed, (unsigned long long)st->plugin_bad_msg,
             (unsigned long long)st->refused[BE_REFUSE_MAX_SESSIONS],
             (unsigned long long)st->refused[BE_REFUSE_MAX_NEGOTIATING],
             (unsigned long long)st->refused[BE_REFUSE_RATE],
             (unsigned long long)st->refused[BE_REFUSE_UNTRUSTED_SOURCE],
             (unsigned long long)st->refused[BE_REFUSE_UNEXPECTED_PROXY_HEADER],
             (unsigned long long)st->refused[BE_REFUSE_PER_SOURCE_NEGOTIATING],
             (unsigned long long)st->connect_request_timeout,
             (unsigned long long)st->auth_again, (unsigned long long)st->unsafe_ids,
             (unsigned long long)st->bytes_in, (unsigned long long)st->bytes_out);
    for (int rc = SSTP_OK + 1; rc < SSTP_RC_COUNT; rc++)
        if (st->proto_err[rc])
            log_info("stats_err", "rc=%s count=%llu", sstp_rc_name((enum sstp_rc)rc),
                     (unsigned long long)st->proto_err[rc]);
}
