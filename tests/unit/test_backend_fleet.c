/* test_backend_fleet.c — backend/fleet.c against a real redis-server this
 * test starts on an ephemeral loopback port, driven as the daemon drives
 * it (session records, views, hooks) but without TLS or pppd, so that
 * thousands of sessions fit in a unit test:
 *   scale       2,000 sessions: every hash present and fresh after each
 *               stats interval, indexes complete, nothing refused, fleet
 *               byte counters equal to the sum of the sessions' bytes
 *   restart     Redis restarted empty: sessions, indexes, registry and the
 *               per-user limit are back within one interval; a session
 *               that started and one that ended while it was away too
 *   race        two backends racing a per-user limit of 1 admit one;
 *               replace kicks exactly the old session
 *   identity    exact names vs folded names, in keys and through Redis
 *   duplicate   two processes with one id both see and count it
 *   janitor     dead ids leave the indexes; an error reply to the drain
 *               read never undrains */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <hiredis/hiredis.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "backend/fleet.h"
#include "lb/redis.h"
#include "tests/unit/helpers.h"
#include "tests/unit/redis_server.h"

#define INTERVAL 2.0                       /* stats_interval of these tests */
#define TICK (INTERVAL / BE_FLEET_TICKS)
#define N_SCALE_DEFAULT 2000

/* tests/bench/fleet_scale.sh runs the scale case with more sessions */
static int n_scale(void)
{
    const char *e = getenv("FLEET_SCALE_SESSIONS");
    int n = e ? atoi(e) : 0;
    return n > 0 ? n : N_SCALE_DEFAULT;
}

/* ---- looking inside Redis -------------------------------------------------- */

static long long r_int(redisContext *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    redisReply *r = redisvCommand(c, fmt, ap);
    va_end(ap);
    assert_non_null(r);
    long long v = r->type == REDIS_REPLY_INTEGER ? r->integer
                  : r->type == REDIS_REPLY_STRING ? atoll(r->str)
                                                  : -1;
    freeReplyObject(r);
    return v;
}

static void r_do(redisContext *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    redisReply *r = redisvCommand(c, fmt, ap);
    va_end(ap);
    assert_non_null(r);
    freeReplyObject(r);
}

/* ---- the daemon's side ----------------------------------------------------- */

struct sess {
    struct be_fleet_sess fs; /* first: the hooks find the session from it */
    char sid[32];
    char user[64];
    uint64_t in, out;
    int kicked;
    int decided; /* 0 none, 1 allowed, 2 denied */
};

struct daemon {
    uint64_t n_sessions;
    int drains, disconnects;
};

static void view(const struct be_fleet_sess *fs, struct be_fleet_view *out, void *ud)
{
    const struct sess *s = (const struct sess *)fs;
    (void)ud;
    snprintf(out->client_ip, sizeof out->client_ip, "203.0.113.9");
    out->client_port = 40000;
    out->sni = "vpn.example";
    out->proxy = "px1";
    out->user = s->user;
    out->ip = "10.8.0.2";
    out->ip6 = "fe80::5efe:a08:2";
    out->bytes_in = s->in;
    out->bytes_out = s->out;
}

static void kick(struct be_fleet_sess *fs, void *ud)
{
    (void)ud;
    ((struct sess *)fs)->kicked++;
}

static void drain(bool draining, bool disconnect, void *ud)
{
    struct daemon *d = ud;
    (void)draining;
    d->drains++;
    d->disconnects += disconnect;
}

static uint64_t load(bool *stopping, void *ud)
{
    *stopping = false;
    return ((struct daemon *)ud)->n_sessions;
}

static void on_decided(bool allow, void *arg)
{
    ((struct sess *)arg)->decided = allow ? 1 : 2;
}

static void cfg_init(struct be_config *c, char *url, const char *id)
{
    memset(c, 0, sizeof *c);
    c->id = (char *)id;
    c->redis.url = url;
    c->redis.prefix = "t:";
    c->redis.sentinel_master = "mymaster";
    c->redis.connect_timeout = 2;
    c->redis.reply_timeout = 5;
    c->redis.max_pending = 65536;
    c->listen_proxy = "127.0.0.1:4433";
    c->heartbeat = 0.2;
    c->registry_ttl = 2;
    c->stats_interval = INTERVAL;
    c->events_max = 1000;
    c->max_sessions = 10000;
    c->weight = 1;
}

