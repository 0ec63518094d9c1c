/* test_core_term.c — core/term: the phase letters of style 2.10, "--" for
 * a normal end, the first reason winning, out-of-range phases. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "core/term.h"

static void test_phase_letters(void **state)
{
    (void)state;
    const char want[TERM_PH_COUNT + 1] = "XTRCAD";
    for (int ph = 0; ph < TERM_PH_COUNT; ph++)
        assert_int_equal(term_phase_letter((enum term_phase)ph), want[ph]);
    assert_int_equal(term_phase_letter(TERM_PH_COUNT), '?');
    assert_int_equal(term_phase_letter((enum term_phase)-1), '?');
}

static void test_first_reason_wins(void **state)
{
    (void)state;
    char term[TERM_LEN] = "";
    assert_string_equal(term_str(term), "--"); /* none yet */
    assert_true(term_set(term, TERM_CLIENT, TERM_PH_DATA));
    assert_string_equal(term, "CD");
    assert_false(term_set(term, TERM_KILLED, TERM_PH_SETUP));
    assert_false(term_set(term, TERM_NORMAL, TERM_PH_SETUP));
    assert_string_equal(term_str(term), "CD");
}

static void test_normal_end_has_no_phase(void **state)
{
    (void)state;
    char term[TERM_LEN] = "";
    assert_true(term_set(term, TERM_NORMAL, TERM_PH_TLS));
    assert_string_equal(term, "--");
    memset(term, 0, sizeof term);
    assert_true(term_set(term, TERM_RESOURCE, TERM_PH_PROXY_HDR));
    assert_string_equal(term, "RX");
    memset(term, 0, sizeof term);
    assert_true(term_set(term, TERM_INTERNAL, TERM_PH_COUNT));
    assert_string_equal(term, "I?"); /* a state without a phase shows, never reads past */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_phase_letters),
        cmocka_unit_test(test_first_reason_wins),
        cmocka_unit_test(test_normal_end_has_no_phase),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
