/* test_lb_health.c — lb/health.c against a small server on the same event
 * loop (loopback, ephemeral port): what the sstp probe sends (PROXY v2
 * LOCAL, then HEAD /sra_{...}/ with a Host), the tcp probe (connect only),
 * fall and rise thresholds with 503 answers, refused connections and
 * silent servers (timeout), a rise clearing a passive down mark, a failing
 * TLS set-up, lb_health_sync following generations (ASan checks the
 * references), and timeouts judged against the loop's own stalls: a loop
 * that stalled past the deadline (the answer waiting unread) is no verdict
 * (stretched), a silent backend still goes down under a stalling loop, and
 * a backend trickling its answer does not keep a check alive. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/log.h"
#include "lb/health.h"

enum mode {
    ANSWER_200 = 0, ANSWER_503, ANSWER_500, ANSWER_501, ANSWER_GARBAGE, SILENT,
    STALL_200,   /* the loop stalls `stall_s` (a blocking callback), then 200 */
    TRICKLE_200, /* 200's status line, one byte per trickle tick */
};

#define TRICKLE_TICK_S 0.05
static const char TRICKLE_ANSWER[] = "HTTP/1.1 200 OK\r\n\r\n";

#define MAX_CONNS 64

struct srv {
    struct ev_loop *loop;
    int lfd, port;
    ev_io lw;
    enum mode mode;
    struct { int fd; ev_io w; char buf[512]; size_t len; } c[MAX_CONNS];
    unsigned accepted, answered, empty;  /* empty: closed by the client without a byte */
    double stall_s;
    size_t trickle_off[MAX_CONNS];       /* TRICKLE_200: bytes sent, per connection */
    bool trickling[MAX_CONNS];
    ev_timer trickle;
    unsigned trickled;                   /* bytes, over all connections */
    char last[512];
    size_t last_len;
};

static void conn_cb(struct ev_loop *loop, ev_io *w, int revents)
{
    (void)revents;
    struct srv *s = w->data;
    int i = (int)(((char *)w - (char *)&s->c[0].w) / (long)sizeof s->c[0]);
    char *buf = s->c[i].buf;
    ssize_t n = read(w->fd, buf + s->c[i].len, sizeof s->c[i].buf - 1 - s->c[i].len);
    if (n > 0) {
        s->c[i].len += (size_t)n;
        buf[s->c[i].len] = '\0';
        /* 16 bytes of PROXY v2 LOCAL, then the head up to the blank line */
        if (s->c[i].len < 16 || !memmem(buf + 16, s->c[i].len - 16, "\r\n\r\n", 4))
            return;
        memcpy(s->last, buf, s->c[i].len);
        s->last_len = s->c[i].len;
        if (s->mode == SILENT)
            return; /* read, never answer */
        if (s->mode == TRICKLE_200) {
            s->trickling[i] = true;
            s->trickle_off[i] = 0;
            return;
        }
        if (s->mode == STALL_200)
            usleep((useconds_t)(s->stall_s * 1e6)); /* the whole loop stands still */
        const char *ans = s->mode == ANSWER_200 || s->mode == STALL_200 ? "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"
                          : s->mode == ANSWER_503 ? "HTTP/1.1 503 Service Unavailable\r\n\r\n"
                          : s->mode == ANSWER_501 ? "HTTP/1.1 501 Not Implemented\r\n\r\n"
                          : s->mode == ANSWER_GARBAGE ? "SSH-2.0-OpenSSH_9.2p1 Debian\r\n"
                                                  : "HTTP/1.1 500 Internal Server Error\r\n\r\n";
        assert_true(write(w->fd, ans, strlen(ans)) > 0);
        s->answered++;
    } else if (n == -1 && errno == EAGAIN) {
        return;
    } else if (s->c[i].len == 0) {
        s->empty++;
    }
    ev_io_stop(loop, w);
    close(w->fd);
    s->c[i].fd = -1;
    s->trickling[i] = false;
}

static void trickle_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
    (void)loop;
    (void)revents;
    struct srv *s = t->data;
    for (int i = 0; i < MAX_CONNS; i++) {
        if (!s->trickling[i] || s->c[i].fd == -1 || s->trickle_off[i] >= sizeof TRICKLE_ANSWER - 1)
            continue;
        if (write(s->c[i].fd, TRICKLE_ANSWER + s->trickle_off[i], 1) == 1) {
            s->trickle_off[i]++;
            s->trickled++;
        }
    }
}

