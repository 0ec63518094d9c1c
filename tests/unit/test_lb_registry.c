/* test_lb_registry.c — the registry as a trust boundary (issue 11): what a
 * proxy refuses of a registry entry and why (each reason), the forbidden
 * address ranges and how an allowlist opens them, IPv4-mapped tricks, the
 * mtls-only policy and the name check it sets up, the "sharply shrunken"
 * rule of the grace period, and what the registry's facts do to the pick:
 * capacity, a refusal, the first health check, the per-worker start of
 * round-robin ties; against a real redis-server, index members that are
 * no backend's (bad ids, keys of another type) skipped and counted while
 * the rest is read, and a failed read counted. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <hiredis/hiredis.h>
#include <stdio.h>
#include <string.h>

#include "lb/lb.h"
#include "lb/redis.h"
#include "lb/registry.h"
#include "tests/unit/helpers.h"
#include "tests/unit/redis_server.h"

static const char *const FIELDS[] = { "id", "addr", "kind", "weight", "capacity", "sessions", "state" };

/* Parses one row of the seven FIELDS. */
static enum lb_reg_rc parse(struct lb_reg_entry *e, const char *id, const char *addr, const char *kind,
                            const char *capacity, const char *sessions)
{
    const char *v[] = { id, addr, kind, "1", capacity, sessions, "up" };
    return lb_reg_parse(e, FIELDS, v, 7);
}

/* Every field of an entry, in the order a heartbeat writes them. */
static void test_parse_fields(void **state)
{
    (void)state;
    struct lb_reg_entry e;
    const char *f[] = { "id", "addr", "kind", "group", "weight", "capacity", "sessions", "state", "heartbeat" };
    const char *v[] = { "be1", "10.0.0.11:4433", "mtls", "acme", "3", "500", "42", "up", "1795393788007" };
    assert_int_equal(lb_reg_parse(&e, f, v, 9), 0);
    assert_string_equal(e.spec.name, "be1");
    assert_true(e.spec.tls);
    assert_string_equal(e.group, "acme");
    assert_int_equal(e.spec.weight, 3);
    assert_int_equal(e.capacity, 500);
    assert_int_equal(e.sessions, 42);
    assert_false(e.draining);
    assert_true(e.heartbeat > 1795393788.0 && e.heartbeat < 1795393788.1);

    const char *v2[] = { "be2", "10.0.0.12:4433", "proxy", "", "3", "500", "1", "draining", "1" };
    assert_int_equal(lb_reg_parse(&e, f, v2, 9), 0);
    assert_true(e.draining);
    assert_int_equal(e.spec.weight, 0); /* never picked */
    assert_false(e.spec.tls);

    const char *v3[] = { "be3", "not-an-address", "proxy", "", "1", "1", "0", "up", "1" };
    assert_int_equal(lb_reg_parse(&e, f, v3, 9), LB_REG_E_ADDR);
    assert_int_equal(lb_reg_parse(&e, f + 1, v + 1, 8), LB_REG_E_ID); /* no id */
    const char *v4[] = { "a-name-that-is-far-too-long-for-a-backend-name", "10.0.0.1:1" };
    assert_int_equal(lb_reg_parse(&e, f, v4, 2), LB_REG_E_ID);
    const char *v5[] = { "be5", "10.0.0.1:1" }; /* weight missing: 1 */
    assert_int_equal(lb_reg_parse(&e, f, v5, 2), 0);
    assert_int_equal(e.spec.weight, 1);
}

