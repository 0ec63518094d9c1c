/* ctrl.c — SSTP control message codec (MS-SSTP 2.2.2-2.2.15): strict
 * attribute walk, per-type form check, accessors and encoders. Input is
 * untrusted; every length is checked before use. No I/O, no allocation, no
 * state policy (server_fsm.c decides what a malformed message leads to). */
#include "sstp/ctrl.h"

#include "sstp/packet.h"

#define ATTR_LEN_MASK 0x0FFF /* MS-SSTP 2.2.4: 4 reserved bits + 12-bit length */

enum sstp_rc sstp_ctrl_decode(struct sstp_ctrl *out, const uint8_t *msg, size_t msg_len)
{
    if (!out || !msg)
        return SSTP_E_ARG;

    struct sstp_pkt pkt;
    size_t used = 0;
    enum sstp_rc rc = sstp_pkt_decode(&pkt, &used, msg, msg_len);
    if (rc == SSTP_AGAIN)
        return msg_len < SSTP_CTRL_HDR_LEN ? SSTP_E_CTRL_SHORT : SSTP_E_ARG;
    if (rc != SSTP_OK)
        return rc;
    if (used != msg_len)
        return SSTP_E_ARG;
    if (!pkt.is_ctrl)
        return SSTP_E_CTRL_NOT_CONTROL;

    /* sstp_pkt_decode guarantees a control packet holds at least 8 bytes. */
    struct sstp_slice s = pkt.payload;
    uint16_t type = 0, count = 0;
    (void)sstp_get_u16be(&s, &type);
    (void)sstp_get_u16be(&s, &count);

    out->type = type;
    out->n_attrs = 0;
    out->anomaly = pkt.anomaly;
    out->raw = sstp_slice_make(msg, msg_len);

    /* Each attribute is at least 4 bytes, so the walk ends within
     * len / 4 rounds whatever count says. */
    for (uint32_t i = 0; i < count; i++) {
        if (s.len == 0)
            return SSTP_E_CTRL_ATTR_COUNT;
        if (s.len < SSTP_ATTR_HDR_LEN)
            return SSTP_E_CTRL_ATTR_SHORT;
        uint8_t reserved = s.p[0];
        uint8_t id = s.p[1];
        uint16_t len_field = sstp_load_u16be(s.p + 2);
        uint16_t alen = len_field & ATTR_LEN_MASK;
        if (alen < SSTP_ATTR_HDR_LEN)
            return SSTP_E_CTRL_ATTR_SHORT;
        if (alen > s.len)
            return SSTP_E_CTRL_ATTR_OVERRUN;
        if (reserved != 0 || (len_field & ~ATTR_LEN_MASK) != 0)
            out->anomaly = true;
        /* Status Info, Crypto Binding and its Request start their value
         * with 3 reserved bytes (MS-SSTP 2.2.6-2.2.8). */
        if ((id == SSTP_ATTRIB_STATUS_INFO || id == SSTP_ATTRIB_CRYPTO_BINDING ||
             id == SSTP_ATTRIB_CRYPTO_BINDING_REQ) &&
            alen >= SSTP_ATTR_HDR_LEN + 3 && (s.p[4] | s.p[5] | s.p[6]) != 0)
            out->anomaly = true;
        if (i < SSTP_CTRL_MAX_ATTRS) {
            struct sstp_attr *a = &out->attrs[i];
            a->id = id;
            a->len = alen;
            a->value = sstp_slice_make(s.p + SSTP_ATTR_HDR_LEN, (size_t)alen - SSTP_ATTR_HDR_LEN);
        }
        (void)sstp_skip(&s, alen);
    }
    if (s.len != 0)
        return SSTP_E_CTRL_TRAILING;
    if (count > SSTP_CTRL_MAX_ATTRS)
        return SSTP_E_CTRL_TOO_MANY_ATTRS;
    out->n_attrs = count;
    return SSTP_OK;
}

