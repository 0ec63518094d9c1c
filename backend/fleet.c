/* fleet.c — sstp-backend's Redis writer and reader (see fleet.h).
 *
 * All writes are pipelined fire-and-forget commands through lb/redis.c;
 * nothing waits for Redis except the per-user policy, which holds pppd's
 * authentication ACK for at most POLICY_TIMEOUT_S and allows on silence. */
#include "backend/fleet.h"

#include <hiredis/hiredis.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/server.h"
#include "backend/session.h"
#include "backend/session_int.h"
#include "core/log.h"
#include "core/version.h"
#include "lb/redis.h"
#include "lb/schema.h"

#define POLICY_TIMEOUT_S 1.0
#define SESSION_TTL_MIN_S 30
#define NUM_MAX 24


/* live sessions of a user that still exist (stale ids from crashed nodes
 * are removed on the way), each followed by its backend: one round trip */
static const char USER_SESSIONS_LUA[] =
    "local out = {} "
    "for _, sid in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do "
    "  local b = redis.call('HGET', ARGV[1] .. sid, 'backend') "
    "  if b then table.insert(out, sid); table.insert(out, b) "
    "  else redis.call('ZREM', KEYS[1], sid) end "
    "end "
    "return out";

struct be_fleet {
    struct be_server *srv;
    struct rds *rds;
    ev_timer heartbeat, interim;
    double started_ms;
    char addr[NET_ADDR_STR_MAX];
    const char *kind;
    bool draining;
    char ctl_channel[SCHEMA_KEY_MAX];
};

struct ticket {
    struct be_fleet *f;
    struct be_session *s;
    ev_timer t;
    bool decided, reply_pending;
};

static double now_ms(const struct be_fleet *f)
{
    return ev_now(f->srv->loop) * 1000.0;
}

static const char *prefix(const struct be_fleet *f)
{
    return rds_prefix(f->rds);
}

/* ---- small command builders --------------------------------------------- */

static void cmd(struct be_fleet *f, int argc, const char **argv)
{
    rds_cmdv(f->rds, NULL, NULL, argc, argv);
}

static void expire(struct be_fleet *f, const char *key, long secs)
{
    char n[NUM_MAX];
    snprintf(n, sizeof n, "%ld", secs);
    cmd(f, 3, (const char *[]){ "EXPIRE", key, n });
}

static void event(struct be_fleet *f, const struct be_session *s, const char *type,
                  const char *reason)
{
    char key[SCHEMA_KEY_MAX], max[NUM_MAX], in[NUM_MAX], out[NUM_MAX], dur[NUM_MAX];
    snprintf(max, sizeof max, "%ld", f->srv->cfg->events_max);
    snprintf(in, sizeof in, "%llu", (unsigned long long)s->bytes_in);
    snprintf(out, sizeof out, "%llu", (unsigned long long)s->bytes_out);
    snprintf(dur, sizeof dur, "%.0f", (ev_now(f->srv->loop) - s->t_start) * 1000.0);
    const char *argv[] = {
        "XADD", schema_key(key, sizeof key, prefix(f), SCHEMA_K_EVENTS), "MAXLEN", "~", max, "*",
        "type", type, "session", s->sid, "user", s->user[0] ? s->user : "",
        "client", s->client_str, "backend", f->srv->cfg->id, "reason", reason ? reason : "",
        "bytes_in", in, "bytes_out", out, "duration_ms", dur,
    };
    cmd(f, (int)(sizeof argv / sizeof argv[0]), argv);
}

static void count(struct be_fleet *f, const char *counter, unsigned long long by)
{
    char key[SCHEMA_KEY_MAX], n[NUM_MAX];
    snprintf(n, sizeof n, "%llu", by);
    cmd(f, 4, (const char *[]){ "HINCRBY", schema_key(key, sizeof key, prefix(f), SCHEMA_K_STATS),
                                counter, n });
}

static long session_ttl(const struct be_fleet *f)
{
    long ttl = (long)(3 * f->srv->cfg->stats_interval) + 1;
    return ttl < SESSION_TTL_MIN_S ? SESSION_TTL_MIN_S : ttl;
}

/* ---- registry ------------------------------------------------------------ */

static void heartbeat(struct be_fleet *f);

