/* fleet.c — a worker's Redis side: client, registry reader, counters and
 * reject events in one batch (see fleet.h). */
#include "proxy/fleet.h"

#include <hiredis/hiredis.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "lb/redis.h"
#include "lb/schema.h"
#include "proxy/stats.h"
#include "proxy/worker.h"

#define NUM_MAX 24
#define REASON_MAX 48

/* One round trip per batch: HINCRBY of each counter that grew (name/delta
 * pairs, ARGV[1] of them), then one XADD per queued reject event (4
 * values each: session, client, reason, proxy), capped at ARGV[2]. */
static const char FLUSH_LUA[] =
    "local n = tonumber(ARGV[1]) "
    "local i = 3 "
    "for _ = 1, n do redis.call('HINCRBY', KEYS[1], ARGV[i], ARGV[i + 1]); i = i + 2 end "
    "while i + 3 <= #ARGV do "
    "  redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[2], '*', 'type', 'reject', "
    "             'session', ARGV[i], 'client', ARGV[i + 1], 'reason', ARGV[i + 2], "
    "             'proxy', ARGV[i + 3]) "
    "  i = i + 4 "
    "end "
    "return n";

/* The `stats` fields of the proxy (README "Redis schema"), each the sum of
 * some of the worker's metric values. */
enum counter { FC_CONNECTIONS = 0, FC_SESSIONS, FC_REJECTS, FC_TLS_FAILURES, FC_NO_BACKEND,
               FC_BYTES_IN, FC_BYTES_OUT, FC_COUNT };
static const char *const counter_fields[FC_COUNT] = {
    "proxy_connections", "proxy_sessions", "proxy_rejects", "proxy_tls_failures",
    "proxy_no_backend", "proxy_bytes_in", "proxy_bytes_out",
};

struct reject {
    char sid[PX_SID_LEN + 1];
    char client[NET_ADDR_STR_MAX];
    char reason[REASON_MAX];
};

struct px_fleet {
    struct px_worker *w;
    struct rds *rds;
    struct lb_registry *reg;
    ev_timer flush;
    uint64_t flushed[FC_COUNT];     /* counter values already added to `stats` */
    struct reject rejects[PX_FLEET_REJECTS_MAX];
    size_t n_rejects;
    struct rds_stats published;     /* the client's counters already in the metrics */
    char stats_key[SCHEMA_KEY_MAX], events_key[SCHEMA_KEY_MAX];
};

static uint64_t family_sum(const struct px_worker *w, enum px_metric f)
{
    const struct metrics_family *fam = &w->m->fam[f];
    size_t n = fam->label ? fam->n_values : 1;
    uint64_t sum = 0;
    for (size_t i = 0; i < n; i++)
        sum += metrics_get(w->mv, fam, i);
    return sum;
}

static void read_counters(const struct px_worker *w, uint64_t out[FC_COUNT])
{
    const struct metrics_family *fam = w->m->fam;
    out[FC_CONNECTIONS] = family_sum(w, PXM_CONNECTIONS);
    out[FC_SESSIONS] = family_sum(w, PXM_SESSIONS);
    out[FC_REJECTS] = family_sum(w, PXM_PROTO_ERRORS);
    out[FC_TLS_FAILURES] = family_sum(w, PXM_TLS_FAILURES);
    out[FC_NO_BACKEND] = family_sum(w, PXM_NO_BACKEND);
    out[FC_BYTES_IN] = metrics_get(w->mv, &fam[PXM_BYTES], PXD_IN);
    out[FC_BYTES_OUT] = metrics_get(w->mv, &fam[PXM_BYTES], PXD_OUT);
}

static void flush(struct px_fleet *f)
{
    uint64_t now[FC_COUNT];
    char deltas[FC_COUNT][NUM_MAX], n_pairs[NUM_MAX], max[NUM_MAX];
    /* EVAL script 2 stats events n_pairs max, 2 per counter, 4 per reject */
    const char *argv[7 + 2 * FC_COUNT + 4 * PX_FLEET_REJECTS_MAX];
    int argc = 0, pairs = 0;
    if (!rds_is_up(f->rds))
        return; /* the deltas wait for the next batch that reaches Redis */
    read_counters(f->w, now);
    snprintf(max, sizeof max, "%ld", f->w->cfg->events_max);
    argv[argc++] = "EVAL";
    argv[argc++] = FLUSH_LUA;
    argv[argc++] = "2";
    argv[argc++] = f->stats_key;
    argv[argc++] = f->events_key;
    argv[argc++] = n_pairs;
    argv[argc++] = max;
    for (int i = 0; i < FC_COUNT; i++) {
        if (now[i] <= f->flushed[i])
            continue;
        snprintf(deltas[i], sizeof deltas[i], "%llu", (unsigned long long)(now[i] - f->flushed[i]));
        argv[argc++] = counter_fields[i];
        argv[argc++] = deltas[i];
        pairs++;
    }
    for (size_t i = 0; i < f->n_rejects; i++) {
        argv[argc++] = f->rejects[i].sid;
        argv[argc++] = f->rejects[i].client;
        argv[argc++] = f->rejects[i].reason;
        argv[argc++] = f->w->cfg->id;
    }
    if (pairs == 0 && f->n_rejects == 0)
        return;
    snprintf(n_pairs, sizeof n_pairs, "%d", pairs);
    if (rds_cmdv(f->rds, NULL, NULL, argc, argv) == -1)
        return; /* refused (down or full): try again next time */
    /* at most once: a reply lost with the connection is not sent again */
    memcpy(f->flushed, now, sizeof now);
    f->n_rejects = 0;
}

