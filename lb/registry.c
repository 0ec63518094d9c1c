/* registry.c — the Redis backend registry, read by proxies, and what a
 * proxy accepts of it (see registry.h). Every byte of a reply is untrusted:
 * it is parsed, checked against the policy, and only then a candidate. */
#include "lb/registry.h"

#include <hiredis/hiredis.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "lb/redis.h"
#include "lb/schema.h"

/* Every registered backend's key id and hash in one round trip; ids whose
 * hash has expired (a dead backend stops its heartbeat) leave the index.
 * Anyone who can write Redis can add members: an id that could not be a
 * backend's, or whose key is not a hash (HGETALL would fail the whole
 * script, and every proxy would keep a stale list), comes back with the
 * reason in place of its hash, to be counted. */
static const char REGISTRY_LUA[] =
    "local out = {} "
    "for _, id in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do "
    "  if #id > 31 or not string.match(id, '^[%w_.-]+$') then "
    "    table.insert(out, id); table.insert(out, 'bad_id') "
    "  else "
    "    local t = redis.call('TYPE', ARGV[1] .. id).ok "
    "    if t == 'hash' then "
    "      table.insert(out, id); table.insert(out, redis.call('HGETALL', ARGV[1] .. id)) "
    "    elseif t == 'none' then redis.call('ZREM', KEYS[1], id) "
    "    else table.insert(out, id); table.insert(out, 'wrong_type') end "
    "  end "
    "end "
    "return out";

/* Where a registered backend may never point unless an allowlist entry
 * inside the range names it: this host (loopback, and "this network" 0/8
 * that Linux routes to it), link-local (169.254/16 holds the cloud
 * metadata services), multicast, broadcast and reserved space, and the
 * metadata addresses outside link-local (AWS IPv6 IMDS, Alibaba Cloud).
 * IPv4-mapped IPv6 addresses are matched as IPv4 (net_cidr_list_longest). */
static const struct net_cidr FORBIDDEN[] = {
    { AF_INET, { 0 }, 8 },                      /* 0.0.0.0/8 */
    { AF_INET, { 127 }, 8 },                    /* 127.0.0.0/8 */
    { AF_INET, { 169, 254 }, 16 },              /* 169.254.0.0/16 */
    { AF_INET, { 224 }, 4 },                    /* 224.0.0.0/4 */
    { AF_INET, { 240 }, 4 },                    /* 240.0.0.0/4, 255.255.255.255 */
    { AF_INET, { 100, 100, 100, 200 }, 32 },    /* Alibaba Cloud metadata */
    { AF_INET, { 168, 63, 129, 16 }, 32 },      /* Azure WireServer */
    { AF_INET6, { 0 }, 128 },                   /* :: */
    { AF_INET6, { [15] = 1 }, 128 },            /* ::1 */
    { AF_INET6, { 0xfe, 0x80 }, 10 },           /* fe80::/10 */
    { AF_INET6, { 0xff }, 8 },                  /* ff00::/8 */
    { AF_INET6, { 0xfd, 0x00, 0x0e, 0xc2, [14] = 0x02, [15] = 0x54 }, 128 }, /* fd00:ec2::254 */
};

/* With an empty redis.registry_allow: private ranges only. Whoever can
 * write Redis chooses where decrypted PPP goes; "anywhere" is no default. */
static const struct net_cidr PRIVATE[] = {
    { AF_INET, { 10 }, 8 },                     /* 10.0.0.0/8 */
    { AF_INET, { 172, 16 }, 12 },               /* 172.16.0.0/12 */
    { AF_INET, { 192, 168 }, 16 },              /* 192.168.0.0/16 */
    { AF_INET, { 100, 64 }, 10 },               /* 100.64.0.0/10 (shared, CGNAT) */
    { AF_INET6, { 0xfc }, 7 },                  /* fc00::/7 (unique local) */
};

/* IPv6 forms that carry an IPv4 address a router may reach: NAT64,
 * IPv4-compatible, 6to4. The IPv4 inside is checked like an IPv4 entry. */
