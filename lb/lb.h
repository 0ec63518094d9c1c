/* lb.h — backend choice: the backend objects, their up/down state, and the
 * selection policies behind one small vtable (one file per policy:
 * leastconn.c, wrr.c, leastsessions.c, chash.c), as HAProxy's lb_*.c and
 * h2o's balancer/ do.
 *
 * A `struct lb` is one generation of the backend set (built from the config,
 * or later from the Redis registry) and belongs to one event loop: nothing
 * here locks. Backend objects are reference counted and outlive the
 * generation that created them while sessions still use them, so a reload
 * keeps the active-session counts of backends that stay. No I/O, no clock
 * reads (callers pass `now`), no logging. */
#ifndef SSTP_LB_LB_LB_H
#define SSTP_LB_LB_LB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "core/net.h"

#define LB_NAME_MAX   32  /* backend names: [A-Za-z0-9_.-], at most 31 chars */
#define LB_SNI_MAX    256 /* host name sent as SNI to a TLS backend */
#define LB_WEIGHT_MAX 256
#define LB_TRIES_MAX  8   /* backends one session may try (1 + retries) */
#define LB_GROUP_MAX  64  /* tenant group names, with NUL */

/* How a server is health-checked (server line probe=); DEFAULT is health.probe's. */
enum lb_spec_probe {
    LB_SPEC_PROBE_DEFAULT = 0,
    LB_SPEC_PROBE_SSTP    = 1, /* sstp-backend: PROXY v2 LOCAL + HEAD, 200 or 503 */
    LB_SPEC_PROBE_HTTP    = 2, /* any SSTP server: HEAD, any HTTP answer but 503 is alive */
    LB_SPEC_PROBE_TCP     = 3, /* connect (+ TLS) only */
};

/* Where our PROXY v2 header goes on a tls server (server line proxy_header=). */
enum lb_pp_placement {
    LB_PP_INSIDE = 0, /* inside TLS: sstp-backend's mtls listener (integrity-protected) */
    LB_PP_BEFORE = 1, /* before the TLS handshake: accel-ppp accept=ssl,proxy, HAProxy */
    LB_PP_NONE   = 2, /* none: servers that read no PROXY header (SoftEther, RRAS) */
};

/* What the config (or a registry) says about one backend. */
struct lb_spec {
    char name[LB_NAME_MAX];
    struct net_addr addr;
    unsigned weight;      /* 1..LB_WEIGHT_MAX; 0 = drained (never picked) */
    unsigned maxconn;     /* sessions at once on this backend, per worker; 0 = no limit */
    bool tls;             /* TLS (mTLS) to the backend instead of plain TCP */
    char sni[LB_SNI_MAX]; /* "" = no SNI and no host name check */
    char group[LB_GROUP_MAX]; /* tenant group: requests with ?tenantid=<group>; "" = default */
    enum lb_spec_probe probe;
    enum lb_pp_placement pp;  /* on a plain server, BEFORE is INSIDE */
};

struct lb_spec_list {
    struct lb_spec *items;
    size_t n;
};

/* One backend. Fields below `state` change at run time. */
struct lb_backend {
    struct lb_spec spec;
    /* state */
    unsigned n_active;    /* sessions holding this backend (lb_acquire..lb_release) */
    unsigned n_fails;     /* consecutive failures to connect */
    double down_until;    /* not picked before this time; 0 = up (passive marking) */
    bool health_down;     /* failing its active health checks (health.c) */
    bool health_unproven; /* added after start: no good health check yet (health.c) */
    /* what the Redis registry says (lb_reg_apply); all zero when it does not list it */
    bool fleet_known;     /* the registry lists a backend of this name */
    bool fleet_draining;  /* its registry state is not "up": no new sessions */
    unsigned fleet_sessions; /* its live sessions fleet-wide, as of its last heartbeat */
    unsigned fleet_pending;  /* this owner's picks since that heartbeat was read */
    double fleet_heartbeat;  /* unix seconds of that heartbeat */
    unsigned fleet_capacity; /* its registered capacity; 0 = no limit */
    bool fleet_full;         /* refused a session since that heartbeat (LB_EV_REFUSED) */
    uint64_t n_picked;
    long cur_weight;      /* smooth weighted round robin state (wrr.c) */
    unsigned refs;        /* generations + sessions holding the object */
    size_t user_slot;     /* free for the owner (sstp-proxy: its metrics slot) */
};

struct lb;

