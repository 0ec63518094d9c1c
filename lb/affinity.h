/* affinity.h — session affinity: which key identifies "the same client",
 * and the Redis look-up and record of the backend it was sent to.
 *
 * Keys (after the schema prefix "aff:"):
 *   ip:<address>            the client's IP
 *   net:<network>/<bits>    the client's /24 (IPv4) or /64 (IPv6), configurable
 *   cert:<sha256 hex>       the fingerprint of the client's TLS certificate
 *   tenant:<tenantid>       the tenantid of the SSTP URI (MS-SSTP 3.2.4.1)
 * A reconnect within the TTL goes to the recorded backend while it is up;
 * otherwise the proxy chooses afresh and records that choice. */
#ifndef SSTP_LB_LB_AFFINITY_H
#define SSTP_LB_LB_AFFINITY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

enum lb_aff_mode {
    LB_AFF_NONE = 0,
    LB_AFF_CLIENT_IP,
    LB_AFF_CLIENT_PREFIX,
    LB_AFF_CLIENT_CERT,
    LB_AFF_TENANT,
};

/* NULL-terminated names of enum lb_aff_mode, for config enums */
extern const char *const lb_aff_mode_names[];

struct lb_aff_cfg {
    enum lb_aff_mode mode;
    unsigned prefix4;   /* bits kept of an IPv4 address (default 24) */
    unsigned prefix6;   /* bits kept of an IPv6 address (default 64) */
    double ttl;         /* seconds a choice is remembered */
};

#define LB_AFF_KEY_MAX 160

/* lb_aff_key writes the affinity key of a connection into out. Returns 0,
 * or -1 when the mode needs what the connection lacks (no client
 * certificate, no tenantid, a non-IP address): no affinity then. */
int lb_aff_key(char *out, size_t out_len, const struct lb_aff_cfg *cfg,
               const struct sockaddr *client, const uint8_t *cert_sha256, const char *tenant);

struct rds;
struct lb_aff_get;

/* Called once with the recorded backend id, or NULL (none, Redis down, or
 * the answer came after lb_aff_cancel). */
typedef void (*lb_aff_fn)(const char *backend, void *ud);

/* lb_aff_lookup asks Redis for key. Returns a handle to cancel the look-up
 * with, or NULL when it could not be sent (fn is then not called). */
struct lb_aff_get *lb_aff_lookup(struct rds *rds, const char *key, lb_aff_fn fn, void *ud);
/* lb_aff_cancel: fn will not be called; the handle is freed when the
 * answer arrives. */
void lb_aff_cancel(struct lb_aff_get *g);
/* lb_aff_record stores key -> backend for ttl seconds (fire and forget). */
void lb_aff_record(struct rds *rds, const char *key, const char *backend, double ttl);

#endif