static void accept_cb(struct ev_loop *loop, ev_io *w, int revents)
{
    (void)revents;
    struct srv *s = w->data;
    int fd = accept4(s->lfd, NULL, NULL, SOCK_NONBLOCK);
    if (fd == -1)
        return;
    int i = (int)(s->accepted++ % MAX_CONNS);
    if (s->c[i].fd != -1) { /* a silent one from long ago */
        ev_io_stop(loop, &s->c[i].w);
        close(s->c[i].fd);
    }
    s->c[i].fd = fd;
    s->c[i].len = 0;
    s->trickling[i] = false;
    ev_io_init(&s->c[i].w, conn_cb, fd, EV_READ);
    s->c[i].w.data = s;
    ev_io_start(loop, &s->c[i].w);
}

static void srv_listen(struct srv *s)
{
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)s->port),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t len = sizeof a;
    int one = 1;
    s->lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    assert_int_not_equal(s->lfd, -1);
    setsockopt(s->lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    assert_int_equal(bind(s->lfd, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(listen(s->lfd, 64), 0);
    assert_int_equal(getsockname(s->lfd, (struct sockaddr *)&a, &len), 0);
    s->port = ntohs(a.sin_port);
    ev_io_init(&s->lw, accept_cb, s->lfd, EV_READ);
    s->lw.data = s;
    ev_io_start(s->loop, &s->lw);
}

static void srv_unlisten(struct srv *s)
{
    ev_io_stop(s->loop, &s->lw);
    close(s->lfd);
    s->lfd = -1;
}

static void srv_start(struct srv *s, struct ev_loop *loop)
{
    memset(s, 0, sizeof *s);
    s->loop = loop;
    for (int i = 0; i < MAX_CONNS; i++)
        s->c[i].fd = -1;
    srv_listen(s);
    ev_timer_init(&s->trickle, trickle_cb, TRICKLE_TICK_S, TRICKLE_TICK_S);
    s->trickle.data = s;
    ev_timer_start(loop, &s->trickle);
}

static void srv_stop(struct srv *s)
{
    ev_timer_stop(s->loop, &s->trickle);
    if (s->lfd != -1)
        srv_unlisten(s);
    for (int i = 0; i < MAX_CONNS; i++) {
        if (s->c[i].fd != -1) {
            ev_io_stop(s->loop, &s->c[i].w);
            close(s->c[i].fd);
        }
    }
}

/* Runs the loop until pred(arg) holds or `limit` seconds pass; returns
 * whether it held. */
struct waiter {
    bool (*pred)(void *);
    void *arg;
    bool held;
};

static void poll_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
    (void)revents;
    struct waiter *w = t->data;
    if (w->pred && w->pred(w->arg)) {
        w->held = true;
        ev_break(loop, EVBREAK_ONE);
    }
}

static void limit_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
    (void)t;
    (void)revents;
    ev_break(loop, EVBREAK_ONE);
}

static bool run_until(struct ev_loop *loop, bool (*pred)(void *), void *arg, double limit)
{
    struct waiter w = { pred, arg, false };
    ev_timer poll, stop;
    ev_timer_init(&poll, poll_cb, 0.005, 0.005);
    poll.data = &w;
    ev_timer_init(&stop, limit_cb, limit, 0);
    ev_timer_start(loop, &poll);
    ev_timer_start(loop, &stop);
    ev_run(loop, 0);
    ev_timer_stop(loop, &poll);
    ev_timer_stop(loop, &stop);
    return w.held;
}

static bool is_down(void *arg) { return ((struct lb_backend *)arg)->health_down; }
static bool is_up(void *arg) { return !((struct lb_backend *)arg)->health_down; }

static struct lb *one_backend(int port, const char *extra)
{
    char line[128], err[128];
    struct lb_spec_list l = { 0 };
    struct lb_params params = { .down_time = 10 };
    snprintf(line, sizeof line, "be 127.0.0.1:%d%s", port, extra);
    assert_int_equal(lb_spec_parse(&l, line, err, sizeof err), 0);
    struct lb *lb = lb_new(&lb_policy_leastconn, &params, &l, NULL);
    lb_spec_list_free(&l);
    assert_non_null(lb);
    return lb;
}

static const struct lb_health_opts OPTS = {
    .interval = 0.04, .timeout = 0.3, .rise = 2, .fall = 3, .probe = LB_PROBE_SSTP, .id = 7,
};

/* One loop, the test server in `mode`, one backend on it (`extra` ends
 * its server line) and a health set checking it. Returns what the first
 * sync said. */
