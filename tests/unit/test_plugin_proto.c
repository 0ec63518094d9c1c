/* test_plugin_proto.c — the plugin <-> sstp-backend messages
 * (backend/pppd-plugin/plugin-proto.h): exact byte images written from the
 * layout in the header, round trips of every type, and every way the
 * decoder must refuse bytes from pppd's side, and the pool's READY and
 * START (bad, empty, over-long or unsafe values refused on both ends). Inputs are copied into
 * exact-size heap blocks so ASan sees any over-read. Also the backend's
 * HLAK choice from a decoded AUTH (be_session_hlak_from_auth): strictly by
 * method, no zero HLAK for a method that yields keys. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "backend/pppd-plugin/plugin-proto.h"
#include "backend/session_int.h"
#include "tests/unit/helpers.h"

/* Decode from an exact-size heap copy. */
static int decode_copy(struct sstp_plugin_msg *m, const uint8_t *in, size_t len)
{
    uint8_t *copy = dup_exact(in, len);
    int rc = sstp_plugin_msg_decode(m, copy, len);
    free(copy);
    return rc;
}

/* A rejected decode leaves m all zero. */
static void assert_rejected(const uint8_t *in, size_t len)
{
    struct sstp_plugin_msg m, zero;

    memset(&m, 0xA5, sizeof(m));
    memset(&zero, 0, sizeof(zero));
    assert_int_equal(decode_copy(&m, in, len), -1);
    assert_memory_equal(&m, &zero, sizeof(m));
}

static struct sstp_plugin_msg auth_msg(uint8_t auth, uint8_t keys_set, const char *user)
{
    struct sstp_plugin_msg m;

    memset(&m, 0, sizeof(m));
    m.type = SSTP_PLUGIN_AUTH;
    m.auth = auth;
    m.keys_set = keys_set;
    for (int i = 0; i < 16; i++) {
        m.recv_key[i] = (uint8_t)(0x10 + i);
        m.send_key[i] = (uint8_t)(0xE0 + i);
    }
    strcpy(m.user, user);
    return m;
}

/* Encode, check the length, decode from a heap copy, compare the fields of
 * the type, and check that every strict prefix and a one-byte extension
 * are refused. */
static void roundtrip(const struct sstp_plugin_msg *in, int want_len)
{
    uint8_t buf[SSTP_PLUGIN_MSG_MAX + 1];
    struct sstp_plugin_msg out;
    int n = sstp_plugin_msg_encode(buf, SSTP_PLUGIN_MSG_MAX, in);

    assert_int_equal(n, want_len);
    assert_true(n <= SSTP_PLUGIN_MSG_MAX);
    assert_int_equal(decode_copy(&out, buf, (size_t)n), 0);
    assert_int_equal(out.type, in->type);
    switch (in->type) {
    case SSTP_PLUGIN_AUTH:
        assert_int_equal(out.auth, in->auth);
        assert_int_equal(out.keys_set, in->keys_set);
        assert_memory_equal(out.recv_key, in->recv_key, 16);
        assert_memory_equal(out.send_key, in->send_key, 16);
        assert_string_equal(out.user, in->user);
        break;
    case SSTP_PLUGIN_IP_UP:
        assert_int_equal(out.ip_local, in->ip_local);
        assert_int_equal(out.ip_remote, in->ip_remote);
        break;
    case SSTP_PLUGIN_IPV6_UP:
        assert_memory_equal(out.ipv6_local, in->ipv6_local, 8);
        assert_memory_equal(out.ipv6_remote, in->ipv6_remote, 8);
        break;
    case SSTP_PLUGIN_ACK:
        assert_int_equal(out.acked, in->acked);
        break;
    case SSTP_PLUGIN_READY:
        break;
    case SSTP_PLUGIN_START:
        assert_string_equal(out.sid, in->sid);
        assert_string_equal(out.client, in->client);
        assert_string_equal(out.corr, in->corr);
        break;
    default:
        fail();
    }
    for (int cut = 0; cut < n; cut++)
        assert_rejected(buf, (size_t)cut);
    buf[n] = 0;
    assert_rejected(buf, (size_t)n + 1);
}

/* --- exact byte images, from the layout comment in plugin-proto.h --- */

