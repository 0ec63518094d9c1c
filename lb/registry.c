/* registry.c — the Redis backend registry, read by proxies (see registry.h). */
#include "lb/registry.h"

#include <hiredis/hiredis.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lb/redis.h"
#include "lb/schema.h"

/* Every registered backend's hash in one round trip; ids whose hash has
 * expired (a dead backend stops its heartbeat) leave the index. */
static const char REGISTRY_LUA[] =
    "local out = {} "
    "for _, id in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do "
    "  local h = redis.call('HGETALL', ARGV[1] .. id) "
    "  if #h > 0 then table.insert(out, h) "
    "  else redis.call('ZREM', KEYS[1], id) end "
    "end "
    "return out";

struct lb_registry {
    struct ev_loop *loop;
    struct rds *rds;
    ev_timer timer;
    lb_registry_fn fn;
    void *ud;
    struct lb_reg_list list;
    bool in_flight;
    struct box *pending; /* the reply's box, emptied by lb_registry_free */
};

/* The pending reply must not reach a freed registry: it carries a pointer
 * to a small box that lb_registry_free empties. */
struct box {
    struct lb_registry *r;
};

static unsigned parse_uint(const char *s, unsigned max)
{
    char *end;
    unsigned long v = strtoul(s, &end, 10);
    return (*s && !*end && v <= max) ? (unsigned)v : 0;
}

/* sstp-backend takes weights up to 1000; lb's scale ends at LB_WEIGHT_MAX */
static unsigned parse_weight(const char *s)
{
    char *end;
    unsigned long v = strtoul(s, &end, 10);
    if (!*s || *end)
        return 0;
    return v > LB_WEIGHT_MAX ? LB_WEIGHT_MAX : (unsigned)v;
}

int lb_reg_parse(struct lb_reg_entry *out, const char *const *fields, const char *const *values,
                 size_t n)
{
    bool have_id = false, have_addr = false, have_weight = false;
    memset(out, 0, sizeof *out);
    for (size_t i = 0; i < n; i++) {
        const char *f = fields[i], *v = values[i];
        if (strcmp(f, SCHEMA_F_BE_ID) == 0) {
            size_t len = strlen(v);
            if (len == 0 || len >= sizeof out->spec.name)
                return -1;
            memcpy(out->spec.name, v, len + 1);
            have_id = true;
        } else if (strcmp(f, SCHEMA_F_BE_ADDR) == 0) {
            if (net_addr_parse(&out->spec.addr, v) == -1)
                return -1;
            have_addr = true;
        } else if (strcmp(f, SCHEMA_F_BE_KIND) == 0) {
            if (strcmp(v, "proxy") != 0 && strcmp(v, "mtls") != 0)
                return -1; /* a direct-TLS listener expects clients, not a PROXY header */
            out->spec.tls = strcmp(v, "mtls") == 0;
        } else if (strcmp(f, SCHEMA_F_BE_GROUP) == 0) {
            snprintf(out->group, sizeof out->group, "%s", v);
            snprintf(out->spec.group, sizeof out->spec.group, "%s", v);
        } else if (strcmp(f, SCHEMA_F_BE_WEIGHT) == 0) {
            out->spec.weight = parse_weight(v);
            have_weight = true;
        } else if (strcmp(f, SCHEMA_F_BE_CAPACITY) == 0) {
            out->capacity = parse_uint(v, 10000000);
        } else if (strcmp(f, SCHEMA_F_BE_SESSIONS) == 0) {
            out->sessions = parse_uint(v, 10000000);
        } else if (strcmp(f, SCHEMA_F_BE_STATE) == 0) {
            out->draining = strcmp(v, "up") != 0;
        } else if (strcmp(f, SCHEMA_F_BE_HEARTBEAT) == 0) {
            out->heartbeat = atof(v) / 1000.0;
        }
    }
    if (!have_weight)
        out->spec.weight = 1;
    if (out->draining)
        out->spec.weight = 0; /* lb never picks weight 0 */
    return have_id && have_addr ? 0 : -1;
}

static bool same_addr(const struct net_addr *a, const struct net_addr *b)
{
    return a->len == b->len && memcmp(&a->ss, &b->ss, a->len) == 0;
}

static bool same_shape(const struct lb_reg_entry *a, const struct lb_reg_entry *b)
{
    return strcmp(a->spec.name, b->spec.name) == 0 && same_addr(&a->spec.addr, &b->spec.addr) &&
           a->spec.weight == b->spec.weight && a->spec.tls == b->spec.tls &&
           strcmp(a->group, b->group) == 0 && a->draining == b->draining &&
           a->capacity == b->capacity;
}

static bool lists_differ(const struct lb_reg_list *a, const struct lb_reg_list *b)
{
    if (a->n != b->n)
        return true;
    for (size_t i = 0; i < a->n; i++)
        if (!same_shape(&a->items[i], &b->items[i]))
            return true;
    return false;
}

static int cmp_name(const void *x, const void *y)
{
    return strcmp(((const struct lb_reg_entry *)x)->spec.name, ((const struct lb_reg_entry *)y)->spec.name);
}

