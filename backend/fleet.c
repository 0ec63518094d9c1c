/* fleet.c — sstp-backend's Redis writer and reader (see fleet.h).
 *
 * Writes are Lua scripts that are atomic and idempotent: the upsert sets a
 * session's hash, TTL and every index, and adds to the byte counters only
 * what the stored hash does not already hold, so repeating a write, losing
 * a reply or losing all of Redis never skews the totals. Nothing waits for
 * Redis except admission, which holds pppd's ACK for a bounded time. */
#include "backend/fleet.h"

#include <assert.h>
#include <ctype.h>
#include <hiredis/hiredis.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/net.h"
#include "core/version.h"
#include "lb/redis.h"
#include "lb/redis_config.h"
#include "lb/schema.h"
#include "lb/script.h"

#define SESSION_TTL_MIN_S 30
#define JANITOR_COUNT 500        /* ids checked per index per tick */
#define ENDS_MAX 65536           /* ended sessions waiting to be written */
/* upsert calls in flight at most: 6,400 sessions, well inside the Redis
 * client's pending budget (lb/redis.h max_pending) whatever the backlog;
 * the rest waits for the next tick, still due */
#define UPSERTS_IN_FLIGHT_MAX 64
#define DUPLICATE_WINDOW_S 60.0  /* a second sighting of another instance this soon: duplicate */
#define DUPLICATE_LOG_EVERY_S 30.0
#define NUM_MAX 24
#define INSTANCE_LEN 16          /* hex digits */

/* Session upsert. KEYS: sessions zset, this backend's set, stats, this
 * backend's stats, events. ARGV: prefix, ttl, backend id, now ms, events
 * max, then per session UPSERT_ARGS values: sid, start ms, user key, state
 * ("-" = ended: remove it everywhere), bytes in, bytes out, client, port,
 * sni, proxy, user, ip, ip6, event ("connect" for a new session, the reason for
 * an ended one, else ""). The byte counters grow by what the stored hash
 * lacked: a repeated write adds nothing, a hash lost with Redis is counted
 * whole again (the counters were lost with it). A session kicked by the
 * per-user policy stays out of its user's set until it is gone. */
#define UPSERT_KEYS 5
#define UPSERT_FIXED 5
#define UPSERT_ARGS 14
static const char UPSERT_LUA[] =
    "local p, ttl, id, now, max = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5] "
    "local din, dout, started, ended = 0, 0, 0, 0 "
    "for i = 6, #ARGV - 13, 14 do "
    "  local sid, start, ukey, state = ARGV[i], ARGV[i+1], ARGV[i+2], ARGV[i+3] "
    "  local k = p .. 'session:' .. sid "
    "  local old = redis.call('HMGET', k, 'bytes_in', 'bytes_out', 'kicked') "
    "  local bin, bout = tonumber(ARGV[i+4]), tonumber(ARGV[i+5]) "
    "  local oin, oout = tonumber(old[1]) or 0, tonumber(old[2]) or 0 "
    "  if bin > oin then din = din + bin - oin end "
    "  if bout > oout then dout = dout + bout - oout end "
    "  local ev = ARGV[i+13] "
    "  if state == '-' then "
    "    redis.call('DEL', k) "
    "    redis.call('ZREM', KEYS[1], sid) "
    "    redis.call('SREM', KEYS[2], sid) "
    "    if ukey ~= '' then redis.call('ZREM', p .. 'user:' .. ukey, sid) end "
    "    ended = ended + 1 "
    "    redis.call('XADD', KEYS[5], 'MAXLEN', '~', max, '*', 'type', 'disconnect', 'session', sid, "
    "      'user', ARGV[i+10], 'client', ARGV[i+6], 'backend', id, 'reason', ev, "
    "      'bytes_in', ARGV[i+4], 'bytes_out', ARGV[i+5], "
    "      'duration_ms', string.format('%.0f', tonumber(now) - tonumber(start))) "
    "  else "
    "    redis.call('HSET', k, 'id', sid, 'backend', id, 'start', start, 'state', state, "
    "      'bytes_in', ARGV[i+4], 'bytes_out', ARGV[i+5], 'client', ARGV[i+6], "
    "      'client_port', ARGV[i+7], 'sni', ARGV[i+8], 'proxy', ARGV[i+9], 'user', ARGV[i+10], "
    "      'ip', ARGV[i+11], 'ip6', ARGV[i+12], 'user_key', ukey, 'updated', now) "
    "    redis.call('EXPIRE', k, ttl) "
    "    redis.call('ZADD', KEYS[1], start, sid) "
    "    redis.call('SADD', KEYS[2], sid) "
    "    if ukey ~= '' and not old[3] then "
    "      local u = p .. 'user:' .. ukey "
    "      redis.call('ZADD', u, start, sid) "
    "      redis.call('EXPIRE', u, ttl) "
    "    end "
    "    if ev == 'connect' then "
    "      started = started + 1 "
    "      redis.call('XADD', KEYS[5], 'MAXLEN', '~', max, '*', 'type', 'connect', 'session', sid, "
    "        'user', '', 'client', ARGV[i+6], 'backend', id, 'reason', '', "
    "        'bytes_in', '0', 'bytes_out', '0', 'duration_ms', '0') "
    "    end "
    "  end "
    "end "
    "if redis.call('EXISTS', KEYS[2]) == 1 then redis.call('EXPIRE', KEYS[2], ttl) end "
    "for _, k in ipairs({KEYS[3], KEYS[4]}) do "
    "  if din > 0 then redis.call('HINCRBY', k, 'bytes_in', string.format('%.0f', din)) end "
    "  if dout > 0 then redis.call('HINCRBY', k, 'bytes_out', string.format('%.0f', dout)) end "
    "  if started > 0 then redis.call('HINCRBY', k, 'sessions_started', started) end "
    "  if ended > 0 then redis.call('HINCRBY', k, 'sessions_ended', ended) end "
    "end "
    "return started + ended";

