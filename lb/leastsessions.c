/* leastsessions.c — fewest sessions fleet-wide per unit of weight. A
 * backend's load is what the Redis registry last said it holds (the
 * `sessions` of its heartbeat, counted by the backend itself, so every
 * proxy's and worker's sessions are in it) plus the sessions this owner
 * sent it since that heartbeat was read (lb.c counts them in
 * fleet_pending), so a burst between two heartbeats does not all land on
 * the same backend. A backend the registry does not list (a static one, or
 * Redis never answered) counts this owner's own sessions, as leastconn.
 * Ties go round robin, as in leastconn.c. */
#include "lb/lb.h"

static uint64_t load(const struct lb_backend *be)
{
    return be->fleet_known ? (uint64_t)be->fleet_sessions + be->fleet_pending : be->n_active;
}

/* (load(a) + 1) / a->weight < (load(b) + 1) / b->weight, without division */
static bool less_loaded(const struct lb_backend *a, const struct lb_backend *b)
{
    return (load(a) + 1) * b->spec.weight < (load(b) + 1) * a->spec.weight;
}

static struct lb_backend *leastsessions_pick(struct lb *lb, const struct lb_req *req, double now)
{
    struct lb_backend *best = NULL;
    size_t start = lb->n_be ? lb->rr_next % lb->n_be : 0;
    for (size_t k = 0; k < lb->n_be; k++) {
        struct lb_backend *be = lb->be[(start + k) % lb->n_be];
        if (!lb_candidate(be, req, now))
            continue;
        if (!best || less_loaded(be, best))
            best = be;
    }
    lb->rr_next = start + 1;
    return best;
}

const struct lb_policy_ops lb_policy_leastsessions = {
    .name = "leastsessions",
    .pick = leastsessions_pick,
};
