/* proxyproto.h — PROXY protocol v1 (text) and v2 (binary) codec, with the
 * PROXY v2 TLVs sstp-lb uses between sstp-proxy and sstp-backend.
 *
 * Parses the one header at the start of a connection and builds headers into
 * a caller's buffer. Does no I/O and decides no trust: whether a peer may send
 * a PROXY header at all, and whether its sstp-lb TLVs are honoured, is the
 * daemon's policy (see "Trust" below). */
#ifndef SSTP_LB_SSTP_PROXYPROTO_H
#define SSTP_LB_SSTP_PROXYPROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <netinet/in.h>

#include "sstp/limits.h"
#include "sstp/rc.h"
#include "sstp/slice.h"

/* Policy: the largest PROXY v2 header (16 + len) we accept or build. The
 * protocol allows 16 + 65535; like nginx (NGX_PROXY_PROTOCOL_MAX_HEADER) we
 * stop at 4096, which holds a UNIX address block (216 bytes) plus every TLV
 * we send with room to spare, and bounds what a peer can make us buffer
 * before the header is complete. A caller's receive buffer for the header
 * must hold at least this many bytes. */
#define SSTP_PP_MAX_HDR_LEN 4096

/* PROXY v2 §2.2: the 12-byte signature (contains a NUL). */
#define SSTP_PP2_SIG "\r\n\r\n\0\r\nQUIT\n"

enum sstp_pp_version {
    SSTP_PP_V1 = 1,
    SSTP_PP_V2 = 2,
};

/* Low nibble of the v2 ver_cmd byte. */
enum sstp_pp_cmd {
    SSTP_PP_CMD_LOCAL = 0x0, /* the proxy's own connection (health check) */
    SSTP_PP_CMD_PROXY = 0x1, /* relayed on behalf of the source below */
};

/* The v2 fam byte (address family << 4 | transport); v1 TCP4/TCP6/UNKNOWN
 * map to TCP4/TCP6/UNSPEC. Any other byte is rejected. */
enum sstp_pp_fam {
    SSTP_PP_FAM_UNSPEC      = 0x00, /* no addresses: use the connection's own */
    SSTP_PP_FAM_TCP4        = 0x11, /* 12-byte address block */
    SSTP_PP_FAM_UDP4        = 0x12,
    SSTP_PP_FAM_TCP6        = 0x21, /* 36-byte address block */
    SSTP_PP_FAM_UDP6        = 0x22,
    SSTP_PP_FAM_UNIX_STREAM = 0x31, /* 216-byte address block: 2 x 108 path */
    SSTP_PP_FAM_UNIX_DGRAM  = 0x32,
};

/* PROXY v2 TLV types.
 *
 * Registered (PROXY v2 §2.2.1-2.2.7):
 *   0x01 ALPN        skipped (counted in n_skipped)
 *   0x02 AUTHORITY   host name, the client's TLS SNI          -> authority
 *   0x03 CRC32C      4 bytes, verified when present            -> bit only
 *   0x04 NOOP        padding, skipped
 *   0x05 UNIQUE_ID   opaque, <= 128 bytes                      -> unique_id
 *   0x20 SSL         client u8, verify u32 be, sub-TLVs        -> ssl
 *     0x21 VERSION, 0x22 CN, 0x23 CIPHER, 0x24 SIG_ALG, 0x25 KEY_ALG
 *   0x30 NETNS       skipped
 *   0xE0-0xEF        custom range, see below
 *   0xF0-0xFF        experimental / reserved, skipped
 *
 * Ours, in the custom range 0xE0-0xEF. Cloud load balancers already use
 * 0xE0 (Google Cloud PSC), 0xE1 (Alibaba), 0xEA (AWS VPC endpoint) and
 * 0xEE (Azure private link), so sstp-lb avoids those numbers:
 *
 *   type  name                       value
 *   ----  -------------------------  -----------------------------------------
 *   0xE8  SSTP_PP2_TYPE_CERT_SHA256  exactly 32 bytes: SHA-256 of the DER leaf
 *                                    certificate sstp-proxy presented on this
 *                                    connection (the hash the client puts in
 *                                    its crypto binding, MS-SSTP 3.2.5.2)
 *   0xE9  SSTP_PP2_TYPE_CERT_SHA1    exactly 20 bytes: SHA-1 of the same DER
 *   0xEB  SSTP_PP2_TYPE_META         session metadata, layout below
 *
 * 0xEB layout, version 1 (every field strictly checked; the TLV length must
 * equal the sum of the fields exactly):
 *
 *   size  field
 *   1     version, 0x01
 *   1     flags: 0x01 = a client certificate SHA-256 follows the proxy id;
 *         every other bit must be zero
 *   1     proxy_id_len, 1..64
 *   n     proxy_id: which sstp-proxy instance relayed the connection
 *   32    client certificate SHA-256 (DER), only when flags & 0x01
 *   1     tenant_len, 0..128
 *   n     tenant: the raw ?tenantid= value of the SSTP request URI
 *   1     affinity_len, 0..64
 *   n     affinity: the opaque key sstp-proxy used to pick this backend
 *
 * Any other length of 0xE8/0xE9, or a 0xEB that breaks the layout (another
 * version, unknown flag bits, a field out of range, bytes short or left over)
 * is SSTP_E_PP_V2_OUR_TLV. A future layout gets a new version number, so
 * backends must be upgraded before proxies.
 *
 * Trust: anyone can put these numbers in a header. A receiver honours our
 * TLVs only when the header came from an authenticated sstp-proxy (mTLS, or an
 * allowlisted source on a private network); that decision belongs to the
 * daemon, not to this codec. Custom TLVs that are not ours (foreign vendors)
 * are counted in n_foreign so the daemon can log them; sstp-proxy never
 * forwards any received TLV, it builds its own header. */
