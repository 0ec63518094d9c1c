/* config.h — sstp-backend's configuration: the typed struct and its table.
 *
 * Loaded once at start (and by --check-config); the option table in
 * config.c is the single source of the file format, --help and the example
 * in conf/. */
#ifndef SSTP_LB_BACKEND_CONFIG_H
#define SSTP_LB_BACKEND_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/config.h"
#include "core/net.h"
#include "lb/redis_config.h"
#include "sstp/limits.h"

enum be_hash_choice { BE_HASH_SHA256 = 0, BE_HASH_SHA1 = 1, BE_HASH_BOTH = 2 };
enum be_user_action { BE_USER_DENY = 0, BE_USER_REPLACE = 1 };
/* how an authenticated name becomes the per-user key */
enum be_user_norm {
    BE_USER_NORM_NONE = 0, /* the exact bytes */
    BE_USER_NORM_FOLD = 1, /* ASCII case folded, "DOMAIN\" and "@realm" stripped */
};

/* Certificate hashes the operator trusts for connections that carry none
 * of ours (behind a third-party TLS offloader); several for rollover. */
struct be_hash_list {
    uint8_t (*sha256)[SSTP_SHA256_LEN];
    size_t n_sha256;
    uint8_t (*sha1)[SSTP_SHA1_LEN];
    size_t n_sha1;
};

/* Where the mtls listener reads the PROXY header (listen.mtls_proxy_header). */
enum be_pp_placement {
    BE_PP_INSIDE = 0, /* inside TLS, after the handshake: sstp-proxy (integrity-protected) */
    BE_PP_BEFORE = 1, /* PROXY v2 before the TLS handshake: HAProxy `ssl send-proxy-v2` */
    BE_PP_NONE   = 2, /* no header: an offloader that re-encrypts without one */
};

struct be_config {
    char *id;
    int log_level, log_format;
    char *advertise, *group;
    char *admin;                /* admin.address */
    char *admin_old_name;       /* backend.admin: admin.address's deprecated name */
    bool admin_old_name_used;   /* it was set: warn at start */
    long weight;

    char *listen_tls, *listen_proxy, *listen_mtls;
    int mtls_proxy_header;             /* enum be_pp_placement */
    struct net_cidr_list proxy_allow;

    char *cert, *key, *ciphers, *ciphersuites, *proxy_ca;
    long expiry_warn_days;      /* warn this many days before tls.cert expires; 0 = never */

    int hash;
    struct be_hash_list trusted;
    double negotiation_timeout, hello_interval, abort_t1, abort_t2, disconnect_t1, disconnect_t2;
    double handshake_timeout, connect_request_timeout;
    long max_head;

    char *pppd_path, *pppd_options, *plugin;
    double kill_grace;
    long pppd_pool_size;        /* pppd started ahead of sessions; 0 = off */

    long max_sessions, max_negotiating, per_source_rate, per_source_burst;
    long max_negotiating_per_source, source_prefix4, source_prefix6;

    /* fleet: Redis (empty redis.url = standalone) */
    struct rds_config redis;
    double heartbeat, registry_ttl, stats_interval;
    long events_max;
    long max_per_user;
    int per_user_action;
    int per_user_normalize;   /* enum be_user_norm */
};

/* every option can be set from the environment: SSTP_BACKEND_<SECTION>_<NAME> */
#define BE_ENV_PREFIX "SSTP_BACKEND_"

extern const struct cfg_opt be_config_table[];
extern const size_t be_config_table_len;

/* be_config_load reads and checks the file: 0, or -1 with "file:line: why". */
int be_config_load(struct be_config *c, const char *path, char *err, size_t err_len);
void be_config_free(struct be_config *c);

#endif
