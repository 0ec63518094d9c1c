#!/bin/bash
# run.sh — the test driver behind `make test`.
# Runs every suite, never stops at the first failure, and ends with one
# summary line a reader can check: "sstp-lb tests: N passed, M failed".
#   unit         tests/unit/test_*.c under ASan+UBSan (build/asan/tests/)
#   rc-coverage  every SSTP_E_* return code is produced by some unit test
#   fleet-shape  lb/ and */fleet.[ch] include no session or worker header
#   sstp-wire    no SSTP (or PROXY v2) header field decoded by hand outside sstp/
#   fuzz-corpus  each libFuzzer target replays its seed corpus
#   integration  tests/integration/*.sh (loopback, real redis-server, ...)
#   e2e          tests/e2e/run.sh (User-Mode Linux, real pppd and sstpc),
#                tests/e2e/run_demo.sh (`make run` where the kernel has no PPP)
# SUITES="unit e2e" tests/run.sh runs a subset.
set -u
cd "$(dirname "$0")/.."
SUITES=${SUITES:-"unit rc-coverage fleet-shape sstp-wire fuzz-corpus integration e2e"}
passed=0 failed=0 failures=()

ok()   { passed=$((passed + 1)); echo "PASS $1"; }
fail() { failed=$((failed + 1)); failures+=("$1"); echo "FAIL $1"; }

suite_unit() {
    local t out p f
    for t in build/asan/tests/test_*; do
        [ -x "$t" ] || continue
        out=$(ASAN_OPTIONS=detect_leaks=1 timeout -k 5 300 "$t" 2>&1); rc=$?
        p=$(sed -n 's/^\[  PASSED  \] \([0-9]*\) test.*/\1/p' <<<"$out" | tail -1)
        f=$(sed -n 's/^\[  FAILED  \] \([0-9]*\) test.*/\1/p' <<<"$out" | tail -1)
        passed=$((passed + ${p:-0})); failed=$((failed + ${f:-0}))
        if [ "$rc" != 0 ]; then
            echo "$out" | grep -E '^\[  (FAILED|ERROR) |ERROR|runtime error|Sanitizer' | head -20
            [ -z "$f" ] && failed=$((failed + 1))
            failures+=("unit:$(basename "$t")")
        fi
        echo "unit $(basename "$t"): ${p:-0} passed, ${f:-0} failed (exit $rc)"
    done
}

suite_rc-coverage() {
    local code missing=0
    for code in $(grep -o 'X(E_[A-Z0-9_]*' sstp/rc.h | sed 's/X(//' | sort -u); do
        if ! grep -q "SSTP_$code\b" tests/unit/*.c; then
            echo "rc $code is produced by no unit test"; missing=1
        fi
    done
    [ $missing = 0 ] && ok "rc-coverage" || fail "rc-coverage"
}

# The fleet layer is a leaf: it hears from sessions and workers through
# hooks and views, never by including them (issue 11).
suite_fleet-shape() {
    local hits
    hits=$(grep -nE '#include "(backend/(session|session_int|server)|proxy/(worker|conn|stats))\.h"' \
        lb/*.[ch] backend/fleet.[ch] proxy/fleet.[ch])
    if [ -z "$hits" ]; then
        ok "fleet-shape"
    else
        echo "$hits"; fail "fleet-shape"
    fi
}

suite_fuzz-corpus() {
    local t name
    for t in build/fuzz/fuzz_*; do
        [ -x "$t" ] || continue
        name=${t##*/fuzz_}
        if timeout -k 5 300 "$t" -runs=0 "tests/fuzz/corpus/$name" >/dev/null 2>&1; then
            ok "fuzz-corpus:$name"
        else
            fail "fuzz-corpus:$name"
        fi
    done
}

run_script() { # name script
    local log
    log=$(mktemp)
    if timeout -k 10 1200 "$2" >"$log" 2>&1; then
        ok "$1"
    else
        tail -40 "$log"; fail "$1"
    fi
    rm -f "$log"
}

suite_integration() {
    local t
    for t in tests/integration/*.sh; do
        [ -x "$t" ] || continue
        run_script "integration:$(basename "$t" .sh)" "$t"
    done
}

# A suite script that prints one "PASS name" / "FAIL name: why" line per case.
count_cases() { # label script [args]
    local label=$1 log line
    shift
    log=$(mktemp)
    timeout -k 10 1800 "$@" 2>&1 | tee "$log"
    if ! grep -qE '^(PASS|FAIL) ' "$log"; then
        failed=$((failed + 1)); failures+=("$label:no-result")
    fi
    while read -r line; do
        case "$line" in
            "PASS "*) passed=$((passed + 1)) ;;
            "FAIL "*) failed=$((failed + 1)); line=${line#FAIL }; failures+=("$label:${line%%:*}") ;;
        esac
    done < <(grep -E '^(PASS|FAIL) ' "$log")
    rm -f "$log"
}

suite_e2e() {
    run_script "e2e:smoke_ppp" tests/e2e/smoke_ppp.sh
    count_cases e2e-plugin tests/e2e/plugin_test.sh
    count_cases e2e tests/e2e/run.sh
    count_cases e2e-run_demo tests/e2e/run_demo.sh
    local t
    for t in tests/e2e/topology_*.sh; do
        [ -x "$t" ] && count_cases "e2e-$(basename "$t" .sh)" "$t"
    done
}

# Wire formats live in sstp/ (issue 12): the daemons and tools read packet
# lengths, the C bit and message types through sstp/ functions
# (sstp_pkt_decode, sstp_pkt_peek_len/_ctrl, sstp_pkt_ctrl_type,
# sstp_pp2_want), never with their own shifts and masks. Looked for: the
# 12-bit length (x & 0x0F) << 8, the C bit tested as p[..1] & 1, sstp/'s
# header masks used elsewhere, and a 16-bit big-endian field read as
# p[i] << 8 | p[j]. Tests may build bytes by hand and are not looked at.
suite_sstp-wire() {
    local hits
    hits=$(grep -nE '0x0[fF] *\) *<< *8|\[[^]]*\b1\] *& *(0x0*1|1|SSTP_PKT_C_BIT)\b|SSTP_LEN_MASK|SSTP_PKT_C_BIT|\] *<< *8 *\| *[][A-Za-z0-9_.>+ -]*\[' \
        core/*.[ch] lb/*.[ch] proxy/*.[ch] backend/*.[ch] tools/*.c tools/*/*.[ch])
    if [ -z "$hits" ]; then
        ok "sstp-wire"
    else
        echo "SSTP wire fields decoded by hand outside sstp/ (use sstp/ functions):"
        echo "$hits"; fail "sstp-wire"
    fi
}

for s in $SUITES; do
    echo "== $s"
    "suite_$s"
done
echo
[ $failed -gt 0 ] && echo "failed: ${failures[*]}"
echo "sstp-lb tests: $passed passed, $failed failed"
[ $failed = 0 ]
