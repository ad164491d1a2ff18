#!/usr/bin/env bash
# The audit's M1: superseding is per owner, and an older row is superseded
# only once a newer row of the same owner, server, module, record and
# field has been sent.
#   a. the audit's reproduction: alice (valid mapping) and mallory (a
#      bogus access_token) queue the same record and field in one
#      transaction, so that the worker claims them together: alice's row is
#      sent, never superseded, and the CRM holds her value; mallory's row
#      ends failed INVALID_TOKEN;
#   b. alice's newer value fails for good (INVALID_DATA): the older one ends
#      failed NEWER_VALUE_FAILED (naming the newer row's id and code);
#      zcrm_outbox_retry requeues it and the worker sends it;
#   c. alice's newer value fails transiently (503) and then goes through:
#      the older one ends superseded, the CRM holds the newer value;
#   d. alice V1, bob M, alice V3 in one transaction: bob's M and alice's V3
#      are sent (V1 sent before M, or superseded), in id order, the CRM
#      ends with V3;
#   e. zcrm_outbox_retry of a failed row leaves it failed (not counted)
#      when a newer row of another owner was sent, also after retention
#      (which keeps that sent row while the failed one exists);
#   f. zcrm_outbox_retry of a failed row supersedes it when a newer row of
#      the same owner was sent.
set -u
. "$(dirname "$0")/helpers.bash"
. "$(dirname "$0")/owners_common.bash"

R=4150868000500000001	# records R .. R+9
rec() { echo $((R + $1)); }
setup_outbox
make_records 10 $R
psql -X -q -v ON_ERROR_STOP=1 <<'SQL' >/dev/null
ALTER SYSTEM SET massupdate.max_attempts = 2;
ALTER SYSTEM SET massupdate.retry_base = '100ms';
ALTER SYSTEM SET massupdate.retry_max = '200ms';
SELECT pg_reload_conf();
CREATE ROLE alice;
CREATE ROLE mallory;
CREATE ROLE bob;
GRANT USAGE ON FOREIGN SERVER zoho TO alice, mallory, bob;
CREATE USER MAPPING FOR alice SERVER zoho
	OPTIONS (client_id '1000.SANDBOX2', client_secret 'sandbox-secret-2',
			 refresh_token '1000.sandbox2.refresh');
CREATE USER MAPPING FOR mallory SERVER zoho OPTIONS (access_token 'garbage-token');
CREATE USER MAPPING FOR bob SERVER zoho
	OPTIONS (client_id '1000.SANDBOX', client_secret 'sandbox-secret',
			 refresh_token '1000.sandbox.refresh');
SQL

# id_of RECORD VALUE: the outbox id of the row that sets City to VALUE
id_of() { q "SELECT id FROM zcrm_outbox WHERE record_id = $1 AND value = to_jsonb('$2'::text)"; }
st() { q "SELECT state || coalesce(' ' || code, '') FROM zcrm_outbox WHERE id = $1"; }
settled() {
	wait_sql "$2" "NOT EXISTS (SELECT 1 FROM zcrm_outbox WHERE record_id = $1 AND state IN ('pending', 'sending'))"
}
LONG=$(printf 'x%.0s' $(seq 101))	# City is text(100): longer is INVALID_DATA

# -- a. the audit's reproduction --------------------------------------------
A=$(rec 1)
psql -X -q -v ON_ERROR_STOP=1 <<SQL >/dev/null
BEGIN;
SET ROLE alice;
SELECT zcrm_enqueue('Leads', $A, '{"City": "AliceValue"}');
RESET ROLE;
SET ROLE mallory;
SELECT zcrm_enqueue('Leads', $A, '{"City": "MalloryValue"}');
RESET ROLE;
COMMIT;
SQL
a_alice=$(id_of $A AliceValue)
a_mal=$(id_of $A MalloryValue)
check "a: the rows are alice's and mallory's, alice's the older" \
	test "$(q "SELECT string_agg(owner::text, ',' ORDER BY id) FROM zcrm_outbox WHERE record_id = $A")" = alice,mallory
check "a: both rows settle (mallory's fails after max_attempts)" settled $A 30
outbox_rows "record_id = $A"
check "a: alice's row is sent, not superseded" test "$(st "$a_alice")" = "sent SUCCESS"
check "a: mallory's row is failed INVALID_TOKEN" test "$(st "$a_mal")" = "failed INVALID_TOKEN"
check "a: the CRM holds AliceValue ($(crm_field $A City))" test "$(crm_field $A City)" = AliceValue
a1=$(first_ok_seq $A City AliceValue)
a2=$(sbx_calls $A City MalloryValue | awk 'NR == 1 { print $1 }')
echo "# a: first accepted AliceValue call seq '${a1}', first MalloryValue call seq '${a2}'"
check "a: alice's call went before mallory's first try" \
	test -n "$a1" -a -n "$a2" -a "${a1:-0}" -lt "${a2:-0}"

