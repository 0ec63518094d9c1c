/* test_proxy_config.c — unit tests of proxy/config.c: a full file read into
 * the typed struct, the defaults, each list option's parser (bind, cert,
 * server) with its rejections reported as file:line, the rules across
 * options, and environment overrides. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/ktls.h"
#include "proxy/config.h"
#include "tests/unit/proxy_config_file.h"

#define MIN_OK "[listen]\nbind = 127.0.0.1:8443\n[tls]\ncert = /c.pem\n[backends]\nserver = b1 10.0.0.1:4433\n"

static void test_full_file(void **state)
{
    (void)state;
    struct px_config c;
    char err[512];
    const char *text =
        "[proxy]\nid = edge-7\nworkers = 3\nmax_conns = 500\nlog_format = json\n"
        "[listen]\nbind = *:443\nbind = 10.1.2.3:8443 proxy\nproxy_allow = 10.0.0.0/8, 192.0.2.1\n"
        "proxy_untrusted = direct\nhandshake_timeout = 2500ms\nmax_head = 2048\nhttp_errors = silent\n"
        "[tls]\ncert = /etc/a.crt /etc/a.key sni=a.example,*.b.example default\n"
        "cert = /etc/r.pem ocsp=/etc/r.ocsp\nclient_ca = /etc/ca.pem\nclient_verify = optional\n"
        "tickets = no\nticket_rotate = 2h\nalpn = off\nktls = on\n"
        "[backends]\nserver = b1 10.0.0.1:4433 weight=2\nserver = b2 [2001:db8::2]:4433 tls sni=b2.internal\n"
        "policy = wrr\nretries = 4\nconnect_timeout = 1.5s\nca = /etc/be-ca.pem\ncert = /etc/px.pem\n"
        "[session]\nidle_timeout = 10m\n"
        "[admin]\naddress = [::1]:9999\n";
    assert_int_equal(load(text, &c, err, sizeof err), 0);
    assert_string_equal(c.id, "edge-7");
    assert_int_equal(c.workers, 3);
    assert_int_equal(px_config_workers(&c), 3);
    assert_int_equal(c.max_conns, 500);
    assert_int_equal(c.log_format, 1);
    assert_int_equal(c.binds.n, 2);
    assert_string_equal(c.binds.items[0].text, "*:443");
    assert_false(c.binds.items[0].proxy);
    assert_true(c.binds.items[1].proxy);
    assert_int_equal(c.proxy_allow.n, 2);
    assert_int_equal(c.proxy_untrusted, PX_UNTRUSTED_DIRECT);
    assert_true(c.handshake_timeout > 2.49 && c.handshake_timeout < 2.51);
    assert_int_equal(c.max_head, 2048);
    assert_int_equal(c.http_errors, PX_HTTP_ERRORS_SILENT);
    assert_int_equal(c.certs.n, 2);
    assert_string_equal(c.certs.items[0].cert, "/etc/a.crt");
    assert_string_equal(c.certs.items[0].key, "/etc/a.key");
    assert_int_equal(c.certs.items[0].n_names, 2);
    assert_string_equal(c.certs.items[0].names[1], "*.b.example");
    assert_true(c.certs.items[0].is_default);
    assert_string_equal(c.certs.items[1].key, "/etc/r.pem"); /* key in the certificate file */
    assert_string_equal(c.certs.items[1].ocsp, "/etc/r.ocsp");
    assert_false(c.certs.items[1].is_default);
    assert_int_equal(c.client_verify, PX_VERIFY_OPTIONAL);
    assert_false(c.tickets);
    assert_true(c.ticket_rotate == 7200);
    assert_false(c.alpn);
    assert_int_equal(c.ktls, KTLS_ON);
    assert_int_equal(c.servers.n, 2);
    assert_true(c.servers.items[1].tls);
    assert_int_equal(c.policy, 1);
    assert_int_equal(c.retries, 4);
    assert_true(c.idle_timeout == 600);
    assert_string_equal(c.admin, "[::1]:9999");
    px_config_free(&c);
}

