/* ctrl.h — SSTP control messages and their attributes (MS-SSTP 2.2.2-2.2.15):
 * a strict decoder into views, per-message checks, typed accessors and one
 * encoder per message.
 *
 * Pure: no I/O, no allocation. Decides nothing about states (server_fsm.h)
 * and computes no crypto binding (binding.h). Input is untrusted peer data. */
#ifndef SSTP_LB_SSTP_CTRL_H
#define SSTP_LB_SSTP_CTRL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sstp/limits.h"
#include "sstp/rc.h"
#include "sstp/slice.h"

/* Message Type, MS-SSTP 2.2.2. */
enum sstp_msg_type {
    SSTP_MSG_CALL_CONNECT_REQUEST = 0x0001,
    SSTP_MSG_CALL_CONNECT_ACK     = 0x0002,
    SSTP_MSG_CALL_CONNECT_NAK     = 0x0003,
    SSTP_MSG_CALL_CONNECTED       = 0x0004,
    SSTP_MSG_CALL_ABORT           = 0x0005,
    SSTP_MSG_CALL_DISCONNECT      = 0x0006,
    SSTP_MSG_CALL_DISCONNECT_ACK  = 0x0007,
    SSTP_MSG_ECHO_REQUEST         = 0x0008,
    SSTP_MSG_ECHO_RESPONSE        = 0x0009,
};

/* Attribute ID, MS-SSTP 2.2.4. NO_ERROR only appears as the AttribID inside
 * a Status Info (normal disconnect), never as an attribute of its own. */
enum sstp_attr_id {
    SSTP_ATTRIB_NO_ERROR                 = 0x00,
    SSTP_ATTRIB_ENCAPSULATED_PROTOCOL_ID = 0x01,
    SSTP_ATTRIB_STATUS_INFO              = 0x02,
    SSTP_ATTRIB_CRYPTO_BINDING           = 0x03,
    SSTP_ATTRIB_CRYPTO_BINDING_REQ       = 0x04,
};
#define SSTP_ATTRIB_ID_MAX SSTP_ATTRIB_CRYPTO_BINDING_REQ

/* Status Info status, MS-SSTP 2.2.8. */
enum sstp_status {
    SSTP_STATUS_NO_ERROR                       = 0x00000000,
    SSTP_STATUS_DUPLICATE_ATTRIBUTE            = 0x00000001,
    SSTP_STATUS_UNRECOGNIZED_ATTRIBUTE         = 0x00000002,
    SSTP_STATUS_INVALID_ATTRIB_VALUE_LENGTH    = 0x00000003,
    SSTP_STATUS_VALUE_NOT_SUPPORTED            = 0x00000004,
    SSTP_STATUS_UNACCEPTED_FRAME_RECEIVED      = 0x00000005,
    SSTP_STATUS_RETRY_COUNT_EXCEEDED           = 0x00000006,
    SSTP_STATUS_INVALID_FRAME_RECEIVED         = 0x00000007,
    SSTP_STATUS_NEGOTIATION_TIMEOUT            = 0x00000008,
    SSTP_STATUS_ATTRIB_NOT_SUPPORTED_IN_MSG    = 0x00000009,
    SSTP_STATUS_REQUIRED_ATTRIBUTE_MISSING     = 0x0000000A,
    SSTP_STATUS_STATUS_INFO_NOT_SUPPORTED_IN_MSG = 0x0000000B,
};

/* Hash Protocol Bitmask of the Crypto Binding Request, MS-SSTP 2.2.6. The
 * Hash Protocol byte of the Crypto Binding uses the same values (binding.h
 * names them enum sstp_bind_hash). */
enum sstp_hash_bit {
    SSTP_HASH_BIT_SHA1   = 0x01,
    SSTP_HASH_BIT_SHA256 = 0x02,
};

/* Encapsulated Protocol ID value, MS-SSTP 2.2.5: PPP is the only one. */
#define SSTP_ENCAP_PROTO_PPP 0x0001

