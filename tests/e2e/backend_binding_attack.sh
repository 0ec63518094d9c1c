#!/bin/bash
# backend_binding_attack.sh — guest scenario (tests/e2e/run.sh): the crypto
# binding gates PPP, attacked with lib/attacker.py (its own PPP and
# MS-CHAPv2) next to a real victim (sstpc as user2). sstp-backend runs with
# Redis (every command recorded with MONITOR), per_user_action=replace and
# one session per user, and a server ip-up script that records each run.
#   control  attacker as user4 with its real keys: IPCP and a ping (proves
#            the attacking client speaks PPP and the binding correctly)
#   reauth   bound as user1, IPCP and a ping as user1; then LCP
#            Configure-Request and MS-CHAPv2 as user2 (the victim's
#            credentials, as a relay would replay them): the call is ended
#            before any IPCP or ping as user2, Redis never shows user2 for
#            that session, the backend says why, the victim is untouched
#   reauth_early  the same, the LCP Configure-Request sent before
#            CALL_CONNECTED (pppd reads it after the binding): ended, no
#            IPCP at all, user2 never in Redis
#   zero     user3 with a compound MAC over a zero HLAK: refused, no IPCP
#   relayed  user2's credentials (a relay without the keys: random HLAK):
#            refused before IPCP; no ip-up run, never in Redis, the victim's
#            session (replace policy) untouched
#   eap      pppd.options with require-eap too: LCP asks for MS-CHAPv2 only
#            and pppd says why; EAP-only options: pppd stops at start with
#            the reason, the call ends before any authentication
#   flood    one source opens 500 negotiations through the proxy listener
#            (PROXY v2 naming 192.0.2.2): at most max_negotiating_per_source
#            admitted, the rest answered; sstpc from another source
#            (192.0.3.2, its own namespace) still connects
#   flood6   500 addresses of one IPv6 /64 (PROXY v2): one source, capped
#            the same; a call from another /64 is admitted meanwhile
. "$E2E_DIR/lib/sstp.sh"
. "$E2E_DIR/lib/attack.sh"


CLI2_NS=cli2
CLI2_ADDR=192.0.3.2
SRV2_ADDR=192.0.3.1
REDIS_PORT=6379
FLOOD_N=500
PER_SOURCE=16       # limits.max_negotiating_per_source (max_negotiating 40)

sstp_setup 4 || verdict_fail "namespace/secrets set-up failed"
# A second client network for the flood case: cli2 <-> srv on veth1; cli2
# reaches the backend's listener address through it.
ip -batch - <<EOF || verdict_fail "cli2 namespace set-up failed"
netns add $CLI2_NS
link add tmp-c2 netns $CLI2_NS type veth peer name tmp-s2 netns $SRV_NS
EOF
ip -n $CLI2_NS -batch - <<EOF || verdict_fail "cli2 link set-up failed"
link set tmp-c2 name veth0
link set lo up
addr add $CLI2_ADDR/24 dev veth0
link set veth0 up
route add $SRV_ADDR/32 via $SRV2_ADDR
EOF
ip -n $SRV_NS -batch - <<EOF || verdict_fail "srv veth1 set-up failed"
link set tmp-s2 name veth1
addr add $SRV2_ADDR/24 dev veth1
link set veth1 up
EOF

# The server's ip-up script: one line per run (pppd's ipparam is the sid).
cat > "$W/ip-up.sh" <<EOF
#!/bin/sh
echo "ip-up sid=\$6 remote=\$5 peer=\$PEERNAME" >> $W/ip-up.log
EOF
chmod +x "$W/ip-up.sh"
: > "$W/ip-up.log"
sstp_server_options mschapv2 "$W/pppd-server.options"
echo "ip-up-script $W/ip-up.sh" >> "$W/pppd-server.options"
sstp_client_options mschapv2 "$W/client.options"

bg_start redis ip netns exec $SRV_NS redis-server --port $REDIS_PORT --bind 127.0.0.1 \
    --save '' --appendonly no