enum sstp_pp2_type {
    SSTP_PP2_TYPE_ALPN        = 0x01,
    SSTP_PP2_TYPE_AUTHORITY   = 0x02,
    SSTP_PP2_TYPE_CRC32C      = 0x03,
    SSTP_PP2_TYPE_NOOP        = 0x04,
    SSTP_PP2_TYPE_UNIQUE_ID   = 0x05,
    SSTP_PP2_TYPE_SSL         = 0x20,
    SSTP_PP2_SUBTYPE_SSL_VERSION = 0x21,
    SSTP_PP2_SUBTYPE_SSL_CN      = 0x22,
    SSTP_PP2_SUBTYPE_SSL_CIPHER  = 0x23,
    SSTP_PP2_SUBTYPE_SSL_SIG_ALG = 0x24,
    SSTP_PP2_SUBTYPE_SSL_KEY_ALG = 0x25,
    SSTP_PP2_TYPE_NETNS       = 0x30,
    SSTP_PP2_TYPE_MIN_CUSTOM  = 0xE0,
    SSTP_PP2_TYPE_CERT_SHA256 = 0xE8, /* sstp-lb */
    SSTP_PP2_TYPE_CERT_SHA1   = 0xE9, /* sstp-lb */
    SSTP_PP2_TYPE_META        = 0xEB, /* sstp-lb */
    SSTP_PP2_TYPE_MAX_CUSTOM  = 0xEF,
};

#define SSTP_PP2_UNIQUE_ID_MAX   128 /* PROXY v2 §2.2.5 */
#define SSTP_PP2_SSL_FIXED_LEN   5   /* client u8 + verify u32 */

/* PP2_TYPE_SSL client flags (PROXY v2 §2.2.6) */
#define SSTP_PP2_CLIENT_SSL       0x01
#define SSTP_PP2_CLIENT_CERT_CONN 0x02
#define SSTP_PP2_CLIENT_CERT_SESS 0x04

/* 0xEB metadata limits (ours) */
#define SSTP_PP_META_VERSION       1
#define SSTP_PP_META_F_CLIENT_CERT 0x01
#define SSTP_PP_META_PROXY_ID_MAX  64
#define SSTP_PP_META_TENANT_MAX    128
#define SSTP_PP_META_AFFINITY_MAX  64

/* Bits of sstp_pp_hdr.present: which TLVs (and SSL sub-TLVs) the header
 * carried. The v2 builder emits exactly the TLVs whose bit is set. */
enum sstp_pp_has {
    SSTP_PP_HAS_AUTHORITY   = 1u << 0,
    SSTP_PP_HAS_CRC32C      = 1u << 1, /* present, and verified by the parser */
    SSTP_PP_HAS_UNIQUE_ID   = 1u << 2,
    SSTP_PP_HAS_SSL         = 1u << 3,
    SSTP_PP_HAS_SSL_VERSION = 1u << 4,
    SSTP_PP_HAS_SSL_CN      = 1u << 5,
    SSTP_PP_HAS_SSL_CIPHER  = 1u << 6,
    SSTP_PP_HAS_SSL_SIG_ALG = 1u << 7,
    SSTP_PP_HAS_SSL_KEY_ALG = 1u << 8,
    SSTP_PP_HAS_CERT_SHA256 = 1u << 9,
    SSTP_PP_HAS_CERT_SHA1   = 1u << 10,
    SSTP_PP_HAS_META        = 1u << 11,
};

