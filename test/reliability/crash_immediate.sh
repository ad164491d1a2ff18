#!/usr/bin/env bash
# Crash safety (issue 4, point 4): 20,000 queued changes, a slowed sandbox,
# the cluster stopped with pg_ctl -m immediate mid-drain and started
# again.  Afterwards every change is delivered and nothing is left pending
# or sending.
set -u
. "$(dirname "$0")/helpers.bash"
. "$REL_DIR/crash_common.bash"

crash_prepare
bindir=$("${PG_CONFIG:-pg_config}" --bindir)
runuser -u postgres -- "$bindir/pg_ctl" -D "$ZCRM_TEST_TMP/data" -m immediate -w stop >/dev/null
echo "# stopped the cluster with -m immediate"
check "cluster is down" bash -c "! psql -X -At -c 'SELECT 1' >/dev/null 2>&1"
runuser -u postgres -- "$bindir/pg_ctl" -D "$ZCRM_TEST_TMP/data" -l "$ZCRM_TEST_TMP/pg.log" -w -t 60 start >/dev/null
check "cluster accepts connections again" wait_sql 60 "true"
check "the worker runs again" wait_sql 60 "EXISTS (SELECT 1 FROM pg_stat_activity WHERE backend_type = 'massupdate worker')"
crash_verify
summary
