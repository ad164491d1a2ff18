#!/usr/bin/env bash
# Builds and runs every test/unit/test_*.c.  A test names the pure C
# sources it needs in a line "/* unit-sources: src/a.c src/b.c */".
set -u
cd "$(dirname "$0")/../.."
out=$(mktemp -d /tmp/massupdate-unit.XXXXXX)
trap 'rm -rf "$out"' EXIT
passed=0
failed=0

# Undefined behaviour stops a test (no -fwrapv here, unlike PGXS, so signed
# overflow is caught; float-cast-overflow is not part of "undefined").
SAN="-fsanitize=address,undefined,signed-integer-overflow,float-cast-overflow"
SAN="$SAN -fno-sanitize-recover=all -fno-wrapv"

# The sanitizers must really be on: a signed overflow has to stop this.
cat >"$out/canary.c" <<'CANARY'
#include <stdio.h>
#include <stdlib.h>
int main(int argc, char **argv)
{
	long long n = strtoll(argc > 1 ? argv[1] : "0", NULL, 10);
	printf("%lld\n", n * 1000);
	return 0;
}
CANARY
if gcc -std=gnu11 -O1 $SAN -o "$out/canary" "$out/canary.c" &&
	! "$out/canary" 9223372036854775807 >/dev/null 2>&1 &&
	"$out/canary" 5 >/dev/null 2>&1; then
	echo "ok - the unit build stops on signed overflow"
	passed=$((passed + 1))
else
	echo "not ok - the unit build does not stop on signed overflow"
	failed=$((failed + 1))
fi

for t in test/unit/test_*.c; do
	[ -f "$t" ] || continue
	name=$(basename "$t" .c)
	srcs=$(sed -n 's|.*unit-sources:\(.*\)\*/.*|\1|p' "$t")
	if ! gcc -std=gnu11 -O1 -g -Wall -Werror $SAN -Isrc \
		-o "$out/$name" "$t" $srcs -ljansson -lm 2>"$out/$name.cc"; then
		cat "$out/$name.cc"
		echo "not ok - $name: does not compile"
		failed=$((failed + 1))
		continue
	fi
	"$out/$name" | tee "$out/$name.log"
	line=$(grep -E '^[0-9]+ passed, [0-9]+ failed' "$out/$name.log" | tail -n 1)
	rc=${PIPESTATUS[0]}
	if [ -z "$line" ]; then
		echo "not ok - $name: printed no summary"
		failed=$((failed + 1))
		continue
	fi
	p=${line%% passed*}
	f=${line#*passed, }
	f=${f%% failed*}
	passed=$((passed + p))
	failed=$((failed + f))
done
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