/* PP2_TYPE_SSL and its sub-TLVs; valid where the matching bit is set. */
struct sstp_pp_ssl {
    uint8_t client;            /* SSTP_PP2_CLIENT_* flags */
    uint32_t verify;           /* 0: client certificate verified */
    struct sstp_slice version; /* e.g. "TLSv1.3" */
    struct sstp_slice cn;      /* client certificate subject CN */
    struct sstp_slice cipher;  /* e.g. "TLS_AES_256_GCM_SHA384" */
    struct sstp_slice sig_alg;
    struct sstp_slice key_alg;
};

/* Our 0xEB metadata; valid when SSTP_PP_HAS_META is set. */
struct sstp_pp_meta {
    struct sstp_slice proxy_id;         /* 1..64 bytes */
    const uint8_t *client_cert_sha256;  /* 32 bytes, NULL when absent */
    struct sstp_slice tenant;           /* 0..128 bytes */
    struct sstp_slice affinity;         /* 0..64 bytes */
};

/* One PROXY header, as parsed or to be built. Addresses are struct
 * sockaddr_storage holding a sockaddr_in (TCP4/UDP4), sockaddr_in6
 * (TCP6/UDP6) or sockaddr_un (UNIX; sun_path holds the 108 raw bytes of the
 * v2 address block, NUL-terminated only if the sender padded it, so read it
 * with strnlen(sun_path, sizeof sun_path)); ss_family is AF_UNSPEC when the
 * header carries no address (v1 UNKNOWN, v2 UNSPEC, v2 LOCAL), meaning "use
 * the connection's own endpoints". Every slice and pointer from the parser is
 * a view into the caller's input and is valid while those bytes are. */
struct sstp_pp_hdr {
    enum sstp_pp_version version;
    enum sstp_pp_cmd command;  /* v1 is always PROXY */
    enum sstp_pp_fam family;   /* UNSPEC for LOCAL */
    struct sockaddr_storage src, dst;
    uint32_t present;          /* SSTP_PP_HAS_* bits */
    struct sstp_slice authority;
    struct sstp_slice unique_id;
    struct sstp_pp_ssl ssl;
    const uint8_t *cert_sha256; /* 32 bytes */
    const uint8_t *cert_sha1;   /* 20 bytes */
    struct sstp_pp_meta meta;
    unsigned n_foreign;        /* custom-range TLVs (0xE0-0xEF) not ours */
    unsigned n_skipped;        /* other TLVs and SSL sub-TLVs not decoded */
};

