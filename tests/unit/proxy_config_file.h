/* proxy_config_file.h — the proxy config tests' loader, once: text written
 * to a temporary file, loaded by px_config_load, the file removed; and the
 * check that a refusal names file:line. Header-only: only tests that link
 * libproxy include it. */
#ifndef SSTP_LB_TESTS_UNIT_PROXY_CONFIG_FILE_H
#define SSTP_LB_TESTS_UNIT_PROXY_CONFIG_FILE_H

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "proxy/config.h"
#include "tests/unit/helpers.h"

/* the last loaded file's name, as errors quote it */
static char path[64];

/* Loads text; returns the rc and leaves the error in err. */
static inline int load(const char *text, struct px_config *c, char *err, size_t err_len)
{
    memset(c, 0, sizeof *c);
    snprintf(path, sizeof path, "/tmp/test_proxy_config_XXXXXX");
    temp_file_write(path, text);
    int rc = px_config_load(c, path, err, err_len);
    unlink(path);
    return rc;
}

/* text is refused at `where` (e.g. ":3: ") with `what` in the reason. */
static inline void expect_error(const char *text, const char *where, const char *what)
{
    struct px_config c;
    char err[512] = "";
    assert_int_equal(load(text, &c, err, sizeof err), -1);
    assert_config_error(err, path, where, what);
    px_config_free(&c);
}

#endif
