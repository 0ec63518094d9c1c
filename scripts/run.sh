#!/bin/bash
# run.sh — the whole sstp-lb stack on this host, for `make run`:
# redis-server, one sstp-backend and one sstp-proxy on loopback with the
# example configurations, a throwaway CA and certificates, and a demo user.
# Prints how to connect with sstpc; Ctrl-C stops everything it started.
#
# Where this kernel has no PPP (no /dev/ppp: containers, CI runners, many
# cloud sandboxes) pppd cannot bring a session up, so run.sh says so and
# hands over to scripts/run-uml.sh: the same stack inside a User-Mode Linux
# guest, with a real sstpc connected to it (ping, throughput, sstpctl
# sessions, live stats until Ctrl-C).
#
# Everything lives in $SSTP_RUN_DIR (default ./run, never committed). The
# one file outside it is /etc/ppp/chap-secrets (pppd reads secrets from that
# path only): the demo user's line is added while the stack runs and removed
# when it stops.
#
#   SSTP_RUN_MODE (auto)       host, uml, or auto: host if the kernel has PPP
#                              or SSTP_RUN_FOREGROUND=0, else uml
#   SSTP_RUN_EXIT=1            uml: exit after the demo (used by the tests)
#   SSTP_RUN_PORT (default 8443)   where clients connect (also SSTP_RUN_BACKEND_PORT,
#                              SSTP_RUN_REDIS_PORT, SSTP_RUN_ADMIN_PORT)
#   SSTP_RUN_DIR (./run)       certificates, configs, logs
#   SSTP_RUN_FOREGROUND=0      host: start, print, and return (used by the tests)
#   SSTP_RUN_SECRETS=0         leave /etc/ppp/chap-secrets alone (tests)
set -u
cd "$(dirname "$0")/.."
repo=$PWD

# /dev/ppp is the kernel's PPP: there, or loadable (ppp_generic) by root.
kernel_has_ppp() {
    [ -c /dev/ppp ] && return 0
    modprobe -q ppp_generic 2> /dev/null && [ -c /dev/ppp ]
}
case ${SSTP_RUN_MODE:-auto} in
    host) ;;
    uml)  exec scripts/run-uml.sh ;;
    auto) if [ "${SSTP_RUN_FOREGROUND:-1}" = 1 ] && ! kernel_has_ppp; then
              echo "run.sh: this kernel has no PPP (no /dev/ppp): running the stack in a User-Mode Linux guest instead (SSTP_RUN_MODE=host forces this host)"
              exec scripts/run-uml.sh
          fi ;;
    *)    echo "run.sh: SSTP_RUN_MODE must be auto, host or uml, not '$SSTP_RUN_MODE'" >&2
          exit 2 ;;
esac
run=${SSTP_RUN_DIR:-$repo/run}
port=${SSTP_RUN_PORT:-8443}
be_port=${SSTP_RUN_BACKEND_PORT:-4433}
redis_port=${SSTP_RUN_REDIS_PORT:-6390}
admin_port=${SSTP_RUN_ADMIN_PORT:-9180}
foreground=${SSTP_RUN_FOREGROUND:-1}
user=sstp-demo
secrets=/etc/ppp/chap-secrets
mark="# sstp-lb make run demo user (removed when the stack stops)"

mkdir -p "$run" && chmod 700 "$run"
for b in sstp-backend sstp-proxy sstpctl sstp-lb-pppd.so; do
    [ -e "build/$b" ] || { echo "run.sh: build/$b is missing: run 'make' first" >&2; exit 1; }
done

scripts/mkcerts.sh "$run/certs" >/dev/null || exit 1
[ -f "$run/demo-password" ] || head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n' > "$run/demo-password"
pass=$(cat "$run/demo-password")
[ -f "$run/redis-password" ] || head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n' > "$run/redis-password"
rpass=$(cat "$run/redis-password")
redis_url="redis://:$rpass@127.0.0.1:$redis_port"

cp conf/pppd.options "$run/pppd.options"
cp conf/pppd-client.options "$run/pppd-client.options"

cat > "$run/sstp-backend.conf" <<EOF
; written by scripts/run.sh; see conf/sstp-backend.conf for every option
[backend]
id = backend-1
[listen]
proxy = 127.0.0.1:$be_port
proxy_allow = 127.0.0.1/32
[pppd]
options = $run/pppd.options
plugin = $repo/build/sstp-lb-pppd.so
[redis]
url = $redis_url
EOF

