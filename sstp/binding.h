/* binding.h — SSTP crypto binding (MS-SSTP 3.2.5.2, 3.3.5.2.3): certificate
 * hashes, HLAK builders, CMK derivation, compound MAC build/verify and the
 * server's CALL_CONNECTED validation. Pure: libcrypto hashes only, no I/O.
 * Does not decide *which* HLAK applies (the caller knows the auth protocol)
 * and does not check the SSTP state (MS-SSTP 3.3.5.2.3 step 1 is the FSM's). */
#ifndef SSTP_LB_SSTP_BINDING_H
#define SSTP_LB_SSTP_BINDING_H

#include <stddef.h>
#include <stdint.h>

#include "sstp/limits.h"
#include "sstp/rc.h"

/* Hash Protocol values, MS-SSTP 2.2.6/2.2.7: the byte in CALL_CONNECTED and
 * the bits of the bitmask in CALL_CONNECT_ACK have the same values. */
enum sstp_bind_hash {
    SSTP_BIND_HASH_SHA1   = 0x01,
    SSTP_BIND_HASH_SHA256 = 0x02,
};

/* Offsets inside the 112-byte CALL_CONNECTED message (MS-SSTP 2.2.7, 2.2.11). */
#define SSTP_BIND_OFF_ATTR       8   /* attribute header: reserved, id, length */
#define SSTP_BIND_OFF_HASH_PROTO 15
#define SSTP_BIND_OFF_NONCE      16
#define SSTP_BIND_OFF_CERT_HASH  48
#define SSTP_BIND_OFF_MAC        SSTP_MAC_OFFSET /* 80 */
#define SSTP_BIND_FIELD_LEN      32  /* cert hash and MAC fields, padded */
#define SSTP_BIND_ATTR_LEN       104 /* MS-SSTP 2.2.7 */
#define SSTP_BIND_ATTR_ID        0x03

/* Trusted certificate hashes: the hashes of every certificate the TLS side
 * may have presented to this client (MS-SSTP 3.3.3: the certificate the
 * client saw, so behind a terminator the terminator's). Borrowed. */
struct sstp_bind_trust {
    const uint8_t (*sha256)[32]; size_t n_sha256;   /* trusted SHA-256 cert hashes */
    const uint8_t (*sha1)[20];   size_t n_sha1;     /* trusted SHA-1 cert hashes */
};

/* sstp_bind_hash_len returns the digest length of hash (20 or 32), or 0 if
 * hash is neither SHA-1 nor SHA-256. */
size_t sstp_bind_hash_len(enum sstp_bind_hash hash);

/* sstp_bind_cert_sha1 / sstp_bind_cert_sha256 hash the DER encoding of the
 * leaf certificate (the whole X.509 Certificate as sent in TLS, i.e. the
 * usual fingerprint). Returns SSTP_OK, SSTP_E_ARG (der NULL with der_len
 * non-zero) or SSTP_E_BIND_CRYPTO (libcrypto failed; out is then zeroed). */
enum sstp_rc sstp_bind_cert_sha1(uint8_t out[SSTP_SHA1_LEN],
                                 const uint8_t *der, size_t der_len);
enum sstp_rc sstp_bind_cert_sha256(uint8_t out[SSTP_SHA256_LEN],
                                   const uint8_t *der, size_t der_len);

/* HLAK (Higher-Layer Authentication Key), MS-SSTP 3.2.5.2.2. Which builder
 * applies depends on the negotiated PPP auth protocol, not on whether keys
 * happen to be set:
 *
 *   auth protocol       HLAK[0..15]                  HLAK[16..31]
 *   MS-CHAPv2           K2 (RFC 3079 Magic2 key)     K3 (Magic3 key)
 *   EAP (any method)    MSK[0..31], zero-padded if the MSK is shorter
 *   PAP/CHAP-MD5/none   32 zero bytes
 *
 * K2/K3 under the names each source uses (the same bytes either way):
 *
 *   source                       K2 (first 16)          K3 (last 16)
 *   pppd as server               mppe_recv_key          mppe_send_key
 *   pppd as client               mppe_send_key          mppe_recv_key
 *   RADIUS Access-Accept         MS-MPPE-Recv-Key       MS-MPPE-Send-Key
 *
 * sstp_bind_hlak_mschapv2 takes the SERVER-side names: server_recv_key is
 * pppd's mppe_recv_key on the server (= K2), server_send_key its
 * mppe_send_key (= K3). Writes server_recv_key | server_send_key to out. */
void sstp_bind_hlak_mschapv2(uint8_t out[SSTP_HLAK_LEN],
                             const uint8_t server_recv_key[16],
                             const uint8_t server_send_key[16]);

/* sstp_bind_hlak_eap writes the first 32 bytes of the EAP MSK (server side:
 * the RADIUS MS-MPPE-Recv-Key comes first) to out, zero-padded when
 * msk_len < 32. msk may be NULL only when msk_len is 0. */
void sstp_bind_hlak_eap(uint8_t out[SSTP_HLAK_LEN], const uint8_t *msk, size_t msk_len);

