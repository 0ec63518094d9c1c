/* test_server_fsm.c — the SSTP server state machine: every (state, received
 * message) cell of the MS-SSTP 3.3.5.2 event table, the other events in
 * every state, CONNECT_REQUEST NAKs and retries, crypto-binding deferral and
 * failures (valid MACs only from the published MS-SSTP 4.7 messages, via
 * tests/vectors/ctrl.py), hello/echo, frame gating, both teardown directions. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "sstp/ctrl.h"
#include "sstp/packet.h"
#include "sstp/server_fsm.h"

#include "ctrl.h" /* build/vectors/ctrl.h: VEC_A_*, VEC_B_* */

#define TB(t) SSTP_SRV_TIMER_BIT(t)

static const uint8_t M_REQUEST[] = { 0x10, 0x01, 0x00, 0x0E, 0x00, 0x01, 0x00, 0x01,
                                     0x00, 0x01, 0x00, 0x06, 0x00, 0x01 };
static const uint8_t M_ABORT[] = { 0x10, 0x01, 0x00, 0x14, 0x00, 0x05, 0x00, 0x01, 0x00, 0x02,
                                   0x00, 0x0C, 0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x07 };
static const uint8_t M_DISCONNECT[] = { 0x10, 0x01, 0x00, 0x14, 0x00, 0x06, 0x00, 0x01, 0x00, 0x02,
                                        0x00, 0x0C, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00 };
static const uint8_t M_DISCONNECT_ACK[] = { 0x10, 0x01, 0x00, 0x08, 0x00, 0x07, 0x00, 0x00 };
static const uint8_t M_ECHO_REQUEST[] = { 0x10, 0x01, 0x00, 0x08, 0x00, 0x08, 0x00, 0x00 };
static const uint8_t M_ECHO_RESPONSE[] = { 0x10, 0x01, 0x00, 0x08, 0x00, 0x09, 0x00, 0x00 };
static const uint8_t M_NAK[] = { 0x10, 0x01, 0x00, 0x14, 0x00, 0x03, 0x00, 0x01, 0x00, 0x02,
                                 0x00, 0x0C, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x04 };
static const uint8_t M_UNKNOWN[] = { 0x10, 0x01, 0x00, 0x08, 0x00, 0x0A, 0x00, 0x00 };
/* count says 1 attribute, the packet has none (MS-SSTP 2.2.2) */
static const uint8_t M_MALFORMED[] = { 0x10, 0x01, 0x00, 0x08, 0x00, 0x08, 0x00, 0x01 };

/* Exact images the server must send (MS-SSTP 2.2.13-2.2.15). */
static const uint8_t S_DISCONNECT[] = { 0x10, 0x01, 0x00, 0x14, 0x00, 0x06, 0x00, 0x01, 0x00, 0x02,
                                        0x00, 0x0C, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00 };
static const uint8_t S_ABORT_EMPTY[] = { 0x10, 0x01, 0x00, 0x08, 0x00, 0x05, 0x00, 0x00 };

/* an LCP Echo-Request: a control frame that does not renegotiate */
static const uint8_t F_LCP[] = { 0xFF, 0x03, 0xC0, 0x21, 0x09, 0x01, 0x00, 0x08, 0, 0, 0, 0 };
/* LCP Configure-Requests: after the authentication they renegotiate LCP,
 * and pppd then authenticates again */
static const uint8_t F_LCP_CONFREQ[] = { 0xFF, 0x03, 0xC0, 0x21, 0x01, 0x01, 0x00, 0x04 };
static const uint8_t F_LCP_CONFREQ_NOACF[] = { 0xC0, 0x21, 0x01, 0x02, 0x00, 0x04 };
/* a Configure-Ack, -Nak or -Reject on the open link renegotiates too (RFC
 * 1661 §4.1, Opened: RCA/RCN -> tld, scr) */
static const uint8_t F_LCP_CONFACK[] = { 0xFF, 0x03, 0xC0, 0x21, 0x02, 0x05, 0x00, 0x04 };
static const uint8_t F_LCP_CONFNAK_NOACF[] = { 0xC0, 0x21, 0x03, 0x06, 0x00, 0x04 };
static const uint8_t F_LCP_CONFREJ[] = { 0xFF, 0x03, 0xC0, 0x21, 0x04, 0x07, 0x00, 0x04 };
static const uint8_t F_IPV4[] = { 0xFF, 0x03, 0x00, 0x21, 0x45, 0x00 };

/* ---- fixture ---- */

struct fx {
    struct sstp_srv sm;
    struct sstp_srv_actions a;
    uint8_t sha256[2][32];
    uint8_t sha1[1][20];
    struct sstp_bind_trust trust;
};

static struct fx *fx_new(const struct sstp_srv_cfg *cfg, const uint8_t *nonce)
{
    struct fx *f = calloc(1, sizeof(*f));
    assert_non_null(f);
    memset(f->sha256[0], 0x11, 32); /* an unrelated certificate first */
    memcpy(f->sha256[1], VEC_A_CERT_SHA256, 32);
    memcpy(f->sha1[0], VEC_B_CERT_SHA1, 20);
    f->trust.sha256 = (const uint8_t(*)[32])f->sha256;
    f->trust.n_sha256 = 2;
    f->trust.sha1 = (const uint8_t(*)[20])f->sha1;
    f->trust.n_sha1 = 1;
    sstp_srv_init(&f->sm, cfg, nonce ? nonce : VEC_A_NONCE);
    sstp_srv_set_trust(&f->sm, &f->trust);
    return f;
}

static void fx_free(struct fx *f)
{
    sstp_srv_cleanup(&f->sm);
    free(f);
}

static bool transient(enum sstp_srv_state s)
{
    return s == SSTP_CALL_ABORT_IN_PROGRESS_1 || s == SSTP_CALL_ABORT_IN_PROGRESS_2 ||
           s == SSTP_CALL_DISCONNECT_IN_PROGRESS_1 || s == SSTP_CALL_DISCONNECT_IN_PROGRESS_2;
}

/* Runs one event and checks what must hold after any step. */
static void step(struct fx *f, const struct sstp_srv_ev *ev)
{
    memset(&f->a, 0xA5, sizeof(f->a)); /* the step must overwrite everything it reports */
    sstp_srv_step(&f->sm, ev, &f->a);
    assert_false(transient(sstp_srv_state(&f->sm)));
    assert_int_equal(f->a.timers_start & f->a.timers_stop & ~f->sm.timers_running, 0);
    assert_true(f->a.send_len <= sizeof(f->a.send));
    if (f->a.close)
        assert_int_equal(sstp_srv_state(&f->sm), SSTP_SRV_CLOSED);
    /* every sent message is well formed */
    size_t off = 0;
    while (off < f->a.send_len) {
        struct sstp_pkt p;
        size_t used;
        assert_int_equal(sstp_pkt_decode(&p, &used, f->a.send + off, f->a.send_len - off), SSTP_OK);
        struct sstp_ctrl c;
        assert_int_equal(sstp_ctrl_decode(&c, f->a.send + off, used), SSTP_OK);
        assert_int_equal(sstp_ctrl_check(&c), SSTP_OK);
        off += used;
    }
}

static void ev_simple(struct fx *f, enum sstp_srv_ev_type type)
{
    struct sstp_srv_ev ev = { .type = type };
    step(f, &ev);
}

static void ev_ctrl(struct fx *f, const uint8_t *p, size_t n)
{
    uint8_t *q = malloc(n);
    assert_non_null(q);
    memcpy(q, p, n);
    struct sstp_srv_ev ev = { .type = SSTP_SRV_EV_CTRL, .data = q, .len = n };
    step(f, &ev);
    memset(q, 0xDD, n); /* the FSM must not keep pointers into the event */
    free(q);
}
#define CTRL(f, m) ev_ctrl((f), (m), sizeof(m))

static void ev_timer(struct fx *f, enum sstp_srv_timer t)
{
    struct sstp_srv_ev ev = { .type = SSTP_SRV_EV_TIMER, .timer = t };
    step(f, &ev);
}

static void ev_keys(struct fx *f, const uint8_t *hlak)
{
    uint8_t *q = malloc(SSTP_HLAK_LEN);
    assert_non_null(q);
    memcpy(q, hlak, SSTP_HLAK_LEN);
    struct sstp_srv_ev ev = { .type = SSTP_SRV_EV_KEYS, .hlak = q };
    step(f, &ev);
    memset(q, 0xDD, SSTP_HLAK_LEN);
    free(q);
}

static void ev_frame(struct fx *f, enum sstp_srv_ev_type type, const uint8_t *p, size_t n)
{
    uint8_t *q = malloc(n);
    assert_non_null(q);
    memcpy(q, p, n);
    struct sstp_srv_ev ev = { .type = type, .data = q, .len = n };
    step(f, &ev);
    free(q);
}

/* What the last step sent: one control message (or none). */
struct sent {
    bool any;
    uint16_t type;
    bool has_si;
    uint8_t attrib_id;
    uint32_t status;
};

static struct sent sent_of(const struct fx *f)
{
    struct sent s = { 0 };
    if (f->a.send_len == 0)
        return s;
    struct sstp_ctrl c;
    assert_int_equal(sstp_ctrl_decode(&c, f->a.send, f->a.send_len), SSTP_OK);
    s.any = true;
    s.type = c.type;
    const struct sstp_attr *a = sstp_ctrl_find(&c, SSTP_ATTRIB_STATUS_INFO);
    struct sstp_status_info si;
    if (a && sstp_attr_status_info(&si, a) == SSTP_OK) {
        s.has_si = true;
        s.attrib_id = si.attrib_id;
        s.status = si.status;
    }
    return s;
}

static void assert_sent_abort(const struct fx *f, uint8_t attrib_id, uint32_t status)
{
    struct sent s = sent_of(f);
    assert_true(s.any);
    assert_int_equal(s.type, SSTP_MSG_CALL_ABORT);
    assert_true(s.has_si);
    assert_int_equal(s.attrib_id, attrib_id);
    assert_int_equal(s.status, status);
    assert_int_equal(f->a.send_len, 20);
}

static void assert_nothing_sent(const struct fx *f)
{
    assert_int_equal(f->a.send_len, 0);
}

/* ---- getting to each state ---- */

enum setup {
    ST_DISC, ST_REQ, ST_CPEND, ST_CONN, ST_ABORT_P, ST_ABORT_TO, ST_DACK_P, ST_DISC_TO, ST_CLOSED,
    ST_COUNT
};

static const enum sstp_srv_state setup_state[ST_COUNT] = {
    SSTP_SRV_CALL_DISCONNECTED,       SSTP_SRV_CONNECT_REQUEST_PENDING,
    SSTP_SRV_CALL_CONNECTED_PENDING,  SSTP_SRV_CALL_CONNECTED,
    SSTP_CALL_ABORT_PENDING,          SSTP_CALL_ABORT_TIMEOUT_PENDING,
    SSTP_CALL_DISCONNECT_ACK_PENDING, SSTP_CALL_DISCONNECT_TIMEOUT_PENDING,
    SSTP_SRV_CLOSED,
};

