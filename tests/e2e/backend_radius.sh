#!/bin/bash
# backend_radius.sh — guest scenario (tests/e2e/run.sh): sstp-backend's
# pppd authenticating through pppd's radius.so (Debian `ppp`) against a real
# FreeRADIUS 3.2 started here on loopback (lib/radius.sh), behind a real
# sstp-proxy (TLS offload, PROXY v2 to the backend), with Redis for sstpctl.
# The server pppd uses conf/pppd.options + conf/radius.options, PAP allowed.
#   keys      sstpc (MS-CHAPv2) as radkeys: FreeRADIUS returns MS-MPPE keys,
#             the backend reports keys=1 and binding_ok, ping crosses;
#             accounting Start reaches FreeRADIUS with Calling-Station-Id =
#             the client address the proxy's PROXY header carried, the
#             user and the address sstpctl shows for the session, and
#             Acct-Session-Id = Acct-Multi-Session-Id = its sstpctl id; the
#             ip-up script gets SSTP_SESSION_ID and SSTP_CLIENT_ADDR
#   relayed   radkeys' credentials without the keys (random HLAK) while
#             radkeys is up (per_user_action=replace): refused before IPCP,
#             no ip-up, no accounting Start, the live session untouched;
#             then the live session ends: accounting Stop, same session ids
#   nokeys    FreeRADIUS accepts MS-CHAPv2 but returns no MS-MPPE keys:
#             a compound MAC over a zero HLAK is refused; real sstpc is
#             refused with the backend's reason, never up
#   nopolicy  keys but no MS-MPPE-Encryption-Policy: a zero HLAK is refused;
#             real sstpc binds with the keys radius.so decrypted; the same
#             with MS-MPPE-Encryption-Policy 0
#   pap       sstpc with PAP through RADIUS: up, method=pap
#   badpass   sstpc with a wrong password: Access-Reject, never up (sstpc
#             1.0.18 exits 0 either way: the reject is read from FreeRADIUS)
. "$E2E_DIR/lib/sstp.sh"
. "$E2E_DIR/lib/attack.sh"
. "$E2E_DIR/lib/radius.sh"


RAD=$W/raddb
RADC=$W/radiusclient
DETAIL=$RAD/acct/detail
REDIS_PORT=6379
SSTPCTL="ip netns exec $SRV_NS $REPO/build/sstpctl -r redis://127.0.0.1:$REDIS_PORT"

sstp_setup 1 || verdict_fail "namespace set-up failed"
declare -A PASS=([radkeys]=pw-radkeys-1 [nokeys1]=pw-nokeys-1 [nopolicy1]=pw-nopolicy-1
                 [policy0a]=pw-policy0-1 [radpap]=pw-radpap-1)
declare -A ADDR=([radkeys]=10.8.0.21 [nokeys1]=10.8.0.22 [nopolicy1]=10.8.0.23 [radpap]=10.8.0.24
                 [policy0a]=10.8.0.25)
{
    for u in "${!PASS[@]}"; do
        printf '%s Cleartext-Password := "%s"\n    Framed-IP-Address = %s\n\n' "$u" "${PASS[$u]}" "${ADDR[$u]}"
    done
} > "$W/radius-users"
radius_server_conf "$RAD" "$W/radius-users" || verdict_fail "FreeRADIUS config failed"
radius_client_conf "$RADC" || verdict_fail "radiusclient config failed"

# The server's ip-up script records each run and the SSTP_* variables.
cat > "$W/ip-up.sh" <<EOF
#!/bin/sh
echo "ip-up sid=\$6 remote=\$5 peer=\$PEERNAME env_sid=\$SSTP_SESSION_ID env_client=\$SSTP_CLIENT_ADDR" >> $W/ip-up.log
EOF
chmod +x "$W/ip-up.sh"
: > "$W/ip-up.log"
{
    while IFS= read -r line; do
        [ "$line" = refuse-pap ] && line=require-pap
        printf '%s\n' "$line"
    done < "$REPO/conf/pppd.options"
    while IFS= read -r line; do
        [[ $line == radius-config-file* ]] && line="radius-config-file $RADC/radiusclient.conf"
        printf '%s\n' "$line"
    done < "$REPO/conf/radius.options"
    echo "ip-up-script $W/ip-up.sh"
    [ -e "$W/debug" ] && echo debug
} > "$W/pppd-server.options"
sstp_client_options mschapv2 "$W/client.options"
sstp_client_options pap "$W/client-pap.options"

