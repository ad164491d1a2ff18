#!/usr/bin/env bash
# The worker's claim cursor (src/worker_claim.c) never leaves a row behind:
#   1. a transaction that drew its outbox id before another but commits
#      after the worker has sent the other's row: its row is sent, promptly
#      (naptime 1 h: only the commit-time report can bring it, not a poll);
#   2. a failed row requeued by zcrm_outbox_retry after the cursor has moved
#      on: sent promptly (naptime 1 h again);
#   3. a row locked by someone else when the worker passes it (FOR UPDATE
#      SKIP LOCKED skips it): still pending while locked, sent once the lock
#      is gone, found by the cursor's audit (naptime 200 ms: every 1.2 s).
set -u
. "$(dirname "$0")/helpers.bash"

R=4150868000300000001	# records R .. R+9
setup_outbox
make_records 10 $R
rec() { echo $((R + $1)); }
crm_city() {
	sbx_get "records/Leads/$1" | python3 -c "import json,sys; print(json.load(sys.stdin)['record'].get('City'))"
}
row() { q "SELECT $2 FROM zcrm_outbox WHERE record_id = $1 ORDER BY id DESC LIMIT 1"; }
sent() { wait_sql "$2" "EXISTS (SELECT 1 FROM zcrm_outbox WHERE record_id = $1 AND state = 'sent')"; }
naptime() { q "ALTER SYSTEM SET massupdate.naptime = '$1'"; q "SELECT pg_reload_conf()" >/dev/null; }

# a second session, kept open: open_session; say SQL...; await WORD
open_session() { coproc SESSION { psql -X -q -At -v ON_ERROR_STOP=1 2>&1; }; }
say() { echo "$1" >&"${SESSION[1]}"; }
await() {
	local line
	say "SELECT '$1';"
	while read -r -t 30 line <&"${SESSION[0]}"; do
		[ "$line" = "$1" ] && return 0
	done
	return 1
}
close_session() { say '\q'; wait "$SESSION_PID" 2>/dev/null; }

# -- 1. late commit -----------------------------------------------------------
naptime 1h
sleep 0.3	# the worker takes the new naptime
open_session
say "BEGIN;"
say "SELECT zcrm_enqueue('Leads', $(rec 1), '{\"City\": \"late\"}');"
check "late commit: the first transaction has drawn its id" await queued
q "SELECT zcrm_enqueue('Leads', $(rec 2), '{\"City\": \"early\"}')" >/dev/null
check "late commit: the later-drawn row is sent first" sent "$(rec 2)" 20
say "COMMIT;"
check "late commit: the first transaction has committed" await committed
check "late commit: its row is sent too, well within the naptime" sent "$(rec 1)" 20
check "late commit: its id is the lower one" \
	test "$(q "SELECT (SELECT id FROM zcrm_outbox WHERE record_id = $(rec 1)) < (SELECT id FROM zcrm_outbox WHERE record_id = $(rec 2))")" = t
check "late commit: the CRM has its value" test "$(crm_city "$(rec 1)")" = late
close_session

# -- 2. a failed row requeued after the cursor moved on -----------------------
q "ALTER SYSTEM SET massupdate.max_attempts = 1" >/dev/null
q "SELECT pg_reload_conf()" >/dev/null
sbx_post faults '{"error_rate": 1.0, "error_status": 503}' >/dev/null
q "SELECT zcrm_enqueue('Leads', $(rec 3), '{\"City\": \"retried\"}')" >/dev/null
check "retry: the row fails after max_attempts" \
	wait_sql 20 "EXISTS (SELECT 1 FROM zcrm_outbox WHERE record_id = $(rec 3) AND state = 'failed')"
sbx_post faults '{"error_rate": 0}' >/dev/null
q "SELECT zcrm_enqueue('Leads', $(rec 4), '{\"City\": \"later\"}')" >/dev/null
check "retry: a later row is sent" sent "$(rec 4)" 20
check "retry: zcrm_outbox_retry requeues the failed row" \
	test "$(q "SELECT zcrm_outbox_retry(ARRAY(SELECT id FROM zcrm_outbox WHERE record_id = $(rec 3)))")" = 1
check "retry: the requeued row is sent, well within the naptime" sent "$(rec 3)" 20
check "retry: the CRM has its value" test "$(crm_city "$(rec 3)")" = retried
q "ALTER SYSTEM RESET massupdate.max_attempts" >/dev/null

# -- 3. a row locked when the worker passes it -------------------------------
naptime 200ms
sleep 0.3
# keep the worker inside one slow call while the rows are set up
sbx_post faults '{"latency_ms": 3000}' >/dev/null
q "SELECT zcrm_enqueue('Leads', $(rec 5), '{\"City\": \"holder\"}')" >/dev/null
check "lock: the worker is in a slow call" \
	wait_sql 20 "EXISTS (SELECT 1 FROM zcrm_outbox WHERE record_id = $(rec 5) AND state = 'sending')"
q "SELECT zcrm_enqueue('Leads', $(rec 6), '{\"City\": \"locked\"}')" >/dev/null
open_session
say "BEGIN;"
say "SELECT id FROM zcrm_outbox WHERE record_id = $(rec 6) FOR UPDATE;"
check "lock: another session holds the row's lock" await locked
q "SELECT zcrm_enqueue('Leads', $(rec 7), '{\"City\": \"passed\"}')" >/dev/null
sbx_post faults '{"latency_ms": 0}' >/dev/null
check "lock: the row after it is sent" sent "$(rec 7)" 30
sleep 2	# two audits' time: the locked row must stay untouched meanwhile
check "lock: the locked row is still pending" test "$(row "$(rec 6)" state)" = pending
say "ROLLBACK;"
check "lock: the lock is gone" await released
check "lock: the row is sent once the lock is gone" sent "$(rec 6)" 20
check "lock: the CRM has its value" test "$(crm_city "$(rec 6)")" = locked
close_session

summary
