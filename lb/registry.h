/* registry.h — the backends that registered themselves in Redis, as seen by
 * a proxy: refreshed every `interval` with one round trip (a Lua script
 * that also drops index entries whose hash expired), handed to the owner
 * as lb_spec entries plus the fleet-wide facts policies use (live sessions,
 * capacity, group, draining).
 *
 * Trust: whoever can write the registry could send decrypted PPP anywhere,
 * so an entry is only a candidate. It is ignored (counted by reason,
 * logged once per change, at most every 10 s) unless its id, address and
 * kind are well formed, its id is the one of its key, its address is in
 * the operator's allowlist and not loopback, unspecified, link-local,
 * multicast or a cloud metadata address (unless an allowlist entry inside
 * that range names it), and, if the operator asks, it is an mTLS backend
 * whose certificate carries its id (checked at each connection:
 * lb_spec.sni = id).
 *
 * When Redis is away the last known list stays in force (the owner keeps
 * choosing from it and from its static config); an empty or sharply
 * shrunken answer (a Redis restarted empty, a FLUSHALL) is not taken before
 * `grace` has passed, unless the backends come back first; nothing blocks. */
#ifndef SSTP_LB_LB_REGISTRY_H
#define SSTP_LB_LB_REGISTRY_H

#include <ev.h>
#include <stdbool.h>
#include <stddef.h>

#include "lb/lb.h"

/* Why an entry was ignored: X(name, metric label). */
#define LB_REG_RC_LIST(X)                                                                      \
    X(OK, "ok")                        /* taken */                                            \
    X(E_ID, "bad_id")                  /* missing, empty, over 31 bytes or not [A-Za-z0-9_.-] */ \
    X(E_ID_MISMATCH, "id_mismatch")    /* the hash's id is not the one of its key */          \
    X(E_ADDR, "bad_addr")              /* missing, not a numeric ip:port, or port 0 */        \
    X(E_KIND, "bad_kind")              /* not proxy or mtls (tls listeners expect clients) */ \
    X(E_NUMBER, "bad_number")          /* capacity or sessions unreadable */                  \
    X(E_ADDR_FORBIDDEN, "addr_forbidden") /* loopback, unspecified, link-local, multicast,   \
                                           * metadata, and no allowlist entry inside it */  \
    X(E_ADDR_NOT_ALLOWED, "addr_not_allowed") /* outside the allowlist (empty: private ranges) */\
    X(E_NOT_MTLS, "not_mtls")          /* mtls_only and its kind is proxy */                  \
    X(E_NO_TLS, "no_backend_tls")      /* kind mtls, but this proxy has no backend CA */    \
    X(E_WRONG_TYPE, "wrong_type")      /* its key is not a hash */

enum lb_reg_rc {
#define X(n, s) LB_REG_##n,
    LB_REG_RC_LIST(X)
#undef X
    LB_REG_RC_COUNT
};

/* lb_reg_rc_name: the metric label of rc ("bad_id", ...). */
const char *lb_reg_rc_name(enum lb_reg_rc rc);

struct lb_reg_entry {
    struct lb_spec spec;       /* name = backend id, addr, weight, tls (kind mtls, sni = id), group */
    char group[LB_GROUP_MAX];  /* tenant group, "" = default (also in spec.group) */
    unsigned sessions;         /* live sessions fleet-wide (the backend's own count) */
    unsigned capacity;         /* 0 = no limit */
    bool draining;
    double heartbeat;          /* unix seconds of its last heartbeat */
};

struct lb_reg_list {
    struct lb_reg_entry *items;
    size_t n;
};

/* What a proxy accepts from the registry (its config). */
struct lb_reg_policy {
    const struct net_cidr_list *allow; /* borrowed; NULL or empty: lb_reg_allow_default() */
    bool mtls_only;                    /* only kind mtls, certificate name = id */
    bool have_tls;                     /* the proxy can connect with TLS (backends.ca set) */
};

struct lb_registry_opts {
    double interval;      /* seconds between reads */
    double grace;         /* seconds an empty or sharply shrunken answer waits; 0 = none */
    unsigned id;          /* for log lines (the worker) */
    struct lb_reg_policy policy; /* the allowlist is copied */
};

