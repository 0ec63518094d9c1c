#!/bin/bash
# proxy_ramp.sh — SESSIONS idle SSTP sessions ramped through ONE front box
# at CONC set-ups in flight, then held HOLD seconds with keepalive echoes;
# sstp-proxy beside HAProxy 2.6 (the reference) in one run, one front after
# the other, same backends, same client (issue 15: 50,000 concurrent
# sessions with 0 failures during the ramp; the ramp's TLS handshake surge
# keeps the front's event loop busy for long stretches, and a front that
# then times out its own health checks ejects healthy backends).
#
#   tests/bench/proxy_ramp.sh                       (50,000 sessions: minutes, loads the host)
#   SESSIONS=5000 HOLD=5 tests/bench/proxy_ramp.sh
#   SESSIONS=50000 HOLD=20 CONC=200 FRONTS="sstp-proxy haproxy" tests/bench/proxy_ramp.sh
#   PROXY_B=/tmp/base/build/sstp-proxy FRONTS="sstp-proxy sp-b haproxy" tests/bench/proxy_ramp.sh
#
# Per front, one line:
#   established  sessions through CALL_CONNECTED (sstp-bench --mode idle)
#   failed       sessions that never got there (refused, 503, timed out)
#   dropped      established sessions lost during the hold
#   ramp_s       first connect to the last session set up
#   kib/sess     RSS of the front's processes after the ramp minus before, per
#                established session (sstp-proxy: master + workers)
#   cpu_s        user+system CPU seconds of the front's processes over ramp + hold
#   be_down      backends taken out: sstp-proxy's health_down and backend_down
#                log lines; HAProxy's "is DOWN" lines of its own health checks
#   stretched    sstp-proxy: health checks whose timeout was excused because
#                its own loop had stalled (sstp_proxy_health_checks_total
#                {result="stretched"}); '-' for HAProxy
# and the 1-minute load average before and after.
#
# Set-up (all on this host, over loopback):
#   backends  BACKENDS sstp-bench --serve --plain --proxy-in targets, each
#             BE_PROCS processes on one port (SO_REUSEPORT)
#   sstp-proxy WORKERS workers (default: one per 9,000 sessions), LISTENS
#             listen ports; health probe sstp, interval 500 ms, timeout 1 s,
#             fall 2, rise 2 (the defaults); limits.per_source_conns = 0 (every
#             client is 127.0.0.1); connect_timeout 5 s
#   haproxy   HAP_PROCS processes (2.6 has no multi-process mode: one per
#             9,000 sessions, sharing the LISTENS ports by SO_REUSEPORT),
#             nbthread 1, mode tcp, send-proxy-v2, `check inter 500 fall 2
#             rise 2` with `timeout check 1s` (a TCP connect check)
#   client    sstp-bench --mode idle, CPROCS processes, CONC/CPROCS set-ups
#             in flight in each, the sessions spread round robin over the
#             LISTENS ports (--target list, so no address:port runs out of
#             client ports), keepalives: one ECHO_REQUEST per session every
#             KEEPALIVE seconds during the hold (--rate)
#
# Caveats: open files are capped at 20,000 per process (`ulimit -Hn`; no
# CAP_SYS_RESOURCE to raise it), hence the process counts above; the client
# and the backends share the 2 CPUs with the front, so ramp_s and cpu_s are
# this host's, and ratios of one run are what compare; HAProxy's check is a
# TCP connect, sstp-proxy's an SSTP HEAD probe (more work, so no advantage);
# sessions are idle, so kib/sess is the per-session floor.
#
# Environment: SESSIONS (50000), CONC (200), HOLD (20), KEEPALIVE (10),
# FRONTS ("sstp-proxy haproxy"; "sp-b" needs PROXY_B), PROXY
# (build/sstp-proxy), PROXY_B, WORKERS, LISTENS, BACKENDS (2), BE_PROCS,
# HAP_PROCS, CPROCS, TIMEOUT (60: per session, connect to ACK), BASE_PORT
# (25600), KEEP=1 keeps the work directory. Not part of `make test`.
set -u
cd "$(dirname "$0")/../.." || exit 1

