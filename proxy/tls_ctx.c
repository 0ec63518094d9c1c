/* tls_ctx.c — loading a TLS generation and its OpenSSL callbacks (see
 * tls_ctx.h). Everything that reads files runs at start or on SIGHUP; the
 * callbacks only look up what was computed then. */
#include "proxy/tls_ctx.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ocsp.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/log.h"

#define SID_CTX "sstp-proxy"
#define OCSP_MAX_LEN (64 * 1024)       /* a stapled response is a few KiB */
#define SECRET_FILE_MAX (64 * 1024)
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

static int ticket_key_cb(SSL *s, unsigned char key_name[16], unsigned char *iv,
                         EVP_CIPHER_CTX *ectx, EVP_MAC_CTX *hctx, int enc)
{
    struct px_cert *c = cert_of(s);
    if (!c)
        return -1;
    struct px_tickets *tk = &c->tls->tickets;
    const struct px_ticket_key *k;
    bool renew = false;
    double now = (double)time(NULL);
    if (enc) {
        k = px_tickets_current(tk, now);
        if (!k || RAND_bytes(iv, EVP_CIPHER_get_iv_length(EVP_aes_256_cbc())) != 1)
            return -1;
        memcpy(key_name, k->name, PX_TICKET_NAME_LEN);
        if (EVP_EncryptInit_ex(ectx, EVP_aes_256_cbc(), NULL, k->aes, iv) != 1)
            return -1;
    } else {
        k = px_tickets_find(tk, key_name, now, &renew);
        if (!k)
            return 0; /* unknown or expired key: full handshake, new ticket */
        if (EVP_DecryptInit_ex(ectx, EVP_aes_256_cbc(), NULL, k->aes, iv) != 1)
            return -1;
    }
    OSSL_PARAM params[3];
    params[0] = OSSL_PARAM_construct_octet_string(OSSL_MAC_PARAM_KEY, (void *)k->hmac, PX_TICKET_KEY_LEN);
    params[1] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)"SHA256", 0);
    params[2] = OSSL_PARAM_construct_end();
    if (EVP_MAC_CTX_set_params(hctx, params) != 1)
        return -1;
    return renew ? 2 : 1;
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
    void *data = NULL;
    size_t len = 0;
    switch (status) {
    case SSL_TICKET_SUCCESS:
    case SSL_TICKET_SUCCESS_RENEW:
        if (!hs || !SSL_SESSION_get0_ticket_appdata(ss, &data, &len) || len != TICKET_APPDATA_LEN)
            return SSL_TICKET_RETURN_IGNORE_RENEW;
        memcpy(hs->ticket.sha256, data, SSTP_SHA256_LEN);
        memcpy(hs->ticket.sha1, (uint8_t *)data + SSTP_SHA256_LEN, SSTP_SHA1_LEN);
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
    if (!c->ocsp)
        return SSL_TLSEXT_ERR_NOACK;
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

/* Loads and checks a DER OCSP response: it must parse and say "successful". */
static int load_ocsp(struct px_cert *c, const char *path, char *err, size_t err_len)
{
    if (read_file(path, OCSP_MAX_LEN, &c->ocsp, &c->ocsp_len, err, err_len) == -1)
        return -1;
    const unsigned char *p = c->ocsp;
    OCSP_RESPONSE *r = d2i_OCSP_RESPONSE(NULL, &p, (long)c->ocsp_len);
    int status = r ? OCSP_response_status(r) : -1;
    OCSP_RESPONSE_free(r);
    if (status != OCSP_RESPONSE_STATUS_SUCCESSFUL) {
        ERR_clear_error();
        snprintf(err, err_len, "%s: not a successful DER OCSP response", path);
        return -1;
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
    if (SSL_CTX_set_session_id_context(ctx, (const unsigned char *)SID_CTX, sizeof SID_CTX - 1) != 1)
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
    if (t->keylog_fd != -1)
        SSL_CTX_set_keylog_callback(ctx, keylog_cb);
    return 0;
}

static int load_cert(struct px_tls *t, struct px_cert *c, const struct px_cert_spec *spec,
                     const struct px_config *cfg, char *err, size_t err_len)
{
    char why[512];
    struct tls_server_opts o = {
        .cert_file = spec->cert, .key_file = spec->key,
        .ciphers = cfg->ciphers, .ciphersuites = cfg->ciphersuites,
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
    X509 *leaf = SSL_CTX_get0_certificate(c->ctx);
    if (!leaf || tls_ctx_cert_hashes(c->ctx, &c->hashes) == -1)
        return fail(err, err_len, "cannot hash certificate", spec->cert);
    describe_key(c, leaf);
    if (spec->names) {
        for (size_t i = 0; i < spec->n_names; i++)
            if (add_name(c, spec->names[i], strlen(spec->names[i])) == -1)
                goto oom;
    } else if (names_from_x509(c, leaf) == -1) {
        goto oom;
    }
    if (spec->ocsp && load_ocsp(c, spec->ocsp, err, err_len) == -1)
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

static void tls_free(struct px_tls *t)
{
    for (size_t i = 0; i < t->n_certs; i++)
        cert_cleanup(&t->certs[i]);
    free(t->certs);
    free(t->sel);
    SSL_CTX_free(t->backend_ctx);
    if (t->keylog_fd != -1)
        close(t->keylog_fd);
    px_tickets_cleanup(&t->tickets);
    free(t);
}

struct px_tls *px_tls_new(const struct px_config *cfg, const uint8_t *ticket_secret,
                          char *err, size_t err_len)
{
    struct px_tls *t = calloc(1, sizeof *t);
    if (!t) {
        snprintf(err, err_len, "out of memory");
        return NULL;
    }
    t->refs = 1;
    t->keylog_fd = -1;
    t->alpn = cfg->alpn;
    t->tickets_on = cfg->tickets;
    px_tickets_init(&t->tickets, ticket_secret, cfg->ticket_rotate);
    if (cfg->keylog_file && cfg->keylog_file[0]) {
        t->keylog_fd = open(cfg->keylog_file, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
        if (t->keylog_fd == -1) {
            snprintf(err, err_len, "keylog_file %s: %s", cfg->keylog_file, strerror(errno));
            goto fail;
        }
    }
    t->certs = calloc(cfg->certs.n, sizeof *t->certs);
    t->sel = calloc(cfg->certs.n, sizeof *t->sel);
    if (!t->certs || !t->sel) {
        snprintf(err, err_len, "out of memory");
        goto fail;
    }
    bool any_default = false;
    for (size_t i = 0; i < cfg->certs.n; i++) {
        t->n_certs++;
        if (load_cert(t, &t->certs[i], &cfg->certs.items[i], cfg, err, err_len) == -1)
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
    }
    return t;
fail:
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

int px_tls_presented(SSL *ssl, const struct px_tls_hs *hs, struct tls_cert_hashes *out)
{
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

int px_tls_read_secret(const char *path, uint8_t out[PX_TICKET_SECRET_LEN], char *err, size_t err_len)
{
    uint8_t *buf = NULL;
    size_t len = 0;
    unsigned int md_len = 0;
    if (read_file(path, SECRET_FILE_MAX, &buf, &len, err, err_len) == -1)
        return -1;
    int rc = 0;
    if (len < PX_TICKET_SECRET_LEN) {
        snprintf(err, err_len, "%s: at least %d bytes of secret needed", path, PX_TICKET_SECRET_LEN);
        rc = -1;
    } else if (EVP_Digest(buf, len, out, &md_len, EVP_sha256(), NULL) != 1 || md_len != PX_TICKET_SECRET_LEN) {
        snprintf(err, err_len, "%s: cannot hash", path);
        rc = -1;
    }
    OPENSSL_cleanse(buf, len);
    free(buf);
    return rc;
}
