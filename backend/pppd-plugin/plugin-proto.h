/* plugin-proto.h — the messages between our pppd plugin and sstp-backend.
 *
 * One message per SOCK_SEQPACKET datagram on a socketpair the backend
 * creates; the plugin speaks first and waits for an ACK each time. Shared
 * by both ends as static inline code. The decoder runs in the backend on
 * bytes from a process it does not fully trust, so it accepts exactly one
 * well-formed message and nothing else. No I/O, no allocation, no logging.
 *
 * Wire layout, version 1 (all lengths big-endian):
 *
 *   0  u8    version            SSTP_PLUGIN_PROTO_VERSION
 *   1  u8    type               enum sstp_plugin_type
 *   2  u16   body length        exact, and fixed per type (AUTH: 36 + user)
 *   4        body
 *
 *   AUTH     u8 auth (enum sstp_plugin_auth), u8 keys_set (0 or 1),
 *            16 recv_key, 16 send_key, u16 user length N (1..256, counts
 *            the NUL), N bytes of user: exactly one NUL, the last byte
 *   IP_UP    4 ip_local, 4 ip_remote: the address bytes in network order
 *   IPV6_UP  8 ipv6_local, 8 ipv6_remote: interface identifiers
 *   ACK      u8 acked: the type being acknowledged (AUTH, IP_UP, IPV6_UP)
 *   READY    empty: a pooled pppd (`sstp-lb-pool`) is on its tty, before LCP
 *   START    backend -> pooled plugin: the session's values, each a u8
 *            length then that many bytes (no NUL): session id (1..64),
 *            client address (1..64), correlation id (0..64); every byte
 *            from SSTP_PLUGIN_ID_CHARS (they reach ip-up's environment)
 *
 * Pool (pppd.pool_size): sstp-backend starts pppd with `sstp-lb-pool` and
 * no session values. At PHASE_ESTABLISH (tty set up, ppp unit made, LCP
 * not started) the plugin sends READY and blocks until START; it applies
 * START as the command line would have (ipparam, remotenumber, the
 * SSTP_* script variables) and LCP begins. Anything but one well-formed
 * START, or the socket closing, ends pppd. The plugin never reads again
 * outside report(), so a second START reaches it as the reply to AUTH and
 * ends pppd there: one pppd serves one session.
 *
 * For the backend: a receive buffer of SSTP_PLUGIN_MSG_MAX bytes is
 * enough. SEQPACKET truncates a longer datagram silently, but no valid
 * message is longer than 296 bytes, so a truncated one never decodes. AUTH
 * comes once per session after authentication and before CCP/IPCP (a
 * second one is an attack: the call ends); pppd waits up to 10 s for its
 * ACK (5 s for the others) and exits without it. The ACK is the gate: it
 * goes only once the client's CALL_CONNECTED verified the crypto binding
 * with these keys and the per-user policy allowed the session. keys_set is
 * 1 when pppd's mppe_keys_set is, or when both key buffers are non-zero
 * (RADIUS keys without an MS-MPPE-Encryption-Policy). For MS-CHAPv2 the
 * HLAK is recv_key | send_key (K2 | K3, MS-SSTP 3.2.5.2.2) and no keys
 * refuse the call; EAP cannot be bound with pppd 2.4.9's 16-byte keys;
 * PAP, CHAP-MD5 and none give 32 zero bytes whatever keys_set says.
 */
#ifndef SSTP_LB_PPPD_PLUGIN_PLUGIN_PROTO_H
#define SSTP_LB_PPPD_PLUGIN_PLUGIN_PROTO_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "sstp/slice.h"

/* The pppd option naming the inherited socket: `sstp-lb-fd <n>`. */
#define SSTP_PLUGIN_FD_OPTION "sstp-lb-fd"
/* The pppd option of a pooled pppd: READY at ESTABLISH, then wait for START. */
#define SSTP_PLUGIN_POOL_OPTION "sstp-lb-pool"

#define SSTP_PLUGIN_PROTO_VERSION 1

enum sstp_plugin_type {
    SSTP_PLUGIN_AUTH    = 1,    /* peer authenticated: method, keys, name */
    SSTP_PLUGIN_IP_UP   = 2,    /* IPCP up: addresses */
    SSTP_PLUGIN_IPV6_UP = 3,    /* IPV6CP up: interface identifiers */
    SSTP_PLUGIN_READY   = 4,    /* a pooled pppd waits for its session */
    SSTP_PLUGIN_START   = 0x81, /* backend -> pooled plugin: the session's values */
    SSTP_PLUGIN_ACK     = 0x80, /* backend -> plugin */
};