static struct be_fleet *fleet_up(struct ev_loop *loop, const struct be_config *cfg, struct daemon *d)
{
    struct be_fleet_hooks hooks = { view, kick, drain, load, d };
    bool err = true;
    struct be_fleet *f = be_fleet_new(loop, cfg, &hooks, &err);
    assert_false(err);
    assert_non_null(f);
    for (int i = 0; i < 100 && be_fleet_rds_stats(f)->connects == 0; i++)
        run_loop_for(loop, 0.05);
    assert_true(be_fleet_rds_stats(f)->connects > 0);
    run_loop_for(loop, 0.2); /* the control channel subscribes too */
    return f;
}

static void sess_start(struct be_fleet *f, struct sess *s, const char *sid, const char *user)
{
    memset(s, 0, sizeof *s);
    snprintf(s->sid, sizeof s->sid, "%s", sid);
    snprintf(s->user, sizeof s->user, "%s", user);
    be_fleet_session_start(f, &s->fs, s->sid, (double)time(NULL));
}

static void admit(struct ev_loop *loop, struct be_fleet *f, struct sess *s, const char *name)
{
    be_fleet_user_admit(f, &s->fs, name, strlen(name), on_decided, s);
    for (int i = 0; i < 100 && !s->decided; i++)
        run_loop_for(loop, 0.01);
    assert_int_not_equal(s->decided, 0);
}

/* every session present, fresh and indexed; the counters equal their bytes */
static void check_view(redisContext *c, struct sess *ss, size_t n, const char *backend,
                       size_t n_other, uint64_t other_in, uint64_t other_out)
{
    uint64_t sum_in = other_in, sum_out = other_out;
    long long now_ms = (long long)time(NULL) * 1000;
    for (size_t i = 0; i < n; i++) {
        redisReply *r = redisCommand(c, "HMGET t:session:%s updated bytes_in backend", ss[i].sid);
        assert_non_null(r);
        assert_int_equal(r->type, REDIS_REPLY_ARRAY);
        if (r->element[0]->type != REDIS_REPLY_STRING)
            fail_msg("session %s has no hash", ss[i].sid);
        long long updated = atoll(r->element[0]->str);
        if (updated < now_ms - (long long)((INTERVAL + 2 * TICK + 1) * 1000))
            fail_msg("session %s stale: updated %lld ms ago", ss[i].sid, now_ms - updated);
        assert_int_equal((uint64_t)atoll(r->element[1]->str), ss[i].in);
        assert_string_equal(r->element[2]->str, backend);
        freeReplyObject(r);
        assert_true(r_int(c, "TTL t:session:%s", ss[i].sid) > 0);
        sum_in += ss[i].in;
        sum_out += ss[i].out;
    }
    assert_int_equal(r_int(c, "ZCARD t:sessions"), (long long)(n + n_other));
    assert_int_equal(r_int(c, "SCARD t:backend:%s:sessions", backend), (long long)(n + n_other));
    assert_int_equal(r_int(c, "HGET t:stats bytes_in"), (long long)sum_in);
    assert_int_equal(r_int(c, "HGET t:stats bytes_out"), (long long)sum_out);
    assert_int_equal(r_int(c, "HGET t:stats:backend:%s bytes_in", backend), (long long)sum_in);
}

static double redis_cpu(redisContext *c)
{
    redisReply *r = redisCommand(c, "INFO cpu");
    double sys = 0, user = 0;
    const char *p = r && r->str ? strstr(r->str, "used_cpu_sys:") : NULL;
    if (p)
        sys = atof(p + 13);
    p = r && r->str ? strstr(r->str, "used_cpu_user:") : NULL;
    if (p)
        user = atof(p + 14);
    freeReplyObject(r);
    return sys + user;
}

/* CPU seconds of this process (the fleet writer's side) */
static double own_cpu(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec +
           ru.ru_stime.tv_usec / 1e6;
}