bg_start redis ip netns exec $SRV_NS redis-server --port $REDIS_PORT --bind 127.0.0.1 \
    --save '' --appendonly no
radius_start "$RAD" $SRV_NS || verdict_fail "FreeRADIUS did not start"
wait_for 10 eval "ip netns exec $SRV_NS redis-cli -p $REDIS_PORT ping 2> /dev/null | grep -q PONG" ||
    verdict_fail "redis-server did not start"

sstp_backend_conf "$W/backend.conf" listen.tls= listen.proxy=127.0.0.1:4433 \
    listen.proxy_allow=127.0.0.1/32
cat >> "$W/backend.conf" <<EOF
[redis]
url = redis://127.0.0.1:$REDIS_PORT
[policy]
max_sessions_per_user = 1
per_user_action = replace
EOF
sstp_backend_start "$W/backend.conf" || verdict_fail "sstp-backend did not start"
cat > "$W/proxy.conf" <<EOF
[proxy]
id = e2e-proxy
log_level = debug
workers = 1
[listen]
bind = $SRV_ADDR:$SSTP_PORT
[tls]
cert = $CERTS/server.crt $CERTS/server.key default
[backends]
server = e2e-backend 127.0.0.1:4433
[admin]
address = 127.0.0.1:9180
EOF
bg_start proxy ip netns exec $SRV_NS "$REPO/build/sstp-proxy" -c "$W/proxy.conf"
wait_for 15 log_has "$W/proxy.log" "ev=worker_ready" || verdict_fail "sstp-proxy did not start"

