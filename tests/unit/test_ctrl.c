/* test_ctrl.c — SSTP control message codec: the published byte images
 * (MS-SSTP 2.2 / 4.7; vectors from tests/vectors/ctrl.py), decode→encode
 * round trips, every rejection path of decode, check, accessors and encoders.
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

#include "ctrl.h" /* build/vectors/ctrl.h: VEC_A_*, VEC_B_* */
#include "tests/unit/helpers.h"

/* MS-SSTP 2.2.9-2.2.15 byte images. */
static const uint8_t IMG_REQUEST[] = { 0x10, 0x01, 0x00, 0x0E, 0x00, 0x01, 0x00, 0x01,
                                       0x00, 0x01, 0x00, 0x06, 0x00, 0x01 };
/* NAK for an unsupported protocol id PP PP = 00 02 */
static const uint8_t IMG_NAK[] = { 0x10, 0x01, 0x00, 0x16, 0x00, 0x03, 0x00, 0x01, 0x00, 0x02, 0x00,
                                   0x0E, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x04, 0x00, 0x02 };
/* ABORT with AttribID AA = 02 and status 7 */
static const uint8_t IMG_ABORT[] = { 0x10, 0x01, 0x00, 0x14, 0x00, 0x05, 0x00, 0x01, 0x00, 0x02,
                                     0x00, 0x0C, 0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x07 };
static const uint8_t IMG_DISCONNECT[] = { 0x10, 0x01, 0x00, 0x14, 0x00, 0x06, 0x00, 0x01, 0x00, 0x02,
                                          0x00, 0x0C, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00 };
static const uint8_t IMG_DISCONNECT_ACK[] = { 0x10, 0x01, 0x00, 0x08, 0x00, 0x07, 0x00, 0x00 };
static const uint8_t IMG_ECHO_REQUEST[] = { 0x10, 0x01, 0x00, 0x08, 0x00, 0x08, 0x00, 0x00 };
static const uint8_t IMG_ECHO_RESPONSE[] = { 0x10, 0x01, 0x00, 0x08, 0x00, 0x09, 0x00, 0x00 };
static const uint8_t IMG_ABORT_EMPTY[] = { 0x10, 0x01, 0x00, 0x08, 0x00, 0x05, 0x00, 0x00 };
static const uint8_t IMG_DISCONNECT_EMPTY[] = { 0x10, 0x01, 0x00, 0x08, 0x00, 0x06, 0x00, 0x00 };

/* A decoded message plus the exact-size heap copy its views point into. */
struct dec {
    struct sstp_ctrl c;
    uint8_t *buf;
    enum sstp_rc rc;
};

static struct dec *dec_new(const uint8_t *p, size_t n)
{
    struct dec *d = calloc(1, sizeof(*d));
    assert_non_null(d);
    d->buf = dup_exact(p, n);
    d->rc = sstp_ctrl_decode(&d->c, d->buf, n);
    return d;
}

static void dec_free(struct dec *d)
{
    free(d->buf);
    free(d);
}

static enum sstp_rc decode_rc(const uint8_t *p, size_t n)
{
    struct dec *d = dec_new(p, n);
    enum sstp_rc rc = d->rc;
    dec_free(d);
    return rc;
}

/* decode must succeed; returns sstp_ctrl_check's verdict. */
static enum sstp_rc check_rc(const uint8_t *p, size_t n)
{
    struct dec *d = dec_new(p, n);
    assert_int_equal(d->rc, SSTP_OK);
    enum sstp_rc rc = sstp_ctrl_check(&d->c);
    dec_free(d);
    return rc;
}

#define DECODE_RC(...) decode_rc((const uint8_t[]){ __VA_ARGS__ }, sizeof((const uint8_t[]){ __VA_ARGS__ }))
#define CHECK_RC(...) check_rc((const uint8_t[]){ __VA_ARGS__ }, sizeof((const uint8_t[]){ __VA_ARGS__ }))

/* decode → generic encode → identical bytes, and the message checks OK. */
static void assert_roundtrip(const uint8_t *p, size_t n)
{
    struct dec *d = dec_new(p, n);
    assert_int_equal(d->rc, SSTP_OK);
    assert_false(d->c.anomaly);
    assert_int_equal(sstp_ctrl_check(&d->c), SSTP_OK);
    uint8_t out[SSTP_PKT_MAX_LEN];
    struct sstp_wbuf w;
    sstp_wbuf_init(&w, out, sizeof(out));
    assert_int_equal(sstp_ctrl_encode(&w, &d->c), SSTP_OK);
    assert_int_equal(w.len, n);
    assert_memory_equal(out, p, n);
    dec_free(d);
}

/* ---- decoding the published images ---- */

