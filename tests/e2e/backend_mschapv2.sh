#!/bin/bash
# backend_mschapv2.sh — guest scenario (run by tests/e2e/run.sh through
# uml.sh): sstpc with MS-CHAPv2 against sstp-backend's direct TLS listener
# offering SHA-256 crypto binding. Checks: both ppp ends get their
# addresses, a ping crosses the tunnel, 4 MiB cross it intact each way
# (sha256 at both ends), the backend logged auth_ok method=mschapv2 keys=1 and
# binding_ok, and a client hang-up ends the session and its pppd.
. "$E2E_DIR/lib/sstp.sh"

sstp_setup 1 || verdict_fail "namespace/secrets set-up failed"
sstp_server_options mschapv2 "$W/pppd-server.options"
sstp_client_options mschapv2 "$W/client.options"
sstp_backend_conf "$W/backend.conf" sstp.hash=sha256
sstp_backend_start "$W/backend.conf" || verdict_fail "sstp-backend did not start"

race_delay_on veth0 $SSTP_PORT $SRV_NS || verdict_fail "netem set-up failed"
t0=$(gs_now_ms)
sstp_client_start sstpc 1 "$W/client.options"
sstp_up 1 20 || verdict_fail "tunnel not up within 20 s"
t1=$(gs_now_ms)
race_delay_off veth0 $SRV_NS
gs_log "tunnel up in $((t1 - t0)) ms"

ip netns exec $CLI_NS ping -c 3 -i 0.2 -W 2 -q $PPP_SRV_IP ||
    verdict_fail "ping $PPP_SRV_IP through the tunnel failed"

# 4 MiB of random data each way through the tunnel, sha256 at both ends.
size=$((4 * 1024 * 1024))
xfer() {            # NAME SINK_NS SINK_IP SRC_NS
    local name=$1 sink_ns=$2 ip=$3 src_ns=$4 sent got
    rm -f "$W/$name.ready"
    bg_start "$name" ip netns exec "$sink_ns" python3 "$E2E_DIR/lib/xfer.py" recv "$ip" 5001 "$W/$name.ready"
    wait_for 10 test -e "$W/$name.ready" || verdict_fail "$name: receiver did not start"
    sent=$(ip netns exec "$src_ns" python3 "$E2E_DIR/lib/xfer.py" send "$ip" 5001 $size) ||
        verdict_fail "$name: sending $size bytes failed"
    bg_wait "$name" 30 || verdict_fail "$name: receiver failed"
    got=$(< "$W/$name.log")
    gs_log "$name sent: $sent"
    gs_log "$name got:  $got"
    [ "${sent% secs=*}" = "${got% secs=*}" ] || verdict_fail "$name: sent '$sent' but received '$got'"
    [[ $got == "bytes=$size "* ]] || verdict_fail "$name: received '$got'"
    XFER_SECS=${sent##* secs=}
}
xfer upload $SRV_NS $PPP_SRV_IP $CLI_NS
up_s=$XFER_SECS
xfer download $CLI_NS "$(sstp_ip 1)" $SRV_NS
down_s=$XFER_SECS

log_has "$BACKEND_LOG" "ev=auth_ok * user=user1 method=mschapv2 keys=1" ||
    verdict_fail "no auth_ok method=mschapv2 keys=1 in the backend log"
log_has "$BACKEND_LOG" "ev=binding_ok * user=user1" || verdict_fail "no binding_ok in the backend log"
log_has "$BACKEND_LOG" "ev=binding_fail" && verdict_fail "binding_fail in the backend log"
log_has "$BACKEND_LOG" "ev=ppp_up * local=$PPP_SRV_IP remote=$(sstp_ip 1)" ||
    verdict_fail "no ppp_up with the user's address in the backend log"

# The client hangs up: the backend ends the session and reaps its pppd.
bg_stop sstpc 10
wait_for 15 log_has "$BACKEND_LOG" "ev=close * user=user1" || verdict_fail "no close after sstpc exit"
wait_for 5 log_has "$BACKEND_LOG" "ev=pppd_exit" || verdict_fail "no pppd_exit after sstpc exit"
[ -z "$(children_of "$BACKEND_PID" pppd)" ] || verdict_fail "pppd still running after the close"
sstp_backend_stop || verdict_fail "sstp-backend did not exit cleanly on SIGTERM"

verdict_pass "setup=$((t1 - t0))ms 4 MiB up in ${up_s}s, down in ${down_s}s, sha256 equal"