static void on_drain(const struct redisReply *r, void *ud)
{
    struct be_fleet *f = ud;
    if (!r)
        return; /* no answer: keep what we knew */
    bool drain = r->type == REDIS_REPLY_STRING;
    bool disconnect = drain && strcmp(r->str, "disconnect") == 0;
    bool changed = drain != f->draining;
    if (changed)
        log_info(drain ? "drain" : "undrain", "id=%s disconnect=%d", f->srv->cfg->id, disconnect);
    f->draining = drain;
    if (changed)
        heartbeat(f); /* publish the new state now, not at the next beat */
    if (disconnect) {
        for (struct be_session *x = f->srv->sessions, *next; x; x = next) {
            next = x->next;
            be_session_disconnect(x);
        }
    }
}

static void heartbeat(struct be_fleet *f)
{
    const struct be_config *cfg = f->srv->cfg;
    char key[SCHEMA_KEY_MAX], cap[NUM_MAX], sess[NUM_MAX], weight[NUM_MAX], started[NUM_MAX],
        hb[NUM_MAX];
    if (!rds_is_up(f->rds))
        return;
    schema_key(key, sizeof key, prefix(f), SCHEMA_K_BACKEND, cfg->id);
    snprintf(cap, sizeof cap, "%ld", cfg->max_sessions);
    snprintf(sess, sizeof sess, "%llu", (unsigned long long)f->srv->n_sessions);
    snprintf(weight, sizeof weight, "%ld", cfg->weight);
    snprintf(started, sizeof started, "%.0f", f->started_ms);
    snprintf(hb, sizeof hb, "%.0f", now_ms(f));
    const char *argv[] = {
        "HSET", key, SCHEMA_F_BE_ID, cfg->id, SCHEMA_F_BE_ADDR, f->addr, SCHEMA_F_BE_KIND, f->kind,
        SCHEMA_F_BE_GROUP, cfg->group ? cfg->group : "", SCHEMA_F_BE_WEIGHT, weight,
        SCHEMA_F_BE_CAPACITY, cap, SCHEMA_F_BE_SESSIONS, sess,
        SCHEMA_F_BE_STATE, f->draining || f->srv->stopping ? "draining" : "up",
        SCHEMA_F_BE_VERSION, SSTP_LB_VERSION, SCHEMA_F_BE_STARTED, started, SCHEMA_F_BE_HEARTBEAT, hb,
    };
    cmd(f, (int)(sizeof argv / sizeof argv[0]), argv);
    expire(f, key, (long)(cfg->registry_ttl + 0.999));
    char idx[SCHEMA_KEY_MAX], sk[SCHEMA_KEY_MAX];
    cmd(f, 4, (const char *[]){ "ZADD", schema_key(idx, sizeof idx, prefix(f), SCHEMA_K_BACKENDS), hb,
                                cfg->id });
    expire(f, schema_key(sk, sizeof sk, prefix(f), SCHEMA_K_BACKEND_SESS, cfg->id), session_ttl(f));
    cmd(f, 3, (const char *[]){ "SET", schema_key(sk, sizeof sk, prefix(f), SCHEMA_K_VERSION),
                                SCHEMA_VERSION });
    rds_cmdv(f->rds, on_drain, f, 2,
             (const char *[]){ "GET", schema_key(sk, sizeof sk, prefix(f), SCHEMA_K_DRAIN, cfg->id) });
}

static void heartbeat_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop;
    (void)revents;
    heartbeat(w->data);
}

/* ---- sessions ------------------------------------------------------------ */