static const struct {
    struct net_cidr net;
    unsigned v4_at;                             /* offset of the IPv4 address */
} EMBEDDING[] = {
    { { AF_INET6, { 0x00, 0x64, 0xff, 0x9b }, 96 }, 12 }, /* 64:ff9b::/96 */
    { { AF_INET6, { 0 }, 96 }, 12 },                      /* ::/96 */
    { { AF_INET6, { 0x20, 0x02 }, 16 }, 2 },              /* 2002::/16 */
};

#define ROW_FIELDS_MAX 32     /* fields read of one backend hash (it has 11) */
#define IGNORED_LOG_MAX 512   /* the "id:reason,..." summary of one read, cut */
#define IGNORED_LOG_EVERY 10.0 /* seconds between two registry_ignored lines at most: a writer
                                * flipping entries at every read does not flood the log */

static const char *const rc_names[LB_REG_RC_COUNT] = {
#define X(n, s) s,
    LB_REG_RC_LIST(X)
#undef X
};

const char *lb_reg_rc_name(enum lb_reg_rc rc)
{
    return (unsigned)rc < LB_REG_RC_COUNT ? rc_names[rc] : "?";
}

struct lb_registry {
    struct ev_loop *loop;
    struct rds *rds;
    ev_timer timer;
    lb_registry_fn fn;
    void *ud;
    struct lb_registry_opts o;
    struct net_cidr_list allow;     /* o.policy.allow points here */
    struct lb_reg_list list;
    bool in_flight;
    struct box *pending;            /* the reply's box, emptied by lb_registry_free */
    double shrunk_since;            /* first read of a shrunken answer held back; 0 = none */
    struct lb_reg_stats st;
    char ignored[IGNORED_LOG_MAX];  /* summary of the ignored entries last logged */
    double ignored_logged;          /* when (0 = never) */
    double read_error_logged;       /* when a failed read was last logged (0 = never) */
    uint64_t read_errors_unlogged;  /* failed reads since */
};

/* The pending reply must not reach a freed registry: it carries a pointer
 * to a small box that lb_registry_free empties. */
struct box {
    struct lb_registry *r;
};

/* -1: not a number up to max */
static long parse_uint(const char *s, unsigned long max)
{
    char *end;
    if (*s < '0' || *s > '9')
        return -1;
    unsigned long v = strtoul(s, &end, 10);
    return !*end && v <= max ? (long)v : -1;
}

/* sstp-backend takes weights up to 1000; lb's scale ends at LB_WEIGHT_MAX */
static unsigned parse_weight(const char *s)
{
    long v = parse_uint(s, 1000000);
    return v < 0 ? 0 : v > LB_WEIGHT_MAX ? LB_WEIGHT_MAX : (unsigned)v;
}

/* The names of static servers, so an id is safe in logs, metric labels
 * and as a TLS host name. */
static bool id_ok(const char *v)
{
    size_t len = strlen(v);
    if (len == 0 || len >= LB_NAME_MAX)
        return false;
    for (const char *p = v; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
              *p == '_' || *p == '.' || *p == '-'))
            return false;
    return true;
}

#define MAX_COUNT 10000000UL /* sessions and capacity: far above one backend's */

