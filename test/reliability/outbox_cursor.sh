#!/usr/bin/env bash
# The worker's claim cursor (src/worker_claim.c) never leaves a row behind:
#   1. a transaction that drew its outbox id before another but commits
#      after the worker has sent the other's row: its row is sent, promptly
#      (naptime 1 h: only the commit-time report can bring it, not a poll);
#   2. a failed row requeued by zcrm_outbox_retry after the cursor has moved
#      on: sent promptly (naptime 1 h again);
#   3. a row locked by someone else when the worker passes it (FOR UPDATE
#      SKIP LOCKED skips it): still pending while locked, sent once the lock
#      is gone, found by the cursor's audit (naptime 200 ms: every 1.2 s);
#   4. an older row of a record and field that commits while the worker is
#      busy, before a newer row of the same record and field is queued: it
#      is never sent after the newer one (it joins the newer one's batch and
#      is superseded), with batches of 3 so that the worker is mid-way
#      through older rows when it commits;
#   5. the same while the worker is sweeping the rows of another late
#      transaction: the older row is swept before the newer one is taken;
#   6. a new worker finds a row left "sending" above a row in a long
#      back-off: it sends the one at once and leaves the other in back-off.
set -u
. "$(dirname "$0")/helpers.bash"

R=4150868000300000001	# records R .. R+19
setup_outbox
make_records 20 $R
rec() { echo $((R + $1)); }
crm_city() {
	sbx_get "records/Leads/$1" | python3 -c "import json,sys; print(json.load(sys.stdin)['record'].get('City'))"
}
row() { q "SELECT $2 FROM zcrm_outbox WHERE record_id = $1 ORDER BY id DESC LIMIT 1"; }
sent() { wait_sql "$2" "EXISTS (SELECT 1 FROM zcrm_outbox WHERE record_id = $1 AND state = 'sent')"; }
# setting NAME VALUE: ALTER SYSTEM SET massupdate.NAME (RESET without a
# value) and reload; the worker takes it within a moment
setting() {
	if [ $# -gt 1 ]; then
		q "ALTER SYSTEM SET massupdate.$1 = '$2'"
	else
		q "ALTER SYSTEM RESET massupdate.$1"
	fi
	q "SELECT pg_reload_conf()" >/dev/null
	sleep 0.3
}

# open_session, say, await, close_session: helpers.bash

# newer_wins NAME RECORD: queue a newer City of the record and let the
# slowed sandbox go; the record's older row ends superseded, never sent
# after the newer one
newer_wins() {
	q "SELECT zcrm_enqueue('Leads', $2, '{\"City\": \"new\"}')" >/dev/null
	sbx_post faults '{"latency_ms": 0}' >/dev/null
	check "$1: everything is drained" \
		wait_sql 60 "NOT EXISTS (SELECT 1 FROM zcrm_outbox WHERE state IN ('pending', 'sending'))"
	check "$1: the older row is superseded" \
		test "$(q "SELECT state FROM zcrm_outbox WHERE record_id = $2 ORDER BY id LIMIT 1")" = superseded
	check "$1: the CRM has the newer value" test "$(crm_city "$2")" = new
}

# -- 1. late commit -----------------------------------------------------------
setting naptime 1h
open_session A
say A "BEGIN;"
say A "SELECT zcrm_enqueue('Leads', $(rec 1), '{\"City\": \"late\"}');"
check "late commit: the first transaction has drawn its id" await A queued
q "SELECT zcrm_enqueue('Leads', $(rec 2), '{\"City\": \"early\"}')" >/dev/null
check "late commit: the later-drawn row is sent first" sent "$(rec 2)" 20
say A "COMMIT;"
check "late commit: the first transaction has committed" await A committed
check "late commit: its row is sent too, well within the naptime" sent "$(rec 1)" 20
check "late commit: its id is the lower one" \
	test "$(q "SELECT (SELECT id FROM zcrm_outbox WHERE record_id = $(rec 1)) < (SELECT id FROM zcrm_outbox WHERE record_id = $(rec 2))")" = t
check "late commit: the CRM has its value" test "$(crm_city "$(rec 1)")" = late
close_session A

# -- 2. a failed row requeued after the cursor moved on -----------------------
setting max_attempts 1
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
setting max_attempts

# -- 3. a row locked when the worker passes it -------------------------------
setting naptime 200ms
# keep the worker inside one slow call while the rows are set up
sbx_post faults '{"latency_ms": 3000}' >/dev/null
q "SELECT zcrm_enqueue('Leads', $(rec 5), '{\"City\": \"holder\"}')" >/dev/null
check "lock: the worker is in a slow call" \
	wait_sql 20 "EXISTS (SELECT 1 FROM zcrm_outbox WHERE record_id = $(rec 5) AND state = 'sending')"
q "SELECT zcrm_enqueue('Leads', $(rec 6), '{\"City\": \"locked\"}')" >/dev/null
open_session A
say A "BEGIN;"
say A "SELECT id FROM zcrm_outbox WHERE record_id = $(rec 6) FOR UPDATE;"
check "lock: another session holds the row's lock" await A locked
q "SELECT zcrm_enqueue('Leads', $(rec 7), '{\"City\": \"passed\"}')" >/dev/null
sbx_post faults '{"latency_ms": 0}' >/dev/null
check "lock: the row after it is sent" sent "$(rec 7)" 30
sleep 2	# two audits' time: the locked row must stay untouched meanwhile
check "lock: the locked row is still pending" test "$(row "$(rec 6)" state)" = pending
say A "ROLLBACK;"
check "lock: the lock is gone" await A released
check "lock: the row is sent once the lock is gone" sent "$(rec 6)" 20
check "lock: the CRM has its value" test "$(crm_city "$(rec 6)")" = locked
close_session A

# -- 4. an older row committed while the worker is busy ----------------------
setting batch_size 3
setting naptime 1h
sbx_post faults '{"latency_ms": 3000}' >/dev/null
open_session A
say A "BEGIN;"
say A "SELECT zcrm_enqueue('Leads', $(rec 10), '{\"City\": \"old\"}');"
check "order: the older row's transaction has drawn its id" await A queued
# a new worker, then six rows of other records it takes three at a time
q "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE backend_type = 'massupdate worker'" >/dev/null
q "SELECT zcrm_enqueue('Leads', r, '{\"City\": \"other\"}') FROM generate_series($(rec 11), $(rec 16)) r" >/dev/null
check "order: the worker is sending the other rows" \
	wait_sql 30 "(SELECT count(*) FROM zcrm_outbox WHERE record_id BETWEEN $(rec 11) AND $(rec 16) AND state = 'sending') >= 3"
say A "COMMIT;"
check "order: the older row has committed" await A committed
newer_wins order "$(rec 10)"
close_session A

# -- 5. an older row committed while the worker sweeps other late rows ------
sbx_post faults '{"latency_ms": 3000}' >/dev/null
open_session A
open_session B
say A "BEGIN;"
say A "SELECT zcrm_enqueue('Leads', $(rec 18), '{\"City\": \"old\"}');"
check "sweep: the older row's transaction has drawn its id" await A queued5
say B "BEGIN;"
say B "SELECT zcrm_enqueue('Leads', r, '{\"City\": \"swept\"}') FROM generate_series($(rec 11), $(rec 16)) r;"
check "sweep: another transaction has drawn six ids after it" await B queued5
q "SELECT zcrm_enqueue('Leads', $(rec 19), '{\"City\": \"holder\"}')" >/dev/null
check "sweep: the worker has passed both (a later row is in a slow call)" \
	wait_sql 30 "EXISTS (SELECT 1 FROM zcrm_outbox WHERE record_id = $(rec 19) AND state = 'sending')"
say B "COMMIT;"
check "sweep: the six rows have committed" await B committed5
check "sweep: the worker is sweeping them, three at a time" \
	wait_sql 30 "(SELECT count(*) FROM zcrm_outbox WHERE value = '\"swept\"' AND state = 'sending') >= 3"
say A "COMMIT;"
check "sweep: the older row has committed" await A committed5
newer_wins sweep "$(rec 18)"
close_session A
close_session B
setting batch_size

# -- 6. a new worker, a row in back-off below a row left sending ------------
setting retry_base 1h
sbx_post faults '{"error_rate": 1.0, "error_status": 503}' >/dev/null
q "SELECT zcrm_enqueue('Leads', $(rec 12), '{\"City\": \"backoff\"}')" >/dev/null
check "restart: a row in a one-hour back-off" \
	wait_sql 20 "EXISTS (SELECT 1 FROM zcrm_outbox WHERE record_id = $(rec 12) AND state = 'pending' AND attempts = 1)"
sbx_post faults '{"error_rate": 0, "latency_ms": 3000}' >/dev/null
q "SELECT zcrm_enqueue('Leads', $(rec 13), '{\"City\": \"resent\"}')" >/dev/null
check "restart: a later row in a slow call" \
	wait_sql 20 "EXISTS (SELECT 1 FROM zcrm_outbox WHERE record_id = $(rec 13) AND state = 'sending')"
q "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE backend_type = 'massupdate worker'" >/dev/null
sbx_post faults '{"latency_ms": 0}' >/dev/null
check "restart: the new worker sends the row left sending, well within the naptime" \
	wait_sql 20 "EXISTS (SELECT 1 FROM zcrm_outbox WHERE record_id = $(rec 13) AND state = 'sent' AND attempts = 2)"
check "restart: the row in back-off stays in back-off" \
	test "$(row "$(rec 12)" "state || ' ' || attempts")" = "pending 1"
setting retry_base

summary
