#!/bin/bash
# proxy_reject.sh — sstp-proxy integration on loopback: every reject path:
#   HTTP statuses, silent mode, slow clients, untrusted and malformed PROXY
#   headers, TLS 1.0/1.1.
# The cases are in lib/proxy_reject.py (one line per case; a case name as an
# argument runs only that case). Uses build/asan/sstp-proxy when present.
set -u
cd "$(dirname "$0")/../.."
if [ ! -x build/asan/sstp-proxy ] && [ ! -x build/sstp-proxy ]; then
    echo "sstp-proxy is not built (make)"; exit 1
fi
exec timeout -k 5 300 python3 tests/integration/lib/proxy_reject.py "$@"