/* sstp_bind_hlak_none writes 32 zero bytes (PAP, CHAP-MD5, no auth). */
void sstp_bind_hlak_none(uint8_t out[SSTP_HLAK_LEN]);

/* sstp_bind_cmk_derive computes the Compound MAC Key (MS-SSTP 3.2.5.2.2):
 * one PRF+ block, HMAC-H(HLAK, "SSTP inner method derived CMK" | LEN (16-bit
 * little-endian digest length) | 0x01). Writes sstp_bind_hash_len(hash)
 * bytes to out (which holds SSTP_HASH_MAX_LEN). Returns SSTP_OK, SSTP_E_ARG
 * (unknown hash) or SSTP_E_BIND_CRYPTO. */
enum sstp_rc sstp_bind_cmk_derive(uint8_t out[SSTP_HASH_MAX_LEN], enum sstp_bind_hash hash,
                                  const uint8_t hlak[SSTP_HLAK_LEN]);

/* sstp_bind_mac_build computes the compound MAC over msg (a CALL_CONNECTED
 * of exactly SSTP_CONNECTED_LEN bytes, every field but the MAC filled in)
 * and writes it at offset 80, zeroing the rest of the 32-byte MAC field.
 * The hash is taken from msg[15]. Returns SSTP_OK, SSTP_E_ARG (msg_len is
 * not 112) or SSTP_E_BIND_HASH_PROTO (msg[15] is not 1 or 2) or
 * SSTP_E_BIND_CRYPTO. msg is modified in place; on error it is unchanged. */
enum sstp_rc sstp_bind_mac_build(uint8_t *msg, size_t msg_len, const uint8_t hlak[SSTP_HLAK_LEN]);

/* sstp_bind_connected_build writes a complete CALL_CONNECTED (112 bytes,
 * MS-SSTP 2.2.11) as a client sends it: header, one Crypto Binding
 * attribute with hash, nonce, cert_hash (sstp_bind_hash_len(hash) bytes,
 * zero-padded to 32) and the compound MAC from hlak. For test clients and
 * the bench tool. Returns SSTP_OK, SSTP_E_BIND_HASH_PROTO (hash is not
 * SHA-1 or SHA-256) or SSTP_E_BIND_CRYPTO; out is untouched on error. */
enum sstp_rc sstp_bind_connected_build(uint8_t out[SSTP_CONNECTED_LEN], enum sstp_bind_hash hash,
                                       const uint8_t nonce[SSTP_NONCE_LEN],
                                       const uint8_t *cert_hash,
                                       const uint8_t hlak[SSTP_HLAK_LEN]);

/* sstp_bind_mac_verify recomputes the compound MAC of msg (112 bytes, not
 * modified; hash from msg[15]) with bytes 80..111 taken as zero and compares
 * it with the MAC at offset 80 in constant time. Only the digest-length
 * bytes of the MAC field are compared; the SHA-1 padding is not. Returns
 * SSTP_OK, SSTP_E_BIND_MAC, SSTP_E_ARG (length not 112),
 * SSTP_E_BIND_HASH_PROTO or SSTP_E_BIND_CRYPTO. */
enum sstp_rc sstp_bind_mac_verify(const uint8_t *msg, size_t msg_len,
                                  const uint8_t hlak[SSTP_HLAK_LEN]);

/* sstp_bind_verify validates a received CALL_CONNECTED, the whole packet
 * with its SSTP header (MS-SSTP 3.3.5.2.3: the structure, hash protocol,
 * nonce, certificate hash and MAC checks; the state check and deferral until
 * the HLAK is known are the caller's). Checks in this order, the first
 * failure is returned:
 *  - structure: msg_len and header length are 112, control bit set, type
 *    CALL_CONNECTED (0x0004), at least one attribute, the attribute at
 *    offset 8 has id 3 and length 104 → else SSTP_E_BIND_STRUCT;
 *  - hash protocol byte is 1 or 2 and set in advertised_bitmask →
 *    else SSTP_E_BIND_HASH_PROTO;
 *  - nonce equals ours (constant time) → else SSTP_E_BIND_NONCE;
 *  - certificate hash (first 20 or 32 bytes at offset 48) equals one of the
 *    trusted hashes of that type; an empty list for the chosen type fails →
 *    else SSTP_E_BIND_CERT_HASH. The SHA-1 pad bytes 68..79 are not checked
 *    (they are covered by the MAC, which the client computed over them);
 *  - compound MAC with hlak → else SSTP_E_BIND_MAC (SSTP_E_BIND_CRYPTO if
 *    libcrypto failed).
 * Returns SSTP_OK when all pass. trust may list several hashes per type
 * (e.g. during a certificate rollover). Everything is borrowed; nothing is
 * kept. In a fuzzing build
 * (FUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION) only the final MAC comparison
 * is skipped; the MAC is still computed. */
enum sstp_rc sstp_bind_verify(const uint8_t *msg, size_t msg_len, uint8_t advertised_bitmask,
                              const uint8_t nonce[SSTP_NONCE_LEN],
                              const struct sstp_bind_trust *trust,
                              const uint8_t hlak[SSTP_HLAK_LEN]);

#endif