/* The form of each message type, MS-SSTP 2.2.9-2.2.15. */
struct msg_form {
    uint8_t allowed;        /* bit (1 << attribute id) per allowed attribute */
    int16_t required;       /* attribute id that must be present, -1 none */
    bool zero_status_only;  /* a Status Info may only carry status 0 */
    bool multi_status;      /* Status Info may repeat (NAK) */
    uint16_t len_a, len_b;  /* allowed total lengths; 0 = any */
};

#define BIT(id) (uint8_t)(1u << (id))

static const struct msg_form *msg_form_of(uint16_t type)
{
    static const struct msg_form forms[] = {
        [SSTP_MSG_CALL_CONNECT_REQUEST] = { BIT(SSTP_ATTRIB_ENCAPSULATED_PROTOCOL_ID) |
                                                BIT(SSTP_ATTRIB_STATUS_INFO),
                                            SSTP_ATTRIB_ENCAPSULATED_PROTOCOL_ID, true, false,
                                            SSTP_MSG_REQUEST_LEN, SSTP_MSG_REQUEST_LEN },
        [SSTP_MSG_CALL_CONNECT_ACK] = { BIT(SSTP_ATTRIB_CRYPTO_BINDING_REQ),
                                        SSTP_ATTRIB_CRYPTO_BINDING_REQ, false, false,
                                        SSTP_MSG_ACK_LEN, SSTP_MSG_ACK_LEN },
        [SSTP_MSG_CALL_CONNECT_NAK] = { BIT(SSTP_ATTRIB_STATUS_INFO), SSTP_ATTRIB_STATUS_INFO,
                                        false, true, 0, 0 },
        [SSTP_MSG_CALL_CONNECTED] = { BIT(SSTP_ATTRIB_CRYPTO_BINDING) | BIT(SSTP_ATTRIB_STATUS_INFO),
                                      SSTP_ATTRIB_CRYPTO_BINDING, true, false,
                                      SSTP_CONNECTED_LEN, SSTP_CONNECTED_LEN },
        [SSTP_MSG_CALL_ABORT] = { BIT(SSTP_ATTRIB_STATUS_INFO), -1, false, false,
                                  SSTP_MSG_ABORT_LEN, SSTP_MSG_EMPTY_LEN },
        [SSTP_MSG_CALL_DISCONNECT] = { BIT(SSTP_ATTRIB_STATUS_INFO), -1, false, false,
                                       SSTP_MSG_ABORT_LEN, SSTP_MSG_EMPTY_LEN },
        [SSTP_MSG_CALL_DISCONNECT_ACK] = { 0, -1, false, false, SSTP_MSG_EMPTY_LEN, SSTP_MSG_EMPTY_LEN },
        [SSTP_MSG_ECHO_REQUEST] = { 0, -1, false, false, SSTP_MSG_EMPTY_LEN, SSTP_MSG_EMPTY_LEN },
        [SSTP_MSG_ECHO_RESPONSE] = { 0, -1, false, false, SSTP_MSG_EMPTY_LEN, SSTP_MSG_EMPTY_LEN },
    };
    if (type < SSTP_MSG_CALL_CONNECT_REQUEST || type > SSTP_MSG_ECHO_RESPONSE)
        return NULL;
    return &forms[type];
}

static bool attr_len_ok(uint8_t id, uint16_t len)
{
    switch (id) {
    case SSTP_ATTRIB_ENCAPSULATED_PROTOCOL_ID:
        return len == SSTP_ATTR_ENCAP_LEN;
    case SSTP_ATTRIB_STATUS_INFO:
        return len >= SSTP_ATTR_STATUS_MIN_LEN && len <= SSTP_ATTR_STATUS_MAX_LEN;
    case SSTP_ATTRIB_CRYPTO_BINDING:
        return len == SSTP_ATTR_BINDING_LEN;
    case SSTP_ATTRIB_CRYPTO_BINDING_REQ:
        return len == SSTP_ATTR_BINDING_REQ_LEN;
    default:
        return false; /* NO_ERROR is never an attribute of its own */
    }
}