static void test_parse_reasons(void **state)
{
    (void)state;
    struct lb_reg_entry e;
    assert_int_equal(parse(&e, "be1", "10.0.0.1:4433", "proxy", "100", "3"), LB_REG_OK);
    assert_int_equal(e.capacity, 100);
    assert_string_equal(e.spec.sni, ""); /* plain TCP: no name to check */
    /* ids: 31 bytes pass, 32 do not; only the characters of server names */
    assert_int_equal(parse(&e, "a234567890123456789012345678901", "10.0.0.1:1", "proxy", "1", "0"), LB_REG_OK);
    assert_int_equal(parse(&e, "a2345678901234567890123456789012", "10.0.0.1:1", "proxy", "1", "0"),
                     LB_REG_E_ID);
    assert_int_equal(parse(&e, "", "10.0.0.1:1", "proxy", "1", "0"), LB_REG_E_ID);
    assert_int_equal(parse(&e, "be 1", "10.0.0.1:1", "proxy", "1", "0"), LB_REG_E_ID);
    assert_int_equal(parse(&e, "be1\nev=forged", "10.0.0.1:1", "proxy", "1", "0"), LB_REG_E_ID);
    assert_int_equal(parse(&e, "be=1", "10.0.0.1:1", "proxy", "1", "0"), LB_REG_E_ID);
    /* addresses: numeric, with a port */
    assert_int_equal(parse(&e, "be1", "10.0.0.1:0", "proxy", "1", "0"), LB_REG_E_ADDR);
    assert_int_equal(parse(&e, "be1", "backend.example:4433", "proxy", "1", "0"), LB_REG_E_ADDR);
    assert_int_equal(parse(&e, "be1", "10.0.0.1", "proxy", "1", "0"), LB_REG_E_ADDR);
    /* kinds */
    assert_int_equal(parse(&e, "be1", "10.0.0.1:1", "tls", "1", "0"), LB_REG_E_KIND);
    assert_int_equal(parse(&e, "be1", "10.0.0.1:1", "", "1", "0"), LB_REG_E_KIND);
    /* numbers: an unreadable capacity must not lift the cap */
    assert_int_equal(parse(&e, "be1", "10.0.0.1:1", "proxy", "lots", "0"), LB_REG_E_NUMBER);
    assert_int_equal(parse(&e, "be1", "10.0.0.1:1", "proxy", "-1", "0"), LB_REG_E_NUMBER);
    assert_int_equal(parse(&e, "be1", "10.0.0.1:1", "proxy", "", "0"), LB_REG_E_NUMBER);
    assert_int_equal(parse(&e, "be1", "10.0.0.1:1", "proxy", "10", "x"), LB_REG_E_NUMBER);
    assert_int_equal(parse(&e, "be1", "10.0.0.1:1", "proxy", "99999999999", "0"), LB_REG_E_NUMBER);
    /* mtls: the certificate must carry the id */
    assert_int_equal(parse(&e, "be-7.x", "10.0.0.1:1", "mtls", "1", "0"), LB_REG_OK);
    assert_true(e.spec.tls);
    assert_string_equal(e.spec.sni, "be-7.x");
    /* each reason has a distinct label */
    for (int i = 0; i < LB_REG_RC_COUNT; i++)
        for (int k = 0; k < i; k++)
            assert_string_not_equal(lb_reg_rc_name((enum lb_reg_rc)i), lb_reg_rc_name((enum lb_reg_rc)k));
    assert_string_equal(lb_reg_rc_name(LB_REG_E_ADDR_FORBIDDEN), "addr_forbidden");
}

static enum lb_reg_rc check(const struct lb_reg_policy *p, const char *addr, const char *kind)
{
    struct lb_reg_entry e;
    if (parse(&e, "be1", addr, kind, "10", "0") != LB_REG_OK)
        fail_msg("%s does not parse", addr);
    return lb_reg_check(p, &e);
}

static void test_forbidden_addresses(void **state)
{
    (void)state;
    char err[128];
    struct net_cidr_list everything = { 0 };
    assert_int_equal(net_cidr_list_add(&everything, "0.0.0.0/0 ::/0", err, sizeof err), 0);
    const struct lb_reg_policy open = { &everything, false, true };
    static const char *const bad[] = {
        "127.0.0.1:4433", "127.9.9.9:1", "0.0.0.0:4433", "0.1.2.3:1", "169.254.169.254:80",
        "169.254.1.1:4433", "224.0.0.1:1", "255.255.255.255:1", "240.0.0.1:1", "100.100.100.200:80",
        "168.63.129.16:80", "[::ffff:168.63.129.16]:80",
        "[::1]:4433", "[::]:4433", "[fe80::1]:4433", "[ff02::1]:1", "[fd00:ec2::254]:80",
        "[::ffff:127.0.0.1]:4433", "[::ffff:169.254.169.254]:80", "[::ffff:0.0.0.0]:1",
        /* IPv6 forms a router turns into a forbidden IPv4 address */
        "[64:ff9b::7f00:1]:4433", "[64:ff9b::169.254.169.254]:80", "[64:ff9b::a83f:8110]:80",
        "[::127.0.0.1]:4433", "[::169.254.169.254]:80", "[::100.100.100.200]:80",
        "[2002:7f00:1::1]:4433", "[2002:a9fe:a9fe::]:80", "[2002:a83f:8110:1::5]:80",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        if (check(&open, bad[i], "proxy") != LB_REG_E_ADDR_FORBIDDEN)
            fail_msg("%s is not refused", bad[i]);
    static const char *const good[] = {
        "10.0.0.1:4433", "192.168.1.2:4433", "172.28.0.11:4433", "203.0.113.5:1",
        "100.100.100.201:1", "168.63.129.17:1", "[2001:db8::1]:4433", "[fd00:ec2::253]:1",
        "[::ffff:10.0.0.1]:1", "[64:ff9b::a00:1]:1", "[2002:cb00:7105::1]:1", "[::10.0.0.1]:1",
    };
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++)
        if (check(&open, good[i], "proxy") != LB_REG_OK)
            fail_msg("%s is refused", good[i]);
    net_cidr_list_free(&everything);
}

