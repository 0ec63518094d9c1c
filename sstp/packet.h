/* packet.h — the 4-byte SSTP packet header (MS-SSTP 2.2.1) and PPP frame
 * classification for gating (MS-SSTP 3.3.7, RFC 1661 §2).
 *
 * Delineates one packet at the start of a stream buffer and writes headers.
 * Does not look inside control messages (ctrl.h) and does no I/O. */
#ifndef SSTP_LB_SSTP_PACKET_H
#define SSTP_LB_SSTP_PACKET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sstp/limits.h"
#include "sstp/rc.h"
#include "sstp/slice.h"

/* Byte 1 of the header: bit 0 is C (control), the other 7 bits reserved. */
#define SSTP_PKT_C_BIT 0x01

/* One decoded packet. Every pointer is a view into the caller's input and
 * stays valid as long as those bytes do. */
struct sstp_pkt {
    bool is_ctrl;              /* C bit: control packet */
    bool anomaly;              /* reserved bits of byte 1 or of the length
                                * field were set; masked, not an error
                                * (MS-SSTP 2.2.1: ignore on receipt) */
    uint16_t len;              /* whole packet length, header included (12 bits) */
    const uint8_t *raw;        /* the whole packet (len bytes) */
    struct sstp_slice payload; /* bytes after the 4-byte header: a PPP frame
                                * (data) or type + count + attributes (control) */
};

/* sstp_pkt_decode parses one packet at the start of in[0..in_len).
 * Returns:
 *   SSTP_OK           *out describes the packet (views into `in`) and *used
 *                     is its length; the caller consumes *used bytes.
 *   SSTP_AGAIN        the packet is incomplete; nothing consumed, *out and
 *                     *used untouched. Call again with more bytes.
 *   SSTP_E_PKT_VERSION  the first byte is not 0x10 (checked as soon as one
 *                     byte is present).
 *   SSTP_E_PKT_SHORT  the length field is below 4.
 *   SSTP_E_CTRL_SHORT a control packet whose length field is below 8.
 *   SSTP_E_ARG        out, used or in is NULL (in may be NULL if in_len is 0).
 * Every SSTP_E_* means the stream cannot be delineated any more: close the
 * connection without sending anything (MS-SSTP 3.1.5.1). Reserved bits are
 * masked and reported in out->anomaly. Borrows `in`. */
enum sstp_rc sstp_pkt_decode(struct sstp_pkt *out, size_t *used,
                             const uint8_t *in, size_t in_len);

/* sstp_pkt_peek_len returns the length field of the 4-byte header at hdr
 * (12 bits, header included, reserved bits masked) and sstp_pkt_peek_ctrl
 * its C bit, without judging either: for code that only needs to know
 * where packets end in a stream it writes or relays (TLS record
 * boundaries, sstp/record.h). Input to be acted on goes through
 * sstp_pkt_decode. Pure; hdr must hold SSTP_HDR_LEN bytes. */
size_t sstp_pkt_peek_len(const uint8_t *hdr);
bool sstp_pkt_peek_ctrl(const uint8_t *hdr);

/* sstp_pkt_ctrl_type returns the Message Type of a decoded control packet
 * (MS-SSTP 2.2.3), unchecked, for logging before the control message is
 * decoded; 0 (no message type) for a data packet or a control packet too
 * short to carry one. Pure. */
uint16_t sstp_pkt_ctrl_type(const struct sstp_pkt *pkt);

/* sstp_pkt_hdr_encode appends the 4-byte header of a packet whose total
 * length (header included) is total_len, with every reserved bit zero.
 * Returns SSTP_OK; SSTP_E_PKT_TOO_LONG if total_len > 4095;
 * SSTP_E_PKT_SHORT if total_len < 4 (or < 8 for a control packet);
 * SSTP_E_NOSPACE if w has no room for 4 bytes (w->err is set, nothing
 * written); SSTP_E_ARG if w is NULL. */
enum sstp_rc sstp_pkt_hdr_encode(struct sstp_wbuf *w, bool is_ctrl, size_t total_len);

/* sstp_pkt_begin starts a packet of total_len bytes (header included): it
 * checks that the whole packet fits in w, then appends its header, so an
 * encoder that follows with the body never writes half a packet. Returns
 * SSTP_OK, SSTP_E_PKT_TOO_LONG (> 4095), SSTP_E_NOSPACE (w->err set,
 * nothing written), SSTP_E_PKT_SHORT or SSTP_E_ARG as sstp_pkt_hdr_encode. */
enum sstp_rc sstp_pkt_begin(struct sstp_wbuf *w, bool is_ctrl, size_t total_len);

/* sstp_pkt_data_encode appends a whole data packet carrying one PPP frame
 * (frame_len <= 4091). Returns SSTP_OK, SSTP_E_PKT_TOO_LONG,
 * SSTP_E_NOSPACE (nothing written, w->err set) or SSTP_E_ARG (w NULL, or
 * frame NULL with frame_len > 0). Borrows frame. */
enum sstp_rc sstp_pkt_data_encode(struct sstp_wbuf *w, const uint8_t *frame, size_t frame_len);

/* sstp_ppp_proto reads the PPP protocol of a frame as carried in a data
 * packet: a leading FF 03 (address/control) is skipped if present; an odd
 * first byte is a 1-byte (PFC-compressed) protocol, else 2 bytes.
 * Returns SSTP_OK and *out_proto, or SSTP_E_PKT_PPP_SHORT if the frame ends
 * before its protocol field (then *out_proto is untouched), or SSTP_E_ARG. */
enum sstp_rc sstp_ppp_proto(uint16_t *out_proto, const uint8_t *frame, size_t frame_len);

/* RFC 1661 §2: 0x8000-0xFFFF are network and link control protocols
 * (LCP, auth, IPCP, CCP ...); everything below carries data. */
static inline bool sstp_ppp_proto_is_control(uint16_t proto)
{
    return proto >= 0x8000;
}

/* sstp_ppp_frame_is_control returns true iff the frame is a PPP control
 * frame (protocol >= 0x8000). A frame too short to carry a protocol is
 * classed as data, the class the gate of MS-SSTP 3.3.7 drops most often. */
bool sstp_ppp_frame_is_control(const uint8_t *frame, size_t frame_len);

#define SSTP_PPP_PROTO_LCP 0xC021     /* RFC 1661 §3.1 */
#define SSTP_LCP_CONFIGURE_REQUEST 1  /* RFC 1661 §5.1 */
#define SSTP_LCP_CONFIGURE_REJECT  4  /* RFC 1661 §5.4 */

/* sstp_ppp_frame_is_lcp_config returns true iff the frame is an LCP
 * Configure-Request, -Ack, -Nak or -Reject (with or without FF 03, as pppd
 * accepts both). On an open link each of them makes pppd renegotiate LCP
 * (RFC 1661 §4.1, state Opened), and pppd then authenticates again. */
bool sstp_ppp_frame_is_lcp_config(const uint8_t *frame, size_t frame_len);

#endif
