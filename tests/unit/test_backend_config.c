/* test_backend_config.c — backend/config.c: be_config_load on real files.
 *
 * Every way a file can be refused, each checked for the exact "file:line:"
 * prefix (or "file:" for the checks across options, which have no single
 * line, and "env NAME:" for environment overrides) and the option named in
 * the reason; what a valid file loads to; and that be_config_free releases
 * partial results (the suite runs under ASan with leak detection). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "backend/config.h"

/* A complete, valid file; tests replace or append lines. Line numbers:
 *  1 [backend]  2 id  3 [listen]  4 tls  5 [tls]  6 cert  7 key */
#define BASE "[backend]\nid = t1\n[listen]\ntls = 127.0.0.1:4443\n[tls]\ncert = /c.pem\nkey = /k.pem\n"

struct fixture {
    char path[64];
    struct be_config cfg;
    char err[512];
};

/* Removes every SSTP_BACKEND_<SECTION>_<NAME> override from the environment. */
static void clear_env(void)
{
    char name[128];
    for (size_t i = 0; i < be_config_table_len; i++)
        unsetenv(cfg_env_name(name, sizeof name, BE_ENV_PREFIX, &be_config_table[i]));
}

static int setup(void **state)
{
    clear_env();
    struct fixture *f = calloc(1, sizeof *f);
    if (!f)
        return -1;
    snprintf(f->path, sizeof f->path, "/tmp/test_backend_config_%d.conf", (int)getpid());
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    be_config_free(&f->cfg);
    unlink(f->path);
    free(f);
    clear_env();
    return 0;
}

/* Writes text to the fixture's file and loads it into a zeroed config. */
static int load(struct fixture *f, const char *text)
{
    FILE *fp = fopen(f->path, "w");
    assert_non_null(fp);
    assert_int_equal(fputs(text, fp) >= 0, 1);
    assert_int_equal(fclose(fp), 0);
    be_config_free(&f->cfg);
    memset(&f->cfg, 0, sizeof f->cfg);
    memset(f->err, 0, sizeof f->err);
    return be_config_load(&f->cfg, f->path, f->err, sizeof f->err);
}

/* The load fails with "path:line: " + a reason containing `what`
 * (line 0: "path: " without a line). */
static void expect_fail(struct fixture *f, const char *text, int line, const char *what)
{
    char prefix[128];
    int rc = load(f, text);
    if (line > 0)
        snprintf(prefix, sizeof prefix, "%s:%d: ", f->path, line);
    else
        snprintf(prefix, sizeof prefix, "%s: ", f->path);
    if (rc != -1 || strncmp(f->err, prefix, strlen(prefix)) != 0 || !strstr(f->err, what))
        fail_msg("file:\n%s\nrc=%d err=\"%s\", want prefix \"%s\" and \"%s\"", text, rc, f->err,
                 prefix, what);
}

static void expect_ok(struct fixture *f, const char *text)
{
    int rc = load(f, text);
    if (rc != 0)
        fail_msg("file:\n%s\nrefused: %s", text, f->err);
}

/* ---- valid files ---- */

static void test_defaults(void **state)
{
    struct fixture *f = *state;
    expect_ok(f, BASE);
    struct be_config *c = &f->cfg;
    assert_string_equal(c->id, "t1");
    assert_string_equal(c->listen_tls, "127.0.0.1:4443");
    assert_true(c->listen_proxy == NULL || c->listen_proxy[0] == '\0');
    assert_int_equal(c->hash, BE_HASH_SHA256);
    assert_true(c->negotiation_timeout == 60.0 && c->hello_interval == 60.0);
    assert_true(c->abort_t1 == 3.0 && c->abort_t2 == 1.0);
    assert_true(c->disconnect_t1 == 5.0 && c->disconnect_t2 == 1.0);
    assert_true(c->handshake_timeout == 10.0 && c->kill_grace == 3.0);
    assert_int_equal(c->max_head, 4096);
    assert_int_equal(c->max_sessions, 1000);
    assert_int_equal(c->max_negotiating, 200);
    assert_int_equal(c->per_source_rate, 20);
    assert_int_equal(c->per_source_burst, 40);
    assert_int_equal(c->max_negotiating_per_source, 25); /* max_negotiating / 8 */
    assert_true(c->connect_request_timeout == 5.0);
    assert_int_equal(c->source_prefix4, 32);
    assert_int_equal(c->source_prefix6, 64);
    assert_string_equal(c->pppd_path, "/usr/sbin/pppd");
    assert_int_equal(c->pppd_pool_size, 0); /* the pool is off unless asked for */
    assert_int_equal(c->trusted.n_sha256 + c->trusted.n_sha1, 0);
    assert_int_equal(c->proxy_allow.n, 0);
    assert_int_equal(c->mtls_proxy_header, BE_PP_INSIDE); /* sstp-proxy's placement */
}