static struct fx *fx_in(enum setup st)
{
    struct fx *f = fx_new(NULL, NULL);
    if (st == ST_DISC)
        goto done;
    ev_simple(f, SSTP_SRV_EV_HTTP_DONE);
    if (st == ST_REQ)
        goto done;
    CTRL(f, M_REQUEST);
    ev_keys(f, VEC_A_HLAK);
    if (st == ST_CPEND)
        goto done;
    CTRL(f, VEC_A_CONNECTED);
    assert_int_equal(f->a.bind, SSTP_SRV_BIND_OK);
    switch (st) {
    case ST_ABORT_P:  CTRL(f, M_UNKNOWN); break;
    case ST_ABORT_TO: CTRL(f, M_ABORT); break;
    case ST_DACK_P:   ev_simple(f, SSTP_SRV_EV_LOCAL_DISCONNECT); break;
    case ST_DISC_TO:  CTRL(f, M_DISCONNECT); break;
    case ST_CLOSED:   ev_simple(f, SSTP_SRV_EV_TRANSPORT_LOST); break;
    default:          break;
    }
done:
    assert_int_equal(sstp_srv_state(&f->sm), setup_state[st]);
    return f;
}

/* ---- the event table for received control messages ---- */

enum msg { M_REQ, M_CONN, M_ABRT, M_DISC, M_DACK, M_EREQ, M_ERSP, M_CACK, M_CNAK, M_UNK, M_BAD, M_COUNT };

static void send_msg(struct fx *f, enum msg m)
{
    switch (m) {
    case M_REQ:  CTRL(f, M_REQUEST); break;
    case M_CONN: CTRL(f, VEC_A_CONNECTED); break;
    case M_ABRT: CTRL(f, M_ABORT); break;
    case M_DISC: CTRL(f, M_DISCONNECT); break;
    case M_DACK: CTRL(f, M_DISCONNECT_ACK); break;
    case M_EREQ: CTRL(f, M_ECHO_REQUEST); break;
    case M_ERSP: CTRL(f, M_ECHO_RESPONSE); break;
    case M_CACK: CTRL(f, VEC_A_ACK); break;
    case M_CNAK: CTRL(f, M_NAK); break;
    case M_UNK:  CTRL(f, M_UNKNOWN); break;
    default:     CTRL(f, M_MALFORMED); break;
    }
}

/* Expected outcomes. */
enum out {
    IGN,    /* ignored: same state, nothing sent, no timer change */
    NOP,    /* same state, nothing sent (hello may restart) */
    ACK,    /* CONNECT_ACK sent, PPP started → Call_Connected_Pending */
    BOK,    /* binding verified → Call_Connected */
    A5,     /* ABORT(0x02, 5) → Call_Abort_Pending */
    A7U,    /* ABORT(0x02, 7), rc E_CTRL_MSG_TYPE */
    A7B,    /* ABORT(0x02, 7), rc E_CTRL_ATTR_COUNT */
    ANS,    /* empty ABORT, T2 → Call_Abort_Timeout_Pending */
    T12,    /* peer's ABORT answers ours: stop T1, start T2 */
    DACK,   /* DISCONNECT_ACK, T2 → Call_Disconnect_Timeout_Pending */
    DACK2,  /* in Ack_Pending: stop disconnect T1, DISCONNECT_ACK, T2 */
    ECHO,   /* ECHO_RESPONSE, same state */
    CLEAN,  /* cleaned up at once: closed, nothing sent */
    SIL5,   /* before 200: closed silently, rc E_FSM_STATE */
    SILU,   /* before 200: closed silently, rc E_CTRL_MSG_TYPE */
    SILB,   /* before 200: closed silently, rc E_CTRL_ATTR_COUNT */
    SILP,   /* before 200: closed silently, rc E_FSM_PEER_ABORT */
};

/*                     REQ   CONN  ABRT  DISC   DACK   EREQ  ERSP  CACK  CNAK  UNK   BAD */
static const enum out table[ST_COUNT][M_COUNT] = {
    [ST_DISC]     = { SIL5, SIL5, SILP, CLEAN, SIL5,  SIL5, SIL5, SIL5, SIL5, SILU, SILB },
    [ST_REQ]      = { ACK,  A5,   ANS,  DACK,  A5,    A5,   A5,   A5,   A5,   A7U,  A7B },
    [ST_CPEND]    = { A5,   BOK,  ANS,  DACK,  A5,    ECHO, NOP,  A5,   A5,   A7U,  A7B },
    [ST_CONN]     = { A5,   A5,   ANS,  DACK,  A5,    ECHO, NOP,  A5,   A5,   A7U,  A7B },
    [ST_ABORT_P]  = { IGN,  IGN,  T12,  IGN,   IGN,   IGN,  IGN,  IGN,  IGN,  IGN,  IGN },
    [ST_ABORT_TO] = { IGN,  IGN,  IGN,  IGN,   IGN,   IGN,  IGN,  IGN,  IGN,  IGN,  IGN },
    [ST_DACK_P]   = { IGN,  IGN,  ANS,  DACK2, CLEAN, IGN,  IGN,  IGN,  IGN,  IGN,  IGN },
    [ST_DISC_TO]  = { IGN,  IGN,  IGN,  IGN,   IGN,   IGN,  IGN,  IGN,  IGN,  IGN,  IGN },
    [ST_CLOSED]   = { IGN,  IGN,  IGN,  IGN,   IGN,   IGN,  IGN,  IGN,  IGN,  IGN,  IGN },
};

static void check_cell(enum setup st, enum msg m)
{
    struct fx *f = fx_in(st);
    enum sstp_srv_state before = sstp_srv_state(&f->sm);
    unsigned running = f->sm.timers_running;
    send_msg(f, m);
    enum sstp_srv_state after = sstp_srv_state(&f->sm);
    struct sent s = sent_of(f);
    enum out o = table[st][m];
    print_message("cell %s x %d -> %s\n", sstp_srv_state_str(before), (int)m, sstp_srv_state_str(after));

    if (o != ACK)
        assert_false(f->a.ppp_start);
    if (o != BOK)
        assert_int_equal(f->a.bind, SSTP_SRV_BIND_NONE);

    switch (o) {
    case IGN:
        assert_int_equal(after, before);
        assert_nothing_sent(f);
        assert_int_equal(f->a.timers_start, 0);
        assert_int_equal(f->a.timers_stop, 0);
        assert_false(f->a.close);
        assert_int_equal(f->a.rc, SSTP_OK);
        assert_int_equal(f->sm.timers_running, running);
        break;
    case NOP:
        assert_int_equal(after, before);
        assert_nothing_sent(f);
        assert_false(f->a.close);
        break;
    case ACK:
        assert_int_equal(after, SSTP_SRV_CALL_CONNECTED_PENDING);
        assert_int_equal(s.type, SSTP_MSG_CALL_CONNECT_ACK);
        assert_true(f->a.ppp_start);
        assert_true(f->a.timers_start & TB(SSTP_SRV_T_NEGOTIATION));
        break;
    case BOK:
        assert_int_equal(after, SSTP_SRV_CALL_CONNECTED);
        assert_nothing_sent(f);
        assert_int_equal(f->a.bind, SSTP_SRV_BIND_OK);
        break;
    case A5:
    case A7U:
    case A7B:
        assert_int_equal(after, SSTP_CALL_ABORT_PENDING);
        assert_sent_abort(f, SSTP_ATTRIB_STATUS_INFO,
                          o == A5 ? SSTP_STATUS_UNACCEPTED_FRAME_RECEIVED : SSTP_STATUS_INVALID_FRAME_RECEIVED);
        assert_int_equal(f->a.rc, o == A5 ? SSTP_E_FSM_STATE
                                          : o == A7U ? SSTP_E_CTRL_MSG_TYPE : SSTP_E_CTRL_ATTR_COUNT);
        assert_int_equal(f->a.timers_start, TB(SSTP_SRV_T_ABORT_1));
        assert_int_equal(f->a.timer_ms[SSTP_SRV_T_ABORT_1], 3000);
        assert_int_equal(f->a.timers_stop, running);
        assert_false(f->a.close);
        break;
    case ANS:
        assert_int_equal(after, SSTP_CALL_ABORT_TIMEOUT_PENDING);
        assert_int_equal(f->a.send_len, sizeof(S_ABORT_EMPTY));
        assert_memory_equal(f->a.send, S_ABORT_EMPTY, sizeof(S_ABORT_EMPTY));
        assert_int_equal(f->a.rc, SSTP_E_FSM_PEER_ABORT);
        assert_int_equal(f->a.timers_start, TB(SSTP_SRV_T_ABORT_2));
        assert_int_equal(f->a.timer_ms[SSTP_SRV_T_ABORT_2], 1000);
        assert_int_equal(f->a.timers_stop, running);
        assert_true(f->a.peer_status_valid);
        assert_int_equal(f->a.peer_status, SSTP_STATUS_INVALID_FRAME_RECEIVED);
        break;
    case T12:
        assert_int_equal(after, SSTP_CALL_ABORT_TIMEOUT_PENDING);
        assert_nothing_sent(f);
        assert_int_equal(f->a.timers_stop, TB(SSTP_SRV_T_ABORT_1));
        assert_int_equal(f->a.timers_start, TB(SSTP_SRV_T_ABORT_2));
        assert_int_equal(f->a.rc, SSTP_OK);
        break;
    case DACK:
    case DACK2:
        assert_int_equal(after, SSTP_CALL_DISCONNECT_TIMEOUT_PENDING);
        assert_int_equal(s.type, SSTP_MSG_CALL_DISCONNECT_ACK);
        assert_int_equal(f->a.send_len, 8);
        assert_int_equal(f->a.timers_start, TB(SSTP_SRV_T_DISCONNECT_2));
        assert_int_equal(f->a.timer_ms[SSTP_SRV_T_DISCONNECT_2], 1000);
        if (o == DACK2)
            assert_int_equal(f->a.timers_stop, TB(SSTP_SRV_T_DISCONNECT_1));
        else
            assert_int_equal(f->a.timers_stop, running);
        assert_true(f->a.peer_status_valid);
        assert_int_equal(f->a.peer_attrib_id, 0);
        assert_int_equal(f->a.rc, SSTP_OK);
        break;
    case ECHO:
        assert_int_equal(after, before);
        assert_int_equal(s.type, SSTP_MSG_ECHO_RESPONSE);
        assert_int_equal(f->a.send_len, 8);
        break;
    case CLEAN:
        assert_int_equal(after, SSTP_SRV_CLOSED);
        assert_nothing_sent(f);
        assert_true(f->a.close);
        assert_int_equal(f->a.rc, SSTP_OK);
        break;
    case SIL5:
    case SILU:
    case SILB:
    case SILP:
        assert_int_equal(after, SSTP_SRV_CLOSED);
        assert_nothing_sent(f);
        assert_true(f->a.close);
        assert_false(f->a.ppp_stop); /* PPP never started */
        assert_int_equal(f->a.rc, o == SIL5 ? SSTP_E_FSM_STATE
                                  : o == SILU ? SSTP_E_CTRL_MSG_TYPE
                                  : o == SILB ? SSTP_E_CTRL_ATTR_COUNT : SSTP_E_FSM_PEER_ABORT);
        break;
    }
    /* MS-SSTP 3.1.2.3: anything received while connected restarts hello */
    if (before == SSTP_SRV_CALL_CONNECTED && after == SSTP_SRV_CALL_CONNECTED)
        assert_true(f->a.timers_start & TB(SSTP_SRV_T_HELLO));
    fx_free(f);
}

