/* web.c — the web backend path (see web.h). */
#include "proxy/web.h"

#include <string.h>
#include <strings.h>

#include "core/log.h"
#include "core/net.h"
#include "proxy/conn.h"
#include "proxy/passthrough.h"
#include "proxy/pphdr.h"
#include "proxy/worker.h"
#include "sstp/limits.h"

/* The request's path (up to '?') is the SSTP URI, any case, as the parser
 * compares it. The parser took the head whole, so the request line is in
 * r->head, ended by LF. */
static bool path_is_sstp(const struct sstp_http_req *r)
{
    const char *p = (const char *)r->head, *end = p + r->head_len;
    const char *lf = memchr(p, '\n', r->head_len);
    const char *sp = memchr(p, ' ', (size_t)((lf ? lf : end) - p));
    if (!sp)
        return false;
    const char *uri = sp + 1, *line_end = lf ? lf : end;
    size_t n = 0;
    while (uri + n < line_end && uri[n] != ' ' && uri[n] != '?')
        n++;
    return n == strlen(SSTP_HTTP_URI) && strncasecmp(uri, SSTP_HTTP_URI, n) == 0;
}

bool px_web_wanted(const struct px_config *cfg, const struct sstp_http_req *r, enum sstp_rc rc)
{
    if (!cfg->web.on)
        return false;
    switch (rc) {
    case SSTP_E_HTTP_METHOD:
    case SSTP_E_HTTP_URI:
        return true;
    case SSTP_E_HTTP_VERSION:
    case SSTP_E_HTTP_CONTENT_LENGTH:
    case SSTP_E_HTTP_NO_CONTENT_LENGTH:
    case SSTP_E_HTTP_NO_HOST:
    case SSTP_E_HTTP_DUP_HEADER:
    case SSTP_E_HTTP_FIELD_TOO_LONG:
        return !path_is_sstp(r);
    default:
        return false; /* malformed, too long: not a request anyone should get */
    }
}

void px_web_start(struct px_conn *c)
{
    struct px_worker *w = c->w;
    struct px_hs *hs = c->hs;
    const struct px_web *web = &w->cfg->web;
    /* one big block holds the header, the head (max_head <= 8 KiB) and the
     * bytes read behind it (at most a standard block) */
    struct buf out = { 0 };
    if (buf_take_big(&w->pool, &out) == -1) {
        px_conn_close(c, 'R', SSTP_E_NOSPACE);
        return;
    }
    struct sstp_wbuf wb;
    sstp_wbuf_init(&wb, buf_wptr(&out), buf_room(&out));
    if (web->pp2 && px_pp_build_plain(&wb, (const struct sockaddr *)&hs->client,
                                      (const struct sockaddr *)&hs->local, hs->tls.sni) != SSTP_OK) {
        buf_drop(&w->pool, &out);
        px_conn_close(c, 'I', SSTP_E_NOSPACE);
        return;
    }
    if (web->forwarded) {
        /* the head rebuilt: the client's own X-Forwarded-For/Forwarded
         * dropped, ours added; a head that cannot be rebuilt safely is
         * not passed on at all */
        char ip[NET_ADDR_STR_MAX];
        net_addr_ip((const struct sockaddr *)&hs->client, ip, sizeof ip);
        enum sstp_rc rc = sstp_http_req_forwarded_build(&wb, hs->http.head, hs->http.head_len, ip);
        if (rc != SSTP_OK) {
            buf_drop(&w->pool, &out);
            px_conn_close(c, rc == SSTP_E_HTTP_MALFORMED ? 'C' : 'I', rc);
            return;
        }
    } else {
        sstp_put_bytes(&wb, hs->http.head, hs->http.head_len);
    }
    sstp_put_bytes(&wb, buf_len(&c->c2b) ? buf_rptr(&c->c2b) : NULL, buf_len(&c->c2b));
    if (wb.err) {
        buf_drop(&w->pool, &out);
        px_conn_close(c, 'I', SSTP_E_NOSPACE); /* the sizes above make it impossible */
        return;
    }
    out.tail += wb.len;
    buf_drop(&w->pool, &c->c2b);
    c->c2b = out;
    log_info("web", "sid=%s client=%s sni=%s target=%s proxy_header=%s headers=%s", c->sid, c->client,
             c->sni[0] ? c->sni : "-", web->text, web->pp2 ? "v2" : "none",
             web->forwarded ? "forwarded" : "none");
    px_pass_connect(c, &web->addr, web->text);
}
