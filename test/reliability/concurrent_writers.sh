#!/usr/bin/env bash
# Concurrent writers (issue 4, point 3): eight clients update the same 100
# captured records at random, two rows per transaction (locked in id order,
# so no deadlock), 1,200 transactions, while the worker
# drains.  Afterwards the CRM's value of every record is the last committed
# value (row locks order the captured changes in commit order, and the
# worker applies them in outbox id order).
set -u
. "$(dirname "$0")/helpers.bash"

FIRST=4150868000300000001
N=100
setup_outbox
make_records $N $FIRST
psql -X -q -v ON_ERROR_STOP=1 <<SQL >/dev/null
CREATE TABLE cw_leads (id int PRIMARY KEY, zoho_id bigint, city text, industry text);
INSERT INTO cw_leads SELECT g, $FIRST + g - 1, NULL, NULL FROM generate_series(1, $N) g;
SELECT zcrm_capture_table('cw_leads', 'Leads', 'zoho_id', '{"city": "City"}');
SQL
sbx_post faults '{"latency_ms": 5}' >/dev/null

script=$ZCRM_TEST_TMP/cw.pgbench
cat >"$script" <<PGB
\set r1 random(1, $N)
\set r2 random(1, $N)
\set a least(:r1, :r2)
\set b greatest(:r1, :r2)
BEGIN;
UPDATE cw_leads SET city = 'c' || :client_id || '-' || :a || '-' || (random() * 1000000)::int WHERE id = :a;
UPDATE cw_leads SET city = 'd' || :client_id || '-' || :b || '-' || (random() * 1000000)::int WHERE id = :b;
COMMIT;
PGB
chmod 644 "$script"
out=$("$("${PG_CONFIG:-pg_config}" --bindir)/pgbench" -n -c 8 -j 4 -t 150 -f "$script" 2>&1)
echo "$out" | grep -E "number of (transactions actually processed|failed)|tps" | sed 's/^/# /'
check "pgbench ran every transaction" bash -c "echo \"\$0\" | grep -q 'number of transactions actually processed: 1200/1200'" "$out"
check "every change is delivered" \
	wait_sql 120 "NOT EXISTS (SELECT 1 FROM zcrm_outbox WHERE state IN ('pending', 'sending'))"
echo "# outbox: $(q "SELECT string_agg(state || ' ' || n, ', ' ORDER BY state) FROM (SELECT state, count(*) n FROM zcrm_outbox GROUP BY 1) s")"
check "nothing failed" test "$(q "SELECT count(*) FROM zcrm_outbox WHERE state = 'failed'")" = 0
mism=$(crm_mismatches cw_leads zoho_id city City)
check "the CRM holds each record's last committed value ($mism mismatches)" test "$mism" = 0
summary
