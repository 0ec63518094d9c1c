#!/bin/bash
# dashboard.sh — `sstpctl serve` in a real headless browser (Debian's
#   chromium): Redis, a real sstp-backend (fake pppd) and sstp-proxy with
#   live sessions; the page's proxies, backends, sessions and events match
#   `sstpctl --json`; client-supplied strings stay text; Host, method,
#   slow-client and Redis-down refusals are answered and counted. A
#   screenshot is saved under build/test-output/dashboard/ (path printed).
# The cases are in lib/dashboard.py (a case name as an argument runs only
# that case). Uses the ASan builds when present.
set -u
cd "$(dirname "$0")/../.." || exit 1
for bin in sstp-proxy sstp-backend sstpctl; do
    if [ ! -x build/asan/$bin ] && [ ! -x build/$bin ]; then
        echo "$bin is not built (make)"; exit 1
    fi
done
command -v redis-server >/dev/null || { echo "redis-server is not installed (scripts/deps.sh test)"; exit 1; }
command -v chromium >/dev/null || { echo "chromium is not installed (scripts/deps.sh test)"; exit 1; }
exec timeout -k 5 240 python3 tests/integration/lib/dashboard.py "$@"
