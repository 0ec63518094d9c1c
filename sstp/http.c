/* http.c — SSTP's HTTP handshake: the incremental request-head parser, the
 * rc -> status table and the response and request builders.
 * It parses only what SSTP needs (one request, no body, no keep-alive, no
 * percent-decoding) and reads nothing past the head. No I/O, no clock. */
#include "sstp/http.h"

#include <string.h>

static const char CRLF[] = "\r\n";
static const char HTTP11[] = "HTTP/1.1";
static const char M_HEAD[] = "HEAD";
static const char SERVER_HDR[] = "Server: Microsoft-HTTPAPI/2.0\r\n";

/* ---- small byte helpers ------------------------------------------------- */

static bool is_ws(uint8_t c)
{
    return c == ' ' || c == '\t';
}

/* RFC 9110 §5.6.2 tchar: what a header name may hold. */
static bool is_tchar(uint8_t c)
{
    if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'))
        return true;
    return c != 0 && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

static uint8_t lower(uint8_t c)
{
    return (c >= 'A' && c <= 'Z') ? (uint8_t)(c - 'A' + 'a') : c;
}

/* s (n bytes) equals the NUL-terminated lit, ignoring ASCII case. */
static bool eq_ci(const uint8_t *s, size_t n, const char *lit)
{
    size_t ln = strlen(lit);
    if (n != ln)
        return false;
    for (size_t i = 0; i < n; i++)
        if (lower(s[i]) != lower((uint8_t)lit[i]))
            return false;
    return true;
}

static bool eq(const uint8_t *s, size_t n, const char *lit)
{
    return n == strlen(lit) && memcmp(s, lit, n) == 0;
}

static void copy_str(char *dst, const uint8_t *src, size_t n)
{
    if (n)
        memcpy(dst, src, n);
    dst[n] = '\0';
}

/* ---- parser ------------------------------------------------------------- */

void sstp_http_req_init(struct sstp_http_req *r, size_t max_head_len)
{
    memset(r, 0, sizeof(*r));
    if (max_head_len > SSTP_HTTP_HEAD_MAX)
        max_head_len = SSTP_HTTP_HEAD_MAX;
    r->max_head_len = max_head_len;
}

static size_t head_limit(const struct sstp_http_req *r)
{
    if (r->max_head_len == 0)
        return SSTP_HTTP_HEAD_LEN_DEFAULT;
    return r->max_head_len < SSTP_HTTP_HEAD_MAX ? r->max_head_len : SSTP_HTTP_HEAD_MAX;
}

static enum sstp_rc fail(struct sstp_http_req *r, enum sstp_rc rc)
{
    r->phase = SSTP_HTTP_PH_FAILED;
    r->err = rc;
    return rc;
}

/* Request errors other than syntax wait for the end of the head, so the
 * caller has read the whole request when it answers (a close with unread
 * bytes would RST the answer away). The first one wins. */
static void defer(struct sstp_http_req *r, enum sstp_rc rc)
{
    if (r->pending == SSTP_OK)
        r->pending = rc;
}

/* The query of the request target: '&'-separated items, `tenantid=<v>` kept
 * (name in any case; a bare `tenantid` counts as an empty value). */
static void parse_query(struct sstp_http_req *r, const uint8_t *q, size_t n)
{
    size_t i = 0;
    while (i <= n) {
        size_t s = i;
        while (i < n && q[i] != '&')
            i++;
        const uint8_t *item = q + s;
        size_t item_len = i - s;
        const uint8_t *eqs = memchr(item, '=', item_len);
        size_t name_len = eqs ? (size_t)(eqs - item) : item_len;
        if (eq_ci(item, name_len, "tenantid")) {
            const uint8_t *v = eqs ? eqs + 1 : item + item_len;
            size_t vlen = (size_t)(item + item_len - v);
            if (r->f.has_tenantid)
                defer(r, SSTP_E_HTTP_DUP_HEADER);
            else if (vlen > SSTP_HTTP_TENANTID_MAX)
                defer(r, SSTP_E_HTTP_FIELD_TOO_LONG);
            else {
                r->f.has_tenantid = true;
                r->f.tenantid_len = vlen;
                copy_str(r->f.tenantid, v, vlen);
            }
        }
        i++; /* past '&' (or past the end, which ends the loop) */
    }
}

/* "HTTP/" DIGIT "." DIGIT (RFC 9112 §2.3; HTTP-name is case-sensitive). */
static bool version_syntax_ok(const uint8_t *v, size_t n)
{
    return n == 8 && memcmp(v, "HTTP/", 5) == 0 && v[5] >= '0' && v[5] <= '9' &&
           v[6] == '.' && v[7] >= '0' && v[7] <= '9';
}

static enum sstp_rc parse_request_line(struct sstp_http_req *r, const uint8_t *p, size_t n)
{
    struct sstp_slice tok[3];
    size_t n_tok = 0, i = 0;

    /* Tokens split on runs of SP/TAB (RFC 9112 §3 lets a server be lenient
     * about the separators); URIs are ASCII, so high bytes are malformed. */
    for (;;) {
        while (i < n && is_ws(p[i]))
            i++;
        if (i == n)
            break;
        size_t s = i;
        while (i < n && !is_ws(p[i])) {
            if (p[i] >= 0x7F)
                return SSTP_E_HTTP_MALFORMED;
            i++;
        }
        if (n_tok == 3)
            return SSTP_E_HTTP_MALFORMED;
        tok[n_tok++] = sstp_slice_make(p + s, i - s);
    }
    if (n_tok != 3 || !version_syntax_ok(tok[2].p, tok[2].len))
        return SSTP_E_HTTP_MALFORMED;

    const struct sstp_slice *m = &tok[0], *uri = &tok[1], *ver = &tok[2];
    if (eq(m->p, m->len, SSTP_HTTP_METHOD))
        r->f.method = SSTP_HTTP_M_DUPLEX_POST;
    else if (eq(m->p, m->len, M_HEAD))
        r->f.method = SSTP_HTTP_M_HEAD;

    const uint8_t *qm = memchr(uri->p, '?', uri->len);
    size_t path_len = qm ? (size_t)(qm - uri->p) : uri->len;

    if (!eq(ver->p, ver->len, HTTP11))
        defer(r, SSTP_E_HTTP_VERSION);
    /* Case-insensitive: SSToPer sends the GUID's "458B" in upper case. */
    if (!eq_ci(uri->p, path_len, SSTP_HTTP_URI))
        defer(r, SSTP_E_HTTP_URI);
    if (r->f.method == SSTP_HTTP_M_NONE)
        defer(r, SSTP_E_HTTP_METHOD);
    if (qm)
        parse_query(r, qm + 1, uri->len - path_len - 1);
    return SSTP_AGAIN;
}

static enum sstp_rc parse_header(struct sstp_http_req *r, const uint8_t *p, size_t n)
{
    /* obs-fold (RFC 9112 §5.2): no SSTP client folds, so reject it. */
    if (is_ws(p[0]))
        return SSTP_E_HTTP_MALFORMED;
    const uint8_t *colon = memchr(p, ':', n);
    if (!colon || colon == p)
        return SSTP_E_HTTP_MALFORMED;
    size_t name_len = (size_t)(colon - p);
    /* also rejects space before the colon (RFC 9112 §5.1: MUST reject) */
    for (size_t i = 0; i < name_len; i++)
        if (!is_tchar(p[i]))
            return SSTP_E_HTTP_MALFORMED;

    const uint8_t *v = colon + 1, *end = p + n;
    while (v < end && is_ws(*v))
        v++;
    while (end > v && is_ws(end[-1]))
        end--;
    size_t vlen = (size_t)(end - v);

    if (eq_ci(p, name_len, "Content-Length")) {
        if (r->seen_content_length) {
            defer(r, SSTP_E_HTTP_DUP_HEADER);
        } else {
            r->seen_content_length = true;
            /* MS-SSTP 3.2.4.1: exactly ULONGLONG_MAX; a HEAD carries no body */
            const char *want = r->f.method == SSTP_HTTP_M_HEAD ? "0" : SSTP_HTTP_CONTENT_LENGTH;
            if (!eq(v, vlen, want))
                defer(r, SSTP_E_HTTP_CONTENT_LENGTH);
        }
    } else if (eq_ci(p, name_len, "Transfer-Encoding")) {
        /* would make the body chunked: not SSTP, and a smuggling vector */
        defer(r, SSTP_E_HTTP_CONTENT_LENGTH);
    } else if (eq_ci(p, name_len, "Host")) {
        if (r->f.has_host) {
            defer(r, SSTP_E_HTTP_DUP_HEADER);
        } else if (vlen > SSTP_HTTP_HOST_MAX) {
            defer(r, SSTP_E_HTTP_FIELD_TOO_LONG);
        } else {
            r->f.has_host = true;
            r->f.host_len = vlen;
            copy_str(r->f.host, v, vlen);
        }
    } else if (eq_ci(p, name_len, "SSTPCORRELATIONID")) {
        /* Logging only, never fatal (§3.1: sstpc's and NetworkManager's ids
         * are not GUIDs). The first one counts; too long: dropped whole. */
        if (!r->seen_corr_id) {
            r->seen_corr_id = true;
            if (vlen > SSTP_CORRELATION_ID_MAX) {
                r->f.corr_id_too_long = true;
            } else {
                r->f.has_corr_id = true;
                r->f.corr_id_len = vlen;
                copy_str(r->f.corr_id, v, vlen);
            }
        }
    }
    return SSTP_AGAIN;
}

static enum sstp_rc finish_head(struct sstp_http_req *r)
{
    if (r->pending == SSTP_OK && r->f.method == SSTP_HTTP_M_DUPLEX_POST &&
        !r->seen_content_length)
        r->pending = SSTP_E_HTTP_NO_CONTENT_LENGTH;
    if (r->pending == SSTP_OK && !r->f.has_host)
        r->pending = SSTP_E_HTTP_NO_HOST;
    if (r->pending != SSTP_OK)
        return fail(r, r->pending);
    r->phase = SSTP_HTTP_PH_DONE;
    return SSTP_OK;
}

/* One complete line, without its LF or CRLF. */
static enum sstp_rc parse_line(struct sstp_http_req *r, const uint8_t *p, size_t n)
{
    enum sstp_rc rc;
    if (r->phase == SSTP_HTTP_PH_REQUEST_LINE) {
        rc = parse_request_line(r, p, n);
        r->phase = SSTP_HTTP_PH_HEADERS;
    } else if (n == 0) {
        return finish_head(r);
    } else {
        rc = parse_header(r, p, n);
    }
    return rc == SSTP_AGAIN ? rc : fail(r, rc);
}

enum sstp_rc sstp_http_req_feed(struct sstp_http_req *r, const uint8_t *in,
                                size_t in_len, size_t *used)
{
    if (used)
        *used = 0;
    if (!r || !used || (!in && in_len))
        return SSTP_E_ARG;
    if (r->phase == SSTP_HTTP_PH_DONE)
        return SSTP_OK;
    if (r->phase == SSTP_HTTP_PH_FAILED)
        return r->err;

    size_t limit = head_limit(r), i = 0;
    enum sstp_rc rc = SSTP_AGAIN;
    /* Byte by byte, so every split of the stream takes the same path and
     * the head never takes a byte past its blank line. */
    while (i < in_len) {
        if (r->head_len >= limit) {
            rc = fail(r, SSTP_E_HTTP_HEAD_TOO_LONG);
            break;
        }
        uint8_t c = in[i++];
        r->head[r->head_len++] = c;
        if (r->cr && c != '\n') {
            rc = fail(r, SSTP_E_HTTP_MALFORMED); /* bare CR */
            break;
        }
        if (c == '\n') {
            size_t end = r->head_len - 1 - (r->cr ? 1 : 0);
            size_t start = r->line_start;
            r->cr = false;
            r->line_start = r->head_len;
            rc = parse_line(r, r->head + start, end - start);
            if (rc != SSTP_AGAIN)
                break;
            continue;
        }
        r->cr = c == '\r';
        if ((c < 0x20 && c != '\t' && c != '\r') || c == 0x7F) {
            rc = fail(r, SSTP_E_HTTP_MALFORMED);
            break;
        }
    }
    *used = i;
    return rc;
}

/* ---- status table ------------------------------------------------------- */

int sstp_http_status_for(enum sstp_rc rc)
{
    switch (rc) {
#define SSTP_HTTP_STATUS_CASE(n, st) case SSTP_##n: return st;
    SSTP_HTTP_STATUS_MAP(SSTP_HTTP_STATUS_CASE)
#undef SSTP_HTTP_STATUS_CASE
    default:
        return 500;
    }
}

/* RFC 9110 §15 reason phrases of the statuses sstp-lb may send. */
static const struct {
    int status;
    const char *reason;
} reasons[] = {
    { 200, "OK" },
    { 400, "Bad Request" },
    { 403, "Forbidden" },
    { 404, "Not Found" },
    { 405, "Method Not Allowed" },
    { 408, "Request Timeout" },
    { 411, "Length Required" },
    { 414, "URI Too Long" },
    { 421, "Misdirected Request" },
    { 429, "Too Many Requests" },
    { 431, "Request Header Fields Too Large" },
    { 500, "Internal Server Error" },
    { 501, "Not Implemented" },
    { 502, "Bad Gateway" },
    { 503, "Service Unavailable" },
    { 504, "Gateway Timeout" },
    { 505, "HTTP Version Not Supported" },
};

const char *sstp_http_reason(int status)
{
    for (size_t i = 0; i < sizeof(reasons) / sizeof(reasons[0]); i++)
        if (reasons[i].status == status)
            return reasons[i].reason;
    return NULL;
}

const char *sstp_http_method_str(enum sstp_http_method m)
{
    switch (m) {
    case SSTP_HTTP_M_DUPLEX_POST:
        return SSTP_HTTP_METHOD;
    case SSTP_HTTP_M_HEAD:
        return M_HEAD;
    case SSTP_HTTP_M_NONE:
        break;
    }
    return "-";
}

/* ---- builders ----------------------------------------------------------- */

static void put_str(struct sstp_wbuf *w, const char *s)
{
    sstp_put_bytes(w, s, strlen(s));
}

static void put_digits(char *at, unsigned v, int width)
{
    for (int i = width - 1; i >= 0; i--) {
        at[i] = (char)('0' + v % 10);
        v /= 10;
    }
}

/* IMF-fixdate (RFC 9110 §5.6.7), "Sun, 06 Nov 1994 08:49:37 GMT", into d.
 * false when `now` has no 4-digit year. gmtime_r is pure: no clock read. */
#define IMF_DATE_LEN 29
static bool format_date(char d[IMF_DATE_LEN], time_t now)
{
    static const char wdays[7][4] = { "Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat" };
    static const char months[12][4] = { "Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                        "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };
    struct tm tm;
    if (!gmtime_r(&now, &tm))
        return false;
    if (tm.tm_year < -1900 || tm.tm_year > 9999 - 1900 || tm.tm_wday < 0 ||
        tm.tm_wday > 6 || tm.tm_mon < 0 || tm.tm_mon > 11)
        return false;
    memcpy(d, wdays[tm.tm_wday], 3);
    memcpy(d + 3, ", ", 2);
    put_digits(d + 5, (unsigned)tm.tm_mday, 2);
    d[7] = ' ';
    memcpy(d + 8, months[tm.tm_mon], 3);
    d[11] = ' ';
    put_digits(d + 12, (unsigned)(tm.tm_year + 1900), 4);
    d[16] = ' ';
    put_digits(d + 17, (unsigned)tm.tm_hour, 2);
    d[19] = ':';
    put_digits(d + 20, (unsigned)tm.tm_min, 2);
    d[22] = ':';
    put_digits(d + 23, (unsigned)tm.tm_sec, 2); /* 60 on a leap second: fine */
    memcpy(d + 25, " GMT", 4);
    return true;
}

static void put_date(struct sstp_wbuf *w, const char d[IMF_DATE_LEN])
{
    put_str(w, "Date: ");
    sstp_put_bytes(w, d, IMF_DATE_LEN);
    put_str(w, CRLF);
}

/* Fail whole: on overflow nothing of this message stays in w. */
static enum sstp_rc finish(struct sstp_wbuf *w, size_t start)
{
    if (w->err) {
        w->len = start;
        return SSTP_E_NOSPACE;
    }
    return SSTP_OK;
}

static void put_status_line(struct sstp_wbuf *w, int status, const char *reason)
{
    char code[3];
    put_digits(code, (unsigned)status, 3);
    put_str(w, "HTTP/1.1 ");
    sstp_put_bytes(w, code, 3);
    sstp_put_u8(w, ' ');
    put_str(w, reason);
    put_str(w, CRLF);
}

enum sstp_rc sstp_http_resp_ok_build(struct sstp_wbuf *w, time_t now)
{
    if (!w)
        return SSTP_E_ARG;
    char date[IMF_DATE_LEN];
    if (!format_date(date, now))
        return SSTP_E_ARG;
    if (w->err)
        return SSTP_E_NOSPACE;
    size_t start = w->len;
    put_status_line(w, 200, "OK");
    put_str(w, "Content-Length: " SSTP_HTTP_CONTENT_LENGTH "\r\n");
    put_str(w, SERVER_HDR);
    put_date(w, date);
    put_str(w, CRLF);
    return finish(w, start);
}

/* The bodyless answers: errors and probe answers; retry_after_s > 0 adds
 * Retry-After. */
static enum sstp_rc build_bodyless(struct sstp_wbuf *w, int status, unsigned retry_after_s, time_t now)
{
    const char *reason = sstp_http_reason(status);
    char date[IMF_DATE_LEN];
    if (!w || !reason || !format_date(date, now))
        return SSTP_E_ARG;
    if (w->err)
        return SSTP_E_NOSPACE;
    size_t start = w->len;
    put_status_line(w, status, reason);
    put_date(w, date);
    if (status == 405) /* RFC 9110 §15.5.6: a 405 MUST carry Allow */
        put_str(w, "Allow: " SSTP_HTTP_ALLOW "\r\n");
    if (retry_after_s > 0) {
        char secs[5]; /* 1-86400: at most 5 digits */
        int width = 1;
        for (unsigned v = retry_after_s; v >= 10; v /= 10)
            width++;
        put_digits(secs, retry_after_s, width);
        put_str(w, "Retry-After: ");
        sstp_put_bytes(w, secs, (size_t)width);
        put_str(w, CRLF);
    }
    put_str(w, "Content-Length: 0\r\nConnection: close\r\n\r\n");
    return finish(w, start);
}

enum sstp_rc sstp_http_resp_error_build(struct sstp_wbuf *w, int status, time_t now)
{
    if (status < 400 || status > 599)
        return SSTP_E_ARG;
    return build_bodyless(w, status, 0, now);
}

enum sstp_rc sstp_http_resp_busy_build(struct sstp_wbuf *w, unsigned retry_after_s, time_t now)
{
    if (retry_after_s < 1 || retry_after_s > 86400)
        return SSTP_E_ARG;
    return build_bodyless(w, 503, retry_after_s, now);
}

enum sstp_rc sstp_http_resp_probe_build(struct sstp_wbuf *w, bool accepting, time_t now)
{
    return build_bodyless(w, accepting ? 200 : 503, 0, now);
}

/* A header value the parser would return unchanged: no control byte but
 * TAB, no DEL, no leading or trailing SP/TAB, at most max bytes. */
static bool value_ok(const char *s, size_t max)
{
    size_t n = strlen(s);
    if (n > max)
        return false;
    if (n && (is_ws((uint8_t)s[0]) || is_ws((uint8_t)s[n - 1])))
        return false;
    for (size_t i = 0; i < n; i++) {
        uint8_t c = (uint8_t)s[i];
        if ((c < 0x20 && c != '\t') || c == 0x7F)
            return false;
    }
    return true;
}

static bool tenantid_ok(const char *s)
{
    size_t n = strlen(s);
    if (n > SSTP_HTTP_TENANTID_MAX)
        return false;
    for (size_t i = 0; i < n; i++) {
        uint8_t c = (uint8_t)s[i];
        if (c < 0x21 || c > 0x7E || c == '&')
            return false;
    }
    return true;
}

enum sstp_rc sstp_http_req_build(struct sstp_wbuf *w, enum sstp_http_method method,
                                 const char *host, const char *corr_id,
                                 const char *tenantid)
{
    if (!w || !host)
        return SSTP_E_ARG;
    if (method != SSTP_HTTP_M_DUPLEX_POST && method != SSTP_HTTP_M_HEAD)
        return SSTP_E_ARG;
    if (!value_ok(host, SSTP_HTTP_HOST_MAX) ||
        (corr_id && !value_ok(corr_id, SSTP_CORRELATION_ID_MAX)) ||
        (tenantid && !tenantid_ok(tenantid)))
        return SSTP_E_ARG;
    if (w->err)
        return SSTP_E_NOSPACE;
    size_t start = w->len;
    put_str(w, sstp_http_method_str(method));
    put_str(w, " " SSTP_HTTP_URI);
    if (tenantid) {
        put_str(w, "?tenantid=");
        put_str(w, tenantid);
    }
    put_str(w, " HTTP/1.1\r\n");
    if (method == SSTP_HTTP_M_DUPLEX_POST)
        put_str(w, "Content-Length: " SSTP_HTTP_CONTENT_LENGTH "\r\n");
    put_str(w, "Host: ");
    put_str(w, host);
    put_str(w, CRLF);
    if (corr_id) {
        put_str(w, "SSTPCORRELATIONID: ");
        put_str(w, corr_id);
        put_str(w, CRLF);
    }
    put_str(w, CRLF);
    return finish(w, start);
}

enum sstp_rc sstp_http_req_canonical_build(struct sstp_wbuf *w, const struct sstp_http_fields *f)
{
    if (!w || !f || !f->has_host)
        return SSTP_E_ARG;
    /* the lengths are the parser's; a copy whose string disagrees is not its output */
    if (strlen(f->host) != f->host_len || (f->has_corr_id && strlen(f->corr_id) != f->corr_id_len) ||
        (f->has_tenantid && strlen(f->tenantid) != f->tenantid_len))
        return SSTP_E_ARG;
    return sstp_http_req_build(w, f->method, f->host, f->has_corr_id ? f->corr_id : NULL,
                               f->has_tenantid ? f->tenantid : NULL);
}

enum sstp_rc sstp_http_resp_status(int *out_status, const uint8_t *in, size_t in_len)
{
    static const char prefix[] = "HTTP/1.1 ";
    const size_t plen = sizeof(prefix) - 1, need = plen + 4; /* three digits and what ends them */
    if (!out_status || (!in && in_len))
        return SSTP_E_ARG;
    size_t n = in_len < need ? in_len : need;
    for (size_t i = 0; i < n; i++) {
        uint8_t c = in[i];
        bool ok = i < plen                ? c == (uint8_t)prefix[i]
                  : i == plen             ? c >= '1' && c <= '5'
                  : i < plen + 3          ? c >= '0' && c <= '9'
                                          : c == ' ' || c == '\r' || c == '\n';
        if (!ok)
            return SSTP_E_HTTP_MALFORMED;
    }
    if (in_len < need)
        return SSTP_AGAIN;
    *out_status = (in[plen] - '0') * 100 + (in[plen + 1] - '0') * 10 + (in[plen + 2] - '0');
    return SSTP_OK;
}

/* ---- a request head for the web backend ---------------------------------- */

/* The client's copies of what the proxy states itself, and the hop-by-hop
 * headers its Connection: close replaces. */
static const char *const forwarded_dropped[] = {
    "X-Forwarded-For", "Forwarded", "Connection", "Keep-Alive", "Proxy-Connection",
};

static bool forwarded_dropped_name(const uint8_t *name, size_t n)
{
    for (size_t i = 0; i < sizeof forwarded_dropped / sizeof forwarded_dropped[0]; i++)
        if (eq_ci(name, n, forwarded_dropped[i]))
            return true;
    return false;
}

/* An IPv4 or IPv6 literal as inet_ntop writes it: nothing that could end
 * the header value or the Forwarded quoted string. */
static bool ip_literal_ok(const char *ip)
{
    size_t n = strlen(ip);
    if (n == 0 || n > 45) /* INET6_ADDRSTRLEN - 1 */
        return false;
    for (size_t i = 0; i < n; i++)
        if (!(ip[i] >= '0' && ip[i] <= '9') && !((ip[i] | 0x20) >= 'a' && (ip[i] | 0x20) <= 'f') &&
            ip[i] != '.' && ip[i] != ':')
            return false;
    return true;
}

enum sstp_rc sstp_http_req_forwarded_build(struct sstp_wbuf *w, const uint8_t *head, size_t head_len,
                                           const char *client_ip)
{
    if (!w || !head || !client_ip || !ip_literal_ok(client_ip))
        return SSTP_E_ARG;
    if (w->err)
        return SSTP_E_NOSPACE;
    size_t start = w->len, pos = 0;
    bool request_line = true, ended = false;
    while (pos < head_len && !ended) {
        const uint8_t *p = head + pos, *lf = memchr(p, '\n', head_len - pos);
        if (!lf)
            goto malformed; /* the head does not end */
        size_t n = (size_t)(lf - p);
        pos += n + 1;
        if (n && p[n - 1] == '\r')
            n--;
        for (size_t i = 0; i < n; i++)
            if ((p[i] < 0x20 && p[i] != '\t') || p[i] == 0x7F)
                goto malformed; /* a bare CR among them */
        if (n == 0) {
            if (request_line)
                goto malformed;
            ended = true;
            continue;
        }
        if (!request_line) {
            const uint8_t *colon = memchr(p, ':', n);
            if (!colon || colon == p)
                goto malformed;
            size_t name_len = (size_t)(colon - p);
            for (size_t i = 0; i < name_len; i++)
                if (!is_tchar(p[i]))
                    goto malformed; /* also an obs-fold line, which starts with SP or TAB */
            if (forwarded_dropped_name(p, name_len))
                continue;
        }
        request_line = false;
        sstp_put_bytes(w, p, n);
        put_str(w, CRLF);
    }
    if (!ended || pos != head_len)
        goto malformed;
    bool v6 = strchr(client_ip, ':') != NULL;
    put_str(w, "X-Forwarded-For: ");
    put_str(w, client_ip);
    put_str(w, "\r\nForwarded: for=");
    put_str(w, v6 ? "\"[" : "");
    put_str(w, client_ip);
    put_str(w, v6 ? "]\"" : "");
    put_str(w, ";proto=https\r\nConnection: close\r\n\r\n");
    return finish(w, start);
malformed:
    w->len = start;
    return SSTP_E_HTTP_MALFORMED;
}
