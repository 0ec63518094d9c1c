/* leastconn.c — weighted least-connections: the eligible backend with the
 * fewest active sessions per unit of weight. Ties go round robin (the scan
 * starts one further each pick), so equal idle backends share new sessions
 * instead of the first one taking them all. Sessions of one worker only:
 * each worker process balances its own share. */
#include "lb/lb.h"

/* (a->n_active + 1) / a->weight < (b->n_active + 1) / b->weight, without
 * division; +1 so that weight still decides between idle backends. */
static bool less_loaded(const struct lb_backend *a, const struct lb_backend *b)
{
    return (uint64_t)(a->n_active + 1) * b->spec.weight <
           (uint64_t)(b->n_active + 1) * a->spec.weight;
}

static struct lb_backend *leastconn_pick(struct lb *lb, const struct lb_req *req, double now)
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

const struct lb_policy_ops lb_policy_leastconn = {
    .name = "leastconn",
    .pick = leastconn_pick,
};
