/* test_lb_script.c — lb/script.c against a real redis-server: a script is
 * sent by its SHA-1, sent whole once when Redis answers NOSCRIPT (first
 * use, SCRIPT FLUSH, a restarted Redis), and its reply reaches the caller
 * either way; a script error reaches the caller as an error reply. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <hiredis/hiredis.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lb/redis.h"
#include "lb/script.h"
#include "tests/unit/helpers.h"
#include "tests/unit/redis_server.h"

struct ctx {
    struct ev_loop *loop;
    int replies;
    long long last;
    bool last_error;
};

static void on_reply(const struct redisReply *r, void *ud)
{
    struct ctx *c = ud;
    c->replies++;
    c->last_error = !r || r->type == REDIS_REPLY_ERROR;
    c->last = r && r->type == REDIS_REPLY_INTEGER ? r->integer : -1;
    ev_break(c->loop, EVBREAK_ONE);
}

/* calls of cmd so far, from INFO commandstats */
static long long calls(redisContext *c, const char *cmd)
{
    char needle[64];
    redisReply *r = redisCommand(c, "INFO commandstats");
    snprintf(needle, sizeof needle, "cmdstat_%s:calls=", cmd);
    const char *p = strstr(r->str, needle);
    long long n = p ? atoll(p + strlen(needle)) : 0;
    freeReplyObject(r);
    return n;
}

static void call(struct ctx *c, struct rds *r, const struct lb_script *s, const char *key, const char *by)
{
    const char *args[] = { key, by };
    int before = c->replies;
    assert_int_equal(lb_script_call(r, s, on_reply, c, 1, 2, args), 0);
    for (int i = 0; i < 100 && c->replies == before; i++)
        run_loop_for(c->loop, 0.02);
    assert_int_equal(c->replies, before + 1);
}

static void test_evalsha_then_eval(void **state)
{
    (void)state;
    struct ctx c = { .loop = ev_loop_new(EVFLAG_AUTO) };
    int port = test_redis_port();
    pid_t pid = test_redis_start(port);
    redisContext *ins = test_redis_inspect(port);
    struct rds_opts o;
    rds_opts_default(&o);
    o.port = port;
    struct rds *r = rds_new(c.loop, &o, NULL, NULL);
    for (int i = 0; i < 100 && !rds_is_up(r); i++)
        run_loop_for(c.loop, 0.02);
    assert_true(rds_is_up(r));
    struct lb_script s, bad;
    lb_script_init(&s, "return redis.call('INCRBY', KEYS[1], ARGV[1])");
    lb_script_init(&bad, "return redis.call('HGET', KEYS[1], 'x')"); /* WRONGTYPE on a string */
    /* SHA-1 of the body, as Redis names it */
    redisReply *sha = redisCommand(ins, "SCRIPT LOAD %s", s.src);
    assert_string_equal(sha->str, s.sha1);
    freeReplyObject(sha);
    redisReply *fl = redisCommand(ins, "SCRIPT FLUSH");
    freeReplyObject(fl);

    call(&c, r, &s, "n", "5"); /* NOSCRIPT, then EVAL */
    assert_false(c.last_error);
    assert_int_equal(c.last, 5);
    assert_int_equal(calls(ins, "eval"), 1);
    assert_int_equal(calls(ins, "evalsha"), 1);
    call(&c, r, &s, "n", "2"); /* cached now */
    assert_int_equal(c.last, 7);
    assert_int_equal(calls(ins, "eval"), 1);
    assert_int_equal(calls(ins, "evalsha"), 2);
    freeReplyObject(redisCommand(ins, "SCRIPT FLUSH")); /* as after a restart */
    call(&c, r, &s, "n", "1");
    assert_int_equal(c.last, 8);
    assert_int_equal(calls(ins, "eval"), 2);
    call(&c, r, &bad, "n", "0"); /* the script's own error is the caller's */
    assert_true(c.last_error);

    rds_free(r);
    redisFree(ins);
    test_redis_stop(pid);
    ev_loop_destroy(c.loop);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_evalsha_then_eval),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
