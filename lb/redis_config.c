/* redis_config.c — [redis] options to struct rds_opts (see redis_config.h). */
#include "lb/redis_config.h"

#include <stdio.h>
#include <string.h>

static const char *str(const char *s)
{
    return s ? s : "";
}

bool rds_config_enabled(const struct rds_config *c)
{
    return c->url && c->url[0];
}

/* copies s into out[out_len]; -1 when it would not fit */
static int copy(char *out, size_t out_len, const char *s)
{
    if (strlen(str(s)) >= out_len)
        return -1;
    snprintf(out, out_len, "%s", str(s));
    return 0;
}

int rds_config_opts(struct rds_opts *out, const struct rds_config *c, char *err, size_t err_len)
{
    rds_opts_default(out);
    if (!rds_config_enabled(c))
        return 0;
    const char *bad = NULL;
    if (rds_parse_url(out, c->url) == -1)
        bad = "redis.url: not redis://[user:password@]host[:port][/db] (db 0..100000)";
    else if (!str(c->prefix)[0] || copy(out->prefix, sizeof out->prefix, c->prefix) == -1)
        bad = "redis.prefix: must be 1..63 bytes";
    else if (str(c->sentinels)[0] && rds_parse_sentinels(out, c->sentinels) == -1)
        bad = "redis.sentinels: not a list of up to 8 ip:port";
    else if (!str(c->sentinel_master)[0] ||
             copy(out->sentinel_master, sizeof out->sentinel_master, c->sentinel_master) == -1)
        bad = "redis.sentinel_master: must be 1..63 bytes";
    else if (copy(out->sentinel_user, sizeof out->sentinel_user, c->sentinel_user) == -1)
        bad = "redis.sentinel_user: longer than 63 bytes";
    else if (copy(out->sentinel_password, sizeof out->sentinel_password, c->sentinel_password) == -1)
        bad = "redis.sentinel_password: longer than 255 bytes";
    if (bad) {
        if (err)
            snprintf(err, err_len, "%s", bad);
        return -1;
    }
    if (c->connect_timeout > 0)
        out->connect_timeout = c->connect_timeout;
    if (c->reply_timeout > 0)
        out->reply_timeout = c->reply_timeout;
    if (c->max_pending > 0)
        out->max_pending = (size_t)c->max_pending;
    return 1;
}

const char *rds_config_diff(const struct rds_config *a, const struct rds_config *b)
{
    const struct { const char *name, *a, *b; } strs[] = {
        { "redis.url", a->url, b->url },
        { "redis.prefix", a->prefix, b->prefix },
        { "redis.sentinels", a->sentinels, b->sentinels },
        { "redis.sentinel_master", a->sentinel_master, b->sentinel_master },
        { "redis.sentinel_user", a->sentinel_user, b->sentinel_user },
        { "redis.sentinel_password", a->sentinel_password, b->sentinel_password },
    };
    for (size_t i = 0; i < sizeof strs / sizeof strs[0]; i++)
        if (strcmp(str(strs[i].a), str(strs[i].b)) != 0)
            return strs[i].name;
    if (a->connect_timeout != b->connect_timeout)
        return "redis.connect_timeout";
    if (a->reply_timeout != b->reply_timeout)
        return "redis.reply_timeout";
    if (a->max_pending != b->max_pending)
        return "redis.max_pending";
    if (a->ready_needs_redis != b->ready_needs_redis)
        return "redis.ready_needs_redis";
    return NULL;
}
