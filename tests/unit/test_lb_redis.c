/* test_lb_redis.c — lb/redis.c against a real redis-server this test starts
 * on an ephemeral loopback port: connect, AUTH + SELECT, commands, the
 * bound on commands in flight, refusal while down, and reconnection after
 * the server is killed and restarted. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <hiredis/hiredis.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lb/redis.h"

static int free_port(void)
{
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t len = sizeof a;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_int_not_equal(fd, -1);
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
    close(fd);
    return ntohs(a.sin_port);
}

static pid_t start_redis(int port, const char *password)
{
    char portarg[16];
    snprintf(portarg, sizeof portarg, "%d", port);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        /* a failed assertion must not leave the server behind */
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        int devnull = open("/dev/null", O_WRONLY);
        dup2(devnull, 1);
        dup2(devnull, 2);
        if (password)
            execlp("redis-server", "redis-server", "--port", portarg, "--bind", "127.0.0.1",
                   "--save", "", "--appendonly", "no", "--requirepass", password, (char *)NULL);
        else
            execlp("redis-server", "redis-server", "--port", portarg, "--bind", "127.0.0.1",
                   "--save", "", "--appendonly", "no", (char *)NULL);
        _exit(127);
    }
    return pid;
}

static void stop_redis(pid_t pid)
{
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
}

struct ctx {
    struct ev_loop *loop;
    int ups, downs;
    int replies, nulls;
    char last[64];
    bool stop_on_reply;
};

static void on_state(bool up, void *ud)
{
    struct ctx *c = ud;
    if (up)
        c->ups++;
    else
        c->downs++;
    ev_break(c->loop, EVBREAK_ONE);
}

static void on_reply(const struct redisReply *r, void *ud)
{
    struct ctx *c = ud;
    if (!r) {
        c->nulls++;
    } else {
        c->replies++;
        if (r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_STATUS)
            snprintf(c->last, sizeof c->last, "%s", r->str);
        else if (r->type == REDIS_REPLY_INTEGER)
            snprintf(c->last, sizeof c->last, "%lld", r->integer);
        else if (r->type == REDIS_REPLY_ERROR)
            snprintf(c->last, sizeof c->last, "ERR");
    }
    if (c->stop_on_reply)
        ev_break(c->loop, EVBREAK_ONE);
}

static void deadline_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)w;
    (void)revents;
    ev_break(loop, EVBREAK_ONE);
}

/* runs the loop until something breaks it or `secs` pass */
static void run_for(struct ctx *c, double secs)
{
    ev_timer t;
    ev_timer_init(&t, deadline_cb, secs, 0);
    ev_timer_start(c->loop, &t);
    ev_run(c->loop, 0);
    ev_timer_stop(c->loop, &t);
}

static void wait_up(struct ctx *c, struct rds *r, int want_ups)
{
    for (int i = 0; i < 100 && c->ups < want_ups; i++)
        run_for(c, 0.1);
    assert_int_equal(c->ups, want_ups);
    assert_true(rds_is_up(r));
}

static void test_url(void **state)
{
    (void)state;
    struct rds_opts o;
    rds_opts_default(&o);
    assert_int_equal(rds_parse_url(&o, "redis://ops:s3cret@10.1.2.3:6380/2"), 0);
    assert_string_equal(o.user, "ops");
    assert_string_equal(o.password, "s3cret");
    assert_string_equal(o.host, "10.1.2.3");
    assert_int_equal(o.port, 6380);
    assert_int_equal(o.db, 2);
    rds_opts_default(&o);
    assert_int_equal(rds_parse_url(&o, "redis://pw@[::1]"), 0);
    assert_string_equal(o.password, "pw");
    assert_string_equal(o.host, "::1");
    assert_int_equal(o.port, 6379);
    assert_int_equal(rds_parse_url(&o, "redis://h:0"), -1);
    assert_int_equal(rds_parse_url(&o, "redis://h:1/x"), -1);
    assert_int_equal(rds_parse_url(&o, "redis://"), -1);
}

