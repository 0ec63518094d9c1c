/* test_lb_policies.c — unit tests of what issue 5 adds to lb/: the group=
 * flag of server lines (each rejection), the candidate rule (tenant groups,
 * health and registry drain marks), picking a given backend (affinity),
 * fleet-wide least sessions, consistent hashing (the same key on the same
 * backend whatever the order of the backends, spread by weight, only the
 * keys of a removed or down backend move), and the registry's merge with
 * static servers and its run-time facts. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "lb/lb.h"
#include "lb/registry.h"

static const struct lb_params PARAMS = { .down_time = 10.0 };

static void add(struct lb_spec_list *l, const char *line)
{
    char err[256];
    if (lb_spec_parse(l, line, err, sizeof err) != 0)
        fail_msg("'%s': %s", line, err);
}

static struct lb *build(const struct lb_policy_ops *ops, const char *const *lines, size_t n,
                        const struct lb *prev)
{
    struct lb_spec_list l = { 0 };
    for (size_t i = 0; i < n; i++)
        add(&l, lines[i]);
    struct lb *lb = lb_new(ops, &PARAMS, &l, prev);
    lb_spec_list_free(&l);
    assert_non_null(lb);
    return lb;
}

/* One pick for a request of `tenant` with affinity `key`, released at
 * once; the backend's name or "-". */
static const char *pick1(struct lb *lb, const char *tenant, const char *key, double now)
{
    struct lb_req req;
    memset(&req, 0, sizeof req);
    req.tenant = tenant;
    req.affinity = key;
    if (lb_pick(lb, &req, now) != LB_PICKED)
        return "-";
    const char *name = req.picked->spec.name;
    lb_release(req.picked);
    return name;
}

static void expect_reject(const char *line, const char *why_part)
{
    struct lb_spec_list l = { 0 };
    char err[256] = "";
    assert_int_equal(lb_spec_parse(&l, line, err, sizeof err), -1);
    if (!strstr(err, why_part))
        fail_msg("'%s': error '%s' lacks '%s'", line, err, why_part);
    assert_int_equal(l.n, 0);
    lb_spec_list_free(&l);
}

static void test_group_flag(void **state)
{
    (void)state;
    struct lb_spec_list l = { 0 };
    add(&l, "a 10.0.0.1:1 group=acme weight=2");
    add(&l, "b 10.0.0.2:1 group={6f2b1c9e-0000-4a4a-8b8b-123456789abc}");
    add(&l, "c 10.0.0.3:1");
    assert_string_equal(l.items[0].group, "acme");
    assert_int_equal(l.items[0].weight, 2);
    assert_string_equal(l.items[1].group, "{6f2b1c9e-0000-4a4a-8b8b-123456789abc}");
    assert_string_equal(l.items[2].group, "");
    lb_spec_list_free(&l);
    expect_reject("x 10.0.0.1:1 group=", "group must be");
    expect_reject("x 10.0.0.1:1 group=a&b", "group must be");
    expect_reject("x 10.0.0.1:1 group=a group=b", "unknown or repeated");
    char longgroup[100];
    snprintf(longgroup, sizeof longgroup, "x 10.0.0.1:1 group=%064d", 0);
    expect_reject(longgroup, "group must be");
    snprintf(longgroup, sizeof longgroup, "x 10.0.0.1:1 group=%063d", 0);
    struct lb_spec_list ok = { 0 };
    add(&ok, longgroup); /* 63 characters: the longest */
    lb_spec_list_free(&ok);
}

