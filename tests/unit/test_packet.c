/* test_packet.c — SSTP packet header codec and PPP frame classification.
 * Inputs are copied into exact-size heap blocks so ASan sees over-reads. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "sstp/ctrl.h"
#include "sstp/packet.h"
#include "tests/unit/helpers.h"

static enum sstp_rc decode_exact(struct sstp_pkt *out, size_t *used, const uint8_t *p, size_t n)
{
    uint8_t *q = dup_exact(p, n);
    enum sstp_rc rc = sstp_pkt_decode(out, used, q, n);
    /* keep views valid for the caller: point them back into p */
    if (rc == SSTP_OK) {
        out->raw = p;
        out->payload.p = p + (out->payload.p - q);
    }
    free(q);
    return rc;
}

static void test_decode_data(void **state)
{
    (void)state;
    static const uint8_t pkt[] = { 0x10, 0x00, 0x00, 0x08, 0xFF, 0x03, 0xC0, 0x21 };
    struct sstp_pkt p;
    size_t used = 0;
    assert_int_equal(decode_exact(&p, &used, pkt, sizeof(pkt)), SSTP_OK);
    assert_int_equal(used, 8);
    assert_false(p.is_ctrl);
    assert_false(p.anomaly);
    assert_int_equal(p.len, 8);
    assert_ptr_equal(p.raw, pkt);
    assert_ptr_equal(p.payload.p, pkt + 4);
    assert_int_equal(p.payload.len, 4);
}

static void test_decode_ctrl_and_trailing_stream(void **state)
{
    (void)state;
    /* ECHO_REQUEST followed by the first byte of the next packet */
    static const uint8_t s[] = { 0x10, 0x01, 0x00, 0x08, 0x00, 0x08, 0x00, 0x00, 0x10 };
    struct sstp_pkt p;
    size_t used = 0;
    assert_int_equal(decode_exact(&p, &used, s, sizeof(s)), SSTP_OK);
    assert_int_equal(used, 8);
    assert_true(p.is_ctrl);
    assert_int_equal(p.payload.len, 4);
}

static void test_decode_empty_data_packet(void **state)
{
    (void)state;
    static const uint8_t pkt[] = { 0x10, 0x00, 0x00, 0x04 };
    struct sstp_pkt p;
    size_t used = 0;
    assert_int_equal(decode_exact(&p, &used, pkt, sizeof(pkt)), SSTP_OK);
    assert_int_equal(used, 4);
    assert_int_equal(p.payload.len, 0);
}

static void test_decode_max_len(void **state)
{
    (void)state;
    size_t n = SSTP_PKT_MAX_LEN;
    uint8_t *buf = calloc(1, n);
    assert_non_null(buf);
    buf[0] = 0x10;
    buf[2] = 0x0F;
    buf[3] = 0xFF;
    struct sstp_pkt p;
    size_t used = 0;
    assert_int_equal(sstp_pkt_decode(&p, &used, buf, n), SSTP_OK);
    assert_int_equal(used, 4095);
    assert_int_equal(p.payload.len, 4091);
    /* one byte short: incomplete */
    assert_int_equal(sstp_pkt_decode(&p, &used, buf, n - 1), SSTP_AGAIN);
    free(buf);
}

static void test_decode_again_every_prefix(void **state)
{
    (void)state;
    static const uint8_t pkt[] = { 0x10, 0x01, 0x00, 0x0E, 0x00, 0x01, 0x00,
                                   0x01, 0x00, 0x01, 0x00, 0x06, 0x00, 0x01 };
    for (size_t n = 0; n < sizeof(pkt); n++) {
        struct sstp_pkt p;
        size_t used = 12345;
        assert_int_equal(decode_exact(&p, &used, pkt, n), SSTP_AGAIN);
        assert_int_equal(used, 12345); /* untouched */
    }
}

/* Feed a stream of packets one byte at a time into a growing buffer and
 * decode as soon as possible; the packets found must equal the ones found
 * when the whole stream is decoded at once. */
