/* tls_hello.c — finding the server_name extension of a ClientHello (see
 * tls_hello.h). Layout (RFC 8446 §4.1.2, same up to the extensions in TLS
 * 1.0-1.2): record header, handshake header, legacy_version, random,
 * session id, cipher suites, compression methods, extensions. */
#include "sstp/tls_hello.h"

#define REC_HANDSHAKE   22
#define HS_CLIENT_HELLO 1
#define EXT_SERVER_NAME 0
#define RANDOM_LEN      32

/* Takes a vector with a `width`-byte length prefix (1 or 2). */
static bool get_vec(struct sstp_slice *s, struct sstp_slice *out, int width)
{
    uint8_t n8;
    uint16_t n16;
    if (width == 1)
        return sstp_get_u8(s, &n8) && sstp_get_bytes(s, out, n8);
    return sstp_get_u16be(s, &n16) && sstp_get_bytes(s, out, n16);
}

enum sstp_rc sstp_hello_sni(struct sstp_slice *out, const uint8_t *in, size_t in_len)
{
    *out = sstp_slice_make(NULL, 0);
    if (!in)
        return SSTP_E_ARG;
    struct sstp_slice s = sstp_slice_make(in, in_len), rec, body, skip, exts;
    uint8_t type, major, minor, hs_type;
    uint16_t rec_len;
    if (!sstp_get_u8(&s, &type) || !sstp_get_u8(&s, &major))
        return in_len == 0 || type == REC_HANDSHAKE ? SSTP_AGAIN : SSTP_E_HELLO_RECORD;
    if (type != REC_HANDSHAKE || major != 3)
        return SSTP_E_HELLO_RECORD;
    if (!sstp_get_u8(&s, &minor) || !sstp_get_u16be(&s, &rec_len))
        return SSTP_AGAIN;
    if (rec_len == 0 || rec_len > SSTP_HELLO_RECORD_MAX)
        return SSTP_E_HELLO_RECORD;
    if (!sstp_get_bytes(&s, &rec, rec_len))
        return SSTP_AGAIN;

    uint8_t l0, l1, l2;
    if (!sstp_get_u8(&rec, &hs_type) || hs_type != HS_CLIENT_HELLO || !sstp_get_u8(&rec, &l0) ||
        !sstp_get_u8(&rec, &l1) || !sstp_get_u8(&rec, &l2))
        return SSTP_E_HELLO_MSG;
    size_t hs_len = (size_t)l0 << 16 | (size_t)l1 << 8 | l2;
    if (hs_len > rec.len)
        return SSTP_OK; /* continued in the next record: the TLS library reads it */
    if (hs_len < rec.len)
        return SSTP_E_HELLO_MSG; /* a second message behind the first ClientHello */
    body = rec;
    if (!sstp_skip(&body, 2 + RANDOM_LEN) || !get_vec(&body, &skip, 1) || skip.len > 32 ||
        !get_vec(&body, &skip, 2) || skip.len < 2 || skip.len % 2 || !get_vec(&body, &skip, 1) ||
        skip.len < 1)
        return SSTP_E_HELLO_MSG;
    if (body.len == 0)
        return SSTP_OK; /* no extensions at all (TLS 1.0 style) */
    if (!get_vec(&body, &exts, 2) || body.len != 0)
        return SSTP_E_HELLO_MSG;
    bool seen = false;
    while (exts.len > 0) {
        uint16_t ext_type;
        struct sstp_slice data;
        if (!sstp_get_u16be(&exts, &ext_type) || !get_vec(&exts, &data, 2))
            return SSTP_E_HELLO_MSG;
        if (ext_type != EXT_SERVER_NAME)
            continue;
        if (seen || data.len == 0)
            return SSTP_E_HELLO_MSG; /* RFC 8446 §4.2: one of each */
        seen = true;
        *out = data;
    }
    return SSTP_OK;
}
