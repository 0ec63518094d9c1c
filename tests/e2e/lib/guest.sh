# guest.sh — shell helpers for guest scripts run by tests/e2e/uml.sh.
# Source it from bash inside the guest:  . "$E2E_DIR/lib/guest.sh"
#
# Every exec costs 50-100 ms in UML, so these use builtins where they can
# and batch ip/tc commands (one exec per namespace). All waits are bounded.
# Functions return non-zero on failure and say why on stderr; they never
# exit the caller.
#
#   gs_now_ms                      milliseconds since boot
#   gs_sleep SECONDS               sleep without an exec (fractions ok)
#   gs_log MSG...                  "[  12.345] MSG" on stdout
#   wait_for SECONDS CMD [ARGS]    run CMD until it succeeds or time is up
#   ns_add NS...                   namespaces with lo up
#   ns_pair NS1 ADDR1 NS2 ADDR2 [DEV1 DEV2]
#                                  two namespaces joined by a veth pair with
#                                  the given CIDR addresses, links up
#   ns_ppp_addr NS LOCAL PEER [DEV] true once DEV (ppp0) in NS has LOCAL
#                                  with peer PEER
#   race_delay_on DEV PORT [NS] [DELAY]
#                                  sstpc 1.0.18 race work-around: delay the
#                                  IPv4 and IPv6 packets from source PORT on
#                                  DEV (default 10ms) and nothing else
#   race_delay_off DEV [NS]        remove it
#   bg_start NAME CMD [ARGS]       start CMD in the background, output in
#                                  $SSTPLB_WORK/NAME.log
#   bg_pid NAME / bg_alive NAME    its pid / whether it still runs
#   bg_stop NAME [SECONDS]         TERM, then KILL after SECONDS (default 3);
#                                  returns the process's exit status
#   pid_stop PID [SECONDS]         the same for any pid; 1 if it took KILL
#   bg_wait NAME SECONDS           wait for it to exit by itself; its status,
#                                  or 124 if it is still running

: "${SSTPLB_WORK:?guest.sh: not inside a uml.sh guest}"

declare -gA GS_BG_PID=()
WAIT_FOR_INTERVAL=${WAIT_FOR_INTERVAL:-0.05}

# A pty master whose slave nobody opens never has data: read -t on it is a
# sleep without forking /bin/sleep.
exec {GS_SLEEP_FD}<> /dev/ptmx

gs_sleep() {
    read -r -t "$1" -u "$GS_SLEEP_FD" _ || :
}

