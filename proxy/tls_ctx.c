/* tls_ctx.c — loading a TLS generation and its OpenSSL callbacks (see
 * tls_ctx.h). Everything that reads files runs at start or on SIGHUP; the
 * callbacks only look up what was computed then. */
#include "proxy/tls_ctx.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ocsp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/config.h"
#include "core/ktls.h"
#include "core/log.h"

#define POLICY_LABEL "sstp-proxy client policy v1"
#define OCSP_MAX_LEN (64 * 1024)       /* a stapled response is a few KiB */
#define OCSP_LEEWAY_S 300              /* clock skew allowed on thisUpdate/nextUpdate */
#define PKI_FILE_MAX (64 * 1024 * 1024) /* a CA bundle or a large CRL */
#define TICKET_APPDATA_LEN (SSTP_SHA256_LEN + SSTP_SHA1_LEN)
#define TLS13_TICKETS 1                /* one resumption ticket per full handshake is enough */

static const unsigned char alpn_http11[] = "http/1.1";

/* ---- callbacks ----------------------------------------------------------- */

static int client_hello_cb(SSL *s, int *al, void *arg)
{
    struct px_tls *t = arg;
    struct px_tls_hs *hs = SSL_get_app_data(s);
    const unsigned char *p;
    size_t len;
    char sni[PX_SNI_MAX + 1];
    int have_sni = 0;

    if (!hs) {
        *al = SSL_AD_INTERNAL_ERROR;
        return SSL_CLIENT_HELLO_ERROR;
    }
    if (SSL_client_hello_get0_ext(s, TLSEXT_TYPE_server_name, &p, &len)) {
        have_sni = px_sni_parse(p, len, sni, sizeof sni);
        if (have_sni < 0) {
            *al = SSL_AD_DECODE_ERROR;
            return SSL_CLIENT_HELLO_ERROR;
        }
    }
    bool tls13 = SSL_client_hello_get0_ext(s, TLSEXT_TYPE_supported_versions, &p, &len) &&
                 px_versions_tls13(p, len);
    bool ecdsa = SSL_client_hello_get0_ext(s, TLSEXT_TYPE_signature_algorithms, &p, &len) &&
                 px_sigalgs_ecdsa(p, len);
    if (ecdsa && !tls13) {
        len = SSL_client_hello_get0_ciphers(s, &p);
        ecdsa = px_ciphers_ecdsa(p, len);
    }
    long i = px_sni_choose(t->sel, t->n_certs, have_sni == 1 ? sni : NULL, ecdsa);
    if (i < 0) {
        *al = SSL_AD_UNRECOGNIZED_NAME;
        return SSL_CLIENT_HELLO_ERROR;
    }
    if (SSL_get_SSL_CTX(s) != t->certs[i].ctx && !SSL_set_SSL_CTX(s, t->certs[i].ctx)) {
        *al = SSL_AD_INTERNAL_ERROR;
        return SSL_CLIENT_HELLO_ERROR;
    }
    hs->cert = &t->certs[i];
    /* tls.ktls = auto: TLS 1.2 only (both ways in the kernel, OpenSSL's state
     * freed). With TLS 1.3 OpenSSL 3.0 only sends through the kernel, which
     * frees nothing and would close the session on a KeyUpdate (ktls.h).
     * We pick 1.3 whenever the client offers it. */
    if (t->ktls && !t->ktls13 && tls13)
        SSL_clear_options(s, SSL_OP_ENABLE_KTLS);
    if (have_sni == 1)
        memcpy(hs->sni, sni, strlen(sni) + 1);
    else
        hs->sni[0] = '\0';
    return SSL_CLIENT_HELLO_SUCCESS;
}

static struct px_cert *cert_of(const SSL *s)
{
    return SSL_CTX_get_app_data(SSL_get_SSL_CTX(s));
}

static struct px_ticket_ring *ticket_ring(const struct px_tls *t)
{
    return t->keys->file ? t->keys->file : t->keys->ratchet;
}

static int ticket_key_cb(SSL *s, unsigned char key_name[16], unsigned char *iv,
                         EVP_CIPHER_CTX *ectx, EVP_MAC_CTX *hctx, int enc)
{
    struct px_cert *c = cert_of(s);
    if (!c)
        return -1;
    struct px_tls *t = c->tls;
    struct px_ticket_key k;
    bool renew = false;
    double now = (double)time(NULL);
    int rc = -1;
    if (enc) {
        if (px_ticket_key_current(ticket_ring(t), t->policy, now, &k) == -1)
            return -1; /* keys wiped or no HMAC: fail rather than issue a guessable ticket */
        memcpy(key_name, k.name, PX_TICKET_NAME_LEN);
        if (RAND_bytes(iv, EVP_CIPHER_get_iv_length(t->ticket_cipher)) != 1 ||
            EVP_EncryptInit_ex(ectx, t->ticket_cipher, NULL, k.aes, iv) != 1)
            goto out;
    } else {
        if (px_ticket_key_find(ticket_ring(t), t->policy, key_name, now, &k, &renew) == -1)
            return 0; /* unknown, expired or another policy's key: full handshake, new ticket */
        if (EVP_DecryptInit_ex(ectx, t->ticket_cipher, NULL, k.aes, iv) != 1)
            goto out;
    }
    OSSL_PARAM params[3];
    params[0] = OSSL_PARAM_construct_octet_string(OSSL_MAC_PARAM_KEY, k.hmac, PX_TICKET_KEY_LEN);
    params[1] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)"SHA256", 0);
    params[2] = OSSL_PARAM_construct_end();
    if (EVP_MAC_CTX_set_params(hctx, params) == 1) /* both contexts keep their own copy */
        rc = renew ? 2 : 1;
