/* config.c — sstp-proxy's option table, the parsers of its list options
 * (bind, cert, server) and the checks across options. */
#include "proxy/config.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/admin.h"
#include "core/ktls.h"
#include "core/tls.h"
#include "lb/affinity.h"
#include "lb/health.h"
#include "lb/redis.h"
#include "lb/registry.h"
#include "lb/redis_config.h"
#include "proxy/sni.h"

static const char *const levels[] = { "error", "warn", "info", "debug", NULL };
static const char *const formats[] = { "text", "json", NULL };
static const char *const untrusted[] = { "reject", "direct", NULL };
static const char *const verify[] = { "none", "optional", "required", NULL };
static const char *const http_errors[] = { "status", "silent", NULL };
static const char *const crl_checks[] = { "leaf", "chain", NULL };

#define WORKERS_MAX 256
#define TOKEN_MAX 1024


static int parse_workers(void *field, const char *val, char *err, size_t err_len)
{
    char *end;
    if (strcmp(val, "auto") == 0) {
        *(long *)field = 0;
        return 0;
    }
    errno = 0;
    long n = strtol(val, &end, 10);
    if (!*val || *end || errno || n < 1 || n > WORKERS_MAX) {
        snprintf(err, err_len, "'%s' is not auto or 1..%d", val, WORKERS_MAX);
        return -1;
    }
    *(long *)field = n;
    return 0;
}

static int parse_max_conns(void *field, const char *val, char *err, size_t err_len)
{
    char *end;
    if (strcmp(val, "auto") == 0) {
        *(long *)field = 0;
        return 0;
    }
    errno = 0;
    long n = strtol(val, &end, 10);
    if (!*val || *end || errno || n < 1 || n > 10000000) {
        snprintf(err, err_len, "'%s' is not auto or 1..10000000", val);
        return -1;
    }
    *(long *)field = n;
    return 0;
}




/* bind = ADDRESS [proxy] */
static int parse_bind(void *field, const char *val, char *err, size_t err_len)
{
    struct px_bind_list *l = field;
    struct px_bind b;
    char tok[TOKEN_MAX];
    const char *p = val;
    memset(&b, 0, sizeof b);
    if (cfg_next_token(&p, tok, sizeof tok) <= 0 || net_addr_parse(&b.addr, tok) == -1 ||
        strlen(tok) >= sizeof b.text) {
        snprintf(err, err_len, "'%s' is not ip:port, [ipv6]:port or *:port", val);
        return -1;
    }
    memcpy(b.text, tok, strlen(tok) + 1);
    int n;
    while ((n = cfg_next_token(&p, tok, sizeof tok)) != 0) {
        if (n > 0 && strcmp(tok, "proxy") == 0 && !b.proxy) {
            b.proxy = true;
        } else {
            snprintf(err, err_len, "unknown or repeated bind option '%s' (proxy)", n > 0 ? tok : "?");
            return -1;
        }
    }
    struct px_bind *g = realloc(l->items, (l->n + 1) * sizeof *g);
    if (!g) {
        snprintf(err, err_len, "out of memory");
        return -1;
    }
    l->items = g;
    l->items[l->n++] = b;
    return 0;
}

/* A host name or *.domain of passthrough and route lines, lower-cased in
 * place. Returns 0, or -1 with err set. */
static int host_pattern(char *name, char *err, size_t err_len)
{
    for (char *q = name; *q; q++) {
        bool wild_ok = q == name && q[0] == '*' && q[1] == '.';
        if (!wild_ok && !isalnum((unsigned char)*q) && *q != '-' && *q != '_' && *q != '.') {
            snprintf(err, err_len, "'%s' is not a host name (or *.domain)", name);
            return -1;
        }
        *q = (char)tolower((unsigned char)*q);
    }
    return 0;
}

/* passthrough = NAME ADDRESS [proxy_header=v2|none] */
static int parse_passthrough(void *field, const char *val, char *err, size_t err_len)
{
    struct px_pass_list *l = field;
    struct px_pass e = { 0 };
    char name[TOKEN_MAX], tok[TOKEN_MAX];
    const char *p = val;
    if (cfg_next_token(&p, name, sizeof name) <= 0 || strlen(name) > PX_SNI_MAX || name[0] == '\0') {
        snprintf(err, err_len, "'%s': expected NAME ADDRESS [proxy_header=v2|none]", val);
        return -1;
    }
    if (host_pattern(name, err, err_len) == -1)
        return -1;
    if (cfg_next_token(&p, tok, sizeof tok) <= 0 || net_addr_parse(&e.addr, tok) == -1 ||
        tok[0] == '*') {
        snprintf(err, err_len, "passthrough %s: '%s' is not ip:port or [ipv6]:port", name, val);
        return -1;
    }
    int n;
    while ((n = cfg_next_token(&p, tok, sizeof tok)) != 0) {
        if (n > 0 && strcmp(tok, "proxy_header=v2") == 0)
            e.pp2 = true;
        else if (n > 0 && strcmp(tok, "proxy_header=none") == 0)
            e.pp2 = false;
        else {
            snprintf(err, err_len, "unknown passthrough option '%s' (proxy_header=v2|none)",
                     n > 0 ? tok : "?");
            return -1;
        }
    }
    for (size_t i = 0; i < l->n; i++)
        if (strcmp(l->items[i].name, name) == 0) {
            snprintf(err, err_len, "passthrough %s: the name is given twice", name);
            return -1;
        }
    struct px_pass *g = realloc(l->items, (l->n + 1) * sizeof *g);
    if (!g || !(e.name = strdup(name))) {
        if (g)
            l->items = g;
        snprintf(err, err_len, "out of memory");
        return -1;
    }
    l->items = g;
    l->items[l->n++] = e;
    return 0;
}

