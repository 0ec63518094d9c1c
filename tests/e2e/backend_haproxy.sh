#!/bin/bash
# backend_haproxy.sh — guest scenario (issue 13): Debian's HAProxy in front
# of sstp-backend, re-encrypting (HAProxy terminates the client's TLS with
# its own certificate, other.crt, and opens TLS to the backend's tls
# listener, no PROXY header). The real sstpc hashes the certificate it saw:
# HAProxy's.
#   B1: tls listener 127.0.0.1:4443, trusted_cert_hash = other.crt's hash
#   B2: tls listener 127.0.0.1:4444, trusted_cert_hash = server-rsa.crt's
#   B3: mtls listener 127.0.0.1:4445 with mtls_proxy_header = before,
#       trusted_cert_hash = other.crt's (HAProxy `ssl crt ... send-proxy-v2`)
# Cases, one sstpc each:
#   trusted    HAProxy -> B1: up (binding_ok), ping crosses the tunnel
#   untrusted  HAProxy -> B2: binding_fail E_BIND_CERT_HASH, sstpc exits with
#              an error (B2's own certificate is not what the client saw)
#   proxy_v2   HAProxy -> B3: up, and B3 knows the client's address from the
#              PROXY v2 header HAProxy sends before its TLS handshake
#   terminate  HAProxy terminating, send-proxy-v2 in plain TCP to B4's proxy
#              listener (trusted_cert_hash = other.crt's): up, client address
. "$E2E_DIR/lib/sstp.sh"

