#!/bin/bash
# proxy_surge.sh — the bounded version of tests/bench/proxy_surge.sh: 60
# clients at once open 120 sessions to two live backends whose answers get
# slower than backends.connect_timeout under the queue. Asserts that no
# session is refused for no_backend_up and no backend is marked down (slow
# answers are retried, not death). Uses build/asan/sstp-proxy when present.
set -u
cd "$(dirname "$0")/../.."
if [ ! -x build/asan/sstp-proxy ] && [ ! -x build/sstp-proxy ]; then
    echo "sstp-proxy is not built (make)"; exit 1
fi
exec timeout -k 5 120 python3 tests/integration/lib/proxy_surge.py --sessions 120 --conc 60 --backends 2 \
    --service 0.02 --connect-timeout 0.5 --workers 1 --check
