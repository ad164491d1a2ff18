/*-------------------------------------------------------------------------
 *
 * outbox.c
 *		Queueing changes: zcrm_enqueue, zcrm_outbox_retry, and the insert
 *		path shared with the capture trigger.
 *
 * zcrm_outbox has row level security, SELECT for PUBLIC and no write
 * grants, so nobody but a superuser writes it directly (42501).  The
 * functions here are SECURITY INVOKER: they take the owner of the queued
 * rows from the calling role, check that role's USAGE on the server and
 * its user mapping, and only then write as the extension: new rows through
 * the COPY-like inserter below, requeued rows through SPI under the
 * extension owner's identity with search_path pinned (as view_jobs.c does
 * for zcrm_jobs).  DESIGN sections 4 and 8.8 to 8.10.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/heapam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "catalog/dependency.h"
#include "catalog/indexing.h"
#include "catalog/pg_extension.h"
#include "catalog/pg_type.h"
#include "commands/extension.h"
#include "commands/sequence.h"
#include "executor/executor.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/fmgroids.h"
#include "utils/guc.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/timestamp.h"

#include "client.h"
#include "codec.h"
#include "outbox.h"
#include "sqlerr.h"
#include "wake.h"

PG_FUNCTION_INFO_V1(zcrm_enqueue);
PG_FUNCTION_INFO_V1(zcrm_outbox_retry);

ZcrmServer *
zcrm_outbox_prepare_queue(const char *servername, Oid roleid)
{
	ZcrmServer *srv;

	zcrm_check_worker_database();
	srv = zcrm_get_server(servername);
	zcrm_require_user_mapping(srv, roleid);
	zcrm_wake_worker_at_commit();
	return srv;
}

/* rows handed to table_multi_insert at a time */
#define INSERT_BATCH 1000

/* zcrm_outbox's columns, looked up by name */
typedef struct OutboxColumns
{
	AttrNumber	id,
				owner,
				server,
				module,
				record_id,
				field,
				value,
				over_write,
				state,
				attempts,
				queued_at,
				next_attempt_at;
} OutboxColumns;

static AttrNumber
outbox_attnum(Relation rel, const char *name)
{
	TupleDesc	desc = RelationGetDescr(rel);
	int			i;

	for (i = 0; i < desc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, i);

		if (!att->attisdropped && strcmp(NameStr(att->attname), name) == 0)
			return att->attnum;
	}
	elog(ERROR, "zcrm_outbox has no column \"%s\"", name);
	return InvalidAttrNumber;
}

/* Rows being queued by one statement; see zcrm_outbox_inserter_begin. */
struct ZcrmOutboxInserter
{
	Relation	rel;
	OutboxColumns col;
	Oid			seqid;
	EState	   *estate;
	ResultRelInfo *rri;
	BulkInsertState bistate;
	CommandId	cid;
	TupleTableSlot **slots;
	int			nslots;
	MemoryContext cxt;			/* where the inserter and its slots live */
	MemoryContext batchcxt;
	Oid			roleid;
	NameData	server;
	Datum		module;
	Datum		pending;
	Datum		now;
	uint64		total;
};

/*
 * zcrm_outbox_inserter_begin
 *		Starts queueing rows owned by roleid for (server, module).
 *
 * The rows go in the way COPY puts them: table_multi_insert in batches,
 * then their index entries, with the identity drawn from its sequence and
 * the other columns at their defaults.  This is the capture trigger's hot
 * path (one UPDATE of 100,000 rows queues 100,000 rows), and skipping the
 * executor's per-row work keeps capture cheap.  It bypasses privileges and
 * row level security on purpose: the caller has checked the role's right
 * to queue (zcrm_outbox_prepare_queue), and the table grants no writes.
 * zcrm_outbox has no triggers, and the values written satisfy its CHECK
 * constraints by construction (callers check record ids are positive;
 * state is 'pending').
 *
 * The transaction gets its XID before any id is drawn, so an id is never
 * held by a transaction the worker cannot see in its snapshots.
 */
