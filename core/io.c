/* io.c — plain/TLS non-blocking byte stream (see io.h). */
#include "core/io.h"

#include <errno.h>
#include <openssl/err.h>
#include <sys/socket.h>
#include <unistd.h>

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
        if (n <= 0)
            return ssl_result(io, n);
        io->want = 0; /* progress: an earlier WANT_* no longer applies */
        /* dry: the socket was empty at OpenSSL's last read of it (in this
         * call or an earlier one) and OpenSSL has nothing left */
        io->dry = io->sock_empty && !SSL_has_pending(io->ssl);
        return n;
    }
    for (;;) {
        ssize_t n = read(io->fd, buf, len);
        if (n >= 0) {
            io->dry = n > 0 && (size_t)n < len;
            return n;
        }
        if (errno == EINTR)
            continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) {
            io->want = IO_WANT_READ;
            return IO_AGAIN;
        }
        io->err = errno;
        return errno == ECONNRESET ? IO_EOF : IO_ERR;
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

void io_close(struct io *io)
{
    if (io->ssl) {
        ERR_clear_error();
        if (SSL_is_init_finished(io->ssl))
            SSL_shutdown(io->ssl);
        SSL_free(io->ssl);
        ERR_clear_error();
        io->ssl = NULL;
    }
    if (io->fd != -1) {
        close(io->fd);
        io->fd = -1;
    }
}
