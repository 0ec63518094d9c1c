/* pphdr.c — our PROXY v2 header (see pphdr.h). */
#include "proxy/pphdr.h"

#include <netinet/in.h>
#include <string.h>

/* IPv4, or the IPv4 inside an IPv4-mapped IPv6 address, as sockaddr_in. */
static bool as_v4(const struct sockaddr *sa, struct sockaddr_in *out)
{
    memset(out, 0, sizeof *out);
    out->sin_family = AF_INET;
    if (sa->sa_family == AF_INET) {
        *out = *(const struct sockaddr_in *)sa;
        return true;
    }
    if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *v6 = (const struct sockaddr_in6 *)sa;
        if (IN6_IS_ADDR_V4MAPPED(&v6->sin6_addr)) {
            memcpy(&out->sin_addr, &v6->sin6_addr.s6_addr[12], 4);
            out->sin_port = v6->sin6_port;
            return true;
        }
    }
    return false;
}

static void as_v6(const struct sockaddr *sa, struct sockaddr_in6 *out)
{
    struct sockaddr_in v4;
    memset(out, 0, sizeof *out);
    out->sin6_family = AF_INET6;
    if (as_v4(sa, &v4)) {
        out->sin6_addr.s6_addr[10] = out->sin6_addr.s6_addr[11] = 0xFF;
        memcpy(&out->sin6_addr.s6_addr[12], &v4.sin_addr, 4);
        out->sin6_port = v4.sin_port;
    } else {
        *out = *(const struct sockaddr_in6 *)sa;
    }
}

static bool is_ip(const struct sockaddr *sa)
{
    return sa && (sa->sa_family == AF_INET || sa->sa_family == AF_INET6);
}

static struct sstp_slice str_view(const char *s)
{
    return sstp_slice_make(s, s ? strlen(s) : 0);
}

/* A PROXY command header with the addresses only (see px_pp_build). */
static void set_addrs(struct sstp_pp_hdr *h, const struct sockaddr *src, const struct sockaddr *dst)
{
    struct sockaddr_in s4, d4;
    memset(h, 0, sizeof *h);
    h->version = SSTP_PP_V2;
    h->command = SSTP_PP_CMD_PROXY;
    if (!is_ip(src) || !is_ip(dst)) {
        h->family = SSTP_PP_FAM_UNSPEC;
    } else if (as_v4(src, &s4) && as_v4(dst, &d4)) {
        h->family = SSTP_PP_FAM_TCP4;
        memcpy(&h->src, &s4, sizeof s4);
        memcpy(&h->dst, &d4, sizeof d4);
    } else {
        h->family = SSTP_PP_FAM_TCP6;
        as_v6(src, (struct sockaddr_in6 *)&h->src);
        as_v6(dst, (struct sockaddr_in6 *)&h->dst);
    }
}

enum sstp_rc px_pp_build_plain(struct sstp_wbuf *w, const struct sockaddr *src,
                               const struct sockaddr *dst, const char *sni)
{
    struct sstp_pp_hdr h;
    set_addrs(&h, src, dst);
    if (sni && sni[0]) {
        h.present |= SSTP_PP_HAS_AUTHORITY;
        h.authority = str_view(sni);
    }
    return sstp_pp2_build(w, &h);
}

enum sstp_rc px_pp_build(struct sstp_wbuf *w, const struct px_pp_info *in)
{
    struct sstp_pp_hdr h;
    set_addrs(&h, in->src, in->dst);

    if (in->sni && in->sni[0]) {
        h.present |= SSTP_PP_HAS_AUTHORITY;
        h.authority = str_view(in->sni);
    }
    h.present |= SSTP_PP_HAS_UNIQUE_ID;
    h.unique_id = str_view(in->sid);

    h.present |= SSTP_PP_HAS_SSL;
    h.ssl.client = SSTP_PP2_CLIENT_SSL;
    if (in->client_cert)
        h.ssl.client |= SSTP_PP2_CLIENT_CERT_SESS |
                        (in->client_cert_this_conn ? SSTP_PP2_CLIENT_CERT_CONN : 0);
    h.ssl.verify = in->client_verify;
    if (in->tls_version) {
        h.present |= SSTP_PP_HAS_SSL_VERSION;
        h.ssl.version = str_view(in->tls_version);
    }
    if (in->client_cert && in->client_cn && in->client_cn[0]) {
        h.present |= SSTP_PP_HAS_SSL_CN;
        h.ssl.cn = str_view(in->client_cn);
    }
    if (in->tls_cipher) {
        h.present |= SSTP_PP_HAS_SSL_CIPHER;
        h.ssl.cipher = str_view(in->tls_cipher);
    }
    if (in->sig_alg) {
        h.present |= SSTP_PP_HAS_SSL_SIG_ALG;
        h.ssl.sig_alg = str_view(in->sig_alg);
    }
    if (in->key_alg) {
        h.present |= SSTP_PP_HAS_SSL_KEY_ALG;
        h.ssl.key_alg = str_view(in->key_alg);
    }

    if (!in->presented)
        return SSTP_E_ARG; /* the backend's crypto binding depends on it */
    h.present |= SSTP_PP_HAS_CERT_SHA256 | SSTP_PP_HAS_CERT_SHA1;
    h.cert_sha256 = in->presented->sha256;
    h.cert_sha1 = in->presented->sha1;

    h.present |= SSTP_PP_HAS_META;
    h.meta.proxy_id = str_view(in->proxy_id);
    h.meta.client_cert_sha256 = in->client_cert ? in->client_sha256 : NULL;
    h.meta.tenant = str_view(in->tenant);
    return sstp_pp2_build(w, &h);
}