out:
    OPENSSL_cleanse(&k, sizeof k);
    return rc;
}

static bool same_hashes(const struct tls_cert_hashes *a, const struct tls_cert_hashes *b)
{
    return memcmp(a->sha256, b->sha256, sizeof a->sha256) == 0 && memcmp(a->sha1, b->sha1, sizeof a->sha1) == 0;
}

/* Whether the certificate of hashes h is one this generation serves. A
 * certificate a reload replaced (perhaps because its key leaked) is
 * vouched for no more: its tickets get a full handshake. */
static bool served(const struct px_tls *t, const struct tls_cert_hashes *h)
{
    for (size_t i = 0; i < t->n_certs; i++)
        if (same_hashes(&t->certs[i].hashes, h))
            return true;
    return false;
}

/* A new ticket carries the hashes of the certificate the client holds, so
 * a resumption (where no certificate is sent) still tells the backend the
 * right one, even after a reload replaced it. */
static int ticket_gen_cb(SSL *s, void *arg)
{
    (void)arg;
    struct px_tls_hs *hs = SSL_get_app_data(s);
    const struct tls_cert_hashes *h = NULL;
    uint8_t data[TICKET_APPDATA_LEN];
    if (hs && hs->from_ticket && SSL_session_reused(s))
        h = &hs->ticket;
    else if (hs && hs->cert)
        h = &hs->cert->hashes;
    if (!h)
        return 0; /* no ticket rather than one that would lie */
    memcpy(data, h->sha256, SSTP_SHA256_LEN);
    memcpy(data + SSTP_SHA256_LEN, h->sha1, SSTP_SHA1_LEN);
    return SSL_SESSION_set1_ticket_appdata(SSL_get0_session(s), data, sizeof data);
}

static SSL_TICKET_RETURN ticket_dec_cb(SSL *s, SSL_SESSION *ss, const unsigned char *keyname,
                                       size_t keyname_len, SSL_TICKET_STATUS status, void *arg)
{
    (void)keyname;
    (void)keyname_len;
    (void)arg;
    struct px_tls_hs *hs = SSL_get_app_data(s);
    struct px_cert *c = cert_of(s);
    struct tls_cert_hashes h;
    void *data = NULL;
    size_t len = 0;
    switch (status) {
    case SSL_TICKET_SUCCESS:
    case SSL_TICKET_SUCCESS_RENEW:
        if (!hs || !c || !SSL_SESSION_get0_ticket_appdata(ss, &data, &len) || len != TICKET_APPDATA_LEN)
            return SSL_TICKET_RETURN_IGNORE_RENEW;
        memcpy(h.sha256, data, SSTP_SHA256_LEN);
        memcpy(h.sha1, (uint8_t *)data + SSTP_SHA256_LEN, SSTP_SHA1_LEN);
        /* even a ticket under our key (a stolen or shared one) never makes
         * us vouch for a certificate we did not present */
        if (!served(c->tls, &h)) {
            hs->ticket_not_served = true;
            return SSL_TICKET_RETURN_IGNORE_RENEW;
        }
        hs->ticket = h;
        hs->from_ticket = true;
        return status == SSL_TICKET_SUCCESS ? SSL_TICKET_RETURN_USE : SSL_TICKET_RETURN_USE_RENEW;
    case SSL_TICKET_EMPTY:
    case SSL_TICKET_NO_DECRYPT:
        return SSL_TICKET_RETURN_IGNORE_RENEW;
    default:
        return SSL_TICKET_RETURN_ABORT;
    }
}

static int ocsp_cb(SSL *s, void *arg)
{
    struct px_cert *c = arg;
    if (!c->ocsp || time(NULL) > c->ocsp_next_update)
        return SSL_TLSEXT_ERR_NOACK; /* a stale staple would make a strict client fail */
    unsigned char *copy = OPENSSL_memdup(c->ocsp, c->ocsp_len); /* OpenSSL takes ownership */
    if (!copy || SSL_set_tlsext_status_ocsp_resp(s, copy, (long)c->ocsp_len) != 1) {
        OPENSSL_free(copy);
        return SSL_TLSEXT_ERR_NOACK;
    }
    return SSL_TLSEXT_ERR_OK;
}