static void flush_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
    (void)loop;
    (void)revents;
    flush(t->data);
}

static void on_registry(const struct lb_reg_list *list, bool changed, void *ud)
{
    struct px_fleet *f = ud;
    metrics_add(f->w->mv, &f->w->m->fam[PXM_REGISTRY_REFRESHES], changed ? PXG_CHANGED : PXG_SAME, 1);
    metrics_set(f->w->mv, &f->w->m->fam[PXM_REGISTRY_BACKENDS], 0, list->n);
    px_worker_registry(f->w, list, changed);
}

static void on_state(bool up, void *ud)
{
    struct px_fleet *f = ud;
    /* redis.c logs the transition (redis_up / redis_down) */
    metrics_set(f->w->mv, &f->w->m->fam[PXM_REDIS_CONNECTED], 0, up ? 1 : 0);
    if (up && f->reg) {
        lb_registry_refresh(f->reg); /* what changed while it was away, now */
        flush(f);
    }
}

struct px_fleet *px_fleet_new(struct px_worker *w)
{
    struct rds_opts o;
    if (px_config_redis(w->cfg, &o) == -1)
        return NULL;
    struct px_fleet *f = calloc(1, sizeof *f);
    if (!f) {
        log_error("fleet", "worker=%u err=out_of_memory", w->index);
        return NULL;
    }
    f->w = w;
    read_counters(w, f->flushed); /* a restarted worker's block holds its last life's counts */
    schema_key(f->stats_key, sizeof f->stats_key, o.prefix, SCHEMA_K_STATS);
    schema_key(f->events_key, sizeof f->events_key, o.prefix, SCHEMA_K_EVENTS);
    metrics_set(w->mv, &w->m->fam[PXM_REDIS_CONNECTED], 0, 0);
    struct lb_registry_opts ro;
    px_config_registry(w->cfg, w->index, &ro);
    if (!(f->rds = rds_new(w->loop, &o, on_state, f)) ||
        !(f->reg = lb_registry_new(w->loop, f->rds, &ro, on_registry, f))) {
        log_error("fleet", "worker=%u err=out_of_memory", w->index);
        px_fleet_free(f);
        return NULL;
    }
    ev_timer_init(&f->flush, flush_cb, PX_FLEET_FLUSH_S, PX_FLEET_FLUSH_S);
    f->flush.data = f;
    ev_timer_start(w->loop, &f->flush);
    log_info("fleet", "worker=%u redis=%s:%d db=%d sentinels=%zu prefix=%s registry_interval_s=%g",
             w->index, o.host, o.port, o.db, o.n_sentinels, o.prefix, w->cfg->registry_interval);
    return f;
}

void px_fleet_free(struct px_fleet *f)
{
    if (!f)
        return;
    ev_timer_stop(f->w->loop, &f->flush);
    lb_registry_free(f->reg); /* before the client: its pending reply is emptied first */
    rds_free(f->rds);
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

void px_fleet_reject(struct px_fleet *f, const char *sid, const char *client, const char *reason)
{
    if (f->n_rejects == PX_FLEET_REJECTS_MAX)
        return;
    struct reject *r = &f->rejects[f->n_rejects++];
    snprintf(r->sid, sizeof r->sid, "%s", sid);
    snprintf(r->client, sizeof r->client, "%s", client);
    snprintf(r->reason, sizeof r->reason, "%s", reason);
}

void px_fleet_publish(struct px_fleet *f)
{
    const struct rds_stats *st = rds_stats(f->rds);
    const struct metrics_family *fam = &f->w->m->fam[PXM_REDIS_COMMANDS];
    uint64_t *mv = f->w->mv;
    metrics_add(mv, fam, PXQ_SENT, st->sent - f->published.sent);
    metrics_add(mv, fam, PXQ_ERROR, st->errors - f->published.errors);
    metrics_add(mv, fam, PXQ_DROPPED_DOWN, st->dropped_down - f->published.dropped_down);
    metrics_add(mv, fam, PXQ_DROPPED_FULL, st->dropped_full - f->published.dropped_full);
    for (int e = 0; e < RDS_ERR_COUNT; e++)
        metrics_add(mv, &f->w->m->fam[PXM_REDIS_ERRORS], (size_t)e, st->err[e] - f->published.err[e]);
    f->published = *st;
}

const struct lb_reg_stats *px_fleet_registry_stats(const struct px_fleet *f)
{
    return lb_registry_stats(f->reg);
}
