/* test_lb_redis.c — lb/redis.c against a real redis-server (and a real
 * redis-sentinel) this test starts on ephemeral loopback ports and stops
 * by pid: connect, AUTH + SELECT, commands, the bound on commands in flight
 * and its per-class shares, refusal while down, reconnection after the
 * server is killed and restarted, a hung (SIGSTOPped) server noticed by the
 * reply deadline, wrong ACL credentials and a db out of range keeping the
 * link down with nothing written, a host name resolved off the loop (also
 * against a slow DNS server in a network namespace of its own), and
 * -READONLY sending the client back to Sentinel. */
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
#include <dirent.h>
#include <sched.h>
#include <net/if.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <time.h>
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

/* starts argv[0] with its output thrown away; it dies with this test */
static pid_t spawn(const char *const argv[])
{
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        /* a failed assertion must not leave the server behind */
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        int devnull = open("/dev/null", O_WRONLY);
        dup2(devnull, 1);
        dup2(devnull, 2);
        execvp(argv[0], (char *const *)argv);
        _exit(127);
    }
    return pid;
}

static pid_t start_redis(int port, const char *password)
{
    char portarg[16];
    snprintf(portarg, sizeof portarg, "%d", port);
    if (password)
        return spawn((const char *const[]){ "redis-server", "--port", portarg, "--bind", "127.0.0.1",
                                            "--save", "", "--appendonly", "no", "--requirepass",
                                            password, NULL });
    return spawn((const char *const[]){ "redis-server", "--port", portarg, "--bind", "127.0.0.1",
                                        "--save", "", "--appendonly", "no", NULL });
}

static void stop_redis(pid_t pid)
{
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
}

/* SIGSTOP pid and wait (bounded) until the kernel shows it stopped, so
 * nothing sent afterwards can still be answered */