static uint64_t refused(const struct be_fleet *f)
{
    const struct rds_stats *rs = be_fleet_rds_stats(f);
    return rs->dropped_full + rs->dropped_down + be_fleet_stats(f)->upsert_refused;
}

/* ---- cases ----------------------------------------------------------------- */

static void test_scale_and_restart(void **state)
{
    (void)state;
    struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
    int port = test_redis_port();
    pid_t pid = test_redis_start(port);
    redisContext *c = test_redis_inspect(port);
    char url[64];
    snprintf(url, sizeof url, "redis://127.0.0.1:%d", port);
    struct be_config cfg;
    cfg_init(&cfg, url, "be-scale");
    cfg.max_per_user = 1;
    struct daemon d = { 0 };
    struct be_fleet *f = fleet_up(loop, &cfg, &d);

    const int n_sess = n_scale();
    struct sess *ss = calloc((size_t)n_sess, sizeof *ss);
    assert_non_null(ss);
    char sid[32], user[32];
    for (int i = 0; i < n_sess; i++) {
        snprintf(sid, sizeof sid, "s%05d", i);
        snprintf(user, sizeof user, "user%d", i);
        sess_start(f, &ss[i], sid, user);
        d.n_sessions++;
        run_loop_for(loop, 0.0005); /* they arrive over time, replies flow */
    }
    /* users authenticate in bursts of 100 (each admission is 3 commands) */
    for (int i = 0; i < n_sess; i++) {
        be_fleet_user_admit(f, &ss[i].fs, ss[i].user, strlen(ss[i].user), on_decided, &ss[i]);
        for (int j = 0; i % 100 == 99 && j < 200 && !ss[i].decided; j++)
            run_loop_for(loop, 0.01);
    }
    for (int i = 0; i < n_sess; i++)
        assert_int_equal(ss[i].decided, 1);
    assert_int_equal(be_fleet_stats(f)->admit_allow, n_sess);
    assert_int_equal(refused(f), 0);

    /* three intervals of traffic: after each, the whole view is true */
    for (int round = 1; round <= 3; round++) {
        uint64_t sent0 = be_fleet_rds_stats(f)->sent;
        double cpu0 = redis_cpu(c), own0 = own_cpu();
        double t0 = ev_time();
        for (int i = 0; i < n_sess; i++) {
            ss[i].in += 1000 + (uint64_t)i;
            ss[i].out += 2000 + (uint64_t)round;
        }
        run_loop_for(loop, INTERVAL + TICK);
        double wall = ev_time() - t0, cpu = redis_cpu(c) - cpu0, own = own_cpu() - own0;
        uint64_t sent = be_fleet_rds_stats(f)->sent - sent0;
        check_view(c, ss, (size_t)n_sess, "be-scale", 0, 0, 0); /* present, fresh, totals = sum */
        assert_int_equal(refused(f), 0);
        printf("fleet_scale: interval=%d sessions=%d interval_s=%.1f commands=%llu redis_cpu_s=%.3f "
               "writer_cpu_s=%.3f wall_s=%.2f refused=%llu write_errors=%llu hashes_present_fresh=%d totals_equal_sum=yes "
               "bytes_in=%lld\n",
               round, n_sess, INTERVAL, (unsigned long long)sent, cpu, own, wall,
               (unsigned long long)refused(f), (unsigned long long)be_fleet_stats(f)->write_errors,
               n_sess, r_int(c, "HGET t:stats bytes_in"));
    }

    /* Redis restarted empty; meanwhile one session ends, one starts */
    test_redis_stop(pid);
    redisFree(c);
    run_loop_for(loop, 0.3);
    ss[0].in += 500;
    be_fleet_session_end(f, &ss[0].fs, "term=-- rc=OK");
    struct sess late;
    sess_start(f, &late, "late", "latecomer");
    run_loop_for(loop, 0.2);
    uint64_t connects = be_fleet_rds_stats(f)->connects;
    pid = test_redis_start(port);
    c = test_redis_inspect(port);
    double back = ev_time();
    for (int i = 0; i < 500 && be_fleet_rds_stats(f)->connects == connects; i++)
        run_loop_for(loop, 0.01);
    double up = ev_time();
    /* the whole view within one interval of the client being back */
    while (ev_time() - up < INTERVAL && r_int(c, "SCARD t:backend:be-scale:sessions") < n_sess)
        run_loop_for(loop, 0.02);
    double complete = ev_time();
    run_loop_for(loop, 0.1); /* and the end kept while Redis was away */
    /* the registry entry (checked first: the slow checks below stall the
     * heartbeat of this loop longer than its 2 s TTL at 10,000 sessions) */
    assert_int_equal(r_int(c, "EXISTS t:backend:be-scale"), 1);
    /* every live session, the late one, the ended one's last bytes (its
     * end was kept while Redis was away), the registry */
    check_view(c, ss + 1, (size_t)n_sess - 1, "be-scale", 1, ss[0].in, ss[0].out);
    assert_int_equal(r_int(c, "EXISTS t:session:late"), 1);
    /* counted as started and ended, though Redis was away for both */
    assert_int_equal(r_int(c, "HGET t:stats:backend:be-scale sessions_started"), 1);
    assert_int_equal(r_int(c, "HGET t:stats:backend:be-scale sessions_ended"), 1);
    assert_int_equal(r_int(c, "EXISTS t:session:s00000"), 0);
    printf("fleet_restart: sessions=%d client back %.2f s after the restart; whole view back %.2f s "
           "after that (interval %.1f s)\n", n_sess, up - back, complete - up, INTERVAL);
    /* no key of a live thing without a TTL (hash and TTL are set together) */
    redisReply *keys = redisCommand(c, "KEYS t:*");
    assert_non_null(keys);
    size_t with_ttl = 0;
    for (size_t i = 0; i < keys->elements; i++) {
        const char *k = keys->element[i]->str;
        if (strncmp(k, "t:session:", 10) == 0 || strncmp(k, "t:user:", 7) == 0 ||
            strncmp(k, "t:backend:", 10) == 0) {
            if (r_int(c, "PTTL %s", k) == -1) /* -1: no TTL (-2: gone since KEYS) */
                fail_msg("%s has no TTL", k);
            with_ttl++;
        }
    }
    assert_true(with_ttl >= 2 * (size_t)n_sess); /* sessions and their users */
    freeReplyObject(keys);
    /* the per-user limit holds again: user7 already has a session */
    char key[BE_FLEET_USER_KEY_LEN + 1];
    be_fleet_user_key(key, BE_USER_NORM_NONE, "user7", 5);
    assert_int_equal(r_int(c, "ZCARD t:user:%s", key), 1);
    struct sess again;
    sess_start(f, &again, "again7", "user7");
    admit(loop, f, &again, "user7");
    assert_int_equal(again.decided, 2);
    be_fleet_session_end(f, &again.fs, "denied");

    for (int i = 1; i < n_sess; i++)
        be_fleet_session_end(f, &ss[i].fs, "bye");
    be_fleet_session_end(f, &late.fs, "bye");
    run_loop_for(loop, 0.5);
    assert_int_equal(r_int(c, "ZCARD t:sessions"), 0);
    be_fleet_free(f);
    free(ss);
    redisFree(c);
    test_redis_stop(pid);
    ev_loop_destroy(loop);
}

