#!/bin/bash
# topology_fleet.sh — the fleet of docker/docker-compose.yml (Redis with a
# password, proxy1, proxy2, backend1, backend2) run without Docker inside one
# User-Mode Linux guest, with real Debian sstpc clients (MS-CHAPv2) on the
# compose `frontend` network. lib/compose_topology.py turns the compose file
# and docker/Dockerfile into the programs, addresses and environments to
# run; lib/topology.sh builds it (one network namespace per service, the
# compose healthchecks as readiness). Scenarios, one line each:
#   topology_up        Redis answers with the password only; both backends
#                      registered and up (sstpctl backends); both proxies
#                      ready (/readyz 200); a session through each proxy
#                      comes up and pings across the tunnel
#   topology_backend_set each proxy balances over exactly the backends
#                      compose runs (sstp_proxy_backend_up in /metrics)
#   topology_sessions  sstpctl sessions (--json and the table) shows each
#                      live session's user, address, backend, proxy, client
#   topology_drain     sstpctl drain backend1: new sessions through both
#                      proxies all land on backend2, live ones keep working;
#                      undrain: backend1 takes new sessions again
#   topology_affinity  a client's reconnects (through either proxy) land on
#                      the backend it used before, even where the balancing
#                      policy alone would pick the other one (compose
#                      leaves affinity off: a compose override sets
#                      [affinity] mode = client_ip on both proxies)
#   topology_kill      kill -9 of backend1: its sessions end (sstpc exits,
#                      ppp gone, its pppds gone) within a bound, backend2's
#                      sessions keep pinging, backend1 leaves the registry,
#                      new sessions land on backend2
#
#   tests/e2e/topology_fleet.sh [--keep]
# Prints "PASS <name> (...)" or "FAIL <name>: <reason>" per scenario and a
# summary line; exit 0 iff all passed. Work dir: $E2E_WORK, else a fresh
# /tmp/sstplb-topo.XXXXXX, removed after an all-green run unless --keep.
set -u

SCENARIOS=(topology_up topology_backend_set topology_sessions topology_drain topology_affinity
           topology_kill)

