/*-------------------------------------------------------------------------
 *
 * worker.c
 *		The massupdate background worker: polls view jobs into zcrm_jobs and
 *		drains zcrm_outbox into mass-update calls.
 *
 * One worker per cluster, registered by _PG_init under
 * shared_preload_libraries, backend_type "massupdate worker".  It works in
 * massupdate.database only (DESIGN 8.11):
 *
 *	- Start.  Right after postmaster start, a crash or a failed connection
 *	  the worker first attaches to no database and waits, quietly, until
 *	  massupdate.database exists; then it exits and is restarted 1 s later
 *	  to connect (a bgworker cannot switch databases, and connecting to a
 *	  missing one is a FATAL loop).  Connected, it waits for the extension
 *	  in the same quiet way, re-reading its schema from pg_extension every
 *	  round, and sets rows a crash left "sending" back to "pending".
 *	- Sleep.  On its latch, which backends set at COMMIT of a transaction
 *	  that queued work or scheduled a job (wake.c); at the latest after
 *	  massupdate.naptime, or when the next back-off or job poll is due.
 *	  SIGHUP reloads the settings; SIGTERM ends the process (die()).
 *	- Round.  (1) due jobs: one status GET each with the job owner's
 *	  mapping, the answer stored, polls spaced with back-off up to
 *	  massupdate.job_poll_max_interval, given up after
 *	  massupdate.job_poll_timeout.  (2) outbox: claims due pending rows
 *	  (FOR UPDATE SKIP LOCKED under a short lock_timeout, marked "sending",
 *	  one short transaction, where the claim cursor of worker_claim.c
 *	  says), supersedes older values, plans calls
 *	  (planner.c), sends them at most massupdate.max_concurrency at a time
 *	  with no retries inside the client (each try counts once toward
 *	  massupdate.max_attempts), and records every row's outcome in one
 *	  more short transaction: sent, failed (Zoho's code, message and
 *	  details), or pending again with exponential back-off and jitter.
 *	  Batches overlap (DESIGN 8.11, drain_outbox): while one batch's calls
 *	  are in flight (zcrm_client_start/poll, driven between statements)
 *	  the previous batch's outcomes are recorded and the next batch is
 *	  claimed and planned, leaving out keys with a call in flight; the
 *	  next batch's calls take the slots the ending one frees, the two
 *	  together within the limit.
 *	  (3) sent and superseded rows older than massupdate.retention are
 *	  deleted in small batches, and every AUDIT_NAPTIMES naptimes the claim
 *	  cursor's audit looks for pending rows nothing reported.
 *
 * Every state change is committed on its own, so a crash at any moment
 * loses nothing: at worst a call whose outcome was not recorded is sent
 * again, and mass updates by id are idempotent.  (The outbox's commits do
 * not wait for the disk: a server crash may forget the last few, which only
 * sends their rows again; see worker_spi.c.)  A round's memory lives in
 * a context reset at the start of the next one.  An ERROR inside a round
 * is logged, its transaction rolled back, the rows it had claimed requeued,
 * and the worker sleeps a naptime before trying again.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#ifdef __GLIBC__
#include <malloc.h>
#endif

#include "access/heapam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
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
 * Where the current step allocates: the round's context, or while a batch
 * of the outbox is handled that batch's own context (a child of
 * worker_pipe_cxt), so that each batch's memory goes when it is recorded.
 */
MemoryContext worker_round_cxt = NULL;
MemoryContext worker_round_base_cxt = NULL;
/*
 * Parent of the contexts of the outbox batches in the pipe.  Reset after
 * an ERROR, which aborts and frees the transfers of a batch in flight.
 */
MemoryContext worker_pipe_cxt = NULL;
char	   *worker_ext_schema = NULL;		/* quoted, in worker_round_cxt */
static Oid	recovered_extoid = InvalidOid;
static TimestampTz last_retention = 0;
static TimestampTz last_audit = 0;
static bool extension_missing_logged = false;

/* rows claimed in this round and not yet recorded, for error recovery */
bool		worker_claimed_unrecorded = false;

void
zcrm_worker_register(void)
{
	BackgroundWorker bgw;

	zcrm_wake_shmem_init();
	zcrm_wake_prepared_init();

	memset(&bgw, 0, sizeof(bgw));
	bgw.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	bgw.bgw_start_time = BgWorkerStart_RecoveryFinished;
	bgw.bgw_restart_time = 1;
	snprintf(bgw.bgw_library_name, BGW_MAXLEN, "massupdate");
	snprintf(bgw.bgw_function_name, BGW_MAXLEN, "zcrm_worker_main");
	snprintf(bgw.bgw_name, BGW_MAXLEN, "massupdate worker");
	snprintf(bgw.bgw_type, BGW_MAXLEN, "massupdate worker");
	bgw.bgw_main_arg = (Datum) 0;
	bgw.bgw_notify_pid = 0;
	RegisterBackgroundWorker(&bgw);
}


