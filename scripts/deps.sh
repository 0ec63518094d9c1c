#!/bin/sh
# deps.sh — install what sstp-lb needs to build, run and test, on Debian 12.
# Idempotent: installs only the packages that are missing. Needs root for
# apt-get; without root it only reports what is missing.
#   scripts/deps.sh          build + run dependencies (make run)
#   scripts/deps.sh test     also what the test suites use (UML, sstpc, ...)
set -eu

BUILD="gcc make pkg-config libc6-dev libssl-dev libev-dev libhiredis-dev libinih-dev
ppp ppp-dev redis-server openssl ca-certificates iproute2"
# `make run` on a kernel without PPP runs the stack in User-Mode Linux with
# a real sstpc (scripts/run-uml.sh).
RUN="user-mode-linux kmod sstp-client iputils-ping procps python3"
TEST="libcmocka-dev clang libclang-rt-14-dev llvm python3 user-mode-linux kmod
sstp-client iputils-ping procps psmisc haproxy docker-compose faketime
redis-sentinel freeradius chromium fonts-dejavu-core curl"

want="$BUILD $RUN"
[ "${1:-}" = "test" ] && want="$BUILD $RUN $TEST"

missing=""
for p in $want; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
        missing="$missing $p"
done
[ -z "$missing" ] && exit 0

if [ "$(id -u)" != 0 ]; then
    echo "deps.sh: missing packages:$missing" >&2
    echo "deps.sh: run as root (or: sudo apt-get install --no-install-recommends$missing)" >&2
    exit 1
fi
echo "deps.sh: installing:$missing" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -q >&2
# shellcheck disable=SC2086
apt-get install -y -q --no-install-recommends $missing >&2
