/* test_http.c — unit tests of sstp/http.c: the request-head parser (every
 * client form of MS-SSTP 3.2.4.1 / 4.1 we know, every rejection, byte-wise
 * vs whole vs every two-way split), the status table and the builders
 * (expected bytes written out here; dates from Python's email.utils). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sstp/http.h"
#include "tests/unit/helpers.h"

#define URI "/sra_{BA195980-CD49-458b-9E23-C84EE0ADCD75}/"
#define CL "Content-Length: 18446744073709551615"
#define REQ_LINE "SSTP_DUPLEX_POST " URI " HTTP/1.1"

/* ---- helpers ------------------------------------------------------------ */

static void assert_fields_equal(const struct sstp_http_fields *a,
                                const struct sstp_http_fields *b)
{
    assert_int_equal(a->method, b->method);
    assert_int_equal(a->has_host, b->has_host);
    assert_int_equal(a->has_tenantid, b->has_tenantid);
    assert_int_equal(a->has_corr_id, b->has_corr_id);
    assert_int_equal(a->corr_id_too_long, b->corr_id_too_long);
    assert_int_equal(a->host_len, b->host_len);
    assert_int_equal(a->tenantid_len, b->tenantid_len);
    assert_int_equal(a->corr_id_len, b->corr_id_len);
    assert_memory_equal(a->host, b->host, a->host_len + 1);
    assert_memory_equal(a->tenantid, b->tenantid, a->tenantid_len + 1);
    assert_memory_equal(a->corr_id, b->corr_id, a->corr_id_len + 1);
}

/* Whole input in one feed. */
static enum sstp_rc feed_whole(struct sstp_http_req *r, size_t max, const void *in,
                               size_t n, size_t *used)
{
    sstp_http_req_init(r, max);
    uint8_t *b = dup_exact(in, n);
    enum sstp_rc rc = sstp_http_req_feed(r, b, n, used);
    free(b);
    return rc;
}

/* One byte per feed, each in its own 1-byte block; stops at the first
 * result other than SSTP_AGAIN and returns the total taken in *used. */
static enum sstp_rc feed_bytewise(struct sstp_http_req *r, size_t max, const uint8_t *in,
                                  size_t n, size_t *used)
{
    sstp_http_req_init(r, max);
    enum sstp_rc rc = SSTP_AGAIN;
    size_t total = 0;
    for (size_t i = 0; i < n && rc == SSTP_AGAIN; i++) {
        uint8_t *b = dup_exact(in + i, 1);
        size_t u = 99;
        rc = sstp_http_req_feed(r, b, 1, &u);
        free(b);
        assert_true(u <= 1);
        total += u;
    }
    *used = total;
    return rc;
}

/* Two feeds split at k. */
static enum sstp_rc feed_split(struct sstp_http_req *r, size_t max, const uint8_t *in,
                               size_t n, size_t k, size_t *used)
{
    sstp_http_req_init(r, max);
    size_t u1 = 0, u2 = 0;
    uint8_t *b = dup_exact(in, k);
    enum sstp_rc rc = sstp_http_req_feed(r, b, k, &u1);
    free(b);
    if (rc == SSTP_AGAIN) {
        assert_int_equal(u1, k);
        b = dup_exact(in + k, n - k);
        rc = sstp_http_req_feed(r, b, n - k, &u2);
        free(b);
    }
    *used = u1 + u2;
    return rc;
}

static struct sstp_http_req *req_new(void)
{
    struct sstp_http_req *r = calloc(1, sizeof(*r));
    assert_non_null(r);
    return r;
}

/* Parses `in` whole, byte-wise and at every two-way split; asserts all agree
 * with each other and with the expected rc and *used; then that later feeds
 * are sticky. Returns the whole-feed parser (caller frees). */
static struct sstp_http_req *check_parse_n(const void *in, size_t n, size_t max,
                                           enum sstp_rc want_rc, size_t want_used)
{
    struct sstp_http_req *whole = req_new(), *other = req_new();
    size_t used = 0, u2 = 0;
    enum sstp_rc rc = feed_whole(whole, max, in, n, &used);
    if (rc != want_rc)
        print_error("whole: got %s want %s\n", sstp_rc_name(rc), sstp_rc_name(want_rc));
    assert_int_equal(rc, want_rc);
    assert_int_equal(used, want_used);

    assert_int_equal(feed_bytewise(other, max, in, n, &u2), want_rc);
    assert_int_equal(u2, want_used);
    assert_fields_equal(&whole->f, &other->f);

    for (size_t k = 0; k <= n; k++) {
        assert_int_equal(feed_split(other, max, in, n, k, &u2), want_rc);
        assert_int_equal(u2, want_used);
        assert_fields_equal(&whole->f, &other->f);
    }

    /* sticky: a further feed repeats the result and takes nothing */
    if (want_rc != SSTP_AGAIN) {
        static const uint8_t more[] = "GET / HTTP/1.1\r\n\r\n";
        uint8_t *b = dup_exact(more, sizeof(more) - 1);
        size_t u = 99;
        assert_int_equal(sstp_http_req_feed(whole, b, sizeof(more) - 1, &u), want_rc);
        assert_int_equal(u, 0);
        free(b);
    }
    free(other);
    return whole;
}

static struct sstp_http_req *check_parse(const char *in, enum sstp_rc want_rc, size_t want_used)
{
    return check_parse_n(in, strlen(in), 0, want_rc, want_used);
}

/* A whole head must give want_rc having taken all of it. */
static void check_head_rc(const char *in, enum sstp_rc want_rc)
{
    free(check_parse(in, want_rc, strlen(in)));
}

static void assert_str_field(const char *got, size_t got_len, const char *want)
{
    assert_int_equal(got_len, strlen(want));
    assert_string_equal(got, want);
}

/* ---- accepted client forms (§3.1 table of the protocol notes) ------------ */

static void test_accept_open_sstp_client(void **state)
{
    (void)state;
    const char *in = REQ_LINE "\r\n" CL "\r\nHost: vpn.example.com\r\n"
                     "SSTPCORRELATIONID: {3f2504e0-4f89-41d3-9a0c-0305e82c3301}\r\n\r\n";
    struct sstp_http_req *r = check_parse(in, SSTP_OK, strlen(in));
    assert_int_equal(r->f.method, SSTP_HTTP_M_DUPLEX_POST);
    assert_false(sstp_http_req_is_probe(r));
    assert_true(r->f.has_host);
    assert_str_field(r->f.host, r->f.host_len, "vpn.example.com");
    assert_true(r->f.has_corr_id);
    assert_str_field(r->f.corr_id, r->f.corr_id_len, "{3f2504e0-4f89-41d3-9a0c-0305e82c3301}");
    assert_false(r->f.has_tenantid);
    assert_false(r->f.corr_id_too_long);
    assert_int_equal(r->head_len, strlen(in));
    free(r);
}

static void test_accept_sstpc(void **state)
{
    (void)state;
    /* sstpc 1.0.17/18: Host first, rand()-based non-GUID id */
    const char *in = REQ_LINE "\r\nHost: 192.0.2.7\r\n" CL "\r\n"
                     "SSTPCORRELATIONID: {6B8B4567-327B-23C6-643C9869}\r\n\r\n";
    struct sstp_http_req *r = check_parse(in, SSTP_OK, strlen(in));
    assert_str_field(r->f.host, r->f.host_len, "192.0.2.7");
    assert_str_field(r->f.corr_id, r->f.corr_id_len, "{6B8B4567-327B-23C6-643C9869}");
    free(r);

    /* sstpc --uuid from NetworkManager: a bare UUID */
    in = REQ_LINE "\r\nHost: vpn.example.com:443\r\n" CL "\r\n"
         "SSTPCORRELATIONID: 0c38434f-aa00-4b8e-9c2c-1f0bd8e4b7a1\r\n\r\n";
    r = check_parse(in, SSTP_OK, strlen(in));
    assert_str_field(r->f.host, r->f.host_len, "vpn.example.com:443");
    assert_str_field(r->f.corr_id, r->f.corr_id_len, "0c38434f-aa00-4b8e-9c2c-1f0bd8e4b7a1");
    free(r);
}

static void test_accept_sstoper(void **state)
{
    (void)state;
    /* SSToPer: Host, id, Content-Length; the GUID's "458B" upper case */
    const char *in = "SSTP_DUPLEX_POST /sra_{BA195980-CD49-458B-9E23-C84EE0ADCD75}/ HTTP/1.1\r\n"
                     "Host: vpn\r\nSSTPCORRELATIONID: {897950C0-2CD0-D280-20450C00}\r\n"
                     CL "\r\n\r\n";
    struct sstp_http_req *r = check_parse(in, SSTP_OK, strlen(in));
    assert_int_equal(r->f.method, SSTP_HTTP_M_DUPLEX_POST);
    assert_str_field(r->f.corr_id, r->f.corr_id_len, "{897950C0-2CD0-D280-20450C00}");
    free(r);
}