static void release_passthrough(void *field)
{
    struct px_pass_list *l = field;
    for (size_t i = 0; i < l->n; i++)
        free(l->items[i].name);
    free(l->items);
    l->items = NULL;
    l->n = 0;
}

/* web = ADDRESS [proxy_header=v2|none] [headers=forwarded|none], or "" (off) */
static int parse_web(void *field, const char *val, char *err, size_t err_len)
{
    struct px_web *web = field;
    char tok[TOKEN_MAX];
    const char *p = val;
    memset(web, 0, sizeof *web);
    int n = cfg_next_token(&p, tok, sizeof tok);
    if (n == 0)
        return 0;
    if (n < 0 || net_addr_parse(&web->addr, tok) == -1 || tok[0] == '*' ||
        strlen(tok) >= sizeof web->text) {
        snprintf(err, err_len, "'%s' is not ip:port or [ipv6]:port", val);
        return -1;
    }
    memcpy(web->text, tok, strlen(tok) + 1);
    while ((n = cfg_next_token(&p, tok, sizeof tok)) != 0) {
        if (n > 0 && strcmp(tok, "proxy_header=v2") == 0)
            web->pp2 = true;
        else if (n > 0 && strcmp(tok, "proxy_header=none") == 0)
            web->pp2 = false;
        else if (n > 0 && strcmp(tok, "headers=forwarded") == 0)
            web->forwarded = true;
        else if (n > 0 && strcmp(tok, "headers=none") == 0)
            web->forwarded = false;
        else {
            snprintf(err, err_len, "unknown web option '%s' (proxy_header=v2|none, headers=forwarded|none)",
                     n > 0 ? tok : "?");
            return -1;
        }
    }
    web->on = true;
    return 0;
}

/* route = NAME GROUP */
static int parse_route(void *field, const char *val, char *err, size_t err_len)
{
    struct px_route_list *l = field;
    struct px_route r = { 0 };
    char name[TOKEN_MAX], group[TOKEN_MAX], extra[TOKEN_MAX];
    const char *p = val;
    if (cfg_next_token(&p, name, sizeof name) <= 0 || strlen(name) > PX_SNI_MAX ||
        cfg_next_token(&p, group, sizeof group) <= 0 || cfg_next_token(&p, extra, sizeof extra) != 0) {
        snprintf(err, err_len, "'%s': expected NAME GROUP", val);
        return -1;
    }
    if (host_pattern(name, err, err_len) == -1)
        return -1;
    for (const char *q = group; *q; q++)
        if (!isalnum((unsigned char)*q) && *q != '-' && *q != '_' && *q != '.') {
            snprintf(err, err_len, "route %s: group '%s' has a byte outside letters, digits, "
                     "'-', '_' and '.'", name, group);
            return -1;
        }
    if (strlen(group) >= LB_GROUP_MAX) {
        snprintf(err, err_len, "route %s: group longer than %d bytes", name, LB_GROUP_MAX - 1);
        return -1;
    }
    for (size_t i = 0; i < l->n; i++)
        if (strcmp(l->items[i].name, name) == 0) {
            snprintf(err, err_len, "route %s: the name is given twice", name);
            return -1;
        }
    struct px_route *g = realloc(l->items, (l->n + 1) * sizeof *g);
    if (g)
        l->items = g;
    if (!g || !(r.name = strdup(name)) || !(r.group = strdup(group))) {
        free(r.name);
        snprintf(err, err_len, "out of memory");
        return -1;
    }
    l->items[l->n++] = r;
    return 0;
}

static void release_routes(void *field)
{
    struct px_route_list *l = field;
    for (size_t i = 0; i < l->n; i++) {
        free(l->items[i].name);
        free(l->items[i].group);
    }
    free(l->items);
    l->items = NULL;
    l->n = 0;
}

static void release_binds(void *field)
{
    struct px_bind_list *l = field;
    free(l->items);
    l->items = NULL;
    l->n = 0;
}

static void cert_spec_free(struct px_cert_spec *s)
{
    free(s->cert);
    free(s->key);
    free(s->ocsp);
    for (size_t i = 0; i < s->n_names; i++)
        free(s->names[i]);
    free(s->names);
    memset(s, 0, sizeof *s);
}