cat > "$run/sstp-proxy.conf" <<EOF
; written by scripts/run.sh; see conf/sstp-proxy.conf for every option
[proxy]
id = proxy-1
workers = 1
[listen]
bind = 0.0.0.0:$port
[tls]
cert = $run/certs/server.crt $run/certs/server.key default
[backends]
server = backend-1 127.0.0.1:$be_port
[admin]
address = 127.0.0.1:$admin_port
[redis]
url = $redis_url
; the backend registers on loopback, which the registry may only name when allowed
registry_allow = 127.0.0.0/8
EOF

pids=()
stop_all() {
    trap - INT TERM EXIT
    echo
    echo "stopping..."
    for ((i = ${#pids[@]} - 1; i >= 0; i--)); do
        kill -TERM "${pids[i]}" 2>/dev/null
    done
    for p in "${pids[@]}"; do
        for _ in $(seq 1 100); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$p" 2>/dev/null
    done
    if [ "${SSTP_RUN_SECRETS:-1}" != 0 ] && [ -w "$secrets" ]; then
        grep -v -F -e "$mark" -e "$user sstp-lb \"$pass\"" "$secrets" > "$secrets.tmp" &&
            cat "$secrets.tmp" > "$secrets"
        rm -f "$secrets.tmp"
    fi
    echo "stopped; logs are in $run/"
}

if [ "$foreground" = 1 ]; then
    trap 'stop_all; exit 0' INT TERM
    trap stop_all EXIT
fi

# the demo user, while the stack runs
if [ "${SSTP_RUN_SECRETS:-1}" = 0 ]; then
    :
elif [ -w "$(dirname "$secrets")" ] || [ -w "$secrets" ]; then
    touch "$secrets" && chmod 600 "$secrets"
    grep -q -F "$user sstp-lb \"$pass\"" "$secrets" ||
        printf '%s\n%s sstp-lb "%s" 10.8.0.10\n' "$mark" "$user" "$pass" >> "$secrets"
else
    echo "run.sh: cannot write $secrets (not root?): add this line yourself:" >&2
    echo "  $user sstp-lb \"$pass\" 10.8.0.10" >&2
fi

start() { # name logfile command...
    local name=$1 log=$2
    shift 2
    "$@" > "$log" 2>&1 &
    pids+=($!)
    echo "started $name (pid $!), log $log"
}
wait_log() { # file pattern seconds
    for _ in $(seq 1 $(($3 * 10))); do
        grep -q "$2" "$1" 2>/dev/null && return 0
        sleep 0.1
    done
    echo "run.sh: no '$2' in $1:" >&2
    tail -20 "$1" >&2
    return 1
}

start redis-server "$run/redis.log" redis-server --port "$redis_port" --bind 127.0.0.1 \
    --requirepass "$rpass" --save "" --appendonly no --dir "$run"
for _ in $(seq 1 50); do
    redis-cli -p "$redis_port" -a "$rpass" --no-auth-warning ping 2>/dev/null | grep -q PONG && break
    sleep 0.1
done
start sstp-backend "$run/sstp-backend.log" build/sstp-backend -c "$run/sstp-backend.conf"
wait_log "$run/sstp-backend.log" "ev=ready" 5 || exit 1
grep -h "no_kernel_ppp" "$run/sstp-backend.log" | sed 's/^/  /'
start sstp-proxy "$run/sstp-proxy.log" build/sstp-proxy -c "$run/sstp-proxy.conf"
wait_log "$run/sstp-proxy.log" "ev=worker_ready" 5 || exit 1

cat <<EOF

sstp-lb is running: clients connect to 127.0.0.1:$port (and this host's other
addresses), sstp-proxy -> sstp-backend 127.0.0.1:$be_port -> pppd, Redis on
127.0.0.1:$redis_port.

Connect with sstpc (Debian package sstp-client), as root:

  sstpc --log-stderr --log-level 3 --ca-cert $run/certs/ca.crt --user $user --password $pass 127.0.0.1:$port file $run/pppd-client.options

The tunnel gives this host 10.8.0.10 on ppp0 (the server's end is 10.8.0.1).

Look at the fleet:   SSTP_REDIS_URL='$redis_url' build/sstpctl sessions
Health and metrics:  curl -s http://127.0.0.1:$admin_port/metrics
Logs:                $run/*.log
EOF
if [ "$foreground" = 1 ]; then
    echo "Stop everything:     Ctrl-C"
    wait -n "${pids[@]}"
    echo "run.sh: a process of the stack exited; stopping the rest" >&2
    exit 1
fi
echo "pids: ${pids[*]}"
