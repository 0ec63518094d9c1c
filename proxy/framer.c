/* framer.c — record boundaries of the backend-to-client stream (see framer.h). */
#include "proxy/framer.h"

#include "sstp/limits.h"
#include "sstp/packet.h"

/* Moves f past one byte; returns 1 when that byte ended a unit. */
static int step(struct px_framer *f, uint8_t c)
{
    if (f->phase == PX_FR_HEAD) {
        if (c == '\r')
            f->crlf = (f->crlf == 0 || f->crlf == 2) ? f->crlf + 1 : 1;
        else if (c == '\n' && (f->crlf == 1 || f->crlf == 3))
            f->crlf++;
        else
            f->crlf = 0;
        if (f->crlf < 4)
            return 0;
        f->phase = PX_FR_SSTP;
        f->hdr_have = 0;
        f->left = 0;
        return 1;
    }
    if (f->hdr_have < SSTP_HDR_LEN) {
        f->hdr[f->hdr_have++] = c;
        if (f->hdr_have < SSTP_HDR_LEN)
            return 0;
        uint32_t total = (uint32_t)sstp_pkt_peek_len(f->hdr);
        f->left = total > SSTP_HDR_LEN ? total - SSTP_HDR_LEN : 0;
    } else {
        f->left--;
    }
    if (f->left > 0)
        return 0;
    f->hdr_have = 0; /* the packet is complete */
    return 1;
}

/* Moves f past up to n bytes, stopping after the byte that ends a unit.
 * Returns the bytes passed. Packet bodies are skipped by arithmetic. */
static size_t advance(struct px_framer *f, const uint8_t *p, size_t n, int stop_at_end)
{
    size_t i = 0;
    while (i < n) {
        if (f->phase == PX_FR_SSTP && f->hdr_have == SSTP_HDR_LEN && f->left > 1) {
            /* inside a body: jump to its last byte (or as far as we have) */
            size_t skip = f->left - 1 < n - i ? f->left - 1 : n - i;
            f->left -= (uint32_t)skip;
            i += skip;
            continue;
        }
        int end = step(f, p[i++]);
        if (end && stop_at_end)
            break;
    }
    return i;
}

/* The length of the packet whose header starts at p (4 bytes there): a
 * length below the header's own counts as the header alone, as in step()
 * and sstp_record_len. */
static size_t pkt_len(const uint8_t *p)
{
    size_t total = sstp_pkt_peek_len(p);
    return total > SSTP_HDR_LEN ? total : SSTP_HDR_LEN;
}

size_t px_framer_record(const struct px_framer *f, const uint8_t *p, size_t len, bool end)
{
    if (len == 0)
        return 0;
    if (f->phase == PX_FR_HEAD)
        return px_framer_unit(f, p, len);
    if (f->hdr_have > 0) {
        /* the rest of a packet an end-of-stream flush cut: whole or nothing */
        struct px_framer probe = *f;
        size_t n = advance(&probe, p, len, 1);
        return probe.hdr_have == 0 || end ? n : 0;
    }
    /* a packet not complete yet waits for its rest; whole packets are cut
     * by the one rule (sstp/record.h) */
    if (len < SSTP_HDR_LEN || pkt_len(p) > len)
        return end ? px_framer_unit(f, p, len) : 0;
    return sstp_record_len(p, len, PX_FR_RECORD_MAX);
}

size_t px_framer_unit(const struct px_framer *f, const uint8_t *p, size_t len)
{
    struct px_framer probe = *f;
    return advance(&probe, p, len, 1);
}

void px_framer_consume(struct px_framer *f, const uint8_t *p, size_t n)
{
    advance(f, p, n, 0);
}
