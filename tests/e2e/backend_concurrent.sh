#!/bin/bash
# backend_concurrent.sh — guest scenario: 20 sstpc sessions (20 users, each
# with its own address from chap-secrets) up at once against one
# sstp-backend, brought up in waves (UML is one slow CPU), a ping through
# each tunnel (bound to its client ppp device, so it cannot take another
# tunnel), then all torn down at once: every session closed, no pppd left,
# and sstp-backend has exactly the fds it had before the first session.
#   backend_concurrent.sh [N] [WAVE]     (default 20 sessions, waves of 5)
. "$E2E_DIR/lib/sstp.sh"
N=${1:-20}
WAVE=${2:-5}

sstp_setup "$N" || verdict_fail "namespace/secrets set-up failed"
sstp_server_options mschapv2 "$W/pppd-server.options"
sstp_client_options mschapv2 "$W/client.options"
sstp_backend_conf "$W/backend.conf"
sstp_backend_start "$W/backend.conf" || verdict_fail "sstp-backend did not start"
fds0=$(fd_count "$BACKEND_PID")

# sstpc 1.0.18's own race (e2e-uml.md) ends a client right after "Connected
# to", before it sent one byte of HTTP: the server never saw a request. A
# real user's client retries; so does this test, up to 3 times per client
# (the race is likelier on a loaded host), each counted.
declare -A raced=()
retry_raced() {     # user $1's sstpc died of the client race: start it again
    local i=$1 log="$SSTPLB_WORK/sstpc-$1.log" n=${raced[$1]:-0}
    [ "$n" -lt 3 ] && ! bg_alive "sstpc-$i" &&
        grep -q 'event loop terminated unsuccessfully' "$log" 2> /dev/null &&
        ! grep -q 'Connection Established' "$log" || return 0
    raced[$i]=$((n + 1))
    mv "$log" "$log.raced$n"
    gs_log "user$i: sstpc client race, started again (${raced[$i]})"
    sstp_client_start "sstpc-$i" "$i" "$W/client.options"
}

all_up() {          # users $1..$2 have both tunnel ends
    local i ok=0
    for ((i = $1; i <= $2; i++)); do
        _sstp_both_ends "$i" && continue
        retry_raced "$i"
        ok=1
    done
    return $ok
}

race_delay_on veth0 $SSTP_PORT $SRV_NS || verdict_fail "netem set-up failed"
t0=$(gs_now_ms)
for ((first = 1; first <= N; first += WAVE)); do
    last=$((first + WAVE - 1))
    [ $last -gt "$N" ] && last=$N
    for ((i = first; i <= last; i++)); do
        sstp_client_start "sstpc-$i" "$i" "$W/client.options"
    done
    if ! wait_for 40 all_up "$first" "$last"; then
        down=()
        for ((i = first; i <= last; i++)); do _sstp_both_ends "$i" || down+=("user$i"); done
        verdict_fail "wave $first-$last: not up within 40 s: ${down[*]}"
    fi
    gs_log "users $first-$last up ($(($(gs_now_ms) - t0)) ms)"
done
t1=$(gs_now_ms)
race_delay_off veth0 $SRV_NS
up_ms=$((t1 - t0))

[ "$(sstp_count_up $CLI_NS)" -eq "$N" ] || verdict_fail "client side: $(sstp_count_up $CLI_NS) ppp up, want $N"
[ "$(sstp_count_up $SRV_NS)" -eq "$N" ] || verdict_fail "server side: $(sstp_count_up $SRV_NS) ppp up, want $N"
children=($(children_of "$BACKEND_PID" pppd))
[ ${#children[@]} -eq "$N" ] || verdict_fail "sstp-backend has ${#children[@]} pppd children, want $N"
[ "$(log_count "$BACKEND_LOG" "ev=binding_ok ")" -eq "$N" ] || verdict_fail "binding_ok count is not $N"
fds_up=$(fd_count "$BACKEND_PID")

# One ping per tunnel, bound to the client's ppp device.
devs=()
while read -r _ dev _; do
    [[ $dev == ppp* ]] && devs+=("$dev")
done <<< "$(ip -n $CLI_NS -o -4 addr show)"
failed=$(ip netns exec $CLI_NS bash -c 'for d; do ping -c 1 -W 3 -q -I "$d" '$PPP_SRV_IP' > /dev/null 2>&1 || echo "$d"; done' _ "${devs[@]}")
[ -z "$failed" ] || verdict_fail "ping failed through: $failed"
gs_log "ping through ${#devs[@]} tunnels ok; backend fds: $fds0 idle, $fds_up with $N sessions"

# All at once: every sstpc gets SIGTERM.
t2=$(gs_now_ms)
for ((i = 1; i <= N; i++)); do
    kill -TERM "$(bg_pid "sstpc-$i")" 2> /dev/null
done
wait_for 60 eval '[ "$(log_count "$BACKEND_LOG" "ev=close ")" -ge "$N" ]' ||
    verdict_fail "only $(log_count "$BACKEND_LOG" "ev=close ") of $N sessions closed within 60 s"
wait_for 20 eval '[ -z "$(procs_named pppd)" ] && [ -z "$(procs_named sstpc)" ]' ||
    verdict_fail "left behind: pppd [$(procs_named pppd)] sstpc [$(procs_named sstpc)]"
t3=$(gs_now_ms)
down_ms=$((t3 - t2))
for ((i = 1; i <= N; i++)); do
    bg_wait "sstpc-$i" 5 > /dev/null
done
wait_for 5 eval '[ "$(fd_count "$BACKEND_PID")" -eq "$fds0" ]' ||
    verdict_fail "fd growth: $fds0 before, $(fd_count "$BACKEND_PID") after"
kill -HUP "$BACKEND_PID"
wait_for 5 log_has "$BACKEND_LOG" "ev=stats sessions=0 negotiating=0 " ||
    verdict_fail "stats after teardown: $(log_line "$BACKEND_LOG" "ev=stats")"
sstp_backend_stop || verdict_fail "sstp-backend did not exit cleanly on SIGTERM"
races=0
for n in "${raced[@]}"; do races=$((races + n)); done
echo "timing: sessions=$N wave=$WAVE up_ms=$up_ms down_ms=$down_ms fds_idle=$fds0 fds_up=$fds_up client_races=$races"
verdict_pass "$N sessions up in ${up_ms}ms (waves of $WAVE), down in ${down_ms}ms, fds $fds0 -> $fds_up -> $fds0"
