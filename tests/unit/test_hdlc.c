/* test_hdlc.c — RFC 1662 async HDLC codec: FCS check value, the worked
 * LCP example (sstpc's unit test frame) both ways, vectors from
 * tests/vectors/hdlc.py, every decoder error, chunking invariance, shared
 * flags, the frame size limit, and the run/table fast paths against a
 * byte-at-a-time decoder and encoder on random streams. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "sstp/hdlc.h"
#include "tests/unit/helpers.h"
#include "hdlc.h" /* generated: build/.../vectors/hdlc.h */

/* The LCP Configure-Request of sstpc's FCS unit test and its encoding
 * (FCS 0xC3C0 sent as c0 c3). */
static const uint8_t LCP_FRAME[28] = {
    0xff, 0x03, 0xc0, 0x21, 0x01, 0x01, 0x00, 0x18, 0x01, 0x04, 0x05, 0x78, 0x02, 0x06,
    0x00, 0x00, 0x00, 0x00, 0x05, 0x06, 0x37, 0x67, 0x24, 0xc2, 0x07, 0x02, 0x08, 0x02,
};
static const uint8_t LCP_ENC[] = {
    0x7e, 0xff, 0x7d, 0x23, 0xc0, 0x21, 0x7d, 0x21, 0x7d, 0x21, 0x7d, 0x20, 0x7d, 0x38,
    0x7d, 0x21, 0x7d, 0x24, 0x7d, 0x25, 0x78, 0x7d, 0x22, 0x7d, 0x26, 0x7d, 0x20, 0x7d,
    0x20, 0x7d, 0x20, 0x7d, 0x20, 0x7d, 0x25, 0x7d, 0x26, 0x37, 0x67, 0x24, 0xc2, 0x7d,
    0x27, 0x7d, 0x22, 0x7d, 0x28, 0x7d, 0x22, 0xc0, 0xc3, 0x7e,
};

/* ------------------------------------------------------------- helpers */

/* ref_fcs: bitwise FCS-16, independent of the codec's table. */
static uint16_t ref_fcs(uint16_t fcs, const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        fcs ^= p[i];
        for (int k = 0; k < 8; k++)
            fcs = (fcs & 1) ? (uint16_t)((fcs >> 1) ^ 0x8408) : (uint16_t)(fcs >> 1);
    }
    return fcs;
}

#define MAX_RESULTS 64

struct result {
    enum sstp_rc rc;
    size_t len;
    uint8_t *frame; /* copy, for OK */
};

struct results {
    size_t n;
    struct result r[MAX_RESULTS];
};

static void results_free(struct results *rs)
{
    for (size_t i = 0; i < rs->n; i++)
        free(rs->r[i].frame);
    rs->n = 0;
}

/* chunk sizes: 0 = all at once, 1.. = fixed size, SIZE_MAX = pseudo-random */
#define CHUNK_RANDOM ((size_t)-1)

/* decode_all feeds in[] to a fresh decoder in chunks, each copied into an
 * exact-size heap block, and records every non-AGAIN result. The frame
 * buffer is exactly SSTP_HDLC_FRAME_BUF on the heap. */
static void decode_all(struct results *rs, const uint8_t *in, size_t in_len, size_t chunk)
{
    struct sstp_hdlc_dec d = { 0 };
    uint8_t *buf = malloc(SSTP_HDLC_FRAME_BUF);
    uint32_t lcg = 12345;
    size_t off = 0;

    assert_non_null(buf);
    rs->n = 0;
    while (off < in_len) {
        size_t n = in_len - off;
        if (chunk == CHUNK_RANDOM) {
            lcg = lcg * 1103515245u + 12345u;
            size_t want = 1 + (lcg >> 16) % 97;
            n = n < want ? n : want;
        } else if (chunk && chunk < n) {
            n = chunk;
        }
        uint8_t *c = dup_exact(in + off, n);
        size_t pos = 0;
        while (pos < n) {
            size_t used = 0, flen = 0;
            enum sstp_rc rc = sstp_hdlc_decode(&d, buf, SSTP_HDLC_FRAME_BUF, &flen, &used,
                                               c + pos, n - pos);
            assert_true(used > 0 && used <= n - pos);
            pos += used;
            if (rc == SSTP_AGAIN) {
                assert_int_equal(pos, n); /* AGAIN only when all is used */
                continue;
            }
            assert_true(rs->n < MAX_RESULTS);
            struct result *r = &rs->r[rs->n++];
            r->rc = rc;
            r->len = rc == SSTP_OK ? flen : 0;
            r->frame = rc == SSTP_OK ? dup_exact(buf, flen) : NULL;
        }
        free(c);
        off += n;
    }
    free(buf);
}

static void results_equal(const struct results *a, const struct results *b)
{
    assert_int_equal(a->n, b->n);
    for (size_t i = 0; i < a->n; i++) {
        assert_int_equal(a->r[i].rc, b->r[i].rc);
        assert_int_equal(a->r[i].len, b->r[i].len);
        if (a->r[i].len)
            assert_memory_equal(a->r[i].frame, b->r[i].frame, a->r[i].len);
    }
}

