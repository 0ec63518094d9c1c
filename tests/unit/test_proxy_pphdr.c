/* test_proxy_pphdr.c — unit tests of proxy/pphdr.c: the PROXY v2 header
 * sstp-proxy sends to backends, byte for byte against headers packed by
 * tests/vectors/proxy_pphdr.py, the address normalisation (IPv4-mapped,
 * mixed families, non-IP), and a parse back through sstp_pp_parse. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>

#include "proxy/pphdr.h"
#include "proxy_pphdr.h"

static struct sockaddr_storage ss4(const char *ip, uint16_t port)
{
    struct sockaddr_storage ss;
    struct sockaddr_in *a = (struct sockaddr_in *)&ss;
    memset(&ss, 0, sizeof ss);
    a->sin_family = AF_INET;
    a->sin_port = htons(port);
    assert_int_equal(inet_pton(AF_INET, ip, &a->sin_addr), 1);
    return ss;
}

static struct sockaddr_storage ss6(const char *ip, uint16_t port)
{
    struct sockaddr_storage ss;
    struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
    memset(&ss, 0, sizeof ss);
    a->sin6_family = AF_INET6;
    a->sin6_port = htons(port);
    assert_int_equal(inet_pton(AF_INET6, ip, &a->sin6_addr), 1);
    return ss;
}

static struct tls_cert_hashes hashes(void)
{
    struct tls_cert_hashes h;
    memcpy(h.sha256, VEC_PPH_SHA256, sizeof h.sha256);
    memcpy(h.sha1, VEC_PPH_SHA1, sizeof h.sha1);
    return h;
}

/* The vectors' fixed fields; src/dst set by each test. */
static struct px_pp_info info(const struct sockaddr_storage *src, const struct sockaddr_storage *dst,
                              const struct tls_cert_hashes *h)
{
    struct px_pp_info in = {
        .src = (const struct sockaddr *)src, .dst = (const struct sockaddr *)dst,
        .sni = "vpn.example.com", .sid = "0123456789abcdef", .presented = h,
        .tls_version = "TLSv1.3", .tls_cipher = "TLS_AES_256_GCM_SHA384",
        .sig_alg = "ecdsa-with-SHA256", .key_alg = "EC256",
        .client_verify = 1, .proxy_id = "proxy-1", .tenant = "contoso",
    };
    return in;
}

static void build_equals(const struct px_pp_info *in, const uint8_t *want, size_t want_len)
{
    uint8_t *buf = malloc(want_len); /* exact size: a byte more would be an overflow */
    struct sstp_wbuf w;
    assert_non_null(buf);
    sstp_wbuf_init(&w, buf, want_len);
    assert_int_equal(px_pp_build(&w, in), SSTP_OK);
    assert_int_equal(w.len, want_len);
    assert_memory_equal(buf, want, want_len);
    free(buf);
}

static void test_v4(void **state)
{
    (void)state;
    struct sockaddr_storage src = ss4("203.0.113.7", 51234), dst = ss4("198.51.100.10", 443);
    struct tls_cert_hashes h = hashes();
    struct px_pp_info in = info(&src, &dst, &h);
    build_equals(&in, VEC_PPH_V4, sizeof VEC_PPH_V4);
}

static void test_v4_mapped_is_v4(void **state)
{
    (void)state;
    /* a dual-stack listener sees IPv4 clients as ::ffff:a.b.c.d */
    struct sockaddr_storage src = ss6("::ffff:203.0.113.7", 51234), dst = ss6("::ffff:198.51.100.10", 443);
    struct tls_cert_hashes h = hashes();
    struct px_pp_info in = info(&src, &dst, &h);
    build_equals(&in, VEC_PPH_V4, sizeof VEC_PPH_V4);
    struct sockaddr_storage src4 = ss4("203.0.113.7", 51234);
    in.src = (const struct sockaddr *)&src4; /* one mapped, one plain IPv4 */
    build_equals(&in, VEC_PPH_V4, sizeof VEC_PPH_V4);
}

