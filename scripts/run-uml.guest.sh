#!/bin/bash
# run-uml.guest.sh — the guest half of `make run` on a kernel without PPP
# (scripts/run-uml.sh boots it through tests/e2e/uml.sh). Inside the User-
# Mode Linux guest, which has kernel PPP:
#   namespace srv   scripts/run.sh in host mode: redis-server, sstp-backend
#                   (one pppd per session), sstp-proxy on 192.0.2.1:8443
#   namespace cli   the real Debian sstpc (with its own pppd) as the demo
#                   user, connecting to vpn.example.test (192.0.2.1)
# Two namespaces keep the two ppp ends apart, so the ping and the transfer
# really cross the tunnel. Everything a person should read is appended to
# WORKDIR/demo.txt (the host prints it as it grows); the details are in
# WORKDIR/guest.log, the stack's logs in WORKDIR/stack/.
#
#   run-uml.guest.sh exit   demo, verdict in WORKDIR/verdict, stop
#   run-uml.guest.sh stay   demo, then a live line every 5 s until the host
#                           creates WORKDIR/stop (Ctrl-C on the host)
. "$E2E_DIR/lib/guest.sh"

W=$SSTPLB_WORK
REPO=$SSTPLB_REPO
MODE=${1:-exit}
STACK=$W/stack                   # scripts/run.sh's SSTP_RUN_DIR
OUT=$W/demo.txt
SRV_ADDR=192.0.2.1
CLI_ADDR=192.0.2.2
SERVER_NAME=vpn.example.test     # in server.crt's SAN (scripts/mkcerts.sh)
PORT=8443                        # scripts/run.sh's default client port
PPP_SRV=10.8.0.1                 # conf/pppd.options' local address
PPP_CLI=10.8.0.10                # the demo user's address (scripts/run.sh)
DEMO_USER=sstp-demo
XFER_BYTES=$((8 * 1024 * 1024))
RACE_MSG="The event loop terminated unsuccessfully"

# Ctrl-C on the host creates WORKDIR/stop: honoured at each step of the
# demo too, not only in the live loop.
STOPPING=
say() {
    printf '%s\n' "$*" >> "$OUT"
    if [ -z "$STOPPING" ] && [ -e "$W/stop" ]; then
        STOPPING=1
        say "stopping (Ctrl-C) ..."
        stop_all
        say "stopped."
        exit 0
    fi
}
secs_since() { local ms=$(( $(gs_now_ms) - $1 )); echo "$((ms / 1000)).$((ms % 1000 / 100))"; }
T0=$(gs_now_ms)