/* sstp_pp_parse parses the PROXY header at the start of a connection, given
 * every byte received so far in in[0..in_len). The caller keeps the bytes
 * and calls again with more after SSTP_AGAIN. Version detection (PROXY v2
 * §2.1, §2.2): the v2 signature then a version nibble of 2 is v2; "PROXY " is
 * v1; anything else is rejected as soon as the bytes seen cannot start
 * either, so a client that sends no PROXY header fails on its first byte.
 * Bytes after the header are never read.
 *
 * v1 follows §2.1 exactly: single spaces, TCP4/TCP6/UNKNOWN, dotted decimal
 * IPv4 without leading zeros, IPv6 as inet_pton() reads it, ports 0..65535
 * without leading zeros, CRLF within 107 bytes; after "UNKNOWN" anything up
 * to CRLF is ignored. v2: LOCAL skips the whole body (family, addresses and
 * TLVs are ignored); PROXY needs a family of the fam table and a length that
 * covers its address block; TLVs are walked strictly; a CRC32C TLV is
 * verified. Known TLVs must not repeat.
 *
 * Returns:
 *   SSTP_OK             *out is filled (views into `in`), *used is the
 *                       header length; the caller consumes *used bytes.
 *   SSTP_AGAIN          the header is incomplete; *used is 0.
 *   SSTP_E_PP_SIGNATURE the input starts with neither the v2 signature nor
 *                       "PROXY ".
 *   SSTP_E_PP_V1_LINE   v1: no CRLF within 107 bytes, a lone CR or LF,
 *                       an unknown protocol, wrong spacing or field count.
 *   SSTP_E_PP_V1_ADDR   v1: an address or port that is not canonical.
 *   SSTP_E_PP_V2_VERSION v2 signature with a version nibble other than 2.
 *   SSTP_E_PP_V2_COMMAND command other than LOCAL or PROXY.
 *   SSTP_E_PP_V2_FAMILY PROXY with a fam byte not in the table.
 *   SSTP_E_PP_V2_LEN    length below the address block, or 16 + length
 *                       above SSTP_PP_MAX_HDR_LEN (reported as soon as the
 *                       16 fixed bytes are in, without waiting for the body).
 *   SSTP_E_PP_V2_TLV    a TLV or SSL sub-TLV overruns its container, a known
 *                       TLV has a wrong length (CRC32C != 4, UNIQUE_ID > 128,
 *                       SSL < 5) or repeats.
 *   SSTP_E_PP_V2_OUR_TLV one of our TLVs (0xE8, 0xE9, 0xEB) is malformed.
 *   SSTP_E_PP_V2_CRC    the CRC32C TLV does not match the header.
 *   SSTP_E_ARG          out or used is NULL, or in is NULL with in_len > 0.
 * After any SSTP_E_*, close the connection. *out is meaningful only on
 * SSTP_OK. An error reported for a prefix is also reported for any longer
 * input, so feeding byte by byte and feeding at once agree. Borrows `in`. */
enum sstp_rc sstp_pp_parse(struct sstp_pp_hdr *out, size_t *used,
                           const uint8_t *in, size_t in_len);

/* sstp_pp2_want returns how many bytes the PROXY v2 header starting at
 * in[0..in_len) needs before it can be judged, for a reader that must not
 * take one byte past it (the TLS handshake follows): the 12-byte signature
 * while fewer are in, then the 16 fixed bytes, then 16 + the length they
 * announce (§2.2). Unchecked: sstp_pp_parse judges the bytes. Pure. */
size_t sstp_pp2_want(const uint8_t *in, size_t in_len);

/* sstp_pp1_build appends a v1 line for h->family: TCP4 (src/dst must be
 * AF_INET), TCP6 (AF_INET6) or UNSPEC ("PROXY UNKNOWN\r\n"); h->command and
 * TLVs are ignored. Returns SSTP_OK; SSTP_E_ARG for another family or a
 * mismatched address (nothing written); SSTP_E_NOSPACE if the line does not
 * fit (nothing written, w->err set). Borrows h. */
enum sstp_rc sstp_pp1_build(struct sstp_wbuf *w, const struct sstp_pp_hdr *h);

/* sstp_pp2_build appends a v2 header. LOCAL: the 16 fixed bytes with family
 * UNSPEC and length 0; everything else in h is ignored. PROXY: h->family
 * (any of the fam table; src/dst must be of the matching AF_*), then the TLVs
 * whose SSTP_PP_HAS_* bit is set in h->present, in ascending type order:
 * AUTHORITY, CRC32C, UNIQUE_ID, SSL (client, verify, then VERSION, CN,
 * CIPHER, SIG_ALG, KEY_ALG as their bits say), CERT_SHA256, CERT_SHA1, META.
 * With SSTP_PP_HAS_CRC32C the CRC32C of the finished header is filled in.
 * Returns SSTP_OK; SSTP_E_ARG (nothing written) for a bad command or family,
 * mismatched addresses, a view with a NULL p and a non-zero len or a NULL
 * hash pointer whose bit is set, a TLV value out of its limits (UNIQUE_ID > 128, meta fields of the 0xEB table), an SSL sub-TLV bit
 * without SSTP_PP_HAS_SSL, or a header above SSTP_PP_MAX_HDR_LEN;
 * SSTP_E_NOSPACE if it does not fit (nothing written, w->err set). Borrows h
 * and every view in it. */
enum sstp_rc sstp_pp2_build(struct sstp_wbuf *w, const struct sstp_pp_hdr *h);

/* sstp_pp_crc32c returns the CRC32C (Castagnoli, RFC 4960 appendix B) of
 * p[0..len) continuing from crc: pass 0 to start, or a previous result to
 * chain pieces. CRC32C("123456789") = 0xE3069283. */
uint32_t sstp_pp_crc32c(uint32_t crc, const void *p, size_t len);

#endif
