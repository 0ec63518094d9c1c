#!/bin/bash
# plugin_test.sh — our pppd plugin (build/sstp-lb-pppd.so) under a real
# pppd 2.4.9 with kernel PPP, one UML guest per scenario (two at a time):
#   mschapv2  AUTH method, keys_set, user, keys == K2/K3 derived from the
#             password and the logged MS-CHAPv2 exchange; IP_UP; ping
#   pap       AUTH method PAP, no keys; IP_UP and IPV6_UP match IPCP/IPV6CP
#   noauth    no authentication: AUTH (method none) still precedes IPCP
#   noack     no ACK for AUTH: pppd exits ~10 s later, before IPCP; a bad,
#             non-SEQPACKET or missing sstp-lb-fd stops pppd at once; with
#             radius.so the plugin names the accounting session after
#             ipparam (loaded after or before radius.so, bad ipparam), and
#             without it adds nothing; pppd reaches LCP each time
#   badack    an ACK for the wrong type: pppd exits at once
#   reauth    an LCP renegotiation after the report: pppd ends itself
#             (the plugin's fatal() on re-entering authentication)
#   pool      pppd started as a pool member (sstp-lb-pool): READY, silent
#             until START, then the mschapv2 session with START's values in
#             ip-up's environment and $6
#   pooldup   a duplicate START ends pppd at AUTH, before IPCP; a bad or
#             unsafe START, an ACK instead, a closed socket or SIGTERM end
#             a waiting member before LCP
#
#   tests/e2e/plugin_test.sh [SCENARIO...]     (default: all eight)
# Work dirs (logs, plugin-<scenario>.json): $PLUGIN_TEST_WORK, default a
# fresh /tmp/sstplb-plugin.XXXXXX. Exit 0 iff every scenario passed.
set -u
here=$(dirname "$(readlink -f "$0")")
repo=$(readlink -f "$here/../..")
scenarios=("$@")
[ ${#scenarios[@]} -gt 0 ] || scenarios=(mschapv2 noack reauth pap noauth badack pool pooldup)

make -B -C "$repo" --no-print-directory build/sstp-lb-pppd.so > /dev/null || {
    echo "plugin_test: FAIL: cannot build build/sstp-lb-pppd.so" >&2; exit 1; }
plugin=$repo/build/sstp-lb-pppd.so
base=${PLUGIN_TEST_WORK:-$(mktemp -d /tmp/sstplb-plugin.XXXXXX)}

run_one() {
    local sc=$1 w=$base/$1 t0 t1 rc
    mkdir -p "$w"
    t0=$(date +%s.%N)
    "$here/uml.sh" --timeout 90 "$w" "$here/plugin_test.guest.sh" "$sc" "$plugin" > "$w/uml.out" 2>&1
    rc=$?
    t1=$(date +%s.%N)
    echo "$rc $(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }')" > "$w/status"
}

# Two guests at a time: UML is one CPU each, the machine has two.
pids=()
for sc in "${scenarios[@]}"; do
    run_one "$sc" &
    pids+=($!)
    if [ ${#pids[@]} -ge 2 ]; then
        wait "${pids[0]}"
        pids=("${pids[@]:1}")
    fi
done
wait

pass=0
fail=0
for sc in "${scenarios[@]}"; do
    w=$base/$sc
    read -r rc secs < "$w/status" 2> /dev/null || { rc=125; secs=?; }
    summary=$(grep -a "^plugin_test $sc:" "$w/guest.log" 2> /dev/null | tail -n 1)
    if [ "$rc" = 0 ]; then
        pass=$((pass + 1))
        echo "PASS $sc (${secs}s wall) ${summary#plugin_test $sc: PASS: }"
    else
        fail=$((fail + 1))
        echo "FAIL $sc (${secs}s wall, status $rc) -- $w"
        grep -a '^FAIL' "$w/guest.log" 2> /dev/null | sed 's/^/    /'
        [ -n "$summary" ] || tail -n 15 "$w/uml.out" | sed 's/^/    /'
    fi
done
echo "plugin_test: $pass passed, $fail failed (logs in $base)"
[ $fail -eq 0 ]