/* decode_check decodes in[] whole, byte at a time, in fixed and random
 * chunks; all must agree. Leaves the whole-buffer result in *rs. */
static void decode_check(struct results *rs, const uint8_t *in, size_t in_len)
{
    static const size_t chunks[] = { 1, 2, 3, 7, 64, 1000, CHUNK_RANDOM };
    struct results other;

    decode_all(rs, in, in_len, 0);
    for (size_t i = 0; i < sizeof(chunks) / sizeof(chunks[0]); i++) {
        decode_all(&other, in, in_len, chunks[i]);
        results_equal(rs, &other);
        results_free(&other);
    }
}

/* encode_ref: an encoding written here by hand, for inputs the encoder
 * refuses (too long) or for raw control bytes. escape_all: as the codec. */
static size_t encode_ref(uint8_t *out, const uint8_t *f, size_t n, int escape_all)
{
    size_t o = 0;
    uint16_t fcs = ref_fcs(0xffff, f, n) ^ 0xffff;
    uint8_t tail[2] = { (uint8_t)(fcs & 0xff), (uint8_t)(fcs >> 8) };

    out[o++] = 0x7e;
    for (size_t i = 0; i < n + 2; i++) {
        uint8_t c = i < n ? f[i] : tail[i - n];
        if (c == 0x7e || c == 0x7d || (escape_all && c < 0x20)) {
            out[o++] = 0x7d;
            out[o++] = c ^ 0x20;
        } else {
            out[o++] = c;
        }
    }
    out[o++] = 0x7e;
    return o;
}

/* --------------------------------------------------------------- tests */

static void test_fcs(void **state)
{
    static const uint8_t check[] = "123456789";
    uint8_t buf[11];
    (void)state;

    assert_int_equal(sstp_hdlc_fcs(HDLC_FCS_INIT, check, 9) ^ 0xffff, 0x906E);
    assert_int_equal(PY_FCS_CHECK, 0x906E);
    /* the residue over data + transmitted FCS */
    memcpy(buf, check, 9);
    uint16_t f = sstp_hdlc_fcs(HDLC_FCS_INIT, check, 9) ^ 0xffff;
    buf[9] = (uint8_t)f;
    buf[10] = (uint8_t)(f >> 8);
    assert_int_equal(sstp_hdlc_fcs(HDLC_FCS_INIT, buf, 11), HDLC_FCS_GOOD);
    /* incremental equals whole; empty input is the identity */
    assert_int_equal(sstp_hdlc_fcs(sstp_hdlc_fcs(HDLC_FCS_INIT, check, 4), check + 4, 5),
                     sstp_hdlc_fcs(HDLC_FCS_INIT, check, 9));
    assert_int_equal(sstp_hdlc_fcs(0x1234, NULL, 0), 0x1234);
    /* table against the bitwise definition, every byte from two states */
    for (unsigned b = 0; b < 256; b++) {
        uint8_t c = (uint8_t)b;
        assert_int_equal(sstp_hdlc_fcs(0, &c, 1), ref_fcs(0, &c, 1));
        assert_int_equal(sstp_hdlc_fcs(0xffff, &c, 1), ref_fcs(0xffff, &c, 1));
    }
    /* RFC 1662 §C.2 table starts 0x0000, 0x1189, 0x2312, 0x329b */
    uint8_t one = 1, two = 2, three = 3;
    assert_int_equal(sstp_hdlc_fcs(0, &one, 1), 0x1189);
    assert_int_equal(sstp_hdlc_fcs(0, &two, 1), 0x2312);
    assert_int_equal(sstp_hdlc_fcs(0, &three, 1), 0x329b);
    /* the worked example's complemented FCS */
    assert_int_equal(sstp_hdlc_fcs(HDLC_FCS_INIT, LCP_FRAME, 28) ^ 0xffff, 0xC3C0);
}

static void test_example_encode(void **state)
{
    uint8_t out[HDLC_ENCODED_MAX(28)];
    size_t n = 0;
    uint8_t *f = dup_exact(LCP_FRAME, 28);
    (void)state;

    assert_int_equal(sstp_hdlc_encode(out, sizeof(out), &n, f, 28), SSTP_OK);
    assert_int_equal(n, sizeof(LCP_ENC));
    assert_memory_equal(out, LCP_ENC, sizeof(LCP_ENC));
    /* as two pieces: address/control, then the rest */
    memset(out, 0, sizeof(out));
    assert_int_equal(sstp_hdlc_encode2(out, sizeof(out), &n, f, 2, f + 2, 26), SSTP_OK);
    assert_int_equal(n, sizeof(LCP_ENC));
    assert_memory_equal(out, LCP_ENC, sizeof(LCP_ENC));
    free(f);
}

static void test_example_decode(void **state)
{
    struct results rs;
    (void)state;

    decode_check(&rs, LCP_ENC, sizeof(LCP_ENC));
    assert_int_equal(rs.n, 1);
    assert_int_equal(rs.r[0].rc, SSTP_OK);
    assert_int_equal(rs.r[0].len, 28);
    assert_memory_equal(rs.r[0].frame, LCP_FRAME, 28);
    results_free(&rs);
}

