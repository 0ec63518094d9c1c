/* redis_config.h — the [redis] connection options both daemons share: one
 * fragment of option table, one converter to the client's options.
 *
 * Each daemon embeds a struct rds_config in its config struct and puts
 * RDS_CONFIG_OPTS(its struct type, its member, its url help) in its table, so
 * the names, ranges, defaults and checks are the same on proxies and
 * backends (and --help and conf/ document them from the same text). */
#ifndef SSTP_LB_LB_REDIS_CONFIG_H
#define SSTP_LB_LB_REDIS_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

#include "core/config.h"
#include "lb/redis.h"

struct rds_config {
    char *url;                   /* "" = no Redis */
    char *prefix, *sentinels, *sentinel_master, *sentinel_user, *sentinel_password;
    double connect_timeout, reply_timeout;
    long max_pending;
    bool ready_needs_redis;      /* /readyz answers 503 while the link is down */
};

#define RDS_OPT_(nm, ty, st, fld, mn, mx, df, hlp)                                      \
    { .section = "redis", .name = nm, .type = ty, .offset = offsetof(st, fld), .min = mn, \
      .max = mx, .def = df, .help = hlp }

/* The [redis] options of one daemon's table; url_help says what Redis is
 * for in that daemon. */
#define RDS_CONFIG_OPTS(st, member, url_help)                                                   \
    RDS_OPT_("url", CFG_STR, st, member.url, 0, 0, NULL,                                        \
             "redis://[user:password@]host[:port][/db] of the fleet's Redis (host: an IP address, " \
             "or a name resolved off the event loop at each connect); " url_help),                \
    RDS_OPT_("prefix", CFG_STR, st, member.prefix, 0, 0, "sstp:",                               \
             "prefix of every key (the same on proxies, backends and sstpctl; at most 63 bytes)"), \
    RDS_OPT_("sentinels", CFG_STR, st, member.sentinels, 0, 0, NULL,                            \
             "comma separated ip:port of Redis Sentinels; when set, the master named "             \
             "sentinel_master is asked of them at every (re)connect (url still gives user, "        \
             "password and db)"),                                                                  \
    RDS_OPT_("sentinel_master", CFG_STR, st, member.sentinel_master, 0, 0, "mymaster",          \
             "master name known to the sentinels"),                                                \
    RDS_OPT_("sentinel_user", CFG_STR, st, member.sentinel_user, 0, 0, NULL,                    \
             "ACL user for AUTH to the sentinels (empty = default user)"),                         \
    RDS_OPT_("sentinel_password", CFG_STR, st, member.sentinel_password, 0, 0, NULL,            \
             "password for AUTH to the sentinels (their requirepass); empty = no AUTH"),           \
    RDS_OPT_("connect_timeout", CFG_MSEC, st, member.connect_timeout, 0.1, 60, "2s",            \
             "time to resolve, connect and pass AUTH/SELECT before the attempt is retried"),       \
    RDS_OPT_("reply_timeout", CFG_MSEC, st, member.reply_timeout, 0.1, 300, "5s",               \
             "a connection owing replies that has answered nothing for this long is dropped "      \
             "and reconnected (a hung Redis); an idle one is PINGed so this covers it too"),      \
    RDS_OPT_("max_pending", CFG_INT, st, member.max_pending, 16, 10000000, "65536",             \
             "Redis commands in flight at once per connection; beyond, commands are refused and " \
             "counted (writes and lookups each keep 1/8 of it for themselves)"),                  \
    RDS_OPT_("ready_needs_redis", CFG_BOOL, st, member.ready_needs_redis, 0, 0, "no",             \
             "yes: /readyz answers 503 \"redis down\" while the Redis link is down; no: a Redis "  \
             "outage (shared by the whole fleet) never takes every node out of its load "          \
             "balancer: it is logged, counted and shown in /metrics, and the daemons serve on")

/* rds_config_enabled: a Redis URL is set. */
bool rds_config_enabled(const struct rds_config *c);

/* rds_config_opts fills out from c. Returns 1, 0 when no Redis is
 * configured (url empty; out holds the defaults), or -1 with the option and
 * the reason in err (a URL that does not parse, a prefix or a name too
 * long, a bad Sentinel list). Nothing is truncated silently. */
int rds_config_opts(struct rds_opts *out, const struct rds_config *c, char *err, size_t err_len);

/* rds_config_diff names the first option that differs between a and b
 * ("redis.url"), or NULL when they connect the same way. */
const char *rds_config_diff(const struct rds_config *a, const struct rds_config *b);

#endif
