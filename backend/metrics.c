/* metrics.c — sstp-backend's admin listener: /healthz, /readyz and the
 * counters of struct be_stats (and of the fleet and its Redis link) on
 * /metrics, through core/metrics as sstp-proxy does: the families are
 * declared once in tables below, and a scrape copies the counters, read
 * where they are written (one process, one loop), into the tables' single
 * block and renders it. Three tables, because the fleet's families exist
 * only with redis.url and the certificate's only with a certificate. */
#include "backend/metrics.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "backend/fleet.h"
#include "backend/server.h"
#include "core/log.h"
#include "core/metrics.h"
#include "core/tls.h"
#include "lb/redis.h"

#define C METRICS_COUNTER
#define G METRICS_GAUGE
/* a family of one value; a family labelled by a fixed list of values */
#define ONE(id, n, t, h) [id] = { .name = (n), .help = (h), .type = (t) }
#define LIST(id, n, t, h, l, v, nv) \
    [id] = { .name = (n), .help = (h), .type = (t), .label = (l), .values = (v), .n_values = (nv) }
/* labelled at run time: room for every return code, so none is "other" */
#define RC_SLOTS (SSTP_RC_COUNT + 1)

static const char *const listener_names[BE_LISTEN_COUNT] = {
    [BE_LISTEN_TLS] = "tls", [BE_LISTEN_PROXY] = "proxy", [BE_LISTEN_MTLS] = "mtls",
};
static const char *const refuse_names[BE_REFUSE_COUNT] = {
#define X(n, s) [BE_REFUSE_##n] = s,
    BE_REFUSE_LIST(X)
#undef X
};
static const char *const binding_results[] = { "ok", "fail" };
static const char *const directions[] = { "in", "out" };
static const char *const heap_states[] = { "in_use", "free" };
static const char *const command_results[] = { "sent", "error", "dropped_down", "dropped_full" };
static const char *const pool_events[] = { "started", "taken", "died", "empty" };
static const char *const admission_results[] = { "allow", "deny", "timeout_allow" };
static const char *rds_err_names[RDS_ERR_COUNT]; /* filled from rds_err_name() at start */

enum be_metric {
    BEM_SESSIONS, BEM_NEGOTIATING, BEM_ACCEPTED, BEM_REFUSED, BEM_PROTO_ERR, BEM_HDLC_ERR,
    BEM_TLS_FAIL, BEM_HANDSHAKE_TIMEOUT, BEM_CONNECT_REQUEST_TIMEOUT, BEM_PROBES,
    BEM_STARTED, BEM_CONNECTED, BEM_ENDED, BEM_BINDINGS, BEM_PPPD_SPAWNED, BEM_PPPD_SPAWN_FAIL,
    BEM_PPPD_KILLED, BEM_POOL_READY, BEM_POOL_EVENTS, BEM_PLUGIN_BAD, BEM_REAUTH, BEM_UNSAFE_IDS, BEM_BYTES, BEM_DRAINING,
    BEM_HEAP_BYTES, BEM_HEAP_TRIMS,
    BEM_COUNT
};

