#!/bin/bash
# backend_ipv6.sh — guest scenario (run by tests/e2e/run.sh through uml.sh):
# IPv6 end to end. sstpc (MS-CHAPv2, its pppd with +ipv6) reaches
# sstp-proxy over IPv6 transport ([fd00:e2e::1]:443 in "srv"), the proxy
# reaches sstp-backend over IPv6 ([::1]:4433) with a PROXY v2 header of the
# TCP6 family, the backend's pppd runs IPV6CP (conf/pppd.options: +ipv6,
# ipv6 ::1,). Checks: IPV6CP up at both ends (fe80::1 on the server's ppp,
# the client's link-local on its own), a ping -6 to fe80::1 crosses the
# tunnel, the backend logged ppp6_up with the client's identifier, and
# `sstpctl sessions` shows the IPv6 client address (carried by the PROXY
# header: the backend itself only sees ::1) and the session's ip6.
. "$E2E_DIR/lib/sstp.sh"

SRV6=fd00:e2e::1
CLI6=fd00:e2e::2
PPP_SRV_IP6=fe80::1             # `ipv6 ::1,` in conf/pppd.options
REDIS_PORT=6379
SSTPCTL="ip netns exec $SRV_NS $REPO/build/sstpctl -r redis://127.0.0.1:$REDIS_PORT"

sstp_setup 1 || verdict_fail "namespace/secrets set-up failed"
# IPv6 on the veth pair, without duplicate address detection (it would hold
# the addresses tentative for a second).
ip -n $SRV_NS addr add $SRV6/64 dev veth0 nodad || verdict_fail "cannot add $SRV6"
ip -n $CLI_NS addr add $CLI6/64 dev veth0 nodad || verdict_fail "cannot add $CLI6"
# sstpc takes a host name: the server's name resolves to its IPv6 address only.
echo "$SRV6 vpn6.e2e" >> /etc/hosts

sstp_server_options mschapv2 "$W/pppd-server.options"
grep -qx '+ipv6' "$W/pppd-server.options" || verdict_fail "conf/pppd.options has no +ipv6"
# The client's pppd: the shipped client options with IPV6CP on.
{
    while IFS= read -r line; do
        [ "$line" = noipv6 ] && line=+ipv6
        printf '%s\n' "$line"
    done < "$REPO/conf/pppd-client.options"
    [ -e "$W/debug" ] && echo debug
} > "$W/client.options"

bg_start redis ip netns exec $SRV_NS redis-server --port $REDIS_PORT --bind 127.0.0.1 \
    --save '' --appendonly no
wait_for 10 eval "ip netns exec $SRV_NS redis-cli -p $REDIS_PORT ping 2> /dev/null | grep -q PONG" ||
    verdict_fail "redis-server did not start"

sstp_backend_conf "$W/backend.conf" listen.tls= "listen.proxy=[::1]:4433" listen.proxy_allow=::1/128
printf '[redis]\nurl = redis://127.0.0.1:%s\n' $REDIS_PORT >> "$W/backend.conf"
sstp_backend_start "$W/backend.conf" || verdict_fail "sstp-backend did not start"
cat > "$W/proxy.conf" <<CONF
[proxy]
id = e2e-proxy6
log_level = debug
workers = 1
[listen]
bind = [$SRV6]:$SSTP_PORT
[tls]
cert = $CERTS/server.crt $CERTS/server.key default
[backends]
server = e2e-backend [::1]:4433
CONF
bg_start proxy ip netns exec $SRV_NS "$REPO/build/sstp-proxy" -c "$W/proxy.conf"
wait_for 15 log_has "$W/proxy.log" "ev=worker_ready" || verdict_fail "sstp-proxy did not start"

race_delay_on veth0 $SSTP_PORT $SRV_NS || verdict_fail "netem set-up failed"
t0=$(gs_now_ms)
sstp_client_start sstpc 1 "$W/client.options" vpn6.e2e
sstp_up 1 20 || verdict_fail "tunnel not up within 20 s"
t1=$(gs_now_ms)
race_delay_off veth0 $SRV_NS

