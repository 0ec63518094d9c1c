/* proxyproto.c — PROXY protocol v1/v2 parser and builders, CRC32C.
 *
 * Trust limits: the parser treats every byte as hostile (bounded by 107 bytes
 * for v1 and SSTP_PP_MAX_HDR_LEN for v2, never reads past the header) but
 * says nothing about whether the peer may be believed; the daemon decides. */
#include "sstp/proxyproto.h"

#include <arpa/inet.h>
#include <assert.h>
#include <stdio.h>
#include <string.h>

/* A v2 UNIX address is two 108-byte paths, which is exactly Linux's sun_path. */
#define PP2_UNIX_PATH_LEN 108
static_assert(sizeof(((struct sockaddr_un *)0)->sun_path) == PP2_UNIX_PATH_LEN,
              "sun_path must hold a PROXY v2 UNIX path");
static_assert(sizeof(struct sockaddr_un) <= sizeof(struct sockaddr_storage),
              "sockaddr_un must fit in sockaddr_storage");

#define PP1_PREFIX     "PROXY "
#define PP1_PREFIX_LEN 6
#define PP2_TLV_HDR    3 /* type u8 + length u16be */
#define PP2_CRC_LEN    4

static const uint8_t pp2_sig[PP_V2_SIG_LEN] = SSTP_PP2_SIG;

/* CRC32C, reflected polynomial 0x82F63B78 (RFC 4960 appendix B): entry n is
 * n shifted right eight times, xoring the polynomial whenever a 1 falls out. */
static const uint32_t crc32c_table[256] = {
    0x00000000u, 0xf26b8303u, 0xe13b70f7u, 0x1350f3f4u, 0xc79a971fu, 0x35f1141cu,
    0x26a1e7e8u, 0xd4ca64ebu, 0x8ad958cfu, 0x78b2dbccu, 0x6be22838u, 0x9989ab3bu,
    0x4d43cfd0u, 0xbf284cd3u, 0xac78bf27u, 0x5e133c24u, 0x105ec76fu, 0xe235446cu,
    0xf165b798u, 0x030e349bu, 0xd7c45070u, 0x25afd373u, 0x36ff2087u, 0xc494a384u,
    0x9a879fa0u, 0x68ec1ca3u, 0x7bbcef57u, 0x89d76c54u, 0x5d1d08bfu, 0xaf768bbcu,
    0xbc267848u, 0x4e4dfb4bu, 0x20bd8edeu, 0xd2d60dddu, 0xc186fe29u, 0x33ed7d2au,
    0xe72719c1u, 0x154c9ac2u, 0x061c6936u, 0xf477ea35u, 0xaa64d611u, 0x580f5512u,
    0x4b5fa6e6u, 0xb93425e5u, 0x6dfe410eu, 0x9f95c20du, 0x8cc531f9u, 0x7eaeb2fau,
    0x30e349b1u, 0xc288cab2u, 0xd1d83946u, 0x23b3ba45u, 0xf779deaeu, 0x05125dadu,
    0x1642ae59u, 0xe4292d5au, 0xba3a117eu, 0x4851927du, 0x5b016189u, 0xa96ae28au,
    0x7da08661u, 0x8fcb0562u, 0x9c9bf696u, 0x6ef07595u, 0x417b1dbcu, 0xb3109ebfu,
    0xa0406d4bu, 0x522bee48u, 0x86e18aa3u, 0x748a09a0u, 0x67dafa54u, 0x95b17957u,
    0xcba24573u, 0x39c9c670u, 0x2a993584u, 0xd8f2b687u, 0x0c38d26cu, 0xfe53516fu,
    0xed03a29bu, 0x1f682198u, 0x5125dad3u, 0xa34e59d0u, 0xb01eaa24u, 0x42752927u,
    0x96bf4dccu, 0x64d4cecfu, 0x77843d3bu, 0x85efbe38u, 0xdbfc821cu, 0x2997011fu,
    0x3ac7f2ebu, 0xc8ac71e8u, 0x1c661503u, 0xee0d9600u, 0xfd5d65f4u, 0x0f36e6f7u,
    0x61c69362u, 0x93ad1061u, 0x80fde395u, 0x72966096u, 0xa65c047du, 0x5437877eu,
    0x4767748au, 0xb50cf789u, 0xeb1fcbadu, 0x197448aeu, 0x0a24bb5au, 0xf84f3859u,
    0x2c855cb2u, 0xdeeedfb1u, 0xcdbe2c45u, 0x3fd5af46u, 0x7198540du, 0x83f3d70eu,
    0x90a324fau, 0x62c8a7f9u, 0xb602c312u, 0x44694011u, 0x5739b3e5u, 0xa55230e6u,
    0xfb410cc2u, 0x092a8fc1u, 0x1a7a7c35u, 0xe811ff36u, 0x3cdb9bddu, 0xceb018deu,
    0xdde0eb2au, 0x2f8b6829u, 0x82f63b78u, 0x709db87bu, 0x63cd4b8fu, 0x91a6c88cu,
    0x456cac67u, 0xb7072f64u, 0xa457dc90u, 0x563c5f93u, 0x082f63b7u, 0xfa44e0b4u,
    0xe9141340u, 0x1b7f9043u, 0xcfb5f4a8u, 0x3dde77abu, 0x2e8e845fu, 0xdce5075cu,
    0x92a8fc17u, 0x60c37f14u, 0x73938ce0u, 0x81f80fe3u, 0x55326b08u, 0xa759e80bu,
    0xb4091bffu, 0x466298fcu, 0x1871a4d8u, 0xea1a27dbu, 0xf94ad42fu, 0x0b21572cu,
    0xdfeb33c7u, 0x2d80b0c4u, 0x3ed04330u, 0xccbbc033u, 0xa24bb5a6u, 0x502036a5u,
    0x4370c551u, 0xb11b4652u, 0x65d122b9u, 0x97baa1bau, 0x84ea524eu, 0x7681d14du,
    0x2892ed69u, 0xdaf96e6au, 0xc9a99d9eu, 0x3bc21e9du, 0xef087a76u, 0x1d63f975u,
    0x0e330a81u, 0xfc588982u, 0xb21572c9u, 0x407ef1cau, 0x532e023eu, 0xa145813du,
    0x758fe5d6u, 0x87e466d5u, 0x94b49521u, 0x66df1622u, 0x38cc2a06u, 0xcaa7a905u,
    0xd9f75af1u, 0x2b9cd9f2u, 0xff56bd19u, 0x0d3d3e1au, 0x1e6dcdeeu, 0xec064eedu,
    0xc38d26c4u, 0x31e6a5c7u, 0x22b65633u, 0xd0ddd530u, 0x0417b1dbu, 0xf67c32d8u,
    0xe52cc12cu, 0x1747422fu, 0x49547e0bu, 0xbb3ffd08u, 0xa86f0efcu, 0x5a048dffu,
    0x8ecee914u, 0x7ca56a17u, 0x6ff599e3u, 0x9d9e1ae0u, 0xd3d3e1abu, 0x21b862a8u,
    0x32e8915cu, 0xc083125fu, 0x144976b4u, 0xe622f5b7u, 0xf5720643u, 0x07198540u,
    0x590ab964u, 0xab613a67u, 0xb831c993u, 0x4a5a4a90u, 0x9e902e7bu, 0x6cfbad78u,
    0x7fab5e8cu, 0x8dc0dd8fu, 0xe330a81au, 0x115b2b19u, 0x020bd8edu, 0xf0605beeu,
    0x24aa3f05u, 0xd6c1bc06u, 0xc5914ff2u, 0x37faccf1u, 0x69e9f0d5u, 0x9b8273d6u,
    0x88d28022u, 0x7ab90321u, 0xae7367cau, 0x5c18e4c9u, 0x4f48173du, 0xbd23943eu,
    0xf36e6f75u, 0x0105ec76u, 0x12551f82u, 0xe03e9c81u, 0x34f4f86au, 0xc69f7b69u,
    0xd5cf889du, 0x27a40b9eu, 0x79b737bau, 0x8bdcb4b9u, 0x988c474du, 0x6ae7c44eu,
    0xbe2da0a5u, 0x4c4623a6u, 0x5f16d052u, 0xad7d5351u,
};

