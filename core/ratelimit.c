/* ratelimit.c — per-source token buckets in a bounded table (see ratelimit.h). */
#include "core/ratelimit.h"

#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#define PROBE 8 /* slots searched per lookup; the oldest of them is evicted */

int ratelimit_init(struct ratelimit *r, size_t n_slots, double rate, double burst)
{
    size_t n = 16;
    while (n < n_slots)
        n <<= 1;
    r->slots = calloc(n, sizeof *r->slots);
    if (!r->slots)
        return -1;
    r->n_slots = n;
    r->rate = rate;
    r->burst = burst < 1 ? 1 : burst;
    return 0;
}

void ratelimit_cleanup(struct ratelimit *r)
{
    free(r->slots);
    r->slots = NULL;
}

static void key_of(uint8_t key[16], const struct sockaddr *sa)
{
    memset(key, 0, 16);
    if (sa->sa_family == AF_INET) {
        key[10] = key[11] = 0xff;
        memcpy(key + 12, &((const struct sockaddr_in *)sa)->sin_addr, 4);
    } else if (sa->sa_family == AF_INET6) {
        memcpy(key, &((const struct sockaddr_in6 *)sa)->sin6_addr, 16);
    }
}

static size_t hash_of(const uint8_t key[16])
{
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (int i = 0; i < 16; i++)
        h = (h ^ key[i]) * 1099511628211ull;
    return (size_t)(h ^ (h >> 29));
}

bool ratelimit_allow(struct ratelimit *r, const struct sockaddr *sa, double now)
{
    uint8_t key[16];
    if (r->rate <= 0 || !r->slots)
        return true;
    key_of(key, sa);
    size_t base = hash_of(key), mask = r->n_slots - 1;
    struct ratelimit_entry *e = NULL, *oldest = NULL;
    for (size_t i = 0; i < PROBE; i++) {
        struct ratelimit_entry *s = &r->slots[(base + i) & mask];
        if (s->last != 0 && memcmp(s->key, key, 16) == 0) {
            e = s;
            break;
        }
        if (!oldest || s->last < oldest->last)
            oldest = s;
    }
    if (!e) {
        e = oldest;
        memcpy(e->key, key, 16);
        e->tokens = r->burst;
        e->last = now;
    }
    e->tokens += (now - e->last) * r->rate;
    if (e->tokens > r->burst)
        e->tokens = r->burst;
    e->last = now > 0 ? now : 1e-9;
    if (e->tokens < 1)
        return false;
    e->tokens -= 1;
    return true;
}