/* Attribute lengths (header included), MS-SSTP 2.2.5-2.2.8. */
#define SSTP_ATTR_ENCAP_LEN        6
#define SSTP_ATTR_STATUS_MIN_LEN   12
#define SSTP_ATTR_STATUS_MAX_LEN   (SSTP_ATTR_STATUS_MIN_LEN + SSTP_STATUS_VALUE_MAX)
#define SSTP_ATTR_BINDING_LEN      104
#define SSTP_ATTR_BINDING_REQ_LEN  40

/* Message lengths, MS-SSTP 2.2.9-2.2.15. */
#define SSTP_MSG_REQUEST_LEN       14
#define SSTP_MSG_ACK_LEN           48
#define SSTP_MSG_ABORT_LEN         20  /* with one Status Info; 8 without */
#define SSTP_MSG_EMPTY_LEN         SSTP_CTRL_HDR_LEN

/* How many attributes a decoded message keeps. Every message defined by
 * MS-SSTP has at most one (a NAK one per problem); a peer that sends more
 * gets SSTP_E_CTRL_TOO_MANY_ATTRS. */
#define SSTP_CTRL_MAX_ATTRS 16

/* One attribute: views into the decoded packet. */
struct sstp_attr {
    uint8_t id;                /* Attribute ID (not range-checked here) */
    uint16_t len;              /* whole attribute length (12 bits), >= 4 */
    struct sstp_slice value;   /* len - 4 bytes after the attribute header */
};

/* One decoded control message. attrs[] and raw are views into the input;
 * valid as long as those bytes are. */
struct sstp_ctrl {
    uint16_t type;             /* Message Type, possibly unknown */
    uint16_t n_attrs;          /* Num Attributes == entries of attrs[] used */
    bool anomaly;              /* a reserved field was non-zero (header
                                * bits, attribute reserved byte or length
                                * nibble, the 3 reserved bytes opening a
                                * Status Info or Crypto Binding (Request)
                                * value); ignored, not an error */
    struct sstp_slice raw;     /* the whole packet, header included */
    struct sstp_attr attrs[SSTP_CTRL_MAX_ATTRS];
};

/* Status Info attribute value, MS-SSTP 2.2.8. */
struct sstp_status_info {
    uint8_t attrib_id;         /* the attribute this status is about */
    uint32_t status;           /* enum sstp_status */
    struct sstp_slice value;   /* AttribValue, 0..64 bytes (view) */
};

/* Crypto Binding Request value, MS-SSTP 2.2.6. */
struct sstp_binding_req {
    uint8_t hash_bitmask;      /* enum sstp_hash_bit bits */
    struct sstp_slice nonce;   /* 32 bytes */
};

/* Crypto Binding value, MS-SSTP 2.2.7. cert_hash and mac are 20 bytes when
 * hash_proto is SHA-1 and the whole 32-byte field otherwise (the accessor
 * does not judge the protocol byte; binding.h does). */
struct sstp_binding {
    uint8_t hash_proto;
    struct sstp_slice nonce;     /* 32 bytes */
    struct sstp_slice cert_hash;
    struct sstp_slice mac;
};

