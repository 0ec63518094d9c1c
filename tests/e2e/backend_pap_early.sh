#!/bin/bash
# backend_pap_early.sh — guest scenario: PAP (crypto binding with the zero
# HLAK) where sstpc's CALL_CONNECTED reaches sstp-backend BEFORE the
# server-side plugin has reported the authentication.
#
# How the order is forced: the backend's pppd is a wrapper that appends a
# test plugin (lib/auth-delay-plugin.c, compiled by run.sh into
# $AUTH_DELAY_SO) which holds pppd's auth-up notification, ahead of our
# plugin's report, until this script has seen sstpc log "Sending Connected
# Message" and the backend log the deferral, and created a flag file
# (then 200 ms more).
# What proves the deferral (backend log, log_level=debug), in this order:
#   ev=ctrl_in type=CALL_CONNECTED state=Server_Call_Connected_Pending
#   ev=binding_deferred                  (no keys yet: kept, not failed)
#   auth-delay: released ...             (pppd's log, through logfd 2)
#   ev=auth_ok method=pap keys=0         (plugin report: zero HLAK)
#   ev=binding_ok                        (the kept message, verified now)
# and binding_ok comes >= 150 ms after CALL_CONNECTED arrived.
#   backend_pap_early.sh AUTH_DELAY_SO
. "$E2E_DIR/lib/sstp.sh"
so=${1:?usage: backend_pap_early.sh AUTH_DELAY_SO}
flag=$W/client-sent-connected

sstp_setup 1 || verdict_fail "namespace/secrets set-up failed"
sstp_server_options pap "$W/pppd-server.options"
sstp_client_options pap "$W/client.options"
printf '#!/bin/sh\nexec /usr/sbin/pppd "$@" plugin %s auth-delay-file %s\n' "$so" "$flag" > "$W/pppd-wrap.sh"
chmod 755 "$W/pppd-wrap.sh"
rm -f "$flag"
sstp_backend_conf "$W/backend.conf" pppd.path="$W/pppd-wrap.sh"
sstp_backend_start "$W/backend.conf" || verdict_fail "sstp-backend did not start"

race_delay_on veth0 $SSTP_PORT $SRV_NS || verdict_fail "netem set-up failed"
t0=$(gs_now_ms)
sstp_client_start sstpc 1 "$W/client.options"
wait_for 20 log_has "$W/sstpc.log" "Sending Connected Message" ||
    verdict_fail "sstpc never sent CALL_CONNECTED (PAP)"
# Release pppd once the backend has the message (checked again below; on a
# backend that does not defer this just times out and the checks fail).
wait_for 5 log_has "$BACKEND_LOG" "ev=binding_deferred"
: > "$flag"
gs_log "sstpc sent CALL_CONNECTED; released the server's auth-up"
sstp_up 1 20 || verdict_fail "tunnel not up within 20 s"
t1=$(gs_now_ms)
race_delay_off veth0 $SRV_NS
ip netns exec $CLI_NS ping -c 2 -i 0.2 -W 2 -q $PPP_SRV_IP ||
    verdict_fail "ping $PPP_SRV_IP through the tunnel failed"

L=$BACKEND_LOG
log_has "$L" "ev=binding_fail" && verdict_fail "binding_fail: $(log_line "$L" ev=binding_fail)"
n_cc=$(log_lineno "$L" "ev=ctrl_in * type=CALL_CONNECTED state=Server_Call_Connected_Pending")
n_def=$(log_lineno "$L" "ev=binding_deferred")
n_rel=$(log_lineno "$L" "auth-delay: released")
n_auth=$(log_lineno "$L" "ev=auth_ok * user=user1 method=pap keys=0")
n_ok=$(log_lineno "$L" "ev=binding_ok * user=user1")
gs_log "log lines: CALL_CONNECTED=$n_cc deferred=$n_def released=$n_rel auth_ok=$n_auth binding_ok=$n_ok"
[ "$n_cc" -gt 0 ] || verdict_fail "no ctrl_in CALL_CONNECTED in the backend log"
[ "$n_auth" -gt 0 ] || verdict_fail "no auth_ok method=pap keys=0 in the backend log"
[ "$n_ok" -gt 0 ] || verdict_fail "no binding_ok in the backend log"
[ "$n_rel" -gt 0 ] || verdict_fail "the auth-delay plugin did not hold pppd"
[ "$n_cc" -lt "$n_auth" ] || verdict_fail "CALL_CONNECTED did not arrive before the plugin's report"
[ "$n_def" -gt "$n_cc" ] && [ "$n_def" -lt "$n_auth" ] ||
    verdict_fail "no binding_deferred between CALL_CONNECTED and auth_ok"
[ "$n_rel" -lt "$n_auth" ] && [ "$n_auth" -lt "$n_ok" ] ||
    verdict_fail "order released < auth_ok < binding_ok broken"
ms_cc=$(log_ms "$(log_line "$L" "ev=ctrl_in * type=CALL_CONNECTED")")
ms_ok=$(log_ms "$(log_line "$L" "ev=binding_ok")")
wait_ms=$((ms_ok - ms_cc))
[ "$wait_ms" -ge 150 ] || verdict_fail "binding_ok only ${wait_ms} ms after CALL_CONNECTED: not deferred"

bg_stop sstpc 10
wait_for 15 log_has "$L" "ev=close * user=user1" || verdict_fail "no close after sstpc exit"
sstp_backend_stop || verdict_fail "sstp-backend did not exit cleanly on SIGTERM"
verdict_pass "setup=$((t1 - t0))ms CALL_CONNECTED kept ${wait_ms}ms until the PAP report"