static void test_client_cert(void **state)
{
    (void)state;
    struct sockaddr_storage src = ss4("203.0.113.7", 51234), dst = ss4("198.51.100.10", 443);
    struct tls_cert_hashes h = hashes();
    struct px_pp_info in = info(&src, &dst, &h);
    in.client_cert = in.client_cert_this_conn = true;
    in.client_verify = 0;
    in.client_sha256 = VEC_PPH_CLIENT_SHA256;
    in.client_cn = "alice-laptop";
    build_equals(&in, VEC_PPH_V4_CLIENT_CERT, sizeof VEC_PPH_V4_CLIENT_CERT);
}

static void test_mixed_and_v6(void **state)
{
    (void)state;
    struct sockaddr_storage src = ss4("203.0.113.7", 51234), dst = ss6("2001:db8::1", 443);
    struct tls_cert_hashes h = hashes();
    struct px_pp_info in = info(&src, &dst, &h);
    build_equals(&in, VEC_PPH_MIXED, sizeof VEC_PPH_MIXED);
    struct sockaddr_storage s6 = ss6("2001:db8::7", 4000);
    in.src = (const struct sockaddr *)&s6;
    build_equals(&in, VEC_PPH_V6, sizeof VEC_PPH_V6);
}

/* Not an IP (unknown family): family UNSPEC, still with every TLV, and the
 * codec parses it back to the same values. */
static void test_unspec_parses_back(void **state)
{
    (void)state;
    struct sockaddr_storage src, dst = ss4("198.51.100.10", 443);
    memset(&src, 0, sizeof src);
    src.ss_family = AF_UNIX;
    struct tls_cert_hashes h = hashes();
    struct px_pp_info in = info(&src, &dst, &h);
    uint8_t buf[SSTP_PP_MAX_HDR_LEN];
    struct sstp_wbuf w;
    sstp_wbuf_init(&w, buf, sizeof buf);
    assert_int_equal(px_pp_build(&w, &in), SSTP_OK);
    struct sstp_pp_hdr p;
    size_t used = 0;
    uint8_t *exact = malloc(w.len);
    assert_non_null(exact);
    memcpy(exact, buf, w.len);
    assert_int_equal(sstp_pp_parse(&p, &used, exact, w.len), SSTP_OK);
    assert_int_equal(used, w.len);
    assert_int_equal(p.family, SSTP_PP_FAM_UNSPEC);
    assert_int_equal(p.src.ss_family, AF_UNSPEC);
    assert_true(p.present & SSTP_PP_HAS_CERT_SHA256);
    assert_memory_equal(p.cert_sha256, VEC_PPH_SHA256, 32);
    assert_memory_equal(p.cert_sha1, VEC_PPH_SHA1, 20);
    assert_int_equal(p.unique_id.len, 16);
    assert_memory_equal(p.unique_id.p, "0123456789abcdef", 16);
    assert_int_equal(p.meta.tenant.len, 7);
    assert_null(p.meta.client_cert_sha256);
    free(exact);
}

/* The header of a connection forwarded without termination: addresses and
 * the SNI, nothing that would claim a TLS session this proxy never had. */