static int add_names(struct px_cert_spec *s, const char *list, char *err, size_t err_len)
{
    const char *p = list;
    if (!*p) {
        snprintf(err, err_len, "sni= wants host names separated by ','");
        return -1;
    }
    while (*p) {
        const char *start = p;
        while (*p && *p != ',')
            p++;
        size_t n = (size_t)(p - start);
        if (*p == ',')
            p++;
        if (n == 0 || n > 253) {
            snprintf(err, err_len, "sni= wants host names separated by ','");
            return -1;
        }
        char **g = realloc(s->names, (s->n_names + 1) * sizeof *g);
        if (!g)
            goto oom;
        s->names = g;
        if (!(s->names[s->n_names] = strndup(start, n)))
            goto oom;
        s->n_names++;
    }
    return 0;
oom:
    snprintf(err, err_len, "out of memory");
    return -1;
}

/* cert = CERTFILE [KEYFILE] [ocsp=FILE] [sni=NAME,...] [default] */
static int parse_cert(void *field, const char *val, char *err, size_t err_len)
{
    struct px_cert_list *l = field;
    struct px_cert_spec s;
    char tok[TOKEN_MAX];
    const char *p = val;
    int n;
    memset(&s, 0, sizeof s);
    if (cfg_next_token(&p, tok, sizeof tok) <= 0 || strchr(tok, '=')) {
        snprintf(err, err_len, "cert wants a certificate file first");
        return -1;
    }
    if (!(s.cert = strdup(tok)))
        goto oom;
    while ((n = cfg_next_token(&p, tok, sizeof tok)) != 0) {
        if (n < 0) {
            snprintf(err, err_len, "cert option too long");
            goto fail;
        }
        if (strncmp(tok, "ocsp=", 5) == 0 && !s.ocsp && tok[5]) {
            if (!(s.ocsp = strdup(tok + 5)))
                goto oom;
        } else if (strncmp(tok, "sni=", 4) == 0 && !s.names) {
            if (add_names(&s, tok + 4, err, err_len) == -1)
                goto fail;
        } else if (strcmp(tok, "default") == 0 && !s.is_default) {
            s.is_default = true;
        } else if (!strchr(tok, '=') && !s.key && !s.ocsp && !s.names && !s.is_default) {
            if (!(s.key = strdup(tok)))
                goto oom;
        } else {
            snprintf(err, err_len, "unknown or repeated cert option '%s' "
                     "(CERT [KEY] [ocsp=FILE] [sni=NAME,...] [default])", tok);
            goto fail;
        }
    }
    if (!s.key && !(s.key = strdup(s.cert)))
        goto oom;
    struct px_cert_spec *g = realloc(l->items, (l->n + 1) * sizeof *g);
    if (!g)
        goto oom;
    l->items = g;
    l->items[l->n++] = s;
    return 0;
oom:
    snprintf(err, err_len, "out of memory");
fail:
    cert_spec_free(&s);
    return -1;
}

static void release_certs(void *field)
{
    struct px_cert_list *l = field;
    for (size_t i = 0; i < l->n; i++)
        cert_spec_free(&l->items[i]);
    free(l->items);
    l->items = NULL;
    l->n = 0;
}

static int parse_server(void *field, const char *val, char *err, size_t err_len)
{
    return lb_spec_parse(field, val, err, err_len);
}

static void release_servers(void *field)
{
    lb_spec_list_free(field);
}

/* A listen address, checked as it is read so the error has its line. */

#define OPT(sec, nm, ty, fld, mn, mx, df, hlp) \
    { sec, nm, ty, offsetof(struct px_config, fld), mn, mx, df, NULL, NULL, NULL, hlp }
#define OPT_ENUM(sec, nm, fld, ch, df, hlp) \
    { sec, nm, CFG_ENUM, offsetof(struct px_config, fld), 0, 0, df, ch, NULL, NULL, hlp }
#define OPT_CUSTOM(sec, nm, fld, df, p, r, hlp) \
    { sec, nm, CFG_CUSTOM, offsetof(struct px_config, fld), 0, 0, df, NULL, p, r, hlp }

