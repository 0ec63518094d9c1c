#!/bin/bash
# run_demo.sh — `make run`'s User-Mode Linux path (scripts/run.sh with
# SSTP_RUN_MODE=uml), as a person would run it, two cases side by side
# (one UML guest each):
#   run_demo_exit   SSTP_RUN_EXIT=1: exits 0 after the demo, and what it
#                   printed is real: the session's two tunnel addresses, the
#                   certificate hash both views agree on (and it is the
#                   server certificate's), 3 of 3 pings through the tunnel,
#                   a throughput figure, sstpctl listing the demo user
#                   connected with its address; cross-checked with the
#                   stack's own logs (backend ppp_up and binding_ok, sstpc
#                   "Connection Established", proxy worker_ready)
#   run_demo_ctrlc  the interactive mode: the live lines come, then SIGINT
#                   to its process group (Ctrl-C in a terminal) stops it
#                   within 45 s, status 0, "stopped."
# Both: no process left that runs from the work dir, the host's
# /etc/ppp/chap-secrets untouched. Before them, without a guest:
#   run_demo_modes  a bad SSTP_RUN_MODE, and SSTP_RUN_MODE=uml with
#                   SSTP_RUN_FOREGROUND=0, are refused (status 2, a reason)
#
#   tests/e2e/run_demo.sh
# Prints "PASS <case> (...)" or "FAIL <case>: <reason>" per case; exit 0
# iff all passed. Work dir: a fresh /tmp/sstplb-demo.XXXXXX, removed after
# a green run unless E2E_KEEP=1.
set -u
here=$(dirname "$(readlink -f "$0")")
repo=$(readlink -f "$here/../..")
CASES=(run_demo_modes run_demo_exit run_demo_ctrlc)

fail_all() {
    local c
    for c in "${CASES[@]}"; do echo "FAIL $c: $1"; done
    exit 1
}
for tool in linux.uml sstpc python3 setsid; do
    command -v "$tool" > /dev/null || fail_all "$tool not installed (scripts/deps.sh test)"
done
make -C "$repo" --no-print-directory -j2 all > /dev/null 2>&1 || fail_all "cannot build (run make)"

base=$(mktemp -d /tmp/sstplb-demo.XXXXXX) || fail_all "mktemp"
secrets_before=$(md5sum < /etc/ppp/chap-secrets 2> /dev/null)

# Processes whose command line or working directory is under DIR.
procs_under() {
    local p cmd cwd out=()
    for p in /proc/[0-9]*; do
        cmd=$(tr '\0' ' ' 2> /dev/null < "$p/cmdline")
        cwd=$(readlink "$p/cwd" 2> /dev/null)
        [[ $cmd == *"$1"* || $cwd == "$1"* ]] && [ "${p#/proc/}" != $$ ] && out+=("${p#/proc/}:${cmd:0:60}")
    done
    echo "${out[*]}"
}

# The demo in a session of its own (setsid), so its process group is what
# a terminal's Ctrl-C reaches, with SIGINT back to its default (bash starts
# background commands with it ignored, and an ignored signal cannot be
# trapped). Sets DEMO_PID, the group's leader.
start_demo() { # DIR EXIT(0|1)
    mkdir -p "$1"
    SSTP_RUN_MODE=uml SSTP_RUN_EXIT=$2 SSTP_RUN_DIR=$1 SSTP_RUN_BOOT_TIMEOUT=200 \
        setsid env --default-signal=INT "$repo/scripts/run.sh" > "$1/out" 2>&1 < /dev/null &
    DEMO_PID=$!
}

wait_exit() { # PID SECONDS: 0 once it has exited
    local _
    for _ in $(seq 1 $(($2 * 10))); do
        kill -0 "$1" 2> /dev/null || return 0
        sleep 0.1
    done
    return 1
}

