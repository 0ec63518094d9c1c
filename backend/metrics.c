/* metrics.c — sstp-backend's admin listener: /healthz, /readyz and the
 * counters of struct be_stats as Prometheus text on /metrics. One process,
 * one loop: the counters are read where they are written. */
#include "backend/metrics.h"

#include <stdio.h>
#include <string.h>

#include "backend/fleet.h"
#include "backend/server.h"
#include "core/log.h"
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
        be_fleet_accepting(s) && !s->stopping ? 0 : 1);
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
    if (!be_fleet_accepting(s)) {
        snprintf(why, why_len, "drained");
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