/* listen.mtls_proxy_header: HAProxy's ssl send-proxy-v2 puts it before TLS */
static void test_mtls_proxy_header(void **state)
{
    struct fixture *f = *state;
    expect_ok(f, BASE "[listen]\nmtls_proxy_header = before\n");
    assert_int_equal(f->cfg.mtls_proxy_header, BE_PP_BEFORE);
    expect_ok(f, BASE "[listen]\nmtls_proxy_header = none\n");
    assert_int_equal(f->cfg.mtls_proxy_header, BE_PP_NONE);
    expect_fail(f, BASE "[listen]\nmtls_proxy_header = after\n", 9, "listen.mtls_proxy_header");
}

static void test_values(void **state)
{
    struct fixture *f = *state;
    expect_ok(f, "[backend]\nlog_level = DEBUG\nlog_format = json\n"
                 "[listen]\nproxy = 10.0.0.2:4433\nmtls = [::1]:4434\n"
                 "proxy_allow = 10.0.0.0/8, 192.168.1.1\nproxy_allow = ::1\n"
                 "[tls]\ncert = /c\nkey = /k\nproxy_ca = /ca\n"
                 "[sstp]\nhash = both\nnegotiation_timeout = 1500ms\nhello_interval = 2m\n"
                 "abort_timeout = 0.1s\nmax_head = 8192\n"
                 "trusted_cert_hash = 7993EF314C493DACE9F02D60E7E61C84B6690AAFE9D7AEEA92CBBE8AD599422D\n"
                 "trusted_cert_hash = 58:26:B6:29:BD:A5:9B:8E:6F:D8:DC:D2:62:2F:D3:4C:53:48:05:A5, "
                 "0000000000000000000000000000000000000000000000000000000000000001\n"
                 "[pppd]\nkill_grace = 60s\n[limits]\nper_source_rate = 0\nmax_sessions = 1000000\n");
    struct be_config *c = &f->cfg;
    assert_int_equal(c->hash, BE_HASH_BOTH);
    assert_true(c->negotiation_timeout == 1.5);
    assert_true(c->hello_interval == 120.0);
    assert_true(c->abort_t1 > 0.0999 && c->abort_t1 < 0.1001);
    assert_true(c->kill_grace == 60.0);
    assert_int_equal(c->max_head, 8192);
    assert_int_equal(c->per_source_rate, 0);
    assert_int_equal(c->max_sessions, 1000000);
    /* repeated lines accumulate: 2 + 1 CIDRs, 2 SHA-256 + 1 SHA-1 hashes */
    assert_int_equal(c->proxy_allow.n, 3);
    assert_int_equal(c->trusted.n_sha256, 2);
    assert_int_equal(c->trusted.n_sha1, 1);
    static const uint8_t h256[4] = { 0x79, 0x93, 0xEF, 0x31 };
    static const uint8_t h1[4] = { 0x58, 0x26, 0xB6, 0x29 };
    assert_memory_equal(c->trusted.sha256[0], h256, sizeof h256);
    assert_int_equal(c->trusted.sha256[1][31], 1);
    assert_memory_equal(c->trusted.sha1[0], h1, sizeof h1);
    assert_int_equal(c->trusted.sha1[0][19], 0xA5);
}

/* The per-source cap follows max_negotiating unless set: one source may
 * never hold more than an eighth of the negotiation slots by default. */
