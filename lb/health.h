/* health.h — active health checks of the backends of one event loop (one
 * sstp-proxy worker): every `interval`, per backend, a TCP connect (plus
 * the TLS handshake for a tls backend), and with the sstp probe a PROXY v2
 * LOCAL header and `HEAD /sra_{...}/ HTTP/1.1` that sstp-backend answers
 * itself (200 while it takes sessions, 503 when full or stopping) without
 * starting pppd; with the http probe any SSTP server's HTTP answer other
 * than 503 will do. A server line's probe= overrides the default kind, and
 * its proxy_header= says where the LOCAL header goes (inside or before TLS,
 * or not at all), as for sessions. `fall` failed checks in a row mark the backend down
 * (lb_backend.health_down, which lb_eligible honours), `rise` good ones
 * bring it back and clear a passive down mark. One log line per
 * transition. Checks never block: non-blocking sockets on the owner's
 * loop, each bounded by `timeout` (restarted when the check sends bytes);
 * a check still running when the next is due is not doubled. A timeout
 * while the loop itself stalled (a handshake surge, a stopped process) is
 * no verdict: the check is counted stretched and gets a fresh timeout (at
 * most a few times).
 *
 * The owner keeps the checked set equal to its current generation with
 * lb_health_sync() and supplies the SSL objects for tls backends (its own
 * client context), so lb/ does not depend on the daemon. */
#ifndef SSTP_LB_LB_HEALTH_H
#define SSTP_LB_LB_HEALTH_H

#include <ev.h>
#include <openssl/ssl.h>
#include <stdint.h>

#include "lb/lb.h"

enum lb_probe {
    LB_PROBE_NONE = 0, /* no active checks: passive marking only */
    LB_PROBE_TCP  = 1, /* connect (+ TLS handshake) */
    LB_PROBE_SSTP = 2, /* ... + PROXY v2 LOCAL + HEAD probe, expect HTTP/1.1 200 or 503 */
    LB_PROBE_HTTP = 3, /* ... the same request; any well-formed HTTP answer but 503 is
                        * alive (accel-ppp answers HEAD with 501) */
};

/* NULL-terminated names of enum lb_probe, for config enums */
extern const char *const lb_probe_names[];

struct lb_health_opts {
    double interval;      /* seconds between the starts of two checks of a backend */
    double timeout;       /* seconds one check may take */
    unsigned rise, fall;  /* good / failed checks in a row that flip the state */
    enum lb_probe probe;  /* not LB_PROBE_NONE */
    unsigned id;          /* the owner's number, for log lines (worker=) */
};

struct lb_health_stats {
    uint64_t ok, fail;    /* checks done */
    uint64_t downs, ups;  /* transitions */
    uint64_t skipped;     /* checks not run: our own resources ran out (no verdict) */
    uint64_t stretched;   /* timeouts excused: the loop itself stalled (fresh timeout) */
};

/* Makes the client SSL of a check towards a tls backend on fd (connect
 * state, SNI and verification set up), or returns NULL (the check fails). */
typedef SSL *(*lb_health_ssl_fn)(void *ud, int fd, const struct lb_spec *spec);

struct lb_health;

/* lb_health_new prepares checks with options o (copied); nothing is
 * checked before lb_health_sync. mk_ssl may be NULL when no backend is tls.
 * Returns NULL out of memory. */
struct lb_health *lb_health_new(struct ev_loop *loop, const struct lb_health_opts *o,
                                lb_health_ssl_fn mk_ssl, void *ud);
/* lb_health_configure takes new options (a reload); running checks finish
 * under the old ones. */
void lb_health_configure(struct lb_health *h, const struct lb_health_opts *o);
/* lb_health_sync checks exactly the backends of lb from now on: it starts
 * checking new ones (first check within one interval) and stops and forgets
 * those lb does not hold (their health mark is cleared). Backends stay
 * referenced while checked. Returns 0, or -1 if memory ran out (some new
 * backends are then not checked). */
int lb_health_sync(struct lb_health *h, const struct lb *lb);
/* lb_health_free stops every check. NULL is a no-op. */
void lb_health_free(struct lb_health *h);
const struct lb_health_stats *lb_health_stats(const struct lb_health *h);

#endif