static void test_event_table_every_cell(void **state)
{
    (void)state;
    for (int st = 0; st < ST_COUNT; st++)
        for (int m = 0; m < M_COUNT; m++)
            check_cell((enum setup)st, (enum msg)m);
}

/* ---- every non-message event in every state ---- */

enum oev { E_HTTP, E_KEYS, E_TNEG, E_THELLO, E_TAB1, E_TAB2, E_TD1, E_TD2, E_PPPD, E_LOCAL, E_LOST,
           E_COUNT };

struct ores {
    int next;          /* -1: unchanged */
    uint16_t sent;     /* message type, 0 = nothing */
    bool close;
};

#define U { -1, 0, false }
#define CL { SSTP_SRV_CLOSED, 0, true }
#define DSC { SSTP_CALL_DISCONNECT_ACK_PENDING, SSTP_MSG_CALL_DISCONNECT, false }
#define AB8 { SSTP_CALL_ABORT_PENDING, SSTP_MSG_CALL_ABORT, false }

static const struct ores ev_table[ST_COUNT][E_COUNT] = {
    /*               HTTP  KEYS TNEG THELLO TAB1 TAB2 TD1 TD2 PPPD LOCAL LOST */
    [ST_DISC]     = { { SSTP_SRV_CONNECT_REQUEST_PENDING, 0, false }, U, U, U, U, U, U, U, CL, CL, CL },
    [ST_REQ]      = { U, U, AB8, U, U, U, U, U, DSC, DSC, CL },
    /* fx_in() gave CPEND and CONN their keys: KEYS there is a second authentication */
    [ST_CPEND]    = { U, AB8, AB8, U, U, U, U, U, DSC, DSC, CL },
    [ST_CONN]     = { U, AB8, U, { -1, SSTP_MSG_ECHO_REQUEST, false }, U, U, U, U, DSC, DSC, CL },
    [ST_ABORT_P]  = { U, U, U, U, CL, U, U, U, U, U, CL },
    [ST_ABORT_TO] = { U, U, U, U, U, CL, U, U, U, U, CL },
    [ST_DACK_P]   = { U, U, U, U, U, U, CL, U, U, U, CL },
    [ST_DISC_TO]  = { U, U, U, U, U, U, U, CL, U, U, CL },
    [ST_CLOSED]   = { U, U, U, U, U, U, U, U, U, U, U },
};

static void fire(struct fx *f, enum oev e)
{
    switch (e) {
    case E_HTTP:   ev_simple(f, SSTP_SRV_EV_HTTP_DONE); break;
    case E_KEYS:   ev_keys(f, VEC_A_HLAK); break;
    case E_TNEG:   ev_timer(f, SSTP_SRV_T_NEGOTIATION); break;
    case E_THELLO: ev_timer(f, SSTP_SRV_T_HELLO); break;
    case E_TAB1:   ev_timer(f, SSTP_SRV_T_ABORT_1); break;
    case E_TAB2:   ev_timer(f, SSTP_SRV_T_ABORT_2); break;
    case E_TD1:    ev_timer(f, SSTP_SRV_T_DISCONNECT_1); break;
    case E_TD2:    ev_timer(f, SSTP_SRV_T_DISCONNECT_2); break;
    case E_PPPD:   ev_simple(f, SSTP_SRV_EV_PPPD_EXITED); break;
    case E_LOCAL:  ev_simple(f, SSTP_SRV_EV_LOCAL_DISCONNECT); break;
    default:       ev_simple(f, SSTP_SRV_EV_TRANSPORT_LOST); break;
    }
}

static void test_other_events_every_state(void **state)
{
    (void)state;
    for (int st = 0; st < ST_COUNT; st++) {
        for (int e = 0; e < E_COUNT; e++) {
            struct fx *f = fx_in((enum setup)st);
            enum sstp_srv_state before = sstp_srv_state(&f->sm);
            fire(f, (enum oev)e);
            const struct ores *r = &ev_table[st][e];
            print_message("state %s event %d\n", sstp_srv_state_str(before), e);
            assert_int_equal(sstp_srv_state(&f->sm), r->next < 0 ? before : (enum sstp_srv_state)r->next);
            struct sent s = sent_of(f);
            assert_int_equal(s.type, r->sent);
            assert_int_equal(f->a.close, r->close);
            if (r->next < 0 && r->sent == 0) {
                /* ignored events change nothing (a stale timer is not restarted) */
                assert_int_equal(f->a.timers_start, 0);
                assert_int_equal(f->a.timers_stop, 0);
                assert_int_equal(f->a.frame, SSTP_SRV_FRAME_NONE);
            }
            fx_free(f);
        }
    }
}

/* ---- call setup ---- */

static void test_setup_exact_bytes_and_timers(void **state)
{
    (void)state;
    struct sstp_srv_cfg cfg;
    sstp_srv_cfg_default(&cfg);
    assert_int_equal(cfg.negotiation_ms, 60000);
    assert_int_equal(cfg.hello_ms, 60000);
    assert_int_equal(cfg.abort_t1_ms, 3000);
    assert_int_equal(cfg.abort_t2_ms, 1000);
    assert_int_equal(cfg.disconnect_t1_ms, 5000);
    assert_int_equal(cfg.disconnect_t2_ms, 1000);
    assert_int_equal(cfg.hash_bitmask, 0x03);
    assert_int_equal(cfg.nak_retries, 3);
    cfg.hash_bitmask = SSTP_HASH_BIT_SHA256; /* so the ACK is the published one */
    cfg.negotiation_ms = 1234;
    cfg.hello_ms = 4321;

    struct fx *f = fx_new(&cfg, VEC_A_NONCE);
    assert_int_equal(sstp_srv_state(&f->sm), SSTP_SRV_CALL_DISCONNECTED);
    ev_simple(f, SSTP_SRV_EV_HTTP_DONE);
    assert_int_equal(sstp_srv_state(&f->sm), SSTP_SRV_CONNECT_REQUEST_PENDING);
    assert_int_equal(f->a.timers_start, TB(SSTP_SRV_T_NEGOTIATION));
    assert_int_equal(f->a.timer_ms[SSTP_SRV_T_NEGOTIATION], 1234);
    assert_nothing_sent(f);

    CTRL(f, M_REQUEST);
    assert_int_equal(f->a.send_len, sizeof(VEC_A_ACK));
    assert_memory_equal(f->a.send, VEC_A_ACK, sizeof(VEC_A_ACK));
    assert_true(f->a.ppp_start);
    assert_int_equal(f->a.timers_start, TB(SSTP_SRV_T_NEGOTIATION)); /* restarted */
    assert_int_equal(f->a.timer_ms[SSTP_SRV_T_NEGOTIATION], 1234);

    ev_keys(f, VEC_A_HLAK);
    assert_nothing_sent(f);
    assert_int_equal(f->a.bind, SSTP_SRV_BIND_NONE);

    CTRL(f, VEC_A_CONNECTED);
    assert_int_equal(f->a.bind, SSTP_SRV_BIND_OK);
    assert_int_equal(f->a.bind_rc, SSTP_OK);
    /* the hash the client sent and a trusted one matched (the second) */
    assert_int_equal(f->a.bind_hash, SSTP_BIND_HASH_SHA256);
    assert_memory_equal(f->a.bind_cert_hash, VEC_A_CERT_SHA256, 32);
    assert_int_equal(sstp_srv_state(&f->sm), SSTP_SRV_CALL_CONNECTED);
    assert_int_equal(f->a.timers_stop, TB(SSTP_SRV_T_NEGOTIATION));
    assert_int_equal(f->a.timers_start, TB(SSTP_SRV_T_HELLO));
    assert_int_equal(f->a.timer_ms[SSTP_SRV_T_HELLO], 4321);
    assert_int_equal(sstp_srv_rc(&f->sm), SSTP_OK);
    /* MS-SSTP 3.3.5.2.3 step 8: nonce and HLAK wiped */
    static const uint8_t zero[32];
    assert_memory_equal(f->sm.nonce, zero, 32);
    assert_memory_equal(f->sm.hlak, zero, 32);
    fx_free(f);
}

static void test_sha1_binding(void **state)
{
    (void)state;
    struct fx *f = fx_new(NULL, VEC_B_NONCE);
    ev_simple(f, SSTP_SRV_EV_HTTP_DONE);
    CTRL(f, M_REQUEST);
    assert_int_equal(f->a.send[15], 0x03); /* default: both hashes advertised */
    ev_keys(f, VEC_B_HLAK);
    CTRL(f, VEC_B_CONNECTED);
    assert_int_equal(f->a.bind, SSTP_SRV_BIND_OK);
    assert_int_equal(sstp_srv_state(&f->sm), SSTP_SRV_CALL_CONNECTED);
    static const uint8_t zero[12];
    assert_int_equal(f->a.bind_hash, SSTP_BIND_HASH_SHA1);
    assert_memory_equal(f->a.bind_cert_hash, VEC_B_CERT_SHA1, 20);
    assert_memory_equal(f->a.bind_cert_hash + 20, zero, 12); /* not the client's padding */
    /* the next step reports no binding and no hash */
    ev_frame(f, SSTP_SRV_EV_PPP_FROM_PPPD, F_LCP, sizeof(F_LCP));
    assert_int_equal(f->a.bind_hash, 0);
    assert_memory_equal(f->a.bind_cert_hash, zero, 12);
    fx_free(f);
}

static void test_zero_bitmask_becomes_sha256(void **state)
{
    (void)state;
    struct sstp_srv_cfg cfg;
    sstp_srv_cfg_default(&cfg);
    cfg.hash_bitmask = 0xF0; /* no known bit */
    struct fx *f = fx_new(&cfg, VEC_A_NONCE);
    ev_simple(f, SSTP_SRV_EV_HTTP_DONE);
    CTRL(f, M_REQUEST);
    assert_int_equal(f->a.send[15], SSTP_HASH_BIT_SHA256);
    fx_free(f);
}

/* ---- deferral: CALL_CONNECTED before pppd reported the keys (MS-SSTP 3.3.5.2.3) ---- */

static struct fx *fx_cpend_nokeys(const uint8_t *nonce, const struct sstp_srv_cfg *cfg)
{
    struct fx *f = fx_new(cfg, nonce);
    ev_simple(f, SSTP_SRV_EV_HTTP_DONE);
    CTRL(f, M_REQUEST);
    assert_int_equal(sstp_srv_state(&f->sm), SSTP_SRV_CALL_CONNECTED_PENDING);
    return f;
}