# sstpc_as NAME USER PASS OPTS: sstpc in "cli" through the proxy
sstpc_as() {
    bg_start "$1" ip netns exec $CLI_NS sstpc --log-level 4 --log-stderr --cert-warn \
        --user "$2" --password "$3" $SRV_ADDR file "$4"
}
client_has() {     # both ppp ends are up with the client's address ADDR
    ip -n $CLI_NS -o -4 addr show up 2> /dev/null | grep -q " inet $1 peer $PPP_SRV_IP/32 " &&
        ip -n $SRV_NS -o -4 addr show up 2> /dev/null | grep -q " inet $PPP_SRV_IP peer $1/32 "
}
hang_up() {        # NAME: stop that sstpc and wait until its ppp is gone
    bg_stop "$1" 10
    wait_for 10 eval '[ "$(sstp_count_up $CLI_NS)" = 0 ]' || verdict_fail "$1: ppp still up after sstpc exit"
}
tunnel_ping() {    # a ping crosses the tunnel within 5 s
    wait_for 5 ip netns exec $CLI_NS ping -c 1 -W 1 -q $PPP_SRV_IP > /dev/null
}
# detail_records STATUS USER: the detail file's records of that status and
# user, one per line, attributes joined by '|'.
detail_records() {
    local rec= line
    [ -r "$DETAIL" ] || return 0
    while IFS= read -r line; do
        if [ -z "$line" ]; then
            [[ $rec == *"Acct-Status-Type = $1"* && $rec == *"User-Name = \"$2\""* ]] && echo "$rec"
            rec=
        else
            line=${line#"${line%%[![:space:]]*}"}
            rec+="$line|"
        fi
    done < "$DETAIL"
    [[ $rec == *"Acct-Status-Type = $1"* && $rec == *"User-Name = \"$2\""* ]] && echo "$rec"
    return 0
}
attr_of() {        # attr_of RECORD NAME: the value (quotes removed)
    local v=${1#*"|$2 = "}
    [ "$v" = "$1" ] && return 1
    v=${v%%|*}
    v=${v#\"}
    echo "${v%\"}"
}
refused_before_ipcp() {     # NAME: the attacker got no IPCP, no ping, and was ended
    [ "${ATK[ip]}" = - ] && [ "${ATK[ping]}" = 0 ] || verdict_fail "$1: got IPCP/ping (ip=${ATK[ip]} ping=${ATK[ping]})"
    [ "${ATK[end]:-open}" != open ] || verdict_fail "$1: the call was not ended"
}

race_delay_on veth0 $SSTP_PORT $SRV_NS || verdict_fail "netem set-up failed"

# ---- keys: MS-CHAPv2 with RADIUS keys; accounting Start
sstpc_as keys radkeys "${PASS[radkeys]}" "$W/client.options"
wait_for 25 client_has "${ADDR[radkeys]}" || verdict_fail "keys: radkeys not up within 25 s"
tunnel_ping || verdict_fail "keys: no ping"
sid=$(sid_of radkeys) || verdict_fail "keys: no auth_ok for radkeys"
has_line "$BACKEND_LOG" "ev=auth_ok sid=$sid *user=radkeys method=mschapv2 keys=1" ||
    verdict_fail "keys: the backend did not get the RADIUS keys (keys=1)"
log_has "$BACKEND_LOG" "ev=binding_ok sid=$sid " || verdict_fail "keys: no binding_ok"
wait_for 10 eval '[ -n "$(detail_records Start radkeys)" ]' || verdict_fail "keys: no accounting Start in FreeRADIUS"
start=$(detail_records Start radkeys)
calling=$(attr_of "$start" Calling-Station-Id)
[ "$calling" = "$CLI_ADDR" ] ||
    verdict_fail "keys: Calling-Station-Id is '$calling', not the client address $CLI_ADDR"
acct_sid=$(attr_of "$start" Acct-Session-Id) || verdict_fail "keys: Start without Acct-Session-Id"
[ "$(attr_of "$start" Framed-IP-Address)" = "${ADDR[radkeys]}" ] || verdict_fail "keys: Start with the wrong Framed-IP-Address"
# The accounting session is sstp-lb's session id (the plugin's rc_mksid
# and its avpair): one Acct-Session-Id, equal to the id sstpctl shows,
# and Acct-Multi-Session-Id too.
acct_ids_are_sid() {    # RECORD SID WHAT
    [ "$(grep -o '|Acct-Session-Id = ' <<< "|$1" | wc -l)" = 1 ] ||
        verdict_fail "$3: not exactly one Acct-Session-Id: $1"
    [ "$(attr_of "|$1" Acct-Session-Id)" = "$2" ] ||
        verdict_fail "$3: Acct-Session-Id is '$(attr_of "|$1" Acct-Session-Id)', not the session id $2"
    [ "$(attr_of "|$1" Acct-Multi-Session-Id)" = "$2" ] ||
        verdict_fail "$3: Acct-Multi-Session-Id is '$(attr_of "|$1" Acct-Multi-Session-Id)', not $2"
}
acct_ids_are_sid "$start" "$sid" "keys: Start"
log_has "$BACKEND_LOG" "sstp-lb: RADIUS accounting: Acct-Session-Id and Acct-Multi-Session-Id = $sid" ||
    verdict_fail "keys: pppd did not log the accounting session id"
# sstpctl's row for this session: user, client and address must be the
# ones accounting reported, under the same session id.
row=$($SSTPCTL --json sessions | python3 -c '
import json, sys
for r in json.load(sys.stdin):
    if r["session"] == sys.argv[1]:
        print(r["user"], r["client"], r["ip"])' "$sid") || verdict_fail "keys: sstpctl sessions failed"
[ "$row" = "radkeys $CLI_ADDR ${ADDR[radkeys]}" ] ||
    verdict_fail "keys: sstpctl shows '$row' for $sid, accounting says radkeys $calling ${ADDR[radkeys]}"
log_has "$W/ip-up.log" "sid=$sid " || verdict_fail "keys: ip-up did not run"
has_line "$W/ip-up.log" "sid=$sid *env_sid=$sid env_client=$CLI_ADDR" ||
    verdict_fail "keys: ip-up did not get SSTP_SESSION_ID/SSTP_CLIENT_ADDR: $(log_line "$W/ip-up.log" "sid=$sid ")"
gs_log "keys: sid=$sid Acct-Session-Id=$acct_sid Calling-Station-Id=$calling"

# ---- relayed: radkeys' credentials, no keys, while radkeys is live
attack relayed binding $SRV_ADDR $SSTP_PORT radkeys "${PASS[radkeys]}" $PPP_SRV_IP random
refused_before_ipcp relayed
gs_sleep 1
[ "$(detail_records Start radkeys | wc -l)" = 1 ] || verdict_fail "relayed: an accounting Start for the failed binding"
[ "$(log_count "$W/ip-up.log" "peer=radkeys")" = 1 ] || verdict_fail "relayed: ip-up ran for the failed binding"
log_has "$BACKEND_LOG" "ev=policy_replace" && verdict_fail "relayed: the live radkeys session was replaced"
tunnel_ping && bg_alive keys ||
    verdict_fail "relayed: the live radkeys session was disturbed"
sessions=$($SSTPCTL --json sessions)
[ "$(grep -o '"radkeys"' <<< "$sessions" | wc -l)" = 1 ] || verdict_fail "relayed: sstpctl shows a second radkeys session"

hang_up keys
wait_for 10 eval '[ -n "$(detail_records Stop radkeys)" ]' || verdict_fail "keys: no accounting Stop"
stop=$(detail_records Stop radkeys)
[ "$(attr_of "$stop" Acct-Session-Id)" = "$acct_sid" ] || verdict_fail "keys: Stop's Acct-Session-Id differs from Start's"
acct_ids_are_sid "$stop" "$sid" "keys: Stop"
[ "$(attr_of "$stop" Calling-Station-Id)" = "$CLI_ADDR" ] || verdict_fail "keys: Stop's Calling-Station-Id is not $CLI_ADDR"

# ---- nokeys: MS-CHAPv2 accepted without MS-MPPE keys
# The backend refuses at pppd's AUTH report (E_BIND_NO_KEYS); the abort may
# reach the attacker before CHAP Success does, so the zero-HLAK attempt may
# never be staged: refused either way.
ATTACK_MAY_END_EARLY=1 attack nokeys_zero binding $SRV_ADDR $SSTP_PORT nokeys1 "${PASS[nokeys1]}" $PPP_SRV_IP zero
if [ "${ATK[ended_early]:-}" = 1 ]; then
    has_line "$BACKEND_LOG" "ev=auth_refused * user=nokeys1 *rc=E_BIND_NO_KEYS" ||
        verdict_fail "nokeys: zero HLAK not staged, and no E_BIND_NO_KEYS refusal: ${ATK[stage_error]:-?}"
    gs_log "nokeys_zero: ended at the AUTH report, before CHAP Success reached the attacker"
else
    refused_before_ipcp "nokeys: zero HLAK"
fi
sstpc_as nokeys nokeys1 "${PASS[nokeys1]}" "$W/client.options"
rc=0
bg_wait nokeys 25 > /dev/null || rc=$?
[ $rc = 124 ] && verdict_fail "nokeys: sstpc still running 25 s later"
client_has "${ADDR[nokeys1]}" && verdict_fail "nokeys: sstpc came up without keys"
[ "$(detail_records Start nokeys1)" = "" ] || verdict_fail "nokeys: accounting Start without keys"
has_line "$BACKEND_LOG" "ev=ppp_up * user=nokeys1" && verdict_fail "nokeys: ppp_up without keys"
reason=$(log_line "$BACKEND_LOG" "ev=auth_refused * user=nokeys1 method=mschapv2 *rc=E_BIND_NO_KEYS") ||
    verdict_fail "nokeys: no auth_refused rc=E_BIND_NO_KEYS for nokeys1"
has_line "$BACKEND_LOG" "ev=auth_refused_hint rc=E_BIND_NO_KEYS *MS-MPPE-Send-Key*" ||
    verdict_fail "nokeys: the backend did not tell the operator that RADIUS returned no MS-MPPE keys"
has_line "$BACKEND_LOG" "ev=binding_ok * user=nokeys1" && verdict_fail "nokeys: binding_ok without keys"
gs_log "nokeys: refused: ${reason#*ev=}"

# ---- nopolicy: keys without MS-MPPE-Encryption-Policy (pppd's keys_set
# stays 0; the plugin reads the keys radius.so decrypted all the same)
attack nopolicy_zero binding $SRV_ADDR $SSTP_PORT nopolicy1 "${PASS[nopolicy1]}" $PPP_SRV_IP zero
refused_before_ipcp "nopolicy: zero HLAK"
sstpc_as nopolicy nopolicy1 "${PASS[nopolicy1]}" "$W/client.options"
wait_for 25 client_has "${ADDR[nopolicy1]}" || verdict_fail "nopolicy: nopolicy1 not up with the RADIUS keys"
tunnel_ping || verdict_fail "nopolicy: no ping"
has_line "$BACKEND_LOG" "ev=binding_ok * user=nopolicy1" || verdict_fail "nopolicy: no binding_ok"
hang_up nopolicy
# the same with MS-MPPE-Encryption-Policy = 0
sstpc_as policy0 policy0a "${PASS[policy0a]}" "$W/client.options"
wait_for 25 client_has "${ADDR[policy0a]}" || verdict_fail "policy0: policy0a not up with the RADIUS keys"
tunnel_ping || verdict_fail "policy0: no ping"
has_line "$BACKEND_LOG" "ev=binding_ok * user=policy0a" || verdict_fail "policy0: no binding_ok"
hang_up policy0

# ---- pap: PAP through RADIUS
sstpc_as pap radpap "${PASS[radpap]}" "$W/client-pap.options"
wait_for 25 client_has "${ADDR[radpap]}" || verdict_fail "pap: radpap not up within 25 s"
tunnel_ping || verdict_fail "pap: no ping"
has_line "$BACKEND_LOG" "ev=auth_ok * user=radpap method=pap" || verdict_fail "pap: no auth_ok method=pap"
hang_up pap
# each session's Start and Stop under its own id (radius.so's own ids
# would repeat within one second)
for u in nopolicy1 policy0a radpap; do
    usid=$(log_line "$BACKEND_LOG" "ev=binding_ok * user=$u ") || verdict_fail "accounting: no binding_ok for $u"
    usid=${usid#*sid=}
    usid=${usid%% *}
    [ "$usid" != "$sid" ] || verdict_fail "accounting: $u has radkeys' session id"
    wait_for 10 eval '[ -n "$(detail_records Stop $u)" ]' || verdict_fail "accounting: no Stop for $u"
    acct_ids_are_sid "$(detail_records Start $u)" "$usid" "accounting: $u Start"
    acct_ids_are_sid "$(detail_records Stop $u)" "$usid" "accounting: $u Stop"
done

# ---- badpass: Access-Reject
sstpc_as badpass radkeys "wrong-${PASS[radkeys]}" "$W/client.options"
rc=0
bg_wait badpass 25 > /dev/null || rc=$?
[ $rc = 124 ] && verdict_fail "badpass: sstpc still running 25 s later"
[ "$(log_count "$BACKEND_LOG" "ev=ppp_up * user=radkeys")" = 1 ] ||
    verdict_fail "badpass: a session came up with a wrong password"
has_line "$W/radiusd.log" "Login incorrect*radkeys" || verdict_fail "badpass: FreeRADIUS logged no reject"
race_delay_off veth0 $SRV_NS

bg_stop proxy 10
sstp_backend_stop || verdict_fail "sstp-backend did not exit cleanly on SIGTERM"
verdict_pass "RADIUS keys bind, no-key/zero-HLAK refused, relayed binding gets no accounting, PAP up, wrong password rejected; Acct-Session-Id=$acct_sid for sid $sid"
