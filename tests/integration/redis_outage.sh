#!/bin/bash
# redis_outage.sh — a Redis that hangs instead of closing, and one that
#   refuses the password, seen by the real sstp-backend (fake pppd) and the
#   real sstp-proxy relaying live sessions to it: redis_down within
#   redis.reply_timeout, /readyz 503 and /metrics while it lasts, back after
#   SIGCONT with no session dropped; a wrong password stays down with reason
#   auth. The cases are in lib/redis_outage.py. Uses the ASan builds when
#   present.
set -u
cd "$(dirname "$0")/../.."
for bin in sstp-proxy sstp-backend; do
    if [ ! -x build/asan/$bin ] && [ ! -x build/$bin ]; then
        echo "$bin is not built (make)"; exit 1
    fi
done
command -v redis-server >/dev/null || { echo "redis-server is not installed (scripts/deps.sh test)"; exit 1; }
exec timeout -k 5 120 python3 tests/integration/lib/redis_outage.py "$@"