uint32_t sstp_pp_crc32c(uint32_t crc, const void *p, size_t len)
{
    const uint8_t *b = p;
    crc = ~crc;
    for (size_t i = 0; i < len; i++)
        crc = crc32c_table[(crc ^ b[i]) & 0xFF] ^ (crc >> 8);
    return ~crc;
}

/* ------------------------------------------------------------------ helpers */

/* Address block size of a v2 fam byte; false if the byte is not in the
 * PROXY v2 §2.2 table (other families/transports must be rejected). */
static bool fam_addr_len(uint8_t fam, size_t *out)
{
    switch (fam) {
    case SSTP_PP_FAM_UNSPEC:      *out = 0;   return true;
    case SSTP_PP_FAM_TCP4:
    case SSTP_PP_FAM_UDP4:        *out = 12;  return true;
    case SSTP_PP_FAM_TCP6:
    case SSTP_PP_FAM_UDP6:        *out = 36;  return true;
    case SSTP_PP_FAM_UNIX_STREAM:
    case SSTP_PP_FAM_UNIX_DGRAM:  *out = 2 * PP2_UNIX_PATH_LEN; return true;
    default:                      return false;
    }
}

/* The sockaddr family a v2 fam byte's addresses are stored as. */
static int fam_af(uint8_t fam)
{
    switch (fam >> 4) {
    case 1:  return AF_INET;
    case 2:  return AF_INET6;
    case 3:  return AF_UNIX;
    default: return AF_UNSPEC;
    }
}

static void set_in4(struct sockaddr_storage *ss, const uint8_t addr[4], uint16_t port)
{
    struct sockaddr_in *sin = (struct sockaddr_in *)ss;
    memset(ss, 0, sizeof *ss);
    sin->sin_family = AF_INET;
    memcpy(&sin->sin_addr, addr, 4);
    sin->sin_port = htons(port);
}

static void set_in6(struct sockaddr_storage *ss, const uint8_t addr[16], uint16_t port)
{
    struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;
    memset(ss, 0, sizeof *ss);
    sin6->sin6_family = AF_INET6;
    memcpy(&sin6->sin6_addr, addr, 16);
    sin6->sin6_port = htons(port);
}

/* ----------------------------------------------------------------- v1 parse */

/* Reads a decimal number at p[*i..n) without a leading zero (a lone "0" is
 * fine) and not above max (<= 65535, so v * 10 + 9 cannot overflow). */