static void test_deferral_keys_later(void **state)
{
    (void)state;
    struct fx *f = fx_cpend_nokeys(VEC_A_NONCE, NULL);
    CTRL(f, VEC_A_CONNECTED);
    assert_int_equal(sstp_srv_state(&f->sm), SSTP_SRV_CALL_CONNECTED_PENDING);
    assert_int_equal(f->a.bind, SSTP_SRV_BIND_NONE);
    assert_nothing_sent(f);
    assert_int_equal(f->a.timers_start | f->a.timers_stop, 0);
    /* PPP control frames still flow while waiting; data does not */
    ev_frame(f, SSTP_SRV_EV_PPP_FROM_PPPD, F_LCP, sizeof(F_LCP));
    assert_int_equal(f->a.frame, SSTP_SRV_FRAME_FORWARD);
    ev_frame(f, SSTP_SRV_EV_PPP_FROM_CLIENT, F_IPV4, sizeof(F_IPV4));
    assert_int_equal(f->a.frame, SSTP_SRV_FRAME_DROP);

    ev_keys(f, VEC_A_HLAK);
    assert_int_equal(f->a.bind, SSTP_SRV_BIND_OK);
    assert_int_equal(f->a.bind_hash, SSTP_BIND_HASH_SHA256); /* from the kept message */
    assert_memory_equal(f->a.bind_cert_hash, VEC_A_CERT_SHA256, 32);
    assert_int_equal(sstp_srv_state(&f->sm), SSTP_SRV_CALL_CONNECTED);
    assert_int_equal(f->a.timers_stop, TB(SSTP_SRV_T_NEGOTIATION));
    assert_int_equal(f->a.timers_start, TB(SSTP_SRV_T_HELLO));
    ev_frame(f, SSTP_SRV_EV_PPP_FROM_CLIENT, F_IPV4, sizeof(F_IPV4));
    assert_int_equal(f->a.frame, SSTP_SRV_FRAME_FORWARD);
    /* a second authentication on the bound call aborts it */
    ev_keys(f, VEC_B_HLAK);
    assert_int_equal(f->a.bind, SSTP_SRV_BIND_FAILED);
    assert_int_equal(f->a.bind_rc, SSTP_E_BIND_REAUTH);
    assert_int_equal(sstp_srv_state(&f->sm), SSTP_CALL_ABORT_PENDING);
    fx_free(f);
}

/* ---- one authentication per call: the binding gates PPP ---- */

static void test_reauth_second_keys(void **state)
{
    (void)state;
    /* while the binding waits for CALL_CONNECTED */
    struct fx *f = fx_cpend_nokeys(VEC_A_NONCE, NULL);
    ev_keys(f, VEC_A_HLAK);
    assert_int_equal(f->a.bind, SSTP_SRV_BIND_NONE);
    ev_keys(f, VEC_B_HLAK);
    assert_int_equal(f->a.bind, SSTP_SRV_BIND_FAILED);
    assert_int_equal(f->a.bind_rc, SSTP_E_BIND_REAUTH);
    assert_int_equal(f->a.rc, SSTP_E_BIND_REAUTH);
    assert_sent_abort(f, SSTP_ATTRIB_STATUS_INFO, SSTP_STATUS_UNACCEPTED_FRAME_RECEIVED);
    assert_true(f->a.ppp_stop); /* at once, not after the abort timer */
    assert_int_equal(sstp_srv_state(&f->sm), SSTP_CALL_ABORT_PENDING);
    /* the CALL_CONNECTED that would have matched the first keys is too late */
    CTRL(f, VEC_A_CONNECTED);
    assert_int_equal(f->a.bind, SSTP_SRV_BIND_NONE);
    assert_int_equal(sstp_srv_state(&f->sm), SSTP_CALL_ABORT_PENDING);
    assert_int_equal(sstp_srv_rc(&f->sm), SSTP_E_BIND_REAUTH);
    fx_free(f);

    /* after the binding: a refused report counts as a second one too */
    f = fx_in(ST_CONN);
    struct sstp_srv_ev ev = { .type = SSTP_SRV_EV_KEYS_REFUSED, .rc = SSTP_E_BIND_NO_KEYS };
    step(f, &ev);
    assert_int_equal(f->a.bind_rc, SSTP_E_BIND_REAUTH);
    assert_true(f->a.ppp_stop);
    ev_frame(f, SSTP_SRV_EV_PPP_FROM_CLIENT, F_IPV4, sizeof(F_IPV4));
    assert_int_equal(f->a.frame, SSTP_SRV_FRAME_DROP);
    fx_free(f);
}

static void test_reauth_lcp_renegotiation(void **state)
{
    (void)state;
    const uint8_t *reqs[] = { F_LCP_CONFREQ, F_LCP_CONFREQ_NOACF, F_LCP_CONFACK, F_LCP_CONFNAK_NOACF,
                              F_LCP_CONFREJ };
    const size_t lens[] = { sizeof(F_LCP_CONFREQ), sizeof(F_LCP_CONFREQ_NOACF), sizeof(F_LCP_CONFACK),
                            sizeof(F_LCP_CONFNAK_NOACF), sizeof(F_LCP_CONFREJ) };
    for (int i = 0; i < 5; i++) {
        /* bound call: a Configure-Request from the client never reaches pppd */
        struct fx *f = fx_in(ST_CONN);
        ev_frame(f, SSTP_SRV_EV_PPP_FROM_CLIENT, reqs[i], lens[i]);
        assert_int_equal(f->a.frame, SSTP_SRV_FRAME_DROP);
        assert_int_equal(f->a.bind, SSTP_SRV_BIND_FAILED);
        assert_int_equal(f->a.bind_rc, SSTP_E_BIND_REAUTH);
        assert_sent_abort(f, SSTP_ATTRIB_STATUS_INFO, SSTP_STATUS_UNACCEPTED_FRAME_RECEIVED);
        assert_true(f->a.ppp_stop);
        ev_frame(f, SSTP_SRV_EV_PPP_FROM_CLIENT, F_IPV4, sizeof(F_IPV4));
        assert_int_equal(f->a.frame, SSTP_SRV_FRAME_DROP);
        fx_free(f);

        /* authenticated, binding pending: the same */
        f = fx_in(ST_CPEND);
        ev_frame(f, SSTP_SRV_EV_PPP_FROM_CLIENT, reqs[i], lens[i]);
        assert_int_equal(f->a.bind_rc, SSTP_E_BIND_REAUTH);
        assert_int_equal(sstp_srv_state(&f->sm), SSTP_CALL_ABORT_PENDING);
        fx_free(f);

        /* before the authentication LCP negotiates freely */
        f = fx_cpend_nokeys(VEC_A_NONCE, NULL);
        ev_frame(f, SSTP_SRV_EV_PPP_FROM_CLIENT, reqs[i], lens[i]);
        assert_int_equal(f->a.frame, SSTP_SRV_FRAME_FORWARD);
        assert_int_equal(f->a.bind, SSTP_SRV_BIND_NONE);
        assert_nothing_sent(f);
        fx_free(f);

        /* pppd's own Configure-Request is not the client's renegotiation */
        f = fx_in(ST_CONN);
        ev_frame(f, SSTP_SRV_EV_PPP_FROM_PPPD, reqs[i], lens[i]);
        assert_int_equal(f->a.frame, SSTP_SRV_FRAME_FORWARD);
        assert_nothing_sent(f);
        fx_free(f);
    }
    /* other LCP codes and look-alikes do not count */
    static const uint8_t echo_noacf[] = { 0xC0, 0x21, 0x09, 0x01, 0x00, 0x08, 0, 0, 0, 0 };
    static const uint8_t short_lcp[] = { 0xFF, 0x03, 0xC0, 0x21 };
    static const uint8_t ipcp_req[] = { 0xFF, 0x03, 0x80, 0x21, 0x01, 0x01, 0x00, 0x04 };
    static const uint8_t term_ack[] = { 0xFF, 0x03, 0xC0, 0x21, 0x06, 0x01, 0x00, 0x04 };
    static const uint8_t code_zero[] = { 0xC0, 0x21, 0x00, 0x01, 0x00, 0x04 };
    assert_false(sstp_ppp_frame_is_lcp_config(echo_noacf, sizeof(echo_noacf)));
    assert_false(sstp_ppp_frame_is_lcp_config(short_lcp, sizeof(short_lcp)));
    assert_false(sstp_ppp_frame_is_lcp_config(ipcp_req, sizeof(ipcp_req)));
    /* a Terminate-Ack ends a normal teardown; pppd's plugin refuses the
     * renegotiation one could start, and the client's Configure packets
     * that must follow are caught here */
    assert_false(sstp_ppp_frame_is_lcp_config(term_ack, sizeof(term_ack)));
    assert_false(sstp_ppp_frame_is_lcp_config(code_zero, sizeof(code_zero)));
    assert_false(sstp_ppp_frame_is_lcp_config(NULL, 0));
    assert_true(sstp_ppp_frame_is_lcp_config(F_LCP_CONFREQ, sizeof(F_LCP_CONFREQ)));
    assert_true(sstp_ppp_frame_is_lcp_config(F_LCP_CONFREJ, sizeof(F_LCP_CONFREJ)));
}

static void test_keys_refused(void **state)
{
    (void)state;
    const enum sstp_rc why[] = { SSTP_E_BIND_NO_KEYS, SSTP_E_BIND_METHOD };
    for (int i = 0; i < 2; i++) {
        /* refused before or after the client's CALL_CONNECTED: never verified */
        for (int early = 0; early < 2; early++) {
            struct fx *f = fx_cpend_nokeys(VEC_A_NONCE, NULL);
            if (early)
                CTRL(f, VEC_A_CONNECTED);
            struct sstp_srv_ev ev = { .type = SSTP_SRV_EV_KEYS_REFUSED, .rc = why[i] };
            step(f, &ev);
            assert_int_equal(f->a.bind, SSTP_SRV_BIND_FAILED);
            assert_int_equal(f->a.bind_rc, why[i]);
            assert_int_equal(f->a.rc, why[i]);
            assert_sent_abort(f, SSTP_ATTRIB_CRYPTO_BINDING, SSTP_STATUS_VALUE_NOT_SUPPORTED);
            assert_true(f->a.ppp_stop);
            assert_int_equal(sstp_srv_state(&f->sm), SSTP_CALL_ABORT_PENDING);
            CTRL(f, VEC_A_CONNECTED);
            assert_int_equal(f->a.bind, SSTP_SRV_BIND_NONE);
            assert_int_equal(sstp_srv_rc(&f->sm), why[i]);
            fx_free(f);
        }
    }
    /* SSTP_OK is not a reason: ignored */
    struct fx *f = fx_cpend_nokeys(VEC_A_NONCE, NULL);
    struct sstp_srv_ev ok = { .type = SSTP_SRV_EV_KEYS_REFUSED, .rc = SSTP_OK };
    step(f, &ok);
    assert_int_equal(f->a.bind, SSTP_SRV_BIND_NONE);
    assert_int_equal(sstp_srv_state(&f->sm), SSTP_SRV_CALL_CONNECTED_PENDING);
    fx_free(f);
}

static void test_deferral_keys_never(void **state)
{
    (void)state;
    struct fx *f = fx_cpend_nokeys(VEC_A_NONCE, NULL);
    CTRL(f, VEC_A_CONNECTED);
    ev_timer(f, SSTP_SRV_T_NEGOTIATION);
    assert_sent_abort(f, SSTP_ATTRIB_STATUS_INFO, SSTP_STATUS_NEGOTIATION_TIMEOUT);
    assert_int_equal(f->a.bind, SSTP_SRV_BIND_FAILED);
    assert_int_equal(f->a.bind_rc, SSTP_E_FSM_TIMEOUT);
    assert_int_equal(f->a.rc, SSTP_E_FSM_TIMEOUT);
    assert_int_equal(sstp_srv_state(&f->sm), SSTP_CALL_ABORT_PENDING);
    /* keys arriving now change nothing */
    ev_keys(f, VEC_A_HLAK);
    assert_int_equal(f->a.bind, SSTP_SRV_BIND_NONE);
    assert_int_equal(sstp_srv_state(&f->sm), SSTP_CALL_ABORT_PENDING);
    /* T1 expiry cleans up and hangs up pppd */
    ev_timer(f, SSTP_SRV_T_ABORT_1);
    assert_true(f->a.close);
    assert_true(f->a.ppp_stop);
    assert_int_equal(f->a.rc, SSTP_E_FSM_TIMEOUT);
    assert_int_equal(sstp_srv_rc(&f->sm), SSTP_E_FSM_TIMEOUT);
    fx_free(f);
}

