/*-------------------------------------------------------------------------
 *
 * wake.c
 *		Waking the massupdate worker at commit.
 *
 * A backend that queues outbox rows or schedules a job calls
 * zcrm_wake_worker_at_commit().  The first call in a backend registers
 * transaction callbacks (once per backend, as pg_net does); the call sets a
 * flag, and at commit, once the transaction's catalog invalidations are
 * sent and its locks released, a resource-release callback sets the
 * worker's latch.  An aborted transaction only clears the flag: its rows never existed, so the
 * worker has nothing to do and is not disturbed.  The flag is the lowest
 * (sub)transaction nesting level that queued work still alive: a released
 * savepoint hands its work to its parent, a savepoint rolled back drops
 * what it and its children queued, so a committed transaction whose only
 * queued work was rolled back to a savepoint wakes nobody either.
 *
 * The callbacks also leave in shared memory the lowest outbox id the
 * transaction queued or requeued (zcrm_wake_note_queued), for the worker's
 * claim cursor (worker_claim.c): see report_pre_commit.
 *
 * The worker's latch lives in a small struct in shared memory, set by the
 * worker when it is connected and cleared when it exits.  The same struct
 * remembers whether the worker may connect to massupdate.database straight
 * away or must first check, quietly, that the database exists (see
 * worker.c).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "commands/dbcommands.h"
#include "miscadmin.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/lwlock.h"
#include "storage/backendid.h"
#include "storage/procarray.h"
#include "storage/shmem.h"
#include "storage/spin.h"
#include "utils/memutils.h"
#include "utils/resowner.h"

#include "settings.h"
#include "wake.h"

/* A committing transaction's lowest queued id, until it is folded in. */
typedef struct ZcrmCommitting
{
	TransactionId xid;			/* InvalidTransactionId: slot free */
	int64		from;
} ZcrmCommitting;

typedef struct ZcrmWakeShared
{
	slock_t		mutex;			/* protects everything below */
	Latch	   *worker_latch;	/* NULL while no worker is connected */
	bool		connect_ok;		/* see zcrm_wake_get_connect_ok */
	int64		queued_from;	/* see zcrm_wake_take_queued_from */
	int			nslots;			/* MaxBackends */
	ZcrmCommitting committing[FLEXIBLE_ARRAY_MEMBER];	/* by backend id */
} ZcrmWakeShared;

#define WAKE_SHARED_SIZE(n) \
	MAXALIGN(offsetof(ZcrmWakeShared, committing) + sizeof(ZcrmCommitting) * (n))

static ZcrmWakeShared *wake_shared = NULL;

static shmem_request_hook_type prev_shmem_request_hook = NULL;
static shmem_startup_hook_type prev_shmem_startup_hook = NULL;

/* backend-local state */
static bool xact_callback_registered = false;
static int	wake_level = 0;		/* 0: nothing to wake for */
static int64 xact_queued_from = PG_INT64_MAX;	/* lowest id noted in this xact */
static int	database_checked = 0;	/* 0 unknown, 1 ok, -1 other database */

static void
zcrm_wake_shmem_request(void)
{
	if (prev_shmem_request_hook)
		prev_shmem_request_hook();
	RequestAddinShmemSpace(WAKE_SHARED_SIZE(MaxBackends));
}

static void
zcrm_wake_shmem_startup(void)
{
	bool		found;

	if (prev_shmem_startup_hook)
		prev_shmem_startup_hook();

	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	wake_shared = ShmemInitStruct("massupdate worker wake",
								  WAKE_SHARED_SIZE(MaxBackends), &found);
	if (!found)
	{
		int			i;

		SpinLockInit(&wake_shared->mutex);
		wake_shared->worker_latch = NULL;
		wake_shared->connect_ok = false;
		wake_shared->queued_from = PG_INT64_MAX;
		wake_shared->nslots = MaxBackends;
		for (i = 0; i < MaxBackends; i++)
			wake_shared->committing[i].xid = InvalidTransactionId;
	}
	LWLockRelease(AddinShmemInitLock);
}

void
zcrm_wake_shmem_init(void)
{
	prev_shmem_request_hook = shmem_request_hook;
	shmem_request_hook = zcrm_wake_shmem_request;
	prev_shmem_startup_hook = shmem_startup_hook;
	shmem_startup_hook = zcrm_wake_shmem_startup;
}

void
zcrm_wake_set_worker_latch(Latch *latch)
{
	if (wake_shared == NULL)
		return;
	SpinLockAcquire(&wake_shared->mutex);
	wake_shared->worker_latch = latch;
	SpinLockRelease(&wake_shared->mutex);
}

