/* io.h — one byte-stream interface over a plain TCP fd or a TLS session.
 *
 * The relay code of both daemons reads and writes through this, so TLS and
 * plain connections share one code path. Non-blocking only: IO_AGAIN says
 * which readiness (io->want) the caller must wait for before retrying —
 * with TLS a read can need the socket writable and vice versa. */
#ifndef SSTP_LB_CORE_IO_H
#define SSTP_LB_CORE_IO_H

#include <openssl/ssl.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "sstp/rc.h"

#define IO_WANT_READ  1 /* same values as libev's EV_READ / EV_WRITE */
#define IO_WANT_WRITE 2

/* Why a read ended the stream with kernel TLS (io->refused): records the
 * relay will not pass on. */
enum io_refusal {
    IO_REF_NONE = 0,
    IO_REF_KEY_UPDATE,   /* TLS 1.3 KeyUpdate asking for ours: the kernel sender cannot rekey */
    IO_REF_HANDSHAKE,    /* a handshake record after the handshake (renegotiation) */
    IO_REF_ALERT,        /* an alert other than close_notify */
    IO_REF_RECORD,       /* another record type (change_cipher_spec, heartbeat, unknown) */
};

/* The return code a daemon logs for a refusal (SSTP_OK for IO_REF_NONE). */
enum sstp_rc io_refusal_rc(unsigned refused);

#define IO_EOF   0
#define IO_ERR   (-1)
#define IO_AGAIN (-2)

struct io {
    int fd;
    SSL *ssl;      /* NULL: plain TCP */
    int want;      /* after IO_AGAIN: IO_WANT_READ or IO_WANT_WRITE; 0 after progress */
    int err;       /* after IO_ERR: errno, or 0 if TLS-level (see ssl_err) */
    int ssl_err;   /* after IO_ERR on TLS: SSL_get_error() */
    bool dry;      /* after a successful io_read: the socket gave less than was asked
                    * (it was empty) and nothing is left inside OpenSSL, so the next
                    * read would almost surely block: wait for readiness instead */
    bool sock_empty; /* internal: OpenSSL's last socket read came back short */
    /* kernel TLS (core/ktls.h), set by io_ktls_note after the handshake */
    bool ktls_tx, ktls_rx; /* the kernel encrypts / decrypts this socket's records */
    bool ktls_only;        /* SSL freed (io_ktls_release): reads see each record's type */
    uint8_t refused;       /* after IO_ERR: enum io_refusal */
};

/* io_read returns bytes read (> 0, and io->dry says whether the socket was
 * left empty), IO_EOF on an orderly close, IO_AGAIN, or IO_ERR. */
ssize_t io_read(struct io *io, void *buf, size_t len);
/* io_write returns bytes written (> 0), IO_AGAIN or IO_ERR. */
ssize_t io_write(struct io *io, const void *buf, size_t len);
/* io_accept / io_connect run the TLS handshake as server / client: 1 when
 * done, IO_AGAIN, or IO_ERR. Plain io returns 1 at once. */
int io_accept(struct io *io);
int io_connect(struct io *io);
/* io_ktls_note records whether OpenSSL handed the keys to the kernel
 * (call once the handshake is done). */
void io_ktls_note(struct io *io);
/* io_ktls_release frees the SSL when the kernel does TLS both ways and
 * OpenSSL holds nothing read and not yet returned: from then on the io is
 * a socket whose reads see record types (alerts, handshake records) and
 * whose writes the kernel encrypts. Returns true if it freed it. */
bool io_ktls_release(struct io *io);
/* io_close_notify sends a TLS close_notify (best effort, non-blocking);
 * nothing on plain TCP. */
void io_close_notify(struct io *io);
/* io_close sends a TLS close_notify (best effort, non-blocking), frees the
 * SSL and closes the fd. Safe on a zeroed io with fd = -1. */
void io_close(struct io *io);

#endif
