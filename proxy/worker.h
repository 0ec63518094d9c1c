/* worker.h — one sstp-proxy worker process: its event loop, its own
 * SO_REUSEPORT listeners, its connections, its TLS and backend generations,
 * its block of the shared metrics.
 *
 * All state of a worker is in struct px_worker, passed explicitly. Signals:
 * SIGHUP reloads the configuration and certificates (established
 * connections keep what they started with), SIGTERM/SIGINT drain (stop
 * accepting, let sessions run up to session.drain_timeout, then close
 * them). */
#ifndef SSTP_LB_PROXY_WORKER_H
#define SSTP_LB_PROXY_WORKER_H

#include <ev.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/heap.h"
#include "core/listener.h"
#include "core/log.h"
#include "core/metrics.h"
#include "core/ratelimit.h"
#include "core/srclimit.h"
#include "lb/health.h"
#include "lb/lb.h"
#include "lb/redis.h"
#include "lb/registry.h"
#include "proxy/config.h"
#include "proxy/conn.h"
#include "proxy/stats.h"
#include "proxy/tls_ctx.h"

#define PX_EXIT_OK     0
#define PX_EXIT_FAIL   1 /* died at run time: the master restarts it */
#define PX_EXIT_CONFIG 3 /* cannot start (listener, certificate): the master gives up */

struct px_listener {
    struct listener l;          /* the accept loop (core/listener) */
    int fd;                     /* -1: closed */
    bool proxy;                 /* PROXY header expected (bind ... proxy) */
    bool has_local;             /* bound to one address: `local` (no getsockname
                                 * per connection); false for a wildcard */
    struct net_addr local;
    char text[NET_ADDR_STR_MAX];
    struct px_worker *wk;
};

struct px_worker {
    struct ev_loop *loop;
    unsigned index;             /* worker number = metrics block */
    const char *cfg_path;
    struct px_config *cfg;      /* current configuration */
    struct px_tls *tls;         /* current TLS generation (ref) */
    struct lb *lb;              /* current backend generation: static servers + registry */
    struct px_fleet *fleet;     /* Redis: registry, affinity, counters (NULL without redis.url) */
    struct lb_health *health;   /* active checks of lb's backends (NULL: health.probe = none) */
    struct lb_health_stats health_pub; /* health counters already in the metrics */
    struct lb_reg_stats registry_pub;  /* registry counters already in the metrics */
    struct rds_stats redis_pub; /* the Redis client's counters already in the metrics */
    char shadowed[256];         /* registered names hidden by static servers, as last logged */

    struct px_listener *listeners;
    size_t n_listeners;
    bool accept_paused;         /* at max_conns: the listeners held (an EMFILE pause is theirs) */
    bool unlistened;            /* at max_conns: out of the SO_REUSEPORT groups (leave_groups) */

    struct buf_pool pool;
    BIO_METHOD *wstage_meth;    /* the staging write BIO of relayed clients */
    uint64_t n_conns, max_conns, n_sessions;
    uint64_t n_handshakes;      /* connections not relayed yet (limits.max_handshakes) */
    struct ratelimit rate;      /* limits.per_source_rate */
    struct srclimit src;        /* limits.per_source_conns */
    /* sessions waiting for relay memory (limits.relay_memory), first come
     * first served; `memory_check` wakes them once buffers were given back */
    struct px_conn *mem_head, *mem_tail;
    ev_check memory_check;
    size_t buf_peak;            /* most pool bytes held at once */
    struct heap_gauge heap;     /* sampled and trimmed by the tick */
    struct px_conn *conns;      /* live connections, doubly linked */
    struct px_conn *dead;       /* closed, freed by `reaper` after the callback */
    ev_check reaper;

    struct metrics *m;
    uint64_t *mv;               /* this worker's block */

    bool draining;
    ev_timer drain_timer;
    ev_timer tick;              /* publishes gauges once a second */
    ev_signal sighup, sigterm, sigint;
    /* per-connection refusal lines (px_worker_log_ok): PX_LOG_BURST a second */
    struct log_limit log_limit;
};

#define PX_LOG_BURST 32 /* refusal lines per second per worker: a scan or flood writes a summary */

/* px_worker_main runs a worker until it has drained: opens its listeners,
 * builds its backends from cfg, serves with the TLS generation tls (the
 * master's, already loaded: a restart reads no file). Takes over cfg and
 * one reference of tls. Returns a PX_EXIT_* code. */
int px_worker_main(struct ev_loop *loop, unsigned index, const char *cfg_path,
                   struct px_config *cfg, struct metrics *m, struct px_tls *tls);

/* px_worker_log_ok: a per-connection refusal line (tls_fail, timeout,
 * refuse, rejects, resource errors) may be written now: at most
 * PX_LOG_BURST a second per worker, so a client cannot flood the log. A
 * dropped line is counted; the next second's first call (or the worker's
 * tick) writes one "log_suppressed" line with the number. */
bool px_worker_log_ok(struct px_worker *w);

/* px_worker_memory_ok: a relay of c may take one more big buffer now
 * (limits.relay_memory). If not, c waits in line (px_conn.mem_wait) and is
 * run again once memory was given back; counted. */
bool px_worker_memory_ok(struct px_worker *w, struct px_conn *c);
/* px_worker_memory_leave takes c out of the line (it closes). */
void px_worker_memory_leave(struct px_worker *w, struct px_conn *c);
/* px_worker_buf_taken records the pool's high-water mark. */
void px_worker_buf_taken(struct px_worker *w);

/* Used by conn.c. */
void px_worker_conn_closed(struct px_worker *w, struct px_conn *c);
/* px_worker_accepting: a HEAD probe would get 200 — not draining, under
 * max_conns, a backend available. */
bool px_worker_accepting(const struct px_worker *w);
/* px_worker_backend_slot publishes backend be under its name in the
 * backend metric families and returns its value index. */
size_t px_worker_backend_slot(struct px_worker *w, struct lb_backend *be);
/* px_worker_registry takes a registry answer (fleet.c): when the list
 * changed, a new backend generation of the static servers and the
 * registered backends replaces the current one, as a reload does; the
 * fleet facts (sessions, drains) are applied every time. */
void px_worker_registry(struct px_worker *w, const struct lb_reg_list *list, bool changed);

#endif
