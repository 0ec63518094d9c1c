/* test_proxyproto.c — unit tests of sstp/proxyproto.c (PROXY v1/v2 codec).
 *
 * Known answers come from the published examples (PROXY v1 line, PROXY v2
 * worked example), the CRC32C check value, and tests/vectors/proxyproto.py
 * (headers packed independently in Python). Every input is parsed from an
 * exact-size heap copy, whole and byte by byte, and both must agree. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sstp/proxyproto.h"
#include "tests/unit/helpers.h"
#include "tests/unit/pp_same.h"
#include "proxyproto.h" /* generated vectors: struct ppv PPV[] */

/* ------------------------------------------------------------------ helpers */

/* One parse of `in` from an exact-size heap copy. The copy stays alive in
 * *keep (the views point into it); the caller frees it. */
static enum sstp_rc parse_copy(const void *in, size_t n, struct sstp_pp_hdr *h, size_t *used,
                               uint8_t **keep)
{
    *keep = dup_exact(in, n);
    return sstp_pp_parse(h, used, *keep, n);
}

/* Parses `in` whole and byte by byte (each prefix its own exact-size copy);
 * both must give want_rc, and on SSTP_OK the same fields and *used ==
 * want_used, reached exactly at the prefix of want_used bytes. An error must
 * not be reported before a byte that causes it: it is reported no later
 * than at n bytes, and the whole input gives the same one. Returns the whole
 * parse in *h (views into *keep). */
static void check_feed_as(const char *name, const void *in, size_t n, enum sstp_rc want_rc,
                          size_t want_used, struct sstp_pp_hdr *h, uint8_t **keep)
{
    size_t used = 99;
    enum sstp_rc rc = parse_copy(in, n, h, &used, keep);
    if (rc != want_rc)
        fail_msg("%s: whole: got %s want %s", name, sstp_rc_name(rc), sstp_rc_name(want_rc));
    if (rc == SSTP_OK && used != want_used)
        fail_msg("%s: used %zu want %zu", name, used, want_used);
    if (rc != SSTP_OK && used != 0)
        fail_msg("%s: used %zu on %s", name, used, sstp_rc_name(rc));

    enum sstp_rc brc = SSTP_AGAIN;
    size_t k = 0, bused = 0;
    struct sstp_pp_hdr bh;
    while (brc == SSTP_AGAIN && k < n) {
        uint8_t *c = dup_exact(in, ++k);
        brc = sstp_pp_parse(&bh, &bused, c, k);
        if (brc == SSTP_OK) {
            if (!hdr_same(h, &bh, true, true))
                fail_msg("%s: bytewise fields differ", name);
        }
        free(c);
    }
    if (brc != rc)
        fail_msg("%s: bytewise got %s, whole %s", name, sstp_rc_name(brc), sstp_rc_name(rc));
    if (rc == SSTP_OK && (bused != used || k != used))
        fail_msg("%s: bytewise done at %zu used %zu, whole used %zu", name, k, bused, used);
}

static void check_feed(const char *name, const void *in, size_t n, enum sstp_rc want_rc,
                       size_t want_used)
{
    struct sstp_pp_hdr h;
    uint8_t *keep;
    check_feed_as(name, in, n, want_rc, want_used, &h, &keep);
    free(keep);
}

/* Builds a v2 header by hand (not with the code under test). */
static size_t mk_v2(uint8_t *buf, uint8_t ver_cmd, uint8_t fam, const void *body, size_t body_len)
{
    static const uint8_t sig[12] = { 0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D,
                                     0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A };
    memcpy(buf, sig, 12);
    buf[12] = ver_cmd;
    buf[13] = fam;
    buf[14] = (uint8_t)(body_len >> 8);
    buf[15] = (uint8_t)body_len;
    if (body_len)
        memcpy(buf + 16, body, body_len);
    return 16 + body_len;
}

static const uint8_t ADDR4[12] = { 192, 0, 2, 1, 192, 0, 2, 2, 0x04, 0x00, 0x01, 0xBB };

/* A PROXY TCP4 header: ADDR4 then the given TLV bytes. */
static size_t mk_tcp4(uint8_t *buf, const void *tlvs, size_t tlv_len)
{
    uint8_t body[4096];
    memcpy(body, ADDR4, 12);
    memcpy(body + 12, tlvs, tlv_len);
    return mk_v2(buf, 0x21, 0x11, body, 12 + tlv_len);
}

static uint32_t crc32c_bitwise(const uint8_t *p, size_t n)
{
    uint32_t c = 0xFFFFFFFFu;
    for (size_t i = 0; i < n; i++) {
        c ^= p[i];
        for (int b = 0; b < 8; b++)
            c = (c >> 1) ^ ((c & 1) ? 0x82F63B78u : 0);
    }
    return ~c;
}

static const struct sockaddr_in *in4(const struct sockaddr_storage *ss)
{
    return (const struct sockaddr_in *)ss;
}

static const struct sockaddr_in6 *in6(const struct sockaddr_storage *ss)
{
    return (const struct sockaddr_in6 *)ss;
}

static void set4(struct sockaddr_storage *ss, const char *ip, uint16_t port)
{
    struct sockaddr_in *s = (struct sockaddr_in *)ss;
    memset(ss, 0, sizeof *ss);
    s->sin_family = AF_INET;
    assert_int_equal(inet_pton(AF_INET, ip, &s->sin_addr), 1);
    s->sin_port = htons(port);
}

static void set6(struct sockaddr_storage *ss, const char *ip, uint16_t port)
{
    struct sockaddr_in6 *s = (struct sockaddr_in6 *)ss;
    memset(ss, 0, sizeof *ss);
    s->sin6_family = AF_INET6;
    assert_int_equal(inet_pton(AF_INET6, ip, &s->sin6_addr), 1);
    s->sin6_port = htons(port);
}

/* ------------------------------------------------------------------- CRC32C */

static void test_crc32c(void **state)
{
    (void)state;
    assert_int_equal(sstp_pp_crc32c(0, "123456789", 9), 0xE3069283u);
    assert_int_equal(sstp_pp_crc32c(0, "123456789", 9), PPV_CRC32C_CHECK);
    assert_int_equal(sstp_pp_crc32c(0, "", 0), 0);
    /* every table entry, through one-byte inputs */
    for (unsigned b = 0; b < 256; b++) {
        uint8_t x = (uint8_t)b;
        assert_int_equal(sstp_pp_crc32c(0, &x, 1), crc32c_bitwise(&x, 1));
    }
    /* chaining pieces equals one pass */
    uint8_t buf[1000];
    for (size_t i = 0; i < sizeof buf; i++)
        buf[i] = (uint8_t)(i * 131 + 7);
    uint32_t one = sstp_pp_crc32c(0, buf, sizeof buf);
    assert_int_equal(one, crc32c_bitwise(buf, sizeof buf));
    uint32_t c = sstp_pp_crc32c(0, buf, 1);
    c = sstp_pp_crc32c(c, buf + 1, 500);
    c = sstp_pp_crc32c(c, buf + 501, sizeof buf - 501);
    assert_int_equal(c, one);
}

/* ----------------------------------------------------------------------- v1 */

static void test_v1_doc_example(void **state)
{
    (void)state;
    /* PROXY v1 example of the design doc: 48 bytes */
    static const char line[] = "PROXY TCP4 203.0.113.7 198.51.100.10 51234 443\r\n";
    assert_int_equal(strlen(line), 48);
    struct sstp_pp_hdr h;
    uint8_t *keep;
    check_feed_as("v1 doc", line, 48, SSTP_OK, 48, &h, &keep);
    assert_int_equal(h.version, SSTP_PP_V1);
    assert_int_equal(h.command, SSTP_PP_CMD_PROXY);
    assert_int_equal(h.family, SSTP_PP_FAM_TCP4);
    assert_int_equal(h.src.ss_family, AF_INET);
    assert_int_equal(h.dst.ss_family, AF_INET);
    assert_int_equal(ntohl(in4(&h.src)->sin_addr.s_addr), 0xCB007107u); /* 203.0.113.7 */
    assert_int_equal(ntohl(in4(&h.dst)->sin_addr.s_addr), 0xC633640Au); /* 198.51.100.10 */
    assert_int_equal(ntohs(in4(&h.src)->sin_port), 51234);
    assert_int_equal(ntohs(in4(&h.dst)->sin_port), 443);
    assert_int_equal(h.present, 0);

    /* build from the parsed fields: the same bytes */
    uint8_t out[200];
    struct sstp_wbuf w;
    sstp_wbuf_init(&w, out, sizeof out);
    assert_int_equal(sstp_pp1_build(&w, &h), SSTP_OK);
    assert_int_equal(w.len, 48);
    assert_memory_equal(out, line, 48);
    free(keep);

    /* bytes after the line are never consumed (the TLS ClientHello here) */
    char more[64];
    memcpy(more, line, 48);
    memcpy(more + 48, "\x16\x03\x01\x02\x00", 5);
    check_feed("v1 doc + tls", more, 53, SSTP_OK, 48);
}

