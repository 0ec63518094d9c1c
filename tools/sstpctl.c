/* sstpctl — the operator's view of an sstp-lb fleet, through the Redis
 * schema (lb/schema.h, README "Redis schema") and nothing else.
 *
 *   sstpctl [-r URL | --sentinel ADDRS --master NAME] [--prefix P] [--json]
 *           [--user U] [--backend B] [--proxy P] [--tenant T] COMMAND
 *     sessions                  live sessions (filters apply)
 *     backends                  the backend registry (--backend, --tenant)
 *     proxies                   the proxies that registered themselves (--proxy)
 *     stats                     fleet counters
 *     drain BACKEND [--disconnect]   no new sessions (and end the live ones)
 *     undrain BACKEND
 *     kick SESSION              end one session (CALL_DISCONNECT)
 *     events [-n N] [--follow]  the event stream
 *     serve [--listen ADDR]     the live dashboard (read-only HTTP, loopback by default)
 *
 * Reads are pipelined: one round trip for an index, one per PIPE_BATCH
 * hashes. The schema version is read first; an unknown major version is
 * refused (exit 3) rather than misread. JSON gives numbers as numbers. */
#include <errno.h>
#include <getopt.h>
#include <hiredis/hiredis.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "core/admin.h"
#include "core/log.h"
#include "core/net.h"
#include "lb/redis.h"
#include "lb/registry.h"
#include "lb/schema.h"

#define COLS_MAX 12
#define PIPE_BATCH 512 /* hashes asked per round trip: bounds the reply held at once */
#define EXIT_SCHEMA 3  /* the Redis schema has a major version this sstpctl cannot read */

/* The proxy registry (written by sstp-proxy; schema.h names it once the
 * proxies register themselves). */
#ifndef SCHEMA_K_PROXY
#define SCHEMA_K_PROXY  "proxy:%s"
#define SCHEMA_K_PROXIES "proxies"
#endif

struct filters {
    const char *user, *backend, *proxy, *tenant; /* NULL = any */
};

struct ctl {
    struct rds_sync *c;
    const char *prefix;
    bool json;
    struct filters f;
    FILE *out; /* stdout, or a request's body (serve) */
};

/* ---- output: aligned tables or JSON ------------------------------------- */

struct table {
    const char *const *head;
    size_t n_cols, n_rows, cap;
    char **cells;     /* n_rows * n_cols, owned */
    uint32_t numeric; /* bit c: column c holds numbers (JSON: a number, or null if empty) */
};

static void table_add(struct table *t, const char *const *row)
{
    if (t->n_rows == t->cap) {
        t->cap = t->cap ? t->cap * 2 : 16;
        t->cells = realloc(t->cells, t->cap * t->n_cols * sizeof *t->cells);
        if (!t->cells) {
            perror("sstpctl");
            exit(1);
        }
    }
    for (size_t i = 0; i < t->n_cols; i++)
        t->cells[t->n_rows * t->n_cols + i] = strdup(row[i] ? row[i] : "");
    t->n_rows++;
}

static void json_str(FILE *o, const char *s)
{
    fputc('"', o);
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch == '"' || ch == '\\')
            fprintf(o, "\\%c", ch);
        else if (ch < 0x20 || ch == '<') /* '<': the JSON may be read inside a page */
            fprintf(o, "\\u%04x", ch);
        else
            fputc(ch, o);
    }
    fputc('"', o);
}

/* A decimal number as JSON allows it (no sign but '-', no leading zeros
 * beyond "0", optional fraction). */
static bool is_json_number(const char *s)
{
    if (*s == '-')
        s++;
    if (*s < '0' || *s > '9' || (s[0] == '0' && s[1] >= '0' && s[1] <= '9'))
        return false;
    while (*s >= '0' && *s <= '9')
        s++;
    if (*s == '.') {
        s++;
        if (*s < '0' || *s > '9')
            return false;
        while (*s >= '0' && *s <= '9')
            s++;
    }
    return *s == '\0';
}

/* numeric: a number when it reads as one, null when empty, else (a value
 * Redis holds but no writer of ours produces) the string */
static void json_value(FILE *o, const char *v, bool numeric)
{
    if (numeric && is_json_number(v))
        fputs(v, o);
    else if (numeric && !v[0])
        fputs("null", o);
    else
        json_str(o, v);
}

static void table_print(FILE *o, struct table *t, bool json)
{
    if (json) {
        fputc('[', o);
        for (size_t r = 0; r < t->n_rows; r++) {
            fprintf(o, "%s{", r ? "," : "");
            for (size_t c = 0; c < t->n_cols; c++) {
                fprintf(o, "%s", c ? "," : "");
                json_str(o, t->head[c]);
                fputc(':', o);
                json_value(o, t->cells[r * t->n_cols + c], t->numeric & (1u << c));
            }
            fputc('}', o);
        }
        fputs("]\n", o);
    } else {
        size_t w[COLS_MAX];
        for (size_t c = 0; c < t->n_cols; c++) {
            w[c] = strlen(t->head[c]);
            for (size_t r = 0; r < t->n_rows; r++) {
                size_t l = strlen(t->cells[r * t->n_cols + c]);
                if (l > w[c])
                    w[c] = l;
            }
        }
        for (size_t c = 0; c < t->n_cols; c++)
            fprintf(o, "%-*s%s", (int)w[c], t->head[c], c + 1 < t->n_cols ? "  " : "\n");
        for (size_t r = 0; r < t->n_rows; r++)
            for (size_t c = 0; c < t->n_cols; c++)
                fprintf(o, "%-*s%s", (int)w[c], t->cells[r * t->n_cols + c], c + 1 < t->n_cols ? "  " : "\n");
    }
    for (size_t i = 0; i < t->n_rows * t->n_cols; i++)
        free(t->cells[i]);
    free(t->cells);
}

/* ---- Redis helpers ------------------------------------------------------- */

