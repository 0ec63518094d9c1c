/* fuzz_proxyproto.c — libFuzzer target for sstp_pp_parse and the builders.
 *
 * 1. Prefixes of the input, each in its own exact-size heap copy, must give
 *    SSTP_AGAIN until a decision, then exactly what the whole input gives
 *    (same rc, same length, same fields), and keep giving it.
 * 2. A parsed header is rebuilt from its fields (v1 line for v1, v2 with our
 *    known TLVs for both) and re-parsed: the fields must survive. */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sstp/proxyproto.h"
#include "tests/unit/pp_same.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                     \
    do {                                                                \
        if (!(cond)) {                                                  \
            fprintf(stderr, "check failed: %s (line %d)\n", #cond, __LINE__); \
            abort();                                                    \
        }                                                               \
    } while (0)

/* Next prefix length to try: every byte at first (where the signature and
 * fixed fields are decided), then growing steps so long inputs stay fast;
 * the whole size is always tried last. */
static size_t next_k(size_t k, size_t size)
{
    size_t n = k < 64 ? k + 1 : k + 1 + k / 8;
    return (k < size && n > size) ? size : n;
}

static void check_prefixes(const uint8_t *data, size_t size, enum sstp_rc rc_w, size_t used_w,
                           const struct sstp_pp_hdr *whole)
{
    bool decided = false;
    int after = 0;
    for (size_t k = 1; k <= size && after < 3; k = next_k(k, size)) {
        uint8_t *c = malloc(k);
        CHECK(c != NULL);
        memcpy(c, data, k);
        struct sstp_pp_hdr h;
        size_t used = 12345;
        enum sstp_rc rc = sstp_pp_parse(&h, &used, c, k);
        if (rc == SSTP_AGAIN) {
            CHECK(!decided);   /* a decision is never taken back */
            CHECK(used == 0);
        } else {
            decided = true;
            after++;
            CHECK(rc == rc_w);
            if (rc == SSTP_OK) {
                CHECK(used == used_w && used <= k);
                CHECK(hdr_same(&h, whole, true, true));
            } else {
                CHECK(used == 0);
            }
        }
        free(c);
    }
    CHECK(decided == (rc_w != SSTP_AGAIN) || size == 0);
}

/* Builds h with the v1 or v2 builder, re-parses, and compares. */
static void rebuild(const struct sstp_pp_hdr *h, int version)
{
    uint8_t *buf = malloc(SSTP_PP_MAX_HDR_LEN);
    CHECK(buf != NULL);
    struct sstp_wbuf w;
    sstp_wbuf_init(&w, buf, SSTP_PP_MAX_HDR_LEN);
    enum sstp_rc rc = version == 1 ? sstp_pp1_build(&w, h) : sstp_pp2_build(&w, h);
    CHECK(rc == SSTP_OK);
    size_t n = w.len;
    CHECK(n > 0 && n <= SSTP_PP_MAX_HDR_LEN);

    /* exact-size copy of the built header for the re-parse */
    uint8_t *c = malloc(n);
    CHECK(c != NULL);
    memcpy(c, buf, n);
    struct sstp_pp_hdr p;
    size_t used;
    rc = sstp_pp_parse(&p, &used, c, n);
    CHECK(rc == SSTP_OK);
    CHECK(used == n);
    CHECK((int)p.version == version);
    CHECK(p.n_foreign == 0 && p.n_skipped == 0);
    if (version == 2 && h->command == SSTP_PP_CMD_LOCAL)
        CHECK(n == 16 && p.command == SSTP_PP_CMD_LOCAL && p.present == 0);
    else
        CHECK(hdr_same(h, &p, false, false));

    /* one byte short fails whole */
    sstp_wbuf_init(&w, buf, n - 1);
    rc = version == 1 ? sstp_pp1_build(&w, h) : sstp_pp2_build(&w, h);
    CHECK(rc == SSTP_E_NOSPACE && w.len == 0 && w.err);
    free(c);
    free(buf);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct sstp_pp_hdr whole;
    size_t used_w = 999;
    enum sstp_rc rc_w = sstp_pp_parse(&whole, &used_w, data, size);
    CHECK(rc_w < SSTP_RC_COUNT);
    if (rc_w == SSTP_OK)
        CHECK(used_w > 0 && used_w <= size);
    else
        CHECK(used_w == 0);

    check_prefixes(data, size, rc_w, used_w, &whole);

    if (rc_w != SSTP_OK)
        return 0;
    if (whole.version == SSTP_PP_V1) {
        rebuild(&whole, 1); /* v1 carries no TLVs: only family and addresses */
        rebuild(&whole, 2); /* the same connection as a v2 PROXY header */
    } else {
        CHECK(whole.version == SSTP_PP_V2);
        rebuild(&whole, 2);
        if (whole.command == SSTP_PP_CMD_PROXY &&
            (whole.family == SSTP_PP_FAM_TCP4 || whole.family == SSTP_PP_FAM_TCP6 ||
             whole.family == SSTP_PP_FAM_UNSPEC)) {
            struct sstp_pp_hdr v1 = whole;
            v1.present = 0; /* v1 has no TLVs */
            rebuild(&v1, 1);
        }
    }
    return 0;
}