/* sstp_ctrl_decode parses msg[0..msg_len), which must be exactly one whole
 * control packet (as delineated by sstp_pkt_decode), walking its attributes
 * strictly (MS-SSTP 2.2.2, 2.2.4): Num Attributes attributes back to back,
 * each at least 4 bytes and inside the packet, nothing after the last.
 * Attribute lengths are 12 bits; reserved fields are masked and reported in
 * out->anomaly. The message type is not checked (sstp_ctrl_check).
 * Returns, first failure wins:
 *   SSTP_OK                    *out filled (views into msg).
 *   SSTP_E_ARG                 out or msg NULL, or msg_len differs from the
 *                              header's length (not exactly one packet).
 *   SSTP_E_PKT_VERSION, SSTP_E_PKT_SHORT, SSTP_E_CTRL_SHORT  as sstp_pkt_decode;
 *                              SSTP_E_CTRL_SHORT also when msg_len < 8.
 *   SSTP_E_CTRL_NOT_CONTROL    the C bit is clear.
 *   SSTP_E_CTRL_ATTR_COUNT     the count promises an attribute where the
 *                              packet has no bytes left.
 *   SSTP_E_CTRL_ATTR_SHORT     1-3 bytes left for an attribute header, or an
 *                              attribute length below 4.
 *   SSTP_E_CTRL_ATTR_OVERRUN   an attribute runs past the packet end.
 *   SSTP_E_CTRL_TRAILING       bytes follow the last counted attribute.
 *   SSTP_E_CTRL_TOO_MANY_ATTRS the structure is valid but has more than
 *                              SSTP_CTRL_MAX_ATTRS attributes.
 * On error *out is unspecified. Borrows msg. */
enum sstp_rc sstp_ctrl_decode(struct sstp_ctrl *out, const uint8_t *msg, size_t msg_len);

/* sstp_ctrl_check enforces the exact form MS-SSTP 2.2.9-2.2.15 gives each
 * message type, on a message sstp_ctrl_decode accepted. Per attribute, in
 * order: id <= 4 (else SSTP_E_CTRL_ATTR_ID); allowed in this message (else
 * SSTP_E_CTRL_ATTR_UNEXPECTED); its length right for its id (ENCAP 6,
 * STATUS_INFO 12..76, BINDING 104, BINDING_REQ 40; else
 * SSTP_E_CTRL_ATTR_LEN); not repeated, except Status Info in a NAK (else
 * SSTP_E_CTRL_ATTR_DUP); a Status Info where only a zero status is allowed
 * (REQUEST, CONNECTED) carries status 0 (else SSTP_E_CTRL_STATUS). Then the
 * message: required attribute present (else SSTP_E_CTRL_ATTR_MISSING);
 * values supported (Encapsulated Protocol ID == PPP, a bitmask with SHA-1 or
 * SHA-256 set, a Status Info AttribID <= 4 except in a NAK, which may name
 * an unknown attribute of the peer; else SSTP_E_CTRL_ATTR_VALUE);
 * total length (REQUEST 14, ACK 48, CONNECTED 112, ABORT/DISCONNECT 20 or 8,
 * the rest 8; else SSTP_E_CTRL_MSG_LEN).
 * Allowed attributes: REQUEST {ENCAP required, STATUS_INFO}; ACK
 * {BINDING_REQ required}; NAK {STATUS_INFO, one or more}; CONNECTED
 * {BINDING required, STATUS_INFO}; ABORT, DISCONNECT {STATUS_INFO}; others
 * none. Unknown type: SSTP_E_CTRL_MSG_TYPE. SSTP_E_ARG if c is NULL or
 * c->n_attrs exceeds SSTP_CTRL_MAX_ATTRS.
 * Returns SSTP_OK when the message is exactly well formed. */
enum sstp_rc sstp_ctrl_check(const struct sstp_ctrl *c);

/* sstp_ctrl_type_name returns "CALL_CONNECT_REQUEST" etc., "UNKNOWN" for
 * other values. Static storage. */
const char *sstp_ctrl_type_name(uint16_t type);

/* sstp_ctrl_find returns the first attribute with this id, or NULL. */
const struct sstp_attr *sstp_ctrl_find(const struct sstp_ctrl *c, uint8_t id);

/* Typed accessors. Each checks the attribute id and length and fills *out
 * with views into the attribute. Return SSTP_OK, SSTP_E_CTRL_ATTR_ID (wrong
 * attribute), SSTP_E_CTRL_ATTR_LEN (wrong length) or SSTP_E_ARG (NULL). */
