/* relay.h — the byte relay of an established sstp-proxy session (relay.c):
 * client to backend and back, plain or TLS on either side, with
 * back-pressure, half-close and no buffer held while idle. */
#ifndef SSTP_LB_PROXY_RELAY_H
#define SSTP_LB_PROXY_RELAY_H

#include "proxy/conn.h"

/* px_relay_run moves bytes both ways until nothing can move, then sets the
 * watchers; closes the connection when both directions are done or on an
 * error (c must not be used after that unless its state is checked). Call
 * on any event in PXC_RELAY with the readiness that arrived for each side
 * (0: none, e.g. the first run or a deferred continuation). */
void px_relay_run(struct px_conn *c, int cli_revents, int be_revents);
/* px_relay_watch sets both watchers from the relay's wants. */
void px_relay_watch(struct px_conn *c);

#endif