static void stop_process(pid_t pid)
{
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    kill(pid, SIGSTOP);
    for (int i = 0; i < 200; i++) {
        FILE *f = fopen(path, "r");
        size_t n = f ? fread(line, 1, sizeof line - 1, f) : 0;
        if (f)
            fclose(f);
        line[n] = '\0';
        const char *comm_end = strrchr(line, ')'); /* "pid (comm) S ..." */
        if (comm_end && comm_end[1] == ' ' && comm_end[2] == 'T')
            return;
        usleep(5 * 1000);
    }
    fail_msg("pid %d did not stop", (int)pid);
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

/* the client's defaults, aimed at the test's server on 127.0.0.1:port */
static void local_opts(struct rds_opts *o, int port)
{
    rds_opts_default(o);
    o->port = port;
}

/* frees the client, stops the server by pid and ends the loop */
static void finish(struct ctx *c, struct rds *r, pid_t pid)
{
    rds_free(r);
    stop_redis(pid);
    ev_loop_destroy(c->loop);
}

/* sends argv and runs the loop until its reply (at most 2 s); the reply
 * must read `want` */
static void expect_reply(struct ctx *c, struct rds *r, int argc, const char **argv, const char *want)
{
    c->stop_on_reply = true;
    c->last[0] = '\0';
    assert_int_equal(rds_cmdv(r, on_reply, c, argc, argv), 0);
    run_for(c, 2);
    assert_string_equal(c->last, want);
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
    local_opts(&o, port);
    snprintf(o.password, sizeof o.password, "pw1");
    o.db = 3;
    o.max_pending = 4;
    struct rds *r = rds_new(c.loop, &o, on_state, &c);
    assert_non_null(r);
    wait_up(&c, r, 1);

    const char *set[] = { "SET", "k", "v1" };
    const char *get[] = { "GET", "k" };
    expect_reply(&c, r, 3, set, "OK");
    expect_reply(&c, r, 2, get, "v1");
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
    expect_reply(&c, r, 3, set, "OK");
    assert_true(rds_stats(r)->connects >= 2);

    finish(&c, r, pid);
}

static void test_wrong_password_stays_down(void **state)
{
    (void)state;
    struct ctx c = { .loop = ev_loop_new(EVFLAG_AUTO) };
    int port = free_port();
    pid_t pid = start_redis(port, "right");
    struct rds_opts o;
    local_opts(&o, port);
    snprintf(o.password, sizeof o.password, "wrong");
    struct rds *r = rds_new(c.loop, &o, on_state, &c);
    run_for(&c, 1.0);
    assert_int_equal(c.ups, 0);
    assert_false(rds_is_up(r));
    finish(&c, r, pid);
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
    local_opts(&o, port);
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
    finish(&c, r, pid);
}

/* a blocking side channel to the server, as an operator would look */
static redisContext *peek(int port, const char *password)
{
    redisContext *sync = NULL;
    for (int i = 0; i < 50; i++) { /* the server may still be starting */
        sync = redisConnect("127.0.0.1", port);
        if (sync && !sync->err)
            break;
        redisFree(sync);
        sync = NULL;
        usleep(50 * 1000);
    }
    assert_non_null(sync);
    if (password)
        freeReplyObject(redisCommand(sync, "AUTH %s", password));
    return sync;
}

static long long peek_int(redisContext *sync, const char *cmd)
{
    redisReply *rep = redisCommand(sync, cmd);
    assert_non_null(rep);
    assert_int_equal(rep->type, REDIS_REPLY_INTEGER);
    long long v = rep->integer;
    freeReplyObject(rep);
    return v;
}

/* no key in any db of the server */
static void assert_server_empty(int port)
{
    redisContext *sync = peek(port, NULL);
    redisReply *rep = redisCommand(sync, "INFO keyspace");
    assert_non_null(rep);
    assert_null(strstr(rep->str, "keys="));
    freeReplyObject(rep);
    redisFree(sync);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* runs the loop until c->downs reaches want or secs pass; returns the time taken */
static double wait_downs(struct ctx *c, int want, double secs)
{
    double t0 = now_s();
    while (c->downs < want && now_s() - t0 < secs)
        run_for(c, 0.05);
    return now_s() - t0;
}

static double wait_ups(struct ctx *c, int want, double secs)
{
    double t0 = now_s();
    while (c->ups < want && now_s() - t0 < secs)
        run_for(c, 0.05);
    return now_s() - t0;
}

/* A server that hangs (SIGSTOP: its kernel still accepts and ACKs) is
 * noticed by the reply deadline, idle (watchdog PING) and under traffic;
 * after SIGCONT the client is back and commands flow. */
static void test_hung_server_deadline(void **state)
{
    (void)state;
    struct ctx c = { .loop = ev_loop_new(EVFLAG_AUTO) };
    int port = free_port();
    pid_t pid = start_redis(port, NULL);
    struct rds_opts o;
    local_opts(&o, port);
    o.reply_timeout = 1.0;
    o.connect_timeout = 1.0;
    struct rds *r = rds_new(c.loop, &o, on_state, &c);
    wait_up(&c, r, 1);
    assert_int_equal(rds_stats(r)->resolves, 0); /* an IP literal skips the resolver */

    /* idle: only the watchdog's PING can find out */
    run_for(&c, 0.3);
    stop_process(pid);
    double took = wait_downs(&c, 1, 5);
    assert_int_equal(c.downs, 1);
    /* idle PING after at most 0.5 s, then the 1 s deadline, + loop slack */
    assert_true(took < 1.5 + 1.0);
    assert_false(rds_is_up(r));
    assert_int_equal(rds_down_reason(r), RDS_ERR_TIMEOUT);
    assert_int_equal(rds_stats(r)->err[RDS_ERR_TIMEOUT], 1);
    assert_true(rds_stats(r)->pings >= 1);
    const char *set[] = { "SET", "k", "v2" };
    assert_int_equal(rds_cmdv(r, on_reply, &c, 3, set), -1); /* refused while down */

    kill(pid, SIGCONT);
    wait_ups(&c, 2, 6);
    assert_int_equal(c.ups, 2);
    expect_reply(&c, r, 3, set, "OK");

    /* under traffic: the commands owed a reply time out, their callers
     * hear "no answer" (NULL) */
    c.stop_on_reply = false;
    stop_process(pid);
    int nulls = c.nulls;
    for (int i = 0; i < 10; i++)
        assert_int_equal(rds_cmdv(r, on_reply, &c, 3, set), 0);
    took = wait_downs(&c, 2, 5);
    assert_int_equal(c.downs, 2);
    assert_true(took < 1.0 + 1.0);
    assert_int_equal(c.nulls, nulls + 10);
    assert_int_equal(rds_stats(r)->in_flight, 0);
    kill(pid, SIGCONT);
    wait_ups(&c, 3, 6);
    assert_int_equal(c.ups, 3);

    finish(&c, r, pid);
}

/* ACL: user alice with a wrong password while the default user is open:
 * down (reason auth), never "up as default", nothing written; the right
 * password then connects as alice. */
static void test_acl_wrong_password(void **state)
{
    (void)state;
    struct ctx c = { .loop = ev_loop_new(EVFLAG_AUTO) };
    int port = free_port();
    char portarg[16];
    snprintf(portarg, sizeof portarg, "%d", port);
    pid_t pid = spawn((const char *const[]){ "redis-server", "--port", portarg, "--bind", "127.0.0.1",
                                             "--save", "", "--appendonly", "no", "--user",
                                             "alice", "on", ">right", "~*", "&*", "+@all", NULL });
    struct rds_opts o;
    rds_opts_default(&o);
    assert_int_equal(rds_parse_url(&o, "redis://alice:wrong@127.0.0.1"), 0);
    o.port = port;
    struct rds *r = rds_new(c.loop, &o, on_state, &c);
    wait_ups(&c, 1, 1.5);
    assert_int_equal(c.ups, 0);
    assert_false(rds_is_up(r));
    assert_int_equal(rds_down_reason(r), RDS_ERR_AUTH);
    assert_true(rds_stats(r)->err[RDS_ERR_AUTH] >= 1);
    const char *set[] = { "SET", "written", "1" };
    assert_int_equal(rds_cmdv(r, NULL, NULL, 3, set), -1);
    run_for(&c, 0.2);
    assert_server_empty(port);
    rds_free(r);

    snprintf(o.password, sizeof o.password, "right");
    r = rds_new(c.loop, &o, on_state, &c);
    wait_up(&c, r, 1);
    const char *whoami[] = { "ACL", "WHOAMI" };
    expect_reply(&c, r, 2, whoami, "alice");
    finish(&c, r, pid);
}

/* redis://host:port/20 on a server with 16 dbs: SELECT is refused, the
 * link stays down (reason select) and nothing lands in db 0 or elsewhere. */
static void test_db_out_of_range(void **state)
{
    (void)state;
    struct ctx c = { .loop = ev_loop_new(EVFLAG_AUTO) };
    int port = free_port();
    pid_t pid = start_redis(port, NULL);
    struct rds_opts o;
    rds_opts_default(&o);
    char url[64];
    snprintf(url, sizeof url, "redis://127.0.0.1:%d/20", port);
    assert_int_equal(rds_parse_url(&o, url), 0);
    assert_int_equal(o.db, 20);
    struct rds *r = rds_new(c.loop, &o, on_state, &c);
    wait_ups(&c, 1, 1.5);
    assert_int_equal(c.ups, 0);
    assert_int_equal(rds_down_reason(r), RDS_ERR_SELECT);
    assert_true(rds_stats(r)->err[RDS_ERR_SELECT] >= 1);
    const char *set[] = { "SET", "written", "1" };
    assert_int_equal(rds_cmdv(r, NULL, NULL, 3, set), -1);
    run_for(&c, 0.2);
    redisContext *sync = peek(port, NULL);
    assert_int_equal(peek_int(sync, "DBSIZE"), 0);
    redisFree(sync);
    assert_server_empty(port);
    rds_free(r);

    /* the tools' synchronous connection refuses it too */
    char err[256] = "";
    assert_null(rds_sync_connect(&o, 1.0, err, sizeof err));
    assert_non_null(strstr(err, "SELECT"));
    stop_redis(pid);
    ev_loop_destroy(c.loop);
}

struct ticker {
    ev_timer t;
    double last, max_gap;
    int ticks;
};

static void tick_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)revents;
    struct ticker *k = (struct ticker *)w;
    double now = now_s();
    if (k->ticks++ && now - k->last > k->max_gap)
        k->max_gap = now - k->last;
    k->last = now;
    (void)loop;
}

