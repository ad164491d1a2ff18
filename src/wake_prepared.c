/*-------------------------------------------------------------------------
 *
 * wake_prepared.c
 *		Reporting a prepared transaction's queued rows at COMMIT PREPARED.
 *
 * A transaction that queues outbox rows tells the worker its lowest id at
 * commit (wake.c).  A prepared transaction commits later, through COMMIT
 * PREPARED, possibly in another session: without a report the worker would
 * only find its rows by its periodic audit, after a newer change of the
 * same record and field (one that waited for the prepared transaction's
 * row lock, say) had been sent, and the older value would overwrite the
 * newer one in Zoho.  So:
 *	- PREPARE TRANSACTION: the lowest id the transaction queued is kept in
 *	  shared memory under its gid and xid (at XACT_EVENT_PRE_PREPARE, from
 *	  wake.c);
 *	- COMMIT PREPARED: before the prepared transaction commits, the report
 *	  goes into the committing backend's slot with the prepared xid, exactly
 *	  as a normal commit's does at PRE_COMMIT, so the worker knows of it by
 *	  the time anyone can see the transaction committed (and a transaction
 *	  waiting for its locks can go on); after it, the report is folded in
 *	  and the worker woken;
 *	- ROLLBACK PREPARED forgets it.
 * Shared memory does not survive a server restart, but prepared
 * transactions do.  For a gid it has no report for, COMMIT PREPARED in the
 * worker's database reports the whole outbox (from id 1): the worker sweeps
 * it once, and the ordering holds.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/twophase.h"
#include "access/xact.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "nodes/parsenodes.h"
#include "storage/ipc.h"
#include "storage/lwlock.h"
#include "storage/procarray.h"
#include "storage/shmem.h"
#include "storage/spin.h"
#include "tcop/utility.h"
#include "utils/builtins.h"

#include "wake.h"

typedef struct PreparedReport
{
	TransactionId xid;			/* InvalidTransactionId: entry free */
	int64		from;			/* lowest outbox id it queued */
	char		gid[GIDSIZE];
} PreparedReport;

typedef struct PreparedShared
{
	slock_t		mutex;
	bool		overflowed;		/* a report found no entry since start */
	int			n;				/* max_prepared_xacts */
	PreparedReport reports[FLEXIBLE_ARRAY_MEMBER];
} PreparedShared;

#define PREPARED_SHARED_SIZE(n) \
	MAXALIGN(offsetof(PreparedShared, reports) + sizeof(PreparedReport) * (n))

static PreparedShared *prepared_shared = NULL;
static shmem_request_hook_type prev_shmem_request_hook = NULL;
static shmem_startup_hook_type prev_shmem_startup_hook = NULL;
static ProcessUtility_hook_type prev_ProcessUtility = NULL;

/* the gid of the PREPARE TRANSACTION under way in this backend */
static char preparing_gid[GIDSIZE];

static void
prepared_shmem_request(void)
{
	if (prev_shmem_request_hook)
		prev_shmem_request_hook();
	RequestAddinShmemSpace(PREPARED_SHARED_SIZE(Max(max_prepared_xacts, 1)));
}

static void
prepared_shmem_startup(void)
{
	bool		found;
	int			n = Max(max_prepared_xacts, 1);

	if (prev_shmem_startup_hook)
		prev_shmem_startup_hook();
	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	prepared_shared = ShmemInitStruct("massupdate prepared reports",
									  PREPARED_SHARED_SIZE(n), &found);
	if (!found)
	{
		SpinLockInit(&prepared_shared->mutex);
		prepared_shared->overflowed = false;
		prepared_shared->n = n;
		memset(prepared_shared->reports, 0, sizeof(PreparedReport) * n);
	}
	LWLockRelease(AddinShmemInitLock);
}

/* The entry of gid, or NULL; the caller holds the mutex. */
static PreparedReport *
find_report(const char *gid)
{
	int			i;

	for (i = 0; i < prepared_shared->n; i++)
		if (TransactionIdIsValid(prepared_shared->reports[i].xid) &&
			strcmp(prepared_shared->reports[i].gid, gid) == 0)
			return &prepared_shared->reports[i];
	return NULL;
}

