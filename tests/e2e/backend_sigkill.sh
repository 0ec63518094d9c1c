#!/bin/bash
# backend_sigkill.sh — guest scenario: sstpc is killed with SIGKILL in the
# middle of a session (no CALL_DISCONNECT, the kernel just closes its TCP
# socket). The backend must notice the lost transport, hang up its pppd and
# reap it within the kill grace (pppd.kill_grace = 2 s here): ev=pppd_exit,
# then ev=close, and no pppd left in the process table (neither the
# backend's child nor the client's, whose pty master died with sstpc).
. "$E2E_DIR/lib/sstp.sh"
GRACE_MS=2000

sstp_setup 1 || verdict_fail "namespace/secrets set-up failed"
sstp_server_options mschapv2 "$W/pppd-server.options"
sstp_client_options mschapv2 "$W/client.options"
sstp_backend_conf "$W/backend.conf" pppd.kill_grace=2s
sstp_backend_start "$W/backend.conf" || verdict_fail "sstp-backend did not start"
fds0=$(fd_count "$BACKEND_PID")

race_delay_on veth0 $SSTP_PORT $SRV_NS || verdict_fail "netem set-up failed"
sstp_client_start sstpc 1 "$W/client.options"
sstp_up 1 20 || verdict_fail "tunnel not up within 20 s"
race_delay_off veth0 $SRV_NS
ip netns exec $CLI_NS ping -c 1 -W 2 -q $PPP_SRV_IP > /dev/null || verdict_fail "ping through the tunnel failed"
srv_pppd=$(children_of "$BACKEND_PID" pppd)
[ -n "$srv_pppd" ] || verdict_fail "no pppd child of sstp-backend while the session is up"

t0=$(gs_now_ms)
kill -KILL "$(bg_pid sstpc)"
wait_for 10 log_has "$BACKEND_LOG" "ev=pppd_exit * pid=$srv_pppd " ||
    verdict_fail "no ev=pppd_exit for pid $srv_pppd within 10 s"
t1=$(gs_now_ms)
wait_for 5 log_has "$BACKEND_LOG" "ev=close * user=user1" || verdict_fail "no ev=close"
gone_ms=$((t1 - t0))
gs_log "backend's pppd $srv_pppd reaped ${gone_ms} ms after SIGKILL"
[ -e "/proc/$srv_pppd" ] && verdict_fail "pppd $srv_pppd still in the process table"
[ -z "$(children_of "$BACKEND_PID" pppd)" ] || verdict_fail "sstp-backend still has a pppd child"
wait_for 5 eval '[ -z "$(procs_named pppd)" ]' || verdict_fail "a pppd is left: $(procs_named pppd)"
# the client's pty master closed: SIGHUP/EIO, it exits by itself
[ "$gone_ms" -le $((GRACE_MS + 1500)) ] || verdict_fail "pppd exit took ${gone_ms} ms (grace ${GRACE_MS} ms)"
log_has "$BACKEND_LOG" "ev=pppd_kill" && gs_log "note: pppd ignored SIGTERM and needed SIGKILL"
log_line "$BACKEND_LOG" "ev=pppd_exit"
log_line "$BACKEND_LOG" "ev=close"
wait_for 5 eval '[ "$(fd_count "$BACKEND_PID")" -eq "$fds0" ]' ||
    verdict_fail "backend fds: $fds0 before, $(fd_count "$BACKEND_PID") after"
sstp_backend_stop || verdict_fail "sstp-backend did not exit cleanly on SIGTERM"
verdict_pass "pppd reaped ${gone_ms}ms after the client's SIGKILL"
