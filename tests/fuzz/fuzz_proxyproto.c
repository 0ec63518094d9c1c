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

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                     \
    do {                                                                \
        if (!(cond)) {                                                  \
            fprintf(stderr, "check failed: %s (line %d)\n", #cond, __LINE__); \
            abort();                                                    \
        }                                                               \
    } while (0)

static bool view_same(struct sstp_slice a, struct sstp_slice b)
{
    return a.len == b.len && (a.len == 0 || memcmp(a.p, b.p, a.len) == 0);
}

static bool addr_same(const struct sockaddr_storage *a, const struct sockaddr_storage *b)
{
    if (a->ss_family != b->ss_family)
        return false;
    switch (a->ss_family) {
    case AF_INET: {
        const struct sockaddr_in *x = (const void *)a, *y = (const void *)b;
        return x->sin_port == y->sin_port && x->sin_addr.s_addr == y->sin_addr.s_addr;
    }
    case AF_INET6: {
        const struct sockaddr_in6 *x = (const void *)a, *y = (const void *)b;
        return x->sin6_port == y->sin6_port && memcmp(&x->sin6_addr, &y->sin6_addr, 16) == 0;
    }
    case AF_UNIX: {
        const struct sockaddr_un *x = (const void *)a, *y = (const void *)b;
        return memcmp(x->sun_path, y->sun_path, sizeof x->sun_path) == 0;
    }
    case AF_UNSPEC:
        return true;
    default:
        return false;
    }
}

/* Field-by-field, by content; with_version/with_counts select what the
 * rebuilt header must keep. */
static bool hdr_same(const struct sstp_pp_hdr *a, const struct sstp_pp_hdr *b,
                     bool with_version, bool with_counts)
{
    uint32_t p = a->present;
    if ((with_version && a->version != b->version) || a->command != b->command ||
        a->family != b->family || a->present != b->present ||
        !addr_same(&a->src, &b->src) || !addr_same(&a->dst, &b->dst))
        return false;
    if (with_counts && (a->n_foreign != b->n_foreign || a->n_skipped != b->n_skipped))
        return false;
    if ((p & SSTP_PP_HAS_AUTHORITY) && !view_same(a->authority, b->authority))
        return false;
    if ((p & SSTP_PP_HAS_UNIQUE_ID) && !view_same(a->unique_id, b->unique_id))
        return false;
    if ((p & SSTP_PP_HAS_SSL) && (a->ssl.client != b->ssl.client || a->ssl.verify != b->ssl.verify))
        return false;
    if ((p & SSTP_PP_HAS_SSL_VERSION) && !view_same(a->ssl.version, b->ssl.version))
        return false;
    if ((p & SSTP_PP_HAS_SSL_CN) && !view_same(a->ssl.cn, b->ssl.cn))
        return false;
    if ((p & SSTP_PP_HAS_SSL_CIPHER) && !view_same(a->ssl.cipher, b->ssl.cipher))
        return false;
    if ((p & SSTP_PP_HAS_SSL_SIG_ALG) && !view_same(a->ssl.sig_alg, b->ssl.sig_alg))
        return false;
    if ((p & SSTP_PP_HAS_SSL_KEY_ALG) && !view_same(a->ssl.key_alg, b->ssl.key_alg))
        return false;
    if ((p & SSTP_PP_HAS_CERT_SHA256) && memcmp(a->cert_sha256, b->cert_sha256, 32) != 0)
        return false;
    if ((p & SSTP_PP_HAS_CERT_SHA1) && memcmp(a->cert_sha1, b->cert_sha1, 20) != 0)
        return false;
    if (p & SSTP_PP_HAS_META) {
        const struct sstp_pp_meta *x = &a->meta, *y = &b->meta;
        if (!view_same(x->proxy_id, y->proxy_id) || !view_same(x->tenant, y->tenant) ||
            !view_same(x->affinity, y->affinity) ||
            (x->client_cert_sha256 == NULL) != (y->client_cert_sha256 == NULL) ||
            (x->client_cert_sha256 && memcmp(x->client_cert_sha256, y->client_cert_sha256, 32)))
            return false;
    }
    return true;
}

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
