/* test_core_listener.c — core/listener.c on real loopback sockets: new
 * connections reach the owner with their peer address; out of descriptors
 * (RLIMIT_NOFILE lowered, so accept4 fails with EMFILE) the listener pauses
 * instead of spinning, counts each failure, logs once per interval, and
 * accepts the waiting connections once descriptors are back; the owner's
 * hold keeps connections in the backlog until released. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/listener.h"

#define MAX_FDS 16

struct owner {
    int fds[MAX_FDS];
    size_t n;
    int family;
};

static void on_accept(struct listener *l, int fd, const struct sockaddr *peer, socklen_t peer_len)
{
    struct owner *o = l->data;
    assert_true(peer_len >= sizeof(struct sockaddr_in));
    o->family = peer->sa_family;
    assert_true(o->n < MAX_FDS);
    o->fds[o->n++] = fd;
}

static void owner_close(struct owner *o)
{
    for (size_t i = 0; i < o->n; i++)
        close(o->fds[i]);
    o->n = 0;
}

/* A non-blocking listening socket on 127.0.0.1, an ephemeral port. */
static int listen_loopback(struct sockaddr_in *out)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    assert_true(fd != -1);
    memset(out, 0, sizeof *out);
    out->sin_family = AF_INET;
    out->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof *out;
    assert_int_equal(bind(fd, (struct sockaddr *)out, len), 0);
    assert_int_equal(listen(fd, 16), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)out, &len), 0);
    return fd;
}

/* A client connected through the backlog (loopback: connect returns once
 * the kernel has queued it, accepted or not). */
static int connect_to(const struct sockaddr_in *a)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(fd != -1);
    assert_int_equal(connect(fd, (const struct sockaddr *)a, sizeof *a), 0);
    return fd;
}

static void stop_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
    (void)t;
    (void)revents;
    ev_break(loop, EVBREAK_ALL);
}

/* Runs the loop for secs, or until the owner holds `want` connections
 * (checked each iteration). Returns the loop iterations it took. */
static unsigned run_until(struct ev_loop *loop, const struct owner *o, size_t want, double secs)
{
    ev_timer stop;
    ev_timer_init(&stop, stop_cb, secs, 0.);
    ev_timer_start(loop, &stop);
    unsigned start = ev_iteration(loop);
    while (ev_is_active(&stop) && o->n < want)
        ev_run(loop, EVRUN_ONCE);
    ev_timer_stop(loop, &stop);
    return ev_iteration(loop) - start;
}

static void test_accepts(void **state)
{
    (void)state;
    struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
    struct sockaddr_in a;
    int lfd = listen_loopback(&a);
    struct owner o = { .n = 0 };
    struct listener l;
    listener_init(&l, loop, lfd, "test", on_accept, &o);
    listener_start(&l);
    int c[3];
    for (int i = 0; i < 3; i++)
        c[i] = connect_to(&a);
    run_until(loop, &o, 3, 2.0);
    assert_int_equal(o.n, 3);
    assert_int_equal(l.n_accepted, 3);
    assert_int_equal(o.family, AF_INET);
    assert_int_equal(l.n_resource_fail, 0);
    for (size_t i = 0; i < o.n; i++) /* the owner gets non-blocking descriptors */
        assert_true(fcntl(o.fds[i], F_GETFL) & O_NONBLOCK);
    listener_stop(&l);
    owner_close(&o);
    for (int i = 0; i < 3; i++)
        close(c[i]);
    close(lfd);
    ev_loop_destroy(loop);
}

static void test_emfile_pauses(void **state)
{
    (void)state;
    struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
    struct sockaddr_in a;
    int lfd = listen_loopback(&a);
    struct owner o = { .n = 0 };
    struct listener l;
    listener_init(&l, loop, lfd, "test", on_accept, &o);
    int c1 = connect_to(&a), c2 = connect_to(&a);

    /* no descriptor left: the lowest free one is the limit */
    struct rlimit old, low;
    assert_int_equal(getrlimit(RLIMIT_NOFILE, &old), 0);
    int next = dup(0);
    assert_true(next != -1);
    close(next);
    low = old;
    low.rlim_cur = (rlim_t)next;
    assert_int_equal(setrlimit(RLIMIT_NOFILE, &low), 0);
    assert_int_equal(dup(0), -1);
    assert_int_equal(errno, EMFILE);

    listener_start(&l);
    unsigned iterations = run_until(loop, &o, 1, 0.35);
    assert_int_equal(o.n, 0);
    assert_int_equal(l.n_accepted, 0);
    /* one failure per 0.1 s pause, not one per loop turn */
    assert_in_range(l.n_resource_fail, 1, 5);
    assert_in_range(iterations, 1, 20);
    assert_true(listener_paused(&l));
    /* the first failure was logged; the others waited for the interval */
    assert_int_equal(l.n_suppressed, l.n_resource_fail - 1);

    assert_int_equal(setrlimit(RLIMIT_NOFILE, &old), 0);
    run_until(loop, &o, 2, 2.0);
    assert_int_equal(o.n, 2); /* nothing lost: both waited in the backlog */
    assert_false(listener_paused(&l));

    listener_stop(&l);
    owner_close(&o);
    close(c1);
    close(c2);
    close(lfd);
    ev_loop_destroy(loop);
}

static void test_hold(void **state)
{
    (void)state;
    struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
    struct sockaddr_in a;
    int lfd = listen_loopback(&a);
    struct owner o = { .n = 0 };
    struct listener l;
    listener_init(&l, loop, lfd, "test", on_accept, &o);
    listener_start(&l);
    listener_hold(&l);
    int c = connect_to(&a);
    run_until(loop, &o, 1, 0.2);
    assert_int_equal(o.n, 0);
    assert_true(listener_paused(&l));
    listener_start(&l); /* a start while held does not resume */
    assert_true(listener_paused(&l));
    listener_release(&l);
    run_until(loop, &o, 1, 2.0);
    assert_int_equal(o.n, 1);
    listener_stop(&l);
    owner_close(&o);
    close(c);
    close(lfd);
    ev_loop_destroy(loop);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_accepts),
        cmocka_unit_test(test_emfile_pauses),
        cmocka_unit_test(test_hold),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
