/* test_proxy_hello.c — unit tests of sstp/tls_hello.c (with proxy/sni.c reading the name it finds): the server_name
 * extension found in real ClientHellos written by OpenSSL (TLS 1.2 and 1.3
 * offers, with and without SNI), every truncation of one (AGAIN, never a
 * read past the end: each input in an exact-size heap block), and crafted
 * malformed ones (bad record, not a ClientHello, lengths that overrun,
 * a repeated server_name, a hello continued in a second record). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <openssl/ssl.h>
#include <stdlib.h>
#include <string.h>

#include "proxy/sni.h"
#include "sstp/tls_hello.h"
#include "tests/unit/helpers.h"

/* The first flight OpenSSL writes as a client: its ClientHello record. */
static size_t client_hello(uint8_t *out, size_t cap, const char *sni, int max_version)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    assert_non_null(ctx);
    assert_int_equal(SSL_CTX_set_max_proto_version(ctx, max_version), 1);
    SSL *ssl = SSL_new(ctx);
    BIO *rd = BIO_new(BIO_s_mem()), *wr = BIO_new(BIO_s_mem());
    assert_non_null(ssl);
    SSL_set_bio(ssl, rd, wr);
    if (sni)
        assert_int_equal(SSL_set_tlsext_host_name(ssl, sni), 1);
    assert_int_equal(SSL_connect(ssl), -1); /* waits for the server */
    int n = BIO_read(wr, out, (int)cap);
    assert_true(n > SSTP_HELLO_HDR_LEN);
    SSL_free(ssl);
    SSL_CTX_free(ctx);
    return (size_t)n;
}

static enum sstp_rc hello(const uint8_t *in, size_t len, char *name, size_t name_len)
{
    uint8_t *b = dup_exact(in, len);
    struct sstp_slice ext;
    enum sstp_rc rc = sstp_hello_sni(&ext, b, len);
    name[0] = '\0';
    if (rc == SSTP_OK && ext.len > 0 && px_sni_parse(ext.p, ext.len, name, name_len) != 1)
        rc = SSTP_E_ARG; /* the extension found must be a well-formed one */
    free(b);
    return rc;
}

static void test_real_hellos(void **state)
{
    (void)state;
    uint8_t rec[4096];
    char name[PX_SNI_MAX + 1];
    int versions[] = { TLS1_2_VERSION, TLS1_3_VERSION };
    for (size_t v = 0; v < 2; v++) {
        size_t n = client_hello(rec, sizeof rec, "RRAS.Example.net", versions[v]);
        assert_int_equal(hello(rec, n, name, sizeof name), SSTP_OK);
        assert_string_equal(name, "rras.example.net");
        /* every shorter prefix needs more bytes; none is an error */
        for (size_t k = 0; k < n; k++)
            assert_int_equal(hello(rec, k, name, sizeof name), SSTP_AGAIN);
        /* bytes after the record (the client's next flight) are not read */
        uint8_t more[4200];
        memcpy(more, rec, n);
        memset(more + n, 0xAB, 64);
        assert_int_equal(hello(more, n + 64, name, sizeof name), SSTP_OK);
        assert_string_equal(name, "rras.example.net");

        n = client_hello(rec, sizeof rec, NULL, versions[v]);
        assert_int_equal(hello(rec, n, name, sizeof name), SSTP_OK);
        assert_string_equal(name, ""); /* no SNI: the terminating path */
    }
}

/* A hand-built record: header, ClientHello head, then `exts` (with its own
 * length prefix) unless exts_len is 0. */
static size_t build(uint8_t *out, const uint8_t *exts, size_t exts_len)
{
    size_t hs_body = 2 + 32 + 1 + 4 + 2 + exts_len;
    size_t p = 0;
    out[p++] = 22, out[p++] = 3, out[p++] = 1;
    out[p++] = (uint8_t)((4 + hs_body) >> 8), out[p++] = (uint8_t)(4 + hs_body);
    out[p++] = 1, out[p++] = 0, out[p++] = (uint8_t)(hs_body >> 8), out[p++] = (uint8_t)hs_body;
    out[p++] = 3, out[p++] = 3;
    memset(out + p, 0x11, 32), p += 32;
    out[p++] = 0;                                   /* session id */
    out[p++] = 0, out[p++] = 2, out[p++] = 0x13, out[p++] = 0x01; /* one suite */
    out[p++] = 1, out[p++] = 0;                     /* null compression */
    if (exts_len)
        memcpy(out + p, exts, exts_len);
    return p + exts_len;
}

