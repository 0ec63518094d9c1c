/* helpers.h — small helpers shared by the unit tests (cmocka), each written
 * once: exact-size copies for ASan, temporary config files, the check of a
 * config error's file:line, and running an event loop for a while. */
#ifndef SSTP_LB_TESTS_UNIT_HELPERS_H
#define SSTP_LB_TESTS_UNIT_HELPERS_H

#include <stddef.h>
#include <stdint.h>

struct ev_loop;

/* dup_exact copies p into a heap block of exactly n bytes (1 when n is 0),
 * so ASan reports any read past the input. The caller frees it. */
uint8_t *dup_exact(const void *p, size_t n);

/* temp_file_write creates a file from the mkstemp template in path (e.g.
 * "/tmp/test_x_XXXXXX", rewritten in place) holding text. The caller
 * unlinks it. */
void temp_file_write(char *path, const char *text);

/* assert_config_error fails the test unless err names path followed by
 * where (e.g. ":3: ") and contains what. */
void assert_config_error(const char *err, const char *path, const char *where, const char *what);

/* run_loop_for runs loop for secs seconds counted from now (the checks
 * between runs take time), then returns. */
void run_loop_for(struct ev_loop *loop, double secs);

#endif