static void test_decode_images(void **state)
{
    (void)state;
    struct dec *d = dec_new(IMG_REQUEST, sizeof(IMG_REQUEST));
    assert_int_equal(d->rc, SSTP_OK);
    assert_int_equal(d->c.type, SSTP_MSG_CALL_CONNECT_REQUEST);
    assert_int_equal(d->c.n_attrs, 1);
    assert_int_equal(d->c.attrs[0].id, SSTP_ATTRIB_ENCAPSULATED_PROTOCOL_ID);
    assert_int_equal(d->c.attrs[0].len, 6);
    assert_int_equal(d->c.raw.len, 14);
    uint16_t proto = 0;
    assert_int_equal(sstp_attr_encap_proto(&proto, &d->c.attrs[0]), SSTP_OK);
    assert_int_equal(proto, SSTP_ENCAP_PROTO_PPP);
    dec_free(d);

    d = dec_new(VEC_A_ACK, sizeof(VEC_A_ACK));
    assert_int_equal(d->rc, SSTP_OK);
    assert_int_equal(d->c.type, SSTP_MSG_CALL_CONNECT_ACK);
    struct sstp_binding_req br;
    assert_int_equal(sstp_attr_binding_req(&br, sstp_ctrl_find(&d->c, SSTP_ATTRIB_CRYPTO_BINDING_REQ)),
                     SSTP_OK);
    assert_int_equal(br.hash_bitmask, SSTP_HASH_BIT_SHA256);
    assert_int_equal(br.nonce.len, 32);
    assert_memory_equal(br.nonce.p, VEC_A_NONCE, 32);
    dec_free(d);

    d = dec_new(IMG_NAK, sizeof(IMG_NAK));
    assert_int_equal(d->rc, SSTP_OK);
    struct sstp_status_info si;
    assert_int_equal(sstp_attr_status_info(&si, &d->c.attrs[0]), SSTP_OK);
    assert_int_equal(si.attrib_id, SSTP_ATTRIB_ENCAPSULATED_PROTOCOL_ID);
    assert_int_equal(si.status, SSTP_STATUS_VALUE_NOT_SUPPORTED);
    assert_int_equal(si.value.len, 2);
    assert_memory_equal(si.value.p, "\x00\x02", 2);
    dec_free(d);

    d = dec_new(IMG_ABORT, sizeof(IMG_ABORT));
    assert_int_equal(d->rc, SSTP_OK);
    assert_int_equal(sstp_attr_status_info(&si, &d->c.attrs[0]), SSTP_OK);
    assert_int_equal(si.attrib_id, SSTP_ATTRIB_STATUS_INFO);
    assert_int_equal(si.status, SSTP_STATUS_INVALID_FRAME_RECEIVED);
    assert_int_equal(si.value.len, 0);
    dec_free(d);

    d = dec_new(IMG_ECHO_REQUEST, sizeof(IMG_ECHO_REQUEST));
    assert_int_equal(d->rc, SSTP_OK);
    assert_int_equal(d->c.type, SSTP_MSG_ECHO_REQUEST);
    assert_int_equal(d->c.n_attrs, 0);
    assert_null(sstp_ctrl_find(&d->c, SSTP_ATTRIB_STATUS_INFO));
    dec_free(d);
}

static void test_decode_connected_vectors(void **state)
{
    (void)state;
    struct dec *d = dec_new(VEC_A_CONNECTED, sizeof(VEC_A_CONNECTED));
    assert_int_equal(d->rc, SSTP_OK);
    assert_int_equal(d->c.type, SSTP_MSG_CALL_CONNECTED);
    assert_int_equal(sstp_ctrl_check(&d->c), SSTP_OK);
    struct sstp_binding b;
    assert_int_equal(sstp_attr_binding(&b, &d->c.attrs[0]), SSTP_OK);
    assert_int_equal(b.hash_proto, 0x02);
    assert_memory_equal(b.nonce.p, VEC_A_NONCE, 32);
    assert_int_equal(b.cert_hash.len, 32);
    assert_memory_equal(b.cert_hash.p, VEC_A_CERT_SHA256, 32);
    assert_int_equal(b.mac.len, 32);
    assert_memory_equal(b.mac.p, VEC_A_MAC, 32);
    /* views point at MS-SSTP 2.2.7 offsets of the message */
    assert_ptr_equal(b.cert_hash.p, d->buf + 48);
    assert_ptr_equal(b.mac.p, d->buf + 80);
    dec_free(d);

    d = dec_new(VEC_B_CONNECTED, sizeof(VEC_B_CONNECTED));
    assert_int_equal(d->rc, SSTP_OK);
    assert_int_equal(sstp_ctrl_check(&d->c), SSTP_OK);
    assert_int_equal(sstp_attr_binding(&b, &d->c.attrs[0]), SSTP_OK);
    assert_int_equal(b.hash_proto, 0x01);
    assert_memory_equal(b.nonce.p, VEC_B_NONCE, 32);
    assert_int_equal(b.cert_hash.len, 20);
    assert_memory_equal(b.cert_hash.p, VEC_B_CERT_SHA1, 20);
    assert_int_equal(b.mac.len, 20);
    assert_memory_equal(b.mac.p, VEC_B_MAC, 20);
    assert_ptr_equal(b.mac.p, d->buf + 80);
    dec_free(d);
}

static void test_roundtrip_images(void **state)
{
    (void)state;
    assert_roundtrip(IMG_REQUEST, sizeof(IMG_REQUEST));
    assert_roundtrip(VEC_A_ACK, sizeof(VEC_A_ACK));
    assert_roundtrip(IMG_NAK, sizeof(IMG_NAK));
    assert_roundtrip(VEC_A_CONNECTED, sizeof(VEC_A_CONNECTED));
    assert_roundtrip(VEC_B_CONNECTED, sizeof(VEC_B_CONNECTED));
    assert_roundtrip(IMG_ABORT, sizeof(IMG_ABORT));
    assert_roundtrip(IMG_ABORT_EMPTY, sizeof(IMG_ABORT_EMPTY));
    assert_roundtrip(IMG_DISCONNECT, sizeof(IMG_DISCONNECT));
    assert_roundtrip(IMG_DISCONNECT_EMPTY, sizeof(IMG_DISCONNECT_EMPTY));
    assert_roundtrip(IMG_DISCONNECT_ACK, sizeof(IMG_DISCONNECT_ACK));
    assert_roundtrip(IMG_ECHO_REQUEST, sizeof(IMG_ECHO_REQUEST));
    assert_roundtrip(IMG_ECHO_RESPONSE, sizeof(IMG_ECHO_RESPONSE));
}