static void test_accept_nmap_lf_only(void **state)
{
    (void)state;
    const char *in = REQ_LINE "\nHost: 198.51.100.1\nSSTPCORRELATIONID: {}\n" CL "\n\n";
    struct sstp_http_req *r = check_parse(in, SSTP_OK, strlen(in));
    assert_str_field(r->f.host, r->f.host_len, "198.51.100.1");
    assert_true(r->f.has_corr_id);
    assert_str_field(r->f.corr_id, r->f.corr_id_len, "{}");
    free(r);

    /* mixed LF and CRLF */
    in = REQ_LINE "\r\nHost: h\n" CL "\r\n\n";
    free(check_parse(in, SSTP_OK, strlen(in)));
}

static void test_accept_head_probe(void **state)
{
    (void)state;
    const char *in = "HEAD " URI " HTTP/1.1\r\nHost: backend-1\r\nUser-Agent: probe\r\n\r\n";
    struct sstp_http_req *r = check_parse(in, SSTP_OK, strlen(in));
    assert_int_equal(r->f.method, SSTP_HTTP_M_HEAD);
    assert_true(sstp_http_req_is_probe(r));
    assert_str_field(r->f.host, r->f.host_len, "backend-1");
    assert_false(r->f.has_corr_id);
    free(r);

    in = "HEAD " URI " HTTP/1.1\r\nHost: b\r\nContent-Length: 0\r\n\r\n";
    r = check_parse(in, SSTP_OK, strlen(in));
    assert_true(sstp_http_req_is_probe(r));
    free(r);
}

static void test_accept_lenient_forms(void **state)
{
    (void)state;
    /* names in any case, OWS trimmed, unknown headers (even with odd
     * bytes in the value) ignored, runs of spaces/tabs in the request line */
    const char *in = "SSTP_DUPLEX_POST \t " URI "  HTTP/1.1\r\n"
                     "cookie: a=b; c=d\r\n"
                     "HOST:\t  h.example  \t\r\n"
                     "X-Odd: \xc3\xa9t\xc3\xa9\t!\r\n"
                     "content-length:18446744073709551615\r\n"
                     "sstpcorrelationid:   {a b}\t \r\n\r\n";
    struct sstp_http_req *r = check_parse(in, SSTP_OK, strlen(in));
    assert_str_field(r->f.host, r->f.host_len, "h.example");
    assert_str_field(r->f.corr_id, r->f.corr_id_len, "{a b}");
    free(r);

    /* empty Host and empty correlation id are kept as empty */
    in = REQ_LINE "\r\nHost:\r\n" CL "\r\nSSTPCORRELATIONID:  \r\n\r\n";
    r = check_parse(in, SSTP_OK, strlen(in));
    assert_true(r->f.has_host);
    assert_int_equal(r->f.host_len, 0);
    assert_true(r->f.has_corr_id);
    assert_int_equal(r->f.corr_id_len, 0);
    free(r);
}

static void test_accept_tenantid(void **state)
{
    (void)state;
    const char *in = "SSTP_DUPLEX_POST " URI "?tenantid=contoso-01 HTTP/1.1\r\n" CL
                     "\r\nHost: h\r\n\r\n";
    struct sstp_http_req *r = check_parse(in, SSTP_OK, strlen(in));
    assert_true(r->f.has_tenantid);
    assert_str_field(r->f.tenantid, r->f.tenantid_len, "contoso-01");
    free(r);

    /* among other items, name in any case, not percent-decoded */
    in = "SSTP_DUPLEX_POST " URI "?a=1&&TenantID=x%20y=z&b HTTP/1.1\r\n" CL "\r\nHost: h\r\n\r\n";
    r = check_parse(in, SSTP_OK, strlen(in));
    assert_str_field(r->f.tenantid, r->f.tenantid_len, "x%20y=z");
    free(r);

    /* bare name: present and empty; an empty query: absent */
    in = "SSTP_DUPLEX_POST " URI "?tenantid HTTP/1.1\r\n" CL "\r\nHost: h\r\n\r\n";
    r = check_parse(in, SSTP_OK, strlen(in));
    assert_true(r->f.has_tenantid);
    assert_int_equal(r->f.tenantid_len, 0);
    free(r);
    in = "SSTP_DUPLEX_POST " URI "? HTTP/1.1\r\n" CL "\r\nHost: h\r\n\r\n";
    r = check_parse(in, SSTP_OK, strlen(in));
    assert_false(r->f.has_tenantid);
    free(r);
    in = "SSTP_DUPLEX_POST " URI "?tenantidx=1&xtenantid=2 HTTP/1.1\r\n" CL "\r\nHost: h\r\n\r\n";
    r = check_parse(in, SSTP_OK, strlen(in));
    assert_false(r->f.has_tenantid);
    free(r);
}

static void test_corr_id_cap(void **state)
{
    (void)state;
    char id64[65], id65[66], in[512];
    memset(id64, 'a', 64);
    id64[64] = '\0';
    memset(id65, 'b', 65);
    id65[65] = '\0';

    snprintf(in, sizeof(in), REQ_LINE "\r\n" CL "\r\nHost: h\r\nSSTPCORRELATIONID: %s\r\n\r\n", id64);
    struct sstp_http_req *r = check_parse(in, SSTP_OK, strlen(in));
    assert_true(r->f.has_corr_id);
    assert_false(r->f.corr_id_too_long);
    assert_str_field(r->f.corr_id, r->f.corr_id_len, id64);
    free(r);

    /* longer: dropped whole (not truncated), never an error */
    snprintf(in, sizeof(in), REQ_LINE "\r\n" CL "\r\nHost: h\r\nSSTPCORRELATIONID: %s\r\n\r\n", id65);
    r = check_parse(in, SSTP_OK, strlen(in));
    assert_false(r->f.has_corr_id);
    assert_true(r->f.corr_id_too_long);
    assert_int_equal(r->f.corr_id_len, 0);
    assert_string_equal(r->f.corr_id, "");
    free(r);

    /* the first id counts, later ones are ignored */
    snprintf(in, sizeof(in), REQ_LINE "\r\n" CL "\r\nHost: h\r\nSSTPCORRELATIONID: {1}\r\n"
             "SSTPCORRELATIONID: {2}\r\n\r\n");
    r = check_parse(in, SSTP_OK, strlen(in));
    assert_str_field(r->f.corr_id, r->f.corr_id_len, "{1}");
    free(r);
}

/* ---- what is and is not consumed ----------------------------------------- */

static void test_pipelined_sstp_bytes_not_taken(void **state)
{
    (void)state;
    static const char head[] = REQ_LINE "\r\n" CL "\r\nHost: h\r\n\r\n";
    /* CALL_CONNECT_REQUEST (MS-SSTP 2.2.9) pipelined after the head */
    static const uint8_t sstp[] = { 0x10, 0x01, 0x00, 0x0E, 0x00, 0x01, 0x00, 0x01,
                                    0x00, 0x01, 0x00, 0x06, 0x00, 0x01 };
    size_t hl = sizeof(head) - 1, n = hl + sizeof(sstp);
    uint8_t *all = malloc(n);
    assert_non_null(all);
    memcpy(all, head, hl);
    memcpy(all + hl, sstp, sizeof(sstp));
    free(check_parse_n(all, n, 0, SSTP_OK, hl));

    /* the same with an error: a wrong path still leaves the SSTP bytes */
    memcpy(all, head, hl);
    all[18] = 'X'; /* inside the URI */
    free(check_parse_n(all, n, 0, SSTP_E_HTTP_URI, hl));

    /* LF-only head followed by bytes */
    static const char lf_head[] = REQ_LINE "\nHost: h\n" CL "\n\n";
    size_t lhl = sizeof(lf_head) - 1;
    memcpy(all, lf_head, lhl);
    memcpy(all + lhl, sstp, sizeof(sstp));
    free(check_parse_n(all, lhl + sizeof(sstp), 0, SSTP_OK, lhl));
    free(all);
}

static void test_incomplete_is_again(void **state)
{
    (void)state;
    const char *in = REQ_LINE "\r\n" CL "\r\nHost: h\r\n\r";
    struct sstp_http_req *r = check_parse(in, SSTP_AGAIN, strlen(in));
    /* the final LF completes it */
    size_t used = 9;
    uint8_t *b = dup_exact("\nXYZ", 4);
    assert_int_equal(sstp_http_req_feed(r, b, 4, &used), SSTP_OK);
    assert_int_equal(used, 1);
    /* done: later feeds take nothing */
    assert_int_equal(sstp_http_req_feed(r, b + 1, 3, &used), SSTP_OK);
    assert_int_equal(used, 0);
    free(b);
    free(r);

    /* empty feeds change nothing */
    r = req_new();
    assert_int_equal(sstp_http_req_feed(r, NULL, 0, &used), SSTP_AGAIN);
    assert_int_equal(used, 0);
    assert_int_equal(r->head_len, 0);
    free(r);
}