static void test_auth_bytes(void **state)
{
    (void)state;
    struct sstp_plugin_msg m = auth_msg(SSTP_PLUGIN_AUTH_MSCHAPV2, 1, "bob");
    static const uint8_t want[] = {
        0x01, 0x01, 0x00, 0x28,                  /* v1, AUTH, body 36 + 4 */
        0x03, 0x01,                              /* mschap-v2, keys set */
        0x10, 0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17,
        0x18, 0x19, 0x1a, 0x1b, 0x1c, 0x1d, 0x1e, 0x1f,   /* recv */
        0xe0, 0xe1, 0xe2, 0xe3, 0xe4, 0xe5, 0xe6, 0xe7,
        0xe8, 0xe9, 0xea, 0xeb, 0xec, 0xed, 0xee, 0xef,   /* send */
        0x00, 0x04, 'b', 'o', 'b', 0x00,         /* user length 4, "bob\0" */
    };
    uint8_t buf[SSTP_PLUGIN_MSG_MAX];
    int n = sstp_plugin_msg_encode(buf, sizeof(buf), &m);

    assert_int_equal(n, (int)sizeof(want));
    assert_memory_equal(buf, want, sizeof(want));
}

static void test_ip_up_bytes(void **state)
{
    (void)state;
    struct sstp_plugin_msg m;
    static const uint8_t addr_l[4] = { 10, 0, 0, 1 }, addr_r[4] = { 192, 168, 7, 200 };
    static const uint8_t want[] = { 0x01, 0x02, 0x00, 0x08, 10, 0, 0, 1, 192, 168, 7, 200 };
    uint8_t buf[SSTP_PLUGIN_MSG_MAX];

    memset(&m, 0, sizeof(m));
    m.type = SSTP_PLUGIN_IP_UP;
    memcpy(&m.ip_local, addr_l, 4);      /* network order, as pppd keeps it */
    memcpy(&m.ip_remote, addr_r, 4);
    assert_int_equal(sstp_plugin_msg_encode(buf, sizeof(buf), &m), (int)sizeof(want));
    assert_memory_equal(buf, want, sizeof(want));
}

static void test_ipv6_up_bytes(void **state)
{
    (void)state;
    struct sstp_plugin_msg m;
    static const uint8_t want[] = {
        0x01, 0x03, 0x00, 0x10,
        0x02, 0x11, 0x22, 0xff, 0xfe, 0x33, 0x44, 0x55,
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02,
    };
    uint8_t buf[SSTP_PLUGIN_MSG_MAX];

    memset(&m, 0, sizeof(m));
    m.type = SSTP_PLUGIN_IPV6_UP;
    memcpy(m.ipv6_local, want + 4, 8);
    memcpy(m.ipv6_remote, want + 12, 8);
    assert_int_equal(sstp_plugin_msg_encode(buf, sizeof(buf), &m), (int)sizeof(want));
    assert_memory_equal(buf, want, sizeof(want));
}

static void test_ack_bytes(void **state)
{
    (void)state;
    struct sstp_plugin_msg m;
    static const uint8_t want[] = { 0x01, 0x80, 0x00, 0x01, 0x02 };
    uint8_t buf[SSTP_PLUGIN_MSG_MAX];

    memset(&m, 0, sizeof(m));
    m.type = SSTP_PLUGIN_ACK;
    m.acked = SSTP_PLUGIN_IP_UP;
    assert_int_equal(sstp_plugin_msg_encode(buf, sizeof(buf), &m), (int)sizeof(want));
    assert_memory_equal(buf, want, sizeof(want));
}

/* --- round trips --- */

static void test_roundtrip_auth(void **state)
{
    (void)state;
    char longest[SSTP_PLUGIN_USER_MAX];

    for (uint8_t a = SSTP_PLUGIN_AUTH_NONE; a <= SSTP_PLUGIN_AUTH_EAP; a++) {
        for (uint8_t k = 0; k <= 1; k++) {
            struct sstp_plugin_msg m = auth_msg(a, k, "alice@EXAMPLE");
            roundtrip(&m, 4 + 36 + 14);
        }
    }
    struct sstp_plugin_msg empty = auth_msg(SSTP_PLUGIN_AUTH_NONE, 0, "");
    roundtrip(&empty, 4 + 36 + 1);

    /* 255 characters + NUL: the largest message there is, and any byte
     * but NUL is carried as is. */
    memset(longest, 'x', sizeof(longest) - 1);
    longest[0] = (char)0xff;
    longest[1] = '\n';
    longest[sizeof(longest) - 1] = '\0';
    struct sstp_plugin_msg big = auth_msg(SSTP_PLUGIN_AUTH_PAP, 0, longest);
    roundtrip(&big, 4 + 36 + 256);
}

