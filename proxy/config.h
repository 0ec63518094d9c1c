/* config.h — sstp-proxy's configuration: the typed struct and its table.
 *
 * Read by the master at start and on SIGHUP (and by --check-config), and by
 * each worker on SIGHUP; the option table in config.c is the single source
 * of the file format, --help and conf/sstp-proxy.conf. */
#ifndef SSTP_LB_PROXY_CONFIG_H
#define SSTP_LB_PROXY_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

#include "core/config.h"
#include "core/net.h"
#include "lb/lb.h"
#include "lb/redis_config.h"
#include "proxy/route.h"

/* One `bind` line: where clients (or a cloud load balancer) connect. */
struct px_bind {
    struct net_addr addr;
    char text[NET_ADDR_STR_MAX];
    bool proxy;               /* a PROXY v1/v2 header comes first (from proxy_allow) */
};

struct px_bind_list {
    struct px_bind *items;
    size_t n;
};

/* One `cert` line: a certificate the TLS listener may present. */
struct px_cert_spec {
    char *cert;               /* PEM: leaf first, then the chain */
    char *key;                /* PEM key; defaults to `cert` (one combined file) */
    char *ocsp;               /* DER OCSP response to staple, or NULL */
    char **names;             /* sni=: names it serves; NULL: its SAN/CN names */
    size_t n_names;
    bool is_default;          /* serves clients without SNI or with an unknown one */
};

struct px_cert_list {
    struct px_cert_spec *items;
    size_t n;
};

/* One `passthrough` line: a TLS server name whose connections are not
 * terminated here but forwarded as they came (proxy/passthrough.c). */
struct px_pass {
    char *name;               /* lower case; "*.example.com" matches one label in front */
    struct net_addr addr;
    bool pp2;                 /* a PROXY v2 header goes first */
};

struct px_pass_list {
    struct px_pass *items;
    size_t n;
};

/* backends.web: where requests that are not SSTP go (proxy/web.c). */
struct px_web {
    bool on;                  /* "" = off: such requests get today's rejects */
    struct net_addr addr;
    char text[NET_ADDR_STR_MAX];
    bool pp2;                 /* a PROXY v2 header with the client's address goes first */
    bool forwarded;           /* the head rebuilt with our X-Forwarded-For and Forwarded */
};

enum px_untrusted { PX_UNTRUSTED_REJECT = 0, PX_UNTRUSTED_DIRECT = 1 };
enum px_verify { PX_VERIFY_NONE = 0, PX_VERIFY_OPTIONAL = 1, PX_VERIFY_REQUIRED = 2 };
enum px_http_errors { PX_HTTP_ERRORS_STATUS = 0, PX_HTTP_ERRORS_SILENT = 1 };
enum px_crl_check { PX_CRL_LEAF = 0, PX_CRL_CHAIN = 1 };

struct px_config {
    char *id;
    int log_level, log_format;
    long workers;             /* 0 = one per CPU core */
    long max_conns;           /* per worker; 0 = from the open-files limit */

    struct px_bind_list binds;
    struct net_cidr_list proxy_allow;
    int proxy_untrusted;      /* enum px_untrusted */
    long backlog;
    double handshake_timeout; /* accept -> TLS done (PROXY header included) */
    double request_timeout;   /* TLS done -> HTTP head complete */
    long max_head;
    int http_errors;          /* enum px_http_errors */
    struct px_pass_list passthrough; /* SNI names forwarded without TLS termination */

    long per_source_rate, per_source_burst; /* new connections/s per source prefix; 0 = off */
    long per_source_conns;    /* connections at once per source prefix; 0 = off */
    long source_prefix4, source_prefix6;
    long max_handshakes;      /* per worker, accept until the backend answered; 0 = off */
    long relay_memory;        /* KiB of relay buffers per worker; 0 = off */

    struct px_cert_list certs;
    char *ciphers, *ciphersuites, *groups;
    char *client_ca;
    int client_verify;        /* enum px_verify */
    char *client_crl;         /* CRL files, space separated; "" = none */
    int client_crl_check;     /* enum px_crl_check */
    bool tickets;
    double ticket_rotate;
    long expiry_warn_days;    /* warn this many days before a certificate expires; 0 = never */
    char *ticket_key_file;
    char *keylog_file;
    bool alpn;
    int ktls;                 /* enum ktls_mode (core/ktls.h) */

    struct lb_spec_list servers;
    int policy;               /* index into lb_policy_names */
    double connect_timeout;   /* connect + TLS + first byte of the backend */
    long retries;
    double down_time;
    long panic_threshold;     /* percent, 0 = never (lb_panic) */
    bool tenant_strict;       /* a tenantid no group serves gets 503 even without groups */
    struct px_route_list routes; /* server names to backend groups (route.h) */
    struct px_web web;
    char *backend_ca, *backend_cert, *backend_key;

    double idle_timeout, fin_timeout, drain_timeout;

    char *admin;              /* admin listener address; "" = off */

    /* [redis]: the fleet (registry, affinity, counters); redis.url "" = none */
    struct rds_config redis;
    double registry_interval;
    struct net_cidr_list registry_allow; /* addresses registered backends may have */
    bool registry_mtls_only;  /* only kind mtls, certificate name = id */
    double registry_grace;    /* an empty or shrunken registry waits this long */
    long events_max;

    /* [affinity] */
    int aff_mode;             /* enum lb_aff_mode */
    double aff_ttl;
    long aff_prefix4, aff_prefix6;
    double aff_lookup_timeout;

    /* [health] */
    double health_interval, health_timeout;
    long health_rise, health_fall;
    int health_probe;         /* enum lb_probe */
};

/* After drain_timeout the master SIGKILLs workers still running this many
 * seconds later; a service manager's stop timeout must cover both (the
 * deploy test checks conf/systemd and docker/ against it). */
#define PX_KILL_SLACK_S 10
#define PX_STR(x) PX_STR_(x)
#define PX_STR_(x) #x

/* Every option can also come from the environment (containers):
 * SSTP_PROXY_<SECTION>_<NAME>, e.g. SSTP_PROXY_LISTEN_BIND. */
#define PX_ENV_PREFIX "SSTP_PROXY_"

extern const struct cfg_opt px_config_table[];
extern const size_t px_config_table_len;

/* px_config_load reads and checks the file, then the PX_ENV_PREFIX
 * environment overrides (syntax, values, and the rules across options;
 * certificates are loaded later, by the TLS set). Returns 0,
 * or -1 with "file:line: why" or "file: why" in err. The caller zeroes c
 * first and frees it with px_config_free either way. */
int px_config_load(struct px_config *c, const char *path, char *err, size_t err_len);
void px_config_free(struct px_config *c);

/* px_config_workers resolves `workers = auto` to the number of online CPUs. */
long px_config_workers(const struct px_config *c);

struct rds_opts;
/* px_config_redis fills o from the [redis] options (checked at load) with
 * the shared converter, rds_config_opts. Returns 0, or -1 when redis.url is
 * empty (no Redis). */
int px_config_redis(const struct px_config *c, struct rds_opts *o);

struct lb_registry_opts;
/* px_config_registry fills o with what worker `worker` accepts of the
 * backend registry: its read interval, grace, allowlist (borrowed from c),
 * mtls_only, and whether a backend CA lets it verify mtls backends. */
void px_config_registry(const struct px_config *c, unsigned worker, struct lb_registry_opts *o);

#endif