/* A host name is resolved by the resolver's threads: the loop keeps
 * turning (a 10 ms timer never misses by much) and the client comes up. */
static void test_name_resolved_off_loop(void **state)
{
    (void)state;
    struct ctx c = { .loop = ev_loop_new(EVFLAG_AUTO) };
    int port = free_port();
    char portarg[16];
    snprintf(portarg, sizeof portarg, "%d", port);
    /* "localhost" may resolve to ::1 first: listen on both when there is IPv6 */
    pid_t pid = spawn((const char *const[]){ "redis-server", "--port", portarg, "--bind",
                                             "127.0.0.1", "-::1", "--save", "", "--appendonly", "no",
                                             NULL });
    struct ticker k = { 0 };
    ev_timer_init(&k.t, tick_cb, 0.01, 0.01);
    ev_timer_start(c.loop, &k.t);
    struct rds_opts o;
    rds_opts_default(&o);
    snprintf(o.host, sizeof o.host, "localhost");
    o.port = port;
    struct rds *r = rds_new(c.loop, &o, on_state, &c);
    wait_up(&c, r, 1);
    assert_true(rds_stats(r)->resolves >= 1);
    run_for(&c, 0.2);
    assert_true(k.ticks >= 10);
    assert_true(k.max_gap < 0.25); /* a blocked loop would miss ticks */
    const char *ping[] = { "PING" };
    expect_reply(&c, r, 1, ping, "PONG");
    ev_timer_stop(c.loop, &k.t);
    finish(&c, r, pid);
}

