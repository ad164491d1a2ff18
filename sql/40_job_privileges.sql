--
-- 40_job_privileges: who may see and poll a job, and who pays for calls
-- (DESIGN 8.6 and 8.8).  Job ids are the sandbox's: kept in variables.
--
CALL sbx.create_server('zoho', 'v8');
CREATE ROLE mu_alice;
CREATE ROLE mu_bob;
CREATE ROLE mu_carol IN ROLE mu_alice;
GRANT USAGE ON FOREIGN SERVER zoho TO mu_alice, mu_bob;
CREATE USER MAPPING FOR mu_alice SERVER zoho
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

-- alice schedules: the row is hers, though she cannot write the table
SET ROLE mu_alice;
SELECT zcrm_mass_update_view('Leads', 4150868000000087505, '{"Industry": "Government/Military"}') AS job \gset
SELECT owner, module, status FROM zcrm_jobs WHERE job_id = :job;
UPDATE zcrm_jobs SET status = 'COMPLETED' WHERE job_id = :job;
DELETE FROM zcrm_jobs WHERE job_id = :job;
INSERT INTO zcrm_jobs (job_id, server, owner, module, status)
	VALUES (1, 'zoho', 'mu_alice', 'Leads', 'SCHEDULED');
RESET ROLE;
-- the call used alice's own credentials
SELECT r ->> 'client_id' AS client_id, r ->> 'path' AS path FROM last_post() r;

-- bob sees no row and may not poll alice's job; without a user mapping he
-- makes no request at all
SET ROLE mu_bob;
SELECT count(*) AS bob_sees FROM zcrm_jobs;
SELECT try(format('SELECT zcrm_job_status(%s)', :job));
SELECT try(format('SELECT zcrm_job_wait(%s)', :job));
RESET ROLE;
-- (counting POSTs: the worker may poll alice's job meanwhile)
SELECT sbx.get('stats') ->> 'mass_update_calls' AS before \gset
SET ROLE mu_bob;
SELECT * FROM zcrm_mass_update('Leads', ARRAY[4150868000000224001], '{"City": "x"}');
SELECT zcrm_mass_update_view('Leads', 4150868000000087501, '{"City": "x"}');
SELECT try(format('SELECT zcrm_job_status(%s, %L)', :job, 'Leads'));
RESET ROLE;
SELECT (sbx.get('stats') ->> 'mass_update_calls')::int - :before AS posts_made;

-- carol, a member of alice, sees the job and waits for it with alice's mapping
SET ROLE mu_carol;
SELECT count(*) AS carol_sees FROM zcrm_jobs;
SELECT status, owner, updated_count + failed_count + not_updated_count = total_count AS adds_up
  FROM zcrm_job_wait(:job, '1 min');
RESET ROLE;
SELECT DISTINCT r ->> 'client_id' AS status_polled_with
  FROM jsonb_array_elements(sbx.get('requests?limit=100') -> 'requests') r
 WHERE r ->> 'method' = 'GET';

DELETE FROM zcrm_jobs;
DROP FUNCTION try(text);
DROP FUNCTION last_post();
DROP SERVER zoho CASCADE;
DROP ROLE mu_carol;
DROP ROLE mu_alice;
DROP ROLE mu_bob;
