/* registry.h — the backends that registered themselves in Redis, as seen by
 * a proxy: refreshed every `interval` with one round trip (a Lua script
 * that also drops index entries whose hash expired), handed to the owner
 * as lb_spec entries plus the fleet-wide facts policies use (live sessions,
 * capacity, group, draining).
 *
 * When Redis is away the last known list stays in force (the owner keeps
 * choosing from it and from its static config); nothing blocks. */
#ifndef SSTP_LB_LB_REGISTRY_H
#define SSTP_LB_LB_REGISTRY_H

#include <ev.h>
#include <stdbool.h>
#include <stddef.h>

#include "lb/lb.h"

struct lb_reg_entry {
    struct lb_spec spec;       /* name = backend id, addr, weight, tls (kind mtls), group */
    char group[LB_GROUP_MAX];  /* tenant group, "" = default (also in spec.group) */
    unsigned sessions;         /* live sessions fleet-wide (the backend's own count) */
    unsigned capacity;
    bool draining;
    double heartbeat;          /* unix seconds of its last heartbeat */
};

struct lb_reg_list {
    struct lb_reg_entry *items;
    size_t n;
};

struct rds;
struct lb_registry;

/* Called after each successful refresh with the whole current list, and
 * `changed` true when membership, addresses, weights, groups or draining
 * differ from the previous call (session counts alone do not count). The
 * list is borrowed for the duration of the call. */
typedef void (*lb_registry_fn)(const struct lb_reg_list *list, bool changed, void *ud);

/* lb_registry_new starts refreshing every interval seconds (first refresh
 * at once when Redis is up). `rds` is borrowed. */
struct lb_registry *lb_registry_new(struct ev_loop *loop, struct rds *rds, double interval,
                                    lb_registry_fn fn, void *ud);
void lb_registry_free(struct lb_registry *r);
/* lb_registry_refresh asks now (e.g. right after Redis came back). */
void lb_registry_refresh(struct lb_registry *r);
/* lb_registry_list: the last list received (empty before the first). */
const struct lb_reg_list *lb_registry_list(const struct lb_registry *r);

/* lb_reg_parse turns one Lua script reply row (field/value pairs of a
 * backend hash) into an entry. A weight above LB_WEIGHT_MAX counts as
 * LB_WEIGHT_MAX (backends accept larger ones); a draining backend gets
 * weight 0. Returns 0, or -1 if id or addr are missing or malformed, or the
 * kind is one a proxy cannot use ("tls": clients only, no PROXY header):
 * the row is skipped. Exposed for the unit tests. */
int lb_reg_parse(struct lb_reg_entry *out, const char *const *fields, const char *const *values,
                 size_t n);

/* lb_reg_merge builds the backend list of a generation: every static
 * server, then every registered backend whose name no static server has
 * (static wins). Names of the registered ones left out are written to
 * `shadowed` (comma separated, cut to its size; "" if none). `out` must be
 * empty; the caller frees it with lb_spec_list_free. Returns 0, or -1 out
 * of memory (out emptied). */
int lb_reg_merge(struct lb_spec_list *out, const struct lb_spec_list *statics,
                 const struct lb_reg_list *reg, char *shadowed, size_t shadowed_len);

/* lb_reg_apply copies the registry's run-time facts (live sessions,
 * heartbeat, draining) onto the backends of lb that it lists under the same
 * name and address; the others get none (fleet_known false). A new
 * heartbeat resets the backend's fleet_pending: its count now includes
 * what was sent to it before. reg is borrowed. */
void lb_reg_apply(struct lb *lb, const struct lb_reg_list *reg);

#endif