static int alpn_cb(SSL *s, const unsigned char **out, unsigned char *out_len, const unsigned char *in,
                   unsigned int in_len, void *arg)
{
    (void)s;
    (void)arg;
    /* the client's list: length-prefixed protocol names */
    for (unsigned int i = 0; i < in_len;) {
        unsigned int n = in[i];
        if (n == 0 || i + 1 + n > in_len)
            break;
        if (n == sizeof alpn_http11 - 1 && memcmp(in + i + 1, alpn_http11, n) == 0) {
            *out = in + i + 1;
            *out_len = (unsigned char)n;
            return SSL_TLSEXT_ERR_OK;
        }
        i += 1 + n;
    }
    return SSL_TLSEXT_ERR_NOACK;
}

static void keylog_cb(const SSL *s, const char *line)
{
    struct px_cert *c = cert_of(s);
    if (!c || c->tls->keylog_fd == -1)
        return;
    char buf[1024];
    int n = snprintf(buf, sizeof buf, "%s\n", line);
    if (n > 0 && (size_t)n < sizeof buf && write(c->tls->keylog_fd, buf, (size_t)n) == -1)
        return; /* debugging aid only */
}

/* ---- loading ------------------------------------------------------------- */

static int fail(char *err, size_t err_len, const char *what, const char *file)
{
    char ossl[512];
    snprintf(err, err_len, "%s %s: %s", what, file, log_openssl_errors(ossl, sizeof ossl));
    return -1;
}

static int add_name(struct px_cert *c, const char *name, size_t n)
{
    if (n == 0 || n > PX_SNI_MAX)
        return 0; /* not a name a client could send */
    char **g = realloc(c->names, (c->n_names + 1) * sizeof *g);
    if (!g)
        return -1;
    c->names = g;
    char *copy = strndup(name, n);
    if (!copy)
        return -1;
    for (char *p = copy; *p; p++)
        if (*p >= 'A' && *p <= 'Z')
            *p = (char)(*p + 32);
    c->names[c->n_names++] = copy;
    return 0;
}

/* Names of the certificate: its DNS SANs, else its subject CN. */
static int names_from_x509(struct px_cert *c, X509 *x)
{
    GENERAL_NAMES *sans = X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
    int rc = 0;
    for (int i = 0; sans && i < sk_GENERAL_NAME_num(sans) && rc == 0; i++) {
        const GENERAL_NAME *g = sk_GENERAL_NAME_value(sans, i);
        if (g->type == GEN_DNS)
            rc = add_name(c, (const char *)ASN1_STRING_get0_data(g->d.dNSName),
                          (size_t)ASN1_STRING_length(g->d.dNSName));
    }
    GENERAL_NAMES_free(sans);
    if (rc == 0 && c->n_names == 0) {
        X509_NAME *subj = X509_get_subject_name(x);
        int at = X509_NAME_get_index_by_NID(subj, NID_commonName, -1);
        if (at >= 0) {
            ASN1_STRING *cn = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subj, at));
            rc = add_name(c, (const char *)ASN1_STRING_get0_data(cn), (size_t)ASN1_STRING_length(cn));
        }
    }
    return rc;
}

static void describe_key(struct px_cert *c, X509 *x)
{
    EVP_PKEY *pk = X509_get0_pubkey(x);
    int sig = X509_get_signature_nid(x);
    snprintf(c->sig_alg, sizeof c->sig_alg, "%s", sig != NID_undef ? OBJ_nid2sn(sig) : "unknown");
    if (!pk) {
        snprintf(c->key_alg, sizeof c->key_alg, "unknown");
        return;
    }
    int id = EVP_PKEY_get_base_id(pk);
    c->ecdsa = id == EVP_PKEY_EC;
    snprintf(c->key_alg, sizeof c->key_alg, "%s%d",
             id == EVP_PKEY_RSA ? "RSA" : id == EVP_PKEY_EC ? "EC" : "KEY", EVP_PKEY_get_bits(pk));
}

static int read_file(const char *path, size_t max, uint8_t **out, size_t *out_len, char *err, size_t err_len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    uint8_t *buf = NULL;
    if (fd == -1 || fstat(fd, &st) == -1) {
        snprintf(err, err_len, "%s: %s", path, strerror(errno));
        goto fail;
    }
    if (st.st_size <= 0 || (size_t)st.st_size > max) {
        snprintf(err, err_len, "%s: size must be 1..%zu bytes", path, max);
        goto fail;
    }
    buf = malloc((size_t)st.st_size);
    if (!buf) {
        snprintf(err, err_len, "%s: out of memory", path);
        goto fail;
    }
    size_t got = 0;
    while (got < (size_t)st.st_size) {
        ssize_t n = read(fd, buf + got, (size_t)st.st_size - got);
        if (n <= 0) {
            snprintf(err, err_len, "%s: short read", path);
            goto fail;
        }
        got += (size_t)n;
    }
    close(fd);
    *out = buf;
    *out_len = got;
    return 0;
fail:
    free(buf);
    if (fd != -1)
        close(fd);
    return -1;
}

/* The certificate that signed leaf: from the chain the context sends,
 * else from the certificates the OCSP response carries (its signer is
 * often the issuer). Checked by signature, not by name alone. */