STACK_PIDS=()
stop_all() {
    local i
    bg_alive sstpc && bg_stop sstpc 10 > /dev/null 2>&1
    for ((i = ${#STACK_PIDS[@]} - 1; i >= 0; i--)); do
        pid_stop "${STACK_PIDS[i]}" 10
    done
}

fail() {
    say "FAILED: $*"
    say "  details: $W/guest.log, logs: $STACK/*.log, $W/sstpc.log"
    echo "FAIL $*" > "$W/verdict"
    stop_all
    exit 1
}

# ---- the stack, as `make run` starts it on a host with PPP
ns_pair cli "$CLI_ADDR/24" srv "$SRV_ADDR/24" || fail "network namespaces"
# Overlay-only changes (the host's files are read-only here): the server's
# name, and no Debian ip-up run-parts for every session (slow in UML).
echo "$SRV_ADDR $SERVER_NAME" >> /etc/hosts
rm -f /etc/ppp/ip-up /etc/ppp/ip-down /etc/ppp/ipv6-up /etc/ppp/ipv6-down

say "guest booted; starting redis-server, sstp-backend, sstp-proxy (scripts/run.sh) in namespace srv"
ip netns exec srv env SSTP_RUN_MODE=host SSTP_RUN_FOREGROUND=0 SSTP_RUN_DIR="$STACK" \
    SSTP_RUN_PORT=$PORT "$REPO/scripts/run.sh" > "$W/stack.out" 2>&1 < /dev/null
stack_rc=$?
read -r -a STACK_PIDS <<< "$(sed -n 's/^pids: //p' "$W/stack.out")"
[ $stack_rc = 0 ] && [ ${#STACK_PIDS[@]} -eq 3 ] ||
    fail "scripts/run.sh (status $stack_rc): $(tail -n 5 "$W/stack.out" | tr '\n' ' ')"
grep '^started ' "$W/stack.out" | sed 's/^/  /' >> "$OUT"
PASS=$(< "$STACK/demo-password")
REDIS_URL="redis://:$(< "$STACK/redis-password")@127.0.0.1:6390"

# ---- the client
# sstpc 1.0.18 can exit right after connecting when the server's handshake
# replies are already queued (see tests/e2e/lib/guest.sh race_delay_on): a
# 10 ms delay on what the proxy sends during set-up, and a retry if hit.
race_delay_on veth0 $PORT srv || fail "netem set-up"
both_ends_up() {
    bg_alive sstpc || return 0
    ns_ppp_addr cli $PPP_CLI $PPP_SRV && ns_ppp_addr srv $PPP_SRV $PPP_CLI
}
say "connecting sstpc as $DEMO_USER to https://$SERVER_NAME:$PORT from namespace cli ($CLI_ADDR)"
t_connect=$(gs_now_ms)
for try in 1 2 3; do
    bg_start sstpc ip netns exec cli sstpc --log-level 4 --log-stderr \
        --ca-cert "$STACK/certs/ca.crt" --user "$DEMO_USER" --password "$PASS" \
        "$SERVER_NAME:$PORT" file "$STACK/pppd-client.options"
    WAIT_FOR_INTERVAL=0.2 wait_for 45 both_ends_up 2> /dev/null || fail "no tunnel within 45 s"
    bg_alive sstpc && break
    bg_wait sstpc 1 > /dev/null
    grep -q "$RACE_MSG" "$W/sstpc.log" && [ $try -lt 3 ] ||
        fail "sstpc exited: $(tr -d '\000' < "$W/sstpc.log" | tail -n 2 | tr '\n' ' ')"
    mv "$W/sstpc.log" "$W/sstpc.race$try.log"
    gs_log "sstpc start-up race: retry"
done
T_UP=$(gs_now_ms)
race_delay_off veth0 srv
say ""
say "SESSION UP in $(secs_since "$t_connect") s: client $PPP_CLI (ppp0, namespace cli) <-> server $PPP_SRV (ppp0, namespace srv)"

# ---- the certificate: what a client is shown, and the backend's check
# The client hashes the certificate it received (SHA-256 of the DER) into
# its Crypto Binding; sstp-proxy forwards the hash of the certificate it
# presented (PROXY v2 TLV), sstp-backend checks the client's against it and
# logs the hash it matched in its binding_ok line (cert_sha256=).
client_hash=$(ip netns exec cli openssl s_client -connect "$SRV_ADDR:$PORT" -servername "$SERVER_NAME" \
    < /dev/null 2> /dev/null | openssl x509 -outform DER 2> /dev/null | sha256sum)
client_hash=${client_hash%% *}
binding=$(grep -h "ev=binding_ok .*user=$DEMO_USER" "$STACK/sstp-backend.log" | head -n 1)
[ ${#client_hash} = 64 ] || fail "no certificate from $SERVER_NAME:$PORT in namespace cli"
[ -n "$binding" ] || fail "sstp-backend logged no binding_ok for $DEMO_USER"
backend_hash=${binding##* cert_sha256=}
backend_hash=${backend_hash%% *}
[ ${#backend_hash} = 64 ] || fail "sstp-backend's binding_ok names no cert_sha256: $binding"
say "certificate SHA-256 the client sees:        $client_hash"
say "  (the server certificate at $SERVER_NAME:$PORT, fetched again from namespace cli)"
say "certificate SHA-256 the backend verified:   $backend_hash"
say "  (sstp-backend's binding_ok line: the hash in the client's Crypto Binding, matched"
say "   against the one sstp-proxy forwarded in its PROXY v2 header)"
say "sstp-backend: ${binding#*ev=}"
say "  (the client's Crypto Binding carried that hash and a valid Compound MAC)"
[ "$client_hash" = "$backend_hash" ] || fail "the client saw another certificate than the backend verified"

# ---- ping through the tunnel
ping_out=$(ip netns exec cli ping -c 3 -i 0.3 -W 2 "$PPP_SRV" 2>&1)
ping_rc=$?
say "ping $PPP_SRV from the client, through the tunnel:"
grep -E 'packets transmitted|^rtt' <<< "$ping_out" | sed 's/^/  /' >> "$OUT"
[ $ping_rc = 0 ] || fail "ping through the tunnel"
PING_SUMMARY=$(grep 'packets transmitted' <<< "$ping_out")

# ---- throughput: the server end listens on its tunnel address only
rm -f "$W/sink.ready"
bg_start sink ip netns exec srv python3 "$E2E_DIR/lib/xfer.py" sink "$PPP_SRV" 5001 "$W/sink.ready"
wait_for 10 test -e "$W/sink.ready" || fail "throughput receiver did not start"
sent=$(timeout -k 2 90 ip netns exec cli python3 "$E2E_DIR/lib/xfer.py" source "$PPP_SRV" 5001 $XFER_BYTES) ||
    fail "sending $XFER_BYTES bytes through the tunnel"
bg_wait sink 10 > /dev/null || fail "throughput receiver"
got=$(< "$W/sink.log")
[[ $got == "bytes=$XFER_BYTES secs="* ]] || fail "the receiver got '$got', want $XFER_BYTES bytes"
xfer_secs=${sent##*secs=}
THROUGHPUT=$(awk -v b=$XFER_BYTES -v s="$xfer_secs" 'BEGIN { printf "%.1f Mbit/s", b * 8 / s / 1e6 }')
say "throughput client -> server: $((XFER_BYTES / 1048576)) MiB in ${xfer_secs} s = $THROUGHPUT"
say "  (client, server, proxy and backend share one UML CPU: a demo figure, not a benchmark)"

# ---- the fleet's view: the session in Redis
ctl() { ip netns exec srv env SSTP_REDIS_URL="$REDIS_URL" timeout -k 1 10 "$REPO/build/sstpctl" "$@"; }
listed() { ctl sessions 2> /dev/null | grep -E "(^| )$DEMO_USER( |$)" | grep -q " $PPP_CLI "; }
WAIT_FOR_INTERVAL=0.5 wait_for 10 listed 2> /dev/null
listed_rc=$?
say "sstpctl sessions:"
ctl sessions 2>&1 | sed 's/^/  /' >> "$OUT"
[ $listed_rc = 0 ] || fail "sstpctl sessions does not list $DEMO_USER with $PPP_CLI"

say ""
say "logs (on this host): $STACK/{redis,sstp-backend,sstp-proxy}.log, $W/sstpc.log, $W/guest.log"
echo "PASS session=$PPP_CLI<->$PPP_SRV ping=\"$PING_SUMMARY\" throughput=\"$THROUGHPUT\" listed=1 cert=$client_hash" > "$W/verdict"
gs_log "demo done in $(secs_since "$T0") s"

if [ "$MODE" = stay ]; then
    say ""
    say "live, every 5 s (Ctrl-C stops everything):"
    rx_tx() { ip netns exec cli cat /sys/class/net/ppp0/statistics/rx_bytes /sys/class/net/ppp0/statistics/tx_bytes 2> /dev/null | tr '\n' ' '; }
    next=$(gs_now_ms)
    until [ -e "$W/stop" ]; do
        bg_alive sstpc || { say "the session ended: $(tr -d '\000' < "$W/sstpc.log" | tail -n 1)"; break; }
        read -r rx tx <<< "$(rx_tx)"
        rtt=$(ip netns exec cli ping -c 1 -W 1 "$PPP_SRV" 2> /dev/null | sed -n 's/.*time=\([0-9.]*\) ms.*/\1 ms/p')
        n=$(ctl sessions 2> /dev/null | grep -c " $PPP_CLI ")
        say "  session up $(secs_since "$T_UP") s  ping ${rtt:-lost}  client ppp0 rx ${rx:-?} B tx ${tx:-?} B  sessions in Redis: ${n:-?}"
        next=$((next + 5000))
        while [ ! -e "$W/stop" ] && [ "$(gs_now_ms)" -lt $next ]; do
            gs_sleep 0.5
        done
    done
fi
STOPPING=1
say "stopping sstpc, sstp-proxy, sstp-backend, redis-server ..."
stop_all
say "stopped."
exit 0
