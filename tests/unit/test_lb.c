/* test_lb.c — unit tests of lb/: server line parsing (each rejection),
 * generations and their reuse of backend objects across a reload, up/down
 * marks and their expiry, maxconn, weight 0, bounded tries, and the two
 * policies: smooth weighted round robin (nginx's 5,1,1 -> a a b a c a a)
 * and weighted least-connections with round-robin ties. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "lb/lb.h"

static const struct lb_params PARAMS = { .down_time = 10.0 };

static void add(struct lb_spec_list *l, const char *line)
{
    char err[256];
    if (lb_spec_parse(l, line, err, sizeof err) != 0)
        fail_msg("'%s': %s", line, err);
}

static void expect_reject(const char *line, const char *why_part)
{
    struct lb_spec_list l = { 0 };
    char err[256] = "";
    add(&l, "taken 10.0.0.1:443");
    assert_int_equal(lb_spec_parse(&l, line, err, sizeof err), -1);
    if (!strstr(err, why_part))
        fail_msg("'%s': error '%s' lacks '%s'", line, err, why_part);
    assert_int_equal(l.n, 1); /* nothing appended */
    lb_spec_list_free(&l);
}

static void test_spec_parse(void **state)
{
    (void)state;
    struct lb_spec_list l = { 0 };
    add(&l, "be1 10.0.0.1:4433");
    add(&l, "  be-2.x_y\t[2001:db8::2]:4433 weight=7 maxconn=100 tls sni=backend.example ");
    add(&l, "drained 10.0.0.3:4433 weight=0");
    add(&l, "accel 10.0.0.4:443 tls probe=http proxy_header=before");
    add(&l, "softether 10.0.0.5:443 tls proxy_header=none probe=tcp");
    assert_int_equal(l.items[0].probe, LB_SPEC_PROBE_DEFAULT);
    assert_int_equal(l.items[0].pp, LB_PP_INSIDE);
    assert_int_equal(l.items[3].probe, LB_SPEC_PROBE_HTTP);
    assert_int_equal(l.items[3].pp, LB_PP_BEFORE);
    assert_int_equal(l.items[4].probe, LB_SPEC_PROBE_TCP);
    assert_int_equal(l.items[4].pp, LB_PP_NONE);
    assert_string_equal(lb_pp_names[LB_PP_NONE], "none");
    l.n = 3; /* the checks below are about the first three */
    assert_int_equal(l.n, 3);
    assert_string_equal(l.items[0].name, "be1");
    assert_int_equal(l.items[0].weight, 1);
    assert_int_equal(l.items[0].maxconn, 0);
    assert_false(l.items[0].tls);
    assert_string_equal(l.items[0].sni, "");
    assert_int_equal(net_port((struct sockaddr *)&l.items[0].addr.ss), 4433);
    assert_string_equal(l.items[1].name, "be-2.x_y");
    assert_int_equal(l.items[1].addr.ss.ss_family, AF_INET6);
    assert_int_equal(l.items[1].weight, 7);
    assert_int_equal(l.items[1].maxconn, 100);
    assert_true(l.items[1].tls);
    assert_string_equal(l.items[1].sni, "backend.example");
    assert_int_equal(l.items[2].weight, 0);
    lb_spec_list_free(&l);
    assert_null(l.items);
}

