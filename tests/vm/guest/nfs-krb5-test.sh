#!/bin/bash
# Kerberos NFS checks, run as root inside the guest. One kernel is KDC host,
# NFS server and NFS client at once, and all traffic stays on loopback:
#   KDC     MIT krb5kdc on 127.0.0.1:88, realm EXAMPLE.TEST
#   server  rpcbind, nfsdcld, rpc.idmapd, rpc.mountd, the svcgssd under test,
#           nfsd exporting a tmpfs at /export with sec=krb5p:krb5i:krb5
#   client  the gssd under test, mount.nfs, file I/O as root (machine
#           credentials from /etc/krb5.keytab) and as users with tickets
# Settings come from the environment (run.sh writes them to guest.env). Each
# check prints one PASS or FAIL line. The last line is "N passed, N failed",
# and the exit status is 0 only when no check failed.

# Functions called through check look unreachable to shellcheck.
# shellcheck disable=SC2317
set -uo pipefail

# The defaults match run.sh, for running this script by hand in a guest.
GSSD=${GSSD:-nfs-utils}
SVCGSSD=${SVCGSSD:-nfs-utils}
SVCGSSD_MODE=${SVCGSSD_MODE:-legacy}
KINIT=${KINIT:-mit}
GSSD_ARGS=${GSSD_ARGS:-}
SVCGSSD_ARGS=${SVCGSSD_ARGS:-}
ENCTYPES=${ENCTYPES:-aes-sha1}
SECS=${SECS:-krb5p krb5i krb5}
NFS_VERS=${NFS_VERS:-4.2 3}
CONCURRENT_USERS=${CONCURRENT_USERS:-5}
BENCH_USERS=${BENCH_USERS:-}
BENCH_PAIRS=${BENCH_PAIRS:-rgssd nfs-utils}
DAEMON_VERBOSE=${DAEMON_VERBOSE:-1}
BENCH_RETRY_SECONDS=${BENCH_RETRY_SECONDS:-120}
STRACE=${STRACE:-0}
RPCDEBUG=${RPCDEBUG:-}
STEP_TIMEOUT=${STEP_TIMEOUT:-60}
PARALLEL_VERSIONS=${PARALLEL_VERSIONS:-1}
NFS_MODULES=${NFS_MODULES:-sunrpc auth_rpcgss rpcsec_gss_krb5 nfsd nfs nfsv4 nfsv3}

RUN=/vmrun
RGSSD=$RUN/bin/rgssd
LOGS=$RUN/logs
REALM=EXAMPLE.TEST
HOST=nfs.example.test
PIPEFS=/run/rpc_pipefs
KEYTAB=/etc/krb5.keytab
MNT=/mnt/nfs
EXPORT=/export
# Throw-away realm: every user principal of this run gets this password.
USER_PASSWORD=$(head -c 12 /dev/urandom | base64)
TEST_FILE=/tmp/test-4MiB.bin
TEST_FILE_SUM=
CHECK_OUTPUT=/tmp/check.out
BENCH_CACHES=/tmp/bench-ccaches
PASSED=0
FAILED=0
DAEMON_PIDS=()
START_US=${EPOCHREALTIME/./}

# Users: alice and bob in every flavour, carol with a ticket that expires
# early, dave with a ticket too large for the procfs channel, and loadNN
# for the concurrent first access.
ALICE_UID=1001
BOB_UID=1002
CAROL_UID=1003
CAROL_MAX_LIFE=10
DAVE_UID=1004
# An 800-character client name appears in the ticket and the
# authenticator, which makes the AP-REQ about 2.4 KiB: more than the
# procfs channel's page can carry hex-encoded (about 2 KiB), like a ticket
# with a large Active Directory PAC. It maps to no local user. Linux 6.12
# rejects a token of about 4 KiB or more with AUTH_BADCRED before the
# upcall, without its warning, so a longer name would not show the warning.
DAVE_PRINCIPAL=$(printf 'd%.0s' {1..800})
LOAD_UID_BASE=2000
BENCH_UID_BASE=3000
# Owner on the server of files that root creates: the machine principal
# nfs/$HOST has no local account, so svcgssd maps it to the anonymous uid.
ANON_UID=65534

# ---------------------------------------------------------- reporting

elapsed() {
    local us=$((${EPOCHREALTIME/./} - $1))
    printf '%d.%02d' $((us / 1000000)) $((us % 1000000 / 10000))
}

say() { printf '[%7ss] %s\n' "$(elapsed "$START_US")" "$*"; }

pass() {
    PASSED=$((PASSED + 1))
    say "PASS $*"
}

fail() {
    FAILED=$((FAILED + 1))
    say "FAIL $*"
}

# check NAME FUNCTION...: runs FUNCTION in this shell, so that daemons it
# starts stay known to finish, and records one PASS or FAIL with the
# duration and the last lines of the output. The step time limit applies to
# each program inside that could block (see limit): a shell function cannot
# run under timeout, and an extra bash per check costs a lot under TCG.
check() {
    local name=$1 start=${EPOCHREALTIME/./} status=0
    shift
    "$@" > "$CHECK_OUTPUT" 2>&1 || status=$?
    if [ "$status" = 0 ]; then
        pass "$name ($(elapsed "$start")s)"
        return 0
    fi
    fail "$name ($(elapsed "$start")s, status $status): $(tail -n 3 "$CHECK_OUTPUT" | tr '\n' ' ')"
    return 1
}

# not_run NAME REASON: counts a check whose precondition failed as failed,
# so that the totals do not depend on where a run broke.
not_run() { fail "$1: not run, $2"; }

