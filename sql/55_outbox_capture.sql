--
-- 55_outbox_capture: zcrm_capture_table and its statement triggers
-- (issue 4, point 2; DESIGN 8.9).
--
CALL sbx.create_server('zoho', 'v8');
CALL sbx.create_mapping('zoho');
ALTER SYSTEM SET massupdate.naptime = '1h';
SELECT pg_reload_conf();
CREATE SCHEMA t55;
CREATE FUNCTION t55.stats() RETURNS TABLE (calls int, ids_received int, max_ids_per_call int)
LANGUAGE sql AS $$
	SELECT (s ->> 'mass_update_calls')::int, (s ->> 'ids_received')::int,
		   (s ->> 'max_ids_per_call')::int
	  FROM sbx.get('stats') s
$$;

CREATE TABLE t55.leads (
	id			serial PRIMARY KEY,
	zoho_id		bigint,
	status		text,
	city		text,
	revenue		numeric,
	interests	text[],
	callback	date,
	note		text
);

-- what cannot be captured
\set VERBOSITY sqlstate
CREATE VIEW t55.v AS SELECT * FROM t55.leads;
SELECT zcrm_capture_table('t55.v', 'Leads', 'zoho_id', '{"status": "Lead_Status"}');
CREATE TABLE t55.parts (id int, zoho_id bigint, status text) PARTITION BY RANGE (id);
CREATE TABLE t55.parts_1 PARTITION OF t55.parts FOR VALUES FROM (0) TO (1000);
SELECT zcrm_capture_table('t55.parts_1', 'Leads', 'zoho_id', '{"status": "Lead_Status"}');
SELECT zcrm_capture_table('t55.leads', 'Leads?a=1', 'zoho_id', '{"status": "Lead_Status"}');
SELECT zcrm_capture_table('t55.leads', 'Leads', 'nope', '{"status": "Lead_Status"}');
SELECT zcrm_capture_table('t55.leads', 'Leads', 'callback', '{"status": "Lead_Status"}');
SELECT zcrm_capture_table('t55.leads', 'Leads', 'zoho_id', '{"nope": "Lead_Status"}');
SELECT zcrm_capture_table('t55.leads', 'Leads', 'zoho_id', '{"status": 5}');
SELECT zcrm_capture_table('t55.leads', 'Leads', 'zoho_id', '{"status": "Lead Status"}');
SELECT zcrm_capture_table('t55.leads', 'Leads', 'zoho_id', '{"status": "City", "city": "City"}');
SELECT zcrm_capture_table('t55.leads', 'Leads', 'zoho_id', '{}');
SELECT zcrm_capture_table('t55.leads', 'Leads', 'zoho_id', '["status"]');
SELECT zcrm_capture_table('t55.leads', 'Leads', 'zoho_id', '{"status": "Lead_Status"}', 'nope');
CREATE ROLE t55_other;
GRANT USAGE ON SCHEMA t55 TO t55_other;
SET ROLE t55_other;
SELECT zcrm_capture_table('t55.leads', 'Leads', 'zoho_id', '{"status": "Lead_Status"}');
RESET ROLE;
\set VERBOSITY default
SELECT zcrm_capture_table('t55.parts_1', 'Leads', 'zoho_id', '{"status": "Lead_Status"}');
-- the partitioned root is fine
SELECT zcrm_capture_table('t55.parts', 'Leads', 'zoho_id', '{"status": "Lead_Status"}');
SELECT zcrm_uncapture_table('t55.parts');

SELECT zcrm_capture_table('t55.leads', 'Leads', 'zoho_id',
						  '{"status": "Lead_Status", "city": "City", "revenue": "Annual_Revenue",
							"interests": "Interests", "callback": "Callback_Date"}');
SELECT tgname, tgtype, pg_get_triggerdef(oid) LIKE '%FOR EACH STATEMENT%' AS per_statement
  FROM pg_trigger WHERE tgrelid = 't55.leads'::regclass ORDER BY tgname;

-- INSERT queues every non-NULL mapped column; rows without an id nothing
SELECT sbx.post('reset') ->> 'ok' AS reset;
INSERT INTO t55.leads (zoho_id, status)
	SELECT 4150868000000224100 + g, 'Not Contacted' FROM generate_series(1, 1200) g;
INSERT INTO t55.leads (zoho_id, status, city) VALUES (NULL, 'Contacted', 'Nowhere');
SELECT field, value, count(*) FROM zcrm_outbox GROUP BY 1, 2 ORDER BY 1, 2;
SELECT sbx.wait('sbx.outbox_drained()') AS drained;
SELECT * FROM t55.stats();

-- 1,200 captured rows given one new status in one UPDATE: exactly 3 calls
SELECT sbx.post('reset') ->> 'ok' AS reset;
UPDATE t55.leads SET status = 'Contacted' WHERE zoho_id IS NOT NULL;
SELECT count(*) AS queued FROM zcrm_outbox WHERE value = '"Contacted"';
SELECT sbx.wait('sbx.outbox_drained()') AS drained;
SELECT * FROM t55.stats();
SELECT b -> 'data' AS data, jsonb_array_length(b -> 'ids') AS ids FROM sbx.posted_bodies() b ORDER BY 2 DESC;

-- three distinct new values: one group per value
SELECT sbx.post('reset') ->> 'ok' AS reset;
UPDATE t55.leads SET status = (ARRAY['Qualified', 'Lost Lead', 'Junk Lead'])[1 + id % 3]
 WHERE zoho_id IS NOT NULL;
