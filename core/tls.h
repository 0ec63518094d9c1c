/* tls.h — OpenSSL 3 contexts as sstp-lb uses them, and the hashes of the
 * certificate a context presents.
 *
 * Server contexts: TLS 1.2 and 1.3 only, ECDHE with AEAD ciphers by default,
 * no renegotiation, no compression, SSL_MODE_RELEASE_BUFFERS (an idle
 * connection holds no record buffers). Client contexts verify the peer
 * against a CA and may present a client certificate (mTLS to backends). */
#ifndef SSTP_LB_CORE_TLS_H
#define SSTP_LB_CORE_TLS_H

#include <openssl/ssl.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "sstp/limits.h"

#define SSTPLB_TLS12_CIPHERS \
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:" \
    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:" \
    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305"
#define SSTPLB_TLS13_SUITES \
    "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256"
/* Key exchange groups: elliptic curves only. A finite-field group
 * (ffdhe2048..8192) costs the server far more than the client that picks
 * it (RFC 7919 groups are negotiated in TLS 1.2 and 1.3 alike). */
#define SSTPLB_TLS_GROUPS "X25519:P-256:P-384"

struct tls_server_opts {
    const char *cert_file;    /* PEM: leaf first, then the chain */
    const char *key_file;     /* PEM private key (RSA or ECDSA) */
    const char *ciphers;      /* TLS 1.2 list; NULL = SSTPLB_TLS12_CIPHERS */
    const char *ciphersuites; /* TLS 1.3 list; NULL = SSTPLB_TLS13_SUITES */
    const char *groups;       /* key exchange groups; NULL = SSTPLB_TLS_GROUPS */
    const char *client_ca;    /* require a client certificate signed by this CA; NULL = none */
    bool client_ca_optional;  /* ask for a client certificate but do not require it */
};

/* The hashes of the leaf certificate a context presents (MS-SSTP crypto
 * binding compares the client's copy against these). */
struct tls_cert_hashes {
    uint8_t sha1[SSTP_SHA1_LEN];
    uint8_t sha256[SSTP_SHA256_LEN];
};

/* tls_server_ctx_new builds a server context. Returns it, or NULL with a
 * reason (file, OpenSSL errors) in err. */
SSL_CTX *tls_server_ctx_new(const struct tls_server_opts *o, char *err, size_t err_len);

/* tls_client_ctx_new builds a client context that verifies the server
 * against ca_file (required) and presents cert/key if given. */
SSL_CTX *tls_client_ctx_new(const char *ca_file, const char *cert_file, const char *key_file,
                            char *err, size_t err_len);

/* tls_ctx_cert_hashes hashes the DER of the leaf certificate of ctx.
 * Returns 0 or -1. */
int tls_ctx_cert_hashes(SSL_CTX *ctx, struct tls_cert_hashes *out);

/* tls_x509_sha256 hashes a certificate's DER (e.g. a client certificate). */
int tls_x509_sha256(X509 *x, uint8_t out[SSTP_SHA256_LEN]);

/* Certificate expiry. SSTP clients hard-fail on an expired certificate, so
 * both daemons publish each served certificate's notAfter and warn from
 * tls.expiry_warn_days before it. */
#define TLS_EXPIRY_CHECK_S 3600.0     /* how often a running daemon looks again */
#define TLS_EXPIRY_REPEAT_S 86400.0   /* one warning per certificate per day at most */

/* tls_not_after reads x's notAfter as unix seconds. 0, or -1. */
int tls_not_after(const X509 *x, int64_t *out);

/* tls_subject_cn writes x's subject commonName (or "-") into out. */
void tls_subject_cn(const X509 *x, char *out, size_t len);

/* tls_expiry_warn logs one line for a certificate inside the warning
 * window: warn cert_expiring (days left), or error cert_expired. Nothing
 * when it is further than warn_days away or warn_days is 0. Returns true
 * when it logged. what names the certificate (file, or listener). */
bool tls_expiry_warn(const char *what, const X509 *x, time_t now, long warn_days);

/* tls_file_expiry_warn does the same for the first certificate of a PEM
 * file (--check-config). Returns true when it logged; an unreadable file
 * logs nothing (loading it reports that). */
bool tls_file_expiry_warn(const char *file, time_t now, long warn_days);

/* tls_hex writes len bytes as lower-case hex into out (2*len+1 bytes). */
char *tls_hex(char *out, const uint8_t *in, size_t len);
/* tls_unhex parses hex (':' separators allowed) into exactly len bytes. */
int tls_unhex(uint8_t *out, size_t len, const char *hex);

#endif