static bool dec_read(const uint8_t *p, size_t n, size_t *i, unsigned max, unsigned *out)
{
    size_t start = *i;
    unsigned v = 0;
    while (*i < n && p[*i] >= '0' && p[*i] <= '9') {
        v = v * 10 + (unsigned)(p[*i] - '0');
        if (v > max)
            return false;
        (*i)++;
    }
    if (*i == start || (*i - start > 1 && p[start] == '0'))
        return false;
    *out = v;
    return true;
}

static bool v1_ipv4(const uint8_t *p, size_t n, uint8_t out[4])
{
    size_t i = 0;
    for (int k = 0; k < 4; k++) {
        unsigned v;
        if (k > 0) {
            if (i >= n || p[i] != '.')
                return false;
            i++;
        }
        if (!dec_read(p, n, &i, 255, &v))
            return false;
        out[k] = (uint8_t)v;
    }
    return i == n;
}

static bool v1_ipv6(const uint8_t *p, size_t n, uint8_t out[16])
{
    char buf[INET6_ADDRSTRLEN];
    if (n == 0 || n >= sizeof buf)
        return false;
    for (size_t i = 0; i < n; i++) {
        uint8_t c = p[i];
        bool ok = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') ||
                  (c >= 'A' && c <= 'F') || c == ':' || c == '.';
        if (!ok)
            return false;
    }
    memcpy(buf, p, n);
    buf[n] = '\0';
    return inet_pton(AF_INET6, buf, out) == 1;
}

static bool v1_port(const uint8_t *p, size_t n, uint16_t *out)
{
    size_t i = 0;
    unsigned v;
    if (!dec_read(p, n, &i, 65535, &v) || i != n)
        return false;
    *out = (uint16_t)v;
    return true;
}

/* Splits the next field off line[*pos..n): a non-empty run up to one space
 * or the end. A second space or a trailing space yields an empty field. */
static bool v1_field(const uint8_t *line, size_t n, size_t *pos, struct sstp_slice *f)
{
    size_t start = *pos, i = *pos;
    while (i < n && line[i] != ' ')
        i++;
    if (i == start)
        return false;
    f->p = line + start;
    f->len = i - start;
    *pos = (i < n) ? i + 1 : i; /* skip exactly one separator */
    return true;
}

static bool slice_eq(struct sstp_slice s, const char *lit)
{
    size_t n = strlen(lit);
    return s.len == n && memcmp(s.p, lit, n) == 0;
}

/* line[0..n) is what follows "PROXY " up to, not including, CRLF. */
static enum sstp_rc v1_line(struct sstp_pp_hdr *out, const uint8_t *line, size_t n)
{
    struct sstp_slice proto, f[4];
    size_t pos = 0;

    if (!v1_field(line, n, &pos, &proto))
        return SSTP_E_PP_V1_LINE;
    if (slice_eq(proto, "UNKNOWN")) {
        /* PROXY v1 §2.1: anything may follow UNKNOWN up to CRLF. */
        out->family = SSTP_PP_FAM_UNSPEC;
        return SSTP_OK;
    }
    bool v4 = slice_eq(proto, "TCP4");
    if (!v4 && !slice_eq(proto, "TCP6"))
        return SSTP_E_PP_V1_LINE;
    for (int k = 0; k < 4; k++) {
        if (!v1_field(line, n, &pos, &f[k]))
            return SSTP_E_PP_V1_LINE;
        /* a separator must follow every field but the last, and nothing the last */
        bool at_end = (pos == n) && (line[n - 1] != ' ');
        if (at_end != (k == 3))
            return SSTP_E_PP_V1_LINE;
    }

    uint16_t sport, dport;
    if (!v1_port(f[2].p, f[2].len, &sport) || !v1_port(f[3].p, f[3].len, &dport))
        return SSTP_E_PP_V1_ADDR;
    if (v4) {
        uint8_t s[4], d[4];
        if (!v1_ipv4(f[0].p, f[0].len, s) || !v1_ipv4(f[1].p, f[1].len, d))
            return SSTP_E_PP_V1_ADDR;
        out->family = SSTP_PP_FAM_TCP4;
        set_in4(&out->src, s, sport);
        set_in4(&out->dst, d, dport);
    } else {
        uint8_t s[16], d[16];
        if (!v1_ipv6(f[0].p, f[0].len, s) || !v1_ipv6(f[1].p, f[1].len, d))
            return SSTP_E_PP_V1_ADDR;
        out->family = SSTP_PP_FAM_TCP6;
        set_in6(&out->src, s, sport);
        set_in6(&out->dst, d, dport);
    }
    return SSTP_OK;
}

/* in starts with "PROXY " and in_len >= 6. */
static enum sstp_rc v1_parse(struct sstp_pp_hdr *out, size_t *used,
                             const uint8_t *in, size_t in_len)
{
    size_t lim = in_len < PP_V1_MAX_LEN ? in_len : PP_V1_MAX_LEN;
    size_t cr = 0;
    bool found = false;

    /* PROXY v1 §2.1: CRLF within 107 bytes; a lone CR or LF is invalid. The
     * scan stops at the first CR or LF, so a shorter prefix never sees an
     * error the whole input would not. */
    for (size_t i = PP1_PREFIX_LEN; i < lim; i++) {
        if (in[i] == '\n')
            return SSTP_E_PP_V1_LINE;
        if (in[i] == '\r') {
            if (i + 1 >= lim)
                break; /* LF not seen yet, or would be byte 108 */
            if (in[i + 1] != '\n')
                return SSTP_E_PP_V1_LINE;
            cr = i;
            found = true;
            break;
        }
    }
    if (!found)
        return in_len >= PP_V1_MAX_LEN ? SSTP_E_PP_V1_LINE : SSTP_AGAIN;

    out->version = SSTP_PP_V1;
    out->command = SSTP_PP_CMD_PROXY;
    enum sstp_rc rc = v1_line(out, in + PP1_PREFIX_LEN, cr - PP1_PREFIX_LEN);
    if (rc != SSTP_OK)
        return rc;
    *used = cr + 2;
    return SSTP_OK;
}

