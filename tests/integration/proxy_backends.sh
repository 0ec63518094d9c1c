#!/bin/bash
# proxy_backends.sh — sstp-proxy integration on loopback: dead, closing and
#   silent backends with retries, all backends down (503), bounded retries,
#   mTLS to backends, wrr/leastconn/maxconn.
# The cases are in lib/proxy_backends.py (one line per case; a case name as an
# argument runs only that case). Uses build/asan/sstp-proxy when present.
set -u
cd "$(dirname "$0")/../.."
if [ ! -x build/asan/sstp-proxy ] && [ ! -x build/sstp-proxy ]; then
    echo "sstp-proxy is not built (make)"; exit 1
fi
exec timeout -k 5 300 python3 tests/integration/lib/proxy_backends.py "$@"
