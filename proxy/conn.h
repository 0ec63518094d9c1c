/* conn.h — one client connection of sstp-proxy and its life:
 *
 *   PXC_PROXY_HDR        a PROXY v1/v2 header from a trusted load balancer
 *   PXC_TLS              TLS handshake; SNI picks the certificate
 *   PXC_HTTP_HEAD        the SSTP request head (sstp/http.h); HEAD probes
 *                        and rejects are answered here
 *   PXC_AFFINITY         ask Redis which backend the connection's affinity
 *                        key was sent to before (affinity.mode with
 *                        redis.url), for at most affinity.lookup_timeout;
 *                        without an answer in time the policy chooses
 *   PXC_BACKEND_CONNECT  pick a backend (lb/), connect (+TLS), send our
 *                        PROXY v2 header, the canonical request head and any
 *                        pipelined bytes, wait for the backend's status
 *                        line; a backend that fails before it is tried
 *                        no more, and is marked down only for its own
 *                        faults (see attempt_failed in conn.c)
 *   PXC_RELAY            bytes both ways with back-pressure (relay.c)
 *   PXC_CLOSING          a last answer (HTTP error, probe) is flushed
 *   PXC_CLOSED           everything released; freed after the callback
 *   PXC_PEEK, PXC_PASS   SNI passthrough, before PXC_TLS when configured
 *                        (passthrough.h)
 *
 * The state changes only through px_conn_set_state() (traced at debug).
 * The connection owns its fds, SSL objects, watchers, timer and buffers;
 * px_conn_close() is the one way out and logs the close line. Everything
 * only the handshake needs (the HTTP parser, the retry list, the request
 * bytes for a retry) lives in a separate block freed on entering RELAY, so
 * a relayed session costs little: an idle one holds no data buffer.
 *
 * Termination codes (core/term.h, style 2.10, the close line's term=): first letter who
 * ended it — C client, S backend, P proxy (timeout, drain), R resource, I
 * internal, D no backend up, K killed at shutdown; second letter the phase —
 * X PROXY header, T TLS, R request head, C backend connect, D data; "--" is
 * a normal end (both sides closed, or a probe answered). */
#ifndef SSTP_LB_PROXY_CONN_H
#define SSTP_LB_PROXY_CONN_H

#include <ev.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "core/buf.h"
#include "core/io.h"
#include "core/net.h"
#include "core/srclimit.h"
#include "core/term.h"
#include "lb/affinity.h"
#include "lb/lb.h"
#include "sstp/http.h"
#include "proxy/framer.h"
#include "proxy/tls_ctx.h"
#include "proxy/wstage.h"

enum px_conn_state {
    PXC_PROXY_HDR       = 0,
    PXC_TLS             = 1,
    PXC_HTTP_HEAD       = 2,
    PXC_AFFINITY        = 3,
    PXC_BACKEND_CONNECT = 4,
    PXC_RELAY           = 5,
    PXC_CLOSING         = 6,
    PXC_CLOSED          = 7,
    PXC_PEEK            = 8, /* SNI passthrough: the ClientHello peeked (passthrough.h) */
    PXC_PASS            = 9, /* SNI passthrough: forwarded without termination */
};
/* sizes the per-state tables; not an enum member, so the switches over the
 * states need no case for it (a new last state moves it) */
#define PXC_STATE_COUNT (PXC_PASS + 1)

/* Steps of PXC_BACKEND_CONNECT. */
enum px_be_step {
    PXB_CONNECTING = 0, /* TCP connect in progress */
    PXB_TLS        = 1, /* TLS handshake with a tls backend */
    PXB_SEND       = 2, /* PROXY v2 header + request head + pipelined bytes */
    PXB_WAIT       = 3, /* the backend's first byte (its HTTP answer) */
    PXB_PP_CLEAR   = 4, /* PROXY v2 header before TLS (server proxy_header=before) */
};

#define PX_SID_LEN 16          /* hex chars of the session id */
#define PX_LOG_SNI_MAX 64      /* SNI as kept for the close line */
#define PX_CN_MAX 64           /* client certificate CN sent to the backend */

struct px_worker;
struct px_fleet_aff;

/* What only the handshake phases need. */
struct px_hs {
    struct px_tls_hs tls;
    struct sstp_http_req http;
    struct tls_cert_hashes presented;
    struct sockaddr_storage client;   /* from a trusted PROXY header, else the peer */
    struct sockaddr_storage local;    /* where the client connected to */
    bool client_cert, client_cert_conn;
    uint32_t client_verify;
    uint8_t client_sha256[SSTP_SHA256_LEN];
    char client_cn[PX_CN_MAX];
    struct lb_req req;
    char aff_key[LB_AFF_KEY_MAX];     /* affinity key; "" = none for this connection */
    struct lb_aff_get *aff;           /* the look-up in flight (PXC_AFFINITY) */
    bool aff_watch_off;               /* PXC_AFFINITY: the client sent more, stop peeking */
    bool hello_partial;               /* PXC_PEEK: part of the ClientHello is there; peek by timer */
    enum px_be_step step;
    struct buf pre;                   /* PROXY v2 header + head, kept for a retry */
    size_t pp_len;                    /* bytes of pre that are the PROXY v2 header */
    size_t pre_off, pipe_off;         /* sent to the current backend so far */
    unsigned n_slow;                  /* attempts given up as slow: the next ones wait longer */
    bool late_look;                   /* this attempt's timer found the backend's bytes unread once */
};

