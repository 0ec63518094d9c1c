/* hdlc.h — RFC 1662 asynchronous HDLC-like framing of PPP frames, as pppd
 * reads and writes them on its pty: FCS-16, a one-shot encoder and a
 * streaming decoder. Knows nothing of PPP itself (no LCP, no ACCM or
 * ACFC/PFC negotiation) nor of SSTP packets; never allocates. */
#ifndef SSTP_LB_SSTP_HDLC_H
#define SSTP_LB_SSTP_HDLC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sstp/limits.h"
#include "sstp/rc.h"

/* Smallest frame (without FCS) either direction accepts: two bytes, the
 * shortest PPP frame worth carrying (RFC 1661 §2 protocol field). */
#define SSTP_HDLC_MIN_FRAME  2
/* Size of the decoder's frame buffer: the largest PPP frame an SSTP data
 * packet carries (MS-SSTP 3.1.5.2) plus its FCS. */
#define SSTP_HDLC_FRAME_BUF  (SSTP_PPP_MAX_FRAME + HDLC_FCS_LEN)

/* sstp_hdlc_fcs continues the RFC 1662 §C.2 FCS-16 over p[0..n): start with
 * HDLC_FCS_INIT; the sender transmits the one's complement of the result,
 * low byte first; over data plus received FCS a good frame gives
 * HDLC_FCS_GOOD. p may be NULL when n is 0. */
uint16_t sstp_hdlc_fcs(uint16_t fcs, const uint8_t *p, size_t n);

/* sstp_hdlc_encode2 frames one PPP frame given as two pieces (head then
 * body, e.g. an "FF 03" address/control prefix and an SSTP data packet's
 * payload, so neither has to be copied together first): flag, the escaped
 * bytes of head|body and of their complemented FCS (low byte first), flag.
 * Every byte < 0x20 and 0x7D, 0x7E is escaped whatever ACCM the peer
 * negotiated: RFC 1662 §7.1 lets a sender escape more than the map asks
 * and obliges the receiver to undo any escape, so this is always correct
 * and spares us tracking LCP. Either piece may be empty (NULL, 0).
 * out must hold HDLC_ENCODED_MAX(head_len + body_len) bytes, checked up
 * front so the result never depends on the content. Returns SSTP_OK with
 * *out_len set; SSTP_E_HDLC_RUNT (fewer than SSTP_HDLC_MIN_FRAME bytes) or
 * SSTP_E_HDLC_TOO_LONG (more than SSTP_PPP_MAX_FRAME): the decoder would
 * reject the frame; SSTP_E_NOSPACE (out too small); SSTP_E_ARG (a NULL
 * pointer with a non-zero length, or out_len NULL). Nothing is written to
 * out on error. Borrows everything. */
enum sstp_rc sstp_hdlc_encode2(uint8_t *out, size_t out_cap, size_t *out_len,
                               const uint8_t *head, size_t head_len,
                               const uint8_t *body, size_t body_len);

/* sstp_hdlc_encode is sstp_hdlc_encode2 for a frame in one piece. */
enum sstp_rc sstp_hdlc_encode(uint8_t *out, size_t out_cap, size_t *out_len,
                              const uint8_t *frame, size_t frame_len);

/* Streaming decoder state. Valid when zeroed (memset or = { 0 }); zero it
 * again to drop a partial frame. The bytes of the frame being assembled
 * live in the caller's frame buffer, not here. */
struct sstp_hdlc_dec {
    size_t len;  /* bytes of the current frame so far, FCS included */
    bool esc;    /* last byte was the Control Escape 0x7D */
    bool toss;   /* frame overflowed: discard until the next flag */
};

/* sstp_hdlc_decode consumes in[0..in_len) up to and including the next flag
 * that ends a frame, so the caller gets each frame as it completes and
 * loops while bytes are left:
 *
 *     while (len) {
 *         rc = sstp_hdlc_decode(&d, buf, sizeof(buf), &n, &used, p, len);
 *         p += used; len -= used;
 *         if (rc == SSTP_OK) send(buf, n); else if (rc != SSTP_AGAIN) count[rc]++;
 *     }
 *
 * frame is the caller's buffer of frame_cap >= SSTP_HDLC_FRAME_BUF bytes;
 * the decoder assembles the unescaped frame in it, so the caller must pass
 * the same buffer, contents untouched, on every call until a frame or an
 * error is returned (it may be the payload area of an outgoing SSTP data
 * packet: the frame is then already in place). Returns:
 *   SSTP_OK       a good frame: frame[0..*frame_len) without its FCS (the
 *                 FCS bytes follow it in the buffer). Valid until the next
 *                 call; *used includes the closing flag;
 *   SSTP_AGAIN    all input consumed (*used == in_len), no frame ended yet
 *                 (flags between frames are consumed silently);
 *   SSTP_E_HDLC_FCS      the frame's FCS residue is not 0xF0B8;
 *   SSTP_E_HDLC_ABORT    the frame ended with 0x7D 0x7E (RFC 1662 §4.2);
 *   SSTP_E_HDLC_TOO_LONG the frame exceeded SSTP_HDLC_FRAME_BUF bytes (its
 *                        tail was discarded up to the flag);
 *   SSTP_E_HDLC_RUNT     1 to 3 bytes between flags (less than
 *                        SSTP_HDLC_MIN_FRAME + FCS);
 *   SSTP_E_ARG    frame/used/frame_len NULL, frame_cap too small, or in
 *                 NULL with in_len > 0; nothing consumed.
 * Each E_HDLC_* is reported at the flag that ends the bad frame, which is
 * dropped; *used includes that flag and decoding continues with the next
 * call (the flag also opens the next frame). Bytes before the first flag
 * of a stream count as a frame. Unescaped control characters are kept as
 * data; an escape before any byte is undone (x ^ 0x20). Result and state
 * do not depend on how the input is split into calls. */
enum sstp_rc sstp_hdlc_decode(struct sstp_hdlc_dec *d, uint8_t *frame, size_t frame_cap,
                              size_t *frame_len, size_t *used,
                              const uint8_t *in, size_t in_len);

#endif