/* Per-user admission, one atomic step. KEYS: user:<key>. ARGV: prefix,
 * sid, start ms, limit, replace (1/0), ttl, backend id, user (display),
 * user key, now ms, state. Drops ids whose hash is gone, counts the others; under
 * the limit (or replacing the oldest) adds this session and returns
 * {1, kicked sid, its backend, ...}; over it returns {0}. A kicked session
 * is marked so that its own upserts do not count it again. */
static const char ADMIT_LUA[] =
    "local p, sid, start = ARGV[1], ARGV[2], ARGV[3] "
    "local limit, replace, ttl = tonumber(ARGV[4]), ARGV[5] == '1', ARGV[6] "
    "local others = {} "
    "for _, x in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do "
    "  if x ~= sid then "
    "    local b = redis.call('HGET', p .. 'session:' .. x, 'backend') "
    "    if b then table.insert(others, {x, b}) else redis.call('ZREM', KEYS[1], x) end "
    "  end "
    "end "
    "local out = {1} "
    "if limit > 0 and #others >= limit then "
    "  if not replace then return {0} end "
    "  for j = 1, #others - limit + 1 do "
    "    redis.call('ZREM', KEYS[1], others[j][1]) "
    "    redis.call('HSET', p .. 'session:' .. others[j][1], 'kicked', '1') "
    "    table.insert(out, others[j][1]) "
    "    table.insert(out, others[j][2]) "
    "  end "
    "end "
    "local k = p .. 'session:' .. sid "
    "redis.call('HSET', k, 'id', sid, 'backend', ARGV[7], 'start', start, 'user', ARGV[8], "
    "  'user_key', ARGV[9], 'state', ARGV[11], 'updated', ARGV[10]) "
    "redis.call('EXPIRE', k, ttl) "
    "redis.call('ZADD', KEYS[1], start, sid) "
    "redis.call('EXPIRE', KEYS[1], ttl) "
    "redis.call('ZADD', p .. 'sessions', start, sid) "
    "redis.call('SADD', p .. 'backend:' .. ARGV[7] .. ':sessions', sid) "
    "return out";

/* Heartbeat. KEYS: backend:<id>, backends, schema, drain:<id>. ARGV:
 * registry ttl ms, heartbeat ms, id, schema version, then field/value
 * pairs (the instance among them). Returns {instance found before this
 * write or '', drain value or ''}. */
static const char HEARTBEAT_LUA[] =
    "local before = redis.call('HGET', KEYS[1], 'instance') or '' "
    "redis.call('HSET', KEYS[1], unpack(ARGV, 5)) "
    "redis.call('PEXPIRE', KEYS[1], ARGV[1]) "
    "redis.call('ZADD', KEYS[2], ARGV[2], ARGV[3]) "
    "redis.call('SET', KEYS[3], ARGV[4]) "
    "return {before, redis.call('GET', KEYS[4]) or ''}";

/* Janitor: ids whose hash is gone leave the indexes. KEYS: sessions zset,
 * this backend's set. ARGV: prefix, zset offset, set cursor, count.
 * Returns {next offset, next cursor, removed}. */
static const char JANITOR_LUA[] =
    "local p, off, n = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[4]) "
    "local removed, kept = 0, 0 "
    "local ids = redis.call('ZRANGE', KEYS[1], off, off + n - 1) "
    "for _, sid in ipairs(ids) do "
    "  if redis.call('EXISTS', p .. 'session:' .. sid) == 0 then "
    "    redis.call('ZREM', KEYS[1], sid); removed = removed + 1 "
    "  else kept = kept + 1 end "
    "end "
    "local next_off = off + kept "
    "if #ids < n then next_off = 0 end "
    "local sc = redis.call('SSCAN', KEYS[2], ARGV[3], 'COUNT', n) "
    "for _, sid in ipairs(sc[2]) do "
    "  if redis.call('EXISTS', p .. 'session:' .. sid) == 0 then "
    "    redis.call('SREM', KEYS[2], sid); removed = removed + 1 "
    "  end "
    "end "
    "return {next_off, sc[1], removed}";

/* Counters: HINCRBY each name/delta pair of ARGV in every key. */
static const char COUNT_LUA[] =
    "for _, k in ipairs(KEYS) do "
    "  for i = 1, #ARGV - 1, 2 do redis.call('HINCRBY', k, ARGV[i], ARGV[i+1]) end "
    "end "
    "return 1";

enum { SCRIPT_UPSERT, SCRIPT_ADMIT, SCRIPT_HEARTBEAT, SCRIPT_JANITOR, SCRIPT_COUNT, N_SCRIPTS };

/* One session as an upsert sends it: copies, since a view's strings are
 * borrowed only during the hook and an ended session is gone. */
struct item {
    struct item *next;                    /* the queue of ends */
    char sid[BE_FLEET_SID_MAX], user_key[BE_FLEET_USER_KEY_LEN + 1];
    const char *state;                    /* static */
    char start[NUM_MAX], in[NUM_MAX], out[NUM_MAX], port[8];
    char client[64], sni[64], proxy[64], user[64], ip[48], ip6[48], event[48];
};

struct be_fleet {
    struct ev_loop *loop;
    const struct be_config *cfg;
    struct be_fleet_hooks hooks;
    struct rds *rds;
    struct lb_script scripts[N_SCRIPTS];
    ev_timer heartbeat, tick;
    double started_ms;
    char instance[INSTANCE_LEN + 1];
    char addr[NET_ADDR_STR_MAX];
    const char *kind;
    bool draining;

    /* live sessions, least recently written first */
    struct be_fleet_sess *head, *tail;
    size_t n_sess;

    size_t upserts_in_flight;
    struct item *ends, **ends_tail;   /* ended sessions not yet written */
    size_t n_ends;
    ev_timer ends_soon;               /* writes them in batches, next loop turn */

