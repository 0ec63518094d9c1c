/* fuzz_packet.c — libFuzzer target for the SSTP packet and control-message
 * codecs: delineates the input as a stream, decodes each control packet,
 * checks it, and re-encodes what decoded (generic and typed encoders),
 * aborting on any round-trip difference or broken invariant. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sstp/ctrl.h"
#include "sstp/packet.h"

#define CHECK(cond)                                                            \
    do {                                                                       \
        if (!(cond))                                                           \
            abort();                                                           \
    } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool slice_eq(struct sstp_slice a, struct sstp_slice b)
{
    return a.len == b.len && (a.len == 0 || memcmp(a.p, b.p, a.len) == 0);
}

/* The typed encoder for c's type must reproduce the generic encoding of a
 * message that passed sstp_ctrl_check. */
static void typed_roundtrip(const struct sstp_ctrl *c, const uint8_t *generic, size_t generic_len)
{
    uint8_t buf[SSTP_PKT_MAX_LEN];
    struct sstp_wbuf w;
    sstp_wbuf_init(&w, buf, sizeof(buf));
    enum sstp_rc rc = SSTP_OK;
    const struct sstp_attr *a;
    struct sstp_status_info si;

    switch (c->type) {
    case SSTP_MSG_CALL_CONNECT_REQUEST: {
        uint16_t proto = 0;
        a = sstp_ctrl_find(c, SSTP_ATTRIB_ENCAPSULATED_PROTOCOL_ID);
        CHECK(a && sstp_attr_encap_proto(&proto, a) == SSTP_OK);
        CHECK(proto == SSTP_ENCAP_PROTO_PPP);
        rc = sstp_ctrl_encode_connect_request(&w, proto);
        break;
    }
    case SSTP_MSG_CALL_CONNECT_ACK: {
        struct sstp_binding_req br;
        a = sstp_ctrl_find(c, SSTP_ATTRIB_CRYPTO_BINDING_REQ);
        CHECK(a && sstp_attr_binding_req(&br, a) == SSTP_OK);
        CHECK(br.nonce.len == SSTP_NONCE_LEN);
        rc = sstp_ctrl_encode_connect_ack(&w, br.hash_bitmask, br.nonce.p);
        break;
    }
    case SSTP_MSG_CALL_CONNECT_NAK: {
        struct sstp_status_info infos[SSTP_CTRL_MAX_ATTRS];
        CHECK(c->n_attrs >= 1 && c->n_attrs <= SSTP_CTRL_MAX_ATTRS);
        for (size_t i = 0; i < c->n_attrs; i++)
            CHECK(sstp_attr_status_info(&infos[i], &c->attrs[i]) == SSTP_OK);
        rc = sstp_ctrl_encode_connect_nak(&w, infos, c->n_attrs);
        break;
    }
    case SSTP_MSG_CALL_CONNECTED: {
        struct sstp_binding b;
        a = sstp_ctrl_find(c, SSTP_ATTRIB_CRYPTO_BINDING);
        CHECK(a && sstp_attr_binding(&b, a) == SSTP_OK);
        CHECK(b.nonce.len == SSTP_NONCE_LEN);
        /* The typed encoder writes only valid hash protocols with zero
         * padding; anything else has no typed form to compare with. */
        if (b.hash_proto != SSTP_HASH_BIT_SHA1 && b.hash_proto != SSTP_HASH_BIT_SHA256)
            return;
        if (b.hash_proto == SSTP_HASH_BIT_SHA1) {
            static const uint8_t zero[12];
            if (memcmp(b.cert_hash.p + 20, zero, 12) || memcmp(b.mac.p + 20, zero, 12))
                return;
        }
        rc = sstp_ctrl_encode_connected(&w, b.hash_proto, b.nonce.p, b.cert_hash.p, b.mac.p);
        break;
    }
    case SSTP_MSG_CALL_ABORT:
    case SSTP_MSG_CALL_DISCONNECT: {
        const struct sstp_status_info *sip = NULL;
        if (c->n_attrs == 1) {
            CHECK(sstp_attr_status_info(&si, &c->attrs[0]) == SSTP_OK);
            CHECK(si.value.len == 0);
            sip = &si;
        } else {
            CHECK(c->n_attrs == 0);
        }
        rc = c->type == SSTP_MSG_CALL_ABORT ? sstp_ctrl_encode_abort(&w, sip)
                                            : sstp_ctrl_encode_disconnect(&w, sip);
        break;
    }
    case SSTP_MSG_CALL_DISCONNECT_ACK:
        CHECK(c->n_attrs == 0);
        rc = sstp_ctrl_encode_disconnect_ack(&w);
        break;
    case SSTP_MSG_ECHO_REQUEST:
        CHECK(c->n_attrs == 0);
        rc = sstp_ctrl_encode_echo_request(&w);
        break;
    case SSTP_MSG_ECHO_RESPONSE:
        CHECK(c->n_attrs == 0);
        rc = sstp_ctrl_encode_echo_response(&w);
        break;
    default:
        abort(); /* sstp_ctrl_check let an unknown type through */
    }
    CHECK(rc == SSTP_OK);
    CHECK(w.len == generic_len && memcmp(buf, generic, generic_len) == 0);
}