static void session_fields(struct be_fleet *f, struct be_session *s, const char *state)
{
    char key[SCHEMA_KEY_MAX], in[NUM_MAX], out[NUM_MAX], upd[NUM_MAX], start[NUM_MAX], ip[64],
        port[8];
    schema_key(key, sizeof key, prefix(f), SCHEMA_K_SESSION, s->sid);
    snprintf(in, sizeof in, "%llu", (unsigned long long)s->bytes_in);
    snprintf(out, sizeof out, "%llu", (unsigned long long)s->bytes_out);
    snprintf(upd, sizeof upd, "%.0f", now_ms(f));
    snprintf(start, sizeof start, "%.0f", s->t_start * 1000.0);
    snprintf(port, sizeof port, "%u", net_port((struct sockaddr *)&s->client));
    net_addr_ip((struct sockaddr *)&s->client, ip, sizeof ip);
    const char *argv[] = {
        "HSET", key, SCHEMA_F_S_ID, s->sid, SCHEMA_F_S_CLIENT, ip, SCHEMA_F_S_PORT, port,
        SCHEMA_F_S_SNI, s->sni, SCHEMA_F_S_BACKEND, f->srv->cfg->id, SCHEMA_F_S_START, start,
        SCHEMA_F_S_BYTES_IN, in, SCHEMA_F_S_BYTES_OUT, out, SCHEMA_F_S_UPDATED, upd,
        SCHEMA_F_S_USER, s->user, SCHEMA_F_S_IP, s->ip_remote, SCHEMA_F_S_PROXY, s->proxy_id,
        SCHEMA_F_S_STATE, state,
    };
    /* state NULL: keep the stored one (interim byte counters) */
    cmd(f, (int)(sizeof argv / sizeof argv[0]) - (state ? 0 : 2), argv);
    expire(f, key, session_ttl(f));
}

/* fleet byte counters grow by what was not reported yet */
static void count_bytes(struct be_fleet *f, struct be_session *s)
{
    if (s->bytes_in > s->rep_in)
        count(f, "bytes_in", s->bytes_in - s->rep_in);
    if (s->bytes_out > s->rep_out)
        count(f, "bytes_out", s->bytes_out - s->rep_out);
    s->rep_in = s->bytes_in;
    s->rep_out = s->bytes_out;
}

static void interim_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop;
    (void)revents;
    struct be_fleet *f = w->data;
    if (!rds_is_up(f->rds))
        return;
    char key[SCHEMA_KEY_MAX];
    for (struct be_session *s = f->srv->sessions; s; s = s->next) {
        if (!s->in_fleet)
            continue;
        session_fields(f, s, NULL);
        count_bytes(f, s);
        if (s->user[0])
            expire(f, schema_key(key, sizeof key, prefix(f), SCHEMA_K_USER, s->user), session_ttl(f));
    }
}

void be_fleet_session_start(struct be_session *s)
{
    struct be_fleet *f = s->srv->fleet;
    if (!f || !rds_is_up(f->rds))
        return;
    char key[SCHEMA_KEY_MAX], start[NUM_MAX];
    s->in_fleet = true;
    session_fields(f, s, "negotiating");
    snprintf(start, sizeof start, "%.0f", s->t_start * 1000.0);
    cmd(f, 4, (const char *[]){ "ZADD", schema_key(key, sizeof key, prefix(f), SCHEMA_K_SESSIONS),
                                start, s->sid });
    cmd(f, 3, (const char *[]){ "SADD",
                                schema_key(key, sizeof key, prefix(f), SCHEMA_K_BACKEND_SESS,
                                           f->srv->cfg->id),
                                s->sid });
    count(f, "sessions_started", 1);
    event(f, s, "connect", NULL);
}

static void ticket_done(struct ticket *t)
{
    struct be_session *s = t->s;
    free(t);
    s->refs--;
    be_session_maybe_free(s);
}

static void decide(struct ticket *t, bool allow)
{
    if (t->decided)
        return;
    t->decided = true;
    ev_timer_stop(t->f->srv->loop, &t->t);
    be_session_auth_decided(t->s, allow);
}

static void kick(struct be_fleet *f, const char *sid, const char *backend)
{
    char ch[SCHEMA_KEY_MAX], msg[BE_SID_MAX + 8];
    snprintf(msg, sizeof msg, "kick %s", sid);
    cmd(f, 3, (const char *[]){ "PUBLISH", schema_key(ch, sizeof ch, prefix(f), SCHEMA_K_CTL, backend),
                                msg });
}

static void on_user_sessions(const struct redisReply *r, void *ud)
{
    struct ticket *t = ud;
    struct be_fleet *f = t->f;
    t->reply_pending = false;
    if (t->decided || !r || r->type != REDIS_REPLY_ARRAY) {
        decide(t, true); /* no answer in time: Redis must never lock users out */
        ticket_done(t);
        return;
    }
    long limit = f->srv->cfg->max_per_user;
    size_t n = 0; /* live sessions of this user other than this one */
    for (size_t i = 0; i + 1 < r->elements; i += 2)
        if (strcmp(r->element[i]->str, t->s->sid) != 0)
            n++;
    bool allow = (long)n < limit;
    if (!allow && f->srv->cfg->per_user_action == BE_USER_REPLACE) {
        /* oldest first (ZRANGE by start time): disconnect just enough of them */
        size_t excess = n - (size_t)limit + 1;
        for (size_t i = 0; i + 1 < r->elements && excess > 0; i += 2) {
            if (strcmp(r->element[i]->str, t->s->sid) == 0)
                continue;
            log_info("policy_replace", "user=%s old=%s backend=%s new=%s", t->s->user,
                     r->element[i]->str, r->element[i + 1]->str, t->s->sid);
            kick(f, r->element[i]->str, r->element[i + 1]->str);
            excess--;
        }
        allow = true;
    }
    decide(t, allow);
    ticket_done(t);
}

