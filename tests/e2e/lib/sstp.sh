# sstp.sh — guest helpers for the sstp-backend end-to-end scenarios
# (tests/e2e/backend_*.sh): the real Debian sstpc (with its own pppd) in
# network namespace "cli", sstp-backend (with one pppd per session) in "srv",
# joined by a veth pair, so a ping to the far tunnel address really crosses
# the tunnel. Source it from a guest script (it sources guest.sh):
#     . "$E2E_DIR/lib/sstp.sh"
#
# Files the scenario needs are written in the overlay (/etc/ppp/*-secrets,
# which pppd reads from that path only) or in the work dir; the host's
# /etc/ppp is never touched (uml.sh mounts the host read-only).
#
#   sstp_setup NUSERS              namespaces, veth, secrets for users 1..N,
#                                  Debian's ip-up/ip-down scripts out of the way
#   sstp_user NAME I / sstp_pass I / sstp_ip I
#                                  user I's name, password, tunnel address
#   sstp_server_options AUTH FILE  conf/pppd.options, for mschapv2 or pap
#   sstp_client_options AUTH FILE  conf/pppd-client.options, for mschapv2 or pap
#   sstp_backend_conf FILE [section.key=value...]
#                                  a backend config: direct TLS listener on
#                                  SRV_ADDR:443, log_level debug, our plugin
#   sstp_backend_start CONF        start it in "srv", wait for ev=ready
#   sstp_backend_stop              SIGTERM, wait for it to exit
#   sstp_client_start NAME I OPTS [HOST] [sstpc args...]
#                                  start sstpc for user I in "cli"
#   sstp_up I [SECS]               wait until both ppp ends of user I have
#                                  their addresses
#   sstp_count_up NS               ppp interfaces with an IPv4 address in NS
#   log_has FILE GLOB              FILE contains GLOB (bash pattern)
#   log_count FILE GLOB            lines of FILE matching *GLOB*
#   log_line FILE GLOB             first line matching *GLOB*
#   log_lineno FILE GLOB          number of the first line matching, 0 if none
#   log_ms LINE                    ms of the day of a backend log line
#   fd_count PID                   entries in /proc/PID/fd
#   children_of PID NAME           pids of PID's children whose comm is NAME
#   verdict_pass MSG / verdict_fail MSG
#                                  write the scenario's result and exit

. "$E2E_DIR/lib/guest.sh"

W=$SSTPLB_WORK
REPO=$SSTPLB_REPO
SRV_NS=srv
CLI_NS=cli
SRV_ADDR=192.0.2.1
CLI_ADDR=192.0.2.2
SSTP_PORT=443
PPP_SRV_IP=10.8.0.1             # the server's end of every tunnel (pppd.options)
CERTS=${SSTP_CERTS:-$W/certs}   # made on the host by run.sh (scripts/mkcerts.sh)
BACKEND_LOG=$W/backend.log
# The binary under test; the benchmark may put another build in the work dir.
BACKEND_BIN=${BACKEND_BIN:-$REPO/build/sstp-backend}

sstp_user() { echo "user$1"; }
sstp_pass() { echo "pw-$1-Secret!"; }
sstp_ip()   { echo "10.8.0.$((10 + $1))"; }

sstp_setup() {
    local n=$1 i
    ns_pair "$CLI_NS" "$CLI_ADDR/24" "$SRV_NS" "$SRV_ADDR/24" || return 1
    # Debian's ip-up/ip-down run the run-parts scripts of /etc/ppp/ip-up.d
    # for every session (many execs, slow in UML, not what we test).
    rm -f /etc/ppp/ip-up /etc/ppp/ip-down /etc/ppp/ipv6-up /etc/ppp/ipv6-down \
        /etc/ppp/auth-up /etc/ppp/auth-down
    # Secrets: client, server ("name sstp-lb" in pppd.options), secret,
    # the address IPCP gives that user. sstpc's pppd reads the same file
    # but is given --password, so its lookup finds the same secret.
    umask 077
    {
        for ((i = 1; i <= n; i++)); do
            printf '"%s" sstp-lb "%s" %s\n' "$(sstp_user $i)" "$(sstp_pass $i)" "$(sstp_ip $i)"
        done
    } > /etc/ppp/chap-secrets
    cp /etc/ppp/chap-secrets /etc/ppp/pap-secrets
    umask 022
}

