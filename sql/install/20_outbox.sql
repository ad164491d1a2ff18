
-- ---------------------------------------------------------------------------
-- The transactional outbox: changes queued inside the writing transaction
-- (zcrm_enqueue, capture triggers) and pushed to Zoho by the worker after
-- commit.  DESIGN sections 4, 5 and 8.8 to 8.11.
-- ---------------------------------------------------------------------------

CREATE TABLE zcrm_outbox (
	id				bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	owner			regrole NOT NULL,
	server			name NOT NULL,
	module			text NOT NULL,
	record_id		bigint NOT NULL CHECK (record_id > 0),
	field			text NOT NULL,
	value			jsonb NOT NULL,
	over_write		boolean NOT NULL DEFAULT false,
	state			text NOT NULL DEFAULT 'pending'
					CHECK (state IN ('pending', 'sending', 'sent', 'failed', 'superseded')),
	attempts		integer NOT NULL DEFAULT 0,
	queued_at		timestamptz NOT NULL DEFAULT now(),
	next_attempt_at	timestamptz DEFAULT now(),
	sent_at			timestamptz,
	code			text,
	message			text,
	details			jsonb
) WITH (fillfactor = 50);

COMMENT ON TABLE zcrm_outbox IS
	'Changes queued for Zoho CRM; the massupdate worker sends them after commit';
COMMENT ON COLUMN zcrm_outbox.value IS
	'The field''s new value in Zoho''s wire format; JSON null clears the field';
COMMENT ON COLUMN zcrm_outbox.state IS
	'pending, sending, sent, failed, or superseded (a newer change of the same record and field made it moot)';
COMMENT ON COLUMN zcrm_outbox.attempts IS
	'Worker tries so far; the row fails after massupdate.max_attempts';
COMMENT ON COLUMN zcrm_outbox.next_attempt_at IS
	'When the row is due to be tried: queued_at, or later after a back-off or a requeue; kept once sending, sent or superseded; NULL once failed';
COMMENT ON COLUMN zcrm_outbox.code IS
	'Zoho''s code of the last answer (SUCCESS, RECORD_IN_BLUEPRINT, ...) or the transport error';

-- Indexed so that the worker's state changes on the way of a row that goes
-- well (pending -> sending -> sent) are HOT updates: they change no column
-- an index names (in its key or its condition), and each page keeps room
-- for them (fillfactor 50), so they add no index entries and the page's old
-- row versions are pruned in place.  An index on state would make each of
-- them a full update.  So:
--	- the worker finds pending rows by walking the primary key from a cursor
--	  it keeps (src/worker_claim.c);
--	- zcrm_outbox_retried holds only the rows that ever left that way (a
--	  back-off, a failure, a requeue: next_attempt_at no longer equals
--	  queued_at), by record, for finding the older unsent values a newer
--	  row makes moot.  Queueing adds no entry to it.
CREATE INDEX zcrm_outbox_retried ON zcrm_outbox (record_id)
	WHERE next_attempt_at IS DISTINCT FROM queued_at;

-- Rows are readable by members of their owner (superusers read all); the
-- table is written only by the extension's functions and worker (no write
-- grants: a direct INSERT, UPDATE or DELETE is 42501).
ALTER TABLE zcrm_outbox ENABLE ROW LEVEL SECURITY;
CREATE POLICY zcrm_outbox_owner ON zcrm_outbox FOR SELECT
	USING (pg_catalog.pg_has_role(owner, 'MEMBER'));
REVOKE ALL ON zcrm_outbox FROM PUBLIC;
GRANT SELECT ON zcrm_outbox TO PUBLIC;

CREATE VIEW zcrm_outbox_summary WITH (security_invoker = true) AS
	SELECT module,
		   state,
		   count(*) AS rows,
		   pg_catalog.now() - min(queued_at) AS oldest_age
	  FROM zcrm_outbox
	 GROUP BY module, state;
COMMENT ON VIEW zcrm_outbox_summary IS
	'Outbox rows the caller may see, per module and state, with the age of the oldest';
GRANT SELECT ON zcrm_outbox_summary TO PUBLIC;

CREATE FUNCTION zcrm_enqueue(module text, id bigint, fields jsonb,
							 over_write boolean DEFAULT false,
							 server name DEFAULT NULL)
	RETURNS void
	LANGUAGE C VOLATILE AS 'MODULE_PATHNAME', 'zcrm_enqueue';
COMMENT ON FUNCTION zcrm_enqueue(text, bigint, jsonb, boolean, name) IS
	'Queues fields of one record for the worker; sent only if the transaction commits';

CREATE FUNCTION zcrm_outbox_retry(ids bigint[] DEFAULT NULL)
	RETURNS bigint
	LANGUAGE C VOLATILE AS 'MODULE_PATHNAME', 'zcrm_outbox_retry';
COMMENT ON FUNCTION zcrm_outbox_retry(bigint[]) IS
	'Requeues failed outbox rows (NULL: all of the caller''s); returns how many';

CREATE FUNCTION zcrm_capture_trigger() RETURNS trigger
	LANGUAGE C AS 'MODULE_PATHNAME', 'zcrm_capture_trigger';
COMMENT ON FUNCTION zcrm_capture_trigger() IS
	'Statement trigger installed by zcrm_capture_table; queues changed mapped columns';

CREATE FUNCTION zcrm_capture_table(tbl regclass, module text, id_column name,
								   columns jsonb, server name DEFAULT NULL)
	RETURNS void
	LANGUAGE C VOLATILE AS 'MODULE_PATHNAME', 'zcrm_capture_table';
COMMENT ON FUNCTION zcrm_capture_table(regclass, text, name, jsonb, name) IS
	'Queues every INSERT and UPDATE of the table''s mapped columns ({"column":"Zoho_Field"})';

CREATE FUNCTION zcrm_uncapture_table(tbl regclass)
	RETURNS void
	LANGUAGE C VOLATILE STRICT AS 'MODULE_PATHNAME', 'zcrm_uncapture_table';
COMMENT ON FUNCTION zcrm_uncapture_table(regclass) IS
	'Removes the capture triggers of zcrm_capture_table';
