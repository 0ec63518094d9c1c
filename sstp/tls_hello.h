/* tls_hello.h — the server_name extension of a TLS ClientHello, read from
 * the client's first bytes as they came, before any TLS termination (the
 * proxy's SNI passthrough).
 *
 * Pure: no allocation, no I/O. Every length is untrusted and checked
 * against its container before it is used. */
#ifndef SSTP_LB_SSTP_TLS_HELLO_H
#define SSTP_LB_SSTP_TLS_HELLO_H

#include <stddef.h>
#include <stdint.h>

#include "sstp/rc.h"
#include "sstp/slice.h"

#define SSTP_HELLO_HDR_LEN 5          /* TLS record header */
#define SSTP_HELLO_RECORD_MAX 16384   /* TLSPlaintext.length limit (RFC 8446 §5.1) */
/* The most bytes sstp_hello_sni ever needs to see: one whole record. */
#define SSTP_HELLO_PEEK_MAX (SSTP_HELLO_HDR_LEN + SSTP_HELLO_RECORD_MAX)

/* sstp_hello_sni looks at the first TLS record in `in`. SSTP_OK: *out views
 * the server_name extension body inside `in` (out->len 0 when the hello has
 * none, or when the ClientHello does not fit in the first record: rare,
 * and left to the TLS library). SSTP_AGAIN: the record is not complete
 * yet. SSTP_E_HELLO_RECORD: not a TLS handshake record. SSTP_E_HELLO_MSG:
 * not a ClientHello, or one whose lengths do not add up. */
enum sstp_rc sstp_hello_sni(struct sstp_slice *out, const uint8_t *in, size_t in_len);

#endif
