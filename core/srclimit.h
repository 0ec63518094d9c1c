/* srclimit.h — concurrent things per source address prefix.
 *
 * A bounded table of counters keyed by the source address cut to a prefix
 * (IPv4 /32 and IPv6 /64 by default: one IPv6 host owns a whole /64). A
 * caller acquires a slot when something expensive starts for a source (a
 * negotiating session, a backend connection) and releases it when that ends.
 * Memory is fixed at init; a slot whose count is zero is free, so only idle
 * entries are ever reused, and a table too full to place a new source
 * refuses it rather than evicting a busy one. */
#ifndef SSTP_LB_CORE_SRCLIMIT_H
#define SSTP_LB_CORE_SRCLIMIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

/* The address prefix a count belongs to: IPv6, or IPv4-mapped (::ffff:a.b.c.d),
 * with the bits past the prefix zeroed. Small enough to keep in a session. */
struct srclimit_key {
    uint8_t b[16];
};

struct srclimit_entry {
    struct srclimit_key key;
    uint32_t count;     /* 0 = slot free */
};

struct srclimit {
    struct srclimit_entry *slots;
    size_t n_slots;     /* power of two */
    uint64_t seed;      /* keyed hash: a client cannot aim at one probe window */
    uint32_t max;       /* per prefix; 0 = unlimited */
    unsigned v4_prefix; /* 1..32 */
    unsigned v6_prefix; /* 1..128 */
    size_t n_used;      /* slots with count > 0 */
};

enum srclimit_verdict {
    SRCLIMIT_OK = 0,    /* acquired: release it later with the same key */
    SRCLIMIT_OVER,      /* this prefix already holds max */
    SRCLIMIT_FULL,      /* no free slot near this prefix's hash: refused */
};

/* srclimit_init sizes the table for at least n_slots prefixes (rounded up to
 * a power of two, at least 16) and seeds the hash from the kernel's random
 * source. max 0 means unlimited (acquire still counts). v4_prefix must be
 * 1..32 and v6_prefix 1..128. Returns 0, or -1 on bad arguments or ENOMEM. */
int srclimit_init(struct srclimit *l, size_t n_slots, uint32_t max,
                  unsigned v4_prefix, unsigned v6_prefix);
void srclimit_cleanup(struct srclimit *l);
/* srclimit_set_max changes the cap (a reload); counts held are kept, and a
 * prefix over a lowered cap is refused until it drops below it. */
void srclimit_set_max(struct srclimit *l, uint32_t max);

/* srclimit_key_of fills out with sa's prefix key (IPv4, IPv6 or
 * IPv4-mapped IPv6, which counts as IPv4). Returns false for other families. */
bool srclimit_key_of(const struct srclimit *l, struct srclimit_key *out,
                     const struct sockaddr *sa);

/* srclimit_acquire counts one more for sa's prefix. SRCLIMIT_OK: *out_key
 * is set and must be given back to srclimit_release exactly once.
 * SRCLIMIT_OVER / SRCLIMIT_FULL: nothing is held (*out_key is still set, for
 * logging). An address of another family is refused as SRCLIMIT_FULL. */
enum srclimit_verdict srclimit_acquire(struct srclimit *l, struct srclimit_key *out_key,
                                       const struct sockaddr *sa);
/* srclimit_release gives back one count taken by srclimit_acquire. Returns
 * false (and changes nothing) if the key holds no count: a caller bug. */
bool srclimit_release(struct srclimit *l, const struct srclimit_key *key);
/* srclimit_count returns how many sa's prefix holds now. */
uint32_t srclimit_count(const struct srclimit *l, const struct sockaddr *sa);

/* srclimit_verdict_name: "ok", "over", "full" (log keys, metric labels). */
const char *srclimit_verdict_name(enum srclimit_verdict v);

#endif
