/* rc.h — the one list of return codes of the sstp/ codecs.
 *
 * Written once as X-macros (one list per codec, so each codec's codes sit
 * together) that generate the enum, sstp_rc_name() (a short token for log
 * keys and metric labels, e.g. "E_PKT_VERSION") and sstp_rc_str() (a
 * sentence). Daemons count errors in arrays sized SSTP_RC_COUNT. */
#ifndef SSTP_LB_SSTP_RC_H
#define SSTP_LB_SSTP_RC_H

#define SSTP_RC_LIST_COMMON(X) \
    X(OK,            "ok") \
    X(AGAIN,         "need more bytes") \
    X(E_NOSPACE,     "output buffer too small") \
    X(E_ARG,         "invalid argument")

/* SSTP packet header (MS-SSTP 2.2.1) */
#define SSTP_RC_LIST_PKT(X) \
    X(E_PKT_VERSION,   "version byte is not 0x10") \
    X(E_PKT_SHORT,     "packet length field below the header size") \
    X(E_PKT_TOO_LONG,  "payload exceeds the 12-bit length limit") \
    X(E_PKT_PPP_SHORT, "PPP frame ends before its protocol field")

/* control messages and attributes (MS-SSTP 2.2.2-2.2.15) */
#define SSTP_RC_LIST_CTRL(X) \
    X(E_CTRL_SHORT,        "control packet shorter than 8 bytes") \
    X(E_CTRL_NOT_CONTROL,  "packet is a data packet, not a control packet") \
    X(E_CTRL_ATTR_SHORT,   "attribute header or length below 4 bytes") \
    X(E_CTRL_ATTR_OVERRUN, "attribute length overruns the message") \
    X(E_CTRL_ATTR_COUNT,   "attribute count does not match the message length") \
    X(E_CTRL_TRAILING,     "bytes after the last attribute") \
    X(E_CTRL_TOO_MANY_ATTRS, "more attributes than the decoder holds") \
    X(E_CTRL_MSG_TYPE,     "unknown control message type") \
    X(E_CTRL_MSG_LEN,      "message length wrong for its type") \
    X(E_CTRL_ATTR_MISSING, "required attribute missing") \
    X(E_CTRL_ATTR_UNEXPECTED, "attribute not allowed in this message") \
    X(E_CTRL_ATTR_LEN,     "attribute length wrong for its id") \
    X(E_CTRL_ATTR_DUP,     "attribute repeated") \
    X(E_CTRL_ATTR_ID,      "unknown attribute id") \
    X(E_CTRL_ATTR_VALUE,   "attribute value not supported") \
    X(E_CTRL_STATUS,       "status info carries a non-zero status")

/* HTTP request head (MS-SSTP 3.2.4.1) */
#define SSTP_RC_LIST_HTTP(X) \
    X(E_HTTP_HEAD_TOO_LONG, "request head exceeds the size limit") \
    X(E_HTTP_MALFORMED,     "malformed request line or header") \
    X(E_HTTP_METHOD,        "method is not SSTP_DUPLEX_POST") \
    X(E_HTTP_URI,           "URI is not the SSTP URI") \
    X(E_HTTP_VERSION,       "HTTP version is not 1.1") \
    X(E_HTTP_CONTENT_LENGTH, "Content-Length is not the SSTP value, or Transfer-Encoding sent") \
    X(E_HTTP_NO_CONTENT_LENGTH, "Content-Length header missing") \
    X(E_HTTP_DUP_HEADER,    "a header or query parameter that must be unique is repeated") \
    X(E_HTTP_FIELD_TOO_LONG, "a header value exceeds its limit") \
    X(E_HTTP_NO_HOST,       "Host header missing")

/* crypto binding (MS-SSTP 3.2.5.2, 3.3.5.2.3) */
#define SSTP_RC_LIST_BIND(X) \
    X(E_BIND_STRUCT,     "CALL_CONNECTED lacks a valid crypto binding attribute") \
    X(E_BIND_HASH_PROTO, "hash protocol not advertised or unknown") \
    X(E_BIND_NONCE,      "nonce differs from the one sent") \
    X(E_BIND_CERT_HASH,  "certificate hash matches no trusted certificate") \
    X(E_BIND_MAC,        "compound MAC does not verify") \
    X(E_BIND_CRYPTO,     "hash or HMAC computation failed") \
    X(E_BIND_NO_KEYS,    "the method yields keys (MS-CHAPv2, EAP) but pppd reported none") \
    X(E_BIND_METHOD,     "the method cannot be bound by this pppd (EAP: 16-byte MPPE keys)") \
    X(E_BIND_REAUTH,     "a second PPP authentication (or LCP renegotiation) on the call")