static void test_spec_rejects(void **state)
{
    (void)state;
    expect_reject("", "server name");
    expect_reject("bad/name 10.0.0.1:1", "server name");
    expect_reject("a23456789012345678901234567890123 10.0.0.1:1", "server name"); /* 33 chars */
    expect_reject("taken 10.0.0.2:443", "defined twice");
    expect_reject("x", "address");
    expect_reject("x host.example:443", "address");       /* no DNS */
    expect_reject("x 10.0.0.1", "address");
    expect_reject("x 10.0.0.1:0", "address");
    expect_reject("x 0.0.0.0:443", "address");
    expect_reject("x *:443", "address");
    expect_reject("x 10.0.0.1:443 weight=257", "weight");
    expect_reject("x 10.0.0.1:443 weight=-1", "weight");
    expect_reject("x 10.0.0.1:443 weight=", "weight");
    expect_reject("x 10.0.0.1:443 maxconn=0", "maxconn");
    expect_reject("x 10.0.0.1:443 weight=2 weight=3", "unknown or repeated");
    expect_reject("x 10.0.0.1:443 tls tls", "unknown or repeated");
    expect_reject("x 10.0.0.1:443 backup", "unknown or repeated");
    expect_reject("x 10.0.0.1:443 sni=a_b tls", "sni");
    expect_reject("x 10.0.0.1:443 sni=host.example", "needs tls");
    expect_reject("x 10.0.0.1:443 probe=none", "probe must be");
    expect_reject("x 10.0.0.1:443 probe=", "probe must be");
    expect_reject("x 10.0.0.1:443 probe=http probe=tcp", "unknown or repeated");
    expect_reject("x 10.0.0.1:443 proxy_header=after", "proxy_header must be");
    expect_reject("x 10.0.0.1:443 proxy_header=none proxy_header=none", "unknown or repeated");
    char longopt[400];
    snprintf(longopt, sizeof longopt, "x 10.0.0.1:443 sni=%0350d", 0);
    expect_reject(longopt, "too long");
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

/* Picks once and releases at once (a session that ended), returning the name. */
static const char *pick_release(struct lb *lb, double now)
{
    struct lb_req req;
    memset(&req, 0, sizeof req);
    if (lb_pick(lb, &req, now) != LB_PICKED)
        return "-";
    const char *name = req.picked->spec.name;
    lb_release(req.picked);
    return name;
}

static void test_wrr_smooth_sequence(void **state)
{
    (void)state;
    static const char *const lines[] = { "a 10.0.0.1:1 weight=5", "b 10.0.0.2:1", "c 10.0.0.3:1" };
    struct lb *lb = build(&lb_policy_wrr, lines, 3, NULL);
    char seq[15] = "";
    for (int i = 0; i < 14; i++)
        seq[i] = pick_release(lb, 0)[0];
    assert_string_equal(seq, "aabacaaaabacaa");
    lb_free(lb);
}

static void test_wrr_skips_down_and_drained(void **state)
{
    (void)state;
    static const char *const lines[] = { "a 10.0.0.1:1", "b 10.0.0.2:1", "z 10.0.0.9:1 weight=0" };
    struct lb *lb = build(&lb_policy_wrr, lines, 3, NULL);
    struct lb_backend *a = lb->be[0];
    assert_true(lb_report(lb, a, LB_EV_CONNECT_FAIL, 100.0)); /* up -> down: a transition */
    assert_false(lb_report(lb, a, LB_EV_CONNECT_FAIL, 101.0)); /* already down */
    for (int i = 0; i < 4; i++)
        assert_string_equal(pick_release(lb, 105.0), "b");
    assert_false(lb_is_up(a, 110.9));
    assert_true(lb_is_up(a, 111.0)); /* down_time after the last failure */
    assert_true(lb_report(lb, a, LB_EV_CONNECT_OK, 111.5)); /* failing -> answering */
    assert_false(lb_report(lb, a, LB_EV_CONNECT_OK, 112.0));
    int n_a = 0;
    for (int i = 0; i < 4; i++)
        n_a += pick_release(lb, 112.0)[0] == 'a';
    assert_int_equal(n_a, 2);
    lb_free(lb);
}

static void test_leastconn(void **state)
{
    (void)state;
    static const char *const lines[] = { "a 10.0.0.1:1", "b 10.0.0.2:1 weight=2", "c 10.0.0.3:1" };
    struct lb *lb = build(&lb_policy_leastconn, lines, 3, NULL);
    struct lb_req held[8];
    /* (active+1)/weight: b takes twice as many as a and c */
    for (int i = 0; i < 8; i++) {
        memset(&held[i], 0, sizeof held[i]);
        assert_int_equal(lb_pick(lb, &held[i], 0), LB_PICKED);
    }
    assert_int_equal(lb->be[0]->n_active, 2);
    assert_int_equal(lb->be[1]->n_active, 4);
    assert_int_equal(lb->be[2]->n_active, 2);
    for (int i = 0; i < 8; i++)
        lb_release(held[i].picked);
    assert_int_equal(lb->be[1]->n_active, 0);
    /* idle and equal: ties rotate instead of piling on the first */
    static const char *const eq[] = { "a 10.0.0.1:1", "b 10.0.0.2:1", "c 10.0.0.3:1" };
    struct lb *lb2 = build(&lb_policy_leastconn, eq, 3, NULL);
    char seq[7] = "";
    for (int i = 0; i < 6; i++)
        seq[i] = pick_release(lb2, 0)[0];
    assert_string_equal(seq, "abcabc");
    lb_free(lb);
    lb_free(lb2);
}

static void test_tried_and_none(void **state)
{
    (void)state;
    static const char *const lines[] = { "a 10.0.0.1:1", "b 10.0.0.2:1" };
    struct lb *lb = build(&lb_policy_leastconn, lines, 2, NULL);
    struct lb_req req;
    memset(&req, 0, sizeof req);
    assert_int_equal(lb_pick(lb, &req, 0), LB_PICKED);
    struct lb_backend *first = req.picked;
    lb_report(lb, first, LB_EV_CONNECT_FAIL, 0);
    lb_release(first);
    assert_int_equal(lb_pick(lb, &req, 0), LB_PICKED);
    assert_ptr_not_equal(req.picked, first);
    assert_int_equal(req.n_tried, 2);
    lb_release(req.picked);
    /* everything tried: none, even though the other one is up */
    assert_int_equal(lb_pick(lb, &req, 0), LB_NONE);
    assert_null(req.picked);
    assert_true(lb_available(lb, 0));
    /* a full tried list: none */
    struct lb_req full;
    memset(&full, 0, sizeof full);
    full.n_tried = LB_TRIES_MAX;
    assert_int_equal(lb_pick(lb, &full, 0), LB_NONE);
    lb_free(lb);
}

static void test_maxconn_and_available(void **state)
{
    (void)state;
    static const char *const lines[] = { "a 10.0.0.1:1 maxconn=2", "z 10.0.0.2:1 weight=0" };
    struct lb *lb = build(&lb_policy_wrr, lines, 2, NULL);
    struct lb_req r1, r2, r3;
    memset(&r1, 0, sizeof r1);
    memset(&r2, 0, sizeof r2);
    memset(&r3, 0, sizeof r3);
    assert_true(lb_available(lb, 0));
    assert_int_equal(lb_pick(lb, &r1, 0), LB_PICKED);
    assert_int_equal(lb_pick(lb, &r2, 0), LB_PICKED);
    assert_false(lb_available(lb, 0)); /* full, and the other one is drained */
    assert_int_equal(lb_pick(lb, &r3, 0), LB_NONE);
    lb_release(r1.picked);
    assert_true(lb_available(lb, 0));
    lb_release(r2.picked);
    lb_report(lb, lb->be[0], LB_EV_CONNECT_FAIL, 50);
    assert_false(lb_available(lb, 55));
    assert_true(lb_available(lb, 60));
    lb_free(lb);
}

/* A reload keeps the objects (sessions, down marks) of backends that stay,
 * and sessions keep the objects of backends that went away. */
static void test_generations(void **state)
{
    (void)state;
    static const char *const v1[] = { "a 10.0.0.1:1", "b 10.0.0.2:1", "gone 10.0.0.3:1" };
    static const char *const v2[] = { "a 10.0.0.1:1 weight=3 maxconn=9", "b 10.0.0.22:1", "new 10.0.0.4:1" };
    struct lb *old = build(&lb_policy_leastconn, v1, 3, NULL);
    struct lb_req ra, rg;
    memset(&ra, 0, sizeof ra);
    memset(&rg, 0, sizeof rg);
    struct lb_backend *a = old->be[0], *gone = old->be[2];
    lb_report(old, a, LB_EV_CONNECT_FAIL, 0);
    /* hold a session on `gone` */
    ra.tried[0] = old->be[0];
    ra.tried[1] = old->be[1];
    ra.n_tried = 2;
    assert_int_equal(lb_pick(old, &ra, 20), LB_PICKED);
    assert_ptr_equal(ra.picked, gone);

    struct lb *nw = build(&lb_policy_leastconn, v2, 3, old);
    lb_free(old);
    assert_ptr_equal(nw->be[0], a);               /* same name and address: same object */
    assert_int_equal(a->spec.weight, 3);          /* with the new weight and maxconn */
    assert_int_equal(a->spec.maxconn, 9);
    assert_int_equal(a->n_fails, 1);              /* and its state */
    assert_false(lb_is_up(a, 5));
    assert_string_equal(nw->be[1]->spec.name, "b"); /* new address: a new object */
    assert_int_equal(nw->be[1]->n_fails, 0);
    assert_int_equal(gone->n_active, 1);          /* still alive for its session */
    assert_string_equal(gone->spec.name, "gone");
    lb_report(nw, gone, LB_EV_CONNECT_OK, 30);    /* a report after the reload is harmless */
    lb_release(gone);                             /* its last reference */
    lb_free(nw);
}

static void test_duplicate_names_refused(void **state)
{
    (void)state;
    struct lb_spec_list l = { 0 };
    add(&l, "a 10.0.0.1:1");
    add(&l, "b 10.0.0.2:1");
    memcpy(l.items[1].name, "a", 2); /* a registry could hand over the same id twice */
    assert_null(lb_new(&lb_policy_wrr, &PARAMS, &l, NULL));
    lb_spec_list_free(&l);
}

static void test_policy_table(void **state)
{
    (void)state;
    assert_ptr_equal(lb_policy_by_index(0), &lb_policy_leastconn);
    assert_ptr_equal(lb_policy_by_index(1), &lb_policy_wrr);
    assert_ptr_equal(lb_policy_by_index(2), &lb_policy_leastsessions);
    assert_ptr_equal(lb_policy_by_index(3), &lb_policy_chash);
    assert_null(lb_policy_by_index(4));
    assert_null(lb_policy_by_index(-1));
    assert_string_equal(lb_policy_names[0], lb_policy_leastconn.name);
    assert_string_equal(lb_policy_names[1], lb_policy_wrr.name);
    assert_string_equal(lb_policy_names[2], lb_policy_leastsessions.name);
    assert_string_equal(lb_policy_names[3], lb_policy_chash.name);
    assert_null(lb_policy_names[4]);
    lb_release(NULL);
    lb_free(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_spec_parse),
        cmocka_unit_test(test_spec_rejects),
        cmocka_unit_test(test_wrr_smooth_sequence),
        cmocka_unit_test(test_wrr_skips_down_and_drained),
        cmocka_unit_test(test_leastconn),
        cmocka_unit_test(test_tried_and_none),
        cmocka_unit_test(test_maxconn_and_available),
        cmocka_unit_test(test_generations),
        cmocka_unit_test(test_duplicate_names_refused),
        cmocka_unit_test(test_policy_table),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