/* ---- a slow DNS server, in a network and mount namespace of its own ---- */

#define SLOW_DNS_DELAY_US 400000 /* per answer; A and AAAA: ~0.8 s in all */
#define SLOW_DNS_CHILD "--slow-dns-child" /* argv[1] of the re-executed test */

/* Answers every query on 127.0.0.1:53 after SLOW_DNS_DELAY_US: A with
 * 127.0.0.1, anything else with no data; a name with "silent" in it gets
 * no answer at all. Runs until killed. */
static void fake_dns(void)
{
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(53),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    if (fd == -1 || bind(fd, (struct sockaddr *)&a, sizeof a) == -1)
        _exit(2);
    for (;;) {
        uint8_t q[512], out[600];
        struct sockaddr_in from;
        socklen_t from_len = sizeof from;
        ssize_t n = recvfrom(fd, q, sizeof q, 0, (struct sockaddr *)&from, &from_len);
        if (n < 12 + 5)
            continue;
        size_t end = 12; /* the question: labels, then type and class */
        while (end < (size_t)n && q[end])
            end += (size_t)q[end] + 1;
        if (end + 5 > (size_t)n || memmem(q + 12, end - 12, "silent", 6))
            continue;
        end += 5;
        bool is_a = q[end - 4] == 0 && q[end - 3] == 1;
        usleep(SLOW_DNS_DELAY_US);
        memcpy(out, q, end);
        out[2] = 0x81; /* response, recursion desired */
        out[3] = 0x80; /* recursion available, NOERROR */
        out[6] = 0;
        out[7] = is_a ? 1 : 0; /* ANCOUNT */
        out[8] = out[9] = out[10] = out[11] = 0;
        size_t len = end;
        if (is_a) {
            const uint8_t answer[] = { 0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 127, 0, 0, 1 };
            memcpy(out + len, answer, sizeof answer);
            len += sizeof answer;
        }
        sendto(fd, out, len, 0, (struct sockaddr *)&from, from_len);
    }
}