static void test_vectors_encode(void **state)
{
    (void)state;
    for (size_t i = 0; i < PY_HDLC_N; i++) {
        const struct py_hdlc_vec *v = &PY_HDLC[i];
        size_t cap = HDLC_ENCODED_MAX(v->len), n = 0;
        uint8_t *out = malloc(cap);
        uint8_t *f = dup_exact(v->frame, v->len);

        assert_non_null(out);
        assert_int_equal(ref_fcs(0xffff, v->frame, v->len) ^ 0xffff,
                         (uint16_t)(v->fcs[0] | (v->fcs[1] << 8)));
        assert_int_equal(sstp_hdlc_encode(out, cap, &n, f, v->len), SSTP_OK);
        assert_int_equal(n, v->enc_len);
        assert_memory_equal(out, v->enc, n);
        assert_true(n <= cap);
        /* split anywhere: same bytes */
        for (size_t s = 0; s <= v->len; s += (v->len > 64 ? 61 : 1)) {
            size_t n2 = 0;
            memset(out, 0xAA, cap);
            assert_int_equal(sstp_hdlc_encode2(out, cap, &n2, f, s, f + s, v->len - s), SSTP_OK);
            assert_int_equal(n2, v->enc_len);
            assert_memory_equal(out, v->enc, n2);
        }
        free(f);
        free(out);
    }
}

static void test_vectors_decode(void **state)
{
    struct results rs;
    (void)state;

    for (size_t i = 0; i < PY_HDLC_N; i++) {
        const struct py_hdlc_vec *v = &PY_HDLC[i];
        decode_check(&rs, v->enc, v->enc_len);
        assert_int_equal(rs.n, 1);
        assert_int_equal(rs.r[0].rc, SSTP_OK);
        assert_int_equal(rs.r[0].len, v->len);
        assert_memory_equal(rs.r[0].frame, v->frame, v->len);
        results_free(&rs);
    }
}

static void test_worst_case_size(void **state)
{
    size_t n = SSTP_PPP_MAX_FRAME, out_len = 0;
    uint8_t *f = malloc(n);
    uint8_t *out = malloc(HDLC_ENCODED_MAX(n));
    (void)state;

    assert_non_null(f);
    assert_non_null(out);
    /* all 0x7E: every data byte doubles; 2 flags + FCS at most 4 */
    memset(f, 0x7e, n);
    assert_int_equal(sstp_hdlc_encode(out, HDLC_ENCODED_MAX(n), &out_len, f, n), SSTP_OK);
    assert_true(out_len >= 2 * n + 2 + 2 && out_len <= HDLC_ENCODED_MAX(n));
    /* find a 2-byte frame whose FCS needs both bytes escaped: exact max */
    int found = 0;
    for (unsigned a = 0; a < 256 && !found; a++) {
        for (unsigned b = 0; b < 256 && !found; b++) {
            uint8_t two[2] = { 0x7d, 0x7e };
            two[0] = (uint8_t)(a < 0x20 ? a : 0x7d);
            two[1] = (uint8_t)(b < 0x20 ? b : 0x7e);
            uint16_t fcs = ref_fcs(0xffff, two, 2) ^ 0xffff;
            uint8_t lo = (uint8_t)fcs, hi = (uint8_t)(fcs >> 8);
            if ((lo < 0x20 || lo == 0x7d || lo == 0x7e) && (hi < 0x20 || hi == 0x7d || hi == 0x7e)) {
                uint8_t o[HDLC_ENCODED_MAX(2)];
                assert_int_equal(sstp_hdlc_encode(o, sizeof(o), &out_len, two, 2), SSTP_OK);
                assert_int_equal(out_len, HDLC_ENCODED_MAX(2));
                found = 1;
            }
        }
    }
    assert_true(found);
    free(f);
    free(out);
}

