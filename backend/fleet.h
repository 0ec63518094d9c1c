/* fleet.h — sstp-backend's part of the Redis schema (lb/schema.h): its
 * registry entry and heartbeat, the live session hashes with their
 * indexes, the counters and event stream, the fleet-wide per-user
 * admission, and the control channel (kick, drain) that sstpctl and other
 * backends publish to.
 *
 * A leaf: it knows nothing of sessions or the server. The daemon embeds a
 * struct be_fleet_sess in each session, hands it in at start and end, and
 * describes the session on request through the view hook; kicks and drains
 * come back through hooks the daemon implements.
 *
 * Every write is a Lua script (lb/script.h) that sets a hash, its TTL and
 * every index at once, and is safe to repeat: all live sessions are
 * written again every stats interval, in batches spread over it, so after
 * a Redis outage or an empty restart the whole view is back within one
 * interval. Redis is never on the packet path and its loss only degrades:
 * sessions carry on, admission allows, stats go stale. */
#ifndef SSTP_LB_BACKEND_FLEET_H
#define SSTP_LB_BACKEND_FLEET_H

#include <ev.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "backend/config.h"

#define BE_FLEET_SID_MAX 40
#define BE_FLEET_USER_KEY_LEN 64   /* SHA-256 hex */
#define BE_FLEET_BATCH 100         /* sessions per upsert script call */
#define BE_FLEET_TICKS 10          /* upserts are spread over this many ticks an interval */
#define BE_FLEET_ADMIT_TIMEOUT_S 1.0

enum be_fleet_state {
    BE_FS_NEGOTIATING = 0,
    BE_FS_AUTHENTICATED,
    BE_FS_CONNECTED,
};

/* What the fleet writes about one session, filled by the daemon's view
 * hook (zeroed before). Strings are borrowed for the duration of the call. */
struct be_fleet_view {
    char client_ip[64];
    const char *sni, *proxy, *user, *ip, *ip6;
    unsigned client_port;
    uint64_t bytes_in, bytes_out;   /* only ever grow */
};

/* The fleet's record of one session, embedded in the daemon's session
 * (zeroed) and owned by the fleet between be_fleet_session_start and
 * be_fleet_session_end. */
struct be_fleet_sess {
    struct be_fleet_sess *prev, *next;
    char sid[BE_FLEET_SID_MAX];
    double start;                              /* unix seconds */
    enum be_fleet_state state;
    char user_key[BE_FLEET_USER_KEY_LEN + 1];  /* "" before admission */
    double written_at;                         /* loop time of its last upsert sent; 0 = due */
    bool linked;
    bool announced;                            /* its "connect" reached Redis */
};

struct be_fleet_hooks {
    /* view: describe the session that embeds fs */
    void (*view)(const struct be_fleet_sess *fs, struct be_fleet_view *out, void *ud);
    /* kick: end that session (sstpctl kick, or replaced by a newer login) */
    void (*kick)(struct be_fleet_sess *fs, void *ud);
    /* drain: the drain key changed; disconnect: end every session now */
    void (*drain)(bool draining, bool disconnect, void *ud);
    /* load: live sessions now, and whether the daemon is stopping */
    uint64_t (*load)(bool *stopping, void *ud);
    void *ud;
};

struct be_fleet;
struct be_fleet_ask;

/* be_fleet_new connects (asynchronously) with the [redis] options of cfg
 * (borrowed for the fleet's life) and starts the heartbeat, the upsert
 * ticks and the janitor. NULL with nothing started when redis.url is empty
 * (*err = false) or on a bad option or no memory (*err = true, logged). */
struct be_fleet *be_fleet_new(struct ev_loop *loop, const struct be_config *cfg,
                              const struct be_fleet_hooks *hooks, bool *err);
/* be_fleet_free stops everything. Sessions must have ended and asks been
 * cancelled. NULL is a no-op. */
void be_fleet_free(struct be_fleet *f);