static void test_tenant_groups(void **state)
{
    (void)state;
    static const char *const lines[] = { "d1 10.0.0.1:1", "a1 10.0.0.2:1 group=acme",
                                         "a2 10.0.0.3:1 group=acme", "d2 10.0.0.4:1" };
    struct lb *lb = build(&lb_policy_wrr, lines, 4, NULL);
    for (int i = 0; i < 6; i++) {
        assert_int_equal(pick1(lb, NULL, NULL, 0)[0], 'd'); /* no tenantid: the default group */
        assert_int_equal(pick1(lb, "", NULL, 0)[0], 'd');   /* an empty one too */
        assert_int_equal(pick1(lb, "acme", NULL, 0)[0], 'a');
    }
    assert_string_equal(pick1(lb, "initech", NULL, 0), "-");
    assert_true(lb_group_served(lb, "acme"));
    assert_true(lb_group_served(lb, NULL));
    assert_false(lb_group_served(lb, "initech"));
    assert_false(lb_group_served(lb, "ACME")); /* exact match */
    /* the group down: none, though the group is served and others are up */
    lb_report(lb, lb->be[1], LB_EV_CONNECT_FAIL, 0);
    lb->be[2]->health_down = true;
    assert_string_equal(pick1(lb, "acme", NULL, 1), "-");
    assert_true(lb_group_served(lb, "acme"));
    assert_true(lb_available(lb, 1));
    lb_free(lb);
}

static void test_marks_and_pick_backend(void **state)
{
    (void)state;
    static const char *const lines[] = { "a 10.0.0.1:1", "b 10.0.0.2:1", "g 10.0.0.3:1 group=x" };
    struct lb *lb = build(&lb_policy_leastconn, lines, 3, NULL);
    struct lb_backend *a = lb_find(lb, "a"), *b = lb_find(lb, "b"), *g = lb_find(lb, "g");
    assert_non_null(a);
    assert_ptr_equal(lb_find(lb, "b"), lb->be[1]);
    assert_null(lb_find(lb, "nope"));
    /* health and registry drain marks take a backend out */
    a->health_down = true;
    assert_false(lb_eligible(a, 0));
    for (int i = 0; i < 3; i++)
        assert_string_equal(pick1(lb, NULL, NULL, 0), "b");
    a->health_down = false;
    b->fleet_draining = true;
    assert_false(lb_eligible(b, 0));
    for (int i = 0; i < 3; i++)
        assert_string_equal(pick1(lb, NULL, NULL, 0), "a");
    b->fleet_draining = false;

    /* lb_pick_backend: a candidate is taken as lb_pick would */
    struct lb_req req;
    unsigned pending = b->fleet_pending;
    memset(&req, 0, sizeof req);
    assert_int_equal(lb_pick_backend(lb, &req, b, 0), LB_PICKED);
    assert_ptr_equal(req.picked, b);
    struct lb_backend *held = req.picked;
    assert_int_equal(req.n_tried, 1);
    assert_int_equal(b->n_active, 1);
    assert_int_equal(b->fleet_pending, pending + 1);
    assert_true(lb_req_tried(&req, b));
    /* ... but not twice, not of another group, not down, not NULL */
    assert_int_equal(lb_pick_backend(lb, &req, b, 0), LB_NONE);
    assert_null(req.picked);
    assert_int_equal(lb_pick_backend(lb, &req, g, 0), LB_NONE);
    lb_report(lb, a, LB_EV_CONNECT_FAIL, 0);
    assert_int_equal(lb_pick_backend(lb, &req, a, 5), LB_NONE);
    assert_int_equal(lb_pick_backend(lb, &req, NULL, 5), LB_NONE);
    assert_int_equal(req.n_tried, 1); /* nothing changed */
    assert_int_equal(a->n_active, 0);
    struct lb_req tenant;
    memset(&tenant, 0, sizeof tenant);
    tenant.tenant = "x";
    assert_int_equal(lb_pick_backend(lb, &tenant, g, 5), LB_PICKED);
    lb_release(tenant.picked);
    lb_release(held);
    assert_int_equal(b->n_active, 0);
    lb_free(lb);
}

/* Applies a registry's counts the way the proxy does (lb_reg_apply). */
static void fleet(struct lb_backend *be, unsigned sessions, double hb)
{
    if (!be->fleet_known || be->fleet_heartbeat != hb)
        be->fleet_pending = 0;
    be->fleet_known = true;
    be->fleet_sessions = sessions;
    be->fleet_heartbeat = hb;
}