# limit COMMAND...: runs COMMAND under STEP_TIMEOUT. timeout signals its
# whole process group, so a dd stuck on the mount ends too.
limit() {
    local status=0
    timeout -k 5 "$STEP_TIMEOUT" "$@" || status=$?
    [ "$status" = 124 ] && echo "timed out after ${STEP_TIMEOUT}s: $*"
    return "$status"
}

# as_user USER COMMAND...: runs COMMAND as USER (root runs it directly) under
# the step time limit. setpriv skips PAM, which saves emulated start-up
# time. MIT's default ccache FILE:/tmp/krb5cc_<uid> follows from the real uid.
as_user() {
    local user=$1
    shift
    if [ "$user" = root ]; then
        limit "$@"
    else
        limit setpriv --reuid="$user" --regid="$user" --init-groups -- "$@"
    fi
}

# ----------------------------------------------------------- file checks

# Fails unless MNT is an NFS mount, so that no I/O check can pass by
# writing into the local directory under a failed mount.
require_nfs_mount() {
    local mount_point fstype
    while read -r _ mount_point fstype _; do
        if [ "$mount_point" = "$MNT" ] && [[ $fstype == nfs* ]]; then
            return 0
        fi
    done < /proc/mounts
    echo "$MNT is not an NFS mount"
    return 1
}

mount_export() {
    local vers=$1 sec=$2
    if [ "${vers%%.*}" = 4 ]; then
        limit mount -t nfs4 -o "vers=$vers,sec=$sec" "$HOST:/" "$MNT"
    else
        # No rpc.statd runs, so NFSv3 mounts go without NLM locking.
        limit mount -t nfs -o "vers=$vers,sec=$sec,proto=tcp,mountproto=tcp,nolock" "$HOST:$EXPORT" "$MNT"
    fi
}

# make_shared_dir DIR: root creates DIR on the mount, writable by every user.
make_shared_dir() {
    require_nfs_mount || return 1
    limit mkdir -m 1777 "$1"
}

write_file() {
    local user=$1 file=$2
    require_nfs_mount || return 1
    as_user "$user" dd if="$TEST_FILE" of="$file" bs=1M conv=fsync status=none
}

# read_compare USER FILE SUM: USER opens FILE, so that the read goes over
# that user's own GSS context.
read_compare() {
    local user=$1 file=$2 expected=$3 actual
    require_nfs_mount || return 1
    actual=$(as_user "$user" sha256sum "$file") || return 1
    actual=${actual%% *}
    if [ "$actual" != "$expected" ]; then
        echo "sha256 of $file is $actual, expected $expected"
        return 1
    fi
}

# expect_error USER MESSAGE FILE: creating FILE as USER must fail with
# MESSAGE, the strerror text of the expected errno.
expect_error() {
    local user=$1 message=$2 file=$3 output
    require_nfs_mount || return 1
    # shellcheck disable=SC2016 # $1 expands in the user's shell.
    if output=$(as_user "$user" sh -c 'echo data > "$1"' sh "$file" 2>&1); then
        echo "$user created $file, expected: $message"
        return 1
    fi
    if [[ $output != *"$message"* ]]; then
        echo "$user got '$output', expected: $message"
        return 1
    fi
}

# server_file_matches PATH UID SUM: the server's own copy has the owner
# that svcgssd's mapping produced and the bytes that the client sent.
server_file_matches() {
    local path=$1 uid=$2 sum=$3 actual_uid actual_sum
    actual_uid=$(stat -c %u "$path") || return 1
    actual_sum=$(sha256sum "$path") || return 1
    actual_sum=${actual_sum%% *}
    if [ "$actual_uid" != "$uid" ]; then
        echo "$path has owner uid $actual_uid, expected $uid"
        return 1
    fi
    if [ "$actual_sum" != "$sum" ]; then
        echo "$path has sha256 $actual_sum, expected $sum"
        return 1
    fi
}

# ------------------------------------------------------------- daemons

# wait_until SECONDS COMMAND...: polls COMMAND every 0.2 s.
wait_until() {
    local seconds=$1 deadline=$((SECONDS + $1))
    shift
    until "$@"; do
        if [ "$SECONDS" -ge "$deadline" ]; then
            echo "timed out after ${seconds}s waiting for: $*"
            return 1
        fi
        sleep 0.2
    done
}

# fd_open PATTERN: some process has a path that contains PATTERN open.
fd_open() { [ -n "$(find /proc/[0-9]*/fd -lname "*$1*" -print -quit 2> /dev/null)" ]; }

port_open() { (exec 3<> "/dev/tcp/127.0.0.1/$1") 2> /dev/null; }

# start_daemon NAME COMMAND...: starts COMMAND in the background with its
# output in LOGS/NAME.log.
start_daemon() {
    local name=$1
    shift
    "$@" > "$LOGS/$name.log" 2>&1 &
    DAEMON_PIDS+=($!)
}

# With STRACE=1 the GSS daemons run under strace, for byte-exact upcalls.
start_gss_daemon() {
    local name=$1
    shift
    if [ "$STRACE" = 1 ]; then
        start_daemon "$name" strace -f -tt -yy -xx -s 65536 -o "$LOGS/$name.strace" "$@"
    else
        start_daemon "$name" "$@"
    fi
}