enum sstp_rc sstp_ctrl_check(const struct sstp_ctrl *c)
{
    if (!c || c->n_attrs > SSTP_CTRL_MAX_ATTRS)
        return SSTP_E_ARG;
    const struct msg_form *f = msg_form_of(c->type);
    if (!f)
        return SSTP_E_CTRL_MSG_TYPE;

    uint8_t seen = 0;
    for (size_t i = 0; i < c->n_attrs; i++) {
        const struct sstp_attr *a = &c->attrs[i];
        if (a->id > SSTP_ATTRIB_ID_MAX)
            return SSTP_E_CTRL_ATTR_ID;
        if (!(f->allowed & BIT(a->id)))
            return SSTP_E_CTRL_ATTR_UNEXPECTED;
        if (!attr_len_ok(a->id, a->len))
            return SSTP_E_CTRL_ATTR_LEN;
        if ((seen & BIT(a->id)) && !(a->id == SSTP_ATTRIB_STATUS_INFO && f->multi_status))
            return SSTP_E_CTRL_ATTR_DUP;
        seen |= BIT(a->id);
        if (a->id == SSTP_ATTRIB_STATUS_INFO) {
            struct sstp_status_info si;
            (void)sstp_attr_status_info(&si, a);
            if (f->zero_status_only && si.status != SSTP_STATUS_NO_ERROR)
                return SSTP_E_CTRL_STATUS;
        }
    }
    if (f->required >= 0 && !(seen & BIT(f->required)))
        return SSTP_E_CTRL_ATTR_MISSING;

    /* Values: the lengths are known good from here on. */
    for (size_t i = 0; i < c->n_attrs; i++) {
        const struct sstp_attr *a = &c->attrs[i];
        if (a->id == SSTP_ATTRIB_ENCAPSULATED_PROTOCOL_ID) {
            uint16_t proto = 0;
            (void)sstp_attr_encap_proto(&proto, a);
            if (proto != SSTP_ENCAP_PROTO_PPP)
                return SSTP_E_CTRL_ATTR_VALUE;
        } else if (a->id == SSTP_ATTRIB_CRYPTO_BINDING_REQ) {
            struct sstp_binding_req br;
            (void)sstp_attr_binding_req(&br, a);
            if (!(br.hash_bitmask & (SSTP_HASH_BIT_SHA1 | SSTP_HASH_BIT_SHA256)))
                return SSTP_E_CTRL_ATTR_VALUE;
        } else if (a->id == SSTP_ATTRIB_STATUS_INFO) {
            struct sstp_status_info si;
            (void)sstp_attr_status_info(&si, a);
            /* A NAK names the peer's attribute, known or not (MS-SSTP
             * 3.3.5.2.2: unrecognized attribute → its id). */
            if (si.attrib_id > SSTP_ATTRIB_ID_MAX && !f->multi_status)
                return SSTP_E_CTRL_ATTR_VALUE;
        }
    }

    /* The attribute set is right, so only an odd Status Info value size
     * (non-empty outside a NAK, MS-SSTP 2.2.8) or an extra zero-status
     * Status Info can still make the total length wrong. */
    size_t len = c->raw.len;
    if (f->len_a && len != f->len_a && len != f->len_b)
        return SSTP_E_CTRL_MSG_LEN;
    return SSTP_OK;
}

const char *sstp_ctrl_type_name(uint16_t type)
{
    switch (type) {
    case SSTP_MSG_CALL_CONNECT_REQUEST: return "CALL_CONNECT_REQUEST";
    case SSTP_MSG_CALL_CONNECT_ACK:     return "CALL_CONNECT_ACK";
    case SSTP_MSG_CALL_CONNECT_NAK:     return "CALL_CONNECT_NAK";
    case SSTP_MSG_CALL_CONNECTED:       return "CALL_CONNECTED";
    case SSTP_MSG_CALL_ABORT:           return "CALL_ABORT";
    case SSTP_MSG_CALL_DISCONNECT:      return "CALL_DISCONNECT";
    case SSTP_MSG_CALL_DISCONNECT_ACK:  return "CALL_DISCONNECT_ACK";
    case SSTP_MSG_ECHO_REQUEST:         return "ECHO_REQUEST";
    case SSTP_MSG_ECHO_RESPONSE:        return "ECHO_RESPONSE";
    default:                            return "UNKNOWN";
    }
}