static X509 *find_issuer(SSL_CTX *ctx, X509 *leaf, OCSP_BASICRESP *bs)
{
    STACK_OF(X509) *lists[2] = { NULL, (STACK_OF(X509) *)OCSP_resp_get0_certs(bs) };
    if (SSL_CTX_get0_chain_certs(ctx, &lists[0]) != 1)
        lists[0] = NULL;
    for (size_t l = 0; l < 2; l++) {
        for (int i = 0; lists[l] && i < sk_X509_num(lists[l]); i++) {
            X509 *x = sk_X509_value(lists[l], i);
            EVP_PKEY *pk = X509_get0_pubkey(x);
            if (X509_check_issued(x, leaf) == X509_V_OK && pk && X509_verify(leaf, pk) == 1)
                return x;
        }
    }
    return NULL;
}

/* The single response about leaf, matched by CertID (whatever hash the
 * responder used). */
static OCSP_SINGLERESP *find_single(OCSP_BASICRESP *bs, X509 *leaf, X509 *issuer)
{
    for (int i = 0; i < OCSP_resp_count(bs); i++) {
        OCSP_SINGLERESP *single = OCSP_resp_get0(bs, i);
        const OCSP_CERTID *cid = OCSP_SINGLERESP_get0_id(single);
        ASN1_OBJECT *md_oid = NULL;
        if (!cid || OCSP_id_get0_info(NULL, &md_oid, NULL, NULL, (OCSP_CERTID *)cid) != 1)
            continue;
        const EVP_MD *md = EVP_get_digestbyobj(md_oid);
        OCSP_CERTID *want = md ? OCSP_cert_to_id(md, leaf, issuer) : NULL;
        int same = want && OCSP_id_cmp(want, cid) == 0;
        OCSP_CERTID_free(want);
        if (same)
            return single;
    }
    return NULL;
}

/* Why the response must not be stapled for leaf, or NULL if it may be
 * (then *next_update is when it goes stale). */
static const char *ocsp_refusal(SSL_CTX *ctx, X509 *leaf, const uint8_t *der, size_t der_len,
                                time_t *next_update)
{
    const unsigned char *p = der;
    OCSP_RESPONSE *r = d2i_OCSP_RESPONSE(NULL, &p, (long)der_len);
    OCSP_BASICRESP *bs = NULL;
    const char *why = NULL;
    int status, reason;
    ASN1_GENERALIZEDTIME *rev, *this_upd, *next_upd;
    struct tm tm;
    if (!r || OCSP_response_status(r) != OCSP_RESPONSE_STATUS_SUCCESSFUL || !(bs = OCSP_response_get1_basic(r)))
        why = "not_a_successful_response";
    X509 *issuer = why ? NULL : find_issuer(ctx, leaf, bs);
    OCSP_SINGLERESP *single = why || !issuer ? NULL : find_single(bs, leaf, issuer);
    if (!why && !issuer)
        why = "issuer_not_found";
    else if (!why && !single)
        why = "for_another_certificate";
    else if (!why && (status = OCSP_single_get0_status(single, &reason, &rev, &this_upd, &next_upd)) !=
                         V_OCSP_CERTSTATUS_GOOD)
        why = "status_not_good";
    else if (!why && !next_upd)
        why = "no_next_update";
    else if (!why && (OCSP_check_validity(this_upd, next_upd, OCSP_LEEWAY_S, -1) != 1 ||
                      ASN1_TIME_to_tm(next_upd, &tm) != 1))
        why = "stale";
    if (!why)
        *next_update = timegm(&tm) + OCSP_LEEWAY_S;
    OCSP_BASICRESP_free(bs);
    OCSP_RESPONSE_free(r);
    ERR_clear_error();
    return why;
}

/* Loads a DER OCSP response. An unreadable file is a configuration error;
 * a response that does not vouch for this certificate now is not stapled
 * (warned and counted) and the certificate is served without it. */
static int load_ocsp(struct px_tls *t, struct px_cert *c, const char *path, unsigned flags,
                     char *err, size_t err_len)
{
    if (read_file(path, OCSP_MAX_LEN, &c->ocsp, &c->ocsp_len, err, err_len) == -1)
        return -1;
    const char *why = ocsp_refusal(c->ctx, SSL_CTX_get0_certificate(c->ctx), c->ocsp, c->ocsp_len,
                                   &c->ocsp_next_update);
    if (why) {
        free(c->ocsp);
        c->ocsp = NULL;
        c->ocsp_len = 0;
        t->n_ocsp_dropped++;
        if (flags & PX_TLS_LOG_WARNINGS)
            log_warn("ocsp_not_stapled", "cert=%s ocsp=%s reason=%s", c->file, path, why);
    }
    return 0;
}

