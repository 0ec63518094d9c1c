/* binding.c — SSTP crypto binding: certificate hashes, HLAK, CMK, compound
 * MAC and the server-side CALL_CONNECTED validation (MS-SSTP 3.2.5.2,
 * 3.3.5.2.3). Trusts nothing in the message; reads only inside msg_len.
 * Uses libcrypto's one-shot EVP_Digest and HMAC (no deprecated APIs). */
#include "sstp/binding.h"

#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "sstp/slice.h"

/* MS-SSTP 3.2.5.2.2: the PRF+ seed, 29 ASCII bytes without a NUL. */
static const char cmk_seed[] = "SSTP inner method derived CMK";
#define CMK_SEED_LEN (sizeof(cmk_seed) - 1)

#define SSTP_MSG_CALL_CONNECTED 0x0004 /* MS-SSTP 2.2.2 */
#define SSTP_CTRL_BIT           0x01   /* MS-SSTP 2.2.1: C bit of byte 1 */

size_t sstp_bind_hash_len(enum sstp_bind_hash hash)
{
    switch (hash) {
    case SSTP_BIND_HASH_SHA1:
        return SSTP_SHA1_LEN;
    case SSTP_BIND_HASH_SHA256:
        return SSTP_SHA256_LEN;
    }
    return 0;
}

static const EVP_MD *hash_md(enum sstp_bind_hash hash)
{
    return hash == SSTP_BIND_HASH_SHA1 ? EVP_sha1() : EVP_sha256();
}

static enum sstp_rc digest(uint8_t *out, size_t out_len, const EVP_MD *md,
                           const uint8_t *in, size_t in_len)
{
    unsigned int n = 0;
    /* EVP_Digest wants a valid pointer even for an empty input. */
    static const uint8_t empty[1];

    if (!in && in_len)
        return SSTP_E_ARG;
    if (!EVP_Digest(in ? in : empty, in_len, out, &n, md, NULL) || n != out_len) {
        memset(out, 0, out_len);
        return SSTP_E_BIND_CRYPTO;
    }
    return SSTP_OK;
}

enum sstp_rc sstp_bind_cert_sha1(uint8_t out[SSTP_SHA1_LEN], const uint8_t *der, size_t der_len)
{
    return digest(out, SSTP_SHA1_LEN, EVP_sha1(), der, der_len);
}

enum sstp_rc sstp_bind_cert_sha256(uint8_t out[SSTP_SHA256_LEN], const uint8_t *der, size_t der_len)
{
    return digest(out, SSTP_SHA256_LEN, EVP_sha256(), der, der_len);
}

void sstp_bind_hlak_mschapv2(uint8_t out[SSTP_HLAK_LEN], const uint8_t server_recv_key[16],
                             const uint8_t server_send_key[16])
{
    /* MS-SSTP 3.2.5.2.2: server HLAK = MasterReceiveKey | MasterSendKey. */
    memcpy(out, server_recv_key, 16);
    memcpy(out + 16, server_send_key, 16);
}

void sstp_bind_hlak_eap(uint8_t out[SSTP_HLAK_LEN], const uint8_t *msk, size_t msk_len)
{
    size_t n = msk_len < SSTP_HLAK_LEN ? msk_len : SSTP_HLAK_LEN;

    memset(out, 0, SSTP_HLAK_LEN);
    if (msk && n)
        memcpy(out, msk, n);
}

void sstp_bind_hlak_none(uint8_t out[SSTP_HLAK_LEN])
{
    memset(out, 0, SSTP_HLAK_LEN);
}

/* hmac writes HMAC-H(key, data) (hash_len bytes) to out. */
static enum sstp_rc hmac(uint8_t *out, enum sstp_bind_hash hash, const uint8_t *key,
                         size_t key_len, const uint8_t *data, size_t data_len)
{
    unsigned int n = 0;
    size_t want = sstp_bind_hash_len(hash);

    if (!HMAC(hash_md(hash), key, (int)key_len, data, data_len, out, &n) || n != want) {
        memset(out, 0, want);
        return SSTP_E_BIND_CRYPTO;
    }
    return SSTP_OK;
}

enum sstp_rc sstp_bind_cmk_derive(uint8_t out[SSTP_HASH_MAX_LEN], enum sstp_bind_hash hash,
                                  const uint8_t hlak[SSTP_HLAK_LEN])
{
    uint8_t in[CMK_SEED_LEN + 3];
    size_t len = sstp_bind_hash_len(hash);

    if (!len)
        return SSTP_E_ARG;
    /* PRF+ (RFC 7296 §2.13) T1 = HMAC(K, S | LEN | 0x01). One block covers
     * both digest sizes. LEN is little-endian: big-endian does not
     * reproduce the MS-SSTP 4.7 example. */
    memcpy(in, cmk_seed, CMK_SEED_LEN);
    in[CMK_SEED_LEN] = (uint8_t)len;
    in[CMK_SEED_LEN + 1] = 0;
    in[CMK_SEED_LEN + 2] = 0x01;
    return hmac(out, hash, hlak, SSTP_HLAK_LEN, in, sizeof(in));
}

