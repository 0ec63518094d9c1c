#!/bin/bash
# proxy_hs_cost.sh — what one full TLS handshake, one paced echo, and a GB
# of bulk echo cost the front: HAProxy 2.6 beside sstp-proxy (and optionally a second build,
# PROXY_B, for A/B), measured in ONE run on this host.
#
# Each front runs as one process doing the TLS (HAProxy nbthread 1;
# sstp-proxy workers = 1, its master counted too) before its own plain
# target (sstp-bench --serve --plain --proxy-in, whose `accepted` count is
# the number of handshakes the front completed). Per key (ECDSA P-256,
# RSA-2048) and front:
#   Ir/hs      instructions per handshake of the front (valgrind callgrind):
#              two runs of CG_SHORT and CG_LONG seconds, (Ir_long - Ir_short)
#              / (hs_long - hs_short), so start-up and shut-down cancel out
#   breakdown  the same difference split by the object the instructions ran
#              in (self cost): libcrypto, libssl, libc (with ld.so), the
#              front's own binary (+ libev), other; the kernel is not in Ir
#   sys/hs     system calls per handshake (perf stat, raw_syscalls:sys_enter
#              on the front's processes during a plain run of DUR seconds,
#              HS_CONC connections in flight); wake/hs: epoll_wait calls
#   cpu_us/hs  CPU time of the front per handshake (perf task-clock), in the
#              same run; client_us and target_us: the load client's and
#              the plain target's CPU per handshake in that run
#   bound      the handshakes/s ratio front/HAProxy that proxy_vs_haproxy.sh
#              can show when the client, the target and the front share the
#              CPUs and all are busy: (C + T + H) / (C + T + P), with C, T
#              the client's and target's and H, P HAProxy's and this
#              front's CPU µs per handshake; "per-cpu" is H / P (the front
#              alone on its own CPUs)
# Paced echo (PACED_N sessions, PACED_RATE echoes/s in all, DUR seconds,
# ECDSA): per echo round trip through the front: sys (all system calls),
# polls (sstp-proxy's polling turns after traffic, proxy/relay.c: one
# epoll_wait(0) + one sched_yield each), sys-poll (sys without them), wake
# (epoll_wait calls that were not polling turns: the loop's wake-ups),
# epoll_ctl, CPU µs of the front, and the p50/p99 RTT the client saw. One
# round trip is two relayed packets (one each way).
# Bulk echo (the bulk row of proxy_vs_haproxy.sh: BULK_N sessions of
# 1400-byte frames, BULK_PROCS client processes, warm-up 1 s, ECDSA), two
# client runs per front, each measured for DUR seconds from its second
# second: in the first, the bytes relayed (the client's tx + rx bytes at its
# rate), CPU seconds per GB (10^9 bytes, both directions) of the front, the
# client and the target (utime + stime from /proc), the front's system calls
# and epoll_waits per MB (perf stat); in the second, where the front's CPU
# goes (perf record -F BULK_FREQ, no call graphs; perf report --sort dso):
# the share of libcrypto, libssl, the kernel, libc, the front's own binary
# (+ libev), other. From those, the bound on the Gbit/s ratio: floor = the
# front's libcrypto + kernel CPU per GB, the cost left with no code of its
# own; H / floor on its own CPUs, (Ch + Th + H) / (C + T + floor) when the
# client and the target share the CPUs (as in proxy_vs_haproxy.sh; Ch, Th
# from HAProxy's run, since the client's and the target's CPU per GB depend
# on how the front batches). Here
# each front runs BULK_FRONT_PROCS (2) threads (HAProxy nbthread) / workers
# (sstp-proxy), as proxy_vs_haproxy.sh does with its PROCS; wake/MB counts
# epoll_wait and epoll_pwait. Without a hardware PMU (this VM) perf samples
# on cpu-clock: the user/kernel split holds, but kernel samples pile up where
# interrupts come back on (finish_task_switch, _raw_spin_unlock_irqrestore),
# so only the kernel's total is given. BULK_ROUNDS rounds, the fronts in an order
# that rotates from round to round; a cell of the table is the median over
# the rounds (the floor and the ratios are computed from the medians).
#
# The instruction counts do not depend on load; the CPU and syscall counts
# barely do; the RTT does. Each line ends with the 1-minute load average.
#
# Environment: DUR (5), CG_SHORT (4), CG_LONG (16), HS_CONC (32), CG_CONC (4),
# PACED_N (16), PACED_RATE (2000), BULK_N (8), BULK_PROCS (2), BULK_FREQ (999),
# BULK_FRONT_PROCS (2), BULK_ROUNDS (3), KEYS ("ecdsa rsa"), PARTS ("callgrind perf paced
# bulk"), PROXY (build/sstp-proxy), PROXY_B, BASE_PORT (25600), KEEP=1.
# Needs valgrind and perf (with access to the syscall tracepoints).
#
#   tests/bench/proxy_hs_cost.sh
#   PROXY_B=/tmp/hs-base/build/sstp-proxy tests/bench/proxy_hs_cost.sh
#   PARTS=paced tests/bench/proxy_hs_cost.sh
#   PARTS=bulk PROXY_B=/tmp/hs-base/build/sstp-proxy tests/bench/proxy_hs_cost.sh
set -u
cd "$(dirname "$0")/../.." || exit 1