/* ---------------------------------------------------------------------
 * Small helpers
 * ---------------------------------------------------------------------
 */

static void
reload_if_asked(void)
{
	if (ConfigReloadPending)
	{
		ConfigReloadPending = false;
		ProcessConfigFile(PGC_SIGHUP);
	}
}

/* Sleeps on the latch at most ms; SIGTERM and postmaster death end us. */
static void
worker_sleep(long ms)
{
	if (ms <= 0)
		return;
	pgstat_report_activity(STATE_IDLE, NULL);
#ifdef __GLIBC__
	/*
	 * Going idle: give back what the outbox's batches left free in the
	 * heap (their large blocks come and go, and glibc keeps the space), at
	 * most every TRIM_EVERY_MS.
	 */
	{
		static TimestampTz last_trim = 0;
		TimestampTz now = GetCurrentTimestamp();

		if (TimestampDifferenceExceeds(last_trim, now, TRIM_EVERY_MS))
		{
			(void) malloc_trim(0);
			last_trim = now;
		}
	}
#endif
	(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
					 ms, PG_WAIT_EXTENSION);
	ResetLatch(MyLatch);
	CHECK_FOR_INTERRUPTS();
	reload_if_asked();
}

/* ---------------------------------------------------------------------
 * Start-up: database, extension, crash recovery
 * ---------------------------------------------------------------------
 */

/*
 * Whether a database of that name exists.  Attached to no database, only
 * the nailed shared catalogs can be read, and without their indexes (the
 * relcache could not load those): a plain heap scan of pg_database, as the
 * autovacuum launcher does.
 */
static bool
database_exists(const char *name)
{
	Relation	rel;
	TableScanDesc scan;
	HeapTuple	tup;
	bool		found = false;

	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	(void) GetTransactionSnapshot();
	rel = table_open(DatabaseRelationId, AccessShareLock);
	scan = table_beginscan_catalog(rel, 0, NULL);
	while (!found && HeapTupleIsValid(tup = heap_getnext(scan, ForwardScanDirection)))
	{
		Form_pg_database db = (Form_pg_database) GETSTRUCT(tup);

		found = strcmp(NameStr(db->datname), name) == 0;
	}
	table_endscan(scan);
	table_close(rel, AccessShareLock);
	CommitTransactionCommand();
	return found;
}

/*
 * Attached to no database: waits until massupdate.database exists, then
 * exits so that the postmaster restarts us (1 s later) to connect to it.
 */
static void
wait_for_database(void)
{
	bool		logged = false;

	BackgroundWorkerInitializeConnection(NULL, NULL, 0);
	for (;;)
	{
		bool		exists;

		exists = database_exists(zcrm_database);
		if (exists)
			break;
		if (!logged)
		{
			ereport(LOG,
					(errmsg("massupdate worker is waiting for database \"%s\" to be created",
							zcrm_database),
					 errhint("Create the database, or set massupdate.database and restart the server.")));
			logged = true;
		}
		worker_sleep(DATABASE_CHECK_MS);
	}
	zcrm_wake_set_connect_ok(true);
	proc_exit(1);
}

/* Rows a crash or an ERROR left "sending" go back to "pending", due now. */
static void
recover_sending(void)
{
	int			ret;

	worker_xact_begin("massupdate: requeueing rows left sending");
	ret = SPI_execute(psprintf("UPDATE %s SET state = 'pending', next_attempt_at = pg_catalog.now()"
							   " WHERE state = 'sending'", worker_qual("zcrm_outbox")),
					  false, 0);
	if (ret != SPI_OK_UPDATE)
		elog(ERROR, "requeue of sending rows failed: %s", SPI_result_code_string(ret));
	if (SPI_processed > 0)
		ereport(LOG,
				(errmsg("massupdate worker requeued %llu outbox rows left sending",
						(unsigned long long) SPI_processed)));
	worker_xact_end();
	worker_claimed_unrecorded = false;
	worker_claim_reset();
}

/* Reads the extension's schema; false (quietly) while it is not installed. */
static bool
find_extension(void)
{
	Oid			extoid = InvalidOid;
	char	   *schema = NULL;
	bool		found;

	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	found = zcrm_extension_lookup(&extoid, NULL, &schema);
	if (found)
		worker_ext_schema = MemoryContextStrdup(worker_round_cxt, schema);
	CommitTransactionCommand();

	if (!found)
	{
		if (!extension_missing_logged)
			ereport(LOG,
					(errmsg("massupdate worker is waiting for CREATE EXTENSION massupdate in database \"%s\"",
							zcrm_database)));
		extension_missing_logged = true;
		recovered_extoid = InvalidOid;
		return false;
	}
	extension_missing_logged = false;
	if (extoid != recovered_extoid)
	{
		recover_sending();
		recovered_extoid = extoid;
	}
	return true;
}

/* ---------------------------------------------------------------------
 * The round and the main loop
 * ---------------------------------------------------------------------
 */

