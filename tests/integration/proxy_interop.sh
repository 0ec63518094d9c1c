#!/bin/bash
# proxy_interop.sh — sstp-proxy in front of SSTP servers that are not
#   sstp-backend: the http probe (a 501 answer is alive), PROXY v2 before TLS
#   (accel-ppp accept=ssl,proxy) and no header (SoftEther, RRAS), ?tenantid=
#   without tenant groups, TLS hop failures with their reason.
# The cases are in lib/proxy_interop.py (a case name as an argument runs only
# that case). Uses build/asan/sstp-proxy when present.
set -u
cd "$(dirname "$0")/../.."
if [ ! -x build/asan/sstp-proxy ] && [ ! -x build/sstp-proxy ]; then
    echo "sstp-proxy is not built (make)"; exit 1
fi
exec timeout -k 5 300 python3 tests/integration/lib/proxy_interop.py "$@"