static int setup_ctx(struct px_tls *t, struct px_cert *c, const struct px_config *cfg, char *err, size_t err_len)
{
    SSL_CTX *ctx = c->ctx;
    SSL_CTX_set_app_data(ctx, c);
    SSL_CTX_set_client_hello_cb(ctx, client_hello_cb, t);
    /* read what the socket has, not a record header then its body: half the
     * read() calls under load (RELEASE_BUFFERS still frees it when empty) */
    SSL_CTX_set_read_ahead(ctx, 1);
    /* sessions of another client-certificate policy never resume here */
    if (SSL_CTX_set_session_id_context(ctx, t->policy, sizeof t->policy) != 1)
        return fail(err, err_len, "session id context for", c->file);
    /* tickets only: workers share no session cache */
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
    if (t->tickets_on) {
        SSL_CTX_set_tlsext_ticket_key_evp_cb(ctx, ticket_key_cb);
        SSL_CTX_set_session_ticket_cb(ctx, ticket_gen_cb, ticket_dec_cb, NULL);
        SSL_CTX_set_num_tickets(ctx, TLS13_TICKETS);
        SSL_CTX_set_timeout(ctx, (long)cfg->ticket_rotate);
    } else {
        SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);
        SSL_CTX_set_num_tickets(ctx, 0);
    }
    if (c->ocsp) {
        SSL_CTX_set_tlsext_status_cb(ctx, ocsp_cb);
        SSL_CTX_set_tlsext_status_arg(ctx, c);
    }
    if (t->alpn)
        SSL_CTX_set_alpn_select_cb(ctx, alpn_cb, NULL);
    if (t->ktls)
        ktls_ctx_enable(ctx);
    if (t->keylog_fd != -1)
        SSL_CTX_set_keylog_callback(ctx, keylog_cb);
    return 0;
}

/* Client certificates are checked against every CRL given. */
static int add_crls(SSL_CTX *ctx, STACK_OF(X509_CRL) *crls, const struct px_config *cfg)
{
    if (!crls)
        return 0;
    X509_STORE *st = SSL_CTX_get_cert_store(ctx);
    for (int i = 0; i < sk_X509_CRL_num(crls); i++)
        if (X509_STORE_add_crl(st, sk_X509_CRL_value(crls, i)) != 1)
            return -1;
    unsigned long f = X509_V_FLAG_CRL_CHECK;
    if (cfg->client_crl_check == PX_CRL_CHAIN)
        f |= X509_V_FLAG_CRL_CHECK_ALL;
    return X509_STORE_set_flags(st, f) == 1 ? 0 : -1;
}

static int load_cert(struct px_tls *t, struct px_cert *c, const struct px_cert_spec *spec,
                     const struct px_config *cfg, STACK_OF(X509_CRL) *crls, unsigned flags,
                     char *err, size_t err_len)
{
    char why[512];
    struct tls_server_opts o = {
        .cert_file = spec->cert, .key_file = spec->key,
        .ciphers = cfg->ciphers, .ciphersuites = cfg->ciphersuites, .groups = cfg->groups,
        .client_ca = cfg->client_verify != PX_VERIFY_NONE ? cfg->client_ca : NULL,
        .client_ca_optional = cfg->client_verify == PX_VERIFY_OPTIONAL,
    };
    c->tls = t;
    c->is_default = spec->is_default;
    if (!(c->file = strdup(spec->cert))) {
        snprintf(err, err_len, "out of memory");
        return -1;
    }
    c->ctx = tls_server_ctx_new(&o, why, sizeof why);
    if (!c->ctx) {
        snprintf(err, err_len, "%s", why);
        return -1;
    }
    if (add_crls(c->ctx, crls, cfg) == -1)
        return fail(err, err_len, "cannot add the client CRLs for", spec->cert);
    X509 *leaf = SSL_CTX_get0_certificate(c->ctx);
    if (!leaf || tls_ctx_cert_hashes(c->ctx, &c->hashes) == -1)
        return fail(err, err_len, "cannot hash certificate", spec->cert);
    describe_key(c, leaf);
    if (tls_not_after(leaf, &c->not_after) == -1)
        return fail(err, err_len, "cannot read the notAfter of", spec->cert);
    if (spec->names) {
        for (size_t i = 0; i < spec->n_names; i++)
            if (add_name(c, spec->names[i], strlen(spec->names[i])) == -1)
                goto oom;
    } else if (names_from_x509(c, leaf) == -1) {
        goto oom;
    }
    if (spec->ocsp && load_ocsp(t, c, spec->ocsp, flags, err, err_len) == -1)
        return -1;
    return setup_ctx(t, c, cfg, err, err_len);
oom:
    snprintf(err, err_len, "out of memory");
    return -1;
}

static void cert_cleanup(struct px_cert *c)
{
    SSL_CTX_free(c->ctx);
    free(c->file);
    for (size_t i = 0; i < c->n_names; i++)
        free(c->names[i]);
    free(c->names);
    free(c->ocsp);
}

static void keys_unref(struct px_ticket_keys *k)
{
    if (!k || --k->refs > 0)
        return;
    px_ticket_ring_unref(k->ratchet);
    px_ticket_ring_unref(k->file);
    free(k);
}

static void tls_free(struct px_tls *t)
{
    for (size_t i = 0; i < t->n_certs; i++)
        cert_cleanup(&t->certs[i]);
    free(t->certs);
    free(t->sel);
    SSL_CTX_free(t->backend_ctx);
    if (t->keylog_fd != -1)
        close(t->keylog_fd);
    keys_unref(t->keys);
    EVP_CIPHER_free(t->ticket_cipher);
    free(t);
}

