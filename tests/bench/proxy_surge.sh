#!/bin/bash
# proxy_surge.sh — a connection surge against slow but live backends
# (issue 10): CONC clients at once (default 100, 5x the 20 handshakes in
# flight of a normal run) open SESSIONS sessions through one sstp-proxy to
# BACKENDS stand-ins that answer one request at a time, SERVICE seconds
# each (answers slow down as their queue grows). Prints sessions ok/failed,
# the 503s by reason (no_backend_up must stay 0: every backend is alive),
# backend_down events, slow attempts retried and panic picks.
#
# Environment: SESSIONS (2000), CONC (100), BACKENDS (2), SERVICE (0.005),
# CONNECT_TIMEOUT (0.5), WORKERS (2), PROXY (default build/sstp-proxy if
# built, else build/asan/sstp-proxy). Everything runs on loopback and is
# stopped at the end; tests/integration/proxy_surge.sh is the bounded,
# asserting version of this run.
set -u
cd "$(dirname "$0")/../.."
PROXY=${PROXY:-}
if [ -z "$PROXY" ]; then
    if [ -x build/sstp-proxy ]; then PROXY=build/sstp-proxy; else PROXY=build/asan/sstp-proxy; fi
fi
[ -x "$PROXY" ] || { echo "sstp-proxy is not built (make)"; exit 1; }
case $PROXY in /*) PX_PROXY_BIN=$PROXY ;; *) PX_PROXY_BIN=$PWD/$PROXY ;; esac
export PX_PROXY_BIN
export SESSIONS=${SESSIONS:-2000} CONC=${CONC:-100} BACKENDS=${BACKENDS:-2} SERVICE=${SERVICE:-0.005}
export CONNECT_TIMEOUT=${CONNECT_TIMEOUT:-0.5} WORKERS=${WORKERS:-2}
echo "proxy: $PROXY"
timeout -k 5 900 python3 tests/integration/lib/proxy_surge.py | grep -E '^(surge|sessions_ok|client results|ok |FAIL)'
