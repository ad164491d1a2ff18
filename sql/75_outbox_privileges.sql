--
-- 75_outbox_privileges: queued rows belong to the role that queued them,
-- are sent with its own user mapping, and are visible to it alone
-- (issue 4, point 7; DESIGN 8.8).
--
CALL sbx.create_server('zoho', 'v8');
ALTER SYSTEM SET massupdate.naptime = '1h';
SELECT pg_reload_conf();
CREATE ROLE t75_alice;
CREATE ROLE t75_bob;
CREATE ROLE t75_alice_friend IN ROLE t75_alice;
GRANT USAGE ON FOREIGN SERVER zoho TO t75_alice, t75_bob;
CREATE USER MAPPING FOR t75_alice SERVER zoho
	OPTIONS (client_id '1000.SANDBOX', client_secret 'sandbox-secret',
			 refresh_token '1000.sandbox.refresh');
CREATE USER MAPPING FOR t75_bob SERVER zoho
	OPTIONS (client_id '1000.SANDBOX2', client_secret 'sandbox-secret-2',
			 refresh_token '1000.sandbox2.refresh');
CREATE SCHEMA t75;
GRANT USAGE ON SCHEMA t75 TO PUBLIC;
-- a captured table both may write
CREATE TABLE t75.leads (zoho_id bigint PRIMARY KEY, city text);
INSERT INTO t75.leads SELECT 4150868000000224050 + g, NULL FROM generate_series(0, 3) g;
SELECT zcrm_capture_table('t75.leads', 'Leads', 'zoho_id', '{"city": "City"}');
GRANT SELECT, UPDATE ON t75.leads TO t75_alice, t75_bob;

SELECT sbx.post('reset') ->> 'ok' AS reset;
SET ROLE t75_alice;
SELECT zcrm_enqueue('Leads', 4150868000000224060, '{"City": "Alice enqueued"}');
UPDATE t75.leads SET city = 'Alice captured' WHERE zoho_id IN (4150868000000224050, 4150868000000224051);
RESET ROLE;
SET ROLE t75_bob;
SELECT zcrm_enqueue('Leads', 4150868000000224061, '{"City": "Bob enqueued"}');
UPDATE t75.leads SET city = 'Bob captured' WHERE zoho_id IN (4150868000000224052, 4150868000000224053);
RESET ROLE;
SELECT sbx.wait('sbx.outbox_drained()') AS drained;

-- each role's calls went out with its own token
SELECT r ->> 'client_id' AS client_id, (r ->> 'body')::jsonb -> 'data' AS data,
	   (r ->> 'body')::jsonb -> 'ids' AS ids, r ->> 'status' AS status
  FROM jsonb_array_elements(sbx.get('requests?limit=100') -> 'requests') r
 WHERE r ->> 'method' = 'POST' ORDER BY 1, ((r ->> 'body')::jsonb -> 'data')::text;

-- each sees only its own rows (and the summary of them)
SET ROLE t75_alice;
SELECT owner, record_id, value, state FROM zcrm_outbox ORDER BY record_id;
SELECT module, state, rows FROM zcrm_outbox_summary;
RESET ROLE;
SET ROLE t75_bob;
SELECT owner, record_id, value, state FROM zcrm_outbox ORDER BY record_id;
SELECT module, state, rows FROM zcrm_outbox_summary;
-- and cannot requeue the other's rows
SELECT zcrm_outbox_retry(ARRAY(SELECT id FROM zcrm_outbox)) AS requeued;
RESET ROLE;
-- members of the owning role see its rows; superusers see all
SET ROLE t75_alice_friend;
SELECT owner, count(*) FROM zcrm_outbox GROUP BY 1;
RESET ROLE;
SELECT owner, count(*) FROM zcrm_outbox GROUP BY 1 ORDER BY 1;
-- nobody writes the table directly
SET ROLE t75_alice;
\set VERBOSITY sqlstate
UPDATE zcrm_outbox SET state = 'pending';
DELETE FROM zcrm_outbox;
INSERT INTO zcrm_outbox (owner, server, module, record_id, field, value)
	VALUES ('t75_bob', 'zoho', 'Leads', 1, 'City', '"forged"');
\set VERBOSITY default
RESET ROLE;

-- clean up
DELETE FROM zcrm_outbox;
DROP SCHEMA t75 CASCADE;
DROP SERVER zoho CASCADE;
DROP ROLE t75_alice_friend;
DROP ROLE t75_alice;
DROP ROLE t75_bob;
ALTER SYSTEM RESET massupdate.naptime;
SELECT pg_reload_conf();
