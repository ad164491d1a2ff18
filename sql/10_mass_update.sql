--
-- 10_mass_update: immediate mass updates by ids (issue 3, point 2).
-- Call counts come from the sandbox's stats, reset before each case.
--
CALL sbx.create_server('zoho', 'v8');
CALL sbx.create_mapping('zoho');
CREATE FUNCTION calls() RETURNS TABLE (calls int, ids_received int, max_ids_per_call int)
LANGUAGE sql AS $$
	SELECT (s->>'mass_update_calls')::int, (s->>'ids_received')::int,
		   (s->>'max_ids_per_call')::int
	  FROM sbx.get('stats') s
$$;

-- 1,201 distinct ids plus 100 duplicates: 3 calls of at most 500 ids,
-- one row per distinct id, in first-occurrence order
SELECT sbx.post('reset') ->> 'ok' AS reset;
CREATE TEMP TABLE r AS
SELECT *
  FROM zcrm_mass_update('Leads',
						ARRAY(SELECT 4150868000000224001 + i FROM generate_series(0, 1200) i) ||
						ARRAY(SELECT 4150868000000224001 + i FROM generate_series(0, 99) i),
						'{"City": "Lisbon"}')
	   WITH ORDINALITY AS t(id, field_names, status, code, message, details, n);
SELECT * FROM calls();
SELECT count(*) AS rows, count(DISTINCT id) AS distinct_ids,
	   count(*) FILTER (WHERE id <> 4150868000000224001 + n - 1) AS out_of_order,
	   count(*) FILTER (WHERE field_names <> '{City}') AS other_fields
  FROM r;
-- the locked and the not-approved Lead fail on their own; the rest succeed
SELECT status, code, count(*) FROM r GROUP BY 1, 2 ORDER BY 1, 2;
SELECT id, status, code, message FROM r WHERE status = 'error' ORDER BY n;
SELECT (details ? 'Modified_Time') AS has_modified_time, details ->> 'id' = id::text AS same_id
  FROM r WHERE id = 4150868000000224001;

-- a mix of valid, unknown, blueprint and locked ids: each record's own
-- code, no ERROR; rows in the order the ids were given
SELECT sbx.post('reset') ->> 'ok' AS reset;
SELECT id, field_names, status, code, message
  FROM zcrm_mass_update('Leads',
						ARRAY[4150868000000224010, 4150868000009999999, 4150868000000224006,
							  4150868000000224007, 4150868000000224011],
						'{"Lead_Status": "Contacted"}');
SELECT * FROM calls();
-- the blueprint only guards its picklist: another field of that Lead updates
SELECT id, status, code
  FROM zcrm_mass_update('Leads', ARRAY[4150868000000224006], '{"Industry": "Large Enterprise"}');

-- the same through text ids, duplicates sent once
SELECT sbx.post('reset') ->> 'ok' AS reset;
SELECT id, status, code
  FROM zcrm_mass_update('Leads', ARRAY['4150868000000224012', '4150868000000224012',
									   '004150868000000224013']::text[],
						'{"City": "Faro"}');
SELECT * FROM calls();

-- two fields on Leads: one field per call, so 2 calls per chunk of ids and
-- one row per record per field group (jsonb key order: City, then State)
SELECT sbx.post('reset') ->> 'ok' AS reset;
CREATE TEMP TABLE r2 AS
SELECT *
  FROM zcrm_mass_update('Leads',
						ARRAY(SELECT 4150868000000224101 + i FROM generate_series(0, 599) i),
						'{"State": "Norte", "City": "Porto"}')
	   WITH ORDINALITY AS t(id, field_names, status, code, message, details, n);
SELECT * FROM calls();
SELECT field_names, count(*) AS rows, min(n) AS first_row, max(n) AS last_row,
	   count(*) FILTER (WHERE status = 'success') AS ok
  FROM r2 GROUP BY 1 ORDER BY 3;

-- three fields on Deals: one call; four fields: two calls
SELECT sbx.post('reset') ->> 'ok' AS reset;
SELECT field_names, status, code, count(*)
  FROM zcrm_mass_update('Deals',
						ARRAY(SELECT 4150868000000300001 + i FROM generate_series(0, 9) i),
						'{"Stage": "Negotiation/Review", "Amount": 1234.50, "Next_Step": "Call back"}')
 GROUP BY 1, 2, 3 ORDER BY 1, 2 DESC, 3;
SELECT * FROM calls();
SELECT sbx.post('reset') ->> 'ok' AS reset;
SELECT field_names, status, code, count(*)
  FROM zcrm_mass_update('Deals',
						ARRAY(SELECT 4150868000000300001 + i FROM generate_series(0, 9) i),
						'{"Stage": "Negotiation/Review", "Amount": 99.5, "Next_Step": "Call back",
						  "Probability": 80}')
 GROUP BY 1, 2, 3 ORDER BY 1 DESC, 2 DESC, 3;
SELECT * FROM calls();

-- the calls of one statement are in flight together, up to the server's
-- max_concurrency (default 5): 3 calls of 400 ms take well under 3 x 400 ms
SELECT sbx.post('reset') ->> 'ok' AS reset;
SELECT sbx.post('faults', '{"latency_ms": 400}') ->> 'ok' AS faults;
SELECT clock_timestamp() AS t0 \gset
SELECT count(*) FROM zcrm_mass_update('Leads',
									   ARRAY(SELECT 4150868000000224001 + i FROM generate_series(0, 1499) i),
									   '{"City": "Evora"}');