SESSIONS=${SESSIONS:-50000}
CONC=${CONC:-200}
HOLD=${HOLD:-20}
KEEPALIVE=${KEEPALIVE:-10}
FRONTS=${FRONTS:-sstp-proxy haproxy}
PROXY=${PROXY:-build/sstp-proxy}
PROXY_B=${PROXY_B:-}
ceil() { echo $((($1 + $2 - 1) / $2)); }
WORKERS=${WORKERS:-$(ceil "$SESSIONS" 9000)}
LISTENS=${LISTENS:-$(ceil "$SESSIONS" 12000)}
BACKENDS=${BACKENDS:-2}
BE_PROCS=${BE_PROCS:-$(ceil "$(ceil "$SESSIONS" "$BACKENDS")" 9000)}
HAP_PROCS=${HAP_PROCS:-$(ceil "$SESSIONS" 9000)}
CPROCS=${CPROCS:-$(ceil "$SESSIONS" 15000)}
TIMEOUT=${TIMEOUT:-60}
BASE_PORT=${BASE_PORT:-25600}
BENCH=build/sstp-bench
HAPROXY=$(command -v haproxy || echo /usr/sbin/haproxy)

die() { echo "proxy_ramp: $*" >&2; exit 1; }
make -j2 "$BENCH" >/dev/null || die "cannot build $BENCH"
[ -x "$HAPROXY" ] || die "haproxy not installed (scripts/deps.sh)"
[ "$CPROCS" -le "$SESSIONS" ] || CPROCS=$SESSIONS
PER_CONC=$(ceil "$CONC" "$CPROCS")

echo "# command: SESSIONS=$SESSIONS CONC=$CONC HOLD=$HOLD KEEPALIVE=$KEEPALIVE FRONTS=\"$FRONTS\"" \
    "WORKERS=$WORKERS LISTENS=$LISTENS BACKENDS=$BACKENDS BE_PROCS=$BE_PROCS HAP_PROCS=$HAP_PROCS" \
    "CPROCS=$CPROCS${PROXY_B:+ PROXY_B=$PROXY_B} tests/bench/proxy_ramp.sh"
echo "# host: $(nproc) CPUs, open files hard limit $(ulimit -Hn), load average $(cut -d' ' -f1-3 /proc/loadavg)," \
    "$(uptime -p 2>/dev/null)"
echo "# caveats: client, backends and front share the CPUs (ratios of one run compare, not absolutes);" \
    "HAProxy checks by TCP connect, sstp-proxy by an SSTP HEAD probe; idle sessions only"
echo "# $("$HAPROXY" -v 2>/dev/null | head -1)"

. tests/bench/lib.sh
GRACE=0.5
bench_work ramp

scripts/mkcerts.sh "$work/certs" >/dev/null || die "mkcerts failed"
CRT=$work/certs/server.crt KEY=$work/certs/server.key
cat "$CRT" "$KEY" >"$work/certs/server.pem"

next_port=$BASE_PORT
start() { # LOG CMD...: background, pid in REPLY and PIDS
    local log=$1; shift
    "$@" >"$log" 2>&1 &
    REPLY=$!
    PIDS+=("$REPLY")
}
stop_pids() { # pid...: TERM, then KILL after 10 s
    local p i
    for p in "$@"; do kill "$p" 2>/dev/null; done
    for p in "$@"; do
        for ((i = 0; i < 200; i++)); do kill -0 "$p" 2>/dev/null || break; sleep 0.05; done
        kill -9 "$p" 2>/dev/null
        wait "$p" 2>/dev/null
    done
    return 0
}
tree() { # PID...: the processes and their children
    local p
    for p in "$@"; do echo "$p"; pgrep -P "$p"; done
}
cpu_ticks() { # PID...: utime + stime of the processes and their children
    local total=0 c t
    for c in $(tree "$@"); do
        t=$(awk '{sub(/^.*\) /, ""); print $12 + $13}' "/proc/$c/stat" 2>/dev/null)
        total=$((total + ${t:-0}))
    done
    echo "$total"
}
now() { date +%s.%N; }

