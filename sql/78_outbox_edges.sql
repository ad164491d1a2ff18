--
-- 78_outbox_edges: edge cases of capture and requeueing found in review
-- (DESIGN 8.9, 8.10).
--
CALL sbx.create_server('zoho', 'v8');
CALL sbx.create_mapping('zoho');
ALTER SYSTEM SET massupdate.naptime = '1h';
SELECT pg_reload_conf();
CREATE SCHEMA t78;
SELECT sbx.post('reset') ->> 'ok' AS reset;

-- a bad id already in the table when capture starts: an UPDATE that
-- replaces it, or changes no mapped column, does not fail on it; a row
-- that would queue something with a bad id does (22023)
CREATE TABLE t78.legacy (zid text, city text, note text);
INSERT INTO t78.legacy VALUES ('abc', 'Legacy', NULL), ('4150868000000226001', 'Fine', NULL);
SELECT zcrm_capture_table('t78.legacy', 'Leads', 'zid', '{"city": "City"}');
SELECT count(*) AS rows_before FROM zcrm_outbox \gset
UPDATE t78.legacy SET note = 'touched';
UPDATE t78.legacy SET zid = '4150868000000226002' WHERE zid = 'abc';
INSERT INTO t78.legacy VALUES ('also bad', NULL, 'no mapped value');
\set VERBOSITY sqlstate
UPDATE t78.legacy SET city = 'Changed' WHERE zid = 'also bad';
INSERT INTO t78.legacy VALUES ('-7', 'Bad', NULL);
\set VERBOSITY default
SELECT record_id, field, value FROM zcrm_outbox ORDER BY id OFFSET :rows_before;
SELECT sbx.wait('sbx.outbox_drained()') AS drained;

-- the id column's type changed after zcrm_capture_table to one that holds
-- no record ids: a clear error (22023), not a crash; a renamed mapped
-- column fails writes (42703) until the table is captured again
CREATE TABLE t78.retyped (zid bigint, city text);
SELECT zcrm_capture_table('t78.retyped', 'Leads', 'zid', '{"city": "City"}');
ALTER TABLE t78.retyped ALTER COLUMN zid TYPE double precision;
INSERT INTO t78.retyped VALUES (4150868000000226003, 'Float');
ALTER TABLE t78.retyped ALTER COLUMN zid TYPE numeric;
ALTER TABLE t78.retyped RENAME COLUMN city TO town;
INSERT INTO t78.retyped VALUES (4150868000000226003, 'Renamed');
SELECT zcrm_capture_table('t78.retyped', 'Leads', 'zid', '{"town": "City"}');
SELECT count(*) AS rows_before FROM zcrm_outbox \gset
INSERT INTO t78.retyped VALUES (4150868000000226003, 'Numeric');
SELECT record_id, field, value FROM zcrm_outbox ORDER BY id OFFSET :rows_before;
SELECT sbx.wait('sbx.outbox_drained()') AS drained;

-- the server renamed after zcrm_capture_table: a write that would queue
-- fails, naming the stored server and the fix (42704)
ALTER SERVER zoho RENAME TO zoho_renamed;
INSERT INTO t78.retyped VALUES (4150868000000226003, 'Server renamed');
ALTER SERVER zoho_renamed RENAME TO zoho;

-- a row moved to another partition and dropped there by a BEFORE INSERT
-- trigger leaves the transition tables unpaired: every row then queues
-- every mapped column, NULL included, so the CRM ends as the table is
CREATE TABLE t78.parts (k int, zid bigint, city text, employees int) PARTITION BY RANGE (k);
CREATE TABLE t78.parts_1 PARTITION OF t78.parts FOR VALUES FROM (0) TO (10);
CREATE TABLE t78.parts_2 PARTITION OF t78.parts FOR VALUES FROM (10) TO (20);
CREATE FUNCTION t78.drop_skipped() RETURNS trigger LANGUAGE plpgsql
AS $$ BEGIN IF NEW.city = 'skip' THEN RETURN NULL; END IF; RETURN NEW; END $$;
CREATE TRIGGER drop_skipped BEFORE INSERT ON t78.parts_2
	FOR EACH ROW EXECUTE FUNCTION t78.drop_skipped();
INSERT INTO t78.parts VALUES (1, 4150868000000226011, 'One', 5),
	(2, 4150868000000226012, 'Two', 5), (3, 4150868000000226013, 'Three', 5);
