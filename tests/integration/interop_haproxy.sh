#!/bin/sh
# interop_haproxy.sh — sstp-backend behind Debian's HAProxy (terminate +
# PROXY v2, re-encrypt with and without PROXY v2 before TLS), the mtls
# listener's header placements, rate-limit answers and the client's SNI.
# Loopback, fake pppd, Python SSTP client. Arguments go to
# interop_haproxy.py (-k SUBSTRING, -v).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
if [ -z "${SSTPLB_TEST_BACKEND:-}" ]; then
    if [ -x "$root/build/asan/sstp-backend" ]; then
        SSTPLB_TEST_BACKEND=$root/build/asan/sstp-backend
    else
        SSTPLB_TEST_BACKEND=$root/build/sstp-backend
    fi
fi
[ -x "$SSTPLB_TEST_BACKEND" ] || { echo "interop_haproxy: $SSTPLB_TEST_BACKEND is missing: run make" >&2; exit 1; }
export SSTPLB_TEST_BACKEND
exec python3 "$here/interop_haproxy.py" "$@"