/* compute_mac writes the compound MAC of a 112-byte msg (its MAC field taken
 * as zero) to mac (hash_len bytes), and wipes the keys it used. */
static enum sstp_rc compute_mac(uint8_t *mac, enum sstp_bind_hash hash, const uint8_t *msg,
                                const uint8_t hlak[SSTP_HLAK_LEN])
{
    uint8_t cmk[SSTP_HASH_MAX_LEN];
    uint8_t copy[SSTP_CONNECTED_LEN];
    enum sstp_rc rc;

    rc = sstp_bind_cmk_derive(cmk, hash, hlak);
    if (rc == SSTP_OK) {
        memcpy(copy, msg, SSTP_BIND_OFF_MAC);
        memset(copy + SSTP_BIND_OFF_MAC, 0, SSTP_CONNECTED_LEN - SSTP_BIND_OFF_MAC);
        rc = hmac(mac, hash, cmk, sstp_bind_hash_len(hash), copy, sizeof(copy));
    }
    OPENSSL_cleanse(cmk, sizeof(cmk));
    return rc;
}

static bool hash_proto_ok(uint8_t hp)
{
    return hp == SSTP_BIND_HASH_SHA1 || hp == SSTP_BIND_HASH_SHA256;
}

enum sstp_rc sstp_bind_mac_build(uint8_t *msg, size_t msg_len, const uint8_t hlak[SSTP_HLAK_LEN])
{
    uint8_t mac[SSTP_BIND_FIELD_LEN] = { 0 };
    enum sstp_rc rc;

    if (!msg || msg_len != SSTP_CONNECTED_LEN)
        return SSTP_E_ARG;
    if (!hash_proto_ok(msg[SSTP_BIND_OFF_HASH_PROTO]))
        return SSTP_E_BIND_HASH_PROTO;
    rc = compute_mac(mac, msg[SSTP_BIND_OFF_HASH_PROTO], msg, hlak);
    if (rc == SSTP_OK)
        memcpy(msg + SSTP_BIND_OFF_MAC, mac, sizeof(mac)); /* with the SHA-1 zero pad */
    return rc;
}

enum sstp_rc sstp_bind_connected_build(uint8_t out[SSTP_CONNECTED_LEN], enum sstp_bind_hash hash,
                                       const uint8_t nonce[SSTP_NONCE_LEN],
                                       const uint8_t *cert_hash,
                                       const uint8_t hlak[SSTP_HLAK_LEN])
{
    size_t hlen = sstp_bind_hash_len(hash);
    uint8_t tmp[SSTP_CONNECTED_LEN];
    struct sstp_wbuf w;
    enum sstp_rc rc;

    if (!hlen)
        return SSTP_E_BIND_HASH_PROTO;
    sstp_wbuf_init(&w, tmp, sizeof(tmp));
    sstp_put_u8(&w, SSTP_VERSION);
    sstp_put_u8(&w, SSTP_CTRL_BIT);
    sstp_put_u16be(&w, SSTP_CONNECTED_LEN);
    sstp_put_u16be(&w, SSTP_MSG_CALL_CONNECTED);
    sstp_put_u16be(&w, 1);                       /* one attribute */
    sstp_put_u8(&w, 0);                          /* reserved */
    sstp_put_u8(&w, SSTP_BIND_ATTR_ID);
    sstp_put_u16be(&w, SSTP_BIND_ATTR_LEN);
    sstp_put_zeros(&w, 3);                       /* reserved */
    sstp_put_u8(&w, (uint8_t)hash);
    sstp_put_bytes(&w, nonce, SSTP_NONCE_LEN);
    sstp_put_bytes(&w, cert_hash, hlen);
    sstp_put_zeros(&w, SSTP_BIND_FIELD_LEN - hlen); /* SHA-1 pad */
    sstp_put_zeros(&w, SSTP_BIND_FIELD_LEN);        /* MAC, filled below */
    if (w.err || w.len != SSTP_CONNECTED_LEN)
        return SSTP_E_ARG; /* cannot happen: the layout is fixed */
    rc = sstp_bind_mac_build(tmp, sizeof(tmp), hlak);
    if (rc == SSTP_OK)
        memcpy(out, tmp, sizeof(tmp));
    return rc;
}

