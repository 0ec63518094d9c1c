/* pphdr.h — the PROXY v2 header sstp-proxy sends to a backend, built from
 * what the connection knows (sstp_pp2_build does the encoding).
 *
 * Carries: the client address and the address it connected to; AUTHORITY =
 * the TLS SNI; UNIQUE_ID = the session id (the backend logs under it); SSL
 * with the TLS version, cipher, the presented certificate's signature and
 * key algorithms and the client certificate's CN; our 0xE8/0xE9 TLVs with
 * the SHA-256/SHA-1 of the certificate the client was shown; our 0xEB
 * metadata (proxy id, client certificate SHA-256, tenant). Nothing received
 * from a load balancer's PROXY header is passed on. Pure. */
#ifndef SSTP_LB_PROXY_PPHDR_H
#define SSTP_LB_PROXY_PPHDR_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "core/tls.h"
#include "sstp/proxyproto.h"

struct px_pp_info {
    const struct sockaddr *src;          /* the client (from an LB's header, or the peer) */
    const struct sockaddr *dst;          /* where the client connected to */
    const char *sni;                     /* NULL or "": none */
    const char *sid;                     /* session id, 1..128 bytes */
    const struct tls_cert_hashes *presented;
    const char *tls_version, *tls_cipher; /* NULL: left out */
    const char *sig_alg, *key_alg;       /* of the presented certificate; NULL: left out */
    bool client_cert;                    /* a client certificate was seen */
    bool client_cert_this_conn;          /* ... on this connection (not only in a resumed session) */
    uint32_t client_verify;              /* 0 = verified; see PROXY v2 §2.2.5 */
    const uint8_t *client_sha256;        /* NULL unless client_cert */
    const char *client_cn;               /* NULL or "": left out */
    const char *proxy_id;                /* 1..64 bytes */
    const char *tenant;                  /* NULL: none; at most 128 bytes */
};

/* px_pp_build appends the header to w. Addresses: both IPv4 (IPv4-mapped
 * IPv6 counts as IPv4) give TCP4, both IPv6 give TCP6, a mix gives TCP6
 * with the IPv4 one mapped; a missing or non-IP address gives family
 * UNSPEC (the backend then uses the connection's own). Returns SSTP_OK,
 * SSTP_E_NOSPACE (nothing written) or SSTP_E_ARG (a field out of the
 * limits of sstp_pp2_build). Borrows everything. */
enum sstp_rc px_pp_build(struct sstp_wbuf *w, const struct px_pp_info *in);

/* px_pp_build_plain appends a header with the addresses (as px_pp_build)
 * and AUTHORITY = sni (NULL or "": none), nothing else: for a connection
 * forwarded without TLS termination (SNI passthrough), where this proxy
 * knows nothing of the TLS session. Returns as px_pp_build. */
enum sstp_rc px_pp_build_plain(struct sstp_wbuf *w, const struct sockaddr *src,
                               const struct sockaddr *dst, const char *sni);

#endif