static redisReply *run(struct ctl *x, int argc, const char **argv)
{
    redisReply *r = rds_sync_cmd(x->c, argc, argv);
    if (!r) {
        fprintf(stderr, "sstpctl: lost the connection to Redis\n");
        exit(1);
    }
    if (r->type == REDIS_REPLY_ERROR) {
        fprintf(stderr, "sstpctl: redis: %s\n", r->str);
        exit(1);
    }
    return r;
}

static const char *key(struct ctl *x, char *out, const char *fmt, const char *id)
{
    return schema_key(out, SCHEMA_KEY_MAX, x->prefix, fmt, id);
}

/* field of an HGETALL reply, "" if absent */
static const char *field(const redisReply *h, const char *name)
{
    for (size_t i = 0; h && i + 1 < h->elements; i += 2)
        if (strcmp(h->element[i]->str, name) == 0)
            return h->element[i + 1]->str;
    return "";
}

/* Refuses a Redis written by a schema this sstpctl does not know: its keys
 * may mean something else. No `schema` key yet (nothing registered) is
 * fine. Returns 0, or EXIT_SCHEMA with the reason written to why. */
static int check_schema(struct ctl *x, FILE *why)
{
    char k[SCHEMA_KEY_MAX];
    redisReply *r = run(x, 2, (const char *[]){ "GET", key(x, k, SCHEMA_K_VERSION, "") });
    int rc = 0;
    if (r->type == REDIS_REPLY_STRING &&
        !schema_version_ok(r->str)) {
        fprintf(why, "sstpctl: the Redis schema at %s is version '%.32s'; this sstpctl reads "
                "major version %ld only (upgrade sstpctl)\n", k, r->str, (long)SCHEMA_VERSION_MAJOR);
        rc = EXIT_SCHEMA;
    }
    rds_sync_reply_free(r);
    return rc;
}

/* HGETALL of every key fmt(id) for the ids of `ids` (an array reply), in
 * batches of PIPE_BATCH per round trip; fn gets each id and its hash (an
 * empty array when the hash expired). */
static void each_hash(struct ctl *x, const redisReply *ids, const char *fmt,
                      void (*fn)(struct ctl *x, const char *id, const redisReply *h, void *ud), void *ud)
{
    char k[SCHEMA_KEY_MAX];
    for (size_t from = 0; from < ids->elements; from += PIPE_BATCH) {
        size_t to = from + PIPE_BATCH < ids->elements ? from + PIPE_BATCH : ids->elements;
        for (size_t i = from; i < to; i++)
            if (rds_sync_append(x->c, 2, (const char *[]){ "HGETALL", key(x, k, fmt, ids->element[i]->str) }) == -1) {
                fprintf(stderr, "sstpctl: out of memory\n");
                exit(1);
            }
        for (size_t i = from; i < to; i++) {
            redisReply *h = rds_sync_next(x->c);
            if (!h) {
                fprintf(stderr, "sstpctl: lost the connection to Redis\n");
                exit(1);
            }
            if (h->type == REDIS_REPLY_ARRAY)
                fn(x, ids->element[i]->str, h, ud);
            rds_sync_reply_free(h);
        }
    }
}

/* The ids of an index: a ZSET (ZRANGE) or a SET (SMEMBERS). */
static redisReply *index_ids(struct ctl *x, const char *fmt, const char *id, bool zset)
{
    char k[SCHEMA_KEY_MAX];
    key(x, k, fmt, id);
    redisReply *r = zset ? run(x, 4, (const char *[]){ "ZRANGE", k, "0", "-1" })
                         : run(x, 2, (const char *[]){ "SMEMBERS", k });
    if (r->type != REDIS_REPLY_ARRAY) {
        fprintf(stderr, "sstpctl: %s is not a %s\n", k, zset ? "sorted set" : "set");
        exit(1);
    }
    return r;
}

static bool match(const char *want, const char *have)
{
    return !want || strcmp(want, have) == 0;
}

static bool json_ages; /* --json: ages in seconds, as numbers */

/* How long ago unix_ms was: "4.2s", "12m", "3.1h" ("-" unknown); seconds
 * ("4.2", "" unknown) for JSON. */
static void age(char *out, size_t len, const char *unix_ms)
{
    if (!unix_ms[0]) {
        snprintf(out, len, "%s", json_ages ? "" : "-");
        return;
    }
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    double secs = (double)ts.tv_sec + ts.tv_nsec / 1e9 - atof(unix_ms) / 1000.0;
    if (secs < 0)
        secs = 0;
    if (json_ages)
        snprintf(out, len, "%.1f", secs);
    else if (secs < 120)
        snprintf(out, len, "%.1fs", secs);
    else if (secs < 7200)
        snprintf(out, len, "%.0fm", secs / 60);
    else
        snprintf(out, len, "%.1fh", secs / 3600);
}

/* ---- commands ------------------------------------------------------------ */

/* Backend id -> group, of every registered backend (for --tenant). */
struct groups {
    redisReply *ids;     /* ZRANGE of the registry */
    redisReply **group;  /* HGET group of each id (a string, or nil) */
};

static void groups_read(struct ctl *x, struct groups *g)
{
    char k[SCHEMA_KEY_MAX];
    g->ids = index_ids(x, SCHEMA_K_BACKENDS, "", true);
    g->group = calloc(g->ids->elements + 1, sizeof *g->group);
    if (!g->group) {
        fprintf(stderr, "sstpctl: out of memory\n");
        exit(1);
    }
    for (size_t i = 0; i < g->ids->elements; i++)
        rds_sync_append(x->c, 3, (const char *[]){ "HGET", key(x, k, SCHEMA_K_BACKEND, g->ids->element[i]->str),
                                                  SCHEMA_F_BE_GROUP });
    for (size_t i = 0; i < g->ids->elements; i++)
        if (!(g->group[i] = rds_sync_next(x->c))) {
            fprintf(stderr, "sstpctl: lost the connection to Redis\n");
            exit(1);
        }
}

static void groups_free(struct groups *g)
{
    for (size_t i = 0; g->ids && i < g->ids->elements; i++)
        rds_sync_reply_free(g->group[i]);
    free(g->group);
    rds_sync_reply_free(g->ids);
}

