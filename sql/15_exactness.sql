--
-- 15_exactness: what travels is exactly what was given (issue 3, point 3),
-- zcrm_value's wire format, and bad arguments rejected before any request.
--
CALL sbx.create_server('zoho', 'v8');
CALL sbx.create_mapping('zoho');
CREATE FUNCTION last_bodies(n int) RETURNS SETOF text LANGUAGE sql AS $$
	SELECT r ->> 'body'
	  FROM jsonb_array_elements(sbx.get('requests?limit=' || n) -> 'requests') r
$$;

-- ids beyond 2^53 and 19-digit ids travel as the same digit strings;
-- numeric 1234.50 keeps its digits
SELECT sbx.post('reset') ->> 'ok' AS reset;
SELECT id, status, code
  FROM zcrm_mass_update('Leads', ARRAY[9007199254740993, 4150868000000224005],
						'{"Annual_Revenue": 1234.50}');
SELECT * FROM last_bodies(1);
SELECT id, status, code
  FROM zcrm_mass_update('Leads', ARRAY['9007199254740993', '4150868000000224005']::text[],
						'{"Annual_Revenue": 12345678901234567890.120}');
SELECT * FROM last_bodies(1);

-- Unicode arrives byte for byte (and JSON escapes stay escapes)
SELECT id, status, code
  FROM zcrm_mass_update('Leads', ARRAY[4150868000000224005],
						'{"City": "São Paulo — 東京 😀 \"quoted\""}');
SELECT body,
	   position(convert_to('São Paulo — 東京 😀', 'UTF8') IN convert_to(body, 'UTF8')) > 0 AS same_bytes
  FROM last_bodies(1) body;

-- zcrm_value: Zoho's wire format
SET TimeZone = 'America/Sao_Paulo';
SELECT zcrm_value(timestamptz '2024-03-31 01:30:00.654321+00') AS timestamptz_utc,
	   zcrm_value(timestamp '2024-03-31 01:30:59.999999') AS timestamp_as_utc,
	   zcrm_value(date '2024-02-29') AS date;
RESET TimeZone;
SELECT zcrm_value(1234.50::numeric) AS numeric_exact,
	   zcrm_value(100000000000000000000.000001::numeric) AS big_numeric,
	   zcrm_value(42) AS int,
	   zcrm_value(9007199254740993::bigint) AS bigint,
	   zcrm_value(0.5::float8) AS float,
	   zcrm_value(true) AS bool;
SELECT zcrm_value('Español'::text) AS text,
	   zcrm_value(ARRAY['English', 'Español']) AS text_array,
	   zcrm_value(ARRAY[date '2024-01-01', NULL]) AS date_array,
	   zcrm_value(ARRAY[[1, 2], [3, 4]]) AS nested,
	   zcrm_value('{"id": "4150868000000224005"}'::jsonb) AS jsonb,
	   zcrm_value(NULL::int) AS null_value;
\set VERBOSITY default
SELECT zcrm_value('NaN'::numeric);
SELECT zcrm_value('infinity'::date);
SELECT zcrm_value('-infinity'::timestamptz);
SELECT zcrm_value('Infinity'::float8);
SELECT zcrm_value(ROW(1, 2));
SELECT zcrm_value('2024-01-01');

-- bad arguments: 22023, and not a single request
SELECT sbx.get('stats') ->> 'requests_total' AS before \gset
SELECT * FROM zcrm_mass_update('Leads', ARRAY['12a']::text[], '{"City": "x"}');
SELECT * FROM zcrm_mass_update('Leads', ARRAY['-1']::text[], '{"City": "x"}');
SELECT * FROM zcrm_mass_update('Leads', ARRAY['0']::text[], '{"City": "x"}');
SELECT * FROM zcrm_mass_update('Leads', ARRAY['']::text[], '{"City": "x"}');
SELECT * FROM zcrm_mass_update('Leads', ARRAY[' 1']::text[], '{"City": "x"}');
SELECT * FROM zcrm_mass_update('Leads', ARRAY['9223372036854775808']::text[], '{"City": "x"}');
SELECT * FROM zcrm_mass_update('Leads', ARRAY['1', NULL]::text[], '{"City": "x"}');
-- a huge bad argument is echoed cut short, not whole (it used to fill the
-- message and the log)
SELECT * FROM zcrm_mass_update('Leads', ARRAY[repeat('7', 100000)]::text[], '{"City": "x"}');
SELECT * FROM zcrm_mass_update(repeat('Ação', 50000), ARRAY[1], '{"City": "x"}');
SELECT * FROM zcrm_mass_update('Leads', ARRAY[4150868000000224001, NULL], '{"City": "x"}');
SELECT * FROM zcrm_mass_update('Leads', ARRAY[-4150868000000224001], '{"City": "x"}');
SELECT * FROM zcrm_mass_update('Leads', NULL::bigint[], '{"City": "x"}');
SELECT * FROM zcrm_mass_update('Leads/../x', ARRAY[1], '{"City": "x"}');
SELECT * FROM zcrm_mass_update('Leads?a=1', ARRAY[1], '{"City": "x"}');
SELECT * FROM zcrm_mass_update('', ARRAY[1], '{"City": "x"}');
SELECT * FROM zcrm_mass_update(NULL, ARRAY[1], '{"City": "x"}');
SELECT * FROM zcrm_mass_update('Leads', ARRAY[1], '["City"]');
SELECT * FROM zcrm_mass_update('Leads', ARRAY[1], '"x"');
SELECT * FROM zcrm_mass_update('Leads', ARRAY[1], '{}');
SELECT * FROM zcrm_mass_update('Leads', ARRAY[1], NULL);
SELECT zcrm_mass_update_view('Leads', 4150868000000087501, '{"City": "x", "State": "y"}');
SELECT zcrm_mass_update_view('Leads/x', 4150868000000087501, '{"City": "x"}');
SELECT zcrm_mass_update_view('Leads', -1, '{"City": "x"}');
SELECT zcrm_mass_update_view('Leads', 4150868000000087501, '{"City": "x"}', include_child => true);
SELECT zcrm_job_status(NULL);
SELECT zcrm_job_status(0, 'Leads');
SELECT zcrm_job_status(1, 'Leads?x');
-- a job could not be recorded in a read-only transaction: refused first
BEGIN READ ONLY;
SELECT zcrm_mass_update_view('Leads', 4150868000000087501, '{"City": "x"}');
ROLLBACK;
-- an untyped array literal matches both signatures (DESIGN 8.1)
SELECT * FROM zcrm_mass_update('Leads', '{1,2}', '{"City": "x"}');
SELECT (sbx.get('stats') ->> 'requests_total')::int - :before AS requests_made;

DROP FUNCTION last_bodies(int);
DROP SERVER zoho CASCADE;

-- char(n) is sent without its padding, money as its amount (no currency symbol)
SELECT zcrm_value('ab'::char(5)) AS bpchar, zcrm_value(ARRAY['x'::char(3)]) AS bpchar_array,
       zcrm_value('1234.50'::money) AS money;
