#!/bin/bash
# backend_datapath.sh — the cost of sstp-backend's data path on this host:
# Gbit/s per session and CPU seconds per Gbit, both directions, with the
# syscalls and wake-ups per packet that explain them. No pppd, no kernel PPP:
# sstp-backend runs tests/bench/pty_echo.c in pppd's place, which reports
# AUTH/IP_UP over the plugin socket and writes back every byte it reads from
# the pty, so each data packet crosses the backend twice (SSTP -> HDLC
# encode -> pty, pty -> HDLC decode -> SSTP -> TLS).
#
# Columns, measured by one sstp-bench bulk client in ONE run, rounds
# interleaved (the order rotates from round to round):
#   direct     sstp-bench --serve terminating TLS and echoing SSTP data packets
#              itself: the reference (TLS and SSTP framing only, no HDLC, no pty)
#   backend    build/sstp-backend (BACKEND) with pty_echo as its pppd
#   backend-b  optional: a second sstp-backend binary (BACKEND_B), for
#              before/after figures of two builds in one run
# Per cell (the median over the rounds):
#   Gbit/s     SSTP bytes the client sent plus those echoed back, per session
#   cpu s/Gbit CPU seconds (user+system, /proc/PID/stat) of the measured
#              process (the backend, or the direct target) per Gbit moved
#   sc/pkt     read+write syscalls (/proc/PID/io syscr+syscw) per SSTP data
#              packet, counting each packet once per direction
#   wk/pkt     voluntary context switches (wake-ups) per packet
#   ctl/pkt    epoll_ctl calls per packet, and epw/pkt epoll_wait calls per
#              packet (perf stat on the syscall tracepoints; "-" without perf)
#   up/down    with perf: syscalls per packet of each direction, apart:
#              up = TLS socket reads + pty writes per packet the client
#              sent, down = pty reads + socket writes per packet echoed
#              back (the pty is the fd open on /dev/ptmx); and the reads
#              that said EAGAIN per packet
# Then, with perf, a profile of where the time goes: one more client run per
# column with `perf record` on the measured process, its CPU split by
# library (libcrypto, libssl, kernel, libc, libev, the binary itself) and
# its top symbols, the reference beside the backend (PROFILE=0 skips it).
# The pty_echo process's own CPU is printed per round, not counted. The
# figures are this host's; compare columns of one run (the load average of
# each round is printed beside it).
#
# Environment: DUR (5 s per run), ROUNDS (3), WARMUP (2), SESSIONS (1),
# SIZE (1400-byte PPP frames), BACKEND, BACKEND_B, BASE_PORT (24700), PROFILE (1),
# KEEP=1 keeps the work directory. Not part of `make test`.
#
#   tests/bench/backend_datapath.sh
#   BACKEND_B=/tmp/old/sstp-backend ROUNDS=5 tests/bench/backend_datapath.sh
set -u
cd "$(dirname "$0")/../.." || exit 1

DUR=${DUR:-5}
ROUNDS=${ROUNDS:-3}
WARMUP=${WARMUP:-2}
SESSIONS=${SESSIONS:-1}
SIZE=${SIZE:-1400}
BASE_PORT=${BASE_PORT:-24700}
BENCH=build/sstp-bench
BACKEND=${BACKEND:-build/sstp-backend}
BACKEND_B=${BACKEND_B:-}
HZ=$(getconf CLK_TCK)
PROFILE=${PROFILE:-1}
# epoll calls are counted where perf can read the syscall tracepoints
PERF=0
perf stat -e syscalls:sys_enter_epoll_ctl true >/dev/null 2>&1 && PERF=1

die() { echo "backend_datapath: $*" >&2; exit 1; }

make -j2 "$BENCH" build/sstp-backend >/dev/null || die "cannot build $BENCH and build/sstp-backend"
[ -x "$BACKEND" ] || die "$BACKEND is not built"
[ -z "$BACKEND_B" ] || [ -x "$BACKEND_B" ] || die "$BACKEND_B is not executable"

. tests/bench/lib.sh
bench_work dp

cc -std=c11 -D_GNU_SOURCE -O2 -Wall -Wextra -Werror -I. -o "$work/pty_echo" tests/bench/pty_echo.c ||
    die "cannot build tests/bench/pty_echo.c"
scripts/mkcerts.sh "$work/certs" >/dev/null || die "mkcerts failed"
CRT=$work/certs/server.crt KEY=$work/certs/server.key CA=$work/certs/ca.crt
SNI=vpn.example.test
: >"$work/pppd.options"