/* No allowlist is not "anywhere": whoever writes Redis would choose where
 * decrypted PPP goes. Empty means the private ranges. */
static void test_default_allowlist(void **state)
{
    (void)state;
    struct net_cidr_list empty = { 0 };
    const struct lb_reg_policy none = { NULL, false, true }, zero = { &empty, false, true };
    static const char *const inside[] = {
        "10.0.0.1:4433", "10.255.255.254:1", "172.16.0.1:1", "172.31.255.254:1", "172.28.0.11:4433",
        "192.168.1.2:4433", "100.64.0.1:1", "100.127.255.254:1", "[fd12::5]:4433", "[fc00::1]:1",
        "[::ffff:10.0.0.1]:1",
    };
    static const char *const outside[] = {
        "203.0.113.5:1", "8.8.8.8:443", "172.32.0.1:1", "172.15.255.255:1", "192.169.0.1:1",
        "100.128.0.1:1", "11.0.0.1:1", "[2001:db8::1]:4433", "[fe00::1]:1", "[::ffff:8.8.8.8]:1",
        "[64:ff9b::808:808]:1", "[2002:808:808::1]:1",
    };
    for (size_t i = 0; i < sizeof inside / sizeof inside[0]; i++)
        if (check(&none, inside[i], "proxy") != LB_REG_OK || check(&zero, inside[i], "proxy") != LB_REG_OK)
            fail_msg("%s is refused by the default allowlist", inside[i]);
    for (size_t i = 0; i < sizeof outside / sizeof outside[0]; i++)
        if (check(&none, outside[i], "proxy") != LB_REG_E_ADDR_NOT_ALLOWED ||
            check(&zero, outside[i], "proxy") != LB_REG_E_ADDR_NOT_ALLOWED)
            fail_msg("%s is taken without an allowlist", outside[i]);
    /* forbidden stays forbidden */
    assert_int_equal(check(&none, "127.0.0.1:1", "proxy"), LB_REG_E_ADDR_FORBIDDEN);
    assert_int_equal(check(&none, "168.63.129.16:80", "proxy"), LB_REG_E_ADDR_FORBIDDEN);
    assert_int_equal(lb_reg_allow_default()->n, 5);
}

static void test_allowlist(void **state)
{
    (void)state;
    char err[128];
    struct net_cidr_list private = { 0 }, wide = { 0 }, loop = { 0 };
    assert_int_equal(net_cidr_list_add(&private, "10.0.0.0/8, fd00::/8", err, sizeof err), 0);
    assert_int_equal(net_cidr_list_add(&wide, "0.0.0.0/0 ::/0", err, sizeof err), 0);
    assert_int_equal(net_cidr_list_add(&loop, "10.0.0.0/8 127.0.0.0/8", err, sizeof err), 0);
    struct lb_reg_policy p = { &private, false, true };
    assert_int_equal(check(&p, "10.1.2.3:4433", "proxy"), LB_REG_OK);
    assert_int_equal(check(&p, "[::ffff:10.1.2.3]:4433", "proxy"), LB_REG_OK);
    assert_int_equal(check(&p, "[fd12::5]:4433", "proxy"), LB_REG_OK);
    assert_int_equal(check(&p, "192.168.1.1:4433", "proxy"), LB_REG_E_ADDR_NOT_ALLOWED);
    assert_int_equal(check(&p, "[2001:db8::1]:4433", "proxy"), LB_REG_E_ADDR_NOT_ALLOWED);
    assert_int_equal(check(&p, "127.0.0.1:4433", "proxy"), LB_REG_E_ADDR_FORBIDDEN);
    /* "everything" does not open this host or the metadata service */
    p.allow = &wide;
    assert_int_equal(check(&p, "192.168.1.1:4433", "proxy"), LB_REG_OK);
    assert_int_equal(check(&p, "127.0.0.1:4433", "proxy"), LB_REG_E_ADDR_FORBIDDEN);
    assert_int_equal(check(&p, "169.254.169.254:80", "proxy"), LB_REG_E_ADDR_FORBIDDEN);
    assert_int_equal(check(&p, "[::1]:80", "proxy"), LB_REG_E_ADDR_FORBIDDEN);
    /* an entry inside the range does */
    p.allow = &loop;
    assert_int_equal(check(&p, "127.0.0.1:4433", "proxy"), LB_REG_OK);
    assert_int_equal(check(&p, "[::ffff:127.0.0.1]:4433", "proxy"), LB_REG_OK);
    assert_int_equal(check(&p, "0.0.0.0:4433", "proxy"), LB_REG_E_ADDR_FORBIDDEN);
    assert_int_equal(check(&p, "169.254.169.254:80", "proxy"), LB_REG_E_ADDR_FORBIDDEN);
    net_cidr_list_free(&private);
    net_cidr_list_free(&wide);
    net_cidr_list_free(&loop);
}

