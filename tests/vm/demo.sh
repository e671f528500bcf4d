#!/bin/bash
# One-command demonstration of rgssd on a fresh Debian 12 machine (x86_64),
# run as root from anywhere:
#
#   tests/vm/demo.sh
#
# It installs a C linker and curl when they are missing, and Rust's stable
# toolchain through rustup when cargo is missing or older than the
# workspace's rust-version. It then builds rgssd in release mode and runs
# tests/vm/run.sh with `rgssd gssd` and `rgssd svcgssd`, which boots Debian's
# 6.12 kernel under QEMU and mounts with sec=krb5, krb5i and krb5p. At the end
# it prints what the guest did. Every variable of run.sh (docs/vm.md) passes
# through, for example SECS=krb5p NFS_VERS=4.2 for a shorter run.
# The exit status is run.sh's: 0 when every check passed.
set -euo pipefail

REPO_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
MIN_RUST=1.85

say() { printf '[demo %(%H:%M:%S)T] %s\n' -1 "$*" >&2; }
die() {
    say "error: $*"
    exit 2
}

[ "$(id -u)" = 0 ] || die "demo.sh must run as root (it installs packages and starts QEMU)"
[ "$(uname -m)" = x86_64 ] || die "demo.sh needs an x86_64 host, this one is $(uname -m)"

install_build_tools() {
    local missing=()
    command -v cc > /dev/null || missing+=(build-essential)
    command -v curl > /dev/null || missing+=(curl ca-certificates)
    [ ${#missing[@]} -gt 0 ] || return 0
    say "installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update
    apt-get install -y --no-install-recommends -o DPkg::Lock::Timeout=300 "${missing[@]}"
}

# Succeeds when cargo runs and its version is at least MIN_RUST.
cargo_is_recent() {
    local version
    version=$(cargo --version 2> /dev/null | awk '{ print $2 }') || return 1
    [ -n "$version" ] || return 1
    [ "$(printf '%s\n%s\n' "$MIN_RUST" "$version" | sort -V | head -n 1)" = "$MIN_RUST" ]
}

install_rust() {
    if [ -x "$HOME/.cargo/bin/cargo" ]; then
        export PATH="$HOME/.cargo/bin:$PATH"
    fi
    cargo_is_recent && return 0
    say "installing Rust's stable toolchain with rustup into $HOME/.cargo (Debian's rustc is older than $MIN_RUST)"
    curl --proto '=https' --tlsv1.2 -sSf https://static.rust-lang.org/rustup/rustup-init.sh |
        sh -s -- -y --profile minimal --default-toolchain stable
    export PATH="$HOME/.cargo/bin:$PATH"
    cargo_is_recent || die "cargo $MIN_RUST or later is still not on PATH after rustup; see $HOME/.cargo/bin"
}

# Prints the run folder's record of the guest: kernel, daemons, mounts and
# the result of every check.
report() {
    local run_dir=$1 status=$2 logs=$1/logs
    echo
    echo "What happened in the guest (logs in $run_dir):"
    if [ -f "$logs/kernel-state.txt" ]; then
        echo "  guest $(grep '^kernel:' "$logs/kernel-state.txt"), client daemon 'rgssd gssd',"
        echo "  server daemon 'rgssd svcgssd', MIT krb5kdc on the guest's 127.0.0.1"
    fi
    if [ -s "$logs/mounts.txt" ]; then
        echo "  NFS mounts made, with the version and flavour from /proc/mounts:"
        awk '{
            vers = ""; sec = ""
            count = split($4, options, ",")
            for (i = 1; i <= count; i++) {
                if (options[i] ~ /^vers=/) vers = options[i]
                if (options[i] ~ /^sec=/) sec = options[i]
            }
            print "    " $1 " on " $2 ": " vers " " sec
        }' "$logs/mounts.txt"
    fi
    if [ -f "$logs/test.out" ]; then
        echo "  Checks:"
        grep -E '(PASS|FAIL) ' "$logs/test.out" | sed -E 's/^\[ *[0-9.]+s\] /    /'
        echo "  $(tail -n 1 "$logs/test.out")"
    fi
    if [ "$status" = 0 ]; then
        echo "Result: every check passed."
    else
        echo "Result: run.sh exited with status $status (1: a check failed, 2: setup failed, 3: no verdict)."
    fi
}

install_build_tools
install_rust
cd "$REPO_DIR"
say "building rgssd (cargo build --release; a few minutes on the first run)"
cargo build --release --bin rgssd

WORKDIR=${WORKDIR:-/var/tmp/rgssd-vm}
RUN_DIR=${RUN_DIR:-$WORKDIR/runs/$(date -u +%Y%m%dT%H%M%SZ)-demo}
# Installing Debian 12's QEMU may replace a newer qemu-utils that some
# images carry, which run.sh refuses without this; APT_ALLOW_REMOVE=0 keeps
# that refusal.
APT_ALLOW_REMOVE=${APT_ALLOW_REMOVE:-1}
export WORKDIR RUN_DIR APT_ALLOW_REMOVE
status=0
GSSD=rgssd SVCGSSD=rgssd RGSSD_BIN="$REPO_DIR/target/release/rgssd" "$REPO_DIR/tests/vm/run.sh" || status=$?
report "$RUN_DIR" "$status"
exit "$status"