/* A valid head padded with an unknown header to exactly n bytes. */
static char *padded_head(size_t n)
{
    static const char pre[] = REQ_LINE "\r\n" CL "\r\nHost: h\r\nX-Pad: ";
    static const char post[] = "\r\n\r\n";
    size_t fixed = sizeof(pre) - 1 + sizeof(post) - 1;
    assert_true(n > fixed);
    char *s = malloc(n + 1);
    assert_non_null(s);
    memcpy(s, pre, sizeof(pre) - 1);
    memset(s + sizeof(pre) - 1, 'p', n - fixed);
    memcpy(s + n - (sizeof(post) - 1), post, sizeof(post));
    assert_int_equal(strlen(s), n);
    return s;
}

static void check_limit(size_t init_max, size_t limit)
{
    char *s = padded_head(limit);
    free(check_parse_n(s, limit, init_max, SSTP_OK, limit));
    free(s);
    /* one byte over: fails once the limit is full, the extra byte untaken */
    s = padded_head(limit + 1);
    struct sstp_http_req *r = check_parse_n(s, limit + 1, init_max, SSTP_E_HTTP_HEAD_TOO_LONG, limit);
    assert_int_equal(r->head_len, limit);
    free(r);
    free(s);
}

static void test_head_limit(void **state)
{
    (void)state;
    check_limit(300, 300);
    check_limit(0, SSTP_HTTP_HEAD_LEN_DEFAULT);
    check_limit(SSTP_HTTP_HEAD_MAX + 1000, SSTP_HTTP_HEAD_MAX); /* clamped */

    /* a zeroed struct (no init) uses the default limit */
    char *s = padded_head(SSTP_HTTP_HEAD_LEN_DEFAULT + 1);
    struct sstp_http_req *r = req_new();
    size_t used = 0;
    assert_int_equal(sstp_http_req_feed(r, (const uint8_t *)s, SSTP_HTTP_HEAD_LEN_DEFAULT + 1, &used),
                     SSTP_E_HTTP_HEAD_TOO_LONG);
    assert_int_equal(used, SSTP_HTTP_HEAD_LEN_DEFAULT);
    free(r);
    free(s);

    /* garbage with no line end at all */
    s = malloc(5000);
    assert_non_null(s);
    memset(s, 'A', 5000);
    free(check_parse_n(s, 5000, 0, SSTP_E_HTTP_HEAD_TOO_LONG, SSTP_HTTP_HEAD_LEN_DEFAULT));
    free(s);
}

/* ---- rejections ------------------------------------------------------------ */

static void test_reject_malformed_request_line(void **state)
{
    (void)state;
    /* 2 and 4 tokens; the used count shows it is reported at the line end */
    const char *in = "SSTP_DUPLEX_POST " URI "\r\nHost: h\r\n\r\n";
    free(check_parse(in, SSTP_E_HTTP_MALFORMED, strlen("SSTP_DUPLEX_POST " URI "\r\n")));
    in = REQ_LINE " extra\r\nHost: h\r\n\r\n";
    free(check_parse(in, SSTP_E_HTTP_MALFORMED, strlen(REQ_LINE " extra\r\n")));
    check_head_rc("SSTP_DUPLEX_POST\r\n", SSTP_E_HTTP_MALFORMED);
    /* empty line before the request line */
    in = "\r\n" REQ_LINE "\r\n";
    free(check_parse(in, SSTP_E_HTTP_MALFORMED, 2));
    /* version not HTTP/DIGIT.DIGIT */
    check_head_rc("SSTP_DUPLEX_POST " URI " HTTP/1\r\n", SSTP_E_HTTP_MALFORMED);
    check_head_rc("SSTP_DUPLEX_POST " URI " http/1.1\r\n", SSTP_E_HTTP_MALFORMED);
    check_head_rc("SSTP_DUPLEX_POST " URI " HTTP/1.10\r\n", SSTP_E_HTTP_MALFORMED);
    check_head_rc("SSTP_DUPLEX_POST " URI " HTTP/a.1\r\n", SSTP_E_HTTP_MALFORMED);
    /* a high byte in the target */
    check_head_rc("SSTP_DUPLEX_POST " URI "?tenantid=\xe9 HTTP/1.1\r\n", SSTP_E_HTTP_MALFORMED);
}

static void test_reject_malformed_bytes(void **state)
{
    (void)state;
    /* control bytes are reported at the byte itself */
    static const char nul[] = REQ_LINE "\r\nHost: a\0b\r\n\r\n";
    size_t at = strlen(REQ_LINE "\r\nHost: a") + 1;
    free(check_parse_n(nul, sizeof(nul) - 1, 0, SSTP_E_HTTP_MALFORMED, at));
    const char *in = "SSTP_DUPLEX_POST " URI "?tenantid=a\x01 HTTP/1.1\r\n\r\n";
    free(check_parse(in, SSTP_E_HTTP_MALFORMED, strlen("SSTP_DUPLEX_POST " URI "?tenantid=a") + 1));
    in = REQ_LINE "\r\nSSTPCORRELATIONID: {\x1b}\r\n\r\n";
    free(check_parse(in, SSTP_E_HTTP_MALFORMED, strlen(REQ_LINE "\r\nSSTPCORRELATIONID: {") + 1));
    in = REQ_LINE "\r\nX: \x7f\r\n\r\n";
    free(check_parse(in, SSTP_E_HTTP_MALFORMED, strlen(REQ_LINE "\r\nX: ") + 1));
    /* bare CR, and CR CR LF */
    in = REQ_LINE "\rHost: h\r\n\r\n";
    free(check_parse(in, SSTP_E_HTTP_MALFORMED, strlen(REQ_LINE) + 2));
    in = REQ_LINE "\r\r\n";
    free(check_parse(in, SSTP_E_HTTP_MALFORMED, strlen(REQ_LINE) + 2));
    /* binary garbage (a TLS ClientHello sent in clear) */
    static const uint8_t hello[] = { 0x16, 0x03, 0x01, 0x02, 0x00, 0x01 };
    free(check_parse_n(hello, sizeof(hello), 0, SSTP_E_HTTP_MALFORMED, 1));
}

static void test_reject_malformed_headers(void **state)
{
    (void)state;
    const char *bad_lines[] = {
        "Host h",              /* no colon */
        ": h",                 /* empty name */
        "Host : h",            /* space before colon */
        "Ho\tst: h",           /* tab in name */
        "Ho(st: h",            /* non-token name */
        "X-\xc3\xa9: 1",       /* non-ASCII name */
        " folded",             /* obs-fold */
        "\tfolded",
    };
    for (size_t i = 0; i < sizeof(bad_lines) / sizeof(bad_lines[0]); i++) {
        char in[256], at[256];
        snprintf(in, sizeof(in), REQ_LINE "\r\n" CL "\r\nHost: h\r\n%s\r\nX: y\r\n\r\n", bad_lines[i]);
        snprintf(at, sizeof(at), REQ_LINE "\r\n" CL "\r\nHost: h\r\n%s\r\n", bad_lines[i]);
        free(check_parse(in, SSTP_E_HTTP_MALFORMED, strlen(at)));
    }
    /* obs-fold right after the request line */
    check_head_rc(REQ_LINE "\r\n continued\r\n", SSTP_E_HTTP_MALFORMED);
    /* malformed beats a request error seen earlier (reported at once) */
    const char *in = "GET / HTTP/1.1\r\nbad\r\n\r\n";
    free(check_parse(in, SSTP_E_HTTP_MALFORMED, strlen("GET / HTTP/1.1\r\nbad\r\n")));
}

static void test_reject_method(void **state)
{
    (void)state;
    check_head_rc("GET " URI " HTTP/1.1\r\nHost: h\r\n\r\n", SSTP_E_HTTP_METHOD);
    check_head_rc("POST " URI " HTTP/1.1\r\nHost: h\r\n" CL "\r\n\r\n", SSTP_E_HTTP_METHOD);
    /* exact case: accel-ppp's case-insensitive compare is not followed */
    check_head_rc("sstp_duplex_post " URI " HTTP/1.1\r\nHost: h\r\n" CL "\r\n\r\n", SSTP_E_HTTP_METHOD);
    check_head_rc("head " URI " HTTP/1.1\r\nHost: h\r\n\r\n", SSTP_E_HTTP_METHOD);
    check_head_rc("SSTP_DUPLEX_POSTX " URI " HTTP/1.1\r\nHost: h\r\n" CL "\r\n\r\n", SSTP_E_HTTP_METHOD);
    /* the head is read to its end before the error is reported */
    struct sstp_http_req *r = check_parse("GET " URI " HTTP/1.1\r\nHost: x\r\n\r\n",
                                          SSTP_E_HTTP_METHOD,
                                          strlen("GET " URI " HTTP/1.1\r\nHost: x\r\n\r\n"));
    assert_int_equal(r->f.method, SSTP_HTTP_M_NONE);
    assert_str_field(r->f.host, r->f.host_len, "x"); /* kept for the log */
    free(r);
}