static void test_mtls_policy(void **state)
{
    (void)state;
    struct lb_reg_policy p = { NULL, true, true };
    assert_int_equal(check(&p, "10.0.0.1:1", "proxy"), LB_REG_E_NOT_MTLS);
    assert_int_equal(check(&p, "10.0.0.1:1", "mtls"), LB_REG_OK);
    p.mtls_only = false;
    assert_int_equal(check(&p, "10.0.0.1:1", "proxy"), LB_REG_OK);
    p.have_tls = false; /* no backends.ca: it could not be verified */
    assert_int_equal(check(&p, "10.0.0.1:1", "mtls"), LB_REG_E_NO_TLS);
    assert_int_equal(check(&p, "10.0.0.1:1", "proxy"), LB_REG_OK);
    /* the address rule comes first */
    assert_int_equal(check(&p, "127.0.0.1:1", "mtls"), LB_REG_E_ADDR_FORBIDDEN);
}

static void test_shrunk(void **state)
{
    (void)state;
    assert_false(lb_reg_shrunk(0, 0)); /* nothing known yet */
    assert_false(lb_reg_shrunk(0, 5));
    assert_true(lb_reg_shrunk(1, 0));
    assert_true(lb_reg_shrunk(10, 0));
    assert_true(lb_reg_shrunk(10, 4));
    assert_false(lb_reg_shrunk(10, 5)); /* half left: backends leaving, not an outage */
    assert_false(lb_reg_shrunk(2, 1));
    assert_true(lb_reg_shrunk(3, 1));
    assert_false(lb_reg_shrunk(3, 7));
}

static struct lb_reg_entry entry(const char *id, const char *addr, unsigned sessions, unsigned capacity,
                                 double hb)
{
    struct lb_reg_entry e;
    memset(&e, 0, sizeof e);
    snprintf(e.spec.name, sizeof e.spec.name, "%s", id);
    assert_int_equal(net_addr_parse(&e.spec.addr, addr), 0);
    e.spec.weight = 1;
    e.sessions = sessions;
    e.capacity = capacity;
    e.heartbeat = hb;
    return e;
}

static const char *pick(struct lb *lb)
{
    struct lb_req req;
    memset(&req, 0, sizeof req);
    if (lb_pick(lb, &req, 0) != LB_PICKED)
        return "-";
    lb_release(req.picked);
    return req.picked->spec.name;
}