enum lb_reg_rc lb_reg_parse(struct lb_reg_entry *out, const char *const *fields,
                            const char *const *values, size_t n)
{
    bool have_id = false, have_addr = false, have_weight = false;
    long num;
    memset(out, 0, sizeof *out);
    for (size_t i = 0; i < n; i++) {
        const char *f = fields[i], *v = values[i];
        if (strcmp(f, SCHEMA_F_BE_ID) == 0) {
            if (!id_ok(v))
                return LB_REG_E_ID;
            memcpy(out->spec.name, v, strlen(v) + 1);
            have_id = true;
        } else if (strcmp(f, SCHEMA_F_BE_ADDR) == 0) {
            if (net_addr_parse(&out->spec.addr, v) == -1 ||
                net_port((const struct sockaddr *)&out->spec.addr.ss) == 0)
                return LB_REG_E_ADDR;
            have_addr = true;
        } else if (strcmp(f, SCHEMA_F_BE_KIND) == 0) {
            if (strcmp(v, "proxy") != 0 && strcmp(v, "mtls") != 0)
                return LB_REG_E_KIND; /* a direct-TLS listener expects clients, not a PROXY header */
            out->spec.tls = strcmp(v, "mtls") == 0;
        } else if (strcmp(f, SCHEMA_F_BE_GROUP) == 0) {
            snprintf(out->group, sizeof out->group, "%s", v);
            snprintf(out->spec.group, sizeof out->spec.group, "%s", v);
        } else if (strcmp(f, SCHEMA_F_BE_WEIGHT) == 0) {
            out->spec.weight = parse_weight(v);
            have_weight = true;
        } else if (strcmp(f, SCHEMA_F_BE_CAPACITY) == 0) {
            if ((num = parse_uint(v, MAX_COUNT)) < 0)
                return LB_REG_E_NUMBER; /* read as "no limit" it would lift the cap */
            out->capacity = (unsigned)num;
        } else if (strcmp(f, SCHEMA_F_BE_SESSIONS) == 0) {
            if ((num = parse_uint(v, MAX_COUNT)) < 0)
                return LB_REG_E_NUMBER;
            out->sessions = (unsigned)num;
        } else if (strcmp(f, SCHEMA_F_BE_STATE) == 0) {
            out->draining = strcmp(v, "up") != 0;
        } else if (strcmp(f, SCHEMA_F_BE_HEARTBEAT) == 0) {
            out->heartbeat = atof(v) / 1000.0;
        }
    }
    if (!have_id)
        return LB_REG_E_ID;
    if (!have_addr)
        return LB_REG_E_ADDR;
    if (!have_weight)
        out->spec.weight = 1;
    if (out->draining)
        out->spec.weight = 0; /* lb never picks weight 0 */
    if (out->spec.tls) /* its certificate must name it: another backend's will not do */
        memcpy(out->spec.sni, out->spec.name, sizeof out->spec.name);
    return LB_REG_OK;
}

static const struct net_cidr_list forbidden = { (struct net_cidr *)FORBIDDEN,
                                                sizeof FORBIDDEN / sizeof FORBIDDEN[0] };
static const struct net_cidr_list private_ranges = { (struct net_cidr *)PRIVATE,
                                                     sizeof PRIVATE / sizeof PRIVATE[0] };

/* True if sa is an IPv6 address that embeds a forbidden IPv4 address. */
static bool embeds_forbidden(const struct sockaddr *sa)
{
    if (sa->sa_family != AF_INET6)
        return false;
    const uint8_t *a6 = ((const struct sockaddr_in6 *)sa)->sin6_addr.s6_addr;
    for (size_t i = 0; i < sizeof EMBEDDING / sizeof EMBEDDING[0]; i++) {
        const struct net_cidr *n = &EMBEDDING[i].net;
        const struct net_cidr_list one = { (struct net_cidr *)n, 1 };
        if (!net_cidr_list_longest(&one, sa))
            continue;
        struct sockaddr_in v4 = { .sin_family = AF_INET };
        memcpy(&v4.sin_addr, a6 + EMBEDDING[i].v4_at, 4);
        if (net_cidr_list_longest(&forbidden, (const struct sockaddr *)&v4))
            return true;
    }
    return false;
}

const struct net_cidr_list *lb_reg_allow_default(void)
{
    return &private_ranges;
}

enum lb_reg_rc lb_reg_check(const struct lb_reg_policy *p, const struct lb_reg_entry *e)
{
    const struct sockaddr *sa = (const struct sockaddr *)&e->spec.addr.ss;
    const struct net_cidr_list *allow = p->allow && p->allow->n > 0 ? p->allow : &private_ranges;
    const struct net_cidr *bad = net_cidr_list_longest(&forbidden, sa);
    const struct net_cidr *ok = net_cidr_list_longest(allow, sa);
    /* 0.0.0.0/0 does not open loopback: only an entry inside the range does */
    if (bad && !(ok && ok->prefix >= bad->prefix))
        return LB_REG_E_ADDR_FORBIDDEN;
    if (embeds_forbidden(sa))
        return LB_REG_E_ADDR_FORBIDDEN;
    if (!ok)
        return LB_REG_E_ADDR_NOT_ALLOWED;
    if (p->mtls_only && !e->spec.tls)
        return LB_REG_E_NOT_MTLS;
    if (e->spec.tls && !p->have_tls)
        return LB_REG_E_NO_TLS;
    return LB_REG_OK;
}