static void test_leastsessions(void **state)
{
    (void)state;
    static const char *const lines[] = { "a 10.0.0.1:1", "b 10.0.0.2:1", "c 10.0.0.3:1 weight=2" };
    struct lb *lb = build(&lb_policy_leastsessions, lines, 3, NULL);
    struct lb_backend *a = lb->be[0], *b = lb->be[1], *c = lb->be[2];
    fleet(a, 10, 1);
    fleet(b, 4, 1);
    fleet(c, 20, 1);
    /* (sessions + picks since the heartbeat + 1) / weight: a 11, b 5, c 10.5.
     * b takes six (up to 11), c one (to 11); then all three tie at 11 and
     * the round-robin start decides: b (start b), c (start c), then a 11
     * beats b 12 and c 11.5, then c, c. */
    char seq[16] = "";
    for (int i = 0; i < 12; i++)
        seq[i] = pick1(lb, NULL, NULL, 0)[0];
    assert_string_equal(seq, "bbbbbbcbcacc");
    /* a new heartbeat: its count includes the picks before it */
    fleet(b, 100, 2);
    assert_int_equal(b->fleet_pending, 0);
    for (int i = 0; i < 4; i++)
        assert_int_not_equal(pick1(lb, NULL, NULL, 0)[0], 'b');
    /* a backend the registry does not know: this owner's own sessions count */
    static const char *const mixed[] = { "s 10.0.0.9:1", "r 10.0.0.8:1" };
    struct lb *lb2 = build(&lb_policy_leastsessions, mixed, 2, NULL);
    fleet(lb2->be[1], 3, 1);
    struct lb_req held[3];
    for (int i = 0; i < 3; i++) {
        memset(&held[i], 0, sizeof held[i]);
        assert_int_equal(lb_pick(lb2, &held[i], 0), LB_PICKED);
        assert_string_equal(held[i].picked->spec.name, "s"); /* 0,1,2 held < 3 */
    }
    /* 3 held vs 3 in the registry: a tie, the rotation's turn is r's; then
     * r has one pick since its heartbeat (4) and s is lighter again */
    assert_string_equal(pick1(lb2, NULL, NULL, 0), "r");
    assert_string_equal(pick1(lb2, NULL, NULL, 0), "s");
    for (int i = 0; i < 3; i++)
        lb_release(held[i].picked);
    /* equal and idle: ties rotate */
    static const char *const eq[] = { "x 10.0.0.1:1", "y 10.0.0.2:1" };
    struct lb *lb3 = build(&lb_policy_leastsessions, eq, 2, NULL);
    assert_string_equal(pick1(lb3, NULL, NULL, 0), "x");
    assert_string_equal(pick1(lb3, NULL, NULL, 0), "y");
    lb_free(lb);
    lb_free(lb2);
    lb_free(lb3);
}

#define N_KEYS 2000

static void keys_of(struct lb *lb, char out[N_KEYS], double now)
{
    for (int i = 0; i < N_KEYS; i++) {
        char key[32];
        snprintf(key, sizeof key, "ip:198.51.%d.%d", i / 250, i % 250);
        out[i] = pick1(lb, NULL, key, now)[0];
    }
}

