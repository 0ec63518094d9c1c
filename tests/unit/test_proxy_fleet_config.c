/* test_proxy_fleet_config.c — the [redis], [affinity] and [health] options
 * of proxy/config.c and the new [backends] choices: defaults, values read
 * into the typed struct and into struct rds_opts, each rejection with its
 * file:line or reason, Redis standing in for static servers, chash needing
 * an affinity key, and the environment (SSTP_PROXY_REDIS_URL, as compose
 * sets it). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lb/affinity.h"
#include "lb/health.h"
#include "lb/redis.h"
#include "lb/registry.h"
#include "proxy/config.h"
#include "tests/unit/proxy_config_file.h"

#define BASE "[listen]\nbind = 127.0.0.1:8443\n[tls]\ncert = /c.pem\n"
#define MIN_OK BASE "[backends]\nserver = b1 10.0.0.1:4433\n"

static void test_defaults(void **state)
{
    (void)state;
    struct px_config c;
    struct rds_opts o;
    char err[512];
    assert_int_equal(load(MIN_OK, &c, err, sizeof err), 0);
    assert_true(!c.redis.url || !c.redis.url[0]);
    assert_int_equal(px_config_redis(&c, &o), -1); /* no Redis */
    assert_string_equal(c.redis.prefix, "sstp:");
    assert_string_equal(c.redis.sentinel_master, "mymaster");
    assert_true(c.registry_interval == 1.0);
    assert_int_equal(c.events_max, 10000);
    assert_int_equal(c.aff_mode, LB_AFF_NONE);
    assert_true(c.aff_ttl == 1800.0);
    assert_int_equal(c.aff_prefix4, 24);
    assert_int_equal(c.aff_prefix6, 64);
    assert_true(c.aff_lookup_timeout > 0.0999 && c.aff_lookup_timeout < 0.1001);
    assert_true(c.health_interval == 0.5 && c.health_timeout == 1.0);
    assert_int_equal(c.health_rise, 2);
    assert_int_equal(c.health_fall, 2);
    assert_int_equal(c.health_probe, LB_PROBE_SSTP);
    px_config_free(&c);
}

static void test_values(void **state)
{
    (void)state;
    struct px_config c;
    struct rds_opts o;
    char err[512];
    const char *text = BASE
        "[backends]\npolicy = chash\nserver = g1 10.0.0.1:4433 group=acme\n"
        "[redis]\nurl = redis://px:s3cret@10.9.8.7:6380/2\nprefix = lab:\n"
        "sentinels = 10.0.0.5:26379, 10.0.0.6:26379\nsentinel_master = fleet\n"
        "registry_interval = 250ms\nevents_max = 500\n"
        "[affinity]\nmode = client_prefix\nttl = 2h\nprefix4 = 16\nprefix6 = 48\nlookup_timeout = 20ms\n"
        "[health]\ninterval = 2s\ntimeout = 300ms\nrise = 3\nfall = 5\nprobe = tcp\n";
    if (load(text, &c, err, sizeof err) != 0)
        fail_msg("%s", err);
    assert_int_equal(c.policy, 3);
    assert_string_equal(c.servers.items[0].group, "acme");
    assert_int_equal(px_config_redis(&c, &o), 0);
    assert_string_equal(o.host, "10.9.8.7");
    assert_int_equal(o.port, 6380);
    assert_int_equal(o.db, 2);
    assert_string_equal(o.user, "px");
    assert_string_equal(o.password, "s3cret");
    assert_string_equal(o.prefix, "lab:");
    assert_int_equal(o.n_sentinels, 2);
    assert_int_equal(ntohs(((struct sockaddr_in *)&o.sentinels[1].ss)->sin_port), 26379);
    assert_string_equal(o.sentinel_master, "fleet");
    assert_true(c.registry_interval == 0.25);
    assert_int_equal(c.events_max, 500);
    assert_int_equal(c.aff_mode, LB_AFF_CLIENT_PREFIX);
    assert_true(c.aff_ttl == 7200.0);
    assert_int_equal(c.aff_prefix4, 16);
    assert_int_equal(c.aff_prefix6, 48);
    assert_true(c.aff_lookup_timeout > 0.0199 && c.aff_lookup_timeout < 0.0201);
    assert_true(c.health_interval == 2.0 && c.health_timeout > 0.2999 && c.health_timeout < 0.3001);
    assert_int_equal(c.health_rise, 3);
    assert_int_equal(c.health_fall, 5);
    assert_int_equal(c.health_probe, LB_PROBE_TCP);
    px_config_free(&c);
}

static void test_redis_instead_of_servers(void **state)
{
    (void)state;
    struct px_config c;
    char err[512];
    /* Redis alone: the registry brings the backends */
    assert_int_equal(load(BASE "[redis]\nurl = redis://127.0.0.1\n", &c, err, sizeof err), 0);
    assert_int_equal(c.servers.n, 0);
    px_config_free(&c);
    expect_error(BASE, "", "no backend: set backends.server (or redis.url");
    expect_error(BASE "[redis]\nurl = \n", "", "no backend");
}

