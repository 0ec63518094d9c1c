/* test_binding.c — crypto binding codec: MS-SSTP 4.7 examples, the
 * MS-CHAPv2 → HLAK chain, synthetic and generated vectors from
 * tests/vectors/binding.py, and every rejection path of sstp_bind_verify.
 * Literals below are published values (MS-SSTP 4.7, RFC 2759, RFC 3079). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/provider.h>

#include "sstp/binding.h"
#include "tests/unit/helpers.h"
#include "binding.h" /* generated: build/.../vectors/binding.h */

/* ------------------------------------------------------------ literals */

/* MS-SSTP 4.7, SHA-256 example */
static const uint8_t A_HLAK[32] = {
    0x2A, 0x1B, 0xB4, 0x0D, 0x55, 0xAB, 0x0F, 0x5E, 0xF3, 0x2F, 0x06, 0xF2, 0xB3, 0xCC, 0x73, 0xC4,
    0x8F, 0xD3, 0xFA, 0xC4, 0x1D, 0x7A, 0x13, 0x15, 0xA1, 0x92, 0x28, 0xD9, 0x02, 0x4C, 0xA1, 0x64,
};
static const uint8_t A_CERT[32] = {
    0x79, 0x93, 0xEF, 0x31, 0x4C, 0x49, 0x3D, 0xAC, 0xE9, 0xF0, 0x2D, 0x60, 0xE7, 0xE6, 0x1C, 0x84,
    0xB6, 0x69, 0x0A, 0xAF, 0xE9, 0xD7, 0xAE, 0xEA, 0x92, 0xCB, 0xBE, 0x8A, 0xD5, 0x99, 0x42, 0x2D,
};
static const uint8_t A_NONCE[32] = {
    0x41, 0x2B, 0x48, 0x9A, 0xEB, 0xD7, 0xEC, 0xC7, 0xD0, 0x89, 0x66, 0xF2, 0x6B, 0xE7, 0xCD, 0x72,
    0xB2, 0x31, 0xA0, 0xE9, 0x21, 0x0D, 0x7C, 0x91, 0xB3, 0x08, 0x86, 0x2B, 0x03, 0x44, 0xC4, 0x35,
};
static const uint8_t A_CMK[32] = {
    0xec, 0xf5, 0x9a, 0xc9, 0xfe, 0x15, 0x5c, 0xf0, 0xa9, 0xe7, 0xd6, 0x6a, 0xdc, 0x1b, 0x36, 0x3c,
    0x1a, 0xd7, 0xba, 0x91, 0xa9, 0x21, 0x7f, 0x0c, 0xec, 0x2a, 0x53, 0x42, 0x98, 0x82, 0x8d, 0xf6,
};
static const uint8_t A_MSG[112] = {
    0x10, 0x01, 0x00, 0x70, 0x00, 0x04, 0x00, 0x01, 0x00, 0x03, 0x00, 0x68, 0x00, 0x00, 0x00, 0x02,
    0x41, 0x2B, 0x48, 0x9A, 0xEB, 0xD7, 0xEC, 0xC7, 0xD0, 0x89, 0x66, 0xF2, 0x6B, 0xE7, 0xCD, 0x72,
    0xB2, 0x31, 0xA0, 0xE9, 0x21, 0x0D, 0x7C, 0x91, 0xB3, 0x08, 0x86, 0x2B, 0x03, 0x44, 0xC4, 0x35,
    0x79, 0x93, 0xEF, 0x31, 0x4C, 0x49, 0x3D, 0xAC, 0xE9, 0xF0, 0x2D, 0x60, 0xE7, 0xE6, 0x1C, 0x84,
    0xB6, 0x69, 0x0A, 0xAF, 0xE9, 0xD7, 0xAE, 0xEA, 0x92, 0xCB, 0xBE, 0x8A, 0xD5, 0x99, 0x42, 0x2D,
    0x52, 0xA6, 0x8E, 0xFD, 0x8C, 0xFF, 0xBF, 0x52, 0x77, 0x0B, 0x8F, 0x0F, 0xE8, 0xEC, 0x73, 0x71,
    0x65, 0x83, 0xAF, 0x6D, 0x61, 0x1E, 0xB6, 0xD1, 0x79, 0xB3, 0xB2, 0x08, 0x40, 0x98, 0x54, 0x49,
};

