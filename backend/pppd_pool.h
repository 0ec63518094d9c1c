/* pppd_pool.h — pppd processes started before their sessions (pppd.pool_size).
 *
 * Each member is a pppd spawned with `sstp-lb-pool` on its own pty (pppd.h):
 * it loads its plugins, reads its options, sets its tty up and makes its
 * ppp unit, then its plugin says READY and waits. A session takes a ready
 * member with pppd_pool_take, which sends START with the session's values
 * (plugin-proto.h) and hands over the pid and both fds; the pool starts a
 * replacement once that session's link is up (pppd_pool_settled), so the
 * replacement's start-up does not compete with the session's own, or a few
 * seconds after the take at the latest. A member serves one session, then exits with
 * it. Sessions never wait for the pool: with no ready member, the caller
 * spawns a pppd as without a pool. A member that dies is counted and
 * replaced after a delay that doubles with each death in a row (no fork
 * storm when pppd cannot start). Members start at nice 10 (as root) and
 * get 0 back when taken. pppd_pool_stop closes every member's
 * socket and sends SIGTERM; pppd_pool_cleanup reaps what is left. */
#ifndef SSTP_LB_BACKEND_PPPD_POOL_H
#define SSTP_LB_BACKEND_PPPD_POOL_H

#include <ev.h>
#include <stdbool.h>
#include <stdint.h>

#include "backend/pppd.h"

#define PPPD_POOL_MAX 64

struct pppd_pool;

struct pppd_pool_member {
    struct pppd_pool *pool;
    struct pppd_child c;        /* pid 0: slot free */
    ev_io plugin_r;             /* READY, or EOF */
    ev_child child;
    ev_tstamp spawned_at;
    bool ready;                 /* READY seen; implies pid != 0 (release clears it) */
};

struct pppd_pool_stats {
    uint64_t started;   /* members spawned */
    uint64_t taken;     /* handed to a session */
    uint64_t died;      /* exited (or were dropped) before a session took them */
    uint64_t empty;     /* a session found no ready member and spawned its own */
};

struct pppd_pool {
    struct ev_loop *loop;
    struct pppd_spawn_args args;    /* path, options, plugin; pooled = 1 */
    int size;                       /* wanted members; 0 = off */
    struct pppd_pool_member m[PPPD_POOL_MAX];
    ev_timer refill;
    unsigned deaths_in_row;         /* since the last READY: the backoff */
    bool stopping;
    bool renice;                    /* members start at a higher nice (root only) */
    struct pppd_pool_stats stats;
};

/* pppd_pool_start spawns size members (0: the pool stays off). path,
 * options and plugin must outlive the pool. */
void pppd_pool_start(struct pppd_pool *p, struct ev_loop *loop, int size, const char *path,
                     const char *options, const char *plugin);
/* pppd_pool_take hands a ready member to a session: START with a's
 * session_id, client_ip and correlation_id sent (its path, options and
 * plugin are the pool's own), its watchers stopped, *out holds pid and fds
 * (the caller watches the child from now on). Returns 0, or -1 when no
 * member is ready (counted as empty; the caller spawns its own with a). */
int pppd_pool_take(struct pppd_pool *p, const struct pppd_spawn_args *a, struct pppd_child *out);
/* pppd_pool_settled: a session that took a member has its link up (or
 * ended): its replacement may start now rather than at the fallback
 * delay. Nothing while members keep dying (the backoff governs). */
void pppd_pool_settled(struct pppd_pool *p);
/* pppd_pool_ready counts members waiting for a session. */
int pppd_pool_ready(const struct pppd_pool *p);
/* pppd_pool_stop ends every member (socket closed, SIGTERM); no refill. */
void pppd_pool_stop(struct pppd_pool *p);
/* pppd_pool_cleanup reaps what pppd_pool_stop ended (SIGKILL after a
 * short wait): no member survives the backend. */
void pppd_pool_cleanup(struct pppd_pool *p);

#endif