/* ----------------------------------------------------------------- v2 parse */

/* Marks bit in *present; false if it was already set (a repeated TLV). */
static bool mark_once(uint32_t *present, uint32_t bit)
{
    if (*present & bit)
        return false;
    *present |= bit;
    return true;
}

static enum sstp_rc v2_ssl(struct sstp_pp_hdr *out, struct sstp_slice v)
{
    struct sstp_pp_ssl *ssl = &out->ssl;
    if (!sstp_get_u8(&v, &ssl->client) || !sstp_get_u32be(&v, &ssl->verify))
        return SSTP_E_PP_V2_TLV;
    while (v.len > 0) {
        uint8_t type;
        uint16_t len;
        struct sstp_slice val, *dst;
        uint32_t bit;
        if (!sstp_get_u8(&v, &type) || !sstp_get_u16be(&v, &len) ||
            !sstp_get_bytes(&v, &val, len))
            return SSTP_E_PP_V2_TLV;
        switch (type) {
        case SSTP_PP2_SUBTYPE_SSL_VERSION: dst = &ssl->version; bit = SSTP_PP_HAS_SSL_VERSION; break;
        case SSTP_PP2_SUBTYPE_SSL_CN:      dst = &ssl->cn;      bit = SSTP_PP_HAS_SSL_CN; break;
        case SSTP_PP2_SUBTYPE_SSL_CIPHER:  dst = &ssl->cipher;  bit = SSTP_PP_HAS_SSL_CIPHER; break;
        case SSTP_PP2_SUBTYPE_SSL_SIG_ALG: dst = &ssl->sig_alg; bit = SSTP_PP_HAS_SSL_SIG_ALG; break;
        case SSTP_PP2_SUBTYPE_SSL_KEY_ALG: dst = &ssl->key_alg; bit = SSTP_PP_HAS_SSL_KEY_ALG; break;
        default:
            out->n_skipped++;
            continue;
        }
        if (!mark_once(&out->present, bit))
            return SSTP_E_PP_V2_TLV;
        *dst = val;
    }
    return SSTP_OK;
}

/* Reads a u8 length then that many bytes, 0 or min..max of them. */
static bool meta_str(struct sstp_slice *v, size_t min, size_t max, struct sstp_slice *out)
{
    uint8_t n;
    return sstp_get_u8(v, &n) && n >= min && n <= max && sstp_get_bytes(v, out, n);
}

static enum sstp_rc v2_meta(struct sstp_pp_meta *m, struct sstp_slice v)
{
    uint8_t ver, flags;
    struct sstp_slice cert;
    if (!sstp_get_u8(&v, &ver) || ver != SSTP_PP_META_VERSION ||
        !sstp_get_u8(&v, &flags) || (flags & ~SSTP_PP_META_F_CLIENT_CERT) != 0 ||
        !meta_str(&v, 1, SSTP_PP_META_PROXY_ID_MAX, &m->proxy_id))
        return SSTP_E_PP_V2_OUR_TLV;
    m->client_cert_sha256 = NULL;
    if (flags & SSTP_PP_META_F_CLIENT_CERT) {
        if (!sstp_get_bytes(&v, &cert, SSTP_SHA256_LEN))
            return SSTP_E_PP_V2_OUR_TLV;
        m->client_cert_sha256 = cert.p;
    }
    if (!meta_str(&v, 0, SSTP_PP_META_TENANT_MAX, &m->tenant) ||
        !meta_str(&v, 0, SSTP_PP_META_AFFINITY_MAX, &m->affinity) || v.len != 0)
        return SSTP_E_PP_V2_OUR_TLV;
    return SSTP_OK;
}

/* Walks the TLVs in tlvs; *crc_at is set to the offset in the header of a
 * CRC32C value (0 if none). base is the header start, to compute it. */