struct px_conn {
    struct px_worker *w;
    struct px_conn *prev, *next;
    enum px_conn_state state;
    bool proxy_hdr;                   /* the listener expects a PROXY header */

    struct io cli, be;
    ev_io cw, bw;
    ev_timer timer;                   /* the current phase's deadline, or idle */
    struct buf c2b, b2c;              /* client to backend, backend to client */
    /* relay: EOF read from a side / write side shut towards it; what a
     * blocked read or write of a side waits for (IO_WANT_*, 0 = not blocked:
     * it is not retried before that readiness is reported) */
    bool cli_eof, be_eof, cli_shut, be_shut;
    bool fin_armed;                   /* the timer counts fin_timeout now */
    struct px_framer fr;              /* backend-to-client units: records cut on SSTP packet boundaries (framer.h) */
    struct px_wstage ws;              /* records to the client, sent in batches (RELAY) */
    uint8_t cli_rd_want, cli_wr_want, be_rd_want, be_wr_want;

    struct px_hs *hs;                 /* NULL from RELAY on */
    struct px_tls *tls;               /* the generation this connection uses (ref) */
    struct lb_backend *backend;       /* ref while connecting or relaying */
    struct px_fleet_aff *aff_hold;    /* its affinity record, renewed while it lives */

    ev_tstamp t_start, t_last;
    uint64_t bytes_in, bytes_out;     /* client to backend / backend to client */
    enum { PXG_ASK = 0, PXG_LOG, PXG_MUTE } log_gate; /* refusal lines: rate limit asked yet? */
    bool in_handshake;                /* counted in the worker's n_handshakes */
    bool mem_wait;                    /* in the worker's line for relay memory */
    bool mem_granted;                 /* its turn came: may take a buffer past the line */
    struct px_conn *mem_prev, *mem_next;
    bool src_held;                    /* holds one count of src_key (limits.per_source_conns) */
    struct srclimit_key src_key;
    char term[TERM_LEN];
    enum sstp_rc rc;
    char sid[PX_SID_LEN + 1];
    char client[NET_ADDR_STR_MAX];
    char sni[PX_LOG_SNI_MAX];
};

/* px_conn_accept takes an accepted, non-blocking fd. local: the address
 * the connection came to when the listener knows it (bound to one
 * address), else NULL (asked of the socket). proxy_hdr: a PROXY header
 * must come first. Returns 0, or -1 (fd closed, counted). */
int px_conn_accept(struct px_worker *w, int fd, const struct sockaddr *peer, socklen_t peer_len,
                   const struct net_addr *local, bool proxy_hdr);

/* px_conn_set_state is the one place the state changes. */
void px_conn_set_state(struct px_conn *c, enum px_conn_state s);
const char *px_conn_state_str(enum px_conn_state s);

/* px_conn_close ends the connection now with termination code `who` + the
 * phase letter of the current state (who '-' gives "--"): watchers stopped,
 * fds closed, buffers and references given back, close line logged. The
 * memory is freed after the running callback returns. Idempotent. */
void px_conn_close(struct px_conn *c, char who, enum sstp_rc rc);

/* px_conn_kill closes a connection at shutdown (term K). */
void px_conn_kill(struct px_conn *c);

/* px_conn_free releases a closed connection's memory (the worker's reaper). */
void px_conn_free(struct px_conn *c);

/* conn.c helpers shared with passthrough.c: px_conn_start_tls moves on to
 * PXC_TLS (0, or -1 with the connection closed); px_conn_handshake_done
 * takes it out of the handshakes in flight; px_conn_log_ok: its refusal
 * lines pass the worker's rate limit. */
int px_conn_start_tls(struct px_conn *c);
void px_conn_handshake_done(struct px_conn *c);
bool px_conn_log_ok(struct px_conn *c);

/* conn.c helpers shared with relay.c. px_conn_shut_write ends our sending
 * side of io: TLS close_notify (best effort), then FIN. */
void px_conn_shut_write(struct io *io);
/* px_conn_ktls_refused: a read of io ended on a TLS record the relay
 * refuses (io->refused): sets *rc to its code and counts it. */
void px_conn_ktls_refused(struct px_conn *c, const struct io *io, enum sstp_rc *rc);
void px_conn_watch(struct px_conn *c, ev_io *w, int fd, int events);
void px_conn_arm_timer(struct px_conn *c, double after);

#endif