static struct metrics_family core_fam[BEM_COUNT] = {
    ONE(BEM_SESSIONS, "sstp_backend_sessions", G, "Sessions now (transport or pppd still alive)."),
    ONE(BEM_NEGOTIATING, "sstp_backend_sessions_negotiating", G, "Sessions before CALL_CONNECTED."),
    LIST(BEM_ACCEPTED, "sstp_backend_accepted_total", C, "Connections accepted, by listener.",
         "listener", listener_names, BE_LISTEN_COUNT),
    LIST(BEM_REFUSED, "sstp_backend_refused_total", C, "Connections refused, by reason.",
         "reason", refuse_names, BE_REFUSE_COUNT),
    LIST(BEM_PROTO_ERR, "sstp_backend_protocol_errors_total", C,
         "Malformed or refused input, by return code (HTTP, PROXY, SSTP, binding).", "rc", NULL, RC_SLOTS),
    LIST(BEM_HDLC_ERR, "sstp_backend_hdlc_errors_total", C, "Frames from pppd dropped, by reason.",
         "rc", NULL, RC_SLOTS),
    ONE(BEM_TLS_FAIL, "sstp_backend_tls_failures_total", C, "TLS handshakes that failed."),
    ONE(BEM_HANDSHAKE_TIMEOUT, "sstp_backend_handshake_timeouts_total", C,
        "Connections closed before their request head."),
    ONE(BEM_CONNECT_REQUEST_TIMEOUT, "sstp_backend_connect_request_timeouts_total", C,
        "Calls closed for no CALL_CONNECT_REQUEST within sstp.connect_request_timeout of their request head."),
    ONE(BEM_PROBES, "sstp_backend_probes_total", C, "HEAD health probes answered."),
    ONE(BEM_STARTED, "sstp_backend_sessions_started_total", C, "SSTP requests accepted."),
    ONE(BEM_CONNECTED, "sstp_backend_sessions_connected_total", C, "Calls with a verified crypto binding."),
    ONE(BEM_ENDED, "sstp_backend_sessions_ended_total", C, "Sessions freed."),
    LIST(BEM_BINDINGS, "sstp_backend_bindings_total", C, "Crypto binding checks, by result.",
         "result", binding_results, 2),
    ONE(BEM_PPPD_SPAWNED, "sstp_backend_pppd_spawned_total", C, "pppd processes started."),
    ONE(BEM_PPPD_SPAWN_FAIL, "sstp_backend_pppd_spawn_failures_total", C, "pppd processes that could not start."),
    ONE(BEM_PPPD_KILLED, "sstp_backend_pppd_killed_total", C, "pppd processes that needed SIGKILL."),
    ONE(BEM_POOL_READY, "sstp_backend_pppd_pool_ready", G,
        "Pooled pppd processes waiting for a session (pppd.pool_size)."),
    LIST(BEM_POOL_EVENTS, "sstp_backend_pppd_pool_total", C,
         "Pooled pppd: started, taken by a session, died before one, sessions that found none ready.",
         "event", pool_events, 4),
    ONE(BEM_PLUGIN_BAD, "sstp_backend_plugin_bad_messages_total", C, "Malformed messages from the pppd plugin."),
    ONE(BEM_REAUTH, "sstp_backend_reauthentications_total", C,
        "Second PPP authentications on a call (each ended the call)."),
    ONE(BEM_UNSAFE_IDS, "sstp_backend_unsafe_ids_total", C,
        "Correlation or session ids not passed to pppd's scripts (charset or length)."),
    LIST(BEM_BYTES, "sstp_backend_bytes_total", C, "Bytes of finished sessions, after TLS.",
         "direction", directions, 2),
    ONE(BEM_DRAINING, "sstp_backend_draining", G, "1 while drained (no new sessions)."),
    LIST(BEM_HEAP_BYTES, "sstp_backend_heap_bytes", G,
         "Bytes of the malloc heap: in use, and free but kept by malloc.", "state", heap_states, 2),
    ONE(BEM_HEAP_TRIMS, "sstp_backend_heap_trims_total", C,
        "Free heap memory given back to the kernel after many sessions left (malloc_trim)."),
};

enum be_fleet_metric {
    BEF_REDIS_UP, BEF_REDIS_IN_FLIGHT, BEF_REDIS_COMMANDS, BEF_REDIS_ERRORS, BEF_UPSERTS,
    BEF_UPSERT_REFUSED, BEF_WRITE_ERRORS, BEF_JANITOR_REMOVED, BEF_ENDS_DROPPED, BEF_DUPLICATE_ID,
    BEF_ADMISSIONS, BEF_KICKS,
    BEF_COUNT
};