static void test_rejections(void **state)
{
    (void)state;
    expect_error(MIN_OK "[redis]\nurl = redis://host:99999\n", "", "redis.url: not");
    expect_error(MIN_OK "[redis]\nurl = redis://h/x\n", "", "redis.url: not");
    expect_error(MIN_OK "[redis]\nurl = redis://h\nsentinels = nowhere\n", "", "redis.sentinels: not");
    expect_error(MIN_OK "[redis]\nurl = redis://h\nsentinels = 1.1.1.1:1,1.1.1.2:1,1.1.1.3:1,1.1.1.4:1,"
                 "1.1.1.5:1,1.1.1.6:1,1.1.1.7:1,1.1.1.8:1,1.1.1.9:1\n", "", "redis.sentinels: not");
    char longprefix[256];
    snprintf(longprefix, sizeof longprefix, MIN_OK "[redis]\nurl = redis://h\nprefix = %070d\n", 0);
    expect_error(longprefix, "", "redis.prefix: must be");
    expect_error(MIN_OK "[redis]\nregistry_interval = 50ms\n", ":8: redis.registry_interval", "outside");
    expect_error(MIN_OK "[affinity]\nmode = cookie\n", ":8: affinity.mode", "not one of the choices");
    expect_error(MIN_OK "[affinity]\nprefix4 = 33\n", ":8: affinity.prefix4", "outside");
    expect_error(MIN_OK "[affinity]\nprefix6 = 129\n", ":8: affinity.prefix6", "outside");
    expect_error(MIN_OK "[affinity]\nlookup_timeout = 6s\n", ":8: affinity.lookup_timeout", "outside");
    expect_error(MIN_OK "[affinity]\nttl = 0s\n", ":8: affinity.ttl", "outside");
    expect_error(MIN_OK "[health]\nprobe = icmp\n", ":8: health.probe", "not one of the choices");
    expect_error(MIN_OK "[health]\nrise = 0\n", ":8: health.rise", "outside");
    expect_error(MIN_OK "[health]\nfall = 101\n", ":8: health.fall", "outside");
    expect_error(MIN_OK "[health]\ninterval = 10ms\n", ":8: health.interval", "outside");
    expect_error(MIN_OK "[backends]\npolicy = chash\n", "", "chash hashes the affinity key");
    expect_error(MIN_OK "[backends]\nserver = g 10.0.0.2:1 group=a&b\n", ":8: backends.server", "group must be");
}

/* The registry options (issue 11) and what the registry reader gets. */
static void test_registry_options(void **state)
{
    (void)state;
    struct px_config c;
    struct lb_registry_opts ro;
    char err[512];
    assert_int_equal(load(BASE "[redis]\nurl = redis://127.0.0.1\n", &c, err, sizeof err), 0);
    px_config_registry(&c, 3, &ro);
    assert_true(ro.grace == 30.0 && ro.interval == 1.0);
    assert_int_equal(ro.id, 3);
    assert_int_equal(ro.policy.allow->n, 0); /* any address but the forbidden ones */
    assert_false(ro.policy.mtls_only || ro.policy.have_tls);
    px_config_free(&c);
    const char *text = BASE "[backends]\nca = /ca.pem\n"
        "[redis]\nurl = redis://127.0.0.1\nregistry_allow = 10.0.0.0/8, fd00::/8\n"
        "registry_allow = 127.0.0.2\nregistry_mtls_only = yes\nregistry_grace = 0\n";
    if (load(text, &c, err, sizeof err) != 0)
        fail_msg("%s", err);
    px_config_registry(&c, 0, &ro);
    assert_int_equal(ro.policy.allow->n, 3);
    assert_int_equal(ro.policy.allow->items[2].prefix, 32);
    assert_true(ro.policy.mtls_only && ro.policy.have_tls);
    assert_true(ro.grace == 0);
    px_config_free(&c);
    expect_error(BASE "[redis]\nurl = redis://h\nregistry_mtls_only = yes\n", "",
                 "registry_mtls_only needs redis.url and backends.ca");
    expect_error(MIN_OK "[backends]\nca = /ca.pem\n[redis]\nregistry_mtls_only = yes\n", "",
                 "registry_mtls_only needs redis.url");
    expect_error(MIN_OK "[redis]\nregistry_allow = 10.0.0.0/33\n", ":8: redis.registry_allow", "not an address");
    expect_error(MIN_OK "[redis]\nregistry_grace = 2h\n", ":8: redis.registry_grace", "outside");
}

static void test_env(void **state)
{
    (void)state;
    struct px_config c;
    struct rds_opts o;
    char err[512];
    setenv("SSTP_PROXY_REDIS_URL", "redis://:pw@172.28.0.2:6379", 1);
    setenv("SSTP_PROXY_AFFINITY_MODE", "client_ip", 1);
    int rc = load(BASE, &c, err, sizeof err);
    unsetenv("SSTP_PROXY_REDIS_URL");
    unsetenv("SSTP_PROXY_AFFINITY_MODE");
    assert_int_equal(rc, 0);
    assert_int_equal(px_config_redis(&c, &o), 0);
    assert_string_equal(o.host, "172.28.0.2");
    assert_string_equal(o.password, "pw");
    assert_int_equal(c.aff_mode, LB_AFF_CLIENT_IP);
    px_config_free(&c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_values),
        cmocka_unit_test(test_redis_instead_of_servers),
        cmocka_unit_test(test_rejections),
        cmocka_unit_test(test_registry_options),
        cmocka_unit_test(test_env),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
