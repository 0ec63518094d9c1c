#!/bin/bash
# hdlc_speed.sh — encode/decode MB/s of sstp/hdlc.c, this tree's against a
# reference revision's (REF, default main), both built here with the same
# flags and run alternately in ONE run (ROUNDS rounds of SECS seconds per
# case and operation); prints the medians and the ratio new/ref, with the
# load average. Not part of `make test`.
#
#   tests/bench/hdlc_speed.sh
#   REF=integ2 ROUNDS=7 tests/bench/hdlc_speed.sh
set -u
cd "$(dirname "$0")/../.." || exit 1
REF=${REF:-main}
ROUNDS=${ROUNDS:-5}
SECS=${SECS:-0.5}
CFLAGS_BENCH="-std=c11 -D_GNU_SOURCE -O2 -g -fno-strict-aliasing -I."

work=$(mktemp -d /tmp/sstp-hdlc.XXXXXX)
trap 'rm -rf "$work"' EXIT
die() { echo "hdlc_speed: $*" >&2; exit 1; }
. tests/bench/lib.sh

git show "$REF:sstp/hdlc.c" >"$work/hdlc_ref.c" 2>/dev/null || die "no sstp/hdlc.c at $REF"
# shellcheck disable=SC2086
cc $CFLAGS_BENCH -o "$work/new" tests/bench/hdlc_speed.c sstp/hdlc.c || die "build failed"
# shellcheck disable=SC2086
cc $CFLAGS_BENCH -o "$work/ref" tests/bench/hdlc_speed.c "$work/hdlc_ref.c" || die "build of $REF failed"

declare -A VAL
echo "hdlc_speed: this tree vs $REF ($(git rev-parse --short "$REF")), ROUNDS=$ROUNDS SECS=$SECS"
echo "host: $(nproc) CPUs, uptime:$(uptime | sed 's/.*up/ up/')"
for ((r = 1; r <= ROUNDS; r++)); do
    for v in ref new; do
        while read -r _ c o m; do
            k="${c#case=}/${o#op=}"
            VAL[$k/$v]="${VAL[$k/$v]:-} ${m#mb_s=}"
        done < <("$work/$v" "$SECS")
    done
    echo "round $r done, load $(cut -d' ' -f1 /proc/loadavg)"
done
printf '%-16s %10s %10s %8s\n' "case/op" "$REF MB/s" "new MB/s" "new/ref"
for k in random/encode random/decode plain/encode plain/decode; do
    a=$(median "${VAL[$k/ref]}"); b=$(median "${VAL[$k/new]}")
    printf '%-16s %10s %10s %8s\n' "$k" "$a" "$b" "$(awk -v a="$a" -v b="$b" 'BEGIN {printf "%.2fx", b / a}')"
done
echo "MB/s: PPP frame bytes per second (1400-byte frames; random: 1 byte in 8 escaped). Load at the end: $(cut -d' ' -f1-3 /proc/loadavg)."