static void test_reject_uri(void **state)
{
    (void)state;
    check_head_rc("SSTP_DUPLEX_POST / HTTP/1.1\r\nHost: h\r\n" CL "\r\n\r\n", SSTP_E_HTTP_URI);
    check_head_rc("SSTP_DUPLEX_POST /sra_{BA195980-CD49-458b-9E23-C84EE0ADCD75} HTTP/1.1\r\n"
                  "Host: h\r\n" CL "\r\n\r\n", SSTP_E_HTTP_URI);
    check_head_rc("SSTP_DUPLEX_POST /sra_{BA195980-CD49-458b-9E23-C84EE0ADCD76}/ HTTP/1.1\r\n"
                  "Host: h\r\n" CL "\r\n\r\n", SSTP_E_HTTP_URI);
    check_head_rc("SSTP_DUPLEX_POST https://h" URI " HTTP/1.1\r\nHost: h\r\n" CL "\r\n\r\n",
                  SSTP_E_HTTP_URI);
    /* path is checked before the method: GET / is a 404 */
    check_head_rc("GET / HTTP/1.1\r\nHost: h\r\n\r\n", SSTP_E_HTTP_URI);
    check_head_rc("HEAD /health HTTP/1.1\r\nHost: h\r\n\r\n", SSTP_E_HTTP_URI);
}

static void test_reject_version(void **state)
{
    (void)state;
    check_head_rc("SSTP_DUPLEX_POST " URI " HTTP/1.0\r\nHost: h\r\n" CL "\r\n\r\n", SSTP_E_HTTP_VERSION);
    check_head_rc("SSTP_DUPLEX_POST " URI " HTTP/2.0\r\nHost: h\r\n" CL "\r\n\r\n", SSTP_E_HTTP_VERSION);
    /* version is checked first */
    check_head_rc("GET / HTTP/1.0\r\n\r\n", SSTP_E_HTTP_VERSION);
    /* the HTTP/2 preface stops at its first blank line */
    const char *pri = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
    free(check_parse(pri, SSTP_E_HTTP_VERSION, strlen("PRI * HTTP/2.0\r\n\r\n")));
}

static void test_reject_content_length(void **state)
{
    (void)state;
    const char *wrong[] = { "0", "18446744073709551614", "018446744073709551615",
                            "18446744073709551615 1", "18446744073709551616", "" };
    for (size_t i = 0; i < sizeof(wrong) / sizeof(wrong[0]); i++) {
        char in[256];
        snprintf(in, sizeof(in), REQ_LINE "\r\nHost: h\r\nContent-Length: %s\r\n\r\n", wrong[i]);
        check_head_rc(in, SSTP_E_HTTP_CONTENT_LENGTH);
    }
    check_head_rc(REQ_LINE "\r\nHost: h\r\n" CL "\r\nTransfer-Encoding: chunked\r\n\r\n",
                  SSTP_E_HTTP_CONTENT_LENGTH);
    check_head_rc(REQ_LINE "\r\nHost: h\r\ntransfer-encoding: identity\r\n" CL "\r\n\r\n",
                  SSTP_E_HTTP_CONTENT_LENGTH);
    /* a HEAD carries no body */
    check_head_rc("HEAD " URI " HTTP/1.1\r\nHost: h\r\n" CL "\r\n\r\n", SSTP_E_HTTP_CONTENT_LENGTH);
    check_head_rc("HEAD " URI " HTTP/1.1\r\nHost: h\r\nContent-Length: 1\r\n\r\n",
                  SSTP_E_HTTP_CONTENT_LENGTH);
}

static void test_reject_no_content_length(void **state)
{
    (void)state;
    check_head_rc(REQ_LINE "\r\nHost: h\r\nSSTPCORRELATIONID: {}\r\n\r\n", SSTP_E_HTTP_NO_CONTENT_LENGTH);
    check_head_rc(REQ_LINE "\nHost: h\n\n", SSTP_E_HTTP_NO_CONTENT_LENGTH);
}

static void test_reject_dup_header(void **state)
{
    (void)state;
    check_head_rc(REQ_LINE "\r\nHost: h\r\n" CL "\r\n" CL "\r\n\r\n", SSTP_E_HTTP_DUP_HEADER);
    check_head_rc(REQ_LINE "\r\nHost: h\r\n" CL "\r\nhost: h\r\n\r\n", SSTP_E_HTTP_DUP_HEADER);
    check_head_rc(REQ_LINE "\r\nHost: h\r\n" CL "\r\ncontent-length: 0\r\n\r\n", SSTP_E_HTTP_DUP_HEADER);
    check_head_rc("SSTP_DUPLEX_POST " URI "?tenantid=a&tenantid=a HTTP/1.1\r\nHost: h\r\n" CL "\r\n\r\n",
                  SSTP_E_HTTP_DUP_HEADER);
    /* the first request error in byte order wins */
    check_head_rc(REQ_LINE "\r\nHost: h\r\nHost: h\r\nContent-Length: 1\r\n\r\n", SSTP_E_HTTP_DUP_HEADER);
    check_head_rc(REQ_LINE "\r\nHost: h\r\nContent-Length: 1\r\nHost: h\r\n\r\n", SSTP_E_HTTP_CONTENT_LENGTH);
}

static void test_reject_field_too_long(void **state)
{
    (void)state;
    char host[SSTP_HTTP_HOST_MAX + 2], tid[SSTP_HTTP_TENANTID_MAX + 2], in[1024];
    memset(host, 'h', sizeof(host) - 1);
    host[sizeof(host) - 1] = '\0';
    memset(tid, 't', sizeof(tid) - 1);
    tid[sizeof(tid) - 1] = '\0';

    snprintf(in, sizeof(in), REQ_LINE "\r\nHost: %s\r\n" CL "\r\n\r\n", host);
    check_head_rc(in, SSTP_E_HTTP_FIELD_TOO_LONG);
    host[SSTP_HTTP_HOST_MAX] = '\0'; /* exactly at the cap: fine */
    snprintf(in, sizeof(in), REQ_LINE "\r\nHost: %s\r\n" CL "\r\n\r\n", host);
    struct sstp_http_req *r = check_parse(in, SSTP_OK, strlen(in));
    assert_int_equal(r->f.host_len, SSTP_HTTP_HOST_MAX);
    free(r);

    snprintf(in, sizeof(in), "SSTP_DUPLEX_POST " URI "?tenantid=%s HTTP/1.1\r\nHost: h\r\n" CL "\r\n\r\n", tid);
    check_head_rc(in, SSTP_E_HTTP_FIELD_TOO_LONG);
    tid[SSTP_HTTP_TENANTID_MAX] = '\0';
    snprintf(in, sizeof(in), "SSTP_DUPLEX_POST " URI "?tenantid=%s HTTP/1.1\r\nHost: h\r\n" CL "\r\n\r\n", tid);
    r = check_parse(in, SSTP_OK, strlen(in));
    assert_int_equal(r->f.tenantid_len, SSTP_HTTP_TENANTID_MAX);
    free(r);
}

static void test_reject_no_host(void **state)
{
    (void)state;
    check_head_rc(REQ_LINE "\r\n" CL "\r\nSSTPCORRELATIONID: {}\r\n\r\n", SSTP_E_HTTP_NO_HOST);
    check_head_rc("HEAD " URI " HTTP/1.1\r\n\r\n", SSTP_E_HTTP_NO_HOST);
}

static void test_feed_bad_args(void **state)
{
    (void)state;
    struct sstp_http_req *r = req_new();
    size_t used = 7;
    uint8_t b[1] = { 'S' };
    assert_int_equal(sstp_http_req_feed(NULL, b, 1, &used), SSTP_E_ARG);
    assert_int_equal(used, 0);
    assert_int_equal(sstp_http_req_feed(r, b, 1, NULL), SSTP_E_ARG);
    used = 7;
    assert_int_equal(sstp_http_req_feed(r, NULL, 1, &used), SSTP_E_ARG);
    assert_int_equal(used, 0);
    /* bad arguments do not poison the parser */
    assert_int_equal(sstp_http_req_feed(r, b, 1, &used), SSTP_AGAIN);
    assert_int_equal(used, 1);
    free(r);
}

/* ---- status table ---------------------------------------------------------- */