static void test_negotiation_timeout_without_connected(void **state)
{
    (void)state;
    struct fx *f = fx_cpend_nokeys(VEC_A_NONCE, NULL);
    ev_timer(f, SSTP_SRV_T_NEGOTIATION);
    assert_sent_abort(f, SSTP_ATTRIB_STATUS_INFO, SSTP_STATUS_NEGOTIATION_TIMEOUT);
    assert_int_equal(f->a.bind, SSTP_SRV_BIND_NONE); /* there was nothing to bind */
    fx_free(f);
}

static void test_deferral_latest_message_kept(void **state)
{
    (void)state;
    struct fx *f = fx_cpend_nokeys(VEC_A_NONCE, NULL);
    uint8_t bad[112];
    memcpy(bad, VEC_A_CONNECTED, sizeof(bad));
    bad[100] ^= 0x01; /* MAC */
    CTRL(f, bad);
    CTRL(f, VEC_A_CONNECTED);
    ev_keys(f, VEC_A_HLAK);
    assert_int_equal(f->a.bind, SSTP_SRV_BIND_OK);
    fx_free(f);

    f = fx_cpend_nokeys(VEC_A_NONCE, NULL);
    CTRL(f, VEC_A_CONNECTED);
    CTRL(f, bad);
    ev_keys(f, VEC_A_HLAK);
    assert_int_equal(f->a.bind, SSTP_SRV_BIND_FAILED);
    assert_int_equal(f->a.bind_rc, SSTP_E_BIND_MAC);
    fx_free(f);
}

static void test_deferral_failure_at_keys(void **state)
{
    (void)state;
    struct fx *f = fx_cpend_nokeys(VEC_A_NONCE, NULL);
    CTRL(f, VEC_A_CONNECTED);
    ev_keys(f, VEC_B_HLAK); /* wrong keys */
    assert_int_equal(f->a.bind, SSTP_SRV_BIND_FAILED);
    assert_int_equal(f->a.bind_rc, SSTP_E_BIND_MAC);
    assert_int_equal(f->a.rc, SSTP_E_BIND_MAC);
    assert_sent_abort(f, SSTP_ATTRIB_CRYPTO_BINDING, SSTP_STATUS_VALUE_NOT_SUPPORTED);
    assert_int_equal(sstp_srv_state(&f->sm), SSTP_CALL_ABORT_PENDING);
    assert_true(f->a.timers_stop & TB(SSTP_SRV_T_NEGOTIATION));
    fx_free(f);
}

/* ---- binding failures (MS-SSTP 3.3.5.2.3) ---- */

static void bind_fail_case(const uint8_t *nonce, const struct sstp_srv_cfg *cfg, bool no_trust,
                           const uint8_t *hlak, const uint8_t *msg, size_t msg_len,
                           enum sstp_rc want, uint8_t attrib, uint32_t status)
{
    struct fx *f = fx_cpend_nokeys(nonce, cfg);
    if (no_trust)
        sstp_srv_set_trust(&f->sm, NULL);
    ev_keys(f, hlak);
    ev_ctrl(f, msg, msg_len);
    assert_int_equal(f->a.bind, SSTP_SRV_BIND_FAILED);
    assert_int_equal(f->a.bind_rc, want);
    assert_int_equal(f->a.rc, want);
    assert_int_equal(sstp_srv_rc(&f->sm), want);
    assert_sent_abort(f, attrib, status);
    assert_true(f->a.ppp_stop); /* nothing more crosses: pppd is hung up at once */
    assert_int_equal(sstp_srv_state(&f->sm), SSTP_CALL_ABORT_PENDING);
    ev_frame(f, SSTP_SRV_EV_PPP_FROM_PPPD, F_LCP, sizeof(F_LCP));
    assert_int_equal(f->a.frame, SSTP_SRV_FRAME_DROP);
    /* the clean-up closes, and does not hang pppd up a second time */
    ev_timer(f, SSTP_SRV_T_ABORT_1);
    assert_true(f->a.close);
    assert_false(f->a.ppp_stop);
    fx_free(f);
}

static void test_binding_failures(void **state)
{
    (void)state;
    const uint8_t a9 = SSTP_ATTRIB_STATUS_INFO, a4 = SSTP_ATTRIB_CRYPTO_BINDING;
    const uint32_t s9 = SSTP_STATUS_ATTRIB_NOT_SUPPORTED_IN_MSG, s4 = SSTP_STATUS_VALUE_NOT_SUPPORTED;

    /* wrong HLAK → MAC */
    bind_fail_case(VEC_A_NONCE, NULL, false, VEC_B_HLAK, VEC_A_CONNECTED, 112, SSTP_E_BIND_MAC, a4, s4);
    /* our nonce differs */
    bind_fail_case(VEC_B_NONCE, NULL, false, VEC_A_HLAK, VEC_A_CONNECTED, 112, SSTP_E_BIND_NONCE, a4, s4);
    /* certificate hash not trusted / no trust at all */
    bind_fail_case(VEC_B_NONCE, NULL, true, VEC_B_HLAK, VEC_B_CONNECTED, 112, SSTP_E_BIND_CERT_HASH, a4, s4);
    /* SHA-256 chosen but only SHA-1 advertised; SHA-1 chosen, only SHA-256 */
    struct sstp_srv_cfg cfg;
    sstp_srv_cfg_default(&cfg);
    cfg.hash_bitmask = SSTP_HASH_BIT_SHA1;
    bind_fail_case(VEC_A_NONCE, &cfg, false, VEC_A_HLAK, VEC_A_CONNECTED, 112, SSTP_E_BIND_HASH_PROTO, a4, s4);
    cfg.hash_bitmask = SSTP_HASH_BIT_SHA256;
    bind_fail_case(VEC_B_NONCE, &cfg, false, VEC_B_HLAK, VEC_B_CONNECTED, 112, SSTP_E_BIND_HASH_PROTO, a4, s4);
    /* hash protocol byte 3 */
    uint8_t m[112];
    memcpy(m, VEC_A_CONNECTED, 112);
    m[15] = 0x03;
    bind_fail_case(VEC_A_NONCE, NULL, false, VEC_A_HLAK, m, 112, SSTP_E_BIND_HASH_PROTO, a4, s4);

    /* structure (step 2): no attribute; a Crypto Binding Request instead of
     * a Crypto Binding; a 100-byte binding attribute */
    static const uint8_t empty[] = { 0x10, 0x01, 0x00, 0x08, 0x00, 0x04, 0x00, 0x00 };
    bind_fail_case(VEC_A_NONCE, NULL, false, VEC_A_HLAK, empty, sizeof(empty), SSTP_E_BIND_STRUCT, a9, s9);
    memcpy(m, VEC_A_CONNECTED, 112);
    m[9] = SSTP_ATTRIB_CRYPTO_BINDING_REQ;
    bind_fail_case(VEC_A_NONCE, NULL, false, VEC_A_HLAK, m, 112, SSTP_E_BIND_STRUCT, a9, s9);
    uint8_t short_m[108];
    memcpy(short_m, VEC_A_CONNECTED, sizeof(short_m));
    short_m[3] = 108;
    short_m[11] = 100;
    bind_fail_case(VEC_A_NONCE, NULL, false, VEC_A_HLAK, short_m, sizeof(short_m), SSTP_E_BIND_STRUCT, a9, s9);
}

static void test_structure_failure_not_deferred(void **state)
{
    (void)state;
    static const uint8_t empty[] = { 0x10, 0x01, 0x00, 0x08, 0x00, 0x04, 0x00, 0x00 };
    struct fx *f = fx_cpend_nokeys(VEC_A_NONCE, NULL);
    CTRL(f, empty);
    assert_int_equal(f->a.bind, SSTP_SRV_BIND_FAILED);
    assert_int_equal(f->a.bind_rc, SSTP_E_BIND_STRUCT);
    assert_sent_abort(f, SSTP_ATTRIB_STATUS_INFO, SSTP_STATUS_ATTRIB_NOT_SUPPORTED_IN_MSG);
    fx_free(f);
}

/* ---- CALL_CONNECT_REQUEST NAKs (MS-SSTP 3.3.5.2.2) ---- */

static struct fx *fx_req(void)
{
    struct fx *f = fx_new(NULL, NULL);
    ev_simple(f, SSTP_SRV_EV_HTTP_DONE);
    return f;
}

/* Sends a request, expects a NAK; returns the decoded NAK in *c (views into
 * f->a.send). */
static void expect_nak(struct fx *f, const uint8_t *req, size_t len, struct sstp_ctrl *c)
{
    ev_ctrl(f, req, len);
    assert_int_equal(sstp_srv_state(&f->sm), SSTP_SRV_CONNECT_REQUEST_PENDING);
    assert_false(f->a.ppp_start);
    assert_false(f->a.close);
    assert_int_equal(sstp_ctrl_decode(c, f->a.send, f->a.send_len), SSTP_OK);
    assert_int_equal(c->type, SSTP_MSG_CALL_CONNECT_NAK);
    assert_int_equal(sstp_ctrl_check(c), SSTP_OK);
}

static void assert_si(const struct sstp_ctrl *c, size_t i, uint8_t attrib, uint32_t status, size_t vlen)
{
    struct sstp_status_info si;
    assert_true(i < c->n_attrs);
    assert_int_equal(sstp_attr_status_info(&si, &c->attrs[i]), SSTP_OK);
    assert_int_equal(si.attrib_id, attrib);
    assert_int_equal(si.status, status);
    assert_int_equal(si.value.len, vlen);
}

#define REQ(...) (const uint8_t[]){ __VA_ARGS__ }, sizeof((const uint8_t[]){ __VA_ARGS__ })

static void test_nak_protocol_id(void **state)
{
    (void)state;
    struct fx *f = fx_req();
    struct sstp_ctrl c;
    expect_nak(f, REQ(0x10, 0x01, 0x00, 0x0E, 0x00, 0x01, 0x00, 0x01, 0x00, 0x01, 0x00, 0x06, 0x00, 0x02), &c);
    /* MS-SSTP 2.2.8/2.2.12: Status Info length 12 + the echoed value 00 02 */
    static const uint8_t want[] = { 0x10, 0x01, 0x00, 0x16, 0x00, 0x03, 0x00, 0x01, 0x00, 0x02, 0x00,
                                    0x0E, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x04, 0x00, 0x02 };
    assert_int_equal(f->a.send_len, sizeof(want));
    assert_memory_equal(f->a.send, want, sizeof(want));
    assert_int_equal(f->a.timers_start | f->a.timers_stop, 0); /* timer keeps running */
    fx_free(f);
}

