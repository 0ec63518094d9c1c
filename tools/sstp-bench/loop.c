/* loop.c — event-loop helpers shared by the client and the target: the
 * monotonic clock, pool buffers as SSTP writers, watcher events, and the
 * queue that runs busy connections again after the others (fairness). */
#include "tools/sstp-bench/bench.h"

#include <openssl/ssl.h>
#include <time.h>

uint64_t mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}
int cert_file_hashes(const char *file, struct tls_cert_hashes *out)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_method());
    int rc = -1;
    if (ctx && SSL_CTX_use_certificate_chain_file(ctx, file) == 1)
        rc = tls_ctx_cert_hashes(ctx, out);
    SSL_CTX_free(ctx);
    return rc;
}

struct sstp_wbuf *out_begin(struct buf_pool *pool, struct buf *b, struct sstp_wbuf *w)
{
    if (buf_take(pool, b) == -1)
        return NULL;
    buf_compact(b);
    sstp_wbuf_init(w, buf_wptr(b), buf_room(b));
    return w;
}

void watch(struct ev_loop *loop, ev_io *w, int events)
{
    if (ev_is_active(w) && (w->events & (EV_READ | EV_WRITE)) == events)
        return;
    ev_io_stop(loop, w);
    ev_io_set(w, w->fd, events);
    if (events)
        ev_io_start(loop, w);
}

static void again_prep_cb(struct ev_loop *loop, ev_prepare *w, int revents)
{
    (void)revents;
    struct again_q *q = w->data;
    struct again_link *l = q->head;
    q->head = NULL;
    ev_idle_stop(loop, &q->idle);
    while (l) {
        struct again_link *next = l->next;
        l->queued = false;
        ev_feed_event(loop, l->w, EV_READ | EV_WRITE);
        l = next;
    }
}

static void again_idle_cb(struct ev_loop *loop, ev_idle *w, int revents)
{
    (void)loop;
    (void)w;
    (void)revents;
}

void again_init(struct ev_loop *loop, struct again_q *q)
{
    q->head = NULL;
    ev_prepare_init(&q->prep, again_prep_cb);
    q->prep.data = q;
    ev_prepare_start(loop, &q->prep);
    ev_idle_init(&q->idle, again_idle_cb);
}

void again_stop(struct ev_loop *loop, struct again_q *q)
{
    ev_prepare_stop(loop, &q->prep);
    ev_idle_stop(loop, &q->idle);
}

void again_push(struct ev_loop *loop, struct again_q *q, struct again_link *l, ev_io *w)
{
    if (l->queued)
        return;
    l->queued = true;
    l->w = w;
    l->next = q->head;
    q->head = l;
    ev_idle_start(loop, &q->idle);
}

void again_remove(struct again_q *q, struct again_link *l)
{
    if (!l->queued)
        return;
    for (struct again_link **pp = &q->head; *pp; pp = &(*pp)->next)
        if (*pp == l) {
            *pp = l->next;
            break;
        }
    l->queued = false;
}

