#!/usr/bin/env bash
# zcrm_outbox_retry's rules (found by review; both failed before the fix):
#  a. a failed row is superseded only once a newer row of its owner was
#     sent, not while that one is pending: when the newer value then fails
#     for good, the older one is still there to requeue and send;
#  b. a dropped owner's rows: the newest fails NO_OWNER and so do the older
#     rows held behind it; zcrm_outbox_retry requeues none of them.
set -u
. "$(dirname "$0")/helpers.bash"
. "$(dirname "$0")/owners_common.bash"

R=4150868000530000001
rec() { echo $((R + $1)); }
setup_outbox
make_records 4 $R
psql -X -q -v ON_ERROR_STOP=1 <<'SQL' >/dev/null
ALTER SYSTEM SET massupdate.max_attempts = 2;
ALTER SYSTEM SET massupdate.retry_base = '100ms';
ALTER SYSTEM SET massupdate.retry_max = '200ms';
SELECT pg_reload_conf();
SQL
sleep 0.5
id_of() { q "SELECT id FROM zcrm_outbox WHERE record_id = $1 AND value = to_jsonb('$2'::text)"; }
st() { q "SELECT state || coalesce(' ' || code, '') FROM zcrm_outbox WHERE id = $1"; }
settled() { wait_sql "$2" "NOT EXISTS (SELECT 1 FROM zcrm_outbox WHERE record_id = $1 AND state IN ('pending', 'sending'))"; }
LONG=$(printf 'x%.0s' $(seq 101))	# City is text(100): longer is INVALID_DATA

# -- a ------------------------------------------------------------------------
A=$(rec 0)
sbx_post faults '{"error_rate": 1.0, "error_status": 503}' >/dev/null
q "SELECT zcrm_enqueue('Leads', $A, '{\"City\": \"OldGood\"}')" >/dev/null
check "a: OldGood settles (503 twice)" settled $A 30
sbx_post faults '{"error_rate": 0}' >/dev/null
old=$(id_of $A OldGood)
check "a: OldGood is failed ($(st $old))" test "$(q "SELECT state FROM zcrm_outbox WHERE id = $old")" = failed
n=$(psql -X -q -At -v ON_ERROR_STOP=1 <<SQL | grep -v '^$' 
BEGIN;
SELECT zcrm_enqueue('Leads', $A, '{"City": "$LONG"}');
SELECT zcrm_outbox_retry(ARRAY[$old]);
COMMIT;
SQL
)
echo "# a: retry returned '$n'"
check "a: everything settles" settled $A 30
outbox_rows "record_id = $A"
check "a: the newer value failed for good" \
	test "$(q "SELECT state FROM zcrm_outbox WHERE record_id = $A AND id > $old")" = failed
check "a: OldGood is not lost: failed (retryable) or sent, not superseded ($(st $old))" \
	test "$(q "SELECT state FROM zcrm_outbox WHERE id = $old")" != superseded
check "a: zcrm_outbox_retry can bring OldGood back" \
	test "$(q "SELECT zcrm_outbox_retry(ARRAY[$old])")" = 1
check "a: the CRM got OldGood at some point ($(crm_field $A City))" \
	test -n "$(first_ok_seq $A City OldGood)"

# -- b ------------------------------------------------------------------------
B=$(rec 1)
psql -X -q -v ON_ERROR_STOP=1 <<SQL >/dev/null
CREATE ROLE dan;
GRANT USAGE ON FOREIGN SERVER zoho TO dan;
CREATE USER MAPPING FOR dan SERVER zoho
	OPTIONS (client_id '1000.SANDBOX', client_secret 'sandbox-secret',
			 refresh_token '1000.sandbox.refresh');
BEGIN;
SET ROLE dan;
SELECT zcrm_enqueue('Leads', $B, '{"City": "DanOld"}');
SELECT zcrm_enqueue('Leads', $B, '{"City": "DanNew"}');
RESET ROLE;
DROP USER MAPPING FOR dan SERVER zoho;
REVOKE USAGE ON FOREIGN SERVER zoho FROM dan;
DROP ROLE dan;
COMMIT;
SQL
check "b: settles" settled $B 30
outbox_rows "record_id = $B"
check "b: every row of the dropped owner is failed NO_OWNER" \
	test "$(q "SELECT string_agg(DISTINCT coalesce(code, 'null'), ',') FROM zcrm_outbox WHERE record_id = $B")" = NO_OWNER
ids=$(q "SELECT array_agg(id) FROM zcrm_outbox WHERE record_id = $B")
n=$(q "SELECT zcrm_outbox_retry('$ids')")
check "b: a superuser's zcrm_outbox_retry($ids) requeues none of them ($n)" test "$n" = 0
settled $B 30
outbox_rows "record_id = $B"
summary