/* MS-SSTP 4.7, SHA-1 example */
static const uint8_t B_HLAK[32] = {
    0x4B, 0x31, 0x28, 0xF4, 0x39, 0x25, 0xD9, 0x00, 0x6E, 0xEF, 0xB1, 0xC4, 0xE8, 0x65, 0x15, 0xA1,
    0xD8, 0x8E, 0x56, 0xBA, 0xB3, 0xCA, 0x2B, 0xDF, 0x03, 0x73, 0xB7, 0xF5, 0xA8, 0xA1, 0x3B, 0x19,
};
static const uint8_t B_CERT[20] = {
    0x58, 0x26, 0xB6, 0x29, 0xBD, 0xA5, 0x9B, 0x8E, 0x6F, 0xD8,
    0xDC, 0xD2, 0x62, 0x2F, 0xD3, 0x4C, 0x53, 0x48, 0x05, 0xA5,
};
static const uint8_t B_NONCE[32] = {
    0x0F, 0x1A, 0x2D, 0x58, 0xD4, 0xA3, 0xE3, 0x00, 0x0F, 0xAD, 0x3C, 0xE4, 0x90, 0x6E, 0x07, 0xB7,
    0x07, 0xAA, 0x9E, 0x44, 0x1C, 0xCE, 0xAC, 0x5C, 0xBD, 0x7B, 0x2C, 0xC1, 0xC9, 0xD8, 0x6C, 0xDF,
};
static const uint8_t B_CMK[20] = {
    0xa9, 0x8b, 0x86, 0x2a, 0x38, 0xcc, 0x7e, 0x22, 0x4b, 0x42,
    0xcd, 0x12, 0x85, 0x86, 0xac, 0xb2, 0x2f, 0x0b, 0xd1, 0xe9,
};
static const uint8_t B_MSG[112] = {
    0x10, 0x01, 0x00, 0x70, 0x00, 0x04, 0x00, 0x01, 0x00, 0x03, 0x00, 0x68, 0x00, 0x00, 0x00, 0x01,
    0x0F, 0x1A, 0x2D, 0x58, 0xD4, 0xA3, 0xE3, 0x00, 0x0F, 0xAD, 0x3C, 0xE4, 0x90, 0x6E, 0x07, 0xB7,
    0x07, 0xAA, 0x9E, 0x44, 0x1C, 0xCE, 0xAC, 0x5C, 0xBD, 0x7B, 0x2C, 0xC1, 0xC9, 0xD8, 0x6C, 0xDF,
    0x58, 0x26, 0xB6, 0x29, 0xBD, 0xA5, 0x9B, 0x8E, 0x6F, 0xD8, 0xDC, 0xD2, 0x62, 0x2F, 0xD3, 0x4C,
    0x53, 0x48, 0x05, 0xA5, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x69, 0x91, 0x5D, 0xD5, 0x83, 0xD8, 0x06, 0x2F, 0xEF, 0x16, 0xF6, 0x1D, 0xB2, 0xF0, 0x32, 0x90,
    0xEC, 0x27, 0xCB, 0x6C, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
};

/* RFC 2759 §9.2 (PasswordHash, PasswordHashHash), RFC 3079 §3.5.3
 * (MasterKey, server-side SendStartKey128 = K3). */
static const uint8_t C_PW_HASH[16] = {
    0x44, 0xeb, 0xba, 0x8d, 0x53, 0x12, 0xb8, 0xd6, 0x11, 0x47, 0x44, 0x11, 0xf5, 0x69, 0x89, 0xae,
};
static const uint8_t C_PW_HASH_HASH[16] = {
    0x41, 0xc0, 0x0c, 0x58, 0x4b, 0xd2, 0xd9, 0x1c, 0x40, 0x17, 0xa2, 0xa1, 0x2f, 0xa5, 0x9f, 0x3f,
};
static const uint8_t C_MASTER_KEY[16] = {
    0xfd, 0xec, 0xe3, 0x71, 0x7a, 0x8c, 0x83, 0x8c, 0xb3, 0x88, 0xe5, 0x27, 0xae, 0x3c, 0xdd, 0x31,
};
static const uint8_t C_K3[16] = {
    0x8b, 0x7c, 0xdc, 0x14, 0x9b, 0x99, 0x3a, 0x1b, 0xa1, 0x18, 0xcb, 0x15, 0x3f, 0x56, 0xdc, 0xcb,
};

/* Well-known digests of the empty string (FIPS 180-4 examples). */
static const uint8_t SHA1_EMPTY[20] = {
    0xda, 0x39, 0xa3, 0xee, 0x5e, 0x6b, 0x4b, 0x0d, 0x32, 0x55,
    0xbf, 0xef, 0x95, 0x60, 0x18, 0x90, 0xaf, 0xd8, 0x07, 0x09,
};
static const uint8_t SHA256_EMPTY[32] = {
    0xe3, 0xb0, 0xc4, 0x42, 0x98, 0xfc, 0x1c, 0x14, 0x9a, 0xfb, 0xf4, 0xc8, 0x99, 0x6f, 0xb9, 0x24,
    0x27, 0xae, 0x41, 0xe4, 0x64, 0x9b, 0x93, 0x4c, 0xa4, 0x95, 0x99, 0x1b, 0x78, 0x52, 0xb8, 0x55,
};

/* ------------------------------------------------------------- helpers */

/* verify runs sstp_bind_verify on an exact-size heap copy of msg. */
static enum sstp_rc verify(const uint8_t *msg, size_t len, uint8_t bitmask, const uint8_t *nonce,
                           const struct sstp_bind_trust *trust, const uint8_t *hlak)
{
    uint8_t *m = dup_exact(msg, len);
    uint8_t *n = dup_exact(nonce, SSTP_NONCE_LEN);
    uint8_t *h = dup_exact(hlak, SSTP_HLAK_LEN);
    enum sstp_rc rc = sstp_bind_verify(m, len, bitmask, n, trust, h);
    free(m);
    free(n);
    free(h);
    return rc;
}

static struct sstp_bind_trust trust_a(void)
{
    static uint8_t t[1][32];
    struct sstp_bind_trust tr = { 0 };

    memcpy(t[0], A_CERT, 32);
    tr.sha256 = (const uint8_t (*)[32])t;
    tr.n_sha256 = 1;
    return tr;
}

static struct sstp_bind_trust trust_b(void)
{
    static uint8_t t[1][20];
    struct sstp_bind_trust tr = { 0 };

