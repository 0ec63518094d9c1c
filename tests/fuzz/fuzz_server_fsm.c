/* fuzz_server_fsm.c — libFuzzer target driving the SSTP server state machine
 * with fuzzer-chosen event sequences. Valid control messages (including the
 * published MS-SSTP 4.7 CALL_CONNECTED examples, so that the binding can
 * succeed) are offered as templates the fuzzer may pick and mutate. After
 * every step the harness checks invariants and aborts when one breaks. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sstp/ctrl.h"
#include "sstp/packet.h"
#include "sstp/server_fsm.h"

#define CHECK(cond)                                                            \
    do {                                                                       \
        if (!(cond))                                                           \
            abort();                                                           \
    } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* MS-SSTP 4.7 examples: (a) SHA-256, (b) SHA-1. */
static const char A_HLAK[] = "2A1BB40D55AB0F5EF32F06F2B3CC73C48FD3FAC41D7A1315A19228D9024CA164";
static const char A_CERT[] = "7993EF314C493DACE9F02D60E7E61C84B6690AAFE9D7AEEA92CBBE8AD599422D";
static const char A_NONCE[] = "412B489AEBD7ECC7D08966F26BE7CD72B231A0E9210D7C91B308862B0344C435";
static const char A_CONNECTED[] =
    "10010070000400010003006800000002412B489AEBD7ECC7D08966F26BE7CD72"
    "B231A0E9210D7C91B308862B0344C4357993EF314C493DACE9F02D60E7E61C84"
    "B6690AAFE9D7AEEA92CBBE8AD599422D52A68EFD8CFFBF52770B8F0FE8EC7371"
    "6583AF6D611EB6D179B3B20840985449";
static const char B_HLAK[] = "4B3128F43925D9006EEFB1C4E86515A1D88E56BAB3CA2BDF0373B7F5A8A13B19";
static const char B_CERT[] = "5826B629BDA59B8E6FD8DCD2622FD34C534805A5";
static const char B_NONCE[] = "0F1A2D58D4A3E3000FAD3CE4906E07B707AA9E441CCEAC5CBD7B2CC1C9D86CDF";
static const char B_CONNECTED[] =
    "100100700004000100030068000000010F1A2D58D4A3E3000FAD3CE4906E07B7"
    "07AA9E441CCEAC5CBD7B2CC1C9D86CDF5826B629BDA59B8E6FD8DCD2622FD34C"
    "534805A500000000000000000000000069915DD583D8062FEF16F61DB2F03290"
    "EC27CB6C000000000000000000000000";

static void unhex(uint8_t *out, const char *hex)
{
    for (size_t i = 0; hex[2 * i]; i++) {
        unsigned v;
        char b[3] = { hex[2 * i], hex[2 * i + 1], 0 };
        v = (unsigned)strtoul(b, NULL, 16);
        out[i] = (uint8_t)v;
    }
}

struct vec {
    uint8_t hlak[32], cert[32], nonce[32], connected[112];
};
static struct vec va, vb;
static uint8_t trust_sha256[1][32], trust_sha1[1][20];
static struct sstp_bind_trust trust;

/* Templates: index = a fuzzer byte. */
static const uint8_t T_REQUEST[] = { 0x10, 0x01, 0x00, 0x0E, 0x00, 0x01, 0x00, 0x01,
                                     0x00, 0x01, 0x00, 0x06, 0x00, 0x01 };
static const uint8_t T_ABORT[] = { 0x10, 0x01, 0x00, 0x14, 0x00, 0x05, 0x00, 0x01, 0x00, 0x02,
                                   0x00, 0x0C, 0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x07 };
static const uint8_t T_DISCONNECT[] = { 0x10, 0x01, 0x00, 0x14, 0x00, 0x06, 0x00, 0x01, 0x00, 0x02,
                                        0x00, 0x0C, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00 };
