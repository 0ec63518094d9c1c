/* web.h — one port, many services after TLS termination: a request that is
 * not SSTP (another method or URI) goes to the configured web backend
 * (backends.web) instead of being refused. The request head the parser
 * buffered, and whatever followed it, go first (after a PROXY v2 header
 * with the client's address if configured; or the head rebuilt with our
 * X-Forwarded-For and Forwarded instead of the client's, and Connection:
 * close, if headers=forwarded); from then on the connection's
 * bytes are streamed both ways, HTTP/1.1 keep-alive included, by
 * passthrough.c's pump, bounded like a session (connect_timeout, then
 * idle_timeout and fin_timeout). The SSTP URI still goes to SSTP backends
 * and its HEAD probe is still answered here. Off by default: then every
 * such request gets today's reject. */
#ifndef SSTP_LB_PROXY_WEB_H
#define SSTP_LB_PROXY_WEB_H

#include <stdbool.h>

#include "proxy/config.h"
#include "sstp/http.h"

struct px_conn;

/* px_web_wanted: with a web backend configured, the head that failed with
 * rc is a complete request for something other than SSTP: another method
 * (E_HTTP_METHOD), another URI (E_HTTP_URI), or any other end-of-head
 * error of a request whose path is not the SSTP URI. A malformed or too
 * long head, and a broken request for the SSTP URI, stay rejected. Pure. */
bool px_web_wanted(const struct px_config *cfg, const struct sstp_http_req *r, enum sstp_rc rc);

/* px_web_start hands the connection (PXC_HTTP_HEAD, head complete) to the
 * web backend: PXC_PASS, or closed with a reason. */
void px_web_start(struct px_conn *c);

#endif
