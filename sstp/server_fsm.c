/* server_fsm.c — the SSTP server state machine (MS-SSTP 3.3.5.2, 3.1.5.1,
 * 3.3.7) as a pure step: decodes control messages, validates
 * CALL_CONNECT_REQUEST and the crypto binding, gates PPP frames, and emits
 * actions. Performs no I/O and reads no clock; the caller runs the actions. */
#include "sstp/server_fsm.h"

#include <string.h>

#include <openssl/crypto.h>

#include "sstp/packet.h"

#define TBIT(t) SSTP_SRV_TIMER_BIT(t)

static const char *const state_names[SSTP_SRV_STATE_COUNT] = {
    [SSTP_SRV_CALL_DISCONNECTED]           = "Server_Call_Disconnected",
    [SSTP_SRV_CONNECT_REQUEST_PENDING]     = "Server_Connect_Request_Pending",
    [SSTP_SRV_CALL_CONNECTED_PENDING]      = "Server_Call_Connected_Pending",
    [SSTP_SRV_CALL_CONNECTED]              = "Server_Call_Connected",
    [SSTP_CALL_ABORT_IN_PROGRESS_1]        = "Call_Abort_In_Progress_1",
    [SSTP_CALL_ABORT_PENDING]              = "Call_Abort_Pending",
    [SSTP_CALL_ABORT_IN_PROGRESS_2]        = "Call_Abort_In_Progress_2",
    [SSTP_CALL_ABORT_TIMEOUT_PENDING]      = "Call_Abort_Timeout_Pending",
    [SSTP_CALL_DISCONNECT_IN_PROGRESS_1]   = "Call_Disconnect_In_Progress_1",
    [SSTP_CALL_DISCONNECT_ACK_PENDING]     = "Call_Disconnect_Ack_Pending",
    [SSTP_CALL_DISCONNECT_IN_PROGRESS_2]   = "Call_Disconnect_In_Progress_2",
    [SSTP_CALL_DISCONNECT_TIMEOUT_PENDING] = "Call_Disconnect_Timeout_Pending",
    [SSTP_SRV_CLOSED]                      = "Closed",
};

const char *sstp_srv_state_str(enum sstp_srv_state state)
{
    return (unsigned)state < SSTP_SRV_STATE_COUNT ? state_names[state] : "?";
}

const char *sstp_srv_timer_str(enum sstp_srv_timer timer)
{
    static const char *const names[SSTP_SRV_T_COUNT] = {
        [SSTP_SRV_T_NEGOTIATION] = "negotiation",   [SSTP_SRV_T_HELLO] = "hello",
        [SSTP_SRV_T_ABORT_1] = "abort_t1",          [SSTP_SRV_T_ABORT_2] = "abort_t2",
        [SSTP_SRV_T_DISCONNECT_1] = "disconnect_t1", [SSTP_SRV_T_DISCONNECT_2] = "disconnect_t2",
    };
    return (unsigned)timer < SSTP_SRV_T_COUNT ? names[timer] : "?";
}

void sstp_srv_cfg_default(struct sstp_srv_cfg *cfg)
{
    if (!cfg)
        return;
    cfg->negotiation_ms = SSTP_NEGOTIATION_TIMEOUT_S * 1000u;
    cfg->hello_ms = SSTP_HELLO_INTERVAL_S * 1000u;
    cfg->abort_t1_ms = SSTP_ABORT_T1_S * 1000u;
    cfg->abort_t2_ms = SSTP_ABORT_T2_S * 1000u;
    cfg->disconnect_t1_ms = SSTP_DISCONNECT_T1_S * 1000u;
    cfg->disconnect_t2_ms = SSTP_DISCONNECT_T2_S * 1000u;
    /* The proxy hands us both hashes of its certificate, so we can offer
     * both; clients that know SHA-256 pick it (MS-SSTP 2.2.10). */
    cfg->hash_bitmask = SSTP_HASH_BIT_SHA1 | SSTP_HASH_BIT_SHA256;
    cfg->nak_retries = SSTP_CONNECT_NAK_RETRIES;
}

static void wipe_secrets(struct sstp_srv *sm)
{
    OPENSSL_cleanse(sm->nonce, sizeof(sm->nonce));
    OPENSSL_cleanse(sm->hlak, sizeof(sm->hlak));
    OPENSSL_cleanse(sm->connected, sizeof(sm->connected));
    sm->have_keys = false;
    sm->have_connected = false;
}