static void policy_timeout_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop;
    (void)revents;
    struct ticket *t = w->data;
    log_warn("policy_timeout", "sid=%s user=%s action=allow", t->s->sid, t->s->user);
    decide(t, true);
    /* the reply still holds the ticket; it frees it when it comes */
}

void be_fleet_session_auth(struct be_session *s, const char *user, size_t user_len)
{
    (void)user; /* the policy still keys on s->user: issue 11 keys it on these */
    (void)user_len;
    struct be_fleet *f = s->srv->fleet;
    char key[SCHEMA_KEY_MAX], start[NUM_MAX];
    if (!f || !rds_is_up(f->rds)) {
        be_session_auth_decided(s, true);
        return;
    }
    session_fields(f, s, "authenticated");
    schema_key(key, sizeof key, prefix(f), SCHEMA_K_USER, s->user);
    count(f, "auth_ok", 1);
    event(f, s, "auth_ok", NULL);

    struct ticket *t = NULL;
    if (f->srv->cfg->max_per_user > 0 && (t = calloc(1, sizeof *t)) != NULL) {
        char sess_prefix[SCHEMA_KEY_MAX];
        schema_key(sess_prefix, sizeof sess_prefix, prefix(f), SCHEMA_K_SESSION, "");
        t->f = f;
        t->s = s;
        s->refs++;
        t->reply_pending = true;
        if (rds_cmdv(f->rds, on_user_sessions, t, 5,
                     (const char *[]){ "EVAL", USER_SESSIONS_LUA, "1", key, sess_prefix }) == -1) {
            s->refs--;
            free(t);
            t = NULL;
        } else {
            ev_timer_init(&t->t, policy_timeout_cb, POLICY_TIMEOUT_S, 0);
            t->t.data = t;
            ev_timer_start(f->srv->loop, &t->t);
        }
    }
    /* this session joins the user's set after the check, so it never counts itself */
    snprintf(start, sizeof start, "%.0f", s->t_start * 1000.0);
    cmd(f, 4, (const char *[]){ "ZADD", key, start, s->sid });
    expire(f, key, session_ttl(f));
    if (!t)
        be_session_auth_decided(s, true);
}

void be_fleet_session_connected(struct be_session *s)
{
    struct be_fleet *f = s->srv->fleet;
    if (f && rds_is_up(f->rds) && s->in_fleet)
        session_fields(f, s, "connected");
}

void be_fleet_session_ip(struct be_session *s)
{
    be_fleet_session_connected(s);
}

void be_fleet_session_event(struct be_session *s, const char *type, const char *reason)
{
    struct be_fleet *f = s->srv->fleet;
    if (!f || !rds_is_up(f->rds))
        return;
    count(f, type, 1);
    event(f, s, type, reason);
}

void be_fleet_session_end(struct be_session *s)
{
    struct be_fleet *f = s->srv->fleet;
    char key[SCHEMA_KEY_MAX], reason[48];
    if (!f || !s->in_fleet || !rds_is_up(f->rds))
        return;
    cmd(f, 2, (const char *[]){ "DEL", schema_key(key, sizeof key, prefix(f), SCHEMA_K_SESSION, s->sid) });
    cmd(f, 3, (const char *[]){ "ZREM", schema_key(key, sizeof key, prefix(f), SCHEMA_K_SESSIONS), s->sid });
    cmd(f, 3, (const char *[]){ "SREM",
                                schema_key(key, sizeof key, prefix(f), SCHEMA_K_BACKEND_SESS,
                                           f->srv->cfg->id),
                                s->sid });
    if (s->user[0])
        cmd(f, 3, (const char *[]){ "ZREM", schema_key(key, sizeof key, prefix(f), SCHEMA_K_USER, s->user),
                                    s->sid });
    count_bytes(f, s);
    count(f, "sessions_ended", 1);
    snprintf(reason, sizeof reason, "term=%s rc=%s", s->term[0] ? s->term : "--", sstp_rc_name(s->rc));
    event(f, s, "disconnect", reason);
}