#define CHILD_CHECK(cond)                                                            \
    do {                                                                             \
        if (!(cond)) {                                                               \
            fprintf(stderr, "slow_dns: %s:%d: %s\n", __FILE__, __LINE__, #cond);     \
            result = 1;                                                              \
            goto out;                                                                \
        }                                                                            \
    } while (0)

/* In a fresh network namespace (only lo) whose resolv.conf names the fake
 * DNS server: a name that takes ~0.8 s to resolve connects while a 10 ms
 * timer never misses a beat; a name never answered ends as reason resolve
 * after connect_timeout, loop still turning. Returns the exit code. */
static int slow_dns_child(void)
{
    int result = 0;
    pid_t dns = -1, redis = -1;
    struct rds *r = NULL;
    struct ctx c = { 0 };
    if (unshare(CLONE_NEWNET | CLONE_NEWNS) == -1 ||
        mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) == -1)
        return 3;
    int s = socket(AF_INET, SOCK_DGRAM, 0);
    struct ifreq ifr = { 0 };
    snprintf(ifr.ifr_name, sizeof ifr.ifr_name, "lo");
    ifr.ifr_flags = IFF_UP | IFF_LOOPBACK | IFF_RUNNING;
    if (s == -1 || ioctl(s, SIOCSIFFLAGS, &ifr) == -1)
        return 4;
    close(s);
    char conf[] = "/tmp/test_lb_redis_resolv.XXXXXX";
    int fd = mkstemp(conf);
    const char text[] = "nameserver 127.0.0.1\noptions timeout:3 attempts:1\n";
    if (fd == -1 || write(fd, text, sizeof text - 1) != (ssize_t)(sizeof text - 1))
        return 5;
    close(fd);
    if (mount(conf, "/etc/resolv.conf", NULL, MS_BIND, NULL) == -1)
        return 6;
    unlink(conf);

    if ((dns = fork()) == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        fake_dns();
    }
    int port = free_port();
    redis = start_redis(port, NULL);
    c.loop = ev_loop_new(EVFLAG_AUTO);
    struct ticker k = { 0 };
    ev_timer_init(&k.t, tick_cb, 0.01, 0.01);
    ev_timer_start(c.loop, &k.t);
    struct rds_opts o;
    local_opts(&o, port);
    snprintf(o.host, sizeof o.host, "slow.sstp-lb.test");
    o.connect_timeout = 3.0;
    double t0 = now_s();
    r = rds_new(c.loop, &o, on_state, &c);
    while (!rds_is_up(r) && now_s() - t0 < 6)
        run_for(&c, 0.05);
    double took = now_s() - t0;
    CHILD_CHECK(rds_is_up(r));
    CHILD_CHECK(rds_stats(r)->resolves >= 1);
    CHILD_CHECK(took >= 2 * SLOW_DNS_DELAY_US / 1e6 * 0.9); /* it really waited for the DNS */
    CHILD_CHECK(k.max_gap < 0.1);                          /* and the loop did not */
    CHILD_CHECK(k.ticks >= (int)(took / 0.01 / 2));
    rds_free(r);

    /* never answered: given up after connect_timeout, the loop unharmed */
    snprintf(o.host, sizeof o.host, "silent.sstp-lb.test");
    o.connect_timeout = 0.5;
    k.max_gap = 0;
    t0 = now_s();
    r = rds_new(c.loop, &o, on_state, &c);
    while (rds_stats(r)->err[RDS_ERR_RESOLVE] == 0 && now_s() - t0 < 3)
        run_for(&c, 0.05);
    CHILD_CHECK(rds_down_reason(r) == RDS_ERR_RESOLVE);
    CHILD_CHECK(now_s() - t0 < 0.5 + 0.5);
    CHILD_CHECK(k.max_gap < 0.1);
    fprintf(stderr, "slow_dns: connected after %.2fs of resolving, longest loop gap %.3fs\n", took,
            k.max_gap);
out:
    rds_free(r); /* an abandoned resolution frees itself when glibc gives up */
    if (c.loop) {
        ev_timer_stop(c.loop, &k.t);
        ev_loop_destroy(c.loop);
    }
    if (redis > 0)
        stop_redis(redis);
    if (dns > 0)
        stop_redis(dns);
    return result;
}

static void test_slow_dns_off_loop(void **state)
{
    (void)state;
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) { /* a fresh process: glibc's resolver threads do not survive fork */
        execl("/proc/self/exe", "test_lb_redis", SLOW_DNS_CHILD, (char *)NULL);
        _exit(127);
    }
    int status = -1;
    for (int i = 0; i < 300 && waitpid(pid, &status, WNOHANG) == 0; i++)
        usleep(50 * 1000);
    if (waitpid(pid, &status, WNOHANG) == 0) {
        kill(pid, SIGKILL);
        waitpid(pid, &status, 0);
        fail_msg("the slow DNS test did not end in 15 s");
    }
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
}

