/* affinity.c — affinity keys and their Redis records (see affinity.h). */
#include "lb/affinity.h"

#include <arpa/inet.h>
#include <hiredis/hiredis.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lb/redis.h"
#include "lb/schema.h"

const char *const lb_aff_mode_names[] = { "none", "client_ip", "client_prefix", "client_cert",
                                          "tenant", NULL };

struct lb_aff_get {
    lb_aff_fn fn; /* NULL once cancelled */
    void *ud;
};

static void mask_bits(uint8_t *a, size_t len, unsigned bits)
{
    for (size_t i = 0; i < len; i++) {
        unsigned keep = bits >= 8 * (i + 1) ? 8 : bits > 8 * i ? bits - 8 * (unsigned)i : 0;
        a[i] &= (uint8_t)(0xFF << (8 - keep));
    }
}

int lb_aff_key(char *out, size_t out_len, const struct lb_aff_cfg *cfg,
               const struct sockaddr *client, const uint8_t *cert_sha256, const char *tenant)
{
    char ip[INET6_ADDRSTRLEN];
    uint8_t a[16];
    int family;
    if (cfg->mode == LB_AFF_CLIENT_CERT) {
        if (!cert_sha256)
            return -1;
        int n = snprintf(out, out_len, "cert:");
        for (int i = 0; i < 32 && (size_t)n + 2 < out_len; i++)
            n += snprintf(out + n, out_len - (size_t)n, "%02x", cert_sha256[i]);
        return 0;
    }
    if (cfg->mode == LB_AFF_TENANT) {
        if (!tenant || !tenant[0])
            return -1;
        snprintf(out, out_len, "tenant:%s", tenant);
        return 0;
    }
    if (cfg->mode != LB_AFF_CLIENT_IP && cfg->mode != LB_AFF_CLIENT_PREFIX)
        return -1;
    if (!client)
        return -1;
    if (client->sa_family == AF_INET) {
        family = AF_INET;
        memcpy(a, &((const struct sockaddr_in *)client)->sin_addr, 4);
    } else if (client->sa_family == AF_INET6) {
        const struct in6_addr *a6 = &((const struct sockaddr_in6 *)client)->sin6_addr;
        family = IN6_IS_ADDR_V4MAPPED(a6) ? AF_INET : AF_INET6;
        memcpy(a, family == AF_INET ? &a6->s6_addr[12] : a6->s6_addr, family == AF_INET ? 4 : 16);
    } else {
        return -1;
    }
    if (cfg->mode == LB_AFF_CLIENT_IP) {
        inet_ntop(family, a, ip, sizeof ip);
        snprintf(out, out_len, "ip:%s", ip);
        return 0;
    }
    unsigned bits = family == AF_INET ? cfg->prefix4 : cfg->prefix6;
    unsigned max = family == AF_INET ? 32 : 128;
    if (bits > max)
        bits = max;
    mask_bits(a, family == AF_INET ? 4 : 16, bits);
    inet_ntop(family, a, ip, sizeof ip);
    snprintf(out, out_len, "net:%s/%u", ip, bits);
    return 0;
}

static void on_get(const struct redisReply *r, void *ud)
{
    struct lb_aff_get *g = ud;
    if (g->fn)
        g->fn(r && r->type == REDIS_REPLY_STRING ? r->str : NULL, g->ud);
    free(g);
}

struct lb_aff_get *lb_aff_lookup(struct rds *rds, const char *key, lb_aff_fn fn, void *ud)
{
    char k[SCHEMA_KEY_MAX];
    struct lb_aff_get *g = malloc(sizeof *g);
    if (!g)
        return NULL;
    g->fn = fn;
    g->ud = ud;
    if (rds_cmdv(rds, on_get, g, 2,
                 (const char *[]){ "GET", schema_key(k, sizeof k, rds_prefix(rds), SCHEMA_K_AFFINITY, key) }) == -1) {
        free(g);
        return NULL;
    }
    return g;
}

void lb_aff_cancel(struct lb_aff_get *g)
{
    if (g)
        g->fn = NULL;
}

void lb_aff_record(struct rds *rds, const char *key, const char *backend, double ttl)
{
    char k[SCHEMA_KEY_MAX], secs[24];
    snprintf(secs, sizeof secs, "%ld", ttl < 1 ? 1L : (long)ttl);
    rds_cmdv(rds, NULL, NULL, 5,
             (const char *[]){ "SET", schema_key(k, sizeof k, rds_prefix(rds), SCHEMA_K_AFFINITY, key),
                               backend, "EX", secs });
}
