/* test_proxy_metrics.c — unit tests of core/metrics.c (block layout, fixed
 * and run-time labels, overflow into "other", sum/min/max across blocks
 * with absent gauges, the exact Prometheus text, a write from a forked
 * child seen by the parent) and of core/admin.c's request parser; plus the
 * sstp-proxy family table (proxy/stats.c) laid out for real. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/admin.h"
#include "core/metrics.h"
#include "proxy/stats.h"
#include "tests/unit/helpers.h"

static const char *const dirs[] = { "in", "out" };

enum { F_CONN, F_ACTIVE, F_DIR, F_UP, F_TERM, F_COUNT };

static void table(struct metrics_family f[F_COUNT])
{
    f[F_CONN] = (struct metrics_family){ "t_conn_total", "Connections.", METRICS_COUNTER, METRICS_SUM,
                                         NULL, NULL, 0, 0, 0 };
    f[F_ACTIVE] = (struct metrics_family){ "t_active", "Open now.", METRICS_GAUGE, METRICS_SUM,
                                           NULL, NULL, 0, 0, 0 };
    f[F_DIR] = (struct metrics_family){ "t_bytes_total", "Bytes.", METRICS_COUNTER, METRICS_SUM,
                                        "direction", dirs, 2, 0, 0 };
    f[F_UP] = (struct metrics_family){ "t_up", "Up.", METRICS_GAUGE, METRICS_MIN, "backend", NULL, 3, 0, 0 };
    f[F_TERM] = (struct metrics_family){ "t_term_total", "Ends.", METRICS_COUNTER, METRICS_SUM,
                                         "term", NULL, 3, 0, 0 };
}

static char *render(const struct metrics *m)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    assert_non_null(f);
    assert_int_equal(metrics_render(m, f), 0);
    fclose(f);
    return buf;
}

static void test_layout_and_render(void **state)
{
    (void)state;
    struct metrics_family f[F_COUNT];
    struct metrics m;
    table(f);
    assert_int_equal(metrics_init(&m, f, F_COUNT, 3), 0);
    assert_int_equal(m.n_values, 1 + 1 + 2 + 3 + 3);
    assert_int_equal(m.n_labels, 6);
    assert_int_equal(m.block_len % 64, 0);
    assert_int_equal(f[F_DIR].first, 2);
    uint64_t *b0 = metrics_values(&m, 0), *b1 = metrics_values(&m, 1);

    /* gauges start absent: nothing is printed for them */
    char *t = render(&m);
    assert_non_null(strstr(t, "# TYPE t_conn_total counter\nt_conn_total 0\n"));
    assert_non_null(strstr(t, "# HELP t_active Open now.\n# TYPE t_active gauge\n# HELP"));
    free(t);

    metrics_gauges_zero(&m, 0);
    metrics_gauges_zero(&m, 1);
    metrics_add(b0, &f[F_CONN], 0, 3);
    metrics_add(b1, &f[F_CONN], 0, 4);
    metrics_add(b0, &f[F_ACTIVE], 0, 2);
    metrics_sub(b0, &f[F_ACTIVE], 0, 1);
    metrics_add(b1, &f[F_ACTIVE], 0, 5);
    metrics_add(b0, &f[F_DIR], metrics_slot(&m, 0, F_DIR, "out"), 100);
    metrics_add(b1, &f[F_DIR], metrics_slot(&m, 1, F_DIR, "in"), 7);
    /* run-time labels: claimed per block, summed by name */
    size_t a0 = metrics_slot(&m, 0, F_UP, "be-a"), b_0 = metrics_slot(&m, 0, F_UP, "be-b");
    size_t b_1 = metrics_slot(&m, 1, F_UP, "be-b");
    assert_int_equal(a0, 0);
    assert_int_equal(b_0, 1);
    assert_int_equal(b_1, 0);
    assert_int_equal(metrics_slot(&m, 0, F_UP, "be-a"), 0); /* found again */
    metrics_set(b0, &f[F_UP], a0, 1);
    metrics_set(b0, &f[F_UP], b_0, 1);
    metrics_set(b1, &f[F_UP], b_1, 0); /* worker 1 found be-b down: min says down */
    /* full: the last slot is "other" */
    assert_int_equal(metrics_slot(&m, 0, F_TERM, "--"), 0);
    assert_int_equal(metrics_slot(&m, 0, F_TERM, "CD"), 1);
    assert_int_equal(metrics_slot(&m, 0, F_TERM, "SC"), 2);
    assert_int_equal(metrics_slot(&m, 0, F_TERM, "KD"), 2);
    metrics_add(b0, &f[F_TERM], 0, 1);
    metrics_add(b0, &f[F_TERM], 2, 2);

    assert_int_equal(metrics_sum(&m, F_CONN, 0), 7);
    assert_int_equal(metrics_sum(&m, F_ACTIVE, 0), 6);
    assert_int_equal(metrics_sum_label(&m, F_UP, "be-a"), 1);
    assert_int_equal(metrics_sum_label(&m, F_UP, "be-b"), 0);
    assert_int_equal(metrics_sum_label(&m, F_UP, "be-z"), METRICS_ABSENT);
    assert_int_equal(metrics_sum_label(&m, F_DIR, "out"), 100);

    t = render(&m);
    const char *want =
        "# HELP t_conn_total Connections.\n# TYPE t_conn_total counter\nt_conn_total 7\n"
        "# HELP t_active Open now.\n# TYPE t_active gauge\nt_active 6\n"
        "# HELP t_bytes_total Bytes.\n# TYPE t_bytes_total counter\n"
        "t_bytes_total{direction=\"in\"} 7\nt_bytes_total{direction=\"out\"} 100\n"
        "# HELP t_up Up.\n# TYPE t_up gauge\nt_up{backend=\"be-a\"} 1\nt_up{backend=\"be-b\"} 0\n"
        "# HELP t_term_total Ends.\n# TYPE t_term_total counter\n"
        "t_term_total{term=\"--\"} 1\nt_term_total{term=\"CD\"} 0\nt_term_total{term=\"other\"} 2\n";
    assert_string_equal(t, want);
    free(t);

    /* a dead worker's gauges vanish; its counters stay */
    metrics_block_reset_gauges(&m, 1);
    assert_int_equal(metrics_sum(&m, F_ACTIVE, 0), 1);
    assert_int_equal(metrics_sum_label(&m, F_UP, "be-b"), 1);
    assert_int_equal(metrics_sum(&m, F_CONN, 0), 7);
    metrics_family_absent(&m, 0, F_UP);
    t = render(&m);
    assert_null(strstr(t, "t_up{"));
    free(t);
    metrics_cleanup(&m);
}

