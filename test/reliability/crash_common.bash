# The two crash scripts share this (sourced, not run).
CRASH_RECORDS=10000
CRASH_FIRST_ID=4150868000100000001

# 10,000 captured rows changed twice: 20,000 queued changes, drained
# slowly (200 ms per call, 500 rows per round); returns mid-drain
crash_prepare() {
	setup_outbox
	make_records $CRASH_RECORDS $CRASH_FIRST_ID
	psql -X -q -v ON_ERROR_STOP=1 <<SQL >/dev/null
ALTER SYSTEM SET massupdate.batch_size = 500;
SELECT pg_reload_conf();
CREATE TABLE crash_leads (id int PRIMARY KEY, zoho_id bigint, city text);
INSERT INTO crash_leads SELECT g, $CRASH_FIRST_ID + g - 1, NULL FROM generate_series(1, $CRASH_RECORDS) g;
SELECT zcrm_capture_table('crash_leads', 'Leads', 'zoho_id', '{"city": "City"}');
SQL
	sbx_post faults '{"latency_ms": 200}' >/dev/null
	q "UPDATE crash_leads SET city = 'first-' || (id % 20)"
	q "UPDATE crash_leads SET city = 'second-' || (id % 25)"
	check "20,000 changes queued" test "$(q "SELECT count(*) FROM zcrm_outbox")" = 20000
	check "the drain is under way (some sent, some pending)" \
		wait_sql 120 "(SELECT count(*) FILTER (WHERE state = 'sent') >= 2000 AND count(*) FILTER (WHERE state = 'pending') > 0 FROM zcrm_outbox)"
	echo "# at the crash: $(q "SELECT string_agg(state || ' ' || n, ', ' ORDER BY state) FROM (SELECT state, count(*) n FROM zcrm_outbox GROUP BY 1) s")"
}

crash_verify() {
	# the sandbox's speed back to normal, to finish in reasonable time
	sbx_post faults '{"latency_ms": 0}' >/dev/null
	check "everything is delivered within the deadline" \
		wait_sql 300 "NOT EXISTS (SELECT 1 FROM zcrm_outbox WHERE state IN ('pending', 'sending'))"
	echo "# after: $(q "SELECT string_agg(state || ' ' || n, ', ' ORDER BY state) FROM (SELECT state, count(*) n FROM zcrm_outbox GROUP BY 1) s")"
	check "no row pending or sending" test "$(q "SELECT count(*) FROM zcrm_outbox WHERE state IN ('pending', 'sending')")" = 0
	check "no row failed" test "$(q "SELECT count(*) FROM zcrm_outbox WHERE state = 'failed'")" = 0
	check "all 20,000 rows accounted for (sent or superseded)" \
		test "$(q "SELECT count(*) FROM zcrm_outbox WHERE state IN ('sent', 'superseded')")" = 20000
	check "every record's last change was sent" \
		test "$(q "SELECT count(DISTINCT record_id) FROM zcrm_outbox o WHERE state = 'sent' AND value = to_jsonb((SELECT city FROM crash_leads c WHERE c.zoho_id = o.record_id))")" = $CRASH_RECORDS
	mism=$(crm_mismatches crash_leads zoho_id city City)
	check "the sandbox's records hold the last committed values ($mism mismatches)" test "$mism" = 0
	echo "# mass-update calls: $(sbx_stat mass_update_calls)"
}