# The shipped conf/pppd.options, with the authentication switched for PAP
# (require-pap, PAP not refused) when AUTH is pap.
sstp_server_options() {
    local auth=$1 out=$2 line
    {
        while IFS= read -r line; do
            if [ "$auth" = pap ]; then
                case $line in
                    require-mschap-v2) line=require-pap ;;
                    refuse-pap) continue ;;
                esac
            fi
            printf '%s\n' "$line"
        done < "$REPO/conf/pppd.options"
        if [ -e "$W/debug" ]; then echo debug; fi   # run.sh --debug: pppd logs every packet
    } > "$out"
}

# sstpc's pppd: the repo's conf/pppd-client.options (no authentication of
# the server, MS-CHAPv2 forced by refusing the others, no compression, no
# default route). For PAP the same file with PAP allowed and MS-CHAPv2
# refused instead.
sstp_client_options() {
    local auth=$1 out=$2 line
    case $auth in
        mschapv2|pap) ;;
        *) echo "sstp_client_options: unknown method $auth" >&2; return 1 ;;
    esac
    {
        while IFS= read -r line; do
            [ "$auth" = pap ] && [ "$line" = refuse-pap ] && line=refuse-mschap-v2
            printf '%s\n' "$line"
        done < "$REPO/conf/pppd-client.options"
        if [ -e "$W/debug" ]; then echo debug; fi
    } > "$out"
}