static void test_nak_each_problem(void **state)
{
    (void)state;
    struct sstp_ctrl c;
    struct fx *f;

    /* wrong length of the protocol id attribute (7) */
    f = fx_req();
    expect_nak(f, REQ(0x10, 0x01, 0x00, 0x0F, 0x00, 0x01, 0x00, 0x01, 0x00, 0x01, 0x00, 0x07, 0x00, 0x01, 0x00), &c);
    assert_int_equal(c.n_attrs, 1);
    assert_si(&c, 0, SSTP_ATTRIB_ENCAPSULATED_PROTOCOL_ID, SSTP_STATUS_INVALID_ATTRIB_VALUE_LENGTH, 0);
    fx_free(f);

    /* duplicate protocol id */
    f = fx_req();
    expect_nak(f, REQ(0x10, 0x01, 0x00, 0x14, 0x00, 0x01, 0x00, 0x02, 0x00, 0x01, 0x00, 0x06, 0x00, 0x01,
                      0x00, 0x01, 0x00, 0x06, 0x00, 0x01), &c);
    assert_int_equal(c.n_attrs, 1);
    assert_si(&c, 0, SSTP_ATTRIB_ENCAPSULATED_PROTOCOL_ID, SSTP_STATUS_DUPLICATE_ATTRIBUTE, 0);
    fx_free(f);

    /* unknown attribute id 9 next to a valid protocol id */
    f = fx_req();
    expect_nak(f, REQ(0x10, 0x01, 0x00, 0x12, 0x00, 0x01, 0x00, 0x02, 0x00, 0x01, 0x00, 0x06, 0x00, 0x01,
                      0x00, 0x09, 0x00, 0x04), &c);
    assert_int_equal(c.n_attrs, 1);
    assert_si(&c, 0, 0x09, SSTP_STATUS_UNRECOGNIZED_ATTRIBUTE, 0);
    fx_free(f);

    /* a crypto binding attribute does not belong in a request */
    f = fx_req();
    expect_nak(f, REQ(0x10, 0x01, 0x00, 0x12, 0x00, 0x01, 0x00, 0x02, 0x00, 0x01, 0x00, 0x06, 0x00, 0x01,
                      0x00, 0x03, 0x00, 0x04), &c);
    assert_si(&c, 0, SSTP_ATTRIB_CRYPTO_BINDING, SSTP_STATUS_UNRECOGNIZED_ATTRIBUTE, 0);
    fx_free(f);

    /* non-zero Status Info */
    f = fx_req();
    expect_nak(f, REQ(0x10, 0x01, 0x00, 0x1A, 0x00, 0x01, 0x00, 0x02, 0x00, 0x01, 0x00, 0x06, 0x00, 0x01,
                      0x00, 0x02, 0x00, 0x0C, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x04), &c);
    assert_int_equal(c.n_attrs, 1);
    assert_si(&c, 0, SSTP_ATTRIB_STATUS_INFO, SSTP_STATUS_STATUS_INFO_NOT_SUPPORTED_IN_MSG, 0);
    fx_free(f);

    /* Status Info of the wrong length (8) */
    f = fx_req();
    expect_nak(f, REQ(0x10, 0x01, 0x00, 0x16, 0x00, 0x01, 0x00, 0x02, 0x00, 0x01, 0x00, 0x06, 0x00, 0x01,
                      0x00, 0x02, 0x00, 0x08, 0x00, 0x00, 0x00, 0x01), &c);
    assert_si(&c, 0, SSTP_ATTRIB_STATUS_INFO, SSTP_STATUS_INVALID_ATTRIB_VALUE_LENGTH, 0);
    fx_free(f);

    /* protocol id missing (no attributes at all) */
    f = fx_req();
    expect_nak(f, REQ(0x10, 0x01, 0x00, 0x08, 0x00, 0x01, 0x00, 0x00), &c);
    assert_int_equal(c.n_attrs, 1);
    assert_si(&c, 0, SSTP_ATTRIB_STATUS_INFO, SSTP_STATUS_REQUIRED_ATTRIBUTE_MISSING, 0);
    fx_free(f);

    /* several problems at once, one Status Info each, in order */
    f = fx_req();
    expect_nak(f, REQ(0x10, 0x01, 0x00, 0x1E, 0x00, 0x01, 0x00, 0x03,
                      0x00, 0x07, 0x00, 0x04,
                      0x00, 0x01, 0x00, 0x06, 0xAB, 0xCD,
                      0x00, 0x02, 0x00, 0x0C, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x04), &c);
    assert_int_equal(c.n_attrs, 3);
    assert_si(&c, 0, 0x07, SSTP_STATUS_UNRECOGNIZED_ATTRIBUTE, 0);
    assert_si(&c, 1, SSTP_ATTRIB_ENCAPSULATED_PROTOCOL_ID, SSTP_STATUS_VALUE_NOT_SUPPORTED, 2);
    assert_si(&c, 2, SSTP_ATTRIB_STATUS_INFO, SSTP_STATUS_STATUS_INFO_NOT_SUPPORTED_IN_MSG, 0);
    fx_free(f);
}

static void test_request_with_zero_status_info_accepted(void **state)
{
    (void)state;
    /* MS-SSTP 3.3.5.2.2 rejects only a non-zero Status Info */
    struct fx *f = fx_req();
    ev_ctrl(f, REQ(0x10, 0x01, 0x00, 0x1A, 0x00, 0x01, 0x00, 0x02, 0x00, 0x01, 0x00, 0x06, 0x00, 0x01,
                   0x00, 0x02, 0x00, 0x0C, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00));
    assert_int_equal(sstp_srv_state(&f->sm), SSTP_SRV_CALL_CONNECTED_PENDING);
    assert_int_equal(sent_of(f).type, SSTP_MSG_CALL_CONNECT_ACK);
    fx_free(f);
}

static void test_nak_retry_limit(void **state)
{
    (void)state;
    struct fx *f = fx_req();
    struct sstp_ctrl c;
    static const uint8_t bad[] = { 0x10, 0x01, 0x00, 0x0E, 0x00, 0x01, 0x00, 0x01,
                                   0x00, 0x01, 0x00, 0x06, 0x00, 0x05 };
    for (int i = 0; i < 3; i++)
        expect_nak(f, bad, sizeof(bad), &c);
    /* the 4th bad request: ABORT(0x02, 6) */
    CTRL(f, bad);
    assert_sent_abort(f, SSTP_ATTRIB_STATUS_INFO, SSTP_STATUS_RETRY_COUNT_EXCEEDED);
    assert_int_equal(f->a.rc, SSTP_E_FSM_RETRIES);
    assert_int_equal(sstp_srv_state(&f->sm), SSTP_CALL_ABORT_PENDING);
    fx_free(f);

    /* a good request after NAKs is accepted */
    f = fx_req();
    expect_nak(f, bad, sizeof(bad), &c);
    expect_nak(f, bad, sizeof(bad), &c);
    CTRL(f, M_REQUEST);
    assert_int_equal(sstp_srv_state(&f->sm), SSTP_SRV_CALL_CONNECTED_PENDING);
    assert_true(f->a.ppp_start);
    fx_free(f);

    /* a configured limit of 0: abort on the first bad request */
    struct sstp_srv_cfg cfg;
    sstp_srv_cfg_default(&cfg);
    cfg.nak_retries = 0;
    f = fx_new(&cfg, VEC_A_NONCE);
    ev_simple(f, SSTP_SRV_EV_HTTP_DONE);
    CTRL(f, bad);
    assert_sent_abort(f, SSTP_ATTRIB_STATUS_INFO, SSTP_STATUS_RETRY_COUNT_EXCEEDED);
    fx_free(f);
}

static void test_request_too_many_attrs(void **state)
{
    (void)state;
    uint8_t req[8 + 4 * (SSTP_CTRL_MAX_ATTRS + 1)];
    memset(req, 0, sizeof(req));
    req[0] = 0x10;
    req[1] = 0x01;
    req[3] = sizeof(req);
    req[5] = 0x01;
    req[7] = SSTP_CTRL_MAX_ATTRS + 1;
    for (size_t i = 0; i < SSTP_CTRL_MAX_ATTRS + 1; i++) {
        req[8 + 4 * i + 1] = 0x20;
        req[8 + 4 * i + 3] = 4;
    }
    struct fx *f = fx_req();
    CTRL(f, req);
    assert_sent_abort(f, SSTP_ATTRIB_STATUS_INFO, SSTP_STATUS_INVALID_FRAME_RECEIVED);
    assert_int_equal(f->a.rc, SSTP_E_CTRL_TOO_MANY_ATTRS);
    fx_free(f);

    /* exactly the maximum, every attribute unknown and the protocol id
     * missing: 17 problems, the NAK lists the first 16 (what a decoder
     * like ours accepts) */
    uint8_t req2[8 + 4 * SSTP_CTRL_MAX_ATTRS];
    memcpy(req2, req, sizeof(req2));
    req2[3] = sizeof(req2);
    req2[7] = SSTP_CTRL_MAX_ATTRS;
    f = fx_req();
    struct sstp_ctrl c;
    expect_nak(f, req2, sizeof(req2), &c);
    assert_int_equal(c.n_attrs, SSTP_CTRL_MAX_ATTRS);
    assert_si(&c, SSTP_CTRL_MAX_ATTRS - 1, 0x20, SSTP_STATUS_UNRECOGNIZED_ATTRIBUTE, 0);
    fx_free(f);
}

/* ---- hello / echo (MS-SSTP 3.1.2.3, 3.1.6.3) ---- */

static void test_hello_echo_then_abort(void **state)
{
    (void)state;
    struct fx *f = fx_in(ST_CONN);
    ev_timer(f, SSTP_SRV_T_HELLO);
    assert_int_equal(sent_of(f).type, SSTP_MSG_ECHO_REQUEST);
    assert_int_equal(f->a.send_len, 8);
    assert_int_equal(f->a.timers_start, TB(SSTP_SRV_T_HELLO));
    assert_int_equal(f->a.timer_ms[SSTP_SRV_T_HELLO], 60000);
    /* nothing received for another interval */
    ev_timer(f, SSTP_SRV_T_HELLO);
    assert_sent_abort(f, SSTP_ATTRIB_STATUS_INFO, SSTP_STATUS_NEGOTIATION_TIMEOUT);
    assert_true(f->a.close);
    assert_true(f->a.ppp_stop);
    assert_int_equal(f->a.rc, SSTP_E_FSM_HELLO_TIMEOUT);
    assert_int_equal(sstp_srv_rc(&f->sm), SSTP_E_FSM_HELLO_TIMEOUT);
    assert_int_equal(sstp_srv_state(&f->sm), SSTP_SRV_CLOSED);
    fx_free(f);
}

