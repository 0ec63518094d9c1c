/* lb.c — backend generations, up/down marks, the candidate rule (eligible,
 * right tenant group, not tried) and the policy dispatch (see lb.h). The
 * policies themselves are in leastconn.c, wrr.c, leastsessions.c and
 * chash.c; parsing of the static list is in static.c. */
#include "lb/lb.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

const char *const lb_policy_names[] = { "leastconn", "wrr", "leastsessions", "chash", NULL };

const struct lb_policy_ops *lb_policy_by_index(int i)
{
    static const struct lb_policy_ops *const table[] = {
        &lb_policy_leastconn, &lb_policy_wrr, &lb_policy_leastsessions, &lb_policy_chash,
    };
    if (i < 0 || (size_t)i >= sizeof table / sizeof table[0])
        return NULL;
    return table[i];
}

static void backend_unref(struct lb_backend *be)
{
    if (be && --be->refs == 0)
        free(be);
}

void lb_backend_ref(struct lb_backend *be)
{
    be->refs++;
}

void lb_backend_unref(struct lb_backend *be)
{
    backend_unref(be);
}

/* Same backend across a reload: same name and same place to connect to. */
static bool same_backend(const struct lb_spec *a, const struct lb_spec *b)
{
    return strcmp(a->name, b->name) == 0 && a->addr.len == b->addr.len &&
           memcmp(&a->addr.ss, &b->addr.ss, a->addr.len) == 0 && a->tls == b->tls &&
           strcmp(a->sni, b->sni) == 0;
}

static struct lb_backend *find_prev(const struct lb *prev, const struct lb_spec *spec)
{
    if (!prev)
        return NULL;
    for (size_t i = 0; i < prev->n_be; i++)
        if (same_backend(&prev->be[i]->spec, spec))
            return prev->be[i];
    return NULL;
}

struct lb *lb_new(const struct lb_policy_ops *ops, const struct lb_params *params,
                  const struct lb_spec_list *specs, const struct lb *prev)
{
    struct lb *lb = calloc(1, sizeof *lb);
    if (!lb)
        return NULL;
    lb->ops = ops;
    lb->params = *params;
    lb->rr_next = prev ? prev->rr_next : params->tie_start;
    lb->be = calloc(specs->n ? specs->n : 1, sizeof *lb->be);
    if (!lb->be)
        goto fail;
    for (size_t i = 0; i < specs->n; i++) {
        for (size_t j = 0; j < i; j++)
            if (strcmp(specs->items[i].name, specs->items[j].name) == 0)
                goto fail;
        struct lb_backend *be = find_prev(prev, &specs->items[i]);
        if (be) {
            be->spec.weight = specs->items[i].weight;
            be->spec.maxconn = specs->items[i].maxconn;
            memcpy(be->spec.group, specs->items[i].group, sizeof be->spec.group);
            be->spec.probe = specs->items[i].probe; /* read per check and attempt */
            be->spec.pp = specs->items[i].pp;
        } else {
            be = calloc(1, sizeof *be);
            if (!be)
                goto fail;
            be->spec = specs->items[i];
        }
        be->refs++;
        lb->be[lb->n_be++] = be;
    }
    if (ops->init && ops->init(lb) == -1)
        goto fail;
    return lb;
fail:
    if (lb->be)
        for (size_t i = 0; i < lb->n_be; i++)
            backend_unref(lb->be[i]);
    free(lb->be);
    free(lb);
    return NULL;
}

void lb_free(struct lb *lb)
{
    if (!lb)
        return;
    if (lb->ops->destroy)
        lb->ops->destroy(lb);
    for (size_t i = 0; i < lb->n_be; i++)
        backend_unref(lb->be[i]);
    free(lb->be);
    free(lb);
}

bool lb_is_up(const struct lb_backend *be, double now)
{
    return be->down_until == 0 || now >= be->down_until;
}

/* Room by the registry's count and proven by a health check: a full
 * backend would refuse (and a refusal is no reason to mark it down), a new
 * one may not be listening yet. */
static bool has_room_and_proven(const struct lb_backend *be)
{
    if (be->health_unproven || be->fleet_full)
        return false;
    return !be->fleet_known || be->fleet_capacity == 0 ||
           (uint64_t)be->fleet_sessions + be->fleet_pending < be->fleet_capacity;
}

/* What excludes a backend whatever its health (panic mode included): the
 * operator's weight and drain, its session caps, and a first health check
 * not passed yet. */
static bool usable(const struct lb_backend *be)
{
    return be->spec.weight > 0 && !be->fleet_draining &&
           (be->spec.maxconn == 0 || be->n_active < be->spec.maxconn) && has_room_and_proven(be);
}

static bool marked_down(const struct lb_backend *be, double now)
{
    return be->health_down || !lb_is_up(be, now);
}

bool lb_eligible(const struct lb_backend *be, double now)
{
    return usable(be) && !marked_down(be, now);
}

bool lb_group_match(const struct lb_backend *be, const char *tenant)
{
    return strcmp(be->spec.group, tenant ? tenant : "") == 0;
}

