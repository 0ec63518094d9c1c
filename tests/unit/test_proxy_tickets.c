/* test_proxy_tickets.c — unit tests of proxy/tickets.c against
 * tests/vectors/proxy_tickets.py (HMAC in Python): the policy-bound
 * derivation, the ratchet (old keys gone after a step, agreement between
 * processes that share the seed), the operator's key file, and the cache
 * of derived keys (one derivation per base key and policy; a base that
 * leaves the ring leaves no derived key behind). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "proxy/tickets.h"
#include "proxy_tickets.h"

#define ROT ((double)VEC_TK_ROTATE)
#define T0 ((double)VEC_TK_START_EPOCH * ROT + 10) /* inside the start epoch */

static void expect_key(const struct px_ticket_key *k, const uint8_t *name, const uint8_t *aes,
                       const uint8_t *hmac)
{
    assert_memory_equal(k->name, name, PX_TICKET_NAME_LEN);
    assert_memory_equal(k->aes, aes, PX_TICKET_KEY_LEN);
    assert_memory_equal(k->hmac, hmac, PX_TICKET_KEY_LEN);
}

static void test_derive_binds_the_policy(void **state)
{
    (void)state;
    struct px_ticket_key k;
    assert_int_equal(px_ticket_key_derive(&k, VEC_TK_SEED, VEC_TK_POLICY_A), 0);
    expect_key(&k, VEC_TK_B0_A_NAME, VEC_TK_B0_A_AES, VEC_TK_B0_A_HMAC);
    assert_int_equal(px_ticket_key_derive(&k, VEC_TK_SEED, VEC_TK_POLICY_B), 0);
    expect_key(&k, VEC_TK_B0_B_NAME, VEC_TK_B0_B_AES, VEC_TK_B0_B_HMAC);
}

static void test_ratchet_steps_and_forgets(void **state)
{
    (void)state;
    struct px_ticket_key k;
    bool renew;
    struct px_ticket_ring *r = px_ticket_ring_random(VEC_TK_SEED, ROT, T0);
    assert_non_null(r);
    assert_int_equal(px_ticket_key_current(r, VEC_TK_POLICY_A, T0, &k), 0);
    expect_key(&k, VEC_TK_B0_A_NAME, VEC_TK_B0_A_AES, VEC_TK_B0_A_HMAC);
    /* another policy's name is not ours */
    assert_int_equal(px_ticket_key_find(r, VEC_TK_POLICY_A, VEC_TK_B0_B_NAME, T0, &k, &renew), -1);
    /* one epoch on: B1 encrypts, B0 still decrypts (renewed) */
    assert_int_equal(px_ticket_key_current(r, VEC_TK_POLICY_A, T0 + ROT, &k), 0);
    expect_key(&k, VEC_TK_B1_A_NAME, VEC_TK_B1_A_AES, VEC_TK_B1_A_HMAC);
    assert_int_equal(px_ticket_key_find(r, VEC_TK_POLICY_A, VEC_TK_B0_A_NAME, T0 + ROT, &k, &renew), 0);
    assert_true(renew);
    expect_key(&k, VEC_TK_B0_A_NAME, VEC_TK_B0_A_AES, VEC_TK_B0_A_HMAC);
    assert_int_equal(px_ticket_key_find(r, VEC_TK_POLICY_A, VEC_TK_B1_A_NAME, T0 + ROT, &k, &renew), 0);
    assert_false(renew);
    /* two epochs on: B0 is erased from the ring itself, not merely refused */
    px_ticket_ring_advance(r, T0 + 2 * ROT);
    assert_int_equal(px_ticket_key_find(r, VEC_TK_POLICY_A, VEC_TK_B0_A_NAME, T0 + 2 * ROT, &k, &renew), -1);
    for (size_t i = 0; i < PX_TICKET_FILE_KEYS_MAX; i++)
        assert_memory_not_equal(r->base[i], VEC_TK_SEED, PX_TICKET_BASE_LEN);
    assert_int_equal(px_ticket_key_current(r, VEC_TK_POLICY_A, T0 + 2 * ROT, &k), 0);
    expect_key(&k, VEC_TK_B2_A_NAME, VEC_TK_B2_A_AES, VEC_TK_B2_A_HMAC);
    /* a clock that goes back changes nothing */
    assert_int_equal(px_ticket_key_current(r, VEC_TK_POLICY_A, T0, &k), 0);
    expect_key(&k, VEC_TK_B2_A_NAME, VEC_TK_B2_A_AES, VEC_TK_B2_A_HMAC);
    /* a jump of three epochs steps three times */
    assert_int_equal(px_ticket_key_current(r, VEC_TK_POLICY_A, T0 + 5 * ROT, &k), 0);
    expect_key(&k, VEC_TK_B5_A_NAME, VEC_TK_B5_A_AES, VEC_TK_B5_A_HMAC);
    px_ticket_ring_unref(r);
}