static void test_per_source_default(void **state)
{
    struct fixture *f = *state;
    expect_ok(f, BASE "[limits]\nmax_negotiating = 16\n");
    assert_int_equal(f->cfg.max_negotiating_per_source, 2);
    expect_ok(f, BASE "[limits]\nmax_negotiating = 5\n");
    assert_int_equal(f->cfg.max_negotiating_per_source, 1);
    expect_ok(f, BASE "[limits]\nmax_negotiating = 16\nmax_negotiating_per_source = 0\n");
    assert_int_equal(f->cfg.max_negotiating_per_source, 0);
    expect_ok(f, BASE "[limits]\nmax_negotiating_per_source = 7\n");
    assert_int_equal(f->cfg.max_negotiating_per_source, 7);
}

static void test_reload_frees(void **state)
{
    /* a second load into a freed config, and a failure after lists were
     * filled, leak nothing (ASan) */
    struct fixture *f = *state;
    expect_ok(f, BASE "[sstp]\ntrusted_cert_hash = "
                 "0000000000000000000000000000000000000000000000000000000000000001\n");
    expect_fail(f, "[listen]\nproxy_allow = 10.0.0.0/8\nproxy = 1.2.3.4:5\n[sstp]\n"
                   "trusted_cert_hash = 0000000000000000000000000000000000000001\n"
                   "hash = md5\n", 6, "sstp.hash");
}

/* ---- refused on a line (cfg_load through the backend's table) ---- */

static void test_file_missing(void **state)
{
    struct fixture *f = *state;
    unlink(f->path);
    memset(&f->cfg, 0, sizeof f->cfg);
    assert_int_equal(be_config_load(&f->cfg, f->path, f->err, sizeof f->err), -1);
    char want[128];
    snprintf(want, sizeof want, "%s: ", f->path);
    assert_true(strncmp(f->err, want, strlen(want)) == 0);
    assert_non_null(strstr(f->err, "No such file"));
}

static void test_unknown_names(void **state)
{
    struct fixture *f = *state;
    expect_fail(f, BASE "[sstp]\nhello = 5s\n", 9, "unknown option 'sstp.hello'");
    expect_fail(f, "[backend]\nid = x\n[listn]\ntls = 1.2.3.4:5\n", 4, "unknown section 'listn'");
    expect_fail(f, "id = x\n" BASE, 1, "outside any [section]");
}

static void test_syntax(void **state)
{
    struct fixture *f = *state;
    expect_fail(f, BASE "[sstp\nhash = sha1\n", 8, "syntax error");
    expect_fail(f, BASE "[sstp]\nhash sha1\n", 9, "syntax error");
    /* the first problem wins: a bad value before a syntax error */
    expect_fail(f, BASE "[sstp]\nhash = md5\n[pppd\n", 9, "sstp.hash");
}

static void test_bad_int(void **state)
{
    struct fixture *f = *state;
    expect_fail(f, BASE "[limits]\nmax_sessions = lots\n", 9, "limits.max_sessions: 'lots' is not an integer");
    expect_fail(f, BASE "[limits]\nmax_sessions = 12abc\n", 9, "not an integer");
    expect_fail(f, BASE "[limits]\nmax_sessions = 0\n", 9, "limits.max_sessions: 0 is outside [1, 1000000]");
    expect_fail(f, BASE "[limits]\nmax_negotiating = 1000001\n", 9, "limits.max_negotiating");
    expect_fail(f, BASE "[limits]\nper_source_rate = -1\n", 9, "limits.per_source_rate");
    expect_fail(f, BASE "[limits]\nper_source_burst = 0\n", 9, "limits.per_source_burst");
    expect_fail(f, BASE "[limits]\nsource_prefix4 = 33\n", 9, "limits.source_prefix4");
    expect_fail(f, BASE "[limits]\nsource_prefix6 = 0\n", 9, "limits.source_prefix6");
    expect_fail(f, BASE "[limits]\nmax_negotiating_per_source = -2\n", 9, "limits.max_negotiating_per_source");
    expect_fail(f, BASE "[sstp]\nconnect_request_timeout = 0.1s\n", 9, "sstp.connect_request_timeout");
    expect_fail(f, BASE "[sstp]\nmax_head = 255\n", 9, "sstp.max_head: 255 is outside [256, 8192]");
    expect_fail(f, BASE "[sstp]\nmax_head = 8193\n", 9, "sstp.max_head");
    expect_fail(f, BASE "[backend]\nweight = 0\n", 9, "backend.weight");
}