/* Why a session wants a backend, and the ones it already tried. */
struct lb_req {
    const struct sockaddr *client; /* for hashing or affinity policies; may be NULL */
    const char *tenant;            /* ?tenantid= of the request, or NULL: only backends of
                                    * that group (NULL or "": the default group "") */
    const char *affinity;          /* affinity key (consistent hashing), or NULL */
    struct lb_backend *tried[LB_TRIES_MAX];
    unsigned n_tried;
    struct lb_backend *picked;     /* out: LB_PICKED */
    bool panic;                    /* out: lb_pick chose in panic mode (lb_panic) */
};

enum lb_status {
    LB_PICKED  = 0, /* req->picked holds a backend (acquired: see lb_pick) */
    LB_NONE    = 1, /* no backend can take the session now */
};

enum lb_event {
    LB_EV_CONNECT_OK   = 0, /* the backend answered: it is up */
    LB_EV_CONNECT_FAIL = 1, /* refused, reset or timed out before any byte */
    LB_EV_REFUSED      = 2, /* accepted, then closed before any byte: alive but full or
                             * draining. A registered backend is not marked down, only
                             * full until its next heartbeat; others as CONNECT_FAIL */
};

/* A selection policy. `pick` returns a candidate for req (lb_candidate:
 * eligible, of the request's group, not tried yet), or NULL; it may keep
 * state in lb->policy_data. */
struct lb_policy_ops {
    const char *name;
    int (*init)(struct lb *lb);                 /* 0 or -1; may be NULL */
    struct lb_backend *(*pick)(struct lb *lb, const struct lb_req *req, double now);
    void (*report)(struct lb *lb, struct lb_backend *be, enum lb_event ev, double now); /* may be NULL */
    void (*destroy)(struct lb *lb);             /* frees policy_data; may be NULL */
};

struct lb_params {
    double down_time;     /* seconds a failed backend is skipped */
    unsigned tie_start;   /* where the first generation's round-robin ties start: owners
                           * that see the same fleet counts (the workers of a fleet)
                           * pass different values, or they all pick the same backend */
    unsigned panic_threshold; /* percent: below this share of a group up, its down marks
                               * are ignored (lb_panic); 0 = never */
};

struct lb {
    const struct lb_policy_ops *ops;
    struct lb_params params;
    struct lb_backend **be;  /* the generation's backends, config order */
    size_t n_be;
    size_t rr_next;          /* start offset for tie-breaking (lb_pick_least): from
                              * params.tie_start, then carried across generations */
    void *policy_data;
};

/* The built-in policies, in the order of lb_policy_names. */
extern const struct lb_policy_ops lb_policy_leastconn;
extern const struct lb_policy_ops lb_policy_wrr;
extern const struct lb_policy_ops lb_policy_leastsessions;
extern const struct lb_policy_ops lb_policy_chash;
/* NULL-terminated, for config enums: "leastconn", "wrr", "leastsessions",
 * "chash". */
extern const char *const lb_policy_names[];
/* lb_policy_by_index returns the policy at index i of lb_policy_names, or
 * NULL. */
const struct lb_policy_ops *lb_policy_by_index(int i);

/* lb_new builds a generation over specs. A backend of `prev` (may be NULL)
 * with the same name, address, tls and sni is reused with its state
 * (sessions, down and health marks, fleet facts), taking the new weight,
 * maxconn and group; others start up.
 * Returns the generation, or NULL (out of memory, duplicate name, policy
 * init failure). `prev` is not modified; free it with lb_free after. */
struct lb *lb_new(const struct lb_policy_ops *ops, const struct lb_params *params,
                  const struct lb_spec_list *specs, const struct lb *prev);
/* lb_free drops the generation's references; backends still used by
 * sessions live on until their lb_release. lb_free(NULL) is a no-op. */
void lb_free(struct lb *lb);

/* lb_eligible: be may take a new session now — weight > 0, not draining in
 * the registry, passing its health checks (a backend added after start:
 * once at least), not marked down, under its maxconn and under its
 * registered capacity (its last count plus this owner's picks since, and
 * no refusal since its last heartbeat). */
bool lb_eligible(const struct lb_backend *be, double now);
/* lb_group_match: be serves the tenant group of a request (tenant NULL or
 * "": the default group ""). */
bool lb_group_match(const struct lb_backend *be, const char *tenant);
/* lb_pick_least scans lb from its round-robin offset for the candidate
 * with the smallest (load + 1) / weight, ties going round robin: the
 * scan of leastconn (load = this owner's sessions) and leastsessions
 * (load = the fleet's). */