static enum sstp_rc v2_tlvs(struct sstp_pp_hdr *out, struct sstp_slice tlvs,
                            const uint8_t *base, size_t *crc_at)
{
    while (tlvs.len > 0) {
        uint8_t type;
        uint16_t len;
        struct sstp_slice v;
        enum sstp_rc rc;
        if (!sstp_get_u8(&tlvs, &type) || !sstp_get_u16be(&tlvs, &len) ||
            !sstp_get_bytes(&tlvs, &v, len))
            return SSTP_E_PP_V2_TLV;

        switch (type) {
        case SSTP_PP2_TYPE_AUTHORITY:
            if (!mark_once(&out->present, SSTP_PP_HAS_AUTHORITY))
                return SSTP_E_PP_V2_TLV;
            out->authority = v;
            break;
        case SSTP_PP2_TYPE_CRC32C:
            if (len != PP2_CRC_LEN || !mark_once(&out->present, SSTP_PP_HAS_CRC32C))
                return SSTP_E_PP_V2_TLV;
            *crc_at = (size_t)(v.p - base);
            break;
        case SSTP_PP2_TYPE_UNIQUE_ID:
            if (len > SSTP_PP2_UNIQUE_ID_MAX ||
                !mark_once(&out->present, SSTP_PP_HAS_UNIQUE_ID))
                return SSTP_E_PP_V2_TLV;
            out->unique_id = v;
            break;
        case SSTP_PP2_TYPE_SSL:
            if (!mark_once(&out->present, SSTP_PP_HAS_SSL))
                return SSTP_E_PP_V2_TLV;
            rc = v2_ssl(out, v);
            if (rc != SSTP_OK)
                return rc;
            break;
        case SSTP_PP2_TYPE_CERT_SHA256:
        case SSTP_PP2_TYPE_CERT_SHA1: {
            bool sha256 = type == SSTP_PP2_TYPE_CERT_SHA256;
            if (len != (sha256 ? SSTP_SHA256_LEN : SSTP_SHA1_LEN))
                return SSTP_E_PP_V2_OUR_TLV;
            if (!mark_once(&out->present, sha256 ? SSTP_PP_HAS_CERT_SHA256 : SSTP_PP_HAS_CERT_SHA1))
                return SSTP_E_PP_V2_TLV;
            *(sha256 ? &out->cert_sha256 : &out->cert_sha1) = v.p;
            break;
        }
        case SSTP_PP2_TYPE_META:
            if (!mark_once(&out->present, SSTP_PP_HAS_META))
                return SSTP_E_PP_V2_TLV;
            rc = v2_meta(&out->meta, v);
            if (rc != SSTP_OK)
                return rc;
            break;
        default:
            if (type >= SSTP_PP2_TYPE_MIN_CUSTOM && type <= SSTP_PP2_TYPE_MAX_CUSTOM)
                out->n_foreign++;
            else
                out->n_skipped++; /* PROXY v2 §2.2: unknown TLVs may be skipped */
            break;
        }
    }
    return SSTP_OK;
}

/* in starts with the 12-byte signature and in_len >= 13. Fields are checked
 * in byte order as soon as they arrive, so prefixes fail like the whole. */
static enum sstp_rc v2_parse(struct sstp_pp_hdr *out, size_t *used,
                             const uint8_t *in, size_t in_len)
{
    uint8_t ver = in[12] >> 4, cmd = in[12] & 0x0F;
    size_t addr_len = 0;

    if (ver != 2)
        return SSTP_E_PP_V2_VERSION;
    if (cmd != SSTP_PP_CMD_LOCAL && cmd != SSTP_PP_CMD_PROXY)
        return SSTP_E_PP_V2_COMMAND;
    if (in_len < 14)
        return SSTP_AGAIN;
    uint8_t fam = in[13];
    /* PROXY v2 §2.2: LOCAL ignores the family and any address data. */
    if (cmd == SSTP_PP_CMD_PROXY && !fam_addr_len(fam, &addr_len))
        return SSTP_E_PP_V2_FAMILY;
    if (in_len < PP_V2_HDR_LEN)
        return SSTP_AGAIN;
    size_t body = sstp_load_u16be(in + 14);
    size_t total = PP_V2_HDR_LEN + body;
    if (total > SSTP_PP_MAX_HDR_LEN || body < addr_len)
        return SSTP_E_PP_V2_LEN;
    if (in_len < total)
        return SSTP_AGAIN;

    out->version = SSTP_PP_V2;
    out->command = (enum sstp_pp_cmd)cmd;
    if (cmd == SSTP_PP_CMD_LOCAL) {
        out->family = SSTP_PP_FAM_UNSPEC;
        *used = total; /* skip the whole body, do not assume len == 0 */
        return SSTP_OK;
    }

    out->family = (enum sstp_pp_fam)fam;
    const uint8_t *a = in + PP_V2_HDR_LEN;
    switch (fam_af(fam)) {
    case AF_INET:
        set_in4(&out->src, a, sstp_load_u16be(a + 8));
        set_in4(&out->dst, a + 4, sstp_load_u16be(a + 10));
        break;
    case AF_INET6:
        set_in6(&out->src, a, sstp_load_u16be(a + 32));
        set_in6(&out->dst, a + 16, sstp_load_u16be(a + 34));
        break;
    case AF_UNIX: {
        struct sockaddr_un *s = (struct sockaddr_un *)&out->src;
        struct sockaddr_un *d = (struct sockaddr_un *)&out->dst;
        s->sun_family = AF_UNIX;
        memcpy(s->sun_path, a, PP2_UNIX_PATH_LEN);
        d->sun_family = AF_UNIX;
        memcpy(d->sun_path, a + PP2_UNIX_PATH_LEN, PP2_UNIX_PATH_LEN);
        break;
    }
    default: /* UNSPEC: no address block */
        break;
    }

    size_t crc_at = 0;
    enum sstp_rc rc = v2_tlvs(out, sstp_slice_make(a + addr_len, body - addr_len), in, &crc_at);
    if (rc != SSTP_OK)
        return rc;
    if (out->present & SSTP_PP_HAS_CRC32C) {
        /* PROXY v2 §2.2.3: CRC of the whole header with the value zeroed. */
        static const uint8_t zero[PP2_CRC_LEN];
        uint32_t crc = sstp_pp_crc32c(0, in, crc_at);
        crc = sstp_pp_crc32c(crc, zero, PP2_CRC_LEN);
        crc = sstp_pp_crc32c(crc, in + crc_at + PP2_CRC_LEN, total - crc_at - PP2_CRC_LEN);
        if (crc != sstp_load_u32be(in + crc_at))
            return SSTP_E_PP_V2_CRC;
    }
    *used = total;
    return SSTP_OK;
}