static struct metrics_family fleet_fam[BEF_COUNT] = {
    ONE(BEF_REDIS_UP, "sstp_backend_redis_up", G,
        "1 while the Redis link is up (AUTH/SELECT passed, replies on time)."),
    ONE(BEF_REDIS_IN_FLIGHT, "sstp_backend_redis_in_flight", G, "Redis commands owed a reply now."),
    LIST(BEF_REDIS_COMMANDS, "sstp_backend_redis_commands_total", C,
         "Redis commands: sent, failed (error or lost reply), refused (Redis down, or too many in flight).",
         "result", command_results, 4),
    LIST(BEF_REDIS_ERRORS, "sstp_backend_redis_errors_total", C,
         "Redis connections that failed or were dropped, by reason.", "reason", rds_err_names, RDS_ERR_COUNT),
    ONE(BEF_UPSERTS, "sstp_backend_fleet_upserts_total", C, "Session writes sent (hash, TTL, indexes)."),
    ONE(BEF_UPSERT_REFUSED, "sstp_backend_fleet_upsert_refused_total", C,
        "Session write batches Redis could not take (retried at the next tick)."),
    ONE(BEF_WRITE_ERRORS, "sstp_backend_fleet_write_errors_total", C, "Fleet writes answered with an error or lost."),
    ONE(BEF_JANITOR_REMOVED, "sstp_backend_fleet_janitor_removed_total", C,
        "Dead session ids removed from the indexes."),
    ONE(BEF_ENDS_DROPPED, "sstp_backend_fleet_ends_dropped_total", C, "Session ends not written: queue full."),
    ONE(BEF_DUPLICATE_ID, "sstp_backend_fleet_duplicate_id_total", C,
        "Heartbeats that found another live process registered with this id."),
    LIST(BEF_ADMISSIONS, "sstp_backend_fleet_admissions_total", C, "Per-user admissions, by outcome.",
         "result", admission_results, 3),
    ONE(BEF_KICKS, "sstp_backend_fleet_kicks_total", C, "Older sessions kicked by per_user_action = replace."),
};

/* The certificate of the tls and mtls listeners, labelled by file name as
 * sstp-proxy labels its own (two slots: the first is the file, none is
 * "other"). */
static struct metrics_family cert_fam[1] = {
    LIST(0, "sstp_backend_cert_not_after_seconds", G,
         "notAfter of tls.cert (unix seconds), by file name (SSTP clients refuse an expired one).",
         "cert", NULL, 2),
};

/* one sstp-backend per process: its tables' one block each */
static struct metrics core_m, fleet_m, cert_m;

static void set(const struct metrics *m, size_t f, size_t i, uint64_t v)
{
    metrics_set(metrics_values(m, 0), &m->fam[f], i, v);
}

static void set_rc_counts(const struct metrics *m, size_t f, const uint64_t *count)
{
    for (int rc = SSTP_OK + 1; rc < SSTP_RC_COUNT; rc++)
        if (count[rc]) /* a code appears once it happened */
            set(m, f, metrics_slot(m, 0, f, sstp_rc_name((enum sstp_rc)rc)), count[rc]);
}