static void test_defaults(void **state)
{
    (void)state;
    struct px_config c;
    char err[512];
    assert_int_equal(load(MIN_OK, &c, err, sizeof err), 0);
    assert_string_equal(c.id, "proxy-1");
    assert_int_equal(c.workers, 0); /* auto */
    assert_true(px_config_workers(&c) >= 1);
    assert_int_equal(c.max_conns, 0);
    assert_int_equal(c.max_head, 4096);
    assert_true(c.handshake_timeout == 10 && c.request_timeout == 10);
    assert_int_equal(c.policy, 0); /* leastconn */
    assert_int_equal(c.retries, 2);
    assert_true(c.connect_timeout == 5 && c.down_time == 10);
    assert_true(c.tickets && c.alpn);
    assert_int_equal(c.ktls, KTLS_AUTO); /* TLS 1.2 in the kernel where it can */
    assert_true(c.ticket_rotate == 3600);
    assert_int_equal(c.client_verify, PX_VERIFY_NONE);
    assert_true(c.idle_timeout == 300 && c.fin_timeout == 30 && c.drain_timeout == 30);
    assert_string_equal(c.admin, "127.0.0.1:9180");
    assert_non_null(c.ciphers);
    assert_string_equal(c.groups, "X25519:P-256:P-384"); /* no finite-field DH by default */
    assert_int_equal(c.client_crl_check, PX_CRL_LEAF);
    assert_null(c.client_crl);
    assert_null(c.ticket_key_file);
    assert_null(c.keylog_file);
    assert_false(c.tenant_strict); /* a tenantid without groups goes to the default pool */
    px_config_free(&c);
}

static void test_line_errors(void **state)
{
    (void)state;
    expect_error("[proxy]\nworkers = 0\n", ":2: proxy.workers", "auto or 1..256");
    expect_error("[proxy]\nworkers = many\n", ":2:", "auto or 1..256");
    expect_error("[proxy]\nmax_conns = -3\n", ":2: proxy.max_conns", "auto or");
    expect_error("[listen]\nbind = localhost:443\n", ":2: listen.bind", "is not ip:port");
    expect_error("[listen]\nbind = 127.0.0.1:443 proxy proxy\n", ":2:", "unknown or repeated bind option");
    expect_error("[listen]\nbind = 127.0.0.1:443 ssl\n", ":2:", "unknown or repeated bind option");
    expect_error("[listen]\nproxy_allow = 10.0.0.0/33\n", ":2: listen.proxy_allow", "not an address");
    expect_error("\n[tls]\ncert = ocsp=/x\n", ":3: tls.cert", "certificate file first");
    expect_error("[tls]\ncert = /a.crt /a.key /b.key\n", ":2:", "unknown or repeated cert option");
    expect_error("[tls]\ncert = /a.crt sni=\n", ":2:", "sni= wants host names");
    expect_error("[tls]\ncert = /a.crt sni=a,,b\n", ":2:", "sni= wants host names");
    expect_error("[tls]\ncert = /a.crt default default\n", ":2:", "unknown or repeated cert option");
    expect_error("[tls]\ncert = /a.crt ocsp=/o1 ocsp=/o2\n", ":2:", "unknown or repeated cert option");
    expect_error("[tls]\ncert = /a.crt color=red\n", ":2:", "unknown or repeated cert option");
    expect_error("[tls]\nclient_verify = maybe\n", ":2: tls.client_verify", "not one of the choices");
    expect_error("[tls]\nticket_rotate = 10s\n", ":2: tls.ticket_rotate", "outside");
    expect_error("[tls]\nktls = yes\n", ":2: tls.ktls", "not one of the choices");
    expect_error("[tls]\nclient_crl_check = all\n", ":2: tls.client_crl_check", "not one of the choices");
    expect_error("[backends]\nserver = b1 10.0.0.1:1\nserver = b1 10.0.0.2:1\n", ":3: backends.server",
                 "defined twice");
    expect_error("[backends]\nretries = 8\n", ":2: backends.retries", "outside");
    expect_error("[backends]\npolicy = random\n", ":2: backends.policy", "not one of the choices");
    expect_error("[admin]\naddress = somewhere\n", ":2: admin.address", "is not ip:port");
    expect_error("[proxy]\nfoo = 1\n", ":2: unknown option", "proxy.foo");
    expect_error("[nosuch]\nfoo = 1\n", ":2: unknown section", "nosuch");
}