static void test_encode_errors(void **state)
{
    uint8_t out[HDLC_ENCODED_MAX(SSTP_PPP_MAX_FRAME + 1)];
    uint8_t *big = calloc(1, SSTP_PPP_MAX_FRAME + 1);
    static const uint8_t ab[2] = { 0x41, 0x42 };
    size_t n = 777;
    (void)state;

    assert_non_null(big);
    memset(out, 0xAA, sizeof(out));
    assert_int_equal(sstp_hdlc_encode(out, sizeof(out), &n, ab, 0), SSTP_E_HDLC_RUNT);
    assert_int_equal(sstp_hdlc_encode(out, sizeof(out), &n, ab, 1), SSTP_E_HDLC_RUNT);
    assert_int_equal(sstp_hdlc_encode(out, sizeof(out), &n, NULL, 0), SSTP_E_HDLC_RUNT);
    assert_int_equal(sstp_hdlc_encode2(out, sizeof(out), &n, ab, 1, NULL, 0), SSTP_E_HDLC_RUNT);
    assert_int_equal(sstp_hdlc_encode(out, sizeof(out), &n, big, SSTP_PPP_MAX_FRAME + 1),
                     SSTP_E_HDLC_TOO_LONG);
    assert_int_equal(sstp_hdlc_encode2(out, sizeof(out), &n, big, SSTP_PPP_MAX_FRAME, ab, 1),
                     SSTP_E_HDLC_TOO_LONG);
    /* lengths that would wrap a size_t sum */
    assert_int_equal(sstp_hdlc_encode2(out, sizeof(out), &n, big, 2, ab, SIZE_MAX),
                     SSTP_E_HDLC_TOO_LONG);
    assert_int_equal(sstp_hdlc_encode2(out, sizeof(out), &n, big, SIZE_MAX - 1, ab, 2),
                     SSTP_E_HDLC_TOO_LONG);
    /* too small by one, although "AB" would fit unescaped: fails whole */
    assert_int_equal(sstp_hdlc_encode(out, HDLC_ENCODED_MAX(2) - 1, &n, ab, 2), SSTP_E_NOSPACE);
    assert_int_equal(sstp_hdlc_encode(NULL, 100, &n, ab, 2), SSTP_E_NOSPACE);
    assert_int_equal(sstp_hdlc_encode(out, sizeof(out), &n, NULL, 2), SSTP_E_ARG);
    assert_int_equal(sstp_hdlc_encode2(out, sizeof(out), &n, ab, 2, NULL, 1), SSTP_E_ARG);
    assert_int_equal(sstp_hdlc_encode(out, sizeof(out), NULL, ab, 2), SSTP_E_ARG);
    for (size_t i = 0; i < sizeof(out); i++)
        assert_int_equal(out[i], 0xAA);
    assert_int_equal(n, 777);

    /* exactly the max is fine, with exactly the worst-case buffer */
    uint8_t *o = malloc(HDLC_ENCODED_MAX(SSTP_PPP_MAX_FRAME));
    assert_non_null(o);
    assert_int_equal(sstp_hdlc_encode(o, HDLC_ENCODED_MAX(SSTP_PPP_MAX_FRAME), &n, big,
                                      SSTP_PPP_MAX_FRAME), SSTP_OK);
    free(o);
    free(big);
}

static void test_stream_shared_flags(void **state)
{
    struct results rs;
    (void)state;

    decode_check(&rs, PY_STREAM, sizeof(PY_STREAM));
    assert_int_equal(rs.n, PY_STREAM_N);
    for (size_t i = 0; i < PY_STREAM_N; i++) {
        const struct py_hdlc_vec *v = &PY_HDLC[PY_STREAM_FRAMES[i]];
        assert_int_equal(rs.r[i].rc, SSTP_OK);
        assert_int_equal(rs.r[i].len, v->len);
        assert_memory_equal(rs.r[i].frame, v->frame, v->len);
    }
    results_free(&rs);
}

static void test_used_and_again(void **state)
{
    struct sstp_hdlc_dec d = { 0 };
    uint8_t buf[SSTP_HDLC_FRAME_BUF];
    uint8_t two[2 * sizeof(LCP_ENC)];
    size_t used = 99, flen = 99;
    (void)state;

    memcpy(two, LCP_ENC, sizeof(LCP_ENC));
    memcpy(two + sizeof(LCP_ENC), LCP_ENC, sizeof(LCP_ENC));
    assert_int_equal(sstp_hdlc_decode(&d, buf, sizeof(buf), &flen, &used, two, sizeof(two)),
                     SSTP_OK);
    assert_int_equal(used, sizeof(LCP_ENC));
    assert_int_equal(flen, 28);
    /* the second frame's opening flag is idle after the first's closing one */
    assert_int_equal(sstp_hdlc_decode(&d, buf, sizeof(buf), &flen, &used, two + sizeof(LCP_ENC),
                                      sizeof(LCP_ENC)), SSTP_OK);
    assert_int_equal(used, sizeof(LCP_ENC));
    assert_memory_equal(buf, LCP_FRAME, 28);
    assert_int_equal(sstp_hdlc_decode(&d, buf, sizeof(buf), &flen, &used, NULL, 0), SSTP_AGAIN);
    assert_int_equal(used, 0);

    /* idle flags only */
    static const uint8_t idle[] = { 0x7e, 0x7e, 0x7e, 0x7e };
    assert_int_equal(sstp_hdlc_decode(&d, buf, sizeof(buf), &flen, &used, idle, 4), SSTP_AGAIN);
    assert_int_equal(used, 4);
    assert_int_equal(d.len, 0);

    /* a partial frame survives across calls; zeroing the state drops it */
    assert_int_equal(sstp_hdlc_decode(&d, buf, sizeof(buf), &flen, &used, LCP_ENC, 20), SSTP_AGAIN);
    assert_int_equal(used, 20);
    assert_true(d.len > 0);
    memset(&d, 0, sizeof(d));
    assert_int_equal(sstp_hdlc_decode(&d, buf, sizeof(buf), &flen, &used, LCP_ENC + 20,
                                      sizeof(LCP_ENC) - 20), SSTP_E_HDLC_FCS);
}

