#!/bin/bash
# backend_one_port.sh — guest scenario (tests/e2e/run.sh): SSTP and a
# website on one port of one sstp-proxy (issue 14, "one port"). In "srv":
# sstp-backend behind the proxy (PROXY v2 to its proxy listener), a small
# website (lib/web_backend.py, PROXY v2 required) as `backends.web`, both
# reached through $SRV_ADDR:443. From "cli": real sstpc (MS-CHAPv2) brings
# a session up (the backend logs binding_ok with the client's address from
# the PROXY header; a ping crosses the tunnel) and, while it is up, curl
# fetches a page over https from the same address and port: the body is the
# website's and the website saw the client's address, not the proxy's.
. "$E2E_DIR/lib/sstp.sh"

WEB_PORT=8080
WEB_BODY="sstp-lb one port: the website"
WEB_LOG=$W/web-backend.log

sstp_setup 1 || verdict_fail "namespace/secrets set-up failed"
sstp_server_options mschapv2 "$W/pppd-server.options"
sstp_client_options mschapv2 "$W/client.options"

bg_start web ip netns exec $SRV_NS python3 "$E2E_DIR/lib/web_backend.py" \
    127.0.0.1 $WEB_PORT "$WEB_LOG" "$WEB_BODY"
sstp_backend_conf "$W/backend.conf" listen.tls= listen.proxy=127.0.0.1:4433 \
    listen.proxy_allow=127.0.0.1/32
sstp_backend_start "$W/backend.conf" || verdict_fail "sstp-backend did not start"
wait_for 10 log_has "$WEB_LOG" "web ready" || verdict_fail "the website did not start"
cat > "$W/proxy.conf" <<CONF
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
web = 127.0.0.1:$WEB_PORT proxy_header=v2
CONF
bg_start proxy ip netns exec $SRV_NS "$REPO/build/sstp-proxy" -c "$W/proxy.conf"
wait_for 15 log_has "$W/proxy.log" "ev=worker_ready" || verdict_fail "sstp-proxy did not start"

race_delay_on veth0 $SSTP_PORT $SRV_NS || verdict_fail "netem set-up failed"
t0=$(gs_now_ms)
sstp_client_start sstpc 1 "$W/client.options"
sstp_up 1 20 || verdict_fail "tunnel not up within 20 s"
t1=$(gs_now_ms)
wait_for 5 ip netns exec $CLI_NS ping -c 1 -W 1 -q $PPP_SRV_IP > /dev/null ||
    verdict_fail "no ping through the tunnel"
bind_line=$(log_line "$BACKEND_LOG" "ev=binding_ok * client=$CLI_ADDR:* user=user1") ||
    verdict_fail "no binding_ok for user1 from $CLI_ADDR in the backend log"
# The backend names exactly the TCP peer the proxy accepted (address and
# port, carried in the PROXY header), under the session id they share.
[[ $bind_line =~ sid=([0-9a-f]+)\ client=([0-9.]+:[0-9]+) ]] || verdict_fail "unreadable binding_ok: $bind_line"
sid=${BASH_REMATCH[1]} sstp_client=${BASH_REMATCH[2]}
log_has "$W/proxy.log" "ev=accept sid=$sid peer=$sstp_client " ||
    verdict_fail "the proxy accepted no $sstp_client as $sid (the backend's binding_ok names it)"
log_has "$BACKEND_LOG" "ev=accept * peer=127.0.0.1:*" ||
    verdict_fail "the backend's TCP peer was not the proxy (127.0.0.1)"

# The website, through the same address and port, while the session is up.
# The name is one of the test certificate's, so curl checks it with the CA.
ip netns exec $CLI_NS timeout -k 1 15 curl -sS --max-time 10 --cacert "$CERTS/ca.crt" \
    --resolve vpn.example.test:$SSTP_PORT:$SRV_ADDR \
    -o "$W/curl.body" -w '%{http_code} %{local_ip}:%{local_port}\n' \
    "https://vpn.example.test/one-port.html" > "$W/curl.out" 2> "$W/curl.err" ||
    verdict_fail "curl failed: $(head -c 300 "$W/curl.err")"
read -r code curl_addr < "$W/curl.out"
[ "$code" = 200 ] || verdict_fail "curl got HTTP '$code'"
[ "$(cat "$W/curl.body")" = "$WEB_BODY" ] || verdict_fail "curl got '$(head -c 200 "$W/curl.body")', not the website's page"
wait_for 5 log_has "$WEB_LOG" "web client=*" || verdict_fail "the website logged no connection"
log_has "$WEB_LOG" "web refused" && verdict_fail "the website refused a connection: $(log_line "$WEB_LOG" "web refused")"
seen=$(log_line "$WEB_LOG" "web client=")
[[ $curl_addr == "$CLI_ADDR:"* ]] || verdict_fail "curl's own address is '$curl_addr', not in $CLI_NS"
[ "$seen" = "web client=$curl_addr path=/one-port.html" ] ||
    verdict_fail "the website saw '$seen', not curl's $curl_addr"
log_has "$W/proxy.log" "ev=web * client=$curl_addr " || verdict_fail "the proxy logged no ev=web for $curl_addr"

# The tunnel is still up after the page and still carries traffic.
_sstp_both_ends 1 || verdict_fail "the tunnel went down while curl used the port"
ip netns exec $CLI_NS ping -c 2 -i 0.2 -W 2 -q $PPP_SRV_IP > /dev/null ||
    verdict_fail "no ping through the tunnel after the page"
race_delay_off veth0 $SRV_NS

bg_stop sstpc 10
wait_for 15 log_has "$BACKEND_LOG" "ev=close * client=$CLI_ADDR:* user=user1" ||
    verdict_fail "no close of user1 from $CLI_ADDR after sstpc exit"
bg_stop proxy 10
sstp_backend_stop || verdict_fail "sstp-backend did not exit cleanly on SIGTERM"
bg_stop web 3

verdict_pass "one port $SRV_ADDR:443: sstpc up in $((t1 - t0)) ms (binding_ok, backend saw $sstp_client via PROXY v2), curl's page from the website, which saw $curl_addr; ping before and after"
