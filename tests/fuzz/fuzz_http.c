/* fuzz_http.c — libFuzzer target for sstp/http.c.
 * Input: byte 0 picks the chunk size (1-256), byte 1 the head limit, the rest
 * is the stream. The stream is parsed whole and in chunks; any difference in
 * rc, bytes used or fields aborts. A valid head is rebuilt as the canonical
 * head (sstp_http_req_canonical_build) and parsed again; it must give the
 * same fields. A complete head is rebuilt for the web backend
 * (sstp_http_req_forwarded_build): every well-formed one is, and the result
 * parses again as well-formed. The stream is also read as a backend's
 * status line.
 * The status of the rc and its error answer are built too. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sstp/http.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(bool ok)
{
    if (!ok)
        abort();
}

/* A kept string: NUL-terminated at its length, no NUL inside, no control
 * byte other than TAB, no DEL, no leading/trailing SP/TAB. */
static void check_kept(const char *s, size_t len, size_t max)
{
    check(len <= max);
    check(strlen(s) == len);
    for (size_t i = 0; i < len; i++) {
        uint8_t c = (uint8_t)s[i];
        check(!((c < 0x20 && c != '\t') || c == 0x7F));
    }
    if (len)
        check(s[0] != ' ' && s[0] != '\t' && s[len - 1] != ' ' && s[len - 1] != '\t');
}

static void check_fields_same(const struct sstp_http_fields *a, const struct sstp_http_fields *b,
                              bool with_dropped_flag)
{
    check(a->method == b->method);
    check(a->has_host == b->has_host);
    check(a->has_tenantid == b->has_tenantid);
    check(a->has_corr_id == b->has_corr_id);
    if (with_dropped_flag)
        check(a->corr_id_too_long == b->corr_id_too_long);
    check(a->host_len == b->host_len && memcmp(a->host, b->host, a->host_len + 1) == 0);
    check(a->tenantid_len == b->tenantid_len &&
          memcmp(a->tenantid, b->tenantid, a->tenantid_len + 1) == 0);
    check(a->corr_id_len == b->corr_id_len &&
          memcmp(a->corr_id, b->corr_id, a->corr_id_len + 1) == 0);
}

/* Feeds in chunks of `chunk` bytes until the parser stops asking for more;
 * returns the rc and the total taken. Every feed after a final result must
 * repeat it and take nothing. */
