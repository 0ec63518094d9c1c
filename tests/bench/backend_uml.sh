#!/bin/bash
# backend_uml.sh — benchmark of sstp-backend with the real sstpc client over
# real kernel PPP, inside one User-Mode Linux guest (not part of make test).
# Three ways to the same PPP link, interleaved in one boot (the order
# rotates from run to run):
#   direct      sstpc -> sstp-backend (tls listener)
#   proxy       sstpc -> sstp-proxy -> sstp-backend (PROXY v2, plain TCP)
#   pool        sstpc -> a second sstp-backend with pppd.pool_size = 2
#               (192.0.2.6): sessions take a pppd already started
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
#               MIB MiB each way (tests/e2e/lib/xfer.py source/sink)
#   cpu/Gbit    CPU seconds of sstp-backend and sstp-proxy (/proc/PID/stat
#               utime+stime) and of the whole guest CPU (/proc/stat) per Gbit
# and the ratios of each way to the pty reference.
# BENCH_MODES="direct proxy pty" picks and orders the ways (default; add
# pool and pool-proxy for the pppd pool).
#
#   tests/bench/backend_uml.sh [RUNS] [MIB]       (default 5 runs, 24 MiB)
# Work dir: $BENCH_WORK or a fresh /tmp/sstplb-bench.XXXXXX (kept).
# BENCH_BACKEND=/path/to/sstp-backend measures another build (A/B).
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
    rm -f "$work/sstp-backend"
    echo "${BENCH_MODES:-}" > "$work/bench-modes"   # the guest gets no environment from here
    if [ -n "${BENCH_BACKEND:-}" ]; then   # the guest sees only the work dir and the repo
        cp "$BENCH_BACKEND" "$work/sstp-backend" || exit 1
        echo "(sstp-backend under test: $BENCH_BACKEND)"
    fi
    "$repo/tests/e2e/uml.sh" --timeout 900 --mem 512M "$work" "$here/backend_uml.sh" "$runs" "$mib" \
        > "$work/uml.out" 2>&1
    rc=$?
    grep -a '^bench:' "$work/guest.log" | sed 's/^bench: //'
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
. "$E2E_DIR/lib/sstp.sh"
RUNS=${1:-5}
MIB=${2:-24}
[ -z "${BENCH_MODES:-}" ] && [ -s "$SSTPLB_WORK/bench-modes" ] && BENCH_MODES=$(< "$SSTPLB_WORK/bench-modes")
MODES=(${BENCH_MODES:-direct proxy pty})
PROXY_ADDR=192.0.2.3      # sstp-proxy's own address on the server's side
WAIT_FOR_INTERVAL=0.02
HZ=$(getconf CLK_TCK)
say() { echo "bench: $*"; }
die() { say "FAILED: $*"; exit 1; }

