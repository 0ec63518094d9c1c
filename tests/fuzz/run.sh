#!/bin/bash
# run.sh SECONDS — run every libFuzzer target (in $FUZZ_DIR, default build/fuzz) for SECONDS each, starting from
# a copy of its seed corpus (the repo's corpus is never written), and print
# the executions each reached. Any crash, leak or UB report fails the run.
set -u
cd "$(dirname "$0")/../.."
secs=${1:-60}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
status=0
for t in "${FUZZ_DIR:-build/fuzz}"/fuzz_*; do
    name=${t##*/fuzz_}
    mkdir -p "$work/$name"
    cp -r "tests/fuzz/corpus/$name/." "$work/$name/" 2>/dev/null
    dict=""; [ -f "tests/fuzz/$name.dict" ] && dict="-dict=tests/fuzz/$name.dict"
    if "$t" -max_total_time="$secs" -rss_limit_mb=1024 -print_final_stats=1 $dict \
            -artifact_prefix="$work/" "$work/$name" >"$work/$name.log" 2>&1; then
        echo "fuzz $name: $(grep -o 'stat::number_of_executed_units: *[0-9]*' "$work/$name.log" | grep -o '[0-9]*$') executions, ok"
    else
        echo "fuzz $name: FAILED"; tail -30 "$work/$name.log"; status=1
    fi
done
exit $status