/* The tenant of a session: its own `tenant` field when its writer set one,
 * else the group of its backend (tenant groups route by ?tenantid=). */
static const char *session_tenant(const redisReply *h, const struct groups *g)
{
    const char *t = field(h, "tenant");
    if (t[0] || !g->ids)
        return t;
    const char *be = field(h, SCHEMA_F_S_BACKEND);
    for (size_t i = 0; i < g->ids->elements; i++)
        if (strcmp(g->ids->element[i]->str, be) == 0)
            return g->group[i]->type == REDIS_REPLY_STRING ? g->group[i]->str : "";
    return "";
}

struct sessions_ctx {
    struct table t;
    struct groups groups; /* read for --tenant only */
};

static void add_session(struct ctl *x, const char *sid, const redisReply *h, void *ud)
{
    struct sessions_ctx *sc = ud;
    if (h->elements == 0) /* an id whose hash expired belongs to a crashed node */
        return;
    if (!match(x->f.user, field(h, SCHEMA_F_S_USER)) || !match(x->f.backend, field(h, SCHEMA_F_S_BACKEND)) ||
        !match(x->f.proxy, field(h, SCHEMA_F_S_PROXY)) || !match(x->f.tenant, session_tenant(h, &sc->groups)))
        return;
    char a[16];
    age(a, sizeof a, field(h, SCHEMA_F_S_START));
    const char *row[] = { sid, field(h, SCHEMA_F_S_USER), field(h, SCHEMA_F_S_CLIENT),
                          field(h, SCHEMA_F_S_BACKEND), field(h, SCHEMA_F_S_PROXY),
                          field(h, SCHEMA_F_S_IP), field(h, SCHEMA_F_S_STATE), a,
                          field(h, SCHEMA_F_S_BYTES_IN), field(h, SCHEMA_F_S_BYTES_OUT),
                          field(h, SCHEMA_F_S_START), field(h, SCHEMA_F_S_IP6) };
    table_add(&sc->t, row);
}

static int cmd_sessions(struct ctl *x)
{
    static const char *const head[] = { "session", "user", "client", "backend", "proxy", "ip",
                                        "state", "age", "bytes_in", "bytes_out", "start", "ip6" };
    static const char *const head_json[] = { "session", "user", "client", "backend", "proxy", "ip",
                                             "state", "age_s", "bytes_in", "bytes_out", "start",
                                             "ip6" };
    struct sessions_ctx sc = { { x->json ? head_json : head, 12, 0, 0, NULL,
                                 1u << 7 | 1u << 8 | 1u << 9 | 1u << 10 }, { NULL, NULL } };
    /* the narrowest index that holds every match (user:<key> indexes may be
     * keyed by a hash of the name: --user reads them all and compares) */
    redisReply *ids = x->f.backend ? index_ids(x, SCHEMA_K_BACKEND_SESS, x->f.backend, false)
                                   : index_ids(x, SCHEMA_K_SESSIONS, "", true);
    if (x->f.tenant)
        groups_read(x, &sc.groups);
    each_hash(x, ids, SCHEMA_K_SESSION, add_session, &sc);
    rds_sync_reply_free(ids);
    groups_free(&sc.groups);
    table_print(x->out, &sc.t, x->json);
    return 0;
}

static void add_backend(struct ctl *x, const char *id, const redisReply *h, void *ud)
{
    struct table *t = ud;
    const char *fields[32], *values[32];
    size_t n = 0;
    struct lb_reg_entry e;
    char hb[16], state[48];
    if (!match(x->f.backend, id) || !match(x->f.tenant, field(h, SCHEMA_F_BE_GROUP)))
        return;
    for (size_t i = 0; i + 1 < h->elements && n < 32; i += 2, n++) {
        fields[n] = h->element[i]->str;
        values[n] = h->element[i + 1]->str;
    }
    /* what proxies make of it: an entry they ignore is shown as such */
    enum lb_reg_rc rc = h->elements ? lb_reg_parse(&e, fields, values, n) : LB_REG_OK;
    if (rc == LB_REG_OK && h->elements && strcmp(e.spec.name, id) != 0)
        rc = LB_REG_E_ID_MISMATCH;
    if (h->elements == 0)
        snprintf(state, sizeof state, "expired");
    else if (rc != LB_REG_OK)
        snprintf(state, sizeof state, "invalid:%s", lb_reg_rc_name(rc));
    else
        snprintf(state, sizeof state, "%s", field(h, SCHEMA_F_BE_STATE));
    age(hb, sizeof hb, field(h, SCHEMA_F_BE_HEARTBEAT));
    const char *row[] = { id, field(h, SCHEMA_F_BE_ADDR), field(h, SCHEMA_F_BE_KIND),
                          field(h, SCHEMA_F_BE_GROUP), state, field(h, SCHEMA_F_BE_SESSIONS),
                          field(h, SCHEMA_F_BE_CAPACITY), field(h, SCHEMA_F_BE_WEIGHT), hb,
                          field(h, SCHEMA_F_BE_VERSION) };
    table_add(t, row);
}

