#!/bin/bash
# pppd_phases.sh — where an SSTP session's set-up time goes on the server,
# pppd pool (pppd.pool_size) off against on, with the real sstpc client over
# real kernel PPP, in one User-Mode Linux boot (not part of make test).
# Three ways to the same PPP link, interleaved (the order rotates per run):
#   off    sstpc -> sstp-backend without a pool (192.0.2.1): every session
#          spawns its pppd at CALL_CONNECT_REQUEST
#   pool   sstpc -> sstp-backend with pppd.pool_size = 2 (192.0.2.6): the
#          session takes a pppd already waiting on its pty before LCP
#   pty    the reference without SSTP: the client's pppd runs the server's
#          pppd as its `pty` command (same options, secrets, addresses)
# Each run waits until the pool is full again before the next, so "pool"
# is a pool that keeps up (sessions spaced out, not a burst).
# Figures:
#   setup      start of the client -> both ppp ends have their addresses
#              (median and every run), and the ratio to pty
#   phases     from the backend's own log lines, median per way: client
#              (sstpc started: exec, TCP, TLS, HTTP) -> start (the
#              SSTP request) -> pppd_start (pppd spawned, or taken from the
#              pool) -> auth_ok (the plugin's AUTH report: LCP and
#              MS-CHAPv2 done) -> binding_ok (CALL_CONNECTED verified) ->
#              ppp_up (IPCP up, after pppd ran /etc/ppp/ip-pre-up) ->
#              client_up (the client's end addressed too); start -> ppp_up
#              and client -> client_up. "pool vs off": change of each median.
#   ip-pre-up  what pppd runs synchronously between IPCP's agreement and
#              ppp_up (Debian: run-parts /etc/ppp/ip-pre-up.d), timed alone
#              in the guest: part of every way's set-up, pty's included
#
#   tests/bench/pppd_phases.sh [RUNS]        (default 7)
# Work dir: $BENCH_WORK or a fresh /tmp/sstplb-phases.XXXXXX (kept).
# The host's load average is printed before and after: the machine is
# shared, so compare the ways of one run, not figures of different runs.
# Caveat: client, server, TLS, pppd and kernel PPP share ONE UML CPU where
# every syscall and exec is a trip through the host.

if [ -z "${SSTPLB_GUEST:-}" ]; then
    here=$(dirname "$(readlink -f "$0")")
    repo=$(readlink -f "$here/../..")
    runs=${1:-7}
    make -C "$repo" --no-print-directory -j2 build/sstp-backend build/sstp-lb-pppd.so > /dev/null ||
        { echo "pppd_phases: cannot build" >&2; exit 1; }
    work=${BENCH_WORK:-$(mktemp -d /tmp/sstplb-phases.XXXXXX)}
    mkdir -p "$work"
    "$repo/scripts/mkcerts.sh" "$work/certs" > /dev/null 2>&1 || { echo "mkcerts failed" >&2; exit 1; }
    echo "host load before: $(cut -d' ' -f1-3 /proc/loadavg)"
    "$repo/tests/e2e/uml.sh" --timeout 900 --mem 512M "$work" "$here/pppd_phases.sh" "$runs" \
        > "$work/uml.out" 2>&1
    rc=$?
    grep -a '^bench:' "$work/guest.log" | sed 's/^bench: //'
    echo "host load after: $(cut -d' ' -f1-3 /proc/loadavg)"
    if [ $rc -ne 0 ]; then
        echo "pppd_phases: FAILED (status $rc), logs in $work" >&2
        tail -n 30 "$work/uml.out" >&2
    else
        echo "(logs in $work)"
    fi
    exit $rc
fi