    memcpy(t[0], B_CERT, 20);
    tr.sha1 = (const uint8_t (*)[20])t;
    tr.n_sha1 = 1;
    return tr;
}

/* --------------------------------------------------------------- tests */

static void test_hash_len(void **state)
{
    (void)state;
    assert_int_equal(sstp_bind_hash_len(SSTP_BIND_HASH_SHA1), 20);
    assert_int_equal(sstp_bind_hash_len(SSTP_BIND_HASH_SHA256), 32);
    assert_int_equal(sstp_bind_hash_len((enum sstp_bind_hash)0), 0);
    assert_int_equal(sstp_bind_hash_len((enum sstp_bind_hash)3), 0);
}

static void test_cert_hash(void **state)
{
    uint8_t out1[20], out256[32];
    uint8_t *der = dup_exact(PY_SYN_DER, sizeof(PY_SYN_DER));
    (void)state;

    assert_int_equal(sstp_bind_cert_sha1(out1, der, sizeof(PY_SYN_DER)), SSTP_OK);
    assert_memory_equal(out1, PY_SYN1_CERT_HASH, 20);
    assert_int_equal(sstp_bind_cert_sha256(out256, der, sizeof(PY_SYN_DER)), SSTP_OK);
    assert_memory_equal(out256, PY_SYN256_CERT_HASH, 32);
    free(der);

    /* the synthetic cert hashes of the design notes */
    static const uint8_t syn1[20] = {
        0x16, 0x44, 0x74, 0x85, 0xf7, 0xec, 0x61, 0x51, 0x36, 0xcf,
        0x8e, 0x3d, 0x56, 0xc4, 0xc6, 0x16, 0xcc, 0x61, 0xbc, 0xc4,
    };
    assert_memory_equal(out1, syn1, 20);

    assert_int_equal(sstp_bind_cert_sha1(out1, NULL, 0), SSTP_OK);
    assert_memory_equal(out1, SHA1_EMPTY, 20);
    assert_int_equal(sstp_bind_cert_sha256(out256, NULL, 0), SSTP_OK);
    assert_memory_equal(out256, SHA256_EMPTY, 32);
    assert_int_equal(sstp_bind_cert_sha1(out1, NULL, 5), SSTP_E_ARG);
    assert_int_equal(sstp_bind_cert_sha256(out256, NULL, 5), SSTP_E_ARG);
}

static void test_hlak_builders(void **state)
{
    uint8_t hlak[32], msk[64];
    static const uint8_t zero[32] = { 0 };
    (void)state;

    /* MS-CHAPv2: pppd server's mppe_recv_key is K2, mppe_send_key K3 */
    sstp_bind_hlak_mschapv2(hlak, PY_CHAP_K2, PY_CHAP_K3);
    assert_memory_equal(hlak, PY_CHAP_HLAK, 32);
    assert_memory_equal(hlak + 16, C_K3, 16);

    /* sstpc's unit test: send key = first 16 bytes of the SHA-1 example HLAK */
    sstp_bind_hlak_mschapv2(hlak, B_HLAK, B_HLAK + 16);
    assert_memory_equal(hlak, B_HLAK, 32);

    for (size_t i = 0; i < sizeof(msk); i++)
        msk[i] = (uint8_t)(0xA0 + i);
    memset(hlak, 0x55, sizeof(hlak));
    sstp_bind_hlak_eap(hlak, msk, 64);
    assert_memory_equal(hlak, msk, 32);
    memset(hlak, 0x55, sizeof(hlak));
    sstp_bind_hlak_eap(hlak, msk, 32);
    assert_memory_equal(hlak, msk, 32);
    memset(hlak, 0x55, sizeof(hlak));
    sstp_bind_hlak_eap(hlak, msk, 10);
    assert_memory_equal(hlak, msk, 10);
    assert_memory_equal(hlak + 10, zero, 22);
    memset(hlak, 0x55, sizeof(hlak));
    sstp_bind_hlak_eap(hlak, NULL, 0);
    assert_memory_equal(hlak, zero, 32);

    memset(hlak, 0x55, sizeof(hlak));
    sstp_bind_hlak_none(hlak);
    assert_memory_equal(hlak, zero, 32);
}

static void test_mschapv2_chain(void **state)
{
    (void)state;
    /* the script's independent chain reproduces the RFC values */
    assert_memory_equal(PY_CHAP_PW_HASH, C_PW_HASH, 16);
    assert_memory_equal(PY_CHAP_PW_HASH_HASH, C_PW_HASH_HASH, 16);
    assert_memory_equal(PY_CHAP_MASTER_KEY, C_MASTER_KEY, 16);
    assert_memory_equal(PY_CHAP_K3, C_K3, 16);
    static const uint8_t k2[16] = {
        0xd5, 0xf0, 0xe9, 0x52, 0x1e, 0x3e, 0xa9, 0x58,
        0x96, 0x45, 0xe8, 0x60, 0x51, 0xc8, 0x22, 0x26,
    };
    assert_memory_equal(PY_CHAP_K2, k2, 16);
}

