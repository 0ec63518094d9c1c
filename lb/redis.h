/* redis.h — the one asynchronous Redis client of sstp-lb (hiredis on libev).
 *
 * Never blocks the loop: commands are queued to hiredis and answered by
 * callback; host names are resolved off the loop (getaddrinfo_a), IP
 * literals never reach the resolver. Bounded: at most max_pending commands
 * in flight, split so that neither fire-and-forget writes nor commands
 * whose answer someone waits for can take the other's share; beyond that a
 * command is refused (-1) and counted, never queued.
 *
 * Notices a Redis that hangs instead of closing: replies owed for longer
 * than reply_timeout (no reply at all in that time) drop the connection;
 * an idle connection is PINGed so the same deadline covers it; TCP
 * keepalive and TCP_USER_TIMEOUT bound a dead host. A connection is "up"
 * only after AUTH, SELECT (and, behind Sentinel, ROLE = master) were
 * answered OK: wrong credentials or a db out of range keep it down with one
 * log line and a counter per reason, and nothing is sent before.
 *
 * When Redis is away the client reconnects by itself with exponential
 * backoff (100 ms .. 5 s, jittered), asking Redis Sentinel for the current
 * master again on every reconnect: after a disconnect, a missed deadline,
 * a -READONLY reply, or a failover the sentinels announce (+switch-master,
 * heard on a third connection to one of them). Each up/down transition is reported once. Callers
 * treat "down" as "no answer" and carry on from what they last knew. This
 * is the only file that calls hiredis.
 *
 * Fork: glibc's resolver threads do not survive fork(), so create clients
 * in the process that uses them (sstp-proxy: in each worker, after the
 * fork), never in a parent that forks and resolves again in the child. */
#ifndef SSTP_LB_LB_REDIS_H
#define SSTP_LB_LB_REDIS_H

#include <ev.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/net.h"

#define RDS_MAX_SENTINELS 8
#define RDS_PREFIX_MAX 64
#define RDS_MAX_PENDING_DEFAULT 65536 /* 10,000 sessions x a few commands each, with room */
#define RDS_REPLY_TIMEOUT_DEFAULT 5.0 /* seconds: a Sentinel failover takes longer than this */
#define RDS_DB_MAX 100000             /* what a URL may name; the server says what exists */

/* Why a connection is down or a command failed: the token is the value of
 * the reason label of the error counter. */
#define RDS_ERR_LIST(X)                                                        \
    X(CONNECT, "connect", "TCP connect failed or timed out")                   \
    X(RESOLVE, "resolve", "the host name did not resolve")                     \
    X(AUTH, "auth", "AUTH refused (user or password)")                         \
    X(SELECT, "select", "SELECT refused (db out of range)")                    \
    X(ROLE, "role", "the server named by Sentinel is not a master")            \
    X(SENTINEL, "sentinel", "no Sentinel named the master")                    \
    X(TIMEOUT, "timeout", "no reply within reply_timeout")                     \
    X(READONLY, "readonly", "a write was answered -READONLY (a replica)")      \
    X(FAILOVER, "failover", "Sentinel announced a new master (+switch-master)") \
    X(CLOSED, "closed", "the server closed the connection")

enum rds_err {
#define X(n, tok, s) RDS_ERR_##n,
    RDS_ERR_LIST(X)
#undef X
    RDS_ERR_COUNT /* keep last: sizes rds_stats.err[] */
};

/* rds_err_name returns the token of e ("auth"), "" when out of range. */
const char *rds_err_name(enum rds_err e);

/* Command classes, each with its own share of max_pending. */
enum rds_class {
    RDS_WRITE = 0, /* fire and forget: nobody waits for the reply */
    RDS_ASK = 1,   /* a reply callback waits: lookups, admission checks */
    RDS_CLASS_COUNT
};

struct rds_opts {
    char host[256];             /* IP literal, or a name (resolved off the loop on each connect) */
    int port;
    char user[64];              /* ACL user; empty = "default" */
    char password[256];         /* empty = no AUTH */
    int db;
    char prefix[RDS_PREFIX_MAX]; /* key prefix, default "sstp:" */
    size_t max_pending;         /* in-flight commands, default RDS_MAX_PENDING_DEFAULT */
    double connect_timeout;     /* seconds, default 2: resolve + connect + AUTH/SELECT */
    double reply_timeout;       /* seconds, default 5: longest wait for an owed reply */
    /* Sentinel: when n_sentinels > 0, host/port are asked of the sentinels */
    struct net_addr sentinels[RDS_MAX_SENTINELS];
    size_t n_sentinels;
    char sentinel_master[64];
    char sentinel_user[64];     /* AUTH to the sentinels; empty user = "default" */
    char sentinel_password[256]; /* empty = no AUTH to the sentinels */
};