ZcrmOutboxInserter *
zcrm_outbox_inserter_begin(Oid roleid, const char *servername, const char *module)
{
	ZcrmOutboxInserter *ins = palloc0(sizeof(ZcrmOutboxInserter));
	Oid			nsp = zcrm_extension_namespace();
	Oid			relid = get_relname_relid("zcrm_outbox", nsp);

	if (!OidIsValid(relid))
		elog(ERROR, "could not find table zcrm_outbox");
	(void) GetCurrentTransactionId();
	ins->rel = table_open(relid, RowExclusiveLock);
	ins->col.id = outbox_attnum(ins->rel, "id");
	ins->col.owner = outbox_attnum(ins->rel, "owner");
	ins->col.server = outbox_attnum(ins->rel, "server");
	ins->col.module = outbox_attnum(ins->rel, "module");
	ins->col.record_id = outbox_attnum(ins->rel, "record_id");
	ins->col.field = outbox_attnum(ins->rel, "field");
	ins->col.value = outbox_attnum(ins->rel, "value");
	ins->col.over_write = outbox_attnum(ins->rel, "over_write");
	ins->col.state = outbox_attnum(ins->rel, "state");
	ins->col.attempts = outbox_attnum(ins->rel, "attempts");
	ins->col.queued_at = outbox_attnum(ins->rel, "queued_at");
	ins->col.next_attempt_at = outbox_attnum(ins->rel, "next_attempt_at");
	ins->seqid = getIdentitySequence(relid, ins->col.id, false);

	ins->estate = CreateExecutorState();
	ins->rri = makeNode(ResultRelInfo);
	InitResultRelInfo(ins->rri, ins->rel, 1, NULL, 0);
	ExecOpenIndices(ins->rri, false);
	ins->bistate = GetBulkInsertState();
	ins->cid = GetCurrentCommandId(true);

	/* slots are made as needed: zcrm_enqueue queues a row or two */
	ins->cxt = CurrentMemoryContext;
	ins->slots = palloc0(sizeof(TupleTableSlot *) * INSERT_BATCH);
	ins->batchcxt = AllocSetContextCreate(CurrentMemoryContext, "zcrm_outbox insert batch",
										  ALLOCSET_DEFAULT_SIZES);

	ins->roleid = roleid;
	namestrcpy(&ins->server, servername);
	ins->module = CStringGetTextDatum(module);
	ins->pending = CStringGetTextDatum("pending");
	ins->now = TimestampTzGetDatum(GetCurrentTransactionStartTimestamp());
	return ins;
}

static void
inserter_flush(ZcrmOutboxInserter *ins)
{
	int			i;

	if (ins->nslots == 0)
		return;
	table_multi_insert(ins->rel, ins->slots, ins->nslots, ins->cid, 0, ins->bistate);
	for (i = 0; i < ins->nslots; i++)
	{
		List	   *recheck;

		ResetPerTupleExprContext(ins->estate);
		recheck = ExecInsertIndexTuples(ins->rri, ins->slots[i], ins->estate,
										false, false, NULL, NIL);
		list_free(recheck);
	}
	ins->total += ins->nslots;
	ins->nslots = 0;
	MemoryContextReset(ins->batchcxt);
}

/*
 * zcrm_outbox_inserter_add
 *		Queues one row: record, field (text), value (jsonb), over_write.
 *		The datums are copied.
 */
