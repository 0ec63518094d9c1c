/* test_proxy_framer.c — unit tests of proxy/framer.c: the units of a
 * backend-to-client stream (the HTTP answer head, then each SSTP packet,
 * MS-SSTP 2.2.1) come out the same whatever the stream is split into, with
 * bodies of every length class (empty, 1 byte, the 4095-byte maximum) and
 * headers split across reads; and the TLS records cut from it keep the
 * rules a one-packet-per-wake-up client needs (framer.h): control packets
 * and the last packet buffered alone, runs of data packets together only
 * with bytes behind them, records on packet boundaries, at most 16 KiB,
 * never shrinking as bytes arrive. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "proxy/framer.h"
#include "tests/unit/helpers.h"

#define HEAD "HTTP/1.1 200 OK\r\nContent-Length: 18446744073709551615\r\nServer: x\r\n\r\n"

struct stream {
    uint8_t *p;
    size_t len;
    size_t ends[64]; /* offset after each unit */
    size_t n_ends;
};

static void put(struct stream *s, const void *p, size_t n)
{
    assert_true(s->n_ends < sizeof s->ends / sizeof s->ends[0]);
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

/* ---- records -------------------------------------------------------------- */

/* A tunnel's stream: the head, the ACK, a run of data packets (full-size
 * frames and odd sizes) longer than one record, an echo, then a few data
 * packets to finish on. */
static struct stream make_burst(void)
{
    struct stream s = { NULL, 0, { 0 }, 0 };
    put(&s, HEAD, strlen(HEAD));
    put_pkt(&s, 1, 48);
    for (int i = 0; i < 20; i++)
        put_pkt(&s, 0, i % 5 == 4 ? 4 : 1404);
    put_pkt(&s, 1, 8);
    put_pkt(&s, 0, 4095);
    put_pkt(&s, 0, 100);
    put_pkt(&s, 0, 1404);
    return s;
}

static bool is_end(const struct stream *s, size_t off)
{
    for (size_t i = 0; i < s->n_ends; i++)
        if (s->ends[i] == off)
            return true;
    return false;
}

/* The units (head or packet) wholly inside [from, to). */
static size_t units_in(const struct stream *s, size_t from, size_t to)
{
    size_t n = 0, start = 0;
    for (size_t i = 0; i < s->n_ends; start = s->ends[i++])
        if (start >= from && s->ends[i] <= to)
            n++;
    return n;
}

/* Is the unit starting at off a control packet? */
static bool is_ctrl_at(const struct stream *s, size_t off)
{
    return off >= strlen(HEAD) && (s->p[off + 1] & 1);
}

/* Replays a relay: the backend's bytes arrive `chunk` at a time (the
 * buffer holds what arrived and was not written), records are written
 * whole while the framer gives them, and once everything arrived the
 * stream ends. Checks every record against the rules. */
static void relay_walk(const struct stream *s, size_t chunk)
{
    struct px_framer f;
    memset(&f, 0, sizeof f);
    size_t have = 0, at = 0, records = 0;
    for (;;) {
        bool end = have == s->len;
        size_t avail = have - at;
        uint8_t *copy = dup_exact(s->p + at, avail);
        size_t rec = px_framer_record(&f, copy, avail, end);
        assert_true(rec <= avail);
        if (rec == 0) {
            free(copy);
            if (end) {
                assert_int_equal(at, s->len); /* at the end, nothing is held back */
                break;
            }
            have = have + chunk < s->len ? have + chunk : s->len;
            continue;
        }
        /* more bytes never shrink the record (a retried SSL_write) */
        if (!end) {
            size_t more = s->len - at;
            uint8_t *big = malloc(more);
            assert_non_null(big);
            memcpy(big, s->p + at, more);
            assert_true(px_framer_record(&f, big, more, true) >= rec);
            free(big);
        }
        size_t n_units = units_in(s, at, at + rec);
        if (at < strlen(HEAD)) { /* the head goes as it comes, up to its end */
            assert_true(at + rec == have || at + rec == strlen(HEAD));
            assert_true(at + rec <= strlen(HEAD));
            px_framer_consume(&f, copy, rec);
            free(copy);
            at += rec;
            continue;
        }
        assert_true(is_end(s, at + rec)); /* packets: whole ones only (the end flush aside) */
        if (n_units > 1) {
            assert_true(at + rec < have);        /* bytes follow a shared record */
            assert_true(rec <= PX_FR_RECORD_MAX);
            for (size_t off = at; off < at + rec;) { /* data packets only */
                assert_false(is_ctrl_at(s, off));
                size_t i = 0;
                while (s->ends[i] <= off)
                    i++;
                off = s->ends[i];
            }
        } else {
            assert_int_equal(n_units, 1);
        }
        if (at + rec == have && !end)
            assert_int_equal(n_units, 1); /* the last record buffered: one packet */
        px_framer_consume(&f, copy, rec);
        free(copy);
        at += rec;
        records++;
    }
    assert_int_equal(f.phase, PX_FR_SSTP);
    assert_int_equal(f.hdr_have, 0);
    assert_true(records >= 4);
}

static void test_records_every_split(void **state)
{
    (void)state;
    struct stream s = make_burst();
    static const size_t chunks[] = { 1, 3, 4, 5, 100, 1404, 1405, 4096, 16384, 65536, 1 << 20 };
    for (size_t i = 0; i < sizeof chunks / sizeof chunks[0]; i++)
        relay_walk(&s, chunks[i]);
    free(s.p);
}

static void test_records_whole_stream(void **state)
{
    (void)state;
    struct stream s = make_burst();
    struct px_framer f;
    memset(&f, 0, sizeof f);
    size_t hl = strlen(HEAD), at = 0;
    /* head alone, ACK alone */
    assert_int_equal(px_framer_record(&f, s.p, s.len, false), hl);
    px_framer_consume(&f, s.p, hl);
    at = hl;
    assert_int_equal(px_framer_record(&f, s.p + at, s.len - at, false), 48);
    px_framer_consume(&f, s.p + at, 48);
    at += 48;
    /* the run: as many whole data packets as fit in 16 KiB */
    size_t want = 0;
    for (size_t i = 0; i < 20; i++) {
        size_t pl = i % 5 == 4 ? 4 : 1404;
        if (want + pl > PX_FR_RECORD_MAX)
            break;
        want += pl;
    }
    size_t rec = px_framer_record(&f, s.p + at, s.len - at, false);
    assert_int_equal(rec, want);
    px_framer_consume(&f, s.p + at, rec);
    at += rec;
    /* the rest of the run, up to the echo (which follows it) */
    size_t echo_at = s.ends[1 + 1 + 20 - 1];
    rec = px_framer_record(&f, s.p + at, s.len - at, false);
    assert_int_equal(at + rec, echo_at);
    px_framer_consume(&f, s.p + at, rec);
    at += rec;
    assert_int_equal(px_framer_record(&f, s.p + at, s.len - at, false), 8); /* the echo alone */
    px_framer_consume(&f, s.p + at, 8);
    at += 8;
    /* 4095 + 100 share a record, the last packet goes alone */
    assert_int_equal(px_framer_record(&f, s.p + at, s.len - at, false), 4195);
    px_framer_consume(&f, s.p + at, 4195);
    at += 4195;
    assert_int_equal(px_framer_record(&f, s.p + at, s.len - at, false), 1404);
    assert_int_equal(px_framer_record(&f, s.p + at, s.len - at, true), 1404);
    px_framer_consume(&f, s.p + at, 1404);
    at += 1404;
    assert_int_equal(at, s.len);
    assert_int_equal(px_framer_record(&f, s.p + at, 0, true), 0);
    free(s.p);
}

static void test_records_hold_and_end(void **state)
{
    (void)state;
    struct px_framer f;
    memset(&f, 0, sizeof f);
    px_framer_consume(&f, (const uint8_t *)HEAD, strlen(HEAD));
    uint8_t two[1404 + 2];
    memset(two, 0x7E, sizeof two);
    two[0] = 0x10, two[1] = 0x00, two[2] = 0x05, two[3] = 0x7C; /* 1404 bytes */
    two[1404] = 0x10, two[1405] = 0x00;                           /* the next one's first 2 */
    /* an incomplete header, an incomplete body: held until the rest comes */
    assert_int_equal(px_framer_record(&f, two, 3, false), 0);
    assert_int_equal(px_framer_record(&f, two, 1403, false), 0);
    /* unless the backend is done: then it goes as it is */
    assert_int_equal(px_framer_record(&f, two, 3, true), 3);
    assert_int_equal(px_framer_record(&f, two, 1403, true), 1403);
    /* one packet with a partial one behind: alone (it is the only whole one) */
    assert_int_equal(px_framer_record(&f, two, sizeof two, false), 1404);
    /* an end-of-stream flush cut a packet: its rest is whole or nothing */
    px_framer_consume(&f, two, 1000);
    assert_int_equal(px_framer_record(&f, two + 1000, 403, false), 0);
    assert_int_equal(px_framer_record(&f, two + 1000, 404, false), 404);
    assert_int_equal(px_framer_record(&f, two + 1000, 403, true), 403);
    /* a control packet with data behind it: alone; data before it: without it */
    uint8_t mix[8 + 4 + 4 + 8];
    memset(mix, 0, sizeof mix);
    mix[0] = 0x10, mix[1] = 0x01, mix[3] = 8;   /* ECHO_REQUEST */
    mix[8] = 0x10, mix[11] = 4;                 /* empty data packet */
    mix[12] = 0x10, mix[15] = 4;                /* empty data packet */
    mix[16] = 0x10, mix[17] = 0x01, mix[19] = 8;
    memset(&f, 0, sizeof f);
    f.phase = PX_FR_SSTP;
    assert_int_equal(px_framer_record(&f, mix, sizeof mix, false), 8);
    assert_int_equal(px_framer_record(&f, mix + 8, sizeof mix - 8, false), 8);
    assert_int_equal(px_framer_record(&f, mix + 16, 8, false), 8);
    assert_int_equal(px_framer_record(&f, mix + 8, 8, false), 4); /* nothing behind: alone */
    /* a length below the header's own is a 4-byte packet */
    static const uint8_t tiny[] = { 0x10, 0x00, 0x00, 0x02, 0x10, 0x00, 0x00, 0x00, 0x10 };
    assert_int_equal(px_framer_record(&f, tiny, sizeof tiny, false), 8);
    assert_int_equal(px_framer_record(&f, tiny, 0, false), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_split),
        cmocka_unit_test(test_units_whole_buffer),
        cmocka_unit_test(test_odd_streams),
        cmocka_unit_test(test_records_every_split),
        cmocka_unit_test(test_records_whole_stream),
        cmocka_unit_test(test_records_hold_and_end),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