static void test_decode_args(void **state)
{
    struct sstp_hdlc_dec d = { 0 };
    uint8_t buf[SSTP_HDLC_FRAME_BUF];
    size_t used = 5, flen = 5;
    (void)state;

    assert_int_equal(sstp_hdlc_decode(&d, buf, sizeof(buf) - 1, &flen, &used, LCP_ENC, 4),
                     SSTP_E_ARG);
    assert_int_equal(sstp_hdlc_decode(NULL, buf, sizeof(buf), &flen, &used, LCP_ENC, 4), SSTP_E_ARG);
    assert_int_equal(sstp_hdlc_decode(&d, NULL, sizeof(buf), &flen, &used, LCP_ENC, 4), SSTP_E_ARG);
    assert_int_equal(sstp_hdlc_decode(&d, buf, sizeof(buf), NULL, &used, LCP_ENC, 4), SSTP_E_ARG);
    assert_int_equal(sstp_hdlc_decode(&d, buf, sizeof(buf), &flen, NULL, LCP_ENC, 4), SSTP_E_ARG);
    assert_int_equal(sstp_hdlc_decode(&d, buf, sizeof(buf), &flen, &used, NULL, 4), SSTP_E_ARG);
    assert_int_equal(used, 5);
    assert_int_equal(d.len, 0);

    /* a corrupt state (len past the buffer) is tossed, never written past */
    d.len = SSTP_HDLC_FRAME_BUF + 100;
    assert_int_equal(sstp_hdlc_decode(&d, buf, sizeof(buf), &flen, &used, LCP_ENC, sizeof(LCP_ENC)),
                     SSTP_E_HDLC_TOO_LONG);
    assert_int_equal(used, 1);
}

/* Single bad frames, each followed by a good one to show the stream goes on. */
static void one_error(const uint8_t *bad, size_t bad_len, enum sstp_rc want)
{
    uint8_t *s = malloc(bad_len + sizeof(LCP_ENC));
    struct results rs;

    assert_non_null(s);
    memcpy(s, bad, bad_len);
    memcpy(s + bad_len, LCP_ENC, sizeof(LCP_ENC));
    decode_check(&rs, s, bad_len + sizeof(LCP_ENC));
    assert_int_equal(rs.n, 2);
    assert_int_equal(rs.r[0].rc, want);
    assert_int_equal(rs.r[1].rc, SSTP_OK);
    assert_memory_equal(rs.r[1].frame, LCP_FRAME, 28);
    results_free(&rs);
    free(s);
}

static void test_decode_fcs(void **state)
{
    uint8_t bad[sizeof(LCP_ENC)];
    (void)state;

    for (size_t i = 1; i < sizeof(LCP_ENC) - 1; i++) {
        if (LCP_ENC[i] == 0x7d || LCP_ENC[i - 1] == 0x7d)
            continue; /* keep the escaping intact */
        memcpy(bad, LCP_ENC, sizeof(bad));
        bad[i] ^= 0x01;
        if (bad[i] == 0x7d || bad[i] == 0x7e)
            continue;
        one_error(bad, sizeof(bad), SSTP_E_HDLC_FCS);
    }
    /* FCS bytes swapped (high first) */
    memcpy(bad, LCP_ENC, sizeof(bad));
    bad[sizeof(bad) - 3] = 0xc3;
    bad[sizeof(bad) - 2] = 0xc0;
    one_error(bad, sizeof(bad), SSTP_E_HDLC_FCS);
    /* FCS not complemented */
    bad[sizeof(bad) - 3] = (uint8_t)~0xc0;
    bad[sizeof(bad) - 2] = (uint8_t)~0xc3;
    one_error(bad, sizeof(bad), SSTP_E_HDLC_FCS);
    /* bytes before the first flag of a stream form a (bad) frame */
    static const uint8_t junk[] = { 0x41, 0x42, 0x43, 0x44, 0x45 };
    one_error(junk, sizeof(junk), SSTP_E_HDLC_FCS);
}

static void test_decode_abort(void **state)
{
    static const uint8_t a1[] = { 0x7e, 0xff, 0x03, 0xc0, 0x21, 0x7d }; /* + 7e of next */
    static const uint8_t a2[] = { 0x7e, 0x7d };                         /* empty frame */
    uint8_t a3[sizeof(LCP_ENC)];
    (void)state;

    one_error(a1, sizeof(a1), SSTP_E_HDLC_ABORT);
    one_error(a2, sizeof(a2), SSTP_E_HDLC_ABORT);
    /* a complete good frame whose closing flag is preceded by an escape */
    memcpy(a3, LCP_ENC, sizeof(a3));
    a3[sizeof(a3) - 1] = 0x7d;
    one_error(a3, sizeof(a3), SSTP_E_HDLC_ABORT);
}

