#!/bin/bash
# proxy_vs_haproxy.sh — sstp-proxy against HAProxy (and a direct TLS target),
# measured by sstp-bench in ONE run, so machine noise hits every column alike.
#
# Columns (all on this host, over loopback, same ECDSA certificate):
#   direct      sstp-bench --serve terminating TLS itself: the reference ceiling
#   haproxy     HAProxy (mode tcp, bind ... ssl crt, server ... send-proxy-v2)
#               -> sstp-bench --serve --plain --proxy-in
#   sstp-proxy  build/sstp-proxy -> sstp-bench --serve --plain --proxy-in
#               (skipped, with the reason, when not built or its config is refused)
#   sp-b        optional: a second sstp-proxy build (PROXY_B), set up the same way
# Rows: handshakes/s (TCP + full TLS + HTTP + CALL_CONNECT_REQUEST/ACK, no
# resumption) with the ECDSA P-256 certificate and (mode rsa) with an
# RSA-2048 one, each front listening a second time with it; bulk Gbit/s
# (echoed data packets, both directions); echo RTT p50 (ECHO_REQUEST/
# RESPONSE, one session back to back); paced echo RTT p50/p99 (PACED_N
# sessions sending PACED_RATE requests/s in all, spread evenly: the traffic
# users send, where each packet costs wake-ups); RSS per idle session
# (IDLE_N connected sessions, RSS of the relay — or of the direct target —
# minus its RSS before, divided by the sessions up). Each round line ends
# with the 1-minute load average (/proc/loadavg) when it was measured.
#
# Targets from the issue (sstp-proxy vs HAProxy, same run):
#   handshakes/s >= 1.1x (RSA-2048 >= 1.05x), bulk Gbit/s >= 1.3x,
#   echo p50 <= 0.8x (paced), RSS per idle session <= 0.5x.
#
# The load client shares the CPUs with the targets, so absolute figures are
# this host's; compare columns of one run. Each round runs every column once,
# back to back, in an order that rotates from round to round (so no column
# always runs first, after a pause, or last); a cell is the median over the
# rounds. The sp/hap column is the median of the per-round ratios (each
# ratio from runs seconds apart, which cancels most of the drift of a shared
# machine); "range" gives the lowest and highest per-round ratio.
#
# Open files: the hard limit here is 20,000 per process and cannot be raised
# without CAP_SYS_RESOURCE. A relayed session holds two, so one HAProxy 2.6
# process (no multi-process mode since 2.5) tops out near 9,990 sessions;
# for the idle row the script runs two HAProxy processes sharing the port
# (SO_REUSEPORT), and the targets and the load client run PROCS processes.
#
# Environment: DUR (seconds per run, 5), ROUNDS (5), WARMUP (1), MODES (which
# rows: "handshake rsa bulk echo paced idle"), IDLE_N (10000), IDLE_HOLD (5),
# HS_CONC (64), BULK_N (8), ECHO_N (1), PACED_N (16), PACED_RATE (2000,
# requests/s over all paced sessions), PROCS (2), BASE_PORT (24600), PROXY,
# PROXY_B (a second sstp-proxy binary: adds a column "sp-b", for A/B runs of
# two builds), PRIO (a nice value, e.g. -5: weight of this run's scheduling
# group against other work on the host — Linux autogroup, needs root; the
# host's other load otherwise takes its share of the CPUs in the middle of
# a run), KEEP=1 keeps the work directory. Not part of `make test`.
#
#   tests/bench/proxy_vs_haproxy.sh
#   MODES=bulk ROUNDS=9 PROXY_B=/tmp/old/sstp-proxy tests/bench/proxy_vs_haproxy.sh
#   MODES="handshake rsa paced" HS_CONC=32 tests/bench/proxy_vs_haproxy.sh
set -u
cd "$(dirname "$0")/../.." || exit 1