static void test_decode_anomaly_normalised_by_encode(void **state)
{
    (void)state;
    /* reserved bits in the header, the attribute reserved byte and the
     * attribute length nibble: accepted, flagged, and written back clean */
    static const uint8_t in[] = { 0x10, 0x03, 0x70, 0x0E, 0x00, 0x01, 0x00, 0x01,
                                  0x5A, 0x01, 0x30, 0x06, 0x00, 0x01 };
    struct dec *d = dec_new(in, sizeof(in));
    assert_int_equal(d->rc, SSTP_OK);
    assert_true(d->c.anomaly);
    assert_int_equal(d->c.attrs[0].len, 6);
    assert_int_equal(sstp_ctrl_check(&d->c), SSTP_OK);
    uint8_t out[32];
    struct sstp_wbuf w;
    sstp_wbuf_init(&w, out, sizeof(out));
    assert_int_equal(sstp_ctrl_encode(&w, &d->c), SSTP_OK);
    assert_int_equal(w.len, sizeof(IMG_REQUEST));
    assert_memory_equal(out, IMG_REQUEST, sizeof(IMG_REQUEST));
    dec_free(d);

    /* each reserved field alone */
    static const uint8_t r_byte[] = { 0x10, 0x01, 0x00, 0x0E, 0x00, 0x01, 0x00, 0x01,
                                      0x01, 0x01, 0x00, 0x06, 0x00, 0x01 };
    static const uint8_t r_nib[] = { 0x10, 0x01, 0x00, 0x0E, 0x00, 0x01, 0x00, 0x01,
                                     0x00, 0x01, 0x80, 0x06, 0x00, 0x01 };
    d = dec_new(r_byte, sizeof(r_byte));
    assert_int_equal(d->rc, SSTP_OK);
    assert_true(d->c.anomaly);
    dec_free(d);
    d = dec_new(r_nib, sizeof(r_nib));
    assert_int_equal(d->rc, SSTP_OK);
    assert_true(d->c.anomaly);
    dec_free(d);

    /* the 3 reserved bytes opening a Status Info / Crypto Binding
     * (Request) value */
    uint8_t v[sizeof(IMG_ABORT)];
    memcpy(v, IMG_ABORT, sizeof(v));
    v[13] = 0x01;
    d = dec_new(v, sizeof(v));
    assert_int_equal(d->rc, SSTP_OK);
    assert_true(d->c.anomaly);
    assert_int_equal(sstp_ctrl_check(&d->c), SSTP_OK);
    dec_free(d);
    uint8_t ack[48];
    memcpy(ack, VEC_A_ACK, sizeof(ack));
    ack[12] = 0x80;
    d = dec_new(ack, sizeof(ack));
    assert_true(d->c.anomaly);
    dec_free(d);
    uint8_t conn[112];
    memcpy(conn, VEC_A_CONNECTED, sizeof(conn));
    conn[14] = 0x02;
    d = dec_new(conn, sizeof(conn));
    assert_true(d->c.anomaly);
    dec_free(d);
    /* the published images have none */
    d = dec_new(VEC_A_CONNECTED, sizeof(VEC_A_CONNECTED));
    assert_false(d->c.anomaly);
    dec_free(d);
}

/* ---- decode rejections (MS-SSTP 2.2.2, 2.2.4, 3.1.5.1) ---- */

static void test_decode_rejects(void **state)
{
    (void)state;
    struct sstp_ctrl c;
    assert_int_equal(sstp_ctrl_decode(NULL, IMG_REQUEST, sizeof(IMG_REQUEST)), SSTP_E_ARG);
    assert_int_equal(sstp_ctrl_decode(&c, NULL, 14), SSTP_E_ARG);
    /* not exactly one packet: one byte more, or less than the header says */
    assert_int_equal(DECODE_RC(0x10, 0x01, 0x00, 0x0E, 0x00, 0x01, 0x00, 0x01, 0x00, 0x01, 0x00,
                               0x06, 0x00, 0x01, 0x10),
                     SSTP_E_ARG);
    assert_int_equal(decode_rc(IMG_REQUEST, 13), SSTP_E_ARG);

    assert_int_equal(DECODE_RC(0x20, 0x01, 0x00, 0x08, 0x00, 0x08, 0x00, 0x00), SSTP_E_PKT_VERSION);
    assert_int_equal(DECODE_RC(0x10, 0x01, 0x00, 0x02, 0x00, 0x08, 0x00, 0x00), SSTP_E_PKT_SHORT);
    assert_int_equal(DECODE_RC(0x10, 0x01, 0x00, 0x07, 0x00, 0x08, 0x00), SSTP_E_CTRL_SHORT);
    assert_int_equal(DECODE_RC(0x10, 0x01, 0x00), SSTP_E_CTRL_SHORT);
    assert_int_equal(DECODE_RC(0x10, 0x00, 0x00, 0x08, 0x00, 0x08, 0x00, 0x00), SSTP_E_CTRL_NOT_CONTROL);

    /* count promises more attributes than there are bytes */
    assert_int_equal(DECODE_RC(0x10, 0x01, 0x00, 0x08, 0x00, 0x08, 0x00, 0x01), SSTP_E_CTRL_ATTR_COUNT);
    assert_int_equal(DECODE_RC(0x10, 0x01, 0x00, 0x0E, 0x00, 0x01, 0x00, 0x02, 0x00, 0x01, 0x00,
                               0x06, 0x00, 0x01),
                     SSTP_E_CTRL_ATTR_COUNT);
    /* 2 bytes left for an attribute header */
    assert_int_equal(DECODE_RC(0x10, 0x01, 0x00, 0x0A, 0x00, 0x05, 0x00, 0x01, 0x00, 0x02),
                     SSTP_E_CTRL_ATTR_SHORT);
    /* attribute length 3, and 0 once the reserved nibble is masked */
    assert_int_equal(DECODE_RC(0x10, 0x01, 0x00, 0x0C, 0x00, 0x05, 0x00, 0x01, 0x00, 0x02, 0x00, 0x03),
                     SSTP_E_CTRL_ATTR_SHORT);
    assert_int_equal(DECODE_RC(0x10, 0x01, 0x00, 0x0C, 0x00, 0x05, 0x00, 0x01, 0x00, 0x02, 0xF0, 0x00),
                     SSTP_E_CTRL_ATTR_SHORT);
    /* attribute runs past the end */
    assert_int_equal(DECODE_RC(0x10, 0x01, 0x00, 0x0E, 0x00, 0x01, 0x00, 0x01, 0x00, 0x01, 0x00,
                               0x07, 0x00, 0x01),
                     SSTP_E_CTRL_ATTR_OVERRUN);
    /* the length nibble is not part of the length: 0x1006 is 6, not 4102 */
    assert_int_equal(DECODE_RC(0x10, 0x01, 0x00, 0x0E, 0x00, 0x01, 0x00, 0x01, 0x00, 0x01, 0x10,
                               0x07, 0x00, 0x01),
                     SSTP_E_CTRL_ATTR_OVERRUN);
    /* bytes after the last counted attribute */
    assert_int_equal(DECODE_RC(0x10, 0x01, 0x00, 0x0C, 0x00, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00),
                     SSTP_E_CTRL_TRAILING);
    assert_int_equal(DECODE_RC(0x10, 0x01, 0x00, 0x0F, 0x00, 0x01, 0x00, 0x01, 0x00, 0x01, 0x00,
                               0x06, 0x00, 0x01, 0x00),
                     SSTP_E_CTRL_TRAILING);
}