# ---------------------------------------------------------------- host side
host_main() {
    local here repo base keep=0 rc t0 features=() args=() pw help aff_sec aff_def aff_choices
    here=$(dirname "$(readlink -f "$0")")
    repo=$(readlink -f "$here/../..")
    [ "${1:-}" = --keep ] && keep=1
    t0=$(date +%s)

    fail_all() {
        local sc
        for sc in "${SCENARIOS[@]}"; do echo "FAIL $sc: $1"; done
        exit 1
    }
    local tool
    for tool in linux.uml sstpc docker-compose redis-server python3; do
        command -v "$tool" > /dev/null || fail_all "$tool not installed (scripts/deps.sh test)"
    done
    make -C "$repo" --no-print-directory -j2 build/sstp-proxy build/sstp-backend build/sstpctl \
        build/sstp-lb-pppd.so > /dev/null 2>&1 || fail_all "cannot build the daemons (run make)"

    base=${E2E_WORK:-$(mktemp -d /tmp/sstplb-topo.XXXXXX)}
    mkdir -p "$base" || fail_all "cannot create $base"
    rm -f "$base/results" "$base/race_retries"
    "$repo/scripts/mkcerts.sh" "$base/certs" > /dev/null 2>&1 || fail_all "scripts/mkcerts.sh failed"

    # What this sstp-proxy can do, from its own --help.
    help=$("$repo/build/sstp-proxy" --help 2>&1)
    grep -q '^\[redis\]' <<< "$help" ||
        fail_all "sstp-proxy has no [redis] section: the compose proxies cannot find the backends"
    # The affinity option ([affinity] mode, or an `affinity` key in any
    # section): its section, name, default and choices.
    local aff_key
    read -r aff_sec aff_key aff_def aff_choices < <(awk '
        /^\[/ { sec = substr($0, 2, length($0) - 2) }
        /^;   one of:/ { choices = substr($0, 13) }
        /^;[a-z_0-9]+ *=/ {
            key = $0; sub(/^;/, "", key); sub(/ *=.*/, "", key)
            if (key == "affinity" || (sec == "affinity" && key == "mode")) {
                v = $0; sub(/^;[a-z_0-9]+ *= */, "", v); if (v == "") v = "-"
                gsub(/ /, ",", choices); print sec, key, v, choices; exit
            }
            choices = ""
        }' <<< "$help")
    if [ -z "$aff_sec" ]; then
        features+=(AFFINITY=none)
    elif [[ ,$aff_choices, != *,client_ip,* ]]; then
        features+=(AFFINITY="no-client_ip:$aff_choices")
    elif [ "$aff_def" = client_ip ]; then
        features+=(AFFINITY=default)
    else
        # compose leaves it at its default: the test adds an override
        local var="SSTP_PROXY_${aff_sec^^}_${aff_key^^}"
        args+=(--proxy-env "$var=client_ip")
        features+=(AFFINITY="$var=client_ip")
    fi
    local down
    down=$(sed -n 's/^;down_time = \([0-9]*\)s$/\1/p' <<< "$help")
    features+=(DOWN_TIME="${down:-10}")
    printf '%s\n' "${features[@]}" > "$base/features"

    pw="e2e-$RANDOM$RANDOM"
    python3 "$here/lib/compose_topology.py" --repo "$repo" --certs "$base/certs" --password "$pw" \
        --work "$base" --out "$base/topology.env" "${args[@]}" 2> "$base/compose_topology.log" ||
        fail_all "$(tail -n 1 "$base/compose_topology.log")"

    "$here/uml.sh" --timeout 330 --mem 768M "$base" "$here/$(basename "$0")" > "$base/uml.out" 2>&1
    rc=$?

    local sc line failed=0
    for sc in "${SCENARIOS[@]}"; do
        line=$(grep -E "^(PASS|FAIL) $sc( |:|$)" "$base/results" 2> /dev/null | head -n 1)
        if [ -z "$line" ]; then
            case $rc in
                124) line="FAIL $sc: the guest timed out (330 s) before this scenario ended (logs in $base)" ;;
                *)   line="FAIL $sc: the guest ended (status $rc) before this scenario (logs in $base)" ;;
            esac
        fi
        echo "$line"
        [[ $line == PASS* ]] || failed=$((failed + 1))
    done
    if [ $failed -gt 0 ]; then
        echo "    ---- guest.log (tail) ----"
        tail -n 30 "$base/guest.log" 2> /dev/null | tr -d '\000' | sed 's/^/    /'
        for sc in proxy1 backend1 backend2; do
            echo "    ---- $sc.log (tail) ----"
            tail -n 8 "$base/$sc.log" 2> /dev/null | tr -d '\000' | cut -c1-240 | sed 's/^/    /'
        done
    fi
    local races
    races=$(cat "$base/race_retries" 2> /dev/null)
    [ "${races:-0}" = 0 ] || echo "note: sstpc 1.0.18 start-up race hit $races client start(s), each retried"
    echo "topology: ${#SCENARIOS[@]} scenarios, $failed failed, $(( $(date +%s) - t0 ))s (work dir $base)"
    if [ $failed -eq 0 ] && [ $keep = 0 ] && [ -z "${E2E_WORK:-}" ]; then
        rm -rf "$base"
    fi
    [ $failed -eq 0 ]
}

if [ -z "${SSTPLB_GUEST:-}" ]; then
    host_main "$@"
    exit
fi

# --------------------------------------------------------------- guest side
. "$E2E_DIR/lib/topology.sh"
. "$W/features"

REASON=
fail() { REASON=$*; return 1; }

# run NAME FUNCTION: one scenario, one verdict line (the reason from fail).
run() {
    local name=$1 t0=$(gs_now_ms)
    shift
    REASON=
    DETAIL=
    gs_log "==== $name"
    if "$@"; then
        local ms=$(( $(gs_now_ms) - t0 ))
        result "$name" PASS "${DETAIL:+$DETAIL, }$((ms / 1000)).$(( ms % 1000 / 100 ))s"
    else
        result "$name" FAIL "${REASON:-scenario function failed without a reason}"
    fi
}

