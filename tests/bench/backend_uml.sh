#!/bin/bash
# backend_uml.sh — benchmark of sstp-backend with the real sstpc client over
# real kernel PPP, inside one User-Mode Linux guest (not part of make test).
# Ways to the same PPP link, interleaved in one boot (the order rotates from
# run to run):
#   direct      sstpc -> sstp-backend (tls listener, 192.0.2.1)
#   directB     sstpc -> a second sstp-backend build (BENCH_BACKEND_B, tls
#               listener 192.0.2.5): A/B of two builds in the same boot
#   proxy       sstpc -> sstp-proxy (192.0.2.3) -> sstp-backend (PROXY v2,
#               plain TCP)
#   haproxy     sstpc -> HAProxy (192.0.2.4, mode tcp, TLS passed through)
#               -> sstp-backend's tls listener: the third-party relay
#   pool        sstpc -> a second sstp-backend with pppd.pool_size = 2
#               (tls listener 192.0.2.6): sessions take a pppd started ahead
#   pool-proxy  sstpc -> a second sstp-proxy (192.0.2.7) -> that backend
#   pty         the reference without SSTP: the client's pppd runs the
#               server's pppd as its `pty` command (the server's pppd uses
#               notty, so its own character shunt copies the bytes), same
#               options, same MS-CHAPv2 secrets, same addresses
# Figures per way:
#   setup       start -> both ppp ends have their addresses, RUNS times
#               (median, all runs); for the SSTP ways the backend's own
#               split (start -> auth_ok -> binding_ok -> ppp_up)
#   throughput  one session, a bulk TCP stream through the tunnel for
#               MIB MiB each way (tests/e2e/lib/xfer.py source/sink),
#               BENCH_BULK_RUNS times per way (median)
#   cpu/Gbit    CPU seconds per Gbit (/proc/PID/stat utime+stime, summed
#               over the bulk runs) of every process on the path: sstpc,
#               pppd-cli (the client's pppd), backend (or backend-b), proxy
#               (sstp-proxy or haproxy), pppd-srv (the server's pppd),
#               pppd-shunt (the pty reference's copying child), and the
#               whole guest CPU (/proc/stat)
#   profile     BENCH_PROFILE=1: one more bulk run per way and direction
#               (BENCH_PROFILE_MIB, default 8 MiB, not in the figures above)
#               with strace attached to each of those processes: syscalls
#               per PPP packet (packets of the server's ppp interface, both
#               directions) per process, with its four most frequent calls
# and the ratios of each way to the pty reference.
#
#   tests/bench/backend_uml.sh [RUNS] [MIB]       (default 5 runs, 24 MiB)
#   BENCH_BULK_RUNS=2 BENCH_BACKEND_B=/tmp/base/build/sstp-backend BENCH_PROFILE=1 \
#       tests/bench/backend_uml.sh 5 16
# Settings (the guest sees no host environment: they travel in
# WORK/bench.env): BENCH_MODES="direct proxy haproxy pty" picks and orders
# the ways (directB is added when BENCH_BACKEND_B is set; pool and
# pool-proxy only when named), BENCH_BULK_RUNS
# (1), BENCH_PROFILE (0), BENCH_PROFILE_MIB (8). BENCH_TIMEOUT (3600 s) bounds the
# whole boot: on a loaded host a 5-way run with profiles takes over 30 minutes.
# Work dir: $BENCH_WORK or a fresh /tmp/sstplb-bench.XXXXXX (kept).
# BENCH_BACKEND=/path/to/sstp-backend measures another build as "direct".
# Caveat printed with the figures: client, server, both TLS ends, pppd,
# the traffic generator and the kernel's PPP all share ONE UML CPU, where
# every syscall is a trip through the host; the figures compare builds of
# sstp-backend on one machine, they do not predict bare-metal throughput.