/* the caller holds the mutex */
static void
fill_report(PreparedReport *r, TransactionId xid, int64 from)
{
	r->xid = xid;
	r->from = from;
	strlcpy(r->gid, preparing_gid, GIDSIZE);
}

void
zcrm_wake_remember_prepared(int64 from)
{
	TransactionId xid = GetTopTransactionIdIfAny();
	PreparedReport *r;
	int			i;

	if (prepared_shared == NULL || preparing_gid[0] == '\0' || !TransactionIdIsValid(xid))
		return;

	/*
	 * PostgreSQL checks the gid only after this (PRE_PREPARE): while another
	 * transaction is prepared under it, this PREPARE is bound to fail, and
	 * that transaction's report must stay.
	 */
	SpinLockAcquire(&prepared_shared->mutex);
	r = find_report(preparing_gid);
	i = r ? (int) (r - prepared_shared->reports) : -1;
	SpinLockRelease(&prepared_shared->mutex);
	if (i >= 0 && TransactionIdIsInProgress(prepared_shared->reports[i].xid))
	{
		preparing_gid[0] = '\0';
		return;
	}

	/* an entry of the same gid, or a free one */
	SpinLockAcquire(&prepared_shared->mutex);
	r = find_report(preparing_gid);
	for (i = 0; r == NULL && i < prepared_shared->n; i++)
		if (!TransactionIdIsValid(prepared_shared->reports[i].xid))
			r = &prepared_shared->reports[i];
	if (r != NULL)
		fill_report(r, xid, from);
	SpinLockRelease(&prepared_shared->mutex);

	/*
	 * Else one whose transaction is no longer prepared (it ended while
	 * shared memory did not see it: a PREPARE that failed after it was noted):
	 * there are at most max_prepared_xacts prepared transactions.  Whether a
	 * transaction is in progress is not asked under the spinlock.
	 */
	for (i = 0; r == NULL && i < prepared_shared->n; i++)
	{
		TransactionId seen;

		SpinLockAcquire(&prepared_shared->mutex);
		seen = prepared_shared->reports[i].xid;
		SpinLockRelease(&prepared_shared->mutex);
		if (TransactionIdIsInProgress(seen))
			continue;
		SpinLockAcquire(&prepared_shared->mutex);
		if (prepared_shared->reports[i].xid == seen)
		{
			r = &prepared_shared->reports[i];
			fill_report(r, xid, from);
		}
		SpinLockRelease(&prepared_shared->mutex);
	}
	/* none: COMMIT PREPARED will report the whole outbox */
	if (r == NULL)
	{
		SpinLockAcquire(&prepared_shared->mutex);
		prepared_shared->overflowed = true;
		SpinLockRelease(&prepared_shared->mutex);
	}
	preparing_gid[0] = '\0';
}

/*
 * The prepared transaction of gid, in this database: its xid from
 * pg_prepared_xacts (InvalidTransactionId if none), and whether it was
 * prepared before the server started (shared memory has no report of it).
 */
static TransactionId
prepared_xid(const char *gid, bool *before_start)
{
	TransactionId xid = InvalidTransactionId;
	Oid			types[1] = {TEXTOID};
	Datum		vals[1];
	bool		isnull;

	vals[0] = CStringGetTextDatum(gid);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	*before_start = false;
	if (SPI_execute_with_args("SELECT transaction,"
							  "       prepared OPERATOR(pg_catalog.<) pg_catalog.pg_postmaster_start_time()"
							  "  FROM pg_catalog.pg_prepared_xacts"
							  " WHERE gid OPERATOR(pg_catalog.=) $1"
							  "   AND database OPERATOR(pg_catalog.=) pg_catalog.current_database()",
							  1, types, vals, NULL, true, 1) == SPI_OK_SELECT &&
		SPI_processed == 1)
	{
		Datum		d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);

		if (!isnull)
			xid = DatumGetTransactionId(d);
		d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull);
		*before_start = !isnull && DatumGetBool(d);
	}
	SPI_finish();
	return xid;
}

