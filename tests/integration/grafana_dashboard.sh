#!/bin/bash
# grafana_dashboard.sh — conf/grafana/sstp-lb.json is a valid Grafana
#   dashboard and every metric it queries is in the /metrics output of a
#   real sstp-proxy and sstp-backend (so a renamed metric fails here, not on
#   an operator's screen). The check is in lib/grafana_dashboard.py.
set -u
cd "$(dirname "$0")/../.." || exit 1
for bin in sstp-proxy sstp-backend; do
    if [ ! -x build/asan/$bin ] && [ ! -x build/$bin ]; then
        echo "$bin is not built (make)"; exit 1
    fi
done
exec timeout -k 5 120 python3 tests/integration/lib/grafana_dashboard.py "$@"