/* Two workers forked at different epochs agree on the current key. */
static void test_ratchet_agreement(void **state)
{
    (void)state;
    struct px_ticket_key ka, kb;
    bool renew;
    struct px_ticket_ring *a = px_ticket_ring_random(VEC_TK_SEED, ROT, T0);
    struct px_ticket_ring *b = px_ticket_ring_random(VEC_TK_SEED, ROT, T0);
    px_ticket_ring_advance(a, T0 + ROT);        /* a stepped on its own timer */
    assert_int_equal(px_ticket_key_current(a, VEC_TK_POLICY_A, T0 + 2 * ROT, &ka), 0);
    assert_int_equal(px_ticket_key_find(b, VEC_TK_POLICY_A, ka.name, T0 + 2 * ROT, &kb, &renew), 0);
    assert_false(renew);
    assert_memory_equal(ka.aes, kb.aes, PX_TICKET_KEY_LEN);
    px_ticket_ring_unref(a);
    px_ticket_ring_unref(b);
}

static void test_key_file(void **state)
{
    (void)state;
    char err[256];
    struct px_ticket_key k;
    bool renew;
    struct px_ticket_ring *r = px_ticket_ring_parse(VEC_TK_FILE, strlen(VEC_TK_FILE), err, sizeof err);
    assert_non_null(r);
    assert_int_equal(r->n, 2);
    assert_int_equal(px_ticket_key_current(r, VEC_TK_POLICY_A, T0, &k), 0);
    expect_key(&k, VEC_TK_F0_A_NAME, VEC_TK_F0_A_AES, VEC_TK_F0_A_HMAC);
    /* file keys never expire by the clock: the operator rotates them */
    assert_int_equal(px_ticket_key_find(r, VEC_TK_POLICY_A, VEC_TK_F1_A_NAME, T0 + 100 * ROT, &k, &renew), 0);
    assert_true(renew);
    expect_key(&k, VEC_TK_F1_A_NAME, VEC_TK_F1_A_AES, VEC_TK_F1_A_HMAC);
    px_ticket_ring_wipe(r);
    assert_int_equal(px_ticket_key_current(r, VEC_TK_POLICY_A, T0, &k), -1);
    assert_int_equal(px_ticket_key_find(r, VEC_TK_POLICY_A, VEC_TK_F0_A_NAME, T0, &k, &renew), -1);
    px_ticket_ring_unref(r);
}

/* Where the bytes of a key are in the ring's memory, if anywhere. */
static bool ring_holds(const struct px_ticket_ring *r, const uint8_t *bytes, size_t len)
{
    const uint8_t *p = (const uint8_t *)r;
    for (size_t i = 0; i + len <= sizeof *r; i++)
        if (memcmp(p + i, bytes, len) == 0)
            return true;
    return false;
}

