/* redis_server.h — a real redis-server for unit tests: started on an
 * ephemeral loopback port without persistence, killed (by pid) when the
 * test stops it or the test process dies. */
#ifndef SSTP_LB_TESTS_UNIT_REDIS_SERVER_H
#define SSTP_LB_TESTS_UNIT_REDIS_SERVER_H

#include <sys/types.h>

struct redisContext;

/* test_redis_port: a free loopback TCP port. */
int test_redis_port(void);
/* test_redis_start runs redis-server on port. Returns its pid. */
pid_t test_redis_start(int port);
/* test_redis_stop: SIGKILL and reap. */
void test_redis_stop(pid_t pid);
/* test_redis_inspect: a synchronous connection, once the server answers
 * (fails the test after 2 s). */
struct redisContext *test_redis_inspect(int port);

#endif