# ---- backends: shared by every front ----------------------------------------
BE_PORT=()
for ((b = 0; b < BACKENDS; b++)); do
    alloc_port; BE_PORT+=("$REPLY")
    start "$work/be$b.log" "$BENCH" --serve "127.0.0.1:$REPLY" --plain --proxy-in --cert "$CRT" -j "$BE_PROCS"
done
for p in "${BE_PORT[@]}"; do wait_port "$p" || die "backend on $p not listening"; done

sp_cfg() { # FILE ADMIN_PORT PORT...
    local f=$1 admin=$2 p b; shift 2
    {
        echo "[proxy]"; echo "id = ramp"; echo "log_level = warn"; echo "workers = $WORKERS"
        echo "[listen]"
        for p in "$@"; do echo "bind = 127.0.0.1:$p"; done
        echo "backlog = 4096"; echo "handshake_timeout = 60s"; echo "request_timeout = 60s"
        echo "[limits]"; echo "per_source_conns = 0"
        echo "[tls]"; echo "cert = $CRT $KEY"
        echo "[backends]"
        for ((b = 0; b < BACKENDS; b++)); do echo "server = be$b 127.0.0.1:${BE_PORT[$b]}"; done
        echo "[session]"; echo "idle_timeout = 10m"
        echo "[health]"; echo "probe = sstp"; echo "interval = 500ms"; echo "timeout = 1s"
        echo "fall = 2"; echo "rise = 2"
        echo "[admin]"; echo "address = 127.0.0.1:$admin"
    } >"$f"
}
hap_cfg() { # FILE PORT...
    local f=$1 p b; shift
    {
        echo "global"
        echo "    nbthread 1"
        echo "    maxconn $(( $(ceil "$SESSIONS" "$HAP_PROCS") + 1000 ))"
        # the TLS 1.3 suite sstp-proxy negotiates (AES-128-GCM) first, as in proxy_vs_haproxy.sh
        echo "    ssl-default-bind-ciphersuites TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256"
        echo "    ssl-default-bind-options ssl-min-ver TLSv1.2"
        echo "defaults"
        echo "    mode tcp"
        echo "    timeout connect 5s"
        echo "    timeout client 10m"
        echo "    timeout server 10m"
        echo "    timeout check 1s"
        echo "frontend sstp"
        for p in "$@"; do echo "    bind 127.0.0.1:$p ssl crt $work/certs/server.pem"; done
        echo "    default_backend sstp_backends"
        echo "backend sstp_backends"
        echo "    balance leastconn"
        for ((b = 0; b < BACKENDS; b++)); do
            echo "    server be$b 127.0.0.1:${BE_PORT[$b]} send-proxy-v2 check inter 500 fall 2 rise 2"
        done
    } >"$f"
}

metric() { # ADMIN_PORT NAME_AND_LABELS
    curl -s --max-time 5 "http://127.0.0.1:$1/metrics" | awk -v k="$2" '$1 == k {print $2}'
}

