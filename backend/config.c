/* config.c — sstp-backend's option table and the checks across options. */
#include "backend/config.h"

#include <netinet/in.h>
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/admin.h"
#include "core/tls.h"

static const char *const levels[] = { "error", "warn", "info", "debug", NULL };
static const char *const formats[] = { "text", "json", NULL };
static const char *const hashes[] = { "sha256", "sha1", "both", NULL };
static const char *const pp_placements[] = { "inside", "before", "none", NULL };
static const char *const user_actions[] = { "deny", "replace", NULL };
static const char *const user_norms[] = { "none", "fold", NULL };

/* Appends each hex hash in a comma/space separated list; its length says
 * whether it is SHA-256 (64 hex digits) or SHA-1 (40). */
static int parse_hashes(void *field, const char *val, char *err, size_t err_len)
{
    struct be_hash_list *l = field;
    char buf[256];
    const char *p = val;
    while (*p) {
        while (*p == ',' || *p == ' ')
            p++;
        const char *start = p;
        while (*p && *p != ',' && *p != ' ')
            p++;
        size_t n = (size_t)(p - start);
        if (n == 0)
            break;
        if (n >= sizeof buf) {
            snprintf(err, err_len, "hash too long");
            return -1;
        }
        memcpy(buf, start, n);
        buf[n] = '\0';
        uint8_t h[SSTP_SHA256_LEN];
        if (tls_unhex(h, SSTP_SHA256_LEN, buf) == 0) {
            void *g = realloc(l->sha256, (l->n_sha256 + 1) * sizeof *l->sha256);
            if (!g)
                goto oom;
            l->sha256 = g;
            memcpy(l->sha256[l->n_sha256++], h, SSTP_SHA256_LEN);
        } else if (tls_unhex(h, SSTP_SHA1_LEN, buf) == 0) {
            void *g = realloc(l->sha1, (l->n_sha1 + 1) * sizeof *l->sha1);
            if (!g)
                goto oom;
            l->sha1 = g;
            memcpy(l->sha1[l->n_sha1++], h, SSTP_SHA1_LEN);
        } else {
            snprintf(err, err_len, "'%s' is not a SHA-256 (64 hex digits) or SHA-1 (40) hash", buf);
            return -1;
        }
    }
    return 0;
oom:
    snprintf(err, err_len, "out of memory");
    return -1;
}

static void release_hashes(void *field)
{
    struct be_hash_list *l = field;
    free(l->sha256);
    free(l->sha1);
    memset(l, 0, sizeof *l);
}

#define OPT(sec, nm, ty, fld, mn, mx, df, hlp) \
    { sec, nm, ty, offsetof(struct be_config, fld), mn, mx, df, NULL, NULL, NULL, hlp }
#define OPT_ENUM(sec, nm, fld, ch, df, hlp) \
    { sec, nm, CFG_ENUM, offsetof(struct be_config, fld), 0, 0, df, ch, NULL, NULL, hlp }
#define OPT_CUSTOM(sec, nm, fld, p, r, hlp) \
    { sec, nm, CFG_CUSTOM, offsetof(struct be_config, fld), 0, 0, NULL, NULL, p, r, hlp }