static void build_many(uint8_t *buf, size_t n_attrs, size_t *len)
{
    size_t total = 8 + 4 * n_attrs;
    buf[0] = 0x10;
    buf[1] = 0x01;
    sstp_store_u16be(buf + 2, (uint16_t)total);
    sstp_store_u16be(buf + 4, SSTP_MSG_CALL_CONNECT_REQUEST);
    sstp_store_u16be(buf + 6, (uint16_t)n_attrs);
    for (size_t i = 0; i < n_attrs; i++) {
        uint8_t *a = buf + 8 + 4 * i;
        a[0] = 0;
        a[1] = (uint8_t)(0x10 + i);
        a[2] = 0;
        a[3] = 4;
    }
    *len = total;
}

static void test_decode_attr_limit(void **state)
{
    (void)state;
    uint8_t buf[8 + 4 * 64];
    size_t len;
    build_many(buf, SSTP_CTRL_MAX_ATTRS, &len);
    struct dec *d = dec_new(buf, len);
    assert_int_equal(d->rc, SSTP_OK);
    assert_int_equal(d->c.n_attrs, SSTP_CTRL_MAX_ATTRS);
    assert_int_equal(d->c.attrs[SSTP_CTRL_MAX_ATTRS - 1].id, 0x10 + SSTP_CTRL_MAX_ATTRS - 1);
    assert_int_equal(d->c.attrs[3].value.len, 0);
    dec_free(d);

    build_many(buf, SSTP_CTRL_MAX_ATTRS + 1, &len);
    assert_int_equal(decode_rc(buf, len), SSTP_E_CTRL_TOO_MANY_ATTRS);
    /* a structural error beyond the kept attributes still wins */
    build_many(buf, 40, &len);
    buf[8 + 4 * 30 + 3] = 3;
    assert_int_equal(decode_rc(buf, len), SSTP_E_CTRL_ATTR_SHORT);
}

/* ---- sstp_ctrl_check (MS-SSTP 2.2.9-2.2.15) ---- */

static void test_check_ok(void **state)
{
    (void)state;
    assert_int_equal(check_rc(IMG_REQUEST, sizeof(IMG_REQUEST)), SSTP_OK);
    assert_int_equal(check_rc(VEC_A_ACK, sizeof(VEC_A_ACK)), SSTP_OK);
    assert_int_equal(check_rc(IMG_NAK, sizeof(IMG_NAK)), SSTP_OK);
    assert_int_equal(check_rc(IMG_ABORT_EMPTY, sizeof(IMG_ABORT_EMPTY)), SSTP_OK);
    assert_int_equal(check_rc(IMG_DISCONNECT, sizeof(IMG_DISCONNECT)), SSTP_OK);
    /* NAK with two Status Infos (repetition allowed there), one with a
     * 64-byte echoed value */
    uint8_t nak[8 + 12 + 12 + 64] = { 0x10, 0x01, 0x00, sizeof(nak), 0x00, 0x03, 0x00, 0x02,
                                      0x00, 0x02, 0x00, 0x0C, 0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x0B,
                                      0x00, 0x02, 0x00, 0x4C, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x04 };
    memset(nak + 32, 0xAB, 64);
    assert_int_equal(check_rc(nak, sizeof(nak)), SSTP_OK);
    /* ACK advertising both hashes */
    assert_int_equal(CHECK_RC(0x10, 0x01, 0x00, 0x30, 0x00, 0x02, 0x00, 0x01, 0x00, 0x04, 0x00, 0x28, 0x00,
                              0x00, 0x00, 0x03, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17,
                              18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32),
                     SSTP_OK);
}

