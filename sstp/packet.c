/* packet.c — SSTP packet header codec (MS-SSTP 2.2.1) and PPP frame
 * classification (RFC 1661 §2). Delineates packets in an untrusted byte
 * stream; does not parse control messages (ctrl.c). */
#include "sstp/packet.h"

enum sstp_rc sstp_pkt_decode(struct sstp_pkt *out, size_t *used,
                             const uint8_t *in, size_t in_len)
{
    if (!out || !used || (!in && in_len))
        return SSTP_E_ARG;
    if (in_len < 1)
        return SSTP_AGAIN;
    /* A wrong version means we cannot find packet boundaries: fail as soon
     * as the first byte is seen rather than waiting for a length. */
    if (in[0] != SSTP_VERSION)
        return SSTP_E_PKT_VERSION;
    if (in_len < SSTP_HDR_LEN)
        return SSTP_AGAIN;

    uint16_t len_field = sstp_load_u16be(in + 2);
    uint16_t len = len_field & SSTP_LEN_MASK;
    bool is_ctrl = (in[1] & SSTP_PKT_C_BIT) != 0;

    if (len < SSTP_HDR_LEN)
        return SSTP_E_PKT_SHORT;
    if (is_ctrl && len < SSTP_CTRL_HDR_LEN)
        return SSTP_E_CTRL_SHORT;
    if (in_len < len)
        return SSTP_AGAIN;

    out->is_ctrl = is_ctrl;
    /* MS-SSTP 2.2.1: reserved bits are ignored on receipt; we only note them. */
    out->anomaly = (in[1] & (uint8_t)~SSTP_PKT_C_BIT) != 0 || (len_field & ~SSTP_LEN_MASK) != 0;
    out->len = len;
    out->raw = in;
    out->payload = sstp_slice_make(in + SSTP_HDR_LEN, (size_t)len - SSTP_HDR_LEN);
    *used = len;
    return SSTP_OK;
}

size_t sstp_pkt_peek_len(const uint8_t *hdr)
{
    return sstp_load_u16be(hdr + 2) & SSTP_LEN_MASK;
}

bool sstp_pkt_peek_ctrl(const uint8_t *hdr)
{
    return (hdr[1] & SSTP_PKT_C_BIT) != 0;
}

uint16_t sstp_pkt_ctrl_type(const struct sstp_pkt *pkt)
{
    if (!pkt->is_ctrl || pkt->payload.len < 2)
        return 0;
    return sstp_load_u16be(pkt->payload.p);
}

enum sstp_rc sstp_pkt_hdr_encode(struct sstp_wbuf *w, bool is_ctrl, size_t total_len)
{
    if (!w)
        return SSTP_E_ARG;
    if (total_len > SSTP_PKT_MAX_LEN)
        return SSTP_E_PKT_TOO_LONG;
    if (total_len < (is_ctrl ? SSTP_CTRL_HDR_LEN : SSTP_HDR_LEN))
        return SSTP_E_PKT_SHORT;
    uint8_t *at = sstp_put_space(w, SSTP_HDR_LEN);
    if (!at)
        return SSTP_E_NOSPACE;
    at[0] = SSTP_VERSION;
    at[1] = is_ctrl ? SSTP_PKT_C_BIT : 0x00;
    sstp_store_u16be(at + 2, (uint16_t)total_len);
    return SSTP_OK;
}

enum sstp_rc sstp_pkt_begin(struct sstp_wbuf *w, bool is_ctrl, size_t total_len)
{
    /* fail whole: check the room for the whole packet before the header */
    if (w && total_len <= SSTP_PKT_MAX_LEN && !sstp_wbuf_fits(w, total_len))
        return SSTP_E_NOSPACE;
    return sstp_pkt_hdr_encode(w, is_ctrl, total_len);
}

enum sstp_rc sstp_pkt_data_encode(struct sstp_wbuf *w, const uint8_t *frame, size_t frame_len)
{
    if (!w || (!frame && frame_len))
        return SSTP_E_ARG;
    if (frame_len > SSTP_PPP_MAX_FRAME)
        return SSTP_E_PKT_TOO_LONG;
    enum sstp_rc rc = sstp_pkt_begin(w, false, SSTP_HDR_LEN + frame_len);
    if (rc != SSTP_OK)
        return rc;
    sstp_put_bytes(w, frame, frame_len);
    return SSTP_OK;
}

/* PPP address and control bytes of RFC 1662 §3.1, present unless ACFC. */
#define PPP_ADDR 0xFF
#define PPP_CTRL 0x03

enum sstp_rc sstp_ppp_proto(uint16_t *out_proto, const uint8_t *frame, size_t frame_len)
{
    if (!out_proto || (!frame && frame_len))
        return SSTP_E_ARG;
    size_t i = 0;
    /* FF 03 cannot start a protocol field (its high byte would be odd,
     * RFC 1661 §2), so skipping it is unambiguous. */
    if (frame_len >= 2 && frame[0] == PPP_ADDR && frame[1] == PPP_CTRL)
        i = 2;
    if (i >= frame_len)
        return SSTP_E_PKT_PPP_SHORT;
    if (frame[i] & 0x01) {
        /* RFC 1661 §6.5 (PFC): an odd first byte is the whole field. */
        *out_proto = frame[i];
        return SSTP_OK;
    }
    if (frame_len - i < 2)
        return SSTP_E_PKT_PPP_SHORT;
    *out_proto = sstp_load_u16be(frame + i);
    return SSTP_OK;
}

bool sstp_ppp_frame_is_control(const uint8_t *frame, size_t frame_len)
{
    uint16_t proto;
    if (sstp_ppp_proto(&proto, frame, frame_len) != SSTP_OK)
        return false;
    return sstp_ppp_proto_is_control(proto);
}

bool sstp_ppp_frame_is_lcp_config(const uint8_t *frame, size_t frame_len)
{
    uint16_t proto;
    if (sstp_ppp_proto(&proto, frame, frame_len) != SSTP_OK || proto != SSTP_PPP_PROTO_LCP)
        return false;
    /* LCP is never protocol-compressed (0xC0 is even): the code follows
     * the two protocol bytes, after FF 03 if present. */
    size_t code_at = (frame[0] == PPP_ADDR && frame_len >= 2 && frame[1] == PPP_CTRL) ? 4 : 2;
    return frame_len > code_at && frame[code_at] >= SSTP_LCP_CONFIGURE_REQUEST &&
           frame[code_at] <= SSTP_LCP_CONFIGURE_REJECT;
}