static void test_race_and_replace(void **state)
{
    (void)state;
    struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
    int port = test_redis_port();
    pid_t pid = test_redis_start(port);
    redisContext *c = test_redis_inspect(port);
    char url[64];
    snprintf(url, sizeof url, "redis://127.0.0.1:%d", port);
    struct be_config ca, cb;
    cfg_init(&ca, url, "be-a");
    cfg_init(&cb, url, "be-b");
    ca.max_per_user = cb.max_per_user = 1;
    struct daemon da = { 0 }, db = { 0 };
    struct be_fleet *fa = fleet_up(loop, &ca, &da), *fb = fleet_up(loop, &cb, &db);

    /* both ask before either answer arrives: the script is the only judge */
    for (int round = 0; round < 20; round++) {
        struct sess a, b;
        char sa[16], sb[16];
        snprintf(sa, sizeof sa, "ra%d", round);
        snprintf(sb, sizeof sb, "rb%d", round);
        sess_start(fa, &a, sa, "racer");
        sess_start(fb, &b, sb, "racer");
        be_fleet_user_admit(fa, &a.fs, "racer", 5, on_decided, &a);
        be_fleet_user_admit(fb, &b.fs, "racer", 5, on_decided, &b);
        for (int i = 0; i < 100 && (!a.decided || !b.decided); i++)
            run_loop_for(loop, 0.01);
        assert_int_equal((a.decided == 1) + (b.decided == 1), 1);
        assert_int_equal((a.decided == 2) + (b.decided == 2), 1);
        be_fleet_session_end(fa, &a.fs, "x");
        be_fleet_session_end(fb, &b.fs, "x");
        run_loop_for(loop, 0.02);
    }

    /* replace: the new login on be-b kicks exactly the old one on be-a */
    cb.per_user_action = BE_USER_REPLACE;
    struct sess old, other, neu;
    sess_start(fa, &old, "old", "bob");
    admit(loop, fa, &old, "bob");
    assert_int_equal(old.decided, 1);
    sess_start(fa, &other, "other", "carol");
    admit(loop, fa, &other, "carol");
    sess_start(fb, &neu, "new", "bob");
    admit(loop, fb, &neu, "bob");
    assert_int_equal(neu.decided, 1);
    for (int i = 0; i < 100 && !old.kicked; i++)
        run_loop_for(loop, 0.01);
    run_loop_for(loop, 0.1);
    assert_int_equal(old.kicked, 1);
    assert_int_equal(other.kicked, 0);
    assert_int_equal(neu.kicked, 0);
    char key[BE_FLEET_USER_KEY_LEN + 1];
    be_fleet_user_key(key, BE_USER_NORM_NONE, "bob", 3);
    redisReply *r = redisCommand(c, "ZRANGE t:user:%s 0 -1", key);
    assert_int_equal(r->elements, 1);
    assert_string_equal(r->element[0]->str, "new");
    freeReplyObject(r);
    assert_int_equal(be_fleet_stats(fb)->admit_kick, 1);

    be_fleet_session_end(fa, &old.fs, "kicked");
    be_fleet_session_end(fa, &other.fs, "x");
    be_fleet_session_end(fb, &neu.fs, "x");
    run_loop_for(loop, 0.1);
    be_fleet_free(fa);
    be_fleet_free(fb);
    redisFree(c);
    test_redis_stop(pid);
    ev_loop_destroy(loop);
}

