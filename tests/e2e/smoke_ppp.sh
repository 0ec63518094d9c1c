#!/bin/bash
# smoke_ppp.sh — kernel PPP works in the UML guest: two pppd in two network
# namespaces, joined by a pty (the client pppd runs the server pppd with
# `pty "ip netns exec srv pppd notty ..."`), bring IPCP up and ping each
# other across the tunnel. Also checks the guest helpers (veth pair,
# netem set-up) and that the host's /etc/ppp/options is untouched.
#
#   tests/e2e/smoke_ppp.sh [WORKDIR]     on the host: boots a guest
# (Inside the guest uml.sh runs this same file.)

if [ -z "${SSTPLB_GUEST:-}" ]; then
    here=$(dirname "$(readlink -f "$0")")
    work=${1:-$(mktemp -d /tmp/sstplb-smoke.XXXXXX)}
    before=$(md5sum < /etc/ppp/options)
    "$here/uml.sh" --timeout 60 "$work" "$here/smoke_ppp.sh"
    rc=$?
    if [ "$(md5sum < /etc/ppp/options)" != "$before" ]; then
        echo "smoke_ppp: FAIL: the guest changed the host's /etc/ppp/options" >&2
        rc=1
    fi
    [ $rc -eq 0 ] && echo "smoke_ppp: PASS (logs in $work)" || echo "smoke_ppp: FAIL (logs in $work)"
    exit $rc
fi

. "$E2E_DIR/lib/guest.sh"
W=$SSTPLB_WORK
SRV_IP=10.77.0.1
CLI_IP=10.77.0.2
fails=0
check() {       # check DESCRIPTION CMD...: one result line per check
    if "${@:2}"; then
        echo "ok   $1"
    else
        echo "FAIL $1"
        fails=$((fails + 1))
    fi
}

gs_log "guest script started"
[ "$(wc -c < /etc/ppp/options)" -eq 0 ] || { echo "FAIL /etc/ppp/options not emptied in the guest"; exit 1; }

# Helpers: a veth pair between the two namespaces, and the netem filter.
check "veth pair with addresses" ns_pair cli 192.0.2.2/24 srv 192.0.2.1/24
check "ping over the veth pair" ip netns exec cli ping -c 1 -W 2 -q 192.0.2.1
# The netem work-around, measured: with a 100 ms delay on packets from
# port 4433, a connect + 1-byte reply from a server there takes >= 200 ms
# (SYN-ACK and data both delayed); other packets (ping) are not delayed;
# after race_delay_off the same exchange is fast.
bg_start tcp-srv ip netns exec srv /usr/bin/python3 -I -S -c '
import socket, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("192.0.2.1", 4433))
s.listen(4)
open(sys.argv[1], "w").close()
while True:
    c, _ = s.accept()
    c.sendall(b"x")
    c.close()
' "$W/tcp-srv.ready"
tcp_ms() {      # ms for connect + 1 byte from 192.0.2.1:4433, seen from cli
    local out
    out=$(ip netns exec cli bash -c 'read -r a _ < /proc/uptime
        exec 3<> /dev/tcp/192.0.2.1/4433 && read -r -n 1 -u 3 x && read -r b _ < /proc/uptime &&
        echo "$a $b"') || return 1
    set -- $out
    echo $(( $(gs_ms "$2") - $(gs_ms "$1") ))
}
check "tcp test server listening" wait_for 10 test -e "$W/tcp-srv.ready"
check "race_delay_on veth0 4433 srv 100ms" race_delay_on veth0 4433 srv 100ms
qd=$(tc -n srv qdisc show dev veth0; tc -n srv filter show dev veth0)
check "netem on band 3, u32 on sport 4433" eval '[[ $qd == *"netem 30: parent 1:3"*"delay 100ms"*"match 11510000/ffff0000 at 20"* ]]'
slow=$(tcp_ms)
check "packets from port 4433 delayed (${slow} ms >= 190)" test "${slow:-0}" -ge 190
rtt=$(ip netns exec srv ping -c 1 -W 2 192.0.2.2)
check "other packets not delayed (ping ${rtt##*= })" eval '[[ $rtt =~ \ =\ [0-9.]+/[0-9]\. ]]'
check "race_delay_off" race_delay_off veth0 srv
fast=$(tcp_ms)
check "no delay after race_delay_off (${fast} ms < 90)" test "${fast:-999}" -lt 90
bg_stop tcp-srv 2
gs_log "helpers done"

# Common options: no auth, no compression, no Debian scripts, no LCP echo.
common="nodetach noauth local nodefaultroute noccp novj noipv6 lcp-echo-interval 0
        ip-up-script /bin/true ip-down-script /bin/true debug"
t0=$(gs_now_ms)
bg_start pppd-cli ip netns exec cli pppd $common logfile "$W/pppd-cli.log" \
    pty "ip netns exec srv pppd notty $(echo $common) logfile $W/pppd-srv.log $SRV_IP:$CLI_IP" \
    $CLI_IP:$SRV_IP
if ! wait_for 15 ns_ppp_addr cli $CLI_IP $SRV_IP || ! wait_for 5 ns_ppp_addr srv $SRV_IP $CLI_IP; then
    echo "FAIL IPCP did not come up"
    tail -n 30 "$W/pppd-cli.log" "$W/pppd-srv.log"
    exit 1
fi
t1=$(gs_now_ms)
echo "ok   IPCP up in both namespaces ($((t1 - t0)) ms after pppd start)"
gs_log "ppp0 up"

check "cli ppp0 is the only route to $SRV_IP" eval '[[ $(ip -n cli route get $SRV_IP) == *" dev ppp0 "* ]]'
check "ping cli -> srv through ppp0" ip netns exec cli ping -c 3 -i 0.2 -W 2 -q $SRV_IP
check "ping srv -> cli through ppp0" ip netns exec srv ping -c 2 -i 0.2 -W 2 -q $CLI_IP
stats=$(ip -n srv -j -s link show dev ppp0)
rx_packets=0
[[ $stats =~ \"rx\":\{\"bytes\":[0-9]+,\"packets\":([0-9]+) ]] && rx_packets=${BASH_REMATCH[1]}
check "srv ppp0 received the pings (rx_packets=$rx_packets)" test "$rx_packets" -ge 5
t2=$(gs_now_ms)
gs_log "pings done ($((t2 - t1)) ms)"

bg_stop pppd-cli 5
rc=$?
check "client pppd exited on TERM (status $rc is 5 = EXIT_USER_REQUEST)" test $rc -eq 5
echo "timing: ppp_up_ms=$((t1 - t0)) ping_ms=$((t2 - t1))"
[ $fails -eq 0 ] && echo "smoke_ppp: all checks passed" || echo "smoke_ppp: $fails check(s) failed"
exit $((fails > 0))
