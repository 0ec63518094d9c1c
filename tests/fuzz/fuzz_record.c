/* fuzz_record.c — libFuzzer target for sstp/record.c, the rule for where a
 * TLS record of SSTP packets may end. The first two bytes choose the cap
 * (1..16384, small caps included so the cap is reached), the rest is the
 * buffered stream. Every record the rule cuts is checked against a walk of
 * the same bytes by their headers; any broken invariant aborts. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "sstp/packet.h"
#include "sstp/record.h"

#define CHECK(cond)                                                            \
    do {                                                                       \
        if (!(cond))                                                           \
            abort();                                                           \
    } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The whole packet at p[0..len) as the rule sees it (a length below the
 * header's is the header alone), or 0 when it is not all there. */
static size_t whole_packet(const uint8_t *p, size_t len)
{
    if (len < SSTP_HDR_LEN)
        return 0;
    size_t n = sstp_pkt_peek_len(p);
    if (n < SSTP_HDR_LEN)
        n = SSTP_HDR_LEN;
    return n <= len ? n : 0;
}

/* One record of p[0..len) under cap max. */
static size_t check_record(const uint8_t *p, size_t len, size_t max)
{
    size_t rec = sstp_record_len(p, len, max);
    CHECK(rec <= len);                /* never past the input */
    CHECK((rec == 0) == (len == 0));  /* progress while bytes are left */
    size_t first = whole_packet(p, len);
    if (first == 0) {
        CHECK(rec == len);            /* not a packet stream: as it is */
        return rec;
    }
    /* whole packets only: the record ends on a header walk's boundary */
    size_t at = 0, n_pkts = 0;
    while (at < rec) {
        size_t k = whole_packet(p + at, len - at);
        CHECK(k > 0 && at + k <= rec);
        if (sstp_pkt_peek_ctrl(p + at))
            CHECK(n_pkts == 0 && k == rec); /* a control packet goes alone */
        at += k;
        n_pkts++;
    }
    CHECK(at == rec);
    if (n_pkts > 1) {
        CHECK(rec <= max);            /* the cap, unless one packet is longer */
        CHECK(rec < len);             /* the last packet buffered goes alone */
    }
    /* greedy: the next packet was left out for a reason */
    if (rec < len && !sstp_pkt_peek_ctrl(p)) {
        size_t next = whole_packet(p + rec, len - rec);
        CHECK(next == 0 || sstp_pkt_peek_ctrl(p + rec) || rec + next > max ||
              rec + next == len);
    }
    return rec;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    size_t max = 1 + (((size_t)data[0] << 8 | data[1]) % SSTP_TLS_RECORD_MAX);
    const uint8_t *p = data + 2;
    size_t len = size - 2;
    /* cut the whole buffer into records, as a sender does */
    while (len > 0) {
        size_t rec = check_record(p, len, max);
        p += rec;
        len -= rec;
    }
    return 0;
}
