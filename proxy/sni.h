/* sni.h — choosing the certificate for a TLS ClientHello: the SNI name,
 * whether the client can take an ECDSA certificate, and the match of a
 * name against a certificate's names.
 *
 * Pure: the functions read raw extension bodies that OpenSSL's client hello
 * callback hands over (untrusted client bytes, checked strictly) and a
 * table built at load time. No allocation, no I/O. */
#ifndef SSTP_LB_PROXY_SNI_H
#define SSTP_LB_PROXY_SNI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PX_SNI_MAX 253 /* a DNS name (RFC 1035); RFC 6066 §3 itself allows 2^16-1 bytes */

/* px_sni_parse reads a server_name extension body (RFC 6066 §3). Returns 1
 * with the first host_name, lower-cased and NUL-terminated, in out
 * (out_len >= PX_SNI_MAX + 1); 0 if the list holds no host_name; -1 if the
 * body is malformed or the name is empty, too long or holds a byte outside
 * letters, digits, '-', '_' and '.'. */
int px_sni_parse(const uint8_t *ext, size_t len, char *out, size_t out_len);

/* px_sigalgs_ecdsa: a signature_algorithms body (RFC 8446 §4.2.3) lists an
 * ECDSA scheme (0x0203..0x0603). False when malformed. */
bool px_sigalgs_ecdsa(const uint8_t *ext, size_t len);
/* px_versions_tls13: a supported_versions body (ClientHello form) lists
 * TLS 1.3 (0x0304). False when malformed. */
bool px_versions_tls13(const uint8_t *ext, size_t len);
/* px_ciphers_ecdsa: a ClientHello cipher suite list (2 bytes each) holds an
 * ECDHE-ECDSA suite (needed for an ECDSA certificate below TLS 1.3). */
bool px_ciphers_ecdsa(const uint8_t *suites, size_t len);

/* px_host_match: `name` matches `pattern`, case-insensitively; a pattern
 * "*.example.com" matches exactly one label in front of example.com. */
bool px_host_match(const char *pattern, const char *name);

/* One certificate as the chooser sees it. */
struct px_sni_entry {
    char *const *names;
    size_t n_names;
    bool is_default;
    bool ecdsa;
};

/* px_sni_choose picks the certificate for a client: the entries whose names
 * match `sni` exactly, else those matching by wildcard, else (also when sni
 * is NULL) the default entries; among them the first ECDSA one if ecdsa_ok,
 * else the first non-ECDSA one, else the first. Returns its index, or -1 if
 * there is no candidate (no default entry). */
long px_sni_choose(const struct px_sni_entry *e, size_t n, const char *sni, bool ecdsa_ok);

#endif