void sstp_srv_init(struct sstp_srv *sm, const struct sstp_srv_cfg *cfg,
                   const uint8_t nonce[SSTP_NONCE_LEN])
{
    if (!sm)
        return;
    memset(sm, 0, sizeof(*sm));
    if (cfg)
        sm->cfg = *cfg;
    else
        sstp_srv_cfg_default(&sm->cfg);
    /* MS-SSTP 2.2.6: at least one known bit must be advertised. */
    sm->cfg.hash_bitmask &= SSTP_HASH_BIT_SHA1 | SSTP_HASH_BIT_SHA256;
    if (!sm->cfg.hash_bitmask)
        sm->cfg.hash_bitmask = SSTP_HASH_BIT_SHA256;
    if (nonce)
        memcpy(sm->nonce, nonce, SSTP_NONCE_LEN);
    sm->state = SSTP_SRV_CALL_DISCONNECTED;
    sm->rc = SSTP_OK;
}

void sstp_srv_set_trust(struct sstp_srv *sm, const struct sstp_bind_trust *trust)
{
    if (sm)
        sm->trust = trust;
}

void sstp_srv_cleanup(struct sstp_srv *sm)
{
    if (sm)
        wipe_secrets(sm);
}

/* ---- action helpers ---- */

static uint32_t timer_duration(const struct sstp_srv *sm, enum sstp_srv_timer t)
{
    switch (t) {
    case SSTP_SRV_T_NEGOTIATION:  return sm->cfg.negotiation_ms;
    case SSTP_SRV_T_HELLO:        return sm->cfg.hello_ms;
    case SSTP_SRV_T_ABORT_1:      return sm->cfg.abort_t1_ms;
    case SSTP_SRV_T_ABORT_2:      return sm->cfg.abort_t2_ms;
    case SSTP_SRV_T_DISCONNECT_1: return sm->cfg.disconnect_t1_ms;
    case SSTP_SRV_T_DISCONNECT_2: return sm->cfg.disconnect_t2_ms;
    default:                      return 0;
    }
}

/* (Re)start t: the caller restarts a timer that is already armed. */
static void timer_start(struct sstp_srv *sm, struct sstp_srv_actions *out, enum sstp_srv_timer t)
{
    sm->timers_running |= TBIT(t);
    out->timers_start |= TBIT(t);
    out->timer_ms[t] = timer_duration(sm, t);
}

static void timer_stop(struct sstp_srv *sm, struct sstp_srv_actions *out, enum sstp_srv_timer t)
{
    if (sm->timers_running & TBIT(t))
        out->timers_stop |= TBIT(t);
    out->timers_start &= ~TBIT(t);
    out->timer_ms[t] = 0;
    sm->timers_running &= ~TBIT(t);
}

static void timers_stop_all(struct sstp_srv *sm, struct sstp_srv_actions *out)
{
    for (int t = 0; t < SSTP_SRV_T_COUNT; t++)
        timer_stop(sm, out, (enum sstp_srv_timer)t);
}

/* Appends to out->send. The buffer is sized for the largest step, so the
 * encoders cannot run out of room; the rc is checked anyway. */
static struct sstp_wbuf send_buf(struct sstp_srv_actions *out)
{
    struct sstp_wbuf w;
    sstp_wbuf_init(&w, out->send + out->send_len, sizeof(out->send) - out->send_len);
    return w;
}

static void send_commit(struct sstp_srv_actions *out, const struct sstp_wbuf *w, enum sstp_rc rc)
{
    if (rc == SSTP_OK && !w->err)
        out->send_len += w->len;
}

static void send_status_msg(struct sstp_srv_actions *out, uint16_t type, uint8_t attrib_id,
                            uint32_t status)
{
    struct sstp_status_info si = { attrib_id, status, { NULL, 0 } };
    struct sstp_wbuf w = send_buf(out);
    enum sstp_rc rc = type == SSTP_MSG_CALL_ABORT ? sstp_ctrl_encode_abort(&w, &si)
                                                  : sstp_ctrl_encode_disconnect(&w, &si);
    send_commit(out, &w, rc);
}

static void send_empty_msg(struct sstp_srv_actions *out, uint16_t type)
{
    struct sstp_wbuf w = send_buf(out);
    enum sstp_rc rc;
    switch (type) {
    case SSTP_MSG_CALL_ABORT:          rc = sstp_ctrl_encode_abort(&w, NULL); break;
    case SSTP_MSG_CALL_DISCONNECT_ACK: rc = sstp_ctrl_encode_disconnect_ack(&w); break;
    case SSTP_MSG_ECHO_REQUEST:        rc = sstp_ctrl_encode_echo_request(&w); break;
    default:                           rc = sstp_ctrl_encode_echo_response(&w); break;
    }
    send_commit(out, &w, rc);
}

static void set_reason(struct sstp_srv *sm, enum sstp_rc rc)
{
    if (sm->rc == SSTP_OK)
        sm->rc = rc;
}

