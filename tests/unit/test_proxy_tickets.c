/* test_proxy_tickets.c — unit tests of proxy/tickets.c: epoch key
 * derivation against tests/vectors/proxy_tickets.py (HMAC in Python), and
 * which keys encrypt and which still decrypt as time passes. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "proxy/tickets.h"
#include "proxy_tickets.h"

#define ROT ((double)VEC_TK_ROTATE)

static void expect_key(const struct px_ticket_key *k, uint64_t epoch, const uint8_t *name,
                       const uint8_t *aes, const uint8_t *hmac)
{
    assert_non_null(k);
    assert_true(k->valid);
    assert_int_equal(k->epoch, epoch);
    assert_memory_equal(k->name, name, PX_TICKET_NAME_LEN);
    assert_memory_equal(k->aes, aes, PX_TICKET_KEY_LEN);
    assert_memory_equal(k->hmac, hmac, PX_TICKET_KEY_LEN);
}

static void test_derive_vectors(void **state)
{
    (void)state;
    struct px_ticket_key k;
    assert_int_equal(px_ticket_derive(&k, VEC_TK_SECRET, VEC_TK_E0), 0);
    expect_key(&k, 0, VEC_TK_E0_NAME, VEC_TK_E0_AES, VEC_TK_E0_HMAC);
    assert_int_equal(px_ticket_derive(&k, VEC_TK_SECRET, VEC_TK_E1), 0);
    expect_key(&k, 1, VEC_TK_E1_NAME, VEC_TK_E1_AES, VEC_TK_E1_HMAC);
    assert_int_equal(px_ticket_derive(&k, VEC_TK_SECRET, VEC_TK_E491234), 0);
    expect_key(&k, 491234, VEC_TK_E491234_NAME, VEC_TK_E491234_AES, VEC_TK_E491234_HMAC);
}

static void test_current_follows_the_clock(void **state)
{
    (void)state;
    struct px_tickets t;
    px_tickets_init(&t, VEC_TK_SECRET, ROT);
    /* anywhere inside epoch 491234, including its first and last second */
    expect_key(px_tickets_current(&t, 491234 * ROT), 491234, VEC_TK_E491234_NAME, VEC_TK_E491234_AES,
               VEC_TK_E491234_HMAC);
    expect_key(px_tickets_current(&t, 491234 * ROT + ROT - 0.5), 491234, VEC_TK_E491234_NAME,
               VEC_TK_E491234_AES, VEC_TK_E491234_HMAC);
    expect_key(px_tickets_current(&t, 0.5), 0, VEC_TK_E0_NAME, VEC_TK_E0_AES, VEC_TK_E0_HMAC);
    expect_key(px_tickets_current(&t, ROT + 1), 1, VEC_TK_E1_NAME, VEC_TK_E1_AES, VEC_TK_E1_HMAC);
    px_tickets_cleanup(&t);
}

static void test_find_current_previous_and_expired(void **state)
{
    (void)state;
    struct px_tickets t;
    bool renew = true;
    px_tickets_init(&t, VEC_TK_SECRET, ROT);

    /* epoch 1: its own key, no renewal */
    expect_key(px_tickets_find(&t, VEC_TK_E1_NAME, ROT + 10, &renew), 1, VEC_TK_E1_NAME, VEC_TK_E1_AES,
               VEC_TK_E1_HMAC);
    assert_false(renew);
    /* epoch 1: epoch 0's ticket still decrypts, and is renewed */
    expect_key(px_tickets_find(&t, VEC_TK_E0_NAME, ROT + 10, &renew), 0, VEC_TK_E0_NAME, VEC_TK_E0_AES,
               VEC_TK_E0_HMAC);
    assert_true(renew);
    /* epoch 2: epoch 0 is too old */
    assert_null(px_tickets_find(&t, VEC_TK_E0_NAME, 2 * ROT + 10, &renew));
    assert_false(renew);
    /* unknown name */
    uint8_t other[PX_TICKET_NAME_LEN];
    memset(other, 0xAB, sizeof other);
    assert_null(px_tickets_find(&t, other, ROT + 10, &renew));
    /* epoch 0 has no previous epoch */
    assert_null(px_tickets_find(&t, VEC_TK_E1_NAME, 10, &renew));
    px_tickets_cleanup(&t);
}

/* Two workers with the same secret agree on the key; another secret does not. */
static void test_agreement(void **state)
{
    (void)state;
    struct px_tickets a, b, c;
    uint8_t secret2[PX_TICKET_SECRET_LEN];
    memcpy(secret2, VEC_TK_SECRET, sizeof secret2);
    secret2[31] ^= 1;
    px_tickets_init(&a, VEC_TK_SECRET, ROT);
    px_tickets_init(&b, VEC_TK_SECRET, ROT);
    px_tickets_init(&c, secret2, ROT);
    double now = 491234 * ROT + 77;
    const struct px_ticket_key *ka = px_tickets_current(&a, now);
    bool renew;
    assert_non_null(ka);
    assert_ptr_equal(px_tickets_find(&b, ka->name, now, &renew) != NULL, true);
    assert_null(px_tickets_find(&c, ka->name, now, &renew));
    px_tickets_cleanup(&a);
    px_tickets_cleanup(&b);
    px_tickets_cleanup(&c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_derive_vectors),
        cmocka_unit_test(test_current_follows_the_clock),
        cmocka_unit_test(test_find_current_previous_and_expired),
        cmocka_unit_test(test_agreement),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