static void test_decode_runt(void **state)
{
    static const uint8_t r1[] = { 0x7e, 0x41, 0x7e };
    static const uint8_t r2[] = { 0x7e, 0x41, 0x42, 0x7e };
    static const uint8_t r3[] = { 0x7e, 0x41, 0x42, 0x43 };       /* + 7e of next */
    static const uint8_t r4[] = { 0x7e, 0x7d, 0x5e, 0x7d, 0x20 }; /* escaped, 2 bytes */
    uint8_t r5[8];
    struct results rs;
    (void)state;

    one_error(r1, sizeof(r1), SSTP_E_HDLC_RUNT);
    one_error(r2, sizeof(r2), SSTP_E_HDLC_RUNT);
    one_error(r3, sizeof(r3), SSTP_E_HDLC_RUNT);
    one_error(r4, sizeof(r4), SSTP_E_HDLC_RUNT);
    /* a 1-byte frame with a valid FCS is still a runt */
    static const uint8_t x = 0x21;
    size_t n = encode_ref(r5, &x, 1, 1);
    assert_true(n <= sizeof(r5));
    one_error(r5, n, SSTP_E_HDLC_RUNT);
    /* the smallest good frame: 2 bytes + FCS */
    static const uint8_t y[2] = { 0xc0, 0x21 };
    uint8_t r6[HDLC_ENCODED_MAX(2)];
    n = encode_ref(r6, y, 2, 1);
    decode_check(&rs, r6, n);
    assert_int_equal(rs.n, 1);
    assert_int_equal(rs.r[0].rc, SSTP_OK);
    assert_int_equal(rs.r[0].len, 2);
    assert_memory_equal(rs.r[0].frame, y, 2);
    results_free(&rs);
}

static void test_decode_size_limit(void **state)
{
    size_t max = SSTP_PPP_MAX_FRAME;
    uint8_t *f = malloc(max + 2);
    uint8_t *enc = malloc(HDLC_ENCODED_MAX(max + 2));
    struct results rs;
    size_t n;
    (void)state;

    assert_non_null(f);
    assert_non_null(enc);
    for (size_t i = 0; i < max + 2; i++)
        f[i] = (uint8_t)(0x30 + i % 64); /* never special */

    /* exactly the max: accepted */
    n = encode_ref(enc, f, max, 1);
    decode_check(&rs, enc, n);
    assert_int_equal(rs.n, 1);
    assert_int_equal(rs.r[0].rc, SSTP_OK);
    assert_int_equal(rs.r[0].len, max);
    assert_memory_equal(rs.r[0].frame, f, max);
    results_free(&rs);

    /* one over, plain and with every byte escaped; the next frame is fine */
    n = encode_ref(enc, f, max + 1, 1);
    one_error(enc, n - 1, SSTP_E_HDLC_TOO_LONG); /* LCP_ENC's flag closes it */
    memset(f, 0x7e, max + 1);
    n = encode_ref(enc, f, max + 1, 1);
    one_error(enc, n, SSTP_E_HDLC_TOO_LONG);
    /* an abort inside a tossed frame still reports the overflow */
    n = encode_ref(enc, f, max + 2, 1);
    enc[n - 1] = 0x7d;
    one_error(enc, n, SSTP_E_HDLC_TOO_LONG);
    free(f);
    free(enc);
}

static void test_decode_lenient(void **state)
{
    uint8_t f[8] = { 0xff, 0x03, 0x00, 0x21, 0x11, 0x13, 0x7d, 0x7e };
    uint8_t enc[40];
    struct results rs;
    size_t n;
    (void)state;

    /* raw control characters (a peer with a smaller ACCM) are data */
    n = encode_ref(enc, f, sizeof(f), 0);
    assert_int_equal(memchr(enc, 0x11, n) != NULL, 1);
    decode_check(&rs, enc, n);
    assert_int_equal(rs.n, 1);
    assert_int_equal(rs.r[0].rc, SSTP_OK);
    assert_int_equal(rs.r[0].len, sizeof(f));
    assert_memory_equal(rs.r[0].frame, f, sizeof(f));
    results_free(&rs);

    /* escapes of bytes that never needed one, and 7D 7D = 0x5D */
    static const uint8_t g[4] = { 0x41, 0x5d, 0xff, 0x21 };
    uint16_t fcs = ref_fcs(0xffff, g, 4) ^ 0xffff;
    uint8_t e2[16];
    size_t k = 0;
    e2[k++] = 0x7e;
    e2[k++] = 0x7d; e2[k++] = 0x61;       /* 0x41 */
    e2[k++] = 0x7d; e2[k++] = 0x7d;       /* 0x5d */
    e2[k++] = 0x7d; e2[k++] = 0xdf;       /* 0xff */
    e2[k++] = 0x21;
    e2[k++] = 0x7d; e2[k++] = (uint8_t)((fcs & 0xff) ^ 0x20); /* escaped FCS */
    e2[k++] = 0x7d; e2[k++] = (uint8_t)((fcs >> 8) ^ 0x20);
    e2[k++] = 0x7e;
    decode_check(&rs, e2, k);
    assert_int_equal(rs.n, 1);
    assert_int_equal(rs.r[0].rc, SSTP_OK);
    assert_int_equal(rs.r[0].len, 4);
    assert_memory_equal(rs.r[0].frame, g, 4);
    results_free(&rs);
}

