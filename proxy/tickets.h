/* tickets.h — TLS session ticket keys with forward secrecy, bound to the
 * client-certificate policy.
 *
 * A ring holds base keys B (32 bytes each); [0] encrypts new tickets, every
 * one decrypts. Two kinds:
 *  - random (the default): a seed from the master's RAND_bytes at start,
 *    moved on by a one-way ratchet at each epoch of `rotate` seconds
 *    (epoch = floor(unix time / rotate)):
 *        B(e+1) = HMAC-SHA256(B(e), "sstp-proxy ticket ratchet v2")
 *    The ring keeps B(e) and B(e-1) only: each step wipes the older one, so
 *    memory read later can neither decrypt a ticket (nor the TLS 1.2
 *    session in it) older than two epochs nor forge one. Every process
 *    forked from the master steps the same chain by the same clock, so a
 *    ticket from one worker resumes on any other;
 *  - from the operator's file (ticket_key_file): one base64 line per key,
 *    each of at least 32 random bytes, B = SHA-256(bytes); the first line
 *    encrypts, all decrypt (HAProxy's tls-ticket-keys, nginx's
 *    ssl_session_ticket_key). Proxies sharing the file resume each other's
 *    sessions; the operator rotates (a new first line, the last one
 *    dropped, SIGHUP) and the replaced ring is wiped.
 * The keys of a ticket come from B and the 32-byte policy digest (client
 * verification, CA, CRLs; see tls_ctx.c):
 *        K(label) = HMAC-SHA256(B, "sstp-proxy ticket v2" | label | policy)
 *        name = K("name")[0:16], aes = K("aes") (AES-256-CBC), hmac = K("hmac")
 * so a policy change makes every older ticket a full handshake.
 * Pure apart from the HMAC and the seed: the caller passes the time. */
#ifndef SSTP_LB_PROXY_TICKETS_H
#define SSTP_LB_PROXY_TICKETS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PX_TICKET_BASE_LEN   32
#define PX_TICKET_POLICY_LEN 32
#define PX_TICKET_NAME_LEN   16 /* OpenSSL's key_name */
#define PX_TICKET_KEY_LEN    32
#define PX_TICKET_FILE_KEYS_MAX 8
#define PX_TICKET_KEY_FILE_MAX  4096 /* eight base64 lines and comments */

struct px_ticket_key {
    uint8_t name[PX_TICKET_NAME_LEN];
    uint8_t aes[PX_TICKET_KEY_LEN];
    uint8_t hmac[PX_TICKET_KEY_LEN];
};

/* Derived keys kept for reuse: the derivation is three HMACs (with
 * OpenSSL 3's fetches about 65,000 instructions), and every ticket issued
 * or read needs one. An entry holds the base key it came from, so a base
 * that leaves the ring (ratchet step, wipe) takes its derived keys along. */
#define PX_TICKET_CACHE_MAX 8

struct px_ticket_cached {
    bool used;
    uint8_t base[PX_TICKET_BASE_LEN];
    uint8_t policy[PX_TICKET_POLICY_LEN];
    struct px_ticket_key key;
};

struct px_ticket_ring {
    unsigned refs;
    bool from_file;
    double rotate;                  /* random: seconds per epoch */
    uint64_t epoch;                 /* random: the epoch of base[0] */
    size_t n;                       /* keys held; 0 = wiped (no tickets) */
    uint8_t base[PX_TICKET_FILE_KEYS_MAX][PX_TICKET_BASE_LEN];
    struct px_ticket_cached cache[PX_TICKET_CACHE_MAX];
    unsigned cache_next;            /* the entry a miss replaces (round robin) */
    uint64_t n_derived;             /* derivations done (the cache's misses) */
};

/* px_ticket_ring_random makes a ratchet ring whose key at the epoch of
 * `now` is `seed`. Returns it with one reference, or NULL (no memory). */
struct px_ticket_ring *px_ticket_ring_random(const uint8_t seed[PX_TICKET_BASE_LEN], double rotate,
                                             double now);
/* px_ticket_ring_parse makes a file ring from the text of a key file: one
 * base64 key of 32..96 bytes per line, '#' comments and blank lines
 * ignored, 1..PX_TICKET_FILE_KEYS_MAX keys. Returns it with one reference,
 * or NULL with the reason (line number, never key bytes) in err. */
struct px_ticket_ring *px_ticket_ring_parse(const char *text, size_t len, char *err, size_t err_len);
void px_ticket_ring_ref(struct px_ticket_ring *r);
/* px_ticket_ring_unref drops a reference; the last one wipes and frees.
 * NULL is a no-op. */
void px_ticket_ring_unref(struct px_ticket_ring *r);
/* px_ticket_ring_wipe erases every key now (holders issue no ticket and
 * accept none from then on). */
void px_ticket_ring_wipe(struct px_ticket_ring *r);
/* px_ticket_ring_advance steps a random ring to the epoch of `now`
 * (wiping what falls out); a clock that went back changes nothing. File
 * rings do not move. */
void px_ticket_ring_advance(struct px_ticket_ring *r, double now);

/* px_ticket_key_derive computes the keys of base key `base` under
 * `policy`. Returns 0 or -1 (HMAC failure, out wiped). */
int px_ticket_key_derive(struct px_ticket_key *out, const uint8_t base[PX_TICKET_BASE_LEN],
                         const uint8_t policy[PX_TICKET_POLICY_LEN]);
/* px_ticket_key_current fills out with the key new tickets are encrypted
 * with at `now` (derived once per base key and policy, then from the
 * ring's cache). Returns 0, or -1 (wiped ring, HMAC failure). */
int px_ticket_key_current(struct px_ticket_ring *r, const uint8_t policy[PX_TICKET_POLICY_LEN],
                          double now, struct px_ticket_key *out);
/* px_ticket_key_find fills out with the key named `name` under `policy`
 * at `now`; *renew is true when it is not the encrypting key (the client
 * gets a fresh ticket). Returns 0, or -1 if no key of the ring has that
 * name (full handshake). */
int px_ticket_key_find(struct px_ticket_ring *r, const uint8_t policy[PX_TICKET_POLICY_LEN],
                       const uint8_t name[PX_TICKET_NAME_LEN], double now,
                       struct px_ticket_key *out, bool *renew);

#endif