const struct cfg_opt px_config_table[] = {
    OPT("proxy", "id", CFG_STR, id, 0, 0, "proxy-1",
        "name of this proxy in logs, metrics and the PROXY v2 metadata TLV sent to backends (1-64 bytes)"),
    OPT_ENUM("proxy", "log_level", log_level, levels, "info", "least severe level logged"),
    OPT_ENUM("proxy", "log_format", log_format, formats, "text",
             "text: key=value lines; json: one JSON object per line"),
    OPT_CUSTOM("proxy", "workers", workers, "auto", parse_workers, NULL,
               "worker processes, each with its own event loop and SO_REUSEPORT listeners; "
               "auto = one per CPU core. A master process supervises them"),
    OPT_CUSTOM("proxy", "max_conns", max_conns, "auto", parse_max_conns, NULL,
               "connections one worker holds at once (a relayed session costs two open files); "
               "auto = (open-files limit - 64) / 2. At the limit the worker stops accepting"),

    OPT_CUSTOM("listen", "bind", binds, NULL, parse_bind, release_binds,
               "ADDRESS [proxy]: where clients connect, e.g. *:443 (IPv6 and IPv4) or "
               "0.0.0.0:443 (repeatable). With `proxy`, a PROXY v1/v2 header from a load "
               "balancer in proxy_allow comes first"),
    OPT_CUSTOM("listen", "proxy_allow", proxy_allow, NULL, cfg_parse_cidrs, cfg_release_cidrs,
               "source addresses/CIDRs whose PROXY headers are honoured on `proxy` binds "
               "(repeatable)"),
    OPT_ENUM("listen", "proxy_untrusted", proxy_untrusted, untrusted, "reject",
             "a `proxy` bind's connection from outside proxy_allow: reject = close it (counted); "
             "direct = treat it as a client without a PROXY header"),
    OPT("listen", "backlog", CFG_INT, backlog, 16, 65535, "1024", "listen() backlog of each socket"),
    OPT("listen", "handshake_timeout", CFG_MSEC, handshake_timeout, 0.1, 300, "10s",
        "time from accept to a finished TLS handshake, PROXY header included"),
    OPT("listen", "request_timeout", CFG_MSEC, request_timeout, 0.1, 300, "10s",
        "time from the TLS handshake to a complete HTTP request head (slowloris bound)"),
    OPT("listen", "max_head", CFG_INT, max_head, 256, 8192, "4096",
        "largest HTTP request head accepted, bytes (real SSTP heads are about 200)"),
    OPT_ENUM("listen", "http_errors", http_errors, http_errors, "status",
             "a rejected request: status = answer 400/404/405/411/505 and close; "
             "silent = close without an answer"),
    OPT_CUSTOM("listen", "passthrough", passthrough, NULL, parse_passthrough, release_passthrough,
               "NAME ADDRESS [proxy_header=v2|none] (repeatable): a TLS client whose ClientHello "
               "names NAME (SNI; *.example.com matches one label in front) is not terminated "
               "here: its bytes go to ADDRESS as they came (e.g. an RRAS server or another HTTPS "
               "service keeping its own certificate), after a PROXY v2 header with the client's "
               "address if proxy_header=v2. A ClientHello without SNI or with any other name is "
               "terminated here as usual; a malformed one is closed (rejects_total{rc=E_HELLO_*}). "
               "Bounded like a session: handshake_timeout until the target connected, then idle_timeout, "
               "per_source limits and max_conns"),

    OPT("limits", "per_source_rate", CFG_INT, per_source_rate, 0, 1000000, "0",
        "new connections a second from one source (an address prefix, see source_prefix4/6), "
        "per worker, counted on the real client address (after a trusted PROXY header); more "
        "are closed at once (counted: refused{reason=source_rate}). 0 = no limit: many users "
        "can share one address behind a NAT"),
    OPT("limits", "per_source_burst", CFG_INT, per_source_burst, 1, 1000000, "20",
        "connections one source may open at once above per_source_rate"),
    OPT("limits", "per_source_conns", CFG_INT, per_source_conns, 0, 1000000, "256",
        "connections (handshakes and sessions) one source holds at once, per worker; more are "
        "closed at once (refused{reason=source_conns}). Keep it below max_handshakes, so one "
        "source cannot take every handshake slot. 0 = no limit"),
    OPT("limits", "source_prefix4", CFG_INT, source_prefix4, 1, 32, "32",
        "bits of an IPv4 address that name one source"),
    OPT("limits", "source_prefix6", CFG_INT, source_prefix6, 1, 128, "64",
        "bits of an IPv6 address that name one source (one host owns a /64). A change of "
        "either prefix applies to per_source_conns at the next start"),
    OPT("limits", "max_handshakes", CFG_INT, max_handshakes, 0, 1000000, "1024",
        "connections of one worker before their backend answered (PROXY header, TLS, request, "
        "backend connect); more are closed at accept (refused{reason=handshakes}). 0 = no limit"),

    OPT("limits", "relay_memory", CFG_INT, relay_memory, 0, 16777216, "262144",
        "KiB of buffers one worker may hold for relaying (a busy session holds up to 192 KiB, "
        "an idle one none). Beyond it, a session that holds none stops reading until buffers "
        "are given back (back-pressure: nothing grows, nothing is dropped; counted in "
        "relay_memory_waits); one that holds a buffer may still take its second, so a round "
        "trip in progress always finishes: at most about twice this. The staging buffer of "
        "the TLS records going to a client (64 KiB while a session sends) is not counted: "
        "with it a worker may hold up to about three times this. 0 = no limit"),

    OPT_CUSTOM("tls", "cert", certs, NULL, parse_cert, release_certs,
               "CERTFILE [KEYFILE] [ocsp=DERFILE] [sni=NAME,...] [default] (repeatable): a "
               "certificate (RSA or ECDSA, full chain) and its key (default: in CERTFILE). It "
               "serves the SNI names given, else those of its SAN/CN (*.example.com matches one "
               "label). `default` marks the certificates for clients with no or an unknown SNI "
               "(one RSA and one ECDSA at most); without any, the first line is the default. "
               "Given both an ECDSA and an RSA certificate for a name, clients that support "
               "ECDSA get it. ocsp= staples that response (reloaded with SIGHUP)"),
    OPT("tls", "ciphers", CFG_STR, ciphers, 0, 0, SSTPLB_TLS12_CIPHERS,
        "TLS 1.2 cipher list (TLS 1.0/1.1 are never offered)"),
    OPT("tls", "ciphersuites", CFG_STR, ciphersuites, 0, 0, SSTPLB_TLS13_SUITES,
        "TLS 1.3 cipher suites"),
    OPT("tls", "groups", CFG_STR, groups, 0, 0, SSTPLB_TLS_GROUPS,
        "key exchange groups, most preferred first (OpenSSL names, ':' separated); the "
        "default leaves out the finite-field ffdhe groups, which cost the server more than "
        "the client that asks for them"),
    OPT("tls", "client_ca", CFG_STR, client_ca, 0, 0, NULL,
        "CA file to verify client certificates against (needs client_verify)"),
    OPT_ENUM("tls", "client_verify", client_verify, verify, "none",
             "client certificates: none; optional = verified when sent; required. The SHA-256 "
             "of a client certificate goes to the backend in the metadata TLV"),
    OPT("tls", "client_crl", CFG_STR, client_crl, 0, 0, NULL,
        "PEM CRL files (space separated; a file may hold several CRLs) that client "
        "certificates are checked against (needs client_verify); reloaded with SIGHUP, and a "
        "changed CRL, CA or client_verify makes every earlier session unresumable. A CRL past "
        "its nextUpdate refuses every client certificate (fail closed): renew it, then SIGHUP. "
        "Empty = no revocation check"),
    OPT_ENUM("tls", "client_crl_check", client_crl_check, crl_checks, "leaf",
             "with client_crl: leaf = the client certificate's issuer must have a CRL there; "
             "chain = every CA of the chain must"),
    OPT("tls", "tickets", CFG_BOOL, tickets, 0, 0, "yes",
        "TLS session tickets (resumption). Without ticket_key_file the keys are random at "
        "start, shared by the workers and replaced every ticket_rotate by a one-way step that "
        "erases the old key (forward secrecy)"),
    OPT("tls", "ticket_rotate", CFG_MSEC, ticket_rotate, 60, 86400, "1h",
        "lifetime of a ticket and, without ticket_key_file, of one key; tickets of the "
        "previous key are still accepted (and renewed). A change needs a restart for the "
        "random keys"),
    OPT("tls", "expiry_warn_days", CFG_INT, expiry_warn_days, 0, 365, "21",
        "log a warning (cert_expiring) from this many days before a served certificate's "
        "notAfter, at start, at each reload and once a day while running; an expired one is an "
        "error (cert_expired). --check-config warns too. 0 = never. Each certificate's notAfter "
        "is in /metrics either way (sstp_proxy_cert_not_after_seconds)"),
    OPT("tls", "ticket_key_file", CFG_STR, ticket_key_file, 0, 0, NULL,
        "ticket keys shared by several proxies, so they resume each other's sessions: one "
        "base64 key of 32..96 random bytes per line (openssl rand -base64 48), up to 8; the "
        "first encrypts new tickets, all decrypt. Rotate them yourself (add a new first line, "
        "drop the last, SIGHUP: the dropped key is erased); keep the file 0600 and off disk "
        "backups (tmpfs). Empty = random keys, see tickets"),
    OPT("tls", "keylog_file", CFG_STR, keylog_file, 0, 0, NULL,
        "append TLS secrets in NSS key log format (debugging only: it decrypts traffic); "
        "empty = off"),
    OPT("tls", "alpn", CFG_BOOL, alpn, 0, 0, "yes",
        "answer ALPN http/1.1 when a client offers it (SSTP does not use ALPN, some "
        "middleboxes dislike a missing answer)"),
    OPT_ENUM("tls", "ktls", ktls, ktls_mode_names, "auto",
             "kernel TLS (Linux tls module) for relayed sessions. "
             "A TLS 1.2 session the kernel takes both ways is relayed without OpenSSL, whose "
             "per-session state is freed (less memory per idle session in the process, some "
             "more in the kernel). TLS 1.3 (OpenSSL 3.0) only sends through the kernel, frees "
             "nothing, and a client's KeyUpdate asking for ours closes the session "
             "(rc=E_TLS_KEY_UPDATE). off; auto = clients' TLS 1.2 sessions where the kernel has "
             "it, else user space (one log line at start); on = TLS 1.2 and 1.3, the links to "
             "tls backends too, and refuse to start without kernel support. "
             "sstp_proxy_ktls_sessions shows which sessions use it"),

    OPT_CUSTOM("backends", "server", servers, NULL, parse_server, release_servers,
               "NAME ADDRESS [weight=N] [maxconn=N] [tls] [sni=HOST] [group=NAME] "
               "[probe=sstp|http|tcp] [proxy_header=inside|before|none] (repeatable): an "
               "sstp-backend proxy listener, or another SSTP server; weight 0..256 (0 = "
               "drained); tls = connect with TLS, verify the backend against backend_ca and "
               "present backend_cert (mTLS); sni= also checks the backend certificate's name. "
               "group= puts it in a tenant group: a request whose URI has ?tenantid=NAME goes "
               "only to backends of group NAME, a request without a tenantid only to backends "
               "without a group (503 when none serves it; see tenant_strict). probe= overrides "
               "health.probe for this server (accel-ppp: http, it answers HEAD with 501; "
               "SoftEther, RRAS: http or tcp). proxy_header= places our PROXY v2 header: inside "
               "TLS (default; sstp-backend's mtls listener), before the TLS handshake (accel-ppp "
               "accept=ssl,proxy; HAProxy's convention: not integrity-protected, so only on a "
               "network you control), or none (SoftEther, RRAS: they see this proxy's address, "
               "and check the crypto binding against their own certificate, so give them the "
               "certificate this proxy presents; see the README's deployments table). Backends "
               "registered in Redis (redis.url) are added to these; a registered backend with "
               "the name of a server line is ignored"),
    OPT_ENUM("backends", "policy", policy, lb_policy_names, "leastconn",
             "leastconn = fewest sessions of this worker per weight; wrr = smooth weighted "
             "round robin; leastsessions = fewest sessions fleet-wide per weight (the counts "
             "backends publish in Redis, plus this worker's picks since); chash = consistent "
             "hashing on the affinity key (needs affinity.mode; leastconn for connections "
             "without a key)"),
    OPT("backends", "connect_timeout", CFG_MSEC, connect_timeout, 0.1, 120, "5s",
        "time for a backend to accept, finish TLS and answer the request head. One that did "
        "not accept or finish TLS in time is marked down; one that accepted but has not "
        "answered yet is only slow (a surge): the next one is tried, nothing is marked, and "
        "each further attempt of that session waits twice as long (up to 8 times)"),
    OPT("backends", "retries", CFG_INT, retries, 0, LB_TRIES_MAX - 1, "2",
        "further backends tried when one refuses or times out before any byte was relayed"),
    OPT("backends", "down_time", CFG_MSEC, down_time, 0.1, 3600, "10s",
        "how long a backend that failed is skipped. Only what a backend did counts: "
        "refused, reset, closed or answered a server error (5xx but 503) before its 200, "
        "connect or TLS timeout, TLS verification failure; never a client's request (a 4xx "
        "answer goes to the client), a 503 (busy: the next one is tried) nor this proxy's own "
        "lack of resources (open files, memory, ports)"),
    OPT("backends", "panic_threshold", CFG_INT, panic_threshold, 0, 100, "50",
        "percent: when fewer of the backends that could take a session are up, their down "
        "marks are ignored and sessions spread over all of them (Envoy's panic mode) instead "
        "of 503; 0 = never"),
    OPT_CUSTOM("backends", "route", routes, NULL, parse_route, release_routes,
               "NAME GROUP (repeatable): requests for the server name NAME go to the backends "
               "of group= GROUP (*.example.com matches one label in front; an exact name wins). "
               "Which name counts: ?tenantid= first (a request with a non-empty tenantid goes "
               "to that group, routes never override it), else the TLS SNI if the client sent "
               "one (the name whose certificate it verified), else the Host header (clients "
               "without SNI: sstpc, MikroTik before 7.15); no match = the default group. A "
               "group no backend serves answers 503 (no_backend_for_tenant). Routing is not "
               "access control: any client may name any group with ?tenantid="),
    OPT_CUSTOM("backends", "web", web, "", parse_web, NULL,
               "ADDRESS [proxy_header=v2|none] [headers=forwarded|none]: a plain HTTP server that gets every request "
               "on this port that is not SSTP (another method or URI, after TLS termination), "
               "so a website can share port 443: the request head and everything after it are "
               "streamed both ways (HTTP/1.1 keep-alive included) until either side closes, "
               "bounded by connect_timeout, session.idle_timeout and fin_timeout. "
               "proxy_header=v2 sends a PROXY v2 header with the client's address first (nginx "
               "`listen ... proxy_protocol`). headers=forwarded (with or without it) rewrites the head: "
               "the client's X-Forwarded-For and Forwarded headers are dropped and ours added "
               "(X-Forwarded-For: IP, Forwarded: for=IP;proto=https), with Connection: close, "
               "since later requests on the connection are streamed unread and could not be "
               "rewritten: one request per connection then. The SSTP URI still goes to the SSTP backends and "
               "its HEAD probe is answered here; a malformed or too long head, or a broken "
               "request for the SSTP URI, is still refused. Empty = off: other requests get "
               "the listen.http_errors answer as before"),
    OPT("backends", "tenant_strict", CFG_BOOL, tenant_strict, 0, 0, "no",
        "a request with ?tenantid= when no backend has a group: no = it goes to the default "
        "pool (clients that always send one work); yes = 503 (no_backend_for_tenant). With "
        "groups, a tenantid no group serves gets 503 either way"),
    OPT("backends", "ca", CFG_STR, backend_ca, 0, 0, NULL,
        "CA file that signs the backends' certificates (required by tls servers)"),
    OPT("backends", "cert", CFG_STR, backend_cert, 0, 0, NULL,
        "this proxy's client certificate for tls servers (mTLS)"),
    OPT("backends", "key", CFG_STR, backend_key, 0, 0, NULL,
        "key of backends.cert (default: in the same file)"),

    OPT("session", "idle_timeout", CFG_MSEC, idle_timeout, 1, 86400, "5m",
        "a relayed session with no byte either way for this long is closed (SSTP echoes "
        "every 60 s by default)"),
    OPT("session", "fin_timeout", CFG_MSEC, fin_timeout, 0.1, 3600, "30s",
        "once one side has closed, time left to the other before the session is closed"),
    OPT("session", "drain_timeout", CFG_MSEC, drain_timeout, 0, 86400, "30s",
        "SIGTERM: sessions may go on this long before they are closed; workers still running "
        PX_STR(PX_KILL_SLACK_S) " s later are killed. A service manager's stop timeout must be "
        "longer than both (systemd TimeoutStopSec, compose stop_grace_period)"),

    ADMIN_CONFIG_OPT(struct px_config, admin, "127.0.0.1:9180", "of the master process"),

    RDS_CONFIG_OPTS(struct px_config, redis,
                    "it holds the backend registry, session affinity and fleet counters; empty = "
                    "none (static servers only). Each worker keeps its own connection; while Redis "
                    "is away the last registry and the static servers stay in use"),
    OPT("redis", "registry_interval", CFG_MSEC, registry_interval, 0.1, 60, "1s",
        "how often the backend registry is read (one round trip); additions, removals, weights "
        "and drains take effect without a restart"),
    OPT_CUSTOM("redis", "registry_allow", registry_allow, NULL, cfg_parse_cidrs, cfg_release_cidrs,
               "addresses/CIDRs registered backends may have (repeatable); an entry elsewhere is "
               "ignored and counted (sstp_proxy_registry_ignored_total). Whoever can write Redis "
               "chooses where decrypted PPP goes: set the backends' own networks. Empty = the "
               "private ranges only (10/8, 172.16/12, 192.168/16, 100.64/10, fc00::/7), with a "
               "warning at start. Loopback, 0/8, link-local (169.254/16, fe80::/10: cloud "
               "metadata), multicast, reserved and metadata addresses (also Azure's "
               "168.63.129.16) are refused even within a wider entry: allow them with an entry "
               "inside their range (e.g. 127.0.0.0/8 for tests); IPv6 addresses embedding such "
               "an IPv4 address (64:ff9b::/96, ::/96, 2002::/16) are always refused"),
    OPT("redis", "registry_mtls_only", CFG_BOOL, registry_mtls_only, 0, 0, "no",
        "use only registered backends of kind mtls (needs backends.ca); a registered mtls "
        "backend is always verified against backends.ca and its certificate must carry its "
        "registered id as a DNS name"),
    OPT("redis", "registry_grace", CFG_MSEC, registry_grace, 0, 3600, "30s",
        "a registry read that comes back empty or with fewer than half the backends (Redis "
        "restarted empty, FLUSHALL) is not taken for this long: the last list stays in use "
        "until the backends re-register; 0 = take every read at once"),
    OPT("redis", "events_max", CFG_INT, events_max, 100, 10000000, "10000",
        "approximate length cap of the event stream (reject events of the proxy)"),

    OPT_ENUM("affinity", "mode", aff_mode, lb_aff_mode_names, "none",
             "what makes reconnects the same client: client_ip, client_prefix (its /prefix4 or "
             "/prefix6 network), client_cert (SHA-256 of its TLS certificate), tenant (the "
             "tenantid of the URI); none = no affinity. With Redis the backend chosen is "
             "remembered for ttl, and a reconnect goes back to it while it can take sessions"),
    OPT("affinity", "ttl", CFG_MSEC, aff_ttl, 1, 604800, "30m",
        "how long a choice is remembered (renewed by each session of the key)"),
    OPT("affinity", "prefix4", CFG_INT, aff_prefix4, 0, 32, "24",
        "IPv4 prefix length of client_prefix"),
    OPT("affinity", "prefix6", CFG_INT, aff_prefix6, 0, 128, "64",
        "IPv6 prefix length of client_prefix"),
    OPT("affinity", "lookup_timeout", CFG_MSEC, aff_lookup_timeout, 0.001, 5, "100ms",
        "the longest a new session waits for Redis' answer before choosing without it"),

    OPT("health", "interval", CFG_MSEC, health_interval, 0.1, 60, "500ms",
        "time between two active checks of a backend (by each worker)"),
    OPT("health", "timeout", CFG_MSEC, health_timeout, 0.05, 60, "1s",
        "time one check may take (connect, TLS, answer)"),
    OPT("health", "rise", CFG_INT, health_rise, 1, 100, "2",
        "good checks in a row that bring a backend that failed them back"),
    OPT("health", "fall", CFG_INT, health_fall, 1, 100, "2",
        "failed checks in a row that take a backend out (failed connections of sessions take "
        "it out at once for backends.down_time as well)"),
    OPT_ENUM("health", "probe", health_probe, lb_probe_names, "sstp",
             "sstp = a PROXY v2 LOCAL header and HEAD /sra_{...}/ (sstp-backend answers 200 "
             "while it takes sessions, without starting pppd); http = the same request, any "
             "well-formed HTTP answer but 503 means alive (other SSTP servers: accel-ppp "
             "answers 501); tcp = connect (and TLS for tls servers) only; none = no active "
             "checks at all (a server line's probe= included). A server line's probe= "
             "overrides this per server"),
};
const size_t px_config_table_len = sizeof px_config_table / sizeof px_config_table[0];

