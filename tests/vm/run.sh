#!/bin/bash
# Real-kernel test of the NFS Kerberos daemons. It boots a Debian 6.12 kernel
# under QEMU. Inside that one guest it runs an MIT KDC, the kernel NFS server
# fed by a svcgssd and the kernel NFS client fed by a gssd, all over the
# guest's loopback. Run it as root on Debian 12 (x86_64):
#
#   sudo tests/vm/run.sh                          # nfs-utils daemons
#   sudo GSSD=rgssd SVCGSSD=rgssd tests/vm/run.sh # rgssd on both sides
#
# The exit status is the guest's verdict: 0 = all checks passed, 1 = a check
# failed, 2 = the harness could not set up, 3 = the guest returned no verdict
# (crash or timeout). docs/vm.md lists every variable and the known limits.

# cleanup, called from a trap, looks unreachable to shellcheck.
# shellcheck disable=SC2317
set -euo pipefail

HARNESS_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_DIR=$(cd "$HARNESS_DIR/../.." && pwd)

# Daemons and clients under test.
GSSD=${GSSD:-nfs-utils}
SVCGSSD=${SVCGSSD:-nfs-utils}
KINIT=${KINIT:-mit}
RGSSD_BIN=${RGSSD_BIN:-}
GSSD_ARGS=${GSSD_ARGS:-}
SVCGSSD_ARGS=${SVCGSSD_ARGS:-}
# The kernel interface of rgssd svcgssd: legacy (the procfs channel) or
# proxy (the gss-proxy socket).
SVCGSSD_MODE=${SVCGSSD_MODE:-legacy}

# What the guest tests.
ENCTYPES=${ENCTYPES:-aes-sha1}
SECS=${SECS:-krb5p krb5i krb5}
NFS_VERS=${NFS_VERS:-4.2 3}
# nfs-utils' rpc.svcgssd accepts one context at a time, and nfsd gives up
# on an INIT after at most 5 s, so 20 users at once fail with it on a loaded
# host (see docs/vm.md).
if [ "$SVCGSSD" = rgssd ]; then
    CONCURRENT_USERS=${CONCURRENT_USERS:-20}
else
    CONCURRENT_USERS=${CONCURRENT_USERS:-5}
fi
PARALLEL_VERSIONS=${PARALLEL_VERSIONS:-1}
STRACE=${STRACE:-0}
RPCDEBUG=${RPCDEBUG:-}
DAEMON_VERBOSE=${DAEMON_VERBOSE:-}

# The benchmark replaces the checks when BENCH_USERS is set.
BENCH_USERS=${BENCH_USERS:-}
BENCH_PAIRS=${BENCH_PAIRS:-rgssd nfs-utils}
BENCH_RETRY_SECONDS=${BENCH_RETRY_SECONDS:-120}
if [ -n "$BENCH_USERS" ]; then
    DAEMON_VERBOSE=${DAEMON_VERBOSE:-0}
    VM_TIMEOUT=${VM_TIMEOUT:-2400}
    # Under TCG on a loaded host, 200 first accesses at once take minutes.
    STEP_TIMEOUT=${STEP_TIMEOUT:-300}
fi
DAEMON_VERBOSE=${DAEMON_VERBOSE:-1}

# The virtual machine and its time limits, in seconds.
ACCEL=${ACCEL:-tcg}
QEMU_CPU=${QEMU_CPU:-}
VM_MEM=${VM_MEM:-2048}
VM_CPUS=${VM_CPUS:-2}
VM_TIMEOUT=${VM_TIMEOUT:-480}
TEST_TIMEOUT=${TEST_TIMEOUT:-$((VM_TIMEOUT - 30))}
STEP_TIMEOUT=${STEP_TIMEOUT:-60}

# Host side: caches, run folders, package installation.
WORKDIR=${WORKDIR:-/var/tmp/rgssd-vm}
RUN_DIR=${RUN_DIR:-}
KERNEL=${KERNEL:-}
KERNEL_PKG=${KERNEL_PKG:-}
SKIP_INSTALL=${SKIP_INSTALL:-0}
APT_ALLOW_REMOVE=${APT_ALLOW_REMOVE:-0}
REBUILD=${REBUILD:-0}
QUIET=${QUIET:-0}

