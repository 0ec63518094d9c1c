/* record.c — where a TLS record carrying SSTP packets may end; see record.h. */
#include "sstp/record.h"

#include <stdbool.h>

#include "sstp/limits.h"
#include "sstp/packet.h"

/* packet_at: the length of the whole packet at p[0..len), or 0 when it is
 * not all there. A length below the header's own counts as the header
 * alone. *ctrl gets its C bit. */
static size_t packet_at(const uint8_t *p, size_t len, bool *ctrl)
{
    if (len < SSTP_HDR_LEN)
        return 0;
    size_t n = sstp_pkt_peek_len(p);
    if (n < SSTP_HDR_LEN)
        n = SSTP_HDR_LEN;
    if (n > len)
        return 0;
    *ctrl = sstp_pkt_peek_ctrl(p);
    return n;
}

size_t sstp_record_len(const uint8_t *p, size_t len, size_t max)
{
    bool ctrl;
    size_t rec = packet_at(p, len, &ctrl);

    if (rec == 0)
        return len;
    if (ctrl)
        return rec;
    for (;;) {
        bool next_ctrl;
        size_t next = packet_at(p + rec, len - rec, &next_ctrl);
        /* the next packet joins only if it is data, fits, and is not the
         * last bytes buffered (something must follow this record) */
        if (next == 0 || next_ctrl || rec + next > max || rec + next == len)
            return rec;
        rec += next;
    }
}