cpu_ticks() {      # utime + stime of PID, in clock ticks (0 without a PID)
    local line rest
    [ -n "$1" ] || { echo 0; return; }
    read -r line < "/proc/$1/stat" || { echo 0; return; }
    rest=${line##*) }
    set -- $rest
    echo $(( ${12} + ${13} ))
}
guest_busy() {     # busy ticks of the whole (single) guest CPU
    local cpu user nice sys idle iowait irq softirq steal
    read -r cpu user nice sys idle iowait irq softirq steal _ < /proc/stat
    echo $(( user + nice + sys + irq + softirq + steal ))
}
median() {         # of numeric arguments
    printf '%s\n' "$@" | sort -g | awk '{v[NR] = $1} END {if (NR) print v[int((NR + 1) / 2)]}'
}

sstp_setup 1 || die "set-up"
sstp_server_options mschapv2 "$W/pppd-server.options"
sstp_client_options mschapv2 "$W/client.options"
sstp_backend_conf "$W/backend.conf" backend.log_level=info listen.proxy=127.0.0.1:4433 \
    listen.proxy_allow=127.0.0.1/32
sstp_backend_start "$W/backend.conf" || die "sstp-backend did not start"
PROXY_PID=
if [[ " ${MODES[*]} " == *" proxy "* ]]; then
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
CONF
    bg_start proxy ip netns exec "$SRV_NS" "$REPO/build/sstp-proxy" -c "$W/proxy.conf"
    wait_for 15 log_has "$W/proxy.log" "ev=worker_ready" || die "sstp-proxy did not start"
    PROXY_PID=$(pgrep -n -f "build/sstp-proxy -c $W/proxy.conf")
fi

# ---- pppd pool (pppd.pool_size): its own backend on .6, its own proxy on .7 ----
POOL_BACKEND_PID= POOL_PROXY_PID= MAIN_BACKEND_PID=$BACKEND_PID MAIN_PROXY_PID=$PROXY_PID
if [[ " ${MODES[*]} " == *" pool"* ]]; then
    ip -n "$SRV_NS" addr add 192.0.2.6/24 dev veth0 && ip -n "$SRV_NS" addr add 192.0.2.7/24 dev veth0 ||
        die "pool addresses"
    sstp_backend_conf "$W/backend-pool.conf" backend.log_level=info backend.id=e2e-pool \
        listen.tls=192.0.2.6:$SSTP_PORT listen.proxy=127.0.0.1:4434 listen.proxy_allow=127.0.0.1/32 \
        pppd.pool_size=2
    bg_start backend-pool ip netns exec "$SRV_NS" "$BACKEND_BIN" -c "$W/backend-pool.conf"
    wait_for 10 log_has "$W/backend-pool.log" "ev=ready" || die "pool sstp-backend did not start"
    POOL_BACKEND_PID=$(bg_pid backend-pool)
    sed -e "s/^bind = .*/bind = 192.0.2.7:$SSTP_PORT/" -e "s/^id = .*/id = bench-proxy-pool/" \
        -e "s/^server = .*/server = e2e-pool 127.0.0.1:4434/" "$W/proxy.conf" > "$W/proxy-pool.conf" 2> /dev/null ||
        die "pool-proxy needs the proxy way's config (BENCH_MODES with proxy)"
    printf '[admin]\naddress = 127.0.0.1:9181\n' >> "$W/proxy-pool.conf"
    bg_start proxy-pool ip netns exec "$SRV_NS" "$REPO/build/sstp-proxy" -c "$W/proxy-pool.conf"
    wait_for 15 log_has "$W/proxy-pool.log" "ev=worker_ready" || die "pool sstp-proxy did not start"
    POOL_PROXY_PID=$(pgrep -n -f "build/sstp-proxy -c $W/proxy-pool.conf")
fi
# the pool's members are pppd processes too: down() waits for them to be all that is left
POOL_PPPD=$([ -n "$POOL_BACKEND_PID" ] && echo 2 || echo 0)
n_pppd() { local p; p=$(procs_named pppd); set -- $p; echo $#; }
wait_for 20 eval '[ "$(n_pppd)" = $POOL_PPPD ]' || die "the pppd pool did not fill"

# up MODE NAME: starts the tunnel of user 1 the MODE's way (NAME: its process)
up() {
    BACKEND_PID=$MAIN_BACKEND_PID PROXY_PID=$MAIN_PROXY_PID   # the CPU figures follow the way
    case $1 in
        pool) BACKEND_PID=$POOL_BACKEND_PID PROXY_PID= ; sstp_client_start "$2" 1 "$W/client.options" 192.0.2.6 ;;
        pool-proxy) BACKEND_PID=$POOL_BACKEND_PID PROXY_PID=$POOL_PROXY_PID
            sstp_client_start "$2" 1 "$W/client.options" 192.0.2.7 ;;
        direct) sstp_client_start "$2" 1 "$W/client.options" ;;
        proxy) sstp_client_start "$2" 1 "$W/client.options" "$PROXY_ADDR" ;;
        pty) bg_start "$2" ip netns exec "$CLI_NS" pppd file "$W/client.options" \
                user "$(sstp_user 1)" password "$(sstp_pass 1)" \
                pty "ip netns exec $SRV_NS pppd file $W/pppd-server.options notty nodetach local nolock" ;;
    esac
}
# down NAME: stops it; every pppd (both ends) gone
down() {
    bg_stop "$1" 10 > /dev/null
    wait_for 15 eval '[ "$(n_pppd)" = $POOL_PPPD ]' || die "$1: a pppd outlived its session"
}