bool lb_reg_shrunk(size_t n_prev, size_t n_next)
{
    return n_prev > 0 && (n_next == 0 || n_next * 2 < n_prev);
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
            be->fleet_known = be->fleet_draining = be->fleet_full = false;
            be->fleet_sessions = be->fleet_pending = be->fleet_capacity = 0;
            be->fleet_heartbeat = 0;
            continue;
        }
        if (!be->fleet_known || e->heartbeat != be->fleet_heartbeat) {
            be->fleet_pending = 0;
            be->fleet_full = false; /* its own count now says whether it has room */
        }
        be->fleet_known = true;
        be->fleet_draining = e->draining;
        be->fleet_sessions = e->sessions;
        be->fleet_capacity = e->capacity;
        be->fleet_heartbeat = e->heartbeat;
    }
}

/* One row of the reply: the key's id, then the hash as field/value pairs. */
static enum lb_reg_rc take_row(const struct lb_registry *r, struct lb_reg_entry *out,
                               const struct redisReply *id, const struct redisReply *h)
{
    const char *fields[ROW_FIELDS_MAX], *values[ROW_FIELDS_MAX];
    size_t n = 0;
    if (h->type == REDIS_REPLY_STRING && strcmp(h->str, "wrong_type") == 0)
        return LB_REG_E_WRONG_TYPE; /* the script's verdict in place of the hash */
    if (id->type != REDIS_REPLY_STRING || h->type != REDIS_REPLY_ARRAY)
        return LB_REG_E_ID;
    for (size_t k = 0; k + 1 < h->elements && n < ROW_FIELDS_MAX; k += 2, n++) {
        fields[n] = h->element[k]->str ? h->element[k]->str : "";
        values[n] = h->element[k + 1]->str ? h->element[k + 1]->str : "";
    }
    enum lb_reg_rc rc = lb_reg_parse(out, fields, values, n);
    if (rc == LB_REG_OK && strcmp(out->spec.name, id->str) != 0)
        rc = LB_REG_E_ID_MISMATCH; /* backend:evil claiming id=be1 would shadow be1 */
    if (rc == LB_REG_OK)
        rc = lb_reg_check(&r->o.policy, out);
    return rc;
}

/* Appends "id:reason" to the summary (the id sanitised: it is Redis' word). */
static void note_ignored(char *sum, size_t *used, const struct redisReply *id, enum lb_reg_rc rc)
{
    char name[LB_NAME_MAX + 8];
    if (id->type == REDIS_REPLY_STRING)
        log_sanitize(name, sizeof name, id->str, id->len);
    else
        snprintf(name, sizeof name, "?");
    if (*used + 1 >= IGNORED_LOG_MAX)
        return; /* cut: a log line, not a list */
    size_t room = IGNORED_LOG_MAX - *used;
    int k = snprintf(sum + *used, room, "%s%s:%s", *used ? "," : "", name, lb_reg_rc_name(rc));
    if (k > 0)
        *used += (size_t)k < room ? (size_t)k : room - 1;
}

/* A shrunken answer waits `grace` (a Redis restarted empty answers nothing
 * until the backends' next heartbeats): true while it is to be held. */
static bool hold_back(struct lb_registry *r, const struct lb_reg_list *next)
{
    double now = ev_now(r->loop);
    if (r->o.grace <= 0 || !lb_reg_shrunk(r->list.n, next->n)) {
        if (r->shrunk_since)
            log_info("registry_hold_end", "worker=%u backends=%zu msg=registry_recovered", r->o.id,
                     next->n);
        r->shrunk_since = 0;
        return false;
    }
    if (!r->shrunk_since) {
        r->shrunk_since = now;
        log_warn("registry_hold", "worker=%u was=%zu now=%zu grace_s=%g msg=keeping_last_list", r->o.id,
                 r->list.n, next->n, r->o.grace);
    }
    if (now - r->shrunk_since < r->o.grace) {
        r->st.held++;
        return true;
    }
    log_warn("registry_hold_end", "worker=%u backends=%zu msg=grace_over_taking_the_new_list", r->o.id,
             next->n);
    r->shrunk_since = 0;
    return false;
}

