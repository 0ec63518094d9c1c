#!/bin/bash
# proxy_tls_trust.sh — sstp-proxy integration on loopback: TLS groups,
#   resumption against the client-certificate policy, CRLs, forged tickets,
#   worker restarts without the certificate file, key log and OCSP checks.
# The cases are in lib/proxy_tls_trust.py (a case name as an argument runs
# only that case). Uses build/asan/sstp-proxy when present.
set -u
cd "$(dirname "$0")/../.."
if [ ! -x build/asan/sstp-proxy ] && [ ! -x build/sstp-proxy ]; then
    echo "sstp-proxy is not built (make)"; exit 1
fi
exec timeout -k 5 300 python3 tests/integration/lib/proxy_tls_trust.py "$@"