static void test_chash(void **state)
{
    (void)state;
    static const char *const fwd[] = { "a 10.0.0.1:1", "b 10.0.0.2:1", "c 10.0.0.3:1 weight=2" };
    static const char *const rev[] = { "c 10.0.0.33:1 weight=2", "b 10.0.0.22:1", "a 10.0.0.11:1" };
    static char k1[N_KEYS], k2[N_KEYS], k3[N_KEYS], k4[N_KEYS];
    struct lb *lb1 = build(&lb_policy_chash, fwd, 3, NULL);
    struct lb *lb2 = build(&lb_policy_chash, rev, 3, NULL);
    keys_of(lb1, k1, 0);
    keys_of(lb2, k2, 0);
    /* by name, not order or address: another proxy builds the same ring */
    assert_memory_equal(k1, k2, N_KEYS);
    keys_of(lb1, k3, 0);
    assert_memory_equal(k1, k3, N_KEYS); /* and picks do not move keys */
    int n[3] = { 0, 0, 0 };
    for (int i = 0; i < N_KEYS; i++)
        n[k1[i] - 'a']++;
    /* weight 1:1:2 -> about 500:500:1000 */
    assert_true(n[0] > 300 && n[0] < 700);
    assert_true(n[1] > 300 && n[1] < 700);
    assert_true(n[2] > 750 && n[2] < 1250);

    /* c down: only c's keys move, and come back when it is up */
    lb_report(lb1, lb1->be[2], LB_EV_CONNECT_FAIL, 100);
    keys_of(lb1, k3, 101);
    for (int i = 0; i < N_KEYS; i++)
        assert_true(k1[i] == 'c' ? k3[i] != 'c' : k3[i] == k1[i]);
    keys_of(lb1, k3, 200);
    assert_memory_equal(k1, k3, N_KEYS);

    /* c removed (a new generation without it): the same */
    static const char *const two[] = { "a 10.0.0.1:1", "b 10.0.0.2:1" };
    struct lb *lb3 = build(&lb_policy_chash, two, 2, lb1);
    keys_of(lb3, k4, 0);
    int moved = 0;
    for (int i = 0; i < N_KEYS; i++) {
        assert_true(k1[i] == 'c' ? k4[i] != 'c' : k4[i] == k1[i]);
        moved += k1[i] == 'c';
    }
    assert_true(moved == n[2]);

    /* a tried backend passes the key on to the next one on the ring */
    struct lb_req req;
    memset(&req, 0, sizeof req);
    req.affinity = "ip:203.0.113.7";
    assert_int_equal(lb_pick(lb1, &req, 300), LB_PICKED);
    struct lb_backend *first = req.picked;
    assert_int_equal(lb_pick(lb1, &req, 300), LB_PICKED);
    assert_ptr_not_equal(req.picked, first);
    lb_release(first);
    lb_release(req.picked);
    /* no key: leastconn's rotation */
    char seq[5] = "";
    for (int i = 0; i < 4; i++)
        seq[i] = pick1(lb3, NULL, NULL, 0)[0];
    assert_string_equal(seq, "abab");
    /* groups apply to the ring too */
    static const char *const grp[] = { "a 10.0.0.1:1", "t 10.0.0.2:1 group=acme" };
    struct lb *lb4 = build(&lb_policy_chash, grp, 2, NULL);
    for (int i = 0; i < 20; i++) {
        char key[16];
        snprintf(key, sizeof key, "k%d", i);
        assert_string_equal(pick1(lb4, "acme", key, 0), "t");
        assert_string_equal(pick1(lb4, NULL, key, 0), "a");
    }
    /* weight 0 is off the ring: never picked */
    static const char *const zero[] = { "z 10.0.0.1:1 weight=0" };
    struct lb *lb5 = build(&lb_policy_chash, zero, 1, NULL);
    assert_string_equal(pick1(lb5, NULL, "k", 0), "-");
    lb_free(lb1);
    lb_free(lb2);
    lb_free(lb3);
    lb_free(lb4);
    lb_free(lb5);
}

static struct lb_reg_entry entry(const char *id, const char *addr, unsigned sessions, bool draining,
                                 double hb)
{
    struct lb_reg_entry e;
    memset(&e, 0, sizeof e);
    snprintf(e.spec.name, sizeof e.spec.name, "%s", id);
    assert_int_equal(net_addr_parse(&e.spec.addr, addr), 0);
    e.spec.weight = draining ? 0 : 1;
    e.sessions = sessions;
    e.draining = draining;
    e.heartbeat = hb;
    return e;
}