# -- b. the newer value fails for good --------------------------------------
B=$(rec 2)
# the value really is refused by the sandbox, for that record
err=$(psql -X -q -At -c "SET ROLE alice" -c "SELECT * FROM zcrm_mass_update('Leads', ARRAY[$B]::bigint[], '{\"City\": \"$LONG\"}')" 2>&1)
echo "# b: direct call with the long value: $(echo "$err" | head -n 2 | tr '\n' ' ')"
check "b: the sandbox answers the long City with INVALID_DATA" grep -q INVALID_DATA <<<"$err"
psql -X -q -v ON_ERROR_STOP=1 <<SQL >/dev/null
BEGIN;
SET ROLE alice;
SELECT zcrm_enqueue('Leads', $B, '{"City": "V1"}');
SELECT zcrm_enqueue('Leads', $B, '{"City": "$LONG"}');
COMMIT;
SQL
b_old=$(id_of $B V1)
b_new=$(id_of $B "$LONG")
check "b: both rows settle" settled $B 30
outbox_rows "record_id = $B"
check "b: the newer row is failed INVALID_DATA" test "$(st "$b_new")" = "failed INVALID_DATA"
check "b: the older row is failed NEWER_VALUE_FAILED" test "$(st "$b_old")" = "failed NEWER_VALUE_FAILED"
msg=$(q "SELECT message FROM zcrm_outbox WHERE id = $b_old")
echo "# b: the older row's message: $msg"
check "b: its message names the newer row's id and code" \
	eval 'grep -qw "$b_new" <<<"$msg" && grep -q INVALID_DATA <<<"$msg"'
check "b: the CRM never received V1 so far" test -z "$(first_ok_seq $B City V1)"
check "b: zcrm_outbox_retry(ARRAY[older]) as alice requeues it (1)" \
	test "$(psql -X -q -At -v ON_ERROR_STOP=1 -c "SET ROLE alice" -c "SELECT zcrm_outbox_retry(ARRAY[$b_old]::bigint[])")" = 1
check "b: the requeued older row is sent" \
	wait_sql 20 "EXISTS (SELECT 1 FROM zcrm_outbox WHERE id = $b_old AND state = 'sent')"
outbox_rows "record_id = $B"
check "b: the CRM holds V1 ($(crm_field $B City))" test "$(crm_field $B City)" = V1
check "b: the newer row stays failed INVALID_DATA" test "$(st "$b_new")" = "failed INVALID_DATA"

# -- c. the newer value fails transiently, then goes through ------------------
setting max_attempts 20
C=$(rec 3)
sbx_post faults '{"error_rate": 1.0, "error_status": 503}' >/dev/null
psql -X -q -v ON_ERROR_STOP=1 <<SQL >/dev/null
BEGIN;
SET ROLE alice;
SELECT zcrm_enqueue('Leads', $C, '{"City": "C1"}');
SELECT zcrm_enqueue('Leads', $C, '{"City": "C2"}');
COMMIT;
SQL
c_old=$(id_of $C C1)
c_new=$(id_of $C C2)
check "c: a try met the 503 (a row in back-off)" \
	wait_sql 20 "EXISTS (SELECT 1 FROM zcrm_outbox WHERE record_id = $C AND state = 'pending' AND attempts >= 1)"
sbx_post faults '{"error_rate": 0}' >/dev/null
check "c: both rows settle" settled $C 30
outbox_rows "record_id = $C"
echo "# c: the newer row took $(q "SELECT attempts FROM zcrm_outbox WHERE id = $c_new") tries"
check "c: the newer row is sent" test "$(st "$c_new")" = "sent SUCCESS"
check "c: the older row is superseded" test "$(q "SELECT state FROM zcrm_outbox WHERE id = $c_old")" = superseded
check "c: the CRM holds C2 ($(crm_field $C City))" test "$(crm_field $C City)" = C2
check "c: C1 was never accepted by the CRM" test -z "$(first_ok_seq $C City C1)"

# -- d. alice V1, bob M, alice V3 in one transaction -------------------------
D=$(rec 4)
psql -X -q -v ON_ERROR_STOP=1 <<SQL >/dev/null
BEGIN;
SET ROLE alice;
SELECT zcrm_enqueue('Leads', $D, '{"City": "D-V1"}');
RESET ROLE;
SET ROLE bob;
SELECT zcrm_enqueue('Leads', $D, '{"City": "D-M"}');
RESET ROLE;
SET ROLE alice;
SELECT zcrm_enqueue('Leads', $D, '{"City": "D-V3"}');
COMMIT;
SQL
d1=$(id_of $D D-V1)
dm=$(id_of $D D-M)
d3=$(id_of $D D-V3)
check "d: the rows are alice's, bob's, alice's in id order" \
	test "$(q "SELECT string_agg(owner::text, ',' ORDER BY id) FROM zcrm_outbox WHERE record_id = $D")" = alice,bob,alice