# The backend and proxy services in compose order, and the backend ids.
declare -A ID_OF=() DRAIN_SEEN=()
topo_names() {
    read -r B1 B2 _ <<< "$(topo_services backend)"
    read -r P1 P2 _ <<< "$(topo_services proxy)"
    [ -n "${B2:-}" ] && [ -n "${P2:-}" ] || { echo "the plan needs two backends and two proxies" >&2; return 1; }
    B1_ID=$(topo_backend_id "$B1")
    B2_ID=$(topo_backend_id "$B2")
    ID_OF=([$B1]=$B1_ID [$B2]=$B2_ID)
}
# Time for a drain/undrain to reach the proxies once the backend has seen
# it: they read the registry every redis.registry_interval (default 1 s),
# and active health checks bring a backend back after health.rise x
# health.interval (default 1 s).
SETTLE=4
DOWN_TIME=${DOWN_TIME:-10}     # sstp-proxy's backends.down_time (from features)

# Registry rows: "backend=ID ... state=S ..." per backend.
registry_state() {          # ID -> its state in `sstpctl backends`, "" if absent
    local row
    while IFS= read -r row; do
        [ "$(row_get "$row" backend)" = "$1" ] && { row_get "$row" state; return 0; }
    done <<< "$(ctl --json backends 2> /dev/null | json_rows)"
    echo ""
}

# Tags of live sessions (sstpc running) that sit on backend service B.
live_on() {
    local t out=()
    for t in "${!LANDED[@]}"; do
        [ "${LANDED[$t]}" = "$1" ] && bg_alive "sstpc-$t" && out+=("$t")
    done
    echo "${out[*]}"
}

# Start sessions TAG:K:USER:PROXY..., wait for all of them.
connect_all() {
    local spec tag t0=$(gs_now_ms)
    for spec in "$@"; do
        IFS=: read -r tag k u p <<< "$spec"
        topo_connect "$tag" "$k" "$u" "$p" || { fail "cannot start sstpc for $tag"; return 1; }
    done
    for spec in "$@"; do
        tag=${spec%%:*}
        topo_session_up "$tag" 40 2> "$W/.why" || { fail "$(< "$W/.why")"; return 1; }
        gs_log "session $tag (user${SESS_USER[$tag]} from ${CLIENT_ADDR[${SESS_NS[$tag]#c}]} via ${SESS_PROXY[$tag]}) on ${LANDED[$tag]}"
    done
    CONNECT_MS=$(( $(gs_now_ms) - t0 ))
}