    long janitor_off;
    char janitor_cursor[NUM_MAX];

    double other_seen;       /* when a heartbeat last found another instance */
    double dup_logged;

    struct be_fleet_ask *asks; /* admissions waiting, to stop their timers at free */
    struct be_fleet_stats st;

    char k_sessions[SCHEMA_KEY_MAX], k_be_sessions[SCHEMA_KEY_MAX], k_stats[SCHEMA_KEY_MAX],
        k_be_stats[SCHEMA_KEY_MAX], k_events[SCHEMA_KEY_MAX], k_backend[SCHEMA_KEY_MAX],
        k_backends[SCHEMA_KEY_MAX], k_schema[SCHEMA_KEY_MAX], k_drain[SCHEMA_KEY_MAX],
        ctl_channel[SCHEMA_KEY_MAX];
};

struct be_fleet_ask {
    struct be_fleet *f;
    struct be_fleet_ask *prev, *next;
    struct be_fleet_sess *fs;  /* NULL once decided or cancelled */
    be_fleet_decided_fn decided;
    void *arg;
    ev_timer t;
    bool done;                 /* decided was called (or cancelled) */
    bool reply_pending;
    char user_key[BE_FLEET_USER_KEY_LEN + 1];
    char sid[BE_FLEET_SID_MAX];
    char user[64];             /* sanitised, for the log */
};

static const char *const state_names[] = { SCHEMA_S_NEGOTIATING, SCHEMA_S_AUTHENTICATED,
                                           SCHEMA_S_CONNECTED };

static double now_ms(const struct be_fleet *f)
{
    return ev_now(f->loop) * 1000.0;
}

static const char *prefix(const struct be_fleet *f)
{
    return rds_prefix(f->rds);
}

static long session_ttl(const struct be_fleet *f)
{
    long ttl = (long)(3 * f->cfg->stats_interval) + 1;
    return ttl < SESSION_TTL_MIN_S ? SESSION_TTL_MIN_S : ttl;
}

/* A reply to one of our writes: an error or a lost reply is counted. */
static void on_write(const struct redisReply *r, void *ud)
{
    struct be_fleet *f = ud;
    if (!r || r->type == REDIS_REPLY_ERROR) {
        f->st.write_errors++;
        log_at(f->st.write_errors == 1 || f->st.write_errors % 1000 == 0 ? LOG_WARN : LOG_DEBUG,
               "redis_write_fail", "count=%llu err=\"%s\"", (unsigned long long)f->st.write_errors,
               r ? r->str : "connection lost");
    }
}

/* ---- counters and events ------------------------------------------------ */

static void count(struct be_fleet *f, const char *counter, unsigned long long by)
{
    char n[NUM_MAX];
    snprintf(n, sizeof n, "%llu", by);
    const char *args[] = { f->k_stats, f->k_be_stats, counter, n };
    lb_script_call(f->rds, &f->scripts[SCRIPT_COUNT], on_write, f, 2, 4, args);
}

static void event(struct be_fleet *f, const struct be_fleet_sess *fs, const char *type,
                  const char *reason)
{
    struct be_fleet_view v = { 0 };
    char max[NUM_MAX], in[NUM_MAX], out[NUM_MAX], dur[NUM_MAX];
    f->hooks.view(fs, &v, f->hooks.ud);
    snprintf(max, sizeof max, "%ld", f->cfg->events_max);
    snprintf(in, sizeof in, "%llu", (unsigned long long)v.bytes_in);
    snprintf(out, sizeof out, "%llu", (unsigned long long)v.bytes_out);
    snprintf(dur, sizeof dur, "%.0f", now_ms(f) - fs->start * 1000.0);
    const char *argv[] = {
        "XADD", f->k_events, "MAXLEN", "~", max, "*",
        "type", type, "session", fs->sid, "user", v.user ? v.user : "",
        "client", v.client_ip, "backend", f->cfg->id, "reason", reason ? reason : "",
        "bytes_in", in, "bytes_out", out, "duration_ms", dur,
    };
    rds_cmdv(f->rds, on_write, f, (int)(sizeof argv / sizeof argv[0]), argv);
}

/* ---- session upserts ---------------------------------------------------- */

static void item_fill(struct be_fleet *f, struct item *it, const struct be_fleet_sess *fs,
                      const char *state, const char *event)
{
    struct be_fleet_view v = { 0 };
    f->hooks.view(fs, &v, f->hooks.ud);
    snprintf(it->sid, sizeof it->sid, "%s", fs->sid);
    snprintf(it->user_key, sizeof it->user_key, "%s", fs->user_key);
    it->state = state;
    snprintf(it->start, sizeof it->start, "%.0f", fs->start * 1000.0);
    snprintf(it->in, sizeof it->in, "%llu", (unsigned long long)v.bytes_in);
    snprintf(it->out, sizeof it->out, "%llu", (unsigned long long)v.bytes_out);
    snprintf(it->port, sizeof it->port, "%u", v.client_port);
    snprintf(it->client, sizeof it->client, "%s", v.client_ip);
    snprintf(it->sni, sizeof it->sni, "%s", v.sni ? v.sni : "");
    snprintf(it->proxy, sizeof it->proxy, "%s", v.proxy ? v.proxy : "");
    snprintf(it->user, sizeof it->user, "%s", v.user ? v.user : "");
    snprintf(it->ip, sizeof it->ip, "%s", v.ip ? v.ip : "");
    snprintf(it->ip6, sizeof it->ip6, "%s", v.ip6 ? v.ip6 : "");
    snprintf(it->event, sizeof it->event, "%s", event ? event : "");
}

static void on_upsert(const struct redisReply *r, void *ud)
{
    struct be_fleet *f = ud;
    f->upserts_in_flight--;
    on_write(r, f);
}

