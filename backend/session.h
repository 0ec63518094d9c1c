/* session.h — one SSTP call on sstp-backend: the client transport, the SSTP
 * server state machine, and the pppd child with its pty and plugin socket.
 *
 * The session owns every fd, watcher, buffer and the pppd child. It ends in
 * two halves that may finish in either order — the client transport closes,
 * and pppd is reaped. Once both are done, be_session_maybe_free (the one way
 * out) logs the close line, unlinks it and puts it on srv->dead; the reaper
 * (an ev_check, as the proxy worker's) frees it after the running callback.
 * The phase changes only through set_phase() in session.c. */
#ifndef SSTP_LB_BACKEND_SESSION_H
#define SSTP_LB_BACKEND_SESSION_H

#include <ev.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

#include "backend/fleet.h"
#include "backend/server.h"
#include "core/buf.h"
#include "core/io.h"
#include "core/net.h"
#include "core/term.h"
#include "sstp/hdlc.h"
#include "sstp/http.h"
#include "sstp/proxyproto.h"
#include "sstp/server_fsm.h"

enum be_phase {
    BE_PH_TLS = 0,   /* TLS handshake (tls and mtls listeners) */
    BE_PH_PROXY,     /* PROXY header (proxy and mtls listeners) */
    BE_PH_HTTP,      /* HTTP request head */
    BE_PH_SSTP,      /* SSTP packets */
    BE_PH_FLUSH,     /* writing the last bytes, then close */
    BE_PH_CLOSED,    /* transport closed; waiting for pppd to be reaped */
    BE_PH_DEAD,      /* ended and unlinked, on srv->dead until the reaper frees it */
    BE_PH_COUNT
};

#define BE_SID_MAX 40
#define BE_USER_MAX 64 /* logged part of the PPP user name */
#define BE_AUTH_NAME_MAX 256 /* pppd's MAXNAMELEN, with the NUL */

struct be_session {
    struct be_server *srv;
    struct be_session *prev, *next;
    char sid[BE_SID_MAX];
    enum be_listener_kind kind;
    enum be_phase phase;

    /* client transport */
    struct io io;
    ev_io cw;
    ev_timer deadline;                 /* handshake, then flush linger */
    bool read_blocked;                 /* back-pressure: far side full */
    bool feed_read;                    /* the fed event resumes reading, not only writing */
    struct sockaddr_storage peer;      /* TCP peer (the proxy behind a proxy) */
    struct sockaddr_storage client;    /* the VPN client (from PROXY, else peer) */
    char client_str[NET_ADDR_STR_MAX];
    char corr_id[SSTP_CORRELATION_ID_MAX + 1];
    char sni[64];
    struct sstp_http_req *http;        /* only during BE_PH_HTTP */

    /* SSTP */
    struct sstp_srv fsm;
    ev_timer fsm_timer[SSTP_SRV_T_COUNT];
    bool negotiating;                  /* counted in srv->n_negotiating */
    struct srclimit_key src_key;       /* the client's prefix, while src_held */
    bool src_held;                     /* counted in srv->negotiating_by_source */
    bool busy;                         /* not admitted: 503 at the request head */
    enum be_refuse busy_why;
    bool held_refusal;                 /* counted in srv->n_held_refusals */
    enum srclimit_verdict busy_verdict;
    uint8_t tlv_sha256[SSTP_SHA256_LEN], tlv_sha1[SSTP_SHA1_LEN];
    struct sstp_bind_trust trust;

    struct buf cin, cout, pout;        /* client in, client out, pty out */
    size_t cout_pkt_left;              /* unwritten bytes of the TLS record at cout's head */
    struct sstp_hdlc_dec dec;          /* pty bytes -> PPP frames */
    /* the decoder assembles each frame from pppd right where it goes in the
     * SSTP data packet, after room for the 4-byte header */
    uint8_t pty_frame[SSTP_HDR_LEN + SSTP_HDLC_FRAME_BUF];

    /* pppd */
    pid_t pid;                         /* 0: not started, or reaped */
    bool pppd_pooled;                  /* pid came from the pppd pool; its refill is owed */
    int pty_fd, plugin_fd;
    ev_io pty_r, pty_w, plugin_r;
    ev_child child;
    ev_timer kill_timer;
    bool sigterm_sent;
    /* pppd discards what reaches its tty before it has set it up (the
     * TCSAFLUSH and line discipline change): client frames wait for its
     * first output, or for pty_hold if pppd is told to stay `silent` */
    bool pty_ready;
    ev_timer pty_hold;
    bool pty_blocked;                  /* a pty write came up short: pty_w waits for room */

    /* accounting */
    bool probe;                        /* a HEAD health probe, not a session */
    struct be_fleet_sess fleet;        /* its record in the fleet (Redis) */
    struct be_fleet_ask *admit;        /* the per-user admission in flight */
    char proxy_id[SSTP_PP_META_PROXY_ID_MAX + 1];
    char user[BE_USER_MAX];            /* sanitised, for logs and stats */
    /* the one PPP authentication of the call: pppd gets its ACK only after
     * the crypto binding verified it and the per-user policy allowed it */
    bool auth_reported;                /* a second report ends the call */
    bool auth_acked;
    char auth_name[BE_AUTH_NAME_MAX];  /* the exact name pppd authenticated */
    size_t auth_name_len;              /* bytes, without the NUL */
    char ip_remote[48];
    char ip6_remote[48];               /* fe80::<client's IPV6CP identifier> */
    ev_tstamp t_start;
    uint64_t bytes_in, bytes_out;      /* client transport, after TLS */
    bool call_connected;               /* the call reached Call_Connected: its close is in the data phase */
    char term[TERM_LEN];               /* who/phase that ended it (core/term.h) */
    enum sstp_rc rc;
};

/* be_session_accept takes a connected fd from a listener. refuse: why
 * the session is accepted only to be refused (per_source_rate, or load on
 * a proxy listener), or BE_REFUSE_COUNT for none; such a session is
 * answered 503 with Retry-After after its request head, so a client can
 * tell, and a HEAD probe still gets its answer. Returns 0, or -1 (fd
 * closed, counted). */
int be_session_accept(struct be_server *srv, enum be_listener_kind kind, int fd,
                      const struct sockaddr *peer, socklen_t peer_len, enum be_refuse refuse);

/* be_session_disconnect asks a session to end (shutdown, admin): an SSTP
 * session gets CALL_DISCONNECT, one still in its handshake is closed. */
void be_session_disconnect(struct be_session *s);

/* be_session_reaper_init prepares srv->reaper (once, at start);
 * be_session_reap frees the ended sessions now (the reaper, and the
 * server's clean-up after the loop). */
void be_session_reaper_init(struct be_server *srv);
void be_session_reap(struct be_server *srv);

/* be_session_kill_pppd sends SIGKILL to the session's pppd if any (final
 * shutdown deadline). */
void be_session_kill_pppd(struct be_session *s);

#endif