size_t sstp_pp2_want(const uint8_t *in, size_t in_len)
{
    if (in_len < PP_V2_SIG_LEN)
        return PP_V2_SIG_LEN;
    if (in_len < PP_V2_HDR_LEN)
        return PP_V2_HDR_LEN;
    return PP_V2_HDR_LEN + sstp_load_u16be(in + 14);
}

enum sstp_rc sstp_pp_parse(struct sstp_pp_hdr *out, size_t *used,
                           const uint8_t *in, size_t in_len)
{
    if (!out || !used || (!in && in_len > 0))
        return SSTP_E_ARG;
    *used = 0;
    memset(out, 0, sizeof *out);
    if (in_len == 0)
        return SSTP_AGAIN;

    /* PROXY protocol §2.1-2.2: the two signatures differ in their first byte, so
     * the first byte picks the candidate and every later byte must keep
     * matching it. */
    if (in[0] == pp2_sig[0]) {
        size_t k = in_len < PP_V2_SIG_LEN ? in_len : PP_V2_SIG_LEN;
        if (memcmp(in, pp2_sig, k) != 0)
            return SSTP_E_PP_SIGNATURE;
        if (in_len <= PP_V2_SIG_LEN)
            return SSTP_AGAIN;
        return v2_parse(out, used, in, in_len);
    }
    size_t k = in_len < PP1_PREFIX_LEN ? in_len : PP1_PREFIX_LEN;
    if (memcmp(in, PP1_PREFIX, k) != 0)
        return SSTP_E_PP_SIGNATURE;
    if (in_len < PP1_PREFIX_LEN)
        return SSTP_AGAIN;
    return v1_parse(out, used, in, in_len);
}

/* ----------------------------------------------------------------- builders */

static bool addr_is(const struct sockaddr_storage *ss, int af)
{
    return ss->ss_family == af;
}

static size_t v1_fmt_addr(char *buf, size_t cap, const struct sockaddr_storage *ss)
{
    if (ss->ss_family == AF_INET) {
        const uint8_t *b = (const uint8_t *)&((const struct sockaddr_in *)ss)->sin_addr;
        int n = snprintf(buf, cap, "%u.%u.%u.%u", b[0], b[1], b[2], b[3]);
        return n > 0 ? (size_t)n : 0;
    }
    if (!inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)ss)->sin6_addr, buf, (socklen_t)cap))
        return 0;
    return strlen(buf);
}

static uint16_t ss_port(const struct sockaddr_storage *ss)
{
    if (ss->ss_family == AF_INET)
        return ntohs(((const struct sockaddr_in *)ss)->sin_port);
    return ntohs(((const struct sockaddr_in6 *)ss)->sin6_port);
}

enum sstp_rc sstp_pp1_build(struct sstp_wbuf *w, const struct sstp_pp_hdr *h)
{
    char line[PP_V1_MAX_LEN + 1], s[INET6_ADDRSTRLEN], d[INET6_ADDRSTRLEN];
    int n;

    if (!w || !h)
        return SSTP_E_ARG;
    if (h->family == SSTP_PP_FAM_UNSPEC) {
        n = snprintf(line, sizeof line, "PROXY UNKNOWN\r\n");
    } else {
        int af;
        const char *proto;
        if (h->family == SSTP_PP_FAM_TCP4) {
            af = AF_INET;
            proto = "TCP4";
        } else if (h->family == SSTP_PP_FAM_TCP6) {
            af = AF_INET6;
            proto = "TCP6";
        } else {
            return SSTP_E_ARG;
        }
        if (!addr_is(&h->src, af) || !addr_is(&h->dst, af) ||
            v1_fmt_addr(s, sizeof s, &h->src) == 0 || v1_fmt_addr(d, sizeof d, &h->dst) == 0)
            return SSTP_E_ARG;
        /* worst case TCP6: "PROXY TCP6" 10 + 4 spaces + 2 * 39 + 2 * 5 + CRLF = 104 */
        n = snprintf(line, sizeof line, "PROXY %s %s %s %u %u\r\n", proto, s, d,
                     (unsigned)ss_port(&h->src), (unsigned)ss_port(&h->dst));
    }
    if (n <= 0 || (size_t)n > PP_V1_MAX_LEN)
        return SSTP_E_ARG;
    if (!sstp_wbuf_fits(w, (size_t)n))
        return SSTP_E_NOSPACE;
    sstp_put_bytes(w, line, (size_t)n);
    return SSTP_OK;
}

/* A view the builder may copy: len bytes at p (p may be NULL only if empty). */
static bool view_ok(struct sstp_slice v, size_t max)
{
    return (v.p || v.len == 0) && v.len <= max;
}

struct ssl_sub {
    uint32_t bit;
    uint8_t type;
    const struct sstp_slice *v;
};