/* The method the peer authenticated itself with (MS-SSTP 3.2.5.2.2 picks
 * the HLAK from it: keys for MS-CHAPv2 and EAP, zeros for the others). */
enum sstp_plugin_auth {
    SSTP_PLUGIN_AUTH_NONE     = 0,
    SSTP_PLUGIN_AUTH_PAP      = 1,
    SSTP_PLUGIN_AUTH_CHAP_MD5 = 2,
    SSTP_PLUGIN_AUTH_MSCHAPV2 = 3,
    SSTP_PLUGIN_AUTH_EAP      = 4,
};

#define SSTP_PLUGIN_USER_MAX 256        /* pppd's MAXNAMELEN, with the NUL */
#define SSTP_PLUGIN_MSG_MAX  512        /* bytes of one encoded message */
#define SSTP_PLUGIN_KEY_LEN  16         /* pppd 2.4.9 MPPE_MAX_KEY_LEN */

/* Fixed sizes of the layout above. */
#define SSTP_PLUGIN_HDR_LEN       4
#define SSTP_PLUGIN_AUTH_FIXED    (1 + 1 + 2 * SSTP_PLUGIN_KEY_LEN + 2)
#define SSTP_PLUGIN_IP_UP_LEN     8
#define SSTP_PLUGIN_IPV6_UP_LEN   16
#define SSTP_PLUGIN_ACK_LEN       1
#define SSTP_PLUGIN_READY_LEN     0
#define SSTP_PLUGIN_VALUE_MAX     64     /* bytes of one START value, without a NUL */
/* What a session id may hold (ours, or a proxy's token): nothing a shell or
 * an avpair string ("attr=value,...") could read as syntax. */
#define SSTP_PLUGIN_SID_CHARS \
    "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ._:-"
/* What a START value may hold: session ids, addresses, {GUID} correlation ids. */
#define SSTP_PLUGIN_ID_CHARS SSTP_PLUGIN_SID_CHARS "{}"

_Static_assert(SSTP_PLUGIN_HDR_LEN + SSTP_PLUGIN_AUTH_FIXED + SSTP_PLUGIN_USER_MAX < SSTP_PLUGIN_MSG_MAX,
               "the longest AUTH must fit, with room to spot truncation");

struct sstp_plugin_msg {
    uint8_t type;                        /* enum sstp_plugin_type */
    /* AUTH */
    uint8_t auth;                        /* enum sstp_plugin_auth */
    uint8_t keys_set;                    /* pppd's mppe_keys_set */
    uint8_t recv_key[16], send_key[16];  /* pppd's mppe_recv_key / mppe_send_key, server side */
    char user[SSTP_PLUGIN_USER_MAX];     /* peer_authname, NUL-terminated */
    /* IP_UP (network order) */
    uint32_t ip_local, ip_remote;
    /* IPV6_UP interface identifiers */
    uint8_t ipv6_local[8], ipv6_remote[8];
    /* ACK: which type is acknowledged */
    uint8_t acked;
    /* START, NUL-terminated */
    char sid[SSTP_PLUGIN_VALUE_MAX + 1];
    char client[SSTP_PLUGIN_VALUE_MAX + 1];
    char corr[SSTP_PLUGIN_VALUE_MAX + 1];
};

/* Types a plugin sends (and so the only ones an ACK may name). */
static inline int sstp_plugin_type_is_report(unsigned t)
{
    return t == SSTP_PLUGIN_AUTH || t == SSTP_PLUGIN_IP_UP || t == SSTP_PLUGIN_IPV6_UP;
}

/* Length of the user name including its NUL, or 0 if there is no NUL
 * within SSTP_PLUGIN_USER_MAX bytes. */
static inline size_t sstp_plugin_user_len(const char *user)
{
    const void *nul = memchr(user, '\0', SSTP_PLUGIN_USER_MAX);
    return nul ? (size_t)((const char *)nul - user) + 1 : 0;
}