DUR=${DUR:-5}
ROUNDS=${ROUNDS:-5}
WARMUP=${WARMUP:-1}
MODES=${MODES:-handshake rsa bulk echo paced idle}
IDLE_N=${IDLE_N:-10000}
IDLE_HOLD=${IDLE_HOLD:-5}
HS_CONC=${HS_CONC:-64}
BULK_N=${BULK_N:-8}
ECHO_N=${ECHO_N:-1}
PACED_N=${PACED_N:-16}
PACED_RATE=${PACED_RATE:-2000}
PROCS=${PROCS:-2}
BASE_PORT=${BASE_PORT:-24600}
BENCH=build/sstp-bench
PROXY=${PROXY:-build/sstp-proxy}   # overridable to test the column with a stand-in
PROXY_B=${PROXY_B:-}
PRIO=${PRIO:-}
HAPROXY=$(command -v haproxy || echo /usr/sbin/haproxy)

die() { echo "proxy_vs_haproxy: $*" >&2; exit 1; }

make -j2 "$BENCH" >/dev/null || die "cannot build $BENCH"
[ -x "$HAPROXY" ] || die "haproxy not installed (scripts/deps.sh)"

. tests/bench/lib.sh
PRIO_OLD=
bench_undo() { [ -n "$PRIO_OLD" ] && echo "$PRIO_OLD" >/proc/self/autogroup 2>/dev/null; }
bench_work bench

scripts/mkcerts.sh "$work/certs" >/dev/null || die "mkcerts failed"
CRT=$work/certs/server.crt KEY=$work/certs/server.key CA=$work/certs/ca.crt
RSA_CRT=$work/certs/server-rsa.crt RSA_KEY=$work/certs/server-rsa.key
cat "$CRT" "$KEY" > "$work/certs/server.pem"
cat "$RSA_CRT" "$RSA_KEY" > "$work/certs/server-rsa.pem"
SNI=vpn.example.test

next_port=$BASE_PORT

# start NAME LOG CMD... : runs CMD in the background, records its pid in
# PID_<NAME> and in PIDS (for cleanup)
start() {
    local name=$1 log=$2; shift 2
    "$@" >"$log" 2>&1 &
    local pid=$!
    PIDS+=("$pid")
    printf -v "PID_$name" '%s' "$pid"
}



# ---- targets -------------------------------------------------------------

HAP_PORT=; HAP_BE_PORT=; DIRECT_PORT=; SP_PORT=; SP_BE_PORT=; SPB_PORT=; SPB_BE_PORT=
# the same fronts, listening a second time with the RSA-2048 certificate
alloc_port; DIRECT_RSA_PORT=$REPLY
alloc_port; HAP_RSA_PORT=$REPLY
alloc_port; SP_RSA_PORT=$REPLY
alloc_port; SPB_RSA_PORT=$REPLY
alloc_port; DIRECT_PORT=$REPLY
alloc_port; HAP_PORT=$REPLY
alloc_port; HAP_BE_PORT=$REPLY
alloc_port; SP_PORT=$REPLY
alloc_port; SP_BE_PORT=$REPLY
alloc_port; SPB_PORT=$REPLY
alloc_port; SPB_BE_PORT=$REPLY

hap_cfg() { # FILE NBTHREAD MAXCONN
    {
        haproxy_head "$2" "$3" 5s
        cat <<EOC
frontend sstp
    bind 127.0.0.1:$HAP_PORT ssl crt $work/certs/server.pem
    default_backend sstp_backends
frontend sstp_rsa
    bind 127.0.0.1:$HAP_RSA_PORT ssl crt $work/certs/server-rsa.pem
    default_backend sstp_backends
backend sstp_backends
    server be1 127.0.0.1:$HAP_BE_PORT send-proxy-v2
EOC
    } >"$1"
}