/* Fills subs[] with the SSL sub-TLVs h asks for, in type order; returns how many. */
static size_t ssl_subs(const struct sstp_pp_hdr *h, struct ssl_sub subs[5])
{
    const struct ssl_sub all[5] = {
        { SSTP_PP_HAS_SSL_VERSION, SSTP_PP2_SUBTYPE_SSL_VERSION, &h->ssl.version },
        { SSTP_PP_HAS_SSL_CN,      SSTP_PP2_SUBTYPE_SSL_CN,      &h->ssl.cn },
        { SSTP_PP_HAS_SSL_CIPHER,  SSTP_PP2_SUBTYPE_SSL_CIPHER,  &h->ssl.cipher },
        { SSTP_PP_HAS_SSL_SIG_ALG, SSTP_PP2_SUBTYPE_SSL_SIG_ALG, &h->ssl.sig_alg },
        { SSTP_PP_HAS_SSL_KEY_ALG, SSTP_PP2_SUBTYPE_SSL_KEY_ALG, &h->ssl.key_alg },
    };
    size_t n = 0;
    for (size_t i = 0; i < 5; i++)
        if (h->present & all[i].bit)
            subs[n++] = all[i];
    return n;
}

static size_t meta_len(const struct sstp_pp_meta *m)
{
    return 3 + m->proxy_id.len + (m->client_cert_sha256 ? SSTP_SHA256_LEN : 0) +
           1 + m->tenant.len + 1 + m->affinity.len;
}

/* Checks every TLV h asks for and returns the bytes they take (0 on a bad
 * argument is impossible to confuse: the caller checks *ok). Each view is
 * bounded by SSTP_PP_MAX_HDR_LEN first so the sum cannot overflow. */
static size_t v2_tlvs_len(const struct sstp_pp_hdr *h, bool *ok)
{
    const size_t cap = SSTP_PP_MAX_HDR_LEN;
    uint32_t p = h->present;
    size_t n = 0;
    *ok = false;

    if (p & SSTP_PP_HAS_AUTHORITY) {
        if (!view_ok(h->authority, cap))
            return 0;
        n += PP2_TLV_HDR + h->authority.len;
    }
    if (p & SSTP_PP_HAS_CRC32C)
        n += PP2_TLV_HDR + PP2_CRC_LEN;
    if (p & SSTP_PP_HAS_UNIQUE_ID) {
        if (!view_ok(h->unique_id, SSTP_PP2_UNIQUE_ID_MAX))
            return 0;
        n += PP2_TLV_HDR + h->unique_id.len;
    }
    uint32_t sub_bits = SSTP_PP_HAS_SSL_VERSION | SSTP_PP_HAS_SSL_CN | SSTP_PP_HAS_SSL_CIPHER |
                        SSTP_PP_HAS_SSL_SIG_ALG | SSTP_PP_HAS_SSL_KEY_ALG;
    if ((p & sub_bits) && !(p & SSTP_PP_HAS_SSL))
        return 0;
    if (p & SSTP_PP_HAS_SSL) {
        struct ssl_sub subs[5];
        size_t ns = ssl_subs(h, subs);
        n += PP2_TLV_HDR + SSTP_PP2_SSL_FIXED_LEN;
        for (size_t i = 0; i < ns; i++) {
            if (!view_ok(*subs[i].v, cap))
                return 0;
            n += PP2_TLV_HDR + subs[i].v->len;
        }
    }
    if (p & SSTP_PP_HAS_CERT_SHA256) {
        if (!h->cert_sha256)
            return 0;
        n += PP2_TLV_HDR + SSTP_SHA256_LEN;
    }
    if (p & SSTP_PP_HAS_CERT_SHA1) {
        if (!h->cert_sha1)
            return 0;
        n += PP2_TLV_HDR + SSTP_SHA1_LEN;
    }
    if (p & SSTP_PP_HAS_META) {
        const struct sstp_pp_meta *m = &h->meta;
        if (!view_ok(m->proxy_id, SSTP_PP_META_PROXY_ID_MAX) || m->proxy_id.len == 0 ||
            !view_ok(m->tenant, SSTP_PP_META_TENANT_MAX) ||
            !view_ok(m->affinity, SSTP_PP_META_AFFINITY_MAX))
            return 0;
        n += PP2_TLV_HDR + meta_len(m);
    }
    *ok = true;
    return n;
}

static void put_tlv(struct sstp_wbuf *w, uint8_t type, const void *v, size_t len)
{
    sstp_put_u8(w, type);
    sstp_put_u16be(w, (uint16_t)len);
    sstp_put_bytes(w, v, len);
}

static void put_addr(struct sstp_wbuf *w, uint8_t fam, const struct sockaddr_storage *src,
                     const struct sockaddr_storage *dst)
{
    switch (fam_af(fam)) {
    case AF_INET: {
        const struct sockaddr_in *s = (const struct sockaddr_in *)src;
        const struct sockaddr_in *d = (const struct sockaddr_in *)dst;
        sstp_put_bytes(w, &s->sin_addr, 4);
        sstp_put_bytes(w, &d->sin_addr, 4);
        sstp_put_u16be(w, ntohs(s->sin_port));
        sstp_put_u16be(w, ntohs(d->sin_port));
        break;
    }
    case AF_INET6: {
        const struct sockaddr_in6 *s = (const struct sockaddr_in6 *)src;
        const struct sockaddr_in6 *d = (const struct sockaddr_in6 *)dst;
        sstp_put_bytes(w, &s->sin6_addr, 16);
        sstp_put_bytes(w, &d->sin6_addr, 16);
        sstp_put_u16be(w, ntohs(s->sin6_port));
        sstp_put_u16be(w, ntohs(d->sin6_port));
        break;
    }
    case AF_UNIX:
        sstp_put_bytes(w, ((const struct sockaddr_un *)src)->sun_path, PP2_UNIX_PATH_LEN);
        sstp_put_bytes(w, ((const struct sockaddr_un *)dst)->sun_path, PP2_UNIX_PATH_LEN);
        break;
    default:
        break;
    }
}

