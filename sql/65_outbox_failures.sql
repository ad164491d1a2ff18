--
-- 65_outbox_failures: per-record and permanent failures are kept with
-- Zoho's code, message and details; zcrm_outbox_retry; max_attempts
-- (issue 4, point 5).
--
CALL sbx.create_server('zoho', 'v8');
CALL sbx.create_mapping('zoho');
ALTER SYSTEM SET massupdate.naptime = '1h';
SELECT pg_reload_conf();
CREATE SCHEMA t65;
CREATE FUNCTION t65.stats() RETURNS TABLE (calls int, ids_received int)
LANGUAGE sql AS $$
	SELECT (s ->> 'mass_update_calls')::int, (s ->> 'ids_received')::int
	  FROM sbx.get('stats') s
$$;

-- a record in blueprint ends failed with Zoho's code, message and details;
-- the other record of the same call is sent
SELECT sbx.post('reset') ->> 'ok' AS reset;
BEGIN;
SELECT zcrm_enqueue('Leads', 4150868000000224006, '{"Lead_Status": "Contacted"}');
SELECT zcrm_enqueue('Leads', 4150868000000224040, '{"Lead_Status": "Contacted"}');
COMMIT;
SELECT sbx.wait('sbx.outbox_drained()') AS drained;
SELECT record_id, state, attempts, code, message, details, sent_at IS NOT NULL AS has_sent_at
  FROM zcrm_outbox ORDER BY record_id;
SELECT * FROM t65.stats();

-- zcrm_outbox_retry requeues it (attempts reset); still in blueprint, it fails again
BEGIN;
SELECT zcrm_outbox_retry(ARRAY(SELECT id FROM zcrm_outbox WHERE state = 'failed')) AS requeued;
SELECT state, attempts, next_attempt_at <= now() AS due FROM zcrm_outbox
 WHERE record_id = 4150868000000224006;
COMMIT;
SELECT sbx.wait('sbx.outbox_drained()') AS drained;
SELECT state, attempts, code FROM zcrm_outbox WHERE record_id = 4150868000000224006;
-- out of blueprint, a retry of all the caller's failed rows delivers it
SELECT sbx.patch('records/Leads/4150868000000224006', '{"blueprint": false}') ->> 'ok' AS patched;
SELECT zcrm_outbox_retry() AS requeued;
SELECT sbx.wait('sbx.outbox_drained()') AS drained;
SELECT state, attempts, code FROM zcrm_outbox WHERE record_id = 4150868000000224006;
SELECT sbx.get('records/Leads/4150868000000224006') -> 'record' ->> 'Lead_Status' AS crm_status;
-- nothing left to retry; ids that are not failed are ignored
SELECT zcrm_outbox_retry() AS requeued;
SELECT zcrm_outbox_retry(ARRAY[-1, 0]::bigint[]) AS requeued;
SELECT zcrm_outbox_retry(ARRAY[NULL]::bigint[]);

-- request-level refusals fail the whole call's rows with Zoho's code
SELECT sbx.post('reset') ->> 'ok' AS reset;
DELETE FROM zcrm_outbox;
SELECT zcrm_enqueue('Leads', 4150868000000224041, '{"Email": "a@example.com"}');
SELECT zcrm_enqueue('NoSuchModule', 4150868000000224041, '{"City": "x"}');
SELECT sbx.wait('sbx.outbox_drained()') AS drained;
SELECT module, field, state, attempts, code, message FROM zcrm_outbox ORDER BY module;

-- transient failures: after massupdate.max_attempts tries the row fails
-- with the last error, having made exactly that many requests
ALTER SYSTEM SET massupdate.max_attempts = 3;
ALTER SYSTEM SET massupdate.retry_base = '20ms';
ALTER SYSTEM SET massupdate.retry_max = '50ms';
ALTER SYSTEM SET massupdate.naptime = '100ms';
SELECT pg_reload_conf();
SELECT sbx.post('reset') ->> 'ok' AS reset;
DELETE FROM zcrm_outbox;
SELECT sbx.post('faults', '{"error_rate": 1.0, "error_status": 503}') ->> 'ok' AS faults;
SELECT zcrm_enqueue('Leads', 4150868000000224042, '{"City": "never"}');
SELECT sbx.wait('sbx.outbox_drained()') AS drained;
SELECT state, attempts, code, message, next_attempt_at FROM zcrm_outbox;
SELECT * FROM t65.stats();
SELECT sbx.post('faults', '{"error_rate": 0}') ->> 'ok' AS faults;

-- a row whose owner lost the user mapping after queueing fails without a call
ALTER SYSTEM SET massupdate.naptime = '1h';
SELECT pg_reload_conf();
SELECT sbx.post('reset') ->> 'ok' AS reset;
DELETE FROM zcrm_outbox;
BEGIN;
SELECT zcrm_enqueue('Leads', 4150868000000224043, '{"City": "orphan"}');
DROP USER MAPPING FOR CURRENT_USER SERVER zoho;
COMMIT;
SELECT sbx.wait('sbx.outbox_drained()') AS drained;
SELECT state, attempts, code, message FROM zcrm_outbox;
SELECT * FROM t65.stats();

-- clean up
DELETE FROM zcrm_outbox;
DROP SCHEMA t65 CASCADE;
DROP SERVER zoho CASCADE;
ALTER SYSTEM RESET massupdate.naptime;
ALTER SYSTEM RESET massupdate.max_attempts;
ALTER SYSTEM RESET massupdate.retry_base;
ALTER SYSTEM RESET massupdate.retry_max;
SELECT pg_reload_conf();
