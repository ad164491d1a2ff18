#!/usr/bin/env bash
# regress.sh [--asan] [TEST...]: pg_regress over sql/[0-9]*.sql (or the
# named tests) against a throwaway cluster and sandbox.  Ends with
# "N passed, N failed".  --asan: the extension built with ASan and UBSan
# (test/lib/asan.sh); any sanitizer report in the server log is one more
# failure.
set -u
asan=
if [ "${1:-}" = --asan ]; then
	asan=1
	shift
	. "$(dirname "$0")/lib/asan.sh"
fi
. "$(dirname "$0")/lib/common.sh"
cd "$ZCRM_ROOT"

if [ $# -gt 0 ]; then
	tests=("$@")
else
	tests=()
	for f in sql/[0-9]*.sql; do tests+=("$(basename "$f" .sql)"); done
fi
[ "${tests[0]}" = 00_setup ] || tests=(00_setup "${tests[@]}")

if [ -n "$asan" ]; then
	trap zcrm_asan_cleanup EXIT
	zcrm_ensure_packages && zcrm_asan_build_install || exit 1
	zcrm_start_env
	rc=$?
	trap 'zcrm_stop_env; zcrm_asan_cleanup' EXIT	# zcrm_start_env set its own
	[ "$rc" -eq 0 ] || exit 1
else
	zcrm_ensure_packages && zcrm_build_install || exit 1
	zcrm_start_env || exit 1
fi

# ZCRM_REGRESS_OUT: where results/ and regression.diffs go (default: here)
outdir=${ZCRM_REGRESS_OUT:-.}
mkdir -p "$outdir"
rm -rf "$outdir/results" "$outdir/regression.diffs" "$outdir/regression.out"
"$(zcrm_pg_config --pkglibdir)/pgxs/src/test/regress/pg_regress" \
	--use-existing --dbname=regression --inputdir=. --outputdir="$outdir" \
	--bindir="$(zcrm_pg_bindir)" --host="$PGHOST" --port="$PGPORT" --user=postgres \
	"${tests[@]}" | tee "$ZCRM_TEST_TMP/regress.out"
passed=$(grep -cE '^(ok|test|     ).*\.\.\. ok|^ok ' "$ZCRM_TEST_TMP/regress.out")
failed=$(grep -cE '\.\.\. FAILED|^not ok ' "$ZCRM_TEST_TMP/regress.out")
# a worker round that hit an ERROR is recovered from (its rows are sent
# again), so an expected file can hide a broken statement: count it
werr=$(grep -c 'massupdate worker ERROR' "$ZCRM_TEST_TMP/pg.log")
if [ "$werr" -gt 0 ]; then
	grep -m 5 'massupdate worker ERROR' "$ZCRM_TEST_TMP/pg.log"
	echo "not ok - the worker logged $werr ERROR lines"
	failed=$((failed + 1))
else
	passed=$((passed + 1))
fi
if [ "$failed" -gt 0 ] && [ -f "$outdir/regression.diffs" ]; then
	head -c 20000 "$outdir/regression.diffs"
fi
# the sanitizers report on the processes' stderr, i.e. the server log:
# stop the server first so that reports made while stopping count too
if [ -n "$asan" ]; then
	as_postgres "$(zcrm_pg_bindir)/pg_ctl" -D "$ZCRM_TEST_TMP/data" -m fast -w -t 60 stop >/dev/null
fi
if [ -n "$asan" ] && zcrm_asan_reports "$ZCRM_TEST_TMP/pg.log" >"$ZCRM_TEST_TMP/asan.txt"; then
	echo "not ok - sanitizer reports in the server log:"
	head -c 20000 "$ZCRM_TEST_TMP/asan.txt"
	failed=$((failed + 1))
fi
if [ "$failed" -gt 0 ]; then
	echo "--- server log (tail) ---"
	tail -n 40 "$ZCRM_TEST_TMP/pg.log"
fi
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