static void test_byte_at_a_time_matches_all_at_once(void **state)
{
    (void)state;
    static const uint8_t stream[] = {
        0x10, 0x01, 0x00, 0x0E, 0x00, 0x01, 0x00, 0x01, 0x00, 0x01, 0x00, 0x06, 0x00, 0x01,
        0x10, 0x00, 0x00, 0x04,
        0x10, 0x00, 0x00, 0x0A, 0xFF, 0x03, 0x00, 0x21, 0x45, 0x00,
        0x10, 0x81, 0xF0, 0x08, 0x00, 0x09, 0x00, 0x00, /* reserved bits set */
        0x10, 0x01, 0x00, 0x08, 0x00, 0x07, 0x00, 0x00,
    };
    size_t all_off[8], all_len[8], n_all = 0;
    bool all_anom[8];
    size_t off = 0;
    while (off < sizeof(stream)) {
        struct sstp_pkt p;
        size_t used;
        assert_int_equal(sstp_pkt_decode(&p, &used, stream + off, sizeof(stream) - off), SSTP_OK);
        all_off[n_all] = off;
        all_len[n_all] = used;
        all_anom[n_all] = p.anomaly;
        n_all++;
        off += used;
    }
    assert_int_equal(n_all, 5);
    assert_true(all_anom[3]);
    assert_false(all_anom[0]);

    size_t n_inc = 0, start = 0;
    for (size_t have = 1; have <= sizeof(stream); have++) {
        for (;;) {
            uint8_t *q = dup_exact(stream + start, have - start);
            struct sstp_pkt p = { 0 };
            size_t used;
            enum sstp_rc rc = sstp_pkt_decode(&p, &used, q, have - start);
            bool anom = p.anomaly;
            free(q);
            if (rc == SSTP_AGAIN)
                break;
            assert_int_equal(rc, SSTP_OK);
            assert_true(n_inc < n_all);
            assert_int_equal(start, all_off[n_inc]);
            assert_int_equal(used, all_len[n_inc]);
            assert_int_equal(anom, all_anom[n_inc]);
            n_inc++;
            start += used;
            if (start == have)
                break;
        }
    }
    assert_int_equal(n_inc, n_all);
}

static void test_decode_version(void **state)
{
    (void)state;
    static const uint8_t v11[] = { 0x11, 0x00, 0x00, 0x04 };
    struct sstp_pkt p;
    size_t used;
    assert_int_equal(decode_exact(&p, &used, v11, sizeof(v11)), SSTP_E_PKT_VERSION);
    /* reported from the first byte on */
    assert_int_equal(decode_exact(&p, &used, v11, 1), SSTP_E_PKT_VERSION);
    static const uint8_t http[] = { 'G', 'E', 'T', ' ' };
    assert_int_equal(decode_exact(&p, &used, http, sizeof(http)), SSTP_E_PKT_VERSION);
    static const uint8_t v00[] = { 0x00 };
    assert_int_equal(decode_exact(&p, &used, v00, 1), SSTP_E_PKT_VERSION);
}

static void test_decode_short(void **state)
{
    (void)state;
    struct sstp_pkt p;
    size_t used;
    static const uint8_t l0[] = { 0x10, 0x00, 0x00, 0x00 };
    static const uint8_t l3[] = { 0x10, 0x00, 0x00, 0x03 };
    /* a nonzero reserved nibble does not hide a short length */
    static const uint8_t l3r[] = { 0x10, 0x00, 0xF0, 0x03, 0, 0, 0, 0 };
    assert_int_equal(decode_exact(&p, &used, l0, sizeof(l0)), SSTP_E_PKT_SHORT);
    assert_int_equal(decode_exact(&p, &used, l3, sizeof(l3)), SSTP_E_PKT_SHORT);
    assert_int_equal(decode_exact(&p, &used, l3r, sizeof(l3r)), SSTP_E_PKT_SHORT);
}

static void test_decode_ctrl_short(void **state)
{
    (void)state;
    struct sstp_pkt p;
    size_t used;
    static const uint8_t c7[] = { 0x10, 0x01, 0x00, 0x07, 0x00, 0x08, 0x00 };
    static const uint8_t c4[] = { 0x10, 0x01, 0x00, 0x04 };
    assert_int_equal(decode_exact(&p, &used, c7, sizeof(c7)), SSTP_E_CTRL_SHORT);
    assert_int_equal(decode_exact(&p, &used, c4, sizeof(c4)), SSTP_E_CTRL_SHORT);
    /* known as soon as the header is complete */
    assert_int_equal(decode_exact(&p, &used, c7, 4), SSTP_E_CTRL_SHORT);
    /* the same length is fine for a data packet */
    static const uint8_t d7[] = { 0x10, 0x00, 0x00, 0x07, 0x21, 0x45, 0x00 };
    assert_int_equal(decode_exact(&p, &used, d7, sizeof(d7)), SSTP_OK);
}

