/* leastconn.c — weighted least-connections: the eligible backend with the
 * fewest active sessions per unit of weight. Ties go round robin (the scan
 * starts one further each pick), so equal idle backends share new sessions
 * instead of the first one taking them all. Sessions of one worker only:
 * each worker process balances its own share. */
#include "lb/lb.h"

static uint64_t load(const struct lb_backend *be)
{
    return be->n_active;
}

static struct lb_backend *leastconn_pick(struct lb *lb, const struct lb_req *req, double now)
{
    return lb_pick_least(lb, req, now, load);
}

const struct lb_policy_ops lb_policy_leastconn = {
    .name = "leastconn",
    .pick = leastconn_pick,
};