static void fill_core(const struct be_server *s)
{
    const struct metrics *m = &core_m;
    const struct be_stats *st = &s->stats;
    set(m, BEM_SESSIONS, 0, s->n_sessions);
    set(m, BEM_NEGOTIATING, 0, s->n_negotiating);
    for (int k = 0; k < BE_LISTEN_COUNT; k++)
        set(m, BEM_ACCEPTED, (size_t)k, st->accepted[k]);
    for (int r = 0; r < BE_REFUSE_COUNT; r++)
        set(m, BEM_REFUSED, (size_t)r, st->refused[r]);
    set_rc_counts(m, BEM_PROTO_ERR, st->proto_err);
    set_rc_counts(m, BEM_HDLC_ERR, st->hdlc_err);
    set(m, BEM_TLS_FAIL, 0, st->tls_fail);
    set(m, BEM_HANDSHAKE_TIMEOUT, 0, st->handshake_timeout);
    set(m, BEM_CONNECT_REQUEST_TIMEOUT, 0, st->connect_request_timeout);
    set(m, BEM_PROBES, 0, st->probes);
    set(m, BEM_STARTED, 0, st->sessions_started);
    set(m, BEM_CONNECTED, 0, st->sessions_connected);
    set(m, BEM_ENDED, 0, st->sessions_ended);
    set(m, BEM_BINDINGS, 0, st->binding_ok);
    set(m, BEM_BINDINGS, 1, st->binding_fail);
    set(m, BEM_PPPD_SPAWNED, 0, st->pppd_spawned);
    set(m, BEM_PPPD_SPAWN_FAIL, 0, st->pppd_spawn_fail);
    set(m, BEM_PPPD_KILLED, 0, st->pppd_killed);
    set(m, BEM_POOL_READY, 0, (uint64_t)pppd_pool_ready(&s->pppd_pool));
    set(m, BEM_POOL_EVENTS, 0, s->pppd_pool.stats.started);
    set(m, BEM_POOL_EVENTS, 1, s->pppd_pool.stats.taken);
    set(m, BEM_POOL_EVENTS, 2, s->pppd_pool.stats.died);
    set(m, BEM_POOL_EVENTS, 3, s->pppd_pool.stats.empty);
    set(m, BEM_PLUGIN_BAD, 0, st->plugin_bad_msg);
    set(m, BEM_REAUTH, 0, st->auth_again);
    set(m, BEM_UNSAFE_IDS, 0, st->unsafe_ids);
    set(m, BEM_BYTES, 0, st->bytes_in);
    set(m, BEM_BYTES, 1, st->bytes_out);
    set(m, BEM_DRAINING, 0, be_fleet_accepting(s->fleet) && !s->stopping ? 0 : 1);
    set(m, BEM_HEAP_BYTES, 0, s->heap.g.in_use);
    set(m, BEM_HEAP_BYTES, 1, s->heap.g.free);
    set(m, BEM_HEAP_TRIMS, 0, s->heap.g.trims);
}

static void fill_fleet(const struct be_fleet *fl)
{
    const struct metrics *m = &fleet_m;
    const struct rds *r = be_fleet_rds(fl);
    const struct rds_stats *rs = rds_stats(r);
    const struct be_fleet_stats *st = be_fleet_stats(fl);
    set(m, BEF_REDIS_UP, 0, rds_is_up(r));
    set(m, BEF_REDIS_IN_FLIGHT, 0, rs->in_flight);
    set(m, BEF_REDIS_COMMANDS, 0, rs->sent);
    set(m, BEF_REDIS_COMMANDS, 1, rs->errors);
    set(m, BEF_REDIS_COMMANDS, 2, rs->dropped_down);
    set(m, BEF_REDIS_COMMANDS, 3, rs->dropped_full);
    for (int e = 0; e < RDS_ERR_COUNT; e++)
        set(m, BEF_REDIS_ERRORS, (size_t)e, rs->err[e]);
    set(m, BEF_UPSERTS, 0, st->upserts);
    set(m, BEF_UPSERT_REFUSED, 0, st->upsert_refused);
    set(m, BEF_WRITE_ERRORS, 0, st->write_errors);
    set(m, BEF_JANITOR_REMOVED, 0, st->janitor_removed);
    set(m, BEF_ENDS_DROPPED, 0, st->ends_dropped);
    set(m, BEF_DUPLICATE_ID, 0, st->duplicate_id);
    set(m, BEF_ADMISSIONS, 0, st->admit_allow);
    set(m, BEF_ADMISSIONS, 1, st->admit_deny);
    set(m, BEF_ADMISSIONS, 2, st->admit_timeout);
    set(m, BEF_KICKS, 0, st->admit_kick);
}

/* Whether there is a certificate to report; its value is set if so. */
static bool fill_cert(const struct be_server *s)
{
    SSL_CTX *ctx = s->tls_ctx ? s->tls_ctx : s->mtls_ctx;
    X509 *leaf = ctx ? SSL_CTX_get0_certificate(ctx) : NULL;
    int64_t not_after;
    if (!leaf || tls_not_after(leaf, &not_after) == -1 || not_after < 0)
        return false;
    const char *slash = strrchr(s->cfg->cert, '/');
    set(&cert_m, 0, metrics_slot(&cert_m, 0, 0, slash ? slash + 1 : s->cfg->cert), (uint64_t)not_after);
    return true;
}

