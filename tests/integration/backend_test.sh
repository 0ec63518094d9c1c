#!/bin/sh
# backend_test.sh — sstp-backend integration tests on loopback with a fake
# pppd (no kernel PPP needed). Uses build/asan/sstp-backend when it exists
# (sanitizer reports fail the run), else build/sstp-backend; set
# SSTPLB_TEST_BACKEND=path to test another binary. Arguments go to backend_test.py
# (-k SUBSTRING selects scenarios, -v prints the backend logs of failures).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
bin=${SSTPLB_TEST_BACKEND:-}
if [ -z "$bin" ]; then
    if [ -x "$root/build/asan/sstp-backend" ]; then
        bin=$root/build/asan/sstp-backend
    else
        bin=$root/build/sstp-backend
    fi
fi
if [ ! -x "$bin" ]; then
    echo "backend_test: $bin is missing: run make (and make B=build/asan SAN=1 all)" >&2
    exit 1
fi
export SSTPLB_TEST_BACKEND="$bin"
exec python3 "$here/backend_test.py" "$@"