SELECT sbx.wait('sbx.outbox_drained()') AS drained;
SELECT * FROM t55.stats();
SELECT b -> 'data' AS data, jsonb_array_length(b -> 'ids') AS ids
  FROM sbx.posted_bodies() b ORDER BY 1;

-- an UPDATE that changes no mapped column queues nothing
SELECT count(*) AS rows_before FROM zcrm_outbox \gset
UPDATE t55.leads SET note = 'unmapped';
UPDATE t55.leads SET status = status, city = city;
SELECT count(*) - :rows_before AS queued FROM zcrm_outbox;

-- a mapped column set to NULL: a JSON null, and no other field in the body
UPDATE t55.leads SET city = 'Lyon' WHERE zoho_id = 4150868000000224101;
SELECT sbx.wait('sbx.outbox_drained()') AS drained;
SELECT sbx.post('reset') ->> 'ok' AS reset;
UPDATE t55.leads SET city = NULL WHERE zoho_id = 4150868000000224101;
SELECT record_id, field, value FROM zcrm_outbox ORDER BY id DESC LIMIT 1;
SELECT sbx.wait('sbx.outbox_drained()') AS drained;
SELECT b FROM sbx.posted_bodies() b;

-- values in Zoho's wire format: exact numbers, dates, arrays (over_write)
SELECT sbx.post('reset') ->> 'ok' AS reset;
UPDATE t55.leads SET revenue = 1234.50, callback = '2024-02-29',
	   interests = ARRAY['Cloud', 'CRM']
 WHERE zoho_id = 4150868000000224102;
SELECT sbx.wait('sbx.outbox_drained()') AS drained;
SELECT b FROM sbx.posted_bodies() b ORDER BY b::text;
SELECT sbx.get('records/Leads/4150868000000224102') -> 'record' -> 'Annual_Revenue' AS crm_revenue;

-- a changed id queues every non-NULL mapped column for the new record
SELECT sbx.post('reset') ->> 'ok' AS reset;
UPDATE t55.leads SET zoho_id = 4150868000000225500 WHERE zoho_id = 4150868000000224102;
SELECT field, value, over_write FROM zcrm_outbox
 WHERE record_id = 4150868000000225500 ORDER BY field;
SELECT sbx.wait('sbx.outbox_drained()') AS drained;

-- an id that is not a Zoho id fails the statement
CREATE TABLE t55.text_ids (zid text, status text);
SELECT zcrm_capture_table('t55.text_ids', 'Leads', 'zid', '{"status": "Lead_Status"}');
INSERT INTO t55.text_ids VALUES ('12a', 'Contacted');
INSERT INTO t55.text_ids VALUES ('0', 'Contacted');
INSERT INTO t55.text_ids VALUES ('4150868000000224103', 'Contacted');
SELECT record_id, field, value FROM zcrm_outbox ORDER BY id DESC LIMIT 1;
CREATE TABLE t55.numeric_ids (zid numeric, status text);
SELECT zcrm_capture_table('t55.numeric_ids', 'Leads', 'zid', '{"status": "Lead_Status"}');
INSERT INTO t55.numeric_ids VALUES (1.5, 'Contacted');
INSERT INTO t55.numeric_ids VALUES (4150868000000224104.000, 'Contacted');
SELECT sbx.wait('sbx.outbox_drained()') AS drained;

-- a role without a user mapping cannot write captured rows (42704)
GRANT SELECT, INSERT, UPDATE ON t55.leads TO t55_other;
GRANT USAGE ON SEQUENCE t55.leads_id_seq TO t55_other;
GRANT USAGE ON FOREIGN SERVER zoho TO t55_other;
SET ROLE t55_other;
UPDATE t55.leads SET status = 'Contacted' WHERE zoho_id = 4150868000000224105;
INSERT INTO t55.leads (zoho_id, status) VALUES (4150868000000224106, 'Contacted');
-- but a statement that queues nothing needs no mapping
UPDATE t55.leads SET note = 'by other' WHERE zoho_id = 4150868000000224105;
INSERT INTO t55.leads (zoho_id, note) VALUES (4150868000000224106, 'no mapped value');
RESET ROLE;
-- nor a role without USAGE on the server: its mapping is not enough (42501)
CREATE USER MAPPING FOR t55_other SERVER zoho
	OPTIONS (client_id '1000.SANDBOX2', client_secret 'sandbox-secret-2',
			 refresh_token '1000.sandbox2.refresh');
REVOKE USAGE ON FOREIGN SERVER zoho FROM t55_other;
SET ROLE t55_other;
UPDATE t55.leads SET status = 'Contacted' WHERE zoho_id = 4150868000000224105;
RESET ROLE;
SELECT count(*) AS queued_by_other FROM zcrm_outbox WHERE owner = 't55_other'::regrole;

-- uncapture: nothing more is queued
SELECT zcrm_uncapture_table('t55.leads');
SELECT zcrm_uncapture_table('t55.leads');
SELECT count(*) AS rows_before FROM zcrm_outbox \gset
UPDATE t55.leads SET status = 'Qualified';
SELECT count(*) - :rows_before AS queued FROM zcrm_outbox;
SELECT count(*) AS capture_triggers FROM pg_trigger WHERE tgrelid = 't55.leads'::regclass;

-- clean up
SELECT sbx.wait('sbx.outbox_drained()') AS drained;
DELETE FROM zcrm_outbox;
DROP SCHEMA t55 CASCADE;
DROP SERVER zoho CASCADE;
DROP OWNED BY t55_other;
DROP ROLE t55_other;
ALTER SYSTEM RESET massupdate.naptime;
SELECT pg_reload_conf();
