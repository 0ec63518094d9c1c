/* srclimit.c — per-prefix concurrency counters in a bounded table
 * (see srclimit.h). Open addressing with a short probe window: a prefix
 * lives in one of PROBE slots after its hash, a slot at count 0 is free. */
#include "core/srclimit.h"

#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#define PROBE 16 /* slots searched per lookup; bounds the work per call */
#define MIN_SLOTS 16

int srclimit_init(struct srclimit *l, size_t n_slots, uint32_t max,
                  unsigned v4_prefix, unsigned v6_prefix)
{
    memset(l, 0, sizeof *l);
    if (v4_prefix < 1 || v4_prefix > 32 || v6_prefix < 1 || v6_prefix > 128)
        return -1;
    size_t n = MIN_SLOTS;
    while (n < n_slots) {
        if (n > SIZE_MAX / 2 / sizeof *l->slots)
            return -1;
        n <<= 1;
    }
    l->slots = calloc(n, sizeof *l->slots);
    if (!l->slots)
        return -1;
    /* A fixed seed only if the kernel cannot give one: placement then
     * becomes predictable, but a full window still only refuses. */
    if (getrandom(&l->seed, sizeof l->seed, GRND_NONBLOCK) != (ssize_t)sizeof l->seed)
        l->seed = 0x5bd1e9955bd1e995ull;
    l->n_slots = n;
    l->max = max;
    l->v4_prefix = v4_prefix;
    l->v6_prefix = v6_prefix;
    return 0;
}

void srclimit_cleanup(struct srclimit *l)
{
    free(l->slots);
    l->slots = NULL;
    l->n_slots = 0;
    l->n_used = 0;
}

void srclimit_set_max(struct srclimit *l, uint32_t max)
{
    l->max = max;
}

static void keep_prefix(uint8_t *b, size_t len, unsigned prefix)
{
    for (size_t i = 0; i < len; i++) {
        unsigned bit = (unsigned)i * 8;
        if (bit >= prefix)
            b[i] = 0;
        else if (prefix - bit < 8)
            b[i] &= (uint8_t)(0xff << (8 - (prefix - bit)));
    }
}

bool srclimit_key_of(const struct srclimit *l, struct srclimit_key *out,
                     const struct sockaddr *sa)
{
    static const uint8_t v4_mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };
    memset(out, 0, sizeof *out);
    if (sa->sa_family == AF_INET) {
        memcpy(out->b, v4_mapped, sizeof v4_mapped);
        memcpy(out->b + 12, &((const struct sockaddr_in *)sa)->sin_addr, 4);
    } else if (sa->sa_family == AF_INET6) {
        memcpy(out->b, &((const struct sockaddr_in6 *)sa)->sin6_addr, 16);
    } else {
        return false;
    }
    /* A dual-stack listener shows IPv4 clients as ::ffff:a.b.c.d: they are
     * IPv4 hosts and get the IPv4 prefix. */
    if (memcmp(out->b, v4_mapped, sizeof v4_mapped) == 0)
        keep_prefix(out->b + 12, 4, l->v4_prefix);
    else
        keep_prefix(out->b, 16, l->v6_prefix);
    return true;
}

static size_t hash_of(const struct srclimit *l, const struct srclimit_key *k)
{
    uint64_t h = 1469598103934665603ull ^ l->seed; /* FNV-1a, seeded */
    for (size_t i = 0; i < sizeof k->b; i++)
        h = (h ^ k->b[i]) * 1099511628211ull;
    h ^= h >> 32;
    return (size_t)(h * 0x9e3779b97f4a7c15ull >> 7);
}

/* find returns the slot holding key, or NULL; *out_free gets the first free
 * slot of the window (NULL if none). */
static struct srclimit_entry *find(const struct srclimit *l, const struct srclimit_key *key,
                                   struct srclimit_entry **out_free)
{
    size_t base = hash_of(l, key), mask = l->n_slots - 1;
    if (out_free)
        *out_free = NULL;
    for (size_t i = 0; i < PROBE && i < l->n_slots; i++) {
        struct srclimit_entry *e = &l->slots[(base + i) & mask];
        if (e->count == 0) {
            if (out_free && !*out_free)
                *out_free = e;
            continue;
        }
        if (memcmp(&e->key, key, sizeof *key) == 0)
            return e;
    }
    return NULL;
}

enum srclimit_verdict srclimit_acquire(struct srclimit *l, struct srclimit_key *out_key,
                                       const struct sockaddr *sa)
{
    if (!l->slots || !srclimit_key_of(l, out_key, sa))
        return SRCLIMIT_FULL;
    struct srclimit_entry *free_slot, *e = find(l, out_key, &free_slot);
    if (e) {
        if (l->max && e->count >= l->max)
            return SRCLIMIT_OVER;
        if (e->count == UINT32_MAX)
            return SRCLIMIT_OVER;
        e->count++;
        return SRCLIMIT_OK;
    }
    if (!free_slot)
        return SRCLIMIT_FULL;
    free_slot->key = *out_key;
    free_slot->count = 1;
    l->n_used++;
    return SRCLIMIT_OK;
}

bool srclimit_release(struct srclimit *l, const struct srclimit_key *key)
{
    if (!l->slots)
        return false;
    struct srclimit_entry *e = find(l, key, NULL);
    if (!e)
        return false;
    if (--e->count == 0)
        l->n_used--;
    return true;
}

uint32_t srclimit_count(const struct srclimit *l, const struct sockaddr *sa)
{
    struct srclimit_key key;
    if (!l->slots || !srclimit_key_of(l, &key, sa))
        return 0;
    const struct srclimit_entry *e = find(l, &key, NULL);
    return e ? e->count : 0;
}

const char *srclimit_verdict_name(enum srclimit_verdict v)
{
    switch (v) {
    case SRCLIMIT_OK: return "ok";
    case SRCLIMIT_OVER: return "over";
    case SRCLIMIT_FULL: return "full";
    }
    return "?";
}