/* ---- control channel ----------------------------------------------------- */

static void on_ctl(const struct redisReply *r, void *ud)
{
    struct be_fleet *f = ud;
    const char *msg = r->element[2]->str;
    char key[SCHEMA_KEY_MAX];
    if (strncmp(msg, "kick ", 5) == 0) {
        for (struct be_session *s = f->srv->sessions; s; s = s->next) {
            if (strcmp(s->sid, msg + 5) == 0) {
                log_info("kick", "sid=%s user=%s", s->sid, s->user);
                be_session_disconnect(s); /* may free s: stop here */
                return;
            }
        }
    } else if (strcmp(msg, "drain") == 0) {
        /* the drain key says what to do; read it now instead of at the next heartbeat */
        rds_cmdv(f->rds, on_drain, f, 2,
                 (const char *[]){ "GET", schema_key(key, sizeof key, prefix(f), SCHEMA_K_DRAIN,
                                                     f->srv->cfg->id) });
    }
}

static void on_state(bool up, void *ud)
{
    struct be_fleet *f = ud;
    if (up)
        heartbeat(f); /* re-register at once after an outage */
}

/* ---- start and stop ------------------------------------------------------ */


int be_fleet_start(struct be_server *srv)
{
    const struct be_config *cfg = srv->cfg;
    struct rds_opts o;
    char err[CFG_ERR_MAX];
    int rc = rds_config_opts(&o, &cfg->redis, err, sizeof err);
    if (rc == 0)
        return 0;
    if (rc == -1) { /* be_config_load checked it: not reached */
        log_error("config", "err=\"%s\"", err);
        return -1;
    }
    struct be_fleet *f = calloc(1, sizeof *f);
    if (!f)
        return -1;
    f->srv = srv;
    f->started_ms = ev_now(srv->loop) * 1000.0;
    /* what proxies connect to: the advertised address, else the first listener */
    const char *listen = cfg->listen_proxy && cfg->listen_proxy[0] ? cfg->listen_proxy
                         : cfg->listen_mtls && cfg->listen_mtls[0] ? cfg->listen_mtls
                                                                   : cfg->listen_tls;
    f->kind = listen == cfg->listen_proxy ? "proxy" : listen == cfg->listen_mtls ? "mtls" : "tls";
    snprintf(f->addr, sizeof f->addr, "%s", cfg->advertise && cfg->advertise[0] ? cfg->advertise : listen);
    srv->fleet = f;
    f->rds = rds_new(srv->loop, &o, on_state, f);
    if (!f->rds) {
        free(f);
        srv->fleet = NULL;
        return -1;
    }
    rds_subscribe(f->rds, schema_key(f->ctl_channel, sizeof f->ctl_channel, o.prefix, SCHEMA_K_CTL, cfg->id),
                  on_ctl, f);
    ev_timer_init(&f->heartbeat, heartbeat_cb, cfg->heartbeat, cfg->heartbeat);
    f->heartbeat.data = f;
    ev_timer_start(srv->loop, &f->heartbeat);
    ev_timer_init(&f->interim, interim_cb, cfg->stats_interval, cfg->stats_interval);
    f->interim.data = f;
    ev_timer_start(srv->loop, &f->interim);
    log_info("fleet", "redis=%s:%d prefix=%s advertise=%s", o.host, o.port, o.prefix, f->addr);
    return 0;
}

void be_fleet_stop(struct be_server *srv)
{
    struct be_fleet *f = srv->fleet;
    if (!f)
        return;
    ev_timer_stop(srv->loop, &f->heartbeat);
    ev_timer_stop(srv->loop, &f->interim);
    rds_free(f->rds);
    free(f);
    srv->fleet = NULL;
}

bool be_fleet_accepting(const struct be_server *srv)
{
    return !srv->fleet || !srv->fleet->draining;
}

const struct rds *be_fleet_rds(const struct be_server *srv)
{
    return srv->fleet ? srv->fleet->rds : NULL;
}