static void test_check_rejects(void **state)
{
    (void)state;
    assert_int_equal(sstp_ctrl_check(NULL), SSTP_E_ARG);

    /* unknown message types */
    assert_int_equal(CHECK_RC(0x10, 0x01, 0x00, 0x08, 0x00, 0x00, 0x00, 0x00), SSTP_E_CTRL_MSG_TYPE);
    assert_int_equal(CHECK_RC(0x10, 0x01, 0x00, 0x08, 0x00, 0x0A, 0x00, 0x00), SSTP_E_CTRL_MSG_TYPE);
    assert_int_equal(CHECK_RC(0x10, 0x01, 0x00, 0x08, 0xFF, 0xFF, 0x00, 0x00), SSTP_E_CTRL_MSG_TYPE);

    /* attribute id 5 does not exist */
    assert_int_equal(CHECK_RC(0x10, 0x01, 0x00, 0x0C, 0x00, 0x08, 0x00, 0x01, 0x00, 0x05, 0x00, 0x04),
                     SSTP_E_CTRL_ATTR_ID);
    /* Status Info in an ECHO_REQUEST; NO_ERROR (0) as an attribute; a
     * Crypto Binding Request in a CONNECT_REQUEST */
    assert_int_equal(CHECK_RC(0x10, 0x01, 0x00, 0x14, 0x00, 0x08, 0x00, 0x01, 0x00, 0x02, 0x00, 0x0C,
                              0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00),
                     SSTP_E_CTRL_ATTR_UNEXPECTED);
    assert_int_equal(CHECK_RC(0x10, 0x01, 0x00, 0x12, 0x00, 0x01, 0x00, 0x02, 0x00, 0x01, 0x00, 0x06,
                              0x00, 0x01, 0x00, 0x00, 0x00, 0x04),
                     SSTP_E_CTRL_ATTR_UNEXPECTED);
    assert_int_equal(CHECK_RC(0x10, 0x01, 0x00, 0x0C, 0x00, 0x01, 0x00, 0x01, 0x00, 0x04, 0x00, 0x04),
                     SSTP_E_CTRL_ATTR_UNEXPECTED);

    /* wrong attribute lengths: Encapsulated Protocol ID 7, Status Info 8
     * and 77 (value 65 > 64) */
    assert_int_equal(CHECK_RC(0x10, 0x01, 0x00, 0x0F, 0x00, 0x01, 0x00, 0x01, 0x00, 0x01, 0x00, 0x07,
                              0x00, 0x01, 0x00),
                     SSTP_E_CTRL_ATTR_LEN);
    assert_int_equal(CHECK_RC(0x10, 0x01, 0x00, 0x10, 0x00, 0x05, 0x00, 0x01, 0x00, 0x02, 0x00, 0x08,
                              0x00, 0x00, 0x00, 0x07),
                     SSTP_E_CTRL_ATTR_LEN);
    uint8_t nak[8 + 77] = { 0x10, 0x01, 0x00, sizeof(nak), 0x00, 0x03, 0x00, 0x01,
                            0x00, 0x02, 0x00, 77, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x04 };
    assert_int_equal(check_rc(nak, sizeof(nak)), SSTP_E_CTRL_ATTR_LEN);
    /* Crypto Binding of 100 bytes in a CALL_CONNECTED */
    uint8_t conn[8 + 100];
    memcpy(conn, VEC_A_CONNECTED, sizeof(conn));
    conn[3] = sizeof(conn);
    conn[11] = 100;
    assert_int_equal(check_rc(conn, sizeof(conn)), SSTP_E_CTRL_ATTR_LEN);

    /* repeated attributes: two protocol ids; two Status Infos in an ABORT */
    assert_int_equal(CHECK_RC(0x10, 0x01, 0x00, 0x14, 0x00, 0x01, 0x00, 0x02, 0x00, 0x01, 0x00, 0x06,
                              0x00, 0x01, 0x00, 0x01, 0x00, 0x06, 0x00, 0x01),
                     SSTP_E_CTRL_ATTR_DUP);
    assert_int_equal(CHECK_RC(0x10, 0x01, 0x00, 0x20, 0x00, 0x05, 0x00, 0x02, 0x00, 0x02, 0x00, 0x0C,
                              0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x07, 0x00, 0x02, 0x00, 0x0C,
                              0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x07),
                     SSTP_E_CTRL_ATTR_DUP);

    /* a non-zero Status Info in a CONNECT_REQUEST */
    assert_int_equal(CHECK_RC(0x10, 0x01, 0x00, 0x1A, 0x00, 0x01, 0x00, 0x02, 0x00, 0x01, 0x00, 0x06,
                              0x00, 0x01, 0x00, 0x02, 0x00, 0x0C, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00,
                              0x00, 0x03),
                     SSTP_E_CTRL_STATUS);

    /* required attribute missing: REQUEST with only a zero Status Info,
     * NAK, ACK and CONNECTED without attributes */
    assert_int_equal(CHECK_RC(0x10, 0x01, 0x00, 0x14, 0x00, 0x01, 0x00, 0x01, 0x00, 0x02, 0x00, 0x0C,
                              0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00),
                     SSTP_E_CTRL_ATTR_MISSING);
    assert_int_equal(CHECK_RC(0x10, 0x01, 0x00, 0x08, 0x00, 0x03, 0x00, 0x00), SSTP_E_CTRL_ATTR_MISSING);
    assert_int_equal(CHECK_RC(0x10, 0x01, 0x00, 0x08, 0x00, 0x02, 0x00, 0x00), SSTP_E_CTRL_ATTR_MISSING);
    assert_int_equal(CHECK_RC(0x10, 0x01, 0x00, 0x08, 0x00, 0x04, 0x00, 0x00), SSTP_E_CTRL_ATTR_MISSING);

    /* unsupported values: protocol id 2, empty hash bitmask, Status Info
     * about attribute 5 */
    assert_int_equal(CHECK_RC(0x10, 0x01, 0x00, 0x0E, 0x00, 0x01, 0x00, 0x01, 0x00, 0x01, 0x00, 0x06,
                              0x00, 0x02),
                     SSTP_E_CTRL_ATTR_VALUE);
    uint8_t ack[48];
    memcpy(ack, VEC_A_ACK, sizeof(ack));
    ack[15] = 0x04;
    assert_int_equal(check_rc(ack, sizeof(ack)), SSTP_E_CTRL_ATTR_VALUE);
    assert_int_equal(CHECK_RC(0x10, 0x01, 0x00, 0x14, 0x00, 0x05, 0x00, 0x01, 0x00, 0x02, 0x00, 0x0C,
                              0x00, 0x00, 0x00, 0x05, 0x00, 0x00, 0x00, 0x07),
                     SSTP_E_CTRL_ATTR_VALUE);

    /* wrong total length: REQUEST with an extra zero Status Info (26, not
     * 14); ABORT whose Status Info echoes a value (22, not 20) */
    assert_int_equal(CHECK_RC(0x10, 0x01, 0x00, 0x1A, 0x00, 0x01, 0x00, 0x02, 0x00, 0x01, 0x00, 0x06,
                              0x00, 0x01, 0x00, 0x02, 0x00, 0x0C, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
                              0x00, 0x00),
                     SSTP_E_CTRL_MSG_LEN);
    assert_int_equal(CHECK_RC(0x10, 0x01, 0x00, 0x16, 0x00, 0x05, 0x00, 0x01, 0x00, 0x02, 0x00, 0x0E,
                              0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x07, 0xAA, 0xBB),
                     SSTP_E_CTRL_MSG_LEN);
}

/* ---- accessors ---- */