wait_for 10 eval "ip netns exec $SRV_NS redis-cli -p $REDIS_PORT ping 2> /dev/null | grep -q PONG" ||
    verdict_fail "redis-server did not start"
bg_start monitor ip netns exec $SRV_NS redis-cli -p $REDIS_PORT monitor

sstp_backend_conf "$W/backend.conf" sstp.hash=sha256 listen.proxy="$SRV_ADDR:4433" \
    listen.proxy_allow="$CLI_ADDR/32" limits.max_negotiating=40 \
    limits.max_negotiating_per_source=$PER_SOURCE limits.per_source_rate=0
cat >> "$W/backend.conf" <<EOF
[redis]
url = redis://127.0.0.1:$REDIS_PORT
[policy]
max_sessions_per_user = 1
per_user_action = replace
EOF
sstp_backend_start "$W/backend.conf" || verdict_fail "sstp-backend did not start"
wait_for 10 log_has "$W/monitor.log" "backend:e2e-backend" || verdict_fail "backend never wrote to Redis"

# The victim: real sstpc as user2.
race_delay_on veth0 $SSTP_PORT $SRV_NS || verdict_fail "netem set-up failed"
sstp_client_start victim 2 "$W/client.options"
sstp_up 2 20 || verdict_fail "victim (user2) tunnel not up within 20 s"
race_delay_off veth0 $SRV_NS
victim_sid=$(log_line "$BACKEND_LOG" "ev=auth_ok * user=user2 ")
victim_sid=${victim_sid#*sid=}
victim_sid=${victim_sid%% *}
[ -n "$victim_sid" ] || verdict_fail "no auth_ok for the victim"
victim_ok() {       # a ping crosses the victim's tunnel within 5 s
    wait_for 5 ip netns exec $CLI_NS ping -c 1 -W 1 -q $PPP_SRV_IP > /dev/null && bg_alive victim
}
victim_ok || verdict_fail "victim: no ping through its tunnel"

# redis_shows_user SID USER: MONITOR saw SID's hash get USER as its user.
redis_shows_user() {
    local sid=$1 user=$2 line
    while IFS= read -r line; do
        [[ $line == *'"HSET"'*"session:$sid\""*'"user" "'"$user"'"'* ]] && return 0
    done < "$W/monitor.log"
    return 1
}
# redis_user_sets SID: how many times MONITOR saw SID added to a per-user set
# (the per-user policy ran for it).
redis_user_sets() {
    local sid=$1 line n=0
    while IFS= read -r line; do
        [[ $line == *'"ZADD" "sstp:user:'*"\"$sid\""* ]] && n=$((n + 1))
    done < "$W/monitor.log"
    echo $n
}

ended() {       # the attacker's call was ended by the server
    [ "${ATK[end]:-open}" != open ]
}

# ---- control: the attacking client is a correct SSTP/PPP client
attack control binding $SRV_ADDR $SSTP_PORT "$(sstp_user 4)" "$(sstp_pass 4)" $PPP_SRV_IP right
[ "${ATK[ip]}" = "$(sstp_ip 4)" ] && [ "${ATK[ping]}" -ge 1 ] ||
    verdict_fail "control: the attacker's own honest session did not come up (ip=${ATK[ip]} ping=${ATK[ping]})"

# ---- reauth: bound as user1, then LCP renegotiation and user2's credentials
attack reauth reauth $SRV_ADDR $SSTP_PORT "$(sstp_user 1)" "$(sstp_pass 1)" \
    "$(sstp_user 2)" "$(sstp_pass 2)" $PPP_SRV_IP
[ "${ATK[b_ping]}" = 0 ] || verdict_fail "reauth: a ping as user2 crossed the tunnel (b_ip=${ATK[b_ip]})"
[ "${ATK[b_ip]}" = - ] || verdict_fail "reauth: IPCP came up as user2 (${ATK[b_ip]})"
ended || verdict_fail "reauth: the call was not ended after the second authentication"
sid=$(sid_of user1) || verdict_fail "reauth: no auth_ok for user1"
wait_for 10 log_has "$BACKEND_LOG" "ev=close sid=$sid " || verdict_fail "reauth: no close for $sid"
has_line "$BACKEND_LOG" "ev=binding_ok sid=$sid *user=user2" && verdict_fail "reauth: binding_ok as user2"
log_has "$BACKEND_LOG" "ev=ppp_up sid=$sid user=user2" && verdict_fail "reauth: ppp_up as user2"
[ "$(log_count "$BACKEND_LOG" "ev=ppp_up sid=$sid ")" -le 1 ] || verdict_fail "reauth: IPCP came up twice"
reason=$(log_line "$BACKEND_LOG" "sid=$sid *rc=E_BIND_REAUTH") ||
    verdict_fail "reauth: the backend logged no E_BIND_REAUTH for $sid"
redis_shows_user "$sid" user2 && verdict_fail "reauth: Redis showed user2 for session $sid"
[ "$(redis_user_sets "$sid")" -le 1 ] || verdict_fail "reauth: the per-user policy ran twice for $sid"
log_has "$BACKEND_LOG" "ev=policy_replace user=user2" && verdict_fail "reauth: the victim was replaced"
victim_ok || verdict_fail "reauth: the victim's session was disturbed"
gs_log "reauth: refused: ${reason#*ev=}"

# ---- reauth early: the LCP Configure-Request right after user1's CHAP
# Success, before CALL_CONNECTED: pppd reads it only after the binding
# (the plugin holds it), then renegotiates and authenticates again
attack reauth_early reauth $SRV_ADDR $SSTP_PORT "$(sstp_user 1)" "$(sstp_pass 1)" \
    "$(sstp_user 2)" "$(sstp_pass 2)" $PPP_SRV_IP early
[ "${ATK[b_ping]}" = 0 ] && [ "${ATK[b_ip]}" = - ] ||
    verdict_fail "reauth_early: IPCP/ping as user2 (b_ip=${ATK[b_ip]} b_ping=${ATK[b_ping]})"
[ "${ATK[b_auth]}" != success ] || [ "${ATK[end]:-open}" != open ] ||
    verdict_fail "reauth_early: authenticated as user2 and the call stayed open"
ended || verdict_fail "reauth_early: the call was not ended"
sid=$(sid_of user1 2) || verdict_fail "reauth_early: no auth_ok for user1"
wait_for 10 log_has "$BACKEND_LOG" "ev=close sid=$sid " || verdict_fail "reauth_early: no close for $sid"
has_line "$BACKEND_LOG" "ev=ppp_up sid=$sid " && verdict_fail "reauth_early: IPCP came up for $sid"
redis_shows_user "$sid" user2 && verdict_fail "reauth_early: Redis showed user2 for session $sid"
has_line "$BACKEND_LOG" "ev=policy_replace user=user2" && verdict_fail "reauth_early: the victim was replaced"
victim_ok || verdict_fail "reauth_early: the victim's session was disturbed"
reason=$(log_line "$BACKEND_LOG" "ev=close sid=$sid ")
gs_log "reauth_early: ${reason#*ev=}"

# ---- zero: compound MAC over an all-zero HLAK after MS-CHAPv2
attack zero binding $SRV_ADDR $SSTP_PORT "$(sstp_user 3)" "$(sstp_pass 3)" $PPP_SRV_IP zero
[ "${ATK[ip]}" = - ] && [ "${ATK[ping]}" = 0 ] ||
    verdict_fail "zero: a zero-HLAK binding got IPCP/ping (ip=${ATK[ip]} ping=${ATK[ping]})"
ended || verdict_fail "zero: the call was not ended"
sid=$(sid_of user3) || verdict_fail "zero: no auth_ok for user3"
log_has "$BACKEND_LOG" "ev=binding_fail sid=$sid " || verdict_fail "zero: no binding_fail for $sid"
log_has "$BACKEND_LOG" "ev=ppp_up sid=$sid " && verdict_fail "zero: ppp_up for $sid"
log_has "$W/ip-up.log" "sid=$sid " && verdict_fail "zero: ip-up ran for $sid"

# ---- relayed: the victim's credentials without the keys (replace policy)
attack relayed binding $SRV_ADDR $SSTP_PORT "$(sstp_user 2)" "$(sstp_pass 2)" $PPP_SRV_IP random
[ "${ATK[ip]}" = - ] && [ "${ATK[ping]}" = 0 ] ||
    verdict_fail "relayed: got IPCP/ping without the keys (ip=${ATK[ip]} ping=${ATK[ping]})"
ended || verdict_fail "relayed: the call was not ended"
sid=$(sid_of user2 2) || verdict_fail "relayed: no auth_ok for the relayed user2"
log_has "$BACKEND_LOG" "ev=binding_fail sid=$sid " || verdict_fail "relayed: no binding_fail for $sid"
log_has "$BACKEND_LOG" "ev=ppp_up sid=$sid " && verdict_fail "relayed: ppp_up for $sid"
log_has "$W/ip-up.log" "sid=$sid " && verdict_fail "relayed: ip-up ran for $sid"
redis_shows_user "$sid" user2 && verdict_fail "relayed: Redis showed user2 for session $sid"
[ "$(redis_user_sets "$sid")" = 0 ] || verdict_fail "relayed: the per-user policy ran for $sid"
log_has "$BACKEND_LOG" "ev=policy_replace" && verdict_fail "relayed: the victim's session was replaced"
victim_ok || verdict_fail "relayed: the victim's session was disturbed"
log_has "$W/ip-up.log" "sid=$victim_sid " || verdict_fail "ip-up.sh never ran (even for the victim)"

# ---- flood: 500 negotiations from one source, sstpc from another
# flood NAME SRC N: lib/attacker.py flood through the proxy listener,
# claiming SRC; waits until every call is answered; FLOOD[key] its output.
declare -A FLOOD
flood() {
    local name=$1 src=$2 n=$3 line
    rm -f "$W/$name.stop"
    bg_start "$name" ip netns exec $CLI_NS timeout 120 $ATTACKER flood $SRV_ADDR 4433 "$src" \
        "$n" "$W/$name.stop" 90
    wait_for 60 log_has "$W/$name.log" "unanswered=" || verdict_fail "$name: the $n calls were not answered in 60 s"
    FLOOD=()
    while IFS= read -r line; do
        [[ $line == *=* ]] && FLOOD[${line%%=*}]=${line#*=}
    done < "$W/$name.log"
    gs_log "$name: $(tr '\n' ' ' < "$W/$name.log")"
    [ "${FLOOD[opened]}" = "$n" ] || verdict_fail "$name: could not open $n connections"
    [ "${FLOOD[unanswered]}" = 0 ] || verdict_fail "$name: ${FLOOD[unanswered]} calls were never answered"
}
flood_end() {       # NAME CLIENT N: close the flood's calls, wait until the
                    # backend closed N calls of CLIENT (a prefix of client=)
    local pat="ev=close * client=$2" want=$3
    : > "$W/$1.stop"
    bg_wait "$1" 10 > /dev/null
    wait_for 30 eval '[ "$(log_count "$BACKEND_LOG" "$pat")" -ge $want ]' ||
        verdict_fail "$1: the backend did not close the flood's calls"
}
flood flood $CLI_ADDR $FLOOD_N
(( FLOOD[acked] >= 1 && FLOOD[acked] <= PER_SOURCE )) ||
    verdict_fail "flood: ${FLOOD[acked]} negotiations admitted from one address (max_negotiating_per_source=$PER_SOURCE)"
flood_acked=${FLOOD[acked]}
race_delay_on veth1 $SSTP_PORT $SRV_NS || verdict_fail "netem set-up failed (veth1)"
bg_start other ip netns exec $CLI2_NS sstpc --log-level 4 --log-stderr --cert-warn \
    --user "$(sstp_user 4)" --password "$(sstp_pass 4)" $SRV_ADDR file "$W/client.options"
wait_for 25 eval 'ip -n $CLI2_NS -o -4 addr show 2> /dev/null | grep -q " inet $(sstp_ip 4) peer "' ||
    verdict_fail "flood: sstpc from $CLI2_ADDR did not connect while $CLI_ADDR held $FLOOD_N negotiations"
race_delay_off veth1 $SRV_NS
wait_for 5 ip netns exec $CLI2_NS ping -c 1 -W 1 -q $PPP_SRV_IP > /dev/null || verdict_fail "flood: no ping from the other source"
flood_end flood "$CLI_ADDR:2" $FLOOD_N
bg_stop other 10
victim_ok || verdict_fail "flood: the victim's session was disturbed"

# ---- flood6: 500 addresses of one IPv6 /64 are one source; another /64 is not
flood flood6 2001:db8:1:2::/64 $FLOOD_N
(( FLOOD[acked] >= 1 && FLOOD[acked] <= PER_SOURCE )) ||
    verdict_fail "flood6: ${FLOOD[acked]} negotiations admitted from one /64 (max_negotiating_per_source=$PER_SOURCE)"
flood6_acked=${FLOOD[acked]}
flood flood6b 2001:db8:1:3::/64 1
[ "${FLOOD[acked]}" = 1 ] || verdict_fail "flood6: a call from another /64 was refused while the first /64 was full"
flood_end flood6b "[2001:db8:1:3::1]" 1
flood_end flood6 "[2001:db8:1:2::" $FLOOD_N

# ---- EAP: pppd 2.4.9 cannot give the MSK the binding needs, so the plugin
# never offers it (the options file is read at each pppd start)
cp "$W/pppd-server.options" "$W/pppd-mschapv2.options"
{ cat "$W/pppd-mschapv2.options"; echo require-eap; } > "$W/pppd-server.options"
attack eap_offered binding $SRV_ADDR $SSTP_PORT "$(sstp_user 4)" "$(sstp_pass 4)" $PPP_SRV_IP right
[[ ${ATK[events]} == *"lcp_req auth=c22381,"* && ${ATK[events]} != *"auth=c227"* ]] ||
    verdict_fail "eap: with require-eap the server did not ask for MS-CHAPv2 alone: ${ATK[events]}"
[ "${ATK[ping]}" -ge 1 ] || verdict_fail "eap: MS-CHAPv2 with require-eap in the options did not come up"
log_has "$BACKEND_LOG" "sstp-lb: not offering EAP" || verdict_fail "eap: pppd did not say why EAP is not offered"
grep -v -e '^require-mschap-v2' "$W/pppd-mschapv2.options" > "$W/pppd-server.options"
echo require-eap >> "$W/pppd-server.options"
t0=$(gs_now_ms)
ip netns exec $CLI_NS timeout 30 $ATTACKER binding $SRV_ADDR $SSTP_PORT "$(sstp_user 4)" "$(sstp_pass 4)" \
    $PPP_SRV_IP right > "$W/eap_only.out" 2>&1
t1=$(gs_now_ms)
gs_log "eap_only ($((t1 - t0)) ms): $(tr '\n' ' ' < "$W/eap_only.out")"
log_has "$W/eap_only.out" "chap_challenge" && verdict_fail "eap: an EAP-only server authenticated anyway"
log_has "$W/eap_only.out" "auth=success" && verdict_fail "eap: an EAP-only server authenticated anyway"
log_has "$BACKEND_LOG" "sstp-lb: EAP is the only authentication pppd.options allows" ||
    verdict_fail "eap: pppd with EAP-only options did not stop with the reason"
(( t1 - t0 < 15000 )) || verdict_fail "eap: the EAP-only refusal took $((t1 - t0)) ms"
cp "$W/pppd-mschapv2.options" "$W/pppd-server.options"

bg_stop victim 10
sstp_backend_stop || verdict_fail "sstp-backend did not exit cleanly on SIGTERM"
verdict_pass "reauth, zero-HLAK and relayed bindings refused before IPCP, EAP not offered; flood: $flood_acked of $FLOOD_N admitted from one address, $flood6_acked from one /64, other sources up"
