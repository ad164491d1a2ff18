#!/usr/bin/env bash
# The audit's M2: a prepared transaction's change is reported to the worker
# at COMMIT PREPARED like any commit, so the CRM ends with the value of the
# last committed change.  The audit's sequence on a captured table:
#   1. session 1: BEGIN; UPDATE city = 'A-old'; PREPARE TRANSACTION;
#   2. another change, of another record, is queued and sent (the worker's
#      cursor moves past A-old's id);
#   3. session 2 updates the same row to 'B-new' (it waits on the prepared
#      transaction's row lock);
#   4. COMMIT PREPARED from a third session, then session 2 commits;
#   5. well beyond the worker's audit (every six naptimes), the CRM holds
#      B-new, and A-old is superseded (or was sent before B-new).
# And the same with the server restarted between PREPARE TRANSACTION and
# COMMIT PREPARED (prepared transactions survive a restart).
set -u
. "$(dirname "$0")/helpers.bash"
. "$(dirname "$0")/owners_common.bash"

R=4150868000510000001	# records R .. R+3
rec() { echo $((R + $1)); }
bindir=$("${PG_CONFIG:-pg_config}" --bindir)
restart() {
	(cd / && runuser -u postgres -- "$bindir/pg_ctl" -D "$ZCRM_TEST_TMP/data" -m fast -w -t 60 \
		-l "$ZCRM_TEST_TMP/pg.log" restart >/dev/null)
}

setup_outbox
make_records 4 $R
q "ALTER SYSTEM SET max_prepared_transactions = 10" >/dev/null
restart
check "restart: the cluster is back" wait_sql 60 "true"
check "restart: max_prepared_transactions is 10" test "$(q "SHOW max_prepared_transactions")" = 10
check "restart: the worker runs" \
	wait_sql 60 "EXISTS (SELECT 1 FROM pg_stat_activity WHERE backend_type = 'massupdate worker')"
psql -X -q -v ON_ERROR_STOP=1 <<SQL >/dev/null
CREATE TABLE leads2pc (id int PRIMARY KEY, crm_id bigint, city text);
INSERT INTO leads2pc SELECT g, $R + g - 1, NULL FROM generate_series(1, 4) g;
SELECT zcrm_capture_table('leads2pc', 'Leads', 'crm_id', '{"city": "City"}');
SQL

# run_case NAME GID ROW OTHER_ROW OLD NEW RESTART: the audit's sequence
# on leads2pc row ROW (and OTHER_ROW for step 2), restarting the server
# after PREPARE TRANSACTION if RESTART is "restart"
run_case() {
	local name=$1 gid=$2 row=$3 other=$4 old=$5 new=$6 restart=$7 crm r_old r_new st_old
	crm=$(rec $((row - 1)))
	# 1. a prepared transaction changes the row
	psql -X -q -v ON_ERROR_STOP=1 <<SQL >/dev/null
BEGIN;
UPDATE leads2pc SET city = '$old' WHERE id = $row;
PREPARE TRANSACTION '$gid';
SQL
	check "$name: the transaction is prepared" \
		test "$(q "SELECT count(*) FROM pg_prepared_xacts WHERE gid = '$gid'")" = 1
	if [ "$restart" = restart ]; then
		restart
		check "$name: the cluster is back after a restart" wait_sql 60 "true"
		check "$name: the worker runs again" \
			wait_sql 60 "EXISTS (SELECT 1 FROM pg_stat_activity WHERE backend_type = 'massupdate worker')"
		check "$name: the prepared transaction survived the restart" \
			test "$(q "SELECT count(*) FROM pg_prepared_xacts WHERE gid = '$gid'")" = 1
	fi
	# 2. another record's change is queued and sent
	q "UPDATE leads2pc SET city = '$name-other' WHERE id = $other"
	check "$name: another record's change is sent" \
		wait_sql 30 "EXISTS (SELECT 1 FROM zcrm_outbox WHERE value = '\"$name-other\"' AND state = 'sent')"
	# 3. a second session changes the same row: it waits on the row lock
	open_session S2
	say S2 "BEGIN;"
	say S2 "UPDATE leads2pc SET city = '$new' WHERE id = $row;"
	check "$name: the second session waits on the prepared transaction's lock" \
		wait_sql 30 "EXISTS (SELECT 1 FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE 'UPDATE leads2pc%$new%')"
	# 4. COMMIT PREPARED from a third session, then the second commits
	q "COMMIT PREPARED '$gid'"
	say S2 "COMMIT;"
	check "$name: the second session has committed" await S2 "committed-$name"
	close_session S2
	check "$name: the table holds $new" test "$(q "SELECT city FROM leads2pc WHERE id = $row")" = "$new"
	r_old=$(q "SELECT id FROM zcrm_outbox WHERE record_id = $crm AND value = '\"$old\"'")
	r_new=$(q "SELECT id FROM zcrm_outbox WHERE record_id = $crm AND value = '\"$new\"'")
	check "$name: both changes are queued, $old the older ($r_old < $r_new)" \
		eval '[ -n "$r_old" ] && [ -n "$r_new" ] && [ "$r_old" -lt "$r_new" ]'
	# 5. well beyond the audit (six naptimes of 200 ms)
	check "$name: both rows settle" \
		wait_sql 60 "NOT EXISTS (SELECT 1 FROM zcrm_outbox WHERE record_id = $crm AND state IN ('pending', 'sending'))"
	sleep 5
	check "$name: still nothing pending or sending 5 s later" \
		test "$(q "SELECT count(*) FROM zcrm_outbox WHERE record_id = $crm AND state IN ('pending', 'sending')")" = 0
	outbox_rows "record_id = $crm"
	sbx_calls "$crm" City "$old" | sed "s/^/# $name: $old call: /"
	sbx_calls "$crm" City "$new" | sed "s/^/# $name: $new call: /"
	check "$name: the CRM holds $new ($(crm_field "$crm" City))" test "$(crm_field "$crm" City)" = "$new"
	check "$name: $new is sent" \
		test "$(q "SELECT state FROM zcrm_outbox WHERE record_id = $crm AND value = '\"$new\"'")" = sent
	st_old=$(q "SELECT state FROM zcrm_outbox WHERE record_id = $crm AND value = '\"$old\"'")
	old_last=$(last_ok_seq "$crm" City "$old")
	new_first=$(first_ok_seq "$crm" City "$new")
	check "$name: $old is superseded, or was sent before $new ($st_old)" \
		eval '[ "$st_old" = superseded ] && [ -z "$old_last" ] ||
			{ [ "$st_old" = sent ] && [ -n "$old_last" ] && [ -n "$new_first" ] && [ "$old_last" -lt "$new_first" ]; }'
}

run_case prepared p1 1 2 A-old B-new no
run_case restarted p2 3 4 A2-old B2-new restart

summary