static void test_accessor_rejects(void **state)
{
    (void)state;
    static const uint8_t v2[2] = { 0x00, 0x01 };
    static const uint8_t v8[8] = { 0 };
    struct sstp_attr encap = { SSTP_ATTRIB_ENCAPSULATED_PROTOCOL_ID, 6, { v2, 2 } };
    struct sstp_attr si8 = { SSTP_ATTRIB_STATUS_INFO, 8, { v8, 4 } };
    struct sstp_attr incons = { SSTP_ATTRIB_STATUS_INFO, 12, { v8, 4 } }; /* value shorter than len */
    struct sstp_status_info si;
    uint16_t proto;
    struct sstp_binding_req br;
    struct sstp_binding b;

    assert_int_equal(sstp_attr_status_info(&si, &encap), SSTP_E_CTRL_ATTR_ID);
    assert_int_equal(sstp_attr_binding_req(&br, &encap), SSTP_E_CTRL_ATTR_ID);
    assert_int_equal(sstp_attr_binding(&b, &encap), SSTP_E_CTRL_ATTR_ID);
    assert_int_equal(sstp_attr_encap_proto(&proto, &si8), SSTP_E_CTRL_ATTR_ID);
    assert_int_equal(sstp_attr_status_info(&si, &si8), SSTP_E_CTRL_ATTR_LEN);
    assert_int_equal(sstp_attr_status_info(&si, &incons), SSTP_E_CTRL_ATTR_LEN);
    assert_int_equal(sstp_attr_status_info(NULL, &si8), SSTP_E_ARG);
    assert_int_equal(sstp_attr_status_info(&si, NULL), SSTP_E_ARG);
    assert_int_equal(sstp_attr_encap_proto(NULL, &encap), SSTP_E_ARG);
    assert_int_equal(sstp_attr_binding_req(NULL, &encap), SSTP_E_ARG);
    assert_int_equal(sstp_attr_binding(NULL, &encap), SSTP_E_ARG);
    assert_int_equal(sstp_attr_encap_proto(&proto, &encap), SSTP_OK);
    assert_int_equal(proto, 1);
    assert_null(sstp_ctrl_find(NULL, 1));
}

static void test_type_names(void **state)
{
    (void)state;
    assert_string_equal(sstp_ctrl_type_name(SSTP_MSG_CALL_CONNECT_REQUEST), "CALL_CONNECT_REQUEST");
    assert_string_equal(sstp_ctrl_type_name(SSTP_MSG_CALL_CONNECT_ACK), "CALL_CONNECT_ACK");
    assert_string_equal(sstp_ctrl_type_name(SSTP_MSG_CALL_CONNECT_NAK), "CALL_CONNECT_NAK");
    assert_string_equal(sstp_ctrl_type_name(SSTP_MSG_CALL_CONNECTED), "CALL_CONNECTED");
    assert_string_equal(sstp_ctrl_type_name(SSTP_MSG_CALL_ABORT), "CALL_ABORT");
    assert_string_equal(sstp_ctrl_type_name(SSTP_MSG_CALL_DISCONNECT), "CALL_DISCONNECT");
    assert_string_equal(sstp_ctrl_type_name(SSTP_MSG_CALL_DISCONNECT_ACK), "CALL_DISCONNECT_ACK");
    assert_string_equal(sstp_ctrl_type_name(SSTP_MSG_ECHO_REQUEST), "ECHO_REQUEST");
    assert_string_equal(sstp_ctrl_type_name(SSTP_MSG_ECHO_RESPONSE), "ECHO_RESPONSE");
    assert_string_equal(sstp_ctrl_type_name(0), "UNKNOWN");
    assert_string_equal(sstp_ctrl_type_name(10), "UNKNOWN");
}

/* ---- encoders: exact images ---- */

#define ENCODE_EQ(img, call)                                                   \
    do {                                                                       \
        uint8_t buf_[256];                                                     \
        struct sstp_wbuf w_;                                                   \
        sstp_wbuf_init(&w_, buf_, sizeof(buf_));                               \
        struct sstp_wbuf *w = &w_;                                             \
        assert_int_equal((call), SSTP_OK);                                     \
        assert_int_equal(w_.len, sizeof(img));                                 \
        assert_memory_equal(buf_, (img), sizeof(img));                         \
    } while (0)

static void test_encode_images(void **state)
{
    (void)state;
    ENCODE_EQ(IMG_REQUEST, sstp_ctrl_encode_connect_request(w, SSTP_ENCAP_PROTO_PPP));
    ENCODE_EQ(VEC_A_ACK, sstp_ctrl_encode_connect_ack(w, SSTP_HASH_BIT_SHA256, VEC_A_NONCE));
    struct sstp_status_info nak = { SSTP_ATTRIB_ENCAPSULATED_PROTOCOL_ID, SSTP_STATUS_VALUE_NOT_SUPPORTED,
                                    { (const uint8_t *)"\x00\x02", 2 } };
    ENCODE_EQ(IMG_NAK, sstp_ctrl_encode_connect_nak(w, &nak, 1));
    ENCODE_EQ(VEC_A_CONNECTED, sstp_ctrl_encode_connected(w, SSTP_HASH_BIT_SHA256, VEC_A_NONCE,
                                                          VEC_A_CERT_SHA256, VEC_A_MAC));
    ENCODE_EQ(VEC_B_CONNECTED, sstp_ctrl_encode_connected(w, SSTP_HASH_BIT_SHA1, VEC_B_NONCE,
                                                          VEC_B_CERT_SHA1, VEC_B_MAC));
    struct sstp_status_info ab = { SSTP_ATTRIB_STATUS_INFO, SSTP_STATUS_INVALID_FRAME_RECEIVED, { NULL, 0 } };
    ENCODE_EQ(IMG_ABORT, sstp_ctrl_encode_abort(w, &ab));
    ENCODE_EQ(IMG_ABORT_EMPTY, sstp_ctrl_encode_abort(w, NULL));
    struct sstp_status_info dc = { SSTP_ATTRIB_NO_ERROR, SSTP_STATUS_NO_ERROR, { NULL, 0 } };
    ENCODE_EQ(IMG_DISCONNECT, sstp_ctrl_encode_disconnect(w, &dc));
    ENCODE_EQ(IMG_DISCONNECT_EMPTY, sstp_ctrl_encode_disconnect(w, NULL));
    ENCODE_EQ(IMG_DISCONNECT_ACK, sstp_ctrl_encode_disconnect_ack(w));
    ENCODE_EQ(IMG_ECHO_REQUEST, sstp_ctrl_encode_echo_request(w));
    ENCODE_EQ(IMG_ECHO_RESPONSE, sstp_ctrl_encode_echo_response(w));
}

static void test_encode_connected_zero_mac(void **state)
{
    (void)state;
    uint8_t buf[112];
    struct sstp_wbuf w;
    sstp_wbuf_init(&w, buf, sizeof(buf));
    assert_int_equal(sstp_ctrl_encode_connected(&w, SSTP_HASH_BIT_SHA1, VEC_B_NONCE, VEC_B_CERT_SHA1, NULL),
                     SSTP_OK);
    assert_int_equal(w.len, 112);
    assert_memory_equal(buf, VEC_B_CONNECTED, 80);
    static const uint8_t zero[32];
    assert_memory_equal(buf + 80, zero, 32);
}