bool
zcrm_wake_get_connect_ok(void)
{
	bool		ok;

	if (wake_shared == NULL)
		return true;
	SpinLockAcquire(&wake_shared->mutex);
	ok = wake_shared->connect_ok;
	SpinLockRelease(&wake_shared->mutex);
	return ok;
}

void
zcrm_wake_set_connect_ok(bool ok)
{
	if (wake_shared == NULL)
		return;
	SpinLockAcquire(&wake_shared->mutex);
	wake_shared->connect_ok = ok;
	SpinLockRelease(&wake_shared->mutex);
}

/* Sets the worker's latch, if a worker is connected. */
static void
wake_worker_now(void)
{
	Latch	   *latch;

	if (wake_shared == NULL)
		return;
	SpinLockAcquire(&wake_shared->mutex);
	latch = wake_shared->worker_latch;
	SpinLockRelease(&wake_shared->mutex);
	if (latch != NULL)
		SetLatch(latch);
}

/* This backend's slot in wake_shared->committing, or NULL. */
static ZcrmCommitting *
my_slot(void)
{
	if (wake_shared == NULL || MyBackendId == InvalidBackendId ||
		MyBackendId > wake_shared->nslots)
		return NULL;
	return &wake_shared->committing[MyBackendId - 1];
}

/*
 * Reporting the lowest id a committing transaction queued (wake.h,
 * zcrm_wake_take_queued_from), in two steps:
 *	- at PRE_COMMIT, before the commit is visible to anyone, into this
 *	  backend's slot with the transaction's xid: the worker takes a slot
 *	  whose transaction is no longer in progress.  So once any snapshot
 *	  can see the transaction committed (and a transaction changing the
 *	  same table row can go on and queue a newer change), the worker finds
 *	  the report;
 *	- once its rows are visible, the slot is folded into queued_from.
 */
static void
report_pre_commit(void)
{
	ZcrmCommitting *slot = my_slot();
	TransactionId xid = GetTopTransactionIdIfAny();

	if (slot == NULL || xact_queued_from == PG_INT64_MAX || !TransactionIdIsValid(xid))
		return;
	SpinLockAcquire(&wake_shared->mutex);
	slot->xid = xid;
	slot->from = xact_queued_from;
	SpinLockRelease(&wake_shared->mutex);
}

/* Committed: the slot folded into queued_from; otherwise just freed. */
static void
report_end(bool committed)
{
	ZcrmCommitting *slot = my_slot();

	if (wake_shared != NULL && (committed || (slot && TransactionIdIsValid(slot->xid))))
	{
		SpinLockAcquire(&wake_shared->mutex);
		if (committed && xact_queued_from < wake_shared->queued_from)
			wake_shared->queued_from = xact_queued_from;
		if (slot)
			slot->xid = InvalidTransactionId;
		SpinLockRelease(&wake_shared->mutex);
	}
	xact_queued_from = PG_INT64_MAX;
}

/*
 * At commit, in the phases of releasing the top transaction's resources
 * (the transaction is visible as committed by then):
 *	- before its locks go, the report is folded in (report_end);
 *	- after its locks, and its catalog invalidations, have gone, the worker
 *	  is woken.  An xact callback would run before the invalidations are
 *	  sent, and the worker, quick to wake, could still find a user mapping
 *	  dropped in the same transaction in its catalog cache.
 */
static void
zcrm_wake_release_callback(ResourceReleasePhase phase, bool isCommit,
						   bool isTopLevel, void *arg)
{
	if (!isTopLevel)
		return;
	if (phase == RESOURCE_RELEASE_BEFORE_LOCKS && isCommit &&
		xact_queued_from != PG_INT64_MAX)
		report_end(true);
	if (phase == RESOURCE_RELEASE_AFTER_LOCKS)
	{
		if (isCommit && wake_level > 0)
			wake_worker_now();
		wake_level = 0;
		xact_queued_from = PG_INT64_MAX;
	}
}

/*
 * Reports at PRE_COMMIT; keeps a prepared transaction's report for its
 * COMMIT PREPARED (wake_prepared.c); forgets what an aborted transaction
 * queued.
 */
static void
zcrm_wake_xact_callback(XactEvent event, void *arg)
{
	switch (event)
	{
		case XACT_EVENT_PRE_COMMIT:
			report_pre_commit();
			break;
		case XACT_EVENT_PRE_PREPARE:
			if (xact_queued_from != PG_INT64_MAX)
				zcrm_wake_remember_prepared(xact_queued_from);
			break;
		case XACT_EVENT_ABORT:
		case XACT_EVENT_PARALLEL_ABORT:
		case XACT_EVENT_PREPARE:
			wake_level = 0;
			report_end(false);
			break;
		default:
			break;
	}
}