# ---- guest side --------------------------------------------------------------
. "$E2E_DIR/lib/sstp.sh"
RUNS=${1:-7}
MODES=(off pool pty)
POOL_ADDR=192.0.2.6
POOL_SIZE=2
say() { echo "bench: $*"; }
die() { say "FAILED: $*"; exit 1; }
median() {
    printf '%s\n' "$@" | sort -g | awk '{v[NR] = $1} END {if (NR) print v[int((NR + 1) / 2)]}'
}
n_pppd() { local p; p=$(procs_named pppd); set -- $p; echo $#; }

sstp_setup 1 || die "set-up"
sstp_server_options mschapv2 "$W/pppd-server.options"
sstp_client_options mschapv2 "$W/client.options"
sstp_backend_conf "$W/backend.conf" backend.log_level=info
sstp_backend_start "$W/backend.conf" || die "sstp-backend (pool off) did not start"
ip -n "$SRV_NS" addr add "$POOL_ADDR/24" dev veth0 || die "pool address"
sstp_backend_conf "$W/backend-pool.conf" backend.log_level=info backend.id=e2e-pool \
    listen.tls="$POOL_ADDR:$SSTP_PORT" pppd.pool_size=$POOL_SIZE
bg_start backend-pool ip netns exec "$SRV_NS" "$BACKEND_BIN" -c "$W/backend-pool.conf"
wait_for 10 log_has "$W/backend-pool.log" "ev=ready" || die "sstp-backend (pool on) did not start"
wait_for 20 eval '[ "$(n_pppd)" = $POOL_SIZE ]' || die "the pool did not fill ($(n_pppd) pppd)"

up() {
    case $1 in
        off) sstp_client_start "$2" 1 "$W/client.options" ;;
        pool) sstp_client_start "$2" 1 "$W/client.options" "$POOL_ADDR" ;;
        pty) bg_start "$2" ip netns exec "$CLI_NS" pppd file "$W/client.options" \
                user "$(sstp_user 1)" password "$(sstp_pass 1)" \
                pty "ip netns exec $SRV_NS pppd file $W/pppd-server.options notty nodetach local nolock" ;;
    esac
}
down() {    # the session's pppds gone, the pool full again
    bg_stop "$1" 10 > /dev/null
    wait_for 15 eval '[ "$(n_pppd)" = $POOL_SIZE ]' || die "$1: $(n_pppd) pppd left, want the pool's $POOL_SIZE"
}

