/* fleet.h — one sstp-proxy worker's part of the Redis schema (lb/schema.h):
 * its own Redis client (lb/redis.c: asynchronous, bounded, reconnecting),
 * the backend registry reader (lb/registry.c), the proxy's own registry
 * entry (proxy:<id>, a TTL heartbeat), the affinity records of live
 * sessions (renewed while they last), and the worker's counters (fleet-wide
 * and per proxy) and reject events, written in one batch every
 * PX_FLEET_FLUSH_S — nothing per packet.
 *
 * A leaf: it knows nothing of the worker or its connections. The worker
 * hands in hooks (its counters, where registry answers go, Redis up/down);
 * a connection holds an affinity record through a handle it releases.
 *
 * Redis is never waited for: while it is away the registry list last read
 * stays in force, affinity is skipped and counters accumulate until the
 * next flush that Redis acknowledges. */
#ifndef SSTP_LB_PROXY_FLEET_H
#define SSTP_LB_PROXY_FLEET_H

#include <ev.h>
#include <stdbool.h>
#include <stdint.h>

#include "lb/registry.h"
#include "proxy/config.h"

#define PX_FLEET_FLUSH_S 5.0   /* counters, reject events, heartbeat: one batch this often */
#define PX_FLEET_REJECTS_MAX 8 /* reject events kept per batch; more are only counted */
#define PX_FLEET_REJECT_SID_MAX 40

/* The counters a worker reports (running totals since it started); each
 * becomes a field of `stats` and `stats:proxy:<id>` (README "Redis schema"). */
enum px_fleet_counter {
    PX_FC_CONNECTIONS = 0, PX_FC_SESSIONS, PX_FC_REJECTS, PX_FC_TLS_FAILURES, PX_FC_NO_BACKEND,
    PX_FC_BYTES_IN, PX_FC_BYTES_OUT, PX_FC_COUNT
};

struct px_fleet_hooks {
    /* the worker's configuration now (it changes on reload) */
    const struct px_config *(*config)(void *ud);
    void (*counters)(uint64_t out[PX_FC_COUNT], void *ud);
    /* a registry answer (changed: it differs from the last one) */
    void (*registry)(const struct lb_reg_list *list, bool changed, void *ud);
    /* Redis became usable, or stopped being so */
    void (*state)(bool up, void *ud);
    void *ud;
};

struct px_fleet;
struct px_fleet_aff;
struct rds;

/* px_fleet_new connects (asynchronously) with the [redis] options of the
 * hooks' configuration and starts the registry reader and the flush timer.
 * Returns NULL when memory runs out or the options are bad (logged). */
struct px_fleet *px_fleet_new(struct ev_loop *loop, unsigned worker, const struct px_fleet_hooks *hooks);
/* px_fleet_free stops everything; pending replies are dropped; affinity
 * holds still out are freed. NULL is a no-op. */
void px_fleet_free(struct px_fleet *f);

/* px_fleet_rds: the client, for affinity look-ups. */
struct rds *px_fleet_rds(const struct px_fleet *f);
/* px_fleet_registry: the registry list last read (empty before the first). */
const struct lb_reg_list *px_fleet_registry(const struct px_fleet *f);

/* px_fleet_registry_stats: the registry reader's counters (ignored
 * entries by reason, held reads), running totals. */
const struct lb_reg_stats *px_fleet_registry_stats(const struct px_fleet *f);

/* px_fleet_reject queues a reject event (type reject, the session id, the
 * client, the reason) for the next batch; beyond PX_FLEET_REJECTS_MAX per
 * batch it is dropped (the counters still count it). Strings are copied. */
void px_fleet_reject(struct px_fleet *f, const char *sid, const char *client, const char *reason);

/* px_fleet_aff_hold records key -> backend (TTL aff_ttl) and keeps
 * renewing that TTL while the session lives, so a long session's client
 * comes back to it. Returns a handle for px_fleet_aff_release, or NULL
 * (no memory: recorded once, not renewed). Strings are copied. */
struct px_fleet_aff *px_fleet_aff_hold(struct px_fleet *f, const char *key, const char *backend);
/* px_fleet_aff_release: the session ended; the record lives out its TTL.
 * NULL is a no-op. */
void px_fleet_aff_release(struct px_fleet_aff *a);

#endif