# sstp-proxy's INI format (proxy/config.c, `sstp-proxy --help`); per_source_conns = 0:
# every client connection comes from 127.0.0.1, and the default (256 per
# worker) would cap the idle row at 512 sessions
sp_cfg() { # FILE PORT BACKEND_PORT [CERT KEY]
    cat >"$1" <<EOC
[proxy]
id = bench
log_level = warn
workers = $PROCS
[listen]
bind = 127.0.0.1:$2
backlog = 4096
[tls]
cert = ${4:-$CRT} ${5:-$KEY}
[backends]
server = be1 127.0.0.1:$3
[limits]
per_source_conns = 0
[session]
idle_timeout = 10m
[admin]
address =
EOC
}

# check_proxy BINARY CONF: prints why the column must be skipped, or nothing
check_proxy() {
    if [ ! -x "$1" ]; then
        echo "$1 is not built yet"
    elif ! out=$("$1" --check-config -c "$2" 2>&1); then
        echo "$1 refused the generated config: $(head -1 <<<"$out")"
    fi
}
sp_cfg "$work/sstp-proxy.conf" "$SP_PORT" "$SP_BE_PORT"
sp_cfg "$work/sstp-proxy-rsa.conf" "$SP_RSA_PORT" "$SP_BE_PORT" "$RSA_CRT" "$RSA_KEY"
SP_SKIP=$(check_proxy "$PROXY" "$work/sstp-proxy.conf")
SPB_SKIP="no PROXY_B given"
if [ -n "$PROXY_B" ]; then
    sp_cfg "$work/sstp-proxy-b.conf" "$SPB_PORT" "$SPB_BE_PORT"
    sp_cfg "$work/sstp-proxy-b-rsa.conf" "$SPB_RSA_PORT" "$SPB_BE_PORT" "$RSA_CRT" "$RSA_KEY"
    SPB_SKIP=$(check_proxy "$PROXY_B" "$work/sstp-proxy-b.conf")
fi
COLS=(direct haproxy)
[ -z "$SP_SKIP" ] && COLS+=(sstp-proxy)
[ -z "$SPB_SKIP" ] && COLS+=(sp-b)

if [ -n "$PRIO" ]; then
    PRIO_OLD=$(sed -n 's/.*nice \(-*[0-9]*\).*/\1/p' /proc/self/autogroup 2>/dev/null)
    echo "$PRIO" >/proc/self/autogroup 2>/dev/null || { PRIO_OLD=; echo "PRIO: cannot set the autogroup nice (not root?)" >&2; }
fi

# start_proxy NAME BINARY CONF BACKEND_PORT: a plain target and a proxy before it
# (and, for mode rsa, a second proxy with CONF's -rsa twin in front of the same target)
start_proxy() {
    start "$1_be" "$work/$1_be.log" "$BENCH" --serve "127.0.0.1:$4" --plain --proxy-in \
        --cert "$CRT" -j "$PROCS"
    start "$1" "$work/$1.log" "$2" -c "$3"
    has_mode rsa && start "$1_rsa" "$work/$1_rsa.log" "$2" -c "${3%.conf}-rsa.conf"
}

