-- massupdate demo: Zoho CRM mass updates from psql, against zcrm-sandbox.
-- Run by `make demo` (test/demo.sh), which sets ZCRM_SANDBOX_URL.
\set ECHO none
\getenv sandbox_url ZCRM_SANDBOX_URL
\pset footer off
SELECT set_config('demo.sandbox_url', :'sandbox_url', false) IS NOT NULL AS sandbox_known \gset
-- sandbox(method, path[, body]): the sandbox's own counters and controls, for the demo's eyes only
CREATE TEMP TABLE sandbox_out (line text);
CREATE FUNCTION pg_temp.sandbox(method text, path text, body jsonb DEFAULT NULL) RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
	answer text;
BEGIN
	TRUNCATE sandbox_out;
	-- a jsonb body's text has no single quote that is not inside a string;
	-- the shell quoting below doubles every one anyway
	EXECUTE format('COPY sandbox_out FROM PROGRAM %L WITH (FORMAT csv, DELIMITER E''\x02'', QUOTE E''\x01'')',
				   format('curl -sS -X %s %s%s | tr -d ''\n''; echo', method,
						  current_setting('demo.sandbox_url') || '/__sandbox/' || path,
						  CASE WHEN body IS NULL THEN ''
							   ELSE ' -H ''Content-Type: application/json'' --data-binary '''
									|| replace(body::text, '''', '''\''''') || '''' END));
	SELECT line INTO answer FROM sandbox_out;
	RETURN answer::jsonb;
END
$$;
\set ECHO queries

\echo
\echo '=== 1. Where Zoho CRM is (a server), and whose credentials to use (a user mapping) ==='
\echo
CREATE EXTENSION IF NOT EXISTS massupdate;
SELECT format('CREATE SERVER zoho FOREIGN DATA WRAPPER zcrm OPTIONS (accounts_url %L, api_domain %L, api_version %L)',
			  :'sandbox_url', :'sandbox_url', 'v8') AS create_server \gset
:create_server;
CREATE USER MAPPING FOR CURRENT_USER SERVER zoho
	OPTIONS (client_id '1000.SANDBOX', client_secret 'sandbox-secret',
			 refresh_token '1000.sandbox.refresh');
SELECT srvname AS server, srvoptions AS options FROM pg_foreign_server;
SELECT pg_temp.sandbox('POST', 'reset') ->> 'ok' AS sandbox_counters_reset;
-- like a real CRM, the sandbox now takes a while to answer each call
SELECT pg_temp.sandbox('POST', 'faults', '{"latency_ms": 300}') ->> 'ok' AS sandbox_answers_in_300_ms;

\echo
\echo '=== 2. Mass-update 1,250 Leads by id, in one statement ==='
\echo '    (the list includes a Lead in a blueprint, a locked one, one not approved,'
\echo '     and an id that does not exist)'
\echo
\timing on
CREATE TEMP TABLE result AS
SELECT *
  FROM zcrm_mass_update('Leads',
						ARRAY(SELECT 4150868000000224001 + i FROM generate_series(0, 1248) i)
						|| 4150868000009999999,
						'{"Lead_Status": "Contacted"}');
\timing off
\echo
\echo '--- one row per record: how they ended'
SELECT status, code, count(*) AS records FROM result GROUP BY 1, 2 ORDER BY 3 DESC;
\echo
\echo '--- the records Zoho refused, each with its own reason (the others were updated, no ERROR)'
SELECT id, code, message FROM result WHERE status = 'error' ORDER BY id;
\echo
\echo '--- what it took, as counted by the sandbox: calls of at most 500 ids, sent concurrently'
\echo '    (three calls that each took 300 ms, in flight together: the statement took about 300 ms, not 900)'
SELECT s -> 'mass_update_calls' AS mass_update_calls,
	   s -> 'ids_received' AS ids_received,
	   s -> 'max_ids_per_call' AS largest_call,
	   s -> 'peak_concurrent' AS peak_concurrent_calls,
	   s -> 'tokens_issued' AS oauth_tokens_issued
  FROM pg_temp.sandbox('GET', 'stats') s;

\echo
\echo '=== 3. Schedule a mass update over a custom view (all 5,000 Leads), then wait for it ==='
\echo
SELECT pg_temp.sandbox('POST', 'faults', '{"latency_ms": 0}') ->> 'ok' AS sandbox_latency_back_to_0;
SELECT zcrm_mass_update_view('Leads', 4150868000000087501, '{"City": "Lisbon"}') AS job_id \gset
SELECT job_id, module, cvid, fields, status, owner FROM zcrm_jobs WHERE job_id = :job_id;
\echo
\echo '--- zcrm_job_wait polls Zoho with back-off until the job ends'
\timing on
SELECT job_id, status, total_count, updated_count, failed_count, not_updated_count,
	   updated_count + failed_count + not_updated_count = total_count AS counts_add_up,
	   finished_at - scheduled_at AS took
  FROM zcrm_job_wait(:job_id, '5 min');
\timing off

\echo
\echo '=== done: the throwaway cluster and the sandbox stop now ==='
