--
-- 60_outbox_supersede: only the newest value of a record's field is sent
-- (issue 4, point 3; DESIGN 8.10).  To queue several committed changes
-- "before the worker runs", the worker is kept busy with one slow call
-- (sandbox latency) while they commit.
--
CALL sbx.create_server('zoho', 'v8');
CALL sbx.create_mapping('zoho');
ALTER SYSTEM SET massupdate.naptime = '1h';
SELECT pg_reload_conf();
CREATE SCHEMA t60;
-- keeps the worker in a 5 s call until t60.release()
CREATE FUNCTION t60.hold_worker(record bigint) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
	PERFORM sbx.post('faults', '{"latency_ms": 5000}');
	PERFORM zcrm_enqueue('Leads', record, '{"Industry": "ERP"}');
	RETURN true;
END
$$;
CREATE FUNCTION t60.release() RETURNS boolean LANGUAGE sql
AS $$ SELECT (sbx.post('faults', '{"latency_ms": 0}') ->> 'ok')::boolean $$;

-- five committed changes of one field before the worker gets to them:
-- one call with the last value, four rows superseded
SELECT sbx.post('reset') ->> 'ok' AS reset;
SELECT t60.hold_worker(4150868000000224030);
SELECT sbx.wait($$EXISTS (SELECT 1 FROM zcrm_outbox WHERE state = 'sending')$$) AS worker_busy;
SELECT zcrm_enqueue('Leads', 4150868000000224031, '{"City": "v1"}');
SELECT zcrm_enqueue('Leads', 4150868000000224031, '{"City": "v2"}');
SELECT zcrm_enqueue('Leads', 4150868000000224031, '{"City": "v3"}');
SELECT zcrm_enqueue('Leads', 4150868000000224031, '{"City": "v4"}');
SELECT zcrm_enqueue('Leads', 4150868000000224031, '{"City": "v5"}');
SELECT t60.release();
SELECT sbx.wait('sbx.outbox_drained()') AS drained;
SELECT value, state, attempts, code FROM zcrm_outbox
 WHERE record_id = 4150868000000224031 ORDER BY id;
SELECT sbx.mass_update_calls() AS calls;
SELECT b FROM sbx.posted_bodies() b WHERE b -> 'ids' ? '4150868000000224031';
SELECT sbx.get('records/Leads/4150868000000224031') -> 'record' ->> 'City' AS crm_city;

-- the same through a captured table, in five transactions
CREATE TABLE t60.leads (zoho_id bigint PRIMARY KEY, city text);
INSERT INTO t60.leads VALUES (4150868000000224032, NULL);
SELECT zcrm_capture_table('t60.leads', 'Leads', 'zoho_id', '{"city": "City"}');
SELECT sbx.post('reset') ->> 'ok' AS reset;
SELECT t60.hold_worker(4150868000000224030);
SELECT sbx.wait($$EXISTS (SELECT 1 FROM zcrm_outbox WHERE state = 'sending')$$) AS worker_busy;
UPDATE t60.leads SET city = 'c1';
UPDATE t60.leads SET city = 'c2';
UPDATE t60.leads SET city = 'c3';
UPDATE t60.leads SET city = 'c4';
UPDATE t60.leads SET city = 'c5';
SELECT t60.release();
SELECT sbx.wait('sbx.outbox_drained()') AS drained;
SELECT value, state FROM zcrm_outbox WHERE record_id = 4150868000000224032 ORDER BY id;
SELECT sbx.mass_update_calls() AS calls;
SELECT sbx.get('records/Leads/4150868000000224032') -> 'record' ->> 'City' AS crm_city;

-- an older value waiting in back-off is superseded by a newer one
ALTER SYSTEM SET massupdate.retry_base = '1h';
SELECT pg_reload_conf();
SELECT sbx.post('reset') ->> 'ok' AS reset;
SELECT sbx.post('faults', '{"error_rate": 1.0, "error_status": 503}') ->> 'ok' AS faults;
SELECT zcrm_enqueue('Leads', 4150868000000224033, '{"City": "old"}');
SELECT sbx.wait($$EXISTS (SELECT 1 FROM zcrm_outbox WHERE record_id = 4150868000000224033
						  AND state = 'pending' AND attempts = 1)$$) AS in_backoff;
SELECT value, state, attempts, code, next_attempt_at > now() + '30 min' AS backing_off
  FROM zcrm_outbox WHERE record_id = 4150868000000224033;
SELECT sbx.post('faults', '{"error_rate": 0}') ->> 'ok' AS faults;
SELECT zcrm_enqueue('Leads', 4150868000000224033, '{"City": "new"}');
SELECT sbx.wait('sbx.outbox_drained()') AS drained;
SELECT value, state, attempts, next_attempt_at = queued_at AS due_when_queued FROM zcrm_outbox
 WHERE record_id = 4150868000000224033 ORDER BY id;
SELECT sbx.get('records/Leads/4150868000000224033') -> 'record' ->> 'City' AS crm_city;
ALTER SYSTEM RESET massupdate.retry_base;
SELECT pg_reload_conf();

-- a failed older value is superseded by a newer one that is sent
SELECT sbx.patch('records/Leads/4150868000000224034', '{"locked": true}') ->> 'ok' AS locked;
SELECT zcrm_enqueue('Leads', 4150868000000224034, '{"City": "while locked"}');
SELECT sbx.wait('sbx.outbox_drained()') AS drained;
SELECT value, state, code FROM zcrm_outbox WHERE record_id = 4150868000000224034;
SELECT sbx.patch('records/Leads/4150868000000224034', '{"locked": false}') ->> 'ok' AS unlocked;
SELECT zcrm_enqueue('Leads', 4150868000000224034, '{"City": "unlocked"}');
SELECT sbx.wait('sbx.outbox_drained()') AS drained;
SELECT value, state, code FROM zcrm_outbox WHERE record_id = 4150868000000224034 ORDER BY id;
-- and retrying the superseded row does nothing
SELECT zcrm_outbox_retry(ARRAY(SELECT id FROM zcrm_outbox
								WHERE record_id = 4150868000000224034)) AS requeued;

-- clean up
SELECT sbx.post('reset') ->> 'ok' AS reset;
DELETE FROM zcrm_outbox;
DROP SCHEMA t60 CASCADE;
DROP SERVER zoho CASCADE;
ALTER SYSTEM RESET massupdate.naptime;
SELECT pg_reload_conf();
