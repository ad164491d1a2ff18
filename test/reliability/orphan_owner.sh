#!/usr/bin/env bash
# The audit's L5: outbox rows and zcrm_jobs rows whose owner role no longer
# exists are never sent, in particular never through a PUBLIC user mapping:
# the worker fails them with code NO_OWNER, and zcrm_outbox_retry does not
# requeue them.
#
# A role queues changes (and schedules a view job) while the sandbox
# answers 503, so that the rows wait in back-off; its USAGE and mapping go
# and the role is dropped; the sandbox is restored.  A PUBLIC mapping with
# valid credentials exists all along, so a fallback to it would send the
# rows.  Twice: for dan, with USAGE granted to dan only, and for dora, with
# USAGE on the server granted to PUBLIC too (an orphaned owner then passes
# a USAGE check through PUBLIC).
set -u
. "$(dirname "$0")/helpers.bash"
. "$(dirname "$0")/owners_common.bash"

R=4150868000520000001	# records R .. R+3
rec() { echo $((R + $1)); }
setup_outbox
make_records 4 $R
psql -X -q -v ON_ERROR_STOP=1 <<'SQL' >/dev/null
ALTER SYSTEM SET massupdate.max_attempts = 50;
ALTER SYSTEM SET massupdate.retry_base = '1s';
ALTER SYSTEM SET massupdate.retry_max = '2s';
ALTER SYSTEM SET massupdate.job_poll_max_interval = '2s';
SELECT pg_reload_conf();
CREATE USER MAPPING FOR PUBLIC SERVER zoho
	OPTIONS (client_id '1000.LEADSONLY', client_secret 'leadsonly-secret',
			 refresh_token '1000.leadsonly.refresh');
SQL

# job_gets JOB_ID FROM_SEQ: status GETs of the job in the sandbox's log
# after FROM_SEQ, one line each: "seq status client_id"
job_gets() {
	sbx_get 'requests?limit=100000' | python3 -c '
import json, sys
job, since = sys.argv[1], int(sys.argv[2])
for r in json.load(sys.stdin)["requests"]:
    if r["method"] == "GET" and "/actions/mass_update" in r["path"] and "job_id=" + job in r["query"] and r["seq"] > since:
        print(r["seq"], r["status"], r["client_id"])
' "$1" "$2"
}