static void test_cmk_spec(void **state)
{
    uint8_t cmk[32];
    (void)state;

    assert_int_equal(sstp_bind_cmk_derive(cmk, SSTP_BIND_HASH_SHA256, A_HLAK), SSTP_OK);
    assert_memory_equal(cmk, A_CMK, 32);
    assert_memory_equal(cmk, PY_SPEC256_CMK, 32);
    assert_int_equal(sstp_bind_cmk_derive(cmk, SSTP_BIND_HASH_SHA1, B_HLAK), SSTP_OK);
    assert_memory_equal(cmk, B_CMK, 20);
    assert_memory_equal(cmk, PY_SPEC1_CMK, 20);

    assert_int_equal(sstp_bind_cmk_derive(cmk, SSTP_BIND_HASH_SHA1, PY_CHAP_HLAK), SSTP_OK);
    assert_memory_equal(cmk, PY_SYN1_CMK, 20);
    assert_int_equal(sstp_bind_cmk_derive(cmk, SSTP_BIND_HASH_SHA256, PY_CHAP_HLAK), SSTP_OK);
    assert_memory_equal(cmk, PY_SYN256_CMK, 32);

    assert_int_equal(sstp_bind_cmk_derive(cmk, (enum sstp_bind_hash)0, A_HLAK), SSTP_E_ARG);
    assert_int_equal(sstp_bind_cmk_derive(cmk, (enum sstp_bind_hash)3, A_HLAK), SSTP_E_ARG);
}

static void test_build_spec(void **state)
{
    uint8_t msg[112];
    (void)state;

    /* python agrees with the published messages */
    assert_memory_equal(PY_SPEC256_MSG, A_MSG, 112);
    assert_memory_equal(PY_SPEC1_MSG, B_MSG, 112);
    assert_memory_equal(PY_SPEC256_MAC, A_MSG + 80, 32);
    assert_memory_equal(PY_SPEC1_MAC, B_MSG + 80, 20);

    assert_int_equal(sstp_bind_connected_build(msg, SSTP_BIND_HASH_SHA256, A_NONCE, A_CERT, A_HLAK),
                     SSTP_OK);
    assert_memory_equal(msg, A_MSG, 112);
    assert_int_equal(sstp_bind_connected_build(msg, SSTP_BIND_HASH_SHA1, B_NONCE, B_CERT, B_HLAK),
                     SSTP_OK);
    assert_memory_equal(msg, B_MSG, 112);

    /* mac_build over a message whose MAC field holds junk */
    memcpy(msg, A_MSG, 112);
    memset(msg + 80, 0xEE, 32);
    uint8_t *m = dup_exact(msg, 112);
    assert_int_equal(sstp_bind_mac_build(m, 112, A_HLAK), SSTP_OK);
    assert_memory_equal(m, A_MSG, 112);
    free(m);
    memcpy(msg, B_MSG, 112);
    memset(msg + 80, 0xEE, 32);
    m = dup_exact(msg, 112);
    assert_int_equal(sstp_bind_mac_build(m, 112, B_HLAK), SSTP_OK);
    assert_memory_equal(m, B_MSG, 112); /* SHA-1 pad rewritten as zeros */
    free(m);

    /* errors leave the buffers untouched */
    memset(msg, 0x33, sizeof(msg));
    assert_int_equal(sstp_bind_connected_build(msg, (enum sstp_bind_hash)3, A_NONCE, A_CERT, A_HLAK),
                     SSTP_E_BIND_HASH_PROTO);
    assert_int_equal(msg[0], 0x33);
    m = dup_exact(A_MSG, 112);
    m[15] = 0;
    assert_int_equal(sstp_bind_mac_build(m, 112, A_HLAK), SSTP_E_BIND_HASH_PROTO);
    m[15] = 2;
    assert_int_equal(sstp_bind_mac_build(m, 111, A_HLAK), SSTP_E_ARG);
    assert_int_equal(sstp_bind_mac_build(NULL, 112, A_HLAK), SSTP_E_ARG);
    assert_memory_equal(m, A_MSG, 112);
    free(m);
}

static void test_build_synthetic(void **state)
{
    uint8_t msg[112];
    (void)state;

    assert_int_equal(sstp_bind_connected_build(msg, SSTP_BIND_HASH_SHA1, PY_SYN_NONCE,
                                               PY_SYN1_CERT_HASH, PY_CHAP_HLAK), SSTP_OK);
    assert_memory_equal(msg, PY_SYN1_MSG, 112);
    static const uint8_t mac1[20] = {
        0x72, 0x96, 0xf0, 0x4d, 0xd5, 0x34, 0xe3, 0xc7, 0x77, 0x76,
        0x45, 0x02, 0xb3, 0x6e, 0xe1, 0xd8, 0xc3, 0x83, 0x03, 0x75,
    };
    assert_memory_equal(msg + 80, mac1, 20);

    assert_int_equal(sstp_bind_connected_build(msg, SSTP_BIND_HASH_SHA256, PY_SYN_NONCE,
                                               PY_SYN256_CERT_HASH, PY_CHAP_HLAK), SSTP_OK);
    assert_memory_equal(msg, PY_SYN256_MSG, 112);
    static const uint8_t mac256[32] = {
        0x65, 0x66, 0x12, 0x8b, 0xed, 0xab, 0x52, 0x67, 0xa8, 0xd6, 0xef, 0x43, 0x91, 0x41, 0x2d, 0x20,
        0x04, 0xca, 0x13, 0x00, 0xaa, 0xe4, 0x1d, 0x49, 0x0f, 0x54, 0x5d, 0x38, 0xd8, 0x36, 0x42, 0xa0,
    };
    assert_memory_equal(msg + 80, mac256, 32);
}

