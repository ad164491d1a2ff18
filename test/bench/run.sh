#!/usr/bin/env bash
# make bench: every benchmark, each printing its figures.  Not part of CI.
set -u
cd "$(dirname "$0")/../.."
. test/lib/common.sh
zcrm_ensure_packages || exit 1
make -s -j2 >/dev/null || exit 1
for b in test/bench/*_bench.sh; do
	[ -f "$b" ] || continue
	echo "=== $b"
	bash "$b"
done