# http_status NS ADDR PORT PATH: the status line of a GET, from namespace NS.
http_status() {
    local line
    line=$(timeout -k 1 5 ip netns exec "$1" bash -c 'exec 3<>"/dev/tcp/$0/$1" &&
        printf "GET %s HTTP/1.0\r\n\r\n" "$2" >&3 && read -r l <&3 && echo "$l"' "$2" "$3" "$4" 2>&1)
    echo "${line%$'\r'}"
}

# metric_labels NS ADDR PORT NAME: the backend="..." labels of metric NAME
# in a proxy's /metrics, one per line.
metric_labels() {
    local body line re="^$4\\{.*backend=\"([^\"]*)\""
    body=$(timeout -k 1 5 ip netns exec "$1" bash -c 'exec 3<>"/dev/tcp/$0/$1" &&
        printf "GET /metrics HTTP/1.0\r\n\r\n" >&3 && cat <&3' "$2" "$3" 2> /dev/null)
    while IFS= read -r line; do
        [[ $line =~ $re ]] && echo "${BASH_REMATCH[1]}"
    done <<< "$body"
}

sc_up() {
    topo_up 2> "$W/.why" || { fail "fleet not healthy: $(tr '\n' ' ' < "$W/.why")"; return 1; }
    # Redis: the password works over the backplane, and nothing works without it.
    local raddr pw out
    raddr=$(topo_addr redis backplane) || { fail "no redis address on backplane"; return 1; }
    pw=$(topo_env redis REDIS_PASSWORD) || { fail "no REDIS_PASSWORD in redis's environment"; return 1; }
    out=$(ip netns exec "$B1" redis-cli -h "$raddr" -a "$pw" --no-auth-warning ping 2>&1)
    [ "$out" = PONG ] || { fail "redis-cli with the password from $B1: '$out'"; return 1; }
    out=$(ip netns exec "$B1" redis-cli -h "$raddr" ping 2>&1)
    [[ $out == *NOAUTH* ]] || { fail "redis answered without the password: '$out'"; return 1; }
    # Both backends registered, up, with their advertised addresses.
    check_registry() {
        local rows row b id ok=0
        rows=$(ctl --json backends 2> /dev/null | json_rows)
        for b in "$B1" "$B2"; do
            id=${ID_OF[$b]}
            while IFS= read -r row; do
                [ "$(row_get "$row" backend)" = "$id" ] || continue
                [ "$(row_get "$row" state)" = up ] &&
                    [ "$(row_get "$row" addr)" = "$(topo_env "$b" SSTP_BACKEND_BACKEND_ADVERTISE)" ] &&
                    ok=$((ok + 1))
            done <<< "$rows"
        done
        [ $ok -eq 2 ]
    }
    WAIT_FOR_INTERVAL=0.5 wait_for 10 check_registry 2> /dev/null ||
        { fail "sstpctl backends does not show $B1_ID and $B2_ID up: $(ctl backends 2>&1 | tr '\n' ';')"; return 1; }
    ctl backends | sed 's/^/    /'
    # Both proxies ready, now that everything is up: their compose
    # healthcheck (/readyz on loopback) and /readyz on the admin address
    # compose gives them (SSTP_PROXY_ADMIN_ADDRESS), read over the backplane.
    local p port status
    for p in "$P1" "$P2"; do
        topo_healthy "$p" || { fail "$p: its healthcheck (/readyz) fails"; return 1; }
        port=$(topo_env "$p" SSTP_PROXY_ADMIN_ADDRESS) || { fail "$p: no admin address in compose"; return 1; }
        status=$(http_status "$B1" "$(topo_addr "$p" backplane)" "${port##*:}" /readyz)
        [[ $status == "HTTP/1."?" 200 "* ]] || { fail "$p: GET /readyz on its admin port: '$status'"; return 1; }
    done
    connect_all a:1:1:"$P1" b:2:2:"$P2" || return 1
    topo_ping a || { fail "no ping through session a (via $P1)"; return 1; }
    topo_ping b || { fail "no ping through session b (via $P2)"; return 1; }
    FLEET_UP=1
    DETAIL="via $P1 on ${LANDED[a]}, via $P2 on ${LANDED[b]}, both up in ${CONNECT_MS}ms"
}

# The proxies balance over the backends compose runs, and nothing else
# (sstp_proxy_backend_up lists every backend a proxy may pick).
sc_backend_set() {
    local want got extra missing id p port
    want=" $B1_ID $B2_ID "
    for p in "$P1" "$P2"; do
        port=$(topo_env "$p" SSTP_PROXY_ADMIN_ADDRESS)
        got=" $(metric_labels "$B1" "$(topo_addr "$p" backplane)" "${port##*:}" sstp_proxy_backend_up | tr '\n' ' ')"
        extra=
        missing=
        for id in $got; do [[ $want == *" $id "* ]] || extra+=" $id"; done
        for id in $want; do [[ $got == *" $id "* ]] || missing+=" $id"; done
        if [ -n "$extra$missing" ]; then
            got=$(echo $got)
            REASON="$p balances over [$got] (sstp_proxy_backend_up), compose runs [$B1_ID $B2_ID]:"
            [ -n "$extra" ] && REASON+=" not in compose:$extra (a backends.server line of the config file the image ships?)"
            [ -n "$missing" ] && REASON+=" missing:$missing"
            return 1
        fi
    done
    DETAIL="$P1 and $P2 each balance over [$B1_ID $B2_ID] only"
}

sc_sessions() {
    local t rows row
    check_rows() {
        local t row found
        rows=$(ctl --json sessions 2> /dev/null | json_rows)
        for t in a b; do
            found=
            while IFS= read -r row; do
                [ "$(row_get "$row" user)" = "$(sstp_user "${SESS_USER[$t]}")" ] || continue
                [ "$(row_get "$row" ip)" = "$(sstp_ip "${SESS_USER[$t]}")" ] &&
                    [ "$(row_get "$row" backend)" = "${ID_OF[${LANDED[$t]}]}" ] &&
                    [ "$(row_get "$row" proxy)" = "$(topo_env "${SESS_PROXY[$t]}" SSTP_PROXY_PROXY_ID)" ] &&
                    [ "$(row_get "$row" client)" = "${CLIENT_ADDR[${SESS_NS[$t]#c}]}" ] &&
                    [ "$(row_get "$row" state)" = connected ] && found=1
            done <<< "$rows"
            [ -n "$found" ] || return 1
        done
    }
    if ! WAIT_FOR_INTERVAL=0.5 wait_for 12 check_rows 2> /dev/null; then
        local got=
        while IFS= read -r row; do
            got+="[$(for f in user ip backend proxy client state; do printf '%s=%s ' $f "$(row_get "$row" $f)"; done)] "
        done <<< "$rows"
        fail "sstpctl sessions lacks a row user/ip/backend/proxy/client/state for" \
            "user${SESS_USER[a]} ($(sstp_ip "${SESS_USER[a]}") on ${ID_OF[${LANDED[a]}]} via $P1 from ${CLIENT_ADDR[1]})" \
            "or user${SESS_USER[b]} ($(sstp_ip "${SESS_USER[b]}") on ${ID_OF[${LANDED[b]}]} via $P2 from ${CLIENT_ADDR[2]}); got: ${got:-nothing}"
        return 1
    fi
    # The table a person reads: user and address on the session's line.
    local table line u ip
    table=$(ctl sessions 2>&1)
    printf '%s\n' "$table" | sed 's/^/    /'
    for t in a b; do
        u=$(sstp_user "${SESS_USER[$t]}")
        ip=$(sstp_ip "${SESS_USER[$t]}")
        line=$(grep -E "(^| )$u( |$)" <<< "$table")
        [[ " $line " == *" $ip "* ]] || { fail "sstpctl sessions table has no line with $u and $ip"; return 1; }
    done
    DETAIL="2 sessions with user, address, backend, proxy, client"
}

# drain B drain|undrain: sstpctl, then wait until backend B logged it and
# the registry shows it, then give the proxies time to act on it: SETTLE,
# or, on undrain, the proxies' backends.down_time if a proxy marked B down
# meanwhile (a draining backend refuses, and a proxy then skips it for
# down_time).
drain() {
    local b=$1 verb=$2 out id=${ID_OF[$1]} p n
    out=$(ctl "$verb" "$id" 2>&1) || { fail "sstpctl $verb $id: $out"; return 1; }
    gs_log "sstpctl $verb: $out"
    wait_for 10 eval '[ "$(log_count "$W/$b.log" "ev='"$verb"' ")" -gt "${DRAIN_SEEN[$b $verb]:-0}" ]' 2> /dev/null ||
        { fail "$b did not log ev=$verb within 10 s"; return 1; }
    DRAIN_SEEN[$b $verb]=$(log_count "$W/$b.log" "ev=$verb ")
    local want=up
    [ "$verb" = drain ] && want=draining
    WAIT_FOR_INTERVAL=0.5 wait_for 8 eval '[ "$(registry_state "$id")" = '"$want"' ]' 2> /dev/null ||
        { fail "sstpctl backends does not show $id $want after $verb"; return 1; }
    local settle=$SETTLE marked=0
    for p in "$P1" "$P2"; do
        n=$(log_count "$W/$p.log" "ev=backend_down backend=$id ")
        [ "$verb" = undrain ] && [ "$n" -gt "${DOWN_SEEN[$p]:-0}" ] && marked=1
        DOWN_SEEN[$p]=$n
    done
    if [ $marked = 1 ]; then
        settle=$((DOWN_TIME + 1))
        gs_log "a proxy marked $id down while it drained: waiting its down_time (${DOWN_TIME}s)"
    fi
    gs_sleep "$settle"
}
declare -A DOWN_SEEN=()
# Undo a drain on the way out of a failed scenario, keeping its reason.
undrain_keep_reason() {
    local r=$REASON
    drain "$1" undrain
    REASON=$r
}

sc_drain() {
    local t before_a before_b
    before_a=${LANDED[a]}
    before_b=${LANDED[b]}
    drain "$B1" drain || return 1
    connect_all d1:3:3:"$P1" d2:4:4:"$P2" d3:5:5:"$P1" d4:6:6:"$P2" || { undrain_keep_reason "$B1"; return 1; }
    local wrong=()
    for t in d1 d2 d3 d4; do
        [ "${LANDED[$t]}" = "$B2" ] || wrong+=("$t via ${SESS_PROXY[$t]} on ${LANDED[$t]}")
    done
    if [ ${#wrong[@]} -gt 0 ]; then
        fail "with $B1_ID drained, new sessions still landed on it: ${wrong[*]}"
        undrain_keep_reason "$B1"
        return 1
    fi
    for t in a b; do
        topo_ping "$t" || { fail "live session $t stopped pinging during the drain"; return 1; }
    done
    [ "$(topo_where "$(sstp_ip "${SESS_USER[a]}")")" = "$before_a" ] &&
        [ "$(topo_where "$(sstp_ip "${SESS_USER[b]}")")" = "$before_b" ] ||
        { fail "a live session moved during the drain"; return 1; }
    drain "$B1" undrain || return 1
    # backend2 now holds every session but at most two: the least loaded
    # backend for a new client is backend1 again.
    connect_all d5:7:7:"$P1" || return 1
    [ "${LANDED[d5]}" = "$B1" ] ||
        { fail "after undrain a new session via $P1 landed on ${LANDED[d5]}, want $B1 ($B1: $(live_on "$B1" | wc -w) sessions, $B2: $(live_on "$B2" | wc -w))"; return 1; }
    DETAIL="4 new sessions on $B2_ID while $B1_ID drained, live ones kept, undrained: next one on $B1_ID"
}

# Live sessions on backend B that came through proxy P ("" = any proxy).
count_on() {
    local t n=0
    for t in $(live_on "$1"); do
        [ -z "$2" ] || [ "${SESS_PROXY[$t]}" = "$2" ] && n=$((n + 1))
    done
    echo $n
}

# Both proxies' own counts and the fleet's have backend1 less loaded than
# backend2, so least-connections (per proxy) and leastsessions (fleet-wide)
# would both send a client without affinity to backend1.
b1_preferred() {
    local p
    for p in "$P1" "$P2" ""; do
        [ "$(count_on "$B1" "$p")" -lt "$(count_on "$B2" "$p")" ] || return 1
    done
}

loads() {
    local p out=
    for p in "$P1" "$P2"; do
        out+="$p sees $B1_ID $(count_on "$B1" "$p") / $B2_ID $(count_on "$B2" "$p"), "
    done
    echo "${out}fleet $B1_ID $(count_on "$B1" "") / $B2_ID $(count_on "$B2" "")"
}

sc_affinity() {
    case $AFFINITY in
        none) fail "sstp-proxy has no affinity option (no [affinity] mode or 'affinity' key in sstp-proxy --help); reconnects cannot be pinned"
              return 1 ;;
        no-client_ip:*) fail "sstp-proxy's affinity option has no client_ip choice (${AFFINITY#*:})"; return 1 ;;
    esac
    # Client c8's first session while backend1 is drained goes to backend2,
    # and so do sessions of other clients through each proxy until every
    # proxy (hence the fleet) has more on backend2: without affinity a new
    # session would go to backend1.
    drain "$B1" drain || return 1
    connect_all e1:8:8:"$P1" || { undrain_keep_reason "$B1"; return 1; }
    local first=${LANDED[e1]} t p fillers=(13 16 17 18) f
    topo_disconnect e1 2> "$W/.why" || { fail "$(< "$W/.why")"; undrain_keep_reason "$B1"; return 1; }
    [ "$first" = "$B2" ] || { fail "precondition: with $B1_ID drained session e1 landed on $first"; undrain_keep_reason "$B1"; return 1; }
    for p in "$P1" "$P2"; do
        while [ "$(count_on "$B1" "$p")" -ge "$(count_on "$B2" "$p")" ] && [ ${#fillers[@]} -gt 0 ]; do
            f=${fillers[0]}
            fillers=("${fillers[@]:1}")
            connect_all "f$f:$f:$f:$p" || { undrain_keep_reason "$B1"; return 1; }
            [ "${LANDED[f$f]}" = "$B2" ] ||
                { fail "precondition: with $B1_ID drained session f$f landed on ${LANDED[f$f]}"; undrain_keep_reason "$B1"; return 1; }
        done
    done
    drain "$B1" undrain || return 1
    # The proxies recorded the choice in Redis (aff:ip:<client>, README schema).
    local key rec pw raddr
    key="sstp:aff:ip:${CLIENT_ADDR[8]}"
    raddr=$(topo_addr redis backplane)
    pw=$(topo_env redis REDIS_PASSWORD)
    rec=$(ip netns exec "$B2" redis-cli -h "$raddr" -a "$pw" --no-auth-warning GET "$key" 2>&1)
    [ "$rec" = "$B2_ID" ] || { fail "Redis $key is '$rec', want $B2_ID"; return 1; }
    b1_preferred || { fail "precondition: without affinity $B1_ID would not be preferred: $(loads)"; return 1; }
    local load
    load=$(loads)
    gs_log "loads before the reconnects: $load"
    # Reconnects from the same client address, through each proxy.
    for t in e2:"$P2" e3:"$P1"; do
        p=${t#*:}
        t=${t%%:*}
        connect_all "$t:8:8:$p" || return 1
        [ "${LANDED[$t]}" = "$B2" ] ||
            { fail "reconnect $t of client ${CLIENT_ADDR[8]} via $p landed on ${LANDED[$t]}; its earlier backend was $B2_ID (Redis $key = $rec; $load)"; return 1; }
        topo_disconnect "$t" 2> "$W/.why" || { fail "$(< "$W/.why")"; return 1; }
    done
    DETAIL="client ${CLIENT_ADDR[8]} reconnected via $P2 and $P1: both on $B2_ID, the policy alone would pick $B1_ID ($load)"
}

sc_kill() {
    local victim=$B1 survivor=$B2 t tries k u
    # Each backend needs a live session: top up through alternating proxies.
    u=9
    for tries in 1 2 3 4; do
        [ -n "$(live_on "$victim")" ] && [ -n "$(live_on "$survivor")" ] && break
        if [ $((tries % 2)) = 1 ]; then p=$P1; else p=$P2; fi
        connect_all "k$u:$u:$u:$p" || return 1
        u=$((u + 1))
    done
    local on_v on_s
    read -r -a on_v <<< "$(live_on "$victim")"
    read -r -a on_s <<< "$(live_on "$survivor")"
    [ ${#on_v[@]} -gt 0 ] && [ ${#on_s[@]} -gt 0 ] ||
        { fail "precondition: no live session on each backend ($victim: ${#on_v[@]}, $survivor: ${#on_s[@]})"; return 1; }
    gs_log "on $victim: ${on_v[*]}; on $survivor: ${on_s[*]}"
    local t0 gone_ms
    t0=$(gs_now_ms)
    kill -KILL "$(bg_pid "$victim")"
    # Its sessions end: every sstpc exits and its ppp is gone.
    victim_sessions_gone() {
        local t
        for t in "${on_v[@]}"; do
            bg_alive "sstpc-$t" && ! _gs_exited "$(bg_pid "sstpc-$t")" && return 1
        done
        for t in "${on_v[@]}"; do
            _topo_client_up "$t" && return 1
        done
        return 0
    }
    WAIT_FOR_INTERVAL=0.3 wait_for 20 victim_sessions_gone 2> /dev/null || {
        local left=()
        for t in "${on_v[@]}"; do
            _gs_exited "$(bg_pid "sstpc-$t")" || left+=("$t:sstpc-running")
            _topo_client_up "$t" && left+=("$t:ppp-up")
        done
        fail "20 s after kill -9 of $victim its sessions still run: ${left[*]}"
        return 1
    }
    gone_ms=$(( $(gs_now_ms) - t0 ))
    gs_log "sessions on $victim ended ${gone_ms}ms after kill -9"
    for t in "${on_v[@]}"; do bg_wait "sstpc-$t" 1 > /dev/null 2>&1; done
    # Its pppds end with their pty master; nothing is left in its namespace.
    WAIT_FOR_INTERVAL=0.3 wait_for 15 eval '[ -z "$(ip netns pids '"$victim"')" ]' 2> /dev/null ||
        { fail "processes left in $victim's namespace 15 s after kill -9: $(ip netns pids "$victim" | tr '\n' ' ')"; return 1; }
    gs_log "no process left in $victim's namespace"
    # The survivor's sessions are untouched.
    for t in "${on_s[@]}"; do
        topo_ping "$t" || { fail "session $t on $survivor stopped pinging after $victim died"; return 1; }
        [ "$(topo_where "$(sstp_ip "${SESS_USER[$t]}")")" = "$survivor" ] ||
            { fail "session $t left $survivor"; return 1; }
    done
    gs_log "${#on_s[@]} sessions on $survivor still ping"
    # The registry forgets the dead backend (registry_ttl, default 6 s).
    WAIT_FOR_INTERVAL=0.5 wait_for 12 eval '[ "$(registry_state "$B1_ID")" != up ] && [ "$(registry_state "$B2_ID")" = up ]' 2> /dev/null ||
        { fail "sstpctl backends still shows $B1_ID up (or $B2_ID not up) 12 s after kill -9"; return 1; }
    gs_log "registry after the kill: $B1_ID '$(registry_state "$B1_ID")', $B2_ID '$(registry_state "$B2_ID")'"
    # New sessions go to the survivor, through both proxies.
    connect_all n1:14:14:"$P1" n2:15:15:"$P2" || return 1
    for t in n1 n2; do
        [ "${LANDED[$t]}" = "$survivor" ] || { fail "new session $t landed on ${LANDED[$t]}"; return 1; }
        topo_ping "$t" || { fail "no ping through new session $t"; return 1; }
    done
    local p
    for p in "$P1" "$P2"; do
        topo_healthy "$p" || { fail "$p: /readyz not 200 with $survivor alive"; return 1; }
    done
    DETAIL="${#on_v[@]} sessions on $B1_ID ended ${gone_ms}ms after kill -9, ${#on_s[@]} on $B2_ID kept, new ones on $B2_ID"
}

t_all=$(gs_now_ms)
topo_secrets 18
if ! { topo_load "$W/topology.env" && topo_names && topo_net_up; } 2> "$W/.why"; then
    for sc in "${SCENARIOS[@]}"; do result "$sc" FAIL "network set-up failed: $(tr '\n' ' ' < "$W/.why")"; done
    exit 1
fi
gs_log "affinity: $AFFINITY"

FLEET_UP=0
run topology_up sc_up
# The later scenarios need a working fleet (sessions through both proxies),
# not every topology_up check.
if [ "$FLEET_UP" = 1 ]; then
    run topology_backend_set sc_backend_set
    run topology_sessions sc_sessions
    run topology_drain sc_drain
    run topology_affinity sc_affinity
    run topology_kill sc_kill
else
    for sc in "${SCENARIOS[@]:1}"; do result "$sc" FAIL "the fleet did not come up (see topology_up)"; done
fi
gs_log "guest done in $(( ($(gs_now_ms) - t_all) / 1000 ))s; sstpc start-up race retries: $TOPO_RACE_RETRIES"
echo "$TOPO_RACE_RETRIES" > "$W/race_retries"
# Stop what is left: sstpc first, then the services in reverse order.
for t in "${!SESS_NS[@]}"; do
    bg_alive "sstpc-$t" && kill -TERM "$(bg_pid "sstpc-$t")" 2> /dev/null
done
for ((i = ${#TOPO_SERVICES[@]} - 1; i >= 0; i--)); do
    bg_alive "${TOPO_SERVICES[$i]}" && bg_stop "${TOPO_SERVICES[$i]}" 5 > /dev/null 2>&1
done
exit 0
