/* hdlc.c — RFC 1662 async HDLC framing: FCS-16, encoder, streaming decoder.
 * The decoder trusts nothing from the pty: frame sizes are bounded, every
 * error is per frame and the stream goes on. No allocation, no state but
 * the caller's struct and buffer. */
#include "sstp/hdlc.h"

#include <string.h>

/* RFC 1662 §C.2: FCS-16 table for the reflected polynomial 0x8408
 * (x^16 + x^12 + x^5 + 1), entry i = i shifted through eight rounds. */
static const uint16_t fcs_table[256] = {
    0x0000, 0x1189, 0x2312, 0x329b, 0x4624, 0x57ad, 0x6536, 0x74bf,
    0x8c48, 0x9dc1, 0xaf5a, 0xbed3, 0xca6c, 0xdbe5, 0xe97e, 0xf8f7,
    0x1081, 0x0108, 0x3393, 0x221a, 0x56a5, 0x472c, 0x75b7, 0x643e,
    0x9cc9, 0x8d40, 0xbfdb, 0xae52, 0xdaed, 0xcb64, 0xf9ff, 0xe876,
    0x2102, 0x308b, 0x0210, 0x1399, 0x6726, 0x76af, 0x4434, 0x55bd,
    0xad4a, 0xbcc3, 0x8e58, 0x9fd1, 0xeb6e, 0xfae7, 0xc87c, 0xd9f5,
    0x3183, 0x200a, 0x1291, 0x0318, 0x77a7, 0x662e, 0x54b5, 0x453c,
    0xbdcb, 0xac42, 0x9ed9, 0x8f50, 0xfbef, 0xea66, 0xd8fd, 0xc974,
    0x4204, 0x538d, 0x6116, 0x709f, 0x0420, 0x15a9, 0x2732, 0x36bb,
    0xce4c, 0xdfc5, 0xed5e, 0xfcd7, 0x8868, 0x99e1, 0xab7a, 0xbaf3,
    0x5285, 0x430c, 0x7197, 0x601e, 0x14a1, 0x0528, 0x37b3, 0x263a,
    0xdecd, 0xcf44, 0xfddf, 0xec56, 0x98e9, 0x8960, 0xbbfb, 0xaa72,
    0x6306, 0x728f, 0x4014, 0x519d, 0x2522, 0x34ab, 0x0630, 0x17b9,
    0xef4e, 0xfec7, 0xcc5c, 0xddd5, 0xa96a, 0xb8e3, 0x8a78, 0x9bf1,
    0x7387, 0x620e, 0x5095, 0x411c, 0x35a3, 0x242a, 0x16b1, 0x0738,
    0xffcf, 0xee46, 0xdcdd, 0xcd54, 0xb9eb, 0xa862, 0x9af9, 0x8b70,
    0x8408, 0x9581, 0xa71a, 0xb693, 0xc22c, 0xd3a5, 0xe13e, 0xf0b7,
    0x0840, 0x19c9, 0x2b52, 0x3adb, 0x4e64, 0x5fed, 0x6d76, 0x7cff,
    0x9489, 0x8500, 0xb79b, 0xa612, 0xd2ad, 0xc324, 0xf1bf, 0xe036,
    0x18c1, 0x0948, 0x3bd3, 0x2a5a, 0x5ee5, 0x4f6c, 0x7df7, 0x6c7e,
    0xa50a, 0xb483, 0x8618, 0x9791, 0xe32e, 0xf2a7, 0xc03c, 0xd1b5,
    0x2942, 0x38cb, 0x0a50, 0x1bd9, 0x6f66, 0x7eef, 0x4c74, 0x5dfd,
    0xb58b, 0xa402, 0x9699, 0x8710, 0xf3af, 0xe226, 0xd0bd, 0xc134,
    0x39c3, 0x284a, 0x1ad1, 0x0b58, 0x7fe7, 0x6e6e, 0x5cf5, 0x4d7c,
    0xc60c, 0xd785, 0xe51e, 0xf497, 0x8028, 0x91a1, 0xa33a, 0xb2b3,
    0x4a44, 0x5bcd, 0x6956, 0x78df, 0x0c60, 0x1de9, 0x2f72, 0x3efb,
    0xd68d, 0xc704, 0xf59f, 0xe416, 0x90a9, 0x8120, 0xb3bb, 0xa232,
    0x5ac5, 0x4b4c, 0x79d7, 0x685e, 0x1ce1, 0x0d68, 0x3ff3, 0x2e7a,
    0xe70e, 0xf687, 0xc41c, 0xd595, 0xa12a, 0xb0a3, 0x8238, 0x93b1,
    0x6b46, 0x7acf, 0x4854, 0x59dd, 0x2d62, 0x3ceb, 0x0e70, 0x1ff9,
    0xf78f, 0xe606, 0xd49d, 0xc514, 0xb1ab, 0xa022, 0x92b9, 0x8330,
    0x7bc7, 0x6a4e, 0x58d5, 0x495c, 0x3de3, 0x2c6a, 0x1ef1, 0x0f78,
};

uint16_t sstp_hdlc_fcs(uint16_t fcs, const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        fcs = (uint16_t)((fcs >> 8) ^ fcs_table[(fcs ^ p[i]) & 0xff]);
    return fcs;
}

