#!/bin/bash
# fleet_state.sh — what the fleet writes to Redis, with the real daemons and a
#   real redis-server on loopback: the proxy's registry entry and counters
#   (fleet-wide, per proxy, per backend), affinity renewed while a session
#   lives, the whole view back within one stats interval after an empty
#   Redis restart (sstpctl sessions, indexes, per-user limit), duplicate
#   backend ids logged on both sides.
# The cases are in lib/fleet_state.py (a case name as an argument runs only
# that case). Uses the ASan builds when present.
set -u
cd "$(dirname "$0")/../.."
for bin in sstp-proxy sstp-backend; do
    if [ ! -x build/asan/$bin ] && [ ! -x build/$bin ]; then
        echo "$bin is not built (make)"; exit 1
    fi
done
[ -x build/sstpctl ] || { echo "build/sstpctl is not built (make)"; exit 1; }
command -v redis-server >/dev/null || { echo "redis-server is not installed (scripts/deps.sh test)"; exit 1; }
exec timeout -k 5 180 python3 tests/integration/lib/fleet_state.py "$@"