# run_front NAME: starts the front, ramps and holds, prints its line, stops it
run_front() {
    local name=$1 bin pids=() ports=() p i admin= log
    log=$work/$name.log
    for ((i = 0; i < LISTENS; i++)); do alloc_port; ports+=("$REPLY"); done
    case $name in
    sstp-proxy|sp-b)
        bin=$PROXY; [ "$name" = sp-b ] && bin=$PROXY_B
        [ -x "$bin" ] || { echo "$name: $bin is not built: skipped"; return; }
        alloc_port; admin=$REPLY
        sp_cfg "$work/$name.conf" "$admin" "${ports[@]}"
        start "$log" "$bin" -c "$work/$name.conf"; pids=("$REPLY")
        ;;
    haproxy)
        hap_cfg "$work/haproxy.cfg" "${ports[@]}"
        for ((i = 0; i < HAP_PROCS; i++)); do
            start "$work/haproxy$i.log" "$HAPROXY" -db -f "$work/haproxy.cfg"; pids+=("$REPLY")
        done
        ;;
    *) echo "$name: unknown front (sstp-proxy, sp-b, haproxy): skipped"; return ;;
    esac
    for p in "${ports[@]}"; do wait_port "$p" || die "$name not listening on $p: $(tail -3 "$log")"; done
    sleep 2 # the health checks pass once before the ramp
    local targets load0 rss0 cpu0 t0 t1 rss1 out cpu1 load1 hz
    targets=$(printf '127.0.0.1:%s,' "${ports[@]}"); targets=${targets%,}
    load0=$(cut -d' ' -f1 /proc/loadavg)
    rss0=$(tree_rss_kib "${pids[@]}")
    cpu0=$(cpu_ticks "${pids[@]}")
    t0=$(now)
    local rate clpid
    rate=$(awk -v n="$SESSIONS" -v k="$KEEPALIVE" 'BEGIN {r = n / k; print (r < 1 ? 1 : r)}')
    "$BENCH" --mode idle -t "$targets" --insecure -n "$SESSIONS" -c "$PER_CONC" -j "$CPROCS" \
        -d "$HOLD" --timeout "$TIMEOUT" --rate "$rate" >"$work/$name.client" 2>&1 &
    clpid=$!
    t1=
    while kill -0 "$clpid" 2>/dev/null; do
        if [ -z "$t1" ] && grep -q '^ready' "$work/$name.client"; then
            t1=$(now); rss1=$(tree_rss_kib "${pids[@]}")
        fi
        sleep 0.1
    done
    wait "$clpid"
    out=$(cat "$work/$name.client")
    [ -n "$t1" ] || { t1=$(now); rss1=$(tree_rss_kib "${pids[@]}"); }
    cpu1=$(cpu_ticks "${pids[@]}")
    load1=$(cut -d' ' -f1 /proc/loadavg)
    hz=$(getconf CLK_TCK)
    local res up failed still down stretched="-"
    res=$(grep '^bench ' <<<"$out" | tail -1)
    [ -n "$res" ] || { echo "$name: no result from the client:"; tail -5 <<<"$out"; }
    up=$(kv "$res" up); failed=$(kv "$res" failed); still=$(kv "$res" still_up)
    if [ -n "$admin" ]; then
        stretched=$(metric "$admin" 'sstp_proxy_health_checks_total{result="stretched"}')
        stretched=${stretched:-0}
        down=$(grep -cE "ev=(health_down|backend_down) " "$log")
    else
        down=$(cat "$work"/haproxy*.log | grep -c " is DOWN")
    fi
    printf '%-10s established=%s failed=%s dropped=%s ramp_s=%s kib/sess=%s cpu_s=%s be_down=%s stretched=%s load=%s->%s\n' \
        "$name" "${up:-?}" "${failed:-?}" "$(( ${up:-0} - ${still:-0} ))" \
        "$(awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.1f", b - a}')" \
        "$(awk -v a="$rss0" -v b="$rss1" -v n="${up:-0}" 'BEGIN {if (n > 0) printf "%.1f", (b - a) / n; else print "-"}')" \
        "$(awk -v a="$cpu0" -v b="$cpu1" -v hz="$hz" 'BEGIN {printf "%.1f", (b - a) / hz}')" \
        "$down" "$stretched" "$load0" "$load1"
    grep -E '^# idle|err_' <<<"$res" | sed -n 's/.*\(errors=[0-9]*.*\)/           client: \1/p'
    if [ -n "$admin" ]; then
        grep -E "ev=(health_down|backend_down) " "$log" | head -3 | sed 's/^/           /'
    else
        cat "$work"/haproxy*.log | grep " is DOWN" | head -3 | sed 's/^/           /'
    fi
    stop_pids "${pids[@]}"
    sleep 3 # the sockets of this front leave the backends before the next
}

for f in $FRONTS; do
    run_front "$f"
done
echo "# load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