void
zcrm_outbox_inserter_add(ZcrmOutboxInserter *ins, int64 record_id,
						 Datum field, Datum value, bool over_write)
{
	TupleTableSlot *slot;
	int			natts;
	Datum	   *v;
	bool	   *isnull;
	MemoryContext oldcxt;
	int			a;

	if (ins->slots[ins->nslots] == NULL)
	{
		/* not in the caller's context: the capture trigger resets it per row */
		oldcxt = MemoryContextSwitchTo(ins->cxt);
		ins->slots[ins->nslots] = table_slot_create(ins->rel, NULL);
		MemoryContextSwitchTo(oldcxt);
	}
	slot = ins->slots[ins->nslots];
	natts = slot->tts_tupleDescriptor->natts;
	v = slot->tts_values;
	isnull = slot->tts_isnull;
	ExecClearTuple(slot);
	for (a = 0; a < natts; a++)
	{
		v[a] = (Datum) 0;
		isnull[a] = true;
	}
	oldcxt = MemoryContextSwitchTo(ins->batchcxt);
	v[ins->col.id - 1] = Int64GetDatum(nextval_internal(ins->seqid, false));
	if (ins->total == 0 && ins->nslots == 0)
		zcrm_wake_note_queued(DatumGetInt64(v[ins->col.id - 1]));	/* ids grow */
	v[ins->col.owner - 1] = ObjectIdGetDatum(ins->roleid);
	v[ins->col.server - 1] = NameGetDatum(&ins->server);
	v[ins->col.module - 1] = ins->module;
	v[ins->col.record_id - 1] = Int64GetDatum(record_id);
	v[ins->col.field - 1] = datumCopy(field, false, -1);
	v[ins->col.value - 1] = datumCopy(value, false, -1);
	v[ins->col.over_write - 1] = BoolGetDatum(over_write);
	v[ins->col.state - 1] = ins->pending;
	v[ins->col.attempts - 1] = Int32GetDatum(0);
	v[ins->col.queued_at - 1] = ins->now;
	v[ins->col.next_attempt_at - 1] = ins->now;
	MemoryContextSwitchTo(oldcxt);
	isnull[ins->col.id - 1] = isnull[ins->col.owner - 1] = false;
	isnull[ins->col.server - 1] = isnull[ins->col.module - 1] = false;
	isnull[ins->col.record_id - 1] = isnull[ins->col.field - 1] = false;
	isnull[ins->col.value - 1] = isnull[ins->col.over_write - 1] = false;
	isnull[ins->col.state - 1] = isnull[ins->col.attempts - 1] = false;
	isnull[ins->col.queued_at - 1] = isnull[ins->col.next_attempt_at - 1] = false;
	ExecStoreVirtualTuple(slot);
	if (++ins->nslots == INSERT_BATCH)
		inserter_flush(ins);
}

/* zcrm_outbox_inserter_end: writes what is left, returns the rows queued. */
uint64
zcrm_outbox_inserter_end(ZcrmOutboxInserter *ins)
{
	uint64		total;
	int			i;

	inserter_flush(ins);
	for (i = 0; i < INSERT_BATCH && ins->slots[i] != NULL; i++)
		ExecDropSingleTupleTableSlot(ins->slots[i]);
	FreeBulkInsertState(ins->bistate);
	ExecCloseIndices(ins->rri);
	FreeExecutorState(ins->estate);
	MemoryContextDelete(ins->batchcxt);
	table_close(ins->rel, NoLock);
	total = ins->total;
	pfree(ins->slots);
	pfree(ins);

	/* later commands of the transaction see the rows */
	CommandCounterIncrement();
	return total;
}

/* Field API names follow the same rule as module names. */
static void
check_field_name(const char *name)
{
	if (!zc_valid_module(name))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid field name \"%s\"", name),
				 errdetail("A field is given by its Zoho API name: a letter, then letters, digits and underscores."),
				 errhidestmt(true)));
}

/*
 * zcrm_enqueue(module text, id bigint, fields jsonb,
 *              over_write boolean DEFAULT false, server name DEFAULT NULL)
 *   RETURNS void
 *
 * Queues one outbox row per field of "fields" for record "id", owned by the
 * calling role, inside the caller's transaction: nothing is sent unless it
 * commits.  Errors: 22023 for a bad module, field name, id or fields; 55000
 * when the worker does not serve this database; 42704 without a server or
 * user mapping; 42501 without USAGE on the server.
 */