static void test_encode_nak_several(void **state)
{
    (void)state;
    uint8_t val[64];
    memset(val, 0x5C, sizeof(val));
    struct sstp_status_info infos[3] = {
        { 0x07, SSTP_STATUS_UNRECOGNIZED_ATTRIBUTE, { NULL, 0 } },
        { SSTP_ATTRIB_ENCAPSULATED_PROTOCOL_ID, SSTP_STATUS_VALUE_NOT_SUPPORTED, { val, 64 } },
        { SSTP_ATTRIB_STATUS_INFO, SSTP_STATUS_REQUIRED_ATTRIBUTE_MISSING, { NULL, 0 } },
    };
    uint8_t buf[256];
    struct sstp_wbuf w;
    sstp_wbuf_init(&w, buf, sizeof(buf));
    assert_int_equal(sstp_ctrl_encode_connect_nak(&w, infos, 3), SSTP_OK);
    assert_int_equal(w.len, 8 + 12 + 76 + 12);
    struct dec *d = dec_new(buf, w.len);
    assert_int_equal(d->rc, SSTP_OK);
    assert_int_equal(sstp_ctrl_check(&d->c), SSTP_OK);
    assert_int_equal(d->c.n_attrs, 3);
    for (size_t i = 0; i < 3; i++) {
        struct sstp_status_info si;
        assert_int_equal(sstp_attr_status_info(&si, &d->c.attrs[i]), SSTP_OK);
        assert_int_equal(si.attrib_id, infos[i].attrib_id);
        assert_int_equal(si.status, infos[i].status);
        assert_int_equal(si.value.len, infos[i].value.len);
    }
    dec_free(d);
}

/* every message the encoders produce decodes, checks and re-encodes */
static void test_encode_decode_roundtrip(void **state)
{
    (void)state;
    uint8_t buf[512];
    struct sstp_wbuf w;
    sstp_wbuf_init(&w, buf, sizeof(buf));
    struct sstp_status_info si = { SSTP_ATTRIB_CRYPTO_BINDING, SSTP_STATUS_VALUE_NOT_SUPPORTED, { NULL, 0 } };
    assert_int_equal(sstp_ctrl_encode_connect_request(&w, 1), SSTP_OK);
    size_t ends[16], n = 0;
    ends[n++] = w.len;
    assert_int_equal(sstp_ctrl_encode_connect_ack(&w, 3, VEC_B_NONCE), SSTP_OK);
    ends[n++] = w.len;
    assert_int_equal(sstp_ctrl_encode_connect_nak(&w, &si, 1), SSTP_OK);
    ends[n++] = w.len;
    assert_int_equal(sstp_ctrl_encode_connected(&w, 2, VEC_A_NONCE, VEC_A_CERT_SHA256, NULL), SSTP_OK);
    ends[n++] = w.len;
    assert_int_equal(sstp_ctrl_encode_abort(&w, &si), SSTP_OK);
    ends[n++] = w.len;
    assert_int_equal(sstp_ctrl_encode_disconnect(&w, NULL), SSTP_OK);
    ends[n++] = w.len;
    assert_int_equal(sstp_ctrl_encode_echo_response(&w), SSTP_OK);
    ends[n++] = w.len;
    size_t start = 0;
    for (size_t i = 0; i < n; i++) {
        /* the stream delineates into exactly these packets */
        struct sstp_pkt p;
        size_t used;
        assert_int_equal(sstp_pkt_decode(&p, &used, buf + start, w.len - start), SSTP_OK);
        assert_int_equal(start + used, ends[i]);
        assert_roundtrip(buf + start, used);
        start += used;
    }
    assert_int_equal(start, w.len);
}

/* ---- encoder rejections ---- */

static void test_encode_nospace_fails_whole(void **state)
{
    (void)state;
    uint8_t buf[200];
    struct sstp_wbuf w;
    struct sstp_status_info si = { 2, 7, { NULL, 0 } };

#define NOSPACE(cap, call)                                                     \
    do {                                                                       \
        memset(buf, 0xEE, sizeof(buf));                                        \
        sstp_wbuf_init(&w, buf, (cap));                                        \
        assert_int_equal((call), SSTP_E_NOSPACE);                              \
        assert_int_equal(w.len, 0);                                            \
        assert_true(w.err);                                                    \
        assert_int_equal(buf[0], 0xEE);                                        \
    } while (0)

    NOSPACE(13, sstp_ctrl_encode_connect_request(&w, 1));
    NOSPACE(47, sstp_ctrl_encode_connect_ack(&w, 2, VEC_A_NONCE));
    NOSPACE(19, sstp_ctrl_encode_connect_nak(&w, &si, 1));
    NOSPACE(111, sstp_ctrl_encode_connected(&w, 2, VEC_A_NONCE, VEC_A_CERT_SHA256, VEC_A_MAC));
    NOSPACE(19, sstp_ctrl_encode_abort(&w, &si));
    NOSPACE(7, sstp_ctrl_encode_disconnect(&w, NULL));
    NOSPACE(7, sstp_ctrl_encode_disconnect_ack(&w));
    NOSPACE(7, sstp_ctrl_encode_echo_request(&w));
    NOSPACE(7, sstp_ctrl_encode_echo_response(&w));
#undef NOSPACE

    /* sticky: after one failure nothing fits */
    sstp_wbuf_init(&w, buf, 10);
    assert_int_equal(sstp_ctrl_encode_connect_request(&w, 1), SSTP_E_NOSPACE);
    assert_int_equal(sstp_ctrl_encode_echo_request(&w), SSTP_E_NOSPACE);
    assert_int_equal(w.len, 0);

    /* a partly used buffer keeps what it had */
    sstp_wbuf_init(&w, buf, 20);
    assert_int_equal(sstp_ctrl_encode_echo_request(&w), SSTP_OK);
    assert_int_equal(sstp_ctrl_encode_connect_request(&w, 1), SSTP_E_NOSPACE);
    assert_int_equal(w.len, 8);
    assert_memory_equal(buf, IMG_ECHO_REQUEST, 8);
}

