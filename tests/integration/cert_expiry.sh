#!/bin/bash
# cert_expiry.sh — certificates in sight: a certificate that expires in 5
#   days shows its notAfter (and its OCSP staple's nextUpdate) in /metrics of
#   sstp-proxy and sstp-backend, is warned in their logs at start and at a
#   proxy reload (once, not per connection), and --check-config warns with
#   exit status 0; a certificate outside tls.expiry_warn_days is not warned.
# The cases are in lib/cert_expiry.py (a case name as an argument runs only
# that case). Uses the ASan builds when present.
set -u
cd "$(dirname "$0")/../.." || exit 1
for bin in sstp-proxy sstp-backend; do
    if [ ! -x build/asan/$bin ] && [ ! -x build/$bin ]; then
        echo "$bin is not built (make)"; exit 1
    fi
done
exec timeout -k 5 180 python3 tests/integration/lib/cert_expiry.py "$@"