struct rig {
    struct ev_loop *loop;
    struct srv s;
    struct lb *lb;
    struct lb_backend *be;
    struct lb_health *h;
};

static int rig_start(struct rig *r, enum mode mode, const char *extra, const struct lb_health_opts *o)
{
    r->loop = ev_loop_new(EVFLAG_AUTO);
    srv_start(&r->s, r->loop);
    r->s.mode = mode;
    r->lb = one_backend(r->s.port, extra);
    r->be = r->lb->be[0];
    r->h = lb_health_new(r->loop, o, NULL, NULL);
    return lb_health_sync(r->h, r->lb);
}

static void rig_stop(struct rig *r)
{
    lb_health_free(r->h);
    lb_free(r->lb);
    srv_stop(&r->s);
    ev_loop_destroy(r->loop);
}

struct counts {
    struct lb_health *h;
    uint64_t ok, fail;
};

static bool oks(void *arg)
{
    struct counts *c = arg;
    return lb_health_stats(c->h)->ok >= c->ok;
}

static bool fails(void *arg)
{
    struct counts *c = arg;
    return lb_health_stats(c->h)->fail >= c->fail;
}

static void test_sstp_probe_fall_rise(void **state)
{
    (void)state;
    struct rig r;
    assert_int_equal(rig_start(&r, ANSWER_200, "", &OPTS), 0);
    struct counts c = { r.h, 3, 0 };
    assert_true(run_until(r.loop, oks, &c, 3));
    assert_false(r.be->health_down);
    assert_int_equal(lb_health_stats(r.h)->fail, 0);
    /* what went on the wire: PROXY v2 LOCAL (PROXY v2 §2.2: version 2,
     * command 0, family UNSPEC, length 0), then the HEAD probe */
    static const uint8_t local[16] = { 0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54,
                                       0x0A, 0x20, 0x00, 0x00, 0x00 };
    assert_true(r.s.last_len > 16);
    assert_memory_equal(r.s.last, local, 16);
    const char *head = r.s.last + 16;
    assert_true(strncmp(head, "HEAD /sra_{BA195980-CD49-458b-9E23-C84EE0ADCD75}/ HTTP/1.1\r\n", 58) == 0);
    assert_non_null(strstr(head, "\r\nHost: 127.0.0.1\r\n"));
    assert_null(strstr(head, "Content-Length")); /* HEAD carries none */

    /* 503 (a drained backend) is an answer: still up */
    r.s.mode = ANSWER_503;
    uint64_t ok503 = lb_health_stats(r.h)->ok;
    c.ok = ok503 + 3;
    assert_true(run_until(r.loop, oks, &c, 3));
    assert_false(r.be->health_down);
    /* 500: down after `fall` (3) failures in a row, not before */
    r.s.mode = ANSWER_500;
    uint64_t f0 = lb_health_stats(r.h)->fail;
    c.fail = f0 + 2;
    assert_true(run_until(r.loop, fails, &c, 3));
    assert_false(r.be->health_down);
    assert_true(run_until(r.loop, is_down, r.be, 3));
    assert_int_equal(lb_health_stats(r.h)->fail, f0 + 3);
    assert_int_equal(lb_health_stats(r.h)->downs, 1);
    assert_false(lb_eligible(r.be, 0));

    /* 200 again: up after `rise` (2), which also clears a passive mark */
    r.be->down_until = 1e12;
    r.be->n_fails = 4;
    r.s.mode = ANSWER_200;
    uint64_t ok0 = lb_health_stats(r.h)->ok;
    assert_true(run_until(r.loop, is_up, r.be, 3));
    assert_int_equal(lb_health_stats(r.h)->ok, ok0 + 2);
    assert_int_equal(lb_health_stats(r.h)->ups, 1);
    assert_true(r.be->down_until == 0 && r.be->n_fails == 0);
    assert_true(lb_eligible(r.be, 0));

    /* a refused connection fails too */
    srv_unlisten(&r.s);
    assert_true(run_until(r.loop, is_down, r.be, 3));
    assert_int_equal(lb_health_stats(r.h)->downs, 2);

    rig_stop(&r);
}