static void
zcrm_wake_subxact_callback(SubXactEvent event, SubTransactionId mySubid,
						   SubTransactionId parentSubid, void *arg)
{
	int			level = GetCurrentTransactionNestLevel();

	switch (event)
	{
		case SUBXACT_EVENT_COMMIT_SUB:
			/* the parent now owns what this savepoint queued */
			if (wake_level >= level)
				wake_level = level - 1;
			break;
		case SUBXACT_EVENT_ABORT_SUB:
			/* what this savepoint (and its children) queued is gone */
			if (wake_level >= level)
				wake_level = 0;
			break;
		default:
			break;
	}
}

void
zcrm_wake_report_committing(TransactionId xid, int64 from)
{
	ZcrmCommitting *slot = my_slot();

	if (slot == NULL)
		return;
	SpinLockAcquire(&wake_shared->mutex);
	slot->xid = xid;
	slot->from = from;
	SpinLockRelease(&wake_shared->mutex);
}

void
zcrm_wake_report_committed(int64 from)
{
	ZcrmCommitting *slot = my_slot();

	if (wake_shared == NULL)
		return;
	SpinLockAcquire(&wake_shared->mutex);
	if (from < wake_shared->queued_from)
		wake_shared->queued_from = from;
	if (slot)
		slot->xid = InvalidTransactionId;
	SpinLockRelease(&wake_shared->mutex);
	wake_worker_now();
}

/* Whether this is massupdate.database (cached for the session). */
bool
zcrm_wake_in_worker_database(void)
{
	if (database_checked == 0)
	{
		char	   *dbname = get_database_name(MyDatabaseId);

		database_checked =
			(dbname != NULL && zcrm_database != NULL &&
			 strcmp(dbname, zcrm_database) == 0) ? 1 : -1;
	}
	return database_checked > 0;
}

void
zcrm_check_worker_database(void)
{
	if (!zcrm_loaded_at_startup || wake_shared == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("the massupdate worker is not running"),
				 errdetail("The massupdate library was not loaded at server start, so no worker would ever send the queued work."),
				 errhint("Add massupdate to shared_preload_libraries in postgresql.conf and restart the server.")));

	if (!zcrm_wake_in_worker_database())
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("the massupdate worker does not work in database \"%s\"",
						get_database_name(MyDatabaseId)),
				 errdetail("The worker only sends work queued in database \"%s\".",
						   zcrm_database ? zcrm_database : ""),
				 errhint("Queue and schedule work in that database, or set massupdate.database to this one and restart the server.")));
}

static void
register_callbacks(void)
{
	if (!xact_callback_registered)
	{
		RegisterXactCallback(zcrm_wake_xact_callback, NULL);
		RegisterSubXactCallback(zcrm_wake_subxact_callback, NULL);
		RegisterResourceReleaseCallback(zcrm_wake_release_callback, NULL);
		xact_callback_registered = true;
	}
}

void
zcrm_wake_worker_at_commit(void)
{
	zcrm_check_worker_database();
	register_callbacks();
	if (wake_level == 0 || GetCurrentTransactionNestLevel() < wake_level)
		wake_level = GetCurrentTransactionNestLevel();
}

void
zcrm_wake_note_queued(int64 id)
{
	register_callbacks();
	if (id < xact_queued_from)
		xact_queued_from = id;
}

int64
zcrm_wake_take_queued_from(void)
{
	static ZcrmCommitting *seen = NULL;
	int			nseen = 0;
	int64		from;
	int			i;

	if (wake_shared == NULL)
		return PG_INT64_MAX;
	if (seen == NULL)
		seen = MemoryContextAlloc(TopMemoryContext,
								  sizeof(ZcrmCommitting) * wake_shared->nslots);
	SpinLockAcquire(&wake_shared->mutex);
	from = wake_shared->queued_from;
	wake_shared->queued_from = PG_INT64_MAX;
	for (i = 0; i < wake_shared->nslots; i++)
		if (TransactionIdIsValid(wake_shared->committing[i].xid))
			seen[nseen++] = wake_shared->committing[i];
	SpinLockRelease(&wake_shared->mutex);
	/*
	 * Transactions past their commit whose reports are not folded in yet
	 * (their slots are left to them; an aborted one only over-reports).
	 */
	for (i = 0; i < nseen; i++)
		if (seen[i].from < from && !TransactionIdIsInProgress(seen[i].xid))
			from = seen[i].from;
	return from;
}
