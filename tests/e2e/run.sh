#!/bin/bash
# run.sh — the end-to-end suite of sstp-backend: the real Debian sstpc
# (which runs its own pppd) against build/sstp-backend (one pppd per
# session, our plugin), over real kernel PPP inside User-Mode Linux guests
# (uml.sh), two guests at a time. One guest per scenario:
#   mschapv2    MS-CHAPv2 + SHA-256 binding: ping and 4 MiB intact, binding_ok
#   pap_early   PAP (zero HLAK), CALL_CONNECTED before the plugin's report:
#               kept (binding_deferred), verified once the keys arrive
#   certhash    behind a TLS-terminating forwarder (PROXY v2): right hash up,
#               wrong TLV hash and wrong trusted_cert_hash refused
#               (E_BIND_CERT_HASH, sstpc exits with an error)
#   sigkill     sstpc SIGKILLed: the backend's pppd reaped within the grace
#   concurrent  20 sessions up at once (waves of 5), then all down: no pppd
#               left, no fd growth in sstp-backend
#   echo        hello_interval 2 s: ECHO_REQUEST/RESPONSE on an idle session
#   binding_attack  lib/attacker.py (its own PPP) next to a real victim:
#               re-authentication as another user, zero-HLAK and relayed
#               bindings refused before IPCP (no ip-up, never in Redis, the
#               victim untouched); EAP never offered; 500 negotiations from
#               one address (or one IPv6 /64) capped per source, another
#               source's sstpc still connects
#   radius      pppd's radius.so against FreeRADIUS behind sstp-proxy:
#               MS-CHAPv2 keys bind, no keys refused with the reason, PAP,
#               wrong password, accounting Start/Stop with the client address
#   haproxy     Debian's HAProxy in front: re-encrypting to the tls listener,
#               its certificate's hash trusted: up; not trusted:
#               E_BIND_CERT_HASH; re-encrypting with send-proxy-v2 to the
#               mtls listener (mtls_proxy_header = before) and terminating
#               with send-proxy-v2 to the proxy listener: up, client address
#   ipv6        sstpc over IPv6 to sstp-proxy, the proxy to the backend over
#               IPv6 (PROXY v2 TCP6), IPV6CP in the tunnel: ping -6 fe80::1
#               through it, sstpctl shows the client's v6 address and ip6
#   one_port    sstp-proxy with backends.web: sstpc's session up (binding_ok
#               with the client's address from PROXY v2, ping) while curl
#               fetches a page from the website on the same port; the
#               website (lib/web_backend.py) saw the client's address
#   proxy_ktls  sstp-proxy with kernel TLS (tls.ko): tls.ktls = on, TLS 1.3
#               kernel-sent, a KeyUpdate asking for ours closed
#               (E_TLS_KEY_UPDATE); auto: TLS 1.3 in user space, TLS 1.2
#               both ways in the kernel with OpenSSL's state freed,
#               renegotiation closed (E_TLS_RENEGOTIATION), close_notify a
#               normal end; sstpc's session pings throughout. 50-80 s:
#               not in the default list, run it by name
#
#   tests/e2e/run.sh [--debug] [SCENARIO...]
# Prints one line per scenario, "PASS <name> (<seconds>s)" or
# "FAIL <name>: <reason>" followed by the tails of its guest and backend
# logs (indented). Exit 0 iff all passed. Work dirs: $E2E_WORK (default a
# fresh /tmp/sstplb-e2e.XXXXXX), removed after a fully green run unless
# E2E_KEEP=1. --debug makes every pppd log its packets (pppd `debug`).
set -u
here=$(dirname "$(readlink -f "$0")")
repo=$(readlink -f "$here/../..")
debug=
if [ "${1:-}" = --debug ]; then
    debug=1
    shift
fi