# Sets GSSD_COMMAND and SVCGSSD_COMMAND. nfs-utils and rgssd get the same
# pipefs and keytab arguments, but -r (libtirpc debug output) exists only in
# nfs-utils. DAEMON_VERBOSE=0 drops the -v and -r options. GSSD_ARGS and
# SVCGSSD_ARGS replace the options after the program.
set_daemon_commands() {
    local program options verbose=() rpc_verbose=()
    if [ "$DAEMON_VERBOSE" = 1 ]; then
        verbose=(-vvv)
        rpc_verbose=(-rrr)
    fi
    if [ "$GSSD" = rgssd ]; then
        program=("$RGSSD" gssd)
        options=(-f "${verbose[@]}" -p "$PIPEFS" -k "$KEYTAB")
    else
        program=(/usr/sbin/rpc.gssd)
        options=(-f "${verbose[@]}" "${rpc_verbose[@]}" -p "$PIPEFS" -k "$KEYTAB")
    fi
    [ -n "$GSSD_ARGS" ] && read -r -a options <<< "$GSSD_ARGS"
    GSSD_COMMAND=("${program[@]}" "${options[@]}")

    if [ "$SVCGSSD" = rgssd ]; then
        program=("$RGSSD" svcgssd)
        options=(-f "${verbose[@]}" --mode "$SVCGSSD_MODE")
    else
        program=(/usr/sbin/rpc.svcgssd)
        options=(-f "${verbose[@]}" "${rpc_verbose[@]}")
    fi
    [ -n "$SVCGSSD_ARGS" ] && read -r -a options <<< "$SVCGSSD_ARGS"
    SVCGSSD_COMMAND=("${program[@]}" "${options[@]}")
}

# ------------------------------------------------------ identity, realm

# add_user NAME UID: a local account with a group of the same name and id.
# Appending to the overlay's files is much faster than an emulated useradd.
add_user() {
    printf '%s:x:%d:%d::/nonexistent:/bin/sh\n' "$1" "$2" "$2" >> /etc/passwd
    printf '%s:x:%d:\n' "$1" "$2" >> /etc/group
    printf '%s:*:19000:0:99999:7:::\n' "$1" >> /etc/shadow
}

load_user() { printf 'load%02d' "$1"; }

setup_identity() {
    hostname "$HOST"
    cat > /etc/hosts << EOF
127.0.0.1 $HOST nfs localhost
::1 localhost
EOF
    cat > /etc/idmapd.conf << EOF
[General]
Domain = example.test
Local-Realms = $REALM
[Mapping]
Nobody-User = nobody
Nobody-Group = nogroup
[Translation]
Method = nsswitch
EOF
    add_user alice "$ALICE_UID"
    add_user bob "$BOB_UID"
    add_user carol "$CAROL_UID"
    add_user dave "$DAVE_UID"
    local i
    for ((i = 1; i <= CONCURRENT_USERS; i++)); do
        add_user "$(load_user "$i")" $((LOAD_UID_BASE + i))
    done
    for ((i = 1; i <= BENCH_TOTAL_USERS; i++)); do
        add_user "$(bench_user "$i")" $((BENCH_UID_BASE + i))
    done
}

write_krb5_config() {
    local kdc_enctypes client_enctypes=
    if [ "$ENCTYPES" = aes-sha2 ]; then
        kdc_enctypes="aes256-cts-hmac-sha384-192:normal aes128-cts-hmac-sha256-128:normal"
        client_enctypes="aes256-cts-hmac-sha384-192 aes128-cts-hmac-sha256-128"
    else
        kdc_enctypes="aes256-cts-hmac-sha1-96:normal aes128-cts-hmac-sha1-96:normal"
    fi

    {
        cat << EOF
[libdefaults]
    default_realm = $REALM
    dns_lookup_kdc = false
    dns_lookup_realm = false
    dns_canonicalize_hostname = false
    rdns = false
EOF
        if [ -n "$client_enctypes" ]; then
            printf '    permitted_enctypes = %s\n' "$client_enctypes"
            printf '    default_tgs_enctypes = %s\n' "$client_enctypes"
            printf '    default_tkt_enctypes = %s\n' "$client_enctypes"
        fi
        cat << EOF
[realms]
    $REALM = {
        kdc = 127.0.0.1
        admin_server = 127.0.0.1
    }
[domain_realm]
    .example.test = $REALM
    example.test = $REALM
EOF
    } > /etc/krb5.conf

    mkdir -p /etc/krb5kdc /var/lib/krb5kdc
    cat > /etc/krb5kdc/kdc.conf << EOF
[kdcdefaults]
    kdc_ports = 88
    kdc_tcp_ports = 88
[realms]
    $REALM = {
        database_name = /var/lib/krb5kdc/principal
        key_stash_file = /etc/krb5kdc/stash
        acl_file = /etc/krb5kdc/kadm5.acl
        max_life = 10h 0m 0s
        supported_enctypes = $kdc_enctypes
    }
[logging]
    kdc = FILE:$LOGS/krb5kdc.log
    default = FILE:$LOGS/kadmin.log
EOF
    : > /etc/krb5kdc/kadm5.acl
}

