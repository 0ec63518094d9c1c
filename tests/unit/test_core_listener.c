/* test_core_listener.c — core/listener.c on real loopback sockets: new
 * connections reach the owner with their peer address; out of descriptors
 * (RLIMIT_NOFILE lowered, so accept4 fails with EMFILE) the listener pauses
 * instead of spinning, counts each failure, logs once per interval, and
 * accepts the waiting connections once descriptors are back; the owner's
 * hold keeps connections in the backlog until released; a socket accepted
 * from net_listen's listener comes non-blocking, close-on-exec and with
 * TCP_NODELAY without a call of its own. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/listener.h"
#include "core/net.h"

#define MAX_FDS 16

struct owner {
    int fds[MAX_FDS];
    size_t n;
    int family;
    unsigned errors;   /* on_error calls */
    int last_error;
};

static void on_accept(struct listener *l, int fd, const struct sockaddr *peer, socklen_t peer_len)
{
    struct owner *o = l->data;
    assert_true(peer_len >= sizeof(struct sockaddr_in));
    o->family = peer->sa_family;
    assert_true(o->n < MAX_FDS);
    o->fds[o->n++] = fd;
}

static void on_error(struct listener *l, int err)
{
    struct owner *o = l->data;
    o->errors++;
    o->last_error = err;
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

/* Each test: a loop, a listening socket and a listener over it (not
 * started), the owner's connections closed at the end. */
struct fixture {
    struct ev_loop *loop;
    struct sockaddr_in addr;
    int lfd;
    struct owner owner;
    struct listener l;
    struct rlimit nofile;  /* restored at teardown, even after a failed check */
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof *f);
    assert_non_null(f);
    f->loop = ev_loop_new(EVFLAG_AUTO);
    f->lfd = listen_loopback(&f->addr);
    listener_init(&f->l, f->loop, f->lfd, "test", on_accept, &f->owner);
    f->l.on_error = on_error;
    assert_int_equal(getrlimit(RLIMIT_NOFILE, &f->nofile), 0);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    setrlimit(RLIMIT_NOFILE, &f->nofile);
    listener_stop(&f->l);
    owner_close(&f->owner);
    close(f->lfd);
    ev_loop_destroy(f->loop);
    free(f);
    return 0;
}

static void test_accepts(void **state)
{
    struct fixture *f = *state;
    listener_start(&f->l);
    int c[3];
    for (int i = 0; i < 3; i++)
        c[i] = connect_to(&f->addr);
    run_until(f->loop, &f->owner, 3, 2.0);
    assert_int_equal(f->owner.n, 3);
    assert_int_equal(f->l.n_accepted, 3);
    assert_int_equal(f->owner.family, AF_INET);
    assert_int_equal(f->l.n_resource_fail, 0);
    assert_int_equal(f->owner.errors, 0);
    for (size_t i = 0; i < f->owner.n; i++) /* the owner gets non-blocking descriptors */
        assert_true(fcntl(f->owner.fds[i], F_GETFL) & O_NONBLOCK);
    for (int i = 0; i < 3; i++)
        close(c[i]);
}

static void test_emfile_pauses(void **state)
{
    struct fixture *f = *state;
    int c1 = connect_to(&f->addr), c2 = connect_to(&f->addr);

    /* no descriptor left: the lowest free one is the limit */
    int next = dup(0);
    assert_true(next != -1);
    close(next);
    struct rlimit low = f->nofile;
    low.rlim_cur = (rlim_t)next;
    assert_int_equal(setrlimit(RLIMIT_NOFILE, &low), 0);
    assert_int_equal(dup(0), -1);
    assert_int_equal(errno, EMFILE);

    listener_start(&f->l);
    unsigned iterations = run_until(f->loop, &f->owner, 1, 0.35);
    assert_int_equal(f->owner.n, 0);
    assert_int_equal(f->l.n_accepted, 0);
    /* one failure per 0.1 s pause, not one per loop turn */
    assert_in_range(f->l.n_resource_fail, 1, 5);
    assert_in_range(iterations, 1, 20);
    assert_true(listener_paused(&f->l));
    /* the first failure was logged; the others waited for the interval */
    assert_int_equal(f->l.log_limit.suppressed, f->l.n_resource_fail - 1);
    /* the owner heard of each failure (its counter), logged or not */
    assert_int_equal(f->owner.errors, f->l.n_resource_fail);
    assert_int_equal(f->owner.last_error, EMFILE);

    assert_int_equal(setrlimit(RLIMIT_NOFILE, &f->nofile), 0);
    run_until(f->loop, &f->owner, 2, 2.0);
    assert_int_equal(f->owner.n, 2); /* nothing lost: both waited in the backlog */
    assert_false(listener_paused(&f->l));
    close(c1);
    close(c2);
}

static void test_hold(void **state)
{
    struct fixture *f = *state;
    listener_start(&f->l);
    listener_hold(&f->l);
    int c = connect_to(&f->addr);
    run_until(f->loop, &f->owner, 1, 0.2);
    assert_int_equal(f->owner.n, 0);
    assert_true(listener_paused(&f->l));
    listener_start(&f->l); /* a start while held does not resume */
    assert_true(listener_paused(&f->l));
    listener_release(&f->l);
    run_until(f->loop, &f->owner, 1, 2.0);
    assert_int_equal(f->owner.n, 1);
    close(c);
}

/* The owner does nothing to an accepted socket: what it needs comes from
 * accept4 (non-blocking, close-on-exec) and from the listening socket
 * (TCP_NODELAY, which Linux copies to every accepted socket). */
static void test_net_listen_inherits(void **state)
{
    struct fixture *f = *state;
    struct net_addr a;
    assert_int_equal(net_addr_parse(&a, "127.0.0.1:0"), 0);
    int lfd = net_listen(&a, 16, false);
    assert_true(lfd != -1);
    struct sockaddr_in bound;
    socklen_t len = sizeof bound;
    assert_int_equal(getsockname(lfd, (struct sockaddr *)&bound, &len), 0);
    struct listener l;
    listener_init(&l, f->loop, lfd, "nodelay", on_accept, &f->owner);
    listener_start(&l);
    int c = connect_to(&bound);
    run_until(f->loop, &f->owner, 1, 2.0);
    assert_int_equal(f->owner.n, 1);
    int fd = f->owner.fds[0], v = 0;
    len = sizeof v;
    assert_int_equal(getsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &v, &len), 0);
    assert_int_not_equal(v, 0);
    assert_true(fcntl(fd, F_GETFL) & O_NONBLOCK);
    assert_true(fcntl(fd, F_GETFD) & FD_CLOEXEC);
    /* the client's socket, made without it, shows the option is not a default */
    v = 1;
    len = sizeof v;
    assert_int_equal(getsockopt(c, IPPROTO_TCP, TCP_NODELAY, &v, &len), 0);
    assert_int_equal(v, 0);
    listener_stop(&l);
    close(lfd);
    close(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_accepts, setup, teardown),
        cmocka_unit_test_setup_teardown(test_emfile_pauses, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hold, setup, teardown),
        cmocka_unit_test_setup_teardown(test_net_listen_inherits, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