/* Redis stops answering: an admission allows after its bounded wait; one
 * cancelled by its session's end never calls back; the late answers free
 * what they held (ASan checks). */
static void test_admit_timeout_and_cancel(void **state)
{
    (void)state;
    struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
    int port = test_redis_port();
    pid_t pid = test_redis_start(port);
    char url[64];
    snprintf(url, sizeof url, "redis://127.0.0.1:%d", port);
    struct be_config cfg;
    cfg_init(&cfg, url, "be-t");
    cfg.max_per_user = 1;
    struct daemon d = { 0 };
    struct be_fleet *f = fleet_up(loop, &cfg, &d);
    struct sess slow, gone;
    sess_start(f, &slow, "slow", "sam");
    sess_start(f, &gone, "gone", "gus");
    run_loop_for(loop, 0.1);
    kill(pid, SIGSTOP);
    double t0 = ev_time();
    struct be_fleet_ask *a1 = be_fleet_user_admit(f, &slow.fs, "sam", 3, on_decided, &slow);
    struct be_fleet_ask *a2 = be_fleet_user_admit(f, &gone.fs, "gus", 3, on_decided, &gone);
    assert_non_null(a1);
    assert_non_null(a2);
    be_fleet_ask_cancel(a2);
    be_fleet_session_end(f, &gone.fs, "closed");
    for (int i = 0; i < 300 && !slow.decided; i++)
        run_loop_for(loop, 0.01);
    double waited = ev_time() - t0;
    assert_int_equal(slow.decided, 1);
    assert_true(waited >= BE_FLEET_ADMIT_TIMEOUT_S - 0.05 && waited < BE_FLEET_ADMIT_TIMEOUT_S + 1.0);
    assert_int_equal(be_fleet_stats(f)->admit_timeout, 1);
    kill(pid, SIGCONT);
    run_loop_for(loop, 0.5);
    assert_int_equal(gone.decided, 0);
    be_fleet_session_end(f, &slow.fs, "x");
    run_loop_for(loop, 0.1);
    be_fleet_free(f);
    test_redis_stop(pid);
    ev_loop_destroy(loop);
}