static void test_bad_duration(void **state)
{
    struct fixture *f = *state;
    expect_fail(f, BASE "[sstp]\nhello_interval = soon\n", 9, "sstp.hello_interval: 'soon' is not a duration");
    expect_fail(f, BASE "[sstp]\nhello_interval = 5d\n", 9, "not a duration");
    expect_fail(f, BASE "[sstp]\nhello_interval = -5s\n", 9, "not a duration");
    expect_fail(f, BASE "[sstp]\nhello_interval = 500ms\n", 9, "sstp.hello_interval: 0.5s is outside [1s, 600s]");
    expect_fail(f, BASE "[sstp]\nnegotiation_timeout = 11m\n", 9, "sstp.negotiation_timeout");
    expect_fail(f, BASE "[sstp]\nabort_timeout = 50ms\n", 9, "sstp.abort_timeout");
    expect_fail(f, BASE "[sstp]\nabort_linger = 61s\n", 9, "sstp.abort_linger");
    expect_fail(f, BASE "[sstp]\ndisconnect_timeout = 0\n", 9, "sstp.disconnect_timeout");
    expect_fail(f, BASE "[sstp]\ndisconnect_linger = 2m\n", 9, "sstp.disconnect_linger");
    expect_fail(f, BASE "[sstp]\nhandshake_timeout = 0.4s\n", 9, "sstp.handshake_timeout");
    expect_fail(f, BASE "[pppd]\nkill_grace = 90s\n", 9, "pppd.kill_grace");
    /* pppd.pool_size: 0..64 (each member is a root pppd, started at once) */
    expect_ok(f, BASE "[pppd]\npool_size = 2\n");
    assert_int_equal(f->cfg.pppd_pool_size, 2);
    expect_ok(f, BASE "[pppd]\npool_size = 64\n");
    assert_int_equal(f->cfg.pppd_pool_size, 64);
    expect_fail(f, BASE "[pppd]\npool_size = 65\n", 9, "pppd.pool_size: 65 is outside [0, 64]");
    expect_fail(f, BASE "[pppd]\npool_size = -1\n", 9, "pppd.pool_size");
    expect_fail(f, BASE "[pppd]\npool_size = two\n", 9, "pppd.pool_size: 'two' is not an integer");
}

static void test_bad_enum(void **state)
{
    struct fixture *f = *state;
    expect_fail(f, BASE "[sstp]\nhash = md5\n", 9, "sstp.hash: 'md5' is not one of the choices");
    expect_fail(f, BASE "[backend]\nlog_level = verbose\n", 9, "backend.log_level");
    expect_fail(f, BASE "[backend]\nlog_format = xml\n", 9, "backend.log_format");
    expect_fail(f, BASE "[policy]\nper_user_action = kick\n", 9, "policy.per_user_action");
}

static void test_bad_address(void **state)
{
    struct fixture *f = *state;
    expect_fail(f, "[listen]\ntls = localhost\n", 2, "listen.tls: 'localhost' is not ip:port");
    expect_fail(f, "[listen]\nproxy = 10.0.0.1\n", 2, "listen.proxy");
    expect_fail(f, "[listen]\nmtls = 10.0.0.1:99999\n", 2, "listen.mtls");
    expect_fail(f, "[listen]\ntls = [::1]443\n", 2, "listen.tls");
    expect_fail(f, "[listen]\ntls = [::1:443\n", 2, "listen.tls");
    expect_fail(f, BASE "[backend]\nadvertise = nowhere\n", 9, "backend.advertise");
}

static void test_bad_cidr(void **state)
{
    struct fixture *f = *state;
    expect_fail(f, BASE "[listen]\nproxy_allow = 10.0.0.0/33\n", 9,
                "listen.proxy_allow: '10.0.0.0/33' is not an address or CIDR");
    expect_fail(f, BASE "[listen]\nproxy_allow = 10.0.0.1, example.com\n", 9, "'example.com'");
    expect_fail(f, BASE "[listen]\nproxy_allow = ::1/129\n", 9, "listen.proxy_allow");
}