static void test_timeout_and_tcp(void **state)
{
    (void)state;
    struct lb_health_opts o = OPTS;
    o.timeout = 0.15;
    o.fall = 2;
    struct rig r;
    rig_start(&r, SILENT, "", &o);
    ev_now_update(r.loop);
    double t0 = ev_now(r.loop);
    assert_true(run_until(r.loop, is_down, r.be, 3));
    ev_now_update(r.loop);
    /* each check waits its whole timeout; a check running when the next is
     * due is not doubled: two checks take two timeouts at least */
    assert_true(ev_now(r.loop) - t0 >= 2 * 0.15 - 0.01);
    assert_true(r.s.accepted <= 3);
    assert_int_equal(lb_health_stats(r.h)->stretched, 0); /* an idle loop excuses nothing */
    /* the tcp probe only connects: a silent server is healthy */
    o.probe = LB_PROBE_TCP;
    lb_health_configure(r.h, &o);
    unsigned empty0 = r.s.empty;
    assert_true(run_until(r.loop, is_up, r.be, 3));
    assert_true(r.s.empty > empty0); /* connections closed without a byte */
    rig_stop(&r);
}

static void test_tls_setup_failure(void **state)
{
    (void)state;
    struct rig r;
    rig_start(&r, ANSWER_200, " tls", &OPTS); /* no client context */
    assert_true(run_until(r.loop, is_down, r.be, 3));
    assert_int_equal(lb_health_stats(r.h)->ok, 0);
    rig_stop(&r);
}

static bool skipped_some(void *arg)
{
    return lb_health_stats(arg)->skipped >= 6;
}

/* Our own descriptor shortage (EMFILE at connect) is no verdict on the
 * backend: the check is skipped and counted, never failed. */
static void test_local_emfile_no_verdict(void **state)
{
    (void)state;
    struct rig r;
    rig_start(&r, ANSWER_500, "", &OPTS); /* would fail every check that ran */
    struct rlimit was, now;
    assert_int_equal(getrlimit(RLIMIT_NOFILE, &was), 0);
    now = was;
    now.rlim_cur = 0; /* no new descriptor at all: socket() fails with EMFILE */
    assert_int_equal(setrlimit(RLIMIT_NOFILE, &now), 0);
    bool skipped = run_until(r.loop, skipped_some, r.h, 3);
    assert_int_equal(setrlimit(RLIMIT_NOFILE, &was), 0);
    if (!skipped)
        print_error("limit %llu: skipped %llu fail %llu ok %llu\n", (unsigned long long)now.rlim_cur,
                    (unsigned long long)lb_health_stats(r.h)->skipped,
                    (unsigned long long)lb_health_stats(r.h)->fail, (unsigned long long)lb_health_stats(r.h)->ok);
    assert_true(skipped);
    assert_int_equal(lb_health_stats(r.h)->fail, 0);
    assert_false(r.be->health_down);
    /* with descriptors again, the checks run and judge */
    assert_true(run_until(r.loop, is_down, r.be, 3));
    rig_stop(&r);
}

static void test_sync_follows_generations(void **state)
{
    (void)state;
    struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
    struct srv s;
    srv_start(&s, loop);
    s.mode = ANSWER_500;
    struct lb *lb = one_backend(s.port, "");
    struct lb_backend *be = lb->be[0];
    struct lb_health *h = lb_health_new(loop, &OPTS, NULL, NULL);
    lb_health_sync(h, lb);
    assert_true(run_until(loop, is_down, be, 3));
    /* the same backend in the next generation: still checked, still down */
    struct lb *lb2 = one_backend(s.port, "");
    struct lb_spec_list l = { 0 };
    char err[64], line[64];
    snprintf(line, sizeof line, "be 127.0.0.1:%d", s.port);
    lb_spec_parse(&l, line, err, sizeof err);
    struct lb_params params = { .down_time = 10 };
    struct lb *next = lb_new(&lb_policy_leastconn, &params, &l, lb);
    lb_spec_list_free(&l);
    assert_ptr_equal(next->be[0], be);
    lb_health_sync(h, next);
    lb_free(lb);
    assert_true(be->health_down);
    /* a generation without it: no longer checked, the mark is cleared, and
     * the object is freed with its last reference (ASan watches) */
    lb_health_sync(h, lb2);
    assert_false(be->health_down);
    lb_free(next);
    struct counts c = { h, 0, lb_health_stats(h)->fail + 3 };
    assert_true(run_until(loop, fails, &c, 3)); /* lb2's backend is checked */
    assert_true(lb2->be[0]->health_down);
    lb_health_free(h);
    assert_false(lb2->be[0]->health_down); /* freeing forgets the verdicts */
    lb_free(lb2);
    lb_health_free(NULL);
    srv_stop(&s);
    ev_loop_destroy(loop);
}

static bool proven(void *arg) { return !((struct lb_backend *)arg)->health_unproven; }