/* RFC 1662 async HDLC */
#define SSTP_RC_LIST_HDLC(X) \
    X(E_HDLC_FCS,      "frame check sequence mismatch") \
    X(E_HDLC_ABORT,    "frame aborted by escape-flag sequence") \
    X(E_HDLC_TOO_LONG, "frame exceeds the maximum size") \
    X(E_HDLC_RUNT,     "frame shorter than 2 bytes plus the FCS")

/* PROXY protocol v1/v2 */
#define SSTP_RC_LIST_PP(X) \
    X(E_PP_SIGNATURE, "no PROXY protocol signature") \
    X(E_PP_V1_LINE,   "PROXY v1 line malformed or too long") \
    X(E_PP_V1_ADDR,   "PROXY v1 address or port invalid") \
    X(E_PP_V2_VERSION, "PROXY v2 version nibble is not 2") \
    X(E_PP_V2_COMMAND, "PROXY v2 command is not LOCAL or PROXY") \
    X(E_PP_V2_FAMILY, "PROXY v2 address family or protocol invalid") \
    X(E_PP_V2_LEN,    "PROXY v2 length too short for the address block or too long") \
    X(E_PP_V2_TLV,    "PROXY v2 TLV overruns its container, has a wrong length or repeats") \
    X(E_PP_V2_CRC,    "PROXY v2 CRC32C mismatch") \
    X(E_PP_V2_OUR_TLV, "PROXY v2 sstp-lb TLV malformed (length, version, flags or field)")

/* TLS ClientHello, peeked before termination (RFC 8446 §4.1.2, RFC 6066 §3) */
#define SSTP_RC_LIST_HELLO(X) \
    X(E_HELLO_RECORD, "first bytes are not a TLS handshake record") \
    X(E_HELLO_MSG,    "ClientHello malformed: a length overruns its container or a field repeats")

/* SSTP server state machine (MS-SSTP 3.3) */
#define SSTP_RC_LIST_FSM(X) \
    X(E_FSM_STATE,     "message not acceptable in the current state") \
    X(E_FSM_TIMEOUT,   "negotiation timer expired") \
    X(E_FSM_RETRIES,   "too many rejected connect requests") \
    X(E_FSM_HELLO_TIMEOUT, "no packet from the peer for two hello intervals") \
    X(E_FSM_PEER_ABORT, "the peer sent CALL_ABORT") \
    X(E_FSM_TRANSPORT_LOST, "TLS/TCP connection lost before the call ended")

/* TLS records the daemons refuse after the handshake (core/io.h io_refusal,
 * kernel TLS) */
#define SSTP_RC_LIST_TLS(X) \
    X(E_TLS_KEY_UPDATE,   "TLS 1.3 KeyUpdate asking for ours, which kernel TLS cannot send") \
    X(E_TLS_RENEGOTIATION, "handshake record after the handshake (renegotiation)") \
    X(E_TLS_ALERT,        "fatal TLS alert from the peer") \
    X(E_TLS_RECORD,       "unexpected TLS record type after the handshake")

#define SSTP_RC_LIST(X) \
    SSTP_RC_LIST_COMMON(X) SSTP_RC_LIST_PKT(X) SSTP_RC_LIST_CTRL(X) \
    SSTP_RC_LIST_HTTP(X) SSTP_RC_LIST_BIND(X) SSTP_RC_LIST_HDLC(X) \
    SSTP_RC_LIST_PP(X) SSTP_RC_LIST_HELLO(X) SSTP_RC_LIST_FSM(X) SSTP_RC_LIST_TLS(X)

enum sstp_rc {
#define SSTP_RC_ENUM(n, s) SSTP_##n,
    SSTP_RC_LIST(SSTP_RC_ENUM)
#undef SSTP_RC_ENUM
    SSTP_RC_COUNT /* keep last: sizes counter arrays */
};

/* sstp_rc_name returns the token of rc ("E_PKT_VERSION"), "?" if out of range. */
const char *sstp_rc_name(enum sstp_rc rc);
/* sstp_rc_str returns a one-line sentence for rc, "unknown" if out of range. */
const char *sstp_rc_str(enum sstp_rc rc);

#endif
