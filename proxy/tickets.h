/* tickets.h — TLS session ticket keys that rotate by the clock and agree
 * across processes without talking to each other.
 *
 * Time is cut into epochs of `rotate` seconds (epoch = floor(unix time /
 * rotate)). The keys of an epoch are derived from one 32-byte secret:
 *   K(label) = HMAC-SHA256(secret, "sstp-proxy ticket v1" | be64(epoch) | label)
 * with label "name" (first 16 bytes: the key name sent in the ticket),
 * "aes" (AES-256-CBC key) and "hmac" (HMAC-SHA256 key). Every worker of a
 * master (the secret is made before fork) and every proxy sharing a
 * ticket_secret_file computes the same keys, so a ticket from one worker
 * resumes on any other. New tickets use the current epoch's key; a ticket
 * of the previous epoch is still accepted and renewed; older ones get a
 * full handshake. Pure apart from the HMAC: the caller passes the time. */
#ifndef SSTP_LB_PROXY_TICKETS_H
#define SSTP_LB_PROXY_TICKETS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PX_TICKET_SECRET_LEN 32
#define PX_TICKET_NAME_LEN   16 /* OpenSSL's key_name */
#define PX_TICKET_KEY_LEN    32

struct px_ticket_key {
    uint64_t epoch;
    bool valid;
    uint8_t name[PX_TICKET_NAME_LEN];
    uint8_t aes[PX_TICKET_KEY_LEN];
    uint8_t hmac[PX_TICKET_KEY_LEN];
};

struct px_tickets {
    uint8_t secret[PX_TICKET_SECRET_LEN];
    double rotate;                 /* seconds per epoch, > 0 */
    struct px_ticket_key cur, prev; /* cache of the two live epochs */
};

/* px_tickets_init sets the secret and the epoch length; keys are derived on
 * first use. */
void px_tickets_init(struct px_tickets *t, const uint8_t secret[PX_TICKET_SECRET_LEN], double rotate);
/* px_tickets_cleanup wipes the secret and keys. */
void px_tickets_cleanup(struct px_tickets *t);

/* px_ticket_derive computes the keys of one epoch. Returns 0 or -1 (HMAC
 * failure). */
int px_ticket_derive(struct px_ticket_key *out, const uint8_t secret[PX_TICKET_SECRET_LEN],
                     uint64_t epoch);

/* px_tickets_current returns the key to encrypt new tickets with at unix
 * time `now`, or NULL if it cannot be derived. Valid until the next call. */
const struct px_ticket_key *px_tickets_current(struct px_tickets *t, double now);
/* px_tickets_find returns the key named `name` if it is the current or the
 * previous epoch's at `now` (*renew true for the previous one), or NULL. */
const struct px_ticket_key *px_tickets_find(struct px_tickets *t, const uint8_t name[PX_TICKET_NAME_LEN],
                                            double now, bool *renew);

#endif
