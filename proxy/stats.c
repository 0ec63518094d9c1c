/* stats.c — the table of sstp-proxy's metric families (see stats.h). */
#include "proxy/stats.h"

#include "lb/registry.h"
#include "lb/redis.h"

static const char *const refuse_labels[PXR_COUNT] = {
    "max_conns", "untrusted_proxy_source", "accept_error", "draining", "out_of_memory",
    "source_rate", "source_conns", "source_table_full", "handshakes",
};
static const char *const timeout_labels[PXT_COUNT] = {
    "handshake", "request", "backend", "idle", "fin",
};
static const char *const ktls_mode_labels[PXK_COUNT] = { "client_tx", "client_rx", "client_kernel_only",
                                                "backend_tx", "backend_rx", "backend_kernel_only" };
static const char *const ktls_event_labels[PXKE_COUNT] = { "fallback", "key_update", "renegotiation", "alert",
                                                 "record" };
static const char *const dir_labels[] = { "client_to_backend", "backend_to_client" };
static const char *const probe_labels[] = { "200", "503" };
static const char *const reload_labels[] = { "ok", "failed" };
static const char *const nb_labels[PXN_COUNT] = { "no_backend_up", "no_backend_for_tenant",
                                                  "attempts_failed" };
static const char *const heap_labels[] = { "in_use", "free" };
static const char *const check_labels[] = { "ok", "fail", "stretched" };
static const char *const cmd_labels[PXQ_COUNT] = { "sent", "error", "dropped_down", "dropped_full" };
static const char *const rds_err_labels[RDS_ERR_COUNT] = {
#define X(n, tok, s) tok,
    RDS_ERR_LIST(X)
#undef X
};
static const char *const registry_labels[] = { "same", "changed", "error" };
/* every reason but LB_REG_OK, in lb_reg_rc order (index rc - 1) */
#define PX_REG_LABEL(n, s) s,
static const char *const reg_all_labels[LB_REG_RC_COUNT] = { LB_REG_RC_LIST(PX_REG_LABEL) };
#undef PX_REG_LABEL
static const char *const aff_labels[PXA_COUNT] = { "hit", "miss", "stale", "timeout", "unavailable",
                                                   "no_key" };

static const char *const tls_policy_labels[PXTP_COUNT] = {
    "ticket_cert_not_served", "no_verified_client_cert", "cert_unknown", "ocsp_not_stapled",
};
static const char *const attempt_labels[PXF_COUNT] = { "backend", "slow", "busy", "request", "local",
                                                       "refused" };
static const char *const resource_labels[PXE_COUNT] = { "emfile", "enfile", "enobufs", "enomem",
                                                        "eaddrnotavail", "ssl", "other" };

/* The codes a client or a load balancer can cause at the proxy. */
static const char *const rc_labels[] = {
#define PX_RC_LABEL(n, s) #n,
    SSTP_RC_LIST_HTTP(PX_RC_LABEL) SSTP_RC_LIST_PP(PX_RC_LABEL) SSTP_RC_LIST_HELLO(PX_RC_LABEL)
#undef PX_RC_LABEL
    "E_NOSPACE",
};

#define N(a) (sizeof(a) / sizeof((a)[0]))
#define FAM(nm, hlp, ty, ag, lbl, vals, n) \
    (struct metrics_family){ nm, hlp, ty, ag, lbl, vals, n, 0, 0 }