static void test_max_and_escaping(void **state)
{
    (void)state;
    struct metrics_family f[1] = { { "t_max", "Max.", METRICS_GAUGE, METRICS_MAX, "l", NULL, 2, 0, 0 } };
    struct metrics m;
    assert_int_equal(metrics_init(&m, f, 1, 2), 0);
    size_t s0 = metrics_slot(&m, 0, 0, "a\"b\\c\nd");
    size_t s1 = metrics_slot(&m, 1, 0, "a\"b\\c\nd");
    metrics_set(metrics_values(&m, 0), &f[0], s0, 3);
    metrics_set(metrics_values(&m, 1), &f[0], s1, 9);
    char *t = render(&m);
    assert_non_null(strstr(t, "t_max{l=\"a\\\"b\\\\c\\nd\"} 9\n"));
    free(t);
    /* a label longer than a slot is cut, and found again by the same long text */
    char long_label[100];
    memset(long_label, 'x', sizeof long_label - 1);
    long_label[sizeof long_label - 1] = '\0';
    size_t s = metrics_slot(&m, 0, 0, long_label);
    assert_int_equal(metrics_slot(&m, 0, 0, long_label), s);
    metrics_cleanup(&m);
}

static void test_bad_tables(void **state)
{
    (void)state;
    struct metrics m;
    struct metrics_family f[1] = { { "t", "T.", METRICS_COUNTER, METRICS_SUM, "l", NULL, 0, 0, 0 } };
    assert_int_equal(metrics_init(&m, f, 1, 1), -1); /* labelled without slots */
    struct metrics_family g[1] = { { "t", "T.", METRICS_COUNTER, METRICS_SUM, NULL, NULL, 0, 0, 0 } };
    assert_int_equal(metrics_init(&m, g, 1, 0), -1); /* no block */
}