Datum
zcrm_enqueue(PG_FUNCTION_ARGS)
{
	char	   *module;
	int64		id;
	Jsonb	   *fields;
	bool		over_write;
	ZcrmServer *srv;
	Oid			roleid = GetUserId();
	JsonbIterator *it;
	JsonbIteratorToken tok;
	JsonbValue	v;
	Datum	   *names;
	Datum	   *values;
	int			n = 0;
	char	   *key = NULL;

	module = zcrm_check_module(PG_ARGISNULL(0) ? NULL : PG_GETARG_TEXT_PP(0));
	if (PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("record id must not be NULL"),
				 errhidestmt(true)));
	id = PG_GETARG_INT64(1);
	if (id <= 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid record id %lld", (long long) id),
				 errdetail("Zoho record ids are positive 64-bit integers."),
				 errhidestmt(true)));
	fields = PG_ARGISNULL(2) ? NULL : PG_GETARG_JSONB_P(2);
	if (fields == NULL || !JB_ROOT_IS_OBJECT(fields) ||
		JB_ROOT_IS_SCALAR(fields) || JB_ROOT_COUNT(fields) == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("fields must be a non-empty jsonb object"),
				 errhint("Pass a jsonb object mapping field API names to values, e.g. '{\"Lead_Status\": \"Contacted\"}'."),
				 errhidestmt(true)));
	if (PG_ARGISNULL(3))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("over_write must not be NULL"),
				 errhidestmt(true)));
	over_write = PG_GETARG_BOOL(3);
	/* the rows go in below the executor, which would check this */
	PreventCommandIfReadOnly("zcrm_enqueue()");

	names = palloc(sizeof(Datum) * JB_ROOT_COUNT(fields));
	values = palloc(sizeof(Datum) * JB_ROOT_COUNT(fields));
	it = JsonbIteratorInit(&fields->root);
	while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		if (tok == WJB_KEY)
			key = pnstrdup(v.val.string.val, v.val.string.len);
		else if (tok == WJB_VALUE)
		{
			check_field_name(key);
			names[n] = CStringGetTextDatum(key);
			values[n] = JsonbPGetDatum(JsonbValueToJsonb(&v));
			n++;
		}
	}

	srv = zcrm_outbox_prepare_queue(PG_ARGISNULL(4) ? NULL : NameStr(*PG_GETARG_NAME(4)),
									roleid);

	{
		ZcrmOutboxInserter *ins = zcrm_outbox_inserter_begin(roleid, srv->servername, module);
		int			i;

		for (i = 0; i < n; i++)
			zcrm_outbox_inserter_add(ins, id, names[i], values[i], over_write);
		(void) zcrm_outbox_inserter_end(ins);
	}

	PG_RETURN_VOID();
}

/*
 * zcrm_outbox_retry(ids bigint[] DEFAULT NULL) RETURNS bigint
 *
 * Requeues failed outbox rows: those of "ids" (NULL: every failed row) whose
 * owner the calling role is a member of; other ids are ignored.  A row goes
 * back to pending with attempts reset and is due at once, except:
 *	- a newer row of its owner and key was sent: the row becomes superseded
 *	  instead (that newer value is in Zoho); a newer one still pending or
 *	  sending does not count: the requeued row waits for its outcome like
 *	  any older row of its owner (the worker holds it), so it is not lost if
 *	  that one fails;
 *	- a newer row of another owner was sent or is in a call: the row stays
 *	  failed (sending it would overwrite a newer value in Zoho);
 *	- its owner role was dropped (code NO_OWNER, or no such role now): it
 *	  stays failed, so that a later role given the same OID cannot send it.
 * Returns the number of rows requeued.
 */
