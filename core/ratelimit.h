/* ratelimit.h — new connections per second per source address.
 *
 * A token bucket per source IP in a fixed-size table: memory is bounded
 * whatever the number of sources (a full neighbourhood evicts its least
 * recently seen entry), and nothing is allocated after init. */
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
};

/* ratelimit_init: n_slots is rounded up to a power of two. Returns 0 or -1. */
int ratelimit_init(struct ratelimit *r, size_t n_slots, double rate, double burst);
void ratelimit_cleanup(struct ratelimit *r);
/* ratelimit_allow takes one token for sa's IP at time now (seconds).
 * Returns true if the connection may proceed. */
bool ratelimit_allow(struct ratelimit *r, const struct sockaddr *sa, double now);

#endif