struct rds_stats {
    uint64_t sent, replies, errors;  /* errors: error replies and lost replies */
    uint64_t dropped_down;           /* refused while disconnected */
    uint64_t dropped_full;           /* refused: the class's share of max_pending in flight */
    uint64_t connects, disconnects;
    uint64_t err[RDS_ERR_COUNT];     /* connection failures and drops, by reason */
    uint64_t sentinel_queries;       /* SENTINEL get-master-addr-by-name asked */
    uint64_t resolves;               /* host names resolved (off the loop) */
    uint64_t pings;                  /* watchdog PINGs on an idle connection */
    size_t in_flight;                /* commands owed a reply now */
};

struct redisReply;

/* Reply callback: reply is NULL when the connection was lost before the
 * answer (treat as "no answer"). The reply is freed after the callback. */
typedef void (*rds_reply_fn)(const struct redisReply *reply, void *ud);
/* State callback: called once per transition. */
typedef void (*rds_state_fn)(bool up, void *ud);

struct rds;

/* rds_parse_url fills o from "redis://[user:password@]host[:port][/db]"
 * (defaults kept for missing parts; db 0..RDS_DB_MAX). Returns 0 or -1. */
int rds_parse_url(struct rds_opts *o, const char *url);
/* rds_parse_sentinels appends a comma/space separated list of numeric
 * ip:port Sentinel addresses to o. Returns 0, or -1 (bad address, more
 * than RDS_MAX_SENTINELS, or a list too long). */
int rds_parse_sentinels(struct rds_opts *o, const char *list);
/* rds_opts_default sets port 6379, db 0, prefix "sstp:", limits and
 * timeouts. */
void rds_opts_default(struct rds_opts *o);

/* rds_new starts connecting at once (asynchronously). Returns NULL only if
 * memory runs out. */
struct rds *rds_new(struct ev_loop *loop, const struct rds_opts *o, rds_state_fn on_state, void *ud);
/* rds_free disconnects; pending callbacks are called with NULL. */
void rds_free(struct rds *r);

bool rds_is_up(const struct rds *r);
/* rds_down_reason: why the client is down now (the last failure), or
 * RDS_ERR_COUNT while up or before the first attempt ended. */
enum rds_err rds_down_reason(const struct rds *r);
const struct rds_stats *rds_stats(const struct rds *r);
const char *rds_prefix(const struct rds *r);

/* rds_cmd sends one command given as argv (binary-safe, no format string
 * parsing of values). cb may be NULL (fire and forget). The class is
 * RDS_WRITE without cb, RDS_ASK with one. Returns 0 if queued, -1 if
 * refused (down or the class's share full; counted). */
int rds_cmd(struct rds *r, rds_reply_fn cb, void *ud, int argc, const char **argv,
            const size_t *argvlen);
/* rds_cmd_class is rds_cmd with the class chosen by the caller (a write
 * whose reply is read for errors is still RDS_WRITE). */
int rds_cmd_class(struct rds *r, enum rds_class cls, rds_reply_fn cb, void *ud, int argc,
                  const char **argv, const size_t *argvlen);
/* rds_cmdf is rds_cmd with arguments given as NUL-terminated strings. */
int rds_cmdv(struct rds *r, rds_reply_fn cb, void *ud, int argc, const char **argv);

/* rds_subscribe subscribes to one channel; cb gets each message payload
 * (reply is the message array) for as long as r lives. Re-subscribed after
 * each reconnect. Uses a second connection. Returns 0 or -1. */
int rds_subscribe(struct rds *r, const char *channel, rds_reply_fn cb, void *ud);



/* ---- synchronous use, for command-line tools (never in a daemon) ------- */

struct rds_sync;

/* rds_sync_connect connects, authenticates and selects the db (asking the
 * sentinels for the master if any). NULL with a reason in err on failure,
 * including a refused AUTH or SELECT. Blocking: tools only. */
struct rds_sync *rds_sync_connect(const struct rds_opts *o, double timeout_s, char *err, size_t err_len);
/* rds_sync_cmd runs one command; the reply (NULL if the connection failed)
 * is the caller's, freed with rds_sync_reply_free. */
struct redisReply *rds_sync_cmd(struct rds_sync *c, int argc, const char **argv);
/* rds_sync_append queues one command without waiting for its reply
 * (pipelining: many commands, one round trip); rds_sync_next sends what is
 * queued and returns the next reply in order (NULL if the connection
 * failed), the caller's to free. 0 or -1 (out of memory). */
int rds_sync_append(struct rds_sync *c, int argc, const char **argv);
struct redisReply *rds_sync_next(struct rds_sync *c);
void rds_sync_reply_free(struct redisReply *r);
void rds_sync_close(struct rds_sync *c);
#endif