/* Neither class can take the other's share of max_pending. */
static void test_class_shares(void **state)
{
    (void)state;
    struct ctx c = { .loop = ev_loop_new(EVFLAG_AUTO) };
    int port = free_port();
    pid_t pid = start_redis(port, NULL);
    struct rds_opts o;
    local_opts(&o, port);
    o.max_pending = 16; /* 14 each, 2 kept for the other class */
    struct rds *r = rds_new(c.loop, &o, on_state, &c);
    wait_up(&c, r, 1);
    const char *incr[] = { "INCR", "n" };
    const char *get[] = { "GET", "n" };
    /* nothing is answered until the loop runs again: all stay in flight */
    for (int i = 0; i < 14; i++)
        assert_int_equal(rds_cmdv(r, NULL, NULL, 2, incr), 0);
    assert_int_equal(rds_cmdv(r, NULL, NULL, 2, incr), -1);
    assert_int_equal(rds_stats(r)->dropped_full, 1);
    assert_int_equal(rds_cmdv(r, on_reply, &c, 2, get), 0); /* reads still pass */
    assert_int_equal(rds_cmdv(r, on_reply, &c, 2, get), 0);
    assert_int_equal(rds_cmdv(r, on_reply, &c, 2, get), -1); /* max_pending reached */
    assert_int_equal(rds_stats(r)->dropped_full, 2);
    assert_int_equal(rds_stats(r)->in_flight, 16);
    run_for(&c, 0.3);
    assert_int_equal(rds_stats(r)->in_flight, 0);
    assert_int_equal(c.replies, 2);
    /* and the other way round */
    for (int i = 0; i < 14; i++)
        assert_int_equal(rds_cmdv(r, on_reply, &c, 2, get), 0);
    assert_int_equal(rds_cmdv(r, on_reply, &c, 2, get), -1);
    assert_int_equal(rds_cmd_class(r, RDS_WRITE, on_reply, &c, 2, incr, NULL), 0);
    run_for(&c, 0.3);
    assert_int_equal(rds_stats(r)->in_flight, 0);
    assert_int_equal(rds_stats(r)->dropped_full, 3);
    finish(&c, r, pid);
}

/* removes dir and the files in it (what the servers a test ran wrote) */
static void remove_dir(const char *dir)
{
    DIR *d = opendir(dir);
    assert_non_null(d);
    for (struct dirent *e; (e = readdir(d)) != NULL;) {
        char path[512];
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        unlink(path);
    }
    closedir(d);
    assert_int_equal(rmdir(dir), 0);
}

/* Behind a real redis-sentinel (with its own password) monitoring a master
 * and its replica: the client finds the master; when that server turns
 * replica a write gets -READONLY, the client drops it and asks Sentinel
 * again; ROLE keeps it from settling on a replica; once the server is a
 * master again the client is back. A hung master (reply deadline) sends it
 * back to Sentinel too, and after SENTINEL FAILOVER it writes to the
 * promoted replica. */