PACKAGES=(qemu-system-x86 busybox-static cpio kmod xz-utils
    krb5-kdc krb5-admin-server krb5-user
    nfs-kernel-server nfs-common rpcbind keyutils)

# Modules the initramfs needs to reach the host root over virtio-9p.
INITRAMFS_MODULES=(virtio_pci 9pnet_virtio 9p overlay)
# The NFS and RPCSEC_GSS stack that the guest test loads with modprobe.
NFS_MODULES=(sunrpc auth_rpcgss rpcsec_gss_krb5 nfsd nfs nfsv4 nfsv3)

POLICY_RC=/usr/sbin/policy-rc.d
POLICY_RC_SAVED=/usr/sbin/policy-rc.d.rgssd-vm-saved
POLICY_RC_OURS=0
QEMU_PID=
TAIL_PID=

log() { printf '[vm %(%H:%M:%S)T] %s\n' -1 "$*" >&2; }
die() {
    log "error: $*"
    exit 2
}

# Seconds since the Unix epoch with microsecond precision, for timings.
now() { printf '%s' "${EPOCHREALTIME}"; }
seconds_since() { awk -v start="$1" -v end="${EPOCHREALTIME}" 'BEGIN { printf "%.1f", end - start }'; }

check_config() {
    [ "$(id -u)" = 0 ] || die "run.sh must run as root (it installs packages and starts QEMU)"
    case $GSSD in nfs-utils | rgssd) ;; *) die "GSSD=$GSSD is invalid: use nfs-utils or rgssd" ;; esac
    case $SVCGSSD in nfs-utils | rgssd) ;; *) die "SVCGSSD=$SVCGSSD is invalid: use nfs-utils or rgssd" ;; esac
    case $KINIT in mit | rgssd) ;; *) die "KINIT=$KINIT is invalid: use mit or rgssd" ;; esac
    case $SVCGSSD_MODE in legacy | proxy) ;; *) die "SVCGSSD_MODE=$SVCGSSD_MODE is invalid: use legacy or proxy" ;; esac
    [ "$SVCGSSD_MODE" = legacy ] || [ "$SVCGSSD" = rgssd ] ||
        die "SVCGSSD_MODE=proxy needs SVCGSSD=rgssd: nfs-utils' rpc.svcgssd serves only the procfs channel"
    case $ENCTYPES in aes-sha1 | aes-sha2) ;; *) die "ENCTYPES=$ENCTYPES is invalid: use aes-sha1 or aes-sha2" ;; esac
    case $ACCEL in tcg | kvm) ;; *) die "ACCEL=$ACCEL is invalid: use tcg or kvm" ;; esac
    case $PARALLEL_VERSIONS in 0 | 1) ;; *) die "PARALLEL_VERSIONS=$PARALLEL_VERSIONS is invalid: use 0 or 1" ;; esac
    case $DAEMON_VERBOSE in 0 | 1) ;; *) die "DAEMON_VERBOSE=$DAEMON_VERBOSE is invalid: use 0 or 1" ;; esac

    local name
    for name in VM_MEM VM_CPUS VM_TIMEOUT TEST_TIMEOUT STEP_TIMEOUT CONCURRENT_USERS; do
        [[ ${!name} =~ ^[0-9]+$ ]] || die "$name=${!name} is invalid: use a whole number"
    done
    [ "$CONCURRENT_USERS" -le 99 ] || die "CONCURRENT_USERS=$CONCURRENT_USERS is invalid: use 0 to 99"
    check_bench_config
    [ "$TEST_TIMEOUT" -lt "$VM_TIMEOUT" ] || die "TEST_TIMEOUT ($TEST_TIMEOUT) must be below VM_TIMEOUT ($VM_TIMEOUT)"

    if [ -n "$KERNEL" ]; then
        [[ $KERNEL =~ ^[0-9]+\.[0-9]+[0-9A-Za-z.+~-]*$ ]] ||
            die "KERNEL=$KERNEL is invalid: use a Debian kernel version such as 6.1.0-54 or 6.12.118+deb12"
        [ -z "$KERNEL_PKG" ] || die "KERNEL and KERNEL_PKG are both set: set only one"
        KERNEL_PKG=linux-image-$KERNEL-amd64
    fi

    # The module path travels on the kernel command line, which splits on spaces.
    [[ $WORKDIR != *[[:space:]]* ]] || die "WORKDIR='$WORKDIR' is invalid: it must not contain spaces"
}