static void test_identity(void **state)
{
    (void)state;
    char k1[BE_FLEET_USER_KEY_LEN + 1], k2[BE_FLEET_USER_KEY_LEN + 1], k3[BE_FLEET_USER_KEY_LEN + 1];
    /* bytes the log sanitiser folds to '.' stay distinct users */
    be_fleet_user_key(k1, BE_USER_NORM_NONE, "a b", 3);
    be_fleet_user_key(k2, BE_USER_NORM_NONE, "a.b", 3);
    be_fleet_user_key(k3, BE_USER_NORM_NONE, "a\"b", 3);
    assert_string_not_equal(k1, k2);
    assert_string_not_equal(k2, k3);
    /* the exact bytes, however long (the log keeps 63) */
    char long1[200], long2[200];
    memset(long1, 'x', sizeof long1);
    memcpy(long2, long1, sizeof long2);
    long2[150] = 'y';
    be_fleet_user_key(k1, BE_USER_NORM_NONE, long1, sizeof long1);
    be_fleet_user_key(k2, BE_USER_NORM_NONE, long2, sizeof long2);
    assert_string_not_equal(k1, k2);
    /* spellings of one AD/RADIUS user: three users, or one when folded */
    be_fleet_user_key(k1, BE_USER_NORM_NONE, "Alice", 5);
    be_fleet_user_key(k2, BE_USER_NORM_NONE, "CORP\\alice", 10);
    be_fleet_user_key(k3, BE_USER_NORM_NONE, "alice@corp", 10);
    assert_string_not_equal(k1, k2);
    assert_string_not_equal(k2, k3);
    be_fleet_user_key(k1, BE_USER_NORM_FOLD, "Alice", 5);
    be_fleet_user_key(k2, BE_USER_NORM_FOLD, "CORP\\alice", 10);
    be_fleet_user_key(k3, BE_USER_NORM_FOLD, "alice@corp", 10);
    assert_string_equal(k1, k2);
    assert_string_equal(k2, k3);
    be_fleet_user_key(k2, BE_USER_NORM_FOLD, "alicea", 6);
    assert_string_not_equal(k1, k2);
    /* SHA-256 hex of the exact bytes (echo -n alice | sha256sum) */
    be_fleet_user_key(k1, BE_USER_NORM_NONE, "alice", 5);
    assert_string_equal(k1, "2bd806c97f0e00af1a1fc3328fa763a9269723c8db8fac4f93af71db186d6e90");

    /* through Redis with a limit of 1 */
    struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
    int port = test_redis_port();
    pid_t pid = test_redis_start(port);
    char url[64];
    snprintf(url, sizeof url, "redis://127.0.0.1:%d", port);
    struct be_config cfg;
    cfg_init(&cfg, url, "be-id");
    cfg.max_per_user = 1;
    struct daemon d = { 0 };
    struct be_fleet *f = fleet_up(loop, &cfg, &d);
    struct sess s1, s2, s3, s4;
    sess_start(f, &s1, "i1", "a.b");
    be_fleet_session_state(f, &s1.fs, BE_FS_CONNECTED); /* admission after the binding */
    admit(loop, f, &s1, "a b");
    redisContext *c = test_redis_inspect(port);
    redisReply *st = redisCommand(c, "HGET t:session:i1 state");
    assert_string_equal(st->str, "connected");
    freeReplyObject(st);
    /* each address in its own field (ip6 since schema 2.1) */
    redisReply *ips = redisCommand(c, "HMGET t:session:i1 ip ip6 user");
    assert_int_equal(ips->elements, 3);
    assert_string_equal(ips->element[0]->str, "10.8.0.2");
    assert_string_equal(ips->element[1]->str, "fe80::5efe:a08:2");
    assert_string_equal(ips->element[2]->str, "a.b");
    freeReplyObject(ips);
    redisFree(c);
    sess_start(f, &s2, "i2", "a.b");
    admit(loop, f, &s2, "a.b");
    assert_int_equal(s1.decided, 1);
    assert_int_equal(s2.decided, 1); /* two users, though one in the logs */
    cfg.per_user_normalize = BE_USER_NORM_FOLD;
    sess_start(f, &s3, "i3", "Alice");
    admit(loop, f, &s3, "Alice");
    sess_start(f, &s4, "i4", "CORP.alice");
    admit(loop, f, &s4, "CORP\\alice");
    assert_int_equal(s3.decided, 1);
    assert_int_equal(s4.decided, 2); /* one user when folded */
    struct sess *all[] = { &s1, &s2, &s3, &s4 };
    for (size_t i = 0; i < 4; i++)
        be_fleet_session_end(f, &all[i]->fs, "x");
    run_loop_for(loop, 0.1);
    be_fleet_free(f);
    test_redis_stop(pid);
    ev_loop_destroy(loop);
}