static void test_bad_hash(void **state)
{
    struct fixture *f = *state;
    /* 62 hex digits: neither length */
    expect_fail(f, BASE "[sstp]\ntrusted_cert_hash = "
                   "7993EF314C493DACE9F02D60E7E61C84B6690AAFE9D7AEEA92CBBE8AD599422D\n"
                   "trusted_cert_hash = 7993EF314C493DACE9F02D60E7E61C84B6690AAFE9D7AEEA92CBBE8AD5994\n",
                10, "sstp.trusted_cert_hash: '7993EF31");
    expect_fail(f, BASE "[sstp]\ntrusted_cert_hash = "
                   "Z993EF314C493DACE9F02D60E7E61C84B6690AAFE9D7AEEA92CBBE8AD599422D\n",
                9, "is not a SHA-256 (64 hex digits) or SHA-1 (40) hash");
    /* 100 digits: too long for either hash (the 255-byte cap of
     * parse_hashes is beyond a file line; test_env reaches it) */
    char text[600];
    snprintf(text, sizeof text, "%s[sstp]\ntrusted_cert_hash = %0100d\n", BASE, 0);
    expect_fail(f, text, 9, "sstp.trusted_cert_hash: '000");
}

static void expect_whole_or_refused(struct fixture *f, const char *text, int long_line,
                                    int later_line, const char *later_what)
{
    char at_long[128], at_later[128];
    int rc = load(f, text);
    snprintf(at_long, sizeof at_long, "%s:%d: ", f->path, long_line);
    snprintf(at_later, sizeof at_later, "%s:%d: ", f->path, later_line);
    if (rc == -1 && strncmp(f->err, at_long, strlen(at_long)) == 0)
        return;
    if (later_what) {
        if (rc == -1 && strncmp(f->err, at_later, strlen(at_later)) == 0 && strstr(f->err, later_what))
            return;
    } else if (rc == 0 && f->cfg.proxy_allow.n == 20) {
        return;
    }
    fail_msg("file:\n%s\nrc=%d n=%zu err=\"%s\": want the 20 CIDRs, or a refusal at line %d%s",
             text, rc, (size_t)f->cfg.proxy_allow.n, f->err, long_line,
             later_what ? " or at the later line" : "");
}

static void test_long_lines(void **state)
{
    struct fixture *f = *state;
    char text[1024];
    for (int pad = 0; pad < 14; pad++) {
        /* line 10: "proxy_allow = " + pad spaces + 20 CIDRs, about 280 bytes;
         * some pads split it inside a CIDR ("10.13.0.0/1" | "6, ...") */
        int n = snprintf(text, sizeof text, "%s[listen]\nproxy = 10.0.0.2:4433\nproxy_allow = %*s",
                         BASE, pad, "");
        for (int i = 0; i < 20; i++)
            n += snprintf(text + n, sizeof text - (size_t)n, "%s10.%d.0.0/16", i ? ", " : "", i);
        n += snprintf(text + n, sizeof text - (size_t)n, "\n");
        expect_whole_or_refused(f, text, 10, 0, NULL);
        snprintf(text + n, sizeof text - (size_t)n, "[sstp]\nhash = md5\n");
        expect_whole_or_refused(f, text, 10, 12, "sstp.hash");
    }
}

/* ---- environment overrides (SSTP_BACKEND_<SECTION>_<NAME>) ---- */