static void test_crafted(void **state)
{
    (void)state;
    uint8_t rec[512];
    char name[PX_SNI_MAX + 1];
    static const uint8_t sni_ext[] = { 0x00, 0x0d, 0x00, 0x00, 0x00, 0x09, 0x00, 0x07,
                                       0x00, 0x00, 0x04, 'a', '.', 'b', 'c' };
    size_t n = build(rec, sni_ext, sizeof sni_ext);
    assert_int_equal(hello(rec, n, name, sizeof name), SSTP_OK);
    assert_string_equal(name, "a.bc");
    /* no extensions block at all */
    n = build(rec, NULL, 0);
    assert_int_equal(hello(rec, n, name, sizeof name), SSTP_OK);
    assert_string_equal(name, "");

    /* not a handshake record, or not TLS at all (a plain HTTP request) */
    assert_int_equal(hello((const uint8_t *)"GET / HTTP/1.1\r\n", 16, name, sizeof name),
                     SSTP_E_HELLO_RECORD);
    static const uint8_t alert[] = { 21, 3, 3, 0, 2, 2, 40 };
    assert_int_equal(hello(alert, sizeof alert, name, sizeof name), SSTP_E_HELLO_RECORD);
    static const uint8_t huge[] = { 22, 3, 1, 0x40, 0x01 }; /* 16385 > the record limit */
    assert_int_equal(hello(huge, sizeof huge, name, sizeof name), SSTP_E_HELLO_RECORD);
    static const uint8_t empty[] = { 22, 3, 1, 0, 0 };
    assert_int_equal(hello(empty, sizeof empty, name, sizeof name), SSTP_E_HELLO_RECORD);

    /* a ServerHello (type 2) where the ClientHello belongs */
    n = build(rec, sni_ext, sizeof sni_ext);
    rec[5] = 2;
    assert_int_equal(hello(rec, n, name, sizeof name), SSTP_E_HELLO_MSG);

    /* the extensions length overruns the message */
    n = build(rec, sni_ext, sizeof sni_ext);
    rec[n - sizeof sni_ext + 1] = 0x0e;
    assert_int_equal(hello(rec, n, name, sizeof name), SSTP_E_HELLO_MSG);
    /* one extension's length overruns the block */
    n = build(rec, sni_ext, sizeof sni_ext);
    rec[n - sizeof sni_ext + 5] = 0x0a;
    assert_int_equal(hello(rec, n, name, sizeof name), SSTP_E_HELLO_MSG);
    /* a session id longer than 32 bytes */
    n = build(rec, sni_ext, sizeof sni_ext);
    rec[5 + 4 + 34] = 33;
    assert_int_equal(hello(rec, n, name, sizeof name), SSTP_E_HELLO_MSG);

    /* server_name twice */
    uint8_t twice[2 + 2 * 13];
    twice[0] = 0, twice[1] = 26;
    memcpy(twice + 2, sni_ext + 2, 13);
    memcpy(twice + 15, sni_ext + 2, 13);
    n = build(rec, twice, sizeof twice);
    assert_int_equal(hello(rec, n, name, sizeof name), SSTP_E_HELLO_MSG);

    /* the ClientHello says it is longer than its record: continued in the
     * next record, left to the TLS library (no SNI seen here) */
    n = build(rec, sni_ext, sizeof sni_ext);
    rec[8] = (uint8_t)(rec[8] + 1);
    assert_int_equal(hello(rec, n, name, sizeof name), SSTP_OK);
    assert_string_equal(name, "");
    /* and shorter than its record: a second message behind it */
    n = build(rec, sni_ext, sizeof sni_ext);
    rec[8] = (uint8_t)(rec[8] - 1);
    assert_int_equal(hello(rec, n, name, sizeof name), SSTP_E_HELLO_MSG);

    struct sstp_slice ext;
    assert_int_equal(sstp_hello_sni(&ext, NULL, 0), SSTP_E_ARG);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_real_hellos),
        cmocka_unit_test(test_crafted),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
