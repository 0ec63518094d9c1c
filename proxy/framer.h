/* framer.h — where the TLS records of the backend-to-client stream end:
 * first the backend's HTTP answer head (up to its blank line) as a record
 * of its own, then SSTP packets (MS-SSTP 2.2.1: a 4-byte header whose low
 * 12 bits of bytes 2-3 give the packet length), every record ending on a
 * packet boundary.
 *
 * Why it matters: sstpc (1.0.18) reads one SSTP packet per socket wake-up
 * and reads the socket one record at a time, so packets that share a
 * record with an earlier one sit decrypted inside its OpenSSL, unseen,
 * until more bytes reach the socket — the 5 s stall seen behind HAProxy.
 * A packet is only at risk when nothing follows its record. So:
 *   - a control packet is always a record of its own;
 *   - consecutive data packets may share a record (fewer, larger records:
 *     the client decrypts and reads far less often under load), but only
 *     if bytes follow that record in the buffered stream, so another
 *     record is bound to follow it onto the socket; the last whole packet
 *     buffered goes alone;
 *   - a packet whose rest has not come from the backend yet waits for it
 *     (unless the backend has finished), so no record is cut inside a
 *     packet.
 * An idle tunnel's packets (echo, a single frame) thus still leave one per
 * record, and the tail of every burst is a single-packet record.
 *
 * The rules for whole packets are sstp/record.h's (sstp_record_len); the
 * framer adds the head and the wait for a packet's rest.
 *
 * Pure, no allocation; the stream is the backend's (trusted to be SSTP, but
 * a malformed length only changes where records are cut, never the bytes). */
#ifndef SSTP_LB_PROXY_FRAMER_H
#define SSTP_LB_PROXY_FRAMER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sstp/record.h"

#define PX_FR_RECORD_MAX SSTP_TLS_RECORD_MAX

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

/* px_framer_record returns how many of the len bytes at p (the next bytes
 * of the stream, everything buffered) make the next TLS record, by the
 * rules above; at most PX_FR_RECORD_MAX unless a single unit is longer.
 * 0 when the bytes must wait: p starts a packet that is not complete yet.
 * `end`: the backend will send nothing more, so a trailing partial packet
 * (or head) goes out as it is. The result never shrinks while bytes are
 * appended or `end` turns true, as a retried SSL_write needs. Does not
 * change f. */
size_t px_framer_record(const struct px_framer *f, const uint8_t *p, size_t len, bool end);

/* px_framer_unit returns how many of the len bytes at p belong to the
 * current unit (the head, or one packet): up to its end if that lies
 * within len, else len. At least 1 when len > 0. Does not change f. */
size_t px_framer_unit(const struct px_framer *f, const uint8_t *p, size_t len);

/* px_framer_consume moves f past n bytes of the stream starting at p. */
void px_framer_consume(struct px_framer *f, const uint8_t *p, size_t n);

#endif