struct lb_backend *lb_pick_least(struct lb *lb, const struct lb_req *req, double now,
                                 uint64_t (*load)(const struct lb_backend *be));

/* lb_candidate: be may take req now — eligible (in panic mode: eligible
 * but for its down marks), of its group, not in req->tried. What every
 * policy's pick must return. */
bool lb_candidate(const struct lb_backend *be, const struct lb_req *req, double now);
/* lb_group_served: lb has at least one backend of the tenant's group, in
 * whatever state (tells "no backend for this tenant" from "none up"). */
bool lb_group_served(const struct lb *lb, const char *tenant);
/* lb_find returns the backend of lb named `name`, or NULL. */
struct lb_backend *lb_find(const struct lb *lb, const char *name);
/* lb_available: at least one backend of lb is eligible (health probes,
 * readiness). */
bool lb_available(const struct lb *lb, double now);
/* lb_is_up: be is not marked down at `now`. */
bool lb_is_up(const struct lb_backend *be, double now);

/* lb_panic: too large a share of the backends that could serve req is
 * marked down (passively or by health checks): fewer than
 * params.panic_threshold percent of them are up. As Envoy's panic
 * threshold: when marks say most of a group died at once, the marks are
 * more likely wrong (a surge made answers slow) than the backends all
 * dead, and spreading over all of them beats answering 503 and piling the
 * load on the last few that are up. Only weight, registry drain and
 * maxconn still exclude a backend then. */
bool lb_panic(const struct lb *lb, const struct lb_req *req, double now);

/* lb_pick chooses a backend for req. LB_PICKED: req->picked is set, is
 * appended to req->tried, counts one more active session and holds a
 * reference: the caller must lb_release() it exactly once. LB_NONE:
 * nothing eligible (every backend down, full, drained or tried already, or
 * req->tried is full). In panic mode
 * (lb_panic) the policy chooses among every backend of the group whatever
 * its down marks, and req->panic is set. */
enum lb_status lb_pick(struct lb *lb, struct lb_req *req, double now);
/* lb_pick_backend takes be for req if it is a candidate (lb_candidate),
 * bypassing the policy (a recorded affinity). LB_PICKED: as lb_pick;
 * LB_NONE: be cannot take req now, nothing changed. */
enum lb_status lb_pick_backend(struct lb *lb, struct lb_req *req, struct lb_backend *be, double now);
/* lb_req_tried: be is in req->tried (for policies). */
bool lb_req_tried(const struct lb_req *req, const struct lb_backend *be);

/* lb_report records the outcome of a connection attempt to be. CONNECT_FAIL
 * marks it down for params.down_time; REFUSED marks a registered backend
 * full until its next heartbeat (lb_reg_apply), any other down. Returns true when the up/down state
 * changed (the caller logs the transition). `lb` may be a generation that
 * no longer holds be (after a reload): only be's state changes then. */
bool lb_report(struct lb *lb, struct lb_backend *be, enum lb_event ev, double now);

/* lb_errno_is_local: a failed connect's errno says this host ran out of
 * something (descriptors, buffers, memory, local ports), not that the
 * backend did anything: never a reason to mark a backend down. */
bool lb_errno_is_local(int e);

/* lb_release ends a session on be: one active session less, one reference
 * less (the object is freed with its last reference). NULL is a no-op. */
void lb_release(struct lb_backend *be);
/* lb_backend_ref / lb_backend_unref hold a backend object without a
 * session (e.g. its health check); the last unref frees it. */
void lb_backend_ref(struct lb_backend *be);
void lb_backend_unref(struct lb_backend *be);

/* NULL-terminated names of enum lb_pp_placement: "inside", "before", "none". */
extern const char *const lb_pp_names[];

/* lb_spec_parse reads a `server` line: "NAME ADDRESS [weight=N]
 * [maxconn=N] [tls] [sni=HOST] [group=NAME] [probe=sstp|http|tcp]
 * [proxy_header=inside|before|none]" (ADDRESS numeric: ip:port or
 * [ipv6]:port; NAME of a group like a server name) and appends it to l.
 * Returns 0, or -1 with the reason in err (bad or duplicate name, bad
 * address, unknown or repeated flag, value out of range, out of memory). */
int lb_spec_parse(struct lb_spec_list *l, const char *line, char *err, size_t err_len);
void lb_spec_list_free(struct lb_spec_list *l);

#endif