static void test_sentinel_readonly(void **state)
{
    (void)state;
    struct ctx c = { .loop = ev_loop_new(EVFLAG_AUTO) };
    int mport = free_port(), rport = free_port(), sport = free_port(), nowhere = free_port();
    char mp[16], rp[16];
    snprintf(mp, sizeof mp, "%d", mport);
    snprintf(rp, sizeof rp, "%d", rport);
    /* every file the servers write (sync RDBs, Sentinel's config) goes here */
    char dir[] = "/tmp/test_lb_redis.XXXXXX";
    assert_non_null(mkdtemp(dir));
    /* no diskless-sync delay: the replica is in sync (a failover candidate) at once */
    pid_t master = spawn((const char *const[]){ "redis-server", "--port", mp, "--bind", "127.0.0.1",
                                                "--save", "", "--appendonly", "no", "--dir", dir,
                                                "--dbfilename", "master.rdb",
                                                "--repl-diskless-sync-delay", "0", NULL });
    pid_t replica = spawn((const char *const[]){ "redis-server", "--port", rp, "--bind", "127.0.0.1",
                                                 "--save", "", "--appendonly", "no", "--dir", dir,
                                                 "--dbfilename", "replica.rdb", "--replicaof",
                                                 "127.0.0.1", mp, NULL });
    char conf[64];
    snprintf(conf, sizeof conf, "%s/sentinel.conf", dir);
    FILE *f = fopen(conf, "w");
    assert_non_null(f);
    fprintf(f, "port %d\nbind 127.0.0.1\ndir %s\nrequirepass spw\n"
               "sentinel monitor mymaster 127.0.0.1 %d 1\n"
               "sentinel down-after-milliseconds mymaster 60000\n", sport, dir, mport);
    fclose(f);
    pid_t sentinel = spawn((const char *const[]){ "redis-sentinel", conf, NULL });

    struct rds_opts o;
    rds_opts_default(&o);
    char list[32];
    snprintf(list, sizeof list, "127.0.0.1:%d", sport);
    assert_int_equal(rds_parse_sentinels(&o, list), 0);
    /* a wrong Sentinel password: no master, down */
    snprintf(o.sentinel_password, sizeof o.sentinel_password, "wrong");
    struct rds *r = rds_new(c.loop, &o, on_state, &c);
    wait_ups(&c, 1, 1.5);
    assert_int_equal(c.ups, 0);
    assert_true(rds_stats(r)->err[RDS_ERR_AUTH] >= 1);
    rds_free(r);

    snprintf(o.sentinel_password, sizeof o.sentinel_password, "spw");
    o.reply_timeout = 1.0;
    r = rds_new(c.loop, &o, on_state, &c);
    wait_up(&c, r, 1);
    uint64_t asked = rds_stats(r)->sentinel_queries;
    assert_true(asked >= 1);
    const char *set[] = { "SET", "k", "v" };
    expect_reply(&c, r, 3, set, "OK");

    /* the master turns replica (of a server that is not there) */
    redisContext *sync = peek(mport, NULL);
    char cmd[64];
    snprintf(cmd, sizeof cmd, "REPLICAOF 127.0.0.1 %d", nowhere);
    freeReplyObject(redisCommand(sync, cmd));
    c.stop_on_reply = false;
    assert_int_equal(rds_cmdv(r, on_reply, &c, 3, set), 0);
    wait_downs(&c, 1, 3);
    assert_int_equal(c.downs, 1);
    assert_int_equal(rds_stats(r)->err[RDS_ERR_READONLY], 1);
    run_for(&c, 1.0);
    assert_false(rds_is_up(r));
    assert_true(rds_stats(r)->sentinel_queries > asked); /* asked again */
    assert_true(rds_stats(r)->err[RDS_ERR_ROLE] >= 1);   /* and refused the replica */

    freeReplyObject(redisCommand(sync, "REPLICAOF NO ONE"));
    redisFree(sync);
    wait_ups(&c, 2, 8);
    assert_int_equal(c.ups, 2);
    expect_reply(&c, r, 3, set, "OK");

    /* the master hangs: the reply deadline drops it and Sentinel is asked again */
    asked = rds_stats(r)->sentinel_queries;
    stop_process(master);
    wait_downs(&c, 2, 4);
    assert_int_equal(c.downs, 2);
    assert_int_equal(rds_down_reason(r), RDS_ERR_TIMEOUT);
    run_for(&c, 0.5);
    kill(master, SIGCONT);
    wait_ups(&c, 3, 8);
    assert_int_equal(c.ups, 3);
    assert_true(rds_stats(r)->sentinel_queries > asked);

    /* a real failover: Sentinel promotes the replica; the client follows */
    redisContext *sent = peek(sport, "spw");
    redisReply *rep = NULL;
    for (int i = 0; i < 50; i++) { /* until Sentinel knows a good replica */
        rep = redisCommand(sent, "SENTINEL FAILOVER mymaster");
        if (rep && rep->type == REDIS_REPLY_STATUS)
            break;
        freeReplyObject(rep);
        rep = NULL;
        run_for(&c, 0.2);
    }
    assert_non_null(rep);
    freeReplyObject(rep);
    redisFree(sent);
    for (int i = 0; i < 100 && !(c.ups > 3 && rds_is_up(r)); i++)
        run_for(&c, 0.1);
    assert_true(c.ups > 3 && rds_is_up(r));
    const char *moved[] = { "SET", "after", "failover" };
    expect_reply(&c, r, 3, moved, "OK");
    sync = peek(rport, NULL); /* it landed on the promoted replica */
    rep = redisCommand(sync, "GET after");
    assert_non_null(rep);
    assert_int_equal(rep->type, REDIS_REPLY_STRING);
    assert_string_equal(rep->str, "failover");
    freeReplyObject(rep);
    redisFree(sync);

    rds_free(r);
    stop_redis(sentinel);
    stop_redis(replica);
    stop_redis(master);
    remove_dir(dir);
    ev_loop_destroy(c.loop);
}

int main(int argc, char **argv)
{
    signal(SIGPIPE, SIG_IGN);
    if (argc == 2 && strcmp(argv[1], SLOW_DNS_CHILD) == 0)
        return slow_dns_child();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_url),
        cmocka_unit_test(test_commands_auth_and_reconnect),
        cmocka_unit_test(test_wrong_password_stays_down),
        cmocka_unit_test(test_subscribe),
        cmocka_unit_test(test_hung_server_deadline),
        cmocka_unit_test(test_acl_wrong_password),
        cmocka_unit_test(test_db_out_of_range),
        cmocka_unit_test(test_name_resolved_off_loop),
        cmocka_unit_test(test_slow_dns_off_loop),
        cmocka_unit_test(test_class_shares),
        cmocka_unit_test(test_sentinel_readonly),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