DUR=${DUR:-5}
CG_SHORT=${CG_SHORT:-4}
CG_LONG=${CG_LONG:-16}
HS_CONC=${HS_CONC:-32}
CG_CONC=${CG_CONC:-4}
PACED_N=${PACED_N:-16}
PACED_RATE=${PACED_RATE:-2000}
BULK_N=${BULK_N:-8}
BULK_PROCS=${BULK_PROCS:-2}
BULK_FREQ=${BULK_FREQ:-999}
BULK_FRONT_PROCS=${BULK_FRONT_PROCS:-2}
BULK_ROUNDS=${BULK_ROUNDS:-3}
FRONT_PROCS=1   # threads (HAProxy) / workers (sstp-proxy) of a front: 1 but in the bulk part
KEYS=${KEYS:-ecdsa rsa}
PARTS=${PARTS:-callgrind perf paced bulk}
BASE_PORT=${BASE_PORT:-25600}
BENCH=build/sstp-bench
PROXY=${PROXY:-build/sstp-proxy}
PROXY_B=${PROXY_B:-}
HAPROXY=$(command -v haproxy || echo /usr/sbin/haproxy)

die() { echo "proxy_hs_cost: $*" >&2; exit 1; }
has_part() { [[ " $PARTS " == *" $1 "* ]]; }

make -j2 "$BENCH" "$PROXY" >/dev/null 2>&1 || make -j2 "$BENCH" >/dev/null || die "cannot build $BENCH"
[ -x "$HAPROXY" ] || die "haproxy not installed (scripts/deps.sh)"
[ -x "$PROXY" ] || die "$PROXY is not built"
if has_part callgrind; then command -v valgrind >/dev/null || die "valgrind not installed"; fi
if has_part perf || has_part paced || has_part bulk; then
    perf stat -e raw_syscalls:sys_enter true >/dev/null 2>&1 || die "perf cannot read the syscall tracepoints"
fi

. tests/bench/lib.sh
bench_work hscost

scripts/mkcerts.sh "$work/certs" >/dev/null || die "mkcerts failed"
CA=$work/certs/ca.crt
SNI=vpn.example.test
crt_of() { [ "$1" = rsa ] && echo "$work/certs/server-rsa.crt" || echo "$work/certs/server.crt"; }
key_of() { [ "$1" = rsa ] && echo "$work/certs/server-rsa.key" || echo "$work/certs/server.key"; }

FRONTS=(haproxy sstp-proxy)
[ -n "$PROXY_B" ] && FRONTS+=(sp-b)
bin_of() { case $1 in sstp-proxy) echo "$PROXY" ;; sp-b) echo "$PROXY_B" ;; esac; }

next_port=$BASE_PORT
div() { awk -v a="$1" -v b="$2" -v f="${3:-%.1f}" 'BEGIN { if (b + 0 > 0) printf f, a / b; else printf "-" }'; }