enum sstp_rc sstp_pp2_build(struct sstp_wbuf *w, const struct sstp_pp_hdr *h)
{
    size_t addr_len = 0, tlv_len = 0;
    uint8_t fam = SSTP_PP_FAM_UNSPEC;
    bool ok;

    if (!w || !h)
        return SSTP_E_ARG;
    if (h->command == SSTP_PP_CMD_PROXY) {
        fam = (uint8_t)h->family;
        if ((unsigned)h->family > 0xFF || !fam_addr_len(fam, &addr_len))
            return SSTP_E_ARG;
        int af = fam_af(fam);
        if (af != AF_UNSPEC && (!addr_is(&h->src, af) || !addr_is(&h->dst, af)))
            return SSTP_E_ARG;
        tlv_len = v2_tlvs_len(h, &ok);
        if (!ok)
            return SSTP_E_ARG;
    } else if (h->command != SSTP_PP_CMD_LOCAL) {
        return SSTP_E_ARG;
    }
    size_t total = PP_V2_HDR_LEN + addr_len + tlv_len;
    if (total > SSTP_PP_MAX_HDR_LEN)
        return SSTP_E_ARG;
    if (!sstp_wbuf_fits(w, total))
        return SSTP_E_NOSPACE;

    /* Everything below fits: it was sized above. */
    uint8_t *start = w->p + w->len;
    sstp_put_bytes(w, pp2_sig, sizeof pp2_sig);
    sstp_put_u8(w, (uint8_t)(0x20 | h->command));
    sstp_put_u8(w, fam);
    sstp_put_u16be(w, (uint16_t)(total - PP_V2_HDR_LEN));
    if (h->command == SSTP_PP_CMD_LOCAL)
        return SSTP_OK;
    put_addr(w, fam, &h->src, &h->dst);

    uint32_t p = h->present;
    uint8_t *crc_at = NULL;
    if (p & SSTP_PP_HAS_AUTHORITY)
        put_tlv(w, SSTP_PP2_TYPE_AUTHORITY, h->authority.p, h->authority.len);
    if (p & SSTP_PP_HAS_CRC32C) {
        crc_at = w->p + w->len + PP2_TLV_HDR;
        sstp_put_u8(w, SSTP_PP2_TYPE_CRC32C);
        sstp_put_u16be(w, PP2_CRC_LEN);
        sstp_put_zeros(w, PP2_CRC_LEN);
    }
    if (p & SSTP_PP_HAS_UNIQUE_ID)
        put_tlv(w, SSTP_PP2_TYPE_UNIQUE_ID, h->unique_id.p, h->unique_id.len);
    if (p & SSTP_PP_HAS_SSL) {
        struct ssl_sub subs[5];
        size_t ns = ssl_subs(h, subs), vlen = SSTP_PP2_SSL_FIXED_LEN;
        for (size_t i = 0; i < ns; i++)
            vlen += PP2_TLV_HDR + subs[i].v->len;
        sstp_put_u8(w, SSTP_PP2_TYPE_SSL);
        sstp_put_u16be(w, (uint16_t)vlen);
        sstp_put_u8(w, h->ssl.client);
        sstp_put_u32be(w, h->ssl.verify);
        for (size_t i = 0; i < ns; i++)
            put_tlv(w, subs[i].type, subs[i].v->p, subs[i].v->len);
    }
    if (p & SSTP_PP_HAS_CERT_SHA256)
        put_tlv(w, SSTP_PP2_TYPE_CERT_SHA256, h->cert_sha256, SSTP_SHA256_LEN);
    if (p & SSTP_PP_HAS_CERT_SHA1)
        put_tlv(w, SSTP_PP2_TYPE_CERT_SHA1, h->cert_sha1, SSTP_SHA1_LEN);
    if (p & SSTP_PP_HAS_META) {
        const struct sstp_pp_meta *m = &h->meta;
        sstp_put_u8(w, SSTP_PP2_TYPE_META);
        sstp_put_u16be(w, (uint16_t)meta_len(m));
        sstp_put_u8(w, SSTP_PP_META_VERSION);
        sstp_put_u8(w, m->client_cert_sha256 ? SSTP_PP_META_F_CLIENT_CERT : 0);
        sstp_put_u8(w, (uint8_t)m->proxy_id.len);
        sstp_put_bytes(w, m->proxy_id.p, m->proxy_id.len);
        if (m->client_cert_sha256)
            sstp_put_bytes(w, m->client_cert_sha256, SSTP_SHA256_LEN);
        sstp_put_u8(w, (uint8_t)m->tenant.len);
        sstp_put_bytes(w, m->tenant.p, m->tenant.len);
        sstp_put_u8(w, (uint8_t)m->affinity.len);
        sstp_put_bytes(w, m->affinity.p, m->affinity.len);
    }
    assert(!w->err && (size_t)(w->p + w->len - start) == total);
    if (crc_at)
        sstp_store_u32be(crc_at, sstp_pp_crc32c(0, start, total));
    return SSTP_OK;
}