static bool in_teardown_T(enum sstp_srv_state s)
{
    /* MS-SSTP 3.3.5.2: the set T of the event table. The [transient]
     * teardown states never outlive a step, so these are all of them. */
    return s == SSTP_CALL_ABORT_TIMEOUT_PENDING || s == SSTP_CALL_ABORT_PENDING ||
           s == SSTP_CALL_DISCONNECT_ACK_PENDING || s == SSTP_CALL_DISCONNECT_TIMEOUT_PENDING;
}

/* ---- procedures of MS-SSTP 3.1.5.1 / 3.3.5.2.4-5 ---- */

/* Clean up: hang up pppd, close the transport. Terminal. */
static void do_cleanup(struct sstp_srv *sm, struct sstp_srv_actions *out)
{
    timers_stop_all(sm, out);
    if (sm->ppp_started && !sm->ppp_exited && !sm->ppp_stopped) {
        out->ppp_stop = true;
        sm->ppp_stopped = true;
    }
    out->close = true;
    out->rc = sm->rc;
    wipe_secrets(sm);
    sm->echo_outstanding = false;
    sm->state = SSTP_SRV_CLOSED;
}

/* Enters one of the four teardown procedures (MS-SSTP 3.3.5.2.4-5): stops
 * every timer, passes through the [transient] entry state (whose message
 * the caller sends), arms that procedure's timer and settles in the state
 * that waits for it. Before the 200 response no SSTP message may be sent,
 * so the call is just cleaned up: returns false then. */
static bool teardown_enter(struct sstp_srv *sm, struct sstp_srv_actions *out,
                           enum sstp_srv_state transient, enum sstp_srv_timer timer,
                           enum sstp_srv_state settled)
{
    if (sm->state == SSTP_SRV_CALL_DISCONNECTED) {
        do_cleanup(sm, out);
        return false;
    }
    timers_stop_all(sm, out);
    sm->state = transient;
    timer_start(sm, out, timer);
    sm->state = settled;
    return true;
}

/* We detected an error: Call_Abort_In_Progress_1 → Call_Abort_Pending. */
static void abort_start(struct sstp_srv *sm, struct sstp_srv_actions *out, enum sstp_rc why,
                        uint8_t attrib_id, uint32_t status)
{
    set_reason(sm, why);
    if (teardown_enter(sm, out, SSTP_CALL_ABORT_IN_PROGRESS_1, SSTP_SRV_T_ABORT_1,
                       SSTP_CALL_ABORT_PENDING))
        send_status_msg(out, SSTP_MSG_CALL_ABORT, attrib_id, status);
    out->rc = why;
}

/* The peer aborted first: Call_Abort_In_Progress_2 → Call_Abort_Timeout_Pending.
 * Our CALL_ABORT carries no Status Info (allowed, MS-SSTP 2.2.13): there is
 * no status of ours to report, only the peer's to acknowledge. */
static void abort_answer(struct sstp_srv *sm, struct sstp_srv_actions *out)
{
    set_reason(sm, SSTP_E_FSM_PEER_ABORT);
    out->rc = SSTP_E_FSM_PEER_ABORT;
    if (teardown_enter(sm, out, SSTP_CALL_ABORT_IN_PROGRESS_2, SSTP_SRV_T_ABORT_2,
                       SSTP_CALL_ABORT_TIMEOUT_PENDING))
        send_empty_msg(out, SSTP_MSG_CALL_ABORT);
}

/* Local disconnect (admin, shutdown, PPP ended):
 * Call_Disconnect_In_Progress_1 → Call_Disconnect_Ack_Pending. */
static void disconnect_start(struct sstp_srv *sm, struct sstp_srv_actions *out)
{
    /* MS-SSTP 2.2.14: AttribID NO_ERROR, status NO_ERROR. */
    if (teardown_enter(sm, out, SSTP_CALL_DISCONNECT_IN_PROGRESS_1, SSTP_SRV_T_DISCONNECT_1,
                       SSTP_CALL_DISCONNECT_ACK_PENDING))
        send_status_msg(out, SSTP_MSG_CALL_DISCONNECT, SSTP_ATTRIB_NO_ERROR, SSTP_STATUS_NO_ERROR);
}

/* The peer disconnected: Call_Disconnect_In_Progress_2 →
 * Call_Disconnect_Timeout_Pending. */
static void disconnect_answer(struct sstp_srv *sm, struct sstp_srv_actions *out)
{
    if (teardown_enter(sm, out, SSTP_CALL_DISCONNECT_IN_PROGRESS_2, SSTP_SRV_T_DISCONNECT_2,
                       SSTP_CALL_DISCONNECT_TIMEOUT_PENDING))
        send_empty_msg(out, SSTP_MSG_CALL_DISCONNECT_ACK);
}