# The printed demo, checked against the stack's own records.
check_printed() { # DIR -> WHY on failure
    local printed=$1/out w=$1/uml line hash want
    WHY=
    grep -q "^SESSION UP in [0-9.]* s: client 10.8.0.10 (ppp0, namespace cli) <-> server 10.8.0.1 (ppp0, namespace srv)" "$printed" ||
        { WHY="no 'SESSION UP ... client 10.8.0.10 <-> server 10.8.0.1' line"; return 1; }
    grep -q "ev=ppp_up .*local=10.8.0.1 remote=10.8.0.10" "$w/stack/sstp-backend.log" ||
        { WHY="printed a session, but sstp-backend logged no ppp_up 10.8.0.1 <-> 10.8.0.10"; return 1; }
    tr -d '\000' < "$w/sstpc.log" | grep -q "Connection Established" ||
        { WHY="printed a session, but sstpc never logged 'Connection Established'"; return 1; }
    want=$(openssl x509 -in "$w/stack/certs/server.crt" -outform DER | sha256sum)
    want=${want%% *}
    hash=$(sed -n 's/^certificate SHA-256 the client sees: *\([0-9a-f]*\)$/\1/p' "$printed")
    [ "$hash" = "$want" ] || { WHY="client's certificate hash '$hash', server.crt's is $want"; return 1; }
    hash=$(sed -n 's/^certificate SHA-256 the backend verified: *\([0-9a-f]*\)$/\1/p' "$printed")
    [ "$hash" = "$want" ] || { WHY="the backend's certificate hash '$hash', server.crt's is $want"; return 1; }
    grep -q "^sstp-backend: binding_ok .*user=sstp-demo cert_sha256=$want\$" "$printed" &&
        grep -q "ev=binding_ok .*user=sstp-demo cert_sha256=$want\$" "$w/stack/sstp-backend.log" ||
        { WHY="no binding_ok for sstp-demo with cert_sha256=$want (printed and in sstp-backend.log)"; return 1; }
    grep -q "^  3 packets transmitted, 3 received, 0% packet loss" "$printed" ||
        { WHY="ping: $(grep 'packets transmitted' "$printed" || echo 'no ping summary printed')"; return 1; }
    line=$(grep "^throughput client -> server: 8 MiB in [0-9.]* s = [0-9.]* Mbit/s" "$printed") ||
        { WHY="no throughput figure printed"; return 1; }
    awk -v l="$line" 'BEGIN { split(l, f, " = "); exit !(f[2] + 0 > 0) }' ||
        { WHY="throughput not positive: $line"; return 1; }
    grep -E "^  [0-9a-f]+ +sstp-demo +192\.0\.2\.2 +backend-1 +proxy-1 +10\.8\.0\.10 +connected " "$printed" > /dev/null ||
        { WHY="sstpctl sessions printed no 'sstp-demo 192.0.2.2 backend-1 proxy-1 10.8.0.10 connected' row"; return 1; }
    grep -q "^logs (on this host): $w/stack/" "$printed" || { WHY="no line saying where the logs are"; return 1; }
    [ -s "$w/stack/sstp-proxy.log" ] && [ -s "$w/stack/redis.log" ] ||
        { WHY="the logs it names are not there"; return 1; }
}

case_exit() {
    local d=$base/exit pid rc t0=$(date +%s) left
    start_demo "$d" 1
    pid=$DEMO_PID
    wait_exit "$pid" 240 || { kill -KILL -- "-$pid" 2> /dev/null; echo "FAIL run_demo_exit: still running after 240 s"; return 1; }
    wait "$pid"
    rc=$?
    [ $rc = 0 ] || { echo "FAIL run_demo_exit: exit status $rc: $(tail -n 3 "$d/out" | tr '\n' ' ')"; return 1; }
    check_printed "$d" || { echo "FAIL run_demo_exit: $WHY (output: $d/out)"; return 1; }
    grep -q "^run.sh: this kernel has no PPP\|^booting a User-Mode Linux guest" "$d/out" ||
        { echo "FAIL run_demo_exit: no line saying it runs in User-Mode Linux"; return 1; }
    sleep 1
    left=$(procs_under "$d")
    [ -z "$left" ] || { echo "FAIL run_demo_exit: processes left: $left"; return 1; }
    echo "PASS run_demo_exit ($(( $(date +%s) - t0 ))s; $(grep -o '= [0-9.]* Mbit/s' "$d/out"), $(grep -o 'SESSION UP in [0-9.]* s' "$d/out"))"
}

