# topology.sh — guest helpers for the fleet topology tests
# (tests/e2e/topology_*.sh): docker/docker-compose.yml without Docker, in one
# User-Mode Linux guest. lib/compose_topology.py (run on the host) writes the
# plan; these functions build it: one network namespace per compose service
# with the address compose gives it, one Linux bridge per compose network in
# the guest's root namespace (no address there: the backplane stays
# internal), each service started with exactly its compose environment
# (`env -i`), the compose healthchecks run inside the service's namespace,
# and sstpc clients in namespaces c1, c2, ... on the non-internal (frontend)
# network, each with its own address. Source it from a guest script (it
# sources sstp.sh for the user/secret helpers and guest.sh):
#     . "$E2E_DIR/lib/topology.sh"
#
#   topo_load FILE                the plan (bash fragment from compose_topology.py)
#   topo_net_up                   namespaces, bridges, veths, sysctls, the
#                                 sstpc race work-around on the proxies
#   topo_secrets N                chap-secrets for users 1..N (fixed address each)
#   topo_up                       start every service in depends_on order,
#                                 waiting for service_healthy dependencies,
#                                 then for every service's healthcheck
#   topo_healthy SVC              the service's compose healthcheck passes now
#   topo_env SVC NAME             a variable of SVC's compose environment
#   topo_addr SVC NET             SVC's address on NET (no prefix length)
#   topo_services KIND            services of an image kind (proxy, backend, redis)
#   topo_backend_id SVC           the id the backend registers (backend.id)
#   ctl ARGS...                   sstpctl in the first proxy's namespace, with
#                                 the Redis URL compose gives that proxy
#   json_rows                     sstpctl --json output on stdin -> one line of
#                                 `key=value` words per row
#   row_get ROW FIELD             a field of a json_rows line
#   topo_connect TAG K I PROXY    sstpc for user I from client namespace cK to
#                                 PROXY's frontend address, at the container
#                                 port compose publishes
#   topo_session_up TAG [SECS]    wait until both ppp ends of TAG are up; sets
#                                 LANDED[TAG] to the backend service it runs on
#                                 (restarts sstpc hit by its start-up race)
#   topo_where IP                 backend service whose ppp has peer IP ("" if none)
#   topo_ping TAG                 ping the server end through TAG's tunnel
#   topo_disconnect TAG           stop TAG's sstpc, wait until the server end is gone
#   result NAME PASS|FAIL TEXT    record a scenario verdict in $W/results

. "$E2E_DIR/lib/sstp.sh"

declare -ga TOPO_SERVICES=() TOPO_NETWORKS=()
declare -gA TOPO_NET_SUBNET=() TOPO_NET_INTERNAL=() TOPO_VAR=() TOPO_KIND=() TOPO_NETS=()
declare -gA TOPO_DEPENDS=() TOPO_SYSCTLS=() TOPO_PORTS=() TOPO_HC_INTERVAL=() TOPO_HC_TIMEOUT=()
declare -gA TOPO_HC_RETRIES=()
declare -gA TOPO_DEV=()            # "svc net" -> device name in svc's namespace
declare -gA SESS_NS=() SESS_USER=() SESS_PROXY=() LANDED=() CLIENT_ADDR=()
TOPO_FRONT=                       # the network clients join
TOPO_PPP_SRV_IP=                  # the backends' end of every tunnel
# `ip` execs are 50-100 ms each in UML: poll tunnels less eagerly than files.
TOPO_POLL=0.25
TOPO_PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin

topo_load() {
    . "$1" || return 1
    local n
    for n in "${TOPO_NETWORKS[@]}"; do
        if [ "${TOPO_NET_INTERNAL[$n]}" = 0 ] && [ -z "$TOPO_FRONT" ]; then
            TOPO_FRONT=$n
        fi
    done
    [ -n "$TOPO_FRONT" ] || { echo "topo_load: no non-internal network for the clients" >&2; return 1; }
}

topo_services() {
    local s out=()
    for s in "${TOPO_SERVICES[@]}"; do
        [ "${TOPO_KIND[$s]}" = "$1" ] && out+=("$s")
    done
    echo "${out[*]}"
}

topo_env() {
    local -n _env="TOPO_ENV_${TOPO_VAR[$1]}"
    local kv
    for kv in "${_env[@]}"; do
        [ "${kv%%=*}" = "$2" ] && { printf '%s\n' "${kv#*=}"; return 0; }
    done
    return 1
}