# Writes a backend config; each extra argument section.key=value sets
# (or overrides) one option.
sstp_backend_conf() {
    local out=$1 kv sec key
    shift
    declare -A v=(
        [backend.id]=e2e-backend
        [backend.log_level]=debug
        [listen.tls]="$SRV_ADDR:$SSTP_PORT"
        [tls.cert]="$CERTS/server.crt"
        [tls.key]="$CERTS/server.key"
        [pppd.options]="$W/pppd-server.options"
        [pppd.plugin]="$REPO/build/sstp-lb-pppd.so"
        [pppd.kill_grace]=2s
    )
    for kv in "$@"; do
        v[${kv%%=*}]=${kv#*=}
    done
    {
        for sec in backend listen tls sstp pppd limits; do
            echo "[$sec]"
            for key in "${!v[@]}"; do
                [ "${key%%.*}" = "$sec" ] && echo "${key#*.} = ${v[$key]}"
            done
        done
    } > "$out"
}

sstp_backend_start() {
    local conf=$1
    [ -f "$W/pppd-server.options" ] || sstp_server_options mschapv2 "$W/pppd-server.options"
    bg_start backend ip netns exec "$SRV_NS" "$BACKEND_BIN" -c "$conf"
    wait_for 10 log_has "$BACKEND_LOG" "ev=ready" || {
        echo "sstp_backend_start: no ev=ready" >&2
        return 1
    }
    BACKEND_PID=$(bg_pid backend)
    # `ip netns exec` execs the backend in place: the pid is the backend's
}

sstp_backend_stop() {
    bg_stop backend 15
}

sstp_client_start() {
    local name=$1 i=$2 opts=$3 host=${4:-$SRV_ADDR}
    shift 4 2> /dev/null || shift $#
    bg_start "$name" ip netns exec "$CLI_NS" sstpc --log-level 4 --log-stderr --cert-warn \
        --user "$(sstp_user $i)" --password "$(sstp_pass $i)" "$@" "$host" file "$opts"
}

# The tunnel of user I is up at both ends: the client's ppp has the user's
# address with the server's as peer, and a server-side ppp the reverse.
_sstp_both_ends() {
    local i=$1 ip c s
    ip=$(sstp_ip "$i")
    # "show up": pppd sets the address before it brings the link up, and
    # a ping in between finds the network unreachable
    c=$(ip -n "$CLI_NS" -o -4 addr show up 2> /dev/null)
    [[ $c == *" inet $ip peer $PPP_SRV_IP/32 "* ]] || return 1
    s=$(ip -n "$SRV_NS" -o -4 addr show up 2> /dev/null)
    [[ $s == *" inet $PPP_SRV_IP peer $ip/32 "* ]]
}

sstp_up() {
    wait_for "${2:-20}" _sstp_both_ends "$1"
}

sstp_count_up() {
    local out n=0 line
    out=$(ip -n "$1" -o -4 addr show 2> /dev/null)
    while IFS= read -r line; do
        [[ $line == *": ppp"*" inet "* ]] && n=$((n + 1))
    done <<< "$out"
    echo $n
}

# The whole of FILE in SSTP_TEXT, without an exec. sstpc's log holds NUL
# bytes (read -d '' would stop there): mapfile keeps every line.
_sstp_read() {
    local lines=() IFS=$'\n'
    SSTP_TEXT=
    [ -r "$1" ] && mapfile -t lines < "$1"
    SSTP_TEXT="${lines[*]}"
}

log_has() {
    _sstp_read "$1"
    [[ $SSTP_TEXT == *$2* ]]
}

log_count() {
    local line n=0
    while IFS= read -r line; do
        [[ $line == *$2* ]] && n=$((n + 1))
    done < "$1"
    echo $n
}

log_line() {
    local line
    while IFS= read -r line; do
        [[ $line == *$2* ]] && { printf '%s\n' "$line"; return 0; }
    done < "$1"
    return 1
}

# Number of the first line of FILE matching *GLOB*, 0 if none.
log_lineno() {
    local line n=0
    while IFS= read -r line; do
        n=$((n + 1))
        [[ $line == *$2* ]] && { echo $n; return 0; }
    done < "$1"
    echo 0
    return 1
}

# Milliseconds of the day of a backend log line (its ISO-8601 UTC stamp).
log_ms() {
    [[ $1 =~ ^[0-9-]+T([0-9]+):([0-9]+):([0-9]+)\.([0-9]+)Z ]] || { echo -1; return 1; }
    echo $(( ((10#${BASH_REMATCH[1]} * 60 + 10#${BASH_REMATCH[2]}) * 60 + 10#${BASH_REMATCH[3]}) * 1000 + 10#${BASH_REMATCH[4]} ))
}

fd_count() {
    local f=(/proc/"$1"/fd/*)
    [ -e "${f[0]}" ] && echo ${#f[@]} || echo 0
}

# Children of PID whose command name is NAME (from /proc/*/stat, no exec).
children_of() {
    local ppid=$1 name=$2 st line rest comm pid out=()
    for st in /proc/[0-9]*/stat; do
        read -r line < "$st" 2> /dev/null || continue
        pid=${line%% *}
        comm=${line#*(}
        comm=${comm%%) *}
        rest=${line##*) }
        set -- $rest
        [ "$2" = "$ppid" ] && [ "$comm" = "$name" ] && out+=("$pid")
    done
    echo "${out[*]}"
}

# Every process named NAME (the process table check).
procs_named() {
    local st line comm out=()
    for st in /proc/[0-9]*/stat; do
        read -r line < "$st" 2> /dev/null || continue
        comm=${line#*(}
        comm=${comm%%) *}
        [ "$comm" = "$1" ] && out+=("${line%% *}")
    done
    echo "${out[*]}"
}

# The result for the host: one line in $W/verdict, the exit status.
verdict_pass() {
    echo "PASS $*" > "$W/verdict"
    gs_log "verdict: PASS $*"
    exit 0
}

verdict_fail() {
    echo "FAIL $*" > "$W/verdict"
    gs_log "verdict: FAIL $*"
    exit 1
}
