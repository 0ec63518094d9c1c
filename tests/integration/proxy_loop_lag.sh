#!/bin/bash
# proxy_loop_lag.sh — sstp-proxy's active health checks judged against its
# own event loop's stalls (issue 15): a worker that stands still longer than
# the check timeout (here SIGSTOP, as a TLS handshake surge does for
# seconds) must not blame the backends whose answers wait unread in its
# sockets; a backend that really stopped answering must still go down in
# the usual time once the loop runs freely.
#
# PROXY=path runs another build (a build without the fix fails step 1).
# Real parts: sstp-proxy (build/asan's when built; 1 worker; health probe sstp, interval 0.5 s,
# timeout 2 s, fall 1: one counted timeout is a health_down) in front of
# three sstp-bench --serve --plain --proxy-in backends, which answer the
# probe's HEAD themselves.
#   1. be1 and be2 are stopped (SIGSTOP) for 1.2 s, long enough that a
#      check of each is waiting for its answer (and shorter than the
#      timeout); then the worker is stopped too; 4 s later the backends
#      continue and answer at once, and 0.3 s after that the worker
#      continues: its check deadlines are past
#      and the answers sit in the sockets. Asserted: no health_down for be1
#      or be2, sstp_proxy_health_checks_total{result="stretched"} moved,
#      both still healthy in the metrics.
#   2. be3 is stopped for good (accepts in the kernel, never answers): it
#      is marked down within interval + timeout + 1 s (+ 2 s for each
#      check the loaded host's own stalls stretched meanwhile), and
#      result="fail" moved.
#   3. session attempts (a second proxy: no active checks, connect_timeout
#      100 ms, two healthy backends): its worker is stopped while 300
#      clients connect at once, then continues and works through the burst
#      (passes that run long, whose backend connect timers fire together
#      with the sockets' readiness). Asserted: every session is set up, no
#      attempt is blamed on a backend (backend_fail cause=backend), none is
#      marked down (backend_down). A build that starts the timer at the
#      pass's start and fires it before reading the ready socket fails
#      most of them.
# STEPS=3 runs only step 3 (e.g. for an A/B with PROXY=another build).
set -u
cd "$(dirname "$0")/../.."
STEPS=${STEPS:-123}
# the sanitizer build when there is one (as the other proxy scripts)
if [ -z "${PROXY:-}" ]; then
    PROXY=build/sstp-proxy
    [ -x build/asan/sstp-proxy ] && PROXY=build/asan/sstp-proxy
fi
BENCH=build/sstp-bench
for b in "$PROXY" "$BENCH"; do
    [ -x "$b" ] || { echo "$b is not built (make)"; exit 1; }
done

. tests/bench/lib.sh
bench_work px-looplag
GRACE=5 # the sanitizer build takes a moment to stop
STOPPED=()
bench_undo() { local p; for p in "${STOPPED[@]}"; do kill -CONT "$p" 2>/dev/null; done; }
fail() {
    echo "FAIL: $*"
    echo "---- proxy log (tail) ----"; tail -30 "$work/proxy.log"
    exit 1
}

scripts/mkcerts.sh "$work/certs" >/dev/null || fail "mkcerts failed"
BE_PORTS=()
for i in 1 2 3; do
    port=$(free_port)
    BE_PORTS+=("$port")
    "$BENCH" --serve "127.0.0.1:$port" --plain --proxy-in --cert "$work/certs/server.crt" \
        >"$work/be$i.log" 2>&1 &
    PIDS+=($!)
    eval "BE$i=$!"
done
PORT=$(free_port)
ADMIN=$(free_port)
cat >"$work/proxy.conf" <<EOC
[proxy]
id = looplag
log_level = info
workers = 1
[listen]
bind = 127.0.0.1:$PORT
[tls]
cert = $work/certs/server.crt $work/certs/server.key
[backends]
server = be1 127.0.0.1:${BE_PORTS[0]}
server = be2 127.0.0.1:${BE_PORTS[1]}
server = be3 127.0.0.1:${BE_PORTS[2]}
[health]
probe = sstp
interval = 500ms
timeout = 2s
rise = 1
fall = 1
[admin]
address = 127.0.0.1:$ADMIN
EOC
"$PROXY" -c "$work/proxy.conf" >"$work/proxy.log" 2>&1 &
MASTER=$!
PIDS+=("$MASTER")

metric() { # NAME_AND_LABELS: the value (0 when absent)
    local v
    v=$(curl -s --max-time 3 "http://127.0.0.1:$ADMIN/metrics" | awk -v k="$1" '$1 == k {print $2}')
    echo "${v:-0}"
}
wait_for() { # SECONDS CMD...: until CMD succeeds
    local end=$((SECONDS + $1)); shift
    while [ $SECONDS -lt $end ]; do
        "$@" && return 0
        sleep 0.1
    done
    return 1
}
checks_ok_seen() { [ "$(metric 'sstp_proxy_health_checks_total{result="ok"}')" -ge 6 ]; }
downs() { grep -c "ev=health_down.*backend=$1 " "$work/proxy.log"; }

wait_for 15 grep -q "ev=worker_ready" "$work/proxy.log" || fail "no worker_ready"
WORKER=$(pgrep -P "$MASTER" | head -1)
[ -n "$WORKER" ] || fail "no worker process under $MASTER"
wait_for 10 checks_ok_seen || fail "the health checks never passed"
for b in be1 be2 be3; do [ "$(downs $b)" = 0 ] || fail "$b went down before the test"; done