static void test_status_table(void **state)
{
    (void)state;
    assert_int_equal(sstp_http_status_for(SSTP_OK), 200);
    assert_int_equal(sstp_http_status_for(SSTP_AGAIN), 0);
    assert_int_equal(sstp_http_status_for(SSTP_E_HTTP_MALFORMED), 400);
    assert_int_equal(sstp_http_status_for(SSTP_E_HTTP_HEAD_TOO_LONG), 400);
    assert_int_equal(sstp_http_status_for(SSTP_E_HTTP_FIELD_TOO_LONG), 400);
    assert_int_equal(sstp_http_status_for(SSTP_E_HTTP_DUP_HEADER), 400);
    assert_int_equal(sstp_http_status_for(SSTP_E_HTTP_NO_HOST), 400);
    assert_int_equal(sstp_http_status_for(SSTP_E_HTTP_URI), 404);
    assert_int_equal(sstp_http_status_for(SSTP_E_HTTP_METHOD), 405);
    assert_int_equal(sstp_http_status_for(SSTP_E_HTTP_VERSION), 505);
    assert_int_equal(sstp_http_status_for(SSTP_E_HTTP_CONTENT_LENGTH), 400);
    assert_int_equal(sstp_http_status_for(SSTP_E_HTTP_NO_CONTENT_LENGTH), 411);
    assert_int_equal(sstp_http_status_for(SSTP_E_ARG), 500);
    assert_int_equal(sstp_http_status_for(SSTP_E_PKT_VERSION), 500);

    /* every HTTP code has a 4xx status with a reason phrase */
    static const enum sstp_rc http_codes[] = {
#define HTTP_CODE(n, s) SSTP_##n,
        SSTP_RC_LIST_HTTP(HTTP_CODE)
#undef HTTP_CODE
    };
    for (size_t i = 0; i < sizeof(http_codes) / sizeof(http_codes[0]); i++) {
        int st = sstp_http_status_for(http_codes[i]);
        assert_in_range(st, 400, 599);
        assert_true(st != 500);
        assert_non_null(sstp_http_reason(st));
    }

    assert_string_equal(sstp_http_reason(405), "Method Not Allowed");
    assert_string_equal(sstp_http_reason(505), "HTTP Version Not Supported");
    assert_null(sstp_http_reason(418));
    assert_string_equal(sstp_http_method_str(SSTP_HTTP_M_DUPLEX_POST), "SSTP_DUPLEX_POST");
    assert_string_equal(sstp_http_method_str(SSTP_HTTP_M_HEAD), "HEAD");
    assert_string_equal(sstp_http_method_str(SSTP_HTTP_M_NONE), "-");
}

/* ---- builders -------------------------------------------------------------- */

/* Builds with fn into a buffer of exactly the expected size and compares;
 * then one byte short must fail whole. */
#define T_2006 ((time_t)1163033469) /* Thu, 09 Nov 2006 00:51:09 GMT (§3.2 example) */
#define T_LEAP ((time_t)951868799)  /* Tue, 29 Feb 2000 23:59:59 GMT */

static void check_built(const char *want, enum sstp_rc (*build)(struct sstp_wbuf *, void *), void *arg)
{
    size_t n = strlen(want);
    uint8_t *buf = malloc(n);
    assert_non_null(buf);
    struct sstp_wbuf w;
    sstp_wbuf_init(&w, buf, n);
    assert_int_equal(build(&w, arg), SSTP_OK);
    assert_int_equal(w.len, n);
    assert_false(w.err);
    assert_memory_equal(buf, want, n);

    sstp_wbuf_init(&w, buf, n - 1);
    assert_int_equal(build(&w, arg), SSTP_E_NOSPACE);
    assert_true(w.err);
    assert_int_equal(w.len, 0);
    free(buf);

    /* after a prefix already in the buffer, a failure leaves the prefix */
    buf = malloc(n + 3);
    assert_non_null(buf);
    sstp_wbuf_init(&w, buf, n + 1); /* room for the prefix + n - 1 */
    sstp_put_bytes(&w, "ab", 2);
    assert_int_equal(build(&w, arg), SSTP_E_NOSPACE);
    assert_int_equal(w.len, 2);
    /* a wbuf already in error is refused */
    assert_int_equal(build(&w, arg), SSTP_E_NOSPACE);
    free(buf);
}

static enum sstp_rc b_ok(struct sstp_wbuf *w, void *arg)
{
    return sstp_http_resp_ok_build(w, *(time_t *)arg);
}

struct err_arg {
    int status;
    time_t now;
};

static enum sstp_rc b_err(struct sstp_wbuf *w, void *arg)
{
    struct err_arg *a = arg;
    return sstp_http_resp_error_build(w, a->status, a->now);
}

struct probe_arg {
    bool accepting;
    time_t now;
};

static enum sstp_rc b_probe(struct sstp_wbuf *w, void *arg)
{
    struct probe_arg *a = arg;
    return sstp_http_resp_probe_build(w, a->accepting, a->now);
}

struct req_arg {
    enum sstp_http_method m;
    const char *host, *corr, *tid;
};

static enum sstp_rc b_req(struct sstp_wbuf *w, void *arg)
{
    struct req_arg *a = arg;
    return sstp_http_req_build(w, a->m, a->host, a->corr, a->tid);
}

static void test_build_ok(void **state)
{
    (void)state;
    time_t t = T_2006;
    check_built("HTTP/1.1 200 OK\r\n"
                "Content-Length: 18446744073709551615\r\n"
                "Server: Microsoft-HTTPAPI/2.0\r\n"
                "Date: Thu, 09 Nov 2006 00:51:09 GMT\r\n"
                "\r\n", b_ok, &t);
    t = 0;
    check_built("HTTP/1.1 200 OK\r\n"
                "Content-Length: 18446744073709551615\r\n"
                "Server: Microsoft-HTTPAPI/2.0\r\n"
                "Date: Thu, 01 Jan 1970 00:00:00 GMT\r\n"
                "\r\n", b_ok, &t);
}

static void test_build_dates(void **state)
{
    (void)state;
    /* expected strings from Python email.utils.formatdate(t, usegmt=True) */
    static const struct {
        time_t t;
        const char *date;
    } v[] = {
        { 951868799, "Tue, 29 Feb 2000 23:59:59 GMT" },
        { 1735646707, "Tue, 31 Dec 2024 12:05:07 GMT" },
        { -1, "Wed, 31 Dec 1969 23:59:59 GMT" },
        { (time_t)253402300799LL, "Fri, 31 Dec 9999 23:59:59 GMT" },
    };
    for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
        char want[256];
        snprintf(want, sizeof(want), "HTTP/1.1 503 Service Unavailable\r\nDate: %s\r\n"
                 "Content-Length: 0\r\nConnection: close\r\n\r\n", v[i].date);
        struct probe_arg a = { false, v[i].t };
        check_built(want, b_probe, &a);
    }
    /* year 10000 has no IMF-fixdate */
    uint8_t buf[256];
    struct sstp_wbuf w;
    sstp_wbuf_init(&w, buf, sizeof(buf));
    assert_int_equal(sstp_http_resp_ok_build(&w, (time_t)253402300800LL), SSTP_E_ARG);
    assert_int_equal(sstp_http_resp_error_build(&w, 400, (time_t)253402300800LL), SSTP_E_ARG);
    assert_int_equal(w.len, 0);
    assert_false(w.err);
}

static void test_build_errors(void **state)
{
    (void)state;
    struct err_arg a = { 404, 0 };
    check_built("HTTP/1.1 404 Not Found\r\nDate: Thu, 01 Jan 1970 00:00:00 GMT\r\n"
                "Content-Length: 0\r\nConnection: close\r\n\r\n", b_err, &a);
    a = (struct err_arg){ 405, T_LEAP };
    check_built("HTTP/1.1 405 Method Not Allowed\r\nDate: Tue, 29 Feb 2000 23:59:59 GMT\r\n"
                "Allow: SSTP_DUPLEX_POST, HEAD\r\n"
                "Content-Length: 0\r\nConnection: close\r\n\r\n", b_err, &a);
    a = (struct err_arg){ 400, T_2006 };
    check_built("HTTP/1.1 400 Bad Request\r\nDate: Thu, 09 Nov 2006 00:51:09 GMT\r\n"
                "Content-Length: 0\r\nConnection: close\r\n\r\n", b_err, &a);
    a = (struct err_arg){ 411, T_2006 };
    check_built("HTTP/1.1 411 Length Required\r\nDate: Thu, 09 Nov 2006 00:51:09 GMT\r\n"
                "Content-Length: 0\r\nConnection: close\r\n\r\n", b_err, &a);
    a = (struct err_arg){ 505, T_2006 };
    check_built("HTTP/1.1 505 HTTP Version Not Supported\r\nDate: Thu, 09 Nov 2006 00:51:09 GMT\r\n"
                "Content-Length: 0\r\nConnection: close\r\n\r\n", b_err, &a);

    /* every status the table maps to can be built */
    for (int rc = 0; rc < SSTP_RC_COUNT; rc++) {
        int st = sstp_http_status_for((enum sstp_rc)rc);
        if (st < 400)
            continue;
        uint8_t buf[256];
        struct sstp_wbuf w;
        sstp_wbuf_init(&w, buf, sizeof(buf));
        assert_int_equal(sstp_http_resp_error_build(&w, st, T_2006), SSTP_OK);
    }

    uint8_t buf[256];
    struct sstp_wbuf w;
    sstp_wbuf_init(&w, buf, sizeof(buf));
    assert_int_equal(sstp_http_resp_error_build(&w, 418, 0), SSTP_E_ARG);
    assert_int_equal(sstp_http_resp_error_build(&w, 200, 0), SSTP_E_ARG);
    assert_int_equal(sstp_http_resp_error_build(&w, 600, 0), SSTP_E_ARG);
    assert_int_equal(sstp_http_resp_error_build(&w, -404, 0), SSTP_E_ARG);
    assert_int_equal(sstp_http_resp_error_build(NULL, 404, 0), SSTP_E_ARG);
    assert_int_equal(sstp_http_resp_ok_build(NULL, 0), SSTP_E_ARG);
    assert_int_equal(sstp_http_resp_probe_build(NULL, true, 0), SSTP_E_ARG);
    assert_int_equal(w.len, 0);
}