# IPV6CP: the client's ppp has its link-local address, the server's fe80::1.
cli_ll=
_ipv6cp_up() {
    local c s
    c=$(ip -n $CLI_NS -o -6 addr show dev ppp0 scope link 2> /dev/null)
    s=$(ip -n $SRV_NS -o -6 addr show dev ppp0 scope link 2> /dev/null)
    [[ $c =~ inet6\ (fe80::[0-9a-f:]+)\ peer\ $PPP_SRV_IP6/128 ]] || return 1
    cli_ll=${BASH_REMATCH[1]}
    [[ $s == *" inet6 $PPP_SRV_IP6 peer $cli_ll/128 "* ]]
}
wait_for 10 _ipv6cp_up || verdict_fail "IPV6CP not up within 10 s: cli '$(ip -n $CLI_NS -o -6 addr show dev ppp0)' srv '$(ip -n $SRV_NS -o -6 addr show dev ppp0)'"
t2=$(gs_now_ms)
gs_log "tunnel up in $((t1 - t0)) ms, IPV6CP $((t2 - t1)) ms later; client $cli_ll"

wait_for 5 ip netns exec $CLI_NS ping -6 -c 1 -W 1 -q "$PPP_SRV_IP6%ppp0" > /dev/null ||
    verdict_fail "ping -6 $PPP_SRV_IP6%ppp0 through the tunnel failed"
ip netns exec $CLI_NS ping -6 -c 3 -i 0.2 -W 2 -q "$PPP_SRV_IP6%ppp0" > "$W/ping6.out" ||
    verdict_fail "ping -6: $(tail -2 "$W/ping6.out")"

log_has "$BACKEND_LOG" "ev=binding_ok * user=user1" || verdict_fail "no binding_ok in the backend log"
wait_for 5 log_has "$BACKEND_LOG" "ev=ppp6_up * user=user1 local=$PPP_SRV_IP6 remote=$cli_ll" ||
    verdict_fail "no ppp6_up local=$PPP_SRV_IP6 remote=$cli_ll in the backend log"

# sstpctl: the client's IPv6 transport address (from the TCP6 PROXY header)
# and the session's IPv6 address, next to its IPv4 one.
row=
_ctl_row() {
    row=$($SSTPCTL --json sessions | python3 -c '
import json, sys
for r in json.load(sys.stdin):
    print(r["user"], r["client"], r["ip"], r["ip6"], r["state"])')
    [ "$row" = "user1 $CLI6 $(sstp_ip 1) $cli_ll connected" ]
}
wait_for 10 _ctl_row || verdict_fail "sstpctl sessions shows '$row', not 'user1 $CLI6 $(sstp_ip 1) $cli_ll connected'"
$SSTPCTL sessions > "$W/sessions.txt" || verdict_fail "sstpctl sessions failed"
log_has "$W/sessions.txt" "* $cli_ll*" || verdict_fail "sstpctl's table lacks $cli_ll"
schema=$(ip netns exec $SRV_NS redis-cli -p $REDIS_PORT --raw get sstp:schema)
[ "$schema" = 2.1 ] || verdict_fail "the schema key is '$schema', not 2.1"

bg_stop sstpc 10
# The backend's TCP peer was the proxy at ::1; the client it names came in
# the PROXY v2 header.
wait_for 15 log_has "$BACKEND_LOG" "ev=close * client=\[$CLI6\]:* user=user1" ||
    verdict_fail "no close of user1 from [$CLI6] after sstpc exit"
log_has "$BACKEND_LOG" "ev=accept * peer=\[::1\]:*" || verdict_fail "the backend saw no connection from [::1]"
wait_for 10 eval '[ "$($SSTPCTL --json sessions)" = "[]" ]' || verdict_fail "the session stays in sstpctl after the close"
bg_stop proxy 10
sstp_backend_stop || verdict_fail "sstp-backend did not exit cleanly on SIGTERM"
bg_stop redis 10

verdict_pass "over IPv6 ($CLI6 -> [$SRV6]:443 -> [::1]:4433): up in $((t1 - t0)) ms, IPV6CP $cli_ll <-> $PPP_SRV_IP6, ping -6 through the tunnel, sstpctl shows ip6"