if [[ $STEPS == *1* ]]; then
# ---- 1. the loop stalls with answers waiting ------------------------------
stretched0=$(metric 'sstp_proxy_health_checks_total{result="stretched"}')
kill -STOP "$BE1" "$BE2"; STOPPED+=("$BE1" "$BE2")
sleep 1.2   # a check of each is now waiting for its answer (interval 0.5 s, timeout 2 s)
kill -STOP "$WORKER"; STOPPED+=("$WORKER")
sleep 4     # > timeout: every running check's deadline passes
kill -CONT "$BE1" "$BE2"
sleep 0.3   # the answers are in the worker's sockets
kill -CONT "$WORKER"
STOPPED=()
sleep 2.5   # a published metrics tick, and more checks
stretched1=$(metric 'sstp_proxy_health_checks_total{result="stretched"}')
echo "stall: stretched $stretched0 -> $stretched1, health_down be1=$(downs be1) be2=$(downs be2)"
[ "$(downs be1)" = 0 ] && [ "$(downs be2)" = 0 ] || fail "a healthy backend was marked down after the stall"
[ "$stretched1" -gt "$stretched0" ] || fail "no check was counted stretched"
for b in be1 be2; do
    [ "$(metric "sstp_proxy_backend_healthy{backend=\"$b\"}")" = 1 ] || fail "$b not healthy in the metrics"
done

fi
if [[ $STEPS == *2* ]]; then
# ---- 2. a backend that really stops answering, idle loop --------------------
fail0=$(metric 'sstp_proxy_health_checks_total{result="fail"}')
st0=$(metric 'sstp_proxy_health_checks_total{result="stretched"}')
kill -STOP "$BE3"; STOPPED+=("$BE3")
t0=$(date +%s.%N)
wait_for 15 grep -q "ev=health_down.*backend=be3 " "$work/proxy.log" || fail "be3 was not marked down"
t1=$(date +%s.%N)
took=$(awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.2f", b - a}')
sleep 1.2
fail1=$(metric 'sstp_proxy_health_checks_total{result="fail"}')
st1=$(metric 'sstp_proxy_health_checks_total{result="stretched"}')
limit=$(awk -v n=$((st1 - st0)) 'BEGIN {print 0.5 + 2 + 1 + 2 * n}')
echo "dead: be3 down after ${took}s (limit ${limit}s), fail $fail0 -> $fail1, stretched meanwhile $((st1 - st0))"
awk -v t="$took" -v l="$limit" 'BEGIN {exit !(t <= l)}' || fail "be3 took ${took}s to go down (want <= $limit s)"
[ "$fail1" -gt "$fail0" ] || fail "the dead backend's timeouts were not counted as failures"
grep -q "ev=health_down.*backend=be3 .*reason=timeout" "$work/proxy.log" || fail "be3 down for another reason"
[ "$(downs be1)" = 0 ] && [ "$(downs be2)" = 0 ] || fail "a healthy backend went down"

fi
if [[ $STEPS == *3* ]]; then
# ---- 3. session attempts under a burst after a stall -------------------------
kill -CONT "$BE3"; STOPPED=()
PORT2=$(free_port)
cat >"$work/proxy2.conf" <<EOC
[proxy]
id = looplag2
log_level = info
workers = 1
[listen]
bind = 127.0.0.1:$PORT2
backlog = 4096
[limits]
per_source_conns = 0
max_handshakes = 0
[tls]
cert = $work/certs/server.crt $work/certs/server.key
[backends]
server = be1 127.0.0.1:${BE_PORTS[0]}
server = be2 127.0.0.1:${BE_PORTS[1]}
connect_timeout = 100ms
[health]
probe = none
[admin]
address =
EOC
"$PROXY" -c "$work/proxy2.conf" >"$work/proxy2.log" 2>&1 &
MASTER2=$!
PIDS+=("$MASTER2")
wait_for 15 grep -q "ev=worker_ready" "$work/proxy2.log" || fail "proxy 2: no worker_ready"
WORKER2=$(pgrep -P "$MASTER2" | head -1)
kill -STOP "$WORKER2"; STOPPED+=("$WORKER2")
"$BENCH" --mode idle -t "127.0.0.1:$PORT2" --insecure -n 300 -c 300 -d 1 --timeout 60 >"$work/burst.log" 2>&1 &
CLIENT=$!
PIDS+=("$CLIENT")
sleep 2     # every client's SYN and ClientHello wait in the stopped worker's queues
kill -CONT "$WORKER2"; STOPPED=()
wait_for 90 bash -c "! kill -0 $CLIENT 2>/dev/null" || fail "the burst's client did not finish"
res=$(grep '^bench ' "$work/burst.log")
up=$(sed -n 's/.* up=\([0-9]*\).*/\1/p' <<<"$res")
blamed=$(grep -c "ev=backend_fail .*cause=backend" "$work/proxy2.log")
slow=$(grep -c "ev=backend_fail .*cause=slow" "$work/proxy2.log")
echo "burst: ${up:-?} of 300 sessions up, attempts blamed on a backend $blamed, given up as slow $slow," \
    "backend_down $(grep -c "ev=backend_down" "$work/proxy2.log")"
[ "${up:-0}" = 300 ] || fail "sessions failed after the stall: $res"
[ "$blamed" = 0 ] || fail "an attempt was blamed on a healthy backend"
grep -q "ev=backend_down" "$work/proxy2.log" && fail "a healthy backend was marked down"
grep -qE "ERROR: (Address|Leak)Sanitizer|runtime error:" "$work/proxy.log" "$work/proxy2.log" && fail "sanitizer report"
fi
echo "PASS proxy_loop_lag"