/* Sends one upsert of n items (n <= BE_FLEET_BATCH). Returns 0 if sent,
 * -1 if refused (counted) or the in-flight budget is used up. */
static int upsert_items(struct be_fleet *f, struct item *const *items, size_t n)
{
    if (f->upserts_in_flight >= UPSERTS_IN_FLIGHT_MAX)
        return -1;
    const char *args[UPSERT_KEYS + UPSERT_FIXED + BE_FLEET_BATCH * UPSERT_ARGS];
    char ttl[NUM_MAX], now[NUM_MAX], max[NUM_MAX];
    snprintf(ttl, sizeof ttl, "%ld", session_ttl(f));
    snprintf(now, sizeof now, "%.0f", now_ms(f));
    snprintf(max, sizeof max, "%ld", f->cfg->events_max);
    size_t argc = 0;
    args[argc++] = f->k_sessions;
    args[argc++] = f->k_be_sessions;
    args[argc++] = f->k_stats;
    args[argc++] = f->k_be_stats;
    args[argc++] = f->k_events;
    args[argc++] = prefix(f);
    args[argc++] = ttl;
    args[argc++] = f->cfg->id;
    args[argc++] = now;
    args[argc++] = max;
    for (size_t i = 0; i < n; i++) {
        const struct item *it = items[i];
        const char *a[UPSERT_ARGS] = { it->sid, it->start, it->user_key, it->state, it->in, it->out,
                                       it->client, it->port, it->sni, it->proxy, it->user, it->ip,
                                       it->ip6, it->event };
        memcpy(args + argc, a, sizeof a);
        argc += UPSERT_ARGS;
    }
    if (lb_script_call(f->rds, &f->scripts[SCRIPT_UPSERT], on_upsert, f, UPSERT_KEYS,
                       (int)argc, args) == -1) {
        f->st.upsert_refused++;
        return -1;
    }
    f->upserts_in_flight++;
    f->st.upserts += n;
    f->st.upsert_batches++;
    return 0;
}

/* Upserts n live sessions, each with its own state. The first of each
 * session that is sent carries its "connect" event: a session that started
 * while Redis was away is announced when it is back. */
static int upsert(struct be_fleet *f, struct be_fleet_sess *const *list, size_t n)
{
    struct item *ptrs[BE_FLEET_BATCH] = { NULL };
    assert(n > 0 && n <= BE_FLEET_BATCH);
    struct item *items = malloc(n * sizeof *items);
    if (!items)
        return -1;
    for (size_t i = 0; i < n; i++) {
        /* its first write that reaches Redis announces it (event, counter) */
        item_fill(f, &items[i], list[i], state_names[list[i]->state],
                  list[i]->announced ? NULL : "connect");
        ptrs[i] = &items[i];
    }
    int rc = upsert_items(f, ptrs, n);
    for (size_t i = 0; rc == 0 && i < n; i++)
        list[i]->announced = true;
    free(items);
    return rc;
}

static void list_unlink(struct be_fleet *f, struct be_fleet_sess *fs)
{
    if (fs->prev)
        fs->prev->next = fs->next;
    else
        f->head = fs->next;
    if (fs->next)
        fs->next->prev = fs->prev;
    else
        f->tail = fs->prev;
    fs->prev = fs->next = NULL;
}

static void list_append(struct be_fleet *f, struct be_fleet_sess *fs)
{
    fs->prev = f->tail;
    fs->next = NULL;
    if (f->tail)
        f->tail->next = fs;
    else
        f->head = fs;
    f->tail = fs;
}

/* Written now: it goes to the tail, the last to be due again. */
static int upsert_one(struct be_fleet *f, struct be_fleet_sess *fs)
{
    if (!rds_is_up(f->rds) || upsert(f, &fs, 1) == -1)
        return -1;
    fs->written_at = ev_now(f->loop);
    list_unlink(f, fs);
    list_append(f, fs);
    return 0;
}

/* Ended sessions, in batches; what Redis refuses waits for the next try
 * (while Redis is away: its next tick). */
static void flush_ends(struct be_fleet *f)
{
    while (f->ends && rds_is_up(f->rds)) {
        struct item *batch[BE_FLEET_BATCH];
        size_t n = 0;
        for (struct item *it = f->ends; it && n < BE_FLEET_BATCH; it = it->next)
            batch[n++] = it;
        if (upsert_items(f, batch, n) == -1)
            return;
        for (size_t i = 0; i < n; i++) {
            f->ends = batch[i]->next;
            free(batch[i]);
        }
        f->n_ends -= n;
        if (!f->ends)
            f->ends_tail = &f->ends;
    }
}

static void ends_soon_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop;
    (void)revents;
    flush_ends(w->data);
}

static void on_janitor(const struct redisReply *r, void *ud)
{
    struct be_fleet *f = ud;
    if (!r || r->type != REDIS_REPLY_ARRAY || r->elements != 3 ||
        r->element[0]->type != REDIS_REPLY_INTEGER || r->element[1]->type != REDIS_REPLY_STRING ||
        r->element[2]->type != REDIS_REPLY_INTEGER) {
        on_write(r, f);
        return;
    }
    f->janitor_off = (long)r->element[0]->integer;
    snprintf(f->janitor_cursor, sizeof f->janitor_cursor, "%s", r->element[1]->str);
    if (r->element[2]->integer > 0) {
        f->st.janitor_removed += (uint64_t)r->element[2]->integer;
        log_info("janitor", "removed=%lld", r->element[2]->integer);
    }
}

static void janitor(struct be_fleet *f)
{
    char off[NUM_MAX], n[NUM_MAX];
    snprintf(off, sizeof off, "%ld", f->janitor_off);
    snprintf(n, sizeof n, "%d", JANITOR_COUNT);
    const char *args[] = { f->k_sessions, f->k_be_sessions, prefix(f), off, f->janitor_cursor, n };
    lb_script_call(f->rds, &f->scripts[SCRIPT_JANITOR], on_janitor, f, 2, 6, args);
}
/* One tick: every session whose last write would be an interval old by
 * the next tick, and at least a TICKS-th of them all, least recently
 * written first, in batches of BE_FLEET_BATCH. Each session is thus
 * written once an interval, and a burst of new sessions (or a whole view
 * to rewrite) spreads out over the ticks that follow. */
