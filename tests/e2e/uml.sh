#!/bin/bash
# uml.sh — run a guest script inside a User-Mode Linux guest (Debian's
# linux.uml) whose root is the host filesystem, read-only, under a
# copy-on-write overlay: the guest can only write WORKDIR (mounted through
# at the same path). The guest has real kernel PPP (ppp_generic, ppp_async,
# ppp_synctty, ppp_mppe), veth, ipv6 and sch_prio/sch_netem/cls_u32; see
# lib/uml-init.sh for what it sets up and lib/guest.sh for helpers.
#
#   tests/e2e/uml.sh [--timeout N] [--mem M] WORKDIR GUEST_SCRIPT [args...]
#
# Runs GUEST_SCRIPT with bash in WORKDIR, as root, with SSTPLB_GUEST=1,
# SSTPLB_WORK, E2E_DIR (this directory) and SSTPLB_REPO set. Its stdout and
# stderr go to WORKDIR/guest.log, the kernel console to WORKDIR/console.log.
# Exits with the guest script's status; 124 if the guest did not finish
# within N seconds (default 120, the whole boot included); 125 if the guest
# ended without a result (crash, bad set-up). Prints guest.log on failure.
# Each guest is one UML process tree with its own umid and uml_dir
# (WORKDIR/.uml), so guests can run side by side (one CPU each).
set -u

usage() {
    echo "usage: $0 [--timeout N] [--mem M] WORKDIR GUEST_SCRIPT [args...]" >&2
    exit 2
}

timeout_s=120
mem=512M
while [ $# -gt 0 ]; do
    case "$1" in
        --timeout) [ $# -ge 2 ] || usage; timeout_s=$2; shift 2 ;;
        --mem)     [ $# -ge 2 ] || usage; mem=$2; shift 2 ;;
        --)        shift; break ;;
        -*)        usage ;;
        *)         break ;;
    esac
done
[ $# -ge 2 ] || usage
[[ $timeout_s =~ ^[0-9]+$ ]] || usage

here=$(dirname "$(readlink -f "$0")")
init=$here/lib/uml-init.sh
work=$1
script=$2
shift 2

command -v linux.uml > /dev/null || { echo "uml.sh: linux.uml not found (apt-get install user-mode-linux)" >&2; exit 125; }
[ -f "$script" ] || { echo "uml.sh: no guest script $script" >&2; exit 2; }
script=$(readlink -f "$script")
mkdir -p "$work/.uml" || exit 125
work=$(cd "$work" && pwd -P) || exit 125

# The path travels on the kernel command line, and the guest mounts fresh
# tmpfs on these trees, which would hide a script living there.
if [[ $work =~ [[:space:]] ]]; then
    echo "uml.sh: WORKDIR must not contain white space: $work" >&2
    exit 2
fi
repo=$(readlink -f "$here/../..")
for p in "$script" "$init"; do
    case "$p" in
        "$work"/* | "$repo"/*) ;; # the guest mounts both through
        /tmp/* | /run/* | /var/log/* | /dev/*)
            echo "uml.sh: $p is hidden in the guest (tmpfs there); put it in WORKDIR or the repo" >&2
            exit 2 ;;
    esac
done

rm -f "$work/result" "$work/timing" "$work/guest.log" "$work/console.log"
printf '%s\0' "$script" "$@" > "$work/.uml/argv"

# umid: unique per run, short (UML keeps a socket under uml_dir/umid).
umid=sstplb-$$-$RANDOM
t0=$(date +%s.%N)
timeout -k 5 "$timeout_s" linux.uml mem="$mem" rootfstype=hostfs ro init="$init" \
    con=null con0=null,fd:1 umid="$umid" uml_dir="$work/.uml" sstplb_work="$work" \
    < /dev/null > "$work/console.log" 2>&1
trc=$?
t1=$(date +%s.%N)
total=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }')

name=$(basename "$script")
show_guest_log() {
    echo "---- $work/guest.log ----"
    if [ -s "$work/guest.log" ]; then
        tail -n 300 "$work/guest.log"
    else
        echo "(empty)"
        echo "---- last lines of $work/console.log ----"
        tail -n 25 "$work/console.log"
    fi
    echo "---- end ----"
}

if [ $trc -eq 124 ] || [ $trc -eq 137 ]; then
    echo "uml.sh: $name: TIMEOUT: the guest did not finish within ${timeout_s}s (total ${total}s)" >&2
    show_guest_log >&2
    exit 124
fi
if [ ! -s "$work/result" ]; then
    echo "uml.sh: $name: no result file: the guest ended without finishing (linux.uml status $trc, ${total}s)" >&2
    show_guest_log >&2
    exit 125
fi
rc=$(< "$work/result")
[[ $rc =~ ^[0-9]+$ ]] || rc=125

# timing holds seconds since the guest kernel started.
times=$(awk '{ for (i = 1; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] } }
    END { printf "boot %.2fs, guest script %.2fs", v["guest_start"], v["guest_end"] - v["guest_start"] }' \
    "$work/timing" 2> /dev/null)
if [ "$rc" -ne 0 ]; then
    echo "uml.sh: $name: FAILED with status $rc ($times, total ${total}s)" >&2
    show_guest_log >&2
else
    echo "uml.sh: $name: ok ($times, total ${total}s)"
fi
exit "$rc"