static void test_roundtrip_ip(void **state)
{
    (void)state;
    struct sstp_plugin_msg m;

    memset(&m, 0, sizeof(m));
    m.type = SSTP_PLUGIN_IP_UP;
    m.ip_local = 0x0100000a;
    m.ip_remote = 0xffffffff;
    roundtrip(&m, 12);

    memset(&m, 0, sizeof(m));
    m.type = SSTP_PLUGIN_IPV6_UP;
    for (int i = 0; i < 8; i++) {
        m.ipv6_local[i] = (uint8_t)(i + 1);
        m.ipv6_remote[i] = (uint8_t)(0xf0 | i);
    }
    roundtrip(&m, 20);
}

static void test_roundtrip_ack(void **state)
{
    (void)state;
    static const uint8_t acked[] = { SSTP_PLUGIN_AUTH, SSTP_PLUGIN_IP_UP, SSTP_PLUGIN_IPV6_UP };

    for (size_t i = 0; i < sizeof(acked); i++) {
        struct sstp_plugin_msg m;

        memset(&m, 0, sizeof(m));
        m.type = SSTP_PLUGIN_ACK;
        m.acked = acked[i];
        roundtrip(&m, 5);
    }
}

/* Fields of other types are ignored by the encoder and zero after decode. */
static void test_other_fields_ignored(void **state)
{
    (void)state;
    struct sstp_plugin_msg m, out;
    uint8_t buf[SSTP_PLUGIN_MSG_MAX];
    int n;

    memset(&m, 0x77, sizeof(m));
    m.type = SSTP_PLUGIN_ACK;
    m.acked = SSTP_PLUGIN_AUTH;
    n = sstp_plugin_msg_encode(buf, sizeof(buf), &m);
    assert_int_equal(n, 5);
    assert_int_equal(decode_copy(&out, buf, (size_t)n), 0);
    assert_int_equal(out.type, SSTP_PLUGIN_ACK);
    assert_int_equal(out.acked, SSTP_PLUGIN_AUTH);
    assert_int_equal(out.auth, 0);
    assert_int_equal(out.keys_set, 0);
    assert_int_equal(out.user[0], 0);
    assert_int_equal(out.ip_local, 0);
}

/* --- encoder refusals --- */

static void test_encode_cap(void **state)
{
    (void)state;
    struct sstp_plugin_msg m = auth_msg(SSTP_PLUGIN_AUTH_EAP, 1, "carol");
    uint8_t buf[64];
    int full = sstp_plugin_msg_encode(buf, sizeof(buf), &m);

    assert_int_equal(full, 4 + 36 + 6);
    for (int cap = 0; cap < full; cap++) {
        memset(buf, 0xCC, sizeof(buf));
        assert_int_equal(sstp_plugin_msg_encode(buf, (size_t)cap, &m), -1);
        for (size_t i = 0; i < sizeof(buf); i++)
            assert_int_equal(buf[i], 0xCC);      /* fails whole */
    }
    assert_int_equal(sstp_plugin_msg_encode(buf, (size_t)full, &m), full);
}

static void test_encode_invalid(void **state)
{
    (void)state;
    uint8_t buf[SSTP_PLUGIN_MSG_MAX];
    struct sstp_plugin_msg m;

    m = auth_msg(SSTP_PLUGIN_AUTH_EAP + 1, 0, "u");
    assert_int_equal(sstp_plugin_msg_encode(buf, sizeof(buf), &m), -1);
    m = auth_msg(SSTP_PLUGIN_AUTH_PAP, 2, "u");
    assert_int_equal(sstp_plugin_msg_encode(buf, sizeof(buf), &m), -1);
    m = auth_msg(SSTP_PLUGIN_AUTH_PAP, 0, "u");
    memset(m.user, 'u', sizeof(m.user));         /* no NUL anywhere */
    assert_int_equal(sstp_plugin_msg_encode(buf, sizeof(buf), &m), -1);

    memset(&m, 0, sizeof(m));
    for (unsigned t = 0; t <= 0xff; t++) {
        if (t == SSTP_PLUGIN_AUTH || t == SSTP_PLUGIN_IP_UP || t == SSTP_PLUGIN_IPV6_UP ||
            t == SSTP_PLUGIN_ACK || t == SSTP_PLUGIN_READY)
            continue;
        m.type = (uint8_t)t;
        assert_int_equal(sstp_plugin_msg_encode(buf, sizeof(buf), &m), -1);
    }
    m.type = SSTP_PLUGIN_ACK;
    m.acked = SSTP_PLUGIN_ACK;
    assert_int_equal(sstp_plugin_msg_encode(buf, sizeof(buf), &m), -1);
    m.acked = 0;
    assert_int_equal(sstp_plugin_msg_encode(buf, sizeof(buf), &m), -1);
}

