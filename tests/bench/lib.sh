# lib.sh — plumbing the bench scripts share; sourced from the repo root.

# bench_work NAME: a fresh work directory in $work; the processes a script
# starts go in PIDS and are stopped (TERM, then KILL after GRACE seconds,
# default 0.3) when it exits; KEEP=1 keeps the directory. A script with
# more to undo defines bench_undo, which runs first.
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
    sleep "${GRACE:-0.3}"
    for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null; done
    [ "${KEEP:-0}" = 1 ] && echo "work directory kept: $work" || rm -rf "$work"
}
