/* http.h — the HTTP handshake of SSTP (MS-SSTP 3.2.4.1, 4.1): an incremental
 * parser of the client's request head, the rc -> HTTP status table, and
 * builders of the 200 response, bodyless error and health-probe responses
 * and the client request. Pure: no I/O, no clock (callers pass `now`), no
 * allocation. The parser trusts nothing in the request; the builders trust
 * their arguments only after checking them. */
#ifndef SSTP_LB_SSTP_HTTP_H
#define SSTP_LB_SSTP_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "sstp/limits.h"
#include "sstp/rc.h"
#include "sstp/slice.h"

/* Compile-time ceiling of the head buffer inside struct sstp_http_req. The
 * policy limit (max_head_len) may be set anywhere up to it. accel-ppp reads
 * into about 8 KiB, sorz allows 10 KiB; real SSTP heads are ~200 bytes. */
#define SSTP_HTTP_HEAD_MAX          8192
/* Default policy limit: ogital's 4 KiB, twenty times a real SSTP head. */
#define SSTP_HTTP_HEAD_LEN_DEFAULT  4096
/* Host value: a 253-char DNS name (RFC 1035) + ':' + a 5-digit port. */
#define SSTP_HTTP_HOST_MAX          259
/* tenantid query value. MS-SSTP 3.2.4.1 gives no size; Azure tenant ids are
 * 36-char GUIDs, so 128 leaves room without letting a client park kilobytes
 * in logs and PROXY TLVs. */
#define SSTP_HTTP_TENANTID_MAX      128
/* SSTPCORRELATIONID is kept only when it is at most SSTP_CORRELATION_ID_MAX
 * (limits.h, 64) chars; a longer id is dropped whole, never truncated (a
 * truncated id would look valid in logs but match nothing on the client). */

/* The method of an accepted request. HEAD is a load balancer's health probe
 * of the SSTP URI (`HEAD /sra_{...}/`), answered with
 * sstp_http_resp_probe_build() instead of starting a session. */
enum sstp_http_method {
    SSTP_HTTP_M_NONE        = 0, /* not parsed yet, or not one we serve */
    SSTP_HTTP_M_DUPLEX_POST = 1, /* SSTP_DUPLEX_POST: a VPN session */
    SSTP_HTTP_M_HEAD        = 2, /* HEAD: health probe */
};

/* What the daemon logs and forwards. Strings are NUL-terminated copies (so
 * the struct may be copied), hold no byte below 0x20 except TAB, no 0x7F,
 * and no leading or trailing space or TAB; Host and the correlation id may
 * hold bytes >= 0x80 (HTTP obs-text), so sanitise before logging. The
 * tenantid holds only 0x21-0x7E without '&', not percent-decoded. */
struct sstp_http_fields {
    enum sstp_http_method method;
    bool has_host;
    bool has_tenantid;           /* `tenantid` in the query, maybe empty */
    bool has_corr_id;            /* SSTPCORRELATIONID present and kept */
    bool corr_id_too_long;       /* present but longer than the cap: dropped */
    size_t host_len;
    size_t tenantid_len;
    size_t corr_id_len;
    char host[SSTP_HTTP_HOST_MAX + 1];
    char tenantid[SSTP_HTTP_TENANTID_MAX + 1];
    char corr_id[SSTP_CORRELATION_ID_MAX + 1];
};

enum sstp_http_phase {
    SSTP_HTTP_PH_REQUEST_LINE = 0,
    SSTP_HTTP_PH_HEADERS      = 1,
    SSTP_HTTP_PH_DONE         = 2, /* head complete and valid */
    SSTP_HTTP_PH_FAILED       = 3, /* `err` holds the sticky error */
};

/* Parser state. All-zero is a valid fresh parser with the default limit.
 * Fields other than `f`, `head` and `head_len` are private. */
struct sstp_http_req {
    size_t max_head_len;         /* policy limit; 0 means the default */
    enum sstp_http_phase phase;
    enum sstp_rc err;            /* valid in SSTP_HTTP_PH_FAILED */
    enum sstp_rc pending;        /* first request error seen; reported at
                                  * the end of the head (SSTP_OK: none) */
    size_t line_start;           /* offset of the current line in head[] */
    bool cr;                     /* last byte buffered was CR */
    bool seen_content_length;
    bool seen_corr_id;
    struct sstp_http_fields f;   /* results, see sstp_http_req_feed */
    size_t head_len;             /* bytes of the head buffered so far */
    uint8_t head[SSTP_HTTP_HEAD_MAX];
};