/* "Message not acceptable in the current state" (MS-SSTP 3.3.5.2). For
 * state and format errors the spec names no AttribID; we say STATUS_INFO. */
static void abort_unaccepted(struct sstp_srv *sm, struct sstp_srv_actions *out)
{
    abort_start(sm, out, SSTP_E_FSM_STATE, SSTP_ATTRIB_STATUS_INFO,
                SSTP_STATUS_UNACCEPTED_FRAME_RECEIVED);
}

/* ---- CALL_CONNECT_REQUEST (MS-SSTP 3.3.5.2.2) ---- */

/* Lists one Status Info per problem of the request; 0 = acceptable. */
static size_t request_problems(const struct sstp_ctrl *c, struct sstp_status_info *nak, size_t cap)
{
    size_t n = 0;
    uint8_t seen[SSTP_ATTRIB_ID_MAX + 1] = { 0 };

#define ADD_PROBLEM(id, st, val_p, val_len)                                    \
    do {                                                                       \
        if (n < cap) {                                                         \
            nak[n].attrib_id = (id);                                           \
            nak[n].status = (st);                                              \
            nak[n].value = sstp_slice_make((val_p), (val_len));                \
            n++;                                                               \
        }                                                                      \
    } while (0)

    for (size_t i = 0; i < c->n_attrs; i++) {
        const struct sstp_attr *a = &c->attrs[i];
        bool known = a->id == SSTP_ATTRIB_ENCAPSULATED_PROTOCOL_ID ||
                     a->id == SSTP_ATTRIB_STATUS_INFO;
        if (!known) {
            /* Not defined for a request (CRYPTO_BINDING*, NO_ERROR) or not
             * defined at all: both are unrecognized here. */
            ADD_PROBLEM(a->id, SSTP_STATUS_UNRECOGNIZED_ATTRIBUTE, NULL, 0);
            continue;
        }
        if (seen[a->id]++) {
            ADD_PROBLEM(a->id, SSTP_STATUS_DUPLICATE_ATTRIBUTE, NULL, 0);
            continue;
        }
        if (a->id == SSTP_ATTRIB_STATUS_INFO) {
            struct sstp_status_info si;
            if (sstp_attr_status_info(&si, a) != SSTP_OK)
                ADD_PROBLEM(a->id, SSTP_STATUS_INVALID_ATTRIB_VALUE_LENGTH, NULL, 0);
            else if (si.status != SSTP_STATUS_NO_ERROR)
                ADD_PROBLEM(SSTP_ATTRIB_STATUS_INFO, SSTP_STATUS_STATUS_INFO_NOT_SUPPORTED_IN_MSG,
                            NULL, 0);
            continue;
        }
        uint16_t proto;
        if (sstp_attr_encap_proto(&proto, a) != SSTP_OK) {
            ADD_PROBLEM(a->id, SSTP_STATUS_INVALID_ATTRIB_VALUE_LENGTH, NULL, 0);
        } else if (proto != SSTP_ENCAP_PROTO_PPP) {
            /* MS-SSTP 2.2.8: echo the proposed value. */
            ADD_PROBLEM(a->id, SSTP_STATUS_VALUE_NOT_SUPPORTED, a->value.p, a->value.len);
        }
    }
    if (!seen[SSTP_ATTRIB_ENCAPSULATED_PROTOCOL_ID])
        /* MS-SSTP 3.3.5.2.2 names AttribID STATUS_INFO here (2.2.8 says
         * ENCAPSULATED_PROTOCOL_ID); clients only log it. */
        ADD_PROBLEM(SSTP_ATTRIB_STATUS_INFO, SSTP_STATUS_REQUIRED_ATTRIBUTE_MISSING, NULL, 0);
#undef ADD_PROBLEM
    return n;
}

static void on_request(struct sstp_srv *sm, const struct sstp_ctrl *c, struct sstp_srv_actions *out)
{
    /* One Status Info per problem, but no more than a decoder like ours
     * keeps: a request that bad gets the first SSTP_CTRL_MAX_ATTRS. */
    struct sstp_status_info nak[SSTP_CTRL_MAX_ATTRS];
    size_t n = request_problems(c, nak, sizeof(nak) / sizeof(nak[0]));
    if (n == 0) {
        timer_start(sm, out, SSTP_SRV_T_NEGOTIATION);
        struct sstp_wbuf w = send_buf(out);
        send_commit(out, &w, sstp_ctrl_encode_connect_ack(&w, sm->cfg.hash_bitmask, sm->nonce));
        out->ppp_start = true;
        sm->ppp_started = true;
        sm->state = SSTP_SRV_CALL_CONNECTED_PENDING;
        return;
    }
    if (sm->naks_sent >= sm->cfg.nak_retries) {
        abort_start(sm, out, SSTP_E_FSM_RETRIES, SSTP_ATTRIB_STATUS_INFO,
                    SSTP_STATUS_RETRY_COUNT_EXCEEDED);
        return;
    }
    sm->naks_sent++;
    struct sstp_wbuf w = send_buf(out);
    send_commit(out, &w, sstp_ctrl_encode_connect_nak(&w, nak, n));
}

