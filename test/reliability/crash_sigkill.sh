#!/usr/bin/env bash
# Crash safety (issue 4, point 4): 20,000 queued changes, a slowed sandbox,
# the worker killed with SIGKILL mid-drain (the postmaster then restarts
# the whole cluster).  Afterwards every change is delivered and nothing is
# left pending or sending.
set -u
. "$(dirname "$0")/helpers.bash"
. "$REL_DIR/crash_common.bash"

crash_prepare
pid=$(worker_pid)
check "worker found before the crash" test -n "$pid"
kill -KILL "$pid"
echo "# killed worker $pid with SIGKILL"
check "cluster accepts connections again" wait_sql 60 "true"
check "a new worker runs" wait_sql 60 "EXISTS (SELECT 1 FROM pg_stat_activity WHERE backend_type = 'massupdate worker' AND pid <> $pid)"
crash_verify
summary