/* sstp_http_req_init readies r (storage owned by the caller) for a new
 * request with a policy limit on the head size in bytes, counting the request
 * line, the headers and the blank line. 0 selects
 * SSTP_HTTP_HEAD_LEN_DEFAULT; values above SSTP_HTTP_HEAD_MAX are clamped to
 * it. A zeroed struct is equivalent to init(r, 0). */
void sstp_http_req_init(struct sstp_http_req *r, size_t max_head_len);

/* sstp_http_req_feed takes the next in_len bytes of the stream (borrowed) and
 * consumes them up to and including the blank line that ends the head, never
 * beyond: *used is how many bytes of `in` it took; the rest (SSTP packets a
 * client may pipeline after its request) stay with the caller. Feeding the
 * stream in any split gives the same results and the same total *used.
 *
 * Accepts `SSTP_DUPLEX_POST` (exact case) or `HEAD`, the SSTP URI path in any
 * case with an optional query, exactly HTTP/1.1, CRLF or bare-LF line ends,
 * header names in any case and order; unknown headers are ignored.
 *
 * Returns:
 *   SSTP_AGAIN  all of `in` taken, the head is not complete yet.
 *   SSTP_OK     head complete and valid; r->f holds the results. Later feeds
 *               return SSTP_OK again and take nothing.
 *   SSTP_E_HTTP_MALFORMED     bad request-line (not 3 tokens, version not
 *               HTTP/DIGIT.DIGIT, a byte >= 0x7F), control byte, bare CR,
 *               header line without ':', empty or non-token name, space
 *               before ':', obs-fold (line starting with SP/TAB) or an empty
 *               line before the request line. Reported at once.
 *   SSTP_E_HTTP_HEAD_TOO_LONG the head does not end within the limit.
 *               Reported at once; the byte past the limit is not taken.
 *   The rest are reported when the head is complete (so the whole head has
 *   been read when the caller answers), the first one in byte order, with
 *   the request line checked in the order version, path, method, query:
 *   SSTP_E_HTTP_VERSION       not HTTP/1.1.
 *   SSTP_E_HTTP_URI           path is not the SSTP URI.
 *   SSTP_E_HTTP_METHOD        neither SSTP_DUPLEX_POST nor HEAD.
 *   SSTP_E_HTTP_DUP_HEADER    Content-Length or Host twice, or tenantid twice
 *               in the query.
 *   SSTP_E_HTTP_FIELD_TOO_LONG Host above SSTP_HTTP_HOST_MAX or tenantid above
 *               SSTP_HTTP_TENANTID_MAX. (A long SSTPCORRELATIONID is not an
 *               error: it is dropped and corr_id_too_long set.)
 *   SSTP_E_HTTP_CONTENT_LENGTH Content-Length not exactly
 *               18446744073709551615 (for HEAD: not "0"), or any
 *               Transfer-Encoding header (SSTP has no chunked body).
 *   SSTP_E_HTTP_NO_CONTENT_LENGTH SSTP_DUPLEX_POST without Content-Length.
 *   SSTP_E_HTTP_NO_HOST       no Host header (RFC 9112 §3.2: MUST be 400).
 *   SSTP_E_ARG  r or used NULL, or in NULL with in_len > 0 (nothing taken).
 * After an error every later feed returns the same error and takes nothing.
 * On errors *used counts the bytes taken up to the point of detection and
 * r->f keeps what was parsed before it (for the log line). */
enum sstp_rc sstp_http_req_feed(struct sstp_http_req *r, const uint8_t *in,
                                size_t in_len, size_t *used);

/* The rc -> HTTP status table of sstp-proxy's answer (one table, style 2.5;
 * MS-SSTP leaves error statuses to the server):
 *  - 400 for malformed heads and every size problem: the client sent
 *    something no SSTP client sends; 431 would be as right for the head
 *    limit but tells a prober nothing more.
 *  - 404 for any other path: the SSTP URI is the only resource here, and
 *    the path is checked before the method so that `GET /` is a 404.
 *  - 405 (with `Allow: SSTP_DUPLEX_POST, HEAD`) rather than 501 for another
 *    method on the SSTP URI: the server does know GET/POST (RFC 9110 §15.6.2
 *    reserves 501 for methods it does not recognise), 405 tells a human
 *    which method to use, and the Windows client reports every non-200
 *    except 407 the same way, so accel-ppp's switch to 501 "for
 *    compatibility" buys nothing we can name. HEAD is listed because the
 *    probe answer makes it a supported method.
 *  - 505 for another version (RFC 9110 §15.6.6).
 *  - 411 when Content-Length is missing (RFC 9110 §15.5.12: exactly "length
 *    required"); 400 when it is present but wrong (no status means "this
 *    one exact length only"; 413 would invite a smaller body).
 *  - SSTP_AGAIN has no answer yet (0); codes not listed (E_ARG, E_NOSPACE:
 *    our fault, not the client's) map to 500. */
