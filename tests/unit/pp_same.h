/* pp_same.h — compares two parsed PROXY headers by content (views may
 * point into different copies): shared by test_proxyproto.c and
 * fuzz_proxyproto.c, so both hold a parse to the same standard.
 * Header-only: the fuzz target links sstp/ alone. */
#ifndef SSTP_LB_TESTS_UNIT_PP_SAME_H
#define SSTP_LB_TESTS_UNIT_PP_SAME_H

#include <stdbool.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <netinet/in.h>

#include "sstp/proxyproto.h"

static inline bool view_same(struct sstp_slice a, struct sstp_slice b)
{
    return a.len == b.len && (a.len == 0 || memcmp(a.p, b.p, a.len) == 0);
}

/* Same family, address and port (UNIX: path); AF_UNSPEC (LOCAL) carries none. */
static inline bool addr_same(const struct sockaddr_storage *a, const struct sockaddr_storage *b)
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

/* Field by field. with_version: the version must match too (a header
 * rebuilt in the other version keeps only the fields); with_counts: also
 * n_foreign/n_skipped. */
static inline bool hdr_same(const struct sstp_pp_hdr *a, const struct sstp_pp_hdr *b,
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

#endif