static void test_build_probe(void **state)
{
    (void)state;
    struct probe_arg a = { true, T_2006 };
    check_built("HTTP/1.1 200 OK\r\nDate: Thu, 09 Nov 2006 00:51:09 GMT\r\n"
                "Content-Length: 0\r\nConnection: close\r\n\r\n", b_probe, &a);
    a.accepting = false;
    check_built("HTTP/1.1 503 Service Unavailable\r\nDate: Thu, 09 Nov 2006 00:51:09 GMT\r\n"
                "Content-Length: 0\r\nConnection: close\r\n\r\n", b_probe, &a);
}

static void test_build_busy(void **state)
{
    (void)state;
    uint8_t out[256];
    struct sstp_wbuf w;
    const char *want = "HTTP/1.1 503 Service Unavailable\r\nDate: Thu, 09 Nov 2006 00:51:09 GMT\r\n"
                       "Retry-After: 5\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
    sstp_wbuf_init(&w, out, sizeof out);
    assert_int_equal(sstp_http_resp_busy_build(&w, 5, T_2006), SSTP_OK);
    assert_int_equal(w.len, strlen(want));
    assert_memory_equal(out, want, w.len);
    sstp_wbuf_init(&w, out, sizeof out);
    assert_int_equal(sstp_http_resp_busy_build(&w, 86400, T_2006), SSTP_OK);
    assert_non_null(memmem(out, w.len, "Retry-After: 86400\r\n", 20));
    sstp_wbuf_init(&w, out, sizeof out);
    assert_int_equal(sstp_http_resp_busy_build(&w, 0, T_2006), SSTP_E_ARG);
    assert_int_equal(sstp_http_resp_busy_build(&w, 86401, T_2006), SSTP_E_ARG);
    assert_int_equal(w.len, 0);
    sstp_wbuf_init(&w, out, 40); /* fails whole */
    assert_int_equal(sstp_http_resp_busy_build(&w, 5, T_2006), SSTP_E_NOSPACE);
    assert_int_equal(w.len, 0);
}

static void test_build_request(void **state)
{
    (void)state;
    struct req_arg a = { SSTP_HTTP_M_DUPLEX_POST, "vpn.example.com",
                         "{6B8B4567-327B-23C6-643C9869}", "contoso" };
    check_built("SSTP_DUPLEX_POST /sra_{BA195980-CD49-458b-9E23-C84EE0ADCD75}/?tenantid=contoso HTTP/1.1\r\n"
                "Content-Length: 18446744073709551615\r\n"
                "Host: vpn.example.com\r\n"
                "SSTPCORRELATIONID: {6B8B4567-327B-23C6-643C9869}\r\n"
                "\r\n", b_req, &a);
    a = (struct req_arg){ SSTP_HTTP_M_DUPLEX_POST, "h", NULL, NULL };
    check_built("SSTP_DUPLEX_POST /sra_{BA195980-CD49-458b-9E23-C84EE0ADCD75}/ HTTP/1.1\r\n"
                "Content-Length: 18446744073709551615\r\n"
                "Host: h\r\n"
                "\r\n", b_req, &a);
    a = (struct req_arg){ SSTP_HTTP_M_HEAD, "be1:443", NULL, NULL };
    check_built("HEAD /sra_{BA195980-CD49-458b-9E23-C84EE0ADCD75}/ HTTP/1.1\r\n"
                "Host: be1:443\r\n"
                "\r\n", b_req, &a);
}

/* The canonical head of an accepted request: exactly these bytes, and it
 * parses back to the same fields (a too-long correlation id is dropped, as
 * the parser did). */
static void check_canonical(const char *in, const char *want)
{
    struct sstp_http_req *r = check_parse(in, SSTP_OK, strlen(in));
    uint8_t buf[1024];
    struct sstp_wbuf w;
    sstp_wbuf_init(&w, buf, sizeof(buf));
    assert_int_equal(sstp_http_req_canonical_build(&w, &r->f), SSTP_OK);
    if (w.len != strlen(want) || memcmp(buf, want, w.len) != 0)
        print_error("got:\n%.*s\nwant:\n%s\n", (int)w.len, (const char *)buf, want);
    assert_int_equal(w.len, strlen(want));
    assert_memory_equal(buf, want, w.len);

    struct sstp_http_req *back = check_parse_n(buf, w.len, 0, SSTP_OK, w.len);
    r->f.corr_id_too_long = false;
    assert_fields_equal(&r->f, &back->f);
    /* canonical is a fixed point */
    uint8_t again[1024];
    struct sstp_wbuf w2;
    sstp_wbuf_init(&w2, again, sizeof(again));
    assert_int_equal(sstp_http_req_canonical_build(&w2, &back->f), SSTP_OK);
    assert_int_equal(w2.len, w.len);
    assert_memory_equal(again, buf, w.len);
    free(back);
    free(r);
}

static void test_canonical_head(void **state)
{
    (void)state;
    /* nmap's sstp-discover: bare LF line ends become CRLF */
    check_canonical(REQ_LINE "\nHost: 198.51.100.1\nSSTPCORRELATIONID: {}\n" CL "\n\n",
                    REQ_LINE "\r\n" CL "\r\nHost: 198.51.100.1\r\nSSTPCORRELATIONID: {}\r\n\r\n");
    /* unknown headers, odd case and spacing, an upper-case URI, a query
     * with other items: only what was validated goes on */
    check_canonical("SSTP_DUPLEX_POST\t/SRA_{BA195980-CD49-458B-9E23-C84EE0ADCD75}/?x=1&TenantId=t1 "
                    "HTTP/1.1\r\nX-Smuggle: a\r\nhost:\t vpn.example \r\ncontent-length: "
                    "18446744073709551615\r\nUser-Agent: y\r\n\r\n",
                    "SSTP_DUPLEX_POST " URI "?tenantid=t1 HTTP/1.1\r\n" CL "\r\nHost: vpn.example\r\n\r\n");
    /* an empty tenantid stays an empty tenantid */
    check_canonical(REQ_LINE "\r\nHost: h\r\n" CL "\r\n\r\n",
                    REQ_LINE "\r\n" CL "\r\nHost: h\r\n\r\n");
    check_canonical("SSTP_DUPLEX_POST " URI "?tenantid HTTP/1.1\r\nHost: h\r\n" CL "\r\n\r\n",
                    "SSTP_DUPLEX_POST " URI "?tenantid= HTTP/1.1\r\n" CL "\r\nHost: h\r\n\r\n");
    /* a too-long correlation id was dropped whole: it stays dropped */
    char in[512];
    char longid[SSTP_CORRELATION_ID_MAX + 2];
    memset(longid, 'c', sizeof(longid) - 1);
    longid[sizeof(longid) - 1] = '\0';
    snprintf(in, sizeof(in), REQ_LINE "\r\nHost: h\r\nSSTPCORRELATIONID: %s\r\n" CL "\r\n\r\n", longid);
    check_canonical(in, REQ_LINE "\r\n" CL "\r\nHost: h\r\n\r\n");
    /* a HEAD probe: no Content-Length */
    check_canonical("HEAD " URI " HTTP/1.1\nHost: b\nContent-Length: 0\n\n",
                    "HEAD " URI " HTTP/1.1\r\nHost: b\r\n\r\n");
}

/* The head a web backend gets with headers=forwarded: exactly these bytes,
 * and the parser reads it whole as a complete head, not SSTP. */