/* Hashes one file into the policy digest (length first, so two files can
 * never read as another pair); the bytes stay in *out for the caller. */
static int digest_file(EVP_MD_CTX *md, const char *path, uint8_t **out, size_t *out_len,
                       char *err, size_t err_len)
{
    if (read_file(path, PKI_FILE_MAX, out, out_len, err, err_len) == -1)
        return -1;
    uint8_t len_be[8];
    for (int i = 0; i < 8; i++)
        len_be[i] = (uint8_t)((uint64_t)*out_len >> (56 - 8 * i));
    if (EVP_DigestUpdate(md, len_be, sizeof len_be) != 1 || EVP_DigestUpdate(md, *out, *out_len) != 1) {
        snprintf(err, err_len, "%s: cannot hash", path);
        return -1;
    }
    return 0;
}

/* Every PEM CRL of a file (one per issuer, several allowed). */
static int parse_crls(STACK_OF(X509_CRL) *crls, const char *path, const uint8_t *pem, size_t len,
                      char *err, size_t err_len)
{
    BIO *bio = BIO_new_mem_buf(pem, (int)len);
    X509_CRL *crl;
    int n = 0;
    while (bio && (crl = PEM_read_bio_X509_CRL(bio, NULL, NULL, NULL))) {
        if (!sk_X509_CRL_push(crls, crl)) {
            X509_CRL_free(crl);
            break;
        }
        n++;
    }
    BIO_free(bio);
    ERR_clear_error(); /* the end of the file reads as an error */
    if (n == 0) {
        snprintf(err, err_len, "client_crl %s: no PEM CRL in it", path);
        return -1;
    }
    return 0;
}

/* t->policy = SHA-256(label | verify mode | [crl scope | CA file | CRL
 * files]): what a full handshake would enforce on a client certificate.
 * It is the session id context and an input of the ticket keys, so a
 * session made under another policy is never resumed. *out_crls gets the
 * CRLs (NULL when none). */
static int load_policy(struct px_tls *t, const struct px_config *cfg, STACK_OF(X509_CRL) **out_crls,
                       char *err, size_t err_len)
{
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    uint8_t mode[2] = { (uint8_t)cfg->client_verify, (uint8_t)cfg->client_crl_check };
    uint8_t *bytes = NULL;
    size_t len = 0;
    unsigned int md_len = 0;
    int rc = -1;
    *out_crls = NULL;
    if (!md || EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1 ||
        EVP_DigestUpdate(md, POLICY_LABEL, sizeof POLICY_LABEL - 1) != 1 ||
        EVP_DigestUpdate(md, mode, 1) != 1) {
        snprintf(err, err_len, "cannot hash the client certificate policy");
        goto out;
    }
    if (cfg->client_verify != PX_VERIFY_NONE) {
        if (EVP_DigestUpdate(md, mode + 1, 1) != 1 ||
            digest_file(md, cfg->client_ca, &bytes, &len, err, err_len) == -1)
            goto out;
        free(bytes);
        bytes = NULL;
        const char *p = cfg->client_crl ? cfg->client_crl : "";
        char path[PATH_MAX];
        int n;
        while ((n = cfg_next_token(&p, path, sizeof path)) != 0) {
            if (n < 0) {
                snprintf(err, err_len, "client_crl: a path is too long");
                goto out;
            }
            if (!*out_crls && !(*out_crls = sk_X509_CRL_new_null())) {
                snprintf(err, err_len, "out of memory");
                goto out;
            }
            if (digest_file(md, path, &bytes, &len, err, err_len) == -1 ||
                parse_crls(*out_crls, path, bytes, len, err, err_len) == -1)
                goto out;
            free(bytes);
            bytes = NULL;
        }
    }
    if (EVP_DigestFinal_ex(md, t->policy, &md_len) != 1 || md_len != sizeof t->policy) {
        snprintf(err, err_len, "cannot hash the client certificate policy");
        goto out;
    }
    rc = 0;
out:
    free(bytes);
    EVP_MD_CTX_free(md);
    if (rc == -1) {
        sk_X509_CRL_pop_free(*out_crls, X509_CRL_free);
        *out_crls = NULL;
    }
    return rc;
}

/* The process's ticket keys: prev's (one ratchet per process), or a new
 * random ratchet at start. */
static int setup_keys(struct px_tls *t, const struct px_config *cfg, struct px_tls *prev,
                      char *err, size_t err_len)
{
    if (prev) {
        t->keys = prev->keys;
        t->keys->refs++;
        return 0;
    }
    uint8_t seed[PX_TICKET_BASE_LEN];
    t->keys = calloc(1, sizeof *t->keys);
    if (!t->keys || RAND_bytes(seed, sizeof seed) != 1 ||
        !(t->keys->ratchet = px_ticket_ring_random(seed, cfg->ticket_rotate, (double)time(NULL)))) {
        OPENSSL_cleanse(seed, sizeof seed);
        free(t->keys);
        t->keys = NULL;
        snprintf(err, err_len, "ticket keys: no memory or no randomness");
        return -1;
    }
    OPENSSL_cleanse(seed, sizeof seed);
    t->keys->refs = 1;
    return 0;
}

