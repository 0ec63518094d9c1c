#!/bin/bash
# sentinel_failover.sh — Redis Sentinel for real: a master and a replica, one
#   redis-sentinel (quorum 1), sstp-proxy and sstp-backend configured with the
#   sentinel; the master is SIGKILLed under load and both daemons follow the
#   promoted replica (time measured and printed), no session fails, the
#   sessions held across it are untouched; then the same with the master
#   SIGSTOPped (a hung host, noticed by the Redis client's reply deadline).
# The cases are in lib/sentinel_failover.py. Uses the ASan builds when present.
set -u
cd "$(dirname "$0")/../.."
for bin in sstp-proxy sstp-backend sstpctl; do
    if [ ! -x build/asan/$bin ] && [ ! -x build/$bin ]; then
        echo "$bin is not built (make)"; exit 1
    fi
done
for exe in redis-server redis-sentinel; do
    command -v $exe >/dev/null || { echo "$exe is not installed (scripts/deps.sh test)"; exit 1; }
done
exec timeout -k 5 180 python3 tests/integration/lib/sentinel_failover.py "$@"
