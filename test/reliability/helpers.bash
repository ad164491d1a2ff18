# Shared by the reliability scripts (sourced, not run): psql and sandbox
# helpers, waits on conditions with deadlines, and the pass/fail tally.
# The scripts run inside test/lib/with_cluster.sh, which exports PGHOST,
# PGPORT, PGUSER, PGDATABASE, ZCRM_SANDBOX_URL and ZCRM_TEST_TMP.

REL_PASSED=0
REL_FAILED=0
REL_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

q() { psql -X -q -At -v ON_ERROR_STOP=1 -c "$1"; }

sbx_get() { curl -sS -m 60 "$ZCRM_SANDBOX_URL/__sandbox/$1"; }
sbx_post() {
	curl -sS -m 60 -X POST -H 'Content-Type: application/json' \
		--data-binary "${2:-{\}}" "$ZCRM_SANDBOX_URL/__sandbox/$1"
}
sbx_stat() { sbx_get stats | python3 -c "import json,sys; print(json.load(sys.stdin)['$1'])"; }

# check NAME CONDITION...: evaluates a shell condition and tallies it
check() {
	local name=$1
	shift
	if "$@"; then
		REL_PASSED=$((REL_PASSED + 1))
		echo "ok - $name"
	else
		REL_FAILED=$((REL_FAILED + 1))
		echo "not ok - $name"
	fi
}

# wait_sql SECONDS SQL: polls a boolean query until it is true or the
# deadline passes (connection errors, e.g. during recovery, count as false)
wait_sql() {
	local deadline=$((SECONDS + $1)) v
	while [ $SECONDS -lt $deadline ]; do
		v=$(psql -X -At -c "SELECT ($2)::boolean" 2>/dev/null)
		[ "$v" = t ] && return 0
		sleep 0.2
	done
	return 1
}

# sessions kept open beside this script's own: open_session NAME;
# say NAME SQL; await NAME WORD (the session has run everything said
# before); close_session NAME
open_session() {
	rm -f "$ZCRM_TEST_TMP/$1.in"
	mkfifo "$ZCRM_TEST_TMP/$1.in"
	psql -X -q -At -v ON_ERROR_STOP=1 <"$ZCRM_TEST_TMP/$1.in" >"$ZCRM_TEST_TMP/$1.out" 2>&1 &
	eval "exec {fd_$1}>\"\$ZCRM_TEST_TMP/$1.in\""
}
say() { local fd="fd_$1"; echo "$2" >&"${!fd}"; }
await() {
	local deadline=$((SECONDS + 30))
	say "$1" "SELECT '$2';"
	while [ $SECONDS -lt $deadline ]; do
		grep -qx "$2" "$ZCRM_TEST_TMP/$1.out" && return 0
		sleep 0.1
	done
	echo "# session $1 did not get to '$2'; its output:" >&2
	sed 's/^/#   /' "$ZCRM_TEST_TMP/$1.out" >&2
	return 1
}
close_session() {
	local fd="fd_$1"
	say "$1" '\q'
	eval "exec ${!fd}>&-"
	rm -f "$ZCRM_TEST_TMP/$1.in"
}

# summary: the tally; also a check that the worker hit no ERROR in a round
# (a round's ERROR is recovered from, rows are sent again, and a test could
# pass over a broken statement); a script that provokes them on purpose
# sets REL_WORKER_ERRORS_OK=1
summary() {
	local errs
	if [ -z "${REL_WORKER_ERRORS_OK:-}" ] && [ -f "$ZCRM_TEST_TMP/pg.log" ]; then
		errs=$(grep -c 'massupdate worker ERROR' "$ZCRM_TEST_TMP/pg.log")
		[ "$errs" -gt 0 ] && grep -m 3 'massupdate worker ERROR' "$ZCRM_TEST_TMP/pg.log"
		check "the worker logged no ERROR ($errs)" test "$errs" -eq 0
	fi
	echo "$REL_PASSED passed, $REL_FAILED failed"
	[ "$REL_FAILED" -eq 0 ]
}

# setup_outbox: the extension, a server on the sandbox and a mapping for
# the current user; a short naptime
setup_outbox() {
	psql -X -q -v ON_ERROR_STOP=1 -v url="$ZCRM_SANDBOX_URL" <<'SQL' >/dev/null
CREATE EXTENSION IF NOT EXISTS massupdate;
CREATE SERVER zoho FOREIGN DATA WRAPPER zcrm
	OPTIONS (accounts_url :'url', api_domain :'url', api_version 'v8');
CREATE USER MAPPING FOR CURRENT_USER SERVER zoho
	OPTIONS (client_id '1000.SANDBOX', client_secret 'sandbox-secret',
			 refresh_token '1000.sandbox.refresh');
ALTER SYSTEM SET massupdate.naptime = '200ms';
SELECT pg_reload_conf();
SQL
}

worker_pid() {
	q "SELECT pid FROM pg_stat_activity WHERE backend_type = 'massupdate worker'" 2>/dev/null
}

# make_records N FIRST_ID: N Leads in the sandbox from FIRST_ID on
make_records() {
	sbx_post records "{\"module\": \"Leads\", \"count\": $1, \"first_id\": \"$2\", \"values\": {}}" >/dev/null
}

# crm_matches TABLE IDCOL VALCOL FIELD: every row's value is the sandbox
# record's value of FIELD (read back one by one over a kept-alive
# connection); prints the number of mismatches
crm_mismatches() {
	psql -X -At -F ',' -c "SELECT $2, coalesce($3, '') FROM $1 WHERE $2 IS NOT NULL" >"$ZCRM_TEST_TMP/expected_values.csv"
	python3 - "$ZCRM_SANDBOX_URL" "$4" "$ZCRM_TEST_TMP/expected_values.csv" <<'PY'
import http.client, json, sys, urllib.parse
url, field, path = sys.argv[1], sys.argv[2], sys.argv[3]
u = urllib.parse.urlparse(url)
conn = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
bad = 0
shown = 0
for line in open(path):
    rid, want = line.rstrip('\n').split(',', 1)
    conn.request('GET', '/__sandbox/records/Leads/' + rid)
    r = conn.getresponse()
    body = r.read()
    got = json.loads(body)['record'].get(field) if r.status == 200 else None
    if (got or '') != want:
        bad += 1
        if shown < 5:
            print('mismatch %s: crm %r, table %r' % (rid, got, want), file=sys.stderr)
            shown += 1
print(bad)
PY
}