static struct px_ticket_ring *read_key_file(const char *path, char *err, size_t err_len)
{
    uint8_t *text = NULL;
    size_t len = 0;
    char why[256];
    if (read_file(path, PX_TICKET_KEY_FILE_MAX, &text, &len, err, err_len) == -1)
        return NULL;
    struct px_ticket_ring *r = px_ticket_ring_parse((const char *)text, len, why, sizeof why);
    if (!r)
        snprintf(err, err_len, "ticket_key_file %s: %s", path, why);
    OPENSSL_cleanse(text, len);
    free(text);
    return r;
}

/* The key log decrypts every session: never through a symlink someone
 * planted, never readable by others, and always said out loud. */
static int open_keylog(struct px_tls *t, const char *path, unsigned flags, char *err, size_t err_len)
{
    t->keylog_fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
    struct stat st;
    if (t->keylog_fd == -1 || fstat(t->keylog_fd, &st) == -1 || fchmod(t->keylog_fd, 0600) == -1) {
        snprintf(err, err_len, "keylog_file %s: %s", path, strerror(errno));
        return -1;
    }
    if (!S_ISREG(st.st_mode)) {
        snprintf(err, err_len, "keylog_file %s: not a regular file", path);
        return -1;
    }
    if (flags & PX_TLS_LOG_WARNINGS)
        log_warn("keylog", "file=%s msg=tls_secrets_written_there_decrypt_all_traffic", path);
    return 0;
}

struct px_tls *px_tls_new(const struct px_config *cfg, struct px_tls *prev, unsigned flags,
                          char *err, size_t err_len)
{
    struct px_tls *t = calloc(1, sizeof *t);
    STACK_OF(X509_CRL) *crls = NULL;
    struct px_ticket_ring *file_keys = NULL;
    if (!t) {
        snprintf(err, err_len, "out of memory");
        return NULL;
    }
    t->refs = 1;
    t->keylog_fd = -1;
    t->alpn = cfg->alpn;
    if (cfg->ktls != KTLS_OFF) {
        t->ktls = ktls_kernel_ready();
        t->ktls13 = cfg->ktls == KTLS_ON;
        if (!t->ktls && cfg->ktls == KTLS_ON) {
            snprintf(err, err_len, "tls.ktls = on: the kernel has no TLS support (modprobe tls)");
            goto fail;
        }
        if (!t->ktls && !prev)
            log_info("ktls_unavailable", "msg=kernel has no tls module: TLS in user space");
    }
    t->tickets_on = cfg->tickets;
    t->client_verify = cfg->client_verify;
    /* EVP_aes_256_cbc() would be looked up in the provider at each ticket */
    if (!(t->ticket_cipher = EVP_CIPHER_fetch(NULL, "AES-256-CBC", NULL))) {
        snprintf(err, err_len, "ticket keys: no AES-256-CBC");
        goto fail;
    }
    if (load_policy(t, cfg, &crls, err, err_len) == -1 || setup_keys(t, cfg, prev, err, err_len) == -1)
        goto fail;
    if (cfg->ticket_key_file && cfg->ticket_key_file[0] &&
        !(file_keys = read_key_file(cfg->ticket_key_file, err, err_len)))
        goto fail;
    if (cfg->keylog_file && cfg->keylog_file[0] && open_keylog(t, cfg->keylog_file, flags, err, err_len) == -1)
        goto fail;
    t->certs = calloc(cfg->certs.n, sizeof *t->certs);
    t->sel = calloc(cfg->certs.n, sizeof *t->sel);
    if (!t->certs || !t->sel) {
        snprintf(err, err_len, "out of memory");
        goto fail;
    }
    bool any_default = false;
    for (size_t i = 0; i < cfg->certs.n; i++) {
        t->n_certs++;
        if (load_cert(t, &t->certs[i], &cfg->certs.items[i], cfg, crls, flags, err, err_len) == -1)
            goto fail;
        any_default |= t->certs[i].is_default;
    }
    if (!any_default)
        t->certs[0].is_default = true;
    for (size_t i = 0; i < t->n_certs; i++) {
        struct px_cert *c = &t->certs[i];
        t->sel[i] = (struct px_sni_entry){ c->names, c->n_names, c->is_default, c->ecdsa };
    }
    /* whenever a backend may want TLS: a tls server line, or registered
     * mtls backends (config checks that tls servers come with a CA) */
    if (cfg->backend_ca && cfg->backend_ca[0]) {
        char why[512];
        const char *key = cfg->backend_key && cfg->backend_key[0] ? cfg->backend_key : NULL;
        const char *cert = cfg->backend_cert && cfg->backend_cert[0] ? cfg->backend_cert : NULL;
        t->backend_ctx = tls_client_ctx_new(cfg->backend_ca, cert, key, why, sizeof why);
        if (!t->backend_ctx) {
            snprintf(err, err_len, "backends: %s", why);
            goto fail;
        }
        SSL_CTX_set_session_cache_mode(t->backend_ctx, SSL_SESS_CACHE_OFF);
        SSL_CTX_set_read_ahead(t->backend_ctx, 1);
        if (t->ktls13) /* on only: which version a backend answers is known too late to choose */
            ktls_ctx_enable(t->backend_ctx);
    }
    /* committed: the key file's keys replace (and wipe) the ones before,
     * for the older generations of this process as well */
    px_ticket_ring_unref(t->keys->file);
    t->keys->file = file_keys;
    sk_X509_CRL_pop_free(crls, X509_CRL_free); /* the stores hold their own references */
    return t;
fail:
    px_ticket_ring_unref(file_keys);
    sk_X509_CRL_pop_free(crls, X509_CRL_free);
    tls_free(t);
    return NULL;
}