static void test_env(void **state)
{
    struct fixture *f = *state;
    setenv("SSTP_BACKEND_LIMITS_MAX_SESSIONS", "7", 1);
    setenv("SSTP_BACKEND_LISTEN_PROXY_ALLOW", "10.0.0.0/8", 1);
    expect_ok(f, BASE "[limits]\nmax_sessions = 9\n[listen]\nproxy_allow = 192.168.0.1\n");
    assert_int_equal(f->cfg.max_sessions, 7);       /* the environment wins */
    assert_int_equal(f->cfg.proxy_allow.n, 1);      /* a list is replaced, not appended to */
    /* the environment may supply what the file lacks */
    setenv("SSTP_BACKEND_LISTEN_PROXY", "127.0.0.1:4433", 1);
    expect_ok(f, "[backend]\nid = env\n");
    assert_string_equal(f->cfg.listen_proxy, "127.0.0.1:4433");
    clear_env();
    /* a bad value names the variable (there is no file line) */
    setenv("SSTP_BACKEND_SSTP_HASH", "md5", 1);
    assert_int_equal(load(f, BASE), -1);
    assert_string_equal(f->err, "env SSTP_BACKEND_SSTP_HASH: 'md5' is not one of the choices");
    clear_env();
    setenv("SSTP_BACKEND_PPPD_KILL_GRACE", "1h", 1);
    assert_int_equal(load(f, BASE), -1);
    assert_non_null(strstr(f->err, "env SSTP_BACKEND_PPPD_KILL_GRACE: 3600s is outside"));
    clear_env();
    setenv("SSTP_BACKEND_LISTEN_TLS", "nowhere", 1);
    assert_int_equal(load(f, "[backend]\nid = x\n"), -1);
    assert_non_null(strstr(f->err, "env SSTP_BACKEND_LISTEN_TLS: 'nowhere' is not ip:port"));
    clear_env();
    /* only the environment can carry a value past libinih's line buffer */
    char big[301];
    memset(big, 'a', 300);
    big[300] = '\0';
    setenv("SSTP_BACKEND_SSTP_TRUSTED_CERT_HASH", big, 1);
    assert_int_equal(load(f, BASE), -1);
    assert_string_equal(f->err, "env SSTP_BACKEND_SSTP_TRUSTED_CERT_HASH: hash too long");
    /* a file error is reported before the environment is looked at */
    setenv("SSTP_BACKEND_SSTP_HASH", "md5", 1);
    expect_fail(f, BASE "[limits]\nmax_sessions = 0\n", 9, "limits.max_sessions");
}

/* admin.address, the proxy's name; backend.admin, its old name here, is
 * still read (file or environment) and flagged for main()'s warning */
static void test_admin_address(void **state)
{
    struct fixture *f = *state;
    expect_ok(f, BASE);
    assert_null(f->cfg.admin);                         /* off by default */
    assert_false(f->cfg.admin_old_name_used);
    expect_ok(f, BASE "[admin]\naddress = 127.0.0.1:9181\n");
    assert_string_equal(f->cfg.admin, "127.0.0.1:9181");
    assert_false(f->cfg.admin_old_name_used);
    expect_ok(f, BASE "[backend]\nadmin = 127.0.0.1:9182\n");
    assert_string_equal(f->cfg.admin, "127.0.0.1:9182");
    assert_true(f->cfg.admin_old_name_used);
    /* both: the new name wins, the old one is still reported */
    expect_ok(f, BASE "[backend]\nadmin = 127.0.0.1:9182\n[admin]\naddress = 127.0.0.1:9181\n");
    assert_string_equal(f->cfg.admin, "127.0.0.1:9181");
    assert_string_equal(f->cfg.admin_old_name, "127.0.0.1:9182");
    assert_true(f->cfg.admin_old_name_used);
    /* the old name is checked like the new one */
    expect_fail(f, BASE "[backend]\nadmin = nowhere\n", 9, "backend.admin");
    /* the environment: the old variable still works, the new one wins */
    setenv("SSTP_BACKEND_BACKEND_ADMIN", "127.0.0.1:9183", 1);
    expect_ok(f, BASE);
    assert_string_equal(f->cfg.admin, "127.0.0.1:9183");
    assert_true(f->cfg.admin_old_name_used);
    setenv("SSTP_BACKEND_ADMIN_ADDRESS", "127.0.0.1:9184", 1);
    expect_ok(f, BASE);
    assert_string_equal(f->cfg.admin, "127.0.0.1:9184");
}

/* ---- refused across options (no single line to name) ---- */

