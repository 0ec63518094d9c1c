#!/bin/bash
# plugin_test.guest.sh — guest side of tests/e2e/plugin_test.sh, run by
# uml.sh: makes the "srv" and "cli" namespaces, puts the test's PPP secrets
# (written in the work dir) over /etc/ppp/*-secrets in the guest's overlay
# only, and runs plugin_test.py for one scenario.
#   plugin_test.guest.sh SCENARIO PLUGIN_SO
set -u
. "$E2E_DIR/lib/guest.sh"
scenario=$1
plugin=$2
W=$SSTPLB_WORK

gs_log "plugin_test $scenario: guest up"
ns_add srv cli || exit 1

# pppd 2.4.9 reads secrets only from /etc/ppp: bind the work dir's files
# over them (inside the guest; the host's /etc/ppp stays untouched).
umask 077
printf '"alice" * "Pa55-w0rd!x" *\n' > "$W/chap-secrets"
printf '"bob" * "pap-secret-9" *\n' > "$W/pap-secrets"
case $scenario in
    pap) mount --bind "$W/pap-secrets" /etc/ppp/pap-secrets ;;
    *)   mount --bind "$W/chap-secrets" /etc/ppp/chap-secrets ;;
esac || exit 1

exec /usr/bin/python3 -I -S "$E2E_DIR/plugin_test.py" "$scenario" "$W" "$plugin"