/* ---- CALL_CONNECTED and the crypto binding (MS-SSTP 3.3.5.2.3) ---- */

/* The binding failed (or cannot be made): abort the call, and hang pppd up
 * at once rather than after the abort timer, since nothing more may cross
 * for a call whose binding failed. */
static void bind_fail(struct sstp_srv *sm, struct sstp_srv_actions *out, enum sstp_rc why)
{
    out->bind = SSTP_SRV_BIND_FAILED;
    out->bind_rc = why;
    if (why == SSTP_E_BIND_STRUCT)
        abort_start(sm, out, why, SSTP_ATTRIB_STATUS_INFO, SSTP_STATUS_ATTRIB_NOT_SUPPORTED_IN_MSG);
    else if (why == SSTP_E_BIND_REAUTH)
        abort_start(sm, out, why, SSTP_ATTRIB_STATUS_INFO, SSTP_STATUS_UNACCEPTED_FRAME_RECEIVED);
    else
        abort_start(sm, out, why, SSTP_ATTRIB_CRYPTO_BINDING, SSTP_STATUS_VALUE_NOT_SUPPORTED);
    if (sm->ppp_started && !sm->ppp_exited && !sm->ppp_stopped) {
        out->ppp_stop = true;
        sm->ppp_stopped = true;
    }
}

static void bind_verify(struct sstp_srv *sm, const uint8_t *msg, struct sstp_srv_actions *out)
{
    static const struct sstp_bind_trust no_trust = { NULL, 0, NULL, 0 };
    const struct sstp_bind_trust *trust = sm->trust ? sm->trust : &no_trust;
    enum sstp_rc rc = sstp_bind_verify(msg, SSTP_CONNECTED_LEN, sm->cfg.hash_bitmask, sm->nonce,
                                       trust, sm->hlak);
    if (rc == SSTP_OK) {
        out->bind = SSTP_SRV_BIND_OK;
        /* verified: byte 15 is SHA-1 or SHA-256, the hash one of ours */
        out->bind_hash = msg[SSTP_BIND_OFF_HASH_PROTO];
        memcpy(out->bind_cert_hash, msg + SSTP_BIND_OFF_CERT_HASH,
               sstp_bind_hash_len((enum sstp_bind_hash)out->bind_hash));
        timer_stop(sm, out, SSTP_SRV_T_NEGOTIATION);
        timer_start(sm, out, SSTP_SRV_T_HELLO);
        sm->echo_outstanding = false;
        wipe_secrets(sm);
        sm->state = SSTP_SRV_CALL_CONNECTED;
        return;
    }
    bind_fail(sm, out, rc);
}

static void on_connected(struct sstp_srv *sm, const struct sstp_ctrl *c, struct sstp_srv_actions *out)
{
    /* Structure first (step 2): a malformed message is not worth keeping. */
    if (sstp_ctrl_check(c) != SSTP_OK || c->raw.len != SSTP_CONNECTED_LEN) {
        bind_fail(sm, out, SSTP_E_BIND_STRUCT);
        return;
    }
    if (!sm->have_keys) {
        /* Step 3: pppd has not reported the keys yet; the client may well
         * be ahead of it. Keep the message (a later one replaces it). */
        memcpy(sm->connected, c->raw.p, SSTP_CONNECTED_LEN);
        sm->have_connected = true;
        return;
    }
    bind_verify(sm, c->raw.p, out);
}

/* The binding covers the one authentication of the call: a second one
 * (pppd re-authenticating after an LCP renegotiation, or a plugin reporting
 * twice) would let the link run as another user with no binding of its
 * own. It is an attack, not a renegotiation. */
static bool second_auth(struct sstp_srv *sm, struct sstp_srv_actions *out)
{
    if (!sm->auth_seen) {
        sm->auth_seen = true;
        return false;
    }
    bind_fail(sm, out, SSTP_E_BIND_REAUTH);
    return true;
}

