/* test_core.c — core/: config table, addresses and CIDRs, rate limiter,
 * buffer pool, log sanitising, hex. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/config.h"
#include "core/log.h"
#include "core/net.h"
#include "core/ratelimit.h"
#include "core/tls.h"

struct tcfg {
    long n;
    double t;
    bool b;
    char *s;
    int e;
};

static const char *const colors[] = { "red", "green", NULL };
static const struct cfg_opt table[] = {
    { "a", "n", CFG_INT, offsetof(struct tcfg, n), 1, 10, "5", NULL, NULL, NULL, "an int" },
    { "a", "t", CFG_MSEC, offsetof(struct tcfg, t), 0.1, 60, "3s", NULL, NULL, NULL, "a duration" },
    { "a", "b", CFG_BOOL, offsetof(struct tcfg, b), 0, 0, "no", NULL, NULL, NULL, "a bool" },
    { "b", "s", CFG_STR, offsetof(struct tcfg, s), 0, 0, "x", NULL, NULL, NULL, "a string" },
    { "b", "e", CFG_ENUM, offsetof(struct tcfg, e), 0, 0, "red", colors, NULL, NULL, "an enum" },
};
#define NT (sizeof table / sizeof table[0])

static char *write_tmp(const char *text)
{
    static char path[64];
    snprintf(path, sizeof path, "/tmp/test_core_%d.conf", (int)getpid());
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    return path;
}

static void load_expect(const char *text, int rc, const char *err_part)
{
    struct tcfg c;
    char err[CFG_ERR_MAX];
    memset(&c, 0, sizeof c);
    err[0] = '\0';
    char *path = write_tmp(text);
    assert_int_equal(cfg_load(table, NT, &c, path, err, sizeof err), rc);
    cfg_free(table, NT, &c);
    unlink(path);
    if (err_part && !strstr(err, err_part))
        fail_msg("error '%s' lacks '%s'", err, err_part);
}

static void test_config_defaults_and_values(void **state)
{
    (void)state;
    struct tcfg c;
    char err[CFG_ERR_MAX];
    memset(&c, 0, sizeof c);
    char *path = write_tmp("[a]\nn = 7\nt = 250ms\nb = yes\n[b]\ne = GREEN\n");
    assert_int_equal(cfg_load(table, NT, &c, path, err, sizeof err), 0);
    assert_int_equal(c.n, 7);
    assert_true(c.t > 0.249 && c.t < 0.251);
    assert_true(c.b);
    assert_string_equal(c.s, "x"); /* default */
    assert_int_equal(c.e, 1);
    cfg_free(table, NT, &c);
    assert_null(c.s);
    unlink(path);
}

static void test_config_errors_have_lines(void **state)
{
    (void)state;
    load_expect("[a]\n\nn = 11\n", -1, ":3: a.n: 11 is outside");
    load_expect("[a]\nn = x\n", -1, ":2: a.n: 'x' is not an integer");
    load_expect("[a]\nt = 5 parsecs\n", -1, ":2: a.t:");
    load_expect("[a]\nt = 100m\n", -1, "outside");
    load_expect("[a]\nb = maybe\n", -1, ":2: a.b:");
    load_expect("[b]\ne = blue\n", -1, ":2: b.e:");
    load_expect("[a]\nnope = 1\n", -1, ":2: unknown option 'a.nope'");
    load_expect("[zz]\nn = 1\n", -1, ":2: unknown section 'zz'");
    load_expect("[a\nn = 1\n", -1, ":1: syntax error");
    load_expect("[a]\nn = 2\n", 0, NULL);

    struct tcfg c;
    char err[CFG_ERR_MAX];
    memset(&c, 0, sizeof c);
    assert_int_equal(cfg_load(table, NT, &c, "/nonexistent/x.conf", err, sizeof err), -1);
    assert_non_null(strstr(err, "No such file"));
    cfg_free(table, NT, &c);
}