/* Whether v (NUL-terminated) may be a START value of min_len or more bytes. */
static inline int sstp_plugin_value_ok(const char *v, size_t min_len)
{
    size_t n = strnlen(v, SSTP_PLUGIN_VALUE_MAX + 1);
    return n >= min_len && n <= SSTP_PLUGIN_VALUE_MAX && strspn(v, SSTP_PLUGIN_ID_CHARS) == n;
}

/* One START value: u8 length, bytes; checked as sstp_plugin_value_ok. */
static inline int sstp_plugin_get_value(struct sstp_slice *s, char out[SSTP_PLUGIN_VALUE_MAX + 1],
                                        size_t min_len)
{
    struct sstp_slice v;
    uint8_t n;

    if (!sstp_get_u8(s, &n) || n > SSTP_PLUGIN_VALUE_MAX || !sstp_get_bytes(s, &v, n))
        return -1;
    memcpy(out, v.p, n);
    out[n] = '\0';
    return strlen(out) == n && sstp_plugin_value_ok(out, min_len) ? 0 : -1;
}

/* sstp_plugin_msg_encode writes m as one message into out (cap bytes).
 * Only the fields of m->type are read. Returns the bytes written, or -1 if
 * cap is too small or m is not encodable (unknown type or auth method,
 * keys_set not 0/1, user not NUL-terminated within SSTP_PLUGIN_USER_MAX,
 * an ACK naming a non-report type, a START value that is empty where it
 * must not be, too long or outside SSTP_PLUGIN_ID_CHARS): exactly what the decoder rejects, so
 * every encoded message decodes to the same fields. Fails whole: nothing
 * is written on -1. */
static inline int sstp_plugin_msg_encode(uint8_t *out, size_t cap, const struct sstp_plugin_msg *m)
{
    struct sstp_wbuf w;
    size_t body, ulen = 0;

    switch (m->type) {
    case SSTP_PLUGIN_AUTH:
        if (m->auth > SSTP_PLUGIN_AUTH_EAP || m->keys_set > 1)
            return -1;
        ulen = sstp_plugin_user_len(m->user);
        if (ulen == 0)
            return -1;
        body = SSTP_PLUGIN_AUTH_FIXED + ulen;
        break;
    case SSTP_PLUGIN_IP_UP:
        body = SSTP_PLUGIN_IP_UP_LEN;
        break;
    case SSTP_PLUGIN_IPV6_UP:
        body = SSTP_PLUGIN_IPV6_UP_LEN;
        break;
    case SSTP_PLUGIN_ACK:
        if (!sstp_plugin_type_is_report(m->acked))
            return -1;
        body = SSTP_PLUGIN_ACK_LEN;
        break;
    case SSTP_PLUGIN_READY:
        body = SSTP_PLUGIN_READY_LEN;
        break;
    case SSTP_PLUGIN_START:
        if (!sstp_plugin_value_ok(m->sid, 1) || !sstp_plugin_value_ok(m->client, 1) ||
            !sstp_plugin_value_ok(m->corr, 0))
            return -1;
        body = 3 + strlen(m->sid) + strlen(m->client) + strlen(m->corr);
        break;
    default:
        return -1;
    }

    if (cap < SSTP_PLUGIN_HDR_LEN + body)
        return -1;
    sstp_wbuf_init(&w, out, cap);
    sstp_put_u8(&w, SSTP_PLUGIN_PROTO_VERSION);
    sstp_put_u8(&w, m->type);
    sstp_put_u16be(&w, (uint16_t)body);
    switch (m->type) {
    case SSTP_PLUGIN_AUTH:
        sstp_put_u8(&w, m->auth);
        sstp_put_u8(&w, m->keys_set);
        sstp_put_bytes(&w, m->recv_key, SSTP_PLUGIN_KEY_LEN);
        sstp_put_bytes(&w, m->send_key, SSTP_PLUGIN_KEY_LEN);
        sstp_put_u16be(&w, (uint16_t)ulen);
        sstp_put_bytes(&w, m->user, ulen);
        break;
    case SSTP_PLUGIN_IP_UP:
        /* The fields already hold network order: copy the bytes as they are. */
        sstp_put_bytes(&w, &m->ip_local, 4);
        sstp_put_bytes(&w, &m->ip_remote, 4);
        break;
    case SSTP_PLUGIN_IPV6_UP:
        sstp_put_bytes(&w, m->ipv6_local, 8);
        sstp_put_bytes(&w, m->ipv6_remote, 8);
        break;
    case SSTP_PLUGIN_READY:
        break;
    case SSTP_PLUGIN_START: {
        const char *v[3] = { m->sid, m->client, m->corr };
        for (int i = 0; i < 3; i++) {
            sstp_put_u8(&w, (uint8_t)strlen(v[i]));
            sstp_put_bytes(&w, v[i], strlen(v[i]));
        }
        break;
    }
    default: /* SSTP_PLUGIN_ACK */
        sstp_put_u8(&w, m->acked);
        break;
    }
    return w.err ? -1 : (int)w.len;
}