next_port=$BASE_PORT
be_cfg() { # FILE PORT ID
    cat >"$1" <<EOC
[backend]
id = $3
log_level = warn
[listen]
tls = 127.0.0.1:$2
proxy =
[tls]
cert = $CRT
key = $KEY
[pppd]
path = $work/pty_echo
options = $work/pppd.options
plugin = /nonexistent/not-loaded.so
kill_grace = 1s
[limits]
per_source_rate = 0
max_negotiating_per_source = 0
EOC
}

declare -A PORT PID
COLS=(direct backend)
[ -n "$BACKEND_B" ] && COLS+=(backend-b)
for col in "${COLS[@]}"; do alloc_port; PORT[$col]=$REPLY; done

start() { # COL CMD...
    local col=$1; shift
    "$@" >"$work/$col.log" 2>&1 &
    PID[$col]=$!
    PIDS+=("$!")
}
start direct "$BENCH" --serve "127.0.0.1:${PORT[direct]}" --cert "$CRT" --key "$KEY"
be_cfg "$work/backend.conf" "${PORT[backend]}" bench-a
start backend "$BACKEND" -c "$work/backend.conf"
if [ -n "$BACKEND_B" ]; then
    be_cfg "$work/backend-b.conf" "${PORT[backend-b]}" bench-b
    start backend-b "$BACKEND_B" -c "$work/backend-b.conf"
fi
for col in "${COLS[@]}"; do
    wait_port "${PORT[$col]}" || die "$col not listening on ${PORT[$col]}: $(tail -3 "$work/$col.log")"
