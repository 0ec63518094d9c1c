/* redis.h — the one asynchronous Redis client of sstp-lb (hiredis on libev).
 *
 * Never blocks the loop: commands are queued to hiredis and answered by
 * callback. Bounded: at most max_pending commands in flight; beyond that a
 * command is refused (-1) and counted, never queued. When Redis is away the
 * client reconnects by itself with exponential backoff (100 ms .. 5 s,
 * jittered), optionally asking Redis Sentinel for the current master, and
 * reports each up/down transition once. Callers treat "down" as "no answer"
 * and carry on from what they last knew. This is the only file that calls
 * hiredis. */
#ifndef SSTP_LB_LB_REDIS_H
#define SSTP_LB_LB_REDIS_H

#include <ev.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/net.h"

#define RDS_MAX_SENTINELS 8
#define RDS_PREFIX_MAX 64

struct redisReply;

struct rds_opts {
    char host[256];             /* numeric address or a name (resolved on each connect) */
    int port;
    char user[64];              /* ACL user; empty = "default" */
    char password[256];         /* empty = no AUTH */
    int db;
    char prefix[RDS_PREFIX_MAX]; /* key prefix, default "sstp:" */
    size_t max_pending;         /* in-flight commands, default 1024 */
    double connect_timeout;     /* seconds, default 2 */
    /* Sentinel: when n_sentinels > 0, host/port are asked of the sentinels */
    struct net_addr sentinels[RDS_MAX_SENTINELS];
    size_t n_sentinels;
    char sentinel_master[64];
};

struct rds_stats {
    uint64_t sent, replies, errors;  /* errors: error replies and lost replies */
    uint64_t dropped_down;           /* refused while disconnected */
    uint64_t dropped_full;           /* refused: max_pending in flight */
    uint64_t connects, disconnects;
};

/* Reply callback: reply is NULL when the connection was lost before the
 * answer (treat as "no answer"). The reply is freed after the callback. */
typedef void (*rds_reply_fn)(const struct redisReply *reply, void *ud);
/* State callback: called once per transition. */
typedef void (*rds_state_fn)(bool up, void *ud);

struct rds;

/* rds_parse_url fills o from "redis://[user:password@]host[:port][/db]"
 * (defaults kept for missing parts). Returns 0 or -1. */
int rds_parse_url(struct rds_opts *o, const char *url);
/* rds_parse_sentinels appends a comma/space separated list of numeric
 * ip:port Sentinel addresses to o. Returns 0, or -1 (bad address, more
 * than RDS_MAX_SENTINELS, or a list too long). */
int rds_parse_sentinels(struct rds_opts *o, const char *list);
/* rds_opts_default sets port 6379, db 0, prefix "sstp:", limits. */
void rds_opts_default(struct rds_opts *o);

/* rds_new starts connecting at once (asynchronously). Returns NULL only if
 * memory runs out. */
struct rds *rds_new(struct ev_loop *loop, const struct rds_opts *o, rds_state_fn on_state, void *ud);
/* rds_free disconnects; pending callbacks are called with NULL. */
void rds_free(struct rds *r);

bool rds_is_up(const struct rds *r);
const struct rds_stats *rds_stats(const struct rds *r);
const char *rds_prefix(const struct rds *r);

/* rds_cmd sends one command given as argv (binary-safe, no format string
 * parsing of values). cb may be NULL (fire and forget). Returns 0 if
 * queued, -1 if refused (down or full; counted). */
int rds_cmd(struct rds *r, rds_reply_fn cb, void *ud, int argc, const char **argv,
            const size_t *argvlen);
/* rds_cmdf is rds_cmd with arguments given as NUL-terminated strings. */
int rds_cmdv(struct rds *r, rds_reply_fn cb, void *ud, int argc, const char **argv);

/* rds_subscribe subscribes to one channel; cb gets each message payload
 * (reply is the message array) for as long as r lives. Re-subscribed after
 * each reconnect. Uses a second connection. Returns 0 or -1. */
int rds_subscribe(struct rds *r, const char *channel, rds_reply_fn cb, void *ud);



/* ---- synchronous use, for command-line tools (never in a daemon) ------- */

struct rds_sync;

/* rds_sync_connect connects, authenticates and selects the db (asking the
 * sentinels for the master if any). NULL with a reason in err on failure. */
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
