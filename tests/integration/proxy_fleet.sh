#!/bin/bash
# proxy_fleet.sh — sstp-proxy with Redis on loopback (a real redis-server with a
#   password, the real sstp-backend with a fake pppd, test backends): backend
#   registry and expiry, active health checks, affinity, tenant groups,
#   consistent hashing, fleet-wide least sessions, the per-user policy through
#   the proxy, the Redis schema after real sessions, Redis outages under load.
# The cases are in lib/proxy_fleet.py (one line per case; a case name as an
# argument runs only that case). Uses the ASan builds when present.
set -u
cd "$(dirname "$0")/../.."
for bin in sstp-proxy sstp-backend; do
    if [ ! -x build/asan/$bin ] && [ ! -x build/$bin ]; then
        echo "$bin is not built (make)"; exit 1
    fi
done
[ -x build/sstpctl ] || { echo "build/sstpctl is not built (make)"; exit 1; }
command -v redis-server >/dev/null || { echo "redis-server is not installed (scripts/deps.sh test)"; exit 1; }
exec timeout -k 5 300 python3 tests/integration/lib/proxy_fleet.py "$@"