static void on_keys(struct sstp_srv *sm, const uint8_t *hlak, struct sstp_srv_actions *out)
{
    if (sm->state != SSTP_SRV_CALL_CONNECTED_PENDING && sm->state != SSTP_SRV_CALL_CONNECTED)
        return; /* too early (no PPP yet) or the call is ending */
    if (second_auth(sm, out))
        return;
    if (sm->state != SSTP_SRV_CALL_CONNECTED_PENDING)
        return;
    memcpy(sm->hlak, hlak, SSTP_HLAK_LEN);
    sm->have_keys = true;
    if (sm->have_connected)
        bind_verify(sm, sm->connected, out);
}

static void on_keys_refused(struct sstp_srv *sm, enum sstp_rc why, struct sstp_srv_actions *out)
{
    if (sm->state != SSTP_SRV_CALL_CONNECTED_PENDING && sm->state != SSTP_SRV_CALL_CONNECTED)
        return;
    if (second_auth(sm, out))
        return;
    bind_fail(sm, out, why);
}

/* ---- received control packets: the table of MS-SSTP 3.3.5.2 ---- */

static void note_peer_status(const struct sstp_ctrl *c, struct sstp_srv_actions *out)
{
    const struct sstp_attr *a = sstp_ctrl_find(c, SSTP_ATTRIB_STATUS_INFO);
    struct sstp_status_info si;
    if (a && sstp_attr_status_info(&si, a) == SSTP_OK) {
        out->peer_status_valid = true;
        out->peer_attrib_id = si.attrib_id;
        out->peer_status = si.status;
    }
}

/* MS-SSTP 3.1.2.3: any packet received while connected restarts hello. */
static void note_rx(struct sstp_srv *sm, struct sstp_srv_actions *out)
{
    if (sm->state != SSTP_SRV_CALL_CONNECTED)
        return;
    sm->echo_outstanding = false;
    timer_start(sm, out, SSTP_SRV_T_HELLO);
}

static void on_ctrl(struct sstp_srv *sm, const uint8_t *msg, size_t len, struct sstp_srv_actions *out)
{
    struct sstp_ctrl c;
    enum sstp_rc drc = sstp_ctrl_decode(&c, msg, len);
    enum sstp_srv_state s = sm->state;
    bool in_T = in_teardown_T(s);

    note_rx(sm, out);

    if (drc != SSTP_OK) {
        /* MS-SSTP 3.1.5.1: a malformed message is an invalid frame. */
        if (!in_T)
            abort_start(sm, out, drc, SSTP_ATTRIB_STATUS_INFO, SSTP_STATUS_INVALID_FRAME_RECEIVED);
        return;
    }

    switch (c.type) {
    case SSTP_MSG_CALL_CONNECT_REQUEST:
        if (s == SSTP_SRV_CONNECT_REQUEST_PENDING)
            on_request(sm, &c, out);
        else if (!in_T)
            abort_unaccepted(sm, out);
        break;

    case SSTP_MSG_CALL_CONNECTED:
        if (s == SSTP_SRV_CALL_CONNECTED_PENDING)
            on_connected(sm, &c, out);
        else if (!in_T)
            abort_unaccepted(sm, out);
        break;

    case SSTP_MSG_CALL_ABORT:
        note_peer_status(&c, out);
        if (s == SSTP_CALL_ABORT_PENDING) {
            timer_stop(sm, out, SSTP_SRV_T_ABORT_1);
            timer_start(sm, out, SSTP_SRV_T_ABORT_2);
            sm->state = SSTP_CALL_ABORT_TIMEOUT_PENDING;
        } else if (s == SSTP_CALL_ABORT_TIMEOUT_PENDING || s == SSTP_CALL_DISCONNECT_TIMEOUT_PENDING) {
            /* ignore */
        } else {
            /* Includes Call_Disconnect_Ack_Pending: the table's T column
             * does not name it for CALL_ABORT. */
            abort_answer(sm, out);
        }
        break;

    case SSTP_MSG_CALL_DISCONNECT:
        note_peer_status(&c, out);
        if (s == SSTP_CALL_DISCONNECT_ACK_PENDING) {
            /* Both sides disconnected at once. */
            timer_stop(sm, out, SSTP_SRV_T_DISCONNECT_1);
            send_empty_msg(out, SSTP_MSG_CALL_DISCONNECT_ACK);
            timer_start(sm, out, SSTP_SRV_T_DISCONNECT_2);
            sm->state = SSTP_CALL_DISCONNECT_TIMEOUT_PENDING;
        } else if (!in_T) {
            disconnect_answer(sm, out);
        }
        break;

    case SSTP_MSG_CALL_DISCONNECT_ACK:
        if (s == SSTP_CALL_DISCONNECT_ACK_PENDING)
            do_cleanup(sm, out);
        else if (!in_T)
            abort_unaccepted(sm, out);
        break;

    case SSTP_MSG_ECHO_REQUEST:
        /* Answered while Call_Connected_Pending too: the spec aborts there,
         * but a client idle during a slow PPP auth is not an error. */
        if (s == SSTP_SRV_CALL_CONNECTED || s == SSTP_SRV_CALL_CONNECTED_PENDING)
            send_empty_msg(out, SSTP_MSG_ECHO_RESPONSE);
        else if (!in_T)
            abort_unaccepted(sm, out);
        break;

    case SSTP_MSG_ECHO_RESPONSE:
        /* Connected: hello already restarted above. Connected_Pending:
         * unsolicited but harmless (lenient, as for ECHO_REQUEST). */
        if (s != SSTP_SRV_CALL_CONNECTED && s != SSTP_SRV_CALL_CONNECTED_PENDING && !in_T)
            abort_unaccepted(sm, out);
        break;

    case SSTP_MSG_CALL_CONNECT_ACK:
    case SSTP_MSG_CALL_CONNECT_NAK:
        /* Only a server sends these (MS-SSTP 2.2.10, 2.2.12). */
        if (!in_T)
            abort_unaccepted(sm, out);
        break;

    default:
        if (!in_T)
            abort_start(sm, out, SSTP_E_CTRL_MSG_TYPE, SSTP_ATTRIB_STATUS_INFO,
                        SSTP_STATUS_INVALID_FRAME_RECEIVED);
        break;
    }
}

