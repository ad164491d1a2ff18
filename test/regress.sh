#!/usr/bin/env bash
# regress.sh [TEST...]: pg_regress over sql/[0-9]*.sql (or the named tests)
# against a throwaway cluster and sandbox.  Ends with "N passed, N failed".
set -u
. "$(dirname "$0")/lib/common.sh"
cd "$ZCRM_ROOT"

if [ $# -gt 0 ]; then
	tests=("$@")
else
	tests=()
	for f in sql/[0-9]*.sql; do tests+=("$(basename "$f" .sql)"); done
fi
[ "${tests[0]}" = 00_setup ] || tests=(00_setup "${tests[@]}")

zcrm_ensure_packages && zcrm_build_install || exit 1
zcrm_start_env || exit 1

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
if [ "$failed" -gt 0 ]; then
	echo "--- server log (tail) ---"
	tail -n 40 "$ZCRM_TEST_TMP/pg.log"
fi
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