static void test_decode_reserved_bits_anomaly(void **state)
{
    (void)state;
    struct sstp_pkt p;
    size_t used;
    /* reserved bits in byte 1, C bit set */
    static const uint8_t r1[] = { 0x10, 0xFF, 0x00, 0x08, 0x00, 0x08, 0x00, 0x00 };
    assert_int_equal(decode_exact(&p, &used, r1, sizeof(r1)), SSTP_OK);
    assert_true(p.is_ctrl);
    assert_true(p.anomaly);
    /* reserved bits in byte 1, C bit clear */
    static const uint8_t r2[] = { 0x10, 0x80, 0x00, 0x05, 0x21 };
    assert_int_equal(decode_exact(&p, &used, r2, sizeof(r2)), SSTP_OK);
    assert_false(p.is_ctrl);
    assert_true(p.anomaly);
    /* reserved nibble of the length: masked to 12 bits */
    static const uint8_t r3[] = { 0x10, 0x00, 0x80, 0x05, 0x21, 0x99 };
    assert_int_equal(decode_exact(&p, &used, r3, sizeof(r3)), SSTP_OK);
    assert_int_equal(used, 5);
    assert_int_equal(p.len, 5);
    assert_true(p.anomaly);
}

static void test_decode_args(void **state)
{
    (void)state;
    static const uint8_t pkt[] = { 0x10, 0x00, 0x00, 0x04 };
    struct sstp_pkt p;
    size_t used;
    assert_int_equal(sstp_pkt_decode(NULL, &used, pkt, 4), SSTP_E_ARG);
    assert_int_equal(sstp_pkt_decode(&p, NULL, pkt, 4), SSTP_E_ARG);
    assert_int_equal(sstp_pkt_decode(&p, &used, NULL, 4), SSTP_E_ARG);
    assert_int_equal(sstp_pkt_decode(&p, &used, NULL, 0), SSTP_AGAIN);
}

static void test_hdr_encode(void **state)
{
    (void)state;
    uint8_t buf[8];
    struct sstp_wbuf w;
    sstp_wbuf_init(&w, buf, sizeof(buf));
    assert_int_equal(sstp_pkt_hdr_encode(&w, true, 14), SSTP_OK);
    assert_int_equal(sstp_pkt_hdr_encode(&w, false, 4095), SSTP_OK);
    static const uint8_t want[] = { 0x10, 0x01, 0x00, 0x0E, 0x10, 0x00, 0x0F, 0xFF };
    assert_int_equal(w.len, 8);
    assert_memory_equal(buf, want, 8);

    /* round trip of a header through the decoder */
    uint8_t pkt[4];
    sstp_wbuf_init(&w, pkt, sizeof(pkt));
    assert_int_equal(sstp_pkt_hdr_encode(&w, false, 4), SSTP_OK);
    struct sstp_pkt p;
    size_t used;
    assert_int_equal(sstp_pkt_decode(&p, &used, pkt, 4), SSTP_OK);
    assert_false(p.is_ctrl);
    assert_int_equal(p.len, 4);
}

static void test_hdr_encode_errors(void **state)
{
    (void)state;
    uint8_t buf[8];
    struct sstp_wbuf w;
    sstp_wbuf_init(&w, buf, sizeof(buf));
    assert_int_equal(sstp_pkt_hdr_encode(&w, false, 4096), SSTP_E_PKT_TOO_LONG);
    assert_int_equal(sstp_pkt_hdr_encode(&w, false, 3), SSTP_E_PKT_SHORT);
    assert_int_equal(sstp_pkt_hdr_encode(&w, true, 7), SSTP_E_PKT_SHORT);
    assert_int_equal(sstp_pkt_hdr_encode(NULL, true, 8), SSTP_E_ARG);
    assert_int_equal(w.len, 0);
    assert_false(w.err);

    sstp_wbuf_init(&w, buf, 3);
    assert_int_equal(sstp_pkt_hdr_encode(&w, true, 8), SSTP_E_NOSPACE);
    assert_true(w.err);
    assert_int_equal(w.len, 0);
}

static void test_data_encode(void **state)
{
    (void)state;
    static const uint8_t frame[] = { 0xFF, 0x03, 0x00, 0x21, 0x45 };
    uint8_t buf[16];
    struct sstp_wbuf w;
    sstp_wbuf_init(&w, buf, sizeof(buf));
    assert_int_equal(sstp_pkt_data_encode(&w, frame, sizeof(frame)), SSTP_OK);
    static const uint8_t want[] = { 0x10, 0x00, 0x00, 0x09, 0xFF, 0x03, 0x00, 0x21, 0x45 };
    assert_int_equal(w.len, sizeof(want));
    assert_memory_equal(buf, want, sizeof(want));

    struct sstp_pkt p;
    size_t used;
    assert_int_equal(sstp_pkt_decode(&p, &used, buf, w.len), SSTP_OK);
    assert_int_equal(p.payload.len, sizeof(frame));
    assert_memory_equal(p.payload.p, frame, sizeof(frame));

    /* empty frame */
    sstp_wbuf_init(&w, buf, sizeof(buf));
    assert_int_equal(sstp_pkt_data_encode(&w, NULL, 0), SSTP_OK);
    assert_int_equal(w.len, 4);
}

