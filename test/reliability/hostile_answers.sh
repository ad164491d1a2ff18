#!/usr/bin/env bash
# Hostile answers (security audit 1.0, M3 and M4): a server whose
# api_domain is a hostile endpoint (hostile_server.py, standing for a
# compromised Zoho) answers with huge bodies.
#  (a) the worker: a 500-row call answered HTTP 400 with a flat
#      INVALID_DATA envelope whose message is ~1 MB of random base64 fails
#      its rows, and zcrm_outbox grows by less than 1 MB (the stored message
#      is capped; it grew by 500 MB before);
#  (b) zcrm_mass_update of 5,000 ids (10 calls) answered with 64 MB bodies,
#      then with bodies just under the transport's cap made of per-record
#      errors with long messages: the backend's peak memory (VmHWM) stays
#      under the README's bound, and the result rows carry capped messages.
set -u
. "$(dirname "$0")/helpers.bash"

# README "Memory and stored answers": about 16 + 70 MB per statement at the
# default max_concurrency (5)
BOUND_KB=$((86 * 1024))

portfile="$ZCRM_TEST_TMP/hostile.port"
python3 "$REL_DIR/hostile_server.py" "$portfile" &
hostile_pid=$!
trap 'kill $hostile_pid 2>/dev/null' EXIT
for _ in $(seq 100); do [ -s "$portfile" ] && break; sleep 0.1; done
HURL="http://127.0.0.1:$(cat "$portfile")"
hmode() { curl -sS -m 10 -X POST --data-binary "$1" "$HURL/__mode" >/dev/null; }
hstat() { curl -sS -m 10 "$HURL/__stats" | python3 -c "import json,sys; print(json.load(sys.stdin)['$1'])"; }

psql -X -q -v ON_ERROR_STOP=1 -v url="$HURL" <<'SQL' >/dev/null
CREATE EXTENSION IF NOT EXISTS massupdate;
CREATE SERVER hostile FOREIGN DATA WRAPPER zcrm
	OPTIONS (accounts_url :'url', api_domain :'url', api_version 'v8', max_retries '0');
CREATE USER MAPPING FOR CURRENT_USER SERVER hostile OPTIONS (access_token 'hostile-token');
ALTER SYSTEM SET massupdate.naptime = '200ms';
SELECT pg_reload_conf();
SQL

# (a) the worker stores a capped message in each of the 500 rows
hmode '{"mode": "flat400", "size": 1000000}'
before=$(q "SELECT pg_total_relation_size('zcrm_outbox')")
q "SELECT count(zcrm_enqueue('Leads', 4150868000400000000 + g, '{\"City\": \"H\"}'))
     FROM generate_series(1, 500) g" >/dev/null
check "(a) the worker fails the 500 rows" \
	wait_sql 60 "(SELECT count(*) FROM zcrm_outbox WHERE state = 'failed') = 500"
after=$(q "SELECT pg_total_relation_size('zcrm_outbox')")
echo "# (a) zcrm_outbox $before -> $after bytes (+$((after - before))); $(hstat calls) hostile calls"
check "(a) one call for the 500 rows" test "$(hstat calls)" = 1
check "(a) zcrm_outbox grew by less than 1 MB ($((after - before)) bytes)" \
	test $((after - before)) -lt 1000000
check "(a) the rows say INVALID_DATA with a capped message, marked as cut" \
	test "$(q "SELECT count(*) FROM zcrm_outbox WHERE code = 'INVALID_DATA'
	             AND octet_length(message) <= 512 AND message LIKE '%[cut from 1000000 bytes]'")" = 500

# (b) one statement of 10 calls; prints VmHWM before and after (kB), the
# number of rows and the longest message, or the error
mass_update() {
	psql -X -q -At -F ' ' <<'SQL' 2>&1
SELECT substring(pg_read_file('/proc/' || pg_backend_pid() || '/status') FROM 'VmHWM:\s+(\d+) kB') AS hwm0 \gset
SELECT count(*) AS nrows, max(octet_length(message)) AS maxmsg,
       count(*) FILTER (WHERE code = 'INVALID_DATA' AND message LIKE '%[cut from %') AS ncut
  FROM zcrm_mass_update('Leads', ARRAY(SELECT 4150868000400000000 + g FROM generate_series(1, 5000) g),
                        '{"City": "H"}', server => 'hostile') \gset
\echo rows :nrows :maxmsg :ncut
SELECT :hwm0, substring(pg_read_file('/proc/' || pg_backend_pid() || '/status') FROM 'VmHWM:\s+(\d+) kB');
SQL
}

# just under 64 MiB: the cap before the audit let these through
hmode '{"mode": "records", "size": 67100000}'
out=$(mass_update)
echo "# (b) 64 MiB answers: $(echo "$out" | tr '\n' ' ')"
hwm=$(echo "$out" | tail -n 1)
check "(b) 64 MiB answers: VmHWM ${hwm#* } kB under $BOUND_KB kB" test "${hwm#* }" -lt "$BOUND_KB"
check "(b) 64 MiB answers: the statement fails on the size cap" \
	grep -q "the answer is larger than" <<<"$out"

hmode '{"mode": "records", "size": 3500000}'
out=$(mass_update)
echo "# (b) 3.5 MB answers: $(echo "$out" | tr '\n' ' ')"
hwm=$(echo "$out" | tail -n 1)
check "(b) 3.5 MB answers: VmHWM ${hwm#* } kB under $BOUND_KB kB" test "${hwm#* }" -lt "$BOUND_KB"
check "(b) 3.5 MB answers: 5,000 rows, each message capped at 512 bytes and marked" \
	grep -qx "rows 5000 [0-9]* 5000" <<<"$out"
maxmsg=$(grep '^rows ' <<<"$out" | cut -d' ' -f3)
check "(b) 3.5 MB answers: longest message ${maxmsg:-?} bytes <= 512" test "${maxmsg:-99999}" -le 512

summary