/* The mapping is shared: what a forked worker writes, the master reads. */
static void test_shared_across_fork(void **state)
{
    (void)state;
    struct metrics_family f[F_COUNT];
    struct metrics m;
    table(f);
    assert_int_equal(metrics_init(&m, f, F_COUNT, 2), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        metrics_add(metrics_values(&m, 1), &f[F_CONN], 0, 42);
        metrics_slot(&m, 1, F_UP, "from-child");
        _exit(0);
    }
    int st;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    assert_int_equal(metrics_sum(&m, F_CONN, 0), 42);
    char *t = render(&m);
    assert_null(strstr(t, "from-child\"} ")); /* claimed but absent: not printed */
    free(t);
    metrics_cleanup(&m);
}

static void test_proxy_table(void **state)
{
    (void)state;
    struct metrics_family f[PXM_COUNT];
    struct metrics m;
    px_stats_table(f);
    assert_int_equal(metrics_init(&m, f, PXM_COUNT, 3), 0);
    for (size_t i = 0; i < PXM_COUNT; i++)
        assert_non_null(strstr(f[i].name, "sstp_proxy_"));
    /* every rc a client can cause has its own label; others fall in E_NOSPACE */
    size_t uri = px_stats_rc_index(&m, SSTP_E_HTTP_URI), crc = px_stats_rc_index(&m, SSTP_E_PP_V2_CRC);
    assert_string_equal(f[PXM_PROTO_ERRORS].values[uri], "E_HTTP_URI");
    assert_string_equal(f[PXM_PROTO_ERRORS].values[crc], "E_PP_V2_CRC");
    assert_string_equal(f[PXM_PROTO_ERRORS].values[px_stats_rc_index(&m, SSTP_E_BIND_MAC)], "E_NOSPACE");
    metrics_cleanup(&m);
}

static int parse(const char *req, enum admin_method *method, char *path, size_t path_len)
{
    size_t n = strlen(req);
    char *b = (char *)dup_exact(req, n);
    int r = admin_request_parse(b, n, method, path, path_len);
    free(b);
    return r;
}

static void test_admin_request_parse(void **state)
{
    (void)state;
    enum admin_method m;
    char path[32];
    assert_int_equal(parse("GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n", &m, path, sizeof path), 1);
    assert_int_equal(m, ADMIN_GET);
    assert_string_equal(path, "/metrics");
    assert_int_equal(parse("HEAD /readyz?verbose=1 HTTP/1.0\n\n", &m, path, sizeof path), 1);
    assert_int_equal(m, ADMIN_HEAD);
    assert_string_equal(path, "/readyz");
    assert_int_equal(parse("POST /healthz HTTP/1.1\r\n\r\n", &m, path, sizeof path), 1);
    assert_int_equal(m, ADMIN_OTHER);
    assert_int_equal(parse("GET /metrics HTTP/1.1\r\nHost: x\r\n", &m, path, sizeof path), 0);
    assert_int_equal(parse("", &m, path, sizeof path), 0);
    assert_int_equal(parse("GET /metrics\r\n\r\n", &m, path, sizeof path), -1);
    assert_int_equal(parse("GET metrics HTTP/1.1\r\n\r\n", &m, path, sizeof path), -1);
    assert_int_equal(parse("GET /m HTTP/2.0\r\n\r\n", &m, path, sizeof path), -1);
    assert_int_equal(parse("GET /m HTTP/1.x\r\n\r\n", &m, path, sizeof path), -1);
    assert_int_equal(parse("GET /a\x01 HTTP/1.1\r\n\r\n", &m, path, sizeof path), -1);
    /* a path longer than the caller's buffer is cut (and then matches no route) */
    assert_int_equal(parse("GET /0123456789012345678901234567890123456789 HTTP/1.1\r\n\r\n", &m, path,
                           sizeof path), 1);
    assert_int_equal(strlen(path), sizeof path - 1);
    char big[ADMIN_REQ_MAX + 10];
    memset(big, 'a', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    assert_int_equal(parse(big, &m, path, sizeof path), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_layout_and_render),
        cmocka_unit_test(test_max_and_escaping),
        cmocka_unit_test(test_bad_tables),
        cmocka_unit_test(test_shared_across_fork),
        cmocka_unit_test(test_proxy_table),
        cmocka_unit_test(test_admin_request_parse),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
