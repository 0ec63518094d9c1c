#!/bin/bash
# backend_certhash.sh — guest scenario: the certificate hash in the crypto
# binding is really checked. sstp-backend runs behind a TLS-terminating
# forwarder (lib/tls_proxy.py, playing sstp-proxy: same certificate as a
# real deployment would present, PROXY v2 header to the backend's proxy
# listener). sstpc hashes the certificate it received (server.crt).
#   B1: proxy listener :4433, trusted_cert_hash = other.crt's hash
#   B2: proxy listener :4434, trusted_cert_hash = server.crt's hash
# Cases, one sstpc each:
#   tlv-right  B1, TLV 0xE8 = server.crt's hash   -> up (TLV beats the config)
#   tlv-wrong  B1, TLV 0xE8 = other.crt's hash    -> binding_fail E_BIND_CERT_HASH,
#                                                    sstpc exits with an error
#   cfg-wrong  B1, no TLV (config: other.crt)     -> binding_fail E_BIND_CERT_HASH
#   cfg-right  B2, no TLV (config: server.crt)    -> up
. "$E2E_DIR/lib/sstp.sh"

fingerprint() {     # SHA-256 of a certificate's DER, lower-case hex
    local out
    out=$(openssl x509 -noout -fingerprint -sha256 -in "$1") || return 1
    out=${out#*=}
    out=${out//:/}
    echo "${out,,}"
}
right=$(fingerprint "$CERTS/server.crt") && other=$(fingerprint "$CERTS/other.crt") ||
    verdict_fail "cannot hash the test certificates"
[ ${#right} -eq 64 ] && [ "$right" != "$other" ] || verdict_fail "bad certificate hashes"

sstp_setup 1 || verdict_fail "namespace/secrets set-up failed"
sstp_server_options mschapv2 "$W/pppd-server.options"
sstp_client_options mschapv2 "$W/client.options"
sstp_backend_conf "$W/backend.conf" listen.tls= listen.proxy=127.0.0.1:4433 \
    listen.proxy_allow=127.0.0.1/32 sstp.trusted_cert_hash="$other"
sstp_backend_conf "$W/backend2.conf" backend.id=e2e-backend-2 listen.tls= \
    listen.proxy=127.0.0.1:4434 listen.proxy_allow=127.0.0.1/32 sstp.trusted_cert_hash="$right"
sstp_backend_start "$W/backend.conf" || verdict_fail "sstp-backend B1 did not start"
bg_start backend2 ip netns exec $SRV_NS "$BACKEND_BIN" -c "$W/backend2.conf"
wait_for 10 log_has "$W/backend2.log" "ev=ready" || verdict_fail "sstp-backend B2 did not start"

echo "4433 none" > "$W/proxy-mode"
bg_start tls-proxy ip netns exec $SRV_NS python3 "$E2E_DIR/lib/tls_proxy.py" serve \
    $SRV_ADDR $SSTP_PORT "$CERTS/server.crt" "$CERTS/server.key" "$W/proxy-mode" "$W/proxy.ready"
wait_for 15 test -e "$W/proxy.ready" || verdict_fail "tls_proxy.py did not start"
race_delay_on veth0 $SSTP_PORT $SRV_NS || verdict_fail "netem set-up failed"

expect_up() {       # NAME LOG: the session comes up, a ping crosses, then hang up
    local name=$1 log=$2
    sstp_client_start "$name" 1 "$W/client.options"
    sstp_up 1 20 || verdict_fail "$name: tunnel not up within 20 s"
    ip netns exec $CLI_NS ping -c 1 -W 2 -q $PPP_SRV_IP > /dev/null ||
        verdict_fail "$name: ping through the tunnel failed"
    log_has "$log" "ev=binding_ok" || verdict_fail "$name: no binding_ok"
    bg_stop "$name" 10
    wait_for 15 eval '[ "$(log_count "$log" "ev=close ")" -ge 1 ] && [ -z "$(procs_named pppd)" ]' ||
        verdict_fail "$name: session not closed after sstpc exit"
    gs_log "$name: up as expected"
}

expect_fail() {     # NAME LOG N: the Nth binding_fail of LOG, sstpc gives up
    local name=$1 log=$2 n=$3 rc
    sstp_client_start "$name" 1 "$W/client.options"
    wait_for 20 eval '[ "$(log_count "$log" "ev=binding_fail ")" -ge $n ]' ||
        verdict_fail "$name: no binding_fail"
    log_has "$log" "ev=binding_fail * rc=E_BIND_CERT_HASH" ||
        verdict_fail "$name: binding_fail without rc=E_BIND_CERT_HASH"
    bg_wait "$name" 15
    rc=$?
    [ $rc -ne 0 ] && [ $rc -ne 124 ] || verdict_fail "$name: sstpc status $rc (expected an error exit)"
    _sstp_both_ends 1 && verdict_fail "$name: the tunnel came up anyway"
    wait_for 10 eval '[ -z "$(procs_named pppd)" ]' || verdict_fail "$name: pppd left behind"
    gs_log "$name: refused as expected (sstpc status $rc)"
}

echo "4433 sha256=$right" > "$W/proxy-mode"
expect_up tlv-right "$BACKEND_LOG"
echo "4433 sha256=$other" > "$W/proxy-mode"
expect_fail tlv-wrong "$BACKEND_LOG" 1
echo "4433 none" > "$W/proxy-mode"
expect_fail cfg-wrong "$BACKEND_LOG" 2
echo "4434 none" > "$W/proxy-mode"
expect_up cfg-right "$W/backend2.log"

[ "$(log_count "$BACKEND_LOG" "ev=binding_ok ")" -eq 1 ] || verdict_fail "B1: binding_ok count is not 1"
log_has "$W/backend2.log" "ev=binding_fail" && verdict_fail "B2: unexpected binding_fail"
bg_stop tls-proxy 3
bg_stop backend2 15 || verdict_fail "B2 did not exit cleanly"
sstp_backend_stop || verdict_fail "B1 did not exit cleanly"
verdict_pass "TLV right: up; TLV wrong: refused; config wrong: refused; config right: up"
