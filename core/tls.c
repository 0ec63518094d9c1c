/* tls.c — OpenSSL context set-up and certificate hashes. */
#include "core/tls.h"

#include <ctype.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <string.h>

#include "core/log.h"
#include "sstp/binding.h"

static SSL_CTX *fail_ctx(SSL_CTX *ctx, char *err, size_t err_len, const char *what)
{
    char ossl[512];
    snprintf(err, err_len, "%s: %s", what, log_openssl_errors(ossl, sizeof ossl));
    SSL_CTX_free(ctx);
    return NULL;
}

static void harden(SSL_CTX *ctx)
{
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    /* IGNORE_UNEXPECTED_EOF: OpenSSL 3 reports a TCP FIN without
     * close_notify as SSL_ERROR_SSL; io.c treats it as EOF, which SSTP can
     * afford (its own framing and CALL_DISCONNECT delimit the stream). */
    SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION |
                                 SSL_OP_CIPHER_SERVER_PREFERENCE | SSL_OP_IGNORE_UNEXPECTED_EOF);
    SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS | SSL_MODE_ENABLE_PARTIAL_WRITE |
                              SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
}

SSL_CTX *tls_server_ctx_new(const struct tls_server_opts *o, char *err, size_t err_len)
{
    char what[512];
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    if (!ctx)
        return fail_ctx(ctx, err, err_len, "SSL_CTX_new");
    harden(ctx);
    if (!SSL_CTX_set_cipher_list(ctx, o->ciphers ? o->ciphers : SSTPLB_TLS12_CIPHERS))
        return fail_ctx(ctx, err, err_len, "ciphers");
    if (!SSL_CTX_set_ciphersuites(ctx, o->ciphersuites ? o->ciphersuites : SSTPLB_TLS13_SUITES))
        return fail_ctx(ctx, err, err_len, "ciphersuites");
    if (!SSL_CTX_set1_groups_list(ctx, o->groups ? o->groups : SSTPLB_TLS_GROUPS))
        return fail_ctx(ctx, err, err_len, "groups");
    snprintf(what, sizeof what, "certificate %s", o->cert_file);
    if (SSL_CTX_use_certificate_chain_file(ctx, o->cert_file) != 1)
        return fail_ctx(ctx, err, err_len, what);
    snprintf(what, sizeof what, "key %s", o->key_file);
    if (SSL_CTX_use_PrivateKey_file(ctx, o->key_file, SSL_FILETYPE_PEM) != 1 ||
        SSL_CTX_check_private_key(ctx) != 1)
        return fail_ctx(ctx, err, err_len, what);
    if (o->client_ca) {
        snprintf(what, sizeof what, "client CA %s", o->client_ca);
        if (SSL_CTX_load_verify_locations(ctx, o->client_ca, NULL) != 1)
            return fail_ctx(ctx, err, err_len, what);
        STACK_OF(X509_NAME) *names = SSL_load_client_CA_file(o->client_ca);
        if (names)
            SSL_CTX_set_client_CA_list(ctx, names);
        SSL_CTX_set_verify(ctx, o->client_ca_optional ? SSL_VERIFY_PEER
                                                       : SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT,
                           NULL);
    }
    return ctx;
}

SSL_CTX *tls_client_ctx_new(const char *ca_file, const char *cert_file, const char *key_file,
                            char *err, size_t err_len)
{
    char what[512];
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    if (!ctx)
        return fail_ctx(ctx, err, err_len, "SSL_CTX_new");
    harden(ctx);
    snprintf(what, sizeof what, "CA %s", ca_file);
    if (SSL_CTX_load_verify_locations(ctx, ca_file, NULL) != 1)
        return fail_ctx(ctx, err, err_len, what);
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    if (cert_file) {
        snprintf(what, sizeof what, "client certificate %s", cert_file);
        if (SSL_CTX_use_certificate_chain_file(ctx, cert_file) != 1)
            return fail_ctx(ctx, err, err_len, what);
        snprintf(what, sizeof what, "client key %s", key_file ? key_file : cert_file);
        if (SSL_CTX_use_PrivateKey_file(ctx, key_file ? key_file : cert_file, SSL_FILETYPE_PEM) != 1)
            return fail_ctx(ctx, err, err_len, what);
    }
    return ctx;
}