#define SSTP_HTTP_STATUS_MAP(X) \
    X(OK,                        200) \
    X(AGAIN,                     0) \
    X(E_HTTP_HEAD_TOO_LONG,      400) \
    X(E_HTTP_MALFORMED,          400) \
    X(E_HTTP_METHOD,             405) \
    X(E_HTTP_URI,                404) \
    X(E_HTTP_VERSION,            505) \
    X(E_HTTP_CONTENT_LENGTH,     400) \
    X(E_HTTP_NO_CONTENT_LENGTH,  411) \
    X(E_HTTP_DUP_HEADER,         400) \
    X(E_HTTP_FIELD_TOO_LONG,     400) \
    X(E_HTTP_NO_HOST,            400)

/* The methods the 405 answer lists. */
#define SSTP_HTTP_ALLOW "SSTP_DUPLEX_POST, HEAD"

/* sstp_http_status_for returns the HTTP status for rc from the table above:
 * 200 for SSTP_OK, 0 for SSTP_AGAIN, 500 for a code not in the table. */
int sstp_http_status_for(enum sstp_rc rc);

/* sstp_http_reason returns the reason phrase of a status the builders know
 * (e.g. "Not Found"), or NULL for any other status. Static storage. */
const char *sstp_http_reason(int status);

/* sstp_http_method_str returns "SSTP_DUPLEX_POST", "HEAD" or "-" (none or
 * unknown), for logs. Static storage. */
const char *sstp_http_method_str(enum sstp_http_method m);

/* sstp_http_resp_ok_build appends the 200 answer that starts an SSTP session:
 *   HTTP/1.1 200 OK, Content-Length: 18446744073709551615,
 *   Server: Microsoft-HTTPAPI/2.0, Date: <IMF-fixdate of now>, blank line
 * (CRLF line ends, in that order, as Windows RRAS sends them). Returns
 * SSTP_OK; SSTP_E_NOSPACE when w is full (w->err set, w->len unchanged:
 * nothing partial); SSTP_E_ARG when w is NULL or `now` has no 4-digit year. */
enum sstp_rc sstp_http_resp_ok_build(struct sstp_wbuf *w, time_t now);

/* sstp_http_resp_error_build appends a bodyless error answer:
 *   HTTP/1.1 <status> <reason>, Date, [Allow: SSTP_HTTP_ALLOW for 405],
 *   Content-Length: 0, Connection: close, blank line.
 * status must be 400-599 and known to sstp_http_reason(). Returns SSTP_OK,
 * SSTP_E_NOSPACE (as above) or SSTP_E_ARG (w NULL, unknown status, bad
 * `now`). The caller closes the connection after sending it. */
enum sstp_rc sstp_http_resp_error_build(struct sstp_wbuf *w, int status, time_t now);

/* sstp_http_resp_busy_build appends the answer to a request refused for
 * load (a per-source or global admission limit): `503 Service Unavailable`
 * with Date, Retry-After: <retry_after_s> (RFC 9110 §10.2.3, delay in
 * seconds, 1-86400), Content-Length: 0 and Connection: close. Returns
 * SSTP_OK, SSTP_E_NOSPACE (as above) or SSTP_E_ARG (w NULL, retry_after_s
 * out of range, bad `now`). */
enum sstp_rc sstp_http_resp_busy_build(struct sstp_wbuf *w, unsigned retry_after_s, time_t now);

/* sstp_http_resp_probe_build appends the answer to a HEAD health probe:
 * `200 OK` when the caller can take sessions, `503 Service Unavailable`
 * otherwise, each with Date, Content-Length: 0 and Connection: close and no
 * body. Returns SSTP_OK, SSTP_E_NOSPACE (as above) or SSTP_E_ARG (w NULL,
 * bad `now`). */
enum sstp_rc sstp_http_resp_probe_build(struct sstp_wbuf *w, bool accepting, time_t now);

