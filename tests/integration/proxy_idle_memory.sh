#!/bin/bash
# proxy_idle_memory.sh — a real sstp-proxy (one worker) holding N idle
# relayed sessions (sstp-bench -m idle over TLS, a plain sstp-bench --serve
# target behind it) stays under a bound per session, and gives the memory
# back once they close:
#   - RSS per idle session (RSS with the sessions up - before, / up) at most
#     MAX_KIB (20: OpenSSL's state is ~13.6 KiB of it, HAProxy 2.6 takes 18);
#   - sstp_proxy_heap_bytes{state="in_use"} grew with the sessions, and fell
#     back once they left;
#   - within SETTLE s of the last close, a trim was done
#     (sstp_proxy_heap_trims_total >= 1) and the RSS left over is at most
#     LEFT_KIB per session that came and went (4; glibc without the trim
#     keeps ~15).
# Needs the plain build (build/sstp-proxy): ASan's allocator has no
# mallinfo2 figures to trim by. About 30 s.
set -u
cd "$(dirname "$0")/../.." || exit 1
N=${N:-2000}
MAX_KIB=${MAX_KIB:-20}
LEFT_KIB=${LEFT_KIB:-4}
SETTLE=${SETTLE:-20}
PROXY=${PROXY:-build/sstp-proxy}
BENCH=build/sstp-bench
for b in "$PROXY" "$BENCH"; do [ -x "$b" ] || { echo "$b is not built (make)"; exit 1; }; done

. tests/bench/lib.sh
bench_work proxy_idle_memory
failed=0
rss_kib() { tree_rss_kib "$proxy_pid"; } # the proxy's master and worker
metric() { # name [labels]: the sample's value, 0 when absent
    local n=$1
    [ -n "${2:-}" ] && n="$1{$2}"
    curl -s --max-time 5 "http://127.0.0.1:$admin/metrics" | N="$n" awk '$1 == ENVIRON["N"] { v = $2 } END { print v + 0 }'
}

scripts/mkcerts.sh "$work/certs" >/dev/null || { echo "mkcerts failed"; exit 1; }
C=$work/certs
be=$(free_port); front=$(free_port); admin=$(free_port)
while [ "$front" = "$be" ]; do front=$(free_port); done
while [ "$admin" = "$be" ] || [ "$admin" = "$front" ]; do admin=$(free_port); done
"$BENCH" --serve "127.0.0.1:$be" --plain --proxy-in --cert "$C/server.crt" >"$work/be.log" 2>&1 &
PIDS+=("$!")
cat >"$work/proxy.conf" <<EOC
[proxy]
id = idlemem
log_level = info
workers = 1
[listen]
bind = 127.0.0.1:$front
backlog = 4096
[tls]
cert = $C/server.crt $C/server.key
[backends]
server = be1 127.0.0.1:$be
[limits]
per_source_conns = 0
[session]
idle_timeout = 10m
[admin]
address = 127.0.0.1:$admin
EOC
"$PROXY" -c "$work/proxy.conf" >"$work/proxy.log" 2>&1 &
proxy_pid=$!
PIDS+=("$proxy_pid")
wait_port "$be" && wait_port "$front" && wait_port "$admin" ||
    { echo "FAIL start: $(tail -3 "$work/proxy.log" "$work/be.log")"; exit 1; }

# lazily built state (OpenSSL, pools) before the baseline
timeout -k 5 30 "$BENCH" -m handshake -t "127.0.0.1:$front" --ca "$C/ca.crt" --sni vpn.example.test \
    -c 4 -d 1 -w 0 >/dev/null 2>>"$work/client.err"
sleep 1.5
base=$(rss_kib)
heap0=$(metric sstp_proxy_heap_bytes 'state="in_use"')
trims0=$(metric sstp_proxy_heap_trims_total)

timeout -k 5 120 "$BENCH" -m idle -t "127.0.0.1:$front" --ca "$C/ca.crt" --sni vpn.example.test -n "$N" \
    -c 100 -d 4 --timeout 30 >"$work/idle.out" 2>>"$work/client.err" &
cpid=$!
PIDS+=("$cpid")
for ((i = 0; i < 900; i++)); do
    grep -q '^ready' "$work/idle.out" 2>/dev/null && break
    kill -0 "$cpid" 2>/dev/null || break
    sleep 0.1
done
sleep 1.5 # a tick samples the heap
up_rss=$(rss_kib)
heap_up=$(metric sstp_proxy_heap_bytes 'state="in_use"')
wait "$cpid"
line=$(grep '^bench ' "$work/idle.out" | tail -1)
up=$(sed -n 's/.* up=\([0-9]*\).*/\1/p' <<<"$line")
up=${up:-0}
check "sessions-up" "$([ "$up" -ge $((N * 9 / 10)) ]; echo $?)" "$up of $N up: $line $(tail -2 "$work/client.err")"
per=$(awk -v a="$up_rss" -v b="$base" -v n="$up" 'BEGIN { if (n > 0) printf "%.2f", (a - b) / n; else print 999 }')
check "rss-per-idle-session<=${MAX_KIB}KiB" "$(awk -v p="$per" -v m="$MAX_KIB" 'BEGIN { exit !(p <= m) }'; echo $?)" \
    "$per KiB (RSS $base -> $up_rss KiB, $up sessions)"
heap_per=$(awk -v a="$heap_up" -v b="$heap0" -v n="$up" 'BEGIN { if (n > 0) printf "%.0f", (a - b) / n; else print 0 }')
check "heap-gauge-follows-sessions" "$([ "$heap_per" -ge 8000 ] && [ "$heap_per" -le $((MAX_KIB * 1024)) ]; echo $?)" \
    "in_use $heap0 -> $heap_up bytes: $heap_per per session"

# the sessions closed: wait until the proxy has none, then for the trim
for ((i = 0; i < 100; i++)); do
    [ "$(metric sstp_proxy_sessions)" = 0 ] && break
    sleep 0.1
done
for ((i = 0; i < SETTLE * 4; i++)); do
    trims=$(metric sstp_proxy_heap_trims_total)
    left=$(awk -v a="$(rss_kib)" -v b="$base" -v n="$N" 'BEGIN { printf "%.2f", (a - b) / n }')
    [ "$trims" -gt "$trims0" ] && awk -v l="$left" -v m="$LEFT_KIB" 'BEGIN { exit !(l <= m) }' && break
    sleep 0.25
done
heap_end=$(metric sstp_proxy_heap_bytes 'state="in_use"')
check "heap-trimmed-after-close" "$([ "$trims" -gt "$trims0" ]; echo $?)" "sstp_proxy_heap_trims_total $trims0 -> $trims"
check "rss-left<=${LEFT_KIB}KiB-per-session" "$(awk -v l="$left" -v m="$LEFT_KIB" 'BEGIN { exit !(l <= m) }'; echo $?)" \
    "$left KiB per session left (RSS $base -> $up_rss -> $(rss_kib) KiB)"
check "heap-in-use-back" "$([ "$heap_end" -le $((heap0 + (heap_up - heap0) / 10)) ]; echo $?)" \
    "in_use $heap0 -> $heap_up -> $heap_end bytes"
grep -h 'ev=heap_trim' "$work/proxy.log" | sed 's/^/# /'
echo "# $up sessions: $per KiB RSS each up, $heap_per B heap each; after close $left KiB each left, trims $trims0 -> $trims; load $(cut -d' ' -f1 /proc/loadavg)"
[ $failed = 0 ] && echo "proxy_idle_memory: ok" || { tail -5 "$work/proxy.log"; echo "proxy_idle_memory: FAILED"; }
exit $failed