static void test_encode_arg_errors(void **state)
{
    (void)state;
    static uint8_t buf[8192];
    struct sstp_wbuf w;
    sstp_wbuf_init(&w, buf, sizeof(buf));
    uint8_t val[65] = { 0 };
    struct sstp_status_info big = { 1, 4, { val, 65 } };
    struct sstp_status_info dangling = { 1, 4, { NULL, 3 } };
    struct sstp_status_info withval = { 2, 7, { val, 1 } };
    struct sstp_status_info ok = { 1, 4, { val, 64 } };

    assert_int_equal(sstp_ctrl_encode_connect_request(NULL, 1), SSTP_E_ARG);
    assert_int_equal(sstp_ctrl_encode_connect_ack(&w, 2, NULL), SSTP_E_ARG);
    assert_int_equal(sstp_ctrl_encode_connect_nak(&w, NULL, 1), SSTP_E_ARG);
    assert_int_equal(sstp_ctrl_encode_connect_nak(&w, &ok, 0), SSTP_E_ARG);
    assert_int_equal(sstp_ctrl_encode_connect_nak(&w, &big, 1), SSTP_E_ARG);
    assert_int_equal(sstp_ctrl_encode_connect_nak(&w, &dangling, 1), SSTP_E_ARG);
    assert_int_equal(sstp_ctrl_encode_connect_nak(NULL, &ok, 1), SSTP_E_ARG);
    /* 54 Status Infos of 76 bytes: 4112 bytes > 4095 */
    struct sstp_status_info many[54];
    for (size_t i = 0; i < 54; i++)
        many[i] = ok;
    assert_int_equal(sstp_ctrl_encode_connect_nak(&w, many, 54), SSTP_E_PKT_TOO_LONG);
    assert_int_equal(sstp_ctrl_encode_connect_nak(&w, many, 53), SSTP_OK); /* 4036 bytes */
    sstp_wbuf_init(&w, buf, sizeof(buf));
    assert_int_equal(sstp_ctrl_encode_connected(&w, 3, VEC_A_NONCE, VEC_A_CERT_SHA256, NULL), SSTP_E_ARG);
    assert_int_equal(sstp_ctrl_encode_connected(&w, 0, VEC_A_NONCE, VEC_A_CERT_SHA256, NULL), SSTP_E_ARG);
    assert_int_equal(sstp_ctrl_encode_connected(&w, 2, NULL, VEC_A_CERT_SHA256, NULL), SSTP_E_ARG);
    assert_int_equal(sstp_ctrl_encode_connected(&w, 2, VEC_A_NONCE, NULL, NULL), SSTP_E_ARG);
    /* MS-SSTP 2.2.8: AttribValue only in a NAK */
    assert_int_equal(sstp_ctrl_encode_abort(&w, &withval), SSTP_E_ARG);
    assert_int_equal(sstp_ctrl_encode_disconnect(&w, &withval), SSTP_E_ARG);
    assert_int_equal(sstp_ctrl_encode_disconnect_ack(NULL), SSTP_E_ARG);
    assert_int_equal(w.len, 0);
    assert_false(w.err);
}

static void test_encode_generic_errors(void **state)
{
    (void)state;
    static uint8_t buf[8192];
    static uint8_t val[4096];
    struct sstp_wbuf w;
    sstp_wbuf_init(&w, buf, sizeof(buf));
    struct sstp_ctrl c;
    memset(&c, 0, sizeof(c));
    c.type = SSTP_MSG_CALL_CONNECT_NAK;

    c.n_attrs = SSTP_CTRL_MAX_ATTRS + 1;
    assert_int_equal(sstp_ctrl_encode(&w, &c), SSTP_E_ARG);
    assert_int_equal(sstp_ctrl_encode(NULL, &c), SSTP_E_ARG);
    assert_int_equal(sstp_ctrl_encode(&w, NULL), SSTP_E_ARG);

    c.n_attrs = 1;
    c.attrs[0].id = 2;
    c.attrs[0].value = sstp_slice_make(NULL, 5);
    assert_int_equal(sstp_ctrl_encode(&w, &c), SSTP_E_ARG);
    c.attrs[0].value = sstp_slice_make(val, 4096);
    assert_int_equal(sstp_ctrl_encode(&w, &c), SSTP_E_PKT_TOO_LONG);
    c.attrs[0].value = sstp_slice_make(val, 4088); /* 8 + 4 + 4088 = 4100 */
    assert_int_equal(sstp_ctrl_encode(&w, &c), SSTP_E_PKT_TOO_LONG);
    c.attrs[0].value = sstp_slice_make(val, 4083); /* 4095: the largest packet */
    assert_int_equal(sstp_ctrl_encode(&w, &c), SSTP_OK);
    assert_int_equal(w.len, 4095);
    struct dec *d = dec_new(buf, w.len);
    assert_int_equal(d->rc, SSTP_OK);
    assert_int_equal(d->c.attrs[0].len, 4087);
    dec_free(d);

    sstp_wbuf_init(&w, buf, 100);
    assert_int_equal(sstp_ctrl_encode(&w, &c), SSTP_E_NOSPACE);
    assert_int_equal(w.len, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_decode_images),
        cmocka_unit_test(test_decode_connected_vectors),
        cmocka_unit_test(test_roundtrip_images),
        cmocka_unit_test(test_decode_anomaly_normalised_by_encode),
        cmocka_unit_test(test_decode_rejects),
        cmocka_unit_test(test_decode_attr_limit),
        cmocka_unit_test(test_check_ok),
        cmocka_unit_test(test_check_rejects),
        cmocka_unit_test(test_accessor_rejects),
        cmocka_unit_test(test_type_names),
        cmocka_unit_test(test_encode_images),
        cmocka_unit_test(test_encode_connected_zero_mac),
        cmocka_unit_test(test_encode_nak_several),
        cmocka_unit_test(test_encode_decode_roundtrip),
        cmocka_unit_test(test_encode_nospace_fails_whole),
        cmocka_unit_test(test_encode_arg_errors),
        cmocka_unit_test(test_encode_generic_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