/* ---- PPP frame gating (MS-SSTP 3.3.7.1, 3.3.7.2) ---- */

static enum sstp_srv_frame_verdict gate(enum sstp_srv_state s, const uint8_t *frame, size_t len)
{
    if (s == SSTP_SRV_CALL_CONNECTED)
        return SSTP_SRV_FRAME_FORWARD;
    if (s == SSTP_SRV_CALL_CONNECTED_PENDING && sstp_ppp_frame_is_control(frame, len))
        return SSTP_SRV_FRAME_FORWARD;
    return SSTP_SRV_FRAME_DROP;
}

/* ---- timers ---- */

static void on_timer(struct sstp_srv *sm, enum sstp_srv_timer t, struct sstp_srv_actions *out)
{
    if ((unsigned)t >= SSTP_SRV_T_COUNT || !(sm->timers_running & TBIT(t)))
        return; /* stale: stopped after it fired but before it was delivered */
    sm->timers_running &= ~TBIT(t);
    enum sstp_srv_state s = sm->state;

    switch (t) {
    case SSTP_SRV_T_NEGOTIATION:
        if (s != SSTP_SRV_CONNECT_REQUEST_PENDING && s != SSTP_SRV_CALL_CONNECTED_PENDING)
            return;
        if (sm->have_connected) {
            /* A CALL_CONNECTED waited for keys that never came. */
            out->bind = SSTP_SRV_BIND_FAILED;
            out->bind_rc = SSTP_E_FSM_TIMEOUT;
        }
        abort_start(sm, out, SSTP_E_FSM_TIMEOUT, SSTP_ATTRIB_STATUS_INFO,
                    SSTP_STATUS_NEGOTIATION_TIMEOUT);
        return;
    case SSTP_SRV_T_HELLO:
        if (s != SSTP_SRV_CALL_CONNECTED)
            return;
        if (!sm->echo_outstanding) {
            send_empty_msg(out, SSTP_MSG_ECHO_REQUEST);
            sm->echo_outstanding = true;
            timer_start(sm, out, SSTP_SRV_T_HELLO);
            return;
        }
        /* Nothing for two intervals. MS-SSTP 3.1.6.3 closes silently;
         * like accel-ppp and sorz we still say why, then close at once:
         * waiting for an ABORT from a dead peer gains nothing. */
        set_reason(sm, SSTP_E_FSM_HELLO_TIMEOUT);
        send_status_msg(out, SSTP_MSG_CALL_ABORT, SSTP_ATTRIB_STATUS_INFO,
                        SSTP_STATUS_NEGOTIATION_TIMEOUT);
        do_cleanup(sm, out);
        out->rc = SSTP_E_FSM_HELLO_TIMEOUT;
        return;
    case SSTP_SRV_T_ABORT_1:
    case SSTP_SRV_T_ABORT_2:
    case SSTP_SRV_T_DISCONNECT_1:
    case SSTP_SRV_T_DISCONNECT_2: {
        /* each teardown timer ends the procedure that armed it, if still there */
        static const enum sstp_srv_state waits_for[SSTP_SRV_T_COUNT] = {
            [SSTP_SRV_T_ABORT_1] = SSTP_CALL_ABORT_PENDING,
            [SSTP_SRV_T_ABORT_2] = SSTP_CALL_ABORT_TIMEOUT_PENDING,
            [SSTP_SRV_T_DISCONNECT_1] = SSTP_CALL_DISCONNECT_ACK_PENDING,
            [SSTP_SRV_T_DISCONNECT_2] = SSTP_CALL_DISCONNECT_TIMEOUT_PENDING,
        };
        if (s == waits_for[t])
            do_cleanup(sm, out);
        return;
    }
    default:
        return;
    }
}

