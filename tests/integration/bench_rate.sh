#!/bin/bash
# bench_rate.sh — sstp-bench --rate (paced echo) against its own --serve
# target over TLS on loopback:
#   - back to back (no --rate), 4 sessions do far more than 200 echoes/s;
#   - --rate 200 over the same 4 sessions does 200/s: not more (the pace is
#     kept) and not much less (every turn of an idle session sends);
#   - a rate no session can keep skips turns and counts them (pace_skips);
#   - --rate outside echo mode, or below 1, is refused.
# Uses the ASan build when present. About 5 s.
set -u
cd "$(dirname "$0")/../.." || exit 1
BENCH=build/asan/sstp-bench
[ -x "$BENCH" ] || BENCH=build/sstp-bench
[ -x "$BENCH" ] || { echo "sstp-bench is not built (make)"; exit 1; }

work=$(mktemp -d /tmp/bench_rate.XXXXXX)
serve_pid=
cleanup() {
    [ -n "$serve_pid" ] && kill "$serve_pid" 2>/dev/null && wait "$serve_pid" 2>/dev/null
    rm -rf "$work"
}
trap cleanup EXIT
failed=0
check() { # name condition-status detail
    if [ "$2" = 0 ]; then echo "PASS $1"; else echo "FAIL $1: $3"; failed=1; fi
}
field() { # line key
    sed -n "s/.* $2=\([0-9.]*\).*/\1/p" <<<"$1"
}

scripts/mkcerts.sh "$work/certs" >/dev/null || { echo "mkcerts failed"; exit 1; }
port=$(python3 -c 'import sys; sys.path.insert(0, "tests/integration/lib"); import netutil; print(netutil.free_port())')
"$BENCH" --serve "127.0.0.1:$port" --cert "$work/certs/server.crt" --key "$work/certs/server.key" \
    >"$work/serve.log" 2>&1 &
serve_pid=$!
for ((i = 0; i < 100; i++)); do
    [ -n "$(ss -ltnH "sport = :$port" 2>/dev/null)" ] && break
    sleep 0.05
done

echo_run() { # extra options...
    timeout -k 5 30 "$BENCH" -m echo -t "127.0.0.1:$port" --insecure -w 0.3 -d 1 "$@" 2>>"$work/client.err" |
        grep '^bench ' | tee -a "$work/lines"
}

line=$(echo_run -n 4)
free=$(field "$line" echo_per_s)
check "back-to-back" "$([ -n "$free" ] && [ "${free%.*}" -gt 600 ] && [ "$(field "$line" errors)" = 0 ]; echo $?)" "$line"

line=$(echo_run -n 4 --rate 200)
paced=$(field "$line" echo_per_s)
check "paced-at-rate" "$([ -n "$paced" ] && [ "${paced%.*}" -ge 140 ] && [ "${paced%.*}" -le 220 ] &&
    [ "$(field "$line" rate)" = 200 ] && [ "$(field "$line" errors)" = 0 ]; echo $?)" "$line"

line=$(echo_run -n 1 --rate 50000)
check "unkeepable-rate-skips-turns" "$([ -n "$line" ] && [ "$(field "$line" pace_skips)" -gt 0 ] &&
    [ "$(field "$line" errors)" = 0 ]; echo $?)" "$line"

out=$("$BENCH" -m bulk -t "127.0.0.1:$port" --insecure --rate 100 2>&1); rc=$?
check "rate-refused-outside-echo" "$([ $rc != 0 ] && grep -q -- '--rate is for --mode echo' <<<"$out"; echo $?)" "$out"
out=$("$BENCH" -m echo -t "127.0.0.1:$port" --insecure --rate 0.5 2>&1); rc=$?
check "rate-below-1-refused" "$([ $rc != 0 ] && grep -q -- 'bad value for --rate' <<<"$out"; echo $?)" "$out"

sed 's/^/# /' "$work/lines"
[ $failed = 0 ] && echo "bench_rate: ok" || { tail -5 "$work/client.err"; echo "bench_rate: FAILED"; }
exit $failed