# front_up FRONT KEY WRAP...: starts a plain target and FRONT (with KEY's
# certificate) before it, optionally under WRAP (valgrind ...); sets
# FPORT, TGT_PID, FRONT_PID, TGT_OUT
front_up() {
    local front=$1 key=$2; shift 2
    alloc_port; FPORT=$REPLY
    alloc_port; local bport=$REPLY
    TGT_OUT=$work/target.$front.$key.$RANDOM
    "$BENCH" --serve "127.0.0.1:$bport" --plain --proxy-in --cert "$(crt_of "$key")" -j 1 \
        >"$TGT_OUT" 2>&1 &
    TGT_PID=$!
    PIDS+=("$TGT_PID")
    local cfg=$work/$front.$key.cfg
    if [ "$front" = haproxy ]; then
        cat "$(crt_of "$key")" "$(key_of "$key")" >"$work/$key.pem"
        {
            haproxy_head "$FRONT_PROCS" 4000 5s
            cat <<EOC
frontend f
    bind 127.0.0.1:$FPORT ssl crt $work/$key.pem
    default_backend b
backend b
    server be1 127.0.0.1:$bport send-proxy-v2
EOC
        } >"$cfg"
        "$@" "$HAPROXY" -db -f "$cfg" >"$work/front.log" 2>&1 &
    else
        cat >"$cfg" <<EOC
[proxy]
id = cost
log_level = warn
workers = $FRONT_PROCS
[listen]
bind = 127.0.0.1:$FPORT
backlog = 4096
[tls]
cert = $(crt_of "$key") $(key_of "$key")
[backends]
server = be1 127.0.0.1:$bport
[session]
idle_timeout = 10m
[admin]
address =
EOC
        "$@" "$(bin_of "$front")" -c "$cfg" >"$work/front.log" 2>&1 &
    fi
    FRONT_PID=$!
    PIDS+=("$FRONT_PID")
    wait_port "$bport" 30 || die "plain target not listening: $(tail -2 "$TGT_OUT")"
    wait_port "$FPORT" 90 || die "$front not listening: $(tail -3 "$work/front.log")"
    sleep 0.5
}
# front_pids: the front's processes (sstp-proxy: the master and its worker)
front_pids() {
    local p=("$FRONT_PID") c
    for c in $(pgrep -P "$FRONT_PID"); do p+=("$c"); done
    (IFS=,; echo "${p[*]}")
}
# front_down: stops the front (waits for valgrind's dump) and the target;
# sets ACCEPTED (connections the target accepted: handshakes the front completed)
front_down() {
    stop_pid "$FRONT_PID" 60
    stop_pid "$TGT_PID" 10
    ACCEPTED=$(kv "$(grep '^serve ' "$TGT_OUT" | tail -1)" accepted)
}
client() { # ARGS...: one sstp-bench run against FPORT; prints its bench line
    timeout -k 5 $((DUR * 4 + 120)) "$BENCH" -t "127.0.0.1:$FPORT" --ca "$CA" --sni "$SNI" -w 0 "$@" \
        2>>"$work/client.err" | grep '^bench ' | tail -1
}

# perf_start PIDS OUT EVENTS / perf_stop: perf stat on running processes
perf_start() {
    perf stat -x, -e "$3" -p "$1" -o "$2" >/dev/null 2>&1 &
    PERF_PID=$!
    sleep 0.3
}
perf_stop() { kill -INT "$PERF_PID" 2>/dev/null; wait "$PERF_PID" 2>/dev/null; }
perf_val() { awk -F, -v e="$2" '$3 == e || $3 ~ e {print $1; exit}' "$1"; } # FILE EVENT

# cg_objects FILE...: instructions (self cost) per object over callgrind outputs
cg_objects() {
    awk '
    # names are compressed: "(id) name" the first time (in ob= or cob=), "(id)" after
    function obname(s,   id, r) {
        if (!match(s, /^\([0-9]+\)/)) return s
        id = substr(s, 2, RLENGTH - 2); r = substr(s, RLENGTH + 2)
        if (r != "") nm[FILENAME, id] = r
        return nm[FILENAME, id]
    }
    /^ob=/ { cur = obname(substr($0, 4)); next }
    /^cob=/ { obname(substr($0, 5)); next }
    /^calls=/ { skip = 1; next }   # the next cost line is the call'"'"'s inclusive cost
    /^[0-9+*-]/ { if (skip) { skip = 0; next } ir[cur] += $2; next }
    END { for (o in ir) printf "%s %d\n", o, ir[o] }' "$@"
}
obj_class() { # OBJECT FRONT: libcrypto | libssl | libc | own | other
    case $1 in
        *libcrypto*) echo libcrypto ;;
        *libssl*) echo libssl ;;
        *libc.so* | *libc-* | *ld-linux* | *libpthread*) echo libc ;;
        *libev*) echo own ;;
        */haproxy) echo own ;;
        */sstp-proxy) echo own ;;
        *) echo other ;;
    esac
}

