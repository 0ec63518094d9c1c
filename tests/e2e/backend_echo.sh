#!/bin/bash
# backend_echo.sh — guest scenario: SSTP echo keepalive on an idle session.
# hello_interval = 2 s; PPP's own LCP echoes are off on the client and 30 s
# on the server, so nothing else crosses. Over ~9 s of idle the backend
# sends ECHO_REQUEST each interval and sstpc answers: the backend logs each
# ECHO_RESPONSE it receives (ev=ctrl_in, log_level=debug) and sstpc logs
# the requests it receives (log level 4); the session stays up (no close,
# ping still crosses) across those intervals. Then sstp-backend gets
# SIGTERM with the session up: CALL_DISCONNECT, sstpc leaves, exit 0.
. "$E2E_DIR/lib/sstp.sh"
IDLE_S=9

sstp_setup 1 || verdict_fail "namespace/secrets set-up failed"
sstp_server_options mschapv2 "$W/pppd-server.options"
sstp_client_options mschapv2 "$W/client.options"
sstp_backend_conf "$W/backend.conf" sstp.hello_interval=2s
sstp_backend_start "$W/backend.conf" || verdict_fail "sstp-backend did not start"
race_delay_on veth0 $SSTP_PORT $SRV_NS || verdict_fail "netem set-up failed"
sstp_client_start sstpc 1 "$W/client.options"
sstp_up 1 20 || verdict_fail "tunnel not up within 20 s"
race_delay_off veth0 $SRV_NS

n0=$(log_count "$BACKEND_LOG" "type=ECHO_RESPONSE")
gs_sleep $IDLE_S
n1=$(log_count "$BACKEND_LOG" "type=ECHO_RESPONSE")
echoes=$((n1 - n0))
req=$(log_count "$W/sstpc.log" "ECHO REQUEST")
gs_log "in ${IDLE_S}s idle: backend got $echoes ECHO_RESPONSE, sstpc logged $req ECHO REQUEST"
[ "$echoes" -ge 3 ] || verdict_fail "only $echoes ECHO_RESPONSE in ${IDLE_S}s with hello_interval=2s"
[ "$req" -ge 3 ] || verdict_fail "sstpc logged only $req ECHO_REQUEST"
log_has "$BACKEND_LOG" "ev=close" && verdict_fail "session closed while idle: $(log_line "$BACKEND_LOG" ev=close)"
bg_alive sstpc || verdict_fail "sstpc exited while idle"
ip netns exec $CLI_NS ping -c 1 -W 2 -q $PPP_SRV_IP > /dev/null || verdict_fail "ping after the idle period failed"

# Graceful stop with the session up: SIGTERM to the backend sends
# CALL_DISCONNECT; sstpc ends by itself, the backend reaps its pppd and exits 0.
t0=$(gs_now_ms)
sstp_backend_stop
rc=$?
t1=$(gs_now_ms)
[ $rc -eq 0 ] || verdict_fail "graceful stop: sstp-backend exited with status $rc"
log_has "$BACKEND_LOG" "ev=stopping sessions=1" || verdict_fail "graceful stop: no ev=stopping sessions=1"
log_has "$BACKEND_LOG" "ev=close * user=user1" || verdict_fail "graceful stop: no ev=close"
log_has "$BACKEND_LOG" "ev=stop_deadline" && verdict_fail "graceful stop: hit the stop deadline"
bg_wait sstpc 10 > /dev/null
[ $? -ne 124 ] || verdict_fail "graceful stop: sstpc still running after CALL_DISCONNECT"
[ -z "$(procs_named pppd)" ] || verdict_fail "graceful stop: pppd left: $(procs_named pppd)"
verdict_pass "$echoes echo round trips in ${IDLE_S}s idle, session kept; graceful stop in $((t1 - t0))ms"
