#!/bin/bash
# proxy_passthrough.sh — sstp-proxy integration on loopback: SNI passthrough
#   (listen.passthrough) beside TLS termination on one port. The cases are
#   in lib/proxy_passthrough.py (a case name as an argument runs only that
#   case). Uses build/asan/sstp-proxy when present.
set -u
cd "$(dirname "$0")/../.."
if [ ! -x build/asan/sstp-proxy ] && [ ! -x build/sstp-proxy ]; then
    echo "sstp-proxy is not built (make)"; exit 1
fi
exec timeout -k 5 120 python3 tests/integration/lib/proxy_passthrough.py "$@"
