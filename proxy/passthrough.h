/* passthrough.h — SNI passthrough: a connection whose ClientHello names a
 * server listed in listen.passthrough is not terminated here; its bytes,
 * the ClientHello included, go to that server as they came (after a PROXY
 * v2 header if configured), and the client sees the server's own
 * certificate. Any other ClientHello goes on to this proxy's TLS.
 *
 *   PXC_PEEK  the ClientHello is peeked (MSG_PEEK: nothing is taken from
 *             the socket, so OpenSSL later reads it whole) and its SNI
 *             read by sstp/tls_hello.c; until the first record is all
 *             there, it is peeked again every PASS_REPEEK_S (a peeked
 *             socket stays readable), within handshake_timeout
 *   PXC_PASS  connect to the target (connect_timeout), then bytes both
 *             ways, plain, with back-pressure and half-close, idle_timeout
 *
 * Only entered when listen.passthrough has entries: without, a connection
 * goes to PXC_TLS at once, as before. */
#ifndef SSTP_LB_PROXY_PASSTHROUGH_H
#define SSTP_LB_PROXY_PASSTHROUGH_H

#include <stddef.h>

#include "core/net.h"
#include "proxy/config.h"

struct px_conn;

/* px_pass_find returns the entry for `sni`: an exact name first, else a
 * wildcard; NULL for none (or sni NULL). */
const struct px_pass *px_pass_find(const struct px_pass_list *l, const char *sni);

/* px_pass_peek runs PXC_PEEK: decides, and moves the connection to
 * PXC_PASS or PXC_TLS, or closes it (malformed ClientHello, counted). */
void px_pass_peek(struct px_conn *c);
/* px_pass_peek_timer: the peek's timer fired: peek again, or time out. */
void px_pass_peek_timer(struct px_conn *c);
/* px_pass_connect moves the connection to PXC_PASS and starts connecting
 * to addr (`target` names it in log lines); what c2b holds goes first. On
 * failure the connection is closed (term SD). Also the web backend's way
 * in (web.h). */
void px_pass_connect(struct px_conn *c, const struct net_addr *addr, const char *target);
/* px_pass_run runs PXC_PASS for the events of the client and the target. */
void px_pass_run(struct px_conn *c, int cli_events, int be_events);
/* px_pass_timer: PXC_PASS's timer fired (connect timeout, or idle). */
void px_pass_timer(struct px_conn *c);
/* px_pass_watch sets both watchers for PXC_PASS. */
void px_pass_watch(struct px_conn *c);

#endif