# tree_pids PID: PID and its descendants, comma-separated
tree_pids() {
    local all=("$1") c
    for c in $(pgrep -P "$1"); do all+=("$(tree_pids "$c")"); done
    (IFS=,; echo "${all[*]}")
}
# cpu_ticks PIDS: utime + stime (clock ticks) summed over the processes (all threads)
cpu_ticks() {
    local p s=0 f
    for p in ${1//,/ }; do
        f=$(cat "/proc/$p/stat" 2>/dev/null) || continue
        f=${f##*) }   # the fields after the command name (which may hold spaces)
        s=$((s + $(awk '{print $12 + $13}' <<<"$f")))
    done
    echo "$s"
}
wait_pid_bounded() { # PID SECONDS: waits for a child, stops it after SECONDS
    local i
    for ((i = 0; i < $2 * 10; i++)); do
        kill -0 "$1" 2>/dev/null || break
        sleep 0.1
    done
    stop_pid "$1" 5
}
dso_class() { # DSO (perf report): libcrypto | libssl | kernel | libc | own | other
    case $1 in
        *libcrypto*) echo libcrypto ;;
        *libssl*) echo libssl ;;
        \[kernel* | \[vdso\] | *.ko) echo kernel ;;
        *libc.so* | *libc-* | *ld-linux* | *libpthread*) echo libc ;;
        *libev* | haproxy | sstp-proxy) echo own ;;
        *) echo other ;;
    esac
}

declare -A R   # R[key/front/what]

echo "proxy_hs_cost: DUR=${DUR}s CG_SHORT=${CG_SHORT}s CG_LONG=${CG_LONG}s HS_CONC=$HS_CONC CG_CONC=$CG_CONC PACED_N=$PACED_N PACED_RATE=$PACED_RATE BULK_N=$BULK_N BULK_PROCS=$BULK_PROCS BULK_FRONT_PROCS=$BULK_FRONT_PROCS BULK_ROUNDS=$BULK_ROUNDS KEYS=\"$KEYS\" PARTS=\"$PARTS\""
echo "host: $(nproc) CPUs, uptime:$(uptime | sed 's/.*up/ up/')"
echo "haproxy: $("$HAPROXY" -v | head -1)"
echo "sstp-proxy: $PROXY${PROXY_B:+; sp-b: $PROXY_B}"

for key in $KEYS; do
    for front in "${FRONTS[@]}"; do
        if has_part callgrind; then
            declare -A OBJ=()
            for len in "$CG_SHORT" "$CG_LONG"; do
                rm -f "$work"/cg.out.*
                front_up "$front" "$key" valgrind --tool=callgrind -q --callgrind-out-file="$work/cg.out.%p"
                line=$(client -m handshake -c "$CG_CONC" -d "$len" --timeout 60)
                front_down
                tot=$(awk '/^totals:/ {s += $2} END {print s + 0}' "$work"/cg.out.*)
                echo "callgrind $key $front ${len}s: handshakes=$ACCEPTED Ir=$tot client_errors=$(kv "$line" errors) load=$(load1)"
                R[$key/$front/cg$len]="$tot $ACCEPTED"
                while read -r obj ir; do
                    cls=$(obj_class "$obj")
                    OBJ[$len/$cls]=$(( ${OBJ[$len/$cls]:-0} + ir ))
                done < <(cg_objects "$work"/cg.out.*)
            done
            read -r irs ns <<<"${R[$key/$front/cg$CG_SHORT]}"
            read -r irl nl <<<"${R[$key/$front/cg$CG_LONG]}"
            R[$key/$front/ir]=$(div $((irl - irs)) $((nl - ns)) %.0f)
            for cls in libcrypto libssl libc own other; do
                R[$key/$front/ir_$cls]=$(div $(( ${OBJ[$CG_LONG/$cls]:-0} - ${OBJ[$CG_SHORT/$cls]:-0} )) $((nl - ns)) %.0f)
            done
            unset OBJ
        fi
        if has_part perf; then
            front_up "$front" "$key"
            pids=$(front_pids)
            perf_start "$pids" "$work/front.perf" task-clock,raw_syscalls:sys_enter,syscalls:sys_enter_epoll_wait
            perf_front=$PERF_PID
            perf_start "$TGT_PID" "$work/target.perf" task-clock
            # the client under perf stat: its CPU (one process, -j 1)
            line=$(timeout -k 5 $((DUR * 4 + 120)) perf stat -x, -e task-clock -o "$work/client.perf" \
                "$BENCH" -t "127.0.0.1:$FPORT" --ca "$CA" --sni "$SNI" -w 0 -m handshake -c "$HS_CONC" \
                -d "$DUR" 2>>"$work/client.err" | grep '^bench ' | tail -1)
            sleep 0.2
            perf_stop
            PERF_PID=$perf_front perf_stop
            front_down
            n=$ACCEPTED
            ms=$(perf_val "$work/front.perf" task-clock)
            R[$key/$front/cpu]=$(div "$(awk -v m="$ms" 'BEGIN{print m*1000}')" "$n")
            R[$key/$front/sys]=$(div "$(perf_val "$work/front.perf" raw_syscalls:sys_enter)" "$n")
            R[$key/$front/wake]=$(div "$(perf_val "$work/front.perf" syscalls:sys_enter_epoll_wait)" "$n")
            R[$key/$front/client]=$(div "$(awk -v m="$(perf_val "$work/client.perf" task-clock)" 'BEGIN{print m*1000}')" "$n")
            R[$key/$front/target]=$(div "$(awk -v m="$(perf_val "$work/target.perf" task-clock)" 'BEGIN{print m*1000}')" "$n")
            echo "perf $key $front: handshakes=$n hs_per_s=$(kv "$line" hs_per_s) front_cpu_ms=$ms cpu_us/hs=${R[$key/$front/cpu]} sys/hs=${R[$key/$front/sys]} wake/hs=${R[$key/$front/wake]} client_us/hs=${R[$key/$front/client]} target_us/hs=${R[$key/$front/target]} load=$(load1)"
        fi
    done
