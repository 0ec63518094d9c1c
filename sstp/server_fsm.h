/* server_fsm.h — the SSTP server state machine (MS-SSTP 3.3.1, 3.3.5.2,
 * 3.1.5.1) as one pure step function: events in, a fixed list of actions out.
 *
 * No I/O, no clock, no allocation: the caller (backend session) runs the
 * actions (send bytes, arm/stop timers, spawn/hang up pppd, relay frames,
 * close). The FSM decodes control messages itself (ctrl.h) and checks the
 * crypto binding with binding.h, deferring it until pppd reports the keys. */
#ifndef SSTP_LB_SSTP_SERVER_FSM_H
#define SSTP_LB_SSTP_SERVER_FSM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sstp/binding.h"
#include "sstp/ctrl.h"
#include "sstp/limits.h"
#include "sstp/rc.h"

/* States, named as in MS-SSTP 3.3.1.1.1 and 3.1.1.1. [transient] states are
 * passed through inside one step (their entry action runs, then the machine
 * moves on) and are never the state after a step. */
enum sstp_srv_state {
    SSTP_SRV_CALL_DISCONNECTED = 0,         /* waiting for the HTTP handshake; an SSTP
                                             * error here closes silently (nothing may
                                             * be sent before the 200) */
    SSTP_SRV_CONNECT_REQUEST_PENDING,       /* 200 sent, waiting for CONNECT_REQUEST */
    SSTP_SRV_CALL_CONNECTED_PENDING,        /* ACK sent, PPP up, waiting for CONNECTED */
    SSTP_SRV_CALL_CONNECTED,                /* binding verified, data flows */
    SSTP_CALL_ABORT_IN_PROGRESS_1,          /* [transient] we abort: send ABORT, T1 */
    SSTP_CALL_ABORT_PENDING,                /* waiting for the peer's ABORT or T1 */
    SSTP_CALL_ABORT_IN_PROGRESS_2,          /* [transient] peer aborted: send ABORT, T2 */
    SSTP_CALL_ABORT_TIMEOUT_PENDING,        /* waiting for T2 */
    SSTP_CALL_DISCONNECT_IN_PROGRESS_1,     /* [transient] we disconnect: send DISCONNECT, T1 */
    SSTP_CALL_DISCONNECT_ACK_PENDING,       /* waiting for DISCONNECT_ACK or T1 */
    SSTP_CALL_DISCONNECT_IN_PROGRESS_2,     /* [transient] peer disconnected: send ACK, T2 */
    SSTP_CALL_DISCONNECT_TIMEOUT_PENDING,   /* waiting for T2 */
    SSTP_SRV_CLOSED,                        /* terminal, not an MS-SSTP state: cleaned
                                             * up (pppd hung up, transport closed);
                                             * every event is ignored */
    SSTP_SRV_STATE_COUNT
};

/* Timers. Each action names timers by bit (1u << timer). */
enum sstp_srv_timer {
    SSTP_SRV_T_NEGOTIATION = 0,  /* MS-SSTP 3.3.2.1: 200 → REQUEST, ACK → CONNECTED */
    SSTP_SRV_T_HELLO,            /* MS-SSTP 3.1.2.3: idle → ECHO_REQUEST */
    SSTP_SRV_T_ABORT_1,          /* MS-SSTP 3.1.2.1: wait for the peer's ABORT */
    SSTP_SRV_T_ABORT_2,          /* wait after the ABORT exchange */
    SSTP_SRV_T_DISCONNECT_1,     /* wait for DISCONNECT_ACK */
    SSTP_SRV_T_DISCONNECT_2,     /* wait after acknowledging a DISCONNECT */
    SSTP_SRV_T_COUNT
};
#define SSTP_SRV_TIMER_BIT(t) (1u << (t))

struct sstp_srv_cfg {
    uint32_t negotiation_ms;     /* default 60 s */
    uint32_t hello_ms;           /* default 60 s */
    uint32_t abort_t1_ms;        /* default 3 s */
    uint32_t abort_t2_ms;        /* default 1 s */
    uint32_t disconnect_t1_ms;   /* default 5 s */
    uint32_t disconnect_t2_ms;   /* default 1 s */
    uint8_t hash_bitmask;        /* advertised in CONNECT_ACK; SHA-1|SHA-256 */
    uint8_t nak_retries;         /* NAKs before ABORT(6); default 3 */
};

