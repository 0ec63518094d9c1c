/* test_lb_redis_config.c — lb/redis_config.c, the one [redis] converter, as
 * both daemons' config tables use it: the same text gives the same client
 * options in sstp-backend and sstp-proxy, defaults, every rejection with
 * the option named (an over-long prefix is an error, never truncated), the
 * environment, and the reload diff. */
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

#include "backend/config.h"
#include "lb/redis_config.h"
#include "proxy/config.h"
#include "tests/unit/helpers.h"

#define BE_BASE "[listen]\ntls = 127.0.0.1:4443\n[tls]\ncert = /c.pem\nkey = /k.pem\n"
#define PX_BASE "[listen]\nbind = 127.0.0.1:8443\n[tls]\ncert = /c.pem\n[backends]\nserver = b1 10.0.0.1:4433\n"

static char path[64];

static void write_conf(const char *text)
{
    snprintf(path, sizeof path, "/tmp/test_lb_redis_config_XXXXXX");
    temp_file_write(path, text);
}

/* loads redis_text into both daemons; returns their load results, the
 * errors, and (when both loaded) each one's converted options */
struct both {
    int be_rc, px_rc;
    char be_err[512], px_err[512];
    struct be_config be;
    struct px_config px;
};

static void load_both(struct both *b, const char *redis_text)
{
    char text[2048];
    memset(b, 0, sizeof *b);
    snprintf(text, sizeof text, BE_BASE "%s", redis_text);
    write_conf(text);
    b->be_rc = be_config_load(&b->be, path, b->be_err, sizeof b->be_err);
    unlink(path);
    snprintf(text, sizeof text, PX_BASE "%s", redis_text);
    write_conf(text);
    b->px_rc = px_config_load(&b->px, path, b->px_err, sizeof b->px_err);
    unlink(path);
}

static void free_both(struct both *b)
{
    be_config_free(&b->be);
    px_config_free(&b->px);
}

static void test_defaults(void **state)
{
    (void)state;
    struct both b;
    struct rds_opts o;
    load_both(&b, "");
    assert_int_equal(b.be_rc, 0);
    assert_int_equal(b.px_rc, 0);
    assert_false(rds_config_enabled(&b.be.redis));
    assert_int_equal(rds_config_opts(&o, &b.be.redis, NULL, 0), 0);
    assert_string_equal(b.be.redis.prefix, "sstp:");
    assert_string_equal(b.px.redis.sentinel_master, "mymaster");
    assert_true(b.be.redis.reply_timeout == 5.0 && b.px.redis.reply_timeout == 5.0);
    assert_true(b.be.redis.connect_timeout == 2.0);
    assert_int_equal(b.px.redis.max_pending, RDS_MAX_PENDING_DEFAULT);
    free_both(&b);
}

static void test_same_options_in_both_daemons(void **state)
{
    (void)state;
    struct both b;
    struct rds_opts ob, op;
    char err[256];
    load_both(&b, "[redis]\nurl = redis://fleet:s3cret@redis.internal:6380/2\nprefix = lab:\n"
                  "sentinels = 10.0.0.5:26379, [::1]:26380\nsentinel_master = fleet\n"
                  "sentinel_user = watcher\nsentinel_password = spw\nconnect_timeout = 750ms\n"
                  "reply_timeout = 3s\nmax_pending = 100000\n");
    if (b.be_rc || b.px_rc)
        fail_msg("%s / %s", b.be_err, b.px_err);
    assert_int_equal(rds_config_opts(&ob, &b.be.redis, err, sizeof err), 1);
    assert_int_equal(rds_config_opts(&op, &b.px.redis, err, sizeof err), 1);
    assert_memory_equal(&ob, &op, sizeof ob);
    assert_string_equal(ob.host, "redis.internal");
    assert_int_equal(ob.port, 6380);
    assert_int_equal(ob.db, 2);
    assert_string_equal(ob.user, "fleet");
    assert_string_equal(ob.password, "s3cret");
    assert_string_equal(ob.prefix, "lab:");
    assert_int_equal(ob.n_sentinels, 2);
    assert_int_equal(ntohs(((struct sockaddr_in6 *)&ob.sentinels[1].ss)->sin6_port), 26380);
    assert_string_equal(ob.sentinel_master, "fleet");
    assert_string_equal(ob.sentinel_user, "watcher");
    assert_string_equal(ob.sentinel_password, "spw");
    assert_true(ob.connect_timeout == 0.75);
    assert_true(ob.reply_timeout == 3.0);
    assert_int_equal(ob.max_pending, 100000);
    assert_null(rds_config_diff(&b.be.redis, &b.px.redis));
    free_both(&b);
}