# Creates the realm with one kadmin.local process, which saves the
# emulated start-up of one process per principal.
create_realm() {
    limit kdb5_util create -s -r "$REALM" -P "$(head -c 16 /dev/urandom | base64)" -W || return 1
    {
        echo "addprinc -randkey nfs/$HOST"
        echo "addprinc -randkey host/$HOST"
        echo "ktadd -k $KEYTAB nfs/$HOST host/$HOST"
        # +requires_preauth makes kinit prove the password (PA-ENC-TIMESTAMP).
        echo "addprinc +requires_preauth -pw $USER_PASSWORD alice"
        echo "addprinc +requires_preauth -pw $USER_PASSWORD bob"
        echo "addprinc +requires_preauth -maxlife \"$CAROL_MAX_LIFE seconds\" -pw $USER_PASSWORD carol"
        echo "addprinc +requires_preauth -pw $USER_PASSWORD $DAVE_PRINCIPAL"
        local i
        for ((i = 1; i <= CONCURRENT_USERS; i++)); do
            echo "addprinc +requires_preauth -pw $USER_PASSWORD $(load_user "$i")"
        done
        for ((i = 1; i <= BENCH_TOTAL_USERS; i++)); do
            echo "addprinc +requires_preauth -pw $USER_PASSWORD $(bench_user "$i")"
        done
    } | limit kadmin.local > "$LOGS/kadmin-local.log" 2>&1 || return 1
    limit klist -ke "$KEYTAB" > "$LOGS/keytab.txt" 2>&1 || return 1
    if ! grep -q "nfs/$HOST@$REALM" "$LOGS/keytab.txt"; then
        echo "$KEYTAB lacks nfs/$HOST@$REALM"
        return 1
    fi
}

# kinit_user USER [PRINCIPAL]: gets USER a TGT for PRINCIPAL (default USER)
# with the password on stdin, into the default ccache
# FILE:/tmp/krb5cc_<uid> where gssd looks for it.
kinit_user() {
    local user=$1 principal=${2:-$1} kinit=(kinit)
    [ "$KINIT" = rgssd ] && kinit=("$RGSSD" kinit)
    printf '%s\n' "$USER_PASSWORD" | as_user "$user" "${kinit[@]}" "$principal@$REALM"
}

# ticket_enctype_is USER ENCTYPE: the session key and ticket of USER's TGT
# both have ENCTYPE.
ticket_enctype_is() {
    as_user "$1" klist -e > "$LOGS/klist-$1.txt" 2>&1 || return 1
    if ! grep -q "Etype (skey, tkt): $2, $2" "$LOGS/klist-$1.txt"; then
        grep Etype "$LOGS/klist-$1.txt"
        return 1
    fi
}

# ------------------------------------------------------- kernel, server

load_kernel_modules() {
    local modules
    read -r -a modules <<< "$NFS_MODULES"
    limit modprobe -a "${modules[@]}" || return 1
    mkdir -p "$PIPEFS"
    mountpoint -q "$PIPEFS" || mount -t rpc_pipefs sunrpc "$PIPEFS" || return 1
    mountpoint -q /proc/fs/nfsd || mount -t nfsd nfsd /proc/fs/nfsd || return 1

    # RPCDEBUG="rpc:auth,call nfsd:proc" sets kernel debug flags (in dmesg.txt).
    local item flags
    for item in $RPCDEBUG; do
        IFS=, read -r -a flags <<< "${item#*:}"
        rpcdebug -m "${item%%:*}" -s "${flags[@]}" > /dev/null || return 1
    done
}

# Starts svcgssd before nfsd sees any RPCSEC_GSS INIT: the first INIT makes
# the kernel settle /proc/net/rpc/use-gss-proxy on 0, the legacy upcall,
# when no gss-proxy server has written 1 before. In proxy mode, rgssd
# svcgssd writes 1 once its socket listens.
start_server() {
    mkdir -p "$EXPORT" /run/rpcbind /var/lib/nfs/nfsdcld /var/lib/nfs/v4recovery
    # root on the client uses the machine credential, which the server maps
    # to the anonymous uid, so the export's root directory is world-writable.
    mount -t tmpfs -o size=512m,mode=1777 export "$EXPORT" || return 1
    echo "$EXPORT 127.0.0.1(rw,sync,fsid=0,no_subtree_check,no_root_squash,sec=krb5p:krb5i:krb5)" > /etc/exports
    : > /var/lib/nfs/etab
    : > /var/lib/nfs/rmtab

    start_daemon rpcbind rpcbind -f
    wait_until 10 port_open 111 || return 1
    start_daemon nfsdcld nfsdcld -F
    start_daemon idmapd rpc.idmapd -f -vvv
    start_daemon mountd rpc.mountd -F -d all

    start_gss_daemon svcgssd "${SVCGSSD_COMMAND[@]}"
    SVCGSSD_PID=${DAEMON_PIDS[-1]}
    if [ "$SVCGSSD_MODE" = proxy ]; then
        wait_until 10 gss_proxy_mode_is 1 || return 1
    else
        wait_until 10 fd_open auth.rpcsec.init/channel || return 1
    fi

    limit exportfs -rav > "$LOGS/exportfs.log" 2>&1 || return 1
    # Short lease and grace times, and nfsdcld with no clients to reclaim,
    # keep nfsd from blocking opens for the default 90 s grace period.
    echo 10 > /proc/fs/nfsd/nfsv4leasetime
    echo 10 > /proc/fs/nfsd/nfsv4gracetime
    # An nfsd thread waits up to 5 s for svcgssd's reply to an RPCSEC_GSS
    # INIT, but only 1 s while no thread is idle, and then closes the
    # connection. Spare threads keep concurrent first accesses within the
    # 5 s wait (Linux 6.12, svc_recv).
    limit rpc.nfsd --debug 32 > "$LOGS/rpc.nfsd.log" 2>&1 || return 1
    limit rpcinfo -p 127.0.0.1 > "$LOGS/rpcinfo.txt" 2>&1
}