check "d: all rows settle" settled $D 30
outbox_rows "record_id = $D"
check "d: alice's V3 is sent" test "$(st "$d3")" = "sent SUCCESS"
check "d: bob's M is sent" test "$(st "$dm")" = "sent SUCCESS"
d1st=$(q "SELECT state FROM zcrm_outbox WHERE id = $d1")
check "d: alice's V1 is sent or superseded ($d1st)" eval '[ "$d1st" = sent ] || [ "$d1st" = superseded ]'
check "d: the CRM holds D-V3 ($(crm_field $D City))" test "$(crm_field $D City)" = D-V3
sbx_calls $D City D-V1 | sed 's/^/# d: D-V1 call: /'
sbx_calls $D City D-M | sed 's/^/# d: D-M call: /'
sbx_calls $D City D-V3 | sed 's/^/# d: D-V3 call: /'
m_first=$(first_ok_seq $D City D-M)
m_last=$(last_ok_seq $D City D-M)
v3_first=$(first_ok_seq $D City D-V3)
v1_last=$(last_ok_seq $D City D-V1)
# ok_by RECORD VALUE CLIENT: a call setting City to VALUE was accepted, with CLIENT's token
ok_by() { sbx_calls "$1" City "$2" | awk -v c="$3" '$2 == 200 && $3 == c { f = 1 } END { exit !f }'; }
check "d: bob's call went before alice's V3 call" \
	eval '[ -n "$m_last" ] && [ -n "$v3_first" ] && [ "$m_last" -lt "$v3_first" ]'
check "d: each with its owner's client (bob 1000.SANDBOX, alice 1000.SANDBOX2)" \
	eval 'ok_by $D D-M 1000.SANDBOX && ok_by $D D-V3 1000.SANDBOX2'
check "d: a V1 call, if any, went before bob's" \
	eval '[ -z "$v1_last" ] || { [ -n "$m_first" ] && [ "$v1_last" -lt "$m_first" ]; }'

# -- e. retry of a failed row when another owner's newer row was sent -------
setting max_attempts 2
E=$(rec 5)
q "SET ROLE mallory; SELECT zcrm_enqueue('Leads', $E, '{\"City\": \"E-M\"}')" >/dev/null
e_mal=$(id_of $E E-M)
check "e: mallory's row fails" \
	wait_sql 30 "EXISTS (SELECT 1 FROM zcrm_outbox WHERE id = $e_mal AND state = 'failed')"
q "SET ROLE alice; SELECT zcrm_enqueue('Leads', $E, '{\"City\": \"E-A\"}')" >/dev/null
e_al=$(id_of $E E-A)
check "e: alice's newer row is sent" \
	wait_sql 30 "EXISTS (SELECT 1 FROM zcrm_outbox WHERE id = $e_al AND state = 'sent')"
check "e: zcrm_outbox_retry of mallory's row (superuser) counts nothing (0)" \
	test "$(q "SELECT zcrm_outbox_retry(ARRAY[$e_mal]::bigint[])")" = 0
outbox_rows "record_id = $E"
check "e: mallory's row stays failed INVALID_TOKEN" test "$(st "$e_mal")" = "failed INVALID_TOKEN"
sleep 1	# a few rounds: nothing may send it
check "e: the CRM still holds E-A ($(crm_field $E City))" test "$(crm_field $E City)" = E-A
# retention keeps alice's sent row while mallory's older failed row needs it
# (the guard above), and deletes the other sent rows
setting retention 0
check "e: retention ran (other sent rows deleted)" \
	wait_sql 30 "NOT EXISTS (SELECT 1 FROM zcrm_outbox WHERE state = 'sent' AND id <> $e_al)"
check "e: retention kept alice's sent row that guards mallory's failed one" \
	test "$(q "SELECT state FROM zcrm_outbox WHERE id = $e_al")" = sent
check "e: the retry still counts nothing (0)" \
	test "$(q "SELECT zcrm_outbox_retry(ARRAY[$e_mal]::bigint[])")" = 0
setting retention

# -- f. retry of a failed row when the same owner's newer row was sent ------
F=$(rec 6)
q "SET ROLE alice; SELECT zcrm_enqueue('Leads', $F, '{\"City\": \"$LONG\"}')" >/dev/null
f_bad=$(id_of $F "$LONG")
check "f: alice's invalid row fails" \
	wait_sql 30 "EXISTS (SELECT 1 FROM zcrm_outbox WHERE id = $f_bad AND state = 'failed')"
q "SET ROLE alice; SELECT zcrm_enqueue('Leads', $F, '{\"City\": \"F-good\"}')" >/dev/null
check "f: alice's newer row is sent" \
	wait_sql 30 "EXISTS (SELECT 1 FROM zcrm_outbox WHERE record_id = $F AND value = '\"F-good\"' AND state = 'sent')"
check "f: zcrm_outbox_retry of the failed row counts nothing (0)" \
	test "$(psql -X -q -At -v ON_ERROR_STOP=1 -c "SET ROLE alice" -c "SELECT zcrm_outbox_retry(ARRAY[$f_bad]::bigint[])")" = 0
outbox_rows "record_id = $F"
check "f: the failed row is superseded" test "$(q "SELECT state FROM zcrm_outbox WHERE id = $f_bad")" = superseded
check "f: the CRM holds F-good ($(crm_field $F City))" test "$(crm_field $F City)" = F-good

summary
