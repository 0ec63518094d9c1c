/* record.h — where a TLS record carrying SSTP packets may end, for a
 * sender that writes the packets it has buffered (the backend towards its
 * client; proxy/framer.c applies the same rules to a stream it relays).
 *
 * sstpc (1.0.18) reads one SSTP packet per socket wake-up and the socket
 * one record at a time, so a packet that shares a record with an earlier
 * one sits decrypted inside its OpenSSL, unseen, until more bytes reach the
 * socket. A packet is only at risk when nothing follows its record. So:
 *   - a control packet is a record of its own;
 *   - consecutive data packets may share a record (fewer records and
 *     writes under load), but only if more bytes follow that record in the
 *     buffer, so another record is bound to follow it onto the socket: the
 *     last packet buffered goes alone;
 *   - a record holds at most the caller's maximum (a TLS record's 16384
 *     bytes of plaintext) unless one packet is longer.
 * Pure: no allocation, no state, no I/O. */
#ifndef SSTP_LB_SSTP_RECORD_H
#define SSTP_LB_SSTP_RECORD_H

#include <stddef.h>
#include <stdint.h>

/* Largest TLS record plaintext (RFC 8446 §5.1, RFC 5246 §6.2.1). */
#define SSTP_TLS_RECORD_MAX 16384

/* sstp_record_len returns how many of the len bytes at p, which start at
 * an SSTP packet boundary, make the next TLS record by the rules above:
 * whole packets only, at most max bytes unless the first packet alone is
 * longer. A length field below the header's own 4 bytes counts as a packet
 * of the header alone (a malformed length only moves where records end,
 * never the bytes). When p does not start with a whole packet (fewer bytes
 * than its length) it returns len: the bytes go as they are (proxy/framer.c
 * holds such a tail back itself). 0 only when len is 0. */
size_t sstp_record_len(const uint8_t *p, size_t len, size_t max);

#endif
