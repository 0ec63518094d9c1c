#!/bin/bash
# proxy_ktls.sh — guest scenario (tests/e2e/run.sh): sstp-proxy with kernel
# TLS (the UML kernel's tls.ko) in front of sstp-backend (PROXY v2
# listener), in one boot, TLS 1.3 then TLS 1.2:
#   TLS 1.3  tls.ktls = on, mTLS to the backend's mtls listener: real
#            sstpc up through the proxy, pings cross; /metrics shows the
#            session's client side sending through the kernel (client_tx 1)
#            and receiving in OpenSSL (client_rx 0), and the backend link
#            sending through the kernel (backend_tx 1). An
#            openssl s_client session sends a KeyUpdate asking for ours
#            ('K'): the proxy closes it (rc=E_TLS_KEY_UPDATE,
#            sstp_proxy_ktls_events_total{event="key_update"}), since
#            OpenSSL 3.0 would go on under the old key in the kernel; the
#            sstpc session still carries pings.
#            A KeyUpdate that asks nothing ('k') leaves the session be.
#            A KeyUpdate asking for ours sent with a HEAD probe (which the
#            proxy answers itself, before any relay) is refused the same way.
#   TLS 1.2  tls.ktls = auto (sstpc capped by an OpenSSL config): sstpc
#            up, pings cross, the session is kernel_only (OpenSSL's state
#            freed, both ways in the kernel).
#            s_client renegotiates ('R'): a handshake record read through
#            the kernel closes it (rc=E_TLS_RENEGOTIATION, counted); an
#            s_client that ends with close_notify ('Q') ends its session
#            normally (rc=OK, no alert counted); lib/ktls_split.py cuts the
#            head's record and CALL_CONNECT_REQUEST's across TCP segments,
#            the latter across the handover to the kernel: the backend's
#            CALL_CONNECT_ACK comes back; a TLS 1.3 s_client asking
#            for a KeyUpdate is served in user space under auto (normal
#            end, nothing counted); sstpc still pings.
. "$E2E_DIR/lib/sstp.sh"

METRICS_URL=http://127.0.0.1:9180/metrics
HEAD=$'SSTP_DUPLEX_POST /sra_{BA195980-CD49-458b-9E23-C84EE0ADCD75}/ HTTP/1.1\r\nHost: vpn.example.test\r\nContent-Length: 18446744073709551615\r\nSSTPCORRELATIONID: {11111111-2222-3333-4444-555555555555}\r\n\r\n'

