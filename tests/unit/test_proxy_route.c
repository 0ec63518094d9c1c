/* test_proxy_route.c — unit tests of proxy/route.c: the group a request
 * goes to by the rule tenantid > SNI > Host, exact names before wildcards,
 * Host values with a port, a trailing dot, an IPv6 literal or too long. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "proxy/route.h"

static char n_blue[] = "blue.example.test", g_blue[] = "blue";
static char n_wild[] = "*.red.example.test", g_red[] = "red";
static char n_exact[] = "x.red.example.test", g_green[] = "green";

static struct px_route items[] = { { n_wild, g_red }, { n_blue, g_blue }, { n_exact, g_green } };
static const struct px_route_list routes = { items, 3 };

static const char *group(const char *tenantid, const char *sni, const char *host, enum px_route_by want_by)
{
    enum px_route_by by = (enum px_route_by)99;
    const char *g = px_route_group(&routes, tenantid, sni, host, &by);
    assert_int_equal(by, want_by);
    return g;
}

static void test_precedence(void **state)
{
    (void)state;
    /* tenantid names the group whatever the names say */
    assert_string_equal(group("contoso", "blue.example.test", "blue.example.test", PX_ROUTE_TENANTID),
                        "contoso");
    /* an empty tenantid names nothing: the names decide */
    assert_string_equal(group("", "blue.example.test", NULL, PX_ROUTE_SNI), "blue");
    /* SNI before Host */
    assert_string_equal(group(NULL, "blue.example.test", "a.red.example.test", PX_ROUTE_SNI), "blue");
    /* a client that sent an SNI without a route: Host is not asked */
    assert_null(group(NULL, "vpn.example.test", "blue.example.test", PX_ROUTE_DEFAULT));
    /* no SNI: Host */
    assert_string_equal(group(NULL, NULL, "blue.example.test", PX_ROUTE_HOST), "blue");
    assert_string_equal(group(NULL, "", "BLUE.example.test", PX_ROUTE_HOST), "blue");
    /* nothing at all, or no route: the default group */
    assert_null(group(NULL, NULL, NULL, PX_ROUTE_DEFAULT));
    assert_null(group(NULL, NULL, "other.example.test", PX_ROUTE_DEFAULT));
}

static void test_names(void **state)
{
    (void)state;
    /* exact beats wildcard, whatever the order of the lines */
    assert_string_equal(group(NULL, "x.red.example.test", NULL, PX_ROUTE_SNI), "green");
    assert_string_equal(group(NULL, "y.red.example.test", NULL, PX_ROUTE_SNI), "red");
    /* a wildcard covers one label only, and not the bare domain */
    assert_null(group(NULL, "a.b.red.example.test", NULL, PX_ROUTE_DEFAULT));
    assert_null(group(NULL, "red.example.test", NULL, PX_ROUTE_DEFAULT));
    /* Host with a port, with a trailing dot */
    assert_string_equal(group(NULL, NULL, "blue.example.test:443", PX_ROUTE_HOST), "blue");
    assert_string_equal(group(NULL, NULL, "blue.example.test.:8443", PX_ROUTE_HOST), "blue");
    assert_string_equal(group(NULL, NULL, "y.red.example.test.", PX_ROUTE_HOST), "red");
    /* an IPv6 literal, a bare port, a name longer than any DNS name */
    assert_null(group(NULL, NULL, "[::1]:443", PX_ROUTE_DEFAULT));
    assert_null(group(NULL, NULL, ":443", PX_ROUTE_DEFAULT));
    char long_host[400];
    memset(long_host, 'a', sizeof long_host - 1);
    long_host[sizeof long_host - 1] = '\0';
    memcpy(long_host + sizeof long_host - 1 - strlen(".blue.example.test"), ".blue.example.test",
           strlen(".blue.example.test"));
    assert_null(group(NULL, NULL, long_host, PX_ROUTE_DEFAULT));
    /* no routes at all */
    const struct px_route_list none = { NULL, 0 };
    enum px_route_by by;
    assert_null(px_route_group(&none, NULL, "blue.example.test", "blue.example.test", &by));
    assert_int_equal(by, PX_ROUTE_DEFAULT);
    assert_null(px_route_find(&routes, ""));
    assert_string_equal(px_route_by_name(PX_ROUTE_HOST), "host");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_precedence),
        cmocka_unit_test(test_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