/* sstp_http_req_build appends a client request head (for test clients and
 * sstp-bench), in the order of MS-SSTP 4.1:
 *   <method> /sra_{...}/[?tenantid=<tenantid>] HTTP/1.1,
 *   Content-Length: 18446744073709551615 (SSTP_DUPLEX_POST only),
 *   Host: <host>, [SSTPCORRELATIONID: <corr_id>], blank line.
 * Borrows the strings; corr_id and tenantid may be NULL (left out). Anything
 * the parser returns in struct sstp_http_fields is accepted here, and the
 * built head parses back to the same fields. Returns SSTP_OK,
 * SSTP_E_NOSPACE (as above), or SSTP_E_ARG: w or host NULL, method neither
 * DUPLEX_POST nor HEAD, host longer than SSTP_HTTP_HOST_MAX or corr_id longer
 * than SSTP_CORRELATION_ID_MAX or either holding a control byte (other than
 * TAB) or leading/trailing SP/TAB, tenantid longer than
 * SSTP_HTTP_TENANTID_MAX or holding anything but 0x21-0x7E or holding '&'. */
enum sstp_rc sstp_http_req_build(struct sstp_wbuf *w, enum sstp_http_method method,
                                 const char *host, const char *corr_id,
                                 const char *tenantid);

/* sstp_http_req_canonical_build appends the canonical head of a request
 * the parser accepted: what a backend gets instead of the client's bytes,
 * so it never sees anything the proxy did not understand (bare-LF line
 * ends, unknown headers, odd spacing or case). It is sstp_http_req_build of
 * f's method, Host, SSTPCORRELATIONID (when kept) and tenantid (when
 * present): CRLF line ends, the SSTP URI in its MS-SSTP case, exactly one
 * Content-Length for SSTP_DUPLEX_POST, nothing else. The result parses back
 * to the same fields. Borrows f. Returns SSTP_OK, SSTP_E_NOSPACE (w full,
 * nothing partial) or SSTP_E_ARG (w or f NULL, or f not what the parser
 * returns for an accepted head). */
enum sstp_rc sstp_http_req_canonical_build(struct sstp_wbuf *w, const struct sstp_http_fields *f);

/* sstp_http_req_forwarded_build appends `head`, a complete request head
 * that is not SSTP (request line, header lines, blank line, nothing after
 * it; borrowed), rebuilt for a web backend that is told the client's
 * address: CRLF line ends; every X-Forwarded-For and Forwarded header the
 * client sent dropped (never trusted, never passed on), and Connection,
 * Keep-Alive and Proxy-Connection with them; then
 *   X-Forwarded-For: <client_ip>
 *   Forwarded: for=<client_ip>;proto=https    (IPv6: for="[<client_ip>]")
 *   Connection: close
 * before the blank line. Connection: close because the bytes after this
 * head are streamed unread: a second request on the connection could not
 * be rebuilt, so the web server must not take one. client_ip is an IP
 * literal without port or brackets (hex digits, '.', ':'; borrowed).
 * Returns SSTP_OK; SSTP_E_HTTP_MALFORMED when head is not such a head (a
 * control byte but TAB, a folded line, a header line without a field name,
 * no blank line or bytes after it), nothing appended; SSTP_E_ARG for NULL
 * arguments or a client_ip that is not an IP literal; SSTP_E_NOSPACE (w
 * full, nothing partial). */
enum sstp_rc sstp_http_req_forwarded_build(struct sstp_wbuf *w, const uint8_t *head, size_t head_len,
                                           const char *client_ip);

/* sstp_http_resp_status reads the status code of the answer that starts
 * at `in` (a backend's, borrowed): "HTTP/1.1 " and three digits, then SP,
 * CR or LF. Returns SSTP_OK with *out_status 100-599; SSTP_AGAIN while
 * fewer bytes than that are in and nothing is wrong yet; or
 * SSTP_E_HTTP_MALFORMED (anything else: not an HTTP/1.1 answer);
 * SSTP_E_ARG for NULL arguments. */
enum sstp_rc sstp_http_resp_status(int *out_status, const uint8_t *in, size_t in_len);

/* sstp_http_req_is_probe: the complete head r is a HEAD health probe. */
static inline bool sstp_http_req_is_probe(const struct sstp_http_req *r)
{
    return r->phase == SSTP_HTTP_PH_DONE && r->f.method == SSTP_HTTP_M_HEAD;
}

#endif
