/* wstage.c — the staging write BIO (see wstage.h). */
#include "proxy/wstage.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>

static int stage_write(BIO *b, const char *data, int len)
{
    struct px_wstage *st = BIO_get_data(b);
    BIO_clear_retry_flags(b);
    if (len <= 0)
        return 0;
    if (buf_take_big(st->pool, &st->out) == -1) { /* four full records per send() */
        st->failed = true;
        return -1;
    }
    if (buf_room(&st->out) < (size_t)len)
        buf_compact(&st->out);
    size_t n = buf_room(&st->out);
    if (n == 0) {
        BIO_set_retry_write(b); /* full: SSL_write says WANT_WRITE, the relay flushes */
        return -1;
    }
    if (n > (size_t)len)
        n = (size_t)len; /* a partial write is fine: OpenSSL keeps the rest */
    memcpy(buf_wptr(&st->out), data, n);
    st->out.tail += n;
    return (int)n;
}

static long stage_ctrl(BIO *b, int cmd, long num, void *ptr)
{
    (void)num;
    (void)ptr;
    struct px_wstage *st = BIO_get_data(b);
    switch (cmd) {
    case BIO_CTRL_FLUSH:
        return 1; /* the relay sends the buffer itself, without blocking */
    case BIO_CTRL_WPENDING:
    case BIO_CTRL_PENDING:
        return st ? (long)buf_len(&st->out) : 0;
    default:
        return 0;
    }
}

static int stage_create(BIO *b)
{
    BIO_set_init(b, 1);
    return 1;
}

BIO_METHOD *px_wstage_method_new(void)
{
    BIO_METHOD *m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "sstp-proxy staged write");
    if (!m)
        return NULL;
    if (!BIO_meth_set_write(m, stage_write) || !BIO_meth_set_ctrl(m, stage_ctrl) ||
        !BIO_meth_set_create(m, stage_create)) {
        BIO_meth_free(m);
        return NULL;
    }
    return m;
}

int px_wstage_attach(SSL *ssl, BIO_METHOD *m, struct px_wstage *st, struct buf_pool *pool)
{
    BIO *b = BIO_new(m);
    if (!b)
        return -1;
    st->pool = pool;
    BIO_set_data(b, st);
    SSL_set0_wbio(ssl, b); /* the socket BIO stays as the read side */
    return 0;
}

int px_wstage_flush(struct px_wstage *st, int fd)
{
    while (buf_len(&st->out) > 0) {
        ssize_t n = send(fd, buf_rptr(&st->out), buf_len(&st->out), MSG_NOSIGNAL);
        if (n == -1) {
            if (errno == EINTR)
                continue;
            return errno == EAGAIN || errno == EWOULDBLOCK ? 1 : -1;
        }
        buf_consume(&st->out, (size_t)n);
    }
    buf_release(st->pool, &st->out);
    if (st->fin && !st->fin_sent) {
        st->fin_sent = true;
        shutdown(fd, SHUT_WR);
    }
    return 0;
}

void px_wstage_cleanup(struct px_wstage *st)
{
    if (st->pool)
        buf_drop(st->pool, &st->out);
}
