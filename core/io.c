/* io.c — plain/TLS non-blocking byte stream (see io.h). */
#include "core/io.h"

#include <errno.h>
#include <linux/tls.h>
#include <openssl/err.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/ktls.h"

static ssize_t ssl_result(struct io *io, int n)
{
    int e = SSL_get_error(io->ssl, n);
    switch (e) {
    case SSL_ERROR_WANT_READ:
        io->want = IO_WANT_READ;
        return IO_AGAIN;
    case SSL_ERROR_WANT_WRITE:
        io->want = IO_WANT_WRITE;
        return IO_AGAIN;
    case SSL_ERROR_ZERO_RETURN:
        return IO_EOF;
    case SSL_ERROR_SYSCALL:
        io->err = errno;
        io->ssl_err = e;
        /* a peer that drops TCP without close_notify: treat as EOF */
        return errno == 0 || errno == ECONNRESET ? IO_EOF : IO_ERR;
    default:
        io->err = 0;
        io->ssl_err = e;
        return IO_ERR;
    }
}

/* Watches the socket reads OpenSSL makes inside one SSL_read (the BIO's
 * callback argument is the io only for that long): a read that got less
 * than it asked for, or nothing, left the socket empty; a full one may
 * have left more. */
static long rbio_cb(BIO *b, int oper, const char *argp, size_t len, int argi, long argl, int ret,
                    size_t *processed)
{
    (void)argp;
    (void)argi;
    (void)argl;
    struct io *io = (struct io *)BIO_get_callback_arg(b);
    if (io && oper == (BIO_CB_READ | BIO_CB_RETURN))
        io->sock_empty = ret <= 0 || !processed || *processed < len;
    return ret;
}

/* A read that failed with errno (EINTR aside, which the caller retries). */
static ssize_t read_failed(struct io *io)
{
    if (errno == EAGAIN || errno == EWOULDBLOCK) {
        io->want = IO_WANT_READ;
        return IO_AGAIN;
    }
    io->err = errno; /* with kernel TLS, EBADMSG: a record failed authentication */
    return errno == ECONNRESET ? IO_EOF : IO_ERR;
}

/* Room for the one control message a kernel TLS record type takes. */
union ktls_cmsg {
    char b[CMSG_SPACE(sizeof(unsigned char))];
    struct cmsghdr align;
};

/* A read from a socket whose records the kernel decrypts: one record's
 * payload at most when it is not application data, whose type comes in a
 * control message. close_notify is the end of the stream; any other
 * non-data record ends it with io->refused saying why. */
static ssize_t ktls_read(struct io *io, void *buf, size_t len)
{
    union ktls_cmsg cbuf;
    struct iovec iov = { buf, len };
    for (;;) {
        struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf.b,
                            .msg_controllen = sizeof cbuf.b };
        ssize_t n = recvmsg(io->fd, &m, 0);
        if (n == -1) {
            if (errno == EINTR)
                continue;
            return read_failed(io);
        }
        if (n == 0)
            return IO_EOF; /* FIN without close_notify, as SSL_OP_IGNORE_UNEXPECTED_EOF */
        struct cmsghdr *cm = CMSG_FIRSTHDR(&m);
        unsigned char type = KTLS_REC_DATA;
        if (cm && cm->cmsg_level == SOL_TLS && cm->cmsg_type == TLS_GET_RECORD_TYPE)
            type = *CMSG_DATA(cm);
        if (type == KTLS_REC_DATA) {
            io->want = 0;
            io->dry = (size_t)n < len;
            return n;
        }
        io->err = 0;
        if (type == KTLS_REC_ALERT) {
            const unsigned char *a = buf;
            if (n == 2 && a[1] == 0) /* close_notify (level aside, RFC 8446 6.1) */
                return IO_EOF;
            io->refused = IO_REF_ALERT;
        } else {
            io->refused = type == KTLS_REC_HANDSHAKE ? IO_REF_HANDSHAKE : IO_REF_RECORD;
        }
        return IO_ERR;
    }
}

enum sstp_rc io_refusal_rc(unsigned refused)
{
    switch (refused) {
    case IO_REF_KEY_UPDATE: return SSTP_E_TLS_KEY_UPDATE;
    case IO_REF_HANDSHAKE:  return SSTP_E_TLS_RENEGOTIATION;
    case IO_REF_ALERT:      return SSTP_E_TLS_ALERT;
    case IO_REF_RECORD:     return SSTP_E_TLS_RECORD;
    default:                return SSTP_OK;
    }
}

