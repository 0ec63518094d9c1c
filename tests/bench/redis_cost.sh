#!/bin/bash
# redis_cost.sh — what Redis affinity costs sstp-proxy, measured by sstp-bench
# in ONE run (rounds interleaved, so machine noise hits both columns alike).
#
# Columns (all on this host, over loopback, the same certificate, the same
# two backends: sstp-bench --serve --plain --proxy-in):
#   static    sstp-proxy with its static servers only (no Redis)
#   redis     the same, plus [redis] (registry read every second) and
#             [affinity] mode = client_ip: every session asks Redis for its
#             key (GET) before choosing, and records the choice (SET EX)
# Both run the default active health checks. Rows: handshakes/s (TCP + full
# TLS + HTTP + CALL_CONNECT_REQUEST/ACK, no resumption), handshake latency
# p50/p99, errors; the ratio redis/static of the medians and the median of
# the per-round ratios (target: at most 5% slower, i.e. >= 0.95x); and Redis commands per session during the redis runs, from
# INFO commandstats before and after (calls of every command, those run
# inside scripts included) divided by the sessions the proxy relayed
# (sstp_proxy_sessions_total of its admin listener), with the breakdown.
#
# Environment: DUR (seconds per run, 5), ROUNDS (3), HS_CONC (64), PROCS
# (workers and load processes, 2), KEEP=1 keeps the work directory.
# Not part of `make test`.
#
#   tests/bench/redis_cost.sh
set -u
cd "$(dirname "$0")/../.."

DUR=${DUR:-5}
ROUNDS=${ROUNDS:-3}
HS_CONC=${HS_CONC:-64}
PROCS=${PROCS:-2}
WARMUP=1
BENCH=build/sstp-bench
PROXY=build/sstp-proxy

die() { echo "redis_cost: $*" >&2; exit 1; }

make -j2 "$BENCH" "$PROXY" >/dev/null || die "cannot build $BENCH and $PROXY"
command -v redis-server >/dev/null || die "redis-server not installed (scripts/deps.sh)"
command -v redis-cli >/dev/null || die "redis-cli not installed (scripts/deps.sh)"

. tests/bench/lib.sh
bench_work redis-cost

scripts/mkcerts.sh "$work/certs" >/dev/null || die "mkcerts failed"
CRT=$work/certs/server.crt KEY=$work/certs/server.key CA=$work/certs/ca.crt
SNI=vpn.example.test

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
start() { # LOG CMD... : in the background, pid in PIDS
    local log=$1; shift
    "$@" >"$log" 2>&1 &
    PIDS+=("$!")
}

REDIS_PORT=$(free_port); BE1=$(free_port); BE2=$(free_port)
PW="bench-$RANDOM$RANDOM"
start "$work/redis.log" redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --requirepass "$PW" \
    --save "" --appendonly no --dir "$work"
rcli() { redis-cli -p "$REDIS_PORT" -a "$PW" --no-auth-warning "$@"; }
for ((i = 0; i < 100; i++)); do [ "$(rcli ping 2>/dev/null)" = PONG ] && break; sleep 0.05; done
[ "$(rcli ping 2>/dev/null)" = PONG ] || die "redis-server did not start: $(tail -3 "$work/redis.log")"

for be in "$BE1" "$BE2"; do
    start "$work/be$be.log" "$BENCH" --serve "127.0.0.1:$be" --plain --proxy-in --cert "$CRT" -j "$PROCS"
    wait_port "$be" || die "backend on $be did not start: $(tail -2 "$work/be$be.log")"
done

declare -A PORT ADMIN
for col in static redis; do
    PORT[$col]=$(free_port); ADMIN[$col]=$(free_port)
    {
        printf '[proxy]\nid = bench-%s\nlog_level = warn\nworkers = %s\n' "$col" "$PROCS"
        printf '[listen]\nbind = 127.0.0.1:%s\nbacklog = 4096\n' "${PORT[$col]}"
        printf '[tls]\ncert = %s %s\n' "$CRT" "$KEY"
        printf '[backends]\nserver = be1 127.0.0.1:%s\nserver = be2 127.0.0.1:%s\n' "$BE1" "$BE2"
        printf '[session]\nidle_timeout = 10m\n[admin]\naddress = 127.0.0.1:%s\n' "${ADMIN[$col]}"
        if [ "$col" = redis ]; then
            printf '[redis]\nurl = redis://:%s@127.0.0.1:%s\n' "$PW" "$REDIS_PORT"
            printf '[affinity]\nmode = client_ip\n'
        fi
    } >"$work/$col.conf"
    out=$("$PROXY" --check-config -c "$work/$col.conf" 2>&1) || die "the $col config is refused: $out"
    start "$work/$col.log" "$PROXY" -c "$work/$col.conf"
    wait_port "${PORT[$col]}" || die "sstp-proxy ($col) not listening: $(tail -3 "$work/$col.log")"
done
sleep 1 # the redis column's workers connect and read the registry once