done

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat" 2>/dev/null || echo 0; }
io_calls() { awk '/^sys(cr|cw):/ {n += $2} END {print n + 0}' "/proc/$1/io" 2>/dev/null || echo 0; }
wakeups() { awk '/^voluntary_ctxt_switches:/ {print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }
# echo_cpu PID: CPU ticks of the newest pty_echo child of PID (this run's session;
# the last run's may still be exiting)
echo_cpu() {
    local t=0 p
    for p in $(pgrep -n -P "$1" -f "^$work/pty_echo"); do t=$((t + $(cpu_ticks "$p"))); done
    echo "$t"
}

declare -A VAL

# run COL: one bulk client run; the counters of the measured process are
# sampled inside the client's window (after set-up and warm-up)
run() {
    local col=$1 pid=${PID[$1]} out=$work/client.out
    timeout -k 5 $((WARMUP + DUR + 60)) "$BENCH" -m bulk -t "127.0.0.1:${PORT[$col]}" --ca "$CA" --sni "$SNI" \
        -n "$SESSIONS" -s "$SIZE" -w "$WARMUP" -d "$DUR" >"$out" 2>>"$work/client.err" &
    local cpid=$!
    PIDS+=("$cpid")
    sleep "$(awk -v w="$WARMUP" 'BEGIN {print w + 1.2}')"
    local c0 i0 w0 e0 t0 c1 i1 w1 e1 t1
    local ppid=""
    if [ "$PERF" = 1 ]; then
        # the session's pty (none for the direct target: an fd number never open)
        local pty
        pty=$(find "/proc/$pid/fd" -lname /dev/ptmx -printf '%f\n' 2>/dev/null | head -1)
        perf stat -x, -o "$work/perf.out" -p "$pid" \
            -e syscalls:sys_enter_epoll_ctl -e syscalls:sys_enter_epoll_wait \
            -e syscalls:sys_enter_read -e syscalls:sys_enter_read --filter "fd == ${pty:-999999}" \
            -e syscalls:sys_enter_write -e syscalls:sys_enter_write --filter "fd == ${pty:-999999}" \
            -e syscalls:sys_exit_read --filter "ret == -11" 2>/dev/null &
        ppid=$!
        PIDS+=("$ppid")
    fi
    c0=$(cpu_ticks "$pid"); i0=$(io_calls "$pid"); w0=$(wakeups "$pid"); e0=$(echo_cpu "$pid"); t0=$(date +%s.%N)
    sleep "$(awk -v d="$DUR" 'BEGIN {print (d > 2 ? d - 1.5 : d / 2)}')"
    c1=$(cpu_ticks "$pid"); i1=$(io_calls "$pid"); w1=$(wakeups "$pid"); e1=$(echo_cpu "$pid"); t1=$(date +%s.%N)
    local ctl="" epw="" rd="" rdp="" wr="" wrp="" eag=""
    if [ -n "$ppid" ]; then
        kill -INT "$ppid" 2>/dev/null
        wait "$ppid" 2>/dev/null
        # one line per event, in the order given: read and write come
        # twice, all of them first, then those on the pty
        read -r ctl epw rd rdp wr wrp eag <<<"$(awk -F, '/syscalls:/ {printf "%s ", $1}' "$work/perf.out")"
    fi
    wait "$cpid"
    local line; line=$(grep '^bench ' "$out" | tail -1)
    [ -n "$line" ] || { echo "round $r $col: no result ($(tail -2 "$work/client.err"))"; return; }
    local tx rx pps errs
    tx=$(kv "$line" tx_gbps); rx=$(kv "$line" rx_gbps); errs=$(kv "$line" errors)
    pps=$(awk -v a="$(kv "$line" tx_pps)" -v b="$(kv "$line" rx_pps)" 'BEGIN {print a + b}')
    read -r gbps cpg scp wkp ecpu <<<"$(awk -v tx="$tx" -v rx="$rx" -v pps="$pps" -v hz="$HZ" \
        -v dc=$((c1 - c0)) -v di=$((i1 - i0)) -v dw=$((w1 - w0)) -v de=$((e1 - e0)) -v t0="$t0" -v t1="$t1" 'BEGIN {
        dt = t1 - t0; g = tx + rx
        cpu = dc / hz / dt            # CPU seconds per second
        printf "%.3f %.3f %.2f %.3f %.2f\n", g, (g > 0 ? cpu / g : 0), (pps > 0 ? di / dt / pps : 0),
               (pps > 0 ? dw / dt / pps : 0), de / hz / dt }')"
    local ctlp="" epwp="" upp="" dnp="" eagp=""
    if [ -n "$ctl" ] && [ -n "$epw" ]; then
        # perf counted from its start to the INT, about the window above
        read -r ctlp epwp upp dnp eagp <<<"$(awk -v c="$ctl" -v e="$epw" -v pps="$pps" -v t0="$t0" -v t1="$t1" \
            -v txp="$(kv "$line" tx_pps)" -v rxp="$(kv "$line" rx_pps)" \
            -v rd="$rd" -v rdp="$rdp" -v wr="$wr" -v wrp="$wrp" -v eag="$eag" 'BEGIN {
            dt = t1 - t0; d = dt * pps; u = dt * txp; w = dt * rxp
            # up: socket reads + pty writes; down: pty reads + socket writes
            printf "%.3f %.3f %.3f %.3f %.3f\n", (d > 0 ? c / d : 0), (d > 0 ? e / d : 0),
                (u > 0 ? ((rd - rdp) + wrp) / u : 0), (w > 0 ? (rdp + (wr - wrp)) / w : 0), (d > 0 ? eag / d : 0) }')"
        add ctlp "$col" "$ctlp"; add epwp "$col" "$epwp"; add upp "$col" "$upp"; add dnp "$col" "$dnp"
        add eagp "$col" "$eagp"
    fi
    echo "round $r $col: gbps=$gbps (tx $tx rx $rx) pps=$pps cpu_s_per_gbit=$cpg syscalls_per_pkt=$scp" \
        "epoll_ctl_per_pkt=${ctlp:--} epoll_wait_per_pkt=${epwp:--} up_rw_per_pkt=${upp:--} down_rw_per_pkt=${dnp:--} eagain_per_pkt=${eagp:--} wakeups_per_pkt=$wkp cpu=$(awk -v c="$cpg" -v g="$gbps" 'BEGIN {printf "%.2f", c * g}')" \
        "pty_echo_cpu=$ecpu errors=$errs load=$(cut -d' ' -f1 /proc/loadavg)"
    add gbps "$col" "$gbps"; add cpg "$col" "$cpg"; add scp "$col" "$scp"; add wkp "$col" "$wkp"
}

