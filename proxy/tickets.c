/* tickets.c — epoch-derived session ticket keys (see tickets.h). */
#include "proxy/tickets.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <string.h>

#define LABEL_PREFIX "sstp-proxy ticket v1"

static int derive_one(uint8_t out[32], const uint8_t secret[PX_TICKET_SECRET_LEN], uint64_t epoch,
                      const char *label)
{
    uint8_t msg[sizeof LABEL_PREFIX - 1 + 8 + 8];
    size_t n = sizeof LABEL_PREFIX - 1, label_len = strlen(label);
    unsigned int out_len = 0;
    memcpy(msg, LABEL_PREFIX, n);
    for (int i = 7; i >= 0; i--)
        msg[n++] = (uint8_t)(epoch >> (8 * i));
    memcpy(msg + n, label, label_len);
    n += label_len;
    if (!HMAC(EVP_sha256(), secret, PX_TICKET_SECRET_LEN, msg, n, out, &out_len) || out_len != 32)
        return -1;
    return 0;
}

int px_ticket_derive(struct px_ticket_key *out, const uint8_t secret[PX_TICKET_SECRET_LEN],
                     uint64_t epoch)
{
    uint8_t name[32];
    memset(out, 0, sizeof *out);
    if (derive_one(name, secret, epoch, "name") == -1 || derive_one(out->aes, secret, epoch, "aes") == -1 ||
        derive_one(out->hmac, secret, epoch, "hmac") == -1) {
        OPENSSL_cleanse(out, sizeof *out);
        return -1;
    }
    memcpy(out->name, name, PX_TICKET_NAME_LEN);
    out->epoch = epoch;
    out->valid = true;
    return 0;
}

void px_tickets_init(struct px_tickets *t, const uint8_t secret[PX_TICKET_SECRET_LEN], double rotate)
{
    memset(t, 0, sizeof *t);
    memcpy(t->secret, secret, PX_TICKET_SECRET_LEN);
    t->rotate = rotate > 0 ? rotate : 1;
}

void px_tickets_cleanup(struct px_tickets *t)
{
    OPENSSL_cleanse(t, sizeof *t);
}

/* Brings the cache to the epoch of `now`: cur = epoch, prev = epoch - 1. */
static int refresh(struct px_tickets *t, double now)
{
    uint64_t epoch = now > 0 ? (uint64_t)(now / t->rotate) : 0; /* truncation = floor for now > 0 */
    if (t->cur.valid && t->cur.epoch == epoch && (epoch == 0 || t->prev.valid))
        return 0;
    struct px_ticket_key cur, prev;
    memset(&prev, 0, sizeof prev);
    if (t->cur.valid && t->cur.epoch == epoch)
        cur = t->cur;
    else if (px_ticket_derive(&cur, t->secret, epoch) == -1)
        return -1;
    if (epoch > 0) {
        if (t->cur.valid && t->cur.epoch == epoch - 1)
            prev = t->cur;
        else if (px_ticket_derive(&prev, t->secret, epoch - 1) == -1)
            return -1;
    }
    t->cur = cur;
    t->prev = prev;
    OPENSSL_cleanse(&cur, sizeof cur);
    OPENSSL_cleanse(&prev, sizeof prev);
    return 0;
}

const struct px_ticket_key *px_tickets_current(struct px_tickets *t, double now)
{
    return refresh(t, now) == 0 ? &t->cur : NULL;
}

const struct px_ticket_key *px_tickets_find(struct px_tickets *t, const uint8_t name[PX_TICKET_NAME_LEN],
                                            double now, bool *renew)
{
    *renew = false;
    if (refresh(t, now) == -1)
        return NULL;
    if (CRYPTO_memcmp(name, t->cur.name, PX_TICKET_NAME_LEN) == 0)
        return &t->cur;
    if (t->prev.valid && CRYPTO_memcmp(name, t->prev.name, PX_TICKET_NAME_LEN) == 0) {
        *renew = true;
        return &t->prev;
    }
    return NULL;
}