const struct cfg_opt be_config_table[] = {
    OPT("backend", "id", CFG_STR, id, 0, 0, "backend-1",
        "name of this backend in logs, metrics and the Redis registry"),
    OPT_ENUM("backend", "log_level", log_level, levels, "info", "least severe level logged"),
    OPT_ENUM("backend", "log_format", log_format, formats, "text",
             "text: key=value lines; json: one JSON object per line"),
    OPT_CUSTOM("backend", "advertise", advertise, cfg_parse_addr, cfg_release_str,
               "ip:port that sstp-proxy instances connect to, published in the Redis registry "
               "(default: the proxy listener's, or the mtls listener's, address). Required with "
               "redis.url when that listener is a wildcard (0.0.0.0, [::], *)"),
    OPT_CUSTOM("backend", "admin", admin_old_name, cfg_parse_addr, cfg_release_str,
               "deprecated: the old name of admin.address, still read (with a warning at start); "
               "admin.address wins when both are set"),
    OPT("backend", "group", CFG_STR, group, 0, 0, NULL,
        "backend group for tenant routing (the tenantid of the SSTP URI); empty = default group"),
    OPT("backend", "weight", CFG_INT, weight, 1, 1000, "1",
        "relative share of new sessions under weighted policies"),

    ADMIN_CONFIG_OPT(struct be_config, admin, NULL, "of the backend (e.g. 127.0.0.1:9181)"),

    OPT_CUSTOM("listen", "tls", listen_tls, cfg_parse_addr, cfg_release_str,
        "address for clients connecting directly over TLS (single-node mode), e.g. *:443; "
        "empty = off. Crypto binding is checked against this server's own certificate"),
    OPT_CUSTOM("listen", "proxy", listen_proxy, cfg_parse_addr, cfg_release_str,
        "address for sstp-proxy over plain TCP on a private network, e.g. 10.0.0.2:4433; "
        "a PROXY v1/v2 header is required; only sources in proxy_allow are accepted"),
    OPT_CUSTOM("listen", "mtls", listen_mtls, cfg_parse_addr, cfg_release_str,
        "address for sstp-proxy over TLS; the proxy must present a certificate signed by "
        "tls.proxy_ca; a PROXY header is read as mtls_proxy_header says"),
    OPT_ENUM("listen", "mtls_proxy_header", mtls_proxy_header, pp_placements, "inside",
             "where the mtls listener reads the PROXY header: inside = PROXY v1/v2 inside TLS "
             "(sstp-proxy; the header and its certificate hash TLVs are integrity-protected); "
             "before = PROXY v2 before the TLS handshake (HAProxy `server ... ssl crt ... "
             "send-proxy-v2`): not integrity-protected, so use it only on a network you "
             "control; none = no header (a re-encrypting offloader without PROXY support): "
             "the client address is the offloader's and sstp.trusted_cert_hash applies. "
             "Proxies that find this backend in the Redis registry send it inside"),
    OPT_CUSTOM("listen", "proxy_allow", proxy_allow, cfg_parse_cidrs, cfg_release_cidrs,
               "source addresses/CIDRs whose PROXY headers and sstp-lb TLVs are trusted "
               "(repeatable); connections from other sources to the proxy/mtls listeners "
               "are refused and counted"),

    OPT("tls", "cert", CFG_STR, cert, 0, 0, NULL,
        "PEM certificate chain (leaf first) for the tls and mtls listeners"),
    OPT("tls", "key", CFG_STR, key, 0, 0, NULL, "PEM private key (RSA or ECDSA)"),
    OPT("tls", "ciphers", CFG_STR, ciphers, 0, 0, SSTPLB_TLS12_CIPHERS, "TLS 1.2 cipher list"),
    OPT("tls", "ciphersuites", CFG_STR, ciphersuites, 0, 0, SSTPLB_TLS13_SUITES,
        "TLS 1.3 cipher suites"),
    OPT("tls", "expiry_warn_days", CFG_INT, expiry_warn_days, 0, 365, "21",
        "log a warning (cert_expiring) from this many days before tls.cert's notAfter, at "
        "start and once a day while running; an expired one is an error (cert_expired). "
        "0 = never. Its notAfter is in /metrics either way (sstp_backend_cert_not_after_seconds)"),
    OPT("tls", "proxy_ca", CFG_STR, proxy_ca, 0, 0, NULL,
        "CA that signs sstp-proxy client certificates (required for the mtls listener)"),

    OPT_ENUM("sstp", "hash", hash, hashes, "sha256",
             "certificate hash algorithms offered in CALL_CONNECT_ACK (clients pick SHA-256 "
             "when offered)"),
    OPT_CUSTOM("sstp", "trusted_cert_hash", trusted, parse_hashes, release_hashes,
               "hex SHA-256 or SHA-1 of a certificate presented to clients by a third-party "
               "TLS offloader (repeatable, for rollover); used when a connection carries no "
               "sstp-lb hash TLVs, and on the tls listener beside this server's own certificate "
               "(an offloader that re-encrypts to it: HAProxy `ssl`, F5 re-encrypt, a cloud "
               "TLS listener)"),
    OPT("sstp", "negotiation_timeout", CFG_MSEC, negotiation_timeout, 1, 600, "60s",
        "time for CALL_CONNECT_REQUEST and for CALL_CONNECTED (MS-SSTP 3.3.2)"),
    OPT("sstp", "hello_interval", CFG_MSEC, hello_interval, 1, 600, "60s",
        "idle time before an ECHO_REQUEST; a second idle interval aborts"),
    OPT("sstp", "abort_timeout", CFG_MSEC, abort_t1, 0.1, 60, "3s", "abort timer 1"),
    OPT("sstp", "abort_linger", CFG_MSEC, abort_t2, 0.1, 60, "1s", "abort timer 2"),
    OPT("sstp", "disconnect_timeout", CFG_MSEC, disconnect_t1, 0.1, 60, "5s",
        "wait for CALL_DISCONNECT_ACK"),
    OPT("sstp", "disconnect_linger", CFG_MSEC, disconnect_t2, 0.1, 60, "1s",
        "disconnect timer 2"),
    OPT("sstp", "handshake_timeout", CFG_MSEC, handshake_timeout, 0.5, 120, "10s",
        "time for the PROXY header, TLS handshake and HTTP request head"),
    OPT("sstp", "connect_request_timeout", CFG_MSEC, connect_request_timeout, 0.5, 600, "5s",
        "time from the HTTP request head to CALL_CONNECT_REQUEST (clients send it at once); "
        "a session waiting for it holds a max_negotiating slot"),
    OPT("sstp", "max_head", CFG_INT, max_head, 256, 8192, "4096",
        "largest HTTP request head accepted, bytes"),

    OPT("pppd", "path", CFG_STR, pppd_path, 0, 0, "/usr/sbin/pppd", "pppd binary"),
    OPT("pppd", "options", CFG_STR, pppd_options, 0, 0, "/etc/sstp-lb/pppd.options",
        "pppd options file (auth methods, addresses, DNS)"),
    OPT("pppd", "plugin", CFG_STR, plugin, 0, 0, "/usr/local/lib/sstp-lb/sstp-lb-pppd.so",
        "sstp-lb's pppd plugin (reports the authentication keys for crypto binding)"),
    OPT("pppd", "kill_grace", CFG_MSEC, kill_grace, 0.1, 60, "3s",
        "after SIGTERM, time before pppd gets SIGKILL"),
    OPT("pppd", "pool_size", CFG_INT, pppd_pool_size, 0, 64, "0",
        "pppd processes kept started ahead of sessions (each on its own pty, waiting before LCP "
        "for a session's values; one serves one session, then exits): saves a session pppd's "
        "start-up; 0 = off, each session starts its own"),

    OPT("limits", "max_sessions", CFG_INT, max_sessions, 1, 1000000, "1000",
        "sessions at once; beyond it the tls listener closes new connections at accept, the "
        "proxy listeners answer them (HEAD probes: 503, calls: 503 with Retry-After; up to 64 "
        "held at once, more are closed)"),
    OPT("limits", "max_negotiating", CFG_INT, max_negotiating, 1, 1000000, "200",
        "sessions still before CALL_CONNECTED at once (from the request head on a proxy "
        "listener); beyond it new calls are refused as for max_sessions"),
    OPT("limits", "max_negotiating_per_source", CFG_INT, max_negotiating_per_source, -1, 1000000, "-1",
        "sessions before CALL_CONNECTED from one source (each costs a root pppd), counted by "
        "the real client address (the PROXY header's behind sstp-proxy) cut to "
        "source_prefix4/6; over it a request gets 503 with Retry-After before any "
        "pppd starts (-1 = max_negotiating/8, at least 1, so that eight sources are needed "
        "to fill max_negotiating; 0 = unlimited)"),
    OPT("limits", "source_prefix4", CFG_INT, source_prefix4, 1, 32, "32",
        "IPv4 prefix length that counts as one source for max_negotiating_per_source"),
    OPT("limits", "source_prefix6", CFG_INT, source_prefix6, 1, 128, "64",
        "IPv6 prefix length that counts as one source for max_negotiating_per_source (one "
        "host usually owns a whole /64)"),
    OPT("limits", "per_source_rate", CFG_INT, per_source_rate, 0, 1000000, "20",
        "new connections per second from one source address on the tls listener (0 = "
        "unlimited); one more is answered HTTP 503 with Retry-After after its TLS handshake "
        "and request head, and counted (refused{reason=per_source_rate})"),
    OPT("limits", "per_source_burst", CFG_INT, per_source_burst, 1, 1000000, "40",
        "burst allowance of per_source_rate"),

    RDS_CONFIG_OPTS(struct be_config, redis, "empty = standalone (no registry, stats or policy)"),
    OPT("redis", "heartbeat", CFG_MSEC, heartbeat, 0.2, 60, "2s",
        "how often the registry entry is refreshed"),
    OPT("redis", "registry_ttl", CFG_MSEC, registry_ttl, 1, 600, "6s",
        "a backend that misses heartbeats for this long disappears from the registry"),
    OPT("redis", "stats_interval", CFG_MSEC, stats_interval, 1, 3600, "10s",
        "every live session (hash, indexes, byte counters) is written again this often, "
        "spread over the interval"),
    OPT("redis", "events_max", CFG_INT, events_max, 100, 10000000, "10000",
        "approximate length cap of the event stream"),

    OPT("policy", "max_sessions_per_user", CFG_INT, max_per_user, 0, 100000, "0",
        "sessions one user may hold across the whole fleet (0 = unlimited; needs redis)"),
    OPT_ENUM("policy", "per_user_action", per_user_action, user_actions, "deny",
             "over the limit: deny the new session, or replace (disconnect) the oldest"),
    OPT_ENUM("policy", "per_user_normalize", per_user_normalize, user_norms, "none",
             "which names are one user: none = the exact authenticated name (bytes); fold = "
             "ASCII case folded with DOMAIN\\ and @realm stripped, so Alice, CORP\\alice and "
             "alice@corp count as one. With RADIUS or Active Directory (which accept all three "
             "spellings as one account) set fold, or max_sessions_per_user can be passed by "
             "changing the spelling"),
};
const size_t be_config_table_len = sizeof be_config_table / sizeof be_config_table[0];

