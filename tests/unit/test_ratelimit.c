/* test_ratelimit.c — unit tests of core/ratelimit.c: token buckets per
 * source prefix (IPv4 /32, IPv6 /64 by default, IPv4-mapped IPv6 as IPv4),
 * refill over time, prefix changes. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>

#include "core/ratelimit.h"

static struct sockaddr_storage addr(const char *ip)
{
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof ss);
    if (strchr(ip, ':')) {
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
        a->sin6_family = AF_INET6;
        assert_int_equal(inet_pton(AF_INET6, ip, &a->sin6_addr), 1);
    } else {
        struct sockaddr_in *a = (struct sockaddr_in *)&ss;
        a->sin_family = AF_INET;
        assert_int_equal(inet_pton(AF_INET, ip, &a->sin_addr), 1);
    }
    return ss;
}

/* How many of n attempts from ip at time now are allowed. */
static int allowed(struct ratelimit *r, const char *ip, int n, double now)
{
    struct sockaddr_storage ss = addr(ip);
    int k = 0;
    for (int i = 0; i < n; i++)
        k += ratelimit_allow(r, (const struct sockaddr *)&ss, now);
    return k;
}

static void test_ipv6_by_prefix(void **state)
{
    (void)state;
    struct ratelimit r;
    assert_int_equal(ratelimit_init(&r, 64, 1.0, 5.0), 0);
    /* one /64: every address in it shares the bucket */
    assert_int_equal(allowed(&r, "2001:db8:1:2::1", 3, 100), 3);
    assert_int_equal(allowed(&r, "2001:db8:1:2:ffff:eeee:dddd:cccc", 5, 100), 2);
    assert_int_equal(allowed(&r, "2001:db8:1:2::99", 1, 100), 0);
    /* the next /64 is another source */
    assert_int_equal(allowed(&r, "2001:db8:1:3::1", 5, 100), 5);
    /* IPv4 per address; IPv4-mapped IPv6 is the same source as IPv4 */
    assert_int_equal(allowed(&r, "192.0.2.1", 4, 100), 4);
    assert_int_equal(allowed(&r, "::ffff:192.0.2.1", 2, 100), 1);
    assert_int_equal(allowed(&r, "192.0.2.2", 5, 100), 5);
    /* refill: one token a second */
    assert_int_equal(allowed(&r, "2001:db8:1:2::7", 3, 102), 2);
    ratelimit_cleanup(&r);
}

static void test_prefix_settings(void **state)
{
    (void)state;
    struct ratelimit r;
    assert_int_equal(ratelimit_init(&r, 64, 1.0, 2.0), 0);
    assert_int_equal(ratelimit_set_prefix(&r, 0, 64), -1);
    assert_int_equal(ratelimit_set_prefix(&r, 24, 129), -1);
    assert_int_equal(r.v4_prefix, 32);
    assert_int_equal(ratelimit_set_prefix(&r, 24, 48), 0);
    /* a /24 is one source now, a /48 too */
    assert_int_equal(allowed(&r, "198.51.100.1", 1, 10), 1);
    assert_int_equal(allowed(&r, "198.51.100.200", 2, 10), 1);
    assert_int_equal(allowed(&r, "198.51.101.1", 2, 10), 2);
    assert_int_equal(allowed(&r, "2001:db8:1:2::1", 1, 10), 1);
    assert_int_equal(allowed(&r, "2001:db8:1:ffff::1", 2, 10), 1);
    assert_int_equal(allowed(&r, "2001:db8:2::1", 2, 10), 2);
    /* /128 and /32: exact addresses again; the old buckets are forgotten */
    assert_int_equal(ratelimit_set_prefix(&r, 32, 128), 0);
    assert_int_equal(allowed(&r, "2001:db8:1:2::1", 2, 10), 2);
    assert_int_equal(allowed(&r, "2001:db8:1:2::2", 2, 10), 2);
    /* rate 0: unlimited */
    r.rate = 0;
    assert_int_equal(allowed(&r, "2001:db8:1:2::1", 50, 10), 50);
    ratelimit_cleanup(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ipv6_by_prefix),
        cmocka_unit_test(test_prefix_settings),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
