#!/bin/bash
# fleet_scale.sh — the fleet writer at scale: backend/fleet.c with N live
# sessions (default 2,000; e.g. `tests/bench/fleet_scale.sh 10000`) against
# a real redis-server on loopback, for three stats intervals of 2 s, then an
# empty Redis restart. Per interval it prints the commands sent, Redis CPU
# (INFO cpu), wall time, refused commands, and checks that every session
# hash is present and fresh and that the fleet byte counters equal the sum
# of the sessions' bytes (it fails otherwise). The same case runs in `make
# test` with 2,000 sessions under ASan (tests/unit/test_backend_fleet.c);
# this script uses the optimised build.
set -eu
cd "$(dirname "$0")/../.."
n=${1:-2000}
make -s -j2 build/tests/test_backend_fleet
FLEET_SCALE_SESSIONS=$n timeout -k 5 600 build/tests/test_backend_fleet 2>&1 |
    grep -E '^fleet_|\[  (PASSED|FAILED|ERROR) |\[   LINE' 
