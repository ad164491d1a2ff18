#!/usr/bin/env bash
# A PREPARE TRANSACTION refused because its gid is in use (PostgreSQL checks
# the gid after the PRE_PREPARE callbacks) must not replace the report kept
# for the live prepared transaction of that gid: COMMIT PREPARED reports the
# real transaction's rows, and the older change is superseded by (or sent
# before) the newer one that waited for its lock, never sent after it.
# Found by review; failed before the fix (the CRM ended with A-old).
set -u
. "$(dirname "$0")/helpers.bash"
. "$(dirname "$0")/owners_common.bash"

R=4150868000520000001
bindir=$("${PG_CONFIG:-pg_config}" --bindir)
restart() {
	(cd / && runuser -u postgres -- "$bindir/pg_ctl" -D "$ZCRM_TEST_TMP/data" -m fast -w -t 60 \
		-l "$ZCRM_TEST_TMP/pg.log" restart >/dev/null)
}
setup_outbox
make_records 4 $R
q "ALTER SYSTEM SET max_prepared_transactions = 10" >/dev/null
restart
check "cluster back" wait_sql 60 "true"
check "worker runs" wait_sql 60 "EXISTS (SELECT 1 FROM pg_stat_activity WHERE backend_type = 'massupdate worker')"
psql -X -q -v ON_ERROR_STOP=1 <<SQL >/dev/null
CREATE TABLE leads2pc (id int PRIMARY KEY, crm_id bigint, city text);
INSERT INTO leads2pc SELECT g, $R + g - 1, NULL FROM generate_series(1, 4) g;
SELECT zcrm_capture_table('leads2pc', 'Leads', 'crm_id', '{"city": "City"}');
SQL
crm=$R
# 1. the prepared transaction changes row 1
psql -X -q -v ON_ERROR_STOP=1 <<SQL >/dev/null
BEGIN; UPDATE leads2pc SET city = 'A-old' WHERE id = 1; PREPARE TRANSACTION 'g1';
SQL
# 1b. another transaction queues a change and tries the same gid: refused
out=$(psql -X -q <<SQL 2>&1
BEGIN; UPDATE leads2pc SET city = 'X-aborted' WHERE id = 3; PREPARE TRANSACTION 'g1';
SQL
)
echo "# second PREPARE 'g1': $out"
check "the second PREPARE is refused" eval 'echo "$out" | grep -q "already in use"'
# 2. another record's change is sent (cursor past A-old's id)
q "UPDATE leads2pc SET city = 'other' WHERE id = 2"
check "another change is sent" wait_sql 30 "EXISTS (SELECT 1 FROM zcrm_outbox WHERE value = '\"other\"' AND state = 'sent')"
# 3. second session waits on the row lock
open_session S2
say S2 "BEGIN;"
say S2 "UPDATE leads2pc SET city = 'B-new' WHERE id = 1;"
check "S2 waits" wait_sql 30 "EXISTS (SELECT 1 FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE 'UPDATE leads2pc%B-new%')"
# 4. COMMIT PREPARED, then S2 commits
q "COMMIT PREPARED 'g1'"
say S2 "COMMIT;"
check "S2 committed" await S2 committed
close_session S2
check "rows settle" wait_sql 60 "NOT EXISTS (SELECT 1 FROM zcrm_outbox WHERE record_id = $crm AND state IN ('pending', 'sending'))"
sleep 5
outbox_rows "true"
sbx_calls "$crm" City A-old | sed "s/^/# A-old call: /"
sbx_calls "$crm" City B-new | sed "s/^/# B-new call: /"
check "the CRM holds B-new ($(crm_field "$crm" City))" test "$(crm_field "$crm" City)" = B-new
summary