static int cmd_backends(struct ctl *x)
{
    static const char *const head[] = { "backend", "addr", "kind", "group", "state", "sessions",
                                        "capacity", "weight", "heartbeat", "version" };
    static const char *const head_json[] = { "backend", "addr", "kind", "group", "state", "sessions",
                                             "capacity", "weight", "heartbeat_age_s", "version" };
    struct table t = { x->json ? head_json : head, 10, 0, 0, NULL, 1u << 5 | 1u << 6 | 1u << 7 | 1u << 8 };
    char k[SCHEMA_KEY_MAX];
    redisReply *ids = index_ids(x, SCHEMA_K_BACKENDS, "", true);
    each_hash(x, ids, SCHEMA_K_BACKEND, add_backend, &t);
    /* a drain asked for but not yet seen by the backend (one round trip) */
    for (size_t i = 0; i < ids->elements; i++)
        rds_sync_append(x->c, 2, (const char *[]){ "EXISTS", key(x, k, SCHEMA_K_DRAIN, ids->element[i]->str) });
    for (size_t i = 0, row = 0; i < ids->elements; i++) {
        redisReply *d = rds_sync_next(x->c);
        if (!d) {
            fprintf(stderr, "sstpctl: lost the connection to Redis\n");
            exit(1);
        }
        /* rows were added in id order, filtered ones skipped */
        if (row < t.n_rows && strcmp(t.cells[row * t.n_cols], ids->element[i]->str) == 0) {
            char **state = &t.cells[row * t.n_cols + 4];
            if (d->type == REDIS_REPLY_INTEGER && d->integer == 1 && strcmp(*state, "up") == 0) {
                free(*state);
                *state = strdup("draining"); /* asked, not yet seen by the backend */
            }
            row++;
        }
        rds_sync_reply_free(d);
    }
    rds_sync_reply_free(ids);
    table_print(x->out, &t, x->json);
    return 0;
}

/* Proxy hashes: the fields every proxy writes (JSON: every field of the
 * hash, whatever its name, numbers as numbers). */
static void add_proxy(struct ctl *x, const char *id, const redisReply *h, void *ud)
{
    struct table *t = ud;
    char started[16], hb[16];
    if (!match(x->f.proxy, id))
        return;
    if (x->json) {
        fprintf(x->out, "%s{\"proxy\":", t->n_rows++ ? "," : "");
        json_str(x->out, id);
        fprintf(x->out, ",\"expired\":%s", h->elements ? "false" : "true");
        for (size_t i = 0; i + 1 < h->elements; i += 2) {
            if (strcmp(h->element[i]->str, "id") == 0)
                continue;
            fputc(',', x->out);
            json_str(x->out, h->element[i]->str);
            fputc(':', x->out);
            json_value(x->out, h->element[i + 1]->str, is_json_number(h->element[i + 1]->str));
        }
        fputc('}', x->out);
        return;
    }
    age(started, sizeof started, field(h, "started"));
    age(hb, sizeof hb, field(h, "heartbeat"));
    const char *row[] = { id, h->elements ? field(h, "addr") : "(expired)", field(h, "version"),
                          field(h, "workers"), started, hb };
    table_add(t, row);
}

static int cmd_proxies(struct ctl *x)
{
    static const char *const head[] = { "proxy", "addr", "version", "workers", "up", "heartbeat" };
    struct table t = { head, 6, 0, 0, NULL, 0 };
    redisReply *ids = index_ids(x, SCHEMA_K_PROXIES, "", true);
    if (x->json)
        fputc('[', x->out);
    each_hash(x, ids, SCHEMA_K_PROXY, add_proxy, &t);
    rds_sync_reply_free(ids);
    if (x->json) {
        fputs("]\n", x->out);
        return 0;
    }
    table_print(x->out, &t, false);
    return 0;
}

static int cmd_stats(struct ctl *x)
{
    static const char *const head[] = { "counter", "value" };
    struct table t = { head, 2, 0, 0, NULL, 1u << 1 };
    char k[SCHEMA_KEY_MAX];
    redisReply *h = run(x, 2, (const char *[]){ "HGETALL", key(x, k, SCHEMA_K_STATS, "") });
    for (size_t i = 0; i + 1 < h->elements; i += 2)
        table_add(&t, (const char *[]){ h->element[i]->str, h->element[i + 1]->str });
    rds_sync_reply_free(h);
    table_print(x->out, &t, x->json);
    return 0;
}

static int cmd_drain(struct ctl *x, const char *id, bool drain, bool disconnect)
{
    char k[SCHEMA_KEY_MAX], ch[SCHEMA_KEY_MAX];
    redisReply *h = run(x, 2, (const char *[]){ "EXISTS", key(x, k, SCHEMA_K_BACKEND, id) });
    bool known = h->integer == 1;
    rds_sync_reply_free(h);
    if (!known)
        fprintf(stderr, "sstpctl: warning: backend %s is not registered (now)\n", id);
    key(x, k, SCHEMA_K_DRAIN, id);
    rds_sync_reply_free(drain ? run(x, 3, (const char *[]){ "SET", k, disconnect ? "disconnect" : "drain" })
                              : run(x, 2, (const char *[]){ "DEL", k }));
    redisReply *p = run(x, 3, (const char *[]){ "PUBLISH", key(x, ch, SCHEMA_K_CTL, id), "drain" });
    printf("%s %s%s (%lld listener%s notified)\n", drain ? "drained" : "undrained", id,
           disconnect ? ", sessions disconnected" : "", p->integer, p->integer == 1 ? "" : "s");
    rds_sync_reply_free(p);
    return 0;
}

static int cmd_kick(struct ctl *x, const char *sid)
{
    char k[SCHEMA_KEY_MAX], ch[SCHEMA_KEY_MAX], msg[128];
    redisReply *b = run(x, 3, (const char *[]){ "HGET", key(x, k, SCHEMA_K_SESSION, sid), SCHEMA_F_S_BACKEND });
    if (b->type != REDIS_REPLY_STRING) {
        fprintf(stderr, "sstpctl: no live session %s\n", sid);
        rds_sync_reply_free(b);
        return 1;
    }
    snprintf(msg, sizeof msg, "kick %s", sid);
    redisReply *p = run(x, 3, (const char *[]){ "PUBLISH", key(x, ch, SCHEMA_K_CTL, b->str), msg });
    printf("kick %s sent to backend %s (%lld listener%s)\n", sid, b->str, p->integer,
           p->integer == 1 ? "" : "s");
    int rc = p->integer > 0 ? 0 : 1;
    rds_sync_reply_free(p);
    rds_sync_reply_free(b);
    return rc;
}