static void test_capacity_and_refusal(void **state)
{
    (void)state;
    struct lb_reg_entry items[] = {
        entry("full", "10.0.0.1:1", 5, 5, 1),   /* at capacity */
        entry("room", "10.0.0.2:1", 8, 10, 1),  /* more loaded, but room for 2 */
    };
    struct lb_reg_list reg = { items, 2 };
    struct lb_spec_list specs = { 0 };
    char shadowed[8];
    struct lb_spec_list none = { 0 };
    assert_int_equal(lb_reg_merge(&specs, &none, &reg, shadowed, sizeof shadowed), 0);
    const struct lb_params params = { .down_time = 10 };
    struct lb *lb = lb_new(&lb_policy_leastsessions, &params, &specs, NULL);
    assert_non_null(lb);
    lb_reg_apply(lb, &reg);
    struct lb_backend *full = lb_find(lb, "full");
    assert_int_equal(full->fleet_capacity, 5);
    assert_false(lb_eligible(full, 0));
    assert_string_equal(pick(lb), "room");
    assert_string_equal(pick(lb), "room"); /* 8 + 1 pending < 10 */
    assert_string_equal(pick(lb), "-");    /* 8 + 2: both full now */
    /* a new heartbeat with room: picked again */
    items[0].sessions = 1;
    items[0].heartbeat = 2;
    lb_reg_apply(lb, &reg);
    assert_true(lb_eligible(full, 0));
    /* refused (closed before any byte): full until its next heartbeat, not down */
    assert_false(lb_report(lb, full, LB_EV_REFUSED, 0));
    assert_true(lb_is_up(full, 0));
    assert_int_equal(full->n_fails, 0);
    assert_false(lb_eligible(full, 0));
    lb_reg_apply(lb, &reg); /* the same heartbeat: still full */
    assert_false(lb_eligible(full, 0));
    items[0].heartbeat = 3;
    lb_reg_apply(lb, &reg);
    assert_true(lb_eligible(full, 0));
    /* capacity 0: no limit */
    items[0].capacity = 0;
    items[0].sessions = 1000;
    items[0].heartbeat = 4;
    lb_reg_apply(lb, &reg);
    assert_true(lb_eligible(full, 0));
    /* gone from the registry: a refusal is a failure like any other */
    struct lb_reg_list empty = { NULL, 0 };
    lb_reg_apply(lb, &empty);
    assert_true(lb_report(lb, full, LB_EV_REFUSED, 0));
    assert_false(lb_is_up(full, 1));
    lb_free(lb);
    lb_spec_list_free(&specs);
}

static void test_unproven(void **state)
{
    (void)state;
    struct lb_spec_list specs = { 0 };
    char err[64];
    assert_int_equal(lb_spec_parse(&specs, "a 10.0.0.1:1", err, sizeof err), 0);
    const struct lb_params params = { .down_time = 10 };
    struct lb *lb = lb_new(&lb_policy_leastconn, &params, &specs, NULL);
    assert_non_null(lb);
    lb->be[0]->health_unproven = true;
    assert_false(lb_eligible(lb->be[0], 0));
    assert_string_equal(pick(lb), "-");
    lb->be[0]->health_unproven = false;
    assert_string_equal(pick(lb), "a");
    lb_free(lb);
    lb_spec_list_free(&specs);
}

/* Owners that see the same counts (the workers of a fleet) start their ties
 * where their tie_start says: not all on the first backend. */
static void test_tie_start(void **state)
{
    (void)state;
    struct lb_spec_list specs = { 0 };
    char err[64];
    const char *names[] = { "a", "b", "c", "d" };
    for (int i = 0; i < 4; i++) {
        char line[32];
        snprintf(line, sizeof line, "%s 10.0.0.%d:1", names[i], i + 1);
        assert_int_equal(lb_spec_parse(&specs, line, err, sizeof err), 0);
    }
    bool seen[4] = { false };
    for (unsigned w = 0; w < 4; w++) {
        const struct lb_params params = { .down_time = 10, .tie_start = w };
        struct lb *lb = lb_new(&lb_policy_leastsessions, &params, &specs, NULL);
        assert_non_null(lb);
        const char *first = pick(lb);
        seen[first[0] - 'a'] = true;
        /* a new generation carries the offset on */
        struct lb *next = lb_new(&lb_policy_leastsessions, &params, &specs, lb);
        assert_int_equal(next->rr_next, lb->rr_next);
        lb_free(lb);
        lb_free(next);
    }
    assert_true(seen[0] && seen[1] && seen[2] && seen[3]);
    lb_spec_list_free(&specs);
}

/* ---- against a real redis-server ---- */

struct reads {
    struct ev_loop *loop;
    int n;
    size_t n_backends;
    char first[LB_NAME_MAX];
};

static void on_list(const struct lb_reg_list *list, bool changed, void *ud)
{
    struct reads *c = ud;
    (void)changed;
    c->n++;
    c->n_backends = list->n;
    snprintf(c->first, sizeof c->first, "%s", list->n ? list->items[0].spec.name : "");
}

static void redis_do(redisContext *c, const char *fmt, const char *a, const char *b)
{
    redisReply *r = redisCommand(c, fmt, a, b);
    assert_non_null(r);
    assert_int_not_equal(r->type, REDIS_REPLY_ERROR);
    freeReplyObject(r);
}

