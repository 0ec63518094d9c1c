/* tls_ctx.h — the TLS side of sstp-proxy as one reloadable generation:
 * every configured certificate in its own SSL_CTX (so the certificate a
 * connection presents is known exactly), the SNI/key-type choice in the
 * ClientHello callback, session tickets (tickets.h) that remember which
 * certificate the client saw, the client-certificate policy (CA, CRLs) that
 * a resumption must not skip, OCSP stapling, ALPN, the key log, and the
 * client context towards TLS backends.
 *
 * A generation is built off the data path (start, SIGHUP) and reference
 * counted: each connection holds the generation it started on, so a reload
 * never changes what an established connection uses, and the old
 * certificates are freed with the last connection that needs them. The
 * master keeps its last good generation and hands it to the workers it
 * forks, so a restarted worker reads no file.
 *
 * Trust limits: a ticket is the client's word. Its certificate hashes are
 * believed only for certificates this process has presented within a
 * ticket's lifetime (px_tls.served); its keys are bound to the policy
 * digest, and its session must still show a verified client certificate
 * when the policy requires one. */
#ifndef SSTP_LB_PROXY_TLS_CTX_H
#define SSTP_LB_PROXY_TLS_CTX_H

#include <openssl/ssl.h>
#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "core/tls.h"
#include "lb/lb.h"
#include "proxy/config.h"
#include "proxy/sni.h"
#include "proxy/stats.h"
#include "proxy/tickets.h"

#define PX_ALG_NAME_MAX 32

struct px_tls;

/* One loaded certificate. Computed once at load: hashes, names, algorithms. */
struct px_cert {
    struct px_tls *tls;             /* the generation it belongs to */
    SSL_CTX *ctx;
    char *file;
    char **names;                   /* lower-case SNI names it serves */
    size_t n_names;
    bool is_default, ecdsa;
    struct tls_cert_hashes hashes;  /* of the DER leaf: what a client hashes (MS-SSTP 3.2.5.2) */
    char sig_alg[PX_ALG_NAME_MAX];  /* e.g. "ecdsa-with-SHA256" (PP2_SUBTYPE_SSL_SIG_ALG) */
    char key_alg[PX_ALG_NAME_MAX];  /* e.g. "EC256", "RSA2048" (PP2_SUBTYPE_SSL_KEY_ALG) */
    uint8_t *ocsp;                  /* DER OCSP response to staple, or NULL */
    size_t ocsp_len;
    time_t ocsp_next_update;        /* stapled until then */
    int64_t not_after;              /* of the leaf, unix seconds */
    double expiry_warned;           /* when cert_expiring was last logged (0: never) */
};

/* A certificate of an earlier generation whose hashes a ticket may still
 * claim until `until` (unix time). */
/* The ticket keys of a process, shared by all its generations so that a
 * rotation or a replaced key file wipes the old keys everywhere at once. */
struct px_ticket_keys {
    unsigned refs;
    struct px_ticket_ring *ratchet; /* random ring, made by the master, inherited by fork */
    struct px_ticket_ring *file;    /* tls.ticket_key_file, or NULL: it takes precedence */
};

struct px_tls {
    unsigned refs;
    struct px_cert *certs;
    struct px_sni_entry *sel;       /* the chooser's view of certs[] */
    size_t n_certs;
    SSL_CTX *backend_ctx;           /* towards tls servers; NULL when none is configured */
    int keylog_fd;                  /* -1: off */
    bool alpn;
    bool ktls;                  /* SSL_OP_ENABLE_KTLS on the contexts (tls.ktls, kernel ready) */
    bool ktls13;                /* and for TLS 1.3 clients (tls.ktls = on) */
    bool tickets_on;
    int client_verify;              /* enum px_verify */
    uint8_t policy[PX_TICKET_POLICY_LEN]; /* digest of verify mode, CA, CRLs: session id
                                           * context and ticket key input */
    struct px_ticket_keys *keys;
    EVP_CIPHER *ticket_cipher;      /* AES-256-CBC fetched once, not at every ticket */
    unsigned n_ocsp_dropped;        /* staples refused at load (stale, other certificate) */
};

/* px_tls_new flags */
#define PX_TLS_LOG_WARNINGS 1u      /* log what was refused at load (the master's load) */

/* Per connection, written by the handshake callbacks: which certificate the
 * client was shown. Storage belongs to the connection and must stay valid
 * until px_tls_hs_detach() or SSL_free(). */
struct px_tls_hs {
    const struct px_cert *cert;     /* chosen by SNI and key type */
    bool from_ticket;               /* `ticket` holds the hashes of a resumed session */
    bool ticket_not_served;         /* a ticket claimed a certificate not served: full handshake */
    enum px_tls_policy refused;     /* why px_tls_presented said no */
    struct tls_cert_hashes ticket;  /* what the client saw when the session began */
    char sni[PX_SNI_MAX + 1];       /* "" = the client sent none */
};

/* px_tls_new loads every certificate, key, chain, OCSP, CA, CRL and ticket
 * key file of cfg and builds the contexts. prev is the generation it
 * follows (NULL at start): its ticket keys are shared; tickets that claim
 * a certificate it no longer serves get a full handshake. Returns a generation with
 * one reference, or NULL with the file and OpenSSL's reason in err. */
struct px_tls *px_tls_new(const struct px_config *cfg, struct px_tls *prev, unsigned flags,
                          char *err, size_t err_len);
void px_tls_ref(struct px_tls *t);
/* px_tls_unref drops a reference; the last one frees. NULL is a no-op. */
void px_tls_unref(struct px_tls *t);

/* px_tls_server_ssl makes the server SSL of an accepted client fd; hs is
 * borrowed for the callbacks. Returns NULL on failure (nothing to free). */
SSL *px_tls_server_ssl(struct px_tls *t, int fd, struct px_tls_hs *hs);
/* px_tls_hs_detach tells the callbacks that hs is gone (handshake over). */
void px_tls_hs_detach(SSL *ssl);

/* px_tls_tick moves the ticket key ratchet to the clock (wiping the key
 * that fell out) even when no handshake needs it. Call about once a second. */
void px_tls_tick(struct px_tls *t, double now);

/* px_tls_expiry publishes each certificate's notAfter and OCSP nextUpdate
 * in block b of m (the master's) and logs cert_expiring / cert_expired for
 * those within warn_days, each at most once per TLS_EXPIRY_REPEAT_S (a new
 * generation warns again). m may be NULL (--check-config). Returns the
 * number of certificates inside the window. */
size_t px_tls_expiry(struct px_tls *t, const struct metrics *m, size_t b, time_t now, long warn_days);

/* px_tls_presented returns, after a finished handshake, the hashes of the
 * certificate the client holds for this server: the chosen certificate's
 * on a full handshake (checked against the one OpenSSL actually sent), the
 * ticket's on a resumption. 0, or -1 (reason in hs->refused) when that
 * cannot be established (the backend's crypto binding check would be
 * wrong) or when client_verify = required and the session, resumed or not,
 * has no verified client certificate: the connection must not go on. */
int px_tls_presented(SSL *ssl, struct px_tls_hs *hs, struct tls_cert_hashes *out);

/* px_tls_backend_ssl makes the client SSL towards a tls backend: SNI and
 * host name check when spec->sni is set, verification against
 * backends.ca, our certificate if configured. NULL on failure. */
SSL *px_tls_backend_ssl(struct px_tls *t, int fd, const struct lb_spec *spec);

#endif