/* JSON: one object a line, or with `sep` (an array) after the first. */
static void print_event(struct ctl *x, const redisReply *e, const char *sep)
{
    const redisReply *kv = e->element[1];
    FILE *o = x->out;
    if (x->json) {
        fprintf(o, "%s{\"id\":", sep ? sep : "");
        json_str(o, e->element[0]->str);
        for (size_t i = 0; i + 1 < kv->elements; i += 2) {
            fputc(',', o);
            json_str(o, kv->element[i]->str);
            fputc(':', o);
            json_str(o, kv->element[i + 1]->str);
        }
        fputs(sep ? "}" : "}\n", o);
    } else {
        long long ms = atoll(e->element[0]->str);
        time_t secs = (time_t)(ms / 1000);
        struct tm tm;
        char ts[32];
        gmtime_r(&secs, &tm);
        strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%SZ", &tm);
        fprintf(o, "%s", ts);
        for (size_t i = 0; i + 1 < kv->elements; i += 2)
            if (kv->element[i + 1]->str[0])
                fprintf(o, " %s=%s", kv->element[i]->str, kv->element[i + 1]->str);
        fputc('\n', o);
    }
    fflush(o);
}

static volatile sig_atomic_t stop;
static void on_sigint(int sig)
{
    (void)sig;
    stop = 1;
}

/* The last n events, oldest first; array: as one JSON array (sstpctl
 * serve), else one a line, then new ones while follow. */
static int cmd_events(struct ctl *x, long n, bool follow, bool array)
{
    char k[SCHEMA_KEY_MAX], count[24], last[64] = "$";
    snprintf(count, sizeof count, "%ld", n);
    key(x, k, SCHEMA_K_EVENTS, "");
    redisReply *r = run(x, 6, (const char *[]){ "XREVRANGE", k, "+", "-", "COUNT", count });
    if (array)
        fputc('[', x->out);
    for (size_t i = r->elements; i > 0; i--)
        print_event(x, r->element[i - 1], !array ? NULL : i == r->elements ? "" : ",");
    if (array)
        fputs("]\n", x->out);
    if (r->elements > 0)
        snprintf(last, sizeof last, "%s", r->element[0]->element[0]->str);
    rds_sync_reply_free(r);
    if (!follow)
        return 0;
    signal(SIGINT, on_sigint);
    signal(SIGTERM, on_sigint);
    while (!stop) {
        /* block at most 1 s so Ctrl-C is noticed */
        redisReply *s = rds_sync_cmd(x->c, 6, (const char *[]){ "XREAD", "BLOCK", "1000", "STREAMS", k, last });
        if (!s) {
            if (stop)
                break;
            fprintf(stderr, "sstpctl: lost the connection to Redis\n");
            return 1;
        }
        if (s->type == REDIS_REPLY_ARRAY && s->elements == 1) {
            const redisReply *entries = s->element[0]->element[1];
            for (size_t i = 0; i < entries->elements; i++) {
                print_event(x, entries->element[i], NULL);
                snprintf(last, sizeof last, "%s", entries->element[i]->element[0]->str);
            }
        }
        rds_sync_reply_free(s);
    }
    return 0;
}


/* ---- serve: the live dashboard ------------------------------------------- */

/* The page (tools/dashboard/index.html), built into the binary so that
 * nothing outside it is served or fetched. */
__asm__(".section .rodata\n"
        "sstpctl_page:\n.incbin \"tools/dashboard/index.html\"\n"
        "sstpctl_page_end:\n"
        ".previous\n");
extern const char sstpctl_page[], sstpctl_page_end[];

#define SERVE_LISTEN_DEFAULT "127.0.0.1:9190"
#define SERVE_CHILDREN_MAX 8  /* requests served at once; the rest wait in the backlog */
#define SERVE_TIMEOUT_S 10    /* a request's whole life (head, Redis, answer): SIGALRM */
#define SERVE_REDIS_TIMEOUT_S 3.0
#define SERVE_EVENTS 50       /* events the page shows */
#define SERVE_LOG_EVERY_S 10  /* one refusal line per this at most, across children */
#define SERVE_EXIT_REDIS 1    /* a child's exit status: Redis failed mid-answer (run() exits) */

/* What became of a request: the result label of sstpctl_serve_requests_total. */
#define SERVE_RESULTS(X) \
    X(SR_OK, "ok") X(SR_NOT_FOUND, "not_found") X(SR_METHOD, "method_not_allowed") \
    X(SR_HOST, "host_refused") X(SR_BAD_REQUEST, "bad_request") X(SR_TIMEOUT, "timeout") \
    X(SR_REDIS, "redis_error") X(SR_BUSY, "accept_error")
#define SR_ENUM(n, s) n,
enum serve_result { SERVE_RESULTS(SR_ENUM) SR_COUNT };
#undef SR_ENUM
#define SR_NAME(n, s) s,
static const char *const serve_result_names[SR_COUNT] = { SERVE_RESULTS(SR_NAME) };
#undef SR_NAME

/* Counters shared by the server and its per-request children (a shared
 * anonymous mapping made before the first fork). */
struct serve_stats {
    uint64_t n[SR_COUNT];
    int64_t last_log;     /* unix seconds of the last refusal line */
    uint64_t suppressed;  /* refusal lines held back since */
};

struct serve {
    struct ctl *x;
    const struct rds_opts *o;
    struct net_addr listen;
    struct serve_stats *st;
};

static void serve_count(struct serve_stats *st, enum serve_result r, const char *detail)
{
    __atomic_fetch_add(&st->n[r], 1, __ATOMIC_RELAXED);
    if (r == SR_OK || r == SR_NOT_FOUND)
        return;
    int64_t now = (int64_t)time(NULL), last = __atomic_load_n(&st->last_log, __ATOMIC_RELAXED);
    if (now - last < SERVE_LOG_EVERY_S ||
        !__atomic_compare_exchange_n(&st->last_log, &last, now, false, __ATOMIC_RELAXED, __ATOMIC_RELAXED)) {
        __atomic_fetch_add(&st->suppressed, 1, __ATOMIC_RELAXED);
        return;
    }
    log_warn("serve_refused", "reason=%s %s suppressed=%llu", serve_result_names[r], detail,
             (unsigned long long)__atomic_exchange_n(&st->suppressed, 0, __ATOMIC_RELAXED));
}