int lb_reg_merge(struct lb_spec_list *out, const struct lb_spec_list *statics,
                 const struct lb_reg_list *reg, char *shadowed, size_t shadowed_len)
{
    size_t n_out = 0, used = 0;
    if (shadowed_len)
        shadowed[0] = '\0';
    out->items = calloc(statics->n + reg->n + 1, sizeof *out->items);
    out->n = 0;
    if (!out->items)
        return -1;
    for (size_t i = 0; i < statics->n; i++)
        out->items[n_out++] = statics->items[i];
    for (size_t i = 0; i < reg->n; i++) {
        const struct lb_spec *r = &reg->items[i].spec;
        bool taken = false;
        for (size_t k = 0; k < statics->n && !taken; k++)
            taken = strcmp(statics->items[k].name, r->name) == 0;
        if (!taken) {
            out->items[n_out++] = *r;
            continue;
        }
        if (used + 1 < shadowed_len) { /* the rest is cut: a log line, not a list */
            size_t room = shadowed_len - used;
            int n = snprintf(shadowed + used, room, "%s%s", used ? "," : "", r->name);
            if (n > 0)
                used += (size_t)n < room ? (size_t)n : room - 1;
        }
    }
    out->n = n_out;
    return 0;
}

static int cmp_key_entry(const void *key, const void *e)
{
    return strcmp(key, ((const struct lb_reg_entry *)e)->spec.name);
}

void lb_reg_apply(struct lb *lb, const struct lb_reg_list *reg)
{
    for (size_t i = 0; i < lb->n_be; i++) {
        struct lb_backend *be = lb->be[i];
        /* the list is sorted by name (on_reply) */
        const struct lb_reg_entry *e =
            reg->n ? bsearch(be->spec.name, reg->items, reg->n, sizeof *reg->items, cmp_key_entry) : NULL;
        if (!e || !same_addr(&e->spec.addr, &be->spec.addr) || e->spec.tls != be->spec.tls) {
            be->fleet_known = be->fleet_draining = false;
            be->fleet_sessions = be->fleet_pending = 0;
            be->fleet_heartbeat = 0;
            continue;
        }
        if (!be->fleet_known || e->heartbeat != be->fleet_heartbeat)
            be->fleet_pending = 0;
        be->fleet_known = true;
        be->fleet_draining = e->draining;
        be->fleet_sessions = e->sessions;
        be->fleet_heartbeat = e->heartbeat;
    }
}

static void on_reply(const struct redisReply *rep, void *ud)
{
    struct lb_registry *r = ud;
    if (!r) /* freed while waiting: nothing to do */
        return;
    r->in_flight = false;
    if (!rep || rep->type != REDIS_REPLY_ARRAY)
        return; /* keep the last list */
    struct lb_reg_list next = { calloc(rep->elements ? rep->elements : 1, sizeof *next.items), 0 };
    if (!next.items)
        return;
    for (size_t i = 0; i < rep->elements; i++) {
        const struct redisReply *h = rep->element[i];
        const char *fields[32], *values[32];
        size_t n = 0;
        if (h->type != REDIS_REPLY_ARRAY)
            continue;
        for (size_t k = 0; k + 1 < h->elements && n < 32; k += 2, n++) {
            fields[n] = h->element[k]->str ? h->element[k]->str : "";
            values[n] = h->element[k + 1]->str ? h->element[k + 1]->str : "";
        }
        if (lb_reg_parse(&next.items[next.n], fields, values, n) == 0)
            next.n++;
    }
    qsort(next.items, next.n, sizeof *next.items, cmp_name);
    bool changed = lists_differ(&r->list, &next);
    free(r->list.items);
    r->list = next;
    r->fn(&r->list, changed, r->ud);
}

static void on_boxed_reply(const struct redisReply *rep, void *ud)
{
    struct box *b = ud;
    struct lb_registry *r = b->r;
    free(b);
    if (r)
        r->pending = NULL;
    on_reply(rep, r);
}

void lb_registry_refresh(struct lb_registry *r)
{
    char idx[SCHEMA_KEY_MAX], hprefix[SCHEMA_KEY_MAX];
    if (r->in_flight || !rds_is_up(r->rds))
        return;
    struct box *b = malloc(sizeof *b);
    if (!b)
        return;
    b->r = r;
    schema_key(idx, sizeof idx, rds_prefix(r->rds), SCHEMA_K_BACKENDS);
    schema_key(hprefix, sizeof hprefix, rds_prefix(r->rds), SCHEMA_K_BACKEND, "");
    const char *argv[] = { "EVAL", REGISTRY_LUA, "1", idx, hprefix };
    if (rds_cmdv(r->rds, on_boxed_reply, b, 5, argv) == -1) {
        free(b);
        return;
    }
    r->in_flight = true;
    r->pending = b;
}

static void timer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop;
    (void)revents;
    lb_registry_refresh(w->data);
}

struct lb_registry *lb_registry_new(struct ev_loop *loop, struct rds *rds, double interval,
                                    lb_registry_fn fn, void *ud)
{
    struct lb_registry *r = calloc(1, sizeof *r);
    if (!r)
        return NULL;
    r->loop = loop;
    r->rds = rds;
    r->fn = fn;
    r->ud = ud;
    ev_timer_init(&r->timer, timer_cb, 0, interval);
    r->timer.data = r;
    ev_timer_start(loop, &r->timer);
    return r;
}

void lb_registry_free(struct lb_registry *r)
{
    if (!r)
        return;
    ev_timer_stop(r->loop, &r->timer);
    if (r->pending)
        r->pending->r = NULL;
    free(r->list.items);
    free(r);
}

const struct lb_reg_list *lb_registry_list(const struct lb_registry *r)
{
    return &r->list;
}
