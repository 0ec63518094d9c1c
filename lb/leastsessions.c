/* leastsessions.c — fewest sessions fleet-wide per unit of weight. A
 * backend's load is what the Redis registry last said it holds (the
 * `sessions` of its heartbeat, counted by the backend itself, so every
 * proxy's and worker's sessions are in it) plus the sessions this owner
 * sent it since that heartbeat was read (lb.c counts them in
 * fleet_pending), so a burst between two heartbeats does not all land on
 * the same backend. A backend the registry does not list (a static one, or
 * Redis never answered) counts this owner's own sessions, as leastconn.
 * Ties go round robin, as in leastconn.c, from lb_params.tie_start: each
 * worker of each proxy reads the same counts, so a start shared by all of
 * them would send every worker's next session to the same backend. */
#include "lb/lb.h"

static uint64_t load(const struct lb_backend *be)
{
    return be->fleet_known ? (uint64_t)be->fleet_sessions + be->fleet_pending : be->n_active;
}

static struct lb_backend *leastsessions_pick(struct lb *lb, const struct lb_req *req, double now)
{
    return lb_pick_least(lb, req, now, load);
}

const struct lb_policy_ops lb_policy_leastsessions = {
    .name = "leastsessions",
    .pick = leastsessions_pick,
};
