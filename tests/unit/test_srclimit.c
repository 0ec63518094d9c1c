/* test_srclimit.c — core/srclimit: per-prefix caps, IPv6 prefix grouping,
 * IPv4-mapped addresses, a full table refusing without evicting busy
 * entries, idle entries reused, bounded under churn. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#include "core/srclimit.h"

static struct sockaddr_storage addr(const char *ip)
{
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof ss);
    if (strchr(ip, ':')) {
        struct sockaddr_in6 *s = (struct sockaddr_in6 *)&ss;
        s->sin6_family = AF_INET6;
        assert_int_equal(inet_pton(AF_INET6, ip, &s->sin6_addr), 1);
    } else {
        struct sockaddr_in *s = (struct sockaddr_in *)&ss;
        s->sin_family = AF_INET;
        assert_int_equal(inet_pton(AF_INET, ip, &s->sin_addr), 1);
    }
    return ss;
}

static enum srclimit_verdict take(struct srclimit *l, const char *ip, struct srclimit_key *k)
{
    struct sockaddr_storage ss = addr(ip);
    return srclimit_acquire(l, k, (struct sockaddr *)&ss);
}

static uint32_t count(struct srclimit *l, const char *ip)
{
    struct sockaddr_storage ss = addr(ip);
    return srclimit_count(l, (struct sockaddr *)&ss);
}

static void test_cap_per_ipv4_source(void **state)
{
    (void)state;
    struct srclimit l;
    struct srclimit_key k[4], other;
    assert_int_equal(srclimit_init(&l, 64, 3, 32, 64), 0);
    for (int i = 0; i < 3; i++)
        assert_int_equal(take(&l, "198.51.100.1", &k[i]), SRCLIMIT_OK);
    assert_int_equal(take(&l, "198.51.100.1", &k[3]), SRCLIMIT_OVER);
    assert_int_equal(count(&l, "198.51.100.1"), 3);
    /* the neighbour /32 is another source: not starved */
    assert_int_equal(take(&l, "198.51.100.2", &other), SRCLIMIT_OK);
    /* one released, one more fits */
    assert_true(srclimit_release(&l, &k[0]));
    assert_int_equal(take(&l, "198.51.100.1", &k[0]), SRCLIMIT_OK);
    assert_int_equal(take(&l, "198.51.100.1", &k[3]), SRCLIMIT_OVER);
    for (int i = 0; i < 3; i++)
        assert_true(srclimit_release(&l, &k[i]));
    assert_true(srclimit_release(&l, &other));
    /* nothing held: a release without an acquire is refused and harmless */
    assert_false(srclimit_release(&l, &other));
    assert_int_equal(l.n_used, 0);
    assert_int_equal(count(&l, "198.51.100.1"), 0);
    srclimit_cleanup(&l);
}

static void test_ipv6_grouped_by_prefix(void **state)
{
    (void)state;
    struct srclimit l;
    struct srclimit_key a, b, c, d;
    assert_int_equal(srclimit_init(&l, 64, 2, 32, 64), 0);
    /* one /64, two interface ids: one source */
    assert_int_equal(take(&l, "2001:db8:1:2::1", &a), SRCLIMIT_OK);
    assert_int_equal(take(&l, "2001:db8:1:2:ffff:ffff:ffff:fffe", &b), SRCLIMIT_OK);
    assert_memory_equal(&a, &b, sizeof a);
    assert_int_equal(take(&l, "2001:db8:1:2:1234::9", &c), SRCLIMIT_OVER);
    /* the next /64 is another source */
    assert_int_equal(take(&l, "2001:db8:1:3::1", &d), SRCLIMIT_OK);
    assert_true(srclimit_release(&l, &a));
    assert_true(srclimit_release(&l, &b));
    assert_true(srclimit_release(&l, &d));
    srclimit_cleanup(&l);

    /* a /56 groups the /64s under it, not its neighbour /56 */
    assert_int_equal(srclimit_init(&l, 64, 2, 32, 56), 0);
    assert_int_equal(take(&l, "2001:db8:1:200::1", &a), SRCLIMIT_OK);
    assert_int_equal(take(&l, "2001:db8:1:2ff::1", &b), SRCLIMIT_OK);
    assert_int_equal(take(&l, "2001:db8:1:250::1", &c), SRCLIMIT_OVER);
    assert_int_equal(take(&l, "2001:db8:1:300::1", &d), SRCLIMIT_OK);
    assert_true(srclimit_release(&l, &a));
    assert_true(srclimit_release(&l, &b));
    assert_true(srclimit_release(&l, &d));
    srclimit_cleanup(&l);
}

static void test_ipv4_prefix_and_mapped(void **state)
{
    (void)state;
    struct srclimit l;
    struct srclimit_key a, b, c, d;
    assert_int_equal(srclimit_init(&l, 64, 2, 24, 64), 0);
    /* a dual-stack socket shows IPv4 as ::ffff:a.b.c.d: the same source */
    assert_int_equal(take(&l, "203.0.113.7", &a), SRCLIMIT_OK);
    assert_int_equal(take(&l, "::ffff:203.0.113.200", &b), SRCLIMIT_OK);
    assert_int_equal(take(&l, "203.0.113.9", &c), SRCLIMIT_OVER);
    assert_int_equal(take(&l, "203.0.114.9", &d), SRCLIMIT_OK);
    assert_int_equal(count(&l, "::ffff:203.0.113.1"), 2);
    /* the IPv4 prefix (/24) is not applied to a real IPv6 address */
    assert_int_equal(count(&l, "::cb00:7107"), 0);
    assert_true(srclimit_release(&l, &a));
    assert_true(srclimit_release(&l, &b));
    assert_true(srclimit_release(&l, &d));
    srclimit_cleanup(&l);
}