sessions() { # COL: sstp_proxy_sessions_total of that proxy
    curl -s "http://127.0.0.1:${ADMIN[$1]}/metrics" | awk '$1 == "sstp_proxy_sessions_total" {print $2}'
}
calls() { # "cmd calls" lines of INFO commandstats
    rcli info commandstats | tr -d '\r' | sed -n 's/^cmdstat_\([^:]*\):calls=\([0-9]*\),.*/\1 \2/p'
}
bench() { # COL
    timeout -k 5 $((DUR * 4 + 120)) "$BENCH" -m handshake -t "127.0.0.1:${PORT[$1]}" --ca "$CA" \
        --sni "$SNI" -c "$HS_CONC" -j "$PROCS" -d "$DUR" -w "$WARMUP" 2>>"$work/client.err" |
        grep '^bench ' | tail -1
}

declare -A VAL

echo "redis_cost: DUR=${DUR}s ROUNDS=$ROUNDS PROCS=$PROCS HS_CONC=$HS_CONC; $(redis-server --version | cut -d' ' -f1-3)"
declare -A CMDS
cmd_total=0 sess_total=0
# one unmeasured run each: lazily built state (pools, OpenSSL, the Redis
# connection's buffers) is not charged to the first round
for col in static redis; do
    timeout -k 5 60 "$BENCH" -m handshake -t "127.0.0.1:${PORT[$col]}" --ca "$CA" --sni "$SNI" \
        -c "$HS_CONC" -j "$PROCS" -d 1 -w 0 >/dev/null 2>>"$work/client.err"
done
for ((r = 1; r <= ROUNDS; r++)); do
    # alternate which column goes first: neither always meets a warmer cache
    order="static redis"
    [ $((r % 2)) = 0 ] && order="redis static"
    declare -A ROUND=()
    for col in $order; do
        if [ "$col" = redis ]; then
            before=$(calls); s0=$(sessions redis)
        fi
        line=$(bench "$col")
        echo "round $r $col: $line"
        add hs "$col" "$(kv "$line" hs_per_s)"
        add p50 "$col" "$(kv "$line" lat_p50_us)"
        add p99 "$col" "$(kv "$line" lat_p99_us)"
        add err "$col" "$(kv "$line" errors)"
        ROUND[$col]=$(kv "$line" hs_per_s)
        if [ "$col" = redis ]; then
            sleep 0.5 # the last records land
            after=$(calls); s1=$(sessions redis)
            sess_total=$((sess_total + ${s1:-0} - ${s0:-0}))
            while read -r cmd n; do
                b=$(awk -v c="$cmd" '$1 == c {print $2}' <<<"$before")
                d=$((n - ${b:-0}))
                [ "$d" -gt 0 ] || continue
                CMDS[$cmd]=$((${CMDS[$cmd]:-0} + d))
                cmd_total=$((cmd_total + d))
            done <<<"$after"
        fi
    done
    add pair x "$(awk -v a="${ROUND[redis]:-}" -v b="${ROUND[static]:-}" \
        'BEGIN { if (b + 0 > 0 && a != "") printf "%.4f", a / b }')"
done

echo
printf '%-22s %12s %12s %10s  %s\n' metric static redis redis/stat target
row() { # key label [target]
    local s r; s=$(cell "$1" static); r=$(cell "$1" redis)
    printf '%-22s %12s %12s %10s  %s\n' "$2" "${s:--}" "${r:--}" "$(ratio "$r" "$s" 3)" "${3:-}"
}
row hs "handshakes/s" ">= 0.95x"
row p50 "handshake p50 us"
row p99 "handshake p99 us"
row err "errors"
# the load of a shared host drifts between rounds: the ratio of the two runs
# of each round (back to back) is steadier than the ratio of the medians
pair=$(median "${VAL[pair/x]:-}")
printf '%-22s %12s %12s %10s  %s\n' "handshakes/s, paired" "" "" "${pair:+${pair}x}" \
    "median of the per-round ratios:${VAL[pair/x]:-}"
verdict=$(awk -v r="${pair:--}" 'BEGIN { if (r == "-") print "-"; else print (r + 0 >= 0.95) ? "met" : "MISSED" }')
echo "affinity cost target (at most 5% slower, paired ratio): $verdict"
echo
if [ "$sess_total" -gt 0 ]; then
    printf 'Redis commands per session (redis column, %d sessions, %d commands): %s\n' "$sess_total" \
        "$cmd_total" "$(awk -v c="$cmd_total" -v s="$sess_total" 'BEGIN {printf "%.3f", c / s}')"
    for cmd in "${!CMDS[@]}"; do
        printf '  %-14s %8d  %.3f per session\n' "$cmd" "${CMDS[$cmd]}" \
            "$(awk -v c="${CMDS[$cmd]}" -v s="$sess_total" 'BEGIN {print c / s}')"
    done | sort -k2 -n -r
    echo "(GET and SET are the affinity look-up and record; EVAL and what it runs are the"
    echo " registry reads and counter batches, per worker and second, not per session.)"
else
    echo "no session counted on the redis column"
fi
exit 0