static const uint8_t T_DISC_ACK[] = { 0x10, 0x01, 0x00, 0x08, 0x00, 0x07, 0x00, 0x00 };
static const uint8_t T_ECHO_REQ[] = { 0x10, 0x01, 0x00, 0x08, 0x00, 0x08, 0x00, 0x00 };
static const uint8_t T_ECHO_RSP[] = { 0x10, 0x01, 0x00, 0x08, 0x00, 0x09, 0x00, 0x00 };
static const uint8_t T_NAK[] = { 0x10, 0x01, 0x00, 0x14, 0x00, 0x03, 0x00, 0x01, 0x00, 0x02,
                                 0x00, 0x0C, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x04 };

static const uint8_t F_LCP[] = { 0xFF, 0x03, 0xC0, 0x21, 0x01, 0x01, 0x00, 0x04 };
static const uint8_t F_IPV4[] = { 0xFF, 0x03, 0x00, 0x21, 0x45, 0x00 };

static void init_once(void)
{
    static bool done;
    if (done)
        return;
    unhex(va.hlak, A_HLAK);
    unhex(va.cert, A_CERT);
    unhex(va.nonce, A_NONCE);
    unhex(va.connected, A_CONNECTED);
    unhex(vb.hlak, B_HLAK);
    unhex(vb.cert, B_CERT);
    unhex(vb.nonce, B_NONCE);
    unhex(vb.connected, B_CONNECTED);
    memcpy(trust_sha256[0], va.cert, 32);
    memcpy(trust_sha1[0], vb.cert, 20);
    trust.sha256 = (const uint8_t(*)[32])trust_sha256;
    trust.n_sha256 = 1;
    trust.sha1 = (const uint8_t(*)[20])trust_sha1;
    trust.n_sha1 = 1;
    done = true;
}

/* A cursor over the fuzzer's bytes; reads past the end give 0. */
struct in {
    const uint8_t *p;
    size_t len, off;
};

static uint8_t take(struct in *in)
{
    return in->off < in->len ? in->p[in->off++] : 0;
}

static size_t take_bytes(struct in *in, uint8_t *out, size_t n)
{
    size_t k = in->len - in->off < n ? in->len - in->off : n;
    memcpy(out, in->p + in->off, k);
    in->off += k;
    return k;
}

static int rank(enum sstp_srv_state s)
{
    switch (s) {
    case SSTP_SRV_CALL_DISCONNECTED:       return 0;
    case SSTP_SRV_CONNECT_REQUEST_PENDING: return 1;
    case SSTP_SRV_CALL_CONNECTED_PENDING:  return 2;
    case SSTP_SRV_CALL_CONNECTED:          return 3;
    case SSTP_SRV_CLOSED:                  return 5;
    default:                               return 4;
    }
}

static bool teardown_persistent(enum sstp_srv_state s)
{
    return s == SSTP_CALL_ABORT_PENDING || s == SSTP_CALL_ABORT_TIMEOUT_PENDING ||
           s == SSTP_CALL_DISCONNECT_ACK_PENDING || s == SSTP_CALL_DISCONNECT_TIMEOUT_PENDING;
}

/* Builds a control packet: a template, optionally with fuzzer bytes
 * overwriting part of it, or fully raw bytes. Returns its length. */