# The kernel counts gssd as running once it opens the pipe gssd/clntXX/gssd,
# and fails GSS upcalls at once while no process has it open.
start_client() {
    start_gss_daemon gssd "${GSSD_COMMAND[@]}"
    GSSD_PID=${DAEMON_PIDS[-1]}
    mkdir -p "$MNT"
    wait_until 10 fd_open "rpc_pipefs/gssd/clnt" || return 1
}

# ---------------------------------------------------------------- tests

# Debian's 6.1.0-55 to 6.1.0-57 kernels (upstream 6.1.192) fail krb5p in
# nfsd: the mount or the first I/O fails with EIO, also with nfs-utils'
# daemons, while krb5 and krb5i work. 6.1.0-54 (6.1.190) does not have it.
has_krb5p_regression() { [[ $(uname -v) == *" Debian 6.1.192-"* ]]; }

# Passes when krb5p fails as it does on the kernels with the regression, and
# fails once krb5p works there, so that this expected failure gets removed.
# The last line of LOGS/krb5p-regression-vVERS.txt records how krb5p failed.
krb5p_fails_as_known() {
    local vers=$1
    local dir=$MNT/v$vers-krb5p outcome=$LOGS/krb5p-regression-v$vers.txt
    if ! mount_export "$vers" krb5p >> "$outcome" 2>&1; then
        echo "the krb5p mount failed" >> "$outcome"
        return 0
    fi
    local status=0
    { make_shared_dir "$dir" && write_file root "$dir/root.bin"; } >> "$outcome" 2>&1 || status=$?
    limit umount "$MNT" || say "umount of v$vers/krb5p failed"
    if [ "$status" != 0 ]; then
        echo "the krb5p mount worked, but root's first write failed (status $status)" >> "$outcome"
        return 0
    fi
    echo "krb5p worked on $(uname -r): drop its expected failure from has_krb5p_regression"
    return 1
}

# One NFS version and flavour: mount, write as root and as alice, bob is
# refused, remount for a cold cache, read back, compare on the server.
test_flavour() {
    local vers=$1 sec=$2
    local tag="v$vers/$sec"
    if [ "$sec" = krb5p ] && has_krb5p_regression; then
        if check "$tag: fails as expected on Linux 6.1.192 (nfsd krb5p regression)" krb5p_fails_as_known "$vers"; then
            say "$tag: $(tail -n 1 "$LOGS/krb5p-regression-v$vers.txt")"
        fi
        return
    fi
    local dir=$MNT/v$vers-$sec server_dir=$EXPORT/v$vers-$sec
    local io_checks=("root creates a directory" "root writes 4 MiB" "alice writes 4 MiB"
        "bob without ticket gets Permission denied" "remount"
        "root reads back 4 MiB" "alice reads back 4 MiB"
        "server copy of root's file" "server copy of alice's file")

    if ! check "$tag: mount" mount_export "$vers" "$sec"; then
        local name
        for name in "${io_checks[@]}"; do
            not_run "$tag: $name" "mount failed"
        done
        return
    fi
    grep " $MNT " /proc/mounts >> "$LOGS/mounts.txt"

    check "$tag: root creates a directory" make_shared_dir "$dir"
    check "$tag: root writes 4 MiB" write_file root "$dir/root.bin"
    check "$tag: alice writes 4 MiB" write_file alice "$dir/alice.bin"
    check "$tag: bob without ticket gets Permission denied" expect_error bob "Permission denied" "$dir/bob.txt"
    limit umount "$MNT" || say "umount of $tag failed"

    if check "$tag: remount" mount_export "$vers" "$sec"; then
        check "$tag: root reads back 4 MiB" read_compare root "$dir/root.bin" "$TEST_FILE_SUM"
        check "$tag: alice reads back 4 MiB" read_compare alice "$dir/alice.bin" "$TEST_FILE_SUM"
        limit ls -ln "$dir" >> "$LOGS/ls-client.txt" 2>&1
        limit umount "$MNT" || say "umount of $tag failed"
    else
        not_run "$tag: root reads back 4 MiB" "remount failed"
        not_run "$tag: alice reads back 4 MiB" "remount failed"
    fi

    ls -ln "$server_dir" >> "$LOGS/ls-server.txt" 2>&1
    check "$tag: server copy of root's file" server_file_matches "$server_dir/root.bin" "$ANON_UID" "$TEST_FILE_SUM"
    check "$tag: server copy of alice's file" server_file_matches "$server_dir/alice.bin" "$ALICE_UID" "$TEST_FILE_SUM"
}

# test_version VERS: all flavours of one NFS version on its own mount point.
# It runs in a subshell and leaves its counts in /tmp/counts-VERS.
test_version() {
    local vers=$1 sec
    MNT=/mnt/nfs-v$vers
    CHECK_OUTPUT=/tmp/check-v$vers.out
    PASSED=0
    FAILED=0
    mkdir -p "$MNT"
    for sec in $SECS; do
        test_flavour "$vers" "$sec"
    done
    echo "$PASSED $FAILED" > "/tmp/counts-$vers"
}

