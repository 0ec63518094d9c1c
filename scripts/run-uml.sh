#!/bin/bash
# run-uml.sh — `make run` where this kernel has no PPP: the same stack as
# scripts/run.sh, inside a User-Mode Linux guest (Debian's linux.uml ships
# the PPP modules), with a real sstpc connected to it. scripts/run.sh hands
# over to this file; scripts/run-uml.guest.sh is what runs in the guest.
#
# The guest is booted by tests/e2e/uml.sh, the harness the end-to-end tests
# use: its root is this host's filesystem, read-only, under a throw-away
# overlay, and only the work dir is written through. One harness serves
# both (it ships in every clone; a second copy under scripts/ would drift).
#
#   SSTP_RUN_DIR (./run)   the work dir is SSTP_RUN_DIR/uml (emptied first):
#                          demo.txt, guest.log, stack/*.log, sstpc.log
#   SSTP_RUN_EXIT=1        exit after the demo (status 0 iff it all worked)
#                          instead of staying up until Ctrl-C
#   SSTP_RUN_BOOT_TIMEOUT  seconds the demo may take, boot included (180)
set -u
cd "$(dirname "$0")/.." || exit 1
repo=$PWD
run=${SSTP_RUN_DIR:-$repo/run}
work=$run/uml
exit_after=${SSTP_RUN_EXIT:-0}
demo_timeout=${SSTP_RUN_BOOT_TIMEOUT:-180}
guest_mode=stay
[ "$exit_after" = 1 ] && guest_mode="exit"

if [ "${SSTP_RUN_FOREGROUND:-1}" != 1 ]; then
    echo "run-uml.sh: SSTP_RUN_FOREGROUND=0 needs the host's PPP (SSTP_RUN_MODE=host); here: SSTP_RUN_EXIT=1" >&2
    exit 2
fi
for tool in linux.uml sstpc python3 openssl; do
    command -v "$tool" > /dev/null ||
        { echo "run-uml.sh: $tool is missing: run scripts/deps.sh as root (make run does)" >&2; exit 1; }
done
for b in sstp-backend sstp-proxy sstpctl sstp-lb-pppd.so; do
    [ -e "build/$b" ] || { echo "run-uml.sh: build/$b is missing: run 'make' first" >&2; exit 1; }
done
[ "$(id -u)" = 0 ] || echo "run-uml.sh: not root: linux.uml may fail to set up the guest" >&2

mkdir -p "$run" && chmod 700 "$run" || exit 1
rm -rf "$work"
mkdir -p "$work/stack" || exit 1
work=$(cd "$work" && pwd -P)
# Certificates are made here: openssl is slow in the guest.
scripts/mkcerts.sh "$work/stack/certs" > /dev/null || exit 1
: > "$work/demo.txt"

# The whole demo is bounded; staying up afterwards is not (Ctrl-C ends it).
timeout_s=$demo_timeout
[ "$guest_mode" = stay ] && timeout_s=$((12 * 3600))
tests/e2e/uml.sh --timeout "$timeout_s" --mem 768M "$work" scripts/run-uml.guest.sh "$guest_mode" \
    > "$work/uml.out" 2>&1 &
uml_pid=$!
tail -n +1 -f "$work/demo.txt" &
tail_pid=$!

# uml.sh runs linux.uml under timeout(1), in a process group of its own:
# that group is every process of the guest on this host.
guest_group() {
    local p
    for p in $(pgrep -P "$uml_pid" -x timeout); do echo "$p"; done
}
stop_guest() {
    trap - INT TERM
    echo
    echo "run-uml.sh: stopping the guest ..."
    : > "$work/stop"
    local pg
    for _ in $(seq 1 300); do
        kill -0 "$uml_pid" 2> /dev/null || break
        sleep 0.1
    done
    if kill -0 "$uml_pid" 2> /dev/null; then
        echo "run-uml.sh: the guest did not stop within 30 s: killing it" >&2
        for pg in $(guest_group); do kill -KILL -- "-$pg" 2> /dev/null; done
    fi
}
trap stop_guest INT TERM

started=$(date +%s)
echo "booting a User-Mode Linux guest (work dir $work)"
while kill -0 "$uml_pid" 2> /dev/null; do
    wait "$uml_pid"
done
wait "$uml_pid" 2> /dev/null
rc=$?
trap - INT TERM
sleep 0.3                       # let tail print the last lines
kill "$tail_pid" 2> /dev/null
wait "$tail_pid" 2> /dev/null

if [ -e "$work/stop" ] && grep -q '^stopped\.$' "$work/demo.txt"; then
    echo "stopped after $(( $(date +%s) - started )) s; logs are in $work/"
    exit 0
fi
verdict=$(cat "$work/verdict" 2> /dev/null)
if [[ $verdict != PASS* ]]; then
    echo "run-uml.sh: the demo failed after $(( $(date +%s) - started )) s (uml.sh status $rc):" >&2
    tail -n 20 "$work/uml.out" | tr -d '\000' >&2
    echo "run-uml.sh: logs are in $work/" >&2
    exit 1
fi
echo "done in $(( $(date +%s) - started )) s; logs are in $work/"
exit "$rc"