static void test_mac_verify(void **state)
{
    uint8_t msg[112];
    (void)state;

    assert_int_equal(sstp_bind_mac_verify(A_MSG, 112, A_HLAK), SSTP_OK);
    assert_int_equal(sstp_bind_mac_verify(B_MSG, 112, B_HLAK), SSTP_OK);
    assert_int_equal(sstp_bind_mac_verify(A_MSG, 112, B_HLAK), SSTP_E_BIND_MAC);
    assert_int_equal(sstp_bind_mac_verify(A_MSG, 111, A_HLAK), SSTP_E_ARG);
    assert_int_equal(sstp_bind_mac_verify(NULL, 112, A_HLAK), SSTP_E_ARG);

    /* every byte of the covered area, and every byte of the MAC, matters */
    for (size_t i = 0; i < 112; i++) {
        const uint8_t *src = (i % 2) ? A_MSG : B_MSG;
        const uint8_t *hlak = (i % 2) ? A_HLAK : B_HLAK;
        size_t maclen = (i % 2) ? 32 : 20;
        enum sstp_rc want = SSTP_E_BIND_MAC;
        memcpy(msg, src, 112);
        msg[i] ^= 0x01;
        if (i == 15)
            want = SSTP_E_BIND_HASH_PROTO; /* 2 -> 3 or 1 -> 0 */
        else if (i >= 80 + maclen)
            want = SSTP_OK;                /* SHA-1 MAC pad: not part of the MAC */
        uint8_t *m = dup_exact(msg, 112);
        assert_int_equal(sstp_bind_mac_verify(m, 112, hlak), want);
        free(m);
    }
}

static void test_verify_ok(void **state)
{
    struct sstp_bind_trust ta = trust_a(), tb = trust_b();
    struct sstp_bind_trust t1 = { 0 }, t256 = { 0 };
    (void)state;

    assert_int_equal(verify(A_MSG, 112, 0x02, A_NONCE, &ta, A_HLAK), SSTP_OK);
    assert_int_equal(verify(A_MSG, 112, 0x03, A_NONCE, &ta, A_HLAK), SSTP_OK);
    assert_int_equal(verify(B_MSG, 112, 0x01, B_NONCE, &tb, B_HLAK), SSTP_OK);
    assert_int_equal(verify(B_MSG, 112, 0x03, B_NONCE, &tb, B_HLAK), SSTP_OK);

    t1.sha1 = (const uint8_t (*)[20])PY_SYN1_CERT_HASH;
    t1.n_sha1 = 1;
    t256.sha256 = (const uint8_t (*)[32])PY_SYN256_CERT_HASH;
    t256.n_sha256 = 1;
    assert_int_equal(verify(PY_SYN1_MSG, 112, 0x03, PY_SYN_NONCE, &t1, PY_CHAP_HLAK), SSTP_OK);
    assert_int_equal(verify(PY_SYN256_MSG, 112, 0x03, PY_SYN_NONCE, &t256, PY_CHAP_HLAK), SSTP_OK);
}

static void test_extra_cases(void **state)
{
    (void)state;
    for (size_t i = 0; i < PY_EXTRA_N; i++) {
        const struct py_bind_case *c = &PY_EXTRA[i];
        enum sstp_bind_hash h = (enum sstp_bind_hash)c->hash;
        size_t hl = sstp_bind_hash_len(h);
        uint8_t hlak[32], cert[32], cmk[32], msg[112];
        uint8_t *der = dup_exact(c->der, c->der_len);

        if (c->msk_len == 0)
            sstp_bind_hlak_none(hlak);
        else
            sstp_bind_hlak_eap(hlak, c->msk, c->msk_len);
        assert_memory_equal(hlak, c->hlak, 32);

        if (h == SSTP_BIND_HASH_SHA1)
            assert_int_equal(sstp_bind_cert_sha1(cert, der, c->der_len), SSTP_OK);
        else
            assert_int_equal(sstp_bind_cert_sha256(cert, der, c->der_len), SSTP_OK);
        free(der);
        assert_memory_equal(cert, c->cert_hash, hl);

        assert_int_equal(sstp_bind_cmk_derive(cmk, h, hlak), SSTP_OK);
        assert_memory_equal(cmk, c->cmk, hl);

        assert_int_equal(sstp_bind_connected_build(msg, h, c->nonce, cert, hlak), SSTP_OK);
        assert_memory_equal(msg, c->msg, 112);

        uint8_t t1[1][20], t256[1][32];
        memcpy(t1[0], cert, 20);
        memcpy(t256[0], cert, 32);
        struct sstp_bind_trust tr = { (const uint8_t (*)[32])t256, 1, (const uint8_t (*)[20])t1, 1 };
        assert_int_equal(verify(c->msg, 112, 0x03, c->nonce, &tr, hlak), SSTP_OK);
        assert_int_equal(verify(c->msg, 112, (uint8_t)c->hash, c->nonce, &tr, hlak), SSTP_OK);
        /* the other hash alone was not advertised */
        assert_int_equal(verify(c->msg, 112, (uint8_t)(c->hash ^ 3), c->nonce, &tr, hlak),
                         SSTP_E_BIND_HASH_PROTO);
    }
}