/* COMMIT PREPARED gid: reported as a commit (see the file's header). */
static void
commit_prepared(const char *gid, PlannedStmt *pstmt, const char *queryString,
				bool readOnlyTree, ProcessUtilityContext context,
				ParamListInfo params, QueryEnvironment *queryEnv,
				DestReceiver *dest, QueryCompletion *qc)
{
	PreparedReport r = {InvalidTransactionId, PG_INT64_MAX, ""};
	PreparedReport *e;
	bool		overflowed;
	bool		before_start = false;
	TransactionId xid = InvalidTransactionId;

	/* work is queued only in the worker's database (zcrm_wake_worker_at_commit) */
	if (zcrm_wake_in_worker_database())
		xid = prepared_xid(gid, &before_start);
	SpinLockAcquire(&prepared_shared->mutex);
	e = find_report(gid);
	if (e != NULL)
		r = *e;
	overflowed = prepared_shared->overflowed;
	SpinLockRelease(&prepared_shared->mutex);
	/*
	 * The report kept at PREPARE, if it is this transaction's; the whole
	 * outbox where a report may be missing (prepared before a restart, a
	 * full table, an entry of another transaction); nothing for a
	 * transaction that queued nothing.
	 */
	if (!TransactionIdIsValid(xid))
		r.from = PG_INT64_MAX;
	else if (e == NULL ? (before_start || overflowed) : r.xid != xid)
		r.from = 1;
	else if (e == NULL)
		r.from = PG_INT64_MAX;
	r.xid = xid;
	if (r.from == PG_INT64_MAX)
		r.xid = InvalidTransactionId;
	if (TransactionIdIsValid(r.xid))
		zcrm_wake_report_committing(r.xid, r.from);

	PG_TRY();
	{
		if (prev_ProcessUtility)
			prev_ProcessUtility(pstmt, queryString, readOnlyTree, context,
								params, queryEnv, dest, qc);
		else
			standard_ProcessUtility(pstmt, queryString, readOnlyTree, context,
									params, queryEnv, dest, qc);
	}
	PG_FINALLY();
	{
		/* an error after the commit only over-reports */
		if (TransactionIdIsValid(r.xid))
			zcrm_wake_report_committed(r.from);
	}
	PG_END_TRY();
	zcrm_wake_forget_prepared(gid);
}

void
zcrm_wake_forget_prepared(const char *gid)
{
	PreparedReport *e;

	if (prepared_shared == NULL)
		return;
	SpinLockAcquire(&prepared_shared->mutex);
	e = find_report(gid);
	if (e != NULL)
		e->xid = InvalidTransactionId;
	SpinLockRelease(&prepared_shared->mutex);
}

static void
prepared_ProcessUtility(PlannedStmt *pstmt, const char *queryString,
						bool readOnlyTree, ProcessUtilityContext context,
						ParamListInfo params, QueryEnvironment *queryEnv,
						DestReceiver *dest, QueryCompletion *qc)
{
	Node	   *parsetree = pstmt->utilityStmt;

	if (prepared_shared != NULL && IsA(parsetree, TransactionStmt))
	{
		TransactionStmt *stmt = (TransactionStmt *) parsetree;

		if (stmt->kind == TRANS_STMT_PREPARE)
			strlcpy(preparing_gid, stmt->gid, GIDSIZE);
		else if (stmt->kind == TRANS_STMT_COMMIT_PREPARED)
		{
			commit_prepared(stmt->gid, pstmt, queryString, readOnlyTree, context,
							params, queryEnv, dest, qc);
			return;
		}
		else if (stmt->kind == TRANS_STMT_ROLLBACK_PREPARED)
			zcrm_wake_forget_prepared(stmt->gid);
	}
	if (prev_ProcessUtility)
		prev_ProcessUtility(pstmt, queryString, readOnlyTree, context,
							params, queryEnv, dest, qc);
	else
		standard_ProcessUtility(pstmt, queryString, readOnlyTree, context,
								params, queryEnv, dest, qc);
}

void
zcrm_wake_prepared_init(void)
{
	prev_shmem_request_hook = shmem_request_hook;
	shmem_request_hook = prepared_shmem_request;
	prev_shmem_startup_hook = shmem_startup_hook;
	shmem_startup_hook = prepared_shmem_startup;
	prev_ProcessUtility = ProcessUtility_hook;
	ProcessUtility_hook = prepared_ProcessUtility;
}