static bool set(const char *s)
{
    return s && s[0];
}

static bool is_wildcard(const struct net_addr *a)
{
    static const struct in6_addr any6 = IN6ADDR_ANY_INIT;
    if (a->ss.ss_family == AF_INET)
        return ((const struct sockaddr_in *)&a->ss)->sin_addr.s_addr == htonl(INADDR_ANY);
    const struct in6_addr *a6 = &((const struct sockaddr_in6 *)&a->ss)->sin6_addr;
    return memcmp(a6, &any6, sizeof any6) == 0 ||
           (IN6_IS_ADDR_V4MAPPED(a6) && memcmp(&a6->s6_addr[12], "\0\0\0\0", 4) == 0);
}

/* What the registry will publish (backend/fleet.c: advertise, else the
 * proxy, mtls or tls listener) must be an address a proxy can connect to:
 * a wildcard would register 0.0.0.0:4433, which proxies refuse. */
static bool registrable(const struct be_config *c, char *err, size_t err_len, const char *path)
{
    const char *name = set(c->advertise) ? "backend.advertise"
                       : set(c->listen_proxy) ? "listen.proxy"
                       : set(c->listen_mtls) ? "listen.mtls" : "listen.tls";
    const char *addr = set(c->advertise) ? c->advertise
                       : set(c->listen_proxy) ? c->listen_proxy
                       : set(c->listen_mtls) ? c->listen_mtls : c->listen_tls;
    struct net_addr a;
    if (net_addr_parse(&a, addr) == -1 || is_wildcard(&a)) {
        snprintf(err, err_len, "%s: %s = %s is a wildcard address and would be registered in Redis "
                 "as such: set backend.advertise to the ip:port proxies connect to", path, name, addr);
        return false;
    }
    return true;
}

