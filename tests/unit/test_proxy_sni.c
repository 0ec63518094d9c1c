/* test_proxy_sni.c — unit tests of proxy/sni.c: the ClientHello extension
 * readers on well-formed and malformed bodies (RFC 6066 §3 server_name,
 * RFC 8446 §4.2.3 signature_algorithms and §4.2.1 supported_versions; each
 * input in an exact-size heap block), host name matching with wildcards,
 * and the certificate choice by SNI and key type. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "proxy/sni.h"
#include "tests/unit/helpers.h"

static int sni(const void *ext, size_t len, char *out, size_t out_len)
{
    uint8_t *b = dup_exact(ext, len);
    int r = px_sni_parse(b, len, out, out_len);
    free(b);
    return r;
}

static void test_sni_parse(void **state)
{
    (void)state;
    char out[PX_SNI_MAX + 1];
    /* list of one host_name "Vpn.Example.COM" (lower-cased on the way out) */
    static const uint8_t one[] = { 0x00, 0x12, 0x00, 0x00, 0x0f, 'V', 'p', 'n', '.', 'E', 'x', 'a', 'm',
                                   'p', 'l', 'e', '.', 'C', 'O', 'M' };
    assert_int_equal(sni(one, sizeof one, out, sizeof out), 1);
    assert_string_equal(out, "vpn.example.com");
    /* an unknown name type first, then the host_name */
    static const uint8_t two[] = { 0x00, 0x0b, 0x07, 0x00, 0x02, 'x', 'y', 0x00, 0x00, 0x03, 'a', '_', 'b' };
    assert_int_equal(sni(two, sizeof two, out, sizeof out), 1);
    assert_string_equal(out, "a_b");
    /* no host_name at all */
    static const uint8_t none[] = { 0x00, 0x05, 0x07, 0x00, 0x02, 'x', 'y' };
    assert_int_equal(sni(none, sizeof none, out, sizeof out), 0);
    static const uint8_t empty_list[] = { 0x00, 0x00 };
    assert_int_equal(sni(empty_list, sizeof empty_list, out, sizeof out), 0);
}

static void test_sni_rejects(void **state)
{
    (void)state;
    char out[PX_SNI_MAX + 1];
    static const uint8_t short_len[] = { 0x00 };
    static const uint8_t list_overrun[] = { 0x00, 0x09, 0x00, 0x00, 0x03, 'a', 'b', 'c' };
    static const uint8_t list_short[] = { 0x00, 0x04, 0x00, 0x00, 0x03, 'a', 'b', 'c' };
    static const uint8_t name_overrun[] = { 0x00, 0x06, 0x00, 0x00, 0x04, 'a', 'b', 'c' };
    static const uint8_t entry_short[] = { 0x00, 0x02, 0x00, 0x00 };
    static const uint8_t empty_name[] = { 0x00, 0x03, 0x00, 0x00, 0x00 };
    static const uint8_t bad_char[] = { 0x00, 0x06, 0x00, 0x00, 0x03, 'a', ' ', 'c' };
    static const uint8_t nul_char[] = { 0x00, 0x06, 0x00, 0x00, 0x03, 'a', 0x00, 'c' };
    static const uint8_t high_char[] = { 0x00, 0x06, 0x00, 0x00, 0x03, 'a', 0xC3, 'c' };
    assert_int_equal(sni(short_len, sizeof short_len, out, sizeof out), -1);
    assert_int_equal(sni(list_overrun, sizeof list_overrun, out, sizeof out), -1);
    assert_int_equal(sni(list_short, sizeof list_short, out, sizeof out), -1);
    assert_int_equal(sni(name_overrun, sizeof name_overrun, out, sizeof out), -1);
    assert_int_equal(sni(entry_short, sizeof entry_short, out, sizeof out), -1);
    assert_int_equal(sni(empty_name, sizeof empty_name, out, sizeof out), -1);
    assert_int_equal(sni(bad_char, sizeof bad_char, out, sizeof out), -1);
    assert_int_equal(sni(nul_char, sizeof nul_char, out, sizeof out), -1);
    assert_int_equal(sni(high_char, sizeof high_char, out, sizeof out), -1);
    assert_int_equal(px_sni_parse(NULL, 0, out, sizeof out), -1);
    /* a name longer than a DNS name, and one longer than the caller's buffer */
    uint8_t big[5 + 300];
    memset(big, 'a', sizeof big);
    big[0] = 0x01;
    big[1] = 0x2f; /* 303 */
    big[2] = 0x00;
    big[3] = 0x01;
    big[4] = 0x2c; /* 300 */
    assert_int_equal(sni(big, sizeof big, out, sizeof out), -1);
    static const uint8_t ten[] = { 0x00, 0x0d, 0x00, 0x00, 0x0a, 'a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i', 'j' };
    char small[8];
    assert_int_equal(sni(ten, sizeof ten, small, sizeof small), -1);
}

static bool sigalgs(const void *p, size_t n)
{
    uint8_t *b = dup_exact(p, n);
    bool r = px_sigalgs_ecdsa(b, n);
    free(b);
    return r;
}