static int x509_hashes(X509 *x, uint8_t *sha1, uint8_t *sha256)
{
    unsigned char *der = NULL;
    int len = i2d_X509(x, &der);
    int rc = -1;
    if (len <= 0)
        return -1;
    if ((!sha1 || sstp_bind_cert_sha1(sha1, der, (size_t)len) == SSTP_OK) &&
        (!sha256 || sstp_bind_cert_sha256(sha256, der, (size_t)len) == SSTP_OK))
        rc = 0;
    OPENSSL_free(der);
    return rc;
}

int tls_ctx_cert_hashes(SSL_CTX *ctx, struct tls_cert_hashes *out)
{
    X509 *leaf = SSL_CTX_get0_certificate(ctx);
    return leaf ? x509_hashes(leaf, out->sha1, out->sha256) : -1;
}

int tls_x509_sha256(X509 *x, uint8_t out[SSTP_SHA256_LEN])
{
    return x509_hashes(x, NULL, out);
}

int tls_not_after(const X509 *x, int64_t *out)
{
    const ASN1_TIME *t = X509_get0_notAfter(x);
    struct tm tm;
    if (!t || ASN1_TIME_to_tm(t, &tm) != 1)
        return -1;
    *out = (int64_t)timegm(&tm);
    return 0;
}

void tls_subject_cn(const X509 *x, char *out, size_t len)
{
    const X509_NAME *subj = X509_get_subject_name(x);
    int at = subj ? X509_NAME_get_index_by_NID(subj, NID_commonName, -1) : -1;
    snprintf(out, len, "-");
    if (at < 0)
        return;
    const ASN1_STRING *cn = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subj, at));
    size_t n = (size_t)ASN1_STRING_length(cn), o = 0;
    const unsigned char *d = ASN1_STRING_get0_data(cn);
    /* a certificate is operator input, but keep the log line one line */
    for (size_t i = 0; i < n && o + 1 < len; i++)
        out[o++] = d[i] > 0x20 && d[i] < 0x7f && d[i] != '"' ? (char)d[i] : '_';
    out[o] = '\0';
}

bool tls_expiry_warn(const char *what, const X509 *x, time_t now, long warn_days)
{
    int64_t not_after;
    char cn[128], when[32];
    if (warn_days <= 0 || tls_not_after(x, &not_after) == -1)
        return false;
    double days_left = (double)(not_after - (int64_t)now) / 86400.0;
    if (days_left > (double)warn_days)
        return false;
    tls_subject_cn(x, cn, sizeof cn);
    time_t na = (time_t)not_after;
    struct tm tm;
    gmtime_r(&na, &tm);
    strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
    if (days_left <= 0)
        log_error("cert_expired", "cert=%s subject=\"%s\" not_after=%s msg=clients_refuse_it", what, cn,
                  when);
    else
        log_warn("cert_expiring", "cert=%s subject=\"%s\" not_after=%s days_left=%.1f warn_days=%ld",
                 what, cn, when, days_left, warn_days);
    return true;
}

bool tls_file_expiry_warn(const char *file, time_t now, long warn_days)
{
    FILE *f = fopen(file, "r");
    if (!f)
        return false;
    X509 *x = PEM_read_X509(f, NULL, NULL, NULL);
    fclose(f);
    ERR_clear_error();
    bool warned = x && tls_expiry_warn(file, x, now, warn_days);
    X509_free(x);
    return warned;
}

char *tls_hex(char *out, const uint8_t *in, size_t len)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < len; i++) {
        out[2 * i] = digits[in[i] >> 4];
        out[2 * i + 1] = digits[in[i] & 15];
    }
    out[2 * len] = '\0';
    return out;
}

static int hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c = tolower(c);
    return (c >= 'a' && c <= 'f') ? c - 'a' + 10 : -1;
}

int tls_unhex(uint8_t *out, size_t len, const char *hex)
{
    size_t n = 0;
    for (const char *p = hex; *p;) {
        if (*p == ':' || *p == ' ') {
            p++;
            continue;
        }
        int hi = hexval((unsigned char)p[0]);
        int lo = p[1] ? hexval((unsigned char)p[1]) : -1;
        if (hi < 0 || lo < 0 || n >= len)
            return -1;
        out[n++] = (uint8_t)(hi << 4 | lo);
        p += 2;
    }
    return n == len ? 0 : -1;
}