/* each bad value: both daemons refuse to start, naming the option */
static void expect_refused(const char *redis_text, const char *option)
{
    struct both b;
    load_both(&b, redis_text);
    assert_int_equal(b.be_rc, -1);
    assert_int_equal(b.px_rc, -1);
    if (!strstr(b.be_err, option) || !strstr(b.px_err, option))
        fail_msg("'%s' / '%s' do not name %s", b.be_err, b.px_err, option);
    free_both(&b);
}

static void test_rejections(void **state)
{
    (void)state;
    /* 64 bytes: one more than a key prefix may have (was truncated by the backend) */
    expect_refused("[redis]\nurl = redis://127.0.0.1\n"
                   "prefix = 0123456789012345678901234567890123456789012345678901234567890123\n",
                   "redis.prefix");
    expect_refused("[redis]\nurl = redis://127.0.0.1\nprefix =\n", "redis.prefix");
    expect_refused("[redis]\nurl = redis://127.0.0.1:0\n", "redis.url");
    expect_refused("[redis]\nurl = redis://127.0.0.1/x\n", "redis.url");
    expect_refused("[redis]\nurl = redis://127.0.0.1/100001\n", "redis.url");
    expect_refused("[redis]\nurl = redis://[::1\n", "redis.url");
    expect_refused("[redis]\nurl = redis://127.0.0.1\nsentinels = sentinel-1:26379\n",
                   "redis.sentinels");
    expect_refused("[redis]\nurl = redis://127.0.0.1\nsentinel_master =\n", "redis.sentinel_master");
    expect_refused("[redis]\nurl = redis://127.0.0.1\nreply_timeout = 10m\n", "reply_timeout");
    expect_refused("[redis]\nurl = redis://127.0.0.1\nmax_pending = 8\n", "max_pending");
    /* 63 bytes fits */
    struct both b;
    load_both(&b, "[redis]\nurl = redis://127.0.0.1\n"
                  "prefix = 012345678901234567890123456789012345678901234567890123456789012\n");
    assert_int_equal(b.be_rc, 0);
    assert_int_equal(b.px_rc, 0);
    free_both(&b);
}

static void test_environment_and_diff(void **state)
{
    (void)state;
    struct both b, c;
    load_both(&b, "[redis]\nurl = redis://127.0.0.1\n");
    setenv("SSTP_BACKEND_REDIS_REPLY_TIMEOUT", "1500ms", 1);
    setenv("SSTP_PROXY_REDIS_SENTINEL_PASSWORD", "from-env", 1);
    load_both(&c, "[redis]\nurl = redis://127.0.0.1\n");
    unsetenv("SSTP_BACKEND_REDIS_REPLY_TIMEOUT");
    unsetenv("SSTP_PROXY_REDIS_SENTINEL_PASSWORD");
    assert_int_equal(c.be_rc, 0);
    assert_true(c.be.redis.reply_timeout == 1.5);
    assert_string_equal(c.px.redis.sentinel_password, "from-env");
    assert_string_equal(rds_config_diff(&b.be.redis, &c.be.redis), "redis.reply_timeout");
    assert_string_equal(rds_config_diff(&b.px.redis, &c.px.redis), "redis.sentinel_password");
    assert_null(rds_config_diff(&b.px.redis, &b.px.redis));
    free_both(&b);
    free_both(&c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_same_options_in_both_daemons),
        cmocka_unit_test(test_rejections),
        cmocka_unit_test(test_environment_and_diff),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