modprobe tls 2> /dev/null || insmod /usr/lib/modules/*/kernel/net/tls/tls.ko ||
    verdict_fail "cannot load tls.ko"
sstp_setup 1 || verdict_fail "namespace/secrets set-up failed"
sstp_server_options mschapv2 "$W/pppd-server.options"
sstp_client_options mschapv2 "$W/client.options"
sstp_backend_conf "$W/backend.conf" listen.tls= listen.proxy=127.0.0.1:4433 \
    listen.proxy_allow=127.0.0.1/32 listen.mtls=127.0.0.1:4434 tls.proxy_ca="$CERTS/ca.crt" \
    sstp.negotiation_timeout=30s
sstp_backend_start "$W/backend.conf" || verdict_fail "sstp-backend did not start"

metric() { # metric NAME{LABELS} -> its value in the proxy's /metrics (0 when absent)
    local v
    v=$(ip netns exec $SRV_NS curl -s --max-time 5 $METRICS_URL | awk -v k="$1" '$1 == k { print $2 }')
    echo "${v:-0}"
}

PLOG=$W/proxy.log
proxy_start() { # proxy_start KTLS_MODE [SERVER_LINE BACKENDS_LINES...]
    local mode=$1 server=${2:-"e2e-backend 127.0.0.1:4433"}
    shift $(($# < 2 ? $# : 2))
    {
        printf '[proxy]\nid = e2e-proxy\nlog_level = debug\nworkers = 1\n[listen]\nbind = %s:%s\n' \
            "$SRV_ADDR" "$SSTP_PORT"
        printf '[tls]\ncert = %s %s default\nktls = %s\n' "$CERTS/server.crt" "$CERTS/server.key" "$mode"
        printf '[backends]\nserver = %s\n' "$server"
        printf '%s\n' "$@"
    } > "$W/proxy.conf"
    bg_start proxy ip netns exec $SRV_NS "$REPO/build/sstp-proxy" -c "$W/proxy.conf"
    wait_for 15 log_has "$PLOG" "ev=worker_ready" || verdict_fail "sstp-proxy did not start: $(tail -3 "$PLOG")"
}

# s_client VERSION CMD: an SSTP request head, then (once the backend has
# answered) the s_client command letter CMD; output in $W/s_client-CMD.out
s_client_cmd() {
    local ver=$1 cmd=$2
    { printf '%s' "$HEAD"; sleep 2; printf '%s\n' "$cmd"; sleep 3; } |
        ip netns exec $CLI_NS timeout -k 1 10 openssl s_client -connect $SRV_ADDR:$SSTP_PORT \
            -$ver -servername vpn.example.test -CAfile "$CERTS/ca.crt" > "$W/s_client-$cmd.out" 2>&1
}

# sstpc has no TLS version switch: an OpenSSL config caps it at TLS 1.2
cat > "$W/tls12.cnf" <<'CNF'
openssl_conf = openssl_init
[openssl_init]
ssl_conf = ssl_sect
[ssl_sect]
system_default = system_default_sect
[system_default_sect]
MaxProtocol = TLSv1.2
CNF

session_up() { # session_up WHAT [OPENSSL_CONF]
    race_delay_on veth0 $SSTP_PORT $SRV_NS || verdict_fail "netem set-up failed"
    OPENSSL_CONF=${2:-/etc/ssl/openssl.cnf} sstp_client_start sstpc 1 "$W/client.options"
    sstp_up 1 20 || verdict_fail "$1: tunnel not up within 20 s"
    race_delay_off veth0 $SRV_NS
    ip netns exec $CLI_NS ping -c 3 -i 0.2 -s 1200 -W 2 -q $PPP_SRV_IP > /dev/null ||
        verdict_fail "$1: no ping through the tunnel"
}

session_down() { # session_down NAME: sstpc and the proxy stopped, its log kept as proxy-NAME.log
    local n
    n=$(log_count "$BACKEND_LOG" "ev=close * user=user1")
    bg_stop sstpc 10
    wait_for 15 eval '[ "$(log_count "$BACKEND_LOG" "ev=close * user=user1")" -gt $n ]' ||
        verdict_fail "no close of user1 after sstpc exit"
    bg_stop proxy 10
    mv "$PLOG" "$W/proxy-$1.log"
}

# ---- tls.ktls = on, TLS 1.3: the kernel sends, OpenSSL receives ----
# the link to the backend is mTLS here (its mtls listener), in the kernel too
proxy_start on "e2e-backend 127.0.0.1:4434 tls" "ca = $CERTS/ca.crt" \
    "cert = $CERTS/proxy-client.crt" "key = $CERTS/proxy-client.key"
session_up "TLS 1.3"
log_has "$PLOG" "ev=start * tls=TLSv1.3" || verdict_fail "TLS 1.3: sstpc's session is not TLS 1.3"
tx=$(metric 'sstp_proxy_ktls_sessions{mode="client_tx"}')
rx=$(metric 'sstp_proxy_ktls_sessions{mode="client_rx"}')
ko=$(metric 'sstp_proxy_ktls_sessions{mode="client_kernel_only"}')
[ "$tx/$rx/$ko" = 1/0/0 ] || verdict_fail "TLS 1.3: ktls sessions client tx/rx/kernel_only = $tx/$rx/$ko, not 1/0/0"
btx=$(metric 'sstp_proxy_ktls_sessions{mode="backend_tx"}')
[ "$btx" = 1 ] || verdict_fail "TLS 1.3: the mTLS link to the backend does not send through the kernel ($btx)"
s_client_cmd tls1_3 K
wait_for 5 log_has "$PLOG" "ev=close * rc=E_TLS_KEY_UPDATE" ||
    verdict_fail "TLS 1.3: no close with rc=E_TLS_KEY_UPDATE after s_client's KeyUpdate ($(grep -c 'HTTP/1.1 200' "$W/s_client-K.out") answers seen)"
ku=$(metric 'sstp_proxy_ktls_events_total{event="key_update"}')
[ "$ku" = 1 ] || verdict_fail "TLS 1.3: key_update events $ku, not 1"
# a KeyUpdate that asks nothing of us changes only the receive key (OpenSSL's)
n0=$(log_count "$PLOG" "ev=close * rc=OK")
s_client_cmd tls1_3 k
wait_for 8 eval '[ "$(log_count "$PLOG" "ev=close * rc=OK")" -gt $n0 ]' ||
    verdict_fail "TLS 1.3: no normal close of the session that sent KeyUpdate(update_not_requested)"
# attack: the KeyUpdate asking for ours comes with a head the proxy answers
# itself (a HEAD probe; the same for its HTTP refusals and the website):
# refused at the read, before OpenSSL answers it through the kernel and
# writes the answer under the old key
PROBE=$'HEAD /sra_{BA195980-CD49-458b-9E23-C84EE0ADCD75}/ HTTP/1.1\r\nHost: vpn.example.test\r\n\r\n'
{ printf 'K\n'; sleep 1; printf '%s' "$PROBE"; sleep 3; } |
    ip netns exec $CLI_NS timeout -k 1 10 openssl s_client -connect $SRV_ADDR:$SSTP_PORT \
        -tls1_3 -servername vpn.example.test -CAfile "$CERTS/ca.crt" > "$W/s_client-Kprobe.out" 2>&1
wait_for 5 eval '[ "$(log_count "$PLOG" "ev=close * rc=E_TLS_KEY_UPDATE")" -ge 2 ]' ||
    verdict_fail "TLS 1.3: a KeyUpdate sent with a probe was not refused: $(grep 'ev=close' "$PLOG" | tail -1)"
ku=$(metric 'sstp_proxy_ktls_events_total{event="key_update"}')
[ "$ku" = 2 ] || verdict_fail "TLS 1.3: key_update events $ku after the probe's KeyUpdate, not 2"
ip netns exec $CLI_NS ping -c 3 -i 0.2 -s 1200 -W 2 -q $PPP_SRV_IP > /dev/null ||
    verdict_fail "TLS 1.3: sstpc's tunnel stopped after the KeyUpdate close"
session_down tls13

# ---- tls.ktls = auto (the default): TLS 1.2 both ways in the kernel,
# OpenSSL freed; TLS 1.3 left in user space ----
proxy_start auto
session_up "TLS 1.2" "$W/tls12.cnf"
log_has "$PLOG" "ev=start * tls=TLSv1.2" || verdict_fail "TLS 1.2: sstpc's session is not TLS 1.2"
tx=$(metric 'sstp_proxy_ktls_sessions{mode="client_tx"}')
rx=$(metric 'sstp_proxy_ktls_sessions{mode="client_rx"}')
ko=$(metric 'sstp_proxy_ktls_sessions{mode="client_kernel_only"}')
[ "$tx/$rx/$ko" = 1/1/1 ] || verdict_fail "TLS 1.2: ktls sessions client tx/rx/kernel_only = $tx/$rx/$ko, not 1/1/1"
s_client_cmd tls1_2 R
wait_for 5 log_has "$PLOG" "ev=close * rc=E_TLS_RENEGOTIATION" ||
    verdict_fail "TLS 1.2: no close with rc=E_TLS_RENEGOTIATION after s_client's renegotiation"
rn=$(metric 'sstp_proxy_ktls_events_total{event="renegotiation"}')
[ "$rn" = 1 ] || verdict_fail "TLS 1.2: renegotiation events $rn, not 1"
n0=$(log_count "$PLOG" "ev=close * rc=OK")
s_client_cmd tls1_2 Q
wait_for 8 eval '[ "$(log_count "$PLOG" "ev=close * rc=OK")" -gt $n0 ]' ||
    verdict_fail "TLS 1.2: no normal close after s_client's close_notify"
# records cut across the handover to the kernel (lib/ktls_split.py)
out=$(ip netns exec $CLI_NS timeout -k 1 20 python3 "$E2E_DIR/lib/ktls_split.py" $SRV_ADDR $SSTP_PORT \
    "$CERTS/ca.crt" vpn.example.test 2>&1) || verdict_fail "TLS 1.2 split records: $out"
gs_log "$out"
ko=$(metric 'sstp_proxy_ktls_events_total{event="record"}')$(metric 'sstp_proxy_ktls_events_total{event="alert"}')
[ "$ko" = 00 ] || verdict_fail "TLS 1.2 split records: record/alert events $ko"
# auto leaves TLS 1.3 to OpenSSL: a KeyUpdate asking for ours is answered
n0=$(log_count "$PLOG" "ev=close * rc=OK")
s_client_cmd tls1_3 K
wait_for 8 eval '[ "$(log_count "$PLOG" "ev=close * rc=OK")" -gt $n0 ]' ||
    verdict_fail "auto: the TLS 1.3 session that asked for a KeyUpdate did not end normally"
ku=$(metric 'sstp_proxy_ktls_events_total{event="key_update"}')
[ "$ku" = 0 ] || verdict_fail "auto: a TLS 1.3 session was closed for its KeyUpdate"
fb=$(metric 'sstp_proxy_ktls_events_total{event="fallback"}')
[ "$fb" = 0 ] || verdict_fail "auto: $fb sessions counted as kernel TLS fall-backs (TLS 1.3 is left out on purpose)"
al=$(metric 'sstp_proxy_ktls_events_total{event="alert"}')
[ "$al" = 0 ] || verdict_fail "TLS 1.2: close_notify counted as an alert ($al)"
ip netns exec $CLI_NS ping -c 3 -i 0.2 -s 1200 -W 2 -q $PPP_SRV_IP > /dev/null ||
    verdict_fail "TLS 1.2: sstpc's tunnel stopped after the other sessions' closes"
session_down tls12
sstp_backend_stop || verdict_fail "sstp-backend did not exit cleanly on SIGTERM"

verdict_pass "on, TLS 1.3: kernel tx (client and mTLS backend link), KeyUpdate asking for ours closed (E_TLS_KEY_UPDATE), also when sent with a probe the proxy answers itself, one asking nothing kept; auto: TLS 1.3 KeyUpdate served in user space; TLS 1.2: kernel both ways, OpenSSL freed, renegotiation closed (E_TLS_RENEGOTIATION), close_notify a normal end, records split across the handover relayed; sstpc pinged throughout"