# start_targets HAP_PROCS HAP_THREADS HAP_MAXCONN
start_targets() {
    start direct "$work/direct.log" "$BENCH" --serve "127.0.0.1:$DIRECT_PORT" --cert "$CRT" \
        --key "$KEY" -j "$PROCS"
    has_mode rsa && start direct_rsa "$work/direct_rsa.log" "$BENCH" --serve "127.0.0.1:$DIRECT_RSA_PORT" \
        --cert "$RSA_CRT" --key "$RSA_KEY" -j "$PROCS"
    start hap_be "$work/hap_be.log" "$BENCH" --serve "127.0.0.1:$HAP_BE_PORT" --plain --proxy-in \
        --cert "$CRT" -j "$PROCS"
    hap_cfg "$work/haproxy.cfg" "$2" "$3"
    HAP_PIDS=()
    local i
    for ((i = 0; i < $1; i++)); do
        start "hap$i" "$work/haproxy$i.log" "$HAPROXY" -db -f "$work/haproxy.cfg"
        eval "HAP_PIDS+=(\$PID_hap$i)"
    done
    wait_port "$DIRECT_PORT" || die "direct target not listening on $DIRECT_PORT: $(tail -2 "$work/direct.log")"
    if has_mode rsa; then
        wait_port "$DIRECT_RSA_PORT" || die "direct target (RSA) not listening on $DIRECT_RSA_PORT: $(tail -2 "$work/direct_rsa.log")"
    fi
    wait_port "$HAP_BE_PORT" || die "plain target not listening on $HAP_BE_PORT: $(tail -2 "$work/hap_be.log")"
    wait_port "$HAP_PORT" || die "haproxy not listening on $HAP_PORT: $(tail -2 "$work/haproxy0.log")"
    if [ -z "$SP_SKIP" ]; then
        start_proxy sp "$PROXY" "$work/sstp-proxy.conf" "$SP_BE_PORT"
        wait_port "$SP_BE_PORT" || die "plain target not listening on $SP_BE_PORT: $(tail -2 "$work/sp_be.log")"
        wait_port "$SP_PORT" || die "sstp-proxy not listening on $SP_PORT: $(tail -3 "$work/sp.log")"
        if has_mode rsa; then
            wait_port "$SP_RSA_PORT" || die "sstp-proxy (RSA) not listening on $SP_RSA_PORT: $(tail -3 "$work/sp_rsa.log")"
        fi
    fi
    if [ -z "$SPB_SKIP" ]; then
        start_proxy spb "$PROXY_B" "$work/sstp-proxy-b.conf" "$SPB_BE_PORT"
        wait_port "$SPB_BE_PORT" || die "plain target not listening on $SPB_BE_PORT: $(tail -2 "$work/spb_be.log")"
        wait_port "$SPB_PORT" || die "$PROXY_B not listening on $SPB_PORT: $(tail -3 "$work/spb.log")"
        if has_mode rsa; then
            wait_port "$SPB_RSA_PORT" || die "$PROXY_B (RSA) not listening on $SPB_RSA_PORT: $(tail -3 "$work/spb_rsa.log")"
        fi
    fi
    sleep 0.3
}

stop_targets() {
    local p
    for p in "${HAP_PIDS[@]}"; do stop_pid "$p"; done
    stop_pid "$PID_direct"; stop_pid "$PID_hap_be"; stop_pid "$PID_direct_rsa"
    if [ -z "$SP_SKIP" ]; then stop_pid "$PID_sp"; stop_pid "$PID_sp_be"; stop_pid "$PID_sp_rsa"; fi
    if [ -z "$SPB_SKIP" ]; then stop_pid "$PID_spb"; stop_pid "$PID_spb_be"; stop_pid "$PID_spb_rsa"; fi
    PID_direct="" PID_hap_be="" PID_sp="" PID_sp_be="" PID_spb="" PID_spb_be="" HAP_PIDS=()
    PID_direct_rsa="" PID_sp_rsa="" PID_spb_rsa=""
}

PID_direct_rsa="" PID_sp_rsa="" PID_spb_rsa=""

# front_port COL [rsa]: where COL listens with the ECDSA (or the RSA) certificate
front_port() {
    case $1/${2:-} in
        direct/) echo "$DIRECT_PORT" ;; haproxy/) echo "$HAP_PORT" ;;
        sstp-proxy/) echo "$SP_PORT" ;; sp-b/) echo "$SPB_PORT" ;;
        direct/rsa) echo "$DIRECT_RSA_PORT" ;; haproxy/rsa) echo "$HAP_RSA_PORT" ;;
        sstp-proxy/rsa) echo "$SP_RSA_PORT" ;; sp-b/rsa) echo "$SPB_RSA_PORT" ;;
    esac
}


# bench COL ARGS... : one client run against a column; prints its bench line.
# BENCH_KEY=rsa: the column's RSA-2048 front.
bench() {
    local col=$1; shift
    local port; port=$(front_port "$col" "${BENCH_KEY:-}")
    local out
    out=$(timeout -k 5 $((DUR * 4 + 300)) "$BENCH" -t "127.0.0.1:$port" --ca "$CA" --sni "$SNI" "$@" 2>>"$work/client.err")
    grep '^bench ' <<<"$out" | tail -1
}

