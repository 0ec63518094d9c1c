/* wrr.c — smooth weighted round robin (the nginx algorithm): every pick
 * adds each eligible backend's weight to its running score, takes the
 * highest score and subtracts the total weight from it. Weights 5,1,1 give
 * a a b a c a a: the heavy backend's turns are spread out, not bunched. A
 * backend that is down or full simply sits out; its score is kept. */
#include "lb/lb.h"

static struct lb_backend *wrr_pick(struct lb *lb, const struct lb_req *req, double now)
{
    struct lb_backend *best = NULL;
    long total = 0;
    for (size_t i = 0; i < lb->n_be; i++) {
        struct lb_backend *be = lb->be[i];
        if (!lb_candidate(be, req, now))
            continue;
        be->cur_weight += (long)be->spec.weight;
        total += (long)be->spec.weight;
        if (!best || be->cur_weight > best->cur_weight)
            best = be;
    }
    if (best)
        best->cur_weight -= total;
    return best;
}

/* A reload may reuse backend objects with scores from the old weights:
 * start the new generation from a clean cycle. */
static int wrr_init(struct lb *lb)
{
    for (size_t i = 0; i < lb->n_be; i++)
        lb->be[i]->cur_weight = 0;
    return 0;
}

const struct lb_policy_ops lb_policy_wrr = {
    .name = "wrr",
    .init = wrr_init,
    .pick = wrr_pick,
};
