#!/bin/bash
# sstpctl_cli.sh — sstpctl against a real redis-server: filters, JSON
#   numbers, pipelined reads (round trips counted), the schema version, the
#   proxies view, and README's per-role ACL example run as written (a real
#   sstp-backend, sstp-proxy and sstpctl with their own users).
# The cases are in lib/sstpctl_cli.py (a case name as an argument runs only
# that case). Uses the ASan builds when present.
set -u
cd "$(dirname "$0")/../.."
for bin in sstp-proxy sstp-backend sstpctl; do
    if [ ! -x build/asan/$bin ] && [ ! -x build/$bin ]; then
        echo "$bin is not built (make)"; exit 1
    fi
done
command -v redis-server >/dev/null || { echo "redis-server is not installed (scripts/deps.sh test)"; exit 1; }
exec timeout -k 5 180 python3 tests/integration/lib/sstpctl_cli.py "$@"
