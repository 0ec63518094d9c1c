#!/bin/bash
# proxy_basic.sh — sstp-proxy integration on loopback: relay through a test
#   backend, the PROXY v2 TLVs it receives, SNI and key-type certificate
#   choice, ALPN, HEAD probes, admin /metrics, PROXY v1/v2 in, tickets, OCSP,
#   key log, client certificates, IPv6, command line.
# The cases are in lib/proxy_basic.py (one line per case; a case name as an
# argument runs only that case). Uses build/asan/sstp-proxy when present.
set -u
cd "$(dirname "$0")/../.."
if [ ! -x build/asan/sstp-proxy ] && [ ! -x build/sstp-proxy ]; then
    echo "sstp-proxy is not built (make)"; exit 1
fi
exec timeout -k 5 300 python3 tests/integration/lib/proxy_basic.py "$@"
