/* ratelimit.h — new connections per second per source address prefix.
 *
 * A token bucket per source prefix in a fixed-size table: memory is bounded
 * whatever the number of sources (a full neighbourhood evicts its least
 * recently seen entry), and nothing is allocated after init. IPv4 counts
 * per /32 and IPv6 per /64 by default: one IPv6 host owns a whole /64, so
 * counting per address would let it take 2^64 buckets. */
#ifndef SSTP_LB_CORE_RATELIMIT_H
#define SSTP_LB_CORE_RATELIMIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

struct ratelimit_entry {
    uint8_t key[16];   /* IPv6, or IPv4-mapped */
    double tokens;
    double last;       /* seconds; 0 = slot unused */
};

struct ratelimit {
    struct ratelimit_entry *slots;
    size_t n_slots;    /* power of two */
    double rate;       /* tokens per second; 0 = unlimited */
    double burst;
    unsigned v4_prefix, v6_prefix; /* bits of an address that name its source */
};

/* ratelimit_init: n_slots is rounded up to a power of two; sources are
 * IPv4 /32 and IPv6 /64 prefixes (IPv4-mapped IPv6 counts as IPv4).
 * Returns 0 or -1. */
int ratelimit_init(struct ratelimit *r, size_t n_slots, double rate, double burst);
/* ratelimit_set_prefix changes what one source is: v4 1..32, v6 1..128
 * bits. Buckets of the old grouping are forgotten. Returns 0, or -1 for
 * out-of-range prefixes (nothing changed). */
int ratelimit_set_prefix(struct ratelimit *r, unsigned v4_prefix, unsigned v6_prefix);
void ratelimit_cleanup(struct ratelimit *r);
/* ratelimit_allow takes one token for sa's IP at time now (seconds).
 * Returns true if the connection may proceed. */
bool ratelimit_allow(struct ratelimit *r, const struct sockaddr *sa, double now);

#endif
