#!/bin/sh
# Stand-in for the rgssd binary that forwards each subcommand to nfs-utils or
# MIT krb5. With RGSSD_BIN pointing here, a run checks the harness's rgssd
# path (binary copy, subcommands, arguments) before rgssd implements them:
#   RGSSD_BIN=tests/vm/rgssd-stand-in.sh GSSD=rgssd SVCGSSD=rgssd KINIT=rgssd tests/vm/run.sh
set -eu
command=${1:-}
[ $# -gt 0 ] && shift
case $command in
    gssd) exec /usr/sbin/rpc.gssd "$@" ;;
    svcgssd) exec /usr/sbin/rpc.svcgssd "$@" ;;
    kinit) exec /usr/bin/kinit "$@" ;;
    *)
        echo "rgssd-stand-in: unknown subcommand '$command': use gssd, svcgssd or kinit" >&2
        exit 2
        ;;
esac
