#!/bin/bash
# proxy_real_backend.sh — sstp-proxy integration on loopback: in front of the
#   real sstp-backend (fake pppd): crypto binding checked against the proxy's
#   certificate hash TLV, plain TCP and mTLS.
# The cases are in lib/proxy_real.py (one line per case; a case name as an
# argument runs only that case). Uses build/asan/sstp-proxy when present.
set -u
cd "$(dirname "$0")/../.."
if [ ! -x build/asan/sstp-proxy ] && [ ! -x build/sstp-proxy ]; then
    echo "sstp-proxy is not built (make)"; exit 1
fi
if [ ! -x build/asan/sstp-backend ] && [ ! -x build/sstp-backend ]; then
    echo "sstp-backend is not built (make)"; exit 1
fi
exec timeout -k 5 300 python3 tests/integration/lib/proxy_real.py "$@"
