#!/usr/bin/env bash
# secrets_in_log.sh: user mapping secrets stay out of the server log however
# the statement spells them (security audit L2).  With log_statement = all,
# log_min_duration_statement = 0 and log_min_messages = debug5, each
# statement below carries a secret that must not reach pg.log: option names
# spelt with Unicode escapes, failing statements (STATEMENT lines), and
# dynamic SQL inside DO blocks (CONTEXT lines and the DO's own text).
#
# Runs inside test/lib/with_cluster.sh.  Prints "N passed, N failed".
set -u
. "$(dirname "$0")/helpers.bash"

log=$ZCRM_TEST_TMP/pg.log
psql -X -q -v ON_ERROR_STOP=1 -v url="$ZCRM_SANDBOX_URL" <<'SQL' >/dev/null
CREATE EXTENSION IF NOT EXISTS massupdate;
CREATE SERVER zoho FOREIGN DATA WRAPPER zcrm OPTIONS (accounts_url :'url', api_domain :'url');
CREATE ROLE sl_a;
CREATE ROLE sl_b;
CREATE USER MAPPING FOR sl_b SERVER zoho
	OPTIONS (client_id '1000.SANDBOX', client_secret 'sandbox-secret', refresh_token '1000.sandbox.refresh');
SQL
before=$(stat -c %s "$log")

# run SQL: one statement through psql (simple protocol), errors expected
run() {
	PGOPTIONS="-c log_statement=all -c log_min_duration_statement=0 -c log_min_messages=debug5" \
		psql -X -q -c "$1" >/dev/null 2>&1
}

# plain spelling: cut as before
run "CREATE USER MAPPING FOR sl_a SERVER zoho OPTIONS (client_id '1000.SANDBOX', client_secret 'PLAIN-SECRET-1', refresh_token 'PLAIN-SECRET-2')"
# option names spelt with Unicode escapes, succeeding and failing
run "$(cat <<'Q'
ALTER USER MAPPING FOR sl_a SERVER zoho OPTIONS (SET U&"client\005Fsecret" 'UESC-SECRET-1')
Q
)"
run "$(cat <<'Q'
CREATE USER MAPPING FOR sl_a SERVER zoho OPTIONS (client_id 'x', U&"client\005Fsecret" 'UESC-SECRET-2', U&"refresh\005Ftoken" 'UESC-SECRET-3')
Q
)"
run "$(cat <<'Q'
ALTER USER MAPPING FOR sl_no_such_role SERVER zoho OPTIONS (SET U&"client\005Fsecret" 'UESC-SECRET-4')
Q
)"
# dynamic SQL in DO: the option name built at run time
run "$(cat <<'Q'
DO $$ BEGIN EXECUTE format('ALTER USER MAPPING FOR sl_a SERVER zoho OPTIONS (SET %I %L)', 'client_' || 'secret', 'DYN-SECRET-1'); END $$
Q
)"
# dynamic SQL whose text names neither USER MAPPING, nor an option, nor the
# secret: only the statement it runs (CONTEXT, internal query) shows them
run "$(cat <<'Q'
DO $$ BEGIN EXECUTE 'CREATE USER ' || 'MAPPING FOR sl_a SERVER zoho OPTIONS (client_id ''x'', U&"client\005Fsecret" ''DYN-' || 'SECRET-2'', U&"refresh\005Ftoken" ''y'')'; END $$
Q
)"
run "$(cat <<'Q'
DO $$ BEGIN EXECUTE 'ALTER USER ' || 'MAPPING FOR sl_no_such_role SERVER zoho OPTIONS (SET U&"client\005Fsecret" ''DYN-' || 'SECRET-3'')'; END $$
Q
)"
run "$(cat <<'Q'
DO $$ BEGIN EXECUTE 'ALTER USER ' || 'MAPPING FOR sl_a SERVER zoho OPTIONS (SET U&"client\005Fsecret" ''DYN-' || 'SECRET-4'')'; END $$
Q
)"
# the extended protocol (as most drivers speak it): its "execute" line
cat >"$ZCRM_TEST_TMP/ext.sql" <<'Q'
ALTER USER MAPPING FOR sl_a SERVER zoho OPTIONS (SET U&"client\005Fsecret" 'EXT-SECRET-1');
Q
chmod 644 "$ZCRM_TEST_TMP/ext.sql"
PGOPTIONS="-c log_statement=all -c log_min_duration_statement=0 -c log_min_messages=debug5" \
	pgbench -n -t 1 -M extended -f "$ZCRM_TEST_TMP/ext.sql" >/dev/null 2>&1

after=$(stat -c %s "$log")
tail -c +"$((before + 1))" "$log" | head -c "$((after - before))" >"$ZCRM_TEST_TMP/secrets.log"
for s in PLAIN-SECRET-1 PLAIN-SECRET-2 UESC-SECRET-1 UESC-SECRET-2 UESC-SECRET-3 UESC-SECRET-4 DYN-SECRET-1 DYN-SECRET-2 DYN-SECRET-3 DYN-SECRET-4 EXT-SECRET-1; do
	if grep -q -- "$s" "$ZCRM_TEST_TMP/secrets.log"; then
		check "$s not in the log" false
		grep -- "$s" "$ZCRM_TEST_TMP/secrets.log" | head -n 3 | cut -c 1-300 | sed 's/^/  | /'
	else
		check "$s not in the log" true
	fi
done
# the statements were logged, cut (the mapping statements and the DO
# block that names one), and their errors too
check "statements are logged, cut" test "$(grep -c 'hidden by massupdate' "$ZCRM_TEST_TMP/secrets.log")" -ge 6
check "the errors are logged" test "$(grep -c 'ERROR:' "$ZCRM_TEST_TMP/secrets.log")" -ge 3
# the mapping was changed all the same
check "the altered secret took effect" test "$(q "SELECT option_value FROM pg_options_to_table((SELECT umoptions FROM pg_user_mappings WHERE usename = 'sl_a')) WHERE option_name = 'client_secret'")" = EXT-SECRET-1

psql -X -q -c "DROP SERVER zoho CASCADE" -c "DROP ROLE sl_a" -c "DROP ROLE sl_b" >/dev/null 2>&1
summary