# The NFS versions run in parallel: most steps wait on one process at a
# time, and a second busy vCPU roughly doubles the host CPU time that
# QEMU gets on a loaded host. PARALLEL_VERSIONS=0 runs them one by one.
run_matrix() {
    local vers pids=() passed failed
    for vers in $NFS_VERS; do
        rm -f "/tmp/counts-$vers"
        if [ "$PARALLEL_VERSIONS" = 1 ]; then
            test_version "$vers" &
            pids+=($!)
        else
            test_version "$vers"
        fi
    done
    [ ${#pids[@]} -eq 0 ] || wait "${pids[@]}"

    for vers in $NFS_VERS; do
        if read -r passed failed < "/tmp/counts-$vers"; then
            PASSED=$((PASSED + passed))
            FAILED=$((FAILED + failed))
        else
            fail "v$vers: the flavour checks ended without counts"
        fi
    done
}

kinit_load_users() {
    local i pids=() pid failures=0
    for ((i = 1; i <= CONCURRENT_USERS; i++)); do
        kinit_user "$(load_user "$i")" > /dev/null &
        pids+=($!)
    done
    for pid in "${pids[@]}"; do
        wait "$pid" || failures=$((failures + 1))
    done
    if [ "$failures" != 0 ]; then
        echo "kinit failed for $failures of $CONCURRENT_USERS users"
        return 1
    fi
}

# Every load user creates and reads back a file at the same moment, so that
# the first GSS context of each is set up concurrently.
concurrent_first_access() {
    local dir=$1 pids=() failures=0 i user pid owner
    for ((i = 1; i <= CONCURRENT_USERS; i++)); do
        user=$(load_user "$i")
        # shellcheck disable=SC2016 # $1 and $2 expand in the user's shell.
        as_user "$user" sh -c 'echo "$1" > "$2/$1" && [ "$(cat "$2/$1")" = "$1" ]' sh "$user" "$dir" &
        pids+=($!)
    done
    for pid in "${pids[@]}"; do
        wait "$pid" || failures=$((failures + 1))
    done
    if [ "$failures" != 0 ]; then
        echo "$failures of $CONCURRENT_USERS users failed"
        return 1
    fi

    for ((i = 1; i <= CONCURRENT_USERS; i++)); do
        user=$(load_user "$i")
        owner=$(stat -c %u "$EXPORT/${dir#"$MNT"/}/$user") || return 1
        if [ "$owner" != $((LOAD_UID_BASE + i)) ]; then
            echo "the server's copy of $user's file has owner uid $owner"
            return 1
        fi
    done
}

# A user whose ticket expired, and many users at once, on one more mount
# with the first version and flavour (the next one where krb5p is broken).
test_user_cases() {
    local vers=${NFS_VERS%% *} sec='' candidate
    for candidate in $SECS; do
        if [ "$candidate" != krb5p ] || ! has_krb5p_regression; then
            sec=$candidate
            break
        fi
    done
    if [ -z "$sec" ]; then
        say "no flavour of SECS='$SECS' works on $(uname -r): the user checks are skipped"
        return
    fi
    local tag="v$vers/$sec"
    local checks=("carol with expired ticket gets Key has expired" "dave's large ticket")
    [ "$CONCURRENT_USERS" -gt 0 ] && checks+=("$CONCURRENT_USERS users access at once")

    if ! check "$tag: mount for the user checks" mount_export "$vers" "$sec"; then
        local name
        for name in "${checks[@]}"; do
            not_run "$tag: $name" "mount failed"
        done
        return
    fi
    make_shared_dir "$MNT/users" || say "creating $MNT/users failed"

    # carol's TGT lasts CAROL_MAX_LIFE seconds from CAROL_KINIT_SECONDS.
    local wait_seconds=$((CAROL_KINIT_SECONDS + CAROL_MAX_LIFE + 2 - SECONDS))
    if [ "$wait_seconds" -gt 0 ]; then
        say "waiting ${wait_seconds}s for carol's ticket to expire"
        sleep "$wait_seconds"
    fi
    as_user carol klist > "$LOGS/klist-carol.txt" 2>&1
    check "$tag: carol with expired ticket gets Key has expired" expect_error carol "Key has expired" "$MNT/users/carol.txt"

    if [ "$CONCURRENT_USERS" -gt 0 ]; then
        if check "$CONCURRENT_USERS users kinit" kinit_load_users; then
            check "$tag: $CONCURRENT_USERS users access at once" concurrent_first_access "$MNT/users"
        else
            not_run "$tag: $CONCURRENT_USERS users access at once" "kinit failed"
        fi
    fi

    # dave comes last: on the procfs channel the kernel keeps his oversized
    # request queued, which delays every later request until it expires.
    if ! check "dave kinit with an 800-character name" kinit_user dave "$DAVE_PRINCIPAL"; then
        not_run "$tag: dave's large ticket" "kinit failed"
    elif [ "$SVCGSSD_MODE" = proxy ]; then
        if check "$tag: dave writes with a ticket over 2 KiB through gss-proxy" write_file dave "$MNT/users/dave.bin"; then
            check "$tag: dave reads back" read_compare dave "$MNT/users/dave.bin" "$TEST_FILE_SUM"
        else
            not_run "$tag: dave reads back" "write failed"
        fi
    else
        check "$tag: dave's ticket over 2 KiB fails on the procfs channel" large_ticket_fails_on_procfs "$MNT/users/dave.txt"
    fi
    limit umount "$MNT" || say "umount of $tag failed"
}

# gss_proxy_mode_is VALUE: nfsd chooses the legacy upcall (0) or gss-proxy
# (1) at the first INIT and keeps that choice until sunrpc is reloaded; -1
# means undecided.
gss_proxy_mode_is() {
    local value
    value=$(cat /proc/net/rpc/use-gss-proxy) || return 1
    if [ "$value" != "$1" ]; then
        echo "/proc/net/rpc/use-gss-proxy is $value, expected $1"
        return 1
    fi
}

# large_ticket_fails_on_procfs FILE: dave's access fails, and the kernel
# logs that his token does not fit the procfs channel.
large_ticket_fails_on_procfs() {
    local file=$1
    require_nfs_mount || return 1
    # shellcheck disable=SC2016 # $1 expands in the user's shell.
    if as_user dave sh -c 'echo data > "$1"' sh "$file"; then
        echo "dave created $file, but his token should not fit the procfs channel"
        return 1
    fi
    # The kernel logs the warning when svcgssd reads the request from the
    # channel, which can come after the client has already given up.
    local waited=0
    until dmesg | grep -q 'RPCSEC/GSS credential too large - please use gssproxy'; do
        if [ "$waited" -ge 30 ]; then
            echo "the kernel did not log 'RPCSEC/GSS credential too large' within 30 s"
            return 1
        fi
        sleep 1
        waited=$((waited + 1))
    done
}

# ------------------------------------------------------------ benchmark

bench_user() { printf 'bench%03d' "$1"; }

bench_total_users() {
    local count total=0
    for count in $BENCH_USERS; do
        total=$((total + count))
    done
    echo "$total"
}

# Gets every benchmark user a TGT, eight kinit processes at a time, into
# BENCH_CACHES. Each round copies the caches it needs to /tmp, so that every
# round starts from caches that hold only the TGT.
kinit_bench_users() {
    local total=$1 i user missing=0 batch=()
    mkdir -m 1777 "$BENCH_CACHES"
    for ((i = 1; i <= total; i++)); do
        user=$(bench_user "$i")
        printf '%s\n' "$USER_PASSWORD" |
            as_user "$user" kinit -c "FILE:$BENCH_CACHES/krb5cc_$((BENCH_UID_BASE + i))" "$user@$REALM" > /dev/null &
        batch+=($!)
        # A bare wait would also wait for the daemons, which never end.
        if [ ${#batch[@]} = 8 ] || [ "$i" = "$total" ]; then
            wait "${batch[@]}"
            batch=()
        fi
    done
    for ((i = 1; i <= total; i++)); do
        [ -s "$BENCH_CACHES/krb5cc_$((BENCH_UID_BASE + i))" ] || missing=$((missing + 1))
    done
    if [ "$missing" != 0 ]; then
        echo "kinit failed for $missing of $total benchmark users"
        return 1
    fi
}

# Stops the running GSS daemons and starts the pair PAIR (rgssd or
# nfs-utils) on both sides, without verbose logging.
start_bench_pair() {
    local pair=$1 pid
    for pid in $BENCH_DAEMON_PIDS; do
        kill "$pid" 2> /dev/null
        wait "$pid" 2> /dev/null
    done
    GSSD=$pair
    SVCGSSD=$pair
    set_daemon_commands
    start_gss_daemon "svcgssd-bench-$pair" "${SVCGSSD_COMMAND[@]}"
    BENCH_SVCGSSD_PID=${DAEMON_PIDS[-1]}
    start_gss_daemon "gssd-bench-$pair" "${GSSD_COMMAND[@]}"
    BENCH_GSSD_PID=${DAEMON_PIDS[-1]}
    BENCH_DAEMON_PIDS="$BENCH_SVCGSSD_PID $BENCH_GSSD_PID"
    wait_until 10 fd_open auth.rpcsec.init/channel || return 1
    wait_until 10 fd_open "rpc_pipefs/gssd/clnt" || return 1
}

# Peak resident set size of process PID in KiB (VmHWM).
peak_rss_kib() { awk '$1 == "VmHWM:" { print $2 }' "/proc/$1/status"; }

bench_record() {
    say "BENCH $*"
    echo "$*" >> "$LOGS/bench.txt"
}

# bench_round PAIR FIRST COUNT: on a fresh mount, benchmark users FIRST to
# FIRST+COUNT-1 run ls at the same moment, which is the first access of each.
# Users that fail run ls again, in waves one second apart, for at most
# BENCH_RETRY_SECONDS. Records the time of the first wave and the time until
# every user succeeded.
bench_round() {
    local pair=$1 first=$2 count=$3 vers=${NFS_VERS%% *} sec=${SECS%% *}
    local i user caches=() pending=() failed=() pids=() index
    mount_export "$vers" "$sec" || return 1
    for ((i = first; i < first + count; i++)); do
        caches+=("$BENCH_CACHES/krb5cc_$((BENCH_UID_BASE + i))")
        pending+=("$(bench_user "$i")")
    done
    cp -p "${caches[@]}" /tmp/ || return 1

    local start wave=0 first_wave='' first_failed=''
    start=${EPOCHREALTIME/./}
    while [ ${#pending[@]} -gt 0 ]; do
        wave=$((wave + 1))
        pids=()
        for user in "${pending[@]}"; do
            as_user "$user" ls "$MNT/bench" > /dev/null 2>> "$LOGS/bench-errors.txt" &
            pids+=($!)
        done
        failed=()
        for index in "${!pids[@]}"; do
            wait "${pids[$index]}" || failed+=("${pending[$index]}")
        done
        if [ "$wave" = 1 ]; then
            first_wave=$(elapsed "$start")
            first_failed=${#failed[@]}
        fi
        pending=("${failed[@]}")
        if [ ${#pending[@]} -gt 0 ]; then
            [ $((${EPOCHREALTIME/./} - start)) -lt $((BENCH_RETRY_SECONDS * 1000000)) ] || break
            sleep 1
        fi
    done
    local all
    all=$(elapsed "$start")
    limit umount "$MNT" || say "umount after the benchmark round failed"

    bench_record "pair=$pair users=$count first_wave_s=$first_wave first_wave_failed=$first_failed" \
        "all_succeeded_s=$all waves=$wave still_failing=${#pending[@]}"
    if [ ${#pending[@]} != 0 ]; then
        echo "${#pending[@]} of $count users still failed after ${BENCH_RETRY_SECONDS}s"
        return 1
    fi
}

# For each pair of BENCH_PAIRS in turn, one round per count of BENCH_USERS,
# each with users that have not accessed the mount before in this pair.
# Both pairs use the same users, with caches restored to the TGT only.
run_benchmark() {
    local pair count first
    mkdir -p "$EXPORT/bench"
    : > "$LOGS/bench.txt"
    for pair in $BENCH_PAIRS; do
        if ! check "benchmark: $pair daemons started" start_bench_pair "$pair"; then
            continue
        fi
        first=1
        for count in $BENCH_USERS; do
            check "benchmark: $pair, $count users list the mount at once" bench_round "$pair" "$first" "$count"
            first=$((first + count))
        done
        bench_record "pair=$pair gssd_vmhwm_kib=$(peak_rss_kib "$BENCH_GSSD_PID")" \
            "svcgssd_vmhwm_kib=$(peak_rss_kib "$BENCH_SVCGSSD_PID")"
    done
}

# --------------------------------------------------------------- ending

save_state() {
    local file
    {
        for file in /proc/net/rpc/use-gss-proxy /proc/fs/nfsd/supported_krb5_enctypes \
            /proc/fs/nfsd/versions /proc/sys/sunrpc/rpc_debug /proc/sys/sunrpc/nfsd_debug; do
            printf '%s: %s\n' "$file" "$(cat "$file" 2>&1)"
        done
        echo "kernel: $(uname -r)"
    } > "$LOGS/kernel-state.txt"
    cat /proc/net/rpc/auth.rpcsec.context/content > "$LOGS/rpcsec-context-cache.txt" 2>&1
    cat /proc/net/rpc/auth.rpcsec.init/content > "$LOGS/rpcsec-init-cache.txt" 2>&1
    awk '$1 == "name" { name = $3 } $1 == "driver" { print name, $3 }' /proc/crypto |
        grep -E 'aes|sha|cts' > "$LOGS/crypto-drivers.txt"
    cp /etc/krb5.conf /etc/krb5kdc/kdc.conf /etc/exports "$LOGS/" 2> /dev/null
    lsmod > "$LOGS/lsmod.txt" 2>&1
}

finish() {
    local mount_point pid
    while read -r mount_point; do
        timeout -k 2 10 umount -f "$mount_point" || say "umount -f $mount_point failed"
    done < <(awk '$3 == "nfs" || $3 == "nfs4" { print $2 }' /proc/mounts | sort -r)
    save_state
    for pid in "${DAEMON_PIDS[@]}"; do
        kill "$pid" 2> /dev/null
    done
    sleep 0.5
    echo "$PASSED passed, $FAILED failed"
    [ "$FAILED" = 0 ] && [ "$PASSED" -gt 0 ]
    exit
}

# ----------------------------------------------------------------- main

mkdir -p "$LOGS"
BENCH_TOTAL_USERS=$(bench_total_users)
say "gssd=$GSSD svcgssd=$SVCGSSD svcgssd_mode=$SVCGSSD_MODE kinit=$KINIT enctypes=$ENCTYPES secs='$SECS' vers='$NFS_VERS'"
set_daemon_commands
say "gssd command: ${GSSD_COMMAND[*]}"
say "svcgssd command: ${SVCGSSD_COMMAND[*]}"
setup_identity
write_krb5_config

check "realm and keytab created" create_realm || finish
start_daemon krb5kdc krb5kdc -n
check "krb5kdc listening" wait_until 10 port_open 88 || finish

expected_enctype=aes256-cts-hmac-sha1-96
[ "$ENCTYPES" = aes-sha2 ] && expected_enctype=aes256-cts-hmac-sha384-192
check "alice kinit with password" kinit_user alice
check "alice's TGT has $expected_enctype" ticket_enctype_is alice "$expected_enctype"
CAROL_KINIT_SECONDS=$SECONDS
check "carol kinit (ticket life ${CAROL_MAX_LIFE}s)" kinit_user carol

check "kernel modules loaded" load_kernel_modules || finish
say "use-gss-proxy before any daemon: $(cat /proc/net/rpc/use-gss-proxy)"
say "nfsd supported_krb5_enctypes: $(cat /proc/fs/nfsd/supported_krb5_enctypes)"
check "NFS server started with svcgssd" start_server || finish
check "gssd started" start_client || finish

head -c 4194304 /dev/urandom > "$TEST_FILE"
chmod 644 "$TEST_FILE"
TEST_FILE_SUM=$(sha256sum < "$TEST_FILE")
TEST_FILE_SUM=${TEST_FILE_SUM%% *}

if [ -n "$BENCH_USERS" ]; then
    check "$BENCH_TOTAL_USERS benchmark users kinit" kinit_bench_users "$BENCH_TOTAL_USERS" || finish
    BENCH_DAEMON_PIDS="$SVCGSSD_PID $GSSD_PID"
    run_benchmark
else
    run_matrix
    test_user_cases
fi

if [ "$SVCGSSD_MODE" = proxy ]; then
    check "use-gss-proxy is 1 (gss-proxy socket)" gss_proxy_mode_is 1
else
    check "use-gss-proxy is 0 (legacy svcgssd upcall)" gss_proxy_mode_is 0
fi
finish