/* mac_check compares the MAC field of msg with the recomputed one. */
static enum sstp_rc mac_check(const uint8_t *msg, enum sstp_bind_hash hash,
                              const uint8_t hlak[SSTP_HLAK_LEN])
{
    uint8_t mac[SSTP_HASH_MAX_LEN];
    enum sstp_rc rc = compute_mac(mac, hash, msg, hlak);

    if (rc != SSTP_OK)
        return rc;
#ifdef FUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION
    /* Let the fuzzer reach the success path; the MAC is still computed. */
    return SSTP_OK;
#else
    /* Only the digest is compared: the SHA-1 pad is not part of the MAC. */
    if (CRYPTO_memcmp(mac, msg + SSTP_BIND_OFF_MAC, sstp_bind_hash_len(hash)) != 0)
        return SSTP_E_BIND_MAC;
    return SSTP_OK;
#endif
}

enum sstp_rc sstp_bind_mac_verify(const uint8_t *msg, size_t msg_len,
                                  const uint8_t hlak[SSTP_HLAK_LEN])
{
    if (!msg || msg_len != SSTP_CONNECTED_LEN)
        return SSTP_E_ARG;
    if (!hash_proto_ok(msg[SSTP_BIND_OFF_HASH_PROTO]))
        return SSTP_E_BIND_HASH_PROTO;
    return mac_check(msg, msg[SSTP_BIND_OFF_HASH_PROTO], hlak);
}

/* struct_ok applies the structure checks of MS-SSTP 3.3.5.2.3 to the fixed
 * CALL_CONNECTED layout. General control-message validation (version,
 * attribute walk) is the ctrl codec's; only what binding relies on is here. */
static bool struct_ok(const uint8_t *msg, size_t msg_len)
{
    if (!msg || msg_len != SSTP_CONNECTED_LEN)
        return false;
    if (!(msg[1] & SSTP_CTRL_BIT))
        return false;
    if ((sstp_load_u16be(msg + 2) & SSTP_LEN_MASK) != SSTP_CONNECTED_LEN)
        return false;
    if (sstp_load_u16be(msg + 4) != SSTP_MSG_CALL_CONNECTED)
        return false;
    if (sstp_load_u16be(msg + 6) < 1)
        return false;
    /* Attribute header: reserved byte, id, 4 reserved bits + 12-bit length. */
    if (msg[SSTP_BIND_OFF_ATTR + 1] != SSTP_BIND_ATTR_ID)
        return false;
    if ((sstp_load_u16be(msg + SSTP_BIND_OFF_ATTR + 2) & SSTP_LEN_MASK) != SSTP_BIND_ATTR_LEN)
        return false;
    return true;
}

/* cert_hash_ok: does the hash at offset 48 match any trusted hash of the
 * chosen type? An empty list never matches: skipping the check would
 * silently disable the MITM protection crypto binding exists for. */
static bool cert_hash_ok(const uint8_t *got, enum sstp_bind_hash hash,
                         const struct sstp_bind_trust *trust)
{
    bool match = false;

    if (!trust)
        return false;
    if (hash == SSTP_BIND_HASH_SHA256) {
        for (size_t i = 0; trust->sha256 && i < trust->n_sha256; i++)
            match |= CRYPTO_memcmp(got, trust->sha256[i], SSTP_SHA256_LEN) == 0;
    } else {
        for (size_t i = 0; trust->sha1 && i < trust->n_sha1; i++)
            match |= CRYPTO_memcmp(got, trust->sha1[i], SSTP_SHA1_LEN) == 0;
    }
    return match;
}

enum sstp_rc sstp_bind_verify(const uint8_t *msg, size_t msg_len, uint8_t advertised_bitmask,
                              const uint8_t nonce[SSTP_NONCE_LEN],
                              const struct sstp_bind_trust *trust,
                              const uint8_t hlak[SSTP_HLAK_LEN])
{
    uint8_t hp;

    if (!struct_ok(msg, msg_len))
        return SSTP_E_BIND_STRUCT;
    hp = msg[SSTP_BIND_OFF_HASH_PROTO];
    /* The byte must name exactly one hash, and one we offered (2.2.7). */
    if (!hash_proto_ok(hp) || !(advertised_bitmask & hp))
        return SSTP_E_BIND_HASH_PROTO;
    if (CRYPTO_memcmp(msg + SSTP_BIND_OFF_NONCE, nonce, SSTP_NONCE_LEN) != 0)
        return SSTP_E_BIND_NONCE;
    /* The SHA-1 pad (68..79) is not checked: MS-SSTP 2.2.7 tells the sender
     * to zero it but 3.3.5.2.3 does not ask the server to check it, and the
     * MAC covers those bytes anyway. */
    if (!cert_hash_ok(msg + SSTP_BIND_OFF_CERT_HASH, hp, trust))
        return SSTP_E_BIND_CERT_HASH;
    return mac_check(msg, hp, hlak);
}
