/* fleet.h — one sstp-proxy worker's part of the Redis schema (lb/schema.h):
 * its own Redis client (lb/redis.c: asynchronous, bounded, reconnecting),
 * the backend registry reader (lb/registry.c) whose list the worker merges
 * with its static servers, the affinity records (lb/affinity.c, used by
 * conn.c), and the worker's fleet counters and reject events, written in
 * one batch every PX_FLEET_FLUSH_S — nothing per packet, nothing per
 * session but the affinity look-up and record.
 *
 * Redis is never waited for: while it is away the registry list last read
 * stays in force, affinity is skipped (counted) and counters accumulate
 * until the next flush that reaches it. */
#ifndef SSTP_LB_PROXY_FLEET_H
#define SSTP_LB_PROXY_FLEET_H

#include <stdbool.h>

#include "lb/registry.h"

#define PX_FLEET_FLUSH_S 5.0   /* fleet counters and reject events: one batch this often */
#define PX_FLEET_REJECTS_MAX 8 /* reject events kept per batch; more are only counted */

struct px_worker;
struct px_fleet;
struct rds;

/* px_fleet_new connects (asynchronously) with the [redis] options of the
 * worker's configuration and starts the registry reader and the flush
 * timer. The registry's answers go to px_worker_registry(). Returns NULL
 * when redis.url is empty or memory runs out (logged). */
struct px_fleet *px_fleet_new(struct px_worker *w);
/* px_fleet_free stops everything; pending replies are dropped. NULL is a
 * no-op. */
void px_fleet_free(struct px_fleet *f);

/* px_fleet_rds: the client, for affinity look-ups and records. */
struct rds *px_fleet_rds(const struct px_fleet *f);
/* px_fleet_registry: the registry list last read (empty before the first). */
const struct lb_reg_list *px_fleet_registry(const struct px_fleet *f);

/* px_fleet_reject queues a reject event (type reject, the session id, the
 * client, the reason) for the next batch; beyond PX_FLEET_REJECTS_MAX per
 * batch it is dropped (the counters still count it). Strings are copied. */
void px_fleet_reject(struct px_fleet *f, const char *sid, const char *client, const char *reason);

/* px_fleet_registry_stats: the registry reader's counters (ignored
 * entries by reason, held reads), running totals. */
const struct lb_reg_stats *px_fleet_registry_stats(const struct px_fleet *f);

/* px_fleet_publish adds the Redis client's counters to the worker's
 * metrics (called by the worker's once-a-second tick). */
void px_fleet_publish(struct px_fleet *f);

#endif