/* A backend added after the first set (registry, reload) is not eligible
 * before its first good check; the first set is not held back. */
static void test_new_backend_waits_for_a_check(void **state)
{
    (void)state;
    struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
    struct srv s;
    srv_start(&s, loop);
    s.mode = ANSWER_500;
    struct lb *first = one_backend(s.port, "");
    struct lb_health *h = lb_health_new(loop, &OPTS, NULL, NULL);
    lb_health_sync(h, first);
    assert_false(first->be[0]->health_unproven);
    assert_true(lb_eligible(first->be[0], 0));
    /* a new object for the same name (it left and came back): unproven */
    struct lb *again = one_backend(s.port, "");
    lb_health_sync(h, again);
    struct lb_backend *be = again->be[0];
    assert_true(be->health_unproven);
    assert_false(lb_eligible(be, 0));
    /* failing checks keep it out */
    struct counts c = { h, 0, lb_health_stats(h)->fail + 2 };
    assert_true(run_until(loop, fails, &c, 3));
    assert_true(be->health_unproven);
    /* the first good one lets it in (rise is for a backend marked down) */
    s.mode = ANSWER_200;
    assert_true(run_until(loop, proven, be, 3));
    assert_false(be->health_down);
    assert_true(lb_eligible(be, 0));
    lb_health_free(h);
    lb_free(first);
    lb_free(again);
    srv_stop(&s);
    ev_loop_destroy(loop);
}

static bool stretched_some(void *arg)
{
    struct counts *c = arg;
    return lb_health_stats(c->h)->stretched >= c->fail && lb_health_stats(c->h)->ok >= c->ok;
}

/* The answer is written at once, but the loop stands still longer than the
 * timeout first (as under a handshake surge): when it runs again the
 * deadline is due and the answer unread. That is no verdict — with fall 1
 * a single counted timeout would take the backend down. */
static void test_loop_stall_is_no_verdict(void **state)
{
    (void)state;
    struct lb_health_opts o = OPTS;
    o.interval = 0.1;
    o.timeout = 0.2;
    o.fall = 1;
    struct rig r;
    rig_start(&r, STALL_200, "", &o);
    r.s.stall_s = 0.35;
    struct counts c = { r.h, 3, 3 }; /* 3 checks ok, 3 stretched */
    assert_true(run_until(r.loop, stretched_some, &c, 8));
    assert_int_equal(lb_health_stats(r.h)->fail, 0);
    assert_int_equal(lb_health_stats(r.h)->downs, 0);
    assert_false(r.be->health_down);
    rig_stop(&r);
}

static void stall_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
    (void)loop;
    (void)revents;
    usleep((useconds_t)(*(double *)t->data * 1e6));
}

/* A silent backend behind a loop that stalls all the time: each check is
 * stretched a few times at most, then its timeout counts; and once the loop
 * is idle again the next silent check fails without any stretch. */
static void test_silent_backend_down_under_stalls(void **state)
{
    (void)state;
    struct lb_health_opts o = OPTS;
    o.interval = 0.1;
    o.timeout = 0.15;
    o.fall = 1;
    struct rig r;
    rig_start(&r, SILENT, "", &o);
    double stall = 0.2;
    ev_timer st;
    ev_timer_init(&st, stall_cb, 0.05, 0.05); /* 0.2 s of every 0.25 s busy */
    st.data = &stall;
    ev_timer_start(r.loop, &st);
    assert_true(run_until(r.loop, is_down, r.be, 8));
    ev_timer_stop(r.loop, &st);
    assert_true(lb_health_stats(r.h)->stretched >= 1);
    assert_true(lb_health_stats(r.h)->fail >= 1);
    /* idle loop: once the check that saw the last stall is over, a check
     * that fails takes its plain timeout, unexcused */
    struct counts c = { r.h, 0, lb_health_stats(r.h)->fail + 1 };
    assert_true(run_until(r.loop, fails, &c, 3));
    uint64_t st0 = lb_health_stats(r.h)->stretched;
    c.fail = lb_health_stats(r.h)->fail + 2;
    assert_true(run_until(r.loop, fails, &c, 3));
    assert_int_equal(lb_health_stats(r.h)->stretched, st0);
    rig_stop(&r);
}

/* A backend that trickles its status line (one byte per 50 ms: 12 bytes
 * take 0.6 s) never makes a 0.3 s check pass: bytes it sends do not restart
 * the timeout, and an idle loop excuses nothing. */