/* --- decoder refusals, one case per rule --- */

/* A valid AUTH image to mutate: user "ab". */
static size_t auth_image(uint8_t *out)
{
    struct sstp_plugin_msg m = auth_msg(SSTP_PLUGIN_AUTH_MSCHAPV2, 1, "ab");
    int n = sstp_plugin_msg_encode(out, SSTP_PLUGIN_MSG_MAX, &m);

    assert_int_equal(n, 4 + 36 + 3);
    return (size_t)n;
}

static void test_decode_header(void **state)
{
    (void)state;
    uint8_t b[SSTP_PLUGIN_MSG_MAX];
    size_t n = auth_image(b);

    assert_rejected(b, 0);                       /* empty datagram */
    assert_rejected(b, 3);                       /* short header */

    b[0] = 0;                                    /* version 0 */
    assert_rejected(b, n);
    b[0] = 2;                                    /* a future version */
    assert_rejected(b, n);
    b[0] = SSTP_PLUGIN_PROTO_VERSION;

    b[3]++;                                      /* body length past the end */
    assert_rejected(b, n);
    b[3] -= 2;                                   /* a trailing byte */
    assert_rejected(b, n);
    b[3]++;
    b[2] = 0x80;                                 /* huge length */
    assert_rejected(b, n);
    b[2] = 0;

    struct sstp_plugin_msg ok;
    assert_int_equal(decode_copy(&ok, b, n), 0);  /* restored image is fine */
}

static void test_decode_type(void **state)
{
    (void)state;
    for (unsigned t = 0; t <= 0xff; t++) {
        if (t == SSTP_PLUGIN_AUTH || t == SSTP_PLUGIN_IP_UP || t == SSTP_PLUGIN_IPV6_UP ||
            t == SSTP_PLUGIN_ACK || t == SSTP_PLUGIN_READY || t == SSTP_PLUGIN_START)
            continue;
        /* Unknown types are refused whatever the body. */
        uint8_t b[] = { 1, (uint8_t)t, 0, 1, SSTP_PLUGIN_AUTH };
        assert_rejected(b, sizeof(b));
        uint8_t e[] = { 1, (uint8_t)t, 0, 0 };
        assert_rejected(e, sizeof(e));
    }
}

/* Each fixed-size type with a body one short and one long, the datagram
 * length agreeing with the header so only the type rule can refuse it. */
static void test_decode_fixed_lengths(void **state)
{
    (void)state;
    static const struct { uint8_t type; uint16_t len; } t[] = {
        { SSTP_PLUGIN_IP_UP, SSTP_PLUGIN_IP_UP_LEN },
        { SSTP_PLUGIN_IPV6_UP, SSTP_PLUGIN_IPV6_UP_LEN },
        { SSTP_PLUGIN_ACK, SSTP_PLUGIN_ACK_LEN },
    };
    uint8_t b[4 + 32];

    for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
        for (int d = -1; d <= 1; d += 2) {
            uint16_t body = (uint16_t)(t[i].len + d);

            memset(b, SSTP_PLUGIN_IP_UP, sizeof(b));  /* a valid ACK target too */
            b[0] = 1;
            b[1] = t[i].type;
            b[2] = 0;
            b[3] = (uint8_t)body;
            assert_rejected(b, 4 + (size_t)body);
        }
    }
}

static void test_decode_auth_fields(void **state)
{
    (void)state;
    uint8_t b[SSTP_PLUGIN_MSG_MAX];
    size_t n = auth_image(b);
    struct sstp_plugin_msg m;

    b[4] = SSTP_PLUGIN_AUTH_EAP + 1;             /* unknown method */
    assert_rejected(b, n);
    b[4] = 0xff;
    assert_rejected(b, n);
    b[4] = SSTP_PLUGIN_AUTH_MSCHAPV2;
    b[5] = 2;                                    /* keys_set not a boolean */
    assert_rejected(b, n);
    b[5] = 1;
    assert_int_equal(decode_copy(&m, b, n), 0);

    /* Body shorter than the fixed part: header says 35, datagram has 35. */
    uint8_t shortb[4 + 35];
    memcpy(shortb, b, sizeof(shortb));
    shortb[2] = 0;
    shortb[3] = 35;
    assert_rejected(shortb, sizeof(shortb));
    /* Fixed part only: no room for a user length. */
    shortb[3] = 34;
    assert_rejected(shortb, 4 + 34);
}