static void test_duration(void **state)
{
    (void)state;
    double v;
    assert_int_equal(cfg_parse_duration("2", &v), 0);
    assert_true(v == 2);
    assert_int_equal(cfg_parse_duration("1.5m", &v), 0);
    assert_true(v == 90);
    assert_int_equal(cfg_parse_duration("1h", &v), 0);
    assert_true(v == 3600);
    assert_int_equal(cfg_parse_duration("-1s", &v), -1);
    assert_int_equal(cfg_parse_duration("", &v), -1);
    assert_int_equal(cfg_parse_duration("3 s", &v), -1);
}

static void test_addr_parse(void **state)
{
    (void)state;
    struct net_addr a;
    char s[NET_ADDR_STR_MAX];
    assert_int_equal(net_addr_parse(&a, "192.0.2.1:443"), 0);
    assert_string_equal(net_addr_str((struct sockaddr *)&a.ss, s, sizeof s), "192.0.2.1:443");
    assert_int_equal(net_addr_parse(&a, "[2001:db8::1]:8443"), 0);
    assert_string_equal(net_addr_str((struct sockaddr *)&a.ss, s, sizeof s), "[2001:db8::1]:8443");
    assert_int_equal(net_addr_parse(&a, "*:443"), 0);
    assert_int_equal(a.ss.ss_family, AF_INET6);
    assert_int_equal(net_addr_parse(&a, "192.0.2.1"), -1);
    assert_int_equal(net_addr_parse(&a, "192.0.2.1:"), -1);
    assert_int_equal(net_addr_parse(&a, "192.0.2.1:65536"), -1);
    assert_int_equal(net_addr_parse(&a, "host.example:443"), -1); /* no DNS */
    assert_int_equal(net_addr_parse(&a, "[2001:db8::1:443"), -1);
}

static struct sockaddr_storage v4(const char *ip)
{
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof ss);
    struct sockaddr_in *s = (struct sockaddr_in *)&ss;
    s->sin_family = AF_INET;
    inet_pton(AF_INET, ip, &s->sin_addr);
    return ss;
}

static struct sockaddr_storage v6(const char *ip)
{
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof ss);
    struct sockaddr_in6 *s = (struct sockaddr_in6 *)&ss;
    s->sin6_family = AF_INET6;
    inet_pton(AF_INET6, ip, &s->sin6_addr);
    return ss;
}

static void test_cidr(void **state)
{
    (void)state;
    struct net_cidr_list l = { 0 };
    char err[128];
    assert_int_equal(net_cidr_list_add(&l, "10.0.0.0/8, 192.0.2.7 2001:db8::/33", err, sizeof err), 0);
    assert_int_equal(l.n, 3);
    struct sockaddr_storage a = v4("10.255.1.2"), b = v4("11.0.0.1"), c = v4("192.0.2.7"),
                            d = v4("192.0.2.8"), e = v6("2001:db8:7fff::1"), f = v6("2001:db8:8000::1"),
                            g = v6("::ffff:10.1.1.1");
    assert_true(net_cidr_list_match(&l, (struct sockaddr *)&a));
    assert_false(net_cidr_list_match(&l, (struct sockaddr *)&b));
    assert_true(net_cidr_list_match(&l, (struct sockaddr *)&c));
    assert_false(net_cidr_list_match(&l, (struct sockaddr *)&d));
    assert_true(net_cidr_list_match(&l, (struct sockaddr *)&e));
    assert_false(net_cidr_list_match(&l, (struct sockaddr *)&f));
    assert_true(net_cidr_list_match(&l, (struct sockaddr *)&g)); /* v4-mapped */
    assert_int_equal(net_cidr_list_add(&l, "10.0.0.0/33", err, sizeof err), -1);
    assert_int_equal(net_cidr_list_add(&l, "bogus", err, sizeof err), -1);
    assert_non_null(strstr(err, "bogus"));
    net_cidr_list_free(&l);
}