enum sstp_srv_ev_type {
    SSTP_SRV_EV_HTTP_DONE = 1,       /* the request was answered with 200 */
    SSTP_SRV_EV_CTRL,                /* data/len: one whole control packet, header
                                      * included, as delineated by sstp_pkt_decode */
    SSTP_SRV_EV_PPP_FROM_CLIENT,     /* data/len: the PPP frame of a data packet;
                                      * while connected it restarts hello, so
                                      * timers_start has the HELLO bit (use a
                                      * cheap restart such as ev_timer_again). An
                                      * LCP Configure-Request/Ack/Nak/Reject
                                      * after the authentication (a
                                      * renegotiation that re-enters
                                      * authentication) aborts the call with
                                      * E_BIND_REAUTH */
    SSTP_SRV_EV_PPP_FROM_PPPD,       /* data/len: a PPP frame pppd wrote */
    SSTP_SRV_EV_KEYS,                /* hlak: the pppd plugin reported the HLAK;
                                      * used in Call_Connected_Pending only. The
                                      * one authentication of the call: a second
                                      * KEYS (or KEYS_REFUSED) aborts it with
                                      * E_BIND_REAUTH */
    SSTP_SRV_EV_KEYS_REFUSED,        /* rc: the authentication yields no usable
                                      * HLAK (E_BIND_NO_KEYS, E_BIND_METHOD):
                                      * the binding fails, the call is aborted */
    SSTP_SRV_EV_TIMER,               /* timer: that timer expired */
    SSTP_SRV_EV_PPPD_EXITED,         /* pppd is gone (PPP terminated) */
    SSTP_SRV_EV_LOCAL_DISCONNECT,    /* admin kill or shutdown */
    SSTP_SRV_EV_TRANSPORT_LOST,      /* TLS/TCP to the client is gone */
};

/* One event. Borrowed for the duration of sstp_srv_step only. */
struct sstp_srv_ev {
    enum sstp_srv_ev_type type;
    const uint8_t *data;             /* CTRL, PPP_*: the bytes */
    size_t len;
    enum sstp_srv_timer timer;       /* TIMER */
    const uint8_t *hlak;             /* KEYS: SSTP_HLAK_LEN bytes */
    enum sstp_rc rc;                 /* KEYS_REFUSED: why */
};

enum sstp_srv_frame_verdict {
    SSTP_SRV_FRAME_NONE = 0,         /* the event was not a frame */
    SSTP_SRV_FRAME_FORWARD,          /* relay it (to pppd or to the client) */
    SSTP_SRV_FRAME_DROP,             /* gated (MS-SSTP 3.3.7) */
};

enum sstp_srv_bind_result {
    SSTP_SRV_BIND_NONE = 0,
    SSTP_SRV_BIND_OK,                /* CALL_CONNECTED verified: call connected */
    SSTP_SRV_BIND_FAILED,            /* bind_rc says why; an ABORT follows */
};

/* Worst-case control bytes one step sends: a NAK with at most
 * SSTP_CTRL_MAX_ATTRS Status Infos, each echoing 64 bytes. */
#define SSTP_SRV_SEND_MAX \
    (SSTP_CTRL_HDR_LEN + SSTP_CTRL_MAX_ATTRS * (SSTP_ATTR_STATUS_MIN_LEN + SSTP_STATUS_VALUE_MAX))

/* What one step asks the caller to do, in this order: stop timers, send,
 * start timers, ppp_start, frame verdict, then ppp_stop and close. */
struct sstp_srv_actions {
    size_t send_len;                 /* control bytes to write to the client */
    uint8_t send[SSTP_SRV_SEND_MAX];
    unsigned timers_stop;            /* SSTP_SRV_TIMER_BIT set: stop these */
    unsigned timers_start;           /* (re)start these, each for timer_ms[t] */
    uint32_t timer_ms[SSTP_SRV_T_COUNT];
    bool ppp_start;                  /* spawn/attach pppd, let control frames flow */
    bool ppp_stop;                   /* hang up pppd (lower link down); at most
                                      * once per call: at the clean-up, or at a
                                      * binding failure (bind == BIND_FAILED) */
    bool close;                      /* close TLS/TCP; the call is over */
    enum sstp_srv_frame_verdict frame;
    enum sstp_srv_bind_result bind;
    enum sstp_rc bind_rc;            /* BIND_FAILED: E_BIND_*, a ctrl code or E_FSM_TIMEOUT;
                                      * ppp_stop is set with it: nothing more
                                      * crosses, pppd is hung up at once */
    uint8_t bind_hash;               /* BIND_OK: the hash protocol the client used
                                      * (enum sstp_bind_hash); else 0 */
    uint8_t bind_cert_hash[SSTP_BIND_FIELD_LEN]; /* BIND_OK: the certificate hash the
                                      * client sent, which matched a trusted one
                                      * (sstp_bind_hash_len(bind_hash) bytes); else 0 */
    enum sstp_rc rc;                 /* why this step aborted or closed; SSTP_OK if it
                                      * did neither or ended normally */
    bool peer_status_valid;          /* the peer's ABORT/DISCONNECT had a Status Info */
    uint8_t peer_attrib_id;
    uint32_t peer_status;
};