echo "backend data path: DUR=${DUR}s ROUNDS=$ROUNDS SESSIONS=$SESSIONS SIZE=$SIZE (PPP frame bytes)"
echo "host: $(nproc) CPUs, uptime:$(uptime | sed 's/.*up/ up/')"
[ -n "$BACKEND_B" ] && echo "backend-b: $BACKEND_B"
for ((r = 1; r <= ROUNDS; r++)); do
    n=${#COLS[@]}
    for ((k = 0; k < n; k++)); do run "${COLS[$(((k + r - 1) % n))]}"; done
done

echo
printf '%-30s' metric; for col in "${COLS[@]}"; do printf ' %10s' "$col"; done
printf ' %10s' "be/direct"; [ -n "$BACKEND_B" ] && printf ' %10s' "b/backend"; echo
row() { # key label
    local col cells=()
    printf '%-30s' "$2"
    for col in "${COLS[@]}"; do cells+=("$(median "${VAL[$1/$col]:-}")"); printf ' %10s' "${cells[-1]:--}"; done
    printf ' %10s' "$(ratio "${cells[1]}" "${cells[0]}")"
    [ -n "$BACKEND_B" ] && printf ' %10s' "$(ratio "${cells[2]}" "${cells[1]}")"
    echo
}
row gbps "Gbit/s, both directions"
row cpg "CPU s per Gbit"
row scp "read+write syscalls per pkt"
row wkp "wake-ups per pkt"
if [ "$PERF" = 1 ]; then
    row ctlp "epoll_ctl per pkt"
    row epwp "epoll_wait per pkt"
    row upp "up: sock rd + pty wr per pkt"
    row dnp "down: pty rd + sock wr per pkt"
    row eagp "reads saying EAGAIN per pkt"
fi
echo
echo "Cells: medians over the rounds; $SESSIONS session(s), $SIZE-byte frames. Load at the end: $(cut -d' ' -f1-3 /proc/loadavg)."

# ---- where the time goes: perf record of the measured process ----
# profile COL: one more bulk client run, perf record inside its window;
# writes $work/prof-COL.lib (share% library) and $work/prof-COL.sym (top symbols)
profile() {
    local col=$1 pid=${PID[$1]}
    timeout -k 5 $((WARMUP + 4 + 60)) "$BENCH" -m bulk -t "127.0.0.1:${PORT[$col]}" --ca "$CA" --sni "$SNI" \
        -n "$SESSIONS" -s "$SIZE" -w "$WARMUP" -d 4 >/dev/null 2>>"$work/client.err" &
    local cpid=$!
    PIDS+=("$cpid")
    sleep "$(awk -v w="$WARMUP" 'BEGIN {print w + 1}')"
    perf record -q -F 1999 -p "$pid" -o "$work/perf-$col.data" -- sleep 2 >/dev/null 2>&1
    wait "$cpid"
    perf report -q -i "$work/perf-$col.data" --no-children --sort dso,sym --stdio 2>/dev/null |
        awk 'NF >= 3 && $1 ~ /%$/ {sub(/%/, "", $1); print}' >"$work/prof-$col.raw"
    # by library: kernel, libcrypto, libssl, libc, libev, the program itself
    awk -v self="$(basename "${BIN[$col]}")" '{
        d = $2
        if (d ~ /kernel/) k = "kernel"; else if (d ~ /libcrypto/) k = "libcrypto"; else if (d ~ /libssl/) k = "libssl"
        else if (d ~ /libc[.-]/) k = "libc"; else if (d ~ /libev/) k = "libev"; else if (d == self) k = "program"
        else k = "other"
        s[k] += $1
    } END {for (k in s) printf "%s %.1f\n", k, s[k]}' "$work/prof-$col.raw" >"$work/prof-$col.lib"
    head -12 "$work/prof-$col.raw" | awk '{sym = $4; for (i = 5; i <= NF; i++) sym = sym " " $i
        printf "%5.1f%% %-10.10s %s\n", $1, $2, substr(sym, 1, 40)}' >"$work/prof-$col.sym"
}
if [ "$PERF" = 1 ] && [ "$PROFILE" = 1 ]; then
    declare -A BIN=([direct]=$BENCH [backend]=$BACKEND [backend-b]=$BACKEND_B)
    for col in "${COLS[@]}"; do profile "$col"; done
    echo
    echo "Where the CPU goes (perf record, 2 s of a bulk run, share of the measured process's samples):"
    printf '%-12s' library; for col in "${COLS[@]}"; do printf ' %10s' "$col"; done; echo
    for k in libcrypto libssl kernel libc libev program other; do
        printf '%-12s' "$k"
        for col in "${COLS[@]}"; do printf ' %9s%%' "$(awk -v k="$k" '$1 == k {print $2}' "$work/prof-$col.lib")"; done
        echo
    done
    for col in "${COLS[@]}"; do
        echo
        echo "top symbols, $col:"
        cat "$work/prof-$col.sym"
    done
fi
exit 0