static void test_trickle_does_not_keep_a_check_alive(void **state)
{
    (void)state;
    struct lb_health_opts o = OPTS;
    o.fall = 2;
    struct rig r;
    rig_start(&r, TRICKLE_200, "", &o);
    ev_now_update(r.loop);
    double t0 = ev_now(r.loop);
    assert_true(run_until(r.loop, is_down, r.be, 5));
    ev_now_update(r.loop);
    /* two checks, each ended by its own timeout (0.3 s), a tick apart */
    assert_true(ev_now(r.loop) - t0 < 2 * (0.3 + 0.04) + 0.3);
    assert_true(r.s.trickled >= 2); /* bytes did arrive during the checks */
    assert_int_equal(lb_health_stats(r.h)->ok, 0);
    assert_int_equal(lb_health_stats(r.h)->stretched, 0);
    rig_stop(&r);
}

static void test_probe_names(void **state)
{
    (void)state;
    assert_string_equal(lb_probe_names[LB_PROBE_NONE], "none");
    assert_string_equal(lb_probe_names[LB_PROBE_TCP], "tcp");
    assert_string_equal(lb_probe_names[LB_PROBE_SSTP], "sstp");
    assert_string_equal(lb_probe_names[LB_PROBE_HTTP], "http");
    assert_null(lb_probe_names[4]);
}

/* probe=http on the server line (the default kind being sstp): another SSTP
 * server's 501 is alive, its 503 is not, nor a non-HTTP answer; a 501 under
 * the sstp kind takes it down (the control). */
static void test_http_probe_per_server(void **state)
{
    (void)state;
    struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
    struct srv s;
    srv_start(&s, loop);
    s.mode = ANSWER_501;
    struct lb *lb = one_backend(s.port, " probe=http");
    struct lb_backend *be = lb->be[0];
    struct lb_health *h = lb_health_new(loop, &OPTS, NULL, NULL);
    assert_int_equal(lb_health_sync(h, lb), 0);
    struct counts c = { h, 4, 0 };
    assert_true(run_until(loop, oks, &c, 3));
    assert_false(be->health_down);
    assert_int_equal(lb_health_stats(h)->fail, 0);
    assert_memory_equal(s.last, "\r\n\r\n\0\r\nQUIT\n", 12); /* the LOCAL header still goes first */
    s.mode = ANSWER_503;
    assert_true(run_until(loop, is_down, be, 3));
    s.mode = ANSWER_200;
    assert_true(run_until(loop, is_up, be, 3));
    s.mode = ANSWER_GARBAGE;
    assert_true(run_until(loop, is_down, be, 3));
    lb_health_free(h);
    lb_free(lb);

    /* the control: the same 501 under the sstp kind */
    s.mode = ANSWER_501;
    lb = one_backend(s.port, "");
    h = lb_health_new(loop, &OPTS, NULL, NULL);
    assert_int_equal(lb_health_sync(h, lb), 0);
    assert_true(run_until(loop, is_down, lb->be[0], 3));
    lb_health_free(h);
    lb_free(lb);
    srv_stop(&s);
    ev_loop_destroy(loop);
}

/* proxy_header=none: the probe is the bare HEAD (a server that reads no
 * PROXY header would take the header for a broken request). */
static void test_probe_without_proxy_header(void **state)
{
    (void)state;
    struct rig r;
    assert_int_equal(rig_start(&r, ANSWER_501, " probe=http proxy_header=none", &OPTS), 0);
    struct counts c = { r.h, 2, 0 };
    assert_true(run_until(r.loop, oks, &c, 3));
    assert_true(r.s.last_len > 5 && memcmp(r.s.last, "HEAD /sra_", 10) == 0);
    assert_false(r.be->health_down);
    rig_stop(&r);
}

int main(void)
{
    log_setup("test_lb_health", LOG_ERROR, LOG_TEXT);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sstp_probe_fall_rise),
        cmocka_unit_test(test_timeout_and_tcp),
        cmocka_unit_test(test_tls_setup_failure),
        cmocka_unit_test(test_local_emfile_no_verdict),
        cmocka_unit_test(test_sync_follows_generations),
        cmocka_unit_test(test_new_backend_waits_for_a_check),
        cmocka_unit_test(test_loop_stall_is_no_verdict),
        cmocka_unit_test(test_silent_backend_down_under_stalls),
        cmocka_unit_test(test_trickle_does_not_keep_a_check_alive),
        cmocka_unit_test(test_probe_names),
        cmocka_unit_test(test_http_probe_per_server),
        cmocka_unit_test(test_probe_without_proxy_header),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
