
-- ---------------------------------------------------------------------------
-- Credentials, immediate mass updates, view jobs and zcrm_value.
-- DESIGN sections 3, 4, 6 and 8.
-- ---------------------------------------------------------------------------

-- The zcrm foreign data wrapper holds connection settings (servers) and
-- secrets (user mappings); it has a validator and no handler.
CREATE FUNCTION zcrm_fdw_validator(text[], oid)
	RETURNS void
	LANGUAGE C STRICT AS 'MODULE_PATHNAME', 'zcrm_fdw_validator';
COMMENT ON FUNCTION zcrm_fdw_validator(text[], oid) IS
	'Validates the options of zcrm servers and user mappings';

CREATE FOREIGN DATA WRAPPER zcrm VALIDATOR zcrm_fdw_validator;
COMMENT ON FOREIGN DATA WRAPPER zcrm IS
	'Zoho CRM accounts: servers hold dc, URLs, api_version and limits; user mappings hold OAuth credentials';

-- Scheduled (custom view) mass update jobs, polled by the worker.
CREATE TABLE zcrm_jobs (
	job_id				bigint PRIMARY KEY,
	server				name NOT NULL,
	owner				regrole NOT NULL,
	module				text NOT NULL,
	cvid				bigint,
	territory_id		bigint,
	include_child		boolean,
	fields				jsonb,
	over_write			boolean,
	status				text NOT NULL
						CHECK (status IN ('SCHEDULED', 'QUEUED', 'RUNNING', 'SUSPENDED',
										  'COMPLETED', 'FAILED')),
	total_count			integer,
	updated_count		integer,
	failed_count		integer,
	not_updated_count	integer,
	scheduled_at		timestamptz NOT NULL DEFAULT now(),
	last_polled_at		timestamptz,
	next_poll_at		timestamptz,
	finished_at			timestamptz,
	last_error			text
);

COMMENT ON TABLE zcrm_jobs IS
	'Zoho CRM scheduled mass update jobs (zcrm_mass_update_view), polled by the massupdate worker';
COMMENT ON COLUMN zcrm_jobs.owner IS
	'The role that scheduled (or adopted) the job; its user mapping is used to poll it';
COMMENT ON COLUMN zcrm_jobs.cvid IS
	'Custom view id; NULL for a job adopted with zcrm_job_status(job_id, module)';
COMMENT ON COLUMN zcrm_jobs.status IS
	'Zoho''s job Status: SCHEDULED, QUEUED, RUNNING, SUSPENDED, COMPLETED or FAILED';
COMMENT ON COLUMN zcrm_jobs.total_count IS
	'Zoho''s Total_Count (= updated + failed + not updated); NULL until first polled';
COMMENT ON COLUMN zcrm_jobs.next_poll_at IS
	'When the worker polls next; NULL once the job ended or polling gave up';
COMMENT ON COLUMN zcrm_jobs.last_error IS
	'Why the last poll failed, or why polling stopped; NULL after a good poll';

-- The worker's due jobs.
CREATE INDEX zcrm_jobs_next_poll ON zcrm_jobs (next_poll_at)
	WHERE next_poll_at IS NOT NULL;

-- Rows are readable by members of their owner (superusers read all); the
-- table is written only by the extension's functions and worker.
ALTER TABLE zcrm_jobs ENABLE ROW LEVEL SECURITY;
CREATE POLICY zcrm_jobs_owner ON zcrm_jobs FOR SELECT
	USING (pg_catalog.pg_has_role(owner, 'MEMBER'));
REVOKE ALL ON zcrm_jobs FROM PUBLIC;
GRANT SELECT ON zcrm_jobs TO PUBLIC;

SELECT pg_catalog.pg_extension_config_dump('zcrm_jobs', '');

-- Immediate (non-scheduler) mass update by record ids.
CREATE FUNCTION zcrm_mass_update(module text, ids bigint[], fields jsonb,
								 over_write boolean DEFAULT false,
								 server name DEFAULT NULL)
	RETURNS TABLE (id bigint, field_names text[], status text, code text,
				   message text, details jsonb)
	LANGUAGE C VOLATILE ROWS 1000 AS 'MODULE_PATHNAME', 'zcrm_mass_update';
COMMENT ON FUNCTION zcrm_mass_update(text, bigint[], jsonb, boolean, name) IS
	'Updates fields of Zoho CRM records by id now, in calls of at most 500 ids; one row per record and field group';

CREATE FUNCTION zcrm_mass_update(module text, ids text[], fields jsonb,
								 over_write boolean DEFAULT false,
								 server name DEFAULT NULL)
	RETURNS TABLE (id bigint, field_names text[], status text, code text,
				   message text, details jsonb)
	LANGUAGE C VOLATILE ROWS 1000 AS 'MODULE_PATHNAME', 'zcrm_mass_update';
COMMENT ON FUNCTION zcrm_mass_update(text, text[], jsonb, boolean, name) IS
	'Updates fields of Zoho CRM records by id (text of digits) now; same as the bigint[] form';

-- Scheduled mass update over a custom view, and its status.
CREATE FUNCTION zcrm_mass_update_view(module text, cvid bigint, fields jsonb,
									  territory_id bigint DEFAULT NULL,
									  include_child boolean DEFAULT false,
									  over_write boolean DEFAULT false,
									  server name DEFAULT NULL)
	RETURNS bigint
	LANGUAGE C VOLATILE AS 'MODULE_PATHNAME', 'zcrm_mass_update_view';
COMMENT ON FUNCTION zcrm_mass_update_view(text, bigint, jsonb, bigint, boolean, boolean, name) IS
	'Schedules a Zoho CRM mass update over a custom view (optionally a territory); returns the job id, stored in zcrm_jobs';

CREATE FUNCTION zcrm_job_status(job_id bigint, module text DEFAULT NULL,
								server name DEFAULT NULL)
	RETURNS zcrm_jobs
	LANGUAGE C VOLATILE AS 'MODULE_PATHNAME', 'zcrm_job_status';
COMMENT ON FUNCTION zcrm_job_status(bigint, text, name) IS
	'Fetches a mass update job''s status from Zoho CRM now, stores it in zcrm_jobs and returns the row';

CREATE FUNCTION zcrm_job_wait(job_id bigint, timeout interval DEFAULT '1 hour')
	RETURNS zcrm_jobs
	LANGUAGE C VOLATILE AS 'MODULE_PATHNAME', 'zcrm_job_wait';
COMMENT ON FUNCTION zcrm_job_wait(bigint, interval) IS
	'Polls a job until COMPLETED or FAILED and returns its zcrm_jobs row; 57014 after the timeout';

-- A SQL value in Zoho's wire format.
CREATE FUNCTION zcrm_value(anyelement)
	RETURNS jsonb
	LANGUAGE C STABLE PARALLEL SAFE AS 'MODULE_PATHNAME', 'zcrm_value';
COMMENT ON FUNCTION zcrm_value(anyelement) IS
	'A SQL value as Zoho CRM expects it: date YYYY-MM-DD, timestamptz YYYY-MM-DDTHH:MM:SS+00:00, exact numbers, arrays, booleans; NULL gives JSON null';