/* Everything in one stream, split every way: per-frame errors, in order. */
static void test_decode_mixed_stream(void **state)
{
    uint8_t s[4 * 1024 + 6000];
    size_t k = 0;
    struct results rs;
    (void)state;

#define ADD(p, n) do { memcpy(s + k, (p), (n)); k += (n); } while (0)
    static const uint8_t junk[] = { 0x01, 0x02, 0x03, 0x04, 0x05, 0x06 };
    static const uint8_t runt[] = { 0x7e, 0x41 };
    static const uint8_t abrt[] = { 0x7e, 0xff, 0x03, 0x7d };
    uint8_t bad[sizeof(LCP_ENC)];
    memcpy(bad, LCP_ENC, sizeof(bad));
    bad[5] ^= 0x40;

    ADD(junk, sizeof(junk));                           /* FCS (pre-flag bytes) */
    ADD(LCP_ENC, sizeof(LCP_ENC));                     /* OK */
    ADD(bad, sizeof(bad));                             /* FCS */
    ADD(PY_HDLC[1].enc, PY_HDLC[1].enc_len);           /* OK */
    ADD(abrt, sizeof(abrt));                           /* ABORT (next flag) */
    ADD(PY_HDLC[2].enc, PY_HDLC[2].enc_len);           /* OK */
    ADD(runt, sizeof(runt));                           /* RUNT */
    ADD(PY_HDLC[0].enc, PY_HDLC[0].enc_len);           /* OK */
    s[k++] = 0x7e;                                     /* toss: */
    memset(s + k, 0x55, SSTP_HDLC_FRAME_BUF + 1);
    k += SSTP_HDLC_FRAME_BUF + 1;                      /* TOO_LONG */
    ADD(LCP_ENC, sizeof(LCP_ENC));                     /* OK */
    s[k++] = 0x7e;
    s[k++] = 0x7e;                                     /* idle */
#undef ADD
    assert_true(k <= sizeof(s));

    static const enum sstp_rc want[] = {
        SSTP_E_HDLC_FCS, SSTP_OK, SSTP_E_HDLC_FCS, SSTP_OK, SSTP_E_HDLC_ABORT, SSTP_OK,
        SSTP_E_HDLC_RUNT, SSTP_OK, SSTP_E_HDLC_TOO_LONG, SSTP_OK,
    };
    decode_check(&rs, s, k);
    assert_int_equal(rs.n, sizeof(want) / sizeof(want[0]));
    for (size_t i = 0; i < rs.n; i++)
        assert_int_equal(rs.r[i].rc, want[i]);
    assert_int_equal(rs.r[3].len, PY_HDLC[1].len);
    assert_memory_equal(rs.r[3].frame, PY_HDLC[1].frame, PY_HDLC[1].len);
    assert_memory_equal(rs.r[9].frame, LCP_FRAME, 28);
    results_free(&rs);
}


/* ------------------------------------------ fast paths vs byte at a time */

/* ref_decode: the decoder's documented rules, one byte at a time and
 * nothing else (no runs, no tables), over the whole stream. The codec
 * copies runs of plain bytes and skips tossed tails with memchr; both must
 * give exactly these results. */
static void ref_decode(struct results *rs, const uint8_t *in, size_t in_len)
{
    uint8_t *buf = malloc(SSTP_HDLC_FRAME_BUF);
    size_t len = 0;
    int esc = 0, toss = 0;

    assert_non_null(buf);
    rs->n = 0;
    for (size_t i = 0; i < in_len; i++) {
        uint8_t c = in[i];
        if (c == 0x7e) {
            enum sstp_rc rc = SSTP_AGAIN;
            if (toss)
                rc = SSTP_E_HDLC_TOO_LONG;
            else if (esc)
                rc = SSTP_E_HDLC_ABORT;
            else if (len > 0 && len < 4)
                rc = SSTP_E_HDLC_RUNT;
            else if (len >= 4)
                rc = ref_fcs(0xffff, buf, len) == 0xf0b8 ? SSTP_OK : SSTP_E_HDLC_FCS;
            if (rc != SSTP_AGAIN) {
                assert_true(rs->n < MAX_RESULTS);
                struct result *r = &rs->r[rs->n++];
                r->rc = rc;
                r->len = rc == SSTP_OK ? len - 2 : 0;
                r->frame = rc == SSTP_OK ? dup_exact(buf, len - 2) : NULL;
            }
            len = 0;
            esc = toss = 0;
        } else if (toss) {
            continue;
        } else if (esc) {
            esc = 0;
            if (len == SSTP_HDLC_FRAME_BUF)
                toss = 1;
            else
                buf[len++] = c ^ 0x20;
        } else if (c == 0x7d) {
            esc = 1;
        } else if (len == SSTP_HDLC_FRAME_BUF) {
            toss = 1;
        } else {
            buf[len++] = c;
        }
    }
    free(buf);
}

