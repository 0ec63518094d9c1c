/* admin.h — a tiny HTTP/1.x listener for operators and orchestrators:
 *   GET /healthz  200 "ok" while the process runs its loop (liveness)
 *   GET /readyz   200 "ready", or 503 with the reason from the ready hook
 *   GET /metrics  200, the metrics hook's Prometheus text
 * Anything else gets 404 (unknown path), 405 (method other than GET/HEAD),
 * 421 (a Host that names another server) or 400, then the connection
 * closes: one request per connection.
 *
 * Meant for a loopback or management address, never the Internet: it has
 * no authentication. A web page can still point a browser at it under a
 * name of its own (DNS rebinding), so the Host header must be "localhost"
 * or an IP literal: a loopback address, the listen address, or any address
 * when listening on a wildcard (a name can be rebound, an IP literal is
 * what the client really connected to); no Host at all (HTTP/1.0 probes)
 * is accepted, browsers always send one. Bounded like the data path: a few
 * connections at once, a small request head, a read deadline, and an accept
 * that pauses on EMFILE instead of spinning. The daemon supplies the hooks,
 * so sstp-proxy and sstp-backend share it; /metrics ends with the
 * listener's own refusals (sstp_admin_refused_total). */
#ifndef SSTP_LB_CORE_ADMIN_H
#define SSTP_LB_CORE_ADMIN_H

#include <ev.h>
#include <stdbool.h>
#include <stddef.h>

#include "core/config.h"
#include "core/net.h"

#define ADMIN_REQ_MAX   2048 /* request line + headers; curl and Prometheus send < 300 */
#define ADMIN_CONNS_MAX 16   /* further connections are closed at once */
#define ADMIN_TIMEOUT_S 5.0  /* to send the request head, and to take the answer */
#define ADMIN_ACCEPT_PAUSE_S 0.5 /* after EMFILE/ENFILE: let descriptors free up */
#define ADMIN_LOG_EVERY_S 10.0   /* one accept-error line per this at most */
#define ADMIN_HOST_MAX 262       /* "[" IPv6 "]:" port, or a DNS name and port */

/* The [admin] address option of both daemons' tables: one name, one parser
 * and one help text. st is the daemon's config struct, fld its char *
 * member, def its default ("" or NULL = off), where says what serves it. */
#define ADMIN_CONFIG_OPT(st, fld, def_addr, where)                                              \
    { .section = "admin", .name = "address", .type = CFG_CUSTOM, .offset = offsetof(st, fld),  \
      .def = def_addr, .parse = cfg_parse_addr, .release = cfg_release_str,                    \
      .help = "admin HTTP listener (/healthz, /readyz, /metrics) " where "; no authentication: " \
              "keep it on loopback or a management network; empty = off" }

struct admin_hooks {
    void *ctx;
    /* Writes the /metrics body to out (a FILE *). 0, or -1 for a 500. */
    int (*metrics)(void *ctx, void *out);
    /* /readyz: true when ready; otherwise a short reason in why. */
    bool (*ready)(void *ctx, char *why, size_t why_len);
};

struct admin_conn;

enum admin_refusal { ADMIN_REFUSED_CONNS = 0, ADMIN_REFUSED_HOST, ADMIN_REFUSED_ACCEPT_ERROR,
                     ADMIN_REFUSED_COUNT };

struct admin {
    struct ev_loop *loop;
    int fd;
    ev_io w;
    ev_timer pause;             /* accept stopped after EMFILE until it fires */
    struct net_addr addr;       /* listen address: a Host it names is ours */
    struct admin_hooks hooks;
    struct admin_conn *conns;
    unsigned n_conns;
    unsigned long long n_requests;
    unsigned long long n_refused[ADMIN_REFUSED_COUNT];
    double last_error_log;
};

/* admin_start listens on addr and serves from loop. Returns 0, or -1 with
 * errno set (nothing left open). */
int admin_start(struct admin *a, struct ev_loop *loop, const struct net_addr *addr,
                const struct admin_hooks *hooks);
/* admin_stop closes the listener and every open admin connection. Safe on
 * a stopped admin whose fd is -1. A forked child that inherited the admin
 * calls it before ev_loop_fork(): stopping watchers makes no system call,
 * so the parent's epoll set is untouched. */
void admin_stop(struct admin *a);

enum admin_method { ADMIN_GET = 0, ADMIN_HEAD = 1, ADMIN_OTHER = 2 };

/* admin_request_parse looks at the request head received so far,
 * buf[0..len). Returns 1 when the head is complete (a blank line, CRLF or
 * LF) and the request line is well formed: *method and path (NUL-terminated,
 * query cut off) are set; 0 when more bytes are needed; -1 for a malformed
 * request line or a head longer than ADMIN_REQ_MAX. Pure. */
int admin_request_parse(const char *buf, size_t len, enum admin_method *method,
                        char *path, size_t path_len);

/* admin_request_host finds the Host header of a complete request head.
 * Returns 1 with its value (blanks trimmed, NUL-terminated) in out, 0 when
 * there is none, -1 when it is repeated or longer than out. Pure. */
int admin_request_host(const char *buf, size_t len, char *out, size_t out_len);

/* admin_host_allowed: whether a request carrying Host `host` may be
 * answered by a listener on `listen` (see the banner). Pure. */
bool admin_host_allowed(const char *host, const struct net_addr *listen);

#endif
