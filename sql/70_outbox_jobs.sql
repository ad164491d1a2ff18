--
-- 70_outbox_jobs: the worker polls view jobs into zcrm_jobs until they end
-- (issue 4, point 6; DESIGN 5 and 8.11).
--
CALL sbx.create_server('zoho', 'v8');
CALL sbx.create_mapping('zoho');
ALTER SYSTEM SET massupdate.naptime = '1h';
ALTER SYSTEM SET massupdate.job_poll_max_interval = '1s';
SELECT pg_reload_conf();
CREATE SCHEMA t70;
CREATE FUNCTION t70.worker_pid() RETURNS int LANGUAGE plpgsql AS $$
BEGIN
	PERFORM pg_stat_clear_snapshot();	-- pg_stat_activity is cached per transaction
	RETURN (SELECT pid FROM pg_stat_activity
			 WHERE backend_type = 'massupdate worker' AND datname = current_database());
END
$$;
CREATE FUNCTION t70.status_calls() RETURNS int LANGUAGE sql
AS $$ SELECT (sbx.get('stats') ->> 'status_calls')::int $$;

-- a view job reaches COMPLETED in zcrm_jobs with its counts, with no
-- further call from us: the worker polls it (with back-off)
SELECT sbx.post('reset') ->> 'ok' AS reset;
SELECT zcrm_mass_update_view('Leads', 4150868000000087501, '{"City": "Jobville"}') AS job \gset
SELECT status, next_poll_at IS NOT NULL AS will_poll FROM zcrm_jobs WHERE job_id = :job;
SELECT sbx.wait(format('(SELECT status = %L FROM zcrm_jobs WHERE job_id = %s)', 'COMPLETED', :job),
				'60s') AS completed;
SELECT status, total_count, updated_count, failed_count, not_updated_count,
	   updated_count + failed_count + not_updated_count = total_count AS counts_add_up,
	   last_polled_at IS NOT NULL AS polled, finished_at IS NOT NULL AS finished,
	   next_poll_at, last_error
  FROM zcrm_jobs WHERE job_id = :job;
-- polled with back-off: a handful of status requests, not one per naptime
SELECT t70.status_calls() BETWEEN 1 AND 20 AS few_polls;

-- a job the sandbox fails ends FAILED
SELECT sbx.post('reset') ->> 'ok' AS reset;
SELECT zcrm_mass_update_view('Leads', 4150868000000087505, '{"City": "Failville"}') AS job \gset
SELECT sbx.wait(format('(SELECT status IN (%L, %L) FROM zcrm_jobs WHERE job_id = %s)',
					   'COMPLETED', 'FAILED', :job), '60s') AS ended;
SELECT status, total_count, failed_count, finished_at IS NOT NULL AS finished, next_poll_at
  FROM zcrm_jobs WHERE job_id = :job;

-- polling resumes after the worker restarts
SELECT sbx.post('reset') ->> 'ok' AS reset;
SELECT sbx.post('faults', '{"job_rate": 1000}') ->> 'ok' AS slow_jobs;
SELECT t70.worker_pid() AS old_pid \gset
SELECT zcrm_mass_update_view('Leads', 4150868000000087501, '{"City": "Restartville"}') AS job \gset
SELECT sbx.wait(format('(SELECT last_polled_at IS NOT NULL FROM zcrm_jobs WHERE job_id = %s)', :job),
				'30s') AS polled_once;
SELECT pg_terminate_backend(:old_pid) AS terminated;
SELECT sbx.wait(format('t70.worker_pid() IS NOT NULL AND t70.worker_pid() <> %s', :old_pid),
				'30s') AS restarted;
SELECT sbx.wait(format('(SELECT status = %L FROM zcrm_jobs WHERE job_id = %s)', 'COMPLETED', :job),
				'60s') AS completed;
SELECT status, updated_count + failed_count + not_updated_count = total_count AS counts_add_up,
	   next_poll_at
  FROM zcrm_jobs WHERE job_id = :job;

-- job_poll_timeout: the job keeps its last status, last_error says why,
-- next_poll_at becomes NULL
ALTER SYSTEM SET massupdate.job_poll_timeout = '1s';
SELECT pg_reload_conf();
SELECT sbx.post('reset') ->> 'ok' AS reset;
SELECT sbx.post('faults', '{"job_rate": 10}') ->> 'ok' AS very_slow_jobs;
SELECT zcrm_mass_update_view('Leads', 4150868000000087501, '{"City": "Slowville"}') AS job \gset
SELECT sbx.wait(format('(SELECT next_poll_at IS NULL FROM zcrm_jobs WHERE job_id = %s)', :job),
				'30s') AS gave_up;
SELECT status IN ('SCHEDULED', 'RUNNING') AS kept_last_status, finished_at,
	   last_error LIKE '%massupdate.job_poll_timeout%' AS says_why, last_error
  FROM zcrm_jobs WHERE job_id = :job;
ALTER SYSTEM RESET massupdate.job_poll_timeout;
SELECT pg_reload_conf();

-- clean up
SELECT sbx.post('reset') ->> 'ok' AS reset;
DELETE FROM zcrm_jobs;
DROP SCHEMA t70 CASCADE;
DROP SERVER zoho CASCADE;
ALTER SYSTEM RESET massupdate.naptime;
ALTER SYSTEM RESET massupdate.job_poll_max_interval;
SELECT pg_reload_conf();