Datum
zcrm_outbox_retry(PG_FUNCTION_ARGS)
{
	Oid			roleid = GetUserId();
	ZcrmOwnerScope scope;
	Oid			argtypes[2] = {INT8ARRAYOID, OIDOID};
	Datum		args[2];
	char		nulls[2] = {' ', ' '};
	int			ret;
	int64		requeued = 0;

	if (PG_ARGISNULL(0))
	{
		nulls[0] = 'n';
		args[0] = (Datum) 0;
	}
	else
	{
		ArrayType  *a = PG_GETARG_ARRAYTYPE_P(0);

		if (array_contains_nulls(a))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("ids must not contain NULL"),
					 errhidestmt(true)));
		args[0] = PointerGetDatum(a);
	}
	args[1] = ObjectIdGetDatum(roleid);

	zcrm_check_worker_database();

	zcrm_owner_scope_enter(&scope);
	{
		const char *o = scope.schema;

		if (SPI_connect() != SPI_OK_CONNECT)
			elog(ERROR, "SPI_connect failed");
		ret = SPI_execute_with_args(psprintf(
											 "WITH cand AS ("
											 "  SELECT o.id, o.owner::oid AS owner, o.server, o.module, o.record_id, o.field"
											 "    FROM %s.zcrm_outbox o"
											 "   WHERE o.state = 'failed'"
											 "     AND ($1 IS NULL OR o.id = ANY ($1))"
											 "     AND pg_catalog.pg_has_role($2, o.owner, 'MEMBER')"
											 "     AND o.code IS DISTINCT FROM 'NO_OWNER'"
											 "     AND EXISTS (SELECT 1 FROM pg_catalog.pg_roles r"
											 "                  WHERE r.oid OPERATOR(pg_catalog.=) o.owner::oid)"
											 "   FOR UPDATE),"
											 " newer AS ("
											 "  SELECT c.id,"
											 "         pg_catalog.bool_or(n.owner::oid = c.owner AND n.state = 'sent') AS own,"
											 "         pg_catalog.bool_or(n.owner::oid <> c.owner"
											 "                AND n.state IN ('sending', 'sent')) AS other_sent"
											 "    FROM cand c JOIN %s.zcrm_outbox n"
											 "      ON n.record_id = c.record_id AND n.field = c.field"
											 "     AND n.module = c.module AND n.server = c.server AND n.id > c.id"
											 "   GROUP BY c.id),"
											 " sup AS ("
											 "  UPDATE %s.zcrm_outbox o SET state = 'superseded', next_attempt_at = NULL"
											 "    FROM newer WHERE o.id = newer.id AND newer.own RETURNING o.id),"
											 " req AS ("
											 "  UPDATE %s.zcrm_outbox o SET state = 'pending', attempts = 0,"
											 "         next_attempt_at = pg_catalog.now()"
											 "    FROM cand WHERE o.id = cand.id"
											 "     AND NOT EXISTS (SELECT 1 FROM newer WHERE newer.id = cand.id"
											 "                      AND (newer.own OR newer.other_sent))"
											 "  RETURNING o.id)"
											 " SELECT (SELECT pg_catalog.count(*) FROM req), (SELECT pg_catalog.count(*) FROM sup),"
											 "        (SELECT pg_catalog.min(id) FROM req)",
											 o, o, o, o),
									2, argtypes, args, nulls, false, 0);
		if (ret != SPI_OK_SELECT || SPI_processed != 1)
			elog(ERROR, "requeue of zcrm_outbox rows failed: %s", SPI_result_code_string(ret));
		{
			bool		isnull;

			Datum		from;

			requeued = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0],
												   SPI_tuptable->tupdesc, 1, &isnull));
			/* the worker's claim cursor is past them: tell it (wake.h) */
			from = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 3, &isnull);
			if (!isnull)
				zcrm_wake_note_queued(DatumGetInt64(from));
		}
		SPI_finish();
	}
	zcrm_owner_scope_exit(&scope);

	if (requeued > 0)
		zcrm_wake_worker_at_commit();
	PG_RETURN_INT64(requeued);
}