enum sstp_rc sstp_attr_status_info(struct sstp_status_info *out, const struct sstp_attr *a);
enum sstp_rc sstp_attr_encap_proto(uint16_t *out, const struct sstp_attr *a);
enum sstp_rc sstp_attr_binding_req(struct sstp_binding_req *out, const struct sstp_attr *a);
enum sstp_rc sstp_attr_binding(struct sstp_binding *out, const struct sstp_attr *a);

/* Encoders. Each appends one whole control message to w with every reserved
 * bit zero. On any error nothing is written (w->len unchanged); when the
 * message does not fit, w->err is set and SSTP_E_NOSPACE returned. Inputs
 * are borrowed. SSTP_E_ARG for a NULL w or invalid arguments as stated. */

/* CALL_CONNECT_REQUEST with one Encapsulated Protocol ID (14 bytes). */
enum sstp_rc sstp_ctrl_encode_connect_request(struct sstp_wbuf *w, uint16_t encap_proto);

/* CALL_CONNECT_ACK with one Crypto Binding Request (48 bytes). */
enum sstp_rc sstp_ctrl_encode_connect_ack(struct sstp_wbuf *w, uint8_t hash_bitmask,
                                          const uint8_t nonce[SSTP_NONCE_LEN]);

/* CALL_CONNECT_NAK with n_infos >= 1 Status Infos; each value (the echoed
 * proposal) at most 64 bytes. SSTP_E_ARG if n_infos is 0, infos is NULL or
 * a value is longer than 64 bytes; SSTP_E_PKT_TOO_LONG above 4095 bytes. */
enum sstp_rc sstp_ctrl_encode_connect_nak(struct sstp_wbuf *w,
                                          const struct sstp_status_info *infos, size_t n_infos);

/* CALL_CONNECTED (112 bytes, MS-SSTP 2.2.7 layout): hash_proto 1 (SHA-1:
 * 20-byte cert hash and MAC, each zero-padded to 32) or 2 (SHA-256: 32
 * each). mac NULL writes a zero MAC field (what the MAC is computed over).
 * SSTP_E_ARG for another hash_proto or NULL nonce/cert_hash. */
enum sstp_rc sstp_ctrl_encode_connected(struct sstp_wbuf *w, uint8_t hash_proto,
                                        const uint8_t nonce[SSTP_NONCE_LEN],
                                        const uint8_t *cert_hash, const uint8_t *mac);

/* CALL_ABORT / CALL_DISCONNECT: with one Status Info (20 bytes) when si is
 * not NULL, else without attributes (8 bytes). The Status Info value must
 * be empty outside a NAK (MS-SSTP 2.2.8): SSTP_E_ARG otherwise. */
enum sstp_rc sstp_ctrl_encode_abort(struct sstp_wbuf *w, const struct sstp_status_info *si);
enum sstp_rc sstp_ctrl_encode_disconnect(struct sstp_wbuf *w, const struct sstp_status_info *si);

/* The three 8-byte messages without attributes. */
enum sstp_rc sstp_ctrl_encode_disconnect_ack(struct sstp_wbuf *w);
enum sstp_rc sstp_ctrl_encode_echo_request(struct sstp_wbuf *w);
enum sstp_rc sstp_ctrl_encode_echo_response(struct sstp_wbuf *w);

/* sstp_ctrl_encode writes any decoded message back: c->type and c->n_attrs
 * attributes (id and value). Header and attribute-header reserved fields
 * are written as zero; values are copied verbatim. For a message decoded
 * without anomaly the output equals the input bytes. Returns SSTP_OK,
 * SSTP_E_NOSPACE, SSTP_E_PKT_TOO_LONG (over 4095 bytes or an attribute
 * value over 4091), SSTP_E_ARG (n_attrs above SSTP_CTRL_MAX_ATTRS). */
enum sstp_rc sstp_ctrl_encode(struct sstp_wbuf *w, const struct sstp_ctrl *c);

#endif
