--
-- 42_job_ids: a zcrm_jobs row belongs to one role on one server
-- (security audit L1 and L3).  Two fresh sandboxes number their jobs
-- alike, as two Zoho organisations may: the same job id from another
-- server, or another role, is refused and changes no row; a job of
-- another role answers exactly as an unknown id does.
--
SELECT sbx.start_sandbox() AS url_a \gset
SELECT sbx.start_sandbox() AS url_b \gset
CREATE SERVER zja FOREIGN DATA WRAPPER zcrm OPTIONS (accounts_url :'url_a', api_domain :'url_a');
CREATE SERVER zjb FOREIGN DATA WRAPPER zcrm OPTIONS (accounts_url :'url_b', api_domain :'url_b');
CREATE ROLE mu_ja;
CREATE ROLE mu_jb;
CREATE ROLE mu_je;
GRANT USAGE ON FOREIGN SERVER zja TO mu_ja, mu_je;
GRANT USAGE ON FOREIGN SERVER zjb TO mu_jb;
CREATE USER MAPPING FOR mu_ja SERVER zja
	OPTIONS (client_id '1000.SANDBOX', client_secret 'sandbox-secret',
			 refresh_token '1000.sandbox.refresh');
CREATE USER MAPPING FOR mu_je SERVER zja
	OPTIONS (client_id '1000.SANDBOX2', client_secret 'sandbox-secret-2',
			 refresh_token '1000.sandbox2.refresh');
CREATE USER MAPPING FOR mu_jb SERVER zjb
	OPTIONS (client_id '1000.SANDBOX', client_secret 'sandbox-secret',
			 refresh_token '1000.sandbox.refresh');
-- try(sql): SQLSTATE, message, DETAIL and HINT, sandbox job ids masked
CREATE FUNCTION try(sql text) RETURNS text LANGUAGE sql AS $$
	SELECT sbx.try(sql, true, ARRAY['\d{16,}', '<job>'])
$$;
\set VERBOSITY default

-- alice schedules on zja
SET ROLE mu_ja;
SELECT zcrm_mass_update_view('Leads', 4150868000000087501, '{"City": "Alice"}', server => 'zja') AS job_a \gset
RESET ROLE;

-- L1: bob's job on zjb gets the same id; it is refused, alice's row stays hers
SET ROLE mu_jb;
SELECT try(format('SELECT zcrm_mass_update_view(%L, %s, %L, server => %L)',
				  'Leads', 4150868000000087501, '{"City": "Bob"}', 'zjb'));
-- nor may he adopt the id through zcrm_job_status (zjb knows it now)
SELECT try(format('SELECT zcrm_job_status(%s, %L, %L)', :job_a, 'Leads', 'zjb'));
RESET ROLE;
SELECT job_id = :job_a AS same_id, server, owner, fields, status
  FROM zcrm_jobs;
SELECT r ->> 'path' AS bobs_post_reached_zjb
  FROM jsonb_array_elements(sbx.get('requests?limit=10', :'url_b') -> 'requests') r
 WHERE r ->> 'method' = 'POST';

-- L3: for eve (USAGE and a mapping on zja, not a member of alice) alice's
-- job id answers as an id nobody has: 42704, no owner named
SET ROLE mu_je;
SELECT try(format('SELECT zcrm_job_status(%s)', :job_a)) AS others_job;
SELECT try('SELECT zcrm_job_status(4150868000009000003)') AS unknown_job;
SELECT try(format('SELECT zcrm_job_status(%s)', :job_a)) =
	   try('SELECT zcrm_job_status(4150868000009000003)') AS status_same;
SELECT try(format('SELECT zcrm_job_wait(%s)', :job_a)) AS others_job;
SELECT try(format('SELECT zcrm_job_wait(%s)', :job_a)) =
	   try('SELECT zcrm_job_wait(4150868000009000003)') AS wait_same;
-- naming the module, eve asks Zoho with her own mapping: her organisation
-- knows alice's job, so she may learn it is followed, never by whom, and
-- alice's row does not change
SELECT try(format('SELECT zcrm_job_status(%s, %L, %L)', :job_a, 'Leads', 'zja'));
SELECT count(*) AS eve_sees FROM zcrm_jobs;
RESET ROLE;
SELECT server, owner, fields FROM zcrm_jobs;

DELETE FROM zcrm_jobs;
DROP FUNCTION try(text);
DROP SERVER zja CASCADE;
DROP SERVER zjb CASCADE;
DROP ROLE mu_ja;
DROP ROLE mu_jb;
DROP ROLE mu_je;
SELECT sbx.stop_sandboxes();