static void check_forwarded(const char *in, const char *ip, const char *want)
{
    uint8_t buf[1024];
    struct sstp_wbuf w;
    sstp_wbuf_init(&w, buf, sizeof(buf));
    assert_int_equal(sstp_http_req_forwarded_build(&w, (const uint8_t *)in, strlen(in), ip), SSTP_OK);
    if (w.len != strlen(want) || memcmp(buf, want, w.len) != 0)
        print_error("got:\n%.*s\nwant:\n%s\n", (int)w.len, (const char *)buf, want);
    assert_int_equal(w.len, strlen(want));
    assert_memory_equal(buf, want, w.len);
    struct sstp_http_req *r = malloc(sizeof(*r));
    assert_non_null(r);
    sstp_http_req_init(r, 0);
    size_t used = 0;
    /* complete and well-formed: only the first deferred "not SSTP" */
    assert_int_equal(sstp_http_req_feed(r, buf, w.len, &used), SSTP_E_HTTP_URI);
    assert_int_equal(used, w.len);
    free(r);
}

#define FWD_V4 "X-Forwarded-For: 192.0.2.7\r\nForwarded: for=192.0.2.7;proto=https\r\nConnection: close\r\n\r\n"

static void test_forwarded_head(void **state)
{
    (void)state;
    check_forwarded("GET /index.html HTTP/1.1\r\nHost: www.example\r\n\r\n", "192.0.2.7",
                    "GET /index.html HTTP/1.1\r\nHost: www.example\r\n" FWD_V4);
    /* the client's own claims go, in any case and wherever they are; so do
     * the hop-by-hop headers Connection: close replaces */
    check_forwarded("GET / HTTP/1.1\r\nx-forwarded-for: 10.6.6.6\r\nHost: h\r\nFORWARDED: for=10.6.6.6\r\n"
                    "Connection: keep-alive\r\nKeep-Alive: timeout=5\r\nProxy-Connection: x\r\n"
                    "X-Forwarded-For: 10.6.6.7\r\nAccept: */*\r\n\r\n",
                    "192.0.2.7", "GET / HTTP/1.1\r\nHost: h\r\nAccept: */*\r\n" FWD_V4);
    /* headers that only start alike stay */
    check_forwarded("GET / HTTP/1.1\r\nHost: h\r\nX-Forwarded-Proto: http\r\nForwarded-X: 1\r\n\r\n", "192.0.2.7",
                    "GET / HTTP/1.1\r\nHost: h\r\nX-Forwarded-Proto: http\r\nForwarded-X: 1\r\n" FWD_V4);
    /* bare LF line ends become CRLF; an IPv6 client is quoted in brackets */
    check_forwarded("POST /f HTTP/1.1\nHost: h\nContent-Length: 3\n\n", "2001:db8::5",
                    "POST /f HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nX-Forwarded-For: 2001:db8::5\r\n"
                    "Forwarded: for=\"[2001:db8::5]\";proto=https\r\nConnection: close\r\n\r\n");
}

static void check_forwarded_refused(const char *in, const char *ip, enum sstp_rc rc)
{
    uint8_t buf[256];
    struct sstp_wbuf w;
    sstp_wbuf_init(&w, buf, sizeof(buf));
    sstp_put_u8(&w, 0xAA); /* what was there before stays, nothing is added */
    assert_int_equal(sstp_http_req_forwarded_build(&w, (const uint8_t *)in, strlen(in), ip), rc);
    assert_int_equal(w.len, 1);
    assert_false(w.err);
}

static void test_forwarded_head_refused(void **state)
{
    (void)state;
    const char *ok = "GET / HTTP/1.1\r\nHost: h\r\n\r\n";
    /* a folded line could carry a client's X-Forwarded-For past the filter */
    check_forwarded_refused("GET / HTTP/1.1\r\nHost: h\r\nX-A: 1\r\n X-Forwarded-For: 1.2.3.4\r\n\r\n",
                            "192.0.2.7", SSTP_E_HTTP_MALFORMED);
    check_forwarded_refused("GET / HTTP/1.1\r\nHost: h\r\n\tX-Forwarded-For: 1.2.3.4\r\n\r\n", "192.0.2.7",
                            SSTP_E_HTTP_MALFORMED);
    check_forwarded_refused("GET / HTTP/1.1\r\nX-Forwarded-For : 1.2.3.4\r\nHost: h\r\n\r\n", "192.0.2.7",
                            SSTP_E_HTTP_MALFORMED); /* space before the colon */
    check_forwarded_refused("GET / HTTP/1.1\r\nX-Forwarded-For\r\n\r\n", "192.0.2.7", SSTP_E_HTTP_MALFORMED);
    check_forwarded_refused("GET / HTTP/1.1\r\n: v\r\n\r\n", "192.0.2.7", SSTP_E_HTTP_MALFORMED);
    check_forwarded_refused("GET / HTTP/1.1\r\nHost: h\rX-Forwarded-For: 1.2.3.4\r\n\r\n", "192.0.2.7",
                            SSTP_E_HTTP_MALFORMED); /* bare CR */
    check_forwarded_refused("GET / HTTP/1.1\r\nHost: h\r\n", "192.0.2.7", SSTP_E_HTTP_MALFORMED);
    check_forwarded_refused("GET / HTTP/1.1\r\nHost: h", "192.0.2.7", SSTP_E_HTTP_MALFORMED);
    check_forwarded_refused("GET / HTTP/1.1\r\nHost: h\r\n\r\nGET / HTTP/1.1\r\n\r\n", "192.0.2.7",
                            SSTP_E_HTTP_MALFORMED); /* bytes after the head */
    check_forwarded_refused("\r\nHost: h\r\n\r\n", "192.0.2.7", SSTP_E_HTTP_MALFORMED);
    check_forwarded_refused("", "192.0.2.7", SSTP_E_HTTP_MALFORMED);
    /* the address must be a literal: nothing that ends a value or a quote */
    check_forwarded_refused(ok, "", SSTP_E_ARG);
    check_forwarded_refused(ok, "1.2.3.4\r\nX: y", SSTP_E_ARG);
    check_forwarded_refused(ok, "[::1]", SSTP_E_ARG);
    check_forwarded_refused(ok, "fe80::1%eth0", SSTP_E_ARG);
    check_forwarded_refused(ok, "1.2.3.4\"", SSTP_E_ARG);
    check_forwarded_refused(ok, NULL, SSTP_E_ARG);
    assert_int_equal(sstp_http_req_forwarded_build(NULL, (const uint8_t *)ok, strlen(ok), "192.0.2.7"), SSTP_E_ARG);
    /* too small a buffer: nothing partial */
    uint8_t small[40];
    struct sstp_wbuf w;
    sstp_wbuf_init(&w, small, sizeof(small));
    assert_int_equal(sstp_http_req_forwarded_build(&w, (const uint8_t *)ok, strlen(ok), "192.0.2.7"),
                     SSTP_E_NOSPACE);
    assert_int_equal(w.len, 0);
}

static void test_canonical_head_bad_args(void **state)
{
    (void)state;
    uint8_t buf[64];
    struct sstp_wbuf w;
    struct sstp_http_fields f;
    memset(&f, 0, sizeof(f));
    sstp_wbuf_init(&w, buf, sizeof(buf));
    f.method = SSTP_HTTP_M_DUPLEX_POST;
    assert_int_equal(sstp_http_req_canonical_build(&w, &f), SSTP_E_ARG); /* no Host */
    f.has_host = true;
    f.host_len = 1;
    memcpy(f.host, "h", 2);
    assert_int_equal(sstp_http_req_canonical_build(NULL, &f), SSTP_E_ARG);
    assert_int_equal(sstp_http_req_canonical_build(&w, NULL), SSTP_E_ARG);
    f.host_len = 2; /* the string disagrees with its length */
    assert_int_equal(sstp_http_req_canonical_build(&w, &f), SSTP_E_ARG);
    f.host_len = 1;
    f.method = SSTP_HTTP_M_NONE;
    assert_int_equal(sstp_http_req_canonical_build(&w, &f), SSTP_E_ARG);
    f.method = SSTP_HTTP_M_DUPLEX_POST;
    f.has_corr_id = true; /* a control byte can never come out of the parser */
    f.corr_id_len = 3;
    memcpy(f.corr_id, "a\rb", 4);
    assert_int_equal(sstp_http_req_canonical_build(&w, &f), SSTP_E_ARG);
    f.has_corr_id = false;
    /* 64 bytes cannot hold it: nothing partial */
    assert_int_equal(sstp_http_req_canonical_build(&w, &f), SSTP_E_NOSPACE);
    assert_int_equal(w.len, 0);
}

static void check_status(const char *in, enum sstp_rc want_rc, int want_status)
{
    int st = -1;
    size_t n = strlen(in);
    uint8_t *b = dup_exact(in, n);
    assert_int_equal(sstp_http_resp_status(&st, b, n), want_rc);
    if (want_rc == SSTP_OK)
        assert_int_equal(st, want_status);
    /* every prefix of a good answer wants more, never fails */
    for (size_t k = 0; want_rc == SSTP_OK && k < 13 && k < n; k++)
        assert_int_equal(sstp_http_resp_status(&st, b, k), SSTP_AGAIN);
    free(b);
}