check_bench_config() {
    [ -n "$BENCH_USERS" ] || return 0
    local count total=0 pair
    for count in $BENCH_USERS; do
        [[ $count =~ ^[1-9][0-9]*$ ]] || die "BENCH_USERS='$BENCH_USERS' is invalid: use user counts such as '1 50 200'"
        total=$((total + count))
    done
    [ "$total" -le 999 ] || die "BENCH_USERS='$BENCH_USERS' adds up to $total users: use at most 999 in all"
    [ -n "$BENCH_PAIRS" ] || die "BENCH_PAIRS is empty: use 'rgssd nfs-utils' or one of them"
    for pair in $BENCH_PAIRS; do
        case $pair in nfs-utils | rgssd) ;; *) die "BENCH_PAIRS='$BENCH_PAIRS' is invalid: list rgssd and nfs-utils" ;; esac
    done
    [[ $BENCH_RETRY_SECONDS =~ ^[0-9]+$ ]] || die "BENCH_RETRY_SECONDS=$BENCH_RETRY_SECONDS is invalid: use a whole number"
}

# Finds the rgssd binary when any role uses it: RGSSD_BIN, else the newest
# cargo build output of this repository.
resolve_rgssd_bin() {
    local bench_uses_rgssd=0
    [ -n "$BENCH_USERS" ] && [[ " $BENCH_PAIRS " == *" rgssd "* ]] && bench_uses_rgssd=1
    if [ "$GSSD" != rgssd ] && [ "$SVCGSSD" != rgssd ] && [ "$KINIT" != rgssd ] && [ "$bench_uses_rgssd" = 0 ]; then
        RGSSD_BIN=
        return
    fi
    if [ -z "$RGSSD_BIN" ]; then
        local candidate
        for candidate in "$REPO_DIR/target/release/rgssd" "$REPO_DIR/target/debug/rgssd"; do
            if [ -x "$candidate" ] && { [ -z "$RGSSD_BIN" ] || [ "$candidate" -nt "$RGSSD_BIN" ]; }; then
                RGSSD_BIN=$candidate
            fi
        done
    fi
    [ -n "$RGSSD_BIN" ] || die "rgssd binary not found: build it (cargo build --release) or set RGSSD_BIN"
    [ -x "$RGSSD_BIN" ] || die "RGSSD_BIN=$RGSSD_BIN is not an executable file"
    RGSSD_BIN=$(realpath "$RGSSD_BIN")
    log "rgssd binary: $RGSSD_BIN (modified $(date -u -r "$RGSSD_BIN" '+%Y-%m-%d %H:%M:%S UTC'))"
}

# apt must not start krb5kdc, nfs-server or rpcbind on the host, so a
# policy-rc.d that denies every start is in place while it runs. An existing
# policy-rc.d is moved aside and put back afterwards.
block_service_starts() {
    if [ -e "$POLICY_RC" ] && [ ! -e "$POLICY_RC_SAVED" ]; then
        mv "$POLICY_RC" "$POLICY_RC_SAVED"
    fi
    printf '#!/bin/sh\n# Temporary: tests/vm/run.sh of rgssd denies service starts during apt-get.\nexit 101\n' > "$POLICY_RC"
    chmod 755 "$POLICY_RC"
    POLICY_RC_OURS=1
}

restore_service_starts() {
    [ "$POLICY_RC_OURS" = 1 ] || return 0
    rm -f "$POLICY_RC"
    if [ -e "$POLICY_RC_SAVED" ]; then
        mv "$POLICY_RC_SAVED" "$POLICY_RC"
    fi
    POLICY_RC_OURS=0
}