static void test_data_encode_errors(void **state)
{
    (void)state;
    static uint8_t big[SSTP_PPP_MAX_FRAME + 1];
    static uint8_t out[SSTP_PKT_MAX_LEN + 8];
    struct sstp_wbuf w;
    sstp_wbuf_init(&w, out, sizeof(out));
    assert_int_equal(sstp_pkt_data_encode(&w, big, sizeof(big)), SSTP_E_PKT_TOO_LONG);
    assert_int_equal(sstp_pkt_data_encode(&w, big, SSTP_PPP_MAX_FRAME), SSTP_OK);
    assert_int_equal(w.len, SSTP_PKT_MAX_LEN);
    assert_int_equal(sstp_pkt_data_encode(&w, NULL, 3), SSTP_E_ARG);
    assert_int_equal(sstp_pkt_data_encode(NULL, big, 3), SSTP_E_ARG);

    /* fails whole: not even the header is written */
    uint8_t small[6];
    sstp_wbuf_init(&w, small, sizeof(small));
    assert_int_equal(sstp_pkt_data_encode(&w, big, 3), SSTP_E_NOSPACE);
    assert_int_equal(w.len, 0);
    assert_true(w.err);
    /* sticky: even a fitting write fails afterwards */
    assert_int_equal(sstp_pkt_data_encode(&w, big, 1), SSTP_E_NOSPACE);
}

static void check_proto(const uint8_t *f, size_t n, enum sstp_rc want_rc, uint16_t want_proto,
                        bool want_ctrl)
{
    uint8_t *q = dup_exact(f, n);
    uint16_t proto = 0xABCD;
    assert_int_equal(sstp_ppp_proto(&proto, q, n), want_rc);
    if (want_rc == SSTP_OK)
        assert_int_equal(proto, want_proto);
    else
        assert_int_equal(proto, 0xABCD);
    assert_int_equal(sstp_ppp_frame_is_control(q, n), want_ctrl);
    free(q);
}

/* peek: the length field and C bit as they are, reserved bits masked,
 * nothing judged (version, short length) */
static void test_peek(void **state)
{
    (void)state;
    static const uint8_t data[] = { 0x10, 0x00, 0x05, 0xDC };
    static const uint8_t ctrl[] = { 0x10, 0x01, 0x00, 0x08 };
    static const uint8_t reserved[] = { 0x10, 0xFE, 0xFF, 0xFF };
    static const uint8_t odd[] = { 0x99, 0xFF, 0x00, 0x02 };
    assert_int_equal(sstp_pkt_peek_len(data), 1500);
    assert_false(sstp_pkt_peek_ctrl(data));
    assert_int_equal(sstp_pkt_peek_len(ctrl), 8);
    assert_true(sstp_pkt_peek_ctrl(ctrl));
    assert_int_equal(sstp_pkt_peek_len(reserved), 4095);
    assert_false(sstp_pkt_peek_ctrl(reserved));
    assert_int_equal(sstp_pkt_peek_len(odd), 2);
    assert_true(sstp_pkt_peek_ctrl(odd));
    /* the message type of a control packet, 0 for data or too short */
    static const uint8_t echo[] = { 0x10, 0x01, 0x00, 0x08, 0x00, 0x08, 0x00, 0x00 };
    static const uint8_t frame[] = { 0x10, 0x00, 0x00, 0x06, 0xC0, 0x21 };
    struct sstp_pkt decoded;
    size_t used;
    assert_int_equal(sstp_pkt_decode(&decoded, &used, echo, sizeof echo), SSTP_OK);
    assert_int_equal(sstp_pkt_ctrl_type(&decoded), SSTP_MSG_ECHO_REQUEST);
    assert_int_equal(sstp_pkt_decode(&decoded, &used, frame, sizeof frame), SSTP_OK);
    assert_int_equal(sstp_pkt_ctrl_type(&decoded), 0);
    decoded.is_ctrl = true;
    decoded.payload.len = 1;
    assert_int_equal(sstp_pkt_ctrl_type(&decoded), 0);
    /* agrees with the decoder on every length and both C bits */
    uint8_t b[SSTP_PKT_MAX_LEN];
    memset(b, 0, sizeof b);
    for (unsigned n = SSTP_CTRL_HDR_LEN; n <= SSTP_PKT_MAX_LEN; n++) {
        for (int c = 0; c < 2; c++) {
            b[0] = SSTP_VERSION, b[1] = (uint8_t)c, b[2] = (uint8_t)(n >> 8), b[3] = (uint8_t)n;
            assert_int_equal(sstp_pkt_decode(&decoded, &used, b, n), SSTP_OK);
            assert_int_equal(sstp_pkt_peek_len(b), decoded.len);
            assert_int_equal(sstp_pkt_peek_ctrl(b), decoded.is_ctrl);
        }
    }
}

