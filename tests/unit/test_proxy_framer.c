/* test_proxy_framer.c — unit tests of proxy/framer.c: the units of a
 * backend-to-client stream (the HTTP answer head, then each SSTP packet,
 * MS-SSTP 2.2.1) come out the same whatever the stream is split into, with
 * bodies of every length class (empty, 1 byte, the 4095-byte maximum) and
 * headers split across reads. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "proxy/framer.h"

#define HEAD "HTTP/1.1 200 OK\r\nContent-Length: 18446744073709551615\r\nServer: x\r\n\r\n"

struct stream {
    uint8_t *p;
    size_t len;
    size_t ends[16]; /* offset after each unit */
    size_t n_ends;
};

static void put(struct stream *s, const void *p, size_t n)
{
    s->p = realloc(s->p, s->len + n);
    assert_non_null(s->p);
    memcpy(s->p + s->len, p, n);
    s->len += n;
    s->ends[s->n_ends++] = s->len;
}

static void put_pkt(struct stream *s, uint8_t flags, size_t total)
{
    uint8_t *pkt = malloc(total);
    assert_non_null(pkt);
    memset(pkt, 0x7E, total); /* body bytes that look like nothing special */
    pkt[0] = 0x10;
    pkt[1] = flags;
    pkt[2] = (uint8_t)(total >> 8);
    pkt[3] = (uint8_t)total;
    put(s, pkt, total);
    free(pkt);
}

static struct stream make_stream(void)
{
    struct stream s = { NULL, 0, { 0 }, 0 };
    put(&s, HEAD, strlen(HEAD));
    put_pkt(&s, 1, 48);   /* CALL_CONNECT_ACK */
    put_pkt(&s, 0, 4);    /* an empty data packet */
    put_pkt(&s, 0, 5);
    put_pkt(&s, 0, 4095); /* the largest */
    put_pkt(&s, 1, 8);    /* ECHO_REQUEST */
    return s;
}

/* Walks the stream fed in chunks of `chunk` bytes, writing at most
 * `write_max` bytes per call (a partial SSL_write), and records where each
 * call's unit ended when it reached the unit's end. */
static void walk(const struct stream *s, size_t chunk, size_t write_max)
{
    struct px_framer f;
    memset(&f, 0, sizeof f);
    size_t have = 0, at = 0, n_ends = 0;
    while (at < s->len) {
        if (have < s->len && (have - at < chunk || have == at))
            have = have + chunk < s->len ? have + chunk : s->len;
        size_t avail = have - at;
        uint8_t *copy = malloc(avail); /* exact size: ASan sees over-reads */
        assert_non_null(copy);
        memcpy(copy, s->p + at, avail);
        size_t unit = px_framer_unit(&f, copy, avail);
        assert_true(unit >= 1 && unit <= avail);
        size_t wrote = unit < write_max ? unit : write_max;
        px_framer_consume(&f, copy, wrote);
        free(copy);
        /* a unit may only end at a true boundary, and must end at each one */
        size_t next_end = s->ends[n_ends];
        assert_true(at + unit <= next_end);
        if (at + unit < next_end)
            assert_int_equal(at + unit, have); /* cut short only by missing bytes */
        at += wrote;
        if (at == next_end)
            n_ends++;
    }
    assert_int_equal(n_ends, s->n_ends);
    assert_int_equal(f.phase, PX_FR_SSTP);
    assert_int_equal(f.hdr_have, 0);
}

static void test_every_split(void **state)
{
    (void)state;
    struct stream s = make_stream();
    static const size_t chunks[] = { 1, 2, 3, 4, 5, 7, 64, 1000, 4096, 16384, 100000 };
    static const size_t writes[] = { 1, 3, 4097, 1 << 20 };
    for (size_t i = 0; i < sizeof chunks / sizeof chunks[0]; i++)
        for (size_t k = 0; k < sizeof writes / sizeof writes[0]; k++)
            walk(&s, chunks[i], writes[k]);
    free(s.p);
}

static void test_units_whole_buffer(void **state)
{
    (void)state;
    struct stream s = make_stream();
    struct px_framer f;
    memset(&f, 0, sizeof f);
    /* the whole stream at once: each call stops exactly at the next end */
    size_t at = 0;
    for (size_t i = 0; i < s.n_ends; i++) {
        size_t unit = px_framer_unit(&f, s.p + at, s.len - at);
        assert_int_equal(at + unit, s.ends[i]);
        px_framer_consume(&f, s.p + at, unit);
        at += unit;
    }
    free(s.p);
}

static void test_odd_streams(void **state)
{
    (void)state;
    struct px_framer f;
    memset(&f, 0, sizeof f);
    /* no blank line yet: the whole buffer is one (unfinished) unit */
    static const uint8_t partial[] = "HTTP/1.1 503 Service Unavailable\r\nDate: x\r\n";
    assert_int_equal(px_framer_unit(&f, partial, sizeof partial - 1), sizeof partial - 1);
    /* "\r\n\r" then "\r\n\r\n": only a true CRLFCRLF ends the head */
    static const uint8_t tricky[] = "a\r\n\rb\r\n\r\nX";
    assert_int_equal(px_framer_unit(&f, tricky, sizeof tricky - 1), 9);
    /* a length below the header size ends the packet with its header */
    px_framer_consume(&f, tricky, 9);
    static const uint8_t tiny[] = { 0x10, 0x00, 0x00, 0x02, 0xAA };
    assert_int_equal(px_framer_unit(&f, tiny, sizeof tiny), 4);
    /* the 4 reserved bits above the length are ignored */
    static const uint8_t flags[] = { 0x10, 0x00, 0xF0, 0x05, 0xBB, 0xCC };
    px_framer_consume(&f, tiny, 4);
    px_framer_consume(&f, tiny + 4, 0);
    assert_int_equal(px_framer_unit(&f, flags, sizeof flags), 5);
    assert_int_equal(px_framer_unit(&f, flags, 0), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_split),
        cmocka_unit_test(test_units_whole_buffer),
        cmocka_unit_test(test_odd_streams),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
