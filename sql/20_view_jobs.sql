--
-- 20_view_jobs: scheduled mass updates over custom views, on v8 and v2
-- servers (issue 3, point 5).  Job ids are made by the sandbox: they are
-- kept in psql variables, never printed.
--
DO $$
BEGIN
	EXECUTE format('CREATE SERVER zoho8 FOREIGN DATA WRAPPER zcrm OPTIONS (accounts_url %L, api_domain %L, api_version %L)',
				   sbx.url(), sbx.url(), 'v8');
	EXECUTE format('CREATE SERVER zoho2 FOREIGN DATA WRAPPER zcrm OPTIONS (accounts_url %L, api_domain %L, api_version %L)',
				   sbx.url(), sbx.url(), 'v2');
END
$$;
CREATE USER MAPPING FOR CURRENT_USER SERVER zoho8
	OPTIONS (client_id '1000.SANDBOX', client_secret 'sandbox-secret',
			 refresh_token '1000.sandbox.refresh');
CREATE USER MAPPING FOR CURRENT_USER SERVER zoho2
	OPTIONS (client_id '1000.SANDBOX2', client_secret 'sandbox-secret-2',
			 refresh_token '1000.sandbox2.refresh');
-- try(sql): SQLSTATE and message of a statement's error, with the
-- sandbox-made job ids masked
CREATE FUNCTION try(sql text) RETURNS text LANGUAGE sql AS $$
	SELECT sbx.try(sql, false, ARRAY['\d{16,}', '<job>'])
$$;
CREATE FUNCTION last_post() RETURNS jsonb LANGUAGE sql AS $$
	SELECT r
	  FROM jsonb_array_elements(sbx.get('requests?limit=50') -> 'requests') r
	 WHERE r ->> 'method' = 'POST'
	 ORDER BY (r ->> 'seq')::bigint DESC
	 LIMIT 1
$$;
SELECT sbx.post('reset') ->> 'ok' AS reset;
\set VERBOSITY default

-- with two servers, server must be named
SELECT zcrm_mass_update_view('Leads', 4150868000000087501, '{"City": "Madrid"}');

-- v8: the job is stored as SCHEDULED, owned by the caller (seen inside the
-- transaction, before the worker is woken at commit)
BEGIN;
SELECT zcrm_mass_update_view('Leads', 4150868000000087501, '{"City": "Madrid"}',
							 server => 'zoho8') AS job8 \gset
SELECT server, owner, module, cvid, territory_id, include_child, fields, over_write, status,
	   total_count, scheduled_at IS NOT NULL AS scheduled, next_poll_at IS NOT NULL AS to_poll,
	   finished_at
  FROM zcrm_jobs WHERE job_id = :job8;
COMMIT;
SELECT (r ->> 'body')::jsonb AS body, r ->> 'path' AS path, r ->> 'status' AS status
  FROM last_post() r;

-- one job per custom view at a time
SELECT zcrm_mass_update_view('Leads', 4150868000000087501, '{"State": "Castile"}',
							 server => 'zoho8');

-- zcrm_job_status fetches live and stores; zcrm_job_wait polls to the end
SELECT job_id = :job8 AS same_job, status IN ('SCHEDULED', 'RUNNING', 'COMPLETED') AS known_status,
	   last_polled_at IS NOT NULL AS polled
  FROM zcrm_job_status(:job8);
SELECT job_id = :job8 AS same_job, status, total_count,
	   updated_count + failed_count + not_updated_count = total_count AS adds_up,
	   not_updated_count, finished_at IS NOT NULL AS finished, next_poll_at
  FROM zcrm_job_wait(:job8, '2 min');
SELECT status, total_count, updated_count + failed_count = total_count AS adds_up
  FROM zcrm_jobs WHERE job_id = :job8;
-- a finished job answers at once, without a call
SELECT sbx.get('stats') ->> 'status_calls' AS status_calls_before \gset
SELECT status FROM zcrm_job_wait(:job8);
SELECT (sbx.get('stats') ->> 'status_calls')::int - :status_calls_before AS new_status_calls;

-- distinct errors: LIMIT_EXCEEDED, NO_RECORDS_FOUND, NO_PERMISSION, invalid view
SELECT zcrm_mass_update_view('Contacts', 4150868000000087503, '{"Mailing_City": "Oslo"}',
							 server => 'zoho8');
SELECT zcrm_mass_update_view('Leads', 4150868000000087502, '{"City": "Oslo"}',
							 server => 'zoho8');
SELECT zcrm_mass_update_view('Leads', 4150868000000087504, '{"City": "Oslo"}',
							 server => 'zoho8');
SELECT zcrm_mass_update_view('Leads', 4150868000000087599, '{"City": "Oslo"}',
							 server => 'zoho8');
-- more fields than the module takes: rejected before any request
SELECT zcrm_mass_update_view('Leads', 4150868000000087501, '{"City": "x", "State": "y"}',
							 server => 'zoho8');

-- unknown jobs
SELECT zcrm_job_status(4150868000000000001);
SELECT zcrm_job_status(4150868000000000001, 'Leads', 'zoho8');
SELECT zcrm_job_status(4150868000000000001, 'Leads', 'zoho2');
SELECT zcrm_job_wait(4150868000000000001);

