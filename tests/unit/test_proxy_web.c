/* test_proxy_web.c — unit tests of px_web_wanted (proxy/web.c): which
 * rejected heads go to the web backend (another method or URI, any
 * end-of-head error of a request for another path) and which stay
 * refused (a malformed or too long head, a broken request for the SSTP
 * URI, anything when no web backend is configured). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "proxy/web.h"
#include "sstp/limits.h"

static struct sstp_http_req req;

static enum sstp_rc feed(const char *head)
{
    size_t used;
    sstp_http_req_init(&req, 0);
    return sstp_http_req_feed(&req, (const uint8_t *)head, strlen(head), &used);
}

static bool wanted(bool on, const char *head)
{
    struct px_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.web.on = on;
    enum sstp_rc rc = feed(head);
    return px_web_wanted(&cfg, &req, rc);
}

#define SSTP_POST "SSTP_DUPLEX_POST " SSTP_HTTP_URI

static void test_wanted(void **state)
{
    (void)state;
    /* not SSTP: another URI, another method, HTTP/1.0 or no Host elsewhere */
    assert_true(wanted(true, "GET / HTTP/1.1\r\nHost: www.example.test\r\n\r\n"));
    assert_true(wanted(true, "POST /api?x=1 HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\n"));
    assert_true(wanted(true, "GET " SSTP_HTTP_URI " HTTP/1.1\r\nHost: a\r\n\r\n"));
    assert_true(wanted(true, "GET /index.html HTTP/1.0\r\n\r\n"));
    assert_true(wanted(true, "HEAD /favicon.ico HTTP/1.1\r\nHost: a\r\n\r\n"));
    /* off: nothing goes anywhere */
    assert_false(wanted(false, "GET / HTTP/1.1\r\nHost: www.example.test\r\n\r\n"));
    /* broken requests for the SSTP URI stay refused, in any case of the URI */
    assert_false(wanted(true, SSTP_POST " HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\n"));
    assert_false(wanted(true, SSTP_POST " HTTP/1.0\r\nHost: a\r\n"
                              "Content-Length: 18446744073709551615\r\n\r\n"));
    assert_false(wanted(true, "SSTP_DUPLEX_POST /SRA_{ba195980-cd49-458B-9e23-c84ee0adcd75}/?tenantid=x "
                              "HTTP/1.1\r\nContent-Length: 18446744073709551615\r\n\r\n"));
    /* malformed heads are nobody's */
    assert_false(wanted(true, "GET / HTTP/1.1\r\nbad header\r\n\r\n"));
    assert_false(wanted(true, "GET /\r\n\r\n"));
    /* a valid SSTP request is not an error at all */
    struct px_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.web.on = true;
    assert_int_equal(feed(SSTP_POST " HTTP/1.1\r\nHost: a\r\nContent-Length: 18446744073709551615\r\n\r\n"),
                     SSTP_OK);
    assert_false(px_web_wanted(&cfg, &req, SSTP_OK));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_wanted),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
