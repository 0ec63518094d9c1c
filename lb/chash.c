/* chash.c — consistent hashing on the request's affinity key: each backend
 * owns CHASH_POINTS_PER_WEIGHT x weight points on a 64-bit ring, placed by
 * hashing its *name* (never its position or address), so every proxy and
 * every worker that knows the same backends builds the same ring and sends
 * a key to the same backend; adding or removing one backend moves only the
 * keys of its own arcs. A key goes to the first candidate clockwise from
 * its hash: a backend that is down, full, drained, of another group or
 * already tried passes its keys on to its neighbours on the ring, and gets
 * them back when it returns. Without a key the pick is leastconn's. */
#include "lb/lb.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHASH_POINTS_PER_WEIGHT 40 /* enough for an even spread of a few backends */

struct point {
    uint64_t h;
    struct lb_backend *be;
};

struct ring {
    struct point *pts;
    size_t n;
};

/* FNV-1a, then the splitmix64 finaliser: FNV alone clusters keys that
 * differ only in their last bytes ("be1#1", "be1#2"). */
static uint64_t hash64(const char *s, size_t len)
{
    uint64_t h = 0xcbf29ce484222325ULL;
    for (size_t i = 0; i < len; i++) {
        h ^= (uint8_t)s[i];
        h *= 0x100000001b3ULL;
    }
    h ^= h >> 30;
    h *= 0xbf58476d1ce4e5b9ULL;
    h ^= h >> 27;
    h *= 0x94d049bb133111ebULL;
    h ^= h >> 31;
    return h;
}

static int cmp_point(const void *x, const void *y)
{
    const struct point *a = x, *b = y;
    if (a->h != b->h)
        return a->h < b->h ? -1 : 1;
    return strcmp(a->be->spec.name, b->be->spec.name); /* same order everywhere */
}

static int chash_init(struct lb *lb)
{
    struct ring *r = calloc(1, sizeof *r);
    size_t total = 0;
    if (!r)
        return -1;
    for (size_t i = 0; i < lb->n_be; i++)
        total += (size_t)lb->be[i]->spec.weight * CHASH_POINTS_PER_WEIGHT;
    r->pts = calloc(total ? total : 1, sizeof *r->pts);
    if (!r->pts) {
        free(r);
        return -1;
    }
    for (size_t i = 0; i < lb->n_be; i++) {
        struct lb_backend *be = lb->be[i];
        unsigned n = be->spec.weight * CHASH_POINTS_PER_WEIGHT;
        for (unsigned k = 0; k < n; k++) {
            char label[LB_NAME_MAX + 16];
            int len = snprintf(label, sizeof label, "%s#%u", be->spec.name, k);
            r->pts[r->n].h = hash64(label, (size_t)len);
            r->pts[r->n].be = be;
            r->n++;
        }
    }
    qsort(r->pts, r->n, sizeof *r->pts, cmp_point);
    lb->policy_data = r;
    return 0;
}

static struct lb_backend *chash_pick(struct lb *lb, const struct lb_req *req, double now)
{
    const struct ring *r = lb->policy_data;
    if (!req->affinity || !req->affinity[0] || r->n == 0)
        return lb_policy_leastconn.pick(lb, req, now);
    uint64_t h = hash64(req->affinity, strlen(req->affinity));
    size_t lo = 0, hi = r->n; /* first point >= h */
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (r->pts[mid].h < h)
            lo = mid + 1;
        else
            hi = mid;
    }
    for (size_t k = 0; k < r->n; k++) {
        struct lb_backend *be = r->pts[(lo + k) % r->n].be;
        if (lb_candidate(be, req, now))
            return be;
    }
    return NULL;
}

static void chash_destroy(struct lb *lb)
{
    struct ring *r = lb->policy_data;
    if (!r)
        return;
    free(r->pts);
    free(r);
    lb->policy_data = NULL;
}

const struct lb_policy_ops lb_policy_chash = {
    .name = "chash",
    .init = chash_init,
    .pick = chash_pick,
    .destroy = chash_destroy,
};