int be_config_load(struct be_config *c, const char *path, char *err, size_t err_len)
{
    if (cfg_load(be_config_table, be_config_table_len, c, path, err, err_len) == -1 ||
        cfg_apply_env(be_config_table, be_config_table_len, c, BE_ENV_PREFIX, err, err_len) == -1)
        return -1;
    /* backend.admin (or SSTP_BACKEND_BACKEND_ADMIN) is admin.address under
     * its old name: kept working, main() warns once logging is set up */
    if (set(c->admin_old_name)) {
        c->admin_old_name_used = true;
        if (!set(c->admin)) {
            char *swap = c->admin;
            c->admin = c->admin_old_name;
            c->admin_old_name = swap;
        }
    }
    if (!set(c->listen_tls) && !set(c->listen_proxy) && !set(c->listen_mtls)) {
        snprintf(err, err_len, "%s: no listener: set listen.tls, listen.proxy or listen.mtls", path);
        return -1;
    }
    if ((set(c->listen_tls) || set(c->listen_mtls)) && (!set(c->cert) || !set(c->key))) {
        snprintf(err, err_len, "%s: tls.cert and tls.key are required by the tls/mtls listeners", path);
        return -1;
    }
    if (set(c->listen_mtls) && !set(c->proxy_ca)) {
        snprintf(err, err_len, "%s: tls.proxy_ca is required by listen.mtls", path);
        return -1;
    }
    struct rds_opts ro;
    char why[CFG_ERR_MAX];
    if (rds_config_opts(&ro, &c->redis, why, sizeof why) == -1) {
        snprintf(err, err_len, "%s: %s", path, why);
        return -1;
    }
    if (c->max_per_user > 0 && !rds_config_enabled(&c->redis)) {
        snprintf(err, err_len, "%s: policy.max_sessions_per_user needs redis.url (the count is fleet-wide)", path);
        return -1;
    }
    if (c->registry_ttl <= c->heartbeat) {
        snprintf(err, err_len, "%s: redis.registry_ttl must be longer than redis.heartbeat", path);
        return -1;
    }
    if (rds_config_enabled(&c->redis) && !registrable(c, err, err_len, path))
        return -1;
    if (c->max_negotiating_per_source == -1)
        c->max_negotiating_per_source = c->max_negotiating / 8 > 0 ? c->max_negotiating / 8 : 1;
    if (set(c->listen_proxy) && c->proxy_allow.n == 0) {
        snprintf(err, err_len, "%s: listen.proxy needs listen.proxy_allow (which sources may send PROXY headers)", path);
        return -1;
    }
    return 0;
}

void be_config_free(struct be_config *c)
{
    cfg_free(be_config_table, be_config_table_len, c);
}