/* Every control character plus flag and escape; see sstp_hdlc_encode2. */
static inline bool needs_escape(uint8_t c)
{
    return c < 0x20 || c == HDLC_FLAG || c == HDLC_ESCAPE;
}

static inline uint8_t *put_escaped(uint8_t *o, uint8_t c)
{
    if (needs_escape(c)) {
        *o++ = HDLC_ESCAPE;
        *o++ = (uint8_t)(c ^ HDLC_XOR);
    } else {
        *o++ = c;
    }
    return o;
}

/* put_run escapes p[0..n) to o, updating *fcs; returns the new end. */
static uint8_t *put_run(uint8_t *o, const uint8_t *p, size_t n, uint16_t *fcs)
{
    uint16_t f = *fcs;

    for (size_t i = 0; i < n; i++) {
        f = (uint16_t)((f >> 8) ^ fcs_table[(f ^ p[i]) & 0xff]);
        o = put_escaped(o, p[i]);
    }
    *fcs = f;
    return o;
}

enum sstp_rc sstp_hdlc_encode2(uint8_t *out, size_t out_cap, size_t *out_len,
                               const uint8_t *head, size_t head_len,
                               const uint8_t *body, size_t body_len)
{
    uint16_t fcs = HDLC_FCS_INIT;
    uint8_t *o;
    size_t n;

    if (!out_len || (!head && head_len) || (!body && body_len))
        return SSTP_E_ARG;
    /* Each piece is checked first so the sum cannot wrap. */
    if (head_len > SSTP_PPP_MAX_FRAME || body_len > SSTP_PPP_MAX_FRAME ||
        head_len + body_len > SSTP_PPP_MAX_FRAME)
        return SSTP_E_HDLC_TOO_LONG;
    n = head_len + body_len;
    if (n < SSTP_HDLC_MIN_FRAME)
        return SSTP_E_HDLC_RUNT;
    if (!out || out_cap < HDLC_ENCODED_MAX(n))
        return SSTP_E_NOSPACE;

    o = out;
    *o++ = HDLC_FLAG;
    o = put_run(o, head, head_len, &fcs);
    o = put_run(o, body, body_len, &fcs);
    fcs ^= 0xffff; /* RFC 1662 §C.2: complement, low byte first */
    o = put_escaped(o, (uint8_t)(fcs & 0xff));
    o = put_escaped(o, (uint8_t)(fcs >> 8));
    *o++ = HDLC_FLAG;
    *out_len = (size_t)(o - out);
    return SSTP_OK;
}

enum sstp_rc sstp_hdlc_encode(uint8_t *out, size_t out_cap, size_t *out_len,
                              const uint8_t *frame, size_t frame_len)
{
    return sstp_hdlc_encode2(out, out_cap, out_len, frame, frame_len, NULL, 0);
}

/* frame_end judges the frame a flag has just closed and resets d for the
 * next one. SSTP_AGAIN means there was no frame (an idle flag). */
static enum sstp_rc frame_end(struct sstp_hdlc_dec *d, const uint8_t *frame, size_t *frame_len)
{
    size_t len = d->len;
    bool esc = d->esc, toss = d->toss;

    memset(d, 0, sizeof(*d));
    if (toss)
        return SSTP_E_HDLC_TOO_LONG;
    if (esc)
        return SSTP_E_HDLC_ABORT;
    if (len == 0)
        return SSTP_AGAIN;
    if (len < SSTP_HDLC_MIN_FRAME + HDLC_FCS_LEN)
        return SSTP_E_HDLC_RUNT;
    if (sstp_hdlc_fcs(HDLC_FCS_INIT, frame, len) != HDLC_FCS_GOOD)
        return SSTP_E_HDLC_FCS;
    *frame_len = len - HDLC_FCS_LEN;
    return SSTP_OK;
}

enum sstp_rc sstp_hdlc_decode(struct sstp_hdlc_dec *d, uint8_t *frame, size_t frame_cap,
                              size_t *frame_len, size_t *used,
                              const uint8_t *in, size_t in_len)
{
    size_t i = 0;

    if (!d || !frame || !frame_len || !used || frame_cap < SSTP_HDLC_FRAME_BUF ||
        (!in && in_len))
        return SSTP_E_ARG;
    /* A state that no call of ours can leave is the caller's bug; treat it
     * as an overflow rather than write past the buffer. */
    if (d->len > SSTP_HDLC_FRAME_BUF)
        d->toss = true;

    while (i < in_len) {
        uint8_t c = in[i++];

        if (c == HDLC_FLAG) {
            enum sstp_rc rc = frame_end(d, frame, frame_len);
            if (rc != SSTP_AGAIN) {
                *used = i;
                return rc;
            }
            continue;
        }
        if (d->toss)
            continue;
        if (d->esc) {
            /* RFC 1662 §4.2: the octet after an escape is XORed whatever
             * it is, so 7D 7D is 0x5D and 7D 41 is 0x61. */
            c ^= HDLC_XOR;
            d->esc = false;
        } else if (c == HDLC_ESCAPE) {
            d->esc = true;
            continue;
        }
        if (d->len >= SSTP_HDLC_FRAME_BUF) {
            d->toss = true;
            continue;
        }
        frame[d->len++] = c;
    }
    *used = in_len;
    return SSTP_AGAIN;
}
