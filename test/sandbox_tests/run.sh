#!/bin/sh
# Black-box tests of zcrm-sandbox over real HTTP (python3 standard library only).
#
#   test/sandbox_tests/run.sh [BINARY...]
#
# Default binaries: test/sandbox/zcrm-sandbox and, when built,
# test/sandbox/zcrm-sandbox-asan (ASan/UBSan; any sanitizer report is a failed
# test). SANDBOX_TESTS_FILTER=regex runs only the tests whose name matches.
# Prints `ok - ...` / `not ok - ...: reason` per test and, last,
# `N passed, N failed`; exits non-zero on any failure.
set -u
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)

if ! command -v python3 >/dev/null 2>&1; then
	echo "not ok - python3: not installed (apt-get install -y python3)"
	echo "0 passed, 1 failed"
	exit 1
fi

if [ $# -eq 0 ]; then
	set -- "$root/test/sandbox/zcrm-sandbox"
	if [ -x "$root/test/sandbox/zcrm-sandbox-asan" ]; then
		set -- "$@" "$root/test/sandbox/zcrm-sandbox-asan"
	fi
fi

# main.py sets ASAN_OPTIONS / UBSAN_OPTIONS (detect_leaks=1, halt_on_error=0,
# log_path=<private tmpdir>/asan|ubsan) for each binary it runs.
exec python3 -B "$here/main.py" "$@"