if [ -z "${SSTPLB_GUEST:-}" ]; then
    here=$(dirname "$(readlink -f "$0")")
    repo=$(readlink -f "$here/../..")
    runs=${1:-5}
    mib=${2:-24}
    make -C "$repo" --no-print-directory -j2 build/sstp-backend build/sstp-proxy build/sstp-lb-pppd.so > /dev/null ||
        { echo "backend_uml: cannot build" >&2; exit 1; }
    work=${BENCH_WORK:-$(mktemp -d /tmp/sstplb-bench.XXXXXX)}
    mkdir -p "$work"
    "$repo/scripts/mkcerts.sh" "$work/certs" > /dev/null 2>&1 || { echo "mkcerts failed" >&2; exit 1; }
    rm -f "$work/sstp-backend" "$work/sstp-backend-b"
    if [ -n "${BENCH_BACKEND:-}" ]; then   # the guest sees only the work dir and the repo
        cp "$BENCH_BACKEND" "$work/sstp-backend" || exit 1
        echo "(sstp-backend under test: $BENCH_BACKEND)"
    fi
    modes=${BENCH_MODES:-direct proxy haproxy pty}
    if [ -n "${BENCH_BACKEND_B:-}" ]; then
        cp "$BENCH_BACKEND_B" "$work/sstp-backend-b" || exit 1
        echo "(directB: $BENCH_BACKEND_B)"
        [ -n "${BENCH_MODES:-}" ] || modes="directB $modes"
    fi
    {
        printf 'BENCH_MODES=%q\n' "$modes"
        printf 'BENCH_BULK_RUNS=%q\n' "${BENCH_BULK_RUNS:-1}"
        printf 'BENCH_PROFILE=%q\n' "${BENCH_PROFILE:-0}"
        printf 'BENCH_PROFILE_MIB=%q\n' "${BENCH_PROFILE_MIB:-8}"
    } > "$work/bench.env"
    echo "(host load before the boot:$(uptime | sed 's/.*load/ load/'))"
    "$repo/tests/e2e/uml.sh" --timeout "${BENCH_TIMEOUT:-3600}" --mem 512M "$work" "$here/backend_uml.sh" "$runs" "$mib" \
        > "$work/uml.out" 2>&1
    rc=$?
    grep -a '^bench:' "$work/guest.log" | sed 's/^bench: //'
    echo "(host load after:$(uptime | sed 's/.*load/ load/'))"
    if [ $rc -ne 0 ]; then
        echo "backend_uml: FAILED (status $rc), logs in $work" >&2
        tail -n 30 "$work/uml.out" >&2
    else
        echo "(logs in $work)"
    fi
    exit $rc
fi

# ---- guest side --------------------------------------------------------------
[ -x "$SSTPLB_WORK/sstp-backend" ] && BACKEND_BIN=$SSTPLB_WORK/sstp-backend
[ -f "$SSTPLB_WORK/bench.env" ] && . "$SSTPLB_WORK/bench.env"
. "$E2E_DIR/lib/sstp.sh"
RUNS=${1:-5}
MIB=${2:-24}
MODES=(${BENCH_MODES:-direct proxy haproxy pty})
BULK_RUNS=${BENCH_BULK_RUNS:-1}
PROFILE=${BENCH_PROFILE:-0}
PROFILE_MIB=${BENCH_PROFILE_MIB:-8}
PROXY_ADDR=192.0.2.3      # sstp-proxy's own address on the server's side
HAPROXY_ADDR=192.0.2.4    # HAProxy's
BACKEND_B_ADDR=192.0.2.5  # the second build's tls listener
POOL_ADDR=192.0.2.6       # the pooled backend's tls listener
POOL_PROXY_ADDR=192.0.2.7 # the sstp-proxy in front of it
POOL_SIZE=2
WAIT_FOR_INTERVAL=0.02
HZ=$(getconf CLK_TCK)
say() { echo "bench: $*"; }
die() { say "FAILED: $*"; exit 1; }
has_mode() { [[ " ${MODES[*]} " == *" $1 "* ]]; }

