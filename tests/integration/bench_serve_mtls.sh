#!/bin/bash
# bench_serve_mtls.sh — sstp-bench --serve as a TLS target that requires a
# client certificate (--client-ca) and reads a PROXY header in clear before
# the handshake (--proxy-in with TLS), behind a real sstp-proxy (server ...
# tls proxy_header=before, backends.cert): the set-up tests/bench/
# proxy_idle_mem.sh measures in its tls mode.
#   - with the proxy's client certificate: sessions reach CALL_CONNECTED
#     (the binding checked against the front certificate's hash in the
#     header's TLVs), no error;
#   - without it (no backends.cert): the target refuses the handshake
#     (tls_fail counted), no session connects.
# Uses the ASan builds when present. About 10 s.
set -u
cd "$(dirname "$0")/../.." || exit 1
PROXY=build/asan/sstp-proxy; [ -x "$PROXY" ] || PROXY=build/sstp-proxy
BENCH=build/asan/sstp-bench; [ -x "$BENCH" ] || BENCH=build/sstp-bench
for b in "$PROXY" "$BENCH"; do [ -x "$b" ] || { echo "$b is not built (make)"; exit 1; }; done

. tests/bench/lib.sh
bench_work bench_serve_mtls
GRACE=5 # the sanitizer builds take a moment to stop
failed=0
field() { sed -n "s/.* $2=\([0-9.]*\).*/\1/p" <<<" $1"; }

scripts/mkcerts.sh "$work/certs" >/dev/null || { echo "mkcerts failed"; exit 1; }
C=$work/certs
be=$(free_port)
"$BENCH" --serve "127.0.0.1:$be" --cert "$C/server.crt" --key "$C/server.key" --client-ca "$C/ca.crt" \
    --proxy-in >"$work/be.log" 2>&1 &
be_pid=$!
PIDS+=("$be_pid")
wait_port "$be" || { echo "FAIL target: $(tail -2 "$work/be.log")"; exit 1; }

# run NAME [backends.cert lines]: a proxy before the target, one sstp-bench run; prints its line
run() {
    local name=$1 front; shift
    front=$(free_port)
    while [ "$front" = "$be" ]; do front=$(free_port); done
    cat >"$work/$name.conf" <<EOC
[proxy]
id = $name
workers = 1
[listen]
bind = 127.0.0.1:$front
[tls]
cert = $C/server.crt $C/server.key
[backends]
server = be1 127.0.0.1:$be tls proxy_header=before
ca = $C/ca.crt
$*
[health]
probe = none
[admin]
address =
EOC
    "$PROXY" -c "$work/$name.conf" >"$work/$name.log" 2>&1 &
    local p=$!
    PIDS+=("$p")
    wait_port "$front" || { echo "FAIL $name: proxy not listening: $(tail -2 "$work/$name.log")" >&2; return; }
    timeout -k 5 60 "$BENCH" -m idle -t "127.0.0.1:$front" --ca "$C/ca.crt" --sni vpn.example.test -n 4 -d 0.5 \
        --timeout 10 2>>"$work/client.err" | grep '^bench '
    kill "$p"
}

line=$(run with_cert "cert = $C/proxy-client.crt
key = $C/proxy-client.key")
check "mtls-sessions-connect" "$([ "$(field "$line" up)" = 4 ] && [ "$(field "$line" errors)" = 0 ]; echo $?)" \
    "$line $(tail -2 "$work/with_cert.log")"
line=$(run without_cert)
check "no-client-cert-refused" "$([ "$(field "$line" up)" = 0 ]; echo $?)" "$line"
kill -TERM "$be_pid"
wait "$be_pid" 2>/dev/null
serve=$(grep '^serve ' "$work/be.log" | tail -1)
check "target-counted" "$([ "$(field "$serve" connected)" = 4 ] && [ "$(field "$serve" tls_fail)" -ge 1 ] &&
    [ "$(field "$serve" proxy_err)" = 0 ]; echo $?)" "$serve"
[ $failed = 0 ] && echo "bench_serve_mtls: ok" || echo "bench_serve_mtls: FAILED"
exit $failed