static enum sstp_rc feed_chunked(struct sstp_http_req *r, const uint8_t *in, size_t n,
                                 size_t chunk, size_t *used)
{
    enum sstp_rc rc = SSTP_AGAIN;
    size_t off = 0, total = 0;
    while (off < n) {
        size_t k = n - off < chunk ? n - off : chunk;
        size_t u = (size_t)-1;
        rc = sstp_http_req_feed(r, in + off, k, &u);
        check(u <= k);
        total += u;
        if (rc != SSTP_AGAIN) {
            size_t u2 = (size_t)-1;
            check(sstp_http_req_feed(r, in + off, k, &u2) == rc && u2 == 0);
            break;
        }
        check(u == k);
        off += k;
    }
    *used = total;
    return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    size_t chunk = (size_t)data[0] + 1;
    size_t limit = (size_t)data[1] * 33; /* 0: default; above the max: clamped */
    const uint8_t *in = data + 2;
    size_t n = size - 2;

    /* exact-size copy so ASan sees any read past the stream */
    uint8_t *buf = malloc(n ? n : 1);
    check(buf != NULL);
    if (n)
        memcpy(buf, in, n);

    struct sstp_http_req whole, parts;
    size_t used_w = 0, used_p = 0;
    sstp_http_req_init(&whole, limit);
    enum sstp_rc rc_w = sstp_http_req_feed(&whole, buf, n, &used_w);
    sstp_http_req_init(&parts, limit);
    enum sstp_rc rc_p = feed_chunked(&parts, buf, n, chunk, &used_p);

    check(rc_w == rc_p);
    check(used_w == used_p);
    check(whole.head_len == parts.head_len);
    check_fields_same(&whole.f, &parts.f, true);

    check(used_w <= n);
    if (rc_w == SSTP_AGAIN)
        check(used_w == n);
    check(rc_w == SSTP_OK || rc_w == SSTP_AGAIN ||
          (sstp_http_status_for(rc_w) >= 400 && sstp_http_status_for(rc_w) < 600));
    check(whole.head_len <= SSTP_HTTP_HEAD_MAX);
    check(whole.head_len == used_w);
    check_kept(whole.f.host, whole.f.host_len, SSTP_HTTP_HOST_MAX);
    check_kept(whole.f.corr_id, whole.f.corr_id_len, SSTP_CORRELATION_ID_MAX);
    check_kept(whole.f.tenantid, whole.f.tenantid_len, SSTP_HTTP_TENANTID_MAX);
    check(!(whole.f.has_corr_id && whole.f.corr_id_too_long));

    uint8_t out[1024];
    struct sstp_wbuf w;
    if (rc_w == SSTP_OK) {
        check(used_w > 0 && buf[used_w - 1] == '\n');
        check(whole.f.method != SSTP_HTTP_M_NONE && whole.f.has_host);

        /* round trip: the canonical head a backend gets, parsed again */
        sstp_wbuf_init(&w, out, sizeof(out));
        enum sstp_rc rc_b = sstp_http_req_canonical_build(&w, &whole.f);
        check(rc_b == SSTP_OK);
        struct sstp_http_req again;
        size_t used_a = 0;
        sstp_http_req_init(&again, SSTP_HTTP_HEAD_MAX);
        check(sstp_http_req_feed(&again, out, w.len, &used_a) == SSTP_OK);
        check(used_a == w.len);
        check_fields_same(&whole.f, &again.f, false);
        check(!again.f.corr_id_too_long);
    }

    /* the head rebuilt for the web backend (headers=forwarded) */
    static uint8_t fwd[2 * SSTP_HTTP_HEAD_MAX + 256];
    bool well_formed = rc_w == SSTP_OK || rc_w == SSTP_E_HTTP_METHOD || rc_w == SSTP_E_HTTP_URI ||
                       rc_w == SSTP_E_HTTP_VERSION || rc_w == SSTP_E_HTTP_CONTENT_LENGTH ||
                       rc_w == SSTP_E_HTTP_NO_CONTENT_LENGTH || rc_w == SSTP_E_HTTP_NO_HOST ||
                       rc_w == SSTP_E_HTTP_DUP_HEADER || rc_w == SSTP_E_HTTP_FIELD_TOO_LONG;
    sstp_wbuf_init(&w, fwd, sizeof(fwd));
    enum sstp_rc rc_f = sstp_http_req_forwarded_build(&w, whole.head, whole.head_len,
                                                      (data[0] & 1) ? "2001:db8::7" : "192.0.2.7");
    check(rc_f == SSTP_OK || rc_f == SSTP_E_HTTP_MALFORMED);
    check(!well_formed || rc_f == SSTP_OK);
    if (rc_f == SSTP_OK && well_formed) {
        struct sstp_http_req fr;
        size_t used_f = 0;
        sstp_http_req_init(&fr, SSTP_HTTP_HEAD_MAX);
        enum sstp_rc rc_fr = sstp_http_req_feed(&fr, fwd, w.len, &used_f);
        check(rc_fr != SSTP_E_HTTP_MALFORMED && rc_fr != SSTP_AGAIN);
        check(rc_fr == SSTP_E_HTTP_HEAD_TOO_LONG || used_f == w.len);
    } else if (rc_f != SSTP_OK) {
        check(w.len == 0 && !w.err);
    }

    /* the stream read as a backend's answer: a status only from a
     * well-formed status line */
    int st = 0;
    enum sstp_rc rc_s = sstp_http_resp_status(&st, buf, n);
    check(rc_s == SSTP_OK || rc_s == SSTP_AGAIN || rc_s == SSTP_E_HTTP_MALFORMED);
    if (rc_s == SSTP_OK)
        check(st >= 100 && st <= 599 && n >= 13 && memcmp(buf, "HTTP/1.1 ", 9) == 0);

    /* the answer the proxy would send */
    int status = sstp_http_status_for(rc_w);
    /* mostly dates with a 4-digit year, sometimes any time_t */
    uint64_t raw = 0;
    for (size_t i = 0; i < n && i < 8; i++)
        raw = (raw << 8) | buf[i];
    time_t now = (data[1] & 0x80) ? (time_t)raw : (time_t)(raw % 253402300800ULL);
    sstp_wbuf_init(&w, out, sizeof(out));
    enum sstp_rc rc_r;
    if (status >= 400)
        rc_r = sstp_http_resp_error_build(&w, status, now);
    else if (status == 200 && sstp_http_req_is_probe(&whole))
        rc_r = sstp_http_resp_probe_build(&w, data[0] & 1, now);
    else
        rc_r = sstp_http_resp_ok_build(&w, now);
    check(rc_r == SSTP_OK || rc_r == SSTP_E_ARG);
    if (rc_r == SSTP_OK)
        check(w.len > 4 && memcmp(out + w.len - 4, "\r\n\r\n", 4) == 0);
    else
        check(w.len == 0 && !w.err);

    free(buf);
    return 0;
}