static void tick(struct be_fleet *f)
{
    if (!rds_is_up(f->rds))
        return;
    flush_ends(f);
    double now = ev_now(f->loop);
    double due = now - f->cfg->stats_interval * (BE_FLEET_TICKS - 1) / BE_FLEET_TICKS;
    size_t share = (f->n_sess + BE_FLEET_TICKS - 1) / BE_FLEET_TICKS, written = 0;
    struct be_fleet_sess *batch[BE_FLEET_BATCH];
    for (;;) {
        size_t n = 0;
        for (struct be_fleet_sess *x = f->head; x && n < BE_FLEET_BATCH && x->written_at < now &&
                                                (written + n < share || x->written_at <= due);
             x = x->next)
            batch[n++] = x;
        if (n == 0 || upsert(f, batch, n) == -1)
            break; /* done, or refused: these stay first for the next tick */
        for (size_t i = 0; i < n; i++) {
            batch[i]->written_at = now;
            list_unlink(f, batch[i]);
            list_append(f, batch[i]);
        }
        written += n;
    }
    janitor(f);
}

static void tick_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop;
    (void)revents;
    tick(w->data);
}

/* After an outage every session is due: the whole view is written again
 * at once (a few commands per hundred sessions). */
static void rewrite_all(struct be_fleet *f)
{
    for (struct be_fleet_sess *x = f->head; x; x = x->next)
        x->written_at = 0;
    ev_timer_again(f->loop, &f->tick);
    tick(f);
}

void be_fleet_session_start(struct be_fleet *f, struct be_fleet_sess *fs, const char *sid,
                            double start)
{
    if (!f)
        return;
    snprintf(fs->sid, sizeof fs->sid, "%s", sid);
    fs->start = start;
    fs->state = BE_FS_NEGOTIATING;
    fs->user_key[0] = '\0';
    fs->linked = true;
    fs->announced = false;
    fs->written_at = 0;
    /* due at once: written now, or by the first tick that reaches Redis */
    fs->prev = NULL;
    fs->next = f->head;
    if (f->head)
        f->head->prev = fs;
    else
        f->tail = fs;
    f->head = fs;
    f->n_sess++;
    upsert_one(f, fs);
}

void be_fleet_session_state(struct be_fleet *f, struct be_fleet_sess *fs, enum be_fleet_state state)
{
    if (!f || !fs->linked)
        return;
    fs->state = state;
    upsert_one(f, fs);
}

void be_fleet_session_update(struct be_fleet *f, struct be_fleet_sess *fs)
{
    if (f && fs->linked)
        upsert_one(f, fs);
}

void be_fleet_session_event(struct be_fleet *f, struct be_fleet_sess *fs, const char *type,
                            const char *reason)
{
    if (!f || !rds_is_up(f->rds))
        return;
    count(f, type, 1);
    event(f, fs, type, reason);
}

void be_fleet_session_end(struct be_fleet *f, struct be_fleet_sess *fs, const char *reason)
{
    if (!f || !fs->linked)
        return;
    list_unlink(f, fs);
    fs->linked = false;
    f->n_sess--;
    /* queued and written in a batch at the next loop turn (a drain ends
     * thousands at once); bounded: past the cap the janitor and the TTLs
     * clean up, and those last bytes go uncounted */
    struct item *it = f->n_ends < ENDS_MAX ? malloc(sizeof *it) : NULL;
    if (!it) {
        f->st.ends_dropped++;
        return;
    }
    item_fill(f, it, fs, "-", reason);
    it->next = NULL;
    *f->ends_tail = it;
    f->ends_tail = &it->next;
    f->n_ends++;
    if (!ev_is_active(&f->ends_soon))
        ev_timer_start(f->loop, &f->ends_soon);
}

/* ---- per-user admission -------------------------------------------------- */

void be_fleet_user_key(char out[BE_FLEET_USER_KEY_LEN + 1], enum be_user_norm mode, const char *raw,
                       size_t raw_len)
{
    unsigned char md[SHA256_DIGEST_LENGTH];
    const char *p = raw;
    size_t len = raw_len;
    char folded[256];
    if (mode == BE_USER_NORM_FOLD) {
        const char *bs = memrchr(p, '\\', len);
        if (bs) { /* DOMAIN\user */
            len -= (size_t)(bs + 1 - p);
            p = bs + 1;
        }
        const char *at = memchr(p, '@', len);
        if (at) /* user@realm */
            len = (size_t)(at - p);
        if (len > sizeof folded)
            len = sizeof folded;
        for (size_t i = 0; i < len; i++)
            folded[i] = (char)tolower((unsigned char)p[i]);
        p = folded;
    }
    SHA256((const unsigned char *)p, len, md);
    for (int i = 0; i < SHA256_DIGEST_LENGTH; i++)
        snprintf(out + 2 * i, 3, "%02x", md[i]);
}

static void ask_unlink(struct be_fleet_ask *a)
{
    struct be_fleet *f = a->f;
    if (a->prev)
        a->prev->next = a->next;
    else if (f->asks == a)
        f->asks = a->next;
    if (a->next)
        a->next->prev = a->prev;
    a->prev = a->next = NULL;
}

/* the decision reaches the session (once); the handle is dead after it */
static void ask_decide(struct be_fleet_ask *a, bool allow)
{
    if (a->done)
        return;
    a->done = true;
    ev_timer_stop(a->f->loop, &a->t);
    if (allow)
        snprintf(a->fs->user_key, sizeof a->fs->user_key, "%s", a->user_key);
    a->fs = NULL; /* the session may end any time now: not ours to touch */
    a->decided(allow, a->arg);
}

