/* tickets.c — ticket key rings: the ratchet, the operator's key file and
 * the policy-bound derivation (see tickets.h). */
#include "proxy/tickets.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RATCHET_LABEL "sstp-proxy ticket ratchet v2"
#define KEY_LABEL     "sstp-proxy ticket v2"
#define FILE_KEY_MIN  32
#define FILE_KEY_MAX  96
#define LINE_MAX_LEN  200            /* base64 of FILE_KEY_MAX is 128 */
/* A clock that jumped further than this (years at rotate >= 60 s) gets a
 * fresh random seed rather than a million HMAC steps on the loop. */
#define RATCHET_STEPS_MAX (1u << 20)

static int hmac32(uint8_t out[32], const uint8_t key[32], const uint8_t *msg, size_t msg_len)
{
    unsigned int out_len = 0;
    return HMAC(EVP_sha256(), key, 32, msg, msg_len, out, &out_len) && out_len == 32 ? 0 : -1;
}

static int derive_one(uint8_t out[32], const uint8_t base[PX_TICKET_BASE_LEN], const char *label,
                      const uint8_t policy[PX_TICKET_POLICY_LEN])
{
    uint8_t msg[sizeof KEY_LABEL - 1 + 8 + PX_TICKET_POLICY_LEN];
    size_t n = sizeof KEY_LABEL - 1, label_len = strlen(label);
    memcpy(msg, KEY_LABEL, n);
    memcpy(msg + n, label, label_len);
    n += label_len;
    memcpy(msg + n, policy, PX_TICKET_POLICY_LEN);
    n += PX_TICKET_POLICY_LEN;
    return hmac32(out, base, msg, n);
}

int px_ticket_key_derive(struct px_ticket_key *out, const uint8_t base[PX_TICKET_BASE_LEN],
                         const uint8_t policy[PX_TICKET_POLICY_LEN])
{
    uint8_t name[32];
    if (derive_one(name, base, "name", policy) == -1 || derive_one(out->aes, base, "aes", policy) == -1 ||
        derive_one(out->hmac, base, "hmac", policy) == -1) {
        OPENSSL_cleanse(out, sizeof *out);
        OPENSSL_cleanse(name, sizeof name);
        return -1;
    }
    memcpy(out->name, name, PX_TICKET_NAME_LEN);
    OPENSSL_cleanse(name, sizeof name);
    return 0;
}

static uint64_t epoch_of(double now, double rotate)
{
    return now > 0 ? (uint64_t)(now / rotate) : 0; /* truncation = floor for now > 0 */
}

struct px_ticket_ring *px_ticket_ring_random(const uint8_t seed[PX_TICKET_BASE_LEN], double rotate,
                                             double now)
{
    struct px_ticket_ring *r = calloc(1, sizeof *r);
    if (!r)
        return NULL;
    r->refs = 1;
    r->rotate = rotate > 0 ? rotate : 1;
    r->epoch = epoch_of(now, r->rotate);
    memcpy(r->base[0], seed, PX_TICKET_BASE_LEN);
    r->n = 1; /* no previous epoch yet: nothing was issued before us */
    return r;
}

static bool blank_or_comment(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '#')
            return true;
        if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r')
            return false;
    }
    return true;
}

/* One base64 line (surrounding blanks allowed) into out; returns bytes or -1. */
static int decode_line(const char *s, size_t n, uint8_t out[LINE_MAX_LEN])
{
    while (n && (*s == ' ' || *s == '\t'))
        s++, n--;
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r'))
        n--;
    if (n == 0 || n % 4 || n >= LINE_MAX_LEN)
        return -1;
    char in[LINE_MAX_LEN];
    memcpy(in, s, n);
    in[n] = '\0';
    int got = EVP_DecodeBlock(out, (const unsigned char *)in, (int)n);
    OPENSSL_cleanse(in, sizeof in);
    if (got < 0)
        return -1;
    /* EVP_DecodeBlock counts the padding as zero bytes */
    got -= (s[n - 1] == '=') + (n > 1 && s[n - 2] == '=');
    return got;
}

struct px_ticket_ring *px_ticket_ring_parse(const char *text, size_t len, char *err, size_t err_len)
{
    struct px_ticket_ring *r = calloc(1, sizeof *r);
    uint8_t raw[LINE_MAX_LEN];
    unsigned lineno = 0;
    if (!r) {
        snprintf(err, err_len, "out of memory");
        return NULL;
    }
    r->refs = 1;
    r->from_file = true;
    for (size_t at = 0; at < len;) {
        const char *line = text + at;
        const char *nl = memchr(line, '\n', len - at);
        size_t n = nl ? (size_t)(nl - line) : len - at;
        at += n + (nl ? 1 : 0);
        lineno++;
        if (blank_or_comment(line, n))
            continue;
        int got = decode_line(line, n, raw);
        if (got < FILE_KEY_MIN || got > FILE_KEY_MAX) {
            snprintf(err, err_len, "line %u: not a base64 key of %d..%d bytes (e.g. openssl rand "
                     "-base64 48)", lineno, FILE_KEY_MIN, FILE_KEY_MAX);
            goto fail;
        }
        if (r->n == PX_TICKET_FILE_KEYS_MAX) {
            snprintf(err, err_len, "line %u: more than %d keys", lineno, PX_TICKET_FILE_KEYS_MAX);
            goto fail;
        }
        unsigned int md_len = 0;
        if (EVP_Digest(raw, (size_t)got, r->base[r->n], &md_len, EVP_sha256(), NULL) != 1) {
            snprintf(err, err_len, "line %u: cannot hash", lineno);
            goto fail;
        }
        r->n++;
        OPENSSL_cleanse(raw, sizeof raw);
    }
    if (r->n == 0) {
        snprintf(err, err_len, "no key");
        goto fail;
    }
    return r;
fail:
    OPENSSL_cleanse(raw, sizeof raw);
    px_ticket_ring_unref(r);
    return NULL;
}