static void test_commands_auth_and_reconnect(void **state)
{
    (void)state;
    struct ctx c = { .loop = ev_loop_new(EVFLAG_AUTO) };
    int port = free_port();
    pid_t pid = start_redis(port, "pw1");
    struct rds_opts o;
    rds_opts_default(&o);
    o.port = port;
    snprintf(o.password, sizeof o.password, "pw1");
    o.db = 3;
    o.max_pending = 4;
    struct rds *r = rds_new(c.loop, &o, on_state, &c);
    assert_non_null(r);
    wait_up(&c, r, 1);

    const char *set[] = { "SET", "k", "v1" };
    const char *get[] = { "GET", "k" };
    c.stop_on_reply = true;
    assert_int_equal(rds_cmdv(r, on_reply, &c, 3, set), 0);
    run_for(&c, 2);
    assert_string_equal(c.last, "OK");
    assert_int_equal(rds_cmdv(r, on_reply, &c, 2, get), 0);
    run_for(&c, 2);
    assert_string_equal(c.last, "v1");
    /* SELECT 3 really happened: the key lives in db 3 */
    redisContext *sync = redisConnect("127.0.0.1", port);
    redisReply *rep = redisCommand(sync, "AUTH pw1");
    freeReplyObject(rep);
    rep = redisCommand(sync, "GET k");
    assert_int_equal(rep->type, REDIS_REPLY_NIL);
    freeReplyObject(rep);
    rep = redisCommand(sync, "SELECT 3");
    freeReplyObject(rep);
    rep = redisCommand(sync, "GET k");
    assert_string_equal(rep->str, "v1");
    freeReplyObject(rep);
    redisFree(sync);

    /* at most max_pending in flight; the rest is refused and counted */
    c.stop_on_reply = false;
    for (int i = 0; i < 4; i++)
        assert_int_equal(rds_cmdv(r, on_reply, &c, 2, get), 0);
    assert_int_equal(rds_cmdv(r, on_reply, &c, 2, get), -1);
    assert_int_equal(rds_stats(r)->dropped_full, 1);
    run_for(&c, 0.3);

    /* server killed: one down transition, commands refused, NULL replies for lost ones */
    stop_redis(pid);
    for (int i = 0; i < 50 && c.downs < 1; i++)
        run_for(&c, 0.1);
    assert_int_equal(c.downs, 1);
    assert_false(rds_is_up(r));
    assert_int_equal(rds_cmdv(r, on_reply, &c, 2, get), -1);
    assert_true(rds_stats(r)->dropped_down >= 1);

    /* restarted: back up by itself */
    pid = start_redis(port, "pw1");
    for (int i = 0; i < 100 && c.ups < 2; i++)
        run_for(&c, 0.1);
    assert_int_equal(c.ups, 2);
    c.stop_on_reply = true;
    assert_int_equal(rds_cmdv(r, on_reply, &c, 3, set), 0);
    run_for(&c, 2);
    assert_string_equal(c.last, "OK");
    assert_true(rds_stats(r)->connects >= 2);

    rds_free(r);
    stop_redis(pid);
    ev_loop_destroy(c.loop);
}

static void test_wrong_password_stays_down(void **state)
{
    (void)state;
    struct ctx c = { .loop = ev_loop_new(EVFLAG_AUTO) };
    int port = free_port();
    pid_t pid = start_redis(port, "right");
    struct rds_opts o;
    rds_opts_default(&o);
    o.port = port;
    snprintf(o.password, sizeof o.password, "wrong");
    struct rds *r = rds_new(c.loop, &o, on_state, &c);
    run_for(&c, 1.0);
    assert_int_equal(c.ups, 0);
    assert_false(rds_is_up(r));
    rds_free(r);
    stop_redis(pid);
    ev_loop_destroy(c.loop);
}

static void on_message(const struct redisReply *r, void *ud)
{
    struct ctx *c = ud;
    snprintf(c->last, sizeof c->last, "%s", r->element[2]->str);
    c->replies++;
    ev_break(c->loop, EVBREAK_ONE);
}

static void test_subscribe(void **state)
{
    (void)state;
    struct ctx c = { .loop = ev_loop_new(EVFLAG_AUTO) };
    int port = free_port();
    pid_t pid = start_redis(port, NULL);
    struct rds_opts o;
    rds_opts_default(&o);
    o.port = port;
    struct rds *r = rds_new(c.loop, &o, on_state, &c);
    wait_up(&c, r, 1);
    assert_int_equal(rds_subscribe(r, "sstp:ctl:be1", on_message, &c), 0);
    run_for(&c, 0.5); /* let the subscription settle */
    const char *pub[] = { "PUBLISH", "sstp:ctl:be1", "kick abc" };
    for (int i = 0; i < 20 && strcmp(c.last, "kick abc") != 0; i++) {
        rds_cmdv(r, NULL, NULL, 3, pub);
        run_for(&c, 0.2);
    }
    assert_string_equal(c.last, "kick abc");
    rds_free(r);
    stop_redis(pid);
    ev_loop_destroy(c.loop);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_url),
        cmocka_unit_test(test_commands_auth_and_reconnect),
        cmocka_unit_test(test_wrong_password_stays_down),
        cmocka_unit_test(test_subscribe),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
