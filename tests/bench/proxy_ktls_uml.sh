#!/bin/bash
# proxy_ktls_uml.sh — sstp-proxy with kernel TLS on and off, beside HAProxy
# (the reference), in ONE User-Mode Linux boot (the UML kernel has tls.ko;
# the host's may not). Not part of make test.
#
#   tests/bench/proxy_ktls_uml.sh [ROUNDS] [BULK_S] [IDLE_N]   (default 3 4 300)
#
# Three fronts before one sstp-bench --serve --plain --proxy-in target,
# all inside the guest, loopback only:
#   off      sstp-proxy, tls.ktls = off (OpenSSL in user space)
#   on       sstp-proxy, tls.ktls = on  (TLS 1.2: both ways in the kernel,
#            OpenSSL's state freed; TLS 1.3: the kernel sends, OpenSSL
#            receives — OpenSSL 3.0 has no TLS 1.3 kernel receive)
#   haproxy  Debian's HAProxy terminating TLS, send-proxy-v2 (reference)
# For TLS 1.2 and 1.3 (sstp-bench --tls), ROUNDS rounds, the order of the
# fronts rotating from round to round:
#   bulk     sstp-bench -m bulk, 2 sessions, BULK_S s: Gbit/s echoed back
#            (rx) through the front
#   rss      idle sessions (sstp-bench -m idle) on a freshly started
#            front, in two batches of IDLE_N/2 (25 set-ups in flight):
#            (VmRSS of its processes with both batches - before) / sessions
#            up, KiB (as proxy_vs_haproxy.sh, whose 10,000 sessions make the
#            fixed part small; here it is not, so also:)
#   2nd half the same for the second batch only: the marginal cost of one
#            more idle session, with the pools and heap the first batch grew
#   slab     the guest kernel's Slab (/proc/meminfo), same deltas: kernel TLS
#            moves the record state into the kernel, so RSS alone would
#            flatter it. It counts every socket of the guest (client and
#            target too), the same for each front: compare the columns
#   RSS+slab the two together (2nd half)
# Medians over the rounds, then the ratios on/off and on/haproxy. The
# kernel-TLS gauge of the "on" front is printed for each idle run, so a
# run where the kernel did not take the sessions shows.
# Caveat printed with the figures: everything shares ONE UML CPU, and the
# UML kernel's AES-GCM is the generic C code (no AES-NI): kernel TLS bulk
# figures here are far below a real host's; the memory figures carry over.
# Work dir: $BENCH_WORK or a fresh /tmp/sstplb-ktls.XXXXXX (kept).

if [ -z "${SSTPLB_GUEST:-}" ]; then
    here=$(dirname "$(readlink -f "$0")")
    repo=$(readlink -f "$here/../..")
    rounds=${1:-3} bulk_s=${2:-4} idle_n=${3:-300}
    make -C "$repo" --no-print-directory -j2 build/sstp-proxy build/sstp-bench > /dev/null ||
        { echo "proxy_ktls_uml: cannot build" >&2; exit 1; }
    command -v haproxy > /dev/null || { echo "proxy_ktls_uml: haproxy not installed" >&2; exit 1; }
    work=${BENCH_WORK:-$(mktemp -d /tmp/sstplb-ktls.XXXXXX)}
    mkdir -p "$work"
    "$repo/scripts/mkcerts.sh" "$work/certs" > /dev/null 2>&1 || { echo "mkcerts failed" >&2; exit 1; }
    cat "$work/certs/server.crt" "$work/certs/server.key" > "$work/certs/server.pem"
    echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"
    "$repo/tests/e2e/uml.sh" --timeout 1500 --mem 768M "$work" "$here/proxy_ktls_uml.sh" \
        "$rounds" "$bulk_s" "$idle_n" > "$work/uml.out" 2>&1
    rc=$?
    grep -a '^bench:' "$work/guest.log" | sed 's/^bench: //'
    echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
    if [ $rc -ne 0 ]; then
        echo "proxy_ktls_uml: FAILED (status $rc), logs in $work" >&2
        tail -n 30 "$work/uml.out" >&2
    else
        echo "(logs in $work)"
    fi
    exit $rc
fi

# ---- guest side --------------------------------------------------------------
set -u
W=$SSTPLB_WORK
REPO=$SSTPLB_REPO
ROUNDS=$1 BULK_S=$2 IDLE_N=$3
BENCH=$REPO/build/sstp-bench
PROXY=$REPO/build/sstp-proxy
CRT=$W/certs/server.crt KEY=$W/certs/server.key CA=$W/certs/ca.crt
SNI=vpn.example.test
BE_PORT=5000
declare -A PORT=([off]=4431 [on]=4432 [haproxy]=4433)
declare -A ADMIN=([off]=9181 [on]=9182)
FRONTS=(off on haproxy)
say() { echo "bench: $*"; }

