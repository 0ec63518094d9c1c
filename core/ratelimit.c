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
    r->v4_prefix = 32;
    r->v6_prefix = 64;
    return 0;
}

int ratelimit_set_prefix(struct ratelimit *r, unsigned v4_prefix, unsigned v6_prefix)
{
    if (v4_prefix < 1 || v4_prefix > 32 || v6_prefix < 1 || v6_prefix > 128)
        return -1;
    if (v4_prefix != r->v4_prefix || v6_prefix != r->v6_prefix)
        memset(r->slots, 0, r->n_slots * sizeof *r->slots);
    r->v4_prefix = v4_prefix;
    r->v6_prefix = v6_prefix;
    return 0;
}

/* Zeroes the bits of key past the first `bits`. */
static void keep_bits(uint8_t key[16], unsigned bits)
{
    for (unsigned i = 0; i < 16; i++) {
        unsigned from = i * 8;
        if (from >= bits)
            key[i] = 0;
        else if (bits - from < 8)
            key[i] &= (uint8_t)(0xff << (8 - (bits - from)));
    }
}

void ratelimit_cleanup(struct ratelimit *r)
{
    free(r->slots);
    r->slots = NULL;
}

static void key_of(const struct ratelimit *r, uint8_t key[16], const struct sockaddr *sa)
{
    static const uint8_t mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };
    memset(key, 0, 16);
    if (sa->sa_family == AF_INET) {
        memcpy(key, mapped, sizeof mapped);
        memcpy(key + 12, &((const struct sockaddr_in *)sa)->sin_addr, 4);
    } else if (sa->sa_family == AF_INET6) {
        memcpy(key, &((const struct sockaddr_in6 *)sa)->sin6_addr, 16);
    }
    /* IPv4 (plain or mapped): the prefix counts within its last 32 bits */
    keep_bits(key, memcmp(key, mapped, sizeof mapped) == 0 ? 96 + r->v4_prefix : r->v6_prefix);
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
    key_of(r, key, sa);
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
