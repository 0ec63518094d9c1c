/* test_core_admin.c — unit tests of the admin listener's Host check
 * (core/admin.c): finding the header in a request head, and which values a
 * listener on a given address answers (DNS rebinding: names other than
 * localhost are refused, IP literals only when they are loopback, the
 * listen address, or any address behind a wildcard listener). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "core/admin.h"
#include "tests/unit/helpers.h"

/* Parses the head from an exact-size heap copy, so ASan sees an overread. */
static int host_of(const char *head, char *out, size_t out_len)
{
    size_t n = strlen(head);
    char *b = (char *)dup_exact(head, n);
    int r = admin_request_host(b, n, out, out_len);
    free(b);
    return r;
}

static void test_request_host(void **state)
{
    (void)state;
    char h[ADMIN_HOST_MAX];
    assert_int_equal(host_of("GET /metrics HTTP/1.1\r\nHost: 127.0.0.1:9180\r\n\r\n", h, sizeof h), 1);
    assert_string_equal(h, "127.0.0.1:9180");
    assert_int_equal(host_of("GET / HTTP/1.1\nUser-Agent: x\nhOsT:\t evil.example \n\n", h, sizeof h), 1);
    assert_string_equal(h, "evil.example");
    assert_int_equal(host_of("GET /readyz HTTP/1.0\r\n\r\n", h, sizeof h), 0);
    /* a header after the blank line is body, not head */
    assert_int_equal(host_of("GET / HTTP/1.0\r\n\r\nHost: evil\r\n", h, sizeof h), 0);
    /* two Host headers: which one would a proxy in front have checked? */
    assert_int_equal(host_of("GET / HTTP/1.1\r\nHost: localhost\r\nHost: evil\r\n\r\n", h, sizeof h), -1);
    char tiny[8];
    assert_int_equal(host_of("GET / HTTP/1.1\r\nHost: localhost:9180\r\n\r\n", tiny, sizeof tiny), -1);
}

static struct net_addr addr(const char *text)
{
    struct net_addr a;
    assert_int_equal(net_addr_parse(&a, text), 0);
    return a;
}

static void test_host_allowed(void **state)
{
    (void)state;
    struct net_addr lo = addr("127.0.0.1:9180"), mgmt = addr("10.1.2.3:9180"), any4 = addr("0.0.0.0:9180");
    struct net_addr any = addr("*:9180"), v6 = addr("[2001:db8::5]:9180");
    const char *always[] = { "localhost", "LOCALHOST:9180", "localhost.", "127.0.0.1", "127.0.0.1:9180",
                             "127.9.9.9:1", "[::1]", "[::1]:9180" };
    for (size_t i = 0; i < sizeof always / sizeof always[0]; i++) {
        assert_true(admin_host_allowed(always[i], &lo));
        assert_true(admin_host_allowed(always[i], &mgmt));
        assert_true(admin_host_allowed(always[i], &any));
    }
    const char *never[] = { "evil.example", "evil.example:9180", "localhost.evil.example", "127.0.0.1.nip.io",
                            "", ":9180", "localhost:", "localhost:x", "localhost:123456", "[::1", "[::1]x",
                            "[127.0.0.1]", "::1", "[localhost]", "10.1.2.3:9180:1" };
    for (size_t i = 0; i < sizeof never / sizeof never[0]; i++) {
        assert_false(admin_host_allowed(never[i], &lo));
        assert_false(admin_host_allowed(never[i], &any));
    }
    /* the listen address itself, and only it */
    assert_true(admin_host_allowed("10.1.2.3:9180", &mgmt));
    assert_false(admin_host_allowed("10.1.2.4:9180", &mgmt));
    assert_false(admin_host_allowed("10.1.2.3:9180", &lo));
    assert_true(admin_host_allowed("[2001:db8::5]:9180", &v6));
    assert_false(admin_host_allowed("[2001:db8::6]:9180", &v6));
    /* behind a wildcard, any IP literal is what the client connected to */
    assert_true(admin_host_allowed("172.17.0.2:9180", &any4));
    assert_true(admin_host_allowed("172.17.0.2:9180", &any));
    assert_true(admin_host_allowed("[2001:db8::9]", &any));
    assert_false(admin_host_allowed("[2001:db8::9]", &any4));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_request_host),
        cmocka_unit_test(test_host_allowed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
