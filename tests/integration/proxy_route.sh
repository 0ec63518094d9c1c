#!/bin/bash
# proxy_route.sh — sstp-proxy integration on loopback: routing by name
#   (backends.route): groups by SNI and Host. The cases are
#   in lib/proxy_route.py (a case name as an argument runs only that
#   case). Uses build/asan/sstp-proxy when present.
set -u
cd "$(dirname "$0")/../.."
if [ ! -x build/asan/sstp-proxy ] && [ ! -x build/sstp-proxy ]; then
    echo "sstp-proxy is not built (make)"; exit 1
fi
exec timeout -k 5 120 python3 tests/integration/lib/proxy_route.py "$@"
