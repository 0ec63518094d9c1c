#!/bin/bash
# proxy_judging.sh — sstp-proxy judges backends only by what they did:
#   LF-only, refused and silent clients change no backend's state, a slow
#   answer is not death, EMFILE is ours, the panic threshold.
# The cases are in lib/proxy_judging.py (one line per case; a case name as an
# argument runs only that case). Uses build/asan/sstp-proxy when present.
set -u
cd "$(dirname "$0")/../.."
if [ ! -x build/asan/sstp-proxy ] && [ ! -x build/sstp-proxy ]; then
    echo "sstp-proxy is not built (make)"; exit 1
fi
exec timeout -k 5 300 python3 tests/integration/lib/proxy_judging.py "$@"