struct lb_reg_stats {
    uint64_t ignored[LB_REG_RC_COUNT]; /* entries ignored, counted at each read, by reason */
    uint64_t held;                     /* reads not taken: shrunken within the grace time */
    uint64_t read_errors;              /* reads that brought no list (script error, link lost) */
};

struct rds;
struct lb_registry;

/* Called after each successful refresh with the whole current list, and
 * `changed` true when membership, addresses, weights, groups or draining
 * differ from the previous call (session counts alone do not count). The
 * list is borrowed for the duration of the call. */
typedef void (*lb_registry_fn)(const struct lb_reg_list *list, bool changed, void *ud);

/* lb_registry_new starts refreshing every o->interval seconds (first
 * refresh at once when Redis is up). `rds` is borrowed. Returns NULL out of
 * memory. */
struct lb_registry *lb_registry_new(struct ev_loop *loop, struct rds *rds,
                                    const struct lb_registry_opts *o, lb_registry_fn fn, void *ud);
void lb_registry_free(struct lb_registry *r);
/* lb_registry_refresh asks now (e.g. right after Redis came back). */
void lb_registry_refresh(struct lb_registry *r);
/* lb_registry_list: the last list taken (empty before the first). */
const struct lb_reg_list *lb_registry_list(const struct lb_registry *r);
const struct lb_reg_stats *lb_registry_stats(const struct lb_registry *r);

/* lb_reg_parse turns one Lua script reply row (field/value pairs of a
 * backend hash) into an entry. A weight above LB_WEIGHT_MAX counts as
 * LB_WEIGHT_MAX (backends accept larger ones), an unreadable one as 0; a
 * draining backend gets weight 0. A kind mtls entry gets sni = its id: the
 * backend's certificate must carry it. Returns LB_REG_OK, or why the row
 * is to be skipped (E_ID, E_ADDR, E_KIND, E_NUMBER). Exposed for the unit
 * tests. */
enum lb_reg_rc lb_reg_parse(struct lb_reg_entry *out, const char *const *fields,
                            const char *const *values, size_t n);

/* lb_reg_allow_default: the addresses registered backends may have when
 * redis.registry_allow is empty: the private ranges (10/8, 172.16/12,
 * 192.168/16, 100.64/10, fc00::/7). */
const struct net_cidr_list *lb_reg_allow_default(void);

/* lb_reg_check applies the proxy's policy to a parsed entry: LB_REG_OK,
 * E_ADDR_FORBIDDEN (also an IPv6 address embedding a forbidden IPv4 one:
 * NAT64, IPv4-compatible, 6to4), E_ADDR_NOT_ALLOWED, E_NOT_MTLS or
 * E_NO_TLS. */
enum lb_reg_rc lb_reg_check(const struct lb_reg_policy *p, const struct lb_reg_entry *e);

/* lb_reg_shrunk: a list of n_next entries replacing one of n_prev is an
 * outage rather than backends leaving (empty, or fewer than half). */
bool lb_reg_shrunk(size_t n_prev, size_t n_next);

/* lb_reg_merge builds the backend list of a generation: every static
 * server, then every registered backend whose name no static server has
 * (static wins). Names of the registered ones left out are written to
 * `shadowed` (comma separated, cut to its size; "" if none). `out` must be
 * empty; the caller frees it with lb_spec_list_free. Returns 0, or -1 out
 * of memory (out emptied). */
int lb_reg_merge(struct lb_spec_list *out, const struct lb_spec_list *statics,
                 const struct lb_reg_list *reg, char *shadowed, size_t shadowed_len);

/* lb_reg_apply copies the registry's run-time facts (live sessions,
 * capacity, heartbeat, draining) onto the backends of lb that it lists
 * under the same name and address; the others get none (fleet_known
 * false). A new heartbeat resets the backend's fleet_pending (its count now
 * includes what was sent to it before) and its fleet_full mark. reg is
 * borrowed. */
void lb_reg_apply(struct lb *lb, const struct lb_reg_list *reg);

#endif
