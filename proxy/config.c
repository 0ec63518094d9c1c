/* config.c — sstp-proxy's option table, the parsers of its list options
 * (bind, cert, server) and the checks across options. */
#include "proxy/config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/tls.h"

static const char *const levels[] = { "error", "warn", "info", "debug", NULL };
static const char *const formats[] = { "text", "json", NULL };
static const char *const untrusted[] = { "reject", "direct", NULL };
static const char *const verify[] = { "none", "optional", "required", NULL };
static const char *const http_errors[] = { "status", "silent", NULL };

#define WORKERS_MAX 256
#define TOKEN_MAX 1024

static void release_str(void *field)
{
    free(*(char **)field);
    *(char **)field = NULL;
}

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

static int parse_cidrs(void *field, const char *val, char *err, size_t err_len)
{
    return net_cidr_list_add(field, val, err, err_len);
}

static void release_cidrs(void *field)
{
    net_cidr_list_free(field);
}

/* Copies the next whitespace-separated token of *p into tok. Returns its
 * length, 0 at the end, or -1 if it is too long. */
static int next_token(const char **p, char *tok, size_t tok_len)
{
    const char *s = *p;
    while (*s == ' ' || *s == '\t')
        s++;
    size_t n = 0;
    while (s[n] && s[n] != ' ' && s[n] != '\t')
        n++;
    if (n >= tok_len)
        return -1;
    memcpy(tok, s, n);
    tok[n] = '\0';
    *p = s + n;
    return (int)n;
}

/* bind = ADDRESS [proxy] */
static int parse_bind(void *field, const char *val, char *err, size_t err_len)
{
    struct px_bind_list *l = field;
    struct px_bind b;
    char tok[TOKEN_MAX];
    const char *p = val;
    memset(&b, 0, sizeof b);
    if (next_token(&p, tok, sizeof tok) <= 0 || net_addr_parse(&b.addr, tok) == -1 ||
        strlen(tok) >= sizeof b.text) {
        snprintf(err, err_len, "'%s' is not ip:port, [ipv6]:port or *:port", val);
        return -1;
    }
    memcpy(b.text, tok, strlen(tok) + 1);
    int n;
    while ((n = next_token(&p, tok, sizeof tok)) != 0) {
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
    if (next_token(&p, tok, sizeof tok) <= 0 || strchr(tok, '=')) {
        snprintf(err, err_len, "cert wants a certificate file first");
        return -1;
    }
    if (!(s.cert = strdup(tok)))
        goto oom;
    while ((n = next_token(&p, tok, sizeof tok)) != 0) {
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
static int parse_addr(void *field, const char *val, char *err, size_t err_len)
{
    struct net_addr a;
    if (val[0] && net_addr_parse(&a, val) == -1) {
        snprintf(err, err_len, "'%s' is not ip:port, [ipv6]:port or *:port", val);
        return -1;
    }
    char *copy = strdup(val);
    if (!copy) {
        snprintf(err, err_len, "out of memory");
        return -1;
    }
    free(*(char **)field);
    *(char **)field = copy;
    return 0;
}

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
    OPT_CUSTOM("listen", "proxy_allow", proxy_allow, NULL, parse_cidrs, release_cidrs,
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
    OPT("tls", "client_ca", CFG_STR, client_ca, 0, 0, NULL,
        "CA file to verify client certificates against (needs client_verify)"),
    OPT_ENUM("tls", "client_verify", client_verify, verify, "none",
             "client certificates: none; optional = verified when sent; required. The SHA-256 "
             "of a client certificate goes to the backend in the metadata TLV"),
    OPT("tls", "tickets", CFG_BOOL, tickets, 0, 0, "yes",
        "TLS session tickets (resumption); keys rotate every ticket_rotate and are shared by "
        "the workers"),
    OPT("tls", "ticket_rotate", CFG_MSEC, ticket_rotate, 60, 86400, "1h",
        "lifetime of one ticket key; tickets of the previous key are still accepted (and renewed)"),
    OPT("tls", "ticket_secret_file", CFG_STR, ticket_secret_file, 0, 0, NULL,
        "file of at least 32 random bytes from which ticket keys are derived, so several "
        "proxies resume each other's sessions; empty = a random secret per start"),
    OPT("tls", "keylog_file", CFG_STR, keylog_file, 0, 0, NULL,
        "append TLS secrets in NSS key log format (debugging only: it decrypts traffic); "
        "empty = off"),
    OPT("tls", "alpn", CFG_BOOL, alpn, 0, 0, "yes",
        "answer ALPN http/1.1 when a client offers it (SSTP does not use ALPN, some "
        "middleboxes dislike a missing answer)"),

    OPT_CUSTOM("backends", "server", servers, NULL, parse_server, release_servers,
               "NAME ADDRESS [weight=N] [maxconn=N] [tls] [sni=HOST] (repeatable): an "
               "sstp-backend proxy listener; weight 0..256 (0 = drained); tls = connect with "
               "TLS, verify the backend against backend_ca and present backend_cert (mTLS); "
               "sni= also checks the backend certificate's name"),
    OPT_ENUM("backends", "policy", policy, lb_policy_names, "leastconn",
             "leastconn = fewest sessions per weight; wrr = smooth weighted round robin"),
    OPT("backends", "connect_timeout", CFG_MSEC, connect_timeout, 0.1, 120, "5s",
        "time for a backend to accept, finish TLS and answer the request head; after it the "
        "backend is marked down and the next one is tried"),
    OPT("backends", "retries", CFG_INT, retries, 0, LB_TRIES_MAX - 1, "2",
        "further backends tried when one refuses or times out before any byte was relayed"),
    OPT("backends", "down_time", CFG_MSEC, down_time, 0.1, 3600, "10s",
        "how long a backend that failed is skipped"),
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
        "SIGTERM: sessions may go on this long before they are closed"),

    OPT_CUSTOM("admin", "address", admin, "127.0.0.1:9180", parse_addr, release_str,
               "admin HTTP listener (/healthz, /readyz, /metrics) of the master process; "
               "no authentication, keep it on loopback or a management network; empty = off"),
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
    if (c->servers.n == 0) {
        snprintf(err, err_len, "%s: no backend: set backends.server", path);
        return -1;
    }
    if (c->client_verify != PX_VERIFY_NONE && !set(c->client_ca)) {
        snprintf(err, err_len, "%s: tls.client_verify needs tls.client_ca", path);
        return -1;
    }
    if (has_tls_server(c) && !set(c->backend_ca)) {
        snprintf(err, err_len, "%s: a tls server needs backends.ca", path);
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

long px_config_workers(const struct px_config *c)
{
    if (c->workers > 0)
        return c->workers;
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n < 1 ? 1 : n > WORKERS_MAX ? WORKERS_MAX : n;
}
