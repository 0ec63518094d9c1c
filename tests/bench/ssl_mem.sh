#!/bin/bash
# ssl_mem.sh — where an idle relayed session's memory goes in sstp-proxy,
# per component, in bytes (tests/bench/ssl_mem.c, built here against this
# tree's core/tls.c):
#   front          the client's TLS connection as sstp-proxy terminates it
#                  (core/tls.c server context + read-ahead, no session cache,
#                  tickets; one record each way exchanged and read: idle)
#   front_sni_switch  the same when the ClientHello callback switches the
#                  certificate's context (SSL_set_SSL_CTX), as SNI does
#   front_relay    front, then as in RELAY: the handshake's app data set and
#                  cleared, the write side replaced by the staging BIO (wstage.h)
#   backend_mtls   the proxy's client TLS to a tls backend that requires its
#                  certificate (the backend's certificate stays parsed in it)
# each with SSL_MODE_RELEASE_BUFFERS (as both contexts are set) and without
# it (what the record buffers cost when kept). bytes: what OpenSSL asked
# malloc for; heap: with glibc's chunk overhead; allocs: live allocations.
# Then the proxy's own struct px_conn (the only block of ours an idle
# relayed session keeps: px_hs and the relay buffers are given back).
# Compare with the RSS per session of tests/bench/proxy_idle_mem.sh and the
# heap per session of tests/integration/proxy_idle_memory.sh. SITES=1 adds
# the biggest allocation sites of one connection. N pairs (200) per case.
#
#   tests/bench/ssl_mem.sh
#   SITES=1 N=1 tests/bench/ssl_mem.sh
set -u
cd "$(dirname "$0")/../.." || exit 1
N=${N:-200}
work=$(mktemp -d /tmp/sstp-ssl-mem.XXXXXX)
trap 'rm -rf "$work"' EXIT
die() { echo "ssl_mem: $*" >&2; exit 1; }
make -j2 build/libproxy.a build/libcore.a build/libsstp.a >/dev/null || die "cannot build the libraries"
cc -std=c11 -D_GNU_SOURCE -O2 -g -Wall -Wextra -Werror -I. -o "$work/ssl_mem" tests/bench/ssl_mem.c \
    build/libproxy.a build/libcore.a build/libsstp.a -lev -lssl -lcrypto || die "build failed"
scripts/mkcerts.sh "$work/certs" >/dev/null || die "mkcerts failed"
C=$work/certs
echo "ssl_mem: $(openssl version), N=$N; uptime:$(uptime | sed 's/.*up/ up/')"
SSL_MEM_SITES=${SITES:+1} "$work/ssl_mem" "$C/server.crt" "$C/server.key" "$C/ca.crt" \
    "$C/proxy-client.crt" "$C/proxy-client.key" "$N" | { [ -n "${SITES:-}" ] && cat || grep -v '^  site'; }