static size_t build_ctrl(struct in *in, const struct vec *v, uint8_t *buf, size_t cap)
{
    uint8_t sel = take(in);
    const uint8_t *t;
    size_t n;
    switch (sel % 10) {
    case 0: t = T_REQUEST; n = sizeof(T_REQUEST); break;
    case 1: t = v->connected; n = 112; break;
    case 2: t = T_ABORT; n = sizeof(T_ABORT); break;
    case 3: t = T_DISCONNECT; n = sizeof(T_DISCONNECT); break;
    case 4: t = T_DISC_ACK; n = sizeof(T_DISC_ACK); break;
    case 5: t = T_ECHO_REQ; n = sizeof(T_ECHO_REQ); break;
    case 6: t = T_ECHO_RSP; n = sizeof(T_ECHO_RSP); break;
    case 7: t = T_NAK; n = sizeof(T_NAK); break;
    case 8: t = (sel & 0x80) ? vb.connected : va.connected; n = 112; break;
    default: {
        /* raw: length then bytes */
        size_t want = take(in);
        want = want < cap ? want : cap;
        return take_bytes(in, buf, want);
    }
    }
    memcpy(buf, t, n);
    if (sel & 0x40) {
        /* mutate: offset and value pairs */
        uint8_t k = take(in) % 4 + 1;
        for (uint8_t i = 0; i < k; i++) {
            uint8_t at = take(in);
            buf[at % n] = take(in);
        }
    }
    return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    init_once();
    struct in in = { data, size, 0 };

    uint8_t conf = take(&in);
    const struct vec *v = (conf & 1) ? &vb : &va;
    struct sstp_srv_cfg cfg;
    sstp_srv_cfg_default(&cfg);
    cfg.hash_bitmask = (uint8_t)((conf >> 1) & 0x03); /* 0 → SHA-256 inside init */
    cfg.nak_retries = (uint8_t)((conf >> 3) & 0x03);

    struct sstp_srv sm;
    sstp_srv_init(&sm, &cfg, v->nonce);
    if (!(conf & 0x20))
        sstp_srv_set_trust(&sm, &trust);

    static struct sstp_srv_actions out;
    static uint8_t buf[SSTP_PKT_MAX_LEN];
    bool http_done = false, bind_ok = false, ppp_started = false, ppp_exited = false;
    bool ppp_stopped = false;
    unsigned steps = 0;

    while (in.off < in.len && steps++ < 256) {
        enum sstp_srv_state before = sstp_srv_state(&sm);
        struct sstp_srv_ev ev;
        memset(&ev, 0, sizeof(ev));
        bool frame_is_ctrl = false;
        uint8_t op = take(&in);

        switch (op % 9) {
        case 0:
            ev.type = SSTP_SRV_EV_HTTP_DONE;
            break;
        case 1:
            ev.type = SSTP_SRV_EV_CTRL;
            ev.len = build_ctrl(&in, v, buf, sizeof(buf));
            ev.data = buf;
            break;
        case 2:
        case 3: {
            ev.type = (op % 9) == 2 ? SSTP_SRV_EV_PPP_FROM_CLIENT : SSTP_SRV_EV_PPP_FROM_PPPD;
            uint8_t k = take(&in);
            if (k < 0x40) {
                memcpy(buf, F_LCP, sizeof(F_LCP));
                ev.len = sizeof(F_LCP);
            } else if (k < 0x80) {
                memcpy(buf, F_IPV4, sizeof(F_IPV4));
                ev.len = sizeof(F_IPV4);
            } else {
                ev.len = take_bytes(&in, buf, k & 0x1F);
            }
            ev.data = buf;
            frame_is_ctrl = sstp_ppp_frame_is_control(buf, ev.len);
            break;
        }
        case 4: {
            ev.type = SSTP_SRV_EV_KEYS;
            uint8_t k = take(&in);
            if (k < 0x80) {
                memcpy(buf, v->hlak, 32);
            } else if (k < 0xC0) {
                memcpy(buf, (v == &va ? &vb : &va)->hlak, 32);
            } else {
                memset(buf, 0, 32);
                take_bytes(&in, buf, 32);
            }
            ev.hlak = buf;
            break;
        }
        case 5:
            ev.type = SSTP_SRV_EV_TIMER;
            ev.timer = (enum sstp_srv_timer)(take(&in) % (SSTP_SRV_T_COUNT + 1));
            break;
        case 6:
            ev.type = SSTP_SRV_EV_PPPD_EXITED;
            break;
        case 7:
            ev.type = SSTP_SRV_EV_LOCAL_DISCONNECT;
            break;
        default:
            ev.type = SSTP_SRV_EV_TRANSPORT_LOST;
            break;
        }

        sstp_srv_step(&sm, &ev, &out);
        enum sstp_srv_state after = sstp_srv_state(&sm);

        /* states: valid, never transient, never backwards */
        CHECK((unsigned)after < SSTP_SRV_STATE_COUNT);
        CHECK(rank(after) == 0 || rank(after) == 1 || rank(after) == 2 || rank(after) == 3 ||
              rank(after) == 5 || teardown_persistent(after));
        CHECK(rank(after) >= rank(before));
        if (before == SSTP_SRV_CLOSED) {
            CHECK(after == SSTP_SRV_CLOSED && out.send_len == 0 && !out.close && !out.ppp_start &&
                  !out.ppp_stop && out.timers_start == 0 && out.timers_stop == 0);
        }

        /* gating: data only when connected, control from Connected_Pending */
        bool is_frame = ev.type == SSTP_SRV_EV_PPP_FROM_CLIENT || ev.type == SSTP_SRV_EV_PPP_FROM_PPPD;
        CHECK(is_frame == (out.frame != SSTP_SRV_FRAME_NONE));
        if (out.frame == SSTP_SRV_FRAME_FORWARD) {
            CHECK(after == before);
            if (frame_is_ctrl)
                CHECK(after == SSTP_SRV_CALL_CONNECTED_PENDING || after == SSTP_SRV_CALL_CONNECTED);
            else
                CHECK(after == SSTP_SRV_CALL_CONNECTED && bind_ok);
        }

        /* binding */
        if (out.bind == SSTP_SRV_BIND_OK) {
            CHECK(before == SSTP_SRV_CALL_CONNECTED_PENDING && after == SSTP_SRV_CALL_CONNECTED);
            CHECK(out.timers_start & SSTP_SRV_TIMER_BIT(SSTP_SRV_T_HELLO));
            bind_ok = true;
        } else {
            CHECK(out.bind_hash == 0); /* a certificate hash only with a binding */
        }
        if (after == SSTP_SRV_CALL_CONNECTED)
            CHECK(bind_ok);
        if (out.bind == SSTP_SRV_BIND_FAILED)
            CHECK(out.bind_rc != SSTP_OK && out.rc != SSTP_OK);

        /* sending: nothing before the 200, at most one valid message */
        if (ev.type == SSTP_SRV_EV_HTTP_DONE)
            http_done = true;
        if (!http_done)
            CHECK(out.send_len == 0);
        if (out.send_len) {
            struct sstp_pkt p;
            size_t used;
            CHECK(sstp_pkt_decode(&p, &used, out.send, out.send_len) == SSTP_OK);
            CHECK(used == out.send_len && p.is_ctrl && !p.anomaly);
            struct sstp_ctrl c;
            CHECK(sstp_ctrl_decode(&c, out.send, out.send_len) == SSTP_OK);
            CHECK(sstp_ctrl_check(&c) == SSTP_OK);
            CHECK(c.type != SSTP_MSG_CALL_CONNECT_REQUEST && c.type != SSTP_MSG_CALL_CONNECTED);
            if (c.type == SSTP_MSG_CALL_CONNECT_ACK || c.type == SSTP_MSG_CALL_CONNECT_NAK)
                CHECK(before == SSTP_SRV_CONNECT_REQUEST_PENDING);
        }

        /* PPP lifecycle */
        if (out.ppp_start) {
            CHECK(!ppp_started && before == SSTP_SRV_CONNECT_REQUEST_PENDING &&
                  after == SSTP_SRV_CALL_CONNECTED_PENDING);
            ppp_started = true;
        }
        if (ev.type == SSTP_SRV_EV_PPPD_EXITED)
            ppp_exited = true;
        /* pppd is hung up once: at the clean-up, or at once when the
         * binding fails (nothing more may cross) */
        if (out.ppp_stop) {
            CHECK(ppp_started && !ppp_exited && !ppp_stopped &&
                  (out.close || out.bind == SSTP_SRV_BIND_FAILED));
            ppp_stopped = true;
        }

        /* timers */
        CHECK((out.timers_start & ~((1u << SSTP_SRV_T_COUNT) - 1)) == 0);
        for (int t = 0; t < SSTP_SRV_T_COUNT; t++)
            if (out.timers_start & SSTP_SRV_TIMER_BIT(t))
                CHECK(out.timer_ms[t] > 0);
        if (out.close)
            CHECK(after == SSTP_SRV_CLOSED && sm.timers_running == 0);
        if (after == SSTP_SRV_CALL_CONNECTED)
            CHECK(sm.timers_running == SSTP_SRV_TIMER_BIT(SSTP_SRV_T_HELLO));
        if (teardown_persistent(after))
            CHECK(__builtin_popcount(sm.timers_running) == 1);
    }
    sstp_srv_cleanup(&sm);
    return 0;
}