/* A read that brought no list (a script error such as WRONGTYPE on the
 * index, or the link lost): counted, and said at most every
 * IGNORED_LOG_EVERY, since it repeats at every read. */
static void read_failed(struct lb_registry *r, const struct redisReply *rep)
{
    char why[128];
    double now = ev_now(r->loop);
    r->st.read_errors++;
    r->read_errors_unlogged++;
    if (r->read_error_logged && now - r->read_error_logged < IGNORED_LOG_EVERY)
        return;
    if (!rep)
        snprintf(why, sizeof why, "no reply");
    else if (rep->type == REDIS_REPLY_ERROR)
        log_sanitize(why, sizeof why, rep->str, rep->len);
    else
        snprintf(why, sizeof why, "reply type %d", rep->type);
    log_warn("registry_read_error", "worker=%u err=\"%s\" count=%llu msg=keeping_last_list", r->o.id,
             why, (unsigned long long)r->read_errors_unlogged);
    r->read_errors_unlogged = 0;
    r->read_error_logged = now;
}

static void on_reply(const struct redisReply *rep, void *ud)
{
    struct lb_registry *r = ud;
    char ignored[IGNORED_LOG_MAX] = "";
    size_t used = 0, n_ignored = 0;
    if (!r) /* freed while waiting: nothing to do */
        return;
    r->in_flight = false;
    if (!rep || rep->type != REDIS_REPLY_ARRAY) {
        read_failed(r, rep); /* the last list stays in use */
        return;
    }
    size_t rows = rep->elements / 2;
    struct lb_reg_list next = { calloc(rows ? rows : 1, sizeof *next.items), 0 };
    if (!next.items)
        return;
    for (size_t i = 0; i < rows; i++) {
        const struct redisReply *id = rep->element[2 * i], *h = rep->element[2 * i + 1];
        enum lb_reg_rc rc = take_row(r, &next.items[next.n], id, h);
        if (rc == LB_REG_OK) {
            next.n++;
            continue;
        }
        r->st.ignored[rc]++;
        n_ignored++;
        note_ignored(ignored, &used, id, rc);
    }
    /* once per change, not per read, and not more often than IGNORED_LOG_EVERY */
    double now = ev_now(r->loop);
    if (strcmp(ignored, r->ignored) != 0 &&
        (!r->ignored_logged || now - r->ignored_logged >= IGNORED_LOG_EVERY)) {
        if (n_ignored)
            log_warn("registry_ignored", "worker=%u n=%zu entries=%s", r->o.id, n_ignored, ignored);
        memcpy(r->ignored, ignored, sizeof ignored);
        r->ignored_logged = now;
    }
    if (hold_back(r, &next)) {
        free(next.items);
        r->fn(&r->list, false, r->ud);
        return;
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

struct lb_registry *lb_registry_new(struct ev_loop *loop, struct rds *rds,
                                    const struct lb_registry_opts *o, lb_registry_fn fn, void *ud)
{
    struct lb_registry *r = calloc(1, sizeof *r);
    if (!r)
        return NULL;
    r->loop = loop;
    r->rds = rds;
    r->fn = fn;
    r->ud = ud;
    r->o = *o;
    if (o->policy.allow && o->policy.allow->n) {
        r->allow.items = calloc(o->policy.allow->n, sizeof *r->allow.items);
        if (!r->allow.items) {
            free(r);
            return NULL;
        }
        memcpy(r->allow.items, o->policy.allow->items, o->policy.allow->n * sizeof *r->allow.items);
        r->allow.n = o->policy.allow->n;
    }
    r->o.policy.allow = &r->allow;
    ev_timer_init(&r->timer, timer_cb, 0, o->interval);
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
    net_cidr_list_free(&r->allow);
    free(r);
}

const struct lb_reg_list *lb_registry_list(const struct lb_registry *r)
{
    return &r->list;
}

const struct lb_reg_stats *lb_registry_stats(const struct lb_registry *r)
{
    return &r->st;
}