void px_ticket_ring_ref(struct px_ticket_ring *r)
{
    r->refs++;
}

void px_ticket_ring_unref(struct px_ticket_ring *r)
{
    if (!r || --r->refs > 0)
        return;
    OPENSSL_cleanse(r, sizeof *r);
    free(r);
}

void px_ticket_ring_wipe(struct px_ticket_ring *r)
{
    OPENSSL_cleanse(r->base, sizeof r->base);
    OPENSSL_cleanse(r->cache, sizeof r->cache);
    r->n = 0;
}

/* Forgets the derived keys of bases the ring no longer holds: what a step
 * erased must not survive in the cache. */
static void cache_prune(struct px_ticket_ring *r)
{
    for (size_t i = 0; i < PX_TICKET_CACHE_MAX; i++) {
        struct px_ticket_cached *e = &r->cache[i];
        bool held = false;
        for (size_t j = 0; e->used && j < r->n && !held; j++)
            held = memcmp(e->base, r->base[j], PX_TICKET_BASE_LEN) == 0;
        if (e->used && !held)
            OPENSSL_cleanse(e, sizeof *e);
    }
}

/* The keys of r->base[i] under policy: from the cache, else derived and
 * kept. Returns 0 or -1 (HMAC failure, out wiped). */
static int key_of(struct px_ticket_ring *r, size_t i, const uint8_t policy[PX_TICKET_POLICY_LEN],
                  struct px_ticket_key *out)
{
    for (size_t j = 0; j < PX_TICKET_CACHE_MAX; j++) {
        const struct px_ticket_cached *e = &r->cache[j];
        if (e->used && memcmp(e->base, r->base[i], PX_TICKET_BASE_LEN) == 0 &&
            memcmp(e->policy, policy, PX_TICKET_POLICY_LEN) == 0) {
            *out = e->key;
            return 0;
        }
    }
    r->n_derived++;
    if (px_ticket_key_derive(out, r->base[i], policy) == -1)
        return -1;
    struct px_ticket_cached *e = &r->cache[r->cache_next];
    r->cache_next = (r->cache_next + 1) % PX_TICKET_CACHE_MAX;
    e->used = true;
    memcpy(e->base, r->base[i], PX_TICKET_BASE_LEN);
    memcpy(e->policy, policy, PX_TICKET_POLICY_LEN);
    e->key = *out;
    return 0;
}

void px_ticket_ring_advance(struct px_ticket_ring *r, double now)
{
    if (r->from_file || r->n == 0)
        return;
    uint64_t target = epoch_of(now, r->rotate);
    if (target <= r->epoch)
        return;
    if (target - r->epoch > RATCHET_STEPS_MAX) {
        uint8_t seed[PX_TICKET_BASE_LEN];
        px_ticket_ring_wipe(r);
        if (RAND_bytes(seed, sizeof seed) != 1)
            return; /* stays wiped: no tickets rather than guessable ones */
        memcpy(r->base[0], seed, sizeof seed);
        OPENSSL_cleanse(seed, sizeof seed);
        r->n = 1;
        r->epoch = target; /* the wipe emptied the cache too */
        return;
    }
    while (r->epoch < target) {
        uint8_t next[PX_TICKET_BASE_LEN];
        if (hmac32(next, r->base[0], (const uint8_t *)RATCHET_LABEL, sizeof RATCHET_LABEL - 1) == -1) {
            px_ticket_ring_wipe(r);
            return;
        }
        memcpy(r->base[1], r->base[0], PX_TICKET_BASE_LEN); /* overwrites B(e-1) */
        memcpy(r->base[0], next, PX_TICKET_BASE_LEN);
        OPENSSL_cleanse(next, sizeof next);
        r->epoch++;
        r->n = 2;
    }
    cache_prune(r);
}

int px_ticket_key_current(struct px_ticket_ring *r, const uint8_t policy[PX_TICKET_POLICY_LEN],
                          double now, struct px_ticket_key *out)
{
    px_ticket_ring_advance(r, now);
    if (r->n == 0)
        return -1;
    return key_of(r, 0, policy, out);
}

int px_ticket_key_find(struct px_ticket_ring *r, const uint8_t policy[PX_TICKET_POLICY_LEN],
                       const uint8_t name[PX_TICKET_NAME_LEN], double now,
                       struct px_ticket_key *out, bool *renew)
{
    *renew = false;
    px_ticket_ring_advance(r, now);
    for (size_t i = 0; i < r->n; i++) {
        if (key_of(r, i, policy, out) == -1)
            return -1;
        if (CRYPTO_memcmp(name, out->name, PX_TICKET_NAME_LEN) == 0) {
            *renew = i > 0;
            return 0;
        }
    }
    OPENSSL_cleanse(out, sizeof *out);
    return -1;
}
