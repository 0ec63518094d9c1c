#!/bin/bash
# uml-init.sh — PID 1 of a User-Mode Linux guest booted by tests/e2e/uml.sh.
#
# Stage "boot" (as init, on the host filesystem mounted READ-ONLY through
# hostfs): builds a copy-on-write root (overlayfs, lowerdir=/, tmpfs upper),
# mounts the work dir through it as its own read-write hostfs mount, then
# chroots into it and re-runs itself as stage "run". Stage "run" loads the
# kernel modules, neutralises Debian's /etc/ppp/options (in the overlay
# only), runs the guest script with its output in WORKDIR/guest.log, writes
# its exit status to WORKDIR/result and halts. Nothing but WORKDIR can reach
# the host's files: the root is read-only and every other write lands in
# tmpfs. Every exec costs 50-100 ms in UML, so this file leans on builtins.
#
# Input (kernel command line, handed to init as environment): sstplb_work,
# the absolute work dir; WORKDIR/.uml/argv holds the guest script and its
# arguments, NUL-separated.

export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export LC_ALL=C HOME=/root TERM=dumb

W=${sstplb_work:-}
NEW=/run/sstplb/root                  # the overlay root, seen from stage boot
SELF=${BASH_SOURCE[0]}
REPO=${SELF%/tests/e2e/lib/*}

die_halt() {
    echo "uml-init: FATAL: $*"
    [ -d "$W" ] && [ -w "$W" ] && echo "uml-init: FATAL: $*" >> "$W/guest.log"
    halt -f
    echo o > /proc/sysrq-trigger 2>/dev/null
    while :; do read -r -t 3600 < /dev/console; done
}

uptime_s() {                          # seconds since boot, from a builtin read
    local up _
    read -r up _ < /proc/uptime
    echo "$up"
}

stage_boot() {
    [ -n "$W" ] || die_halt "no sstplb_work= on the kernel command line"
    local rel=(/usr/lib/uml/modules/*)
    local mods=${rel[0]}
    [ -d "$mods/kernel" ] || die_halt "no UML modules under /usr/lib/uml/modules"

    # A fresh tmpfs over /run holds the overlay's upper layer and the
    # mount table; / stays read-only.
    mount -t tmpfs -o mode=0755 sstplb /run || die_halt "tmpfs on /run"
    mkdir -p /run/sstplb/upper /run/sstplb/work $NEW || die_halt "mkdir in tmpfs"
    insmod "$mods/kernel/fs/overlayfs/overlay.ko" || die_halt "insmod overlay"

    # One mount(8) exec for all mounts, in order. The work dir goes last so
    # a tmpfs (/tmp, /run, /var/log) cannot hide it; X-mount.mkdir creates
    # its mount point inside those tmpfs (or in the overlay) when needed.
    {
        echo "overlay $NEW overlay lowerdir=/,upperdir=/run/sstplb/upper,workdir=/run/sstplb/work 0 0"
        echo "proc $NEW/proc proc nosuid,nodev,noexec 0 0"
        echo "sysfs $NEW/sys sysfs nosuid,nodev,noexec 0 0"
        echo "devtmpfs $NEW/dev devtmpfs mode=0755 0 0"
        echo "devpts $NEW/dev/pts devpts gid=5,mode=620,ptmxmode=666,X-mount.mkdir 0 0"
        echo "tmpfs $NEW/dev/shm tmpfs mode=1777,X-mount.mkdir 0 0"
        echo "tmpfs $NEW/run tmpfs mode=0755 0 0"
        echo "tmpfs $NEW/var/log tmpfs mode=0755 0 0"
        echo "tmpfs $NEW/tmp tmpfs mode=1777 0 0"
        echo "/usr/lib/uml/modules $NEW/usr/lib/modules none bind,X-mount.mkdir 0 0"
        # a checkout under /tmp (CI's clean clones) would be hidden by the
        # tmpfs above: bring it back, read-only, at the same path
        case "$REPO" in
            /tmp/* | /run/* | /var/log/*) echo "$REPO $NEW$REPO none bind,ro,X-mount.mkdir 0 0" ;;
        esac
        echo "none $NEW$W hostfs $W,X-mount.mkdir 0 0"
    } > /run/sstplb/fstab
    mount -a -T /run/sstplb/fstab || die_halt "mounting the guest root (see console)"
    [ -w "$NEW$W" ] || die_halt "work dir $W is not writable in the guest"

    exec chroot $NEW /bin/bash "$SELF" run
}

stage_run() {
    local boot_s start_s end_s rc argv=()

    boot_s=$(uptime_s)
    cd / || die_halt "cd /"
    # Debian's options (auth, lock, modem, crtscts) break test peers; this
    # truncates the overlay's copy, never the host's file.
    : > /etc/ppp/options
    ln -s /proc/self/fd /dev/fd 2>/dev/null
    modprobe -a ppp_generic ppp_async ppp_synctty ppp_mppe sch_prio sch_netem cls_u32 veth ipv6 ||
        die_halt "modprobe failed"
    ip link set lo up || die_halt "lo up"

    mapfile -d '' argv < "$W/.uml/argv" || die_halt "cannot read $W/.uml/argv"
    [ ${#argv[@]} -ge 1 ] || die_halt "empty $W/.uml/argv"

    start_s=$(uptime_s)
    (
        cd "$W" || exit 125
        export SSTPLB_GUEST=1 SSTPLB_WORK="$W" TMPDIR=/tmp
        E2E_DIR=${SELF%/lib/*}
        export E2E_DIR SSTPLB_REPO=${E2E_DIR%/tests/e2e}
        exec /bin/bash "${argv[@]}"
    ) > "$W/guest.log" 2>&1 < /dev/null
    rc=$?
    end_s=$(uptime_s)

    # Seconds since the guest kernel started: uml.sh turns them into durations.
    echo "root_ready=$boot_s guest_start=$start_s guest_end=$end_s" > "$W/timing"
    echo "$rc" > "$W/result"
    halt -f
    die_halt "halt -f returned"
}

case "${1:-boot}" in
    boot) stage_boot ;;
    run)  stage_run ;;
    *)    die_halt "unknown stage $1" ;;
esac