static void test_registry_merge_apply(void **state)
{
    (void)state;
    struct lb_spec_list statics = { 0 };
    add(&statics, "s1 10.0.0.1:1");
    add(&statics, "dup 10.0.0.2:1");
    /* sorted by name, as the registry hands it over */
    struct lb_reg_entry items[] = {
        entry("dup", "10.0.0.2:1", 7, true, 5), /* shadowed, same address: its facts apply */
        entry("r1", "10.0.0.5:1", 3, false, 5),
        entry("s1", "10.0.0.99:1", 9, true, 5), /* shadowed, another address: ignored */
    };
    struct lb_reg_list reg = { items, 3 };
    struct lb_spec_list merged = { 0 };
    char shadowed[64];
    assert_int_equal(lb_reg_merge(&merged, &statics, &reg, shadowed, sizeof shadowed), 0);
    assert_int_equal(merged.n, 3);
    assert_string_equal(merged.items[0].name, "s1");
    assert_string_equal(merged.items[1].name, "dup");
    assert_int_equal(merged.items[1].weight, 1); /* static wins */
    assert_string_equal(merged.items[2].name, "r1");
    assert_string_equal(shadowed, "dup,s1");
    char tiny[5];
    struct lb_spec_list m2 = { 0 };
    assert_int_equal(lb_reg_merge(&m2, &statics, &reg, tiny, sizeof tiny), 0);
    assert_string_equal(tiny, "dup,"); /* cut, still terminated */
    lb_spec_list_free(&m2);

    struct lb *lb = lb_new(&lb_policy_leastsessions, &PARAMS, &merged, NULL);
    assert_non_null(lb);
    lb_reg_apply(lb, &reg);
    struct lb_backend *s1 = lb_find(lb, "s1"), *dup = lb_find(lb, "dup"), *r1 = lb_find(lb, "r1");
    assert_false(s1->fleet_known);
    assert_true(dup->fleet_known && dup->fleet_draining && dup->fleet_sessions == 7);
    assert_false(lb_eligible(dup, 0)); /* drained through the registry */
    assert_true(r1->fleet_known && !r1->fleet_draining && r1->fleet_sessions == 3);
    assert_string_equal(pick1(lb, NULL, NULL, 0), "s1"); /* s1 0 (own) < r1 3 */
    /* the same heartbeat again keeps the picks since; a new one resets them */
    struct lb_req req;
    memset(&req, 0, sizeof req);
    assert_int_equal(lb_pick_backend(lb, &req, r1, 0), LB_PICKED);
    lb_release(req.picked);
    assert_int_equal(r1->fleet_pending, 1);
    lb_reg_apply(lb, &reg);
    assert_int_equal(r1->fleet_pending, 1);
    items[1].heartbeat = 6;
    items[1].sessions = 4;
    lb_reg_apply(lb, &reg);
    assert_int_equal(r1->fleet_pending, 0);
    assert_int_equal(r1->fleet_sessions, 4);
    /* gone from the registry: no facts left */
    struct lb_reg_list empty = { NULL, 0 };
    lb_reg_apply(lb, &empty);
    assert_false(r1->fleet_known || dup->fleet_known || dup->fleet_draining);
    assert_int_equal(r1->fleet_sessions, 0);
    assert_true(lb_eligible(dup, 0));
    lb_free(lb);
    lb_spec_list_free(&merged);
    lb_spec_list_free(&statics);
}

static void test_registry_parse_limits(void **state)
{
    (void)state;
    struct lb_reg_entry e;
    const char *f[] = { "id", "addr", "kind", "group", "weight" };
    const char *heavy[] = { "be1", "10.0.0.1:1", "proxy", "acme", "1000" };
    assert_int_equal(lb_reg_parse(&e, f, heavy, 5), 0);
    assert_int_equal(e.spec.weight, LB_WEIGHT_MAX); /* the backend's scale is larger */
    assert_string_equal(e.spec.group, "acme");
    const char *direct[] = { "be2", "10.0.0.1:1", "tls", "", "1" };
    assert_int_equal(lb_reg_parse(&e, f, direct, 5), LB_REG_E_KIND); /* clients only, no PROXY header */
    const char *odd[] = { "be3", "10.0.0.1:1", "carrier-pigeon", "", "1" };
    assert_int_equal(lb_reg_parse(&e, f, odd, 5), LB_REG_E_KIND);
    const char *bad_weight[] = { "be4", "10.0.0.1:1", "mtls", "", "lots" };
    assert_int_equal(lb_reg_parse(&e, f, bad_weight, 5), 0);
    assert_int_equal(e.spec.weight, 0); /* unreadable: never picked */
    assert_true(e.spec.tls);
}

/* Panic threshold (Envoy): below that share of a group up, down marks are
 * ignored and every usable backend of the group is picked again; weight 0,
 * drains and maxconn still exclude; 0 disables it; other groups do not
 * count. */
