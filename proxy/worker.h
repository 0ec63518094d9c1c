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
#include "core/metrics.h"
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
    ev_io w;
    int fd;
    bool proxy;                 /* PROXY header expected (bind ... proxy) */
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
    struct rds_stats redis_pub; /* the Redis client's counters already in the metrics */
    char shadowed[256];         /* registered names hidden by static servers, as last logged */
    uint8_t ticket_secret[PX_TICKET_SECRET_LEN]; /* random from the master */

    struct px_listener *listeners;
    size_t n_listeners;
    bool accept_paused;         /* at max_conns, or after EMFILE */
    ev_timer accept_retry;

    struct buf_pool pool;
    BIO_METHOD *wstage_meth;    /* the staging write BIO of relayed clients */
    uint64_t n_conns, max_conns, n_sessions;
    struct px_conn *conns;      /* live connections, doubly linked */
    struct px_conn *dead;       /* closed, freed by `reaper` after the callback */
    ev_check reaper;

    struct metrics *m;
    uint64_t *mv;               /* this worker's block */

    bool draining;
    ev_timer drain_timer;
    ev_timer tick;              /* publishes gauges once a second */
    ev_signal sighup, sigterm, sigint;
    double last_accept_log;     /* rate limit of accept error lines */
};

/* px_worker_main runs a worker until it has drained: opens its listeners,
 * loads its TLS generation and backends from cfg (which it takes over),
 * serves. Returns a PX_EXIT_* code. */
int px_worker_main(struct ev_loop *loop, unsigned index, const char *cfg_path,
                   struct px_config *cfg, struct metrics *m, const uint8_t *ticket_secret);

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
