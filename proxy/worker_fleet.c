/* worker_fleet.c — the worker's side of fleet.c: the hooks through which
 * the fleet reads the worker's counters and configuration and hands back
 * registry answers and Redis' state, and the Redis client's counters in
 * the worker's metrics. fleet.c itself knows nothing of the worker. */
#include "proxy/worker_fleet.h"

#include "lb/redis.h"
#include "proxy/fleet.h"
#include "proxy/stats.h"
#include "proxy/worker.h"

static uint64_t family_sum(const struct px_worker *w, enum px_metric f)
{
    const struct metrics_family *fam = &w->m->fam[f];
    size_t n = fam->label ? fam->n_values : 1;
    uint64_t sum = 0;
    for (size_t i = 0; i < n; i++)
        sum += metrics_get(w->mv, fam, i);
    return sum;
}

static void counters(uint64_t out[PX_FC_COUNT], void *ud)
{
    const struct px_worker *w = ud;
    const struct metrics_family *fam = w->m->fam;
    out[PX_FC_CONNECTIONS] = family_sum(w, PXM_CONNECTIONS);
    out[PX_FC_SESSIONS] = family_sum(w, PXM_SESSIONS);
    out[PX_FC_REJECTS] = family_sum(w, PXM_PROTO_ERRORS);
    out[PX_FC_TLS_FAILURES] = family_sum(w, PXM_TLS_FAILURES);
    out[PX_FC_NO_BACKEND] = family_sum(w, PXM_NO_BACKEND);
    out[PX_FC_BYTES_IN] = metrics_get(w->mv, &fam[PXM_BYTES], PXD_IN);
    out[PX_FC_BYTES_OUT] = metrics_get(w->mv, &fam[PXM_BYTES], PXD_OUT);
}

static const struct px_config *config(void *ud)
{
    return ((const struct px_worker *)ud)->cfg;
}

static void registry(const struct lb_reg_list *list, bool changed, void *ud)
{
    struct px_worker *w = ud;
    metrics_add(w->mv, &w->m->fam[PXM_REGISTRY_REFRESHES], changed ? PXG_CHANGED : PXG_SAME, 1);
    metrics_set(w->mv, &w->m->fam[PXM_REGISTRY_BACKENDS], 0, list->n);
    px_worker_registry(w, list, changed);
}

static void state(bool up, void *ud)
{
    struct px_worker *w = ud;
    metrics_set(w->mv, &w->m->fam[PXM_REDIS_CONNECTED], 0, up ? 1 : 0);
}

struct px_fleet *px_worker_fleet_new(struct px_worker *w)
{
    struct px_fleet_hooks hooks = { config, counters, registry, state, w };
    return px_fleet_new(w->loop, w->index, &hooks);
}

void px_worker_fleet_publish(struct px_worker *w)
{
    const struct rds_stats *st = rds_stats(px_fleet_rds(w->fleet));
    const struct metrics_family *fam = &w->m->fam[PXM_REDIS_COMMANDS];
    metrics_add(w->mv, fam, PXQ_SENT, st->sent - w->redis_pub.sent);
    metrics_add(w->mv, fam, PXQ_ERROR, st->errors - w->redis_pub.errors);
    metrics_add(w->mv, fam, PXQ_DROPPED_DOWN, st->dropped_down - w->redis_pub.dropped_down);
    metrics_add(w->mv, fam, PXQ_DROPPED_FULL, st->dropped_full - w->redis_pub.dropped_full);
    for (int e = 0; e < RDS_ERR_COUNT; e++)
        metrics_add(w->mv, &w->m->fam[PXM_REDIS_ERRORS], (size_t)e, st->err[e] - w->redis_pub.err[e]);
    w->redis_pub = *st;
}