done

if has_part paced; then
    for front in "${FRONTS[@]}"; do
        front_up "$front" ecdsa
        pids=$(front_pids)
        # sessions up first (their handshakes are not per-echo costs): a warm-up
        # of 1 s inside the client, perf from its second second
        (sleep 1.5; perf stat -x, -e task-clock,raw_syscalls:sys_enter,syscalls:sys_enter_epoll_wait,syscalls:sys_enter_epoll_ctl,syscalls:sys_enter_sched_yield \
            -p "$pids" -o "$work/paced.perf" -- sleep "$DUR" >/dev/null 2>&1) &
        ppid=$!
        line=$(timeout -k 5 $((DUR * 4 + 120)) "$BENCH" -t "127.0.0.1:$FPORT" --ca "$CA" --sni "$SNI" \
            -m echo -n "$PACED_N" --rate "$PACED_RATE" -w 1 -d $((DUR + 2)) 2>>"$work/client.err" | grep '^bench ' | tail -1)
        wait "$ppid"
        front_down
        echoes=$(awk -v r="$(kv "$line" echo_per_s)" -v d="$DUR" 'BEGIN {print r * d}')
        ms=$(perf_val "$work/paced.perf" task-clock)
        sys=$(perf_val "$work/paced.perf" raw_syscalls:sys_enter)
        epw=$(perf_val "$work/paced.perf" syscalls:sys_enter_epoll_wait)
        yld=$(perf_val "$work/paced.perf" syscalls:sys_enter_sched_yield)
        # sstp-proxy polls briefly after traffic (proxy/relay.c): each turn is
        # one epoll_wait(0) and one sched_yield; counted apart from the rest
        R[paced/$front/sys]=$(div "$sys" "$echoes" %.2f)
        R[paced/$front/poll]=$(div "${yld:-0}" "$echoes" %.2f)
        R[paced/$front/sys_np]=$(div "$((sys - 2 * ${yld:-0}))" "$echoes" %.2f)
        R[paced/$front/wake]=$(div "$((epw - ${yld:-0}))" "$echoes" %.2f)
        R[paced/$front/ctl]=$(div "$(perf_val "$work/paced.perf" syscalls:sys_enter_epoll_ctl)" "$echoes" %.2f)
        R[paced/$front/cpu]=$(div "$(awk -v m="$ms" 'BEGIN{print m*1000}')" "$echoes" %.1f)
        R[paced/$front/p50]=$(kv "$line" echo_p50_us)
        R[paced/$front/p99]=$(kv "$line" echo_p99_us)
        echo "paced $front: echo_per_s=$(kv "$line" echo_per_s) p50_us=${R[paced/$front/p50]} p99_us=${R[paced/$front/p99]} sys/echo=${R[paced/$front/sys]} sys_without_polling/echo=${R[paced/$front/sys_np]} poll_turns/echo=${R[paced/$front/poll]} wake/echo=${R[paced/$front/wake]} epoll_ctl/echo=${R[paced/$front/ctl]} cpu_us/echo=${R[paced/$front/cpu]} load=$(load1)"
    done
fi


