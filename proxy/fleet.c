/* fleet.c — a worker's Redis side: client, registry reader, the proxy's
 * heartbeat, held affinity records, counters and reject events in one
 * batch (see fleet.h). */
#include "proxy/fleet.h"

#include <hiredis/hiredis.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/version.h"
#include "lb/affinity.h"
#include "lb/redis.h"
#include "lb/schema.h"
#include "lb/script.h"

#define NUM_MAX 24
#define REASON_MAX 48
#define PROXY_TTL_FLUSHES 3   /* the proxy's entry outlives this many missed flushes */
#define AFF_RENEW_BATCH 100   /* affinity keys renewed per script call */
#define AFF_RENEW_PER_TTL 3   /* held records are renewed this many times a TTL */
#define AFF_RENEW_MIN_S 0.5

/* One round trip per batch, atomic. KEYS: stats, events, stats:proxy:<id>,
 * proxy:<id>, proxies. ARGV: n counter pairs, events max, entry ttl ms,
 * heartbeat ms, proxy id, n entry pairs, then the counter name/delta
 * pairs, the entry field/value pairs, and 4 values per reject event
 * (session, client, reason, proxy). Proxies whose entry has expired leave
 * the index. */
static const char FLUSH_LUA[] =
    "local n, max, ttl, hb, id, ne = tonumber(ARGV[1]), ARGV[2], ARGV[3], ARGV[4], ARGV[5], "
    "  tonumber(ARGV[6]) "
    "local i = 7 "
    "for _ = 1, n do "
    "  redis.call('HINCRBY', KEYS[1], ARGV[i], ARGV[i + 1]) "
    "  redis.call('HINCRBY', KEYS[3], ARGV[i], ARGV[i + 1]) "
    "  i = i + 2 "
    "end "
    "if ne > 0 then "
    "  redis.call('HSET', KEYS[4], unpack(ARGV, i, i + 2 * ne - 1)) "
    "  redis.call('PEXPIRE', KEYS[4], ttl) "
    "  redis.call('ZADD', KEYS[5], hb, id) "
    "  redis.call('ZREMRANGEBYSCORE', KEYS[5], '-inf', '(' .. (tonumber(hb) - tonumber(ttl))) "
    "  i = i + 2 * ne "
    "end "
    "while i + 3 <= #ARGV do "
    "  redis.call('XADD', KEYS[2], 'MAXLEN', '~', max, '*', 'type', 'reject', "
    "             'session', ARGV[i], 'client', ARGV[i + 1], 'reason', ARGV[i + 2], "
    "             'proxy', ARGV[i + 3]) "
    "  i = i + 4 "
    "end "
    "return n";

/* Renews the TTL of affinity keys that still name the same backend (a
 * newer choice by another proxy is left alone). ARGV: ttl s, then
 * key/backend pairs. */
static const char AFF_RENEW_LUA[] =
    "for i = 2, #ARGV - 1, 2 do "
    "  if redis.call('GET', ARGV[i]) == ARGV[i + 1] then redis.call('EXPIRE', ARGV[i], ARGV[1]) end "
    "end "
    "return 1";

static const char *const counter_fields[PX_FC_COUNT] = {
    "proxy_connections", "proxy_sessions", "proxy_rejects", "proxy_tls_failures",
    "proxy_no_backend", "proxy_bytes_in", "proxy_bytes_out",
};

struct reject {
    char sid[PX_FLEET_REJECT_SID_MAX + 1];
    char client[NET_ADDR_STR_MAX];
    char reason[REASON_MAX];
};

struct px_fleet_aff {
    struct px_fleet *f;
    struct px_fleet_aff *prev, *next;
    char key[SCHEMA_KEY_MAX];     /* the full Redis key */
    char backend[64];
};

struct px_fleet {
    struct ev_loop *loop;
    unsigned worker;
    struct px_fleet_hooks hooks;
    struct rds *rds;
    struct lb_registry *reg;
    struct lb_script flush_script, renew_script;
    ev_timer flush, renew;
    double started_ms;
    uint64_t flushed[PX_FC_COUNT];  /* counter values Redis acknowledged */
    uint64_t sending[PX_FC_COUNT];  /* the values of the flush in flight */
    bool in_flight;
    struct reject rejects[PX_FLEET_REJECTS_MAX];
    size_t n_rejects;
    struct px_fleet_aff *affs;      /* held affinity records */
    char stats_key[SCHEMA_KEY_MAX], events_key[SCHEMA_KEY_MAX], proxy_stats_key[SCHEMA_KEY_MAX],
        proxy_key[SCHEMA_KEY_MAX], proxies_key[SCHEMA_KEY_MAX];
};

/* A flush Redis acknowledged moves the baseline; one it did not is sent
 * again (as part of the next delta). */
static void on_flush(const struct redisReply *r, void *ud)
{
    struct px_fleet *f = ud;
    f->in_flight = false;
    if (r && r->type != REDIS_REPLY_ERROR)
        memcpy(f->flushed, f->sending, sizeof f->flushed);
    else
        log_debug("fleet_flush_fail", "worker=%u err=\"%s\"", f->worker, r ? r->str : "connection lost");
}