/* The machine. Fields are private; read them through the functions below. */
struct sstp_srv {
    enum sstp_srv_state state;
    struct sstp_srv_cfg cfg;
    const struct sstp_bind_trust *trust;   /* borrowed, see sstp_srv_set_trust */
    unsigned timers_running;               /* bits of armed timers */
    uint8_t nonce[SSTP_NONCE_LEN];         /* sent in CONNECT_ACK; wiped when verified */
    uint8_t hlak[SSTP_HLAK_LEN];           /* from KEYS; wiped when verified */
    uint8_t connected[SSTP_CONNECTED_LEN]; /* deferred CALL_CONNECTED (no keys yet) */
    bool have_keys;
    bool have_connected;
    bool auth_seen;                        /* KEYS or KEYS_REFUSED came once */
    bool echo_outstanding;                 /* ECHO_REQUEST sent, nothing received since */
    bool ppp_started;
    bool ppp_exited;
    bool ppp_stopped;                      /* ppp_stop given (once per call) */
    uint8_t naks_sent;
    enum sstp_rc rc;                       /* first abort/close reason, sticky */
};

/* sstp_srv_cfg_default fills cfg with the MS-SSTP 3.1.2/3.3.2 defaults
 * (60 s, 60 s, 3/1 s, 5/1 s), bitmask SHA-1|SHA-256 and 3 NAK retries. */
void sstp_srv_cfg_default(struct sstp_srv_cfg *cfg);

/* sstp_srv_init puts sm in Server_Call_Disconnected with a copy of cfg
 * (NULL: defaults; a zero hash_bitmask is replaced by SHA-256) and of
 * nonce, which the caller draws fresh from a CSPRNG for each connection
 * (MS-SSTP 2.2.6). No trusted hashes until sstp_srv_set_trust. */
void sstp_srv_init(struct sstp_srv *sm, const struct sstp_srv_cfg *cfg,
                   const uint8_t nonce[SSTP_NONCE_LEN]);

/* sstp_srv_set_trust gives the certificate hashes the client may have seen
 * (from the proxy's TLVs or the backend's own certificate). Borrowed: it
 * must stay valid until the call is connected or closed. NULL = none, so
 * every binding fails with SSTP_E_BIND_CERT_HASH. */
void sstp_srv_set_trust(struct sstp_srv *sm, const struct sstp_bind_trust *trust);

/* sstp_srv_step runs one event. Every field of *out is set (send[] up to
 * send_len), so it need not be cleared first. Both sm and out must be non-NULL; a NULL ev or an event
 * with NULL data/hlak where bytes are required is ignored (out stays
 * empty). Never fails: protocol errors become actions (ABORT, close) with
 * out->rc saying why. */
void sstp_srv_step(struct sstp_srv *sm, const struct sstp_srv_ev *ev,
                   struct sstp_srv_actions *out);

/* sstp_srv_cleanup wipes the nonce, HLAK and any kept message. Call it
 * before freeing the storage of sm. */
void sstp_srv_cleanup(struct sstp_srv *sm);

static inline enum sstp_srv_state sstp_srv_state(const struct sstp_srv *sm)
{
    return sm->state;
}

/* sstp_srv_rc returns the first reason the call was aborted or closed
 * (SSTP_OK while it is up or after a normal disconnect). */
static inline enum sstp_rc sstp_srv_rc(const struct sstp_srv *sm)
{
    return sm->rc;
}

/* sstp_srv_state_str returns the MS-SSTP name ("Server_Call_Connected"),
 * "?" for an out-of-range value. Static storage. */
const char *sstp_srv_state_str(enum sstp_srv_state state);

/* sstp_srv_timer_str returns "negotiation", "hello", ... ("?" if unknown). */
const char *sstp_srv_timer_str(enum sstp_srv_timer timer);

#endif