static void test_cache_derives_once_and_forgets(void **state)
{
    (void)state;
    struct px_ticket_key k;
    bool renew;
    struct px_ticket_ring *r = px_ticket_ring_random(VEC_TK_SEED, ROT, T0);
    assert_non_null(r);
    /* tickets issued and read under two policies: each key derived once */
    for (int i = 0; i < 3; i++) {
        assert_int_equal(px_ticket_key_current(r, VEC_TK_POLICY_A, T0, &k), 0);
        expect_key(&k, VEC_TK_B0_A_NAME, VEC_TK_B0_A_AES, VEC_TK_B0_A_HMAC);
        assert_int_equal(px_ticket_key_current(r, VEC_TK_POLICY_B, T0, &k), 0);
        expect_key(&k, VEC_TK_B0_B_NAME, VEC_TK_B0_B_AES, VEC_TK_B0_B_HMAC);
        assert_int_equal(px_ticket_key_find(r, VEC_TK_POLICY_A, VEC_TK_B0_A_NAME, T0, &k, &renew), 0);
        assert_false(renew);
        expect_key(&k, VEC_TK_B0_A_NAME, VEC_TK_B0_A_AES, VEC_TK_B0_A_HMAC);
    }
    assert_int_equal(r->n_derived, 2);
    /* a step: the new key is derived, a ticket of the old one still resumes
     * (renewed) from the cache */
    assert_int_equal(px_ticket_key_current(r, VEC_TK_POLICY_A, T0 + ROT, &k), 0);
    expect_key(&k, VEC_TK_B1_A_NAME, VEC_TK_B1_A_AES, VEC_TK_B1_A_HMAC);
    assert_int_equal(r->n_derived, 3);
    assert_int_equal(px_ticket_key_find(r, VEC_TK_POLICY_A, VEC_TK_B0_A_NAME, T0 + ROT, &k, &renew), 0);
    assert_true(renew);
    expect_key(&k, VEC_TK_B0_A_NAME, VEC_TK_B0_A_AES, VEC_TK_B0_A_HMAC);
    assert_int_equal(r->n_derived, 3);
    assert_true(ring_holds(r, VEC_TK_B0_A_AES, PX_TICKET_KEY_LEN));
    /* the next step erases B0: its derived keys go with it */
    px_ticket_ring_advance(r, T0 + 2 * ROT);
    assert_false(ring_holds(r, VEC_TK_B0_A_AES, PX_TICKET_KEY_LEN));
    assert_false(ring_holds(r, VEC_TK_B0_A_HMAC, PX_TICKET_KEY_LEN));
    assert_false(ring_holds(r, VEC_TK_B0_B_AES, PX_TICKET_KEY_LEN));
    assert_int_equal(px_ticket_key_find(r, VEC_TK_POLICY_A, VEC_TK_B0_A_NAME, T0 + 2 * ROT, &k, &renew), -1);
    assert_int_equal(r->n_derived, 4); /* B2's keys, met on the way; B1's were cached */
    /* B1's keys stay cached (B1 still decrypts) */
    assert_true(ring_holds(r, VEC_TK_B1_A_AES, PX_TICKET_KEY_LEN));
    assert_int_equal(px_ticket_key_find(r, VEC_TK_POLICY_A, VEC_TK_B1_A_NAME, T0 + 2 * ROT, &k, &renew), 0);
    assert_true(renew);
    expect_key(&k, VEC_TK_B1_A_NAME, VEC_TK_B1_A_AES, VEC_TK_B1_A_HMAC);
    assert_int_equal(px_ticket_key_current(r, VEC_TK_POLICY_A, T0 + 2 * ROT, &k), 0);
    expect_key(&k, VEC_TK_B2_A_NAME, VEC_TK_B2_A_AES, VEC_TK_B2_A_HMAC);
    assert_int_equal(r->n_derived, 4);
    /* a wipe leaves no derived key either */
    px_ticket_ring_wipe(r);
    assert_false(ring_holds(r, VEC_TK_B2_A_AES, PX_TICKET_KEY_LEN));
    assert_false(ring_holds(r, VEC_TK_B1_A_AES, PX_TICKET_KEY_LEN));
    assert_int_equal(px_ticket_key_current(r, VEC_TK_POLICY_A, T0 + 2 * ROT, &k), -1);
    px_ticket_ring_unref(r);
}

static void expect_bad_file(const char *text, const char *why)
{
    char err[256] = "";
    struct px_ticket_ring *r = px_ticket_ring_parse(text, strlen(text), err, sizeof err);
    assert_null(r);
    if (!strstr(err, why))
        fail_msg("error '%s' lacks '%s'", err, why);
}

static void test_key_file_errors(void **state)
{
    (void)state;
    expect_bad_file("", "no key");
    expect_bad_file("# only a comment\n\n", "no key");
    expect_bad_file("c2hvcnQ=\n", "line 1: not a base64 key of 32..96 bytes");     /* "short" */
    expect_bad_file("# c\n!!!!not base64!!!!\n", "line 2: not a base64 key");
    expect_bad_file("AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyAhIiMkJSYnKCkqKywtLi8w=\n", "line 1");
    char many[1024] = "";
    for (int i = 0; i < PX_TICKET_FILE_KEYS_MAX + 1; i++)
        strcat(many, "AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyAhIiMkJSYnKCkqKywtLi8w\n");
    expect_bad_file(many, "line 9: more than 8 keys");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_derive_binds_the_policy),
        cmocka_unit_test(test_ratchet_steps_and_forgets),
        cmocka_unit_test(test_ratchet_agreement),
        cmocka_unit_test(test_key_file),
        cmocka_unit_test(test_key_file_errors),
        cmocka_unit_test(test_cache_derives_once_and_forgets),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