/* sstp_plugin_msg_decode parses exactly one message: in[0..len) must be
 * the whole datagram. Returns 0 and fills m (zeroed first, so fields of
 * other types are 0), or -1 if the bytes are not one well-formed message:
 * wrong version, unknown type, body length not the one the type requires
 * or not equal to what follows the header, unknown auth method, keys_set
 * not 0/1, user length 0 or above SSTP_PLUGIN_USER_MAX, user not ending in
 * its only NUL, an ACK naming a non-report type, a READY with a body, or
 * a START whose values are not three exact, well-formed ones (see the
 * layout). m is zeroed on -1 too.
 * Borrows in; m holds copies. */
static inline int sstp_plugin_msg_decode(struct sstp_plugin_msg *m, const uint8_t *in, size_t len)
{
    struct sstp_slice s = sstp_slice_make(in, len), rk, sk, u;
    uint8_t ver, type;
    uint16_t body, ulen;

    memset(m, 0, sizeof(*m));
    if (!sstp_get_u8(&s, &ver) || !sstp_get_u8(&s, &type) || !sstp_get_u16be(&s, &body))
        return -1;
    if (ver != SSTP_PLUGIN_PROTO_VERSION || body != s.len)
        return -1;

    switch (type) {
    case SSTP_PLUGIN_AUTH:
        /* The user field is the rest of the body, its NUL last and only there. */
        if (!sstp_get_u8(&s, &m->auth) || !sstp_get_u8(&s, &m->keys_set) ||
            !sstp_get_bytes(&s, &rk, SSTP_PLUGIN_KEY_LEN) ||
            !sstp_get_bytes(&s, &sk, SSTP_PLUGIN_KEY_LEN) ||
            !sstp_get_u16be(&s, &ulen) || !sstp_get_bytes(&s, &u, ulen) || s.len != 0)
            goto bad;
        if (m->auth > SSTP_PLUGIN_AUTH_EAP || m->keys_set > 1)
            goto bad;
        if (ulen == 0 || ulen > SSTP_PLUGIN_USER_MAX || memchr(u.p, '\0', ulen) != u.p + ulen - 1)
            goto bad;
        memcpy(m->recv_key, rk.p, SSTP_PLUGIN_KEY_LEN);
        memcpy(m->send_key, sk.p, SSTP_PLUGIN_KEY_LEN);
        memcpy(m->user, u.p, ulen);
        break;
    case SSTP_PLUGIN_IP_UP:
        if (body != SSTP_PLUGIN_IP_UP_LEN)
            return -1;
        memcpy(&m->ip_local, s.p, 4);
        memcpy(&m->ip_remote, s.p + 4, 4);
        break;
    case SSTP_PLUGIN_IPV6_UP:
        if (body != SSTP_PLUGIN_IPV6_UP_LEN)
            return -1;
        memcpy(m->ipv6_local, s.p, 8);
        memcpy(m->ipv6_remote, s.p + 8, 8);
        break;
    case SSTP_PLUGIN_ACK:
        if (body != SSTP_PLUGIN_ACK_LEN || !sstp_plugin_type_is_report(s.p[0]))
            return -1;
        m->acked = s.p[0];
        break;
    case SSTP_PLUGIN_READY:
        if (body != SSTP_PLUGIN_READY_LEN)
            return -1;
        break;
    case SSTP_PLUGIN_START:
        if (sstp_plugin_get_value(&s, m->sid, 1) == -1 || sstp_plugin_get_value(&s, m->client, 1) == -1 ||
            sstp_plugin_get_value(&s, m->corr, 0) == -1 || s.len != 0)
            goto bad;
        break;
    default:
        return -1;
    }
    m->type = type;
    return 0;

bad:
    memset(m, 0, sizeof(*m));
    return -1;
}

#endif