# name | guest script | uml.sh --timeout | --mem
declare -A SCRIPT=(
    [mschapv2]=backend_mschapv2.sh [pap_early]=backend_pap_early.sh
    [certhash]=backend_certhash.sh [sigkill]=backend_sigkill.sh
    [concurrent]=backend_concurrent.sh [echo]=backend_echo.sh
    [binding_attack]=backend_binding_attack.sh [radius]=backend_radius.sh
    [haproxy]=backend_haproxy.sh [ipv6]=backend_ipv6.sh
    [one_port]=backend_one_port.sh [proxy_ktls]=proxy_ktls.sh
)
declare -A TIMEOUT=([concurrent]=200 [certhash]=120 [binding_attack]=200 [radius]=200 [haproxy]=120 [proxy_ktls]=180)
declare -A MEM=([concurrent]=768M [binding_attack]=768M [radius]=768M)
# Longest first: with two lanes the suite ends about when the longest does.
ALL=(concurrent binding_attack radius proxy_ktls certhash haproxy echo pap_early mschapv2 ipv6 one_port sigkill)
scenarios=("$@")
[ ${#scenarios[@]} -gt 0 ] || scenarios=("${ALL[@]}")
for sc in "${scenarios[@]}"; do
    [ -n "${SCRIPT[$sc]:-}" ] || { echo "run.sh: unknown scenario $sc (known: ${ALL[*]})" >&2; exit 2; }
done

fail_all() {
    local sc
    for sc in "${scenarios[@]}"; do
        echo "FAIL $sc: $1"
    done
    exit 1
}

command -v linux.uml > /dev/null || fail_all "linux.uml not installed (scripts/deps.sh test)"
command -v sstpc > /dev/null || fail_all "sstpc not installed (scripts/deps.sh test)"
make -C "$repo" --no-print-directory -j2 build/sstp-backend build/sstp-lb-pppd.so > /dev/null 2>&1 ||
    fail_all "cannot build build/sstp-backend and build/sstp-lb-pppd.so (run make)"

base=${E2E_WORK:-$(mktemp -d /tmp/sstplb-e2e.XXXXXX)}
mkdir -p "$base" || fail_all "cannot create $base"
"$repo/scripts/mkcerts.sh" "$base/certs" other > /dev/null 2>&1 ||
    fail_all "scripts/mkcerts.sh failed"
# Test-only pppd plugin of the pap_early scenario (not a product part).
cc -std=gnu11 -O2 -Wall -Werror -fPIC -shared -o "$base/auth-delay.so" \
    "$here/lib/auth-delay-plugin.c" 2> "$base/auth-delay.err" ||
    fail_all "cannot compile lib/auth-delay-plugin.c: $(head -3 "$base/auth-delay.err")"
etc_ppp_before=$(cat /etc/ppp/options /etc/ppp/chap-secrets /etc/ppp/pap-secrets 2> /dev/null | md5sum)

# One scenario in its own work dir (the guest sees only that dir).
run_one() {
    local sc=$1 w=$base/$1 t0 t1 rc args=()
    rm -rf "$w"
    mkdir -p "$w"
    cp -r "$base/certs" "$w/certs"
    [ -n "$debug" ] && : > "$w/debug"
    if [ "$sc" = pap_early ]; then
        cp "$base/auth-delay.so" "$w/auth-delay.so"
        args=("$w/auth-delay.so")
    fi
    t0=$(date +%s.%N)
    "$here/uml.sh" --timeout "${TIMEOUT[$sc]:-90}" --mem "${MEM[$sc]:-512M}" \
        "$w" "$here/${SCRIPT[$sc]}" "${args[@]}" > "$w/uml.out" 2>&1
    rc=$?
    t1=$(date +%s.%N)
    echo "$rc $(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }')" > "$w/status"
}

report() {
    local sc=$1 w=$base/$1 rc secs verdict reason
    read -r rc secs < "$w/status" 2> /dev/null || { rc=125; secs=?; }
    verdict=$(cat "$w/verdict" 2> /dev/null)
    if [ "$rc" = 0 ] && [[ $verdict == PASS* ]]; then
        echo "PASS $sc (${secs}s)"
        echo "    ${verdict#PASS }"
        return 0
    fi
    case $rc in
        124) reason="guest timed out after ${TIMEOUT[$sc]:-90}s" ;;
        125) reason="guest ended without a result (see $w/console.log)" ;;
        *)   reason=${verdict#FAIL }; reason=${reason:-"guest script exited with status $rc"} ;;
    esac
    echo "FAIL $sc: $reason (${secs}s, logs in $w)"
    if [ -s "$w/guest.log" ]; then
        echo "    ---- guest.log (tail) ----"
        tail -n 25 "$w/guest.log" | tr -d '\000' | sed 's/^/    /'
    else
        echo "    ---- uml.sh output (tail) ----"
        tail -n 15 "$w/uml.out" 2> /dev/null | tr -d '\000' | sed 's/^/    /'
    fi
    echo "    ---- backend.log (tail) ----"
    tail -n 40 "$w/backend.log" 2> /dev/null | tr -d '\000' | cut -c1-300 | sed 's/^/    /'
    return 1
}

# Two lanes: UML is one CPU per guest and the machine has two.
declare -A PID_OF=()
failed=0
t_start=$(date +%s)
lanes() {
    local sc
    for sc in "${scenarios[@]}"; do
        while [ ${#PID_OF[@]} -ge 2 ]; do
            finish_one_pid
        done
        run_one "$sc" &
        PID_OF[$sc]=$!
    done
    while [ ${#PID_OF[@]} -gt 0 ]; do
        finish_one_pid
    done
}
# wait -n -p names the pid that ended; map it back to its scenario.
finish_one_pid() {
    local done_pid= sc pids=()
    for sc in "${!PID_OF[@]}"; do pids+=("${PID_OF[$sc]}"); done
    wait -n -p done_pid "${pids[@]}"
    for sc in "${!PID_OF[@]}"; do
        if [ "${PID_OF[$sc]}" = "$done_pid" ]; then
            unset "PID_OF[$sc]"
            report "$sc" || failed=$((failed + 1))
            return
        fi
    done
}
lanes

etc_ppp_after=$(cat /etc/ppp/options /etc/ppp/chap-secrets /etc/ppp/pap-secrets 2> /dev/null | md5sum)
if [ "$etc_ppp_before" != "$etc_ppp_after" ]; then
    echo "FAIL host-etc-ppp: a guest changed the host's /etc/ppp files"
    failed=$((failed + 1))
fi
echo "e2e: ${#scenarios[@]} scenarios, $failed failed, $(( $(date +%s) - t_start ))s (work dir $base)"
if [ $failed -eq 0 ] && [ "${E2E_KEEP:-0}" != 1 ] && [ -z "${E2E_WORK:-}" ]; then
    rm -rf "$base"
fi
[ $failed -eq 0 ]
