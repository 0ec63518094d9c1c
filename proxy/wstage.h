/* wstage.h — staging of a TLS connection's outgoing records, so that
 * several records (framer.h cuts them on SSTP packet boundaries; small ones
 * for control packets and the tail of a burst) leave in one send() instead
 * of one system call and one TCP push each.
 *
 * A write BIO for the client's SSL during the relay: OpenSSL appends each
 * finished record to a fixed buffer from the worker's pool (a big block:
 * four full-size records leave in one send()); the relay sends
 * the buffer when it has written what it can, and waits for writability if
 * the socket is full. The buffer is given back whenever it drains, so an
 * idle session holds none. When the buffer is full, SSL_write reports
 * WANT_WRITE and is retried after a flush, as with a socket. */
#ifndef SSTP_LB_PROXY_WSTAGE_H
#define SSTP_LB_PROXY_WSTAGE_H

#include <openssl/bio.h>
#include <openssl/ssl.h>
#include <stdbool.h>

#include "core/buf.h"

struct px_wstage {
    struct buf out;            /* staged record bytes; no storage when empty */
    struct buf_pool *pool;
    bool fin;                  /* send FIN (SHUT_WR) once everything is out */
    bool fin_sent;
    bool failed;               /* the pool had no buffer: the write failed */
};

/* px_wstage_method_new makes the BIO method (one per worker; free it with
 * BIO_meth_free after the last SSL using it). NULL on failure. */
BIO_METHOD *px_wstage_method_new(void);

/* px_wstage_attach makes st (zeroed by the caller or fresh) the write side
 * of ssl from now on; ssl owns the new BIO, st must outlive ssl's writes.
 * Returns 0, or -1 (ssl unchanged). */
int px_wstage_attach(SSL *ssl, BIO_METHOD *m, struct px_wstage *st, struct buf_pool *pool);

/* px_wstage_flush sends what is staged to fd, then the FIN if asked for.
 * Returns 0 when nothing is left, 1 when the socket is full (wait for it
 * to be writable), -1 on a socket error (errno set). */
int px_wstage_flush(struct px_wstage *st, int fd);

/* px_wstage_pending: bytes staged and not sent yet. */
static inline size_t px_wstage_pending(const struct px_wstage *st)
{
    return buf_len(&st->out);
}

/* px_wstage_cleanup gives back the buffer (connection closing). */
void px_wstage_cleanup(struct px_wstage *st);

#endif
