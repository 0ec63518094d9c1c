/* test_lb_affinity.c — lb/affinity.c: the affinity key of each mode. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>

#include "lb/affinity.h"

static struct sockaddr_storage addr(const char *ip)
{
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof ss);
    if (strchr(ip, ':')) {
        struct sockaddr_in6 *s = (struct sockaddr_in6 *)&ss;
        s->sin6_family = AF_INET6;
        inet_pton(AF_INET6, ip, &s->sin6_addr);
    } else {
        struct sockaddr_in *s = (struct sockaddr_in *)&ss;
        s->sin_family = AF_INET;
        inet_pton(AF_INET, ip, &s->sin_addr);
    }
    return ss;
}

static void expect_key(enum lb_aff_mode mode, const char *ip, const uint8_t *cert, const char *tenant,
                       const char *want)
{
    struct lb_aff_cfg cfg = { mode, 24, 64, 60 };
    struct sockaddr_storage ss = addr(ip);
    char out[LB_AFF_KEY_MAX];
    int rc = lb_aff_key(out, sizeof out, &cfg, (struct sockaddr *)&ss, cert, tenant);
    if (!want) {
        assert_int_equal(rc, -1);
        return;
    }
    assert_int_equal(rc, 0);
    assert_string_equal(out, want);
}

static void test_affinity_keys(void **state)
{
    (void)state;
    uint8_t cert[32];
    for (int i = 0; i < 32; i++)
        cert[i] = (uint8_t)i;
    expect_key(LB_AFF_CLIENT_IP, "203.0.113.77", NULL, NULL, "ip:203.0.113.77");
    expect_key(LB_AFF_CLIENT_IP, "::ffff:203.0.113.77", NULL, NULL, "ip:203.0.113.77");
    expect_key(LB_AFF_CLIENT_PREFIX, "203.0.113.77", NULL, NULL, "net:203.0.113.0/24");
    expect_key(LB_AFF_CLIENT_PREFIX, "2001:db8:1:2:3:4:5:6", NULL, NULL, "net:2001:db8:1:2::/64");
    expect_key(LB_AFF_CLIENT_CERT, "203.0.113.77", cert, NULL,
               "cert:000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f");
    expect_key(LB_AFF_CLIENT_CERT, "203.0.113.77", NULL, NULL, NULL);
    expect_key(LB_AFF_TENANT, "203.0.113.77", NULL, "acme", "tenant:acme");
    expect_key(LB_AFF_TENANT, "203.0.113.77", NULL, "", NULL);
    expect_key(LB_AFF_NONE, "203.0.113.77", NULL, NULL, NULL);

    struct lb_aff_cfg odd = { LB_AFF_CLIENT_PREFIX, 20, 48, 60 };
    struct sockaddr_storage ss = addr("198.51.100.200");
    char out[LB_AFF_KEY_MAX];
    assert_int_equal(lb_aff_key(out, sizeof out, &odd, (struct sockaddr *)&ss, NULL, NULL), 0);
    assert_string_equal(out, "net:198.51.96.0/20");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_affinity_keys),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
