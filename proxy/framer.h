/* framer.h — where the units of the backend-to-client stream end, so that
 * sstp-proxy writes each one as its own TLS record: first the backend's
 * HTTP answer head (up to its blank line), then one SSTP packet at a time
 * (MS-SSTP 2.2.1: a 4-byte header whose low 12 bits of bytes 2-3 give the
 * packet length).
 *
 * Why: a direct SSTP server writes one record per packet, and some clients
 * (sstpc) handle one packet per read wakeup; a proxy that packs several
 * packets into one record leaves the rest unread in the client until the
 * next record arrives — the 5 s stall seen behind HAProxy. Pure, no
 * allocation; the stream is the backend's (trusted to be SSTP, but a
 * malformed length only changes where records are cut, never the bytes). */
#ifndef SSTP_LB_PROXY_FRAMER_H
#define SSTP_LB_PROXY_FRAMER_H

#include <stddef.h>
#include <stdint.h>

enum px_framer_phase {
    PX_FR_HEAD = 0, /* in the HTTP answer head */
    PX_FR_SSTP = 1, /* in SSTP packets */
};

/* All-zero is a framer at the start of a stream. */
struct px_framer {
    enum px_framer_phase phase;
    uint8_t crlf;       /* HEAD: how much of "\r\n\r\n" was just seen */
    uint8_t hdr[4];     /* SSTP: the current packet's header bytes */
    uint8_t hdr_have;
    uint32_t left;      /* SSTP: body bytes of the current packet still to come */
};

/* px_framer_unit returns how many of the len bytes at p (the next bytes of
 * the stream) belong to the current unit: up to its end if that lies
 * within len, else len. At least 1 when len > 0. Does not change f. */
size_t px_framer_unit(const struct px_framer *f, const uint8_t *p, size_t len);

/* px_framer_consume moves f past n bytes of the stream starting at p. */
void px_framer_consume(struct px_framer *f, const uint8_t *p, size_t n);

#endif