static int write_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w == -1 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* One answer, then the connection closes. The page may load nothing from
 * elsewhere (CSP) and no other site may frame it. */
static void respond(int fd, int status, const char *type, const char *body, size_t len)
{
    static const char *const reasons[] = { [200] = "OK", [400] = "Bad Request", [404] = "Not Found",
                                           [405] = "Method Not Allowed", [421] = "Misdirected Request",
                                           [502] = "Bad Gateway" };
    char head[768];
    int n = snprintf(head, sizeof head,
                     "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
                     "Cache-Control: no-store\r\nX-Content-Type-Options: nosniff\r\n"
                     "X-Frame-Options: DENY\r\nReferrer-Policy: no-referrer\r\n"
                     "Content-Security-Policy: default-src 'none'; script-src 'unsafe-inline'; "
                     "style-src 'unsafe-inline'; connect-src 'self'; frame-ancestors 'none'\r\n"
                     "%sConnection: close\r\n\r\n",
                     status, reasons[status], type, len, status == 405 ? "Allow: GET\r\n" : "");
    if (write_all(fd, head, (size_t)n) == 0)
        write_all(fd, body, len);
}

static void respond_text(int fd, int status, const char *text)
{
    respond(fd, status, "text/plain; charset=utf-8", text, strlen(text));
}

/* The JSON of one read-only command, from a fresh Redis connection (this
 * child's own). */
static void serve_api(struct serve *sv, int fd, const char *what)
{
    struct ctl *x = sv->x;
    char err[256], *body = NULL;
    size_t len = 0;
    x->c = rds_sync_connect(sv->o, SERVE_REDIS_TIMEOUT_S, err, sizeof err);
    if (!x->c) {
        serve_count(sv->st, SR_REDIS, "msg=cannot_connect");
        respond_text(fd, 502, err);
        return;
    }
    x->json = json_ages = true;
    if (!(x->out = open_memstream(&body, &len))) {
        respond_text(fd, 502, "out of memory");
        rds_sync_close(x->c);
        return;
    }
    int rc = check_schema(x, x->out); /* a refusal is explained in the answer */
    if (rc == 0 && strcmp(what, "sessions") == 0)
        cmd_sessions(x);
    else if (rc == 0 && strcmp(what, "backends") == 0)
        cmd_backends(x);
    else if (rc == 0 && strcmp(what, "proxies") == 0)
        cmd_proxies(x);
    else if (rc == 0 && strcmp(what, "stats") == 0)
        cmd_stats(x);
    else if (rc == 0)
        cmd_events(x, SERVE_EVENTS, false, true);
    fclose(x->out);
    x->out = NULL;
    rds_sync_close(x->c);
    if (rc != 0) {
        serve_count(sv->st, SR_REDIS, "msg=schema_version");
        respond_text(fd, 502, body ? body : "schema");
    } else {
        serve_count(sv->st, SR_OK, "");
        respond(fd, 200, "application/json", body, len);
    }
    free(body);
}

static void serve_metrics(struct serve *sv, int fd)
{
    char *body = NULL;
    size_t len = 0;
    FILE *o = open_memstream(&body, &len);
    if (!o) {
        respond_text(fd, 502, "out of memory");
        return;
    }
    serve_count(sv->st, SR_OK, "");
    fputs("# HELP sstpctl_serve_requests_total Dashboard requests, by result.\n"
          "# TYPE sstpctl_serve_requests_total counter\n", o);
    for (int r = 0; r < SR_COUNT; r++)
        fprintf(o, "sstpctl_serve_requests_total{result=\"%s\"} %llu\n", serve_result_names[r],
                (unsigned long long)__atomic_load_n(&sv->st->n[r], __ATOMIC_RELAXED));
    fclose(o);
    respond(fd, 200, "text/plain; version=0.0.4", body, len);
    free(body);
}