static void test_decode_auth_user(void **state)
{
    (void)state;
    uint8_t b[SSTP_PLUGIN_MSG_MAX];
    size_t n = auth_image(b);                    /* user "ab\0" at b[40..42] */
    const size_t ulen_at = 4 + 34;

    /* User length 0, with the header body trimmed to match. */
    b[ulen_at + 1] = 0;
    b[3] = 36;
    assert_rejected(b, 4 + 36);
    n = auth_image(b);

    /* User length disagreeing with the body, either way. */
    b[ulen_at + 1] = 2;
    assert_rejected(b, n);
    b[ulen_at + 1] = 4;
    assert_rejected(b, n);
    n = auth_image(b);
    /* A well-formed user "a\0" followed by a byte the body still covers. */
    b[ulen_at + 1] = 2;
    b[n - 2] = '\0';
    b[n - 1] = 'x';
    assert_rejected(b, n);
    b[n - 1] = '\0';
    assert_rejected(b, n);
    n = auth_image(b);

    /* Unterminated: last byte not NUL. */
    b[n - 1] = 'c';
    assert_rejected(b, n);
    n = auth_image(b);
    /* NUL before the end. */
    b[n - 2] = '\0';
    assert_rejected(b, n);
    n = auth_image(b);
    b[n - 3] = '\0';
    assert_rejected(b, n);

    /* User length 257 with a consistent body: over SSTP_PLUGIN_USER_MAX. */
    uint8_t big[4 + 36 + 257];
    memset(big, 'z', sizeof(big));
    big[0] = 1;
    big[1] = SSTP_PLUGIN_AUTH;
    big[2] = (uint8_t)((36 + 257) >> 8);
    big[3] = (uint8_t)(36 + 257);
    big[4] = SSTP_PLUGIN_AUTH_PAP;
    big[5] = 0;
    big[ulen_at] = 0x01;
    big[ulen_at + 1] = 0x01;                     /* 257 */
    big[sizeof(big) - 1] = '\0';
    assert_rejected(big, sizeof(big));
    /* The same at 256 is the longest accepted user. */
    big[2] = (uint8_t)((36 + 256) >> 8);
    big[3] = (uint8_t)(36 + 256);
    big[ulen_at] = 0x01;
    big[ulen_at + 1] = 0x00;
    big[sizeof(big) - 2] = '\0';
    struct sstp_plugin_msg m;
    assert_int_equal(decode_copy(&m, big, sizeof(big) - 1), 0);
    assert_int_equal(strlen(m.user), 255);
}

static void test_decode_ack_target(void **state)
{
    (void)state;
    for (unsigned t = 0; t <= 0xff; t++) {
        uint8_t b[] = { 1, SSTP_PLUGIN_ACK, 0, 1, (uint8_t)t };
        struct sstp_plugin_msg m;

        if (t == SSTP_PLUGIN_AUTH || t == SSTP_PLUGIN_IP_UP || t == SSTP_PLUGIN_IPV6_UP) {
            assert_int_equal(decode_copy(&m, b, sizeof(b)), 0);
            assert_int_equal(m.acked, t);
        } else {
            assert_rejected(b, sizeof(b));
        }
    }
}

/* Every single-byte change to a valid message either is refused or decodes
 * to something that re-encodes to exactly those bytes: the decoder accepts
 * nothing the encoder would not produce. */
static void test_decode_canonical(void **state)
{
    (void)state;
    uint8_t img[SSTP_PLUGIN_MSG_MAX], re[SSTP_PLUGIN_MSG_MAX];
    size_t n = auth_image(img);

    for (size_t pos = 0; pos < n; pos++) {
        for (unsigned v = 0; v <= 0xff; v++) {
            uint8_t b[SSTP_PLUGIN_MSG_MAX];
            struct sstp_plugin_msg m;

            memcpy(b, img, n);
            b[pos] = (uint8_t)v;
            if (decode_copy(&m, b, n) == 0) {
                int k = sstp_plugin_msg_encode(re, sizeof(re), &m);
                assert_int_equal(k, (int)n);
                assert_memory_equal(re, b, n);
            }
        }
    }
}