/* be_fleet_session_start: the HTTP request was accepted (event "connect").
 * The fleet links fs and writes it now if Redis is up, else at the next
 * tick that reaches Redis. sid is copied; start is unix seconds. */
void be_fleet_session_start(struct be_fleet *f, struct be_fleet_sess *fs, const char *sid,
                            double start);
/* be_fleet_session_state: the session reached state (written at once). */
void be_fleet_session_state(struct be_fleet *f, struct be_fleet_sess *fs, enum be_fleet_state state);
/* be_fleet_session_update: what the view shows changed (an address): write now. */
void be_fleet_session_update(struct be_fleet *f, struct be_fleet_sess *fs);
/* be_fleet_session_event: auth_ok, auth_fail, binding_fail ... with a reason
 * (counted in stats and appended to the event stream). */
void be_fleet_session_event(struct be_fleet *f, struct be_fleet_sess *fs, const char *type,
                            const char *reason);
/* be_fleet_session_end: the session ends (event "disconnect", reason).
 * Its last bytes are counted and its hash and index entries removed; fs
 * is the daemon's again when this returns. */
void be_fleet_session_end(struct be_fleet *f, struct be_fleet_sess *fs, const char *reason);

/* Called once with the admission decision, unless the ask was cancelled. */
typedef void (*be_fleet_decided_fn)(bool allow, void *arg);

/* be_fleet_user_admit applies the per-user policy to the session fs that
 * authenticated as the name raw[0..raw_len) (exact bytes, not sanitised).
 * Counts auth_ok (event and counter) first.
 * One atomic script prunes the user's dead sessions, counts the others,
 * adds this one and names those to kick (replace mode). Redis must never
 * lock users out: no answer within BE_FLEET_ADMIT_TIMEOUT_S, or Redis
 * down, allows. decided is called synchronously (and NULL returned) when
 * nothing has to be asked; else later, and the returned handle cancels it
 * (the session closed first). */
struct be_fleet_ask *be_fleet_user_admit(struct be_fleet *f, struct be_fleet_sess *fs,
                                         const char *raw, size_t raw_len,
                                         be_fleet_decided_fn decided, void *arg);
/* be_fleet_ask_cancel: decided will not be called. NULL is a no-op. Only
 * valid before decided ran (the callback owns the end of the handle). */
void be_fleet_ask_cancel(struct be_fleet_ask *a);

/* be_fleet_accepting: false while this backend is drained. NULL: true. */
bool be_fleet_accepting(const struct be_fleet *f);

/* be_fleet_user_key writes the per-user key of raw[0..raw_len) under mode:
 * the lowercase SHA-256 hex of the (normalised) bytes. */
void be_fleet_user_key(char out[BE_FLEET_USER_KEY_LEN + 1], enum be_user_norm mode, const char *raw,
                       size_t raw_len);

/* Counters of the fleet writer (exposed as metrics by the daemon). */
struct be_fleet_stats {
    uint64_t upserts, upsert_batches, upsert_refused; /* sessions written, calls, calls refused */
    uint64_t write_errors;                           /* error or lost replies to our scripts */
    uint64_t janitor_removed;                        /* dead ids removed from the indexes */
    uint64_t ends_dropped;                           /* ends not written: queue full */
    uint64_t duplicate_id;                           /* heartbeats that found another instance */
    uint64_t admit_allow, admit_deny, admit_kick, admit_timeout;
};
const struct be_fleet_stats *be_fleet_stats(const struct be_fleet *f);
/* the Redis client's state and own counters (sent, refused ...), for metrics */
bool be_fleet_redis_up(const struct be_fleet *f);
struct rds_stats;
const struct rds_stats *be_fleet_rds_stats(const struct be_fleet *f);
/* be_fleet_rds: the fleet's Redis client (state, down reason), NULL without a fleet. */
struct rds;
const struct rds *be_fleet_rds(const struct be_fleet *f);

#endif