/* One request on fd (a child process, bounded by SIGALRM). */
static void serve_one(struct serve *sv, int fd, const char *peer)
{
    char buf[ADMIN_REQ_MAX + 1], path[256], host[ADMIN_HOST_MAX], detail[160];
    size_t len = 0;
    enum admin_method method;
    int rc = 0;
    while (rc == 0 && len < sizeof buf - 1) {
        ssize_t n = recv(fd, buf + len, sizeof buf - 1 - len, 0);
        if (n == -1 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        len += (size_t)n;
        rc = admin_request_parse(buf, len, &method, path, sizeof path);
    }
    snprintf(detail, sizeof detail, "client=%s", peer);
    if (rc != 1) {
        serve_count(sv->st, SR_BAD_REQUEST, detail);
        respond_text(fd, 400, "bad request\n");
        return;
    }
    int host_rc = admin_request_host(buf, len, host, sizeof host);
    if (host_rc == -1) {
        serve_count(sv->st, SR_BAD_REQUEST, detail);
        respond_text(fd, 400, "one Host header, please\n");
        return;
    }
    if (host_rc == 1 && !admin_host_allowed(host, &sv->listen)) {
        serve_count(sv->st, SR_HOST, detail); /* DNS rebinding: a name other than ours */
        respond_text(fd, 421, "use localhost or an IP address in Host\n");
        return;
    }
    if (method != ADMIN_GET) { /* read-only: nothing here changes the fleet */
        serve_count(sv->st, SR_METHOD, detail);
        respond_text(fd, 405, "GET only\n");
        return;
    }
    if (strcmp(path, "/") == 0 || strcmp(path, "/index.html") == 0) {
        serve_count(sv->st, SR_OK, "");
        respond(fd, 200, "text/html; charset=utf-8", sstpctl_page, (size_t)(sstpctl_page_end - sstpctl_page));
    } else if (strcmp(path, "/metrics") == 0) {
        serve_metrics(sv, fd);
    } else if (strcmp(path, "/api/sessions") == 0 || strcmp(path, "/api/backends") == 0 ||
               strcmp(path, "/api/proxies") == 0 || strcmp(path, "/api/stats") == 0 ||
               strcmp(path, "/api/events") == 0) {
        serve_api(sv, fd, path + strlen("/api/"));
    } else {
        serve_count(sv->st, SR_NOT_FOUND, "");
        respond_text(fd, 404, "not found\n");
    }
}

/* Reaps finished children; counts those that died mid-request. Returns how
 * many were reaped. */
static unsigned serve_reap(struct serve *sv, bool block)
{
    unsigned n = 0;
    int status;
    pid_t pid;
    while ((pid = waitpid(-1, &status, block && n == 0 ? 0 : WNOHANG)) > 0) {
        n++;
        if (WIFSIGNALED(status) && WTERMSIG(status) == SIGALRM)
            serve_count(sv->st, SR_TIMEOUT, "msg=request_took_too_long");
        else if (WIFEXITED(status) && WEXITSTATUS(status) == SERVE_EXIT_REDIS)
            serve_count(sv->st, SR_REDIS, "msg=lost_the_connection");
    }
    return n;
}

/* sstpctl serve: one process accepts; each request is served by a child
 * of its own (its own Redis connection, SIGALRM after SERVE_TIMEOUT_S), so
 * a slow client or a hung Redis holds one child, never the server. */
static int cmd_serve(struct ctl *x, const struct rds_opts *o, const char *listen_at)
{
    struct serve sv = { .x = x, .o = o };
    if (net_addr_parse(&sv.listen, listen_at) == -1) {
        fprintf(stderr, "sstpctl: bad --listen address '%s' (ip:port, [ipv6]:port)\n", listen_at);
        return 2;
    }
    int lfd = net_listen(&sv.listen, 64, false);
    if (lfd == -1) {
        fprintf(stderr, "sstpctl: cannot listen on %s: %s\n", listen_at, strerror(errno));
        return 1;
    }
    sv.st = mmap(NULL, sizeof *sv.st, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (sv.st == MAP_FAILED) {
        perror("sstpctl: mmap");
        close(lfd);
        return 1;
    }
    memset(sv.st, 0, sizeof *sv.st);
    log_setup("sstpctl", LOG_INFO, LOG_TEXT);
    log_info("serve", "addr=%s redis=%s:%d prefix=%s", listen_at, o->host, o->port, x->prefix);
    signal(SIGINT, on_sigint);
    signal(SIGTERM, on_sigint);
    signal(SIGPIPE, SIG_IGN);
    unsigned children = 0;
    while (!stop) {
        children -= serve_reap(&sv, children >= SERVE_CHILDREN_MAX);
        struct pollfd p = { lfd, POLLIN, 0 };
        if (poll(&p, 1, 500) <= 0)
            continue;
        struct sockaddr_storage ss;
        socklen_t sl = sizeof ss;
        int fd = accept4(lfd, (struct sockaddr *)&ss, &sl, SOCK_CLOEXEC);
        if (fd == -1) {
            if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED) {
                serve_count(sv.st, SR_BUSY, "msg=accept_failed");
                poll(NULL, 0, 500); /* EMFILE: let descriptors free up rather than spin */
            }
            continue;
        }
        char peer[64];
        net_addr_str((struct sockaddr *)&ss, peer, sizeof peer);
        fflush(NULL); /* a child must not write the parent's buffered output again */
        pid_t pid = fork();
        if (pid == 0) {
            close(lfd);
            signal(SIGINT, SIG_DFL);
            signal(SIGTERM, SIG_DFL);
            alarm(SERVE_TIMEOUT_S);
            struct timeval tv = { SERVE_TIMEOUT_S, 0 };
            setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
            serve_one(&sv, fd, peer);
            close(fd);
            _exit(0);
        }
        if (pid == -1)
            serve_count(sv.st, SR_BUSY, "msg=fork_failed");
        else
            children++;
        close(fd);
    }
    close(lfd);
    while (children > 0 && serve_reap(&sv, true) > 0)
        children--;
    log_info("serve_stop", "requests_ok=%llu", (unsigned long long)sv.st->n[SR_OK]);
    munmap(sv.st, sizeof *sv.st);
    return 0;
}

static void usage(FILE *out)
{
    fprintf(out,
            "usage: sstpctl [-r URL] [--sentinel ADDRS --master NAME] [--prefix P] [--json]\n"
            "               [--user U] [--backend B] [--proxy P] [--tenant T] COMMAND [ARGS]\n"
            "\n"
            "Reads and changes an sstp-lb fleet through its Redis schema (major version %ld;\n"
            "another one is refused with exit status 3).\n"
            "\n"
            "  -r, --redis URL    redis://[user:password@]host[:port][/db]\n"
            "                     (default $SSTP_REDIS_URL, else redis://127.0.0.1:6379)\n"
            "      --sentinel ADDRS  ip:port,... of Redis Sentinels: the master is asked of\n"
            "                     them (default $SSTP_REDIS_SENTINELS); the URL still gives\n"
            "                     user, password and db\n"
            "      --master NAME  master name known to the sentinels (default\n"
            "                     $SSTP_REDIS_MASTER, else mymaster)\n"
            "      --prefix P     key prefix (default $SSTP_REDIS_PREFIX, else sstp:)\n"
            "      --json         JSON instead of aligned tables (numbers as numbers, ages\n"
            "                     in seconds)\n"
            "      --user U       sessions of user U only\n"
            "      --backend B    sessions on backend B; backends: B only\n"
            "      --proxy P      sessions through proxy P; proxies: P only\n"
            "      --tenant T     sessions of tenant T (their backend's group); backends of\n"
            "                     group T\n"
            "\n"
            "commands:\n"
            "  sessions                      live sessions (user, client, backend, address, bytes)\n"
            "  backends                      registered backends and their state (invalid:REASON:\n"
            "                                an entry proxies ignore)\n"
            "  proxies                       proxies that registered themselves\n"
            "  stats                         fleet counters\n"
            "  drain BACKEND [--disconnect]  take no new sessions (and end the live ones)\n"
            "  undrain BACKEND               take sessions again\n"
            "  kick SESSION                  end one session with CALL_DISCONNECT\n"
            "  events [-n N] [--follow]      the last N events (default 20), then new ones\n"
            "  serve [--listen ADDR]         a live dashboard of the fleet (read-only HTTP, GET\n"
            "                                only) on ADDR (default " SERVE_LISTEN_DEFAULT "): the page\n"
            "                                at /, its JSON at /api/{proxies,backends,sessions,\n"
            "                                events,stats}, its own counters at /metrics. No\n"
            "                                authentication: keep it on loopback (ssh -L) or\n"
            "                                behind an authenticating proxy. Host must be\n"
            "                                localhost or an IP (DNS rebinding); filters apply\n",
            (long)SCHEMA_VERSION_MAJOR);
}

/* Options may come before and after the command. Returns 0, or 2 on a bad
 * option. */
static int parse_opts(int argc, char **argv, struct ctl *x, const char **url, const char **prefix,
                      const char **sentinels, const char **master, bool *disconnect, bool *follow,
                      long *n, const char **listen_at)
{
    static const struct option longopts[] = {
        { "redis", required_argument, NULL, 'r' },    { "prefix", required_argument, NULL, 'p' },
        { "json", no_argument, NULL, 'j' },           { "disconnect", no_argument, NULL, 'd' },
        { "follow", no_argument, NULL, 'f' },         { "help", no_argument, NULL, 'h' },
        { "sentinel", required_argument, NULL, 's' }, { "master", required_argument, NULL, 'm' },
        { "user", required_argument, NULL, 'U' },     { "backend", required_argument, NULL, 'B' },
        { "proxy", required_argument, NULL, 'P' },    { "tenant", required_argument, NULL, 'T' },
        { "listen", required_argument, NULL, 'L' },   { NULL, 0, NULL, 0 },
    };
    int opt;
    while ((opt = getopt_long(argc, argv, "+r:n:fh", longopts, NULL)) != -1) {
        switch (opt) {
        case 'r': *url = optarg; break;
        case 'p': *prefix = optarg; break;
        case 'j': x->json = true; break;
        case 'd': *disconnect = true; break;
        case 'f': *follow = true; break;
        case 'n': *n = atol(optarg); break;
        case 's': *sentinels = optarg; break;
        case 'm': *master = optarg; break;
        case 'U': x->f.user = optarg; break;
        case 'B': x->f.backend = optarg; break;
        case 'P': x->f.proxy = optarg; break;
        case 'T': x->f.tenant = optarg; break;
        case 'L': *listen_at = optarg; break;
        case 'h': usage(stdout); exit(0);
        default: usage(stderr); return 2;
        }
    }
    return 0;
}

int main(int argc, char **argv)
{
    struct rds_opts o;
    struct ctl x = { 0 };
    const char *url = getenv("SSTP_REDIS_URL");
    const char *prefix = getenv("SSTP_REDIS_PREFIX");
    const char *sentinels = getenv("SSTP_REDIS_SENTINELS");
    const char *master = getenv("SSTP_REDIS_MASTER");
    const char *listen_at = SERVE_LISTEN_DEFAULT;
    bool disconnect = false, follow = false;
    long n = 20;
    x.out = stdout;
    if (parse_opts(argc, argv, &x, &url, &prefix, &sentinels, &master, &disconnect, &follow, &n, &listen_at))
        return 2;
    int first = optind;
    if (first >= argc) {
        usage(stderr);
        return 2;
    }
    /* the options that follow the command */
    optind = first + 1;
    if (parse_opts(argc, argv, &x, &url, &prefix, &sentinels, &master, &disconnect, &follow, &n, &listen_at))
        return 2;
    const char *cmd = argv[first];
    const char *arg = optind < argc ? argv[optind] : NULL;
    json_ages = x.json;

    rds_opts_default(&o);
    if (url && rds_parse_url(&o, url) == -1) {
        fprintf(stderr, "sstpctl: bad redis URL '%s'\n", url);
        return 2;
    }
    if (sentinels && sentinels[0] && rds_parse_sentinels(&o, sentinels) == -1) {
        fprintf(stderr, "sstpctl: bad sentinel list '%s' (ip:port,... up to %d)\n", sentinels,
                RDS_MAX_SENTINELS);
        return 2;
    }
    if (master && master[0]) {
        if (strlen(master) >= sizeof o.sentinel_master) {
            fprintf(stderr, "sstpctl: master name too long\n");
            return 2;
        }
        snprintf(o.sentinel_master, sizeof o.sentinel_master, "%s", master);
    } else if (!o.sentinel_master[0]) {
        snprintf(o.sentinel_master, sizeof o.sentinel_master, "mymaster");
    }
    x.prefix = prefix ? prefix : o.prefix;
    if (strcmp(cmd, "serve") == 0)
        return cmd_serve(&x, &o, listen_at);
    char err[256];
    x.c = rds_sync_connect(&o, 3.0, err, sizeof err);
    if (!x.c) {
        fprintf(stderr, "sstpctl: %s\n", err);
        return 1;
    }
    int rc = check_schema(&x, stderr);
    if (rc == EXIT_SCHEMA)
        goto out;
    if (strcmp(cmd, "sessions") == 0)
        rc = cmd_sessions(&x);
    else if (strcmp(cmd, "backends") == 0)
        rc = cmd_backends(&x);
    else if (strcmp(cmd, "proxies") == 0)
        rc = cmd_proxies(&x);
    else if (strcmp(cmd, "stats") == 0)
        rc = cmd_stats(&x);
    else if ((strcmp(cmd, "drain") == 0 || strcmp(cmd, "undrain") == 0) && arg)
        rc = cmd_drain(&x, arg, cmd[0] == 'd', disconnect);
    else if (strcmp(cmd, "kick") == 0 && arg)
        rc = cmd_kick(&x, arg);
    else if (strcmp(cmd, "events") == 0)
        rc = cmd_events(&x, n > 0 ? n : 20, follow, false);
    else {
        usage(stderr);
        rc = 2;
    }
out:
    rds_sync_close(x.c);
    return rc;
}