fingerprint() {     # SHA-256 of a certificate's DER, lower-case hex
    local out
    out=$(openssl x509 -noout -fingerprint -sha256 -in "$1") || return 1
    out=${out#*=}
    out=${out//:/}
    echo "${out,,}"
}
front=$(fingerprint "$CERTS/other.crt") && unrelated=$(fingerprint "$CERTS/server-rsa.crt") ||
    verdict_fail "cannot hash the test certificates"
[ ${#front} -eq 64 ] && [ "$front" != "$unrelated" ] || verdict_fail "bad certificate hashes"
cat "$CERTS/other.crt" "$CERTS/other.key" > "$W/haproxy-front.pem"
cat "$CERTS/proxy-client.crt" "$CERTS/proxy-client.key" > "$W/haproxy-client.pem"

sstp_setup 1 || verdict_fail "namespace/secrets set-up failed"
sstp_server_options mschapv2 "$W/pppd-server.options"
sstp_client_options mschapv2 "$W/client.options"
sstp_backend_conf "$W/backend.conf" listen.tls=127.0.0.1:4443 sstp.trusted_cert_hash="$front"
sstp_backend_conf "$W/backend2.conf" backend.id=e2e-backend-2 listen.tls=127.0.0.1:4444 \
    sstp.trusted_cert_hash="$unrelated"
sstp_backend_start "$W/backend.conf" || verdict_fail "sstp-backend B1 did not start"
bg_start backend2 ip netns exec $SRV_NS "$BACKEND_BIN" -c "$W/backend2.conf"
wait_for 10 log_has "$W/backend2.log" "ev=ready" || verdict_fail "sstp-backend B2 did not start"
sstp_backend_conf "$W/backend3.conf" backend.id=e2e-backend-3 listen.tls= listen.mtls=127.0.0.1:4445 \
    listen.mtls_proxy_header=before listen.proxy_allow=127.0.0.1/32 tls.proxy_ca="$CERTS/ca.crt" \
    sstp.trusted_cert_hash="$front"
bg_start backend3 ip netns exec $SRV_NS "$BACKEND_BIN" -c "$W/backend3.conf"
wait_for 10 log_has "$W/backend3.log" "ev=ready" || verdict_fail "sstp-backend B3 did not start"
sstp_backend_conf "$W/backend4.conf" backend.id=e2e-backend-4 listen.tls= listen.proxy=127.0.0.1:4446 \
    listen.proxy_allow=127.0.0.1/32 sstp.trusted_cert_hash="$front"
bg_start backend4 ip netns exec $SRV_NS "$BACKEND_BIN" -c "$W/backend4.conf"
wait_for 10 log_has "$W/backend4.log" "ev=ready" || verdict_fail "sstp-backend B4 did not start"

haproxy_start() {   # PORT [OPTIONS]: HAProxy on SRV_ADDR:443 in front of 127.0.0.1:PORT
    local opts=${2-ssl verify required ca-file $CERTS/ca.crt}
    cat > "$W/haproxy.cfg" <<CFG
global
    maxconn 64
defaults
    mode tcp
    timeout connect 5s
    timeout client 60s
    timeout server 60s
listen sstp
    bind $SRV_ADDR:$SSTP_PORT ssl crt $W/haproxy-front.pem
    server be 127.0.0.1:$1 $opts
CFG
    bg_start haproxy ip netns exec $SRV_NS haproxy -db -f "$W/haproxy.cfg"
    wait_for 10 ip netns exec $SRV_NS bash -c "exec 3<>/dev/tcp/$SRV_ADDR/$SSTP_PORT" 2> /dev/null ||
        verdict_fail "haproxy did not listen"
}

race_delay_on veth0 $SSTP_PORT $SRV_NS || verdict_fail "netem set-up failed"

# trusted: through HAProxy to B1
haproxy_start 4443
sstp_client_start trusted 1 "$W/client.options"
sstp_up 1 30 || verdict_fail "trusted: tunnel not up within 30 s"
ip netns exec $CLI_NS ping -c 1 -W 2 -q $PPP_SRV_IP > /dev/null || verdict_fail "trusted: ping failed"
log_has "$BACKEND_LOG" "ev=binding_ok" || verdict_fail "trusted: no binding_ok"
bg_stop trusted 10
wait_for 15 eval '[ "$(log_count "$BACKEND_LOG" "ev=close ")" -ge 1 ] && [ -z "$(procs_named pppd)" ]' ||
    verdict_fail "trusted: session not closed after sstpc exit"
bg_stop haproxy 5
gs_log "trusted: up as expected"

# untrusted: the same HAProxy certificate, B2 does not trust it
haproxy_start 4444
sstp_client_start untrusted 1 "$W/client.options"
wait_for 30 log_has "$W/backend2.log" "ev=binding_fail*" || verdict_fail "untrusted: no binding_fail"
log_has "$W/backend2.log" "ev=binding_fail * rc=E_BIND_CERT_HASH" ||
    verdict_fail "untrusted: binding_fail without rc=E_BIND_CERT_HASH"
bg_wait untrusted 20
rc=$?
[ $rc -ne 0 ] && [ $rc -ne 124 ] || verdict_fail "untrusted: sstpc status $rc (expected an error exit)"
_sstp_both_ends 1 && verdict_fail "untrusted: the tunnel came up anyway"
wait_for 10 eval '[ -z "$(procs_named pppd)" ]' || verdict_fail "untrusted: pppd left behind"
log_has "$W/backend2.log" "ev=binding_ok" && verdict_fail "B2: unexpected binding_ok"
bg_stop haproxy 5
gs_log "untrusted: refused as expected (sstpc status $rc)"

# proxy_v2: PROXY v2 before TLS to the mtls listener, HAProxy's client certificate
haproxy_start 4445 "ssl verify required ca-file $CERTS/ca.crt crt $W/haproxy-client.pem send-proxy-v2"
sstp_client_start proxy_v2 1 "$W/client.options"
sstp_up 1 30 || verdict_fail "proxy_v2: tunnel not up within 30 s"
ip netns exec $CLI_NS ping -c 1 -W 2 -q $PPP_SRV_IP > /dev/null || verdict_fail "proxy_v2: ping failed"
log_has "$W/backend3.log" "ev=binding_ok * client=$CLI_ADDR:*" ||
    verdict_fail "proxy_v2: no binding_ok for the client's address $CLI_ADDR"
bg_stop proxy_v2 10
wait_for 15 eval '[ "$(log_count "$W/backend3.log" "ev=close ")" -ge 1 ] && [ -z "$(procs_named pppd)" ]' ||
    verdict_fail "proxy_v2: session not closed after sstpc exit"
bg_stop haproxy 5
gs_log "proxy_v2: up with the client's address"

# terminate: HAProxy ends TLS, PROXY v2 + plain SSTP to the proxy listener
haproxy_start 4446 "send-proxy-v2"
sstp_client_start terminate 1 "$W/client.options"
sstp_up 1 30 || verdict_fail "terminate: tunnel not up within 30 s"
ip netns exec $CLI_NS ping -c 1 -W 2 -q $PPP_SRV_IP > /dev/null || verdict_fail "terminate: ping failed"
log_has "$W/backend4.log" "ev=binding_ok * client=$CLI_ADDR:*" ||
    verdict_fail "terminate: no binding_ok for the client's address $CLI_ADDR"
bg_stop terminate 10
wait_for 15 eval '[ "$(log_count "$W/backend4.log" "ev=close ")" -ge 1 ] && [ -z "$(procs_named pppd)" ]' ||
    verdict_fail "terminate: session not closed after sstpc exit"
bg_stop haproxy 5
gs_log "terminate: up with the client's address"

bg_stop backend2 15 || verdict_fail "B2 did not exit cleanly"
bg_stop backend3 15 || verdict_fail "B3 did not exit cleanly"
bg_stop backend4 15 || verdict_fail "B4 did not exit cleanly"
sstp_backend_stop || verdict_fail "B1 did not exit cleanly"
verdict_pass "HAProxy re-encrypt: its certificate's hash trusted: up; not trusted: refused (E_BIND_CERT_HASH); with send-proxy-v2 to mtls (before): up, client address kept; terminating + send-proxy-v2: up"