gs_now_ms() {
    local up _
    read -r up _ < /proc/uptime
    echo $(( ${up%.*} * 1000 + 10#${up#*.} * 10 ))
}

gs_log() {
    local up _
    read -r up _ < /proc/uptime
    printf '[%8s] %s\n' "$up" "$*"
}

# Seconds ("2", "0.5", "1.25") to milliseconds.
gs_ms() {
    local s=$1 int frac
    int=${s%%.*}
    frac=
    [[ $s == *.* ]] && frac=${s#*.}
    frac=${frac}000
    echo $(( 10#${int:-0} * 1000 + 10#${frac:0:3} ))
}

wait_for() {
    local secs=$1 deadline
    shift
    deadline=$(( $(gs_now_ms) + $(gs_ms "$secs") ))
    until "$@"; do
        if (( $(gs_now_ms) >= deadline )); then
            echo "wait_for: gave up after ${secs}s: $*" >&2
            return 1
        fi
        gs_sleep "$WAIT_FOR_INTERVAL"
    done
}

ns_add() {
    local ns
    for ns in "$@"; do
        printf 'netns add %s\n' "$ns"
    done | ip -batch - || return 1
    for ns in "$@"; do
        ip -n "$ns" link set lo up || return 1
    done
}

ns_pair() {
    local ns1=$1 a1=$2 ns2=$3 a2=$4 d1=${5:-veth0} d2=${6:-veth0}
    # veth ends are created directly in their namespaces, so both may
    # carry the same name.
    ip -batch - <<EOF || return 1
netns add $ns1
netns add $ns2
link add tmp-$$-a netns $ns1 type veth peer name tmp-$$-b netns $ns2
EOF
    ip -n "$ns1" -batch - <<EOF || return 1
link set tmp-$$-a name $d1
link set lo up
addr add $a1 dev $d1
link set $d1 up
EOF
    ip -n "$ns2" -batch - <<EOF || return 1
link set tmp-$$-b name $d2
link set lo up
addr add $a2 dev $d2
link set $d2 up
EOF
}

ns_ppp_addr() {
    local ns=$1 local_ip=$2 peer=$3 dev=${4:-ppp0} out
    out=$(ip -n "$ns" -o -4 addr show dev "$dev" 2> /dev/null) || return 1
    [[ $out == *" inet $local_ip peer $peer/"* ]]
}

race_delay_on() {
    local dev=$1 port=$2 ns=${3:-} delay=${4:-10ms}
    # prio's priomap never picks band 3 by itself: only the filter's
    # packets meet the netem child there.
    tc ${ns:+-n "$ns"} -batch - <<EOF
qdisc add dev $dev root handle 1: prio
qdisc add dev $dev parent 1:3 handle 30: netem delay $delay
filter add dev $dev parent 1:0 protocol ip prio 1 u32 match ip sport $port 0xffff flowid 1:3
filter add dev $dev parent 1:0 protocol ipv6 prio 2 u32 match ip6 sport $port 0xffff flowid 1:3
EOF
}

race_delay_off() {
    local dev=$1 ns=${2:-}
    tc ${ns:+-n "$ns"} qdisc del dev "$dev" root
}

bg_start() {
    local name=$1
    shift
    "$@" > "$SSTPLB_WORK/$name.log" 2>&1 < /dev/null &
    GS_BG_PID[$name]=$!
}

bg_pid() {
    echo "${GS_BG_PID[$1]:-}"
}

bg_alive() {
    local pid=${GS_BG_PID[$1]:-}
    [ -n "$pid" ] && kill -0 "$pid" 2> /dev/null
}

bg_wait() {
    local name=$1 secs=$2 pid=${GS_BG_PID[$1]:-}
    [ -n "$pid" ] || { echo "bg_wait: no process $name" >&2; return 127; }
    # kill -0 succeeds on a zombie too: poll /proc, then reap with wait.
    wait_for "$secs" _gs_exited "$pid" 2> /dev/null || return 124
    wait "$pid"
}

# True once pid $1 is gone or a zombie (the command name in stat may hold
# spaces: the state is the first field after its closing parenthesis).
_gs_exited() {
    local line rest
    read -r line < "/proc/$1/stat" 2> /dev/null || return 0
    rest=${line##*) }
    [ "${rest%% *}" = Z ]
}

# pid_stop PID [SECONDS]: TERM, then KILL after SECONDS (default 3), for
# any process (also one this shell did not start); 1 if it had to KILL.
pid_stop() {
    local pid=$1 secs=${2:-3}
    kill -TERM "$pid" 2> /dev/null || return 0
    wait_for "$secs" _gs_exited "$pid" 2> /dev/null && return 0
    echo "pid_stop: pid $pid ignored TERM for ${secs}s: KILL" >&2
    kill -KILL "$pid" 2> /dev/null
    wait_for 2 _gs_exited "$pid" 2> /dev/null
    return 1
}

bg_stop() {
    local name=$1 secs=${2:-3} pid=${GS_BG_PID[$1]:-} rc
    [ -n "$pid" ] || { echo "bg_stop: no process $name" >&2; return 127; }
    pid_stop "$pid" "$secs"
    wait "$pid"
    rc=$?
    unset "GS_BG_PID[$name]"
    return $rc
}