static void test_ratelimit(void **state)
{
    (void)state;
    struct ratelimit r;
    assert_int_equal(ratelimit_init(&r, 16, 2.0, 3.0), 0);
    struct sockaddr_storage a = v4("198.51.100.1"), b = v4("198.51.100.2");
    /* burst of 3, then refused, refilled at 2/s */
    assert_true(ratelimit_allow(&r, (struct sockaddr *)&a, 100.0));
    assert_true(ratelimit_allow(&r, (struct sockaddr *)&a, 100.0));
    assert_true(ratelimit_allow(&r, (struct sockaddr *)&a, 100.0));
    assert_false(ratelimit_allow(&r, (struct sockaddr *)&a, 100.0));
    assert_true(ratelimit_allow(&r, (struct sockaddr *)&b, 100.0)); /* other source unaffected */
    assert_true(ratelimit_allow(&r, (struct sockaddr *)&a, 100.5));
    assert_false(ratelimit_allow(&r, (struct sockaddr *)&a, 100.5));
    /* many sources: the table stays bounded and keeps working */
    for (int i = 0; i < 1000; i++) {
        char ip[32];
        snprintf(ip, sizeof ip, "10.0.%d.%d", i / 250, i % 250);
        struct sockaddr_storage x = v4(ip);
        assert_true(ratelimit_allow(&r, (struct sockaddr *)&x, 200.0));
    }
    ratelimit_cleanup(&r);
    struct ratelimit off;
    assert_int_equal(ratelimit_init(&off, 16, 0, 1), 0);
    for (int i = 0; i < 100; i++)
        assert_true(ratelimit_allow(&off, (struct sockaddr *)&a, 1.0));
    ratelimit_cleanup(&off);
}

static void test_buf_pool(void **state)
{
    (void)state;
    struct buf_pool p;
    struct buf a = { 0 }, b = { 0 };
    buf_pool_init(&p, 1);
    assert_int_equal(buf_room(&a), 0);
    assert_int_equal(buf_take(&p, &a), 0);
    assert_int_equal(buf_room(&a), BUF_SIZE);
    memcpy(buf_wptr(&a), "hello", 5);
    a.tail += 5;
    buf_release(&p, &a); /* not empty: kept */
    assert_non_null(a.data);
    buf_consume(&a, 2);
    assert_int_equal(buf_len(&a), 3);
    buf_compact(&a);
    assert_memory_equal(buf_rptr(&a), "llo", 3);
    buf_consume(&a, 3);
    buf_release(&p, &a);
    assert_null(a.data);
    assert_int_equal(p.n_alloc, 0);
    assert_int_equal(p.n_spare, 1);
    assert_int_equal(buf_take(&p, &a), 0);
    assert_int_equal(buf_take(&p, &b), 0);
    assert_int_equal(p.n_alloc, 2);
    buf_drop(&p, &a);
    buf_drop(&p, &b); /* spare list full: freed */
    assert_int_equal(p.n_spare, 1);
    buf_pool_cleanup(&p);
}

static void test_buf_pool_big(void **state)
{
    (void)state;
    struct buf_pool p;
    struct buf a = { 0 }, b = { 0 }, c = { 0 };
    buf_pool_init(&p, 8); /* 8 standard spares = 2 big ones by bytes */
    assert_int_equal(p.max_spare_big, 8 * BUF_SIZE / BUF_BIG_SIZE);
    assert_int_equal(buf_take_big(&p, &a), 0);
    assert_int_equal(buf_room(&a), BUF_BIG_SIZE);
    assert_false(buf_full(&a));
    memset(buf_wptr(&a), 0xAB, BUF_BIG_SIZE); /* every byte is ours (ASan) */
    a.tail = BUF_BIG_SIZE;
    assert_true(buf_full(&a));
    buf_consume(&a, 1);
    assert_false(buf_full(&a)); /* room after compacting */
    assert_int_equal(buf_room(&a), 0);
    buf_compact(&a);
    assert_int_equal(buf_room(&a), 1);
    /* a block held stays whatever size is asked for */
    assert_int_equal(buf_take(&p, &a), 0);
    assert_int_equal(a.cap, BUF_BIG_SIZE);
    assert_int_equal(buf_take(&p, &b), 0);
    assert_int_equal(buf_take_big(&p, &b), 0);
    assert_int_equal(b.cap, BUF_SIZE);
    assert_int_equal(p.n_alloc, 2);
    /* each block goes back to its own spare list */
    buf_drop(&p, &a);
    buf_drop(&p, &b);
    assert_int_equal(p.n_spare_big, 1);
    assert_int_equal(p.n_spare, 1);
    assert_int_equal(a.cap, 0);
    assert_false(buf_full(&a));
    /* and comes out of it again */
    assert_int_equal(buf_take_big(&p, &a), 0);
    assert_int_equal(p.n_spare_big, 0);
    assert_int_equal(buf_take_big(&p, &b), 0);
    assert_int_equal(buf_take_big(&p, &c), 0);
    buf_drop(&p, &a);
    buf_drop(&p, &b);
    buf_drop(&p, &c); /* big spare list full: freed */
    assert_int_equal(p.n_spare_big, 2);
    assert_int_equal(p.n_alloc, 0);
    buf_pool_cleanup(&p);
}

