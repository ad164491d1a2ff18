/*-------------------------------------------------------------------------
 *
 * worker_spi.c
 *		The worker's short transactions and SPI helpers.
 *
 * See worker.c for the whole of what the worker does.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/heapam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_database.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/proc.h"
#include "tcop/tcopprot.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"

#include "client.h"
#include "codec.h"
#include "outbox.h"
#include "planner.h"
#include "settings.h"
#include "wake.h"
#include "worker.h"
#include "zoho_limits.h"


#include "worker_internal.h"

/*
 * A short transaction with SPI and a snapshot, as worker_spi does.
 *
 * The worker's statements touch rows by id, a batch at a time, and are
 * written so that the plan cannot read the whole table (sent rows of past
 * days included) or rescan a batch per row: ids go in arrays matched with
 * "id = ANY (...)" on the primary key, the claim walks the primary key from
 * the claim cursor (worker_claim.c), and the one join (outcomes) is forced
 * to hash its side.
 *
 * The outbox's claims and outcomes commit without waiting for their WAL to
 * reach disk (worker_commit_async: synchronous_commit off, for those
 * transactions only).  They record only what the worker did, so a server crash can at worst forget the last
 * few of them, in order (WAL is written in order): the outbox is then as it
 * was a moment earlier, and rows it shows "sending" or "pending" are sent
 * again, as after any crash (mass updates by id are idempotent).  What users
 * commit stays durable, and a user transaction that acts on a state the
 * worker wrote (zcrm_outbox_retry of a failed row) flushes that state with
 * its own commit.  The single worker does not stall on disk flushes while
 * its calls are in flight.  Job polls commit as usual: a forgotten final
 * status could not always be read again (job_poll_timeout).
 */
void
worker_xact_begin(const char *activity)
{
	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	worker_pin_search_path();
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	PushActiveSnapshot(GetTransactionSnapshot());
	pgstat_report_activity(STATE_RUNNING, activity);
}

/*
 * The worker runs as the bootstrap superuser.  With the database's
 * search_path ("$user", public, or whatever ALTER DATABASE ... SET gave
 * it), a role that can create in one of those schemas (the database owner
 * owns public) could put a function or operator there that the worker's SQL
 * would call instead of pg_catalog's: an exact match for an operator that
 * pg_catalog has only through an implicit cast wins (CVE-2018-1058).  So,
 * as PostgreSQL's own maintenance code does, the worker searches only
 * pg_catalog (and its own temporary schema, which is never searched for
 * functions or operators), and names the extension's tables with their
 * schema (worker_qual).  Set at the highest source at connection, where
 * neither a reload nor a database or role setting can undo it, and made
 * sure of again at the start of every transaction.
 */
void
worker_pin_search_path(void)
{
	if (namespace_search_path != NULL &&
		strcmp(namespace_search_path, WORKER_SEARCH_PATH) == 0)
		return;
	(void) set_config_option("search_path", WORKER_SEARCH_PATH,
							 PGC_SUSET, PGC_S_OVERRIDE, GUC_ACTION_SET,
							 true, 0, false);
}

/* This transaction commits without waiting for the disk (see above). */
void
worker_commit_async(void)
{
	worker_set_local("synchronous_commit", "off");
}

/* SET LOCAL for one of the planner switches */
void
worker_set_local(const char *name, const char *value)
{
	(void) set_config_option(name, value, PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_LOCAL, true, 0, false);
}

void
worker_xact_end(void)
{
	SPI_finish();
	PopActiveSnapshot();
	CommitTransactionCommand();
	pgstat_report_stat(false);
}

char *
worker_qual(const char *table)
{
	return psprintf("%s.%s", worker_ext_schema, table);
}

/* text of a result column, copied into the round context; NULL stays NULL */
char *
worker_spi_text(HeapTuple tup, TupleDesc desc, int col)
{
	char	   *v = SPI_getvalue(tup, desc, col);

	return v ? MemoryContextStrdup(worker_round_cxt, v) : NULL;
}

int64
worker_spi_int64(HeapTuple tup, TupleDesc desc, int col, bool *isnull)
{
	Datum		d = SPI_getbinval(tup, desc, col, isnull);

	return *isnull ? 0 : DatumGetInt64(d);
}