guest_busy() {     # busy ticks of the whole (single) guest CPU
    local cpu user nice sys idle iowait irq softirq steal
    read -r cpu user nice sys idle iowait irq softirq steal _ < /proc/stat
    echo $(( user + nice + sys + irq + softirq + steal ))
}
median() {         # of numeric arguments
    printf '%s\n' "$@" | sort -g | awk '{v[NR] = $1} END {if (NR) print v[int((NR + 1) / 2)]}'
}
# Process helpers without a subshell (a fork costs ~50 ms in UML): each
# sets REPLY. comm_of PID: command name ("" when gone); ppid_of PID.
comm_of() {
    local line
    REPLY=
    read -r line < "/proc/$1/stat" 2> /dev/null || return 0
    line=${line#*\(}
    REPLY=${line%%)*}
}
ppid_of() {
    local line rest
    REPLY=
    read -r line < "/proc/$1/stat" 2> /dev/null || return 0
    rest=${line##*) }
    set -- $rest
    REPLY=$2
}
# label PID: REPLY = its role on a path ("" for others). A pppd is told by
# its ancestors: sstpc's child is the client's, sstp-backend's child the
# server's; on the pty way the client's pppd has no pppd above it, the
# server's (its pty command, maybe under a shell) one, and the notty
# pppd's copying child (its charshunt) two.
label() {
    local comm p n=0 top
    comm_of "$1"; comm=$REPLY
    case $comm in
        sstpc) REPLY=sstpc ;;
        sstp-backend) REPLY=backend ;;
        sstp-backend-b) REPLY=backend-b ;;   # the B build, copied under that name
        sstp-proxy) REPLY=proxy ;;
        haproxy) REPLY=haproxy ;;
        pppd)
            ppid_of "$1"; p=$REPLY
            comm_of "$p"; top=$REPLY
            while [ -n "$p" ] && [ "$p" -gt 1 ]; do
                comm_of "$p"
                [ "$REPLY" = pppd ] && n=$((n + 1))
                ppid_of "$p"; p=$REPLY
            done
            case $top:$n in
                sstpc:*) REPLY=pppd-cli ;;
                sstp-backend*:*) REPLY=pppd-srv ;;
                *:0) REPLY=pppd-cli ;;
                *:1) REPLY=pppd-srv ;;
                *) REPLY=pppd-shunt ;;
            esac ;;
        *) REPLY= ;;
    esac
}
LABELS=(sstpc pppd-cli backend backend-b proxy haproxy pppd-srv pppd-shunt)
declare -A PATH_OF=(   # the processes each way's bytes cross
    [direct]="sstpc pppd-cli backend pppd-srv"
    [directB]="sstpc pppd-cli backend-b pppd-srv"
    [proxy]="sstpc pppd-cli proxy backend pppd-srv"
    [haproxy]="sstpc pppd-cli haproxy backend pppd-srv"
    [pty]="pppd-cli pppd-srv pppd-shunt"
    [pool]="sstpc pppd-cli backend pppd-srv"
    [pool-proxy]="sstpc pppd-cli proxy backend pppd-srv"
)
# path_pids MODE: PIDS and PLABELS (arrays) of the processes on MODE's path now
path_pids() {
    local d pid
    PIDS_ON=() PLABELS=()
    for d in /proc/[0-9]*; do
        pid=${d#/proc/}
        label "$pid"
        [[ -n "$REPLY" && " ${PATH_OF[$1]} " == *" $REPLY "* ]] || continue
        PIDS_ON+=("$pid")
        PLABELS+=("$REPLY")
    done
}
# label_ticks MODE ARRAY: ARRAY[LABEL] = utime + stime ticks summed per label
label_ticks() {
    local i line rest
    local -n out=$2
    path_pids "$1"
    for i in "${!PIDS_ON[@]}"; do
        read -r line < "/proc/${PIDS_ON[$i]}/stat" 2> /dev/null || continue
        rest=${line##*) }
        set -- $rest
        out[${PLABELS[$i]}]=$(( ${out[${PLABELS[$i]}]:-0} + ${12} + ${13} ))
    done
}
ppp_packets() {    # rx + tx packets of the server's ppp interfaces (sstp-backend runs in that namespace)
    awk '/ppp[0-9]+:/ {sub(/.*:/, ""); n += $2 + $10} END {print n + 0}' "/proc/$BACKEND_PID/net/dev"
}

sstp_setup 1 || die "set-up"
sstp_server_options mschapv2 "$W/pppd-server.options"
sstp_client_options mschapv2 "$W/client.options"
sstp_backend_conf "$W/backend.conf" backend.log_level=info listen.proxy=127.0.0.1:4433 \
    listen.proxy_allow=127.0.0.1/32
sstp_backend_start "$W/backend.conf" || die "sstp-backend did not start"
BACKEND_B_PID=
if has_mode directB; then
    [ -x "$W/sstp-backend-b" ] || die "directB needs BENCH_BACKEND_B"
    ip -n "$SRV_NS" addr add "$BACKEND_B_ADDR/24" dev veth0 || die "backend-b address"
    sstp_backend_conf "$W/backend-b.conf" backend.id=bench-backend-b backend.log_level=info \
        listen.tls="$BACKEND_B_ADDR:$SSTP_PORT"
    bg_start backend-b ip netns exec "$SRV_NS" "$W/sstp-backend-b" -c "$W/backend-b.conf"
    wait_for 10 log_has "$W/backend-b.log" "ev=ready" || die "sstp-backend B did not start"
    BACKEND_B_PID=$(bg_pid backend-b)
fi
if has_mode proxy; then
    ip -n "$SRV_NS" addr add "$PROXY_ADDR/24" dev veth0 || die "proxy address"
    cat > "$W/proxy.conf" <<CONF
[proxy]
id = bench-proxy
log_level = info
workers = 1
[listen]
bind = $PROXY_ADDR:$SSTP_PORT
[tls]
cert = $CERTS/server.crt $CERTS/server.key default
[backends]
server = e2e-backend 127.0.0.1:4433
[health]
; its probes reach sstp-backend every 500 ms by default, during every
; way's runs, and under strace each costs it dozens of syscalls
interval = 10s
rise = 1
CONF
    bg_start proxy ip netns exec "$SRV_NS" "$REPO/build/sstp-proxy" -c "$W/proxy.conf"
    wait_for 15 log_has "$W/proxy.log" "ev=worker_ready" || die "sstp-proxy did not start"
fi
if has_mode haproxy; then
    ip -n "$SRV_NS" addr add "$HAPROXY_ADDR/24" dev veth0 || die "haproxy address"
    # mode tcp, TLS passed through: the client's TLS ends at sstp-backend
    cat > "$W/haproxy.cfg" <<CFG
global
    maxconn 64
defaults
    mode tcp
    timeout connect 5s
    timeout client 300s
    timeout server 300s
listen sstp
    bind $HAPROXY_ADDR:$SSTP_PORT
    server be $SRV_ADDR:$SSTP_PORT
CFG
    bg_start haproxy ip netns exec "$SRV_NS" haproxy -db -f "$W/haproxy.cfg"
    wait_for 10 ip netns exec "$SRV_NS" bash -c "exec 3<>/dev/tcp/$HAPROXY_ADDR/$SSTP_PORT" 2> /dev/null ||
        die "haproxy did not listen"
fi

# ---- pppd pool: its own backend (.6) and its own proxy (.7) ----
POOL_PPPD=0
if has_mode pool || has_mode pool-proxy; then
    ip -n "$SRV_NS" addr add "$POOL_ADDR/24" dev veth0 || die "pool address"
    sstp_backend_conf "$W/backend-pool.conf" backend.id=bench-backend-pool backend.log_level=info \
        listen.tls="$POOL_ADDR:$SSTP_PORT" listen.proxy=127.0.0.1:4434 listen.proxy_allow=127.0.0.1/32 \
        pppd.pool_size=$POOL_SIZE
    bg_start backend-pool ip netns exec "$SRV_NS" "$BACKEND_BIN" -c "$W/backend-pool.conf"
    wait_for 10 log_has "$W/backend-pool.log" "ev=ready" || die "pooled sstp-backend did not start"
    POOL_PPPD=$POOL_SIZE
fi
if has_mode pool-proxy; then
    ip -n "$SRV_NS" addr add "$POOL_PROXY_ADDR/24" dev veth0 || die "pool-proxy address"
    cat > "$W/proxy-pool.conf" <<CONF
[proxy]
id = bench-proxy-pool
log_level = info
workers = 1
[listen]
bind = $POOL_PROXY_ADDR:$SSTP_PORT
[tls]
cert = $CERTS/server.crt $CERTS/server.key default
[backends]
server = bench-backend-pool 127.0.0.1:4434
[health]
interval = 10s
rise = 1
[admin]
address = 127.0.0.1:9181
CONF
    bg_start proxy-pool ip netns exec "$SRV_NS" "$REPO/build/sstp-proxy" -c "$W/proxy-pool.conf"
    wait_for 15 log_has "$W/proxy-pool.log" "ev=worker_ready" || die "pool sstp-proxy did not start"
fi
# the pool's members are pppd processes too: a way is down when only they are left
n_pppd() { local p; p=$(procs_named pppd); set -- $p; echo $#; }
wait_for 20 eval '[ "$(n_pppd)" = $POOL_PPPD ]' || die "the pppd pool did not fill"

# up MODE NAME: starts the tunnel of user 1 the MODE's way (NAME: its process)
up() {
    case $1 in
        direct) sstp_client_start "$2" 1 "$W/client.options" ;;
        directB) sstp_client_start "$2" 1 "$W/client.options" "$BACKEND_B_ADDR" ;;
        proxy) sstp_client_start "$2" 1 "$W/client.options" "$PROXY_ADDR" ;;
        haproxy) sstp_client_start "$2" 1 "$W/client.options" "$HAPROXY_ADDR" ;;
        pool) sstp_client_start "$2" 1 "$W/client.options" "$POOL_ADDR" ;;
        pool-proxy) sstp_client_start "$2" 1 "$W/client.options" "$POOL_PROXY_ADDR" ;;
        pty) bg_start "$2" ip netns exec "$CLI_NS" pppd file "$W/client.options" \
                user "$(sstp_user 1)" password "$(sstp_pass 1)" \
                pty "ip netns exec $SRV_NS pppd file $W/pppd-server.options notty nodetach local nolock" ;;
        *) die "unknown way $1" ;;
    esac
}
# down NAME: stops it; every pppd of the session (both ends) gone, the pool
# (if any) refilled
down() {
    bg_stop "$1" 10 > /dev/null
    wait_for 15 eval '[ "$(n_pppd)" = $POOL_PPPD ]' || die "$1: a pppd outlived its session"
}
# up_once MODE NAME: starts it and waits for the tunnel; status 2 when
# sstpc 1.0.18 lost its start-up race (its event loop ends right after the
# TCP connect, before any SSTP: the client's bug, not the server's; counted
# in RETRIED and printed), 1 when the tunnel did not come up otherwise
RETRIED=0
up_once() {
    up "$1" "$2"
    wait_for 30 eval '_sstp_both_ends 1 || _gs_exited "$(bg_pid "$2")"' || return 1
    _sstp_both_ends 1 && return 0
    grep -aq "event loop terminated unsuccessfully" "$W/$2.log" || return 1
    grep -aq "CONNECT ACK" "$W/$2.log" && return 1
    bg_wait "$2" 5 > /dev/null
    wait_for 15 eval '[ "$(n_pppd)" = $POOL_PPPD ]' || die "$2: a pppd outlived its session"
    RETRIED=$((RETRIED + 1))
    return 2
}
# up_retry MODE NAME: up_once, again (up to 3 times) after the client's race
up_retry() {
    local try rc
    for try in 1 2 3; do
        up_once "$1" "$2"
        rc=$?
        [ $rc = 2 ] || return $rc
        say "$2: sstpc lost its start-up race, again"
    done
    return 1
}
session_up() {     # MODE NAME
    race_delay_on veth0 $SSTP_PORT $SRV_NS || die "netem"
    up_retry "$1" "$2" || die "$2: tunnel not up"
    race_delay_off veth0 $SRV_NS
}