static bool set(const char *s)
{
    return s && s[0];
}

static bool has_tls_server(const struct px_config *c)
{
    for (size_t i = 0; i < c->servers.n; i++)
        if (c->servers.items[i].tls)
            return true;
    return false;
}

int px_config_load(struct px_config *c, const char *path, char *err, size_t err_len)
{
    if (cfg_load(px_config_table, px_config_table_len, c, path, err, err_len) == -1 ||
        cfg_apply_env(px_config_table, px_config_table_len, c, PX_ENV_PREFIX, err, err_len) == -1)
        return -1;
    if (!set(c->id) || strlen(c->id) > 64) {
        snprintf(err, err_len, "%s: proxy.id must be 1-64 bytes", path);
        return -1;
    }
    if (c->binds.n == 0) {
        snprintf(err, err_len, "%s: no listener: set listen.bind", path);
        return -1;
    }
    for (size_t i = 0; i < c->binds.n; i++) {
        if (c->binds.items[i].proxy && c->proxy_allow.n == 0) {
            snprintf(err, err_len, "%s: bind %s has `proxy` but listen.proxy_allow is empty",
                     path, c->binds.items[i].text);
            return -1;
        }
    }
    if (c->certs.n == 0) {
        snprintf(err, err_len, "%s: no certificate: set tls.cert", path);
        return -1;
    }
    if (c->servers.n == 0 && !rds_config_enabled(&c->redis)) {
        snprintf(err, err_len, "%s: no backend: set backends.server (or redis.url for the "
                 "backend registry)", path);
        return -1;
    }
    struct rds_opts ro;
    char why[CFG_ERR_MAX];
    if (rds_config_opts(&ro, &c->redis, why, sizeof why) == -1) {
        snprintf(err, err_len, "%s: %s", path, why);
        return -1;
    }
    if (lb_policy_by_index(c->policy) == &lb_policy_chash && c->aff_mode == LB_AFF_NONE) {
        snprintf(err, err_len, "%s: backends.policy = chash hashes the affinity key: set "
                 "affinity.mode", path);
        return -1;
    }
    if (c->client_verify != PX_VERIFY_NONE && !set(c->client_ca)) {
        snprintf(err, err_len, "%s: tls.client_verify needs tls.client_ca", path);
        return -1;
    }
    if (c->client_verify == PX_VERIFY_NONE && set(c->client_crl)) {
        snprintf(err, err_len, "%s: tls.client_crl needs tls.client_verify", path);
        return -1;
    }
    if (has_tls_server(c) && !set(c->backend_ca)) {
        snprintf(err, err_len, "%s: a tls server needs backends.ca", path);
        return -1;
    }
    if (c->registry_mtls_only && (!rds_config_enabled(&c->redis) || !set(c->backend_ca))) {
        snprintf(err, err_len, "%s: redis.registry_mtls_only needs redis.url and backends.ca", path);
        return -1;
    }
    if (set(c->backend_key) && !set(c->backend_cert)) {
        snprintf(err, err_len, "%s: backends.key without backends.cert", path);
        return -1;
    }
    return 0;
}

void px_config_free(struct px_config *c)
{
    cfg_free(px_config_table, px_config_table_len, c);
}


int px_config_redis(const struct px_config *c, struct rds_opts *o)
{
    return rds_config_opts(o, &c->redis, NULL, 0) == 1 ? 0 : -1;
}

void px_config_registry(const struct px_config *c, unsigned worker, struct lb_registry_opts *o)
{
    memset(o, 0, sizeof *o);
    o->interval = c->registry_interval;
    o->grace = c->registry_grace;
    o->id = worker;
    o->policy.allow = &c->registry_allow;
    o->policy.mtls_only = c->registry_mtls_only;
    o->policy.have_tls = set(c->backend_ca);
}

long px_config_workers(const struct px_config *c)
{
    if (c->workers > 0)
        return c->workers;
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n < 1 ? 1 : n > WORKERS_MAX ? WORKERS_MAX : n;
}