/* The claim cursor's audit: every AUDIT_NAPTIMES naptimes, or RETENTION_EVERY_MS if sooner. */
static int
audit_every_ms(void)
{
	return (int) Min((int64) RETENTION_EVERY_MS, (int64) zcrm_naptime_ms * AUDIT_NAPTIMES);
}

/*
 * Milliseconds until the next back-off, job poll or audit is due, at most
 * naptime.
 */
static long
next_due_ms(void)
{
	int			ret;
	long		ms = zcrm_naptime_ms;
	long		backoff = worker_claim_due_ms(zcrm_naptime_ms);
	long		audit = audit_every_ms() -
		TimestampDifferenceMilliseconds(last_audit, GetCurrentTimestamp());

	worker_xact_begin("massupdate: planning sleep");
	ret = SPI_execute(psprintf("SELECT next_poll_at FROM %s WHERE next_poll_at IS NOT NULL"
							   " AND status NOT IN ('COMPLETED', 'FAILED')"
							   " ORDER BY next_poll_at LIMIT 1",
							   worker_qual("zcrm_jobs")),
					  true, 1);
	if (ret == SPI_OK_SELECT && SPI_processed == 1)
	{
		bool		isnull;
		TimestampTz at = DatumGetTimestampTz(SPI_getbinval(SPI_tuptable->vals[0],
														   SPI_tuptable->tupdesc, 1, &isnull));
		int64		due = TimestampDifferenceMilliseconds(GetCurrentTimestamp(), at);

		ms = (long) Min((int64) ms, Max(due, (int64) MIN_SLEEP_MS));
	}
	worker_xact_end();
	ms = Min(ms, Max(audit, MIN_SLEEP_MS));
	/* rows due now that could not be taken (locked) are looked at again soon */
	return Min(ms, Max(backoff, MIN_SLEEP_MS));
}

/* One round; returns how long to sleep (0: more work is waiting). */
static long
run_round(void)
{
	int			claimed;
	TimestampTz now;

	if (!find_extension())
		return zcrm_naptime_ms;

	worker_poll_jobs();
	claimed = worker_drain_outbox();

	now = GetCurrentTimestamp();
	if (last_retention == 0 ||
		TimestampDifferenceExceeds(last_retention, now, RETENTION_EVERY_MS) ||
		(claimed == 0 && zcrm_retention_s == 0))
	{
		worker_delete_old_rows();
		last_retention = now;
	}
	if (TimestampDifferenceExceeds(last_audit, now, audit_every_ms()))
	{
		worker_claim_audit();
		last_audit = now;
	}

	if (claimed >= zcrm_batch_size)
		return 0;
	return next_due_ms();
}

/* Clears the published latch when the process exits, however it exits. */
static void
worker_detach(int code, Datum arg)
{
	zcrm_wake_set_worker_latch(NULL);
}

void
zcrm_worker_main(Datum main_arg)
{
	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();

	if (!zcrm_wake_get_connect_ok())
		wait_for_database();	/* does not return */

	/* if this connect fails (database dropped), the next start checks first */
	zcrm_wake_set_connect_ok(false);
	BackgroundWorkerInitializeConnection(zcrm_database, NULL, 0);
	zcrm_wake_set_connect_ok(true);
	worker_pin_search_path();

	before_shmem_exit(worker_detach, (Datum) 0);
	zcrm_wake_set_worker_latch(MyLatch);
	pgstat_report_appname("massupdate worker");

	worker_round_base_cxt = AllocSetContextCreate(TopMemoryContext, "massupdate worker round",
										   ALLOCSET_DEFAULT_SIZES);
	worker_round_cxt = worker_round_base_cxt;
	worker_pipe_cxt = AllocSetContextCreate(TopMemoryContext, "massupdate worker pipe",
									 ALLOCSET_DEFAULT_SIZES);
	ereport(LOG,
			(errmsg("massupdate worker started in database \"%s\"", zcrm_database)));

	for (;;)
	{
		volatile long sleep_ms = zcrm_naptime_ms;

		CHECK_FOR_INTERRUPTS();
		reload_if_asked();
		worker_round_cxt = worker_round_base_cxt;
		MemoryContextReset(worker_pipe_cxt);
		MemoryContextReset(worker_round_cxt);
		worker_ext_schema = NULL;

		PG_TRY();
		{
			sleep_ms = run_round();
		}
		PG_CATCH();
		{
			/* log it, roll back, requeue what we held, and pause */
			HOLD_INTERRUPTS();
			EmitErrorReport();
			FlushErrorState();
			AbortOutOfAnyTransaction();
			MemoryContextSwitchTo(TopMemoryContext);
			/* abort and free the transfers of any batch in flight */
			worker_round_cxt = worker_round_base_cxt;
			MemoryContextReset(worker_pipe_cxt);
			RESUME_INTERRUPTS();
			if (worker_claimed_unrecorded && worker_ext_schema != NULL)
				recover_sending();
			worker_claim_reset();
			sleep_ms = zcrm_naptime_ms;
		}
		PG_END_TRY();

		worker_sleep(sleep_ms);
	}
}