/* --- pool: READY and START --- */

static struct sstp_plugin_msg start_msg(const char *sid, const char *client, const char *corr)
{
    struct sstp_plugin_msg m;

    memset(&m, 0, sizeof(m));
    m.type = SSTP_PLUGIN_START;
    strcpy(m.sid, sid);
    strcpy(m.client, client);
    strcpy(m.corr, corr);
    return m;
}

/* START image: sid "3af0", client "203.0.113.7", corr "{6B-8}". */
static const uint8_t START_IMG[] = {
    1, 0x81, 0, 24,
    4, '3', 'a', 'f', '0',
    11, '2', '0', '3', '.', '0', '.', '1', '1', '3', '.', '7',
    6, '{', '6', 'B', '-', '8', '}',
};

static void test_ready_bytes(void **state)
{
    (void)state;
    struct sstp_plugin_msg m = { .type = SSTP_PLUGIN_READY };
    uint8_t buf[SSTP_PLUGIN_MSG_MAX];
    const uint8_t want[] = { 1, SSTP_PLUGIN_READY, 0, 0 };

    assert_int_equal(sstp_plugin_msg_encode(buf, sizeof(buf), &m), 4);
    assert_memory_equal(buf, want, 4);
    roundtrip(&m, 4);
    /* READY has no body: one byte more is refused */
    const uint8_t body[] = { 1, SSTP_PLUGIN_READY, 0, 1, 0 };
    assert_rejected(body, sizeof(body));
}

static void test_start_bytes(void **state)
{
    (void)state;
    struct sstp_plugin_msg m = start_msg("3af0", "203.0.113.7", "{6B-8}"), out;
    uint8_t buf[SSTP_PLUGIN_MSG_MAX];

    assert_int_equal(sstp_plugin_msg_encode(buf, sizeof(buf), &m), (int)sizeof(START_IMG));
    assert_memory_equal(buf, START_IMG, sizeof(START_IMG));
    roundtrip(&m, (int)sizeof(START_IMG));
    /* an empty correlation id, the longest values, IPv6 */
    char longest[SSTP_PLUGIN_VALUE_MAX + 1];
    memset(longest, 'a', SSTP_PLUGIN_VALUE_MAX);
    longest[SSTP_PLUGIN_VALUE_MAX] = '\0';
    m = start_msg("s", "2001:db8::7", "");
    roundtrip(&m, 4 + 3 + 1 + 11);
    m = start_msg(longest, longest, longest);
    roundtrip(&m, 4 + 3 + 3 * SSTP_PLUGIN_VALUE_MAX);
    /* the plugin waiting for an ACK sees START as what it is: not an ACK,
     * so a duplicate START ends pppd there (sstp-lb-plugin.c report()) */
    assert_int_equal(decode_copy(&out, START_IMG, sizeof(START_IMG)), 0);
    assert_int_not_equal(out.type, SSTP_PLUGIN_ACK);
    /* and an ACK never names START or READY: the backend acknowledges reports only */
    uint8_t a1[] = { 1, SSTP_PLUGIN_ACK, 0, 1, SSTP_PLUGIN_START };
    uint8_t a2[] = { 1, SSTP_PLUGIN_ACK, 0, 1, SSTP_PLUGIN_READY };
    assert_rejected(a1, sizeof(a1));
    assert_rejected(a2, sizeof(a2));
}