static void test_sigalgs_versions_ciphers(void **state)
{
    (void)state;
    static const uint8_t rsa_only[] = { 0x00, 0x06, 0x08, 0x04, 0x04, 0x01, 0x08, 0x07 }; /* pss, pkcs1, ed25519 */
    static const uint8_t with_ecdsa[] = { 0x00, 0x04, 0x08, 0x04, 0x04, 0x03 };
    static const uint8_t odd[] = { 0x00, 0x03, 0x04, 0x03, 0x00 };
    static const uint8_t overrun[] = { 0x00, 0x08, 0x04, 0x03 };
    assert_false(sigalgs(rsa_only, sizeof rsa_only));
    assert_true(sigalgs(with_ecdsa, sizeof with_ecdsa));
    assert_false(sigalgs(odd, sizeof odd));
    assert_false(sigalgs(overrun, sizeof overrun));
    assert_false(px_sigalgs_ecdsa(NULL, 0));

    static const uint8_t v13[] = { 0x04, 0x7a, 0x7a, 0x03, 0x04 }; /* GREASE, TLS 1.3 */
    static const uint8_t v12[] = { 0x04, 0x03, 0x03, 0x03, 0x02 };
    static const uint8_t vbad[] = { 0x05, 0x03, 0x04, 0x03, 0x03 };
    uint8_t *b = dup_exact(v13, sizeof v13);
    assert_true(px_versions_tls13(b, sizeof v13));
    free(b);
    b = dup_exact(v12, sizeof v12);
    assert_false(px_versions_tls13(b, sizeof v12));
    free(b);
    b = dup_exact(vbad, sizeof vbad);
    assert_false(px_versions_tls13(b, sizeof vbad));
    free(b);

    static const uint8_t rsa_suites[] = { 0xc0, 0x2f, 0xc0, 0x30, 0xcc, 0xa8 };
    static const uint8_t ecdsa_suites[] = { 0x13, 0x01, 0xc0, 0x2f, 0xc0, 0x2b };
    b = dup_exact(rsa_suites, sizeof rsa_suites);
    assert_false(px_ciphers_ecdsa(b, sizeof rsa_suites));
    free(b);
    b = dup_exact(ecdsa_suites, sizeof ecdsa_suites);
    assert_true(px_ciphers_ecdsa(b, sizeof ecdsa_suites));
    assert_false(px_ciphers_ecdsa(b, 5)); /* the odd last byte is not a suite */
    free(b);
}

static void test_host_match(void **state)
{
    (void)state;
    assert_true(px_host_match("vpn.example.com", "VPN.example.COM"));
    assert_false(px_host_match("vpn.example.com", "vpn.example.co"));
    assert_true(px_host_match("*.example.com", "vpn.example.com"));
    assert_false(px_host_match("*.example.com", "a.b.example.com")); /* one label only */
    assert_false(px_host_match("*.example.com", "example.com"));
    assert_false(px_host_match("*.example.com", ".example.com"));
    assert_false(px_host_match("*.example.com", "vpnexample.com"));
    assert_false(px_host_match("vpn.example.com", "*.example.com"));
}

static void test_choose(void **state)
{
    (void)state;
    char *const a_names[] = { "vpn.example.com", "*.corp.example" };
    char *const b_names[] = { "vpn.example.com" };
    char *const c_names[] = { "other.example" };
    char *const d_names[] = { "x.corp.example" };
    const struct px_sni_entry e[] = {
        { a_names, 2, true, true },   /* 0: ECDSA, default */
        { b_names, 1, true, false },  /* 1: RSA, default */
        { c_names, 1, false, false }, /* 2: RSA */
        { d_names, 1, false, true },  /* 3: ECDSA, exact name inside the wildcard */
    };
    assert_int_equal(px_sni_choose(e, 4, "vpn.example.com", true), 0);
    assert_int_equal(px_sni_choose(e, 4, "vpn.example.com", false), 1);
    assert_int_equal(px_sni_choose(e, 4, "other.example", true), 2); /* no ECDSA for it: RSA */
    assert_int_equal(px_sni_choose(e, 4, "x.corp.example", false), 3); /* exact beats wildcard */
    assert_int_equal(px_sni_choose(e, 4, "y.corp.example", false), 0); /* wildcard */
    assert_int_equal(px_sni_choose(e, 4, NULL, true), 0);          /* no SNI: defaults */
    assert_int_equal(px_sni_choose(e, 4, NULL, false), 1);
    assert_int_equal(px_sni_choose(e, 4, "unknown.example", false), 1);
    /* no default at all: nothing for an unknown name */
    assert_int_equal(px_sni_choose(&e[2], 2, "unknown.example", true), -1);
    assert_int_equal(px_sni_choose(&e[2], 2, "other.example", true), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sni_parse),
        cmocka_unit_test(test_sni_rejects),
        cmocka_unit_test(test_sigalgs_versions_ciphers),
        cmocka_unit_test(test_host_match),
        cmocka_unit_test(test_choose),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