static void test_full_table_refuses_and_reuses_idle(void **state)
{
    (void)state;
    struct srclimit l;
    struct srclimit_key held[32], k;
    char ip[32];
    size_t n_held = 0;
    assert_int_equal(srclimit_init(&l, 16, 0, 32, 64), 0);
    assert_int_equal(l.n_slots, 16);
    /* distinct sources until one finds no free slot: at the latest the 17th */
    enum srclimit_verdict v = SRCLIMIT_OK;
    for (int i = 0; i < 17 && v == SRCLIMIT_OK; i++) {
        snprintf(ip, sizeof ip, "10.0.0.%d", i + 1);
        v = take(&l, ip, &k);
        if (v == SRCLIMIT_OK)
            held[n_held++] = k;
    }
    assert_int_equal(v, SRCLIMIT_FULL);
    assert_true(n_held >= 1 && n_held <= 16);
    assert_int_equal(l.n_used, n_held);
    /* a refused source holds nothing; busy entries were not evicted */
    assert_int_equal(count(&l, ip), 0);
    for (size_t i = 0; i < n_held; i++) {
        snprintf(ip, sizeof ip, "10.0.0.%zu", i + 1);
        assert_int_equal(count(&l, ip), 1);
        /* a source already in the table still gets more */
        assert_int_equal(take(&l, ip, &k), SRCLIMIT_OK);
        assert_true(srclimit_release(&l, &k));
    }
    for (size_t i = 0; i < n_held; i++)
        assert_true(srclimit_release(&l, &held[i]));
    assert_int_equal(l.n_used, 0);
    /* idle slots are free again: the refused source now fits */
    snprintf(ip, sizeof ip, "10.0.0.%zu", n_held + 1);
    assert_int_equal(take(&l, ip, &k), SRCLIMIT_OK);
    assert_true(srclimit_release(&l, &k));
    srclimit_cleanup(&l);
}

static void test_churn_stays_bounded(void **state)
{
    (void)state;
    struct srclimit l;
    struct srclimit_key ring[8];
    char ip[64];
    assert_int_equal(srclimit_init(&l, 256, 1, 32, 64), 0);
    size_t slots = l.n_slots;
    /* 100000 sources come and go, 8 at a time: never refused, never grows */
    for (int i = 0; i < 100000; i++) {
        if (i >= 8)
            assert_true(srclimit_release(&l, &ring[i % 8]));
        snprintf(ip, sizeof ip, "2001:db8:%x:%x::1", i >> 16, i & 0xffff);
        assert_int_equal(take(&l, ip, &ring[i % 8]), SRCLIMIT_OK);
        assert_true(l.n_used <= 8);
    }
    for (int i = 0; i < 8; i++)
        assert_true(srclimit_release(&l, &ring[i]));
    assert_int_equal(l.n_used, 0);
    assert_int_equal(l.n_slots, slots);
    srclimit_cleanup(&l);
}

static void test_reload_and_bad_input(void **state)
{
    (void)state;
    struct srclimit l;
    struct srclimit_key a, b, c;
    assert_int_equal(srclimit_init(&l, 16, 0, 0, 64), -1);
    assert_int_equal(srclimit_init(&l, 16, 0, 33, 64), -1);
    assert_int_equal(srclimit_init(&l, 16, 0, 32, 129), -1);
    assert_int_equal(srclimit_init(&l, 16, 3, 32, 128), 0);
    assert_int_equal(take(&l, "192.0.2.1", &a), SRCLIMIT_OK);
    assert_int_equal(take(&l, "192.0.2.1", &b), SRCLIMIT_OK);
    /* a lowered cap refuses until the count drops under it */
    srclimit_set_max(&l, 1);
    assert_int_equal(take(&l, "192.0.2.1", &c), SRCLIMIT_OVER);
    assert_true(srclimit_release(&l, &a));
    assert_int_equal(take(&l, "192.0.2.1", &c), SRCLIMIT_OVER);
    assert_true(srclimit_release(&l, &b));
    assert_int_equal(take(&l, "192.0.2.1", &c), SRCLIMIT_OK);
    assert_true(srclimit_release(&l, &c));
    /* another family is refused, not counted */
    struct sockaddr_storage unix_sa;
    memset(&unix_sa, 0, sizeof unix_sa);
    unix_sa.ss_family = AF_UNIX;
    assert_int_equal(srclimit_acquire(&l, &a, (struct sockaddr *)&unix_sa), SRCLIMIT_FULL);
    assert_int_equal(l.n_used, 0);
    assert_string_equal(srclimit_verdict_name(SRCLIMIT_OVER), "over");
    assert_string_equal(srclimit_verdict_name(SRCLIMIT_FULL), "full");
    srclimit_cleanup(&l);
    /* a cleaned-up table refuses */
    assert_int_equal(take(&l, "192.0.2.1", &a), SRCLIMIT_FULL);
    srclimit_cleanup(&l);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cap_per_ipv4_source),
        cmocka_unit_test(test_ipv6_grouped_by_prefix),
        cmocka_unit_test(test_ipv4_prefix_and_mapped),
        cmocka_unit_test(test_full_table_refuses_and_reuses_idle),
        cmocka_unit_test(test_churn_stays_bounded),
        cmocka_unit_test(test_reload_and_bad_input),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
