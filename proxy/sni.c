/* sni.c — ClientHello extension readers and the certificate chooser (see
 * sni.h). Every length is checked before it is used. */
#include "proxy/sni.h"

#include <string.h>
#include <strings.h>

#include "sstp/slice.h"

#define SNI_TYPE_HOST_NAME 0     /* RFC 6066 §3 */
#define TLS13_VERSION      0x0304
#define SIG_ECDSA          0x03  /* low byte of the ECDSA SignatureSchemes */

static bool host_char(uint8_t c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '-' || c == '_' || c == '.';
}

int px_sni_parse(const uint8_t *ext, size_t len, char *out, size_t out_len)
{
    struct sstp_slice s = sstp_slice_make(ext, len), list;
    uint16_t list_len;
    if (!ext || !sstp_get_u16be(&s, &list_len) || list_len != s.len ||
        !sstp_get_bytes(&s, &list, list_len))
        return -1;
    while (list.len > 0) {
        uint8_t type;
        uint16_t n;
        struct sstp_slice name;
        if (!sstp_get_u8(&list, &type) || !sstp_get_u16be(&list, &n) || !sstp_get_bytes(&list, &name, n))
            return -1;
        if (type != SNI_TYPE_HOST_NAME)
            continue;
        if (n == 0 || n > PX_SNI_MAX || (size_t)n + 1 > out_len)
            return -1;
        for (size_t i = 0; i < n; i++) {
            if (!host_char(name.p[i]))
                return -1;
            uint8_t c = name.p[i];
            out[i] = (char)(c >= 'A' && c <= 'Z' ? c + 32 : c);
        }
        out[n] = '\0';
        return 1;
    }
    return 0;
}

bool px_sigalgs_ecdsa(const uint8_t *ext, size_t len)
{
    struct sstp_slice s = sstp_slice_make(ext, len);
    uint16_t n;
    if (!ext || !sstp_get_u16be(&s, &n) || n != s.len || n % 2)
        return false;
    for (size_t i = 0; i < n; i += 2) {
        uint8_t hash = s.p[i], sig = s.p[i + 1];
        if (sig == SIG_ECDSA && hash >= 0x02 && hash <= 0x06)
            return true;
    }
    return false;
}

bool px_versions_tls13(const uint8_t *ext, size_t len)
{
    struct sstp_slice s = sstp_slice_make(ext, len);
    uint8_t n;
    if (!ext || !sstp_get_u8(&s, &n) || n != s.len || n % 2)
        return false;
    for (size_t i = 0; i < n; i += 2)
        if (sstp_load_u16be(s.p + i) == TLS13_VERSION)
            return true;
    return false;
}

bool px_ciphers_ecdsa(const uint8_t *suites, size_t len)
{
    /* IANA TLS cipher suite registry: the ECDHE_ECDSA suites */
    static const uint16_t ecdsa[] = { 0xC009, 0xC00A, 0xC023, 0xC024, 0xC02B, 0xC02C,
                                      0xCCA9, 0xC0AC, 0xC0AD, 0xC0AE, 0xC0AF };
    if (!suites)
        return false;
    for (size_t i = 0; i + 1 < len; i += 2) {
        uint16_t v = sstp_load_u16be(suites + i);
        for (size_t k = 0; k < sizeof ecdsa / sizeof ecdsa[0]; k++)
            if (v == ecdsa[k])
                return true;
    }
    return false;
}

bool px_host_match(const char *pattern, const char *name)
{
    if (pattern[0] == '*' && pattern[1] == '.') {
        const char *dot = strchr(name, '.');
        /* one non-empty label in front, and the rest must match exactly */
        return dot && dot != name && strcasecmp(dot + 1, pattern + 2) == 0;
    }
    return strcasecmp(pattern, name) == 0;
}

static bool matches(const struct px_sni_entry *e, const char *sni, bool wildcard)
{
    for (size_t i = 0; i < e->n_names; i++) {
        bool is_wild = e->names[i][0] == '*';
        if (is_wild == wildcard && px_host_match(e->names[i], sni))
            return true;
    }
    return false;
}

/* The best candidate of one selection pass: 0 = exact names, 1 = wildcard,
 * 2 = defaults. */
static long choose_pass(const struct px_sni_entry *e, size_t n, const char *sni, int pass, bool ecdsa_ok)
{
    long first = -1, first_ecdsa = -1, first_other = -1;
    for (size_t i = 0; i < n; i++) {
        bool cand = pass == 2 ? e[i].is_default : (sni && matches(&e[i], sni, pass == 1));
        if (!cand)
            continue;
        if (first < 0)
            first = (long)i;
        if (e[i].ecdsa && first_ecdsa < 0)
            first_ecdsa = (long)i;
        if (!e[i].ecdsa && first_other < 0)
            first_other = (long)i;
    }
    if (ecdsa_ok && first_ecdsa >= 0)
        return first_ecdsa;
    if (first_other >= 0)
        return first_other;
    return first;
}

long px_sni_choose(const struct px_sni_entry *e, size_t n, const char *sni, bool ecdsa_ok)
{
    for (int pass = 0; pass < 3; pass++) {
        long i = choose_pass(e, n, sni, pass, ecdsa_ok);
        if (i >= 0)
            return i;
    }
    return -1;
}
