/* metrics.c — sstp-backend's admin listener: /healthz, /readyz and the
 * counters of struct be_stats as Prometheus text on /metrics. One process,
 * one loop: the counters are read where they are written. */
#include "backend/metrics.h"

#include <stdio.h>
#include <string.h>

#include "backend/fleet.h"
#include "backend/server.h"
#include "core/log.h"
#include "lb/redis.h"
#include "core/tls.h"

static const char *const listener_names[BE_LISTEN_COUNT] = { "tls", "proxy", "mtls" };
static const char *const refuse_names[] = {
#define X(n, s) s,
    BE_REFUSE_LIST(X)
#undef X
};

static void family(FILE *f, const char *name, const char *type, const char *help)
{
    fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void one(FILE *f, const char *name, const char *type, const char *help, unsigned long long v)
{
    family(f, name, type, help);
    fprintf(f, "%s %llu\n", name, v);
}

/* the Redis client's state and counters (only with redis.url) */
static void write_redis(FILE *f, const struct rds *r)
{
    const struct rds_stats *st = rds_stats(r);
    one(f, "sstp_backend_redis_up", "gauge",
        "1 while the Redis link is up (AUTH/SELECT passed, replies on time).", rds_is_up(r));
    one(f, "sstp_backend_redis_in_flight", "gauge", "Redis commands owed a reply now.",
        (unsigned long long)st->in_flight);
    family(f, "sstp_backend_redis_commands_total", "counter",
           "Redis commands: sent, failed (error or lost reply), refused (Redis down, or too many "
           "in flight).");
    fprintf(f, "sstp_backend_redis_commands_total{result=\"sent\"} %llu\n", (unsigned long long)st->sent);
    fprintf(f, "sstp_backend_redis_commands_total{result=\"error\"} %llu\n", (unsigned long long)st->errors);
    fprintf(f, "sstp_backend_redis_commands_total{result=\"dropped_down\"} %llu\n",
            (unsigned long long)st->dropped_down);
    fprintf(f, "sstp_backend_redis_commands_total{result=\"dropped_full\"} %llu\n",
            (unsigned long long)st->dropped_full);
    family(f, "sstp_backend_redis_errors_total", "counter",
           "Redis connections that failed or were dropped, by reason.");
    for (int e = 0; e < RDS_ERR_COUNT; e++)
        fprintf(f, "sstp_backend_redis_errors_total{reason=\"%s\"} %llu\n", rds_err_name(e),
                (unsigned long long)st->err[e]);
}

static void write_fleet(FILE *f, const struct be_fleet *fl)
{
    const struct be_fleet_stats *st = be_fleet_stats(fl);
    write_redis(f, be_fleet_rds(fl));
    one(f, "sstp_backend_fleet_upserts_total", "counter", "Session writes sent (hash, TTL, indexes).",
        (unsigned long long)st->upserts);
    one(f, "sstp_backend_fleet_upsert_refused_total", "counter",
        "Session write batches Redis could not take (retried at the next tick).",
        (unsigned long long)st->upsert_refused);
    one(f, "sstp_backend_fleet_write_errors_total", "counter", "Fleet writes answered with an error or lost.",
        (unsigned long long)st->write_errors);
    one(f, "sstp_backend_fleet_janitor_removed_total", "counter", "Dead session ids removed from the indexes.",
        (unsigned long long)st->janitor_removed);
    one(f, "sstp_backend_fleet_ends_dropped_total", "counter", "Session ends not written: queue full.",
        (unsigned long long)st->ends_dropped);
    one(f, "sstp_backend_fleet_duplicate_id_total", "counter",
        "Heartbeats that found another live process registered with this id.",
        (unsigned long long)st->duplicate_id);
    family(f, "sstp_backend_fleet_admissions_total", "counter", "Per-user admissions, by outcome.");
    fprintf(f, "sstp_backend_fleet_admissions_total{result=\"allow\"} %llu\n", (unsigned long long)st->admit_allow);
    fprintf(f, "sstp_backend_fleet_admissions_total{result=\"deny\"} %llu\n", (unsigned long long)st->admit_deny);
    fprintf(f, "sstp_backend_fleet_admissions_total{result=\"timeout_allow\"} %llu\n",
            (unsigned long long)st->admit_timeout);
    one(f, "sstp_backend_fleet_kicks_total", "counter", "Older sessions kicked by per_user_action = replace.",
        (unsigned long long)st->admit_kick);
}

/* The certificate of the tls and mtls listeners, labelled by file name as
 * sstp-proxy labels its own. */
static void cert_metrics(FILE *f, const struct be_server *s)
{
    SSL_CTX *ctx = s->tls_ctx ? s->tls_ctx : s->mtls_ctx;
    X509 *leaf = ctx ? SSL_CTX_get0_certificate(ctx) : NULL;
    int64_t not_after;
    if (!leaf || tls_not_after(leaf, &not_after) == -1)
        return;
    const char *slash = strrchr(s->cfg->cert, '/');
    family(f, "sstp_backend_cert_not_after_seconds", "gauge",
           "notAfter of tls.cert (unix seconds), by file name (SSTP clients refuse an expired one).");
    fprintf(f, "sstp_backend_cert_not_after_seconds{cert=\"%s\"} %lld\n", slash ? slash + 1 : s->cfg->cert,
            (long long)not_after);
}

static int write_metrics(void *ctx, void *out)
{
    const struct be_server *s = ctx;
    const struct be_stats *st = &s->stats;
    FILE *f = out;

    one(f, "sstp_backend_sessions", "gauge", "Sessions now (transport or pppd still alive).",
        (unsigned long long)s->n_sessions);
    one(f, "sstp_backend_sessions_negotiating", "gauge", "Sessions before CALL_CONNECTED.",
        (unsigned long long)s->n_negotiating);
    family(f, "sstp_backend_accepted_total", "counter", "Connections accepted, by listener.");
    for (int k = 0; k < BE_LISTEN_COUNT; k++)
        fprintf(f, "sstp_backend_accepted_total{listener=\"%s\"} %llu\n", listener_names[k],
                (unsigned long long)st->accepted[k]);
    family(f, "sstp_backend_refused_total", "counter", "Connections refused, by reason.");
    for (int r = 0; r < BE_REFUSE_COUNT; r++)
        fprintf(f, "sstp_backend_refused_total{reason=\"%s\"} %llu\n", refuse_names[r],
                (unsigned long long)st->refused[r]);
    family(f, "sstp_backend_protocol_errors_total", "counter",
           "Malformed or refused input, by return code (HTTP, PROXY, SSTP, binding).");
    for (int rc = SSTP_OK + 1; rc < SSTP_RC_COUNT; rc++)
        if (st->proto_err[rc])
            fprintf(f, "sstp_backend_protocol_errors_total{rc=\"%s\"} %llu\n",
                    sstp_rc_name((enum sstp_rc)rc), (unsigned long long)st->proto_err[rc]);
    family(f, "sstp_backend_hdlc_errors_total", "counter", "Frames from pppd dropped, by reason.");
    for (int rc = SSTP_OK + 1; rc < SSTP_RC_COUNT; rc++)
        if (st->hdlc_err[rc])
            fprintf(f, "sstp_backend_hdlc_errors_total{rc=\"%s\"} %llu\n",
                    sstp_rc_name((enum sstp_rc)rc), (unsigned long long)st->hdlc_err[rc]);
    one(f, "sstp_backend_tls_failures_total", "counter", "TLS handshakes that failed.",
        (unsigned long long)st->tls_fail);
    one(f, "sstp_backend_handshake_timeouts_total", "counter",
        "Connections closed before their request head.", (unsigned long long)st->handshake_timeout);
    one(f, "sstp_backend_connect_request_timeouts_total", "counter",
        "Calls closed for no CALL_CONNECT_REQUEST within sstp.connect_request_timeout of their request head.",
        (unsigned long long)st->connect_request_timeout);
    one(f, "sstp_backend_probes_total", "counter", "HEAD health probes answered.",
        (unsigned long long)st->probes);
    one(f, "sstp_backend_sessions_started_total", "counter", "SSTP requests accepted.",
        (unsigned long long)st->sessions_started);
    one(f, "sstp_backend_sessions_connected_total", "counter", "Calls with a verified crypto binding.",
        (unsigned long long)st->sessions_connected);
    one(f, "sstp_backend_sessions_ended_total", "counter", "Sessions freed.",
        (unsigned long long)st->sessions_ended);
    family(f, "sstp_backend_bindings_total", "counter", "Crypto binding checks, by result.");
    fprintf(f, "sstp_backend_bindings_total{result=\"ok\"} %llu\n", (unsigned long long)st->binding_ok);
    fprintf(f, "sstp_backend_bindings_total{result=\"fail\"} %llu\n", (unsigned long long)st->binding_fail);
    one(f, "sstp_backend_pppd_spawned_total", "counter", "pppd processes started.",
        (unsigned long long)st->pppd_spawned);
    one(f, "sstp_backend_pppd_spawn_failures_total", "counter", "pppd processes that could not start.",
        (unsigned long long)st->pppd_spawn_fail);
    one(f, "sstp_backend_pppd_killed_total", "counter", "pppd processes that needed SIGKILL.",
        (unsigned long long)st->pppd_killed);
    one(f, "sstp_backend_plugin_bad_messages_total", "counter", "Malformed messages from the pppd plugin.",
        (unsigned long long)st->plugin_bad_msg);
    one(f, "sstp_backend_reauthentications_total", "counter",
        "Second PPP authentications on a call (each ended the call).",
        (unsigned long long)st->auth_again);
    one(f, "sstp_backend_unsafe_ids_total", "counter",
        "Correlation or session ids not passed to pppd's scripts (charset or length).",
        (unsigned long long)st->unsafe_ids);
    family(f, "sstp_backend_bytes_total", "counter", "Bytes of finished sessions, after TLS.");
    fprintf(f, "sstp_backend_bytes_total{direction=\"in\"} %llu\n", (unsigned long long)st->bytes_in);
    fprintf(f, "sstp_backend_bytes_total{direction=\"out\"} %llu\n", (unsigned long long)st->bytes_out);
    one(f, "sstp_backend_draining", "gauge", "1 while drained (no new sessions).",
        be_fleet_accepting(s->fleet) && !s->stopping ? 0 : 1);
    if (s->fleet)
        write_fleet(f, s->fleet);
    cert_metrics(f, s);
    return ferror(f) ? -1 : 0;
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
    if (net_addr_parse(&a, addr) == -1 || admin_start(&s->admin, s->loop, &a, &hooks) == -1) {
        log_error("admin_fail", "addr=%s", addr);
        return -1;
    }
    log_info("admin", "addr=%s", addr);
    return 0;
}

void be_metrics_stop(struct be_server *s)
{
    admin_stop(&s->admin);
}
