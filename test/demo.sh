#!/usr/bin/env bash
# make demo: the main job end to end on the sandbox.  Installs what is
# missing, builds and installs the extension, starts a throwaway cluster
# and the sandbox with its default organisation, runs test/demo.sql in
# psql, and stops everything (also on failure).
set -u
. "$(dirname "$0")/lib/common.sh"
cd "$ZCRM_ROOT"
zcrm_ensure_packages && zcrm_build_install || exit 1
zcrm_start_env || exit 1
echo "sandbox: $ZCRM_SANDBOX_URL    cluster: $PGHOST (throwaway)"
echo
start=$(date +%s%N)
psql -X -v ON_ERROR_STOP=1 -q -e -f test/demo.sql
rc=$?
echo
echo "demo took $(( ($(date +%s%N) - start) / 1000000 )) ms"
exit $rc