/* ---- the step ---- */

static bool call_up(enum sstp_srv_state s)
{
    return s == SSTP_SRV_CONNECT_REQUEST_PENDING || s == SSTP_SRV_CALL_CONNECTED_PENDING ||
           s == SSTP_SRV_CALL_CONNECTED;
}

void sstp_srv_step(struct sstp_srv *sm, const struct sstp_srv_ev *ev,
                   struct sstp_srv_actions *out)
{
    if (!out)
        return;
    /* Only the header fields; send[] is filled up to send_len. */
    out->send_len = 0;
    out->timers_stop = 0;
    out->timers_start = 0;
    memset(out->timer_ms, 0, sizeof(out->timer_ms));
    out->ppp_start = out->ppp_stop = out->close = false;
    out->frame = SSTP_SRV_FRAME_NONE;
    out->bind = SSTP_SRV_BIND_NONE;
    out->bind_rc = SSTP_OK;
    out->bind_hash = 0;
    memset(out->bind_cert_hash, 0, sizeof(out->bind_cert_hash));
    out->rc = SSTP_OK;
    out->peer_status_valid = false;
    out->peer_attrib_id = 0;
    out->peer_status = 0;
    if (!sm || !ev)
        return;

    bool is_frame = ev->type == SSTP_SRV_EV_PPP_FROM_CLIENT || ev->type == SSTP_SRV_EV_PPP_FROM_PPPD;
    if (is_frame)
        out->frame = SSTP_SRV_FRAME_DROP;
    if (sm->state == SSTP_SRV_CLOSED)
        return;

    switch (ev->type) {
    case SSTP_SRV_EV_HTTP_DONE:
        if (sm->state == SSTP_SRV_CALL_DISCONNECTED) {
            sm->state = SSTP_SRV_CONNECT_REQUEST_PENDING;
            timer_start(sm, out, SSTP_SRV_T_NEGOTIATION);
        }
        break;
    case SSTP_SRV_EV_CTRL:
        if (ev->data)
            on_ctrl(sm, ev->data, ev->len, out);
        break;
    case SSTP_SRV_EV_PPP_FROM_CLIENT:
        if (!ev->data && ev->len)
            break;
        note_rx(sm, out);
        if (sm->auth_seen && call_up(sm->state) &&
            sstp_ppp_frame_is_lcp_config(ev->data, ev->len)) {
            /* pppd would renegotiate LCP and authenticate again */
            bind_fail(sm, out, SSTP_E_BIND_REAUTH);
            break;
        }
        out->frame = gate(sm->state, ev->data, ev->len);
        break;
    case SSTP_SRV_EV_PPP_FROM_PPPD:
        if (!ev->data && ev->len)
            break;
        out->frame = gate(sm->state, ev->data, ev->len);
        break;
    case SSTP_SRV_EV_KEYS:
        if (ev->hlak)
            on_keys(sm, ev->hlak, out);
        break;
    case SSTP_SRV_EV_KEYS_REFUSED:
        if (ev->rc != SSTP_OK)
            on_keys_refused(sm, ev->rc, out);
        break;
    case SSTP_SRV_EV_TIMER:
        on_timer(sm, ev->timer, out);
        break;
    case SSTP_SRV_EV_PPPD_EXITED:
        sm->ppp_exited = true;
        if (call_up(sm->state) || sm->state == SSTP_SRV_CALL_DISCONNECTED)
            disconnect_start(sm, out); /* MS-SSTP 3.3.7.2: PPP ended → disconnect */
        break;
    case SSTP_SRV_EV_LOCAL_DISCONNECT:
        if (call_up(sm->state) || sm->state == SSTP_SRV_CALL_DISCONNECTED)
            disconnect_start(sm, out);
        break;
    case SSTP_SRV_EV_TRANSPORT_LOST:
        /* MS-SSTP 3.1.7.2: nothing can be sent; hang up PPP and close. A
         * loss during teardown is the expected end, not a new reason. */
        if (!in_teardown_T(sm->state))
            set_reason(sm, SSTP_E_FSM_TRANSPORT_LOST);
        do_cleanup(sm, out);
        break;
    default:
        break;
    }
}
