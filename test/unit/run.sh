#!/usr/bin/env bash
# Builds and runs every test/unit/test_*.c.  A test names the pure C
# sources it needs in a line "/* unit-sources: src/a.c src/b.c */".
set -u
cd "$(dirname "$0")/../.."
out=$(mktemp -d /tmp/massupdate-unit.XXXXXX)
trap 'rm -rf "$out"' EXIT
passed=0
failed=0
for t in test/unit/test_*.c; do
	[ -f "$t" ] || continue
	name=$(basename "$t" .c)
	srcs=$(sed -n 's|.*unit-sources:\(.*\)\*/.*|\1|p' "$t")
	if ! gcc -std=gnu11 -O1 -g -Wall -Werror -fsanitize=address,undefined -Isrc \
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