ssize_t io_read(struct io *io, void *buf, size_t len)
{
    io->dry = false;
    if (io->ssl) {
        BIO *rb = SSL_get_rbio(io->ssl);
        if (rb) {
            BIO_set_callback_ex(rb, rbio_cb);
            BIO_set_callback_arg(rb, (char *)io);
        }
        ERR_clear_error();
        int n = SSL_read(io->ssl, buf, len > INT32_MAX ? INT32_MAX : (int)len);
        if (rb)
            BIO_set_callback_arg(rb, NULL);
        /* The peer asked for our key update: OpenSSL 3.0 would send it and
         * go on under the old key in the kernel (ktls.h). End here, before
         * anything else is written. The kernel may send already when
         * io_ktls_note has not run yet (a KeyUpdate with the request head). */
        if (SSL_get_key_update_type(io->ssl) != SSL_KEY_UPDATE_NONE &&
            (io->ktls_tx || BIO_get_ktls_send(SSL_get_wbio(io->ssl)) > 0)) {
            io->err = 0;
            io->ssl_err = 0;
            io->refused = IO_REF_KEY_UPDATE;
            return IO_ERR;
        }
        if (n <= 0)
            return ssl_result(io, n);
        io->want = 0; /* progress: an earlier WANT_* no longer applies */
        /* dry: the socket was empty at OpenSSL's last read of it (in this
         * call or an earlier one) and OpenSSL has nothing left */
        io->dry = io->sock_empty && !SSL_has_pending(io->ssl);
        return n;
    }
    if (io->ktls_only)
        return ktls_read(io, buf, len);
    for (;;) {
        ssize_t n = read(io->fd, buf, len);
        if (n >= 0) {
            io->dry = n > 0 && (size_t)n < len;
            return n;
        }
        if (errno == EINTR)
            continue;
        return read_failed(io);
    }
}

ssize_t io_write(struct io *io, const void *buf, size_t len)
{
    if (io->ssl) {
        ERR_clear_error();
        int n = SSL_write(io->ssl, buf, len > INT32_MAX ? INT32_MAX : (int)len);
        if (n > 0) {
            io->want = 0;
            return n;
        }
        ssize_t r = ssl_result(io, n);
        return r == IO_EOF ? IO_ERR : r;
    }
    for (;;) {
        ssize_t n = send(io->fd, buf, len, MSG_NOSIGNAL);
        if (n >= 0)
            return n;
        if (errno == EINTR)
            continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) {
            io->want = IO_WANT_WRITE;
            return IO_AGAIN;
        }
        io->err = errno;
        return IO_ERR;
    }
}

static int handshake(struct io *io, int (*step)(SSL *))
{
    if (!io->ssl)
        return 1;
    ERR_clear_error();
    int n = step(io->ssl);
    if (n == 1)
        return 1;
    ssize_t r = ssl_result(io, n);
    return r == IO_AGAIN ? IO_AGAIN : IO_ERR;
}

int io_accept(struct io *io)
{
    return handshake(io, SSL_accept);
}

int io_connect(struct io *io)
{
    return handshake(io, SSL_connect);
}

void io_ktls_note(struct io *io)
{
    if (!io->ssl)
        return;
    io->ktls_tx = BIO_get_ktls_send(SSL_get_wbio(io->ssl)) > 0;
    io->ktls_rx = BIO_get_ktls_recv(SSL_get_rbio(io->ssl)) > 0;
}

bool io_ktls_release(struct io *io)
{
    /* SSL_has_pending: a record or bytes OpenSSL took off the socket and
     * has not returned; those would be lost with it. A write OpenSSL could
     * not finish stays in it too (SSL_want_write). */
    if (!io->ssl || !io->ktls_tx || !io->ktls_rx || SSL_has_pending(io->ssl) ||
        SSL_want_write(io->ssl) || !SSL_is_init_finished(io->ssl))
        return false;
    SSL_free(io->ssl); /* the fd's BIO does not own it: the socket stays */
    ERR_clear_error();
    io->ssl = NULL;
    io->ktls_only = true;
    io->sock_empty = false;
    return true;
}

void io_close_notify(struct io *io)
{
    if (io->ssl) {
        ERR_clear_error();
        if (SSL_is_init_finished(io->ssl))
            SSL_shutdown(io->ssl);
        ERR_clear_error();
        return;
    }
    if (!io->ktls_only || io->fd == -1)
        return;
    /* a warning-level close_notify alert record, which the kernel seals */
    unsigned char alert[2] = { 1, 0 };
    union ktls_cmsg cbuf;
    memset(&cbuf, 0, sizeof cbuf);
    struct iovec iov = { alert, sizeof alert };
    struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf.b,
                        .msg_controllen = sizeof cbuf.b };
    struct cmsghdr *cm = CMSG_FIRSTHDR(&m);
    cm->cmsg_level = SOL_TLS;
    cm->cmsg_type = TLS_SET_RECORD_TYPE;
    cm->cmsg_len = CMSG_LEN(sizeof(unsigned char));
    *CMSG_DATA(cm) = KTLS_REC_ALERT;
    (void)sendmsg(io->fd, &m, MSG_DONTWAIT | MSG_NOSIGNAL);
}

void io_close(struct io *io)
{
    io_close_notify(io);
    io->ktls_only = false;
    if (io->ssl) {
        SSL_free(io->ssl);
        ERR_clear_error();
        io->ssl = NULL;
    }
    if (io->fd != -1) {
        close(io->fd);
        io->fd = -1;
    }
}
