#include "tests/unit/helpers.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <ev.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

uint8_t *dup_exact(const void *p, size_t n)
{
    uint8_t *b = malloc(n ? n : 1);
    assert_non_null(b);
    if (n)
        memcpy(b, p, n);
    return b;
}

void temp_file_write(char *path, const char *text)
{
    int fd = mkstemp(path);
    assert_true(fd != -1);
    size_t n = strlen(text);
    assert_int_equal(write(fd, text, n), (ssize_t)n);
    close(fd);
}

void assert_config_error(const char *err, const char *path, const char *where, const char *what)
{
    char want[256];
    snprintf(want, sizeof want, "%s%s", path, where);
    if (!strstr(err, want) || !strstr(err, what))
        fail_msg("error '%s' lacks '%s' or '%s'", err, want, what);
}

static void stop_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)w;
    (void)revents;
    ev_break(loop, EVBREAK_ONE);
}

void run_loop_for(struct ev_loop *loop, double secs)
{
    ev_timer t;
    ev_now_update(loop);
    ev_timer_init(&t, stop_cb, secs, 0);
    ev_timer_start(loop, &t);
    ev_run(loop, 0);
    ev_timer_stop(loop, &t);
}