static void test_v1_tcp6(void **state)
{
    (void)state;
    static const char line[] = "PROXY TCP6 2001:db8::1 2001:db8:0:1::20 0 65535\r\n";
    size_t n = strlen(line);
    struct sstp_pp_hdr h;
    uint8_t *keep;
    check_feed_as("v1 tcp6", line, n, SSTP_OK, n, &h, &keep);
    assert_int_equal(h.family, SSTP_PP_FAM_TCP6);
    assert_int_equal(h.src.ss_family, AF_INET6);
    static const uint8_t s6[16] = { 0x20, 0x01, 0x0d, 0xb8, [15] = 1 };
    static const uint8_t d6[16] = { 0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 1, [15] = 0x20 };
    assert_memory_equal(&in6(&h.src)->sin6_addr, s6, 16);
    assert_memory_equal(&in6(&h.dst)->sin6_addr, d6, 16);
    assert_int_equal(ntohs(in6(&h.src)->sin6_port), 0);
    assert_int_equal(ntohs(in6(&h.dst)->sin6_port), 65535);
    uint8_t out[200];
    struct sstp_wbuf w;
    sstp_wbuf_init(&w, out, sizeof out);
    assert_int_equal(sstp_pp1_build(&w, &h), SSTP_OK);
    assert_int_equal(w.len, n);
    assert_memory_equal(out, line, n);
    free(keep);

    /* the longest TCP6 line is 104 bytes and round-trips */
    static const char worst[] =
        "PROXY TCP6 ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff "
        "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 65535 65535\r\n";
    assert_int_equal(strlen(worst), 104);
    check_feed_as("v1 tcp6 worst", worst, 104, SSTP_OK, 104, &h, &keep);
    sstp_wbuf_init(&w, out, sizeof out);
    assert_int_equal(sstp_pp1_build(&w, &h), SSTP_OK);
    assert_int_equal(w.len, 104);
    assert_memory_equal(out, worst, 104);
    free(keep);

    /* upper-case hex and an IPv4-mapped form are IPv6 as inet_pton reads it */
    static const char mapped[] = "PROXY TCP6 ::FFFF:192.0.2.1 ::1 1 2\r\n";
    check_feed_as("v1 tcp6 mapped", mapped, strlen(mapped), SSTP_OK, strlen(mapped), &h, &keep);
    assert_int_equal(in6(&h.src)->sin6_addr.s6_addr[10], 0xFF);
    assert_int_equal(in6(&h.src)->sin6_addr.s6_addr[12], 192);
    free(keep);
}

static void test_v1_unknown(void **state)
{
    (void)state;
    struct sstp_pp_hdr h;
    uint8_t *keep;
    check_feed_as("unknown", "PROXY UNKNOWN\r\n", 15, SSTP_OK, 15, &h, &keep);
    assert_int_equal(h.version, SSTP_PP_V1);
    assert_int_equal(h.family, SSTP_PP_FAM_UNSPEC);
    assert_int_equal(h.src.ss_family, AF_UNSPEC);
    assert_int_equal(h.dst.ss_family, AF_UNSPEC);
    free(keep);
    /* anything may follow UNKNOWN up to CRLF, and is ignored */
    static const char junk[] = "PROXY UNKNOWN ffff::1 not-an-address 99999 x\r\nGET";
    check_feed("unknown junk", junk, strlen(junk), SSTP_OK, strlen(junk) - 3);

    uint8_t out[32];
    struct sstp_wbuf w;
    struct sstp_pp_hdr b;
    memset(&b, 0, sizeof b);
    b.family = SSTP_PP_FAM_UNSPEC;
    sstp_wbuf_init(&w, out, sizeof out);
    assert_int_equal(sstp_pp1_build(&w, &b), SSTP_OK);
    assert_int_equal(w.len, 15);
    assert_memory_equal(out, "PROXY UNKNOWN\r\n", 15);
}

static void test_v1_limits(void **state)
{
    (void)state;
    char line[200];

    /* 107 bytes including CRLF: accepted */
    memcpy(line, "PROXY UNKNOWN ", 14);
    memset(line + 14, 'x', 91);
    memcpy(line + 105, "\r\n", 2);
    check_feed("v1 107", line, 107, SSTP_OK, 107);

    /* 108 bytes: rejected once 107 bytes are in */
    memset(line + 14, 'x', 92);
    memcpy(line + 106, "\r\n", 2);
    check_feed("v1 108", line, 108, SSTP_E_PP_V1_LINE, 0);
    check_feed("v1 108 prefix", line, 107, SSTP_E_PP_V1_LINE, 0);

    /* no CRLF: AGAIN up to 106 bytes, rejected at 107 */
    memset(line + 14, 'x', 150);
    check_feed("v1 106 no crlf", line, 106, SSTP_AGAIN, 0);
    check_feed("v1 107 no crlf", line, 107, SSTP_E_PP_V1_LINE, 0);
    check_feed("v1 150 no crlf", line, 150, SSTP_E_PP_V1_LINE, 0);

    /* CR as byte 106: waits for byte 107 */
    memcpy(line + 105, "\r", 1);
    check_feed("v1 cr at 106", line, 106, SSTP_AGAIN, 0);
}

struct v1_case {
    const char *line;
    enum sstp_rc rc;
};

