#!/bin/bash
# registry_trust.sh — the Redis backend registry as a trust boundary: a real
#   redis-server, sstp-proxy and sstp-backend (fake pppd) on loopback; bad
#   entries ignored and counted, mTLS backends with their name checked,
#   capacity, the first health check, the grace of an emptied registry.
# The cases are in lib/registry_trust.py (a case name as an argument runs
# only that case). Uses the ASan builds when present.
set -u
cd "$(dirname "$0")/../.."
for bin in sstp-proxy sstp-backend; do
    if [ ! -x build/asan/$bin ] && [ ! -x build/$bin ]; then
        echo "$bin is not built (make)"; exit 1
    fi
done
command -v redis-server >/dev/null || { echo "redis-server is not installed (scripts/deps.sh test)"; exit 1; }
exec timeout -k 5 180 python3 tests/integration/lib/registry_trust.py "$@"