case_ctrlc() {
    local d=$base/ctrlc pid rc t0=$(date +%s) t1 left n
    start_demo "$d" 0
    pid=$DEMO_PID
    # the demo, then two live lines
    for _ in $(seq 1 2400); do
        n=$(grep -c "^  session up [0-9.]* s  ping [0-9.]* ms .* sessions in Redis: 1$" "$d/out" 2> /dev/null)
        [ "${n:-0}" -ge 2 ] && break
        kill -0 "$pid" 2> /dev/null || break
        sleep 0.1
    done
    if [ "${n:-0}" -lt 2 ]; then
        kill -KILL -- "-$pid" 2> /dev/null
        echo "FAIL run_demo_ctrlc: no two live lines with a ping and 1 session in Redis within 240 s: $(tail -n 3 "$d/out" | tr '\n' ' ')"
        return 1
    fi
    check_printed "$d" || { kill -INT -- "-$pid"; echo "FAIL run_demo_ctrlc: $WHY (output: $d/out)"; return 1; }
    t1=$(date +%s)
    kill -INT -- "-$pid"
    wait_exit "$pid" 45 || { kill -KILL -- "-$pid" 2> /dev/null; echo "FAIL run_demo_ctrlc: still running 45 s after SIGINT"; return 1; }
    wait "$pid"
    rc=$?
    [ $rc = 0 ] || { echo "FAIL run_demo_ctrlc: exit status $rc after SIGINT"; return 1; }
    grep -q "^stopped\.$" "$d/out" || { echo "FAIL run_demo_ctrlc: the guest did not say 'stopped.'"; return 1; }
    sleep 1
    left=$(procs_under "$d")
    [ -z "$left" ] || { echo "FAIL run_demo_ctrlc: processes left after SIGINT: $left"; return 1; }
    echo "PASS run_demo_ctrlc ($(( $(date +%s) - t0 ))s; stopped $(( $(date +%s) - t1 ))s after SIGINT, nothing left)"
}

# SSTP_RUN_MODE is checked, and the UML path has no start-and-return mode:
# both refused at once with a reason, nothing started.
case_modes() {
    local out rc
    out=$(SSTP_RUN_MODE=bogus SSTP_RUN_DIR=$base/modes "$repo/scripts/run.sh" 2>&1)
    rc=$?
    [ $rc = 2 ] && [[ $out == *"SSTP_RUN_MODE must be auto, host or uml, not 'bogus'"* ]] ||
        { echo "FAIL run_demo_modes: SSTP_RUN_MODE=bogus: status $rc, '$out'"; return 1; }
    out=$(SSTP_RUN_MODE=uml SSTP_RUN_FOREGROUND=0 SSTP_RUN_DIR=$base/modes "$repo/scripts/run.sh" 2>&1)
    rc=$?
    [ $rc = 2 ] && [[ $out == *"SSTP_RUN_FOREGROUND=0 needs the host's PPP"* ]] ||
        { echo "FAIL run_demo_modes: SSTP_RUN_MODE=uml SSTP_RUN_FOREGROUND=0: status $rc, '$out'"; return 1; }
    [ ! -e "$base/modes" ] || { echo "FAIL run_demo_modes: a refused run created $base/modes"; return 1; }
    echo "PASS run_demo_modes (bad SSTP_RUN_MODE and uml without foreground refused)"
}
case_modes > "$base/modes.result" 2>&1

case_exit > "$base/exit.result" 2>&1 &
p1=$!
case_ctrlc > "$base/ctrlc.result" 2>&1 &
p2=$!
wait $p1 $p2
cat "$base/modes.result" "$base/exit.result" "$base/ctrlc.result"
failed=$(grep -c '^FAIL' "$base/modes.result" "$base/exit.result" "$base/ctrlc.result" | awk -F: '{ n += $2 } END { print n + 0 }')
grep -q '^PASS\|^FAIL' "$base/exit.result" || { echo "FAIL run_demo_exit: no result"; failed=$((failed + 1)); }
grep -q '^PASS\|^FAIL' "$base/ctrlc.result" || { echo "FAIL run_demo_ctrlc: no result"; failed=$((failed + 1)); }
if [ "$(md5sum < /etc/ppp/chap-secrets 2> /dev/null)" != "$secrets_before" ]; then
    echo "FAIL run_demo_host_secrets: the host's /etc/ppp/chap-secrets changed"
    failed=$((failed + 1))
fi
if [ "$failed" = 0 ] && [ "${E2E_KEEP:-0}" != 1 ]; then
    rm -rf "$base"
else
    echo "run_demo: work dir $base"
fi
[ "$failed" = 0 ]