const struct sstp_attr *sstp_ctrl_find(const struct sstp_ctrl *c, uint8_t id)
{
    if (!c)
        return NULL;
    for (size_t i = 0; i < c->n_attrs && i < SSTP_CTRL_MAX_ATTRS; i++)
        if (c->attrs[i].id == id)
            return &c->attrs[i];
    return NULL;
}

/* Accessors. attr->value has attr->len - 4 bytes (sstp_ctrl_decode). */

/* attr_expect: an output to fill, and an attribute of this id with the
 * exact length that id must have. */
static enum sstp_rc attr_expect(const struct sstp_attr *a, uint8_t id, const void *out)
{
    if (!out || !a)
        return SSTP_E_ARG;
    if (a->id != id)
        return SSTP_E_CTRL_ATTR_ID;
    if (!attr_len_ok(id, a->len) || a->value.len + SSTP_ATTR_HDR_LEN != a->len)
        return SSTP_E_CTRL_ATTR_LEN;
    return SSTP_OK;
}

enum sstp_rc sstp_attr_status_info(struct sstp_status_info *out, const struct sstp_attr *a)
{
    enum sstp_rc rc = attr_expect(a, SSTP_ATTRIB_STATUS_INFO, out);
    if (rc != SSTP_OK)
        return rc;
    /* +0 reserved (3 bytes), +3 AttribID, +4 Status, +8 AttribValue */
    out->attrib_id = a->value.p[3];
    out->status = sstp_load_u32be(a->value.p + 4);
    out->value = sstp_slice_make(a->value.p + 8, a->value.len - 8);
    return SSTP_OK;
}

enum sstp_rc sstp_attr_encap_proto(uint16_t *out, const struct sstp_attr *a)
{
    enum sstp_rc rc = attr_expect(a, SSTP_ATTRIB_ENCAPSULATED_PROTOCOL_ID, out);
    if (rc != SSTP_OK)
        return rc;
    *out = sstp_load_u16be(a->value.p);
    return SSTP_OK;
}

enum sstp_rc sstp_attr_binding_req(struct sstp_binding_req *out, const struct sstp_attr *a)
{
    enum sstp_rc rc = attr_expect(a, SSTP_ATTRIB_CRYPTO_BINDING_REQ, out);
    if (rc != SSTP_OK)
        return rc;
    /* +0 reserved (3 bytes), +3 bitmask, +4 nonce */
    out->hash_bitmask = a->value.p[3];
    out->nonce = sstp_slice_make(a->value.p + 4, SSTP_NONCE_LEN);
    return SSTP_OK;
}

enum sstp_rc sstp_attr_binding(struct sstp_binding *out, const struct sstp_attr *a)
{
    enum sstp_rc rc = attr_expect(a, SSTP_ATTRIB_CRYPTO_BINDING, out);
    if (rc != SSTP_OK)
        return rc;
    /* +0 reserved (3), +3 hash protocol, +4 nonce (32), +36 cert hash
     * field (32), +68 MAC field (32); SHA-1 values are 20 bytes + 12 pad. */
    const uint8_t *v = a->value.p;
    size_t n = v[3] == SSTP_HASH_BIT_SHA1 ? SSTP_SHA1_LEN : SSTP_SHA256_LEN;
    out->hash_proto = v[3];
    out->nonce = sstp_slice_make(v + 4, SSTP_NONCE_LEN);
    out->cert_hash = sstp_slice_make(v + 36, n);
    out->mac = sstp_slice_make(v + 68, n);
    return SSTP_OK;
}

/* Encoders. */

/* ctrl_begin reserves a whole message up front so that encoders fail whole
 * and never leave a partial message in w. */
static enum sstp_rc ctrl_begin(struct sstp_wbuf *w, uint16_t type, uint16_t n_attrs, size_t total)
{
    enum sstp_rc rc = sstp_pkt_begin(w, true, total);
    if (rc != SSTP_OK)
        return rc;
    sstp_put_u16be(w, type);
    sstp_put_u16be(w, n_attrs);
    return SSTP_OK;
}