SELECT zcrm_capture_table('t78.parts', 'Leads', 'zid', '{"city": "City", "employees": "No_of_Employees"}');
SELECT count(*) AS rows_before FROM zcrm_outbox \gset
UPDATE t78.parts SET k = k + 10, city = CASE WHEN k = 1 THEN 'skip' ELSE NULL END;
SELECT zid, city, employees FROM t78.parts ORDER BY zid;
SELECT record_id, field, value FROM zcrm_outbox ORDER BY id OFFSET :rows_before;
-- paired again: only what changed
SELECT count(*) AS rows_before FROM zcrm_outbox \gset
UPDATE t78.parts SET employees = 6 WHERE zid = 4150868000000226012;
SELECT record_id, field, value FROM zcrm_outbox ORDER BY id OFFSET :rows_before;
SELECT sbx.wait('sbx.outbox_drained()') AS drained;
SELECT sbx.get('records/Leads/4150868000000226012') -> 'record' -> 'City' AS crm_city;

-- queueing in a read-only transaction is refused like any write (25006),
-- also through a captured temporary table
\set VERBOSITY sqlstate
BEGIN READ ONLY;
SELECT zcrm_enqueue('Leads', 4150868000000226021, '{"City": "Nowhere"}');
ROLLBACK;
\set VERBOSITY default
CREATE TEMP TABLE t78_tmp (zid bigint, city text);
SELECT zcrm_capture_table('t78_tmp', 'Leads', 'zid', '{"city": "City"}');
BEGIN READ ONLY;
INSERT INTO t78_tmp VALUES (4150868000000226021, 'Nowhere');
ROLLBACK;

-- zcrm_outbox_retry never requeues a row older than a newer one of the
-- same record and field, whatever that one's state (here: sent)
SELECT zcrm_enqueue('Leads', 4150868000000226031, '{"Lead_Status": "No Such Status"}');
SELECT sbx.wait('sbx.outbox_drained()') AS drained;
SELECT zcrm_enqueue('Leads', 4150868000000226031, '{"Lead_Status": "Contacted"}');
SELECT sbx.wait('sbx.outbox_drained()') AS drained;
SELECT min(id) AS old_id FROM zcrm_outbox WHERE record_id = 4150868000000226031 \gset
-- as if the older row had failed after the newer one was sent
UPDATE zcrm_outbox SET state = 'failed' WHERE id = :old_id;
SELECT zcrm_outbox_retry(ARRAY[:old_id]::bigint[]) AS requeued;
SELECT value, state FROM zcrm_outbox WHERE record_id = 4150868000000226031 ORDER BY id;

-- a savepoint rolled back inside a committed transaction wakes nobody: a
-- row written straight into the table (which wakes nobody) stays pending;
-- a released savepoint's change does wake the worker, which sends both
SELECT sbx.wait('sbx.outbox_drained()') AS drained;
SELECT pg_sleep(0.5);			-- the worker settles into its 1h nap
INSERT INTO zcrm_outbox (owner, server, module, record_id, field, value)
	VALUES (current_user::regrole, 'zoho', 'Leads', 4150868000000226041, 'City', '"Direct"')
	RETURNING id AS direct_id \gset
BEGIN;
SAVEPOINT s1;
SELECT zcrm_enqueue('Leads', 4150868000000226042, '{"City": "Rolled back"}');
ROLLBACK TO s1;
COMMIT;
SELECT sbx.wait('(SELECT state = ''sent'' FROM zcrm_outbox WHERE id = ' || :direct_id || ')', '1.5s') AS woken;
BEGIN;
SAVEPOINT s1;
SAVEPOINT s2;
SELECT zcrm_enqueue('Leads', 4150868000000226042, '{"City": "Released"}');
RELEASE s2;
RELEASE s1;
COMMIT;
SELECT sbx.wait('sbx.outbox_drained()') AS drained;
SELECT record_id, value, state FROM zcrm_outbox WHERE id >= :direct_id ORDER BY id;

-- clean up
SELECT sbx.wait('sbx.outbox_drained()') AS drained;
DELETE FROM zcrm_outbox;
DROP TABLE t78_tmp;
DROP SCHEMA t78 CASCADE;
DROP SERVER zoho CASCADE;
ALTER SYSTEM RESET massupdate.naptime;
SELECT pg_reload_conf();
