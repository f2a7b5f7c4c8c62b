#!/bin/bash
# Run one documentation block inside a private mount + network namespace
# (test_docs.py starts this under `unshare -mn`, or `unshare -rmn` when not
# root): /dev/shm is a fresh tmpfs and the network has only its own loopback,
# so the block may use JACK's default server and client names (valar,
# sndfile-jackplay) and fixed ports (8080, 9000) exactly as a reader would,
# without meeting the JACK servers, clients and ports of tests running in
# parallel.
#   run_block.sh BLOCK_FILE JACK(0|1)
# With JACK=1 a `jackd -d dummy` (the server "default") runs around the block.
# The block runs with `set -e -o pipefail`; background jobs it leaves
# running are stopped with SIGTERM at the end and must exit 0 (or by that
# SIGTERM); a background job that failed on its own fails the block.
set -u
block=$1
mount -t tmpfs -o size=512m valar-docs /dev/shm || { echo "doc test: cannot mount /dev/shm"; exit 90; }
ip link set lo up || { echo "doc test: cannot bring up lo"; exit 91; }
unset JACK_DEFAULT_SERVER
export JACK_NO_START_SERVER=1
jd=
if [ "$2" = 1 ]; then
    jackd --no-realtime -d dummy -r 48000 -p 1024 >"$block.jackd.log" 2>&1 &
    jd=$!
    for _ in $(seq 300); do
        jack_lsp >/dev/null 2>&1 && break
        kill -0 "$jd" 2>/dev/null || break
        sleep 0.1
    done
    jack_lsp >/dev/null 2>&1 || { echo "doc test: jackd did not start"; cat "$block.jackd.log"; exit 92; }
fi

finish() {
    rc=$?
    set +e
    for p in $(jobs -p); do
        [ "$p" = "$jd" ] && continue
        kill -TERM "$p" 2>/dev/null
        wait "$p"
        st=$?
        case $st in
            0 | 143) ;;
            *) echo "doc test: a background job (pid $p) exited with status $st"
               [ "$rc" -ne 0 ] || rc=1 ;;
        esac
    done
    if [ -n "$jd" ]; then
        kill -TERM "$jd" 2>/dev/null
        wait "$jd"
    fi
    exit "$rc"
}
trap finish EXIT
set -e -o pipefail
# shellcheck disable=SC1090 # the block under test
. "$block"