static void ctrl_roundtrip(const uint8_t *pkt, size_t len, bool pkt_anomaly)
{
    struct sstp_ctrl c;
    enum sstp_rc rc = sstp_ctrl_decode(&c, pkt, len);
    if (rc != SSTP_OK) {
        CHECK(rc == SSTP_E_CTRL_ATTR_COUNT || rc == SSTP_E_CTRL_ATTR_SHORT ||
              rc == SSTP_E_CTRL_ATTR_OVERRUN || rc == SSTP_E_CTRL_TRAILING ||
              rc == SSTP_E_CTRL_TOO_MANY_ATTRS);
        return;
    }
    CHECK(c.raw.p == pkt && c.raw.len == len);
    CHECK(c.n_attrs <= SSTP_CTRL_MAX_ATTRS);
    CHECK(!pkt_anomaly || c.anomaly);
    for (size_t i = 0; i < c.n_attrs; i++) {
        const struct sstp_attr *a = &c.attrs[i];
        CHECK(a->len >= SSTP_ATTR_HDR_LEN && a->value.len + SSTP_ATTR_HDR_LEN == a->len);
        CHECK(a->value.p >= pkt + SSTP_CTRL_HDR_LEN && a->value.p + a->value.len <= pkt + len);
        /* accessors must be safe on anything the decoder accepts */
        struct sstp_status_info si;
        uint16_t proto;
        struct sstp_binding_req br;
        struct sstp_binding b;
        if (sstp_attr_status_info(&si, a) == SSTP_OK)
            CHECK(si.value.len <= SSTP_STATUS_VALUE_MAX);
        if (sstp_attr_binding(&b, a) == SSTP_OK)
            CHECK(b.mac.p + b.mac.len <= pkt + len);
        (void)sstp_attr_encap_proto(&proto, a);
        (void)sstp_attr_binding_req(&br, a);
    }

    /* generic re-encode: identical bytes unless reserved fields were set */
    uint8_t out[SSTP_PKT_MAX_LEN];
    struct sstp_wbuf w;
    sstp_wbuf_init(&w, out, sizeof(out));
    CHECK(sstp_ctrl_encode(&w, &c) == SSTP_OK);
    CHECK(w.len == len);
    if (!c.anomaly) {
        CHECK(memcmp(out, pkt, len) == 0);
    } else {
        struct sstp_ctrl c2;
        CHECK(sstp_ctrl_decode(&c2, out, w.len) == SSTP_OK);
        CHECK(c2.type == c.type && c2.n_attrs == c.n_attrs);
        for (size_t i = 0; i < c.n_attrs; i++)
            CHECK(c2.attrs[i].id == c.attrs[i].id && slice_eq(c2.attrs[i].value, c.attrs[i].value));
        CHECK(sstp_ctrl_check(&c2) == sstp_ctrl_check(&c));
        /* values are copied verbatim (their reserved bytes too), so a second
         * round is a fixed point */
        uint8_t out2[SSTP_PKT_MAX_LEN];
        struct sstp_wbuf w2;
        sstp_wbuf_init(&w2, out2, sizeof(out2));
        CHECK(sstp_ctrl_encode(&w2, &c2) == SSTP_OK);
        CHECK(w2.len == w.len && memcmp(out2, out, w.len) == 0);
    }

    rc = sstp_ctrl_check(&c);
    if (rc != SSTP_OK)
        CHECK(rc >= SSTP_E_CTRL_SHORT && rc <= SSTP_E_CTRL_STATUS);
    else if (!c.anomaly)
        typed_roundtrip(&c, out, w.len); /* typed encoders zero reserved fields */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t off = 0;
    while (off < size) {
        const uint8_t *in = data + off;
        size_t in_len = size - off;
        struct sstp_pkt p;
        size_t used = 0;
        enum sstp_rc rc = sstp_pkt_decode(&p, &used, in, in_len);
        if (rc == SSTP_AGAIN) {
            CHECK(in_len < SSTP_PKT_MAX_LEN);
            break;
        }
        if (rc != SSTP_OK) {
            CHECK(rc == SSTP_E_PKT_VERSION || rc == SSTP_E_PKT_SHORT || rc == SSTP_E_CTRL_SHORT);
            break;
        }
        CHECK(used == p.len && used >= SSTP_HDR_LEN && used <= in_len && used <= SSTP_PKT_MAX_LEN);
        CHECK(!p.is_ctrl || used >= SSTP_CTRL_HDR_LEN);
        CHECK(p.raw == in && p.payload.p == in + SSTP_HDR_LEN && p.payload.len == used - SSTP_HDR_LEN);

        /* incremental: every proper prefix of a good packet is incomplete */
        size_t probes[3] = { 1, SSTP_HDR_LEN, used - 1 };
        for (int i = 0; i < 3; i++) {
            if (probes[i] < used) {
                struct sstp_pkt q;
                size_t u2;
                CHECK(sstp_pkt_decode(&q, &u2, in, probes[i]) == SSTP_AGAIN);
            }
        }

        /* header and data packet re-encode */
        uint8_t hdr[SSTP_PKT_MAX_LEN];
        struct sstp_wbuf w;
        sstp_wbuf_init(&w, hdr, sizeof(hdr));
        CHECK(sstp_pkt_hdr_encode(&w, p.is_ctrl, used) == SSTP_OK);
        CHECK(hdr[0] == in[0] && (hdr[1] & 1) == (in[1] & 1));
        CHECK(((hdr[2] << 8 | hdr[3]) & SSTP_LEN_MASK) == ((in[2] << 8 | in[3]) & SSTP_LEN_MASK));
        if (!p.anomaly)
            CHECK(memcmp(hdr, in, SSTP_HDR_LEN) == 0);

        if (p.is_ctrl) {
            ctrl_roundtrip(in, used, p.anomaly);
        } else {
            struct sstp_ctrl c;
            CHECK(sstp_ctrl_decode(&c, in, used) == SSTP_E_CTRL_NOT_CONTROL);
            sstp_wbuf_init(&w, hdr, sizeof(hdr));
            CHECK(sstp_pkt_data_encode(&w, p.payload.p, p.payload.len) == SSTP_OK);
            CHECK(w.len == used && memcmp(hdr + SSTP_HDR_LEN, p.payload.p, p.payload.len) == 0);
            if (!p.anomaly)
                CHECK(memcmp(hdr, in, used) == 0);
            uint16_t proto = 0;
            rc = sstp_ppp_proto(&proto, p.payload.p, p.payload.len);
            CHECK(rc == SSTP_OK || rc == SSTP_E_PKT_PPP_SHORT);
            CHECK(sstp_ppp_frame_is_control(p.payload.p, p.payload.len) ==
                  (rc == SSTP_OK && proto >= 0x8000));
        }
        off += used;
    }

    /* the whole input as one control message (exercises the length and
     * header checks of sstp_ctrl_decode directly) */
    struct sstp_ctrl c;
    enum sstp_rc rc = sstp_ctrl_decode(&c, data, size);
    if (rc == SSTP_OK)
        ctrl_roundtrip(data, size, c.anomaly);
    return 0;
}