/* Structure failures, each alone on an otherwise valid message. */
static void test_verify_struct(void **state)
{
    struct sstp_bind_trust ta = trust_a();
    uint8_t big[113];
    uint8_t msg[112];
    (void)state;

    assert_int_equal(verify(A_MSG, 111, 0x03, A_NONCE, &ta, A_HLAK), SSTP_E_BIND_STRUCT);
    memcpy(big, A_MSG, 112);
    big[112] = 0;
    assert_int_equal(verify(big, 113, 0x03, A_NONCE, &ta, A_HLAK), SSTP_E_BIND_STRUCT);
    assert_int_equal(verify(A_MSG, 0, 0x03, A_NONCE, &ta, A_HLAK), SSTP_E_BIND_STRUCT);
    assert_int_equal(sstp_bind_verify(NULL, 112, 0x03, A_NONCE, &ta, A_HLAK), SSTP_E_BIND_STRUCT);

    static const struct { size_t off; uint8_t val; } bad[] = {
        { 1, 0x00 },   /* control bit clear: a data packet */
        { 3, 0x6F },   /* header length 111 */
        { 3, 0x71 },   /* header length 113 */
        { 2, 0x01 },   /* header length 0x170 */
        { 5, 0x03 },   /* type 0x0003 (CALL_CONNECT_NAK) */
        { 4, 0x01 },   /* type 0x0104 */
        { 7, 0x00 },   /* zero attributes */
        { 9, 0x02 },   /* attribute id 2 */
        { 9, 0x04 },   /* attribute id 4 (binding request) */
        { 11, 0x67 },  /* attribute length 103 */
        { 11, 0x69 },  /* attribute length 105 */
        { 10, 0x01 },  /* attribute length 0x168 */
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        memcpy(msg, A_MSG, 112);
        msg[bad[i].off] = bad[i].val;
        assert_int_equal(verify(msg, 112, 0x03, A_NONCE, &ta, A_HLAK), SSTP_E_BIND_STRUCT);
    }

    /* what step 2 does not name is not checked here: more attributes than
     * one in the count, reserved bits, the version byte (ctrl codec's job).
     * These stay covered by the MAC, so they fail there, not at STRUCT. */
    memcpy(msg, A_MSG, 112);
    msg[7] = 2;
    assert_int_equal(verify(msg, 112, 0x03, A_NONCE, &ta, A_HLAK), SSTP_E_BIND_MAC);
    memcpy(msg, A_MSG, 112);
    msg[2] = 0xF0; /* reserved nibble of the length field */
    assert_int_equal(verify(msg, 112, 0x03, A_NONCE, &ta, A_HLAK), SSTP_E_BIND_MAC);
    assert_int_equal(sstp_bind_mac_build(msg, 112, A_HLAK), SSTP_OK);
    assert_int_equal(verify(msg, 112, 0x03, A_NONCE, &ta, A_HLAK), SSTP_OK);
}

static void test_verify_hash_proto(void **state)
{
    struct sstp_bind_trust ta = trust_a(), tb = trust_b();
    uint8_t msg[112];
    (void)state;

    /* a valid hash the server did not advertise */
    assert_int_equal(verify(A_MSG, 112, 0x01, A_NONCE, &ta, A_HLAK), SSTP_E_BIND_HASH_PROTO);
    assert_int_equal(verify(B_MSG, 112, 0x02, B_NONCE, &tb, B_HLAK), SSTP_E_BIND_HASH_PROTO);
    assert_int_equal(verify(A_MSG, 112, 0x00, A_NONCE, &ta, A_HLAK), SSTP_E_BIND_HASH_PROTO);
    assert_int_equal(verify(B_MSG, 112, 0xFC, B_NONCE, &tb, B_HLAK), SSTP_E_BIND_HASH_PROTO);

    /* values that are no single hash: 0, 3 (both bits), 4, 0xFF */
    static const uint8_t hp[] = { 0x00, 0x03, 0x04, 0xFF };
    for (size_t i = 0; i < sizeof(hp); i++) {
        memcpy(msg, A_MSG, 112);
        msg[15] = hp[i];
        assert_int_equal(verify(msg, 112, 0x03, A_NONCE, &ta, A_HLAK), SSTP_E_BIND_HASH_PROTO);
        assert_int_equal(verify(msg, 112, 0xFF, A_NONCE, &ta, A_HLAK), SSTP_E_BIND_HASH_PROTO);
    }
}

static void test_verify_nonce(void **state)
{
    struct sstp_bind_trust ta = trust_a(), tb = trust_b();
    uint8_t n[32];
    (void)state;

    for (size_t i = 0; i < 32; i += 31) { /* first and last byte */
        memcpy(n, A_NONCE, 32);
        n[i] ^= 0x80;
        assert_int_equal(verify(A_MSG, 112, 0x03, n, &ta, A_HLAK), SSTP_E_BIND_NONCE);
        memcpy(n, B_NONCE, 32);
        n[i] ^= 0x01;
        assert_int_equal(verify(B_MSG, 112, 0x03, n, &tb, B_HLAK), SSTP_E_BIND_NONCE);
    }
    /* the nonce of the other example */
    assert_int_equal(verify(A_MSG, 112, 0x03, B_NONCE, &ta, A_HLAK), SSTP_E_BIND_NONCE);
}