void px_stats_table(struct metrics_family out[PXM_COUNT])
{
    out[PXM_CONNECTIONS] = FAM("sstp_proxy_connections_total", "Connections accepted.",
                               METRICS_COUNTER, METRICS_SUM, NULL, NULL, 0);
    out[PXM_CONNECTIONS_ACTIVE] = FAM("sstp_proxy_connections", "Connections open now.",
                                      METRICS_GAUGE, METRICS_SUM, NULL, NULL, 0);
    out[PXM_SESSIONS] = FAM("sstp_proxy_sessions_total", "Sessions relayed to a backend.",
                            METRICS_COUNTER, METRICS_SUM, NULL, NULL, 0);
    out[PXM_SESSIONS_ACTIVE] = FAM("sstp_proxy_sessions", "Sessions being relayed now.",
                                   METRICS_GAUGE, METRICS_SUM, NULL, NULL, 0);
    out[PXM_REFUSED] = FAM("sstp_proxy_refused_total",
                           "Connections closed at accept or right after a PROXY header, by reason.",
                           METRICS_COUNTER, METRICS_SUM, "reason", refuse_labels, N(refuse_labels));
    out[PXM_PROTO_ERRORS] = FAM("sstp_proxy_rejects_total",
                                "PROXY headers, peeked TLS ClientHellos and HTTP requests rejected, by return code.",
                                METRICS_COUNTER, METRICS_SUM, "rc", rc_labels, N(rc_labels));
    out[PXM_TLS_HANDSHAKES] = FAM("sstp_proxy_tls_handshakes_total", "TLS handshakes done, by version.",
                                  METRICS_COUNTER, METRICS_SUM, "version", NULL, 8);
    out[PXM_TLS_CIPHERS] = FAM("sstp_proxy_tls_ciphers_total", "TLS handshakes done, by cipher.",
                               METRICS_COUNTER, METRICS_SUM, "cipher", NULL, 16);
    out[PXM_TLS_FAILURES] = FAM("sstp_proxy_tls_failures_total", "TLS handshakes that failed.",
                                METRICS_COUNTER, METRICS_SUM, NULL, NULL, 0);
    out[PXM_TLS_RESUMED] = FAM("sstp_proxy_tls_resumed_total", "TLS handshakes resumed from a ticket.",
                               METRICS_COUNTER, METRICS_SUM, NULL, NULL, 0);
    out[PXM_TIMEOUTS] = FAM("sstp_proxy_timeouts_total", "Connections closed by a timer, by phase.",
                            METRICS_COUNTER, METRICS_SUM, "phase", timeout_labels, N(timeout_labels));
    out[PXM_PROBES] = FAM("sstp_proxy_probes_total", "HEAD health probes answered, by status.",
                          METRICS_COUNTER, METRICS_SUM, "status", probe_labels, N(probe_labels));
    out[PXM_BYTES] = FAM("sstp_proxy_bytes_total", "Bytes relayed after TLS, by direction.",
                         METRICS_COUNTER, METRICS_SUM, "direction", dir_labels, N(dir_labels));
    out[PXM_TERM] = FAM("sstp_proxy_terminations_total",
                        "Connections ended, by termination code (who, phase; -- normal).",
                        METRICS_COUNTER, METRICS_SUM, "term", NULL, 32);
    out[PXM_BACKEND_UP] = FAM("sstp_proxy_backend_up",
                              "1 if the backend is up, 0 if marked down (by any worker).",
                              METRICS_GAUGE, METRICS_MIN, "backend", NULL, PX_BACKEND_SLOTS);
    out[PXM_BACKEND_ACTIVE] = FAM("sstp_proxy_backend_sessions", "Sessions on the backend now.",
                                  METRICS_GAUGE, METRICS_SUM, "backend", NULL, PX_BACKEND_SLOTS);
    out[PXM_BACKEND_SESSIONS] = FAM("sstp_proxy_backend_sessions_total",
                                    "Sessions relayed to the backend.",
                                    METRICS_COUNTER, METRICS_SUM, "backend", NULL, PX_BACKEND_SLOTS);
    out[PXM_BACKEND_FAILURES] = FAM("sstp_proxy_backend_failures_total",
                                    "Connection attempts that failed before any byte was relayed.",
                                    METRICS_COUNTER, METRICS_SUM, "backend", NULL, PX_BACKEND_SLOTS);
    out[PXM_RETRIES] = FAM("sstp_proxy_retries_total", "Sessions retried on another backend.",
                           METRICS_COUNTER, METRICS_SUM, NULL, NULL, 0);
    out[PXM_NO_BACKEND] = FAM("sstp_proxy_no_backend_total",
                              "Sessions answered 503 because no backend could take them.",
                              METRICS_COUNTER, METRICS_SUM, NULL, NULL, 0);
    out[PXM_BUFFERS] = FAM("sstp_proxy_buffers", "Relay buffers in use.",
                           METRICS_GAUGE, METRICS_SUM, NULL, NULL, 0);
    out[PXM_WORKER_READY] = FAM("sstp_proxy_workers_ready",
                                "Workers listening with at least one backend available.",
                                METRICS_GAUGE, METRICS_SUM, NULL, NULL, 0);
    out[PXM_WORKERS] = FAM("sstp_proxy_workers", "Worker processes running.",
                           METRICS_GAUGE, METRICS_SUM, NULL, NULL, 0);
    out[PXM_WORKER_RESTARTS] = FAM("sstp_proxy_worker_restarts_total",
                                   "Worker processes restarted after they died.",
                                   METRICS_COUNTER, METRICS_SUM, NULL, NULL, 0);
    out[PXM_RELOADS] = FAM("sstp_proxy_reloads_total", "SIGHUP reloads of the master, by result.",
                           METRICS_COUNTER, METRICS_SUM, "result", reload_labels, N(reload_labels));
    out[PXM_NO_BACKEND_REASON] = FAM("sstp_proxy_no_backend_reasons_total",
                                     "Sessions answered 503, by reason.",
                                     METRICS_COUNTER, METRICS_SUM, "reason", nb_labels, N(nb_labels));
    out[PXM_BACKEND_HEALTHY] = FAM("sstp_proxy_backend_healthy",
                                   "1 if the backend passes its active health checks, 0 if not "
                                   "(by any worker).",
                                   METRICS_GAUGE, METRICS_MIN, "backend", NULL, PX_BACKEND_SLOTS);
    out[PXM_HEALTH_CHECKS] = FAM("sstp_proxy_health_checks_total", "Active health checks, by result (stretched: a timeout not counted, the proxy's own loop had stalled; the check got a fresh timeout).",
                                 METRICS_COUNTER, METRICS_SUM, "result", check_labels, N(check_labels));
    out[PXM_REDIS_CONNECTED] = FAM("sstp_proxy_redis_connected", "Workers connected to Redis now.",
                                   METRICS_GAUGE, METRICS_SUM, NULL, NULL, 0);
    out[PXM_REDIS_COMMANDS] = FAM("sstp_proxy_redis_commands_total",
                                  "Redis commands: sent, failed (error or lost reply), refused "
                                  "(Redis down, or too many in flight).",
                                  METRICS_COUNTER, METRICS_SUM, "result", cmd_labels, N(cmd_labels));
    out[PXM_REGISTRY_REFRESHES] = FAM("sstp_proxy_registry_refreshes_total",
                                      "Backend registry reads, by whether the list changed, or error (no list: the last stays in use).",
                                      METRICS_COUNTER, METRICS_SUM, "result", registry_labels,
                                      N(registry_labels));
    out[PXM_REGISTRY_BACKENDS] = FAM("sstp_proxy_registry_backends",
                                     "Backends registered in Redis, as last read.",
                                     METRICS_GAUGE, METRICS_MAX, NULL, NULL, 0);
    out[PXM_REDIS_ERRORS] = FAM("sstp_proxy_redis_errors_total",
                                "Redis connections that failed or were dropped, by reason (auth, "
                                "select, timeout, readonly, ...).",
                                METRICS_COUNTER, METRICS_SUM, "reason", rds_err_labels,
                                N(rds_err_labels));
    out[PXM_AFFINITY] = FAM("sstp_proxy_affinity_total", "Affinity look-ups of new sessions, by result.",
                            METRICS_COUNTER, METRICS_SUM, "result", aff_labels, N(aff_labels));
    out[PXM_TLS_POLICY] = FAM("sstp_proxy_tls_policy_total",
                              "TLS trust decisions: tickets refused (full handshake), connections "
                              "refused after the handshake, OCSP staples dropped at load, by reason.",
                              METRICS_COUNTER, METRICS_SUM, "reason", tls_policy_labels,
                              N(tls_policy_labels));
    out[PXM_REGISTRY_IGNORED] = FAM("sstp_proxy_registry_ignored_total",
                                    "Registry entries ignored, counted at each read, by reason "
                                    "(malformed, address forbidden or outside redis.registry_allow, "
                                    "not mtls).",
                                    METRICS_COUNTER, METRICS_SUM, "reason", reg_all_labels + 1,
                                    LB_REG_RC_COUNT - 1);
    out[PXM_CERT_NOT_AFTER] = FAM("sstp_proxy_cert_not_after_seconds",
                                  "notAfter of each served certificate (unix seconds), by file name "
                                  "(SSTP clients refuse an expired one).",
                                  METRICS_GAUGE, METRICS_MAX, "cert", NULL, PX_CERT_SLOTS);
    out[PXM_OCSP_NEXT_UPDATE] = FAM("sstp_proxy_ocsp_next_update_seconds",
                                    "nextUpdate of the OCSP response stapled with each certificate "
                                    "(unix seconds), by file name; absent when none is stapled.",
                                    METRICS_GAUGE, METRICS_MAX, "cert", NULL, PX_CERT_SLOTS);
    out[PXM_REGISTRY_HELD] = FAM("sstp_proxy_registry_held_total",
                                 "Registry reads not taken: empty or shrunken to less than half, "
                                 "within redis.registry_grace.",
                                 METRICS_COUNTER, METRICS_SUM, NULL, NULL, 0);
    out[PXM_ATTEMPTS_FAILED] = FAM("sstp_proxy_backend_attempts_failed_total",
                                   "Backend attempts given up, by cause: backend (its fault, "
                                   "counted against it), slow (no answer in time), busy (503), "
                                   "request (4xx, passed to the client), local (our resources), "
                                   "refused (closed before answering: full or draining).",
                                   METRICS_COUNTER, METRICS_SUM, "cause", attempt_labels,
                                   N(attempt_labels));
    out[PXM_RESOURCE_ERRORS] = FAM("sstp_proxy_resource_errors_total",
                                   "Backend attempts that failed for lack of this proxy's own "
                                   "resources (never blamed on the backend), by reason.",
                                   METRICS_COUNTER, METRICS_SUM, "reason", resource_labels,
                                   N(resource_labels));
    out[PXM_PANIC_PICKS] = FAM("sstp_proxy_panic_picks_total",
                               "Backends picked in panic mode: too few were up, down marks ignored.",
                               METRICS_COUNTER, METRICS_SUM, NULL, NULL, 0);
    out[PXM_PAUSES] = FAM("sstp_proxy_accept_pauses_total",
                          "Times a worker at max_conns stopped listening (its share of new "
                          "connections goes to the other workers).",
                          METRICS_COUNTER, METRICS_SUM, NULL, NULL, 0);
    out[PXM_HANDSHAKES] = FAM("sstp_proxy_handshakes",
                              "Connections in their handshake now (accept until the backend answered).",
                              METRICS_GAUGE, METRICS_SUM, NULL, NULL, 0);
    out[PXM_MEMORY_WAITS] = FAM("sstp_proxy_relay_memory_waits_total",
                                "Relay reads put off until a buffer was given back "
                                "(limits.relay_memory taken).",
                                METRICS_COUNTER, METRICS_SUM, NULL, NULL, 0);
    out[PXM_BUFFER_BYTES] = FAM("sstp_proxy_buffer_bytes", "Bytes of buffers held now.",
                                METRICS_GAUGE, METRICS_SUM, NULL, NULL, 0);
    out[PXM_BUFFER_BYTES_PEAK] = FAM("sstp_proxy_buffer_bytes_peak",
                                     "Most bytes of buffers one worker held at once since it started.",
                                     METRICS_GAUGE, METRICS_MAX, NULL, NULL, 0);
    out[PXM_HEAP_BYTES] = FAM("sstp_proxy_heap_bytes",
                              "Bytes of the workers' malloc heaps: in use, and free but kept by malloc.",
                              METRICS_GAUGE, METRICS_SUM, "state", heap_labels, N(heap_labels));
    out[PXM_HEAP_TRIMS] = FAM("sstp_proxy_heap_trims_total",
                              "Free heap memory given back to the kernel after many sessions left (malloc_trim).",
                              METRICS_COUNTER, METRICS_SUM, NULL, NULL, 0);
    out[PXM_KTLS_SESSIONS] = FAM("sstp_proxy_ktls_sessions",
                                 "Relayed sessions whose TLS the kernel does now (tls.ktls), by side "
                                 "and way: tx encrypts, rx decrypts, kernel_only: OpenSSL's state freed.",
                                 METRICS_GAUGE, METRICS_SUM, "mode", ktls_mode_labels,
                                 N(ktls_mode_labels));
    out[PXM_KTLS_EVENTS] = FAM("sstp_proxy_ktls_events_total",
                               "Kernel TLS: client handshakes left in user space although enabled "
                               "(fallback), and sessions closed on a record it cannot follow "
                               "(key_update, renegotiation, alert, record).",
                               METRICS_COUNTER, METRICS_SUM, "event", ktls_event_labels,
                               N(ktls_event_labels));
}

size_t px_stats_rc_index(const struct metrics *m, enum sstp_rc rc)
{
    /* the last label is E_NOSPACE, which also takes unexpected codes */
    return metrics_slot(m, 0, PXM_PROTO_ERRORS, sstp_rc_name(rc));
}