/* One read after the current one (a read may be in flight). */
static void read_again(struct reads *c, struct lb_registry *reg)
{
    int before = c->n;
    for (int i = 0; i < 100 && c->n < before + 2; i++) {
        lb_registry_refresh(reg);
        run_loop_for(c->loop, 0.02);
    }
    assert_true(c->n >= before + 2);
}

static void test_index_members_that_are_no_backend(void **state)
{
    (void)state;
    struct reads c = { .loop = ev_loop_new(EVFLAG_AUTO) };
    int port = test_redis_port();
    pid_t pid = test_redis_start(port);
    redisContext *ins = test_redis_inspect(port);
    struct rds_opts o;
    rds_opts_default(&o);
    o.port = port;
    struct rds *rds = rds_new(c.loop, &o, NULL, NULL);
    for (int i = 0; i < 100 && !rds_is_up(rds); i++)
        run_loop_for(c.loop, 0.02);
    assert_true(rds_is_up(rds));
    redisReply *r = redisCommand(ins, "HSET sstp:backend:be1 id be1 addr 10.0.0.1:4433 kind proxy weight 1");
    freeReplyObject(r);
    redis_do(ins, "ZADD sstp:backends 0 %s", "be1", NULL);
    /* what anyone who can write Redis may add: a set where a hash should
     * be (the backends' own sessions key), a string, ids no backend has */
    redis_do(ins, "ZADD sstp:backends 0 %s", "be1:sessions", NULL);
    redis_do(ins, "SADD sstp:backend:%s %s", "be1:sessions", "s1");
    redis_do(ins, "ZADD sstp:backends 0 %s", "be2", NULL);
    redis_do(ins, "SET sstp:backend:%s %s", "be2", "x");
    redis_do(ins, "ZADD sstp:backends 0 %s", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", NULL); /* 32 */
    redis_do(ins, "HSET sstp:backend:%s id %s", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
             "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa");

    struct lb_registry_opts ro = { .interval = 30, .grace = 0, .id = 0 };
    struct net_cidr_list allow = { 0 };
    char err[64];
    assert_int_equal(net_cidr_list_add(&allow, "10.0.0.0/8", err, sizeof err), 0);
    ro.policy.allow = &allow;
    struct lb_registry *reg = lb_registry_new(c.loop, rds, &ro, on_list, &c);
    assert_non_null(reg);
    read_again(&c, reg);
    /* the good one is read; the others are skipped and counted, by reason */
    assert_int_equal(c.n_backends, 1);
    assert_string_equal(c.first, "be1");
    const struct lb_reg_stats *st = lb_registry_stats(reg);
    assert_true(st->ignored[LB_REG_E_WRONG_TYPE] >= 2);
    assert_true(st->ignored[LB_REG_E_ID] >= 2);
    assert_int_equal(st->read_errors, 0);
    /* nothing was deleted but the dead: the string and the set are still there */
    r = redisCommand(ins, "ZCARD sstp:backends");
    assert_int_equal(r->integer, 4);
    freeReplyObject(r);

    /* an index that is not a sorted set fails the read: counted, and the
     * last list stays in use */
    redis_do(ins, "DEL sstp:backends%s%s", "", "");
    redis_do(ins, "SET sstp:backends %s%s", "x", "");
    uint64_t before = st->read_errors;
    int n_before = c.n;
    for (int i = 0; i < 100 && st->read_errors < before + 2; i++) {
        lb_registry_refresh(reg);
        run_loop_for(c.loop, 0.02);
    }
    assert_true(st->read_errors >= before + 2);
    assert_int_equal(c.n, n_before); /* no new list taken */
    assert_int_equal(lb_registry_list(reg)->n, 1);

    lb_registry_free(reg);
    net_cidr_list_free(&allow);
    rds_free(rds);
    redisFree(ins);
    test_redis_stop(pid);
    ev_loop_destroy(c.loop);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_fields),
        cmocka_unit_test(test_parse_reasons),
        cmocka_unit_test(test_forbidden_addresses),
        cmocka_unit_test(test_default_allowlist),
        cmocka_unit_test(test_index_members_that_are_no_backend),
        cmocka_unit_test(test_allowlist),
        cmocka_unit_test(test_mtls_policy),
        cmocka_unit_test(test_shrunk),
        cmocka_unit_test(test_capacity_and_refusal),
        cmocka_unit_test(test_unproven),
        cmocka_unit_test(test_tie_start),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