static void test_hello_any_packet_restarts(void **state)
{
    (void)state;
    /* an ECHO_RESPONSE, an unrelated ECHO_REQUEST and a data packet each
     * count as "something received" */
    for (int how = 0; how < 3; how++) {
        struct fx *f = fx_in(ST_CONN);
        ev_timer(f, SSTP_SRV_T_HELLO);
        assert_int_equal(sent_of(f).type, SSTP_MSG_ECHO_REQUEST);
        if (how == 0) {
            CTRL(f, M_ECHO_RESPONSE);
            assert_nothing_sent(f);
        } else if (how == 1) {
            CTRL(f, M_ECHO_REQUEST);
            assert_int_equal(sent_of(f).type, SSTP_MSG_ECHO_RESPONSE);
        } else {
            ev_frame(f, SSTP_SRV_EV_PPP_FROM_CLIENT, F_IPV4, sizeof(F_IPV4));
            assert_int_equal(f->a.frame, SSTP_SRV_FRAME_FORWARD);
        }
        assert_int_equal(f->a.timers_start, TB(SSTP_SRV_T_HELLO));
        ev_timer(f, SSTP_SRV_T_HELLO);
        assert_int_equal(sent_of(f).type, SSTP_MSG_ECHO_REQUEST); /* not an abort */
        assert_int_equal(sstp_srv_state(&f->sm), SSTP_SRV_CALL_CONNECTED);
        fx_free(f);
    }
}

static void test_hello_not_restarted_by_pppd(void **state)
{
    (void)state;
    struct fx *f = fx_in(ST_CONN);
    ev_timer(f, SSTP_SRV_T_HELLO);
    ev_frame(f, SSTP_SRV_EV_PPP_FROM_PPPD, F_IPV4, sizeof(F_IPV4));
    assert_int_equal(f->a.frame, SSTP_SRV_FRAME_FORWARD);
    assert_int_equal(f->a.timers_start, 0);
    ev_timer(f, SSTP_SRV_T_HELLO);
    assert_true(f->a.close);
    fx_free(f);
}

static void test_echo_lenient_in_connected_pending(void **state)
{
    (void)state;
    struct fx *f = fx_cpend_nokeys(VEC_A_NONCE, NULL);
    CTRL(f, M_ECHO_REQUEST);
    assert_int_equal(f->a.send_len, sizeof(M_ECHO_RESPONSE));
    assert_memory_equal(f->a.send, M_ECHO_RESPONSE, sizeof(M_ECHO_RESPONSE));
    assert_int_equal(sstp_srv_state(&f->sm), SSTP_SRV_CALL_CONNECTED_PENDING);
    assert_int_equal(f->a.timers_start | f->a.timers_stop, 0); /* no hello before connected */
    fx_free(f);
}

/* ---- gating (MS-SSTP 3.3.7) ---- */

static void test_gating_every_state(void **state)
{
    (void)state;
    static const struct {
        enum sstp_srv_frame_verdict ctrl, data;
    } want[ST_COUNT] = {
        [ST_DISC] = { SSTP_SRV_FRAME_DROP, SSTP_SRV_FRAME_DROP },
        [ST_REQ] = { SSTP_SRV_FRAME_DROP, SSTP_SRV_FRAME_DROP },
        [ST_CPEND] = { SSTP_SRV_FRAME_FORWARD, SSTP_SRV_FRAME_DROP },
        [ST_CONN] = { SSTP_SRV_FRAME_FORWARD, SSTP_SRV_FRAME_FORWARD },
        [ST_ABORT_P] = { SSTP_SRV_FRAME_DROP, SSTP_SRV_FRAME_DROP },
        [ST_ABORT_TO] = { SSTP_SRV_FRAME_DROP, SSTP_SRV_FRAME_DROP },
        [ST_DACK_P] = { SSTP_SRV_FRAME_DROP, SSTP_SRV_FRAME_DROP },
        [ST_DISC_TO] = { SSTP_SRV_FRAME_DROP, SSTP_SRV_FRAME_DROP },
        [ST_CLOSED] = { SSTP_SRV_FRAME_DROP, SSTP_SRV_FRAME_DROP },
    };
    static const uint8_t f_pfc[] = { 0x21, 0x45, 0x00 };          /* compressed IPv4: data */
    static const uint8_t f_acfc_ipcp[] = { 0x80, 0x21, 0x01, 0x01 }; /* no FF 03: control */
    static const uint8_t f_runt[] = { 0xFF, 0x03 };               /* no protocol: data */
    for (int st = 0; st < ST_COUNT; st++) {
        for (int dir = 0; dir < 2; dir++) {
            enum sstp_srv_ev_type t = dir ? SSTP_SRV_EV_PPP_FROM_PPPD : SSTP_SRV_EV_PPP_FROM_CLIENT;
            struct fx *f = fx_in((enum setup)st);
            enum sstp_srv_state before = sstp_srv_state(&f->sm);
            ev_frame(f, t, F_LCP, sizeof(F_LCP));
            assert_int_equal(f->a.frame, want[st].ctrl);
            ev_frame(f, t, f_acfc_ipcp, sizeof(f_acfc_ipcp));
            assert_int_equal(f->a.frame, want[st].ctrl);
            ev_frame(f, t, F_IPV4, sizeof(F_IPV4));
            assert_int_equal(f->a.frame, want[st].data);
            ev_frame(f, t, f_pfc, sizeof(f_pfc));
            assert_int_equal(f->a.frame, want[st].data);
            ev_frame(f, t, f_runt, sizeof(f_runt));
            assert_int_equal(f->a.frame, want[st].data);
            /* frames never change the state or send anything */
            assert_int_equal(sstp_srv_state(&f->sm), before);
            assert_nothing_sent(f);
            assert_false(f->a.close);
            fx_free(f);
        }
    }
}

/* ---- teardown in both directions ---- */

static void test_local_disconnect(void **state)
{
    (void)state;
    struct fx *f = fx_in(ST_CONN);
    ev_simple(f, SSTP_SRV_EV_LOCAL_DISCONNECT);
    assert_int_equal(f->a.send_len, sizeof(S_DISCONNECT));
    assert_memory_equal(f->a.send, S_DISCONNECT, sizeof(S_DISCONNECT));
    assert_int_equal(f->a.timers_stop, TB(SSTP_SRV_T_HELLO));
    assert_int_equal(f->a.timers_start, TB(SSTP_SRV_T_DISCONNECT_1));
    assert_int_equal(f->a.timer_ms[SSTP_SRV_T_DISCONNECT_1], 5000);
    assert_int_equal(sstp_srv_state(&f->sm), SSTP_CALL_DISCONNECT_ACK_PENDING);
    assert_false(f->a.close);
    assert_false(f->a.ppp_stop);
    CTRL(f, M_DISCONNECT_ACK);
    assert_true(f->a.close);
    assert_true(f->a.ppp_stop);
    assert_int_equal(f->a.timers_stop, TB(SSTP_SRV_T_DISCONNECT_1));
    assert_int_equal(f->a.rc, SSTP_OK);
    assert_int_equal(sstp_srv_rc(&f->sm), SSTP_OK);
    /* everything after the end is ignored */
    CTRL(f, M_ECHO_REQUEST);
    assert_nothing_sent(f);
    assert_false(f->a.close);
    fx_free(f);

    /* no DISCONNECT_ACK: T1 expiry cleans up */
    f = fx_in(ST_CONN);
    ev_simple(f, SSTP_SRV_EV_LOCAL_DISCONNECT);
    ev_timer(f, SSTP_SRV_T_DISCONNECT_1);
    assert_true(f->a.close);
    assert_true(f->a.ppp_stop);
    assert_int_equal(f->a.timers_stop, 0); /* it already fired */
    fx_free(f);
}

static void test_pppd_exit_disconnects(void **state)
{
    (void)state;
    struct fx *f = fx_in(ST_CONN);
    ev_simple(f, SSTP_SRV_EV_PPPD_EXITED);
    assert_int_equal(f->a.send_len, sizeof(S_DISCONNECT));
    assert_memory_equal(f->a.send, S_DISCONNECT, sizeof(S_DISCONNECT));
    CTRL(f, M_DISCONNECT_ACK);
    assert_true(f->a.close);
    assert_false(f->a.ppp_stop); /* pppd is already gone */
    fx_free(f);

    /* in Call_Connected_Pending as well (e.g. PPP auth failed) */
    f = fx_cpend_nokeys(VEC_A_NONCE, NULL);
    ev_simple(f, SSTP_SRV_EV_PPPD_EXITED);
    assert_int_equal(sent_of(f).type, SSTP_MSG_CALL_DISCONNECT);
    assert_true(f->a.timers_stop & TB(SSTP_SRV_T_NEGOTIATION));
    ev_simple(f, SSTP_SRV_EV_TRANSPORT_LOST);
    assert_true(f->a.close);
    assert_false(f->a.ppp_stop);
    fx_free(f);
}

static void test_peer_disconnect(void **state)
{
    (void)state;
    struct fx *f = fx_in(ST_CONN);
    CTRL(f, M_DISCONNECT);
    assert_int_equal(f->a.send_len, 8);
    assert_memory_equal(f->a.send, M_DISCONNECT_ACK, 8);
    assert_int_equal(f->a.timers_stop, TB(SSTP_SRV_T_HELLO));
    assert_int_equal(f->a.timers_start, TB(SSTP_SRV_T_DISCONNECT_2));
    assert_true(f->a.peer_status_valid);
    assert_int_equal(f->a.peer_status, 0);
    ev_timer(f, SSTP_SRV_T_DISCONNECT_2);
    assert_true(f->a.close);
    assert_true(f->a.ppp_stop);
    assert_int_equal(f->a.rc, SSTP_OK);
    fx_free(f);

    /* a DISCONNECT without Status Info is accepted too (SoftEther, OSC) */
    f = fx_in(ST_CONN);
    static const uint8_t bare[] = { 0x10, 0x01, 0x00, 0x08, 0x00, 0x06, 0x00, 0x00 };
    CTRL(f, bare);
    assert_int_equal(sstp_srv_state(&f->sm), SSTP_CALL_DISCONNECT_TIMEOUT_PENDING);
    assert_false(f->a.peer_status_valid);
    /* the transport may go first: clean up, no new reason */
    ev_simple(f, SSTP_SRV_EV_TRANSPORT_LOST);
    assert_true(f->a.close);
    assert_int_equal(f->a.rc, SSTP_OK);
    fx_free(f);
}

static void test_we_abort_peer_answers(void **state)
{
    (void)state;
    struct fx *f = fx_in(ST_CONN);
    CTRL(f, M_UNKNOWN);
    assert_sent_abort(f, SSTP_ATTRIB_STATUS_INFO, SSTP_STATUS_INVALID_FRAME_RECEIVED);
    assert_int_equal(f->a.timers_stop, TB(SSTP_SRV_T_HELLO));
    assert_int_equal(f->a.timers_start, TB(SSTP_SRV_T_ABORT_1));
    CTRL(f, M_ABORT);
    assert_nothing_sent(f);
    assert_int_equal(sstp_srv_state(&f->sm), SSTP_CALL_ABORT_TIMEOUT_PENDING);
    assert_true(f->a.peer_status_valid);
    ev_timer(f, SSTP_SRV_T_ABORT_1); /* stale: was stopped */
    assert_false(f->a.close);
    ev_timer(f, SSTP_SRV_T_ABORT_2);
    assert_true(f->a.close);
    assert_true(f->a.ppp_stop);
    assert_int_equal(f->a.rc, SSTP_E_CTRL_MSG_TYPE);
    fx_free(f);

    /* peer silent: T1 expiry cleans up */
    f = fx_in(ST_CONN);
    CTRL(f, VEC_A_ACK); /* a server-only message: ABORT(5) */
    assert_sent_abort(f, SSTP_ATTRIB_STATUS_INFO, SSTP_STATUS_UNACCEPTED_FRAME_RECEIVED);
    ev_timer(f, SSTP_SRV_T_ABORT_1);
    assert_true(f->a.close);
    assert_true(f->a.ppp_stop);
    assert_int_equal(f->a.rc, SSTP_E_FSM_STATE);
    fx_free(f);
}