-- a job that ends FAILED
SELECT zcrm_mass_update_view('Leads', 4150868000000087505, '{"Industry": "Service Provider"}',
							 server => 'zoho8') AS jobf \gset
SELECT status, total_count, updated_count + failed_count + not_updated_count = total_count AS adds_up
  FROM zcrm_job_wait(:jobf, '2 min');

-- v2: same flow over a territory with its child, through the other client
SELECT zcrm_mass_update_view('Leads', 4150868000000087501, '{"Industry": "Large Enterprise"}',
							 territory_id => 4150868000000090001, include_child => true,
							 server => 'zoho2') AS job2 \gset
SELECT server, module, territory_id, include_child, status FROM zcrm_jobs WHERE job_id = :job2;
SELECT (r ->> 'body')::jsonb -> 'territory' AS territory, r ->> 'path' AS path
  FROM last_post() r;
SELECT zcrm_mass_update_view('Leads', 4150868000000087501, '{"Industry": "Service Provider"}',
							 server => 'zoho2');
SELECT status, total_count > 0 AS some_records,
	   updated_count + failed_count + not_updated_count = total_count AS adds_up
  FROM zcrm_job_wait(:job2, '2 min');
SELECT zcrm_mass_update_view('Contacts', 4150868000000087503, '{"Mailing_City": "Oslo"}',
							 server => 'zoho2');
SELECT zcrm_mass_update_view('Leads', 4150868000000087502, '{"City": "Oslo"}',
							 server => 'zoho2');
SELECT zcrm_mass_update_view('Leads', 4150868000000087504, '{"City": "Oslo"}',
							 server => 'zoho2');

-- a job scheduled elsewhere is adopted by zcrm_job_status(job_id, module)
DELETE FROM zcrm_jobs WHERE job_id = :job2;
SELECT job_id = :job2 AS same_job, server, owner, module, cvid, status,
	   updated_count + failed_count + not_updated_count = total_count AS adds_up,
	   next_poll_at, finished_at IS NOT NULL AS finished
  FROM zcrm_job_status(:job2, 'Leads', 'zoho2');
SELECT try(format('SELECT zcrm_job_status(%s, %L)', :job2, 'Deals'));

-- zcrm_job_wait gives up with 57014 at its timeout, quickly
SELECT zcrm_mass_update_view('Leads', 4150868000000087501, '{"City": "Bilbao"}',
							 server => 'zoho8') AS jobt \gset
SELECT clock_timestamp() AS t0 \gset
SELECT try(format('SELECT zcrm_job_wait(%s, %L)', :jobt, '300 ms'));
SELECT clock_timestamp() - :'t0' < interval '2 s' AS quick;
SELECT zcrm_job_wait(:jobt, '-1 s');
-- a transaction that polled a job holds its row until it ends (here another
-- session, through dblink): a status call or a wait elsewhere does not queue
-- behind it (zcrm_job_wait(job, '1 s') used to take as long as that
-- transaction, and zcrm_job_status to wait for it)
CREATE EXTENSION dblink;
SELECT dblink_connect('other', format('host=%s port=%s dbname=%s',
	current_setting('unix_socket_directories'), current_setting('port'), current_database())) AS connected;
SELECT dblink_exec('other', 'BEGIN');
SELECT status IN ('SCHEDULED', 'RUNNING') AS other_polled
  FROM dblink('other', format('SELECT status FROM zcrm_job_status(%s)', :jobt)) AS t(status text);
SET statement_timeout = '5s';	-- so that the old behaviour fails, not hangs
SELECT clock_timestamp() AS t0 \gset
SELECT status IN ('SCHEDULED', 'RUNNING') AS polled, last_polled_at IS NOT NULL AS has_poll_time
  FROM zcrm_job_status(:jobt);
SELECT try(format('SELECT zcrm_job_wait(%s, %L)', :jobt, '1 s'));
SELECT clock_timestamp() - :'t0' < interval '2500 ms' AS not_held_up;
RESET statement_timeout;
SELECT dblink_exec('other', 'COMMIT');
SELECT dblink_disconnect('other');
DROP EXTENSION dblink;
-- an enormous timeout is no timeout (it used to overflow into "negative")
SELECT status FROM zcrm_job_wait(:job8, '100000000 years');
SELECT status FROM zcrm_job_wait(:job8, '178000000 years');

-- writes to zcrm_jobs go through the functions only
CREATE ROLE mu_jobs_reader;
SET ROLE mu_jobs_reader;
SELECT count(*) AS visible_rows FROM zcrm_jobs;
UPDATE zcrm_jobs SET status = 'COMPLETED';
INSERT INTO zcrm_jobs (job_id, server, owner, module, status) VALUES (1, 'zoho8', 'mu_jobs_reader', 'Leads', 'COMPLETED');
SELECT try(format('SELECT zcrm_job_status(%s)', :job8));
RESET ROLE;
DROP ROLE mu_jobs_reader;

SELECT sbx.post('reset') ->> 'ok' AS reset;
DELETE FROM zcrm_jobs;
DROP FUNCTION try(text);
DROP FUNCTION last_post();
DROP SERVER zoho8 CASCADE;
DROP SERVER zoho2 CASCADE;
