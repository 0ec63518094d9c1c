/* server.h — sstp-backend's process state: listeners, sessions, counters.
 *
 * One libev loop (the default loop, which also reaps pppd children) serves
 * every session; pppd does the heavy lifting per session, so one loop is
 * plenty. All process-wide state lives in struct be_server. */
#ifndef SSTP_LB_BACKEND_SERVER_H
#define SSTP_LB_BACKEND_SERVER_H

#include <ev.h>
#include <openssl/ssl.h>
#include <stdbool.h>
#include <stdint.h>

#include "backend/config.h"
#include "backend/pppd_pool.h"
#include "core/admin.h"
#include "core/buf.h"
#include "core/heap.h"
#include "core/listener.h"
#include "core/log.h"
#include "core/ratelimit.h"
#include "core/srclimit.h"
#include "core/tls.h"
#include "sstp/rc.h"

enum be_listener_kind {
    BE_LISTEN_TLS = 0,   /* clients, direct TLS */
    BE_LISTEN_PROXY,     /* sstp-proxy, plain TCP + PROXY header */
    BE_LISTEN_MTLS,      /* sstp-proxy, TLS with client certificate + PROXY header */
    BE_LISTEN_COUNT
};

struct be_listener {
    struct listener l;          /* the accept loop (core/listener) */
    int fd;                     /* -1: not opened */
    enum be_listener_kind kind;
    struct be_server *srv;
};

/* Why connections were refused or sessions ended badly; each is a counter
 * and a log token. */
#define BE_REFUSE_LIST(X) \
    X(MAX_SESSIONS, "max_sessions") \
    X(MAX_NEGOTIATING, "max_negotiating") \
    X(RATE, "per_source_rate") \
    X(UNTRUSTED_SOURCE, "untrusted_source") \
    X(UNEXPECTED_PROXY_HEADER, "proxy_header_on_direct_listener") \
    X(DRAINING, "draining") \
    X(PER_SOURCE_NEGOTIATING, "max_negotiating_per_source") \
    X(ACCEPT_ERROR, "accept_error")

enum be_refuse {
#define X(n, s) BE_REFUSE_##n,
    BE_REFUSE_LIST(X)
#undef X
    BE_REFUSE_COUNT
};

struct be_stats {
    uint64_t accepted[BE_LISTEN_COUNT];
    uint64_t refused[BE_REFUSE_COUNT];
    uint64_t proto_err[SSTP_RC_COUNT];  /* by sstp_rc: HTTP, PROXY, SSTP errors */
    uint64_t tls_fail, handshake_timeout;
    uint64_t connect_request_timeout;   /* request head, then no CALL_CONNECT_REQUEST */
    uint64_t probes;                    /* HEAD health probes answered */
    uint64_t sessions_started, sessions_connected, sessions_ended;
    uint64_t binding_ok, binding_fail;
    uint64_t pppd_spawned, pppd_spawn_fail, pppd_killed;
    uint64_t plugin_bad_msg;
    uint64_t auth_again;                /* second AUTH reports (re-authentication) */
    uint64_t unsafe_ids;                /* correlation/session ids dropped from pppd's env */
    uint64_t hdlc_err[SSTP_RC_COUNT];   /* frames from pppd dropped */
    uint64_t bytes_in, bytes_out;
};

struct be_session;
struct be_fleet;

/* One log line per interval for an event a client can repeat at will (the
 * line says how many were left out): core/log's limiter, one line per
 * BE_LOG_LIMIT_S. be_log_limit_allow is its old name, still called by
 * session*.c. */
#define BE_LOG_LIMIT_S 10.0
static inline bool be_log_limit_allow(struct log_limit *l, ev_tstamp now, uint64_t *out_suppressed)
{
    return log_limit_allow(l, now, out_suppressed);
}

struct be_server {
    struct ev_loop *loop;
    struct be_config *cfg;
    SSL_CTX *tls_ctx;                   /* tls listener */
    SSL_CTX *mtls_ctx;                  /* mtls listener (requires proxy certificates) */
    struct tls_cert_hashes own;         /* of tls.cert: trusted on the direct listener */
    struct be_hash_list direct_trust;   /* own + sstp.trusted_cert_hash: the tls listener's */
    struct be_listener listeners[BE_LISTEN_COUNT];
    struct buf_pool pool;
    struct ratelimit rate;
    struct srclimit negotiating_by_source; /* max_negotiating_per_source */
    struct log_limit log_refuse_accept, log_refuse_source, log_auth_refused, log_unsafe_id;
    struct log_limit log_connect_request;
    struct be_session *sessions;        /* doubly linked */
    struct be_session *dead;            /* ended, freed by `reaper` after the callback */
    ev_check reaper;
    uint64_t n_sessions, n_negotiating, next_id;
    uint64_t n_held_refusals;           /* sessions accepted only to be answered 503 */
    bool stopping;
    ev_signal sigterm, sigint, sighup;
    ev_timer stop_deadline;
    ev_timer cert_check;                /* tls.cert expiry, every TLS_EXPIRY_CHECK_S (metrics.c) */
    struct heap_watch heap;             /* malloc heap gauge, trimmed after many sessions left */
    double cert_warned;                 /* when cert_expiring was last logged (0: never) */
    struct be_stats stats;
    struct be_fleet *fleet;             /* Redis registry/stats/policy; NULL = standalone */
    struct admin admin;                 /* /healthz, /readyz, /metrics */
    struct pppd_pool pppd_pool;         /* pppd.pool_size members waiting for sessions */
};

/* be_refuse_name: the log token and metric label of a refusal reason. */
const char *be_refuse_name(enum be_refuse why);

/* be_server_start opens listeners and TLS contexts. 0, or -1 (logged). */
int be_server_start(struct be_server *s, struct ev_loop *loop, struct be_config *cfg);
/* be_server_stop begins a graceful stop: no new connections, every session
 * gets CALL_DISCONNECT; the loop ends when the last one is gone (or at a
 * deadline). */
void be_server_stop(struct be_server *s);
void be_server_cleanup(struct be_server *s);
/* be_server_log_stats writes the counters as one log line. */
void be_server_log_stats(const struct be_server *s);

#endif