static void test_v1_rejects(void **state)
{
    (void)state;
    static const struct v1_case cases[] = {
        /* structure */
        { "PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n", SSTP_E_PP_V1_LINE },      /* lone LF */
        { "PROXY TCP4 1.2.3.4 5.6.7.8 1 2\rX", SSTP_E_PP_V1_LINE },     /* lone CR */
        { "PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\r\n", SSTP_E_PP_V1_LINE },
        { "PROXY \n", SSTP_E_PP_V1_LINE },
        { "PROXY \r\n", SSTP_E_PP_V1_LINE },
        { "PROXY  TCP4 1.2.3.4 5.6.7.8 1 2\r\n", SSTP_E_PP_V1_LINE },
        { "PROXY TCP5 1.2.3.4 5.6.7.8 1 2\r\n", SSTP_E_PP_V1_LINE },
        { "PROXY tcp4 1.2.3.4 5.6.7.8 1 2\r\n", SSTP_E_PP_V1_LINE },
        { "PROXY UDP4 1.2.3.4 5.6.7.8 1 2\r\n", SSTP_E_PP_V1_LINE },
        { "PROXY TCP4\r\n", SSTP_E_PP_V1_LINE },
        { "PROXY TCP4 \r\n", SSTP_E_PP_V1_LINE },
        { "PROXY TCP4  1.2.3.4 5.6.7.8 1 2\r\n", SSTP_E_PP_V1_LINE },
        { "PROXY TCP4 1.2.3.4  5.6.7.8 1 2\r\n", SSTP_E_PP_V1_LINE },
        { "PROXY TCP4 1.2.3.4 5.6.7.8 1 2 \r\n", SSTP_E_PP_V1_LINE },
        { "PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n", SSTP_E_PP_V1_LINE },
        { "PROXY TCP4 1.2.3.4 5.6.7.8 1 2 3\r\n", SSTP_E_PP_V1_LINE },
        { "PROXY TCP4 1.2.3.4\t5.6.7.8 1 2\r\n", SSTP_E_PP_V1_LINE },
        { "PROXY UNKNOWNX\r\n", SSTP_E_PP_V1_LINE },
        { "PROXY UNKNOWN\n", SSTP_E_PP_V1_LINE },
        /* addresses and ports */
        { "PROXY TCP4 01.2.3.4 5.6.7.8 1 2\r\n", SSTP_E_PP_V1_ADDR },
        { "PROXY TCP4 1.2.3.04 5.6.7.8 1 2\r\n", SSTP_E_PP_V1_ADDR },
        { "PROXY TCP4 1.2.3 5.6.7.8 1 2\r\n", SSTP_E_PP_V1_ADDR },
        { "PROXY TCP4 1.2.3.4.5 5.6.7.8 1 2\r\n", SSTP_E_PP_V1_ADDR },
        { "PROXY TCP4 256.2.3.4 5.6.7.8 1 2\r\n", SSTP_E_PP_V1_ADDR },
        { "PROXY TCP4 1.2.3.4 5.6.7.1000 1 2\r\n", SSTP_E_PP_V1_ADDR },
        { "PROXY TCP4 1..3.4 5.6.7.8 1 2\r\n", SSTP_E_PP_V1_ADDR },
        { "PROXY TCP4 1.2.3.4. 5.6.7.8 1 2\r\n", SSTP_E_PP_V1_ADDR },
        { "PROXY TCP4 a.b.c.d 5.6.7.8 1 2\r\n", SSTP_E_PP_V1_ADDR },
        { "PROXY TCP4 +1.2.3.4 5.6.7.8 1 2\r\n", SSTP_E_PP_V1_ADDR },
        { "PROXY TCP4 ::1 5.6.7.8 1 2\r\n", SSTP_E_PP_V1_ADDR },
        { "PROXY TCP4 1.2.3.4 5.6.7.8 65536 2\r\n", SSTP_E_PP_V1_ADDR },
        { "PROXY TCP4 1.2.3.4 5.6.7.8 1 99999999999\r\n", SSTP_E_PP_V1_ADDR },
        { "PROXY TCP4 1.2.3.4 5.6.7.8 01 2\r\n", SSTP_E_PP_V1_ADDR },
        { "PROXY TCP4 1.2.3.4 5.6.7.8 00 2\r\n", SSTP_E_PP_V1_ADDR },
        { "PROXY TCP4 1.2.3.4 5.6.7.8 -1 2\r\n", SSTP_E_PP_V1_ADDR },
        { "PROXY TCP4 1.2.3.4 5.6.7.8 1 0x10\r\n", SSTP_E_PP_V1_ADDR },
        { "PROXY TCP6 1.2.3.4 ::1 1 2\r\n", SSTP_E_PP_V1_ADDR },
        { "PROXY TCP6 2001:db8:::1 ::1 1 2\r\n", SSTP_E_PP_V1_ADDR },
        { "PROXY TCP6 2001::db8::1 ::1 1 2\r\n", SSTP_E_PP_V1_ADDR },
        { "PROXY TCP6 12345::1 ::1 1 2\r\n", SSTP_E_PP_V1_ADDR },
        { "PROXY TCP6 2001:db8::g ::1 1 2\r\n", SSTP_E_PP_V1_ADDR },
        { "PROXY TCP6 [::1] ::1 1 2\r\n", SSTP_E_PP_V1_ADDR },
        { "PROXY TCP6 fe80::1%eth0 ::1 1 2\r\n", SSTP_E_PP_V1_ADDR },
        { "PROXY TCP6 1:2:3:4:5:6:7:8:9 ::1 1 2\r\n", SSTP_E_PP_V1_ADDR },
        { "PROXY TCP6 0000:0000:0000:0000:0000:ffff:1.2.3.4:0 ::1 1 2\r\n", SSTP_E_PP_V1_ADDR },
        { "PROXY TCP6 ::1 ::1 1 65536\r\n", SSTP_E_PP_V1_ADDR },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        check_feed(cases[i].line, cases[i].line, strlen(cases[i].line), cases[i].rc, 0);

    /* a NUL inside an address */
    static const char nul[] = "PROXY TCP4 1.2.3.4\0 5.6.7.8 1 2\r\n";
    check_feed("v1 nul", nul, sizeof nul - 1, SSTP_E_PP_V1_ADDR, 0);
}

/* ---------------------------------------------------------------- signature */

static void test_signature(void **state)
{
    (void)state;
    struct { const char *name; const char *in; size_t n; size_t fail_at; } cases[] = {
        { "http", "GET / HTTP/1.1\r\n", 16, 1 },
        { "tls", "\x16\x03\x01\x02\x00\x01", 6, 1 },
        { "sstp", "SSTP_DUPLEX_POST /sra_", 22, 1 },
        { "pr", "PRIVMSG", 7, 3 },
        { "proxz", "PROXZ TCP4", 10, 5 },
        { "proxy no space", "PROXY\r\n", 7, 6 },
        { "lower", "proxy TCP4", 10, 1 },
        { "v2 sig bad at 11", "\r\n\r\n\0\r\nQUIX\n!\x11", 14, 11 },
        { "v2 sig bad at 5", "\r\n\r\n\1\r\nQUIT\n!\x11", 14, 5 },
        { "crlf only", "\r\n\r\n\r\n", 6, 5 },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        check_feed(cases[i].name, cases[i].in, cases[i].n, SSTP_E_PP_SIGNATURE, 0);
        /* rejected as soon as the offending byte is in, not later */
        check_feed(cases[i].name, cases[i].in, cases[i].fail_at, SSTP_E_PP_SIGNATURE, 0);
        if (cases[i].fail_at > 1)
            check_feed(cases[i].name, cases[i].in, cases[i].fail_at - 1, SSTP_AGAIN, 0);
    }
    /* prefixes of both signatures wait for more */
    check_feed("v1 prefix", "PROXY ", 6, SSTP_AGAIN, 0);
    check_feed("v2 prefix", "\r\n\r\n\0\r\nQUIT\n", 12, SSTP_AGAIN, 0);
    check_feed("v2 13", "\r\n\r\n\0\r\nQUIT\n\x21", 13, SSTP_AGAIN, 0);
    check_feed("v2 15", "\r\n\r\n\0\r\nQUIT\n\x21\x11\x00", 15, SSTP_AGAIN, 0);

    /* bad arguments */
    struct sstp_pp_hdr h;
    size_t used;
    assert_int_equal(sstp_pp_parse(NULL, &used, (const uint8_t *)"P", 1), SSTP_E_ARG);
    assert_int_equal(sstp_pp_parse(&h, NULL, (const uint8_t *)"P", 1), SSTP_E_ARG);
    assert_int_equal(sstp_pp_parse(&h, &used, NULL, 1), SSTP_E_ARG);
    assert_int_equal(sstp_pp_parse(&h, &used, NULL, 0), SSTP_AGAIN);
}

/* ----------------------------------------------------------------------- v2 */

static void test_v2_doc_example(void **state)
{
    (void)state;
    /* PROXY v2 worked example of the design doc, 46 bytes */
    static const uint8_t ex[46] = {
        0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a, 0x21, 0x11, 0x00, 0x1e,
        0xcb, 0x00, 0x71, 0x07, 0xc6, 0x33, 0x64, 0x0a, 0xc8, 0x22, 0x01, 0xbb,
        0x02, 0x00, 0x0f, 0x76, 0x70, 0x6e, 0x2e, 0x65, 0x78, 0x61, 0x6d, 0x70, 0x6c, 0x65,
        0x2e, 0x63, 0x6f, 0x6d,
    };
    struct sstp_pp_hdr h;
    uint8_t *keep;
    check_feed_as("v2 doc", ex, sizeof ex, SSTP_OK, 46, &h, &keep);
    assert_int_equal(h.version, SSTP_PP_V2);
    assert_int_equal(h.command, SSTP_PP_CMD_PROXY);
    assert_int_equal(h.family, SSTP_PP_FAM_TCP4);
    assert_int_equal(ntohl(in4(&h.src)->sin_addr.s_addr), 0xCB007107u);
    assert_int_equal(ntohl(in4(&h.dst)->sin_addr.s_addr), 0xC633640Au);
    assert_int_equal(ntohs(in4(&h.src)->sin_port), 51234);
    assert_int_equal(ntohs(in4(&h.dst)->sin_port), 443);
    assert_int_equal(h.present, SSTP_PP_HAS_AUTHORITY);
    assert_int_equal(h.authority.len, 15);
    assert_memory_equal(h.authority.p, "vpn.example.com", 15);
    assert_int_equal(h.n_foreign, 0);
    assert_int_equal(h.n_skipped, 0);
    free(keep);

    /* built from fields set by hand: the same 46 bytes */
    struct sstp_pp_hdr b;
    memset(&b, 0, sizeof b);
    b.command = SSTP_PP_CMD_PROXY;
    b.family = SSTP_PP_FAM_TCP4;
    set4(&b.src, "203.0.113.7", 51234);
    set4(&b.dst, "198.51.100.10", 443);
    b.present = SSTP_PP_HAS_AUTHORITY;
    b.authority = sstp_slice_make("vpn.example.com", 15);
    uint8_t out[64];
    struct sstp_wbuf w;
    sstp_wbuf_init(&w, out, sizeof out);
    assert_int_equal(sstp_pp2_build(&w, &b), SSTP_OK);
    assert_int_equal(w.len, 46);
    assert_memory_equal(out, ex, 46);

    /* trailing bytes are not consumed */
    uint8_t more[50];
    memcpy(more, ex, 46);
    memcpy(more + 46, "\x16\x03\x01\x00", 4);
    check_feed("v2 doc + tls", more, 50, SSTP_OK, 46);
}

static struct sstp_slice vv(struct ppv_view v)
{
    return sstp_slice_make(v.p, v.len);
}

static void expect_view(const char *name, const char *what, bool has, struct sstp_slice got,
                        struct ppv_view want)
{
    if (has != (want.has != 0))
        fail_msg("%s: %s presence %d want %d", name, what, has, want.has);
    if (has && !view_same(got, vv(want)))
        fail_msg("%s: %s differs", name, what);
}

/* The header the vector describes, as builder input. */
static void hdr_from_vec(struct sstp_pp_hdr *h, const struct ppv *v)
{
    memset(h, 0, sizeof *h);
    h->version = SSTP_PP_V2;
    h->command = (enum sstp_pp_cmd)v->cmd;
    h->family = (enum sstp_pp_fam)v->fam;
    switch (v->fam >> 4) {
    case 1: {
        struct sockaddr_in *s = (struct sockaddr_in *)&h->src, *d = (struct sockaddr_in *)&h->dst;
        s->sin_family = d->sin_family = AF_INET;
        memcpy(&s->sin_addr, v->src, 4);
        memcpy(&d->sin_addr, v->dst, 4);
        s->sin_port = htons((uint16_t)v->sport);
        d->sin_port = htons((uint16_t)v->dport);
        break;
    }
    case 2: {
        struct sockaddr_in6 *s = (struct sockaddr_in6 *)&h->src, *d = (struct sockaddr_in6 *)&h->dst;
        s->sin6_family = d->sin6_family = AF_INET6;
        memcpy(&s->sin6_addr, v->src, 16);
        memcpy(&d->sin6_addr, v->dst, 16);
        s->sin6_port = htons((uint16_t)v->sport);
        d->sin6_port = htons((uint16_t)v->dport);
        break;
    }
    case 3: {
        struct sockaddr_un *s = (struct sockaddr_un *)&h->src, *d = (struct sockaddr_un *)&h->dst;
        s->sun_family = d->sun_family = AF_UNIX;
        memcpy(s->sun_path, v->src_path, 108);
        memcpy(d->sun_path, v->dst_path, 108);
        break;
    }
    default:
        break;
    }
    if (v->authority.has) { h->present |= SSTP_PP_HAS_AUTHORITY; h->authority = vv(v->authority); }
    if (v->unique_id.has) { h->present |= SSTP_PP_HAS_UNIQUE_ID; h->unique_id = vv(v->unique_id); }
    if (v->crc)
        h->present |= SSTP_PP_HAS_CRC32C;
    if (v->ssl) {
        h->present |= SSTP_PP_HAS_SSL;
        h->ssl.client = (uint8_t)v->ssl_client;
        h->ssl.verify = v->ssl_verify;
    }
    if (v->ssl_version.has) { h->present |= SSTP_PP_HAS_SSL_VERSION; h->ssl.version = vv(v->ssl_version); }
    if (v->ssl_cn.has) { h->present |= SSTP_PP_HAS_SSL_CN; h->ssl.cn = vv(v->ssl_cn); }
    if (v->ssl_cipher.has) { h->present |= SSTP_PP_HAS_SSL_CIPHER; h->ssl.cipher = vv(v->ssl_cipher); }
    if (v->ssl_sig_alg.has) { h->present |= SSTP_PP_HAS_SSL_SIG_ALG; h->ssl.sig_alg = vv(v->ssl_sig_alg); }
    if (v->ssl_key_alg.has) { h->present |= SSTP_PP_HAS_SSL_KEY_ALG; h->ssl.key_alg = vv(v->ssl_key_alg); }
    if (v->sha256.has) { h->present |= SSTP_PP_HAS_CERT_SHA256; h->cert_sha256 = v->sha256.p; }
    if (v->sha1.has) { h->present |= SSTP_PP_HAS_CERT_SHA1; h->cert_sha1 = v->sha1.p; }
    if (v->meta) {
        h->present |= SSTP_PP_HAS_META;
        h->meta.proxy_id = vv(v->meta_proxy_id);
        h->meta.client_cert_sha256 = v->meta_client_cert.has ? v->meta_client_cert.p : NULL;
        h->meta.tenant = vv(v->meta_tenant);
        h->meta.affinity = vv(v->meta_affinity);
    }
}

static void test_v2_python_vectors(void **state)
{
    (void)state;
    size_t n_built = 0;
    for (size_t i = 0; i < PPV_COUNT; i++) {
        const struct ppv *v = &PPV[i];
        struct sstp_pp_hdr h, want;
        uint8_t *keep;
        check_feed_as(v->name, v->bytes, v->len, SSTP_OK, v->len, &h, &keep);

        hdr_from_vec(&want, v);
        assert_int_equal(h.version, SSTP_PP_V2);
        if ((int)h.command != v->cmd)
            fail_msg("%s: command", v->name);
        if (v->cmd == SSTP_PP_CMD_LOCAL) {
            /* LOCAL: family, addresses and TLVs ignored */
            if (h.family != SSTP_PP_FAM_UNSPEC || h.src.ss_family != AF_UNSPEC ||
                h.dst.ss_family != AF_UNSPEC || h.present != 0)
                fail_msg("%s: LOCAL reported fields", v->name);
        } else {
            if ((int)h.family != v->fam)
                fail_msg("%s: family 0x%02x", v->name, h.family);
            if (!addr_same(&h.src, &want.src) || !addr_same(&h.dst, &want.dst))
                fail_msg("%s: addresses differ", v->name);
        }
        expect_view(v->name, "authority", h.present & SSTP_PP_HAS_AUTHORITY, h.authority, v->authority);
        expect_view(v->name, "unique_id", h.present & SSTP_PP_HAS_UNIQUE_ID, h.unique_id, v->unique_id);
        if (!!(h.present & SSTP_PP_HAS_CRC32C) != v->crc)
            fail_msg("%s: crc presence", v->name);
        if (!!(h.present & SSTP_PP_HAS_SSL) != v->ssl)
            fail_msg("%s: ssl presence", v->name);
        if (v->ssl && (h.ssl.client != v->ssl_client || h.ssl.verify != v->ssl_verify))
            fail_msg("%s: ssl client/verify", v->name);
        expect_view(v->name, "ssl version", h.present & SSTP_PP_HAS_SSL_VERSION, h.ssl.version, v->ssl_version);
        expect_view(v->name, "ssl cn", h.present & SSTP_PP_HAS_SSL_CN, h.ssl.cn, v->ssl_cn);
        expect_view(v->name, "ssl cipher", h.present & SSTP_PP_HAS_SSL_CIPHER, h.ssl.cipher, v->ssl_cipher);
        expect_view(v->name, "ssl sig_alg", h.present & SSTP_PP_HAS_SSL_SIG_ALG, h.ssl.sig_alg, v->ssl_sig_alg);
        expect_view(v->name, "ssl key_alg", h.present & SSTP_PP_HAS_SSL_KEY_ALG, h.ssl.key_alg, v->ssl_key_alg);
        expect_view(v->name, "sha256", h.present & SSTP_PP_HAS_CERT_SHA256,
                    sstp_slice_make(h.cert_sha256, h.cert_sha256 ? 32 : 0), v->sha256);
        expect_view(v->name, "sha1", h.present & SSTP_PP_HAS_CERT_SHA1,
                    sstp_slice_make(h.cert_sha1, h.cert_sha1 ? 20 : 0), v->sha1);
        if (!!(h.present & SSTP_PP_HAS_META) != v->meta)
            fail_msg("%s: meta presence", v->name);
        if (v->meta) {
            expect_view(v->name, "proxy_id", true, h.meta.proxy_id, v->meta_proxy_id);
            expect_view(v->name, "client cert", h.meta.client_cert_sha256 != NULL,
                        sstp_slice_make(h.meta.client_cert_sha256, 32), v->meta_client_cert);
            expect_view(v->name, "tenant", true, h.meta.tenant, v->meta_tenant);
            expect_view(v->name, "affinity", true, h.meta.affinity, v->meta_affinity);
        }
        if (h.n_foreign != v->n_foreign || h.n_skipped != v->n_skipped)
            fail_msg("%s: counts %u/%u want %u/%u", v->name, h.n_foreign, h.n_skipped,
                     v->n_foreign, v->n_skipped);
        if (v->cmd == SSTP_PP_CMD_PROXY && !hdr_same(&h, &want, true, false))
            fail_msg("%s: fields differ from the vector", v->name);
        free(keep);

        if (!v->buildable)
            continue;
        /* build from the vector's fields: Python's bytes exactly */
        uint8_t *out = malloc(v->len);
        assert_non_null(out);
        struct sstp_wbuf w;
        sstp_wbuf_init(&w, out, v->len);
        enum sstp_rc rc = sstp_pp2_build(&w, &want);
        if (rc != SSTP_OK)
            fail_msg("%s: build %s", v->name, sstp_rc_name(rc));
        assert_int_equal(w.len, v->len);
        if (memcmp(out, v->bytes, v->len) != 0)
            fail_msg("%s: built bytes differ", v->name);
        /* one byte short fails whole */
        sstp_wbuf_init(&w, out, v->len - 1);
        assert_int_equal(sstp_pp2_build(&w, &want), SSTP_E_NOSPACE);
        assert_int_equal(w.len, 0);
        assert_true(w.err);
        free(out);
        n_built++;
    }
    assert_true(PPV_COUNT >= 12);
    assert_true(n_built >= 9);
}

struct v2_case {
    const char *name;
    uint8_t buf[600];
    size_t len;
    enum sstp_rc rc;
};

static void add_case(struct v2_case *c, size_t *n, const char *name, const uint8_t *buf,
                     size_t len, enum sstp_rc rc)
{
    assert_true(len <= sizeof c[0].buf);
    c[*n].name = name;
    memcpy(c[*n].buf, buf, len);
    c[*n].len = len;
    c[*n].rc = rc;
    (*n)++;
}

#define TLV(...) ((const uint8_t[]){ __VA_ARGS__ }), sizeof((const uint8_t[]){ __VA_ARGS__ })

static void test_v2_rejects(void **state)
{
    (void)state;
    static struct v2_case c[128];
    size_t n = 0, len;
    uint8_t b[600], body[600];
    memset(body, 0, sizeof body);

    /* version, command, family */
    len = mk_v2(b, 0x11, 0x11, ADDR4, 12);
    add_case(c, &n, "version 1", b, len, SSTP_E_PP_V2_VERSION);
    len = mk_v2(b, 0x31, 0x11, ADDR4, 12);
    add_case(c, &n, "version 3", b, len, SSTP_E_PP_V2_VERSION);
    len = mk_v2(b, 0x01, 0x11, ADDR4, 12);
    add_case(c, &n, "version 0", b, len, SSTP_E_PP_V2_VERSION);
    len = mk_v2(b, 0x22, 0x11, ADDR4, 12);
    add_case(c, &n, "command 2", b, len, SSTP_E_PP_V2_COMMAND);
    len = mk_v2(b, 0x2F, 0x11, ADDR4, 12);
    add_case(c, &n, "command F", b, len, SSTP_E_PP_V2_COMMAND);
    static const uint8_t bad_fams[] = { 0x01, 0x02, 0x10, 0x13, 0x1F, 0x20, 0x23, 0x30,
                                        0x33, 0x41, 0x42, 0xFF };
    for (size_t i = 0; i < sizeof bad_fams; i++) {
        len = mk_v2(b, 0x21, bad_fams[i], body, 216);
        add_case(c, &n, "family", b, len, SSTP_E_PP_V2_FAMILY);
    }

    /* length */
    len = mk_v2(b, 0x21, 0x11, body, 11);
    add_case(c, &n, "tcp4 len 11", b, len, SSTP_E_PP_V2_LEN);
    len = mk_v2(b, 0x21, 0x12, body, 0);
    add_case(c, &n, "udp4 len 0", b, len, SSTP_E_PP_V2_LEN);
    len = mk_v2(b, 0x21, 0x21, body, 35);
    add_case(c, &n, "tcp6 len 35", b, len, SSTP_E_PP_V2_LEN);
    len = mk_v2(b, 0x21, 0x31, body, 215);
    add_case(c, &n, "unix len 215", b, len, SSTP_E_PP_V2_LEN);

    /* TLV structure */
    len = mk_tcp4(b, TLV(0x02));
    add_case(c, &n, "tlv 1 byte", b, len, SSTP_E_PP_V2_TLV);
    len = mk_tcp4(b, TLV(0x02, 0x00));
    add_case(c, &n, "tlv 2 bytes", b, len, SSTP_E_PP_V2_TLV);
    len = mk_tcp4(b, TLV(0x02, 0x00, 0x05, 'a', 'b'));
    add_case(c, &n, "tlv value overrun", b, len, SSTP_E_PP_V2_TLV);
    len = mk_tcp4(b, TLV(0x04, 0x00, 0x00, 0x55, 0xFF, 0xFF));
    add_case(c, &n, "unknown tlv overrun", b, len, SSTP_E_PP_V2_TLV);
    len = mk_tcp4(b, TLV(0xE0, 0x00, 0x02, 0x01));
    add_case(c, &n, "foreign tlv overrun", b, len, SSTP_E_PP_V2_TLV);
    len = mk_tcp4(b, TLV(0x03, 0x00, 0x03, 0, 0, 0));
    add_case(c, &n, "crc len 3", b, len, SSTP_E_PP_V2_TLV);
    len = mk_tcp4(b, TLV(0x03, 0x00, 0x05, 0, 0, 0, 0, 0));
    add_case(c, &n, "crc len 5", b, len, SSTP_E_PP_V2_TLV);
    {
        uint8_t t[3 + 129];
        t[0] = 0x05, t[1] = 0x00, t[2] = 129;
        memset(t + 3, 'u', 129);
        len = mk_tcp4(b, t, sizeof t);
        add_case(c, &n, "unique id 129", b, len, SSTP_E_PP_V2_TLV);
    }
    len = mk_tcp4(b, TLV(0x20, 0x00, 0x04, 0x01, 0, 0, 0));
    add_case(c, &n, "ssl len 4", b, len, SSTP_E_PP_V2_TLV);
    len = mk_tcp4(b, TLV(0x20, 0x00, 0x00));
    add_case(c, &n, "ssl len 0", b, len, SSTP_E_PP_V2_TLV);
    len = mk_tcp4(b, TLV(0x20, 0x00, 0x07, 0x01, 0, 0, 0, 0, 0x21, 0x00));
    add_case(c, &n, "ssl sub header short", b, len, SSTP_E_PP_V2_TLV);
    len = mk_tcp4(b, TLV(0x20, 0x00, 0x09, 0x01, 0, 0, 0, 0, 0x21, 0x00, 0x02, 'T'));
    add_case(c, &n, "ssl sub overrun", b, len, SSTP_E_PP_V2_TLV);
    len = mk_tcp4(b, TLV(0x20, 0x00, 0x09, 0x01, 0, 0, 0, 0, 0x30, 0x00, 0x09, 'T', 0x00));
    add_case(c, &n, "ssl unknown sub overrun", b, len, SSTP_E_PP_V2_TLV);

    /* repeats of decoded TLVs */
    len = mk_tcp4(b, TLV(0x02, 0x00, 0x01, 'a', 0x02, 0x00, 0x01, 'b'));
    add_case(c, &n, "dup authority", b, len, SSTP_E_PP_V2_TLV);
    len = mk_tcp4(b, TLV(0x05, 0x00, 0x01, 'a', 0x05, 0x00, 0x00));
    add_case(c, &n, "dup unique id", b, len, SSTP_E_PP_V2_TLV);
    len = mk_tcp4(b, TLV(0x03, 0x00, 0x04, 0, 0, 0, 0, 0x03, 0x00, 0x04, 0, 0, 0, 0));
    add_case(c, &n, "dup crc", b, len, SSTP_E_PP_V2_TLV);
    len = mk_tcp4(b, TLV(0x20, 0x00, 0x05, 0, 0, 0, 0, 0, 0x20, 0x00, 0x05, 0, 0, 0, 0, 0));
    add_case(c, &n, "dup ssl", b, len, SSTP_E_PP_V2_TLV);
    len = mk_tcp4(b, TLV(0x20, 0x00, 0x0B, 0x01, 0, 0, 0, 0, 0x23, 0x00, 0x00, 0x23, 0x00, 0x00));
    add_case(c, &n, "dup ssl cipher", b, len, SSTP_E_PP_V2_TLV);
    {
        uint8_t t[2 * 35];
        for (int k = 0; k < 2; k++) {
            t[35 * k] = 0xE8, t[35 * k + 1] = 0, t[35 * k + 2] = 32;
            memset(t + 35 * k + 3, 0xAB, 32);
        }
        len = mk_tcp4(b, t, sizeof t);
        add_case(c, &n, "dup sha256", b, len, SSTP_E_PP_V2_TLV);
        for (int k = 0; k < 2; k++) {
            t[23 * k] = 0xE9, t[23 * k + 1] = 0, t[23 * k + 2] = 20;
            memset(t + 23 * k + 3, 0xCD, 20);
        }
        len = mk_tcp4(b, t, 46);
        add_case(c, &n, "dup sha1", b, len, SSTP_E_PP_V2_TLV);
    }
    len = mk_tcp4(b, TLV(0xEB, 0x00, 0x06, 1, 0, 1, 'p', 0, 0, 0xEB, 0x00, 0x06, 1, 0, 1, 'p', 0, 0));
    add_case(c, &n, "dup meta", b, len, SSTP_E_PP_V2_TLV);

    /* our TLVs */
    {
        uint8_t t[3 + 40];
        memset(t, 0x5A, sizeof t);
        static const uint8_t bad_sha256[] = { 0, 20, 31, 33, 40 };
        for (size_t i = 0; i < sizeof bad_sha256; i++) {
            t[0] = 0xE8, t[1] = 0, t[2] = bad_sha256[i];
            len = mk_tcp4(b, t, 3u + bad_sha256[i]);
            add_case(c, &n, "sha256 len", b, len, SSTP_E_PP_V2_OUR_TLV);
        }
        static const uint8_t bad_sha1[] = { 0, 19, 21, 32 };
        for (size_t i = 0; i < sizeof bad_sha1; i++) {
            t[0] = 0xE9, t[1] = 0, t[2] = bad_sha1[i];
            len = mk_tcp4(b, t, 3u + bad_sha1[i]);
            add_case(c, &n, "sha1 len", b, len, SSTP_E_PP_V2_OUR_TLV);
        }
    }
    len = mk_tcp4(b, TLV(0xEB, 0x00, 0x00));
    add_case(c, &n, "meta empty", b, len, SSTP_E_PP_V2_OUR_TLV);
    len = mk_tcp4(b, TLV(0xEB, 0x00, 0x06, 0, 0, 1, 'p', 0, 0));
    add_case(c, &n, "meta version 0", b, len, SSTP_E_PP_V2_OUR_TLV);
    len = mk_tcp4(b, TLV(0xEB, 0x00, 0x06, 2, 0, 1, 'p', 0, 0));
    add_case(c, &n, "meta version 2", b, len, SSTP_E_PP_V2_OUR_TLV);
    len = mk_tcp4(b, TLV(0xEB, 0x00, 0x06, 1, 0x02, 1, 'p', 0, 0));
    add_case(c, &n, "meta flag 0x02", b, len, SSTP_E_PP_V2_OUR_TLV);
    len = mk_tcp4(b, TLV(0xEB, 0x00, 0x06, 1, 0x80, 1, 'p', 0, 0));
    add_case(c, &n, "meta flag 0x80", b, len, SSTP_E_PP_V2_OUR_TLV);
    len = mk_tcp4(b, TLV(0xEB, 0x00, 0x05, 1, 0, 0, 0, 0));
    add_case(c, &n, "meta empty proxy id", b, len, SSTP_E_PP_V2_OUR_TLV);
    len = mk_tcp4(b, TLV(0xEB, 0x00, 0x07, 1, 0, 1, 'p', 0, 0, 0));
    add_case(c, &n, "meta trailing byte", b, len, SSTP_E_PP_V2_OUR_TLV);
    len = mk_tcp4(b, TLV(0xEB, 0x00, 0x05, 1, 0, 1, 'p', 0));
    add_case(c, &n, "meta no affinity len", b, len, SSTP_E_PP_V2_OUR_TLV);
    len = mk_tcp4(b, TLV(0xEB, 0x00, 0x04, 1, 0, 1, 'p'));
    add_case(c, &n, "meta no tenant len", b, len, SSTP_E_PP_V2_OUR_TLV);
    len = mk_tcp4(b, TLV(0xEB, 0x00, 0x06, 1, 0, 2, 'p', 0, 0));
    add_case(c, &n, "meta proxy id overruns", b, len, SSTP_E_PP_V2_OUR_TLV);
    len = mk_tcp4(b, TLV(0xEB, 0x00, 0x07, 1, 0, 1, 'p', 0, 2, 'a'));
    add_case(c, &n, "meta affinity overruns", b, len, SSTP_E_PP_V2_OUR_TLV);
    len = mk_tcp4(b, TLV(0xEB, 0x00, 0x08, 1, 0x01, 1, 'p', 1, 2, 0, 0));
    add_case(c, &n, "meta client cert short", b, len, SSTP_E_PP_V2_OUR_TLV);
    {
        /* each field one over its maximum, the rest valid */
        static const struct { size_t id, tenant, aff; } over[] = {
            { 65, 0, 0 }, { 1, 129, 0 }, { 1, 0, 65 }, { 64, 128, 65 },
        };
        for (size_t i = 0; i < sizeof over / sizeof over[0]; i++) {
            uint8_t t[400];
            size_t k = 0, vlen = 3 + over[i].id + 1 + over[i].tenant + 1 + over[i].aff;
            t[k++] = 0xEB, t[k++] = 0, t[k++] = (uint8_t)vlen;
            t[k++] = 1, t[k++] = 0, t[k++] = (uint8_t)over[i].id;
            memset(t + k, 'i', over[i].id), k += over[i].id;
            t[k++] = (uint8_t)over[i].tenant;
            memset(t + k, 't', over[i].tenant), k += over[i].tenant;
            t[k++] = (uint8_t)over[i].aff;
            memset(t + k, 'a', over[i].aff), k += over[i].aff;
            len = mk_tcp4(b, t, k);
            add_case(c, &n, "meta field too long", b, len, SSTP_E_PP_V2_OUR_TLV);
        }
    }

    for (size_t i = 0; i < n; i++)
        check_feed(c[i].name, c[i].buf, c[i].len, c[i].rc, 0);

    /* version/command/family errors come as soon as their byte is in */
    len = mk_v2(b, 0x11, 0x11, ADDR4, 12);
    check_feed("version at 13", b, 13, SSTP_E_PP_V2_VERSION, 0);
    len = mk_v2(b, 0x22, 0x11, ADDR4, 12);
    check_feed("command at 13", b, 13, SSTP_E_PP_V2_COMMAND, 0);
    len = mk_v2(b, 0x21, 0x13, ADDR4, 12);
    check_feed("family at 14", b, 14, SSTP_E_PP_V2_FAMILY, 0);
    check_feed("family at 13", b, 13, SSTP_AGAIN, 0);
    len = mk_v2(b, 0x21, 0x21, body, 35);
    check_feed("len at 16", b, 16, SSTP_E_PP_V2_LEN, 0);
    (void)len;
}

static void test_v2_size_policy(void **state)
{
    (void)state;
    uint8_t *b = calloc(1, 5000);
    assert_non_null(b);

    /* 16 + len == 4096 with a NOOP pad: accepted */
    size_t body = SSTP_PP_MAX_HDR_LEN - 16;
    uint8_t *t = calloc(1, body);
    assert_non_null(t);
    memcpy(t, ADDR4, 12);
    t[12] = 0x04;
    sstp_store_u16be(t + 13, (uint16_t)(body - 15));
    size_t len = mk_v2(b, 0x21, 0x11, t, body);
    assert_int_equal(len, 4096);
    check_feed("4096", b, len, SSTP_OK, 4096);

    /* one more byte: rejected from the 16 fixed bytes on, no waiting */
    b[14] = (uint8_t)((body + 1) >> 8);
    b[15] = (uint8_t)(body + 1);
    check_feed("4097 at 16", b, 16, SSTP_E_PP_V2_LEN, 0);
    check_feed("4097 at 4097", b, 4097, SSTP_E_PP_V2_LEN, 0);
    b[14] = 0xFF, b[15] = 0xFF;
    check_feed("65551 at 16", b, 16, SSTP_E_PP_V2_LEN, 0);
    /* LOCAL is bounded the same way */
    b[12] = 0x20;
    check_feed("local 65551", b, 16, SSTP_E_PP_V2_LEN, 0);
    free(t);
    free(b);
}

static void test_v2_local(void **state)
{
    (void)state;
    uint8_t b[400], body[300];
    for (size_t i = 0; i < sizeof body; i++)
        body[i] = (uint8_t)(0xF0 ^ i); /* not a valid TLV stream */
    /* LOCAL with a non-zero len: the whole body is skipped */
    size_t len = mk_v2(b, 0x20, 0x11, body, 200);
    memcpy(b + len, "next", 4);
    struct sstp_pp_hdr h;
    uint8_t *keep;
    check_feed_as("local 200", b, len + 4, SSTP_OK, 216, &h, &keep);
    assert_int_equal(h.command, SSTP_PP_CMD_LOCAL);
    assert_int_equal(h.family, SSTP_PP_FAM_UNSPEC);
    assert_int_equal(h.present, 0);
    free(keep);
    /* incomplete LOCAL body: AGAIN, nothing consumed */
    check_feed("local short", b, 215, SSTP_AGAIN, 0);
    /* LOCAL with a family outside the table: ignored, not rejected */
    len = mk_v2(b, 0x20, 0x77, body, 3);
    check_feed("local fam 77", b, len, SSTP_OK, 19);

    /* builder: LOCAL is the 16 fixed bytes whatever else h holds */
    struct sstp_pp_hdr lb;
    memset(&lb, 0, sizeof lb);
    lb.command = SSTP_PP_CMD_LOCAL;
    lb.family = SSTP_PP_FAM_TCP4;
    lb.present = SSTP_PP_HAS_AUTHORITY | SSTP_PP_HAS_CRC32C;
    lb.authority = sstp_slice_make("ignored", 7);
    uint8_t out[64], want[16];
    mk_v2(want, 0x20, 0x00, NULL, 0);
    struct sstp_wbuf w;
    sstp_wbuf_init(&w, out, sizeof out);
    assert_int_equal(sstp_pp2_build(&w, &lb), SSTP_OK);
    assert_int_equal(w.len, 16);
    assert_memory_equal(out, want, 16);
}

static void test_v2_crc(void **state)
{
    (void)state;
    /* tcp4_full_crc from the Python vectors: any flipped bit in the address
     * block or in the CRC value itself is caught */
    const struct ppv *v = NULL;
    for (size_t i = 0; i < PPV_COUNT; i++)
        if (strcmp(PPV[i].name, "tcp4_full_crc") == 0)
            v = &PPV[i];
    assert_non_null(v);
    uint8_t b[1024];
    assert_true(v->len <= sizeof b);
    memcpy(b, v->bytes, v->len);
    check_feed("crc ok", b, v->len, SSTP_OK, v->len);
    for (size_t off = 16; off < 28; off++) {
        for (int bit = 0; bit < 8; bit++) {
            b[off] ^= (uint8_t)(1u << bit);
            check_feed("crc addr flip", b, v->len, SSTP_E_PP_V2_CRC, 0);
            b[off] ^= (uint8_t)(1u << bit);
        }
    }
    /* the CRC TLV follows AUTHORITY (3 + 15) in that vector */
    size_t crc_val = 16 + 12 + 3 + 15 + 3;
    assert_int_equal(b[crc_val - 3], 0x03);
    b[crc_val + 3] ^= 0x01;
    check_feed("crc value flip", b, v->len, SSTP_E_PP_V2_CRC, 0);
    b[crc_val + 3] ^= 0x01;
    /* a flipped bit in a TLV value (the SNI) */
    b[16 + 12 + 3] ^= 0x20;
    check_feed("crc sni flip", b, v->len, SSTP_E_PP_V2_CRC, 0);

    /* a hand-made header with a CRC of all zeros, then the right one */
    uint8_t h[64];
    size_t len = mk_tcp4(h, TLV(0x03, 0x00, 0x04, 0, 0, 0, 0));
    check_feed("crc zero", h, len, SSTP_E_PP_V2_CRC, 0);
    sstp_store_u32be(h + len - 4, crc32c_bitwise(h, len));
    check_feed("crc right", h, len, SSTP_OK, len);
}

/* ------------------------------------------------------------------ builders */

static const uint8_t SHA256_A[32] = { 0x11, 0x22, 0x33, [31] = 0xFE };
static const uint8_t SHA1_A[20] = { 0x44, 0x55, [19] = 0x66 };
static const uint8_t CCERT[32] = { 0x99, [16] = 0x77, [31] = 0x01 };

static void full_hdr(struct sstp_pp_hdr *h)
{
    memset(h, 0, sizeof *h);
    h->version = SSTP_PP_V2;
    h->command = SSTP_PP_CMD_PROXY;
    h->family = SSTP_PP_FAM_TCP6;
    set6(&h->src, "2001:db8::5", 50000);
    set6(&h->dst, "2001:db8::443", 443);
    h->present = SSTP_PP_HAS_AUTHORITY | SSTP_PP_HAS_CRC32C | SSTP_PP_HAS_UNIQUE_ID |
                 SSTP_PP_HAS_SSL | SSTP_PP_HAS_SSL_VERSION | SSTP_PP_HAS_SSL_CIPHER |
                 SSTP_PP_HAS_SSL_CN | SSTP_PP_HAS_CERT_SHA256 | SSTP_PP_HAS_CERT_SHA1 |
                 SSTP_PP_HAS_META;
    h->authority = sstp_slice_make("vpn.example.org", 15);
    h->unique_id = sstp_slice_make("\x01\x02\x03\x04\x05\x06\x07\x08", 8);
    h->ssl.client = SSTP_PP2_CLIENT_SSL | SSTP_PP2_CLIENT_CERT_CONN;
    h->ssl.verify = 0;
    h->ssl.version = sstp_slice_make("TLSv1.3", 7);
    h->ssl.cipher = sstp_slice_make("TLS_AES_128_GCM_SHA256", 22);
    h->ssl.cn = sstp_slice_make("carol", 5);
    h->cert_sha256 = SHA256_A;
    h->cert_sha1 = SHA1_A;
    h->meta.proxy_id = sstp_slice_make("px-a", 4);
    h->meta.client_cert_sha256 = CCERT;
    h->meta.tenant = sstp_slice_make("t1", 2);
    h->meta.affinity = sstp_slice_make("", 0);
}

static void test_build_roundtrip(void **state)
{
    (void)state;
    struct sstp_pp_hdr h, p;
    full_hdr(&h);
    uint8_t out[512];
    struct sstp_wbuf w;
    sstp_wbuf_init(&w, out, sizeof out);
    assert_int_equal(sstp_pp2_build(&w, &h), SSTP_OK);
    size_t n = w.len;
    /* 16 + 36 + 18 (authority) + 7 (crc) + 11 (uid) + 8 + 10 + 25 + 8 (ssl)
     * + 35 + 23 + 3 + 3 + 4 + 32 + 1 + 2 + 1 (meta) */
    assert_int_equal(n, 16 + 36 + 18 + 7 + 11 + 8 + 10 + 25 + 8 + 35 + 23 + 3 + 3 + 4 + 32 + 1 + 2 + 1);
    assert_int_equal(sstp_load_u16be(out + 14), n - 16);
    uint8_t *keep;
    check_feed_as("full roundtrip", out, n, SSTP_OK, n, &p, &keep);
    h.version = SSTP_PP_V2;
    assert_true(hdr_same(&h, &p, true, true));
    free(keep);

    /* appending after existing bytes: the CRC covers only the header */
    sstp_wbuf_init(&w, out, sizeof out);
    sstp_put_bytes(&w, "xyz", 3);
    assert_int_equal(sstp_pp2_build(&w, &h), SSTP_OK);
    assert_int_equal(w.len, 3 + n);
    check_feed("after prefix", out + 3, n, SSTP_OK, n);

    /* v1 from a v2-style header */
    h.family = SSTP_PP_FAM_TCP4;
    set4(&h.src, "0.0.0.0", 0);
    set4(&h.dst, "255.255.255.255", 65535);
    sstp_wbuf_init(&w, out, sizeof out);
    assert_int_equal(sstp_pp1_build(&w, &h), SSTP_OK);
    static const char v1[] = "PROXY TCP4 0.0.0.0 255.255.255.255 0 65535\r\n";
    assert_int_equal(w.len, strlen(v1));
    assert_memory_equal(out, v1, strlen(v1));
}

static void test_build_nospace(void **state)
{
    (void)state;
    struct sstp_pp_hdr h;
    full_hdr(&h);
    uint8_t ref[512], out[512];
    struct sstp_wbuf w;
    sstp_wbuf_init(&w, ref, sizeof ref);
    assert_int_equal(sstp_pp2_build(&w, &h), SSTP_OK);
    size_t n = w.len;
    for (size_t cap = 0; cap < n; cap++) {
        memset(out, 0xEE, sizeof out);
        sstp_wbuf_init(&w, out, cap);
        assert_int_equal(sstp_pp2_build(&w, &h), SSTP_E_NOSPACE);
        assert_int_equal(w.len, 0);
        assert_true(w.err);
        for (size_t i = 0; i < sizeof out; i++)
            assert_int_equal(out[i], 0xEE); /* nothing written */
    }
    /* a sticky error stays: nothing is written */
    sstp_wbuf_init(&w, out, sizeof out);
    w.err = true;
    assert_int_equal(sstp_pp2_build(&w, &h), SSTP_E_NOSPACE);
    assert_int_equal(w.len, 0);

    /* v1 */
    h.family = SSTP_PP_FAM_TCP4;
    set4(&h.src, "203.0.113.7", 51234);
    set4(&h.dst, "198.51.100.10", 443);
    for (size_t cap = 0; cap < 48; cap++) {
        sstp_wbuf_init(&w, out, cap);
        assert_int_equal(sstp_pp1_build(&w, &h), SSTP_E_NOSPACE);
        assert_int_equal(w.len, 0);
        assert_true(w.err);
    }
    sstp_wbuf_init(&w, out, 48);
    assert_int_equal(sstp_pp1_build(&w, &h), SSTP_OK);
    assert_int_equal(w.len, 48);
}

static void test_build_args(void **state)
{
    (void)state;
    struct sstp_pp_hdr h;
    uint8_t out[8192];
    struct sstp_wbuf w;
    static char big[5000];
    memset(big, 'b', sizeof big);

#define EXPECT_ARG2(mutate)                                          \
    do {                                                             \
        full_hdr(&h);                                                \
        mutate;                                                      \
        sstp_wbuf_init(&w, out, sizeof out);                         \
        assert_int_equal(sstp_pp2_build(&w, &h), SSTP_E_ARG);        \
        assert_int_equal(w.len, 0);                                  \
        assert_false(w.err);                                         \
    } while (0)

    EXPECT_ARG2(h.command = (enum sstp_pp_cmd)2);
    EXPECT_ARG2(h.family = (enum sstp_pp_fam)0x13);
    EXPECT_ARG2(h.family = SSTP_PP_FAM_TCP4);                 /* addresses are IPv6 */
    EXPECT_ARG2(h.family = SSTP_PP_FAM_UNIX_STREAM);
    EXPECT_ARG2(h.dst.ss_family = AF_INET);
    EXPECT_ARG2(h.authority = sstp_slice_make(NULL, 3));
    EXPECT_ARG2(h.authority = sstp_slice_make(big, 4100));     /* above 4096 */
    EXPECT_ARG2(h.authority = sstp_slice_make(big, 4096 - 16 - 36 - 3 - 100));
    EXPECT_ARG2(h.unique_id = sstp_slice_make(big, 129));
    EXPECT_ARG2(h.present &= ~(uint32_t)SSTP_PP_HAS_SSL);      /* sub-TLV without SSL */
    EXPECT_ARG2(h.ssl.cn = sstp_slice_make(NULL, 1));
    EXPECT_ARG2(h.cert_sha256 = NULL);
    EXPECT_ARG2(h.cert_sha1 = NULL);
    EXPECT_ARG2(h.meta.proxy_id = sstp_slice_make(big, 0));
    EXPECT_ARG2(h.meta.proxy_id = sstp_slice_make(big, 65));
    EXPECT_ARG2(h.meta.tenant = sstp_slice_make(big, 129));
    EXPECT_ARG2(h.meta.affinity = sstp_slice_make(big, 65));
    EXPECT_ARG2(h.meta.tenant = sstp_slice_make(NULL, 1));
#undef EXPECT_ARG2

    /* at the limits: accepted */
    full_hdr(&h);
    h.unique_id = sstp_slice_make(big, 128);
    h.meta.proxy_id = sstp_slice_make(big, 64);
    h.meta.tenant = sstp_slice_make(big, 128);
    h.meta.affinity = sstp_slice_make(big, 64);
    sstp_wbuf_init(&w, out, sizeof out);
    assert_int_equal(sstp_pp2_build(&w, &h), SSTP_OK);
    check_feed("limits", out, w.len, SSTP_OK, w.len);
    /* an AUTHORITY that makes the header exactly 4096 bytes */
    full_hdr(&h);
    h.present = SSTP_PP_HAS_AUTHORITY;
    h.authority = sstp_slice_make(big, 4096 - 16 - 36 - 3);
    sstp_wbuf_init(&w, out, sizeof out);
    assert_int_equal(sstp_pp2_build(&w, &h), SSTP_OK);
    assert_int_equal(w.len, 4096);
    check_feed("4096 built", out, w.len, SSTP_OK, 4096);
    h.authority.len++;
    sstp_wbuf_init(&w, out, sizeof out);
    assert_int_equal(sstp_pp2_build(&w, &h), SSTP_E_ARG);

    assert_int_equal(sstp_pp2_build(NULL, &h), SSTP_E_ARG);
    sstp_wbuf_init(&w, out, sizeof out);
    assert_int_equal(sstp_pp2_build(&w, NULL), SSTP_E_ARG);

    /* v1: only TCP4/TCP6/UNSPEC, with matching addresses */
    full_hdr(&h);
    sstp_wbuf_init(&w, out, sizeof out);
    h.family = SSTP_PP_FAM_UDP6;
    assert_int_equal(sstp_pp1_build(&w, &h), SSTP_E_ARG);
    h.family = SSTP_PP_FAM_UNIX_STREAM;
    assert_int_equal(sstp_pp1_build(&w, &h), SSTP_E_ARG);
    h.family = SSTP_PP_FAM_TCP4; /* addresses are IPv6 */
    assert_int_equal(sstp_pp1_build(&w, &h), SSTP_E_ARG);
    h.family = SSTP_PP_FAM_TCP6;
    h.src.ss_family = AF_UNSPEC;
    assert_int_equal(sstp_pp1_build(&w, &h), SSTP_E_ARG);
    assert_int_equal(w.len, 0);
    assert_false(w.err);
    assert_int_equal(sstp_pp1_build(NULL, &h), SSTP_E_ARG);
    assert_int_equal(sstp_pp1_build(&w, NULL), SSTP_E_ARG);
}

static void test_udp_unix_build(void **state)
{
    (void)state;
    struct sstp_pp_hdr h, p;
    memset(&h, 0, sizeof h);
    h.command = SSTP_PP_CMD_PROXY;
    h.family = SSTP_PP_FAM_UNIX_STREAM;
    struct sockaddr_un *s = (struct sockaddr_un *)&h.src, *d = (struct sockaddr_un *)&h.dst;
    s->sun_family = d->sun_family = AF_UNIX;
    strcpy(s->sun_path, "/run/a.sock");
    memset(d->sun_path, 'd', sizeof d->sun_path); /* all 108 bytes, no NUL */
    uint8_t out[300];
    struct sstp_wbuf w;
    sstp_wbuf_init(&w, out, sizeof out);
    assert_int_equal(sstp_pp2_build(&w, &h), SSTP_OK);
    assert_int_equal(w.len, 16 + 216);
    assert_int_equal(out[13], 0x31);
    assert_memory_equal(out + 16, "/run/a.sock\0", 12);
    assert_int_equal(out[16 + 108 + 107], 'd');
    uint8_t *keep;
    check_feed_as("unix", out, w.len, SSTP_OK, w.len, &p, &keep);
    h.version = SSTP_PP_V2;
    assert_true(hdr_same(&h, &p, true, true));
    const struct sockaddr_un *pd = (const struct sockaddr_un *)&p.dst;
    assert_int_equal(strnlen(pd->sun_path, sizeof pd->sun_path), 108);
    free(keep);

    /* UDP4 */
    memset(&h, 0, sizeof h);
    h.command = SSTP_PP_CMD_PROXY;
    h.family = SSTP_PP_FAM_UDP4;
    set4(&h.src, "10.1.2.3", 1234);
    set4(&h.dst, "10.3.2.1", 4321);
    sstp_wbuf_init(&w, out, sizeof out);
    assert_int_equal(sstp_pp2_build(&w, &h), SSTP_OK);
    static const uint8_t want[12] = { 10, 1, 2, 3, 10, 3, 2, 1, 0x04, 0xD2, 0x10, 0xE1 };
    assert_int_equal(w.len, 28);
    assert_int_equal(out[13], 0x12);
    assert_memory_equal(out + 16, want, 12);
}

/* how much a v2 header needs: the signature, the fixed part, then the
 * length it announces (up to 16 + 65535, judged by the parser, not here) */
static void test_v2_want(void **state)
{
    (void)state;
    uint8_t h[PP_V2_HDR_LEN] = SSTP_PP2_SIG;
    h[12] = 0x21, h[13] = 0x11, h[14] = 0x00, h[15] = 12;
    assert_int_equal(sstp_pp2_want(h, 0), PP_V2_SIG_LEN);
    assert_int_equal(sstp_pp2_want(h, PP_V2_SIG_LEN - 1), PP_V2_SIG_LEN);
    assert_int_equal(sstp_pp2_want(h, PP_V2_SIG_LEN), PP_V2_HDR_LEN);
    assert_int_equal(sstp_pp2_want(h, PP_V2_HDR_LEN - 1), PP_V2_HDR_LEN);
    assert_int_equal(sstp_pp2_want(h, PP_V2_HDR_LEN), PP_V2_HDR_LEN + 12);
    h[14] = 0xFF, h[15] = 0xFF;
    assert_int_equal(sstp_pp2_want(h, PP_V2_HDR_LEN), PP_V2_HDR_LEN + 65535);
    /* a whole header from the builder: want is exactly its length */
    uint8_t buf[SSTP_PP_MAX_HDR_LEN];
    struct sstp_wbuf w;
    struct sstp_pp_hdr hdr;
    memset(&hdr, 0, sizeof hdr);
    hdr.command = SSTP_PP_CMD_LOCAL;
    sstp_wbuf_init(&w, buf, sizeof buf);
    assert_int_equal(sstp_pp2_build(&w, &hdr), SSTP_OK);
    assert_int_equal(sstp_pp2_want(buf, w.len), w.len);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_crc32c),
        cmocka_unit_test(test_v2_want),
        cmocka_unit_test(test_v1_doc_example),
        cmocka_unit_test(test_v1_tcp6),
        cmocka_unit_test(test_v1_unknown),
        cmocka_unit_test(test_v1_limits),
        cmocka_unit_test(test_v1_rejects),
        cmocka_unit_test(test_signature),
        cmocka_unit_test(test_v2_doc_example),
        cmocka_unit_test(test_v2_python_vectors),
        cmocka_unit_test(test_v2_rejects),
        cmocka_unit_test(test_v2_size_policy),
        cmocka_unit_test(test_v2_local),
        cmocka_unit_test(test_v2_crc),
        cmocka_unit_test(test_build_roundtrip),
        cmocka_unit_test(test_build_nospace),
        cmocka_unit_test(test_build_args),
        cmocka_unit_test(test_udp_unix_build),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
