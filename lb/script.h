/* script.h — Lua scripts run through lb/redis.c by their SHA-1 (EVALSHA),
 * sent again whole (EVAL) when Redis answers NOSCRIPT: a restarted or
 * failed-over Redis has an empty script cache, and the write must not be
 * lost for it. Each script runs atomically on the server, so a script is
 * the unit of "all of this or none of it" in the fleet schema. */
#ifndef SSTP_LB_LB_SCRIPT_H
#define SSTP_LB_LB_SCRIPT_H

#include <stddef.h>

#include "lb/redis.h"

struct lb_script {
    const char *src;
    char sha1[41]; /* hex, filled by lb_script_init */
};

/* lb_script_init computes the script's SHA-1 (what EVALSHA names it by). */
void lb_script_init(struct lb_script *s, const char *src);

/* lb_script_call runs s with n_keys keys followed by the other arguments
 * (args[0 .. n_args), NUL-terminated strings, copied). cb (may be NULL)
 * gets the reply of the EVALSHA, or of the EVAL sent after a NOSCRIPT, or
 * NULL when the connection was lost. Returns 0 if sent, -1 if refused
 * (Redis down or max_pending in flight; cb is not called). */
int lb_script_call(struct rds *r, const struct lb_script *s, rds_reply_fn cb, void *ud, int n_keys,
                   int n_args, const char *const *args);

#endif
