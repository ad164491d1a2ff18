#!/bin/sh
# zcrm-sandbox benchmark (called by `make bench` through test/bench/run.sh).
#
#   test/bench/sandbox_bench.sh [SANDBOX_BINARY [SECONDS [CLIENTS]]]
#
# Prints immediate mass-update calls per second (500 ids per call, 8 keep-alive
# clients, 5 s), the sandbox's resident memory with 1,000,000 records, and its
# start-to-first-line and SIGTERM-to-exit times.
set -u
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
binary=${1:-$root/test/sandbox/zcrm-sandbox}
seconds=${2:-5}
clients=${3:-8}

if [ ! -x "$binary" ]; then
	make -s -C "$root/test/sandbox" >/dev/null || exit 1
fi
tmp=$(mktemp -d /tmp/sandbox-bench.XXXXXX) || exit 1
trap 'rm -rf "$tmp"' EXIT INT TERM
cc -O2 -Wall -o "$tmp/sandbox_bench" "$here/sandbox_bench.c" -lcurl -pthread || exit 1
"$tmp/sandbox_bench" "$binary" "$seconds" "$clients"