static void put_attr_hdr(struct sstp_wbuf *w, uint8_t id, size_t len)
{
    sstp_put_u8(w, 0);
    sstp_put_u8(w, id);
    sstp_put_u16be(w, (uint16_t)len);
}

static void put_status_info(struct sstp_wbuf *w, const struct sstp_status_info *si)
{
    put_attr_hdr(w, SSTP_ATTRIB_STATUS_INFO, SSTP_ATTR_STATUS_MIN_LEN + si->value.len);
    sstp_put_zeros(w, 3);
    sstp_put_u8(w, si->attrib_id);
    sstp_put_u32be(w, si->status);
    sstp_put_bytes(w, si->value.p, si->value.len);
}

static bool status_value_ok(const struct sstp_status_info *si, size_t max)
{
    return si->value.len <= max && (si->value.p || !si->value.len);
}

enum sstp_rc sstp_ctrl_encode_connect_request(struct sstp_wbuf *w, uint16_t encap_proto)
{
    enum sstp_rc rc = ctrl_begin(w, SSTP_MSG_CALL_CONNECT_REQUEST, 1, SSTP_MSG_REQUEST_LEN);
    if (rc != SSTP_OK)
        return rc;
    put_attr_hdr(w, SSTP_ATTRIB_ENCAPSULATED_PROTOCOL_ID, SSTP_ATTR_ENCAP_LEN);
    sstp_put_u16be(w, encap_proto);
    return SSTP_OK;
}

enum sstp_rc sstp_ctrl_encode_connect_ack(struct sstp_wbuf *w, uint8_t hash_bitmask,
                                          const uint8_t nonce[SSTP_NONCE_LEN])
{
    if (!nonce)
        return SSTP_E_ARG;
    enum sstp_rc rc = ctrl_begin(w, SSTP_MSG_CALL_CONNECT_ACK, 1, SSTP_MSG_ACK_LEN);
    if (rc != SSTP_OK)
        return rc;
    put_attr_hdr(w, SSTP_ATTRIB_CRYPTO_BINDING_REQ, SSTP_ATTR_BINDING_REQ_LEN);
    sstp_put_zeros(w, 3);
    sstp_put_u8(w, hash_bitmask);
    sstp_put_bytes(w, nonce, SSTP_NONCE_LEN);
    return SSTP_OK;
}

enum sstp_rc sstp_ctrl_encode_connect_nak(struct sstp_wbuf *w,
                                          const struct sstp_status_info *infos, size_t n_infos)
{
    if (!w || !infos || n_infos == 0)
        return SSTP_E_ARG;
    size_t total = SSTP_CTRL_HDR_LEN;
    for (size_t i = 0; i < n_infos; i++) {
        if (!status_value_ok(&infos[i], SSTP_STATUS_VALUE_MAX))
            return SSTP_E_ARG;
        total += SSTP_ATTR_STATUS_MIN_LEN + infos[i].value.len;
        if (total > SSTP_PKT_MAX_LEN)
            return SSTP_E_PKT_TOO_LONG; /* also keeps n_infos within 16 bits */
    }
    enum sstp_rc rc = ctrl_begin(w, SSTP_MSG_CALL_CONNECT_NAK, (uint16_t)n_infos, total);
    if (rc != SSTP_OK)
        return rc;
    for (size_t i = 0; i < n_infos; i++)
        put_status_info(w, &infos[i]);
    return SSTP_OK;
}