# ---- set-up time ----
declare -A SETUP
n_mode=${#MODES[@]}
for ((r = 1; r <= RUNS; r++)); do
    for ((k = 0; k < n_mode; k++)); do
        m=${MODES[$(((k + r - 1) % n_mode))]}
        race_delay_on veth0 $SSTP_PORT $SRV_NS || die "netem"
        t0=$(gs_now_ms)
        up "$m" "$m-$r"
        sstp_up 1 30 || die "$m run $r: tunnel not up"
        t1=$(gs_now_ms)
        race_delay_off veth0 $SRV_NS
        SETUP[$m]="${SETUP[$m]:-} $((t1 - t0))"
        down "$m-$r"
    done
done
split=$(python3 - "$BACKEND_LOG" <<'PYEOF'
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
print(", ".join(out) + " ms (medians, backend log, direct and proxy)")
PYEOF
)
for m in "${MODES[@]}"; do
    say "setup $m (start -> both ppp ends addressed), $RUNS runs: median $(median ${SETUP[$m]}) ms [${SETUP[$m]# }]"
done
say "  split: $split"
say "  (includes the 10 ms netem delay on the server's packets that works around sstpc 1.0.18's start-up race)"

# ---- throughput and CPU ----
bytes=$((MIB * 1024 * 1024))
declare -A MBPS
bulk() {           # MODE DIR: up (client -> server) or down
    local m=$1 dir=$2 sink_ns src_ns sink_ip out b0 x0 g0 b1 x1 g1 secs
    if [ "$dir" = up ]; then sink_ns=$SRV_NS; src_ns=$CLI_NS; sink_ip=$PPP_SRV_IP
    else sink_ns=$CLI_NS; src_ns=$SRV_NS; sink_ip=$(sstp_ip 1); fi
    rm -f "$W/sink.ready"
    bg_start "sink-$dir" ip netns exec "$sink_ns" python3 "$E2E_DIR/lib/xfer.py" sink "$sink_ip" 5001 "$W/sink.ready"
    wait_for 15 test -e "$W/sink.ready" || die "$m $dir: sink did not start"
    b0=$(cpu_ticks "$BACKEND_PID"); x0=$(cpu_ticks "$PROXY_PID"); g0=$(guest_busy)
    out=$(ip netns exec "$src_ns" python3 "$E2E_DIR/lib/xfer.py" source "$sink_ip" 5001 "$bytes") ||
        die "$m $dir: transfer failed"
    b1=$(cpu_ticks "$BACKEND_PID"); x1=$(cpu_ticks "$PROXY_PID"); g1=$(guest_busy)
    bg_wait "sink-$dir" 30 > /dev/null || die "$m $dir: sink failed"
    [[ $(< "$W/sink-$dir.log") == "bytes=$bytes "* ]] || die "$m $dir: sink got $(< "$W/sink-$dir.log")"
    secs=${out##*secs=}
    MBPS[$m/$dir]=$(awk -v by="$bytes" -v s="$secs" 'BEGIN {printf "%.1f", by * 8 / 1e6 / s}')
    awk -v by="$bytes" -v s="$secs" -v hz="$HZ" -v b=$((b1 - b0)) -v x=$((x1 - x0)) -v g=$((g1 - g0)) \
        -v d="$dir" -v m="$m" 'BEGIN {
        gbit = by * 8 / 1e9
        printf "bench: %-6s %-4s %d MiB in %.2f s = %.1f Mbit/s; CPU s/Gbit: sstp-backend %.2f, sstp-proxy %.2f, whole guest %.2f (guest %.0f%% of one CPU)\n",
            m, d, by / 1048576, s, gbit * 1000 / s, b / hz / gbit, x / hz / gbit, g / hz / gbit, 100 * g / hz / s
    }'
}
for m in "${MODES[@]}"; do
    race_delay_on veth0 $SSTP_PORT $SRV_NS
    up "$m" "$m-bulk"
    sstp_up 1 30 || die "$m: bulk session not up"
    race_delay_off veth0 $SRV_NS
    bulk "$m" up
    bulk "$m" down
    down "$m-bulk"
done
sstp_backend_stop > /dev/null
[ -n "$MAIN_PROXY_PID" ] && bg_stop proxy 10 > /dev/null
[ -n "$POOL_BACKEND_PID" ] && { bg_stop proxy-pool 10; bg_stop backend-pool 15; } > /dev/null

ratio() { awk -v a="$1" -v b="$2" 'BEGIN {if (a == "" || b == "" || b + 0 == 0) print "-"; else printf "%.2fx", a / b}'; }
say ""
say "$(printf '%-8s %10s %10s %11s   %s' way "setup ms" "up Mbit/s" "down Mbit/s" "vs pty: setup / up / down")"
for m in "${MODES[@]}"; do
    ms=$(median ${SETUP[$m]}) ps=$(median ${SETUP[pty]:-})
    say "$(printf '%-8s %10s %10s %11s   %s / %s / %s' "$m" "$ms" "${MBPS[$m/up]}" "${MBPS[$m/down]}" \
        "$(ratio "$ms" "$ps")" "$(ratio "${MBPS[$m/up]}" "${MBPS[pty/up]:-}")" "$(ratio "${MBPS[$m/down]}" "${MBPS[pty/down]:-}")")"
done
say "one UML CPU carries client, server, both TLS ends, the generator and kernel PPP; UML syscalls are host round trips: ratios of one boot, not bare-metal capacity"