declare -A SETUP UPS
RETRIES=0
for ((r = 1; r <= RUNS; r++)); do
    for ((k = 0; k < ${#MODES[@]}; k++)); do
        m=${MODES[$(((k + r - 1) % ${#MODES[@]}))]}
        race_delay_on veth0 $SSTP_PORT $SRV_NS || die "netem"
        for ((try = 1; ; try++)); do
            w0=$EPOCHREALTIME    # wall clock (no exec), to place the backend's log lines
            t0=$(gs_now_ms)
            up "$m" "$m-$r"
            sstp_up 1 30 && break
            # sstpc 1.0.18's start-up race (e2e-uml.md) survives the netem
            # delay on a loaded host: that attempt is not a set-up time
            log_has "$W/$m-$r.log" "event loop terminated unsuccessfully" && [ $try -lt 3 ] ||
                die "$m run $r: tunnel not up"
            RETRIES=$((RETRIES + 1))
            down "$m-$r"
        done
        t1=$(gs_now_ms)
        w1=$EPOCHREALTIME
        race_delay_off veth0 $SRV_NS
        SETUP[$m]="${SETUP[$m]:-} $((t1 - t0))"
        echo "$w0 $w1" >> "$W/wall-$m"
        # the addresses are on the interfaces just before pppd's plugin
        # reports IP_UP: let the backend log ppp_up before the call ends
        case $m in
            off) UPS[off]=$((${UPS[off]:-0} + 1)); wait_for 5 eval '[ "$(log_count "$BACKEND_LOG" ev=ppp_up)" -ge ${UPS[off]} ]' ;;
            pool) UPS[pool]=$((${UPS[pool]:-0} + 1)); wait_for 5 eval '[ "$(log_count "$W/backend-pool.log" ev=ppp_up)" -ge ${UPS[pool]} ]' ;;
        esac
        down "$m-$r"
    done
done

# ip-pre-up alone, as pppd runs it (interface, tty, speed, local, remote, ipparam)
pre=()
if [ -x /etc/ppp/ip-pre-up ]; then
    for ((i = 0; i < 5; i++)); do
        t0=$(gs_now_ms)
        ip netns exec "$SRV_NS" /etc/ppp/ip-pre-up ppp9 /dev/null 0 10.8.0.1 10.8.0.11 bench > /dev/null 2>&1
        t1=$(gs_now_ms)
        pre+=($((t1 - t0)))
    done
fi
taken=$(log_count "$W/backend-pool.log" "ev=pppd_pool_take")
sstp_backend_stop > /dev/null
bg_stop backend-pool 15 > /dev/null
wait_for 10 eval '[ "$(n_pppd)" = 0 ]' || die "pppd left after both backends stopped"

for m in "${MODES[@]}"; do
    say "setup $m (start -> both ppp ends addressed), $RUNS runs: median $(median ${SETUP[$m]}) ms [${SETUP[$m]# }]"
done
ps=$(median ${SETUP[pty]})
say "setup vs pty: off $(awk -v a="$(median ${SETUP[off]})" -v b="$ps" 'BEGIN {printf "%.2fx", a / b}'), pool $(awk -v a="$(median ${SETUP[pool]})" -v b="$ps" 'BEGIN {printf "%.2fx", a / b}') (sessions served by a pooled pppd: $taken of $RUNS)"
python3 - "$BACKEND_LOG" "$W/backend-pool.log" "$W/wall-off" "$W/wall-pool" <<'PYEOF' | sed 's/^/bench: /'
import datetime, re, statistics, sys
STEPS = [("client", "start"), ("start", "pppd_start"), ("pppd_start", "auth_ok"), ("auth_ok", "binding_ok"),
         ("binding_ok", "ppp_up"), ("ppp_up", "client_up"), ("start", "auth_ok"), ("start", "ppp_up"),
         ("client", "client_up")]
def phases(path, wall_path):
    ev = {}
    for line in open(path, errors="replace"):
        m = re.match(r"(\S+)Z .* ev=(start|pppd_start|auth_ok|binding_ok|ppp_up) sid=(\w+)", line)
        if m:
            t = datetime.datetime.fromisoformat(m[1]).replace(tzinfo=datetime.timezone.utc).timestamp()
            ev.setdefault(m[3], {}).setdefault(m[2], t)
    # the client's start and its "both ends addressed", run by run: the
    # session that started in between is that run's (a failed attempt's
    # session never has a run of its own)
    for ln in open(wall_path):
        w0, w1 = map(float, ln.split())
        for d in ev.values():
            if "start" in d and w0 <= d["start"] <= w1:
                d["client"], d["client_up"] = w0, w1
    out = {}
    for a, b in STEPS:
        v = [1000 * (d[b] - d[a]) for d in ev.values() if a in d and b in d]
        out[(a, b)] = statistics.median(v) if v else None
    return out
off, pool = phases(sys.argv[1], sys.argv[3]), phases(sys.argv[2], sys.argv[4])
print("%-22s %8s %8s %10s" % ("phase (median ms)", "off", "pool", "pool vs off"))
print("  client = sstpc started, client_up = both ppp ends addressed (the guest's wall clock)")
for s in STEPS:
    a, b = off[s], pool[s]
    ch = "%+.0f%%" % (100 * (b - a) / a) if a and b is not None else "-"
    print("%-22s %8s %8s %10s" % ("%s -> %s" % s, "%.0f" % a if a is not None else "-",
                                  "%.0f" % b if b is not None else "-", ch))
PYEOF
if [ ${#pre[@]} -gt 0 ]; then
    say "/etc/ppp/ip-pre-up alone (run inside binding_ok -> ppp_up, and in pty's set-up): median $(median "${pre[@]}") ms [${pre[*]}]"
else
    say "/etc/ppp/ip-pre-up: not installed in this guest"
fi
say "sstpc start-up race retried: $RETRIES time(s) (not counted as set-up)"
say "setup includes the 10 ms netem delay on the server's packets (sstpc 1.0.18 start-up race); one UML CPU carries client, server, TLS, pppd and kernel PPP"
