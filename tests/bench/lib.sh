# lib.sh — plumbing the bench scripts and the shell integration tests
# share; sourced from the repo root.

# bench_work NAME: a fresh work directory in $work; the processes a script
# starts go in PIDS and are stopped when it exits (TERM, then KILL for
# those still there after GRACE seconds, default 0.3; a sanitizer build
# wants more); KEEP=1 keeps the directory. A script with more to undo
# defines bench_undo, which runs first.
bench_work() {
    work=$(mktemp -d "/tmp/sstp-$1.XXXXXX")
    PIDS=()
    trap bench_cleanup EXIT
    trap 'exit 130' INT TERM
}

bench_cleanup() {
    local p
    declare -F bench_undo >/dev/null && bench_undo
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
    local ticks left
    ticks=$(awk -v g="${GRACE:-0.3}" 'BEGIN { print int(g * 20) }')
    for ((; ticks > 0; ticks--)); do
        left=0
        for p in "${PIDS[@]}"; do kill -0 "$p" 2>/dev/null && left=1; done
        [ "$left" = 0 ] && break
        sleep 0.05
    done
    for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null; done
    [ "${KEEP:-0}" = 1 ] && echo "work directory kept: $work" || rm -rf "$work"
}

# free_port: a TCP port free on 127.0.0.1 when asked (the integration
# suites' netutil.free_port)
free_port() { python3 -c 'import sys; sys.path.insert(0, "tests/integration/lib"); import netutil; print(netutil.free_port())'; }

# check NAME STATUS DETAIL: a PASS line when STATUS is 0, else a FAIL line
# with DETAIL, and failed=1
check() { if [ "$2" = 0 ]; then echo "PASS $1"; else echo "FAIL $1: $3"; failed=1; fi; }

# port_free PORT: nothing listens on TCP PORT
port_free() { [ -z "$(ss -ltnH "sport = :$1" 2>/dev/null)" ]; }

# alloc_port: the next free port from $next_port (the script sets it to its
# BASE_PORT) in REPLY
alloc_port() {
    while ! port_free "$next_port"; do next_port=$((next_port + 1)); done
    REPLY=$next_port
    next_port=$((next_port + 1))
}

# wait_port PORT [SECONDS]: 0 once something listens on PORT (30 s at most)
wait_port() {
    local i
    for ((i = 0; i < ${2:-30} * 20; i++)); do
        port_free "$1" || return 0
        sleep 0.05
    done
    return 1
}

# stop_pid PID [SECONDS]: TERM, KILL after SECONDS (default 5), then reap
stop_pid() {
    local p=$1 i
    [ -n "$p" ] || return 0
    kill "$p" 2>/dev/null || return 0
    for ((i = 0; i < ${2:-5} * 20; i++)); do
        kill -0 "$p" 2>/dev/null || break
        sleep 0.05
    done
    kill -9 "$p" 2>/dev/null
    wait "$p" 2>/dev/null
    return 0
}

# tree_rss_kib PID...: VmRSS of the processes and their children, KiB
tree_rss_kib() {
    local total=0 p c kb
    for p in "$@"; do
        for c in "$p" $(pgrep -P "$p"); do
            kb=$(awk '/^VmRSS:/ {print $2}' "/proc/$c/status" 2>/dev/null)
            total=$((total + ${kb:-0}))
        done
    done
    echo "$total"
}

# kv LINE KEY: the value of KEY= in a "bench ..." line
kv() { sed -n "s/.* $2=\([^ ]*\).*/\1/p" <<<" $1"; }

# add KEY COL VALUE / cell KEY COL: the values of a cell over the rounds in
# the script's associative array VAL, and their median
add() { VAL[$1/$2]="${VAL[$1/$2]:-} $3"; }
cell() { median "${VAL[$1/$2]:-}"; }

# median "V V ...": the median of the numbers (the lower one of an even
# count), empty when there are none
median() { tr ' ' '\n' <<<"$1" | grep -v '^$' | sort -g | awk '{v[NR]=$1} END {if (NR) print v[int((NR+1)/2)]; else print ""}'; }

# ratio A B [DIGITS]: A/B as "1.23x" (DIGITS decimals, default 2); "-" when
# either is empty or B is 0
ratio() { awk -v a="$1" -v b="$2" -v f="%.${3:-2}fx" 'BEGIN { if (a == "" || b == "" || b + 0 == 0) print "-"; else printf f, a / b }'; }

# load1: the 1-minute load average
load1() { cut -d' ' -f1 /proc/loadavg; }

# wait_ready LOG PID: until sstp-bench's idle client says "ready" in LOG
# (its sessions are up) or PID is gone; at most 10 minutes.
wait_ready() {
    local i
    for ((i = 0; i < 6000; i++)); do
        grep -q '^ready' "$1" 2>/dev/null && return 0
        kill -0 "$2" 2>/dev/null || return 1
        sleep 0.1
    done
    return 1
}

# haproxy_head NBTHREAD MAXCONN CONNECT_TIMEOUT: the global and defaults
# sections the benchmarks give HAProxy (TCP mode, TLS 1.2 at least, AEAD
# ciphers only); the script adds its frontends and backends
haproxy_head() {
    cat <<EOC
global
    nbthread $1
    maxconn $2
    ssl-default-bind-ciphers ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305
    ssl-default-bind-ciphersuites TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256
    ssl-default-bind-options ssl-min-ver TLSv1.2
defaults
    mode tcp
    timeout connect $3
    timeout client 10m
    timeout server 10m
EOC
}