declare -A VAL   # VAL[row/col] = space-separated values of the rounds
TLS_SEEN=()      # negotiated TLS per column (handshake row)
has_mode() { [[ " $MODES " == *" $1 "* ]]; }

# rotated N: the columns in the order of round N (round 1: as listed)
rotated() {
    local n=${#COLS[@]} i
    for ((i = 0; i < n; i++)); do echo "${COLS[$(((i + $1 - 1) % n))]}"; done
}

# ratio_rounds ROW A B: per round, A's value over B's (rounds where both ran)
ratio_rounds() {
    local a b
    read -ra a <<<"${VAL[$1/$2]:-}"; read -ra b <<<"${VAL[$1/$3]:-}"
    local i
    for ((i = 0; i < ${#a[@]} && i < ${#b[@]}; i++)); do
        awk -v x="${a[$i]}" -v y="${b[$i]}" 'BEGIN { if (x != "" && y + 0 > 0) printf "%.3f\n", x / y }'
    done
}

echo "sstp-bench comparison: DUR=${DUR}s ROUNDS=$ROUNDS PROCS=$PROCS HS_CONC=$HS_CONC BULK_N=$BULK_N ECHO_N=$ECHO_N PACED_N=$PACED_N PACED_RATE=$PACED_RATE IDLE_N=$IDLE_N MODES=\"$MODES\"${PRIO:+ PRIO=$PRIO}"
echo "host: $(nproc) CPUs, uptime:$(uptime | sed 's/.*up/ up/')"
echo "haproxy: $("$HAPROXY" -v | head -1)"
[ -n "$SP_SKIP" ] && echo "sstp-proxy column skipped: $SP_SKIP"
[ -n "$PROXY_B" ] && echo "sp-b: $PROXY_B${SPB_SKIP:+ (skipped: $SPB_SKIP)}"

# ---- handshake, bulk, echo: one set of targets, columns interleaved -------------

if has_mode handshake || has_mode rsa || has_mode bulk || has_mode echo || has_mode paced; then
    start_targets 1 "$PROCS" 9000
    TLS_SEEN=()
    for ((r = 1; r <= ROUNDS; r++)); do
        mapfile -t order < <(rotated "$r")
        if has_mode handshake; then
            for col in "${order[@]}"; do
                line=$(bench "$col" -m handshake -c "$HS_CONC" -j "$PROCS" -d "$DUR" -w "$WARMUP")
                echo "round $r $col: $line load=$(load1)"
                add hs "$col" "$(kv "$line" hs_per_s)"
                add hs_p50 "$col" "$(kv "$line" lat_p50_us)"
                add hs_err "$col" "$(kv "$line" errors)"
                TLS_SEEN+=("$col=$(kv "$line" tls)/$(kv "$line" cipher)")
            done
        fi
        if has_mode rsa; then
            for col in "${order[@]}"; do
                line=$(BENCH_KEY=rsa bench "$col" -m handshake -c "$HS_CONC" -j "$PROCS" -d "$DUR" -w "$WARMUP")
                echo "round $r $col rsa: $line load=$(load1)"
                add hs_rsa "$col" "$(kv "$line" hs_per_s)"
                add hs_rsa_p50 "$col" "$(kv "$line" lat_p50_us)"
                add hs_err "$col" "$(kv "$line" errors)"
            done
        fi
        if has_mode bulk; then
            for col in "${order[@]}"; do
                line=$(bench "$col" -m bulk -n "$BULK_N" -j "$PROCS" -d "$DUR" -w "$WARMUP")
                echo "round $r $col: $line load=$(load1)"
                add tx "$col" "$(kv "$line" tx_gbps)"
                add rx "$col" "$(kv "$line" rx_gbps)"
                add bulk_err "$col" "$(kv "$line" errors)"
            done
        fi
        if has_mode echo; then
            for col in "${order[@]}"; do
                line=$(bench "$col" -m echo -n "$ECHO_N" -d "$DUR" -w "$WARMUP")
                echo "round $r $col: $line load=$(load1)"
                add echo "$col" "$(kv "$line" echo_p50_us)"
                add echo99 "$col" "$(kv "$line" echo_p99_us)"
            done
        fi
        if has_mode paced; then
            for col in "${order[@]}"; do
                line=$(bench "$col" -m echo -n "$PACED_N" -j "$PROCS" --rate "$PACED_RATE" -d "$DUR" -w "$WARMUP")
                echo "round $r $col paced: $line load=$(load1)"
                add paced "$col" "$(kv "$line" echo_p50_us)"
                add paced99 "$col" "$(kv "$line" echo_p99_us)"
                add paced_rate "$col" "$(kv "$line" echo_per_s)"
            done
        fi
    done
    stop_targets
fi

# ---- idle: fresh targets, one column at a time ------------------------------------

if has_mode idle; then
    # Two HAProxy processes on one port (SO_REUSEPORT), each able to hold 9,000:
    # one alone cannot hold 10,000 relayed sessions under a 20,000-file limit.
    start_targets "$PROCS" 1 9000
    for col in "${COLS[@]}"; do
        case $col in
            direct) measured=("$PID_direct"); backend=() ;;
            haproxy) measured=("${HAP_PIDS[@]}"); backend=("$PID_hap_be") ;;
            sstp-proxy) measured=("$PID_sp"); backend=("$PID_sp_be") ;;
            sp-b) measured=("$PID_spb"); backend=("$PID_spb_be") ;;
        esac
        # warm up lazily initialised state (OpenSSL, pools) before the baseline
        bench "$col" -m handshake -c 4 -d 1 -w 0 >/dev/null
        sleep 1
        base=$(tree_rss_kib "${measured[@]}")
        base_be=$( [ ${#backend[@]} -gt 0 ] && tree_rss_kib "${backend[@]}" || echo 0)
        port=$(front_port "$col")
        log=$work/idle_$col.out
        timeout -k 5 900 "$BENCH" -m idle -t "127.0.0.1:$port" --ca "$CA" --sni "$SNI" -n "$IDLE_N" \
            -j "$PROCS" -c 200 -d "$IDLE_HOLD" --timeout 60 >"$log" 2>>"$work/client.err" &
        cpid=$!
        PIDS+=("$cpid")
        wait_ready "$log" "$cpid"
        sleep 1
        after=$(tree_rss_kib "${measured[@]}")
        after_be=$( [ ${#backend[@]} -gt 0 ] && tree_rss_kib "${backend[@]}" || echo 0)
        wait "$cpid"
        line=$(grep '^bench ' "$log" | tail -1)
        echo "idle $col: $line rss_before_kib=$base rss_after_kib=$after"
        up=$(kv "$line" up)
        up=${up:-0}
        if [ "$up" -gt 0 ]; then
            add rss "$col" "$(awk -v a="$after" -v b="$base" -v n="$up" 'BEGIN {printf "%.2f", (a - b) / n}')"
            [ ${#backend[@]} -gt 0 ] &&
                add rss_be "$col" "$(awk -v a="$after_be" -v b="$base_be" -v n="$up" 'BEGIN {printf "%.2f", (a - b) / n}')"
        fi
        add idle_up "$col" "$up"
    done
    stop_targets
fi

# ---- table -----------------------------------------------------------------

verdict() { # value-ratio op limit
    awk -v r="$1" -v op="$2" -v l="$3" 'BEGIN {
        if (r == "" || r == "-") { print "-"; exit }
        sub(/x$/, "", r)
        ok = (op == ">=") ? (r + 0 >= l) : (r + 0 <= l)
        print ok ? "met" : "MISSED" }'
}
# paired KEY COL: median and range of COL's per-round ratios to haproxy
paired() {
    local rs; rs=$(ratio_rounds "$1" "$2" haproxy | tr '\n' ' ')
    local m; m=$(median "$rs")
    if [ -z "$m" ]; then echo "- -"; return; fi
    printf '%.2fx %s\n' "$m" "$(tr ' ' '\n' <<<"$rs" | grep -v '^$' | sort -g | sed -n '1p;$p' | tr '\n' '-' | sed 's/-$//')"
}

echo
[ ${#TLS_SEEN[@]} -gt 0 ] && echo "negotiated TLS: $(printf '%s\n' "${TLS_SEEN[@]}" | sort -u | tr '\n' ' ')"
SPB_HDR=; [ -z "$SPB_SKIP" ] && SPB_HDR=sp-b
printf '%-28s %9s %9s %10s %9s %8s %8s %9s %-11s %-8s %s\n' metric direct haproxy sstp-proxy "$SPB_HDR" \
    hap/dir sp/dir sp/hap range target result
row() { # key label [op limit]
    set -- "$1" "$2" "${3:-}" "${4:-}"
    local d h s b
    d=$(cell "$1" direct); h=$(cell "$1" haproxy); s=$(cell "$1" sstp-proxy); b=$(cell "$1" sp-b)
    [ -z "$d$h$s$b" ] && return
    local pr rs range
    read -r pr range <<<"$(paired "$1" sstp-proxy)"
    # one round (or idle): the plain ratio of the cells
    [ "$pr" = "-" ] && pr=$(ratio "$s" "$h")
    printf '%-28s %9s %9s %10s %9s %8s %8s %9s %-11s %-8s %s\n' "$2" "${d:--}" "${h:--}" "${s:--}" \
        "$( [ -z "$SPB_SKIP" ] && echo "${b:--}")" "$(ratio "$h" "$d")" "$(ratio "$s" "$d")" "$pr" "${range:--}" \
        "${3:+$3 $4x}" "$( [ -n "$3" ] && verdict "$pr" "$3" "$4")"
}
row hs "handshakes/s ECDSA P-256" ">=" 1.1
row hs_p50 "handshake p50 us"
row hs_rsa "handshakes/s RSA-2048" ">=" 1.05
row hs_rsa_p50 "  RSA handshake p50 us"
row tx "bulk Gbit/s sent"
row rx "bulk Gbit/s echoed" ">=" 1.3
row echo "echo RTT p50 us, back to back"
row echo99 "echo RTT p99 us, back to back"
row paced "paced echo RTT p50 us" "<=" 0.8
row paced99 "paced echo RTT p99 us"
row paced_rate "paced echoes/s done"
row rss "RSS KiB per idle session" "<=" 0.5
row rss_be "  plain target behind, KiB"
row idle_up "idle sessions up (of $IDLE_N)"
row hs_err "handshake run errors"
row bulk_err "bulk run errors"
if [ -z "$SPB_SKIP" ]; then
    echo
    echo "sp-b against sstp-proxy (median of per-round ratios, range):"
    for k in hs hs_rsa rx echo paced rss; do
        rs=$(ratio_rounds "$k" sp-b sstp-proxy | tr '\n' ' ')
        [ -n "${rs// /}" ] && printf '  %-6s %s  [%s]\n' "$k" "$(median "$rs")x" "$rs"
    done
fi
echo
echo "Cells: medians over the rounds. sp/hap: median of the per-round ratios (range: lowest-highest)."
echo "Paced echo: $PACED_N sessions, $PACED_RATE requests/s in all. Load at the end: $(cut -d' ' -f1-3 /proc/loadavg)."
if has_mode idle; then
    echo "RSS per idle session: the front process(es) only (direct: the TLS target; haproxy: both"
    echo "haproxy processes; sstp-proxy: master and workers), (RSS with the sessions - RSS before) / up."
fi
[ -n "$SP_SKIP" ] && echo "sstp-proxy column skipped: $SP_SKIP"
exit 0