Datum
worker_text_array(const char **v, int n)
{
	Datum	   *d = palloc(sizeof(Datum) * (n > 0 ? n : 1));
	bool	   *nulls = palloc(sizeof(bool) * (n > 0 ? n : 1));
	int			dims[1] = {n};
	int			lbs[1] = {1};
	int			i;

	for (i = 0; i < n; i++)
	{
		nulls[i] = (v[i] == NULL);
		d[i] = nulls[i] ? (Datum) 0 : CStringGetTextDatum(v[i]);
	}
	return PointerGetDatum(construct_md_array(d, nulls, 1, dims, lbs,
											  TEXTOID, -1, false, TYPALIGN_INT));
}

Datum
worker_int8_array(const int64 *v, int n)
{
	Datum	   *d = palloc(sizeof(Datum) * (n > 0 ? n : 1));
	int			i;

	for (i = 0; i < n; i++)
		d[i] = Int64GetDatum(v[i]);
	return PointerGetDatum(construct_array(d, n, INT8OID, sizeof(int64),
										   FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
}

Datum
worker_timestamptz_array(const TimestampTz *v, int n)
{
	Datum	   *d = palloc(sizeof(Datum) * (n > 0 ? n : 1));
	int			i;

	for (i = 0; i < n; i++)
		d[i] = TimestampTzGetDatum(v[i]);
	return PointerGetDatum(construct_array(d, n, TIMESTAMPTZOID, sizeof(TimestampTz),
										   FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
}

void *
worker_round_alloc(size_t size)
{
	return MemoryContextAlloc(worker_round_cxt, size);
}

/*
 * Runs fn(arg) in a subtransaction; an ERROR is caught and its message
 * returned (in worker_round_cxt), NULL on success.  Used for the catalog checks
 * of one job or one group of rows, so one bad owner does not stop the rest.
 */
char *
worker_try_in_subxact(void (*fn) (void *), void *arg, int *sqlstate)
{
	MemoryContext oldcxt = CurrentMemoryContext;
	ResourceOwner oldowner = CurrentResourceOwner;
	char	   *msg = NULL;

	BeginInternalSubTransaction(NULL);
	MemoryContextSwitchTo(oldcxt);
	PG_TRY();
	{
		fn(arg);
		ReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(oldcxt);
		CurrentResourceOwner = oldowner;
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		MemoryContextSwitchTo(worker_round_cxt);
		edata = CopyErrorData();
		FlushErrorState();
		RollbackAndReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(oldcxt);
		CurrentResourceOwner = oldowner;
		msg = edata->message ? edata->message : pstrdup("unknown error");
		if (sqlstate)
			*sqlstate = edata->sqlerrcode;
	}
	PG_END_TRY();
	return msg;
}

/*
 * Whether the role that queued work still exists.  Owners are stored as
 * regrole, which PostgreSQL does not keep as a dependency: DROP ROLE
 * succeeds and leaves the OID behind.  Work of a dropped role is never sent
 * (a PUBLIC user mapping would otherwise serve it), and never inherited by a
 * later role that happens to get the same OID (zcrm_outbox_retry skips it).
 */
bool
worker_owner_exists(Oid owner)
{
	return SearchSysCacheExists1(AUTHOID, ObjectIdGetDatum(owner));
}

void
worker_raise_no_owner(Oid owner)
{
	ereport(ERROR,
			(errcode(ERRCODE_UNDEFINED_OBJECT),
			 errmsg("the role with OID %u that queued this work no longer exists", owner),
			 errdetail("Work of a dropped role is not sent with anyone else's user mapping.")));
}

const char *
worker_outcome_name(ZcrmOutcome o)
{
	switch (o)
	{
		case ZCRM_ANSWERED:
			return "ANSWERED";
		case ZCRM_NETWORK_ERROR:
			return "NETWORK_ERROR";
		case ZCRM_TIMEOUT:
			return "TIMEOUT";
		case ZCRM_UNKNOWN_OUTCOME:
			return "UNKNOWN_OUTCOME";
		case ZCRM_TOKEN_ERROR:
			return "TOKEN_ERROR";
	}
	return "ERROR";
}