static void ask_maybe_free(struct be_fleet_ask *a)
{
    if (a->done && !a->reply_pending) {
        ask_unlink(a);
        free(a);
    }
}

static void kick(struct be_fleet *f, const char *sid, const char *backend)
{
    char ch[SCHEMA_KEY_MAX], msg[BE_FLEET_SID_MAX + 8];
    snprintf(msg, sizeof msg, "kick %s", sid);
    rds_cmdv(f->rds, on_write, f, 3,
             (const char *[]){ "PUBLISH", schema_key(ch, sizeof ch, prefix(f), SCHEMA_K_CTL, backend), msg });
}

static void on_admit(const struct redisReply *r, void *ud)
{
    struct be_fleet_ask *a = ud;
    struct be_fleet *f = a->f;
    a->reply_pending = false;
    if (!r || r->type != REDIS_REPLY_ARRAY || r->elements < 1 ||
        r->element[0]->type != REDIS_REPLY_INTEGER) {
        on_write(r, f);
        if (!a->done)
            f->st.admit_allow++;
        ask_decide(a, true); /* no usable answer: Redis must never lock users out */
        ask_maybe_free(a);
        return;
    }
    bool allow = r->element[0]->integer == 1;
    /* the script has replaced them (even if this answer came late, or the
     * new session is already gone): they go, or they would live on uncounted */
    for (size_t i = 1; i + 1 < r->elements; i += 2) {
        if (r->element[i]->type != REDIS_REPLY_STRING || r->element[i + 1]->type != REDIS_REPLY_STRING)
            continue;
        log_info("policy_replace", "user=%s old=%s backend=%s new=%s", a->user, r->element[i]->str,
                 r->element[i + 1]->str, a->sid);
        f->st.admit_kick++;
        kick(f, r->element[i]->str, r->element[i + 1]->str);
    }
    if (!a->done && allow)
        f->st.admit_allow++;
    else if (!a->done)
        f->st.admit_deny++;
    ask_decide(a, allow);
    ask_maybe_free(a);
}

static void admit_timeout_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop;
    (void)revents;
    struct be_fleet_ask *a = w->data;
    a->f->st.admit_timeout++;
    log_warn("policy_timeout", "sid=%s action=allow", a->sid);
    ask_decide(a, true);
    ask_maybe_free(a); /* else the reply frees it when it comes */
}

struct be_fleet_ask *be_fleet_user_admit(struct be_fleet *f, struct be_fleet_sess *fs,
                                         const char *raw, size_t raw_len,
                                         be_fleet_decided_fn decided, void *arg)
{
    if (!f) {
        decided(true, arg);
        return NULL;
    }
    char key[BE_FLEET_USER_KEY_LEN + 1];
    be_fleet_user_key(key, (enum be_user_norm)f->cfg->per_user_normalize, raw, raw_len);
    if (fs->state < BE_FS_AUTHENTICATED) /* admission may come after the binding */
        fs->state = BE_FS_AUTHENTICATED;
    be_fleet_session_event(f, fs, "auth_ok", NULL);
    struct be_fleet_ask *a = NULL;
    if (f->cfg->max_per_user > 0 && rds_is_up(f->rds) && (a = calloc(1, sizeof *a)) != NULL) {
        char uk[SCHEMA_KEY_MAX], start[NUM_MAX], limit[NUM_MAX], ttl[NUM_MAX], now[NUM_MAX];
        struct be_fleet_view v = { 0 };
        char user[64];
        f->hooks.view(fs, &v, f->hooks.ud);
        snprintf(user, sizeof user, "%s", v.user ? v.user : "");
        snprintf(start, sizeof start, "%.0f", fs->start * 1000.0);
        snprintf(limit, sizeof limit, "%ld", f->cfg->max_per_user);
        snprintf(ttl, sizeof ttl, "%ld", session_ttl(f));
        snprintf(now, sizeof now, "%.0f", now_ms(f));
        const char *args[] = {
            schema_key(uk, sizeof uk, prefix(f), SCHEMA_K_USER, key), prefix(f), fs->sid, start, limit,
            f->cfg->per_user_action == BE_USER_REPLACE ? "1" : "0", ttl, f->cfg->id, user, key, now,
            state_names[fs->state],
        };
        a->f = f;
        a->fs = fs;
        a->decided = decided;
        a->arg = arg;
        snprintf(a->user_key, sizeof a->user_key, "%s", key);
        snprintf(a->user, sizeof a->user, "%s", user);
        snprintf(a->sid, sizeof a->sid, "%s", fs->sid);
        if (lb_script_call(f->rds, &f->scripts[SCRIPT_ADMIT], on_admit, a, 1,
                           (int)(sizeof args / sizeof args[0]), args) == -1) {
            free(a);
            a = NULL;
        } else {
            a->reply_pending = true;
            a->next = f->asks;
            if (f->asks)
                f->asks->prev = a;
            f->asks = a;
            ev_now_update(f->loop); /* a busy loop turn must not eat the wait */
            ev_timer_init(&a->t, admit_timeout_cb, BE_FLEET_ADMIT_TIMEOUT_S, 0);
            a->t.data = a;
            ev_timer_start(f->loop, &a->t);
            return a;
        }
    }
    /* nothing to ask (no limit, Redis down or refusing): allowed, counted as the user */
    snprintf(fs->user_key, sizeof fs->user_key, "%s", key);
    upsert_one(f, fs);
    decided(true, arg);
    return NULL;
}

void be_fleet_ask_cancel(struct be_fleet_ask *a)
{
    if (!a || a->done)
        return;
    a->done = true;
    a->fs = NULL;
    ev_timer_stop(a->f->loop, &a->t);
    ask_maybe_free(a);
}

/* ---- registry ------------------------------------------------------------ */