modprobe tls 2> /dev/null || insmod /usr/lib/modules/*/kernel/net/tls/tls.ko ||
    { say "FAILED: cannot load tls.ko"; exit 1; }
ip link set lo up
ulimit -n 16384

sp_cfg() { # FRONT
    cat > "$W/$1.conf" << EOC
[proxy]
id = bench-$1
log_level = info
workers = 1
[listen]
bind = 127.0.0.1:${PORT[$1]}
[tls]
cert = $CRT $KEY
ktls = $1
[backends]
server = be1 127.0.0.1:$BE_PORT
[session]
idle_timeout = 10m
[limits]
per_source_conns = 0
[admin]
address = 127.0.0.1:${ADMIN[$1]}
EOC
}
sp_cfg off
sp_cfg on
cat > "$W/haproxy.cfg" << EOC
global
    maxconn 4000
    ssl-default-bind-ciphers ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256
    ssl-default-bind-ciphersuites TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384
    ssl-default-bind-options ssl-min-ver TLSv1.2
defaults
    mode tcp
    timeout connect 5s
    timeout client 10m
    timeout server 10m
frontend sstp
    bind 127.0.0.1:${PORT[haproxy]} ssl crt $W/certs/server.pem
    default_backend be
backend be
    server be1 127.0.0.1:$BE_PORT send-proxy-v2
EOC

declare -A PID
start_front() { # FRONT
    if [ "$1" = haproxy ]; then
        haproxy -db -f "$W/haproxy.cfg" > "$W/haproxy.log" 2>&1 &
    else
        "$PROXY" -c "$W/$1.conf" > "$W/$1.log" 2>&1 &
    fi
    PID[$1]=$!
    local i
    for ((i = 0; i < 100; i++)); do
        (exec 3<> /dev/tcp/127.0.0.1/${PORT[$1]}) 2> /dev/null && return 0
        sleep 0.1
    done
    say "FAILED: front $1 did not listen"; exit 1
}
stop_front() {
    kill "${PID[$1]}" 2> /dev/null
    wait "${PID[$1]}" 2> /dev/null
}
tree_rss_kib() { # PID: VmRSS of it and its children
    local p sum=0 kb c
    for p in $1 $(cat /proc/$1/task/*/children 2> /dev/null); do
        kb=$(awk '/^VmRSS:/ {print $2}' /proc/$p/status 2> /dev/null)
        sum=$((sum + ${kb:-0}))
        for c in $(cat /proc/$p/task/*/children 2> /dev/null); do
            kb=$(awk '/^VmRSS:/ {print $2}' /proc/$c/status 2> /dev/null)
            sum=$((sum + ${kb:-0}))
        done
    done
    echo $sum
}
slab_kib() { awk '/^Slab:/ {print $2}' /proc/meminfo; }
kv() { sed -n "s/.* $2=\([^ ]*\).*/\1/p" <<< " $1"; }
metrics() { # FRONT: the ktls gauge lines of its /metrics
    exec 3<> /dev/tcp/127.0.0.1/${ADMIN[$1]} || return
    printf 'GET /metrics HTTP/1.0\r\n\r\n' >&3
    grep '^sstp_proxy_ktls_sessions{mode="client\|^sstp_proxy_sessions ' <&3 | sed 's/^sstp_proxy_//; s/{mode="/:/; s/"}//' | tr '\n' ' '
    exec 3<&-
}

# idle_batch FRONT VER NAME: IDLE_N/2 idle sessions held (long) until
# killed; returns once they are up (UP[NAME], CPID[NAME])
declare -A UP CPID
idle_batch() {
    local log=$W/idle-$r-$2-$1-$3.out i
    timeout -k 5 600 "$BENCH" -m idle -t 127.0.0.1:${PORT[$1]} --ca "$CA" --sni $SNI --tls $2 \
        -n $((IDLE_N / 2)) -c 25 -d 300 --timeout 60 > "$log" 2>> "$W/client.err" &
    CPID[$3]=$!
    for ((i = 0; i < 3000; i++)); do
        grep -q '^ready' "$log" 2> /dev/null && break
        kill -0 ${CPID[$3]} 2> /dev/null || break
        sleep 0.1
    done
    UP[$3]=$(sed -n 's/^ready .* up=\([0-9]*\).*/\1/p' "$log")
    UP[$3]=${UP[$3]:-0}
    sleep 1
}

declare -A VAL
add() { VAL[$1]="${VAL[$1]:-} $2"; }
median() { tr ' ' '\n' <<< "$1" | grep -v '^$' | sort -g | awk '{v[NR]=$1} END {if (NR) print v[int((NR+1)/2)]; else print "-"}'; }

"$BENCH" --serve 127.0.0.1:$BE_PORT --plain --proxy-in --cert "$CRT" > "$W/target.log" 2>&1 &
TARGET=$!
sleep 0.5

for ((r = 1; r <= ROUNDS; r++)); do
    # rotate the order of the fronts each round
    order=("${FRONTS[@]:$(((r - 1) % 3))}" "${FRONTS[@]:0:$(((r - 1) % 3))}")
    for ver in 1.2 1.3; do
        for f in "${order[@]}"; do
            # bulk
            start_front "$f"
            line=$(timeout -k 5 $((BULK_S + 60)) "$BENCH" -m bulk -t 127.0.0.1:${PORT[$f]} --ca "$CA" \
                --sni $SNI --tls $ver -n 2 -d "$BULK_S" -w 1 2>> "$W/client.err" | grep '^bench ' | tail -1)
            rx=$(kv "$line" rx_gbps)
            say "round $r tls$ver $f bulk: rx_gbps=${rx:--} $(kv "$line" cipher) errors=$(kv "$line" errors)"
            [ -n "$rx" ] && add "bulk/$ver/$f" "$rx"
            stop_front "$f"
            # idle, on a fresh front: two batches of IDLE_N/2 sessions
            start_front "$f"
            timeout 60 "$BENCH" -m handshake -t 127.0.0.1:${PORT[$f]} --ca "$CA" --sni $SNI --tls $ver \
                -c 4 -d 1 -w 0 > /dev/null 2>&1 # warm lazily built state before the baseline
            sleep 1
            rss0=$(tree_rss_kib "${PID[$f]}")
            slab0=$(slab_kib)
            idle_batch "$f" $ver a
            rss1=$(tree_rss_kib "${PID[$f]}")
            slab1=$(slab_kib)
            idle_batch "$f" $ver b
            gauge=
            [ "$f" != haproxy ] && gauge=$(metrics "$f")
            rss2=$(tree_rss_kib "${PID[$f]}")
            slab2=$(slab_kib)
            kill ${CPID[a]} ${CPID[b]} 2> /dev/null
            wait ${CPID[a]} ${CPID[b]} 2> /dev/null
            up=$((UP[a] + UP[b]))
            if [ "${UP[b]}" -gt 0 ] && [ "$up" -gt 0 ]; then
                per() { awk -v a=$1 -v b=$2 -v n=$3 'BEGIN {printf "%.2f", (a - b) / n}'; }
                add "rss/$ver/$f" "$(per $rss2 $rss0 $up)"
                add "slab/$ver/$f" "$(per $slab2 $slab0 $up)"
                add "mrss/$ver/$f" "$(per $rss2 $rss1 ${UP[b]})"
                add "mslab/$ver/$f" "$(per $slab2 $slab1 ${UP[b]})"
                add "mmem/$ver/$f" "$(awk -v a=$rss2 -v b=$rss1 -v c=$slab2 -v d=$slab1 -v n=${UP[b]} \
                    'BEGIN {printf "%.2f", (a - b + c - d) / n}')"
            fi
            say "round $r tls$ver $f idle: up=${UP[a]}+${UP[b]}/$IDLE_N rss_kib=$rss0->$rss1->$rss2 slab_kib=$slab0->$slab1->$slab2 ${gauge}"
            stop_front "$f"
        done
    done
done
kill $TARGET 2> /dev/null
wait $TARGET 2> /dev/null

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "-" || b == "-" || b + 0 == 0) print "-"; else printf "%.2fx", a / b }'; }
say ""
say "medians of $ROUNDS rounds ($IDLE_N idle sessions, bulk ${BULK_S}s x 2 sessions):"
say "$(printf '%-28s %10s %10s %10s %9s %12s' figure off on haproxy on/off on/haproxy)"
for ver in 1.2 1.3; do
    for row in "bulk:Gbit/s echoed (rx)" "rss:RSS KiB/idle session" "slab:slab KiB/idle session" \
        "mrss:  2nd half: RSS KiB/sess" "mslab:  2nd half: slab KiB/sess" "mmem:  2nd half: RSS+slab"; do
        k=${row%%:*}
        o=$(median "${VAL[$k/$ver/off]:-}") n=$(median "${VAL[$k/$ver/on]:-}") h=$(median "${VAL[$k/$ver/haproxy]:-}")
        say "$(printf '%-28s %10s %10s %10s %9s %12s' "TLS$ver ${row#*:}" "$o" "$n" "$h" "$(ratio "$n" "$o")" "$(ratio "$n" "$h")")"
    done
done
say "one UML CPU, generic (non-AES-NI) kernel AES-GCM: compare the columns, not the absolute values"