static void test_verify_cert_hash(void **state)
{
    struct sstp_bind_trust ta = trust_a(), tb = trust_b();
    struct sstp_bind_trust tr;
    uint8_t h256[3][32], h1[3][20];
    (void)state;

    /* wrong hash, SHA-256 and SHA-1 */
    memcpy(h256[0], A_CERT, 32);
    h256[0][31] ^= 1;
    tr = (struct sstp_bind_trust){ (const uint8_t (*)[32])h256, 1, NULL, 0 };
    assert_int_equal(verify(A_MSG, 112, 0x03, A_NONCE, &tr, A_HLAK), SSTP_E_BIND_CERT_HASH);
    memcpy(h1[0], B_CERT, 20);
    h1[0][19] ^= 1;
    tr = (struct sstp_bind_trust){ NULL, 0, (const uint8_t (*)[20])h1, 1 };
    assert_int_equal(verify(B_MSG, 112, 0x03, B_NONCE, &tr, B_HLAK), SSTP_E_BIND_CERT_HASH);

    /* empty list for the chosen type fails, even if the other type matches */
    tr = (struct sstp_bind_trust){ NULL, 0, (const uint8_t (*)[20])A_CERT, 1 };
    assert_int_equal(verify(A_MSG, 112, 0x03, A_NONCE, &tr, A_HLAK), SSTP_E_BIND_CERT_HASH);
    tr = (struct sstp_bind_trust){ (const uint8_t (*)[32])h256, 0, NULL, 0 };
    memcpy(h256[0], A_CERT, 32);
    assert_int_equal(verify(A_MSG, 112, 0x03, A_NONCE, &tr, A_HLAK), SSTP_E_BIND_CERT_HASH);
    tr = ta;
    tr.sha1 = NULL;
    tr.n_sha1 = 0;
    assert_int_equal(verify(B_MSG, 112, 0x03, B_NONCE, &tr, B_HLAK), SSTP_E_BIND_CERT_HASH);
    tr = (struct sstp_bind_trust){ 0 };
    assert_int_equal(verify(A_MSG, 112, 0x03, A_NONCE, &tr, A_HLAK), SSTP_E_BIND_CERT_HASH);
    assert_int_equal(verify(B_MSG, 112, 0x03, B_NONCE, &tr, B_HLAK), SSTP_E_BIND_CERT_HASH);
    assert_int_equal(verify(A_MSG, 112, 0x03, A_NONCE, NULL, A_HLAK), SSTP_E_BIND_CERT_HASH);

    /* several trusted hashes, the second (or third) matches */
    memset(h256, 0x11, sizeof(h256));
    memcpy(h256[1], A_CERT, 32);
    tr = (struct sstp_bind_trust){ (const uint8_t (*)[32])h256, 3, NULL, 0 };
    assert_int_equal(verify(A_MSG, 112, 0x03, A_NONCE, &tr, A_HLAK), SSTP_OK);
    tr.n_sha256 = 1; /* the match is beyond the count */
    assert_int_equal(verify(A_MSG, 112, 0x03, A_NONCE, &tr, A_HLAK), SSTP_E_BIND_CERT_HASH);
    memset(h1, 0x22, sizeof(h1));
    memcpy(h1[1], B_CERT, 20);
    tr = (struct sstp_bind_trust){ NULL, 0, (const uint8_t (*)[20])h1, 2 };
    assert_int_equal(verify(B_MSG, 112, 0x03, B_NONCE, &tr, B_HLAK), SSTP_OK);
    memset(h1, 0x22, sizeof(h1));
    memcpy(h1[2], B_CERT, 20);
    tr.n_sha1 = 3;
    assert_int_equal(verify(B_MSG, 112, 0x03, B_NONCE, &tr, B_HLAK), SSTP_OK);

    /* the SHA-1 example's 20 bytes padded to 32 are not a SHA-256 match */
    memset(h256, 0, sizeof(h256));
    memcpy(h256[0], B_CERT, 20);
    tr = (struct sstp_bind_trust){ (const uint8_t (*)[32])h256, 1, NULL, 0 };
    assert_int_equal(verify(B_MSG, 112, 0x03, B_NONCE, &tr, B_HLAK), SSTP_E_BIND_CERT_HASH);
    (void)tb;
}

/* SHA-1 pad after the cert hash: not demanded zero by the server rules, so
 * a client MACing over non-zero pad bytes is accepted; the MAC covers them. */
static void test_verify_sha1_pad(void **state)
{
    struct sstp_bind_trust tb = trust_b();
    uint8_t msg[112];
    (void)state;

    memcpy(msg, B_MSG, 112);
    msg[68] = 0xAB;
    msg[79] = 0xCD;
    assert_int_equal(verify(msg, 112, 0x01, B_NONCE, &tb, B_HLAK), SSTP_E_BIND_MAC);
    assert_int_equal(sstp_bind_mac_build(msg, 112, B_HLAK), SSTP_OK);
    assert_int_equal(verify(msg, 112, 0x01, B_NONCE, &tb, B_HLAK), SSTP_OK);
    /* the MAC pad (100..111) is neither MACed nor compared */
    memcpy(msg, B_MSG, 112);
    msg[100] = 0xFF;
    msg[111] = 0x01;
    assert_int_equal(verify(msg, 112, 0x01, B_NONCE, &tb, B_HLAK), SSTP_OK);
}