static void test_panic_threshold(void **state)
{
    (void)state;
    static const char *const lines[] = { "a 10.0.0.1:1", "b 10.0.0.2:1", "c 10.0.0.3:1",
                                         "d 10.0.0.4:1", "g 10.0.0.5:1 group=acme" };
    struct lb_params params = { .down_time = 10.0, .panic_threshold = 50 };
    struct lb_spec_list l = { 0 };
    for (size_t i = 0; i < sizeof lines / sizeof lines[0]; i++)
        add(&l, lines[i]);
    struct lb *lb = lb_new(&lb_policy_wrr, &params, &l, NULL);
    lb_spec_list_free(&l);
    assert_non_null(lb);
    struct lb_req req;
    memset(&req, 0, sizeof req);
    double now = 100;

    /* 2 of 4 down: 50% up is not below 50%: no panic, only c and d */
    lb_report(lb, lb->be[0], LB_EV_CONNECT_FAIL, now);
    lb->be[1]->health_down = true;
    assert_false(lb_panic(lb, &req, now));
    for (int i = 0; i < 8; i++) {
        const char *n = pick1(lb, NULL, NULL, now);
        assert_true(strcmp(n, "c") == 0 || strcmp(n, "d") == 0);
    }
    /* 3 of 4 down: panic, all four taken in turn, and the pick says so */
    lb_report(lb, lb->be[2], LB_EV_CONNECT_FAIL, now);
    assert_true(lb_panic(lb, &req, now));
    int seen[4] = { 0 };
    for (int i = 0; i < 8; i++) {
        memset(&req, 0, sizeof req);
        assert_int_equal(lb_pick(lb, &req, now), LB_PICKED);
        assert_true(req.panic);
        seen[req.picked->spec.name[0] - 'a']++;
        lb_release(req.picked);
    }
    for (int i = 0; i < 4; i++)
        assert_int_equal(seen[i], 2);
    /* a backend tried is still not tried again; an affinity pick never panics */
    memset(&req, 0, sizeof req);
    assert_int_equal(lb_pick(lb, &req, now), LB_PICKED);
    struct lb_backend *first = req.picked;
    assert_int_equal(lb_pick(lb, &req, now), LB_PICKED);
    assert_ptr_not_equal(req.picked, first);
    lb_release(first);
    lb_release(req.picked);
    memset(&req, 0, sizeof req);
    assert_int_equal(lb_pick_backend(lb, &req, lb->be[0], now), LB_NONE);
    /* drained (weight 0) and full backends stay out even in panic */
    lb->be[3]->spec.weight = 0; /* d: the only one up is drained: 0 of 3 up */
    lb->be[2]->spec.maxconn = 1;
    lb->be[2]->n_active = 1;    /* c full: a and b remain */
    for (int i = 0; i < 6; i++) {
        const char *n = pick1(lb, NULL, NULL, now);
        assert_true(strcmp(n, "a") == 0 || strcmp(n, "b") == 0);
    }
    lb->be[2]->n_active = 0;
    /* the tenant group is judged on its own: g is up, no panic for acme */
    memset(&req, 0, sizeof req);
    req.tenant = "acme";
    assert_false(lb_panic(lb, &req, now));
    lb_report(lb, lb->be[4], LB_EV_CONNECT_FAIL, now);
    assert_true(lb_panic(lb, &req, now));
    assert_string_equal(pick1(lb, "acme", NULL, now), "g");
    /* 0 disables it: every backend down means no pick */
    lb->params.panic_threshold = 0;
    assert_false(lb_panic(lb, &req, now));
    assert_string_equal(pick1(lb, NULL, NULL, now), "-");
    /* after down_time the marks expire and nobody panics */
    lb->params.panic_threshold = 50;
    lb->be[1]->health_down = false;
    memset(&req, 0, sizeof req);
    assert_false(lb_panic(lb, &req, now + 11));
    lb_free(lb);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_group_flag),
        cmocka_unit_test(test_tenant_groups),
        cmocka_unit_test(test_marks_and_pick_backend),
        cmocka_unit_test(test_leastsessions),
        cmocka_unit_test(test_chash),
        cmocka_unit_test(test_registry_merge_apply),
        cmocka_unit_test(test_registry_parse_limits),
        cmocka_unit_test(test_panic_threshold),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