static void test_resp_status(void **state)
{
    (void)state;
    check_status("HTTP/1.1 200 OK\r\nContent-Length: 18446744073709551615\r\n", SSTP_OK, 200);
    check_status("HTTP/1.1 503 Service Unavailable\r\n", SSTP_OK, 503);
    check_status("HTTP/1.1 400\r\n", SSTP_OK, 400);
    check_status("HTTP/1.1 404\n", SSTP_OK, 404);
    check_status("HTTP/1.1 20", SSTP_AGAIN, 0);
    check_status("HTTP/1.0 200 OK\r\n", SSTP_E_HTTP_MALFORMED, 0);
    check_status("http/1.1 200 OK\r\n", SSTP_E_HTTP_MALFORMED, 0);
    check_status("HTTP/1.1 2000 OK\r\n", SSTP_E_HTTP_MALFORMED, 0);
    check_status("HTTP/1.1 600 X\r\n", SSTP_E_HTTP_MALFORMED, 0);
    check_status("HTTP/1.1 20x OK\r\n", SSTP_E_HTTP_MALFORMED, 0);
    check_status("\x10\x01\x00\x0c", SSTP_E_HTTP_MALFORMED, 0); /* SSTP before any HTTP */
    int st;
    assert_int_equal(sstp_http_resp_status(NULL, (const uint8_t *)"x", 1), SSTP_E_ARG);
    assert_int_equal(sstp_http_resp_status(&st, NULL, 1), SSTP_E_ARG);
    assert_int_equal(sstp_http_resp_status(&st, NULL, 0), SSTP_AGAIN);
}

static void test_build_request_bad_args(void **state)
{
    (void)state;
    uint8_t buf[1024];
    struct sstp_wbuf w;
    sstp_wbuf_init(&w, buf, sizeof(buf));
    char big[SSTP_HTTP_HOST_MAX + 2];
    memset(big, 'x', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';

    const enum sstp_http_method P = SSTP_HTTP_M_DUPLEX_POST;
    assert_int_equal(sstp_http_req_build(NULL, P, "h", NULL, NULL), SSTP_E_ARG);
    assert_int_equal(sstp_http_req_build(&w, P, NULL, NULL, NULL), SSTP_E_ARG);
    assert_int_equal(sstp_http_req_build(&w, SSTP_HTTP_M_NONE, "h", NULL, NULL), SSTP_E_ARG);
    assert_int_equal(sstp_http_req_build(&w, (enum sstp_http_method)7, "h", NULL, NULL), SSTP_E_ARG);
    assert_int_equal(sstp_http_req_build(&w, P, big, NULL, NULL), SSTP_E_ARG);
    assert_int_equal(sstp_http_req_build(&w, P, "h\r\nX: injected", NULL, NULL), SSTP_E_ARG);
    assert_int_equal(sstp_http_req_build(&w, P, " h", NULL, NULL), SSTP_E_ARG);
    assert_int_equal(sstp_http_req_build(&w, P, "h\t", NULL, NULL), SSTP_E_ARG);
    assert_int_equal(sstp_http_req_build(&w, P, "h\x7f", NULL, NULL), SSTP_E_ARG);
    big[SSTP_CORRELATION_ID_MAX + 1] = '\0';
    assert_int_equal(sstp_http_req_build(&w, P, "h", big, NULL), SSTP_E_ARG);
    assert_int_equal(sstp_http_req_build(&w, P, "h", "{\n}", NULL), SSTP_E_ARG);
    assert_int_equal(sstp_http_req_build(&w, P, "h", NULL, "a&tenantid=b"), SSTP_E_ARG);
    assert_int_equal(sstp_http_req_build(&w, P, "h", NULL, "a b"), SSTP_E_ARG);
    assert_int_equal(sstp_http_req_build(&w, P, "h", NULL, "\xe9"), SSTP_E_ARG);
    memset(big, 't', SSTP_HTTP_TENANTID_MAX + 1);
    big[SSTP_HTTP_TENANTID_MAX + 1] = '\0';
    assert_int_equal(sstp_http_req_build(&w, P, "h", NULL, big), SSTP_E_ARG);
    big[SSTP_HTTP_TENANTID_MAX] = '\0'; /* at the cap: accepted */
    assert_int_equal(sstp_http_req_build(&w, P, "h", NULL, big), SSTP_OK);
    w.len = 0;
    assert_int_equal(w.len, 0);
    assert_false(w.err);
}

/* build -> parse gives back the inputs */
static void round_trip(enum sstp_http_method m, const char *host, const char *corr, const char *tid)
{
    uint8_t buf[1024];
    struct sstp_wbuf w;
    sstp_wbuf_init(&w, buf, sizeof(buf));
    assert_int_equal(sstp_http_req_build(&w, m, host, corr, tid), SSTP_OK);
    struct sstp_http_req *r = check_parse_n(buf, w.len, 0, SSTP_OK, w.len);
    assert_int_equal(r->f.method, m);
    assert_true(r->f.has_host);
    assert_str_field(r->f.host, r->f.host_len, host);
    assert_int_equal(r->f.has_corr_id, corr != NULL);
    if (corr)
        assert_str_field(r->f.corr_id, r->f.corr_id_len, corr);
    assert_int_equal(r->f.has_tenantid, tid != NULL);
    if (tid)
        assert_str_field(r->f.tenantid, r->f.tenantid_len, tid);
    free(r);
}

static void test_round_trip(void **state)
{
    (void)state;
    char host[SSTP_HTTP_HOST_MAX + 1], corr[SSTP_CORRELATION_ID_MAX + 1], tid[SSTP_HTTP_TENANTID_MAX + 1];
    memset(host, 'h', SSTP_HTTP_HOST_MAX);
    host[SSTP_HTTP_HOST_MAX] = '\0';
    memset(corr, 'c', SSTP_CORRELATION_ID_MAX);
    corr[SSTP_CORRELATION_ID_MAX] = '\0';
    memset(tid, '%', SSTP_HTTP_TENANTID_MAX);
    tid[SSTP_HTTP_TENANTID_MAX] = '\0';

    round_trip(SSTP_HTTP_M_DUPLEX_POST, "vpn.example.com", "{3f2504e0-4f89-41d3-9a0c-0305e82c3301}", NULL);
    round_trip(SSTP_HTTP_M_DUPLEX_POST, "h", "{}", "x=y?z#");
    round_trip(SSTP_HTTP_M_DUPLEX_POST, host, corr, tid);
    round_trip(SSTP_HTTP_M_DUPLEX_POST, "", "", "");
    round_trip(SSTP_HTTP_M_DUPLEX_POST, "a\tb c", "{a \t b}", NULL);
    round_trip(SSTP_HTTP_M_HEAD, "be1", NULL, "t");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_accept_open_sstp_client),
        cmocka_unit_test(test_accept_sstpc),
        cmocka_unit_test(test_accept_sstoper),
        cmocka_unit_test(test_accept_nmap_lf_only),
        cmocka_unit_test(test_accept_head_probe),
        cmocka_unit_test(test_accept_lenient_forms),
        cmocka_unit_test(test_accept_tenantid),
        cmocka_unit_test(test_corr_id_cap),
        cmocka_unit_test(test_pipelined_sstp_bytes_not_taken),
        cmocka_unit_test(test_incomplete_is_again),
        cmocka_unit_test(test_head_limit),
        cmocka_unit_test(test_reject_malformed_request_line),
        cmocka_unit_test(test_reject_malformed_bytes),
        cmocka_unit_test(test_reject_malformed_headers),
        cmocka_unit_test(test_reject_method),
        cmocka_unit_test(test_reject_uri),
        cmocka_unit_test(test_reject_version),
        cmocka_unit_test(test_reject_content_length),
        cmocka_unit_test(test_reject_no_content_length),
        cmocka_unit_test(test_reject_dup_header),
        cmocka_unit_test(test_reject_field_too_long),
        cmocka_unit_test(test_reject_no_host),
        cmocka_unit_test(test_feed_bad_args),
        cmocka_unit_test(test_status_table),
        cmocka_unit_test(test_build_ok),
        cmocka_unit_test(test_build_dates),
        cmocka_unit_test(test_build_errors),
        cmocka_unit_test(test_build_probe),
        cmocka_unit_test(test_build_busy),
        cmocka_unit_test(test_build_request),
        cmocka_unit_test(test_build_request_bad_args),
        cmocka_unit_test(test_canonical_head),
        cmocka_unit_test(test_canonical_head_bad_args),
        cmocka_unit_test(test_forwarded_head),
        cmocka_unit_test(test_forwarded_head_refused),
        cmocka_unit_test(test_resp_status),
        cmocka_unit_test(test_round_trip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