bool lb_candidate(const struct lb_backend *be, const struct lb_req *req, double now)
{
    bool ok = req->panic ? usable(be) : lb_eligible(be, now);
    return ok && lb_group_match(be, req->tenant) && !lb_req_tried(req, be);
}

bool lb_panic(const struct lb *lb, const struct lb_req *req, double now)
{
    size_t n = 0, n_up = 0;
    if (lb->params.panic_threshold == 0)
        return false;
    for (size_t i = 0; i < lb->n_be; i++) {
        const struct lb_backend *be = lb->be[i];
        if (!usable(be) || !lb_group_match(be, req->tenant))
            continue;
        n++;
        if (!marked_down(be, now))
            n_up++;
    }
    return n > 0 && n_up * 100 < (size_t)lb->params.panic_threshold * n;
}

bool lb_group_served(const struct lb *lb, const char *tenant)
{
    for (size_t i = 0; i < lb->n_be; i++)
        if (lb_group_match(lb->be[i], tenant))
            return true;
    return false;
}

struct lb_backend *lb_find(const struct lb *lb, const char *name)
{
    for (size_t i = 0; i < lb->n_be; i++)
        if (strcmp(lb->be[i]->spec.name, name) == 0)
            return lb->be[i];
    return NULL;
}

bool lb_available(const struct lb *lb, double now)
{
    for (size_t i = 0; i < lb->n_be; i++)
        if (lb_eligible(lb->be[i], now))
            return true;
    return false;
}

static enum lb_status acquire(struct lb_req *req, struct lb_backend *be)
{
    be->n_active++;
    be->n_picked++;
    be->fleet_pending++; /* not in its registry count until its next heartbeat */
    be->refs++;
    req->tried[req->n_tried++] = be;
    req->picked = be;
    return LB_PICKED;
}

enum lb_status lb_pick(struct lb *lb, struct lb_req *req, double now)
{
    req->picked = NULL;
    req->panic = false;
    if (req->n_tried >= LB_TRIES_MAX)
        return LB_NONE;
    req->panic = lb_panic(lb, req, now);
    struct lb_backend *be = lb->ops->pick(lb, req, now);
    if (!be)
        return LB_NONE;
    return acquire(req, be);
}

enum lb_status lb_pick_backend(struct lb *lb, struct lb_req *req, struct lb_backend *be, double now)
{
    (void)lb;
    req->picked = NULL;
    req->panic = false; /* a recorded affinity never overrides a down mark */
    if (req->n_tried >= LB_TRIES_MAX || !be || !lb_candidate(be, req, now))
        return LB_NONE;
    return acquire(req, be);
}

bool lb_report(struct lb *lb, struct lb_backend *be, enum lb_event ev, double now)
{
    bool changed;
    if (ev == LB_EV_REFUSED && be->fleet_known) {
        be->fleet_full = true; /* alive: its next heartbeat says whether it has room */
        return false;
    }
    if (ev == LB_EV_REFUSED)
        ev = LB_EV_CONNECT_FAIL;
    if (ev == LB_EV_CONNECT_OK) {
        changed = be->n_fails > 0; /* it had failed and now answers */
        be->n_fails = 0;
        be->down_until = 0;
    } else {
        changed = lb_is_up(be, now); /* it was being picked until now */
        be->n_fails++;
        be->down_until = now + lb->params.down_time;
    }
    if (lb->ops->report)
        lb->ops->report(lb, be, ev, now);
    return changed;
}

void lb_release(struct lb_backend *be)
{
    if (!be)
        return;
    if (be->n_active > 0)
        be->n_active--;
    backend_unref(be);
}

bool lb_req_tried(const struct lb_req *req, const struct lb_backend *be)
{
    for (unsigned i = 0; i < req->n_tried; i++)
        if (req->tried[i] == be)
            return true;
    return false;
}

/* (load(a) + 1) / a->weight < (load(b) + 1) / b->weight, without division */
static bool less_loaded(const struct lb_backend *a, const struct lb_backend *b,
                        uint64_t (*load)(const struct lb_backend *be))
{
    return (load(a) + 1) * b->spec.weight < (load(b) + 1) * a->spec.weight;
}

struct lb_backend *lb_pick_least(struct lb *lb, const struct lb_req *req, double now,
                                 uint64_t (*load)(const struct lb_backend *be))
{
    struct lb_backend *best = NULL;
    size_t start = lb->n_be ? lb->rr_next % lb->n_be : 0;
    for (size_t k = 0; k < lb->n_be; k++) {
        struct lb_backend *be = lb->be[(start + k) % lb->n_be];
        if (!lb_candidate(be, req, now))
            continue;
        if (!best || less_loaded(be, best, load))
            best = be;
    }
    lb->rr_next = start + 1;
    return best;
}

bool lb_errno_is_local(int e)
{
    return e == EMFILE || e == ENFILE || e == ENOBUFS || e == ENOMEM || e == EADDRNOTAVAIL;
}