# run_case ROLE CVID RECORD1 RECORD2
run_case() {
	local role=$1 cvid=$2 r1=$3 r2=$4 job ids restored drop_err n
	q "CREATE ROLE $role; GRANT USAGE ON FOREIGN SERVER zoho TO $role"
	q "CREATE USER MAPPING FOR $role SERVER zoho OPTIONS (client_id '1000.SANDBOX2', client_secret 'sandbox-secret-2', refresh_token '1000.sandbox2.refresh')"
	# a view job, running slowly, polled by the worker with the owner's mapping
	sbx_post faults '{"job_rate": 1}' >/dev/null
	job=$(psql -X -q -At -v ON_ERROR_STOP=1 -c "SET ROLE $role" \
		-c "SELECT zcrm_mass_update_view('Leads', $cvid, '{\"City\": \"$role-job\"}')")
	check "$role: a view job is scheduled ($job)" test -n "$job"
	check "$role: the worker polls it" \
		wait_sql 20 "EXISTS (SELECT 1 FROM zcrm_jobs WHERE job_id = ${job:-0} AND last_polled_at IS NOT NULL)"
	# the worker cannot send: rows wait in back-off
	sbx_post faults '{"error_rate": 1.0, "error_status": 503}' >/dev/null
	psql -X -q -v ON_ERROR_STOP=1 <<SQL >/dev/null
SET ROLE $role;
SELECT zcrm_enqueue('Leads', $r1, '{"City": "$role-1"}');
SELECT zcrm_enqueue('Leads', $r2, '{"City": "$role-2", "State": "$role-s"}');
SQL
	ids=$(q "SELECT string_agg(id::text, ',' ORDER BY id) FROM zcrm_outbox WHERE owner::oid = '$role'::regrole::oid")
	check "$role: three rows queued ($ids)" test "$(tr ',' '\n' <<<"$ids" | wc -l)" = 3
	check "$role: they wait in back-off" \
		wait_sql 20 "(SELECT count(*) FROM zcrm_outbox WHERE id IN ($ids) AND state = 'pending' AND attempts >= 1) = 3"
	# the role goes
	q "REVOKE USAGE ON FOREIGN SERVER zoho FROM $role"
	q "DROP USER MAPPING FOR $role SERVER zoho"
	if ! drop_err=$(psql -X -q -v ON_ERROR_STOP=1 -c "DROP ROLE $role" 2>&1); then
		echo "# DROP ROLE $role refused: $drop_err; DROP OWNED BY $role, then again"
		q "DROP OWNED BY $role"
		psql -X -q -v ON_ERROR_STOP=1 -c "DROP ROLE $role"
	fi
	check "$role: the role is dropped" test "$(q "SELECT count(*) FROM pg_roles WHERE rolname = '$role'")" = 0
	check "$role: its rows are still there, owner a bare oid" \
		test "$(q "SELECT count(*) FROM zcrm_outbox WHERE id IN ($ids) AND owner::text ~ '^[0-9]+$'")" = 3
	restored=$(sbx_last_seq)
	sbx_post faults '{"error_rate": 0}' >/dev/null
	check "$role: its rows settle" \
		wait_sql 30 "NOT EXISTS (SELECT 1 FROM zcrm_outbox WHERE id IN ($ids) AND state IN ('pending', 'sending'))"
	outbox_rows "id IN ($ids)"
	check "$role: its rows are failed NO_OWNER" \
		test "$(q "SELECT count(*) FROM zcrm_outbox WHERE id IN ($ids) AND state = 'failed' AND code = 'NO_OWNER'")" = 3
	n=0
	for v in "$r1 City $role-1" "$r2 City $role-2" "$r2 State $role-s"; do
		set -- $v
		sbx_calls "$1" "$2" "$3" | sed "s/^/# $role: call with $3: /"
		n=$((n + $(sbx_calls "$1" "$2" "$3" | awk -v s="$restored" '$1 > s || $2 != 503' | wc -l)))
	done
	check "$role: the sandbox never took its values (only the 503s before the restore; $n others)" test "$n" = 0
	check "$role: the CRM does not hold them" \
		eval '[ "$(crm_field $r1 City)" != "$role-1" ] && [ "$(crm_field $r2 City)" != "$role-2" ] && [ "$(crm_field $r2 State)" != "$role-s" ]'
	check "$role: zcrm_outbox_retry as a superuser requeues none of them (0)" \
		test "$(q "SELECT zcrm_outbox_retry(ARRAY[$ids]::bigint[])")" = 0
	check "$role: they stay failed NO_OWNER" \
		test "$(q "SELECT count(*) FROM zcrm_outbox WHERE id IN ($ids) AND state = 'failed' AND code = 'NO_OWNER'")" = 3
	# the job: polling stops with NO_OWNER, no poll after the restore
	check "$role: the worker stops polling the job" \
		wait_sql 20 "EXISTS (SELECT 1 FROM zcrm_jobs WHERE job_id = ${job:-0} AND next_poll_at IS NULL)"
	psql -X -P pager=off -c "SELECT job_id, owner, status, last_polled_at, next_poll_at, last_error FROM zcrm_jobs WHERE job_id = ${job:-0}"
	check "$role: the job's last_error says NO_OWNER" \
		test "$(q "SELECT last_error LIKE '%NO_OWNER%' FROM zcrm_jobs WHERE job_id = ${job:-0}")" = t
	job_gets "${job:-0}" "$restored" | sed "s/^/# $role: job poll after the restore: /"
	check "$role: no status request for the job after the restore" test -z "$(job_gets "${job:-0}" "$restored")"
	sbx_post faults '{"job_rate": 1000}' >/dev/null
}

run_case dan 4150868000000087501 "$(rec 0)" "$(rec 1)"
q "GRANT USAGE ON FOREIGN SERVER zoho TO PUBLIC"
run_case dora 4150868000000087507 "$(rec 2)" "$(rec 3)"

summary