static void test_sanitize_and_hex(void **state)
{
    (void)state;
    char out[16];
    assert_string_equal(log_sanitize(out, sizeof out, "a b=\"c\"\n", 8), "a.b..c..");
    assert_string_equal(log_sanitize(out, sizeof out, "", 0), "-");
    assert_string_equal(log_sanitize(out, 4, "abcdef", 6), "abc");
    uint8_t h[4];
    char hex[9];
    assert_int_equal(tls_unhex(h, 4, "de:AD:be:ef"), 0);
    assert_string_equal(tls_hex(hex, h, 4), "deadbeef");
    assert_int_equal(tls_unhex(h, 4, "deadbe"), -1);
    assert_int_equal(tls_unhex(h, 4, "deadbeef00"), -1);
    assert_int_equal(tls_unhex(h, 4, "deadbeeg"), -1);
}

/* One line per interval (the backend's refusals) and a burst per window
 * (the proxy's): what was left out is handed back once, when the next
 * window opens, and never before it. */
static void test_log_limit(void **state)
{
    (void)state;
    struct log_limit one, burst;
    uint64_t left_out = 99;
    log_limit_init(&one, 10.0, 1);
    assert_true(log_limit_allow(&one, 1000.0, &left_out));
    assert_int_equal(left_out, 0);
    assert_false(log_limit_allow(&one, 1000.5, &left_out));
    assert_false(log_limit_allow(&one, 1009.99, NULL));
    assert_int_equal(one.suppressed, 2);
    assert_true(log_limit_allow(&one, 1010.0, &left_out));
    assert_int_equal(left_out, 2);
    assert_true(log_limit_allow(&one, 1020.0, &left_out));
    assert_int_equal(left_out, 0);

    log_limit_init(&burst, 1.0, 3);
    for (int i = 0; i < 3; i++)
        assert_true(log_limit_allow(&burst, 50.0 + i * 0.1, NULL));
    for (int i = 0; i < 5; i++)
        assert_false(log_limit_allow(&burst, 50.5, NULL));
    assert_int_equal(log_limit_roll(&burst, 50.9), 0); /* the window lasts */
    assert_int_equal(log_limit_roll(&burst, 51.0), 5);
    assert_int_equal(log_limit_roll(&burst, 51.5), 0); /* handed back once */
    assert_true(log_limit_allow(&burst, 51.6, &left_out));
    assert_int_equal(left_out, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_config_defaults_and_values),
        cmocka_unit_test(test_config_errors_have_lines),
        cmocka_unit_test(test_duration),
        cmocka_unit_test(test_addr_parse),
        cmocka_unit_test(test_cidr),
        cmocka_unit_test(test_ratelimit),
        cmocka_unit_test(test_buf_pool),
        cmocka_unit_test(test_buf_pool_big),
        cmocka_unit_test(test_sanitize_and_hex),
        cmocka_unit_test(test_log_limit),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
