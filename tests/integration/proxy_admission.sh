#!/bin/bash
# proxy_admission.sh — sstp-proxy admission: rate-limited refusal lines, a
#   full worker leaves its SO_REUSEPORT groups, a worker out of descriptors
#   pauses its listener, per-source limits.
# The cases are in lib/proxy_admission.py (one line per case; a case name as an
# argument runs only that case). Uses build/asan/sstp-proxy when present.
set -u
cd "$(dirname "$0")/../.."
if [ ! -x build/asan/sstp-proxy ] && [ ! -x build/sstp-proxy ]; then
    echo "sstp-proxy is not built (make)"; exit 1
fi
exec timeout -k 5 300 python3 tests/integration/lib/proxy_admission.py "$@"