static const struct px_config *config(const struct px_fleet *f)
{
    return f->hooks.config(f->hooks.ud);
}

static void renew_affinity(struct px_fleet *f)
{
    const char *args[1 + 2 * AFF_RENEW_BATCH];
    char ttl[NUM_MAX];
    int n = 0;
    snprintf(ttl, sizeof ttl, "%ld", config(f)->aff_ttl < 1 ? 1L : (long)config(f)->aff_ttl);
    args[n++] = ttl;
    for (struct px_fleet_aff *a = f->affs; a; a = a->next) {
        args[n++] = a->key;
        args[n++] = a->backend;
        if (n == 1 + 2 * AFF_RENEW_BATCH || !a->next) {
            lb_script_call(f->rds, &f->renew_script, NULL, NULL, 0, n, args);
            n = 1;
        }
    }
}

static void flush(struct px_fleet *f)
{
    uint64_t now[PX_FC_COUNT];
    char deltas[PX_FC_COUNT][NUM_MAX], n_pairs[NUM_MAX], max[NUM_MAX], ttl[NUM_MAX], hb[NUM_MAX],
        started[NUM_MAX], workers[NUM_MAX];
    const char *args[11 + 2 * PX_FC_COUNT + 12 + 4 * PX_FLEET_REJECTS_MAX];
    int argc = 0, pairs = 0;
    if (!rds_is_up(f->rds) || f->in_flight)
        return; /* the deltas wait for the next batch that reaches Redis */
    f->hooks.counters(now, f->hooks.ud);
    snprintf(max, sizeof max, "%ld", config(f)->events_max);
    snprintf(ttl, sizeof ttl, "%.0f", PROXY_TTL_FLUSHES * PX_FLEET_FLUSH_S * 1000.0);
    snprintf(hb, sizeof hb, "%.0f", ev_now(f->loop) * 1000.0);
    snprintf(started, sizeof started, "%.0f", f->started_ms);
    snprintf(workers, sizeof workers, "%ld", config(f)->workers);
    args[argc++] = f->stats_key;
    args[argc++] = f->events_key;
    args[argc++] = f->proxy_stats_key;
    args[argc++] = f->proxy_key;
    args[argc++] = f->proxies_key;
    args[argc++] = n_pairs;
    args[argc++] = max;
    args[argc++] = ttl;
    args[argc++] = hb;
    args[argc++] = config(f)->id;
    args[argc++] = "6"; /* entry pairs below */
    for (int i = 0; i < PX_FC_COUNT; i++) {
        if (now[i] <= f->flushed[i])
            continue;
        snprintf(deltas[i], sizeof deltas[i], "%llu", (unsigned long long)(now[i] - f->flushed[i]));
        args[argc++] = counter_fields[i];
        args[argc++] = deltas[i];
        pairs++;
    }
    const char *entry[] = {
        SCHEMA_F_PX_ID, config(f)->id,
        SCHEMA_F_PX_ADDR, config(f)->binds.n ? config(f)->binds.items[0].text : "",
        SCHEMA_F_PX_VERSION, SSTP_LB_VERSION,
        SCHEMA_F_PX_STARTED, started,
        SCHEMA_F_PX_HEARTBEAT, hb,
        SCHEMA_F_PX_WORKERS, workers,
    };
    memcpy(args + argc, entry, sizeof entry);
    argc += (int)(sizeof entry / sizeof entry[0]);
    for (size_t i = 0; i < f->n_rejects; i++) {
        args[argc++] = f->rejects[i].sid;
        args[argc++] = f->rejects[i].client;
        args[argc++] = f->rejects[i].reason;
        args[argc++] = config(f)->id;
    }
    snprintf(n_pairs, sizeof n_pairs, "%d", pairs);
    if (lb_script_call(f->rds, &f->flush_script, on_flush, f, 5, argc, args) == -1)
        return; /* refused (down or full): try again next time */
    memcpy(f->sending, now, sizeof now);
    f->in_flight = true;
    f->n_rejects = 0; /* events are sent at most once */
}

static void flush_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
    (void)loop;
    (void)revents;
    flush(t->data);
}

static void renew_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
    (void)revents;
    struct px_fleet *f = t->data;
    if (rds_is_up(f->rds))
        renew_affinity(f);
    /* the period follows aff_ttl across reloads */
    double period = config(f)->aff_ttl / AFF_RENEW_PER_TTL;
    t->repeat = period < AFF_RENEW_MIN_S ? AFF_RENEW_MIN_S : period;
    ev_timer_again(loop, t);
}

static void on_registry(const struct lb_reg_list *list, bool changed, void *ud)
{
    struct px_fleet *f = ud;
    f->hooks.registry(list, changed, f->hooks.ud);
}