static void test_encode_start_invalid(void **state)
{
    (void)state;
    uint8_t buf[SSTP_PLUGIN_MSG_MAX];
    char too_long[SSTP_PLUGIN_VALUE_MAX + 2];
    memset(too_long, '1', SSTP_PLUGIN_VALUE_MAX + 1);
    too_long[SSTP_PLUGIN_VALUE_MAX + 1] = '\0';
    struct sstp_plugin_msg bad[] = {
        start_msg("", "10.0.0.1", "c"),           /* no session id */
        start_msg("s", "", "c"),                  /* no client */
        start_msg("s id", "10.0.0.1", ""),        /* space */
        start_msg("s", "10.0.0.1;x", ""),         /* shell syntax */
        start_msg("s", "10.0.0.1", "$(id)"),
        start_msg("s", "10.0.0.1", "a\nb"),
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(sstp_plugin_msg_encode(buf, sizeof(buf), &bad[i]), -1);
    struct sstp_plugin_msg m = start_msg("s", "10.0.0.1", "");
    memcpy(m.sid, too_long, SSTP_PLUGIN_VALUE_MAX + 1); /* no NUL within the field */
    assert_int_equal(sstp_plugin_msg_encode(buf, sizeof(buf), &m), -1);
    /* too small a buffer: nothing written */
    m = start_msg("s", "10.0.0.1", "");
    memset(buf, 0x5A, sizeof(buf));
    assert_int_equal(sstp_plugin_msg_encode(buf, 4 + 3 + 1 + 8 - 1, &m), -1);
    assert_int_equal(buf[0], 0x5A);
}

/* A START from a confused or hostile sender: every malformation refused. */
static void test_decode_start_bad(void **state)
{
    (void)state;
    uint8_t b[SSTP_PLUGIN_MSG_MAX];
    size_t n = sizeof(START_IMG);

    /* a value byte outside the charset, NUL included, at every value position */
    const uint8_t value_pos[] = { 5, 8, 10, 20, 22, 27 };
    const uint8_t bad_bytes[] = { 0, ' ', ';', '$', '\n', '"', 0x80, 0xff };
    for (size_t i = 0; i < sizeof(value_pos); i++)
        for (size_t j = 0; j < sizeof(bad_bytes); j++) {
            memcpy(b, START_IMG, n);
            b[value_pos[i]] = bad_bytes[j];
            assert_rejected(b, n);
        }
    /* empty session id / client (lengths and body adjusted to agree) */
    const uint8_t empty_sid[] = { 1, 0x81, 0, 5, 0, 1, '1', 1, 'c' };
    const uint8_t empty_client[] = { 1, 0x81, 0, 5, 1, 's', 0, 1, 'c' };
    const uint8_t ok_min[] = { 1, 0x81, 0, 5, 1, 's', 1, '1', 0 };
    assert_rejected(empty_sid, sizeof(empty_sid));
    assert_rejected(empty_client, sizeof(empty_client));
    struct sstp_plugin_msg m;
    assert_int_equal(decode_copy(&m, ok_min, sizeof(ok_min)), 0);
    assert_string_equal(m.sid, "s");
    assert_string_equal(m.corr, "");
    /* the correlation id missing, or a byte after it */
    const uint8_t no_corr[] = { 1, 0x81, 0, 4, 1, 's', 1, '1' };
    const uint8_t trailing[] = { 1, 0x81, 0, 6, 1, 's', 1, '1', 0, 'x' };
    assert_rejected(no_corr, sizeof(no_corr));
    assert_rejected(trailing, sizeof(trailing));
    /* a value length past the body, and one above SSTP_PLUGIN_VALUE_MAX */
    memcpy(b, START_IMG, n);
    b[21] = 7;
    assert_rejected(b, n);
    uint8_t big[4 + 1 + 65 + 2 + 1];
    memset(big, 'a', sizeof(big));
    big[0] = 1; big[1] = 0x81; big[2] = 0; big[3] = (uint8_t)(sizeof(big) - 4);
    big[4] = 65;
    big[70] = 1; big[72] = 0;
    assert_rejected(big, sizeof(big));
    big[4] = 64; /* now 64 + a one-byte client whose length byte is 'a': refused too */
    assert_rejected(big, sizeof(big));
}

/* Every single-byte change to a START either is refused or re-encodes to
 * exactly those bytes. */
static void test_decode_start_canonical(void **state)
{
    (void)state;
    size_t n = sizeof(START_IMG);
    for (size_t pos = 0; pos < n; pos++)
        for (unsigned v = 0; v <= 0xff; v++) {
            uint8_t b[sizeof(START_IMG)], re[SSTP_PLUGIN_MSG_MAX];
            struct sstp_plugin_msg m;

            memcpy(b, START_IMG, n);
            b[pos] = (uint8_t)v;
            if (decode_copy(&m, b, n) == 0) {
                assert_int_equal(sstp_plugin_msg_encode(re, sizeof(re), &m), (int)n);
                assert_memory_equal(re, b, n);
            }
        }
}

static void auth_fill(struct sstp_plugin_msg *m, uint8_t method, uint8_t keys_set, uint8_t recv_fill,
                      uint8_t send_fill)
{
    memset(m, 0, sizeof(*m));
    m->type = SSTP_PLUGIN_AUTH;
    m->auth = method;
    m->keys_set = keys_set;
    memset(m->recv_key, recv_fill, sizeof(m->recv_key));
    memset(m->send_key, send_fill, sizeof(m->send_key));
    strcpy(m->user, "alice");
}

static void test_hlak_by_method(void **state)
{
    static const uint8_t zero[SSTP_HLAK_LEN];
    uint8_t hlak[SSTP_HLAK_LEN], want[SSTP_HLAK_LEN];
    struct sstp_plugin_msg m;

    (void)state;
    /* MS-CHAPv2 with both keys: recv | send (K2 | K3), MS-SSTP 3.2.5.2.2 */
    auth_fill(&m, SSTP_PLUGIN_AUTH_MSCHAPV2, 1, 0x11, 0x22);
    assert_int_equal(be_session_hlak_from_auth(hlak, &m), SSTP_OK);
    memset(want, 0x11, 16);
    memset(want + 16, 0x22, 16);
    assert_memory_equal(hlak, want, sizeof(hlak));

    /* MS-CHAPv2 without usable keys: refused, never zeroed into a binding */
    auth_fill(&m, SSTP_PLUGIN_AUTH_MSCHAPV2, 0, 0x11, 0x22);
    memset(hlak, 0xEE, sizeof(hlak));
    assert_int_equal(be_session_hlak_from_auth(hlak, &m), SSTP_E_BIND_NO_KEYS);
    assert_memory_equal(hlak, zero, sizeof(hlak));
    auth_fill(&m, SSTP_PLUGIN_AUTH_MSCHAPV2, 1, 0x00, 0x22);
    assert_int_equal(be_session_hlak_from_auth(hlak, &m), SSTP_E_BIND_NO_KEYS);
    auth_fill(&m, SSTP_PLUGIN_AUTH_MSCHAPV2, 1, 0x11, 0x00);
    assert_int_equal(be_session_hlak_from_auth(hlak, &m), SSTP_E_BIND_NO_KEYS);

    /* EAP: pppd 2.4.9's 16-byte keys cannot give MSK[0..31] */
    auth_fill(&m, SSTP_PLUGIN_AUTH_EAP, 1, 0x11, 0x22);
    assert_int_equal(be_session_hlak_from_auth(hlak, &m), SSTP_E_BIND_METHOD);
    assert_memory_equal(hlak, zero, sizeof(hlak));
    auth_fill(&m, SSTP_PLUGIN_AUTH_EAP, 0, 0, 0);
    assert_int_equal(be_session_hlak_from_auth(hlak, &m), SSTP_E_BIND_NO_KEYS);

    /* PAP, CHAP-MD5, none: zeros whatever keys RADIUS sent */
    static const uint8_t zero_methods[] = { SSTP_PLUGIN_AUTH_PAP, SSTP_PLUGIN_AUTH_CHAP_MD5,
                                            SSTP_PLUGIN_AUTH_NONE };
    for (size_t i = 0; i < sizeof(zero_methods); i++) {
        auth_fill(&m, zero_methods[i], 1, 0x11, 0x22);
        memset(hlak, 0xEE, sizeof(hlak));
        assert_int_equal(be_session_hlak_from_auth(hlak, &m), SSTP_OK);
        assert_memory_equal(hlak, zero, sizeof(hlak));
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_auth_bytes),
        cmocka_unit_test(test_ip_up_bytes),
        cmocka_unit_test(test_ipv6_up_bytes),
        cmocka_unit_test(test_ack_bytes),
        cmocka_unit_test(test_roundtrip_auth),
        cmocka_unit_test(test_roundtrip_ip),
        cmocka_unit_test(test_roundtrip_ack),
        cmocka_unit_test(test_other_fields_ignored),
        cmocka_unit_test(test_encode_cap),
        cmocka_unit_test(test_encode_invalid),
        cmocka_unit_test(test_decode_header),
        cmocka_unit_test(test_decode_type),
        cmocka_unit_test(test_decode_fixed_lengths),
        cmocka_unit_test(test_decode_auth_fields),
        cmocka_unit_test(test_decode_auth_user),
        cmocka_unit_test(test_decode_ack_target),
        cmocka_unit_test(test_decode_canonical),
        cmocka_unit_test(test_hlak_by_method),
        cmocka_unit_test(test_ready_bytes),
        cmocka_unit_test(test_start_bytes),
        cmocka_unit_test(test_encode_start_invalid),
        cmocka_unit_test(test_decode_start_bad),
        cmocka_unit_test(test_decode_start_canonical),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