enum sstp_rc sstp_ctrl_encode_connected(struct sstp_wbuf *w, uint8_t hash_proto,
                                        const uint8_t nonce[SSTP_NONCE_LEN],
                                        const uint8_t *cert_hash, const uint8_t *mac)
{
    size_t n;
    if (hash_proto == SSTP_HASH_BIT_SHA1)
        n = SSTP_SHA1_LEN;
    else if (hash_proto == SSTP_HASH_BIT_SHA256)
        n = SSTP_SHA256_LEN;
    else
        return SSTP_E_ARG;
    if (!nonce || !cert_hash)
        return SSTP_E_ARG;
    enum sstp_rc rc = ctrl_begin(w, SSTP_MSG_CALL_CONNECTED, 1, SSTP_CONNECTED_LEN);
    if (rc != SSTP_OK)
        return rc;
    put_attr_hdr(w, SSTP_ATTRIB_CRYPTO_BINDING, SSTP_ATTR_BINDING_LEN);
    sstp_put_zeros(w, 3);
    sstp_put_u8(w, hash_proto);
    sstp_put_bytes(w, nonce, SSTP_NONCE_LEN);
    sstp_put_bytes(w, cert_hash, n);
    sstp_put_zeros(w, SSTP_HASH_MAX_LEN - n);
    if (mac)
        sstp_put_bytes(w, mac, n);
    else
        sstp_put_zeros(w, n);
    sstp_put_zeros(w, SSTP_HASH_MAX_LEN - n);
    return SSTP_OK;
}

static enum sstp_rc encode_status_msg(struct sstp_wbuf *w, uint16_t type,
                                      const struct sstp_status_info *si)
{
    if (si && !status_value_ok(si, 0))
        return SSTP_E_ARG;
    enum sstp_rc rc = ctrl_begin(w, type, si ? 1 : 0, si ? SSTP_MSG_ABORT_LEN : SSTP_MSG_EMPTY_LEN);
    if (rc != SSTP_OK)
        return rc;
    if (si)
        put_status_info(w, si);
    return SSTP_OK;
}

enum sstp_rc sstp_ctrl_encode_abort(struct sstp_wbuf *w, const struct sstp_status_info *si)
{
    return encode_status_msg(w, SSTP_MSG_CALL_ABORT, si);
}

enum sstp_rc sstp_ctrl_encode_disconnect(struct sstp_wbuf *w, const struct sstp_status_info *si)
{
    return encode_status_msg(w, SSTP_MSG_CALL_DISCONNECT, si);
}

enum sstp_rc sstp_ctrl_encode_disconnect_ack(struct sstp_wbuf *w)
{
    return ctrl_begin(w, SSTP_MSG_CALL_DISCONNECT_ACK, 0, SSTP_MSG_EMPTY_LEN);
}

enum sstp_rc sstp_ctrl_encode_echo_request(struct sstp_wbuf *w)
{
    return ctrl_begin(w, SSTP_MSG_ECHO_REQUEST, 0, SSTP_MSG_EMPTY_LEN);
}

enum sstp_rc sstp_ctrl_encode_echo_response(struct sstp_wbuf *w)
{
    return ctrl_begin(w, SSTP_MSG_ECHO_RESPONSE, 0, SSTP_MSG_EMPTY_LEN);
}

enum sstp_rc sstp_ctrl_encode(struct sstp_wbuf *w, const struct sstp_ctrl *c)
{
    if (!w || !c || c->n_attrs > SSTP_CTRL_MAX_ATTRS)
        return SSTP_E_ARG;
    size_t total = SSTP_CTRL_HDR_LEN;
    for (size_t i = 0; i < c->n_attrs; i++) {
        const struct sstp_attr *a = &c->attrs[i];
        if (!a->value.p && a->value.len)
            return SSTP_E_ARG;
        if (a->value.len > SSTP_PKT_MAX_LEN)
            return SSTP_E_PKT_TOO_LONG;
        total += SSTP_ATTR_HDR_LEN + a->value.len;
    }
    enum sstp_rc rc = ctrl_begin(w, c->type, c->n_attrs, total);
    if (rc != SSTP_OK)
        return rc;
    for (size_t i = 0; i < c->n_attrs; i++) {
        const struct sstp_attr *a = &c->attrs[i];
        put_attr_hdr(w, a->id, SSTP_ATTR_HDR_LEN + a->value.len);
        sstp_put_bytes(w, a->value.p, a->value.len);
    }
    return SSTP_OK;
}