static void test_peer_aborts(void **state)
{
    (void)state;
    struct fx *f = fx_in(ST_CONN);
    CTRL(f, M_ABORT);
    assert_int_equal(f->a.send_len, sizeof(S_ABORT_EMPTY));
    assert_memory_equal(f->a.send, S_ABORT_EMPTY, sizeof(S_ABORT_EMPTY));
    assert_true(f->a.peer_status_valid);
    assert_int_equal(f->a.peer_attrib_id, SSTP_ATTRIB_STATUS_INFO);
    assert_int_equal(f->a.peer_status, SSTP_STATUS_INVALID_FRAME_RECEIVED);
    assert_int_equal(f->a.rc, SSTP_E_FSM_PEER_ABORT);
    /* a second ABORT while waiting is ignored */
    CTRL(f, M_ABORT);
    assert_nothing_sent(f);
    assert_int_equal(f->a.timers_start | f->a.timers_stop, 0);
    ev_timer(f, SSTP_SRV_T_ABORT_2);
    assert_true(f->a.close);
    assert_true(f->a.ppp_stop);
    assert_int_equal(f->a.rc, SSTP_E_FSM_PEER_ABORT);
    fx_free(f);

    /* the peer aborts while we wait for DISCONNECT_ACK: not a T state for
     * CALL_ABORT, so it is answered */
    f = fx_in(ST_DACK_P);
    CTRL(f, M_ABORT);
    assert_int_equal(sstp_srv_state(&f->sm), SSTP_CALL_ABORT_TIMEOUT_PENDING);
    assert_int_equal(f->a.timers_stop, TB(SSTP_SRV_T_DISCONNECT_1));
    assert_int_equal(f->a.timers_start, TB(SSTP_SRV_T_ABORT_2));
    assert_int_equal(sent_of(f).type, SSTP_MSG_CALL_ABORT);
    fx_free(f);
}

static void test_transport_lost(void **state)
{
    (void)state;
    struct fx *f = fx_in(ST_CONN);
    ev_simple(f, SSTP_SRV_EV_TRANSPORT_LOST);
    assert_nothing_sent(f);
    assert_true(f->a.close);
    assert_true(f->a.ppp_stop);
    assert_int_equal(f->a.timers_stop, TB(SSTP_SRV_T_HELLO));
    assert_int_equal(f->a.rc, SSTP_E_FSM_TRANSPORT_LOST);
    fx_free(f);

    /* before PPP started: nothing to hang up */
    f = fx_in(ST_REQ);
    ev_simple(f, SSTP_SRV_EV_TRANSPORT_LOST);
    assert_true(f->a.close);
    assert_false(f->a.ppp_stop);
    assert_int_equal(f->a.timers_stop, TB(SSTP_SRV_T_NEGOTIATION));
    fx_free(f);

    /* during our abort: the first reason stays */
    f = fx_in(ST_ABORT_P);
    ev_simple(f, SSTP_SRV_EV_TRANSPORT_LOST);
    assert_true(f->a.close);
    assert_int_equal(f->a.rc, SSTP_E_CTRL_MSG_TYPE);
    fx_free(f);
}

static void test_request_timeout(void **state)
{
    (void)state;
    struct fx *f = fx_req();
    ev_timer(f, SSTP_SRV_T_NEGOTIATION);
    assert_sent_abort(f, SSTP_ATTRIB_STATUS_INFO, SSTP_STATUS_NEGOTIATION_TIMEOUT);
    assert_int_equal(f->a.rc, SSTP_E_FSM_TIMEOUT);
    assert_int_equal(f->a.timers_start, TB(SSTP_SRV_T_ABORT_1));
    assert_int_equal(f->a.timers_stop, 0); /* the negotiation timer already fired */
    /* a second delivery of the same expiry is stale */
    ev_timer(f, SSTP_SRV_T_NEGOTIATION);
    assert_nothing_sent(f);
    assert_int_equal(sstp_srv_state(&f->sm), SSTP_CALL_ABORT_PENDING);
    fx_free(f);
}

static void test_null_and_odd_events(void **state)
{
    (void)state;
    struct fx *f = fx_in(ST_CONN);
    sstp_srv_step(&f->sm, NULL, &f->a);
    assert_int_equal(f->a.send_len, 0);
    assert_false(f->a.close);
    assert_int_equal(f->a.frame, SSTP_SRV_FRAME_NONE);
    sstp_srv_step(&f->sm, NULL, NULL); /* must not crash */
    struct sstp_srv_ev ev = { .type = SSTP_SRV_EV_CTRL, .data = NULL, .len = 8 };
    step(f, &ev);
    assert_nothing_sent(f);
    ev = (struct sstp_srv_ev){ .type = SSTP_SRV_EV_KEYS, .hlak = NULL };
    step(f, &ev);
    assert_int_equal(f->a.bind, SSTP_SRV_BIND_NONE);
    ev = (struct sstp_srv_ev){ .type = SSTP_SRV_EV_TIMER, .timer = (enum sstp_srv_timer)77 };
    step(f, &ev);
    assert_nothing_sent(f);
    ev = (struct sstp_srv_ev){ .type = (enum sstp_srv_ev_type)99 };
    step(f, &ev);
    assert_nothing_sent(f);
    /* a frame event with NULL bytes is dropped */
    ev = (struct sstp_srv_ev){ .type = SSTP_SRV_EV_PPP_FROM_CLIENT, .data = NULL, .len = 4 };
    step(f, &ev);
    assert_int_equal(f->a.frame, SSTP_SRV_FRAME_DROP);
    /* a data packet handed over as control: invalid frame */
    static const uint8_t data_pkt[] = { 0x10, 0x00, 0x00, 0x08, 0xFF, 0x03, 0x00, 0x21 };
    CTRL(f, data_pkt);
    assert_sent_abort(f, SSTP_ATTRIB_STATUS_INFO, SSTP_STATUS_INVALID_FRAME_RECEIVED);
    assert_int_equal(f->a.rc, SSTP_E_CTRL_NOT_CONTROL);
    assert_int_equal(sstp_srv_state(&f->sm), SSTP_CALL_ABORT_PENDING);
    fx_free(f);

    /* init/cleanup/trust with NULL do nothing */
    sstp_srv_init(NULL, NULL, NULL);
    sstp_srv_set_trust(NULL, NULL);
    sstp_srv_cleanup(NULL);
    sstp_srv_cfg_default(NULL);
}

static void test_state_and_timer_names(void **state)
{
    (void)state;
    assert_string_equal(sstp_srv_state_str(SSTP_SRV_CALL_DISCONNECTED), "Server_Call_Disconnected");
    assert_string_equal(sstp_srv_state_str(SSTP_SRV_CONNECT_REQUEST_PENDING), "Server_Connect_Request_Pending");
    assert_string_equal(sstp_srv_state_str(SSTP_SRV_CALL_CONNECTED_PENDING), "Server_Call_Connected_Pending");
    assert_string_equal(sstp_srv_state_str(SSTP_SRV_CALL_CONNECTED), "Server_Call_Connected");
    assert_string_equal(sstp_srv_state_str(SSTP_CALL_ABORT_IN_PROGRESS_1), "Call_Abort_In_Progress_1");
    assert_string_equal(sstp_srv_state_str(SSTP_CALL_ABORT_PENDING), "Call_Abort_Pending");
    assert_string_equal(sstp_srv_state_str(SSTP_CALL_ABORT_IN_PROGRESS_2), "Call_Abort_In_Progress_2");
    assert_string_equal(sstp_srv_state_str(SSTP_CALL_ABORT_TIMEOUT_PENDING), "Call_Abort_Timeout_Pending");
    assert_string_equal(sstp_srv_state_str(SSTP_CALL_DISCONNECT_IN_PROGRESS_1), "Call_Disconnect_In_Progress_1");
    assert_string_equal(sstp_srv_state_str(SSTP_CALL_DISCONNECT_ACK_PENDING), "Call_Disconnect_Ack_Pending");
    assert_string_equal(sstp_srv_state_str(SSTP_CALL_DISCONNECT_IN_PROGRESS_2), "Call_Disconnect_In_Progress_2");
    assert_string_equal(sstp_srv_state_str(SSTP_CALL_DISCONNECT_TIMEOUT_PENDING),
                        "Call_Disconnect_Timeout_Pending");
    assert_string_equal(sstp_srv_state_str(SSTP_SRV_CLOSED), "Closed");
    assert_string_equal(sstp_srv_state_str(SSTP_SRV_STATE_COUNT), "?");
    assert_string_equal(sstp_srv_timer_str(SSTP_SRV_T_NEGOTIATION), "negotiation");
    assert_string_equal(sstp_srv_timer_str(SSTP_SRV_T_DISCONNECT_2), "disconnect_t2");
    assert_string_equal(sstp_srv_timer_str(SSTP_SRV_T_COUNT), "?");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_event_table_every_cell),
        cmocka_unit_test(test_other_events_every_state),
        cmocka_unit_test(test_setup_exact_bytes_and_timers),
        cmocka_unit_test(test_sha1_binding),
        cmocka_unit_test(test_zero_bitmask_becomes_sha256),
        cmocka_unit_test(test_deferral_keys_later),
        cmocka_unit_test(test_deferral_keys_never),
        cmocka_unit_test(test_reauth_second_keys),
        cmocka_unit_test(test_reauth_lcp_renegotiation),
        cmocka_unit_test(test_keys_refused),
        cmocka_unit_test(test_negotiation_timeout_without_connected),
        cmocka_unit_test(test_deferral_latest_message_kept),
        cmocka_unit_test(test_deferral_failure_at_keys),
        cmocka_unit_test(test_binding_failures),
        cmocka_unit_test(test_structure_failure_not_deferred),
        cmocka_unit_test(test_nak_protocol_id),
        cmocka_unit_test(test_nak_each_problem),
        cmocka_unit_test(test_request_with_zero_status_info_accepted),
        cmocka_unit_test(test_nak_retry_limit),
        cmocka_unit_test(test_request_too_many_attrs),
        cmocka_unit_test(test_hello_echo_then_abort),
        cmocka_unit_test(test_hello_any_packet_restarts),
        cmocka_unit_test(test_hello_not_restarted_by_pppd),
        cmocka_unit_test(test_echo_lenient_in_connected_pending),
        cmocka_unit_test(test_gating_every_state),
        cmocka_unit_test(test_local_disconnect),
        cmocka_unit_test(test_pppd_exit_disconnects),
        cmocka_unit_test(test_peer_disconnect),
        cmocka_unit_test(test_we_abort_peer_answers),
        cmocka_unit_test(test_peer_aborts),
        cmocka_unit_test(test_transport_lost),
        cmocka_unit_test(test_request_timeout),
        cmocka_unit_test(test_null_and_odd_events),
        cmocka_unit_test(test_state_and_timer_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