static void set_drain(struct be_fleet *f, bool drain, bool disconnect);

static void on_heartbeat(const struct redisReply *r, void *ud)
{
    struct be_fleet *f = ud;
    if (!r || r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
        r->element[0]->type != REDIS_REPLY_STRING || r->element[1]->type != REDIS_REPLY_STRING) {
        on_write(r, f); /* no usable answer: keep the drain state we knew */
        return;
    }
    const char *before = r->element[0]->str;
    double now = ev_now(f->loop);
    if (before[0] && strcmp(before, f->instance) != 0) {
        /* a restart of this id finds its old life's instance once; a second
         * live process with this id keeps overwriting ours */
        if (f->other_seen > 0 && now - f->other_seen < DUPLICATE_WINDOW_S) {
            f->st.duplicate_id++;
            if (now - f->dup_logged >= DUPLICATE_LOG_EVERY_S || f->dup_logged == 0) {
                f->dup_logged = now;
                log_error("duplicate_id", "id=%s instance=%s other_instance=%.*s count=%llu", f->cfg->id,
                          f->instance, INSTANCE_LEN, before, (unsigned long long)f->st.duplicate_id);
            }
        }
        f->other_seen = now;
    }
    const char *d = r->element[1]->str;
    set_drain(f, d[0] != '\0', strcmp(d, "disconnect") == 0);
}

static void heartbeat(struct be_fleet *f)
{
    const struct be_config *cfg = f->cfg;
    char cap[NUM_MAX], sess[NUM_MAX], weight[NUM_MAX], started[NUM_MAX], hb[NUM_MAX], ttl[NUM_MAX];
    bool stopping = false;
    if (!rds_is_up(f->rds))
        return;
    uint64_t load = f->hooks.load(&stopping, f->hooks.ud);
    snprintf(cap, sizeof cap, "%ld", cfg->max_sessions);
    snprintf(sess, sizeof sess, "%llu", (unsigned long long)load);
    snprintf(weight, sizeof weight, "%ld", cfg->weight);
    snprintf(started, sizeof started, "%.0f", f->started_ms);
    snprintf(hb, sizeof hb, "%.0f", now_ms(f));
    snprintf(ttl, sizeof ttl, "%.0f", cfg->registry_ttl * 1000.0);
    const char *args[] = {
        f->k_backend, f->k_backends, f->k_schema, f->k_drain, ttl, hb, cfg->id, SCHEMA_VERSION,
        SCHEMA_F_BE_ID, cfg->id, SCHEMA_F_BE_ADDR, f->addr, SCHEMA_F_BE_KIND, f->kind,
        SCHEMA_F_BE_GROUP, cfg->group ? cfg->group : "", SCHEMA_F_BE_WEIGHT, weight,
        SCHEMA_F_BE_CAPACITY, cap, SCHEMA_F_BE_SESSIONS, sess,
        SCHEMA_F_BE_STATE, f->draining || stopping ? SCHEMA_BE_DRAINING : SCHEMA_BE_UP,
        SCHEMA_F_BE_VERSION, SSTP_LB_VERSION, SCHEMA_F_BE_STARTED, started, SCHEMA_F_BE_HEARTBEAT, hb,
        SCHEMA_F_BE_INSTANCE, f->instance,
    };
    lb_script_call(f->rds, &f->scripts[SCRIPT_HEARTBEAT], on_heartbeat, f, 4,
                   (int)(sizeof args / sizeof args[0]), args);
}

static void set_drain(struct be_fleet *f, bool drain, bool disconnect)
{
    bool changed = drain != f->draining;
    if (changed)
        log_info(drain ? "drain" : "undrain", "id=%s disconnect=%d", f->cfg->id, disconnect);
    f->draining = drain;
    if (changed || disconnect)
        f->hooks.drain(drain, disconnect, f->hooks.ud);
    if (changed)
        heartbeat(f); /* publish the new state now, not at the next beat */
}

/* The answer to GET drain:<id>: a string drains, nil undrains, anything
 * else (an error reply, a lost reply) changes nothing. */
static void on_drain(const struct redisReply *r, void *ud)
{
    struct be_fleet *f = ud;
    if (r && r->type == REDIS_REPLY_STRING)
        set_drain(f, true, strcmp(r->str, "disconnect") == 0);
    else if (r && r->type == REDIS_REPLY_NIL)
        set_drain(f, false, false);
    else
        on_write(r, f);
}

static void heartbeat_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop;
    (void)revents;
    heartbeat(w->data);
}

/* ---- control channel ----------------------------------------------------- */

static void on_ctl(const struct redisReply *r, void *ud)
{
    struct be_fleet *f = ud;
    if (r->element[2]->type != REDIS_REPLY_STRING)
        return;
    const char *msg = r->element[2]->str;
    if (strncmp(msg, "kick ", 5) == 0) {
        for (struct be_fleet_sess *x = f->head; x; x = x->next) {
            if (strcmp(x->sid, msg + 5) == 0) {
                log_info("kick", "sid=%s", x->sid);
                x->user_key[0] = '\0'; /* no longer one of its user's sessions */
                f->hooks.kick(x, f->hooks.ud); /* may end x: stop here */
                return;
            }
        }
    } else if (strcmp(msg, "drain") == 0) {
        /* the drain key says what to do; read it now instead of at the next heartbeat */
        rds_cmdv(f->rds, on_drain, f, 2, (const char *[]){ "GET", f->k_drain });
    }
}

static void on_state(bool up, void *ud)
{
    struct be_fleet *f = ud;
    if (!up)
        return;
    heartbeat(f);     /* re-register at once after an outage */
    rewrite_all(f);   /* and the whole session view */
}

/* ---- start and stop ------------------------------------------------------ */