static void test_ppp_classify(void **state)
{
    (void)state;
    /* uncompressed LCP, IPCP, CHAP, IPv4, IPv6 */
    check_proto((const uint8_t[]){ 0xFF, 0x03, 0xC0, 0x21, 0x01 }, 5, SSTP_OK, 0xC021, true);
    check_proto((const uint8_t[]){ 0xFF, 0x03, 0x80, 0x21, 0x01 }, 5, SSTP_OK, 0x8021, true);
    check_proto((const uint8_t[]){ 0xFF, 0x03, 0xC2, 0x23 }, 4, SSTP_OK, 0xC223, true);
    check_proto((const uint8_t[]){ 0xFF, 0x03, 0x00, 0x21, 0x45 }, 5, SSTP_OK, 0x0021, false);
    check_proto((const uint8_t[]){ 0xFF, 0x03, 0x00, 0x57 }, 4, SSTP_OK, 0x0057, false);
    /* boundary of RFC 1661 §2 ranges */
    check_proto((const uint8_t[]){ 0xFF, 0x03, 0x80, 0x01 }, 4, SSTP_OK, 0x8001, true);
    check_proto((const uint8_t[]){ 0xFF, 0x03, 0x7E, 0xFF }, 4, SSTP_OK, 0x7EFF, false);
    /* ACFC: no FF 03 */
    check_proto((const uint8_t[]){ 0xC0, 0x21, 0x01 }, 3, SSTP_OK, 0xC021, true);
    check_proto((const uint8_t[]){ 0x00, 0x21, 0x45 }, 3, SSTP_OK, 0x0021, false);
    /* PFC: odd first byte is a 1-byte protocol (always data) */
    check_proto((const uint8_t[]){ 0xFF, 0x03, 0x21, 0x45 }, 4, SSTP_OK, 0x0021, false);
    check_proto((const uint8_t[]){ 0x21, 0x45 }, 2, SSTP_OK, 0x0021, false);
    check_proto((const uint8_t[]){ 0xFF }, 1, SSTP_OK, 0x00FF, false);
    /* too short */
    check_proto((const uint8_t[]){ 0xFF, 0x03 }, 2, SSTP_E_PKT_PPP_SHORT, 0, false);
    check_proto((const uint8_t[]){ 0xFF, 0x03, 0xC0 }, 3, SSTP_E_PKT_PPP_SHORT, 0, false);
    check_proto((const uint8_t[]){ 0xC0 }, 1, SSTP_E_PKT_PPP_SHORT, 0, false);
    check_proto(NULL, 0, SSTP_E_PKT_PPP_SHORT, 0, false);

    uint16_t proto;
    assert_int_equal(sstp_ppp_proto(NULL, (const uint8_t *)"\x21", 1), SSTP_E_ARG);
    assert_int_equal(sstp_ppp_proto(&proto, NULL, 1), SSTP_E_ARG);
    assert_false(sstp_ppp_frame_is_control(NULL, 4));
    assert_true(sstp_ppp_proto_is_control(0x8000));
    assert_false(sstp_ppp_proto_is_control(0x7FFF));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_decode_data),
        cmocka_unit_test(test_peek),
        cmocka_unit_test(test_decode_ctrl_and_trailing_stream),
        cmocka_unit_test(test_decode_empty_data_packet),
        cmocka_unit_test(test_decode_max_len),
        cmocka_unit_test(test_decode_again_every_prefix),
        cmocka_unit_test(test_byte_at_a_time_matches_all_at_once),
        cmocka_unit_test(test_decode_version),
        cmocka_unit_test(test_decode_short),
        cmocka_unit_test(test_decode_ctrl_short),
        cmocka_unit_test(test_decode_reserved_bits_anomaly),
        cmocka_unit_test(test_decode_args),
        cmocka_unit_test(test_hdr_encode),
        cmocka_unit_test(test_hdr_encode_errors),
        cmocka_unit_test(test_data_encode),
        cmocka_unit_test(test_data_encode_errors),
        cmocka_unit_test(test_ppp_classify),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