if has_part bulk; then
    FRONT_PROCS=$BULK_FRONT_PROCS
    declare -A BV=()   # BV[front/what]: the rounds' values
    for ((r = 1; r <= BULK_ROUNDS; r++)); do
    # the fronts in an order that rotates from round to round
    order=()
    for ((i = 0; i < ${#FRONTS[@]}; i++)); do order+=("${FRONTS[$(((i + r - 1) % ${#FRONTS[@]}))]}"); done
    for front in "${order[@]}"; do
        front_up "$front" ecdsa
        pids=$(front_pids)
        # run 1: CPU (/proc) of the front, the target and the client, and the
        # front's syscalls, from the client's second second for DUR seconds
        "$BENCH" -t "127.0.0.1:$FPORT" --ca "$CA" --sni "$SNI" -m bulk -n "$BULK_N" -j "$BULK_PROCS" \
            -w 1 -d $((DUR + 6)) >"$work/bulk.out" 2>>"$work/client.err" &
        cpid=$!
        PIDS+=("$cpid")
        sleep 1.5
        cpids=$(tree_pids "$cpid"); tpids=$(tree_pids "$TGT_PID")
        f0=$(cpu_ticks "$pids"); t0=$(cpu_ticks "$tpids"); c0=$(cpu_ticks "$cpids"); s0=$(date +%s.%N)
        perf stat -x, -e raw_syscalls:sys_enter,syscalls:sys_enter_epoll_wait,syscalls:sys_enter_epoll_pwait -p "$pids" \
            -o "$work/bulk.perf" -- sleep "$DUR" >/dev/null 2>&1
        f1=$(cpu_ticks "$pids"); t1=$(cpu_ticks "$tpids"); c1=$(cpu_ticks "$cpids"); s1=$(date +%s.%N)
        # a client process that ended inside the window took its CPU time with it
        for p in ${cpids//,/ }; do [ -e "/proc/$p/stat" ] || c1=; done
        wait_pid_bounded "$cpid" $((DUR + 30))
        line=$(grep '^bench ' "$work/bulk.out" | tail -1)
        # run 2: where the front's CPU goes, by object (perf record, no call graphs)
        "$BENCH" -t "127.0.0.1:$FPORT" --ca "$CA" --sni "$SNI" -m bulk -n "$BULK_N" -j "$BULK_PROCS" \
            -w 1 -d $((DUR + 6)) >/dev/null 2>>"$work/client.err" &
        cpid=$!
        PIDS+=("$cpid")
        sleep 1.5
        perf record -q -F "$BULK_FREQ" -p "$pids" -o "$work/bulk.$front.data" -- sleep "$DUR" >/dev/null 2>&1
        wait_pid_bounded "$cpid" $((DUR + 30))
        front_down
        # bytes through the front in the measured window: both directions at the client's rate
        secs=$(awk -v a="$s0" -v b="$s1" 'BEGIN {print b - a}')
        bytes=$(awk -v t="$(kv "$line" tx_bytes)" -v r="$(kv "$line" rx_bytes)" -v w="$(kv "$line" window_s)" \
            -v s="$secs" 'BEGIN { if (w + 0 > 0) printf "%.0f", (t + r) / w * s; else print 0 }')
        gb=$(awk -v b="$bytes" 'BEGIN {printf "%.3f", b / 1e9}')
        hz=$(getconf CLK_TCK)
        R[bulk/$front/gb]=$gb
        R[bulk/$front/gbps]=$(kv "$line" rx_gbps)
        R[bulk/$front/cpu]=$(div "$(( (f1 - f0) ))" "$(awk -v g="$gb" -v h="$hz" 'BEGIN {print g * h}')" %.3f)
        R[bulk/$front/client]=$(div "$(( ${c1:-0} - c0 ))" "$(awk -v g="$gb" -v h="$hz" 'BEGIN {print g * h}')" %.3f)
        [ -n "$c1" ] || R[bulk/$front/client]=-
        R[bulk/$front/target]=$(div "$(( (t1 - t0) ))" "$(awk -v g="$gb" -v h="$hz" 'BEGIN {print g * h}')" %.3f)
        R[bulk/$front/sys]=$(div "$(perf_val "$work/bulk.perf" raw_syscalls:sys_enter)" "$(awk -v b="$bytes" 'BEGIN {print b / 1e6}')" %.1f)
        epw=$(( $(perf_val "$work/bulk.perf" syscalls:sys_enter_epoll_wait) + $(perf_val "$work/bulk.perf" syscalls:sys_enter_epoll_pwait) ))
        R[bulk/$front/wake]=$(div "$epw" "$(awk -v b="$bytes" 'BEGIN {print b / 1e6}')" %.1f)
        declare -A SH=()
        while read -r pct dso; do
            cls=$(dso_class "$dso")
            SH[$cls]=$(awk -v a="${SH[$cls]:-0}" -v b="${pct%\%}" 'BEGIN {print a + b}')
        done < <(perf report -i "$work/bulk.$front.data" --sort dso --stdio -q 2>/dev/null | awk 'NF >= 2 && $1 ~ /%$/ {print $1, $2}')
        for cls in libcrypto libssl kernel libc own other; do
            R[bulk/$front/sh_$cls]=$(awk -v v="${SH[$cls]:-0}" 'BEGIN {printf "%.1f", v}')
        done
        unset SH
        for w in gbps cpu client target sys wake sh_libcrypto sh_libssl sh_kernel sh_libc sh_own sh_other; do
            BV[$front/$w]="${BV[$front/$w]:-} ${R[bulk/$front/$w]}"
        done
        echo "bulk round $r $front: tx_gbps=$(kv "$line" tx_gbps) rx_gbps=$(kv "$line" rx_gbps) window_s=${secs:0:5} relayed_gb=$gb front_cpu_s=$(div $((f1 - f0)) "$hz" %.2f) cpu_s/GB=${R[bulk/$front/cpu]} sys/MB=${R[bulk/$front/sys]} wake/MB=${R[bulk/$front/wake]} client_s/GB=${R[bulk/$front/client]} target_s/GB=${R[bulk/$front/target]} profile%: libcrypto=${R[bulk/$front/sh_libcrypto]} libssl=${R[bulk/$front/sh_libssl]} kernel=${R[bulk/$front/sh_kernel]} libc=${R[bulk/$front/sh_libc]} own=${R[bulk/$front/sh_own]} other=${R[bulk/$front/sh_other]} errors=$(kv "$line" errors) load=$(load1)"
    done
    done
    # a cell is the median over the rounds; rx/hap the median of the per-round ratios
    med() { tr ' ' '\n' <<<"$1" | grep -v '^-\?$' | sort -g | awk '{v[NR] = $1} END {if (NR) print v[int((NR + 1) / 2)]; else print "-"}'; }
    for k in "${!BV[@]}"; do R[bulk/$k]=$(med "${BV[$k]}"); done
    for front in "${FRONTS[@]}"; do
        read -ra a <<<"${BV[$front/gbps]}"; read -ra b <<<"${BV[haproxy/gbps]}"
        rat=""
        for ((i = 0; i < ${#a[@]}; i++)); do rat+=" $(div "${a[$i]}" "${b[$i]}" %.3f)"; done
        R[bulk/$front/gratio]="$(med "$rat") ($(tr ' ' '\n' <<<"$rat" | grep -v '^-\?$' | sort -g | sed -n '1p;$p' | paste -sd-))"
    done
fi

if has_part callgrind || has_part perf; then
echo
echo "== per handshake (front only; bound = (C+T+H)/(C+T+P), per-cpu = H/P) =="
for key in $KEYS; do
    printf "%-6s %-11s %10s %10s %9s %8s %7s %7s | %8s %7s %6s %7s %7s | %7s %7s\n" key front Ir/hs libcrypto libssl libc own other \
        cpu_us sys/hs wake cli_us tgt_us bound per-cpu
    for front in "${FRONTS[@]}"; do
        bound=- percpu=-
        h=${R[$key/haproxy/cpu]:-}; p=${R[$key/$front/cpu]:-}
        c=${R[$key/$front/client]:-}; t=${R[$key/$front/target]:-}
        if [ -n "$h" ] && [ -n "$p" ] && [ "$p" != - ] && [ "$h" != - ]; then
            bound=$(awk -v c="$c" -v t="$t" -v h="$h" -v p="$p" 'BEGIN {printf "%.3f", (c + t + h) / (c + t + p)}')
            percpu=$(awk -v h="$h" -v p="$p" 'BEGIN {printf "%.3f", h / p}')
        fi
        printf "%-6s %-11s %10s %10s %9s %8s %7s %7s | %8s %7s %6s %7s %7s | %7s %7s\n" "$key" "$front" \
            "${R[$key/$front/ir]:--}" "${R[$key/$front/ir_libcrypto]:--}" "${R[$key/$front/ir_libssl]:--}" \
            "${R[$key/$front/ir_libc]:--}" "${R[$key/$front/ir_own]:--}" "${R[$key/$front/ir_other]:--}" \
            "${R[$key/$front/cpu]:--}" "${R[$key/$front/sys]:--}" "${R[$key/$front/wake]:--}" \
            "${R[$key/$front/client]:--}" "${R[$key/$front/target]:--}" "$bound" "$percpu"
    done
done
fi
if has_part paced; then
    echo
    echo "== paced echo: $PACED_N sessions, $PACED_RATE echoes/s (per echo round trip, front only) =="
    printf "%-11s %8s %8s %8s %8s %8s %9s %9s %8s %8s\n" front sys sys-poll polls wake epoll_ctl cpu_us p50_us p99_us p50/hap
    for front in "${FRONTS[@]}"; do
        printf "%-11s %8s %8s %8s %8s %8s %9s %9s %8s %8s\n" "$front" "${R[paced/$front/sys]:--}" \
            "${R[paced/$front/sys_np]:--}" "${R[paced/$front/poll]:--}" "${R[paced/$front/wake]:--}" \
            "${R[paced/$front/ctl]:--}" "${R[paced/$front/cpu]:--}" "${R[paced/$front/p50]:--}" "${R[paced/$front/p99]:--}" \
            "$(div "${R[paced/$front/p50]:-0}" "${R[paced/haproxy/p50]:-0}" %.3f)"
    done
fi
if has_part bulk; then
    echo
    echo "== bulk echo: $BULK_N sessions, $BULK_PROCS client processes, fronts of $BULK_FRONT_PROCS threads/workers, ${DUR}s, ECDSA, medians of $BULK_ROUNDS rounds (front only unless said; s/GB = CPU seconds per 10^9 bytes relayed, both directions) =="
    printf "%-11s %8s %19s %8s %7s %7s | %6s %6s %6s %6s %6s %6s | %7s %7s | %7s %7s | %7s %7s %7s\n" front rx_Gbit/s "rx/hap (range)" cpu_s/GB sys/MB wake/MB \
        crypto% ssl% kernel% libc% own% other% cli_s/GB tgt_s/GB per-cpu system floor own0-cpu own0-sys
    for front in "${FRONTS[@]}"; do
        h=${R[bulk/haproxy/cpu]:--}; p=${R[bulk/$front/cpu]:--}
        c=${R[bulk/$front/client]:--}; t=${R[bulk/$front/target]:--}
        # the client and the target cost per GB depends on the front (how it
        # batches), so HAProxy's own C and T go in the numerator
        ch=${R[bulk/haproxy/client]:--}; th=${R[bulk/haproxy/target]:--}
        percpu=- system=- floor=- own0=- own0s=-
        if [ "$h" != - ] && [ "$p" != - ]; then
            percpu=$(div "$h" "$p" %.3f)
            system=$(awk -v c="$c" -v t="$t" -v h="$h" -v p="$p" -v ch="$ch" -v th="$th" 'BEGIN {printf "%.3f", (ch + th + h) / (c + t + p)}')
            # floor: this front's libcrypto + kernel CPU per GB, all else at zero
            floor=$(awk -v p="$p" -v a="${R[bulk/$front/sh_libcrypto]}" -v k="${R[bulk/$front/sh_kernel]}" \
                'BEGIN {printf "%.3f", p * (a + k) / 100}')
            own0=$(div "$h" "$floor" %.3f)
            own0s=$(awk -v c="$c" -v t="$t" -v h="$h" -v f="$floor" -v ch="$ch" -v th="$th" 'BEGIN {printf "%.3f", (ch + th + h) / (c + t + f)}')
        fi
        printf "%-11s %8s %19s %8s %7s %7s | %6s %6s %6s %6s %6s %6s | %7s %7s | %7s %7s | %7s %7s %7s\n" "$front" \
            "${R[bulk/$front/gbps]:--}" "${R[bulk/$front/gratio]:--}" "$p" "${R[bulk/$front/sys]:--}" "${R[bulk/$front/wake]:--}" \
            "${R[bulk/$front/sh_libcrypto]:--}" "${R[bulk/$front/sh_libssl]:--}" "${R[bulk/$front/sh_kernel]:--}" \
            "${R[bulk/$front/sh_libc]:--}" "${R[bulk/$front/sh_own]:--}" "${R[bulk/$front/sh_other]:--}" \
            "$c" "$t" "$percpu" "$system" "$floor" "$own0" "$own0s"
    done
    echo "rx Gbit/s: echoed (the client's rx_gbps, proxy_vs_haproxy.sh's >= 1.3 row); rx/hap: median (lowest-highest) of the per-round ratios"
    echo "per-cpu = H/P, system = (Ch+Th+H)/(C+T+P) (the Gbit/s ratio when client, target and front share otherwise idle CPUs; Ch, Th: HAProxy's row);"
    echo "floor = P x (libcrypto% + kernel%): the front at zero cost besides AES-GCM and the kernel; own0-cpu = H/floor,"
    echo "own0-sys = (Ch+Th+H)/(C+T+floor): the best ratio that front could reach with no code of its own"
fi
echo "load at the end:$(uptime | sed 's/.*load/ load/')"