static int write_metrics(void *ctx, void *out)
{
    const struct be_server *s = ctx;
    fill_core(s);
    if (metrics_render(&core_m, out) == -1)
        return -1;
    if (s->fleet) {
        fill_fleet(s->fleet);
        if (metrics_render(&fleet_m, out) == -1)
            return -1;
    }
    if (fill_cert(s) && metrics_render(&cert_m, out) == -1)
        return -1;
    return 0;
}

static int tables_init(void)
{
    for (int e = 0; e < RDS_ERR_COUNT; e++)
        rds_err_names[e] = rds_err_name((enum rds_err)e);
    if (metrics_init(&core_m, core_fam, BEM_COUNT, 1) == -1 ||
        metrics_init(&fleet_m, fleet_fam, BEF_COUNT, 1) == -1 ||
        metrics_init(&cert_m, cert_fam, 1, 1) == -1) {
        metrics_cleanup(&core_m);
        metrics_cleanup(&fleet_m);
        return -1;
    }
    return 0;
}

static void cert_check(struct be_server *s, double now)
{
    SSL_CTX *ctx = s->tls_ctx ? s->tls_ctx : s->mtls_ctx;
    X509 *leaf = ctx ? SSL_CTX_get0_certificate(ctx) : NULL;
    if (!leaf || (s->cert_warned != 0 && now - s->cert_warned < TLS_EXPIRY_REPEAT_S))
        return;
    if (tls_expiry_warn(s->cfg->cert, leaf, (time_t)now, s->cfg->expiry_warn_days))
        s->cert_warned = now;
}

static void cert_check_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
    (void)revents;
    cert_check(t->data, ev_now(loop));
}

void be_cert_watch_start(struct be_server *s)
{
    ev_timer_init(&s->cert_check, cert_check_cb, TLS_EXPIRY_CHECK_S, TLS_EXPIRY_CHECK_S);
    s->cert_check.data = s;
    if (!s->tls_ctx && !s->mtls_ctx)
        return;
    cert_check(s, ev_now(s->loop));
    ev_timer_start(s->loop, &s->cert_check);
}

void be_cert_watch_stop(struct be_server *s)
{
    ev_timer_stop(s->loop, &s->cert_check);
}

static bool ready(void *ctx, char *why, size_t why_len)
{
    const struct be_server *s = ctx;
    if (s->stopping) {
        snprintf(why, why_len, "stopping");
        return false;
    }
    if (!be_fleet_accepting(s->fleet)) {
        snprintf(why, why_len, "drained");
        return false;
    }
    const struct rds *r = be_fleet_rds(s->fleet);
    if (r && s->cfg->redis.ready_needs_redis && !rds_is_up(r)) {
        enum rds_err e = rds_down_reason(r);
        snprintf(why, why_len, "redis down (%s)", e == RDS_ERR_COUNT ? "connecting" : rds_err_name(e));
        return false;
    }
    if (s->n_sessions >= (uint64_t)s->cfg->max_sessions) {
        snprintf(why, why_len, "max_sessions reached");
        return false;
    }
    return true;
}

int be_metrics_start(struct be_server *s)
{
    struct net_addr a;
    const char *addr = s->cfg->admin;
    s->admin.fd = -1;
    if (!addr || !addr[0])
        return 0;
    struct admin_hooks hooks = { s, write_metrics, ready };
    if (tables_init() == -1) {
        log_error("admin_fail", "addr=%s metrics=%s", addr, strerror(errno));
        return -1;
    }
    if (net_addr_parse(&a, addr) == -1 || admin_start(&s->admin, s->loop, &a, &hooks) == -1) {
        metrics_cleanup(&core_m);
        metrics_cleanup(&fleet_m);
        metrics_cleanup(&cert_m);
        log_error("admin_fail", "addr=%s", addr);
        return -1;
    }
    log_info("admin", "addr=%s", addr);
    return 0;
}

void be_metrics_stop(struct be_server *s)
{
    admin_stop(&s->admin);
    metrics_cleanup(&core_m);
    metrics_cleanup(&fleet_m);
    metrics_cleanup(&cert_m);
}