# ---- set-up time ----
declare -A SETUP
n_mode=${#MODES[@]}
for ((r = 1; r <= RUNS; r++)); do
    for ((k = 0; k < n_mode; k++)); do
        m=${MODES[$(((k + r - 1) % n_mode))]}
        race_delay_on veth0 $SSTP_PORT $SRV_NS || die "netem"
        for try in 1 2 3 4; do   # a lost start-up race is timed again
            t0=$(gs_now_ms)
            up_once "$m" "$m-$r"
            rc=$?
            [ $rc = 2 ] && { say "$m run $r: sstpc lost its start-up race, again"; continue; }
            [ $rc = 0 ] || die "$m run $r: tunnel not up"
            break
        done
        [ $rc = 0 ] || die "$m run $r: tunnel not up"
        t1=$(gs_now_ms)
        race_delay_off veth0 $SRV_NS
        SETUP[$m]="${SETUP[$m]:-} $((t1 - t0))"
        down "$m-$r"
    done
done
# split LOG: the backend's own phases of the sessions in LOG (medians)
split() {
python3 - "$1" <<'PYEOF'
import re, statistics, sys
ev = {}
for line in open(sys.argv[1], errors="replace"):
    m = re.match(r"\S+T(\d+):(\d+):([\d.]+)Z .* ev=(accept|start|auth_ok|binding_ok|ppp_up) sid=(\w+)", line)
    if m:
        t = (int(m[1]) * 60 + int(m[2])) * 60 + float(m[3])
        ev.setdefault(m[5], {}).setdefault(m[4], t)
steps = [("start", "auth_ok"), ("auth_ok", "binding_ok"), ("binding_ok", "ppp_up"), ("start", "ppp_up")]
out = []
for a, b in steps:
    v = [1000 * (d[b] - d[a]) for d in ev.values() if a in d and b in d]
    if v:
        out.append("%s->%s %.0f" % (a, b, statistics.median(v)))
print(", ".join(out) + " ms (medians)")
PYEOF
}
for m in "${MODES[@]}"; do
    say "setup $m (start -> both ppp ends addressed), $RUNS runs: median $(median ${SETUP[$m]}) ms [${SETUP[$m]# }]"
done
say "  split, main backend (direct, proxy, haproxy): $(split "$BACKEND_LOG")"
[ "$POOL_PPPD" != 0 ] && say "  split, pooled backend (pool, pool-proxy): $(split "$W/backend-pool.log")"
say "  sstpc start-up races lost and started again (not timed): $RETRIED"
say "  (includes the 10 ms netem delay on the server's packets that works around sstpc 1.0.18's start-up race)"

# ---- throughput and CPU ----
declare -A MBPS CPU GBIT
# transfer MODE DIR BYTES: one bulk stream through the tunnel; sets SECS
transfer() {
    local m=$1 dir=$2 bytes=$3 sink_ns src_ns sink_ip out
    if [ "$dir" = up ]; then sink_ns=$SRV_NS; src_ns=$CLI_NS; sink_ip=$PPP_SRV_IP
    else sink_ns=$CLI_NS; src_ns=$SRV_NS; sink_ip=$(sstp_ip 1); fi
    rm -f "$W/sink.ready"
    bg_start "sink-$dir" ip netns exec "$sink_ns" python3 "$E2E_DIR/lib/xfer.py" sink "$sink_ip" 5001 "$W/sink.ready"
    wait_for 15 test -e "$W/sink.ready" || die "$m $dir: sink did not start"
    out=$(ip netns exec "$src_ns" python3 "$E2E_DIR/lib/xfer.py" source "$sink_ip" 5001 "$bytes") ||
        die "$m $dir: transfer failed"
    bg_wait "sink-$dir" 60 > /dev/null || die "$m $dir: sink failed"
    [[ $(< "$W/sink-$dir.log") == "bytes=$bytes "* ]] || die "$m $dir: sink got $(< "$W/sink-$dir.log")"
    SECS=${out##*secs=}
}
bulk() {           # MODE DIR RUN
    local m=$1 dir=$2 bytes=$((MIB * 1024 * 1024)) l t g0 g1 line
    local -A t0=() t1=()
    label_ticks "$m" t0
    g0=$(guest_busy)
    transfer "$m" "$dir" "$bytes"
    g1=$(guest_busy)
    label_ticks "$m" t1
    MBPS[$m/$dir]="${MBPS[$m/$dir]:-} $(awk -v by="$bytes" -v s="$SECS" 'BEGIN {printf "%.1f", by * 8 / 1e6 / s}')"
    GBIT[$m/$dir]=$(awk -v a="${GBIT[$m/$dir]:-0}" -v by="$bytes" 'BEGIN {print a + by * 8 / 1e9}')
    line=
    for l in "${LABELS[@]}" guest; do
        if [ "$l" = guest ]; then t=$((g1 - g0))
        elif [ -n "${t1[$l]:-}" ]; then t=$(( t1[$l] - ${t0[$l]:-0} ))
        else continue; fi
        CPU[$m/$dir/$l]=$(( ${CPU[$m/$dir/$l]:-0} + t ))
        line+=" $l $(awk -v t="$t" -v hz="$HZ" -v by="$bytes" 'BEGIN {printf "%.2f", t / hz / (by * 8 / 1e9)}'),"
    done
    say "$(printf '%-7s %-4s run %d: %d MiB in %.2f s = %.1f Mbit/s; CPU s/Gbit:%s; load %s' "$m" "$dir" "$3" \
        "$MIB" "$SECS" "$(awk -v by="$bytes" -v s="$SECS" 'BEGIN {print by * 8 / 1e6 / s}')" "${line%,}" \
        "$(cut -d' ' -f1 /proc/loadavg)")"
}
for ((r = 1; r <= BULK_RUNS; r++)); do
    for ((k = 0; k < n_mode; k++)); do
        m=${MODES[$(((k + r - 1) % n_mode))]}
        session_up "$m" "$m-bulk"
        bulk "$m" up "$r"
        bulk "$m" down "$r"
        down "$m-bulk"
    done
done

# ---- profile: syscalls per packet of each process ----
# strace stops each traced process at every syscall: these runs' speed is
# not the way's, their counts are
profile() {        # MODE DIR
    local m=$1 dir=$2 pid l p0 p1 n f i
    local -a tr=() who=() files=()
    path_pids "$m"
    for i in "${!PIDS_ON[@]}"; do
        pid=${PIDS_ON[$i]} l=${PLABELS[$i]}
        f="$W/strace-$m-$dir-$l-$pid"
        strace -qq -e signal=none -o "$f" -p "$pid" 2> /dev/null &
        tr+=($!)
        who+=("$l:$f")
    done
    gs_sleep 0.5
    p0=$(ppp_packets)
    transfer "$m" "$dir" $((PROFILE_MIB * 1024 * 1024))
    p1=$(ppp_packets)
    for pid in "${tr[@]}"; do kill -INT "$pid" 2> /dev/null; done
    for pid in "${tr[@]}"; do wait "$pid" 2> /dev/null; done
    n=$((p1 - p0))
    say "profile $m $dir: $PROFILE_MIB MiB under strace, $n PPP packets (server's ppp, both directions); syscalls per packet, per process (its 4 most frequent calls):"
    for l in "${LABELS[@]}"; do
        files=()
        for f in "${who[@]}"; do [ "${f%%:*}" = "$l" ] && files+=("${f#*:}"); done
        [ ${#files[@]} -gt 0 ] || continue
        # one row per role: sstp-proxy's master and worker count together
        awk -v l="$l" -v n="$n" -F'(' '
            /^[a-z_0-9]+\(/ { c[$1]++; t++ }
            END {
                if (t < n / 100 || n == 0) exit   # idle on this path
                k = 0
                for (s in c) names[++k] = s
                out = ""
                for (j = 1; j <= 4 && j <= k; j++) {
                    best = ""
                    for (i = 1; i <= k; i++)
                        if (!(names[i] in used) && (best == "" || c[names[i]] > c[best])) best = names[i]
                    used[best] = 1
                    out = out sprintf(" %s %.2f", best, c[best] / n)
                }
                printf "bench:   %-10s %6.2f  (%s)\n", l, t / n, substr(out, 2)
            }' "${files[@]}"
    done
}
if [ "$PROFILE" = 1 ]; then
    for m in "${MODES[@]}"; do
        session_up "$m" "$m-prof"
        profile "$m" up
        profile "$m" down
        down "$m-prof"
    done
fi
sstp_backend_stop > /dev/null
[ -n "$BACKEND_B_PID" ] && bg_stop backend-b 10 > /dev/null
has_mode proxy && bg_stop proxy 10 > /dev/null
has_mode haproxy && bg_stop haproxy 10 > /dev/null
has_mode pool-proxy && bg_stop proxy-pool 10 > /dev/null
[ "$POOL_PPPD" != 0 ] && bg_stop backend-pool 15 > /dev/null

ratio() { awk -v a="$1" -v b="$2" 'BEGIN {if (a == "" || b == "" || b + 0 == 0) print "-"; else printf "%.2fx", a / b}'; }
say ""
say "$(printf '%-8s %10s %10s %11s   %s' way "setup ms" "up Mbit/s" "down Mbit/s" "vs pty: setup / up / down")"
for m in "${MODES[@]}"; do
    ms=$(median ${SETUP[$m]}) ps=$(median ${SETUP[pty]:-})
    mu=$(median ${MBPS[$m/up]}) md=$(median ${MBPS[$m/down]})
    pu=$(median ${MBPS[pty/up]:-}) pd=$(median ${MBPS[pty/down]:-})
    say "$(printf '%-8s %10s %10s %11s   %s / %s / %s' "$m" "$ms" "$mu" "$md" \
        "$(ratio "$ms" "$ps")" "$(ratio "$mu" "$pu")" "$(ratio "$md" "$pd")")"
done
has_mode directB && say "direct/directB: up $(ratio "$(median ${MBPS[direct/up]})" "$(median ${MBPS[directB/up]})")," \
    "down $(ratio "$(median ${MBPS[direct/down]})" "$(median ${MBPS[directB/down]})") (this build over BENCH_BACKEND_B)"
say "(Mbit/s: medians over $BULK_RUNS bulk run(s) of $MIB MiB per way and direction)"
say ""
say "CPU seconds per Gbit per process on the path, summed over the bulk runs ('-': not on this way's path):"
say "$(printf '%-13s' way/dir; for l in "${LABELS[@]}" guest; do printf ' %10s' "$l"; done)"
for m in "${MODES[@]}"; do
    for dir in up down; do
        say "$(printf '%-13s' "$m/$dir"; for l in "${LABELS[@]}" guest; do
            v=${CPU[$m/$dir/$l]:-}
            if [ -n "$v" ]; then
                printf ' %10s' "$(awk -v t="$v" -v hz="$HZ" -v g="${GBIT[$m/$dir]}" 'BEGIN {printf "%.2f", t / hz / g}')"
            else
                printf ' %10s' -
            fi
        done)"
    done
done
say "one UML CPU carries client, server, both TLS ends, the generator and kernel PPP; UML syscalls are host round trips: ratios of one boot, not bare-metal capacity"
