/* test_record.c — sstp_record_len: where a TLS record of SSTP packets may
 * end. Control packets alone, data packets together only with bytes behind
 * them, the last packet alone, the size cap, and bytes that are not whole
 * packets; then, over random packet streams, the property sstpc needs: the
 * last packet of the stream always ends a record of its own, and records
 * tile the stream on packet boundaries. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "sstp/record.h"

/* put_pkt writes an SSTP header (MS-SSTP 2.2.1) for a packet of total
 * length n, C bit as given, then filler; returns n. */
static size_t put_pkt(uint8_t *o, size_t n, int ctrl)
{
    o[0] = 0x10;
    o[1] = ctrl ? 0x01 : 0x00;
    o[2] = (uint8_t)((n >> 8) & 0x0f);
    o[3] = (uint8_t)(n & 0xff);
    memset(o + 4, 0xab, n - 4);
    return n;
}

static void test_rules(void **state)
{
    (void)state;
    static uint8_t b[21 * 4095];
    size_t n = 0;

    /* one data packet alone: goes alone */
    n = put_pkt(b, 1404, 0);
    assert_int_equal(sstp_record_len(b, n, 16384), 1404);
    /* three data packets: the first two share, the last goes alone */
    n += put_pkt(b + n, 1404, 0);
    n += put_pkt(b + n, 100, 0);
    assert_int_equal(sstp_record_len(b, n, 16384), 2808);
    assert_int_equal(sstp_record_len(b + 2808, n - 2808, 16384), 100);
    /* a control packet is a record of its own, first or next */
    n = put_pkt(b, 16, 1);
    n += put_pkt(b + n, 1404, 0);
    n += put_pkt(b + n, 1404, 0);
    assert_int_equal(sstp_record_len(b, n, 16384), 16);
    n = put_pkt(b, 1404, 0);
    n += put_pkt(b + n, 1404, 0);
    n += put_pkt(b + n, 16, 1);
    n += put_pkt(b + n, 1404, 0);
    assert_int_equal(sstp_record_len(b, n, 16384), 2808); /* stops before the control packet */
    /* a trailing partial packet counts as bytes behind, never joins */
    n = put_pkt(b, 1404, 0);
    n += put_pkt(b + n, 1404, 0);
    assert_int_equal(sstp_record_len(b, n + 0, 16384), 1404);
    n += put_pkt(b + n, 1404, 0);
    assert_int_equal(sstp_record_len(b, n - 1, 16384), 2808);   /* third cut short: bytes behind the second */
    /* the cap: 20 packets of 4095 bytes, 16384 at most: four per record */
    n = 0;
    for (int i = 0; i < 20; i++)
        n += put_pkt(b + n, 4095, 0);
    assert_int_equal(sstp_record_len(b, n, 16384), 4 * 4095);
    assert_int_equal(sstp_record_len(b, n, 4000), 4095);          /* one packet over the cap */
    /* not a whole packet: the bytes go as they are */
    assert_int_equal(sstp_record_len(b, 3, 16384), 3);
    assert_int_equal(sstp_record_len(b, 100, 16384), 100);        /* 4095-byte header, 100 bytes */
    /* a length below the header's own: a packet of the header alone */
    put_pkt(b, 4, 0);
    b[3] = 2;
    put_pkt(b + 4, 4, 0);
    b[7] = 0;
    assert_int_equal(sstp_record_len(b, 9, 16384), 8);
    assert_int_equal(sstp_record_len(b, 8, 16384), 4);             /* nothing behind: alone */
    assert_int_equal(sstp_record_len(b, 0, 16384), 0);
}

static uint32_t xs32(uint32_t *x)
{
    *x ^= *x << 13;
    *x ^= *x >> 17;
    *x ^= *x << 5;
    return *x;
}

static void test_random_streams(void **state)
{
    (void)state;
    static uint8_t b[200 * 4095];
    static size_t ends[200];
    uint32_t x = 7;

    for (int round = 0; round < 500; round++) {
        size_t n = 0, n_pkts = 1 + xs32(&x) % 40;
        for (size_t k = 0; k < n_pkts; k++) {
            size_t len = 4 + xs32(&x) % (xs32(&x) % 4 ? 1500 : 4092);
            n += put_pkt(b + n, len, xs32(&x) % 5 == 0);
            ends[k] = n;
        }
        size_t off = 0, k = 0;
        while (off < n) {
            size_t r = sstp_record_len(b + off, n - off, 16384);
            assert_true(r > 0);
            off += r;
            /* records end on packet boundaries */
            while (k < n_pkts && ends[k] < off)
                k++;
            assert_true(k < n_pkts && ends[k] == off);
            /* a record holding several packets is within the cap and has
             * no control packet, and is never the stream's last */
            if (r > (ends[k] - (k ? ends[k - 1] : 0))) {
                assert_true(r <= 16384);
                assert_true(off < n);
                for (size_t q = off - r; q < off;) {
                    assert_int_equal(b[q + 1] & 1, 0);
                    q += ((size_t)(b[q + 2] & 0x0f) << 8) | b[q + 3];
                }
            }
        }
        assert_int_equal(off, n);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rules),
        cmocka_unit_test(test_random_streams),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