/* backends.web: off by default; proxy_header= and headers= in any order */
static void test_web_option(void **state)
{
    (void)state;
    struct px_config c;
    char err[512];
    assert_int_equal(load(MIN_OK, &c, err, sizeof err), 0);
    assert_false(c.web.on || c.web.pp2 || c.web.forwarded);
    px_config_free(&c);
    assert_int_equal(load(MIN_OK "web = 10.0.0.40:8080 headers=forwarded\n", &c, err, sizeof err), 0);
    assert_true(c.web.on && c.web.forwarded && !c.web.pp2);
    assert_string_equal(c.web.text, "10.0.0.40:8080");
    px_config_free(&c);
    assert_int_equal(load(MIN_OK "web = [2001:db8::40]:80 headers=forwarded proxy_header=v2\n", &c, err,
                          sizeof err), 0);
    assert_true(c.web.on && c.web.forwarded && c.web.pp2);
    px_config_free(&c);
    assert_int_equal(load(MIN_OK "web = 10.0.0.40:8080 headers=forwarded headers=none\n", &c, err, sizeof err),
                     0);
    assert_true(c.web.on && !c.web.forwarded);
    px_config_free(&c);
    expect_error("[backends]\nweb = 10.0.0.40:8080 headers=x-forwarded-for\n", ":2: backends.web",
                 "unknown web option 'headers=x-forwarded-for'");
    expect_error("[backends]\nweb = 10.0.0.40:8080 forwarded\n", ":2: backends.web", "unknown web option");
}

static void test_cross_checks(void **state)
{
    (void)state;
    expect_error("[tls]\ncert = /c.pem\n[backends]\nserver = b1 10.0.0.1:1\n", "", "no listener");
    expect_error("[listen]\nbind = 127.0.0.1:1\n[backends]\nserver = b1 10.0.0.1:1\n", "", "no certificate");
    expect_error("[listen]\nbind = 127.0.0.1:1\n[tls]\ncert = /c.pem\n", "", "no backend");
    expect_error(MIN_OK "[listen]\nbind = 127.0.0.1:2 proxy\n", "", "proxy_allow is empty");
    expect_error(MIN_OK "[tls]\nclient_verify = required\n", "", "needs tls.client_ca");
    expect_error(MIN_OK "[tls]\nclient_crl = /crl.pem\n", "", "tls.client_crl needs tls.client_verify");
    expect_error(MIN_OK "[backends]\nserver = b2 10.0.0.2:1 tls\n", "", "needs backends.ca");
    expect_error(MIN_OK "[backends]\nkey = /k.pem\n", "", "backends.key without backends.cert");
    char id[300];
    snprintf(id, sizeof id, MIN_OK "[proxy]\nid = %065d\n", 0);
    expect_error(id, "", "proxy.id must be 1-64 bytes");
}

static void test_env_overrides(void **state)
{
    (void)state;
    struct px_config c;
    char err[512];
    setenv("SSTP_PROXY_PROXY_ID", "from-env", 1);
    setenv("SSTP_PROXY_BACKENDS_SERVER", "b9 10.0.0.9:4433", 1);
    int rc = load(MIN_OK, &c, err, sizeof err);
    unsetenv("SSTP_PROXY_PROXY_ID");
    unsetenv("SSTP_PROXY_BACKENDS_SERVER");
    assert_int_equal(rc, 0);
    assert_string_equal(c.id, "from-env");
    assert_int_equal(c.servers.n, 1); /* the environment replaces the file's list */
    assert_string_equal(c.servers.items[0].name, "b9");
    px_config_free(&c);
    setenv("SSTP_PROXY_LISTEN_MAX_HEAD", "1", 1);
    rc = load(MIN_OK, &c, err, sizeof err);
    unsetenv("SSTP_PROXY_LISTEN_MAX_HEAD");
    assert_int_equal(rc, -1);
    assert_non_null(strstr(err, "SSTP_PROXY_LISTEN_MAX_HEAD"));
    px_config_free(&c);
}

static void test_help_lists_every_option(void **state)
{
    (void)state;
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    assert_non_null(f);
    cfg_print_help(px_config_table, px_config_table_len, f);
    fclose(f);
    for (size_t i = 0; i < px_config_table_len; i++) {
        char want[96];
        snprintf(want, sizeof want, "\n;%s =", px_config_table[i].name);
        if (!strstr(buf, want))
            fail_msg("--help lacks %s", px_config_table[i].name);
    }
    free(buf);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_full_file),
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_line_errors),
        cmocka_unit_test(test_web_option),
        cmocka_unit_test(test_cross_checks),
        cmocka_unit_test(test_env_overrides),
        cmocka_unit_test(test_help_lists_every_option),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
