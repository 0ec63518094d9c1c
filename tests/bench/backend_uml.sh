#!/bin/bash
# backend_uml.sh — benchmark of sstp-backend with the real sstpc client over
# real kernel PPP, inside one User-Mode Linux guest (not part of make test):
#   setup       sstpc start -> both ppp ends have their addresses, RUNS times
#               (median, min, max), with the backend's own split of each
#               set-up (HTTP request done -> auth_ok -> binding_ok -> ppp_up)
#   throughput  one session, a bulk TCP stream through the tunnel for
#               MIB MiB each way (tests/e2e/lib/xfer.py source/sink)
#   cpu/Gbit    CPU seconds of sstp-backend and of the session's pppd (from
#               /proc/PID/stat utime+stime), and of the whole guest CPU
#               (/proc/stat), per Gbit carried
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
    make -C "$repo" --no-print-directory -j2 build/sstp-backend build/sstp-lb-pppd.so > /dev/null ||
        { echo "backend_uml: cannot build" >&2; exit 1; }
    work=${BENCH_WORK:-$(mktemp -d /tmp/sstplb-bench.XXXXXX)}
    mkdir -p "$work"
    "$repo/scripts/mkcerts.sh" "$work/certs" > /dev/null 2>&1 || { echo "mkcerts failed" >&2; exit 1; }
    rm -f "$work/sstp-backend"
    if [ -n "${BENCH_BACKEND:-}" ]; then   # the guest sees only the work dir and the repo
        cp "$BENCH_BACKEND" "$work/sstp-backend" || exit 1
        echo "(sstp-backend under test: $BENCH_BACKEND)"
    fi
    "$repo/tests/e2e/uml.sh" --timeout 600 --mem 512M "$work" "$here/backend_uml.sh" "$runs" "$mib" \
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
WAIT_FOR_INTERVAL=0.02
HZ=$(getconf CLK_TCK)
say() { echo "bench: $*"; }
die() { say "FAILED: $*"; exit 1; }

cpu_ticks() {      # utime + stime of PID, in clock ticks
    local line rest
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
median() {         # of integer arguments
    local sorted
    sorted=($(printf '%s\n' "$@" | sort -n))
    echo "${sorted[$(( ${#sorted[@]} / 2 ))]}"
}

sstp_setup 1 || die "set-up"
sstp_server_options mschapv2 "$W/pppd-server.options"
sstp_client_options mschapv2 "$W/client.options"
sstp_backend_conf "$W/backend.conf" backend.log_level=info
sstp_backend_start "$W/backend.conf" || die "sstp-backend did not start"

# ---- set-up time ----
times=()
for ((r = 1; r <= RUNS; r++)); do
    race_delay_on veth0 $SSTP_PORT $SRV_NS || die "netem"
    t0=$(gs_now_ms)
    sstp_client_start "sstpc-$r" 1 "$W/client.options"
    sstp_up 1 30 || die "run $r: tunnel not up"
    t1=$(gs_now_ms)
    race_delay_off veth0 $SRV_NS
    times+=($((t1 - t0)))
    bg_stop "sstpc-$r" 10 > /dev/null
    wait_for 15 eval '[ "$(log_count "$BACKEND_LOG" "ev=close ")" -ge $r ] && [ -z "$(procs_named pppd)" ]' ||
        die "run $r: session not closed"
done
split=$(python3 - "$BACKEND_LOG" <<'EOF'
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
print(", ".join(out) + " ms (medians, backend log)")
EOF
)
say "setup (sstpc start -> both ppp ends addressed), $RUNS runs: median $(median "${times[@]}") ms, min $(median $(printf '%s\n' "${times[@]}" | sort -n | head -1)) ms, max $(printf '%s\n' "${times[@]}" | sort -n | tail -1) ms [${times[*]}]"
say "  split: $split"
say "  (includes the 10 ms netem delay on the server's packets that works around sstpc 1.0.18's start-up race)"

# ---- throughput and CPU ----
sstp_client_start sstpc 1 "$W/client.options"
race_delay_on veth0 $SSTP_PORT $SRV_NS
sstp_up 1 30 || die "bulk session not up"
race_delay_off veth0 $SRV_NS
ppp_srv=$(children_of "$BACKEND_PID" pppd)
ppp_cli=$(children_of "$(bg_pid sstpc)" pppd)
[ -n "$ppp_srv" ] || die "no pppd child of the backend"
bytes=$((MIB * 1024 * 1024))

bulk() {           # DIR: up (client -> server) or down
    local dir=$1 sink_ns src_ns sink_ip out b0 p0 c0 g0 k0 b1 p1 c1 g1 k1 secs
    if [ "$dir" = up ]; then sink_ns=$SRV_NS; src_ns=$CLI_NS; sink_ip=$PPP_SRV_IP
    else sink_ns=$CLI_NS; src_ns=$SRV_NS; sink_ip=$(sstp_ip 1); fi
    rm -f "$W/sink.ready"
    bg_start "sink-$dir" ip netns exec "$sink_ns" python3 "$E2E_DIR/lib/xfer.py" sink "$sink_ip" 5001 "$W/sink.ready"
    wait_for 15 test -e "$W/sink.ready" || die "$dir: sink did not start"
    b0=$(cpu_ticks "$BACKEND_PID"); p0=$(cpu_ticks "$ppp_srv"); c0=$(cpu_ticks "$ppp_cli"); g0=$(guest_busy)
    k0=$(cpu_ticks "$(bg_pid sstpc)")
    out=$(ip netns exec "$src_ns" python3 "$E2E_DIR/lib/xfer.py" source "$sink_ip" 5001 "$bytes") ||
        die "$dir: transfer failed"
    b1=$(cpu_ticks "$BACKEND_PID"); p1=$(cpu_ticks "$ppp_srv"); c1=$(cpu_ticks "$ppp_cli"); g1=$(guest_busy)
    k1=$(cpu_ticks "$(bg_pid sstpc)")
    bg_wait "sink-$dir" 30 > /dev/null || die "$dir: sink failed"
    [[ $(< "$W/sink-$dir.log") == "bytes=$bytes "* ]] || die "$dir: sink got $(< "$W/sink-$dir.log")"
    secs=${out##*secs=}
    awk -v by="$bytes" -v s="$secs" -v hz="$HZ" -v b=$((b1 - b0)) -v p=$((p1 - p0)) -v c=$((c1 - c0)) \
        -v k=$((k1 - k0)) -v g=$((g1 - g0)) -v d="$dir" 'BEGIN {
        gbit = by * 8 / 1e9
        printf "bench: %-4s %d MiB in %.2f s = %.1f Mbit/s; CPU s/Gbit: sstp-backend %.2f, server pppd %.2f, sstpc %.2f, client pppd %.2f, whole guest %.2f (backend %.0f%%, guest %.0f%% of one CPU)\n",
            d, by / 1048576, s, gbit * 1000 / s, b / hz / gbit, p / hz / gbit, k / hz / gbit, c / hz / gbit, g / hz / gbit, 100 * b / hz / s, 100 * g / hz / s
    }'
}
bulk up
bulk down
bg_stop sstpc 10 > /dev/null
sstp_backend_stop > /dev/null
say "one UML CPU carries client, server, both TLS ends, the generator and kernel PPP; UML syscalls are host round trips: compare builds with this, do not read it as bare-metal capacity"
