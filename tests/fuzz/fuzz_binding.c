/* fuzz_binding.c — libFuzzer target for crypto binding validation.
 *
 * Input: bitmask, flags, nonce[32], hlak[32], two SHA-1 and two SHA-256
 * trusted hashes, then the CALL_CONNECTED message (any length, exact-size
 * heap copy). Flags let the fuzzer reuse the message's own nonce and cert
 * hash, a valid header and a correct MAC, so it gets past each check
 * whether or not binding.c was built with
 * FUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION (which skips only the final MAC
 * comparison). Checks: no crash/UB, the
 * rc is one of the documented ones, and a message rebuilt from accepted
 * fields verifies again. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sstp/binding.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define PREFIX (2 + 32 + 32 + 2 * 20 + 2 * 32)

static const uint8_t valid_head[16] = {
    0x10, 0x01, 0x00, 0x70, 0x00, 0x04, 0x00, 0x01, 0x00, 0x03, 0x00, 0x68, 0x00, 0x00, 0x00, 0x02,
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t bitmask, flags, nonce[32], hlak[32], sha1[2][20], sha256[2][32];
    struct sstp_bind_trust trust;
    uint8_t *msg;
    size_t len;
    enum sstp_rc rc;

    if (size < PREFIX)
        return 0;
    bitmask = data[0];
    flags = data[1];
    memcpy(nonce, data + 2, 32);
    memcpy(hlak, data + 34, 32);
    memcpy(sha1, data + 66, sizeof(sha1));
    memcpy(sha256, data + 106, sizeof(sha256));
    len = size - PREFIX;
    msg = malloc(len ? len : 1);
    if (!msg)
        abort();
    memcpy(msg, data + PREFIX, len);

    /* bit 0: valid header (keeping the fuzzer's hash protocol byte) */
    if ((flags & 0x01) && len >= 16)
        memcpy(msg, valid_head, 15);
    /* bit 1: our nonce is the one in the message */
    if ((flags & 0x02) && len >= 48)
        memcpy(nonce, msg + SSTP_BIND_OFF_NONCE, 32);
    /* bit 2: the message's cert hash is trusted (as the second entry) */
    if ((flags & 0x04) && len >= 80) {
        memcpy(sha1[1], msg + SSTP_BIND_OFF_CERT_HASH, 20);
        memcpy(sha256[1], msg + SSTP_BIND_OFF_CERT_HASH, 32);
    }
    /* bits 3-4, 5-6: how many trusted hashes of each type (0..2; 3 = a
     * NULL list); both 3: no trust struct at all */
    size_t n1 = (flags >> 3) & 3, n256 = (flags >> 5) & 3;
    trust.sha1 = n1 == 3 ? NULL : (const uint8_t (*)[20])sha1;
    trust.n_sha1 = n1 == 3 ? 0 : n1;
    trust.sha256 = n256 == 3 ? NULL : (const uint8_t (*)[32])sha256;
    trust.n_sha256 = n256 == 3 ? 0 : n256;
    /* bit 7: a correct compound MAC for hlak */
    if ((flags & 0x80) && len == SSTP_CONNECTED_LEN)
        (void)sstp_bind_mac_build(msg, len, hlak);

    rc = sstp_bind_verify(msg, len, bitmask, nonce, (n1 == 3 && n256 == 3) ? NULL : &trust, hlak);
    switch (rc) {
    case SSTP_OK:
    case SSTP_E_BIND_STRUCT:
    case SSTP_E_BIND_HASH_PROTO:
    case SSTP_E_BIND_NONCE:
    case SSTP_E_BIND_CERT_HASH:
    case SSTP_E_BIND_MAC:
        break;
    default:
        abort(); /* E_BIND_CRYPTO cannot happen with a working libcrypto */
    }

    if (rc == SSTP_OK) {
        /* accepted: the fields are sane, and a client building the same
         * message from them must be accepted too */
        uint8_t hp = msg[SSTP_BIND_OFF_HASH_PROTO], built[SSTP_CONNECTED_LEN];
        if (len != SSTP_CONNECTED_LEN || (hp != 1 && hp != 2) || !(bitmask & hp))
            abort();
        if (memcmp(msg + SSTP_BIND_OFF_NONCE, nonce, 32) != 0)
            abort();
        if (sstp_bind_connected_build(built, (enum sstp_bind_hash)hp, nonce,
                                      msg + SSTP_BIND_OFF_CERT_HASH, hlak) != SSTP_OK)
            abort();
        if (sstp_bind_verify(built, sizeof(built), bitmask, nonce, &trust, hlak) != SSTP_OK)
            abort();
        if (sstp_bind_mac_verify(built, sizeof(built), hlak) != SSTP_OK)
            abort();
        /* the hash, nonce and cert hash areas survive the rebuild */
        if (memcmp(built + 15, msg + 15, 1 + 32 + sstp_bind_hash_len(hp)) != 0)
            abort();
    }

    /* the lower-level calls on the same bytes */
    if (len == SSTP_CONNECTED_LEN) {
        rc = sstp_bind_mac_verify(msg, len, hlak);
        if (rc != SSTP_OK && rc != SSTP_E_BIND_MAC && rc != SSTP_E_BIND_HASH_PROTO)
            abort();
        rc = sstp_bind_mac_build(msg, len, hlak);
        if (rc == SSTP_OK && sstp_bind_mac_verify(msg, len, hlak) != SSTP_OK)
            abort();
    }
    free(msg);
    return 0;
}