SELECT clock_timestamp() - :'t0' < interval '1000 ms' AS concurrent,
	   (sbx.get('stats') ->> 'peak_concurrent')::int AS peak_concurrent;
ALTER SERVER zoho OPTIONS (ADD max_concurrency '1');
SELECT sbx.post('reset') ->> 'ok' AS reset;
SELECT sbx.post('faults', '{"latency_ms": 400}') ->> 'ok' AS faults;
SELECT clock_timestamp() AS t0 \gset
SELECT count(*) FROM zcrm_mass_update('Leads',
									   ARRAY(SELECT 4150868000000224001 + i FROM generate_series(0, 1499) i),
									   '{"City": "Evora"}');
SELECT clock_timestamp() - :'t0' >= interval '1200 ms' AS one_at_a_time,
	   (sbx.get('stats') ->> 'peak_concurrent')::int AS peak_concurrent;
ALTER SERVER zoho OPTIONS (DROP max_concurrency);
SELECT sbx.post('faults', '{"latency_ms": 0}') ->> 'ok' AS faults;

-- 100,000 ids (200 calls) in one statement: answers become rows call by
-- call, in waves of calls, so the backend's memory stays small (the peak
-- used to grow by about 370 MB); rows stay in first-occurrence order
CREATE FUNCTION peak_rss_kb() RETURNS bigint LANGUAGE sql AS $$
	SELECT substring(pg_read_file('/proc/self/status') FROM 'VmHWM:\s*(\d+) kB')::bigint
$$;
SELECT sbx.post('reset') ->> 'ok' AS reset;
SELECT peak_rss_kb() AS peak_before \gset
SELECT count(*) AS rows, count(DISTINCT id) AS distinct_ids,
	   count(*) FILTER (WHERE id <> 4150868000000224001 + n - 1) AS out_of_order,
	   count(*) FILTER (WHERE status = 'success') AS updated
  FROM zcrm_mass_update('Leads',
						ARRAY(SELECT 4150868000000224001 + i FROM generate_series(0, 99999) i),
						'{"City": "Setubal"}')
	   WITH ORDINALITY AS t(id, field_names, status, code, message, details, n);
SELECT peak_rss_kb() - :peak_before < 100 * 1024 AS peak_grew_less_than_100mb;
SELECT * FROM calls();
DROP FUNCTION peak_rss_kb();

-- empty ids: no rows and no call
SELECT sbx.post('reset') ->> 'ok' AS reset;
SELECT count(*) FROM zcrm_mass_update('Leads', ARRAY[]::bigint[], '{"City": "Braga"}');
SELECT count(*) FROM zcrm_mass_update('Leads', '{}'::text[], '{"City": "Braga"}');
SELECT * FROM calls();

-- request-level refusals are ERRORs naming Zoho's code
\set VERBOSITY default
SELECT * FROM zcrm_mass_update('Leads', ARRAY[4150868000000224001], '{"Email": "a@example.com"}');
SELECT * FROM zcrm_mass_update('Leads', ARRAY[4150868000000224001], '{"No_Such_Field": 1}');
SELECT * FROM zcrm_mass_update('Nonexistent', ARRAY[4150868000000224001], '{"City": "x"}');
-- a value of the wrong type: the hint names the type Zoho expects (it used
-- to say the field was not mass-updatable)
SELECT * FROM zcrm_mass_update('Leads', ARRAY[4150868000000224001], '{"City": {"name": "Porto"}}');
-- over_write travels with the call (multi-select picklists)
SELECT sbx.post('reset') ->> 'ok' AS reset;
SELECT id, status, code
  FROM zcrm_mass_update('Deals', ARRAY[4150868000000300001],
						'{"Languages_Known": ["English", "Español"]}', over_write => true);
SELECT (r ->> 'body')::jsonb -> 'over_write' AS over_write
  FROM jsonb_array_elements(sbx.get('requests?limit=1') -> 'requests') r;

-- the server may be named; an unknown one is 42704
SELECT count(*) FROM zcrm_mass_update('Leads', ARRAY[4150868000000224001], '{"City": "Lisbon"}',
									   server => 'zoho');
SELECT count(*) FROM zcrm_mass_update('Leads', ARRAY[4150868000000224001], '{"City": "Lisbon"}',
									   server => 'no_such_server');

-- per-record answers come as rows whatever the status: v8 answers 207 for
-- mixed results and 400 when every record fails, v2 answers 200 and 400
CALL sbx.create_server('zoho_v2', 'v2');
CREATE USER MAPPING FOR CURRENT_USER SERVER zoho_v2
	OPTIONS (client_id '1000.SANDBOX', client_secret 'sandbox-secret',
			 refresh_token '1000.sandbox.refresh');
SELECT sbx.post('reset') ->> 'ok' AS reset;
SELECT s.srv, m.id, m.status, m.code
  FROM (VALUES ('zoho'), ('zoho_v2')) s(srv),
	   LATERAL (SELECT * FROM zcrm_mass_update('Leads', ARRAY[4150868000000224010, 4150868000009999999],
											   '{"City": "Tui"}', server => s.srv::name)
				UNION ALL
				SELECT * FROM zcrm_mass_update('Leads', ARRAY[4150868000009999998],
											   '{"City": "Tui"}', server => s.srv::name)) m;
SELECT r ->> 'path' AS path, r ->> 'status' AS http_status
  FROM jsonb_array_elements(sbx.get('requests?limit=4') -> 'requests') r;
DROP SERVER zoho_v2 CASCADE;

DROP FUNCTION calls();
DROP SERVER zoho CASCADE;