install_packages() {
    local wanted=("${PACKAGES[@]}") missing=() pkg
    [ "$STRACE" = 1 ] && wanted+=(strace)
    for pkg in "${wanted[@]}"; do
        dpkg-query -W -f='${Status}\n' "$pkg" 2>/dev/null | grep -qx 'install ok installed' || missing+=("$pkg")
    done
    if [ ${#missing[@]} -eq 0 ]; then
        return
    fi

    log "installing ${missing[*]}"
    block_service_starts
    export DEBIAN_FRONTEND=noninteractive
    # apt may resolve a conflict by removing an installed package (qemu-utils
    # from bookworm-backports conflicts with qemu-system-x86 7.2, for one), so
    # removals need APT_ALLOW_REMOVE=1.
    # A lock held by another apt run is waited for, up to 5 minutes.
    local options=(-y --no-install-recommends -o DPkg::Lock::Timeout=300)
    [ "$APT_ALLOW_REMOVE" = 1 ] || options+=(--no-remove)
    # A stale package index is the usual cause of a failed install, so the
    # index is refreshed once before giving up.
    if ! apt-get install "${options[@]}" "${missing[@]}"; then
        apt-get update
        apt-get install "${options[@]}" "${missing[@]}" ||
            die "apt-get install ${missing[*]} failed; if it would remove packages, set APT_ALLOW_REMOVE=1 or install by hand"
    fi
    restore_service_starts
}

# Picks the newest linux-image-6.12.*+deb12-amd64 unless KERNEL_PKG names one.
# Debian 12's default 6.1 kernels 6.1.0-55 to 6.1.0-57 (6.1.192) fail krb5p in
# nfsd, which is why the default is the 6.12 backport.
select_kernel_package() {
    [ -n "$KERNEL_PKG" ] && return
    local pattern='^linux-image-6\.12\.[0-9]+\+deb12-amd64$'
    KERNEL_PKG=$(apt-cache search --names-only "$pattern" | awk '{ print $1 }' | sort -V | tail -n 1)
    if [ -z "$KERNEL_PKG" ] && [ "$SKIP_INSTALL" != 1 ]; then
        apt-get update
        KERNEL_PKG=$(apt-cache search --names-only "$pattern" | awk '{ print $1 }' | sort -V | tail -n 1)
    fi
    [ -n "$KERNEL_PKG" ] || die "no linux-image-6.12.*+deb12-amd64 package found: run apt-get update or set KERNEL_PKG"
}

# Unpacks the kernel package into the cache without installing it on the
# host, and indexes its modules for modprobe in the guest.
prepare_kernel() {
    KERNEL_VERSION=${KERNEL_PKG#linux-image-}
    KERNEL_ROOT=$WORKDIR/kernels/$KERNEL_VERSION
    if [ "$REBUILD" = 1 ]; then
        rm -rf "$KERNEL_ROOT"
    fi
    if [ ! -e "$KERNEL_ROOT/.complete" ]; then
        log "downloading and unpacking $KERNEL_PKG"
        rm -rf "$KERNEL_ROOT"
        local download_dir
        download_dir=$(mktemp -d "$WORKDIR/download.XXXXXX")
        if ! (cd "$download_dir" && apt-get download -o APT::Sandbox::User=root "$KERNEL_PKG"); then
            rm -rf "$download_dir"
            die "apt-get download $KERNEL_PKG failed: list the versions on offer with apt-cache policy 'linux-image-6.*'"
        fi
        local debs=("$download_dir"/*.deb)
        [ -f "${debs[0]}" ] || die "apt-get download $KERNEL_PKG saved no .deb file"
        mkdir -p "$KERNEL_ROOT"
        dpkg-deb -x "${debs[0]}" "$KERNEL_ROOT"
        rm -rf "$download_dir"

        # depmod -b expects lib/modules, and newer packages ship usr/lib/modules.
        if [ ! -d "$KERNEL_ROOT/lib/modules/$KERNEL_VERSION" ] && [ -d "$KERNEL_ROOT/usr/lib/modules/$KERNEL_VERSION" ]; then
            ln -s usr/lib "$KERNEL_ROOT/lib"
        fi
        depmod -b "$KERNEL_ROOT" "$KERNEL_VERSION"
        decompress_nfs_modules
        touch "$KERNEL_ROOT/.complete"
    fi
    KERNEL_IMAGE=$KERNEL_ROOT/boot/vmlinuz-$KERNEL_VERSION
    MODULES_DIR=$KERNEL_ROOT/lib/modules/$KERNEL_VERSION
    [ -f "$KERNEL_IMAGE" ] || die "kernel image missing: $KERNEL_IMAGE (set REBUILD=1)"
    [ -d "$MODULES_DIR" ] || die "modules missing: $MODULES_DIR (set REBUILD=1)"
}

# Stores the NFS stack's modules and their dependencies uncompressed, so that
# modprobe in the guest does not decompress them under emulation.
decompress_nfs_modules() {
    local module
    for module in $(modprobe -d "$KERNEL_ROOT" -S "$KERNEL_VERSION" -a --show-depends "${NFS_MODULES[@]}" |
        awk '$1 == "insmod" && !seen[$2]++ { print $2 }'); do
        case $module in
            *.ko.xz) xz -d "$module" ;;
            *.ko.zst) zstd -q -d --rm "$module" ;;
            *.ko.gz) gzip -d "$module" ;;
        esac
    done
    depmod -b "$KERNEL_ROOT" "$KERNEL_VERSION"
}

# Writes one module of the initramfs uncompressed, because busybox insmod
# cannot read .ko.xz or .ko.zst files.
copy_module_uncompressed() {
    local source=$1 dest_dir=$2 name
    name=$(basename "$source")
    case $name in
        *.ko.xz) xz -dc "$source" > "$dest_dir/${name%.xz}" ;;
        *.ko.zst) zstd -qdc "$source" > "$dest_dir/${name%.zst}" ;;
        *.ko.gz) gzip -dc "$source" > "$dest_dir/${name%.gz}" ;;
        *.ko) cp "$source" "$dest_dir/" ;;
        *) die "unexpected module file name: $source" ;;
    esac
    printf '%s\n' "${name%.ko*}.ko" >> "$dest_dir/load-order"
}

# Builds a busybox initramfs that mounts the host root and hands over to the
# guest scripts. The cache key covers the kernel and the /init script.
build_initramfs() {
    local init_hash
    init_hash=$(sha256sum < "$HARNESS_DIR/guest/init" | cut -c1-12)
    INITRAMFS=$WORKDIR/initramfs-$KERNEL_VERSION-$init_hash.cpio.gz
    if [ "$REBUILD" != 1 ] && [ -f "$INITRAMFS" ]; then
        return
    fi
    [ -x /bin/busybox ] || die "/bin/busybox missing: install busybox-static"

    log "building the initramfs"
    local tree ko
    tree=$(mktemp -d "$WORKDIR/initramfs.XXXXXX")
    mkdir -p "$tree"/{bin,dev,proc,sys,lower,upper,newroot,modules}
    cp /bin/busybox "$tree/bin/busybox"
    : > "$tree/modules/load-order"

    # --show-depends lists dependencies first, and built-in modules as "builtin".
    local modules
    modules=$(for ko in "${INITRAMFS_MODULES[@]}"; do
        modprobe -d "$KERNEL_ROOT" -S "$KERNEL_VERSION" --show-depends "$ko"
    done | awk '$1 == "insmod" && !seen[$2]++ { print $2 }')
    for ko in $modules; do
        copy_module_uncompressed "$ko" "$tree/modules"
    done

    install -m 755 "$HARNESS_DIR/guest/init" "$tree/init"
    (cd "$tree" && find . | cpio -o -H newc --quiet | gzip -1) > "$INITRAMFS.tmp"
    mv "$INITRAMFS.tmp" "$INITRAMFS"
    rm -rf "$tree"
}

# Lays out the run folder that the guest mounts read-write: the guest
# scripts, the binaries under test, their settings, and the logs.
prepare_run_dir() {
    if [ -z "$RUN_DIR" ]; then
        RUN_DIR=$WORKDIR/runs/$(date -u +%Y%m%dT%H%M%SZ)-gssd-$GSSD-svcgssd-$SVCGSSD
    fi
    mkdir -p "$RUN_DIR/guest" "$RUN_DIR/bin" "$RUN_DIR/logs"
    rm -f "$RUN_DIR/exit-status"
    install -m 755 "$HARNESS_DIR/guest/pid1.sh" "$HARNESS_DIR/guest/nfs-krb5-test.sh" "$RUN_DIR/guest/"

    # A copy keeps the run reproducible and lets the binary live anywhere on
    # the host, even under a /tmp that the guest does not see.
    if [ -n "$RGSSD_BIN" ]; then
        install -m 755 "$RGSSD_BIN" "$RUN_DIR/bin/rgssd"
    fi

    {
        printf '# Settings of this run, sourced by the guest.\n'
        local name
        for name in GSSD SVCGSSD SVCGSSD_MODE KINIT GSSD_ARGS SVCGSSD_ARGS ENCTYPES SECS NFS_VERS \
            CONCURRENT_USERS PARALLEL_VERSIONS STRACE RPCDEBUG TEST_TIMEOUT STEP_TIMEOUT \
            DAEMON_VERBOSE BENCH_USERS BENCH_PAIRS BENCH_RETRY_SECONDS; do
            printf '%s=%q\n' "$name" "${!name}"
        done
        printf 'NFS_MODULES=%q\n' "${NFS_MODULES[*]}"
        printf 'RGSSD_BIN_HOST=%q\n' "$RGSSD_BIN"
    } > "$RUN_DIR/guest.env"
}

stop_qemu() {
    [ -n "$QEMU_PID" ] || return 0
    if kill -0 "$QEMU_PID" 2>/dev/null; then
        kill -TERM "$QEMU_PID" 2>/dev/null || true
        local waited=0
        while kill -0 "$QEMU_PID" 2>/dev/null && [ "$waited" -lt 50 ]; do
            sleep 0.1
            waited=$((waited + 1))
        done
        kill -KILL "$QEMU_PID" 2>/dev/null || true
    fi
    wait "$QEMU_PID" 2>/dev/null || true
    QEMU_PID=
}

cleanup() {
    stop_qemu
    if [ -n "$TAIL_PID" ]; then
        kill "$TAIL_PID" 2>/dev/null || true
        wait "$TAIL_PID" 2>/dev/null || true
        TAIL_PID=
    fi
    restore_service_starts
}

# Removes the terminal control sequences of the console (SeaBIOS and the
# guest's early boot send ESC c, which resets the terminal and clears the
# screen) and the carriage returns of the serial line. console.log keeps the raw bytes.
filter_console() {
    sed -u -e 's/\x1b\[[0-9;?]*[A-Za-z]//g' -e 's/\x1b[A-Za-z]//g' -e 's/\r$//'
}

# Boots the guest and waits for it to power off, at most VM_TIMEOUT seconds.
# Sets QEMU_STATUS to QEMU's exit status, or to "timeout".
boot_vm() {
    local accel cpu
    case $ACCEL in
        tcg)
            accel=tcg,thread=multi
            cpu=${QEMU_CPU:-max}
            ;;
        kvm)
            # QEMU 7.2 can abort on "-cpu host" when the host rejects the
            # IA32_ARCH_CAPABILITIES MSR, so that feature is off.
            # NOTE: this KVM path has not passed a run, because the project's
            # build machines lack VMX/SVM.
            accel=kvm
            cpu=${QEMU_CPU:-host,-arch-capabilities}
            ;;
    esac

    local append="console=ttyS0 panic=-1 loglevel=4 log_buf_len=8M rgssd_vm.modules=$MODULES_DIR"
    log "booting $KERNEL_VERSION ($ACCEL, ${VM_MEM} MiB, $VM_CPUS CPUs, limit ${VM_TIMEOUT}s)"
    : > "$RUN_DIR/console.log"
    qemu-system-x86_64 \
        -machine q35 -accel "$accel" -cpu "$cpu" -m "$VM_MEM" -smp "$VM_CPUS" \
        -nodefaults -no-user-config -nographic -nic none -no-reboot \
        -chardev file,id=console,path="$RUN_DIR/console.log" -serial chardev:console \
        -monitor none \
        -kernel "$KERNEL_IMAGE" -initrd "$INITRAMFS" -append "$append" \
        -fsdev local,id=hostroot,path=/,readonly=on,security_model=none,multidevs=remap \
        -device virtio-9p-pci,fsdev=hostroot,mount_tag=hostroot \
        -fsdev local,id=rundir,path="$RUN_DIR",security_model=none,multidevs=remap \
        -device virtio-9p-pci,fsdev=rundir,mount_tag=rundir \
        < /dev/null > "$RUN_DIR/qemu.log" 2>&1 &
    QEMU_PID=$!

    if [ "$QUIET" != 1 ]; then
        tail -n +1 -F --pid="$QEMU_PID" "$RUN_DIR/console.log" 2>/dev/null | filter_console &
        TAIL_PID=$!
    fi

    local deadline=$((SECONDS + VM_TIMEOUT))
    QEMU_STATUS=
    while kill -0 "$QEMU_PID" 2>/dev/null; do
        if [ "$SECONDS" -ge "$deadline" ]; then
            log "QEMU timed out after ${VM_TIMEOUT}s; stopping PID $QEMU_PID"
            QEMU_STATUS=timeout
            stop_qemu
            break
        fi
        sleep 0.2
    done
    if [ -z "$QEMU_STATUS" ]; then
        QEMU_STATUS=0
        wait "$QEMU_PID" || QEMU_STATUS=$?
        QEMU_PID=
    fi

    # Let tail print the last console lines before it is stopped.
    if [ -n "$TAIL_PID" ]; then
        sleep 0.5
        kill "$TAIL_PID" 2>/dev/null || true
        wait "$TAIL_PID" 2>/dev/null || true
        TAIL_PID=
    fi
}

# Turns the guest's exit status and summary line into the harness verdict.
read_verdict() {
    local summary=
    if [ -f "$RUN_DIR/logs/test.out" ]; then
        summary=$(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$RUN_DIR/logs/test.out" | tail -n 1 || true)
    fi
    if [ ! -f "$RUN_DIR/exit-status" ]; then
        log "the guest wrote no exit status (QEMU status: $QEMU_STATUS); see $RUN_DIR/console.log"
        VERDICT=3
    else
        local status
        status=$(cat "$RUN_DIR/exit-status")
        case $status in
            0)
                VERDICT=0
                # Exit 0 counts only with a summary that shows no failure.
                if [[ ! $summary =~ ^[1-9][0-9]*\ passed,\ 0\ failed$ ]]; then
                    log "the guest exited 0 but its summary is '$summary'"
                    VERDICT=1
                fi
                ;;
            1) VERDICT=1 ;;
            124 | 137)
                log "the guest test timed out after TEST_TIMEOUT=${TEST_TIMEOUT}s"
                VERDICT=3
                ;;
            *)
                log "the guest test ended with status '$status'"
                VERDICT=3
                ;;
        esac
    fi
    SUMMARY=${summary:-no summary line}
}

main() {
    local start_all start_vm
    start_all=$(now)
    check_config
    trap cleanup EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM

    if [ "$SKIP_INSTALL" != 1 ]; then
        install_packages
    fi
    command -v qemu-system-x86_64 > /dev/null || die "qemu-system-x86_64 not found: install qemu-system-x86"
    resolve_rgssd_bin
    mkdir -p "$WORKDIR"
    select_kernel_package
    prepare_kernel
    build_initramfs
    prepare_run_dir
    log "setup took $(seconds_since "$start_all")s; run folder: $RUN_DIR"

    start_vm=$(now)
    boot_vm
    read_verdict
    log "VM ran $(seconds_since "$start_vm")s, total $(seconds_since "$start_all")s"
    log "gssd=$GSSD svcgssd=$SVCGSSD svcgssd_mode=$SVCGSSD_MODE kinit=$KINIT enctypes=$ENCTYPES kernel=$KERNEL_VERSION"
    [ -z "$RGSSD_BIN" ] || log "rgssd binary: $RGSSD_BIN"
    if [ -s "$RUN_DIR/logs/bench.txt" ]; then
        local line
        while read -r line; do
            log "benchmark: $line"
        done < "$RUN_DIR/logs/bench.txt"
    fi
    log "result: $SUMMARY; exit status $VERDICT"
    log "run folder: $RUN_DIR"
    exit "$VERDICT"
}

main "$@"