static void test_duplicate_janitor_drain(void **state)
{
    (void)state;
    struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
    int port = test_redis_port();
    pid_t pid = test_redis_start(port);
    redisContext *c = test_redis_inspect(port);
    char url[64];
    snprintf(url, sizeof url, "redis://127.0.0.1:%d", port);
    struct be_config c1, c2, c3;
    cfg_init(&c1, url, "be-dup");
    cfg_init(&c2, url, "be-dup");
    cfg_init(&c3, url, "be-solo");
    c2.heartbeat = 0.15; /* not in lock step with the first */
    struct daemon d1 = { 0 }, d2 = { 0 }, d3 = { 0 };
    struct be_fleet *f1 = fleet_up(loop, &c1, &d1), *f2 = fleet_up(loop, &c2, &d2);
    struct be_fleet *f3 = fleet_up(loop, &c3, &d3);
    run_loop_for(loop, 2.0);
    assert_true(be_fleet_stats(f1)->duplicate_id > 0);
    assert_true(be_fleet_stats(f2)->duplicate_id > 0);
    assert_int_equal(be_fleet_stats(f3)->duplicate_id, 0);
    be_fleet_free(f2);
    be_fleet_free(f1); /* the janitor below is f3's alone */

    /* dead ids (no hash) leave both indexes; a live one stays */
    struct sess live;
    sess_start(f3, &live, "live", "u");
    r_do(c, "ZADD t:sessions 1 ghost1 2 ghost2");
    r_do(c, "SADD t:backend:be-solo:sessions ghost3");
    run_loop_for(loop, INTERVAL + TICK);
    assert_int_equal(r_int(c, "ZCARD t:sessions"), 1);
    assert_int_equal(r_int(c, "SCARD t:backend:be-solo:sessions"), 1);
    assert_int_equal(be_fleet_stats(f3)->janitor_removed, 3);

    /* drained, then the drain key cannot be read: still drained */
    r_do(c, "SET t:drain:be-solo drain");
    run_loop_for(loop, 0.5);
    assert_false(be_fleet_accepting(f3));
    r_do(c, "DEL t:drain:be-solo");
    r_do(c, "HSET t:drain:be-solo x y"); /* WRONGTYPE for GET */
    r_do(c, "PUBLISH t:ctl:be-solo drain");
    run_loop_for(loop, 0.5);
    assert_false(be_fleet_accepting(f3));
    r_do(c, "DEL t:drain:be-solo");
    run_loop_for(loop, 0.5);
    assert_true(be_fleet_accepting(f3));
    assert_true(r_int(c, "TTL t:backend:be-solo") > 0);

    be_fleet_session_end(f3, &live.fs, "x");
    run_loop_for(loop, 0.1);
    be_fleet_free(f3);
    redisFree(c);
    test_redis_stop(pid);
    ev_loop_destroy(loop);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_identity),
        cmocka_unit_test(test_admit_timeout_and_cancel),
        cmocka_unit_test(test_race_and_replace),
        cmocka_unit_test(test_duplicate_janitor_drain),
        cmocka_unit_test(test_scale_and_restart),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
