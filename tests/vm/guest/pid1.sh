#!/bin/bash
# PID 1 of the guest once the overlay root is in place. It mounts the usual
# virtual file systems, runs the test under TEST_TIMEOUT, stores its exit
# status and the kernel log in the run folder, and powers the guest off.
set -u
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export HOME=/root LANG=C.UTF-8
RUN=/vmrun

# If PID 1 exits instead, the kernel panics, reboots after panic=-1, and
# QEMU ends because of -no-reboot. Both paths end the guest.
power_off() {
    sync
    /bin/busybox poweroff -f
    sleep 30
}
trap power_off EXIT

mount -t proc proc /proc
mount -t sysfs sysfs /sys
mkdir -p /dev/pts /dev/shm
mount -t devpts -o gid=5,mode=620,ptmxmode=666 devpts /dev/pts
mount -t tmpfs -o mode=1777 shm /dev/shm
mount -t tmpfs -o mode=755 run /run
mount -t tmpfs -o mode=1777 tmp /tmp
# devtmpfs lacks these links, and bash process substitution needs /dev/fd.
ln -sf /proc/self/fd /dev/fd
ln -sf /proc/self/fd/0 /dev/stdin
ln -sf /proc/self/fd/1 /dev/stdout
ln -sf /proc/self/fd/2 /dev/stderr
/bin/busybox ip link set lo up

set -a
# shellcheck source=/dev/null
. "$RUN/guest.env"
set +a

echo "pid1: kernel $(uname -r) up after $(cut -d' ' -f1 /proc/uptime)s; test limit ${TEST_TIMEOUT}s"
cd /
timeout -k 10 "$TEST_TIMEOUT" "$RUN/guest/nfs-krb5-test.sh" 2>&1 | tee "$RUN/logs/test.out"
status=${PIPESTATUS[0]}
if [ "$status" = 124 ] || [ "$status" = 137 ]; then
    echo "pid1: the test timed out after ${TEST_TIMEOUT}s" | tee -a "$RUN/logs/test.out"
fi
echo "pid1: test exit status $status after $(cut -d' ' -f1 /proc/uptime)s"

dmesg > "$RUN/logs/dmesg.txt" 2>&1
# The host reads exit-status as the sign that the guest finished, so it is
# written last.
echo "$status" > "$RUN/exit-status"