static void on_state(bool up, void *ud)
{
    struct px_fleet *f = ud;
    /* redis.c logs the transition (redis_up / redis_down) */
    f->hooks.state(up, f->hooks.ud);
    if (up && f->reg) {
        lb_registry_refresh(f->reg); /* what changed while it was away, now */
        flush(f);                    /* and this proxy's entry, at once */
    }
}

struct px_fleet *px_fleet_new(struct ev_loop *loop, unsigned worker, const struct px_fleet_hooks *hooks)
{
    const struct px_config *cfg = hooks->config(hooks->ud);
    struct rds_opts o;
    if (px_config_redis(cfg, &o) == -1)
        return NULL;
    struct px_fleet *f = calloc(1, sizeof *f);
    if (!f) {
        log_error("fleet", "worker=%u err=out_of_memory", worker);
        return NULL;
    }
    f->loop = loop;
    f->worker = worker;
    f->hooks = *hooks;
    f->started_ms = ev_now(loop) * 1000.0;
    hooks->counters(f->flushed, hooks->ud); /* a restarted worker's block holds its last life's counts */
    lb_script_init(&f->flush_script, FLUSH_LUA);
    lb_script_init(&f->renew_script, AFF_RENEW_LUA);
    schema_key(f->stats_key, sizeof f->stats_key, o.prefix, SCHEMA_K_STATS);
    schema_key(f->events_key, sizeof f->events_key, o.prefix, SCHEMA_K_EVENTS);
    schema_key(f->proxy_stats_key, sizeof f->proxy_stats_key, o.prefix, SCHEMA_K_STATS_PROXY, cfg->id);
    schema_key(f->proxy_key, sizeof f->proxy_key, o.prefix, SCHEMA_K_PROXY, cfg->id);
    schema_key(f->proxies_key, sizeof f->proxies_key, o.prefix, SCHEMA_K_PROXIES);
    f->hooks.state(false, f->hooks.ud);
    struct lb_registry_opts ro;
    px_config_registry(cfg, worker, &ro);
    if (!(f->rds = rds_new(loop, &o, on_state, f)) ||
        !(f->reg = lb_registry_new(loop, f->rds, &ro, on_registry, f))) {
        log_error("fleet", "worker=%u err=out_of_memory", worker);
        px_fleet_free(f);
        return NULL;
    }
    ev_timer_init(&f->flush, flush_cb, PX_FLEET_FLUSH_S, PX_FLEET_FLUSH_S);
    f->flush.data = f;
    ev_timer_start(loop, &f->flush);
    ev_timer_init(&f->renew, renew_cb, 0, AFF_RENEW_MIN_S);
    f->renew.data = f;
    renew_cb(loop, &f->renew, 0);
    log_info("fleet", "worker=%u redis=%s:%d db=%d sentinels=%zu prefix=%s registry_interval_s=%g",
             worker, o.host, o.port, o.db, o.n_sentinels, o.prefix, cfg->registry_interval);
    return f;
}

void px_fleet_free(struct px_fleet *f)
{
    if (!f)
        return;
    ev_timer_stop(f->loop, &f->flush);
    ev_timer_stop(f->loop, &f->renew);
    lb_registry_free(f->reg); /* before the client: its pending reply is emptied first */
    rds_free(f->rds);         /* on_flush runs (NULL) while f lives */
    while (f->affs) {
        struct px_fleet_aff *a = f->affs;
        f->affs = a->next;
        free(a);
    }
    free(f);
}

struct rds *px_fleet_rds(const struct px_fleet *f)
{
    return f->rds;
}

const struct lb_reg_list *px_fleet_registry(const struct px_fleet *f)
{
    return lb_registry_list(f->reg);
}

const struct lb_reg_stats *px_fleet_registry_stats(const struct px_fleet *f)
{
    return lb_registry_stats(f->reg);
}

void px_fleet_reject(struct px_fleet *f, const char *sid, const char *client, const char *reason)
{
    if (f->n_rejects == PX_FLEET_REJECTS_MAX)
        return;
    struct reject *r = &f->rejects[f->n_rejects++];
    snprintf(r->sid, sizeof r->sid, "%s", sid);
    snprintf(r->client, sizeof r->client, "%s", client);
    snprintf(r->reason, sizeof r->reason, "%s", reason);
}

struct px_fleet_aff *px_fleet_aff_hold(struct px_fleet *f, const char *key, const char *backend)
{
    lb_aff_record(f->rds, key, backend, config(f)->aff_ttl);
    struct px_fleet_aff *a = calloc(1, sizeof *a);
    if (!a)
        return NULL;
    a->f = f;
    schema_key(a->key, sizeof a->key, rds_prefix(f->rds), SCHEMA_K_AFFINITY, key);
    snprintf(a->backend, sizeof a->backend, "%s", backend);
    a->next = f->affs;
    if (f->affs)
        f->affs->prev = a;
    f->affs = a;
    return a;
}

void px_fleet_aff_release(struct px_fleet_aff *a)
{
    if (!a)
        return;
    if (a->prev)
        a->prev->next = a->next;
    else
        a->f->affs = a->next;
    if (a->next)
        a->next->prev = a->prev;
    free(a);
}
