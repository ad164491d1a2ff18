#!/usr/bin/env bash
# Runs each test/reliability/*.sh (but this one) in its own throwaway
# cluster and sandbox, and sums their "N passed, N failed" lines.
set -u
cd "$(dirname "$0")/../.."
passed=0
failed=0
for t in test/reliability/*.sh; do
	[ "$(basename "$t")" = run.sh ] && continue
	echo "--- $t"
	log=$(mktemp)
	bash test/lib/with_cluster.sh bash "$t" 2>&1 | tee "$log"
	rc=${PIPESTATUS[0]}
	line=$(grep -E '^[0-9]+ passed, [0-9]+ failed' "$log" | tail -n 1)
	rm -f "$log"
	p=0
	f=0
	if [ -n "$line" ]; then
		p=${line%% passed*}
		f=${line#*passed, }
		f=${f%% failed*}
	fi
	[ "$rc" -ne 0 ] && [ "$f" -eq 0 ] && f=1
	passed=$((passed + p))
	failed=$((failed + f))
done
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