void px_tls_ref(struct px_tls *t)
{
    t->refs++;
}

void px_tls_unref(struct px_tls *t)
{
    if (t && --t->refs == 0)
        tls_free(t);
}

SSL *px_tls_server_ssl(struct px_tls *t, int fd, struct px_tls_hs *hs)
{
    SSL *ssl = SSL_new(t->certs[0].ctx);
    if (!ssl)
        return NULL;
    if (SSL_set_fd(ssl, fd) != 1) {
        SSL_free(ssl);
        return NULL;
    }
    memset(hs, 0, sizeof *hs);
    SSL_set_app_data(ssl, hs);
    SSL_set_accept_state(ssl);
    return ssl;
}

void px_tls_hs_detach(SSL *ssl)
{
    if (ssl)
        SSL_set_app_data(ssl, NULL);
}

void px_tls_tick(struct px_tls *t, double now)
{
    px_ticket_ring_advance(t->keys->ratchet, now);
}

size_t px_tls_expiry(struct px_tls *t, const struct metrics *m, size_t b, time_t now, long warn_days)
{
    size_t inside = 0;
    uint64_t *v = m ? metrics_values(m, b) : NULL;
    if (m) { /* a reload may have dropped a certificate */
        metrics_family_absent(m, b, PXM_CERT_NOT_AFTER);
        metrics_family_absent(m, b, PXM_OCSP_NEXT_UPDATE);
    }
    for (size_t i = 0; i < t->n_certs; i++) {
        struct px_cert *c = &t->certs[i];
        /* the file name: an RSA and an ECDSA certificate often share a subject */
        const char *slash = strrchr(c->file, '/');
        const char *label = slash ? slash + 1 : c->file;
        if (m) {
            metrics_set(v, &m->fam[PXM_CERT_NOT_AFTER], metrics_slot(m, b, PXM_CERT_NOT_AFTER, label),
                        c->not_after > 0 ? (uint64_t)c->not_after : 0);
            if (c->ocsp) /* the response's own nextUpdate, without our leeway */
                metrics_set(v, &m->fam[PXM_OCSP_NEXT_UPDATE],
                            metrics_slot(m, b, PXM_OCSP_NEXT_UPDATE, label),
                            c->ocsp_next_update > OCSP_LEEWAY_S
                                ? (uint64_t)(c->ocsp_next_update - OCSP_LEEWAY_S) : 0);
        }
        if (warn_days <= 0 || c->not_after - (int64_t)now > (int64_t)warn_days * 86400)
            continue;
        inside++;
        if (c->expiry_warned == 0 || (double)now - c->expiry_warned >= TLS_EXPIRY_REPEAT_S) {
            tls_expiry_warn(c->file, SSL_CTX_get0_certificate(c->ctx), now, warn_days);
            c->expiry_warned = (double)now;
        }
    }
    return inside;
}

int px_tls_presented(SSL *ssl, struct px_tls_hs *hs, struct tls_cert_hashes *out)
{
    /* a resumed session skips the certificate request: check what it holds */
    if (hs->cert && hs->cert->tls->client_verify == PX_VERIFY_REQUIRED &&
        (!SSL_get0_peer_certificate(ssl) || SSL_get_verify_result(ssl) != X509_V_OK)) {
        hs->refused = PXTP_NO_VERIFIED_CLIENT_CERT;
        return -1;
    }
    hs->refused = PXTP_CERT_UNKNOWN;
    if (SSL_session_reused(ssl)) {
        if (!hs->from_ticket)
            return -1;
        *out = hs->ticket;
        return 0;
    }
    /* one certificate per context: what OpenSSL sent is the context's leaf */
    if (!hs->cert || SSL_get_certificate(ssl) != SSL_CTX_get0_certificate(hs->cert->ctx))
        return -1;
    *out = hs->cert->hashes;
    return 0;
}

SSL *px_tls_backend_ssl(struct px_tls *t, int fd, const struct lb_spec *spec)
{
    if (!t->backend_ctx)
        return NULL;
    SSL *ssl = SSL_new(t->backend_ctx);
    if (!ssl)
        return NULL;
    if (SSL_set_fd(ssl, fd) != 1 ||
        (spec->sni[0] && (SSL_set_tlsext_host_name(ssl, spec->sni) != 1 || SSL_set1_host(ssl, spec->sni) != 1))) {
        SSL_free(ssl);
        return NULL;
    }
    SSL_set_connect_state(ssl);
    return ssl;
}