static uint32_t xs32(uint32_t *x)
{
    *x ^= *x << 13;
    *x ^= *x >> 17;
    *x ^= *x << 5;
    return *x;
}

/* A byte drawn mostly from the ones the codec treats apart (flag, escape,
 * control characters) or mostly plain, as `bias` says. */
static uint8_t rand_byte(uint32_t *x, unsigned bias)
{
    static const uint8_t odd[] = { 0x7e, 0x7d, 0x00, 0x1f, 0x20, 0x5d, 0x5e, 0xff };
    uint32_t r = xs32(x);
    return (r % 100) < bias ? odd[(r >> 8) % sizeof(odd)] : (uint8_t)(r >> 16);
}

/* Random streams of good frames (escaping everything or only what RFC 1662
 * requires), corrupted, aborted, overlong and runt frames, raw noise and
 * idle flags: the codec's decoder gives what ref_decode gives, whole and in
 * every chunking; its encoder gives encode_ref's bytes for any head/body
 * split. */
static void test_fast_paths_match_bytewise(void **state)
{
    (void)state;
    enum { STREAM_MAX = 48 * (2 * SSTP_HDLC_FRAME_BUF + 8) };
    uint8_t *in = malloc(STREAM_MAX), *frame = malloc(SSTP_HDLC_FRAME_BUF + 64);
    uint8_t *ref = malloc(HDLC_ENCODED_MAX(SSTP_HDLC_FRAME_BUF + 64));
    uint32_t x = 0x9e3779b9u;
    struct results got, want;

    assert_true(in && frame && ref);
    for (int round = 0; round < 60; round++) {
        size_t n_in = 0;
        int segs = 1 + (int)(xs32(&x) % 24);
        for (int k = 0; k < segs; k++) {
            unsigned kind = xs32(&x) % 8, bias = xs32(&x) % 4 == 0 ? 60 : 5;
            size_t flen = kind == 5 ? SSTP_HDLC_FRAME_BUF + xs32(&x) % 40 /* overlong */
                          : kind == 6 ? xs32(&x) % 4                     /* runt-ish */
                                      : 2 + xs32(&x) % (xs32(&x) % 3 ? 200 : SSTP_PPP_MAX_FRAME - 1);
            for (size_t b = 0; b < flen; b++)
                frame[b] = rand_byte(&x, bias);
            size_t m = encode_ref(in + n_in, frame, flen, kind != 1);
            if (kind == 2 && m > 3)
                in[n_in + 1 + xs32(&x) % (m - 2)] ^= 0x01;   /* corrupt: FCS, or an escape/flag */
            if (kind == 3) {
                in[n_in + m - 1] = 0x7d;                        /* abort: 7D 7E */
                in[n_in + m++] = 0x7e;
            }
            if (kind == 7) {                                    /* noise, then idle flags */
                size_t noise = xs32(&x) % 50;
                for (size_t b = 0; b < noise; b++)
                    in[n_in + m++] = rand_byte(&x, bias);
                in[n_in + m++] = 0x7e;
                in[n_in + m++] = 0x7e;
            }
            n_in += m;
            assert_true(n_in <= STREAM_MAX);

            /* the encoder, when the frame is encodable */
            if (kind != 5 && flen >= SSTP_HDLC_MIN_FRAME) {
                size_t split = xs32(&x) % (flen + 1), en = 0;
                size_t rn = encode_ref(ref, frame, flen, 1);
                /* exactly the room promised, on the heap: ASan sees any write past it */
                uint8_t *exact = malloc(HDLC_ENCODED_MAX(flen));
                assert_non_null(exact);
                assert_int_equal(sstp_hdlc_encode2(exact, HDLC_ENCODED_MAX(flen), &en, frame, split,
                                                   frame + split, flen - split), SSTP_OK);
                assert_int_equal(en, rn);
                assert_memory_equal(exact, ref, rn);
                free(exact);
            }
        }
        ref_decode(&want, in, n_in);
        decode_check(&got, in, n_in);
        results_equal(&got, &want);
        results_free(&got);
        results_free(&want);
    }
    free(in);
    free(frame);
    free(ref);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fcs),
        cmocka_unit_test(test_example_encode),
        cmocka_unit_test(test_example_decode),
        cmocka_unit_test(test_vectors_encode),
        cmocka_unit_test(test_vectors_decode),
        cmocka_unit_test(test_worst_case_size),
        cmocka_unit_test(test_encode_errors),
        cmocka_unit_test(test_stream_shared_flags),
        cmocka_unit_test(test_used_and_again),
        cmocka_unit_test(test_decode_args),
        cmocka_unit_test(test_decode_fcs),
        cmocka_unit_test(test_decode_abort),
        cmocka_unit_test(test_decode_runt),
        cmocka_unit_test(test_decode_size_limit),
        cmocka_unit_test(test_decode_lenient),
        cmocka_unit_test(test_decode_mixed_stream),
        cmocka_unit_test(test_fast_paths_match_bytewise),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
