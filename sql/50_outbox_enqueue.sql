--
-- 50_outbox_enqueue: zcrm_enqueue, the worker's wake-up at commit, and
-- transactions (issue 4, point 1).  Waits are conditions with deadlines.
--
CALL sbx.create_server('zoho', 'v8');
CALL sbx.create_mapping('zoho');
-- a long naptime: only the wake-up at commit makes the worker run soon
ALTER SYSTEM SET massupdate.naptime = '1h';
SELECT pg_reload_conf();
CREATE SCHEMA t50;

CREATE FUNCTION t50.worker_running() RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
	PERFORM pg_stat_clear_snapshot();	-- pg_stat_activity is cached per transaction
	RETURN EXISTS (SELECT 1 FROM pg_stat_activity
				   WHERE backend_type = 'massupdate worker' AND datname = current_database());
END
$$;
SELECT sbx.wait('t50.worker_running()') AS worker_running;

-- bad arguments: 22023 before anything is queued; unknown server 42704
\set VERBOSITY sqlstate
SELECT zcrm_enqueue('Leads/../x', 4150868000000224010, '{"City": "x"}');
SELECT zcrm_enqueue('', 4150868000000224010, '{"City": "x"}');
SELECT zcrm_enqueue('Leads', NULL, '{"City": "x"}');
SELECT zcrm_enqueue('Leads', 0, '{"City": "x"}');
SELECT zcrm_enqueue('Leads', -4150868000000224010, '{"City": "x"}');
SELECT zcrm_enqueue('Leads', 4150868000000224010, '["City"]');
SELECT zcrm_enqueue('Leads', 4150868000000224010, '{}');
SELECT zcrm_enqueue('Leads', 4150868000000224010, NULL);
SELECT zcrm_enqueue('Leads', 4150868000000224010, '{"City Name": "x"}');
SELECT zcrm_enqueue('Leads', 4150868000000224010, '{"City": "x"}', NULL);
SELECT zcrm_enqueue('Leads', 4150868000000224010, '{"City": "x"}', server => 'nope');
\set VERBOSITY default
SELECT zcrm_enqueue('Leads', 0, '{"City": "x"}');
SELECT count(*) AS queued FROM zcrm_outbox;

-- a rolled-back transaction sends nothing
SELECT sbx.post('reset') ->> 'ok' AS reset;
BEGIN;
SELECT zcrm_enqueue('Leads', 4150868000000224010, '{"City": "Rolled Back"}');
SELECT state, count(*) FROM zcrm_outbox GROUP BY 1;
ROLLBACK;
SELECT count(*) AS queued FROM zcrm_outbox;

-- a savepoint rolled back inside a committed transaction: only the
-- committed change is sent, once, and only after COMMIT
BEGIN;
SELECT zcrm_enqueue('Leads', 4150868000000224010, '{"City": "Kept"}');
SAVEPOINT s;
SELECT zcrm_enqueue('Leads', 4150868000000224011, '{"City": "Savepoint"}');
ROLLBACK TO SAVEPOINT s;
-- the worker cannot see uncommitted rows: nothing arrives while we wait
SELECT sbx.wait('sbx.mass_update_calls() > 0', '1s') AS sent_before_commit;
COMMIT;
SELECT sbx.wait('sbx.outbox_drained()') AS drained;
SELECT record_id, field, value, over_write, state, attempts, code, message,
	   queued_at <= sent_at AS sent_after_queued,
	   next_attempt_at = queued_at AS due_when_queued
  FROM zcrm_outbox ORDER BY id;
-- exactly once: one call, and no second one while we wait
SELECT sbx.wait('sbx.mass_update_calls() > 1', '1s') AS sent_twice;
SELECT sbx.mass_update_calls() AS calls;
SELECT b FROM sbx.posted_bodies() b;
SELECT sbx.get('records/Leads/4150868000000224010') -> 'record' ->> 'City' AS crm_city;

-- two fields of one record: one call per field (one field per call)
SELECT sbx.post('reset') ->> 'ok' AS reset;
SELECT zcrm_enqueue('Leads', 4150868000000224012,
					'{"City": "Évora", "Annual_Revenue": 1234.50}');
SELECT sbx.wait('sbx.outbox_drained()') AS drained;
SELECT sbx.mass_update_calls() AS calls;
SELECT b FROM sbx.posted_bodies() b ORDER BY b::text;
SELECT field, value, state FROM zcrm_outbox
 WHERE record_id = 4150868000000224012 ORDER BY field;

-- over_write travels as given
SELECT sbx.post('reset') ->> 'ok' AS reset;
SELECT zcrm_enqueue('Leads', 4150868000000224013, '{"Interests": ["Cloud", "CRM"]}', true);
SELECT sbx.wait('sbx.outbox_drained()') AS drained;
SELECT b FROM sbx.posted_bodies() b;

-- the summary view: per module and state
SELECT module, state, rows, oldest_age >= '0'::interval AS has_age
  FROM zcrm_outbox_summary ORDER BY module, state;

-- nobody writes zcrm_outbox directly
CREATE ROLE t50_user;
GRANT USAGE ON FOREIGN SERVER zoho TO t50_user;
SET ROLE t50_user;
\set VERBOSITY sqlstate
INSERT INTO zcrm_outbox (owner, server, module, record_id, field, value)
	VALUES ('t50_user', 'zoho', 'Leads', 1, 'City', '"x"');
UPDATE zcrm_outbox SET state = 'pending';
DELETE FROM zcrm_outbox;
TRUNCATE zcrm_outbox;
-- and a role without a user mapping cannot queue (no request made)
SELECT zcrm_enqueue('Leads', 4150868000000224010, '{"City": "x"}');
\set VERBOSITY default
SELECT zcrm_enqueue('Leads', 4150868000000224010, '{"City": "x"}');
-- it sees none of postgres's rows
SELECT count(*) AS visible FROM zcrm_outbox;
RESET ROLE;

-- queueing in a database the worker does not serve is 55000
\set t50_db :DBNAME
CREATE DATABASE t50_other;
\c t50_other
CREATE EXTENSION massupdate;
SELECT zcrm_enqueue('Leads', 4150868000000224010, '{"City": "x"}');
\c :t50_db
DROP DATABASE t50_other;

-- sent rows older than massupdate.retention are deleted by the worker
SELECT count(*) AS sent_rows FROM zcrm_outbox WHERE state = 'sent';
ALTER SYSTEM SET massupdate.retention = 0;
ALTER SYSTEM SET massupdate.naptime = '100ms';
SELECT pg_reload_conf();
SELECT sbx.wait($$NOT EXISTS (SELECT 1 FROM zcrm_outbox WHERE state = 'sent')$$) AS sent_rows_deleted;
ALTER SYSTEM RESET massupdate.retention;
SELECT pg_reload_conf();

-- clean up
DELETE FROM zcrm_outbox;
DROP OWNED BY t50_user;
DROP ROLE t50_user;
DROP SCHEMA t50 CASCADE;
DROP SERVER zoho CASCADE;
ALTER SYSTEM RESET massupdate.naptime;
SELECT pg_reload_conf();