static void test_plain(void **state)
{
    (void)state;
    struct sockaddr_storage src = ss4("203.0.113.7", 50000), dst = ss6("2001:db8::1", 443);
    uint8_t buf[SSTP_PP_MAX_HDR_LEN];
    struct sstp_wbuf w;
    sstp_wbuf_init(&w, buf, sizeof buf);
    assert_int_equal(px_pp_build_plain(&w, (struct sockaddr *)&src, (struct sockaddr *)&dst,
                                       "rras.example.test"), SSTP_OK);
    uint8_t *exact = malloc(w.len);
    assert_non_null(exact);
    memcpy(exact, buf, w.len);
    struct sstp_pp_hdr p;
    size_t used = 0;
    assert_int_equal(sstp_pp_parse(&p, &used, exact, w.len), SSTP_OK);
    assert_int_equal(used, w.len);
    assert_int_equal(p.family, SSTP_PP_FAM_TCP6); /* a mix: the IPv4 one mapped */
    assert_int_equal(p.present, SSTP_PP_HAS_AUTHORITY);
    assert_int_equal(p.authority.len, strlen("rras.example.test"));
    assert_memory_equal(p.authority.p, "rras.example.test", p.authority.len);
    free(exact);
    /* no SNI (the web path of a client without one): the addresses alone */
    src = ss4("203.0.113.7", 50000);
    dst = ss4("198.51.100.10", 443);
    sstp_wbuf_init(&w, buf, sizeof buf);
    assert_int_equal(px_pp_build_plain(&w, (struct sockaddr *)&src, (struct sockaddr *)&dst, ""), SSTP_OK);
    assert_int_equal(w.len, 16 + 12);
    exact = malloc(w.len);
    assert_non_null(exact);
    memcpy(exact, buf, w.len);
    assert_int_equal(sstp_pp_parse(&p, &used, exact, w.len), SSTP_OK);
    assert_int_equal(p.family, SSTP_PP_FAM_TCP4);
    assert_int_equal(p.present, 0);
    assert_int_equal(((struct sockaddr_in *)&p.src)->sin_port, htons(50000));
    free(exact);
}

static void test_optional_fields_left_out(void **state)
{
    (void)state;
    struct sockaddr_storage src = ss4("203.0.113.7", 51234), dst = ss4("198.51.100.10", 443);
    struct tls_cert_hashes h = hashes();
    struct px_pp_info in = info(&src, &dst, &h);
    in.sni = "";
    in.tenant = NULL;
    in.sig_alg = in.key_alg = NULL; /* a resumed session: the certificate was not sent */
    uint8_t buf[1024];
    struct sstp_wbuf w;
    sstp_wbuf_init(&w, buf, sizeof buf);
    assert_int_equal(px_pp_build(&w, &in), SSTP_OK);
    struct sstp_pp_hdr p;
    size_t used;
    assert_int_equal(sstp_pp_parse(&p, &used, buf, w.len), SSTP_OK);
    assert_false(p.present & SSTP_PP_HAS_AUTHORITY);
    assert_false(p.present & (SSTP_PP_HAS_SSL_SIG_ALG | SSTP_PP_HAS_SSL_KEY_ALG));
    assert_true(p.present & SSTP_PP_HAS_SSL_VERSION);
    assert_int_equal(p.meta.tenant.len, 0);
}

static void test_errors(void **state)
{
    (void)state;
    struct sockaddr_storage src = ss4("203.0.113.7", 51234), dst = ss4("198.51.100.10", 443);
    struct tls_cert_hashes h = hashes();
    struct px_pp_info in = info(&src, &dst, &h);
    uint8_t buf[1024];
    struct sstp_wbuf w;

    in.presented = NULL; /* the backend's crypto binding needs it */
    sstp_wbuf_init(&w, buf, sizeof buf);
    assert_int_equal(px_pp_build(&w, &in), SSTP_E_ARG);
    assert_int_equal(w.len, 0);

    in = info(&src, &dst, &h);
    in.proxy_id = ""; /* 1..64 bytes */
    sstp_wbuf_init(&w, buf, sizeof buf);
    assert_int_equal(px_pp_build(&w, &in), SSTP_E_ARG);

    in = info(&src, &dst, &h);
    sstp_wbuf_init(&w, buf, 100); /* too small: nothing partial */
    assert_int_equal(px_pp_build(&w, &in), SSTP_E_NOSPACE);
    assert_int_equal(w.len, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_v4),
        cmocka_unit_test(test_v4_mapped_is_v4),
        cmocka_unit_test(test_client_cert),
        cmocka_unit_test(test_mixed_and_v6),
        cmocka_unit_test(test_unspec_parses_back),
        cmocka_unit_test(test_plain),
        cmocka_unit_test(test_optional_fields_left_out),
        cmocka_unit_test(test_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
