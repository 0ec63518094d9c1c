/* script.c — EVALSHA with an EVAL fallback on NOSCRIPT (see script.h). */
#include "lb/script.h"

#include <hiredis/hiredis.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* One call in flight: its arguments, kept for the EVAL retry. */
struct call {
    struct rds *r;
    const struct lb_script *s;
    rds_reply_fn cb;
    void *ud;
    int argc;         /* EVALSHA/EVAL, sha/src, numkeys, then args */
    const char **argv;
    char n_keys[16];
    char *blob;       /* the argument bytes, one block */
};

void lb_script_init(struct lb_script *s, const char *src)
{
    unsigned char md[SHA_DIGEST_LENGTH];
    s->src = src;
    SHA1((const unsigned char *)src, strlen(src), md);
    for (int i = 0; i < SHA_DIGEST_LENGTH; i++)
        snprintf(s->sha1 + 2 * i, 3, "%02x", md[i]);
}

static void call_free(struct call *c)
{
    free(c->argv);
    free(c->blob);
    free(c);
}

static void on_eval(const struct redisReply *reply, void *ud)
{
    struct call *c = ud;
    if (c->cb)
        c->cb(reply, c->ud);
    call_free(c);
}

static void on_evalsha(const struct redisReply *reply, void *ud)
{
    struct call *c = ud;
    if (reply && reply->type == REDIS_REPLY_ERROR && strncmp(reply->str, "NOSCRIPT", 8) == 0) {
        c->argv[0] = "EVAL";
        c->argv[1] = c->s->src;
        if (rds_cmdv(c->r, on_eval, c, c->argc, c->argv) == 0)
            return;
        reply = NULL; /* refused: as if the connection were lost */
    }
    on_eval(reply, c);
}

int lb_script_call(struct rds *r, const struct lb_script *s, rds_reply_fn cb, void *ud, int n_keys,
                   int n_args, const char *const *args)
{
    size_t total = 0;
    for (int i = 0; i < n_args; i++)
        total += strlen(args[i]) + 1;
    struct call *c = calloc(1, sizeof *c);
    if (!c || !(c->argv = malloc((size_t)(n_args + 3) * sizeof *c->argv)) ||
        !(c->blob = malloc(total ? total : 1))) {
        if (c)
            free(c->argv);
        free(c);
        return -1;
    }
    c->r = r;
    c->s = s;
    c->cb = cb;
    c->ud = ud;
    c->argc = n_args + 3;
    snprintf(c->n_keys, sizeof c->n_keys, "%d", n_keys);
    c->argv[0] = "EVALSHA";
    c->argv[1] = s->sha1;
    c->argv[2] = c->n_keys;
    char *p = c->blob;
    for (int i = 0; i < n_args; i++) {
        size_t n = strlen(args[i]) + 1;
        memcpy(p, args[i], n);
        c->argv[3 + i] = p;
        p += n;
    }
    if (rds_cmdv(r, on_evalsha, c, c->argc, c->argv) == -1) {
        call_free(c);
        return -1;
    }
    return 0;
}