topo_addr() {
    local w
    for w in ${TOPO_NETS[$1]}; do
        [ "${w%%=*}" = "$2" ] && { w=${w#*=}; echo "${w%/*}"; return 0; }
    done
    return 1
}

topo_backend_id() {
    topo_env "$1" SSTP_BACKEND_BACKEND_ID || echo "$1"
}

# Host address N of a CIDR (a.b.c.0/24, 5 -> a.b.c.5); /16../30 are enough here.
_topo_host() {
    local net=${1%/*} n=$2 a b c d
    IFS=. read -r a b c d <<< "$net"
    local v=$(( (a << 24) + (b << 16) + (c << 8) + d + n ))
    echo "$(( (v >> 24) & 255 )).$(( (v >> 16) & 255 )).$(( (v >> 8) & 255 )).$(( v & 255 ))"
}

topo_net_up() {
    local s n i k w dev prefix cmds=() nscmds
    modprobe -a bridge || return 1
    for n in "${TOPO_NETWORKS[@]}"; do
        cmds+=("link add br-$n type bridge" "link set br-$n up")
    done
    k=0
    for s in "${TOPO_SERVICES[@]}"; do
        k=$((k + 1))
        cmds+=("netns add $s")
        i=0
        for w in ${TOPO_NETS[$s]}; do
            n=${w%%=*}
            cmds+=("link add v${k}n$i type veth peer name eth$i netns $s"
                   "link set v${k}n$i master br-$n up")
            TOPO_DEV[$s $n]=eth$i
            i=$((i + 1))
        done
    done
    printf '%s\n' "${cmds[@]}" | ip -batch - || return 1
    for s in "${TOPO_SERVICES[@]}"; do
        nscmds="link set lo up"$'\n'
        for w in ${TOPO_NETS[$s]}; do
            dev=${TOPO_DEV[$s ${w%%=*}]}
            nscmds+="addr add ${w#*=} dev $dev"$'\n'"link set $dev up"$'\n'
        done
        ip -n "$s" -batch - <<< "$nscmds" || return 1
        for w in ${TOPO_SYSCTLS[$s]}; do
            ip netns exec "$s" sysctl -q -w "$w" || return 1
        done
        # sstpc 1.0.18 race (see sstp.sh): delay what a published port
        # sends to the clients. Left on for the whole run: a 10 ms WAN.
        for w in ${TOPO_PORTS[$s]}; do
            dev=${TOPO_DEV[$s $TOPO_FRONT]:-}
            [ -n "$dev" ] || { echo "topo_net_up: $s publishes $w but is not on $TOPO_FRONT" >&2; return 1; }
            race_delay_on "$dev" "${w##*:}" "$s" || return 1
        done
    done
    # The backends' end of the tunnels, from the options file they run with.
    local b opts line
    b=$(topo_services backend)
    b=${b%% *}
    opts=$(topo_env "$b" SSTP_BACKEND_PPPD_OPTIONS) || { echo "topo_net_up: $b has no pppd options" >&2; return 1; }
    while read -r line; do
        [[ $line =~ ^([0-9]+\.[0-9]+\.[0-9]+\.[0-9]+):$ ]] && TOPO_PPP_SRV_IP=${BASH_REMATCH[1]}
    done < "$opts"
    [ -n "$TOPO_PPP_SRV_IP" ] || { echo "topo_net_up: no 'local:' address in $opts" >&2; return 1; }
}

# chap-secrets (the file compose mounts into the backends): user I gets
# address sstp_ip I. Debian's ip-up/ip-down run-parts are removed from the
# overlay (slow in UML, not what is tested).
topo_secrets() {
    local i
    rm -f /etc/ppp/ip-up /etc/ppp/ip-down /etc/ppp/ipv6-up /etc/ppp/ipv6-down \
        /etc/ppp/auth-up /etc/ppp/auth-down
    umask 077
    for ((i = 1; i <= $1; i++)); do
        printf '"%s" sstp-lb "%s" %s\n' "$(sstp_user "$i")" "$(sstp_pass "$i")" "$(sstp_ip "$i")"
    done > /etc/ppp/chap-secrets
    umask 022
}

topo_start() {
    local s=$1
    local -n _argv="TOPO_ARGV_${TOPO_VAR[$s]}"
    local -n _env="TOPO_ENV_${TOPO_VAR[$s]}"
    bg_start "$s" ip netns exec "$s" env -i PATH="$TOPO_PATH" HOME=/root "${_env[@]}" "${_argv[@]}"
}

topo_healthy() {
    local s=$1
    local -n _hc="TOPO_HC_${TOPO_VAR[$s]}"
    local -n _env="TOPO_ENV_${TOPO_VAR[$s]}"
    timeout -k 1 "${TOPO_HC_TIMEOUT[$s]}" \
        ip netns exec "$s" env -i PATH="$TOPO_PATH" HOME=/root "${_env[@]}" "${_hc[@]}" > /dev/null 2>&1
}

# Healthy within the time compose allows (retries x interval, at least
# 15 s for a slow UML CPU), polled faster than compose would; fails at once
# if the service has exited.
topo_wait_healthy() {
    local s=$1 secs
    secs=$(awk -v r="${TOPO_HC_RETRIES[$s]}" -v i="${TOPO_HC_INTERVAL[$s]}" \
        'BEGIN { t = r * i; if (t < 15) t = 15; printf "%d", t }')
    _topo_healthy_or_dead() {
        bg_alive "$1" || return 0
        topo_healthy "$1"
    }
    WAIT_FOR_INTERVAL=0.3 wait_for "$secs" _topo_healthy_or_dead "$s" 2> /dev/null || {
        echo "topo_wait_healthy: $s not healthy within ${secs}s" >&2
        return 1
    }
    bg_alive "$s" || { echo "topo_wait_healthy: $s exited: $(tail -n 3 "$W/$s.log" | tr -d '\000')" >&2; return 1; }
}

topo_up() {
    local s d started=()
    declare -A healthy=()
    for s in "${TOPO_SERVICES[@]}"; do
        for d in ${TOPO_DEPENDS[$s]}; do
            case ${d#*=} in
                service_healthy)
                    if [ -z "${healthy[${d%%=*}]:-}" ]; then
                        topo_wait_healthy "${d%%=*}" || return 1
                        healthy[${d%%=*}]=1
                        gs_log "${d%%=*} healthy"
                    fi ;;
                service_started) ;;
                *) echo "topo_up: $s: depends_on condition ${d#*=} not supported" >&2; return 1 ;;
            esac
        done
        topo_start "$s"
        gs_log "started $s (pid $(bg_pid "$s"))"
    done
    for s in "${TOPO_SERVICES[@]}"; do
        if [ -z "${healthy[$s]:-}" ]; then
            topo_wait_healthy "$s" || return 1
            gs_log "$s healthy"
        fi
    done
}

# `docker exec proxy1 sstpctl -r URL ...` (the proxy image ships sstpctl),
# with the Redis URL compose gives the proxy.
ctl() {
    local p url
    p=$(topo_services proxy)
    p=${p%% *}
    url=$(topo_env "$p" SSTP_PROXY_REDIS_URL) || return 1
    timeout -k 1 10 ip netns exec "$p" env -i PATH="$TOPO_PATH" "$REPO/build/sstpctl" -r "$url" "$@"
}

# [{"k":"v",...},...] -> "k=v k=v" per row. sstpctl writes flat objects of
# strings; the values here (ids, addresses, numbers) hold no quotes or spaces.
json_rows() {
    local text row re='"([^"\\]*)":"([^"\\]*)"' line
    text=$(cat)
    text=${text#[}
    text=${text%]}
    [ -n "$text" ] || return 0
    text=${text//\},\{/$'\n'}
    while IFS= read -r row; do
        line=
        while [[ $row =~ $re ]]; do
            line+="${BASH_REMATCH[1]}=${BASH_REMATCH[2]} "
            row=${row#*"${BASH_REMATCH[0]}"}
        done
        echo "${line% }"
    done <<< "$text"
}

# Field NAME of a json_rows line.
row_get() {
    local w
    for w in $1; do
        [ "${w%%=*}" = "$2" ] && { echo "${w#*=}"; return 0; }
    done
    return 1
}

# Client namespace cK on the frontend network, address host 100+K.
topo_client() {
    local k=$1 ns=c$1 addr prefix
    [ -n "${CLIENT_ADDR[$k]:-}" ] && return 0
    prefix=${TOPO_NET_SUBNET[$TOPO_FRONT]}
    addr=$(_topo_host "$prefix" $((100 + k)))
    ip -batch - <<EOF || return 1
netns add $ns
link add vc$k type veth peer name eth0 netns $ns
link set vc$k master br-$TOPO_FRONT up
EOF
    ip -n "$ns" -batch - <<EOF || return 1
link set lo up
addr add $addr/${prefix#*/} dev eth0
link set eth0 up
EOF
    CLIENT_ADDR[$k]=$addr
}

# The address and port a client uses for PROXY: its frontend address and
# the container port it publishes (compose's ports: target).
topo_proxy_target() {
    local p=$1 port addr
    addr=$(topo_addr "$p" "$TOPO_FRONT") || return 1
    port=${TOPO_PORTS[$p]%% *}
    port=${port##*:}
    [ -n "$port" ] || return 1
    if [ "$port" = 443 ]; then echo "$addr"; else echo "$addr:$port"; fi
}

topo_connect() {
    local tag=$1 k=$2 i=$3 p=$4 host
    topo_client "$k" || return 1
    host=$(topo_proxy_target "$p") || { echo "topo_connect: $p publishes no port on $TOPO_FRONT" >&2; return 1; }
    [ -f "$W/client.options" ] || sstp_client_options mschapv2 "$W/client.options" || return 1
    SESS_NS[$tag]=c$k
    SESS_USER[$tag]=$i
    SESS_PROXY[$tag]=$p
    unset "LANDED[$tag]"
    bg_start "sstpc-$tag" ip netns exec "c$k" sstpc --log-level 4 --log-stderr --cert-warn \
        --user "$(sstp_user "$i")" --password "$(sstp_pass "$i")" "$host" file "$W/client.options"
}

topo_where() {
    local b out
    for b in $(topo_services backend); do
        out=$(ip -n "$b" -o -4 addr show 2> /dev/null)
        [[ $out == *" inet $TOPO_PPP_SRV_IP peer $1/32 "* ]] && { echo "$b"; return 0; }
    done
    echo ""
}

_topo_client_up() {
    local tag=$1 out ip
    ip=$(sstp_ip "${SESS_USER[$tag]}")
    out=$(ip -n "${SESS_NS[$tag]}" -o -4 addr show 2> /dev/null)
    [[ $out == *" inet $ip peer $TOPO_PPP_SRV_IP/32 "* ]]
}

_topo_both_up() {
    local tag=$1 b
    _topo_client_up "$tag" || { bg_alive "sstpc-$tag" || return 2; return 1; }
    b=$(topo_where "$(sstp_ip "${SESS_USER[$tag]}")")
    [ -n "$b" ] || return 1
    LANDED[$tag]=$b
}

# sstpc 1.0.18's start-up race (see sstp.sh) can still hit a client on a
# busy UML CPU despite the delay: it exits right after "Connected to" with
# this message and nothing sent. Such a start is retried (twice at most,
# logged); any other exit is the session's failure.
TOPO_RACE_MSG="The event loop terminated unsuccessfully"
TOPO_RACE_RETRIES=0

_topo_race_hit() {
    local log=$W/sstpc-$1.log
    log_has "$log" "$TOPO_RACE_MSG" && ! log_has "$log" "Sending Connect-Request"
}

topo_session_up() {
    local tag=$1 secs=${2:-25} try
    _topo_up_or_dead() {
        _topo_both_up "$1"
        local r=$?
        [ $r -ne 1 ]
    }
    for try in 0 1 2; do
        WAIT_FOR_INTERVAL=$TOPO_POLL wait_for "$secs" _topo_up_or_dead "$tag" 2> /dev/null || {
            echo "session $tag (user${SESS_USER[$tag]} via ${SESS_PROXY[$tag]}) not up within ${secs}s" >&2
            return 1
        }
        [ -n "${LANDED[$tag]:-}" ] && return 0
        bg_wait "sstpc-$tag" 1 > /dev/null 2>&1
        [ $try -lt 2 ] && _topo_race_hit "$tag" || break
        TOPO_RACE_RETRIES=$((TOPO_RACE_RETRIES + 1))
        gs_log "session $tag: sstpc start-up race ($TOPO_RACE_MSG): retry"
        mv "$W/sstpc-$tag.log" "$W/sstpc-$tag.race$try.log"
        topo_connect "$tag" "${SESS_NS[$tag]#c}" "${SESS_USER[$tag]}" "${SESS_PROXY[$tag]}" || return 1
    done
    echo "session $tag: sstpc exited: $(tail -n 2 "$W/sstpc-$tag.log" | tr -d '\000')" >&2
    return 1
}

topo_ping() {
    local tag=$1
    ip netns exec "${SESS_NS[$tag]}" ping -c 2 -i 0.2 -W 2 -q "$TOPO_PPP_SRV_IP" > /dev/null 2>&1
}

topo_disconnect() {
    local tag=$1 ip
    ip=$(sstp_ip "${SESS_USER[$tag]}")
    bg_stop "sstpc-$tag" 10 > /dev/null 2>&1
    WAIT_FOR_INTERVAL=$TOPO_POLL wait_for 15 eval '[ -z "$(topo_where '"$ip"')" ]' 2> /dev/null || {
        echo "topo_disconnect: $tag's server end still up 15 s after sstpc ended" >&2
        return 1
    }
    unset "LANDED[$tag]"
}

result() {
    local name=$1 v=$2
    shift 2
    if [ "$v" = PASS ]; then
        echo "PASS $name${*:+ ($*)}" >> "$W/results"
    else
        echo "FAIL $name: $*" >> "$W/results"
    fi
    gs_log "verdict: $v $name: $*"
}