static void test_verify_mac(void **state)
{
    struct sstp_bind_trust ta = trust_a(), tb = trust_b();
    uint8_t msg[112], hlak[32];
    (void)state;

    memcpy(msg, A_MSG, 112);
    msg[111] ^= 0x01; /* last MAC byte, SHA-256 */
    assert_int_equal(verify(msg, 112, 0x03, A_NONCE, &ta, A_HLAK), SSTP_E_BIND_MAC);
    memcpy(msg, A_MSG, 112);
    msg[80] ^= 0x80;
    assert_int_equal(verify(msg, 112, 0x03, A_NONCE, &ta, A_HLAK), SSTP_E_BIND_MAC);
    memcpy(msg, B_MSG, 112);
    msg[99] ^= 0x01;  /* last MAC byte, SHA-1 */
    assert_int_equal(verify(msg, 112, 0x03, B_NONCE, &tb, B_HLAK), SSTP_E_BIND_MAC);

    /* wrong HLAK: zeros (as with PAP on our side), or one bit off */
    sstp_bind_hlak_none(hlak);
    assert_int_equal(verify(A_MSG, 112, 0x03, A_NONCE, &ta, hlak), SSTP_E_BIND_MAC);
    assert_int_equal(verify(B_MSG, 112, 0x03, B_NONCE, &tb, hlak), SSTP_E_BIND_MAC);
    memcpy(hlak, A_HLAK, 32);
    hlak[31] ^= 1;
    assert_int_equal(verify(A_MSG, 112, 0x03, A_NONCE, &ta, hlak), SSTP_E_BIND_MAC);
    /* K3|K2 (the order swapped) must not verify */
    sstp_bind_hlak_mschapv2(hlak, PY_CHAP_K3, PY_CHAP_K2);
    struct sstp_bind_trust t1 = { NULL, 0, (const uint8_t (*)[20])PY_SYN1_CERT_HASH, 1 };
    assert_int_equal(verify(PY_SYN1_MSG, 112, 0x03, PY_SYN_NONCE, &t1, hlak), SSTP_E_BIND_MAC);
}

/* With only the "null" provider in the default library context no digest
 * can be fetched, which is how a broken libcrypto looks to us. */
static void test_crypto_failure(void **state)
{
    struct sstp_bind_trust ta = trust_a();
    uint8_t out[32], cmk[32], msg[112];
    OSSL_LIB_CTX *ctx = OSSL_LIB_CTX_new();
    OSSL_PROVIDER *null_prov;
    OSSL_LIB_CTX *prev;
    (void)state;

    assert_non_null(ctx);
    null_prov = OSSL_PROVIDER_load(ctx, "null");
    assert_non_null(null_prov);
    prev = OSSL_LIB_CTX_set0_default(ctx);
    assert_non_null(prev);

    enum sstp_rc r1 = sstp_bind_cert_sha1(out, A_MSG, 112);
    enum sstp_rc r2 = sstp_bind_cert_sha256(out, A_MSG, 112);
    enum sstp_rc r3 = sstp_bind_cmk_derive(cmk, SSTP_BIND_HASH_SHA256, A_HLAK);
    enum sstp_rc r4 = sstp_bind_verify(A_MSG, 112, 0x03, A_NONCE, &ta, A_HLAK);
    enum sstp_rc r5 = sstp_bind_mac_verify(B_MSG, 112, B_HLAK);
    memcpy(msg, A_MSG, 112);
    enum sstp_rc r6 = sstp_bind_mac_build(msg, 112, A_HLAK);
    enum sstp_rc r7 = sstp_bind_connected_build(msg, SSTP_BIND_HASH_SHA1, B_NONCE, B_CERT, B_HLAK);

    OSSL_LIB_CTX_set0_default(prev);
    OSSL_PROVIDER_unload(null_prov);
    OSSL_LIB_CTX_free(ctx);

    assert_int_equal(r1, SSTP_E_BIND_CRYPTO);
    assert_int_equal(r2, SSTP_E_BIND_CRYPTO);
    static const uint8_t zero[32] = { 0 };
    assert_memory_equal(out, zero, 32);
    assert_int_equal(r3, SSTP_E_BIND_CRYPTO);
    assert_int_equal(r4, SSTP_E_BIND_CRYPTO);
    assert_int_equal(r5, SSTP_E_BIND_CRYPTO);
    assert_int_equal(r6, SSTP_E_BIND_CRYPTO);
    assert_memory_equal(msg, A_MSG, 112); /* unchanged on error */
    assert_int_equal(r7, SSTP_E_BIND_CRYPTO);

    /* and everything works again afterwards */
    assert_int_equal(verify(A_MSG, 112, 0x03, A_NONCE, &ta, A_HLAK), SSTP_OK);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hash_len),
        cmocka_unit_test(test_cert_hash),
        cmocka_unit_test(test_hlak_builders),
        cmocka_unit_test(test_mschapv2_chain),
        cmocka_unit_test(test_cmk_spec),
        cmocka_unit_test(test_build_spec),
        cmocka_unit_test(test_build_synthetic),
        cmocka_unit_test(test_mac_verify),
        cmocka_unit_test(test_verify_ok),
        cmocka_unit_test(test_extra_cases),
        cmocka_unit_test(test_verify_struct),
        cmocka_unit_test(test_verify_hash_proto),
        cmocka_unit_test(test_verify_nonce),
        cmocka_unit_test(test_verify_cert_hash),
        cmocka_unit_test(test_verify_sha1_pad),
        cmocka_unit_test(test_verify_mac),
        cmocka_unit_test(test_crypto_failure),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