static void test_fleet_cross_checks(void **state)
{
    struct fixture *f = *state;
    expect_fail(f, BASE "[policy]\nmax_sessions_per_user = 2\n", 0, "needs redis.url");
    expect_fail(f, BASE "[redis]\nurl = redis://127.0.0.1\nheartbeat = 5s\nregistry_ttl = 4s\n", 0,
                "registry_ttl must be longer");
    expect_ok(f, BASE "[redis]\nurl = redis://127.0.0.1\n[policy]\nmax_sessions_per_user = 2\n");
    /* a wildcard listener would be registered as 0.0.0.0:4433: advertise is needed */
#define WILD "[backend]\nid = t1\n[tls]\ncert = /c.pem\nkey = /k.pem\n[redis]\nurl = redis://127.0.0.1\n"
    expect_fail(f, WILD "[listen]\nproxy = 0.0.0.0:4433\nproxy_allow = 10.0.0.0/8\n", 0,
                "listen.proxy = 0.0.0.0:4433 is a wildcard address");
    expect_fail(f, WILD "[listen]\nproxy = *:4433\nproxy_allow = 10.0.0.0/8\n", 0, "set backend.advertise");
    expect_fail(f, WILD "[listen]\nproxy = [::]:4433\nproxy_allow = 10.0.0.0/8\n", 0, "wildcard");
    expect_fail(f, WILD "[listen]\ntls = 0.0.0.0:443\n", 0, "listen.tls = 0.0.0.0:443");
    expect_fail(f, WILD "[listen]\nproxy = 10.0.0.2:4433\nproxy_allow = 10.0.0.0/8\n"
                "[backend]\nadvertise = 0.0.0.0:4433\n", 0, "backend.advertise = 0.0.0.0:4433");
    expect_ok(f, WILD "[listen]\nproxy = 0.0.0.0:4433\nproxy_allow = 10.0.0.0/8\n"
              "[backend]\nadvertise = 10.0.0.2:4433\n");
    expect_ok(f, WILD "[listen]\nproxy = 10.0.0.2:4433\nmtls = 0.0.0.0:4434\nproxy_allow = 10.0.0.0/8\n"
              "[tls]\nproxy_ca = /ca.pem\n");
#undef WILD
}

static void test_cross_checks(void **state)
{
    struct fixture *f = *state;
    expect_fail(f, "[backend]\nid = x\n", 0, "no listener");
    expect_fail(f, "[listen]\ntls =\n", 0, "no listener");
    expect_fail(f, "[listen]\ntls = *:443\n[tls]\ncert = /c\n", 0,
                "tls.cert and tls.key are required");
    expect_fail(f, "[listen]\ntls = *:443\n[tls]\ncert = /c\nkey =\n", 0, "tls.cert and tls.key");
    expect_fail(f, "[listen]\nmtls = *:444\nproxy_allow = 10.0.0.0/8\n[tls]\nkey = /k\n", 0,
                "tls.cert and tls.key");
    expect_fail(f, "[listen]\nmtls = *:444\n[tls]\ncert = /c\nkey = /k\n", 0,
                "tls.proxy_ca is required by listen.mtls");
    expect_fail(f, "[listen]\nproxy = 10.0.0.2:4433\n", 0, "listen.proxy needs listen.proxy_allow");
    /* the plain proxy listener alone needs no certificate */
    expect_ok(f, "[listen]\nproxy = 10.0.0.2:4433\nproxy_allow = 10.0.0.1\n");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_defaults, setup, teardown),
        cmocka_unit_test_setup_teardown(test_per_source_default, setup, teardown),
        cmocka_unit_test_setup_teardown(test_values, setup, teardown),
        cmocka_unit_test_setup_teardown(test_mtls_proxy_header, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reload_frees, setup, teardown),
        cmocka_unit_test_setup_teardown(test_file_missing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unknown_names, setup, teardown),
        cmocka_unit_test_setup_teardown(test_syntax, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_int, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_duration, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_enum, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_address, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_cidr, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_hash, setup, teardown),
        cmocka_unit_test_setup_teardown(test_long_lines, setup, teardown),
        cmocka_unit_test_setup_teardown(test_env, setup, teardown),
        cmocka_unit_test_setup_teardown(test_admin_address, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fleet_cross_checks, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cross_checks, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
