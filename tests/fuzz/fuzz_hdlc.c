/* fuzz_hdlc.c — libFuzzer target for the async HDLC codec.
 *
 * Input byte 0 seeds the chunk sizes; the rest is a pty byte stream. It is
 * decoded in fuzzer-chosen chunks and, in lockstep, all at once: both must
 * give the same results in the same order. Every frame is re-encoded and
 * re-decoded and must come back unchanged. Finally the stream itself is
 * encoded as one frame (whole and as two pieces) and must decode to itself.
 * Any difference abort()s. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sstp/hdlc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint8_t frame_a[SSTP_HDLC_FRAME_BUF];
static uint8_t frame_b[SSTP_HDLC_FRAME_BUF];
static uint8_t frame_c[SSTP_HDLC_FRAME_BUF];
static uint8_t enc[HDLC_ENCODED_MAX(SSTP_PPP_MAX_FRAME)];

/* roundtrip encodes f (as two pieces split at cut) and decodes the result
 * with a fresh decoder: exactly one frame, equal to f, using all bytes. */
static void roundtrip(const uint8_t *f, size_t n, size_t cut)
{
    struct sstp_hdlc_dec d = { 0 };
    size_t enc_len = 0, enc_len2 = 0, used = 0, flen = 0;
    enum sstp_rc rc;

    if (cut > n)
        cut = n;
    rc = sstp_hdlc_encode(enc, sizeof(enc), &enc_len, f, n);
    if (n < SSTP_HDLC_MIN_FRAME) {
        if (rc != SSTP_E_HDLC_RUNT)
            abort();
        return;
    }
    if (n > SSTP_PPP_MAX_FRAME) {
        if (rc != SSTP_E_HDLC_TOO_LONG)
            abort();
        return;
    }
    if (rc != SSTP_OK || enc_len > HDLC_ENCODED_MAX(n) || enc_len < n + 4)
        abort();
    /* decode from a copy: enc is overwritten by the split encoding below */
    uint8_t *copy = malloc(enc_len);
    if (!copy)
        abort();
    memcpy(copy, enc, enc_len);
    rc = sstp_hdlc_encode2(enc, sizeof(enc), &enc_len2, f, cut, f + cut, n - cut);
    if (rc != SSTP_OK || enc_len2 != enc_len || memcmp(enc, copy, enc_len) != 0)
        abort();
    rc = sstp_hdlc_decode(&d, frame_c, sizeof(frame_c), &flen, &used, copy, enc_len);
    if (rc != SSTP_OK || used != enc_len || flen != n || memcmp(frame_c, f, n) != 0)
        abort();
    if (d.len != 0 || d.esc || d.toss)
        abort();
    free(copy);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct sstp_hdlc_dec da = { 0 }, db = { 0 };
    uint32_t seed;
    const uint8_t *in;
    size_t in_len, off = 0, boff = 0;

    if (size < 1)
        return 0;
    seed = data[0];
    in = data + 1;
    in_len = size - 1;

    while (off < in_len) {
        seed = seed * 1103515245u + 12345u;
        size_t n = 1 + (seed >> 16) % 300;
        if (n > in_len - off)
            n = in_len - off;
        /* an exact-size copy, as a pty read would hand it over */
        uint8_t *chunk = malloc(n);
        if (!chunk)
            abort();
        memcpy(chunk, in + off, n);
        size_t pos = 0;
        while (pos < n) {
            size_t used = 0, flen = 0;
            enum sstp_rc rc = sstp_hdlc_decode(&da, frame_a, sizeof(frame_a), &flen, &used,
                                               chunk + pos, n - pos);
            if (used == 0 || used > n - pos)
                abort();
            pos += used;
            if (rc == SSTP_AGAIN) {
                if (pos != n)
                    abort();
                continue;
            }
            /* the all-at-once decoder must produce the same next result */
            size_t bused = 0, blen = 0;
            enum sstp_rc rb = sstp_hdlc_decode(&db, frame_b, sizeof(frame_b), &blen, &bused,
                                               in + boff, in_len - boff);
            boff += bused;
            if (rb != rc || boff != off + pos)
                abort();
            if (rc == SSTP_OK) {
                if (blen != flen || flen < SSTP_HDLC_MIN_FRAME || flen > SSTP_PPP_MAX_FRAME ||
                    memcmp(frame_a, frame_b, flen) != 0)
                    abort();
                roundtrip(frame_a, flen, data[0] % (flen + 1));
            } else if (rc != SSTP_E_HDLC_FCS && rc != SSTP_E_HDLC_ABORT &&
                       rc != SSTP_E_HDLC_TOO_LONG && rc != SSTP_E_HDLC_RUNT) {
                abort();
            }
        }
        free(chunk);
        off += n;
    }
    /* no result left in the whole-buffer decoder; both end in one state */
    if (boff < in_len) {
        size_t bused = 0, blen = 0;
        if (sstp_hdlc_decode(&db, frame_b, sizeof(frame_b), &blen, &bused, in + boff,
                             in_len - boff) != SSTP_AGAIN)
            abort();
    }
    if (da.len != db.len || da.esc != db.esc || da.toss != db.toss)
        abort();
    if (da.len && !da.toss && memcmp(frame_a, frame_b, da.len) != 0)
        abort();

    /* the input as a frame of its own */
    roundtrip(in, in_len, (size_t)seed % (in_len + 1));
    return 0;
}
