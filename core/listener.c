#include "core/listener.h"

#include <errno.h>
#include <string.h>


static bool resource_errno(int e)
{
    return e == EMFILE || e == ENFILE || e == ENOBUFS || e == ENOMEM;
}

static void pause_for_resources(struct listener *l)
{
    l->n_resource_fail++;
    ev_io_stop(l->loop, &l->io);
    ev_timer_stop(l->loop, &l->retry);
    ev_timer_set(&l->retry, LISTENER_PAUSE_S, 0.);
    ev_timer_start(l->loop, &l->retry);
}

static void accept_failed(struct listener *l, int e)
{
    bool resources = resource_errno(e);
    if (resources)
        pause_for_resources(l);
    if (l->on_error)
        l->on_error(l, e);
    uint64_t suppressed;
    if (log_limit_allow(&l->log_limit, ev_now(l->loop), &suppressed))
        log_warn("accept_error", "listener=%s err=\"%s\" paused_s=%.1f suppressed=%llu", l->name,
                 strerror(e), resources ? LISTENER_PAUSE_S : 0., (unsigned long long)suppressed);
}

static void accept_cb(struct ev_loop *loop, ev_io *w, int revents)
{
    (void)loop;
    (void)revents;
    struct listener *l = (struct listener *)w;
    for (int i = 0; i < LISTENER_BATCH && !l->held; i++) {
        struct sockaddr_storage peer;
        socklen_t peer_len = sizeof peer;
        int fd = accept4(w->fd, (struct sockaddr *)&peer, &peer_len, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd == -1) {
            int e = errno;
            /* EAGAIN: the backlog is empty; ECONNABORTED, a signal: that
             * connection is gone, the next wake-up goes on */
            if (e != EAGAIN && e != EWOULDBLOCK && e != EINTR && e != ECONNABORTED)
                accept_failed(l, e);
            return;
        }
        l->n_accepted++;
        l->on_accept(l, fd, (struct sockaddr *)&peer, peer_len);
    }
}

static void retry_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
    (void)loop;
    (void)revents;
    struct listener *l = t->data;
    listener_start(l);
}

void listener_init(struct listener *l, struct ev_loop *loop, int fd, const char *name,
                   listener_accept_fn on_accept, void *data)
{
    memset(l, 0, sizeof *l);
    l->loop = loop;
    l->name = name;
    l->on_accept = on_accept;
    l->data = data;
    log_limit_init(&l->log_limit, LISTENER_LOG_S, 1);
    ev_io_init(&l->io, accept_cb, fd, EV_READ);
    ev_init(&l->retry, retry_cb);
    l->retry.data = l;
}

void listener_start(struct listener *l)
{
    if (l->held || ev_is_active(&l->retry))
        return;
    ev_io_start(l->loop, &l->io);
}

void listener_stop(struct listener *l)
{
    ev_io_stop(l->loop, &l->io);
    ev_timer_stop(l->loop, &l->retry);
}

void listener_hold(struct listener *l)
{
    l->held = true;
    ev_io_stop(l->loop, &l->io);
}

void listener_release(struct listener *l)
{
    l->held = false;
    listener_start(l);
}

bool listener_paused(const struct listener *l)
{
    return !ev_is_active(&l->io);
}