struct be_fleet *be_fleet_new(struct ev_loop *loop, const struct be_config *cfg,
                              const struct be_fleet_hooks *hooks, bool *err)
{
    struct rds_opts o;
    char why[CFG_ERR_MAX];
    int rc = rds_config_opts(&o, &cfg->redis, why, sizeof why);
    *err = rc == -1;
    if (rc == 0) /* no redis.url: standalone */
        return NULL;
    if (rc == -1) { /* be_config_load checked it: not reached */
        log_error("config", "err=\"%s\"", why);
        return NULL;
    }
    *err = true; /* until the fleet exists */
    struct be_fleet *f = calloc(1, sizeof *f);
    if (!f) {
        log_error("fleet", "err=out_of_memory");
        return NULL;
    }
    uint8_t rnd[INSTANCE_LEN / 2];
    if (RAND_bytes(rnd, sizeof rnd) != 1) {
        log_error("fleet", "err=no_random");
        free(f);
        return NULL;
    }
    for (size_t i = 0; i < sizeof rnd; i++)
        snprintf(f->instance + 2 * i, 3, "%02x", rnd[i]);
    f->loop = loop;
    f->cfg = cfg;
    f->hooks = *hooks;
    f->started_ms = ev_now(loop) * 1000.0;
    snprintf(f->janitor_cursor, sizeof f->janitor_cursor, "0");
    lb_script_init(&f->scripts[SCRIPT_UPSERT], UPSERT_LUA);
    lb_script_init(&f->scripts[SCRIPT_ADMIT], ADMIT_LUA);
    lb_script_init(&f->scripts[SCRIPT_HEARTBEAT], HEARTBEAT_LUA);
    lb_script_init(&f->scripts[SCRIPT_JANITOR], JANITOR_LUA);
    lb_script_init(&f->scripts[SCRIPT_COUNT], COUNT_LUA);
    /* what proxies connect to: the advertised address, else the first listener */
    const char *listen = cfg->listen_proxy && cfg->listen_proxy[0] ? cfg->listen_proxy
                         : cfg->listen_mtls && cfg->listen_mtls[0] ? cfg->listen_mtls
                                                                   : cfg->listen_tls;
    f->kind = listen == cfg->listen_proxy ? "proxy" : listen == cfg->listen_mtls ? "mtls" : "tls";
    snprintf(f->addr, sizeof f->addr, "%s", cfg->advertise && cfg->advertise[0] ? cfg->advertise : listen);
    const char *p = o.prefix;
    schema_key(f->k_sessions, sizeof f->k_sessions, p, SCHEMA_K_SESSIONS);
    schema_key(f->k_be_sessions, sizeof f->k_be_sessions, p, SCHEMA_K_BACKEND_SESS, cfg->id);
    schema_key(f->k_stats, sizeof f->k_stats, p, SCHEMA_K_STATS);
    schema_key(f->k_be_stats, sizeof f->k_be_stats, p, SCHEMA_K_STATS_BACKEND, cfg->id);
    schema_key(f->k_events, sizeof f->k_events, p, SCHEMA_K_EVENTS);
    schema_key(f->k_backend, sizeof f->k_backend, p, SCHEMA_K_BACKEND, cfg->id);
    schema_key(f->k_backends, sizeof f->k_backends, p, SCHEMA_K_BACKENDS);
    schema_key(f->k_schema, sizeof f->k_schema, p, SCHEMA_K_VERSION);
    schema_key(f->k_drain, sizeof f->k_drain, p, SCHEMA_K_DRAIN, cfg->id);
    schema_key(f->ctl_channel, sizeof f->ctl_channel, p, SCHEMA_K_CTL, cfg->id);
    ev_timer_init(&f->heartbeat, heartbeat_cb, cfg->heartbeat, cfg->heartbeat);
    f->heartbeat.data = f;
    ev_timer_init(&f->tick, tick_cb, cfg->stats_interval / BE_FLEET_TICKS,
                  cfg->stats_interval / BE_FLEET_TICKS);
    f->tick.data = f;
    ev_timer_init(&f->ends_soon, ends_soon_cb, 0, 0);
    f->ends_soon.data = f;
    f->ends_tail = &f->ends;
    f->rds = rds_new(loop, &o, on_state, f);
    if (!f->rds || rds_subscribe(f->rds, f->ctl_channel, on_ctl, f) == -1) {
        log_error("fleet", "err=out_of_memory");
        rds_free(f->rds);
        free(f);
        return NULL;
    }
    ev_timer_start(loop, &f->heartbeat);
    ev_timer_start(loop, &f->tick);
    log_info("fleet", "redis=%s:%d prefix=%s advertise=%s instance=%s", o.host, o.port, o.prefix,
             f->addr, f->instance);
    *err = false;
    return f;
}

void be_fleet_free(struct be_fleet *f)
{
    if (!f)
        return;
    ev_timer_stop(f->loop, &f->heartbeat);
    ev_timer_stop(f->loop, &f->tick);
    for (struct be_fleet_ask *a = f->asks; a; a = a->next) {
        ev_timer_stop(f->loop, &a->t);
        a->done = true; /* their replies (NULL, from rds_free) only free them */
        a->fs = NULL;
    }
    rds_free(f->rds); /* each pending reply, answered NULL, frees its ask */
    ev_timer_stop(f->loop, &f->ends_soon);
    while (f->ends) {
        struct item *it = f->ends;
        f->ends = it->next;
        free(it);
    }
    free(f);
}

bool be_fleet_accepting(const struct be_fleet *f)
{
    return !f || !f->draining;
}

const struct be_fleet_stats *be_fleet_stats(const struct be_fleet *f)
{
    return &f->st;
}

const struct rds_stats *be_fleet_rds_stats(const struct be_fleet *f)
{
    return rds_stats(f->rds);
}

const struct rds *be_fleet_rds(const struct be_fleet *f)
{
    return f ? f->rds : NULL;
}

bool be_fleet_redis_up(const struct be_fleet *f)
{
    return rds_is_up(f->rds);
}
