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
 *	  one short transaction), supersedes older values, plans calls
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
 *	  deleted in small batches.
 *
 * Every state change is committed on its own, so a crash at any moment
 * loses nothing: at worst a call whose outcome was not recorded is sent
 * again, and mass updates by id are idempotent.  A round's memory lives in
 * a context reset at the start of the next one.  An ERROR inside a round
 * is logged, its transaction rolled back, the rows it had claimed requeued,
 * and the worker sleeps a naptime before trying again.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

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

/* how long a claim waits for a row lock before giving up for this round */
#define CLAIM_LOCK_TIMEOUT_MS		1000
/* jobs polled per round */
#define JOBS_PER_ROUND				100
/* first and smallest interval between two polls of a job */
#define JOB_POLL_MIN_INTERVAL_MS	1000
/* rows deleted per retention transaction, and transactions per round */
#define RETENTION_BATCH				5000
#define RETENTION_BATCHES_PER_ROUND	20
/* how often retention runs at most */
#define RETENTION_EVERY_MS			60000
/* longest stretch of overlapping outbox batches before the round goes on */
#define PIPE_MAX_MS					5000
/* rows claimed per statement, the calls in flight driven in between */
#define CLAIM_SLICE					1000
/* outcomes written per statement, the calls in flight driven in between */
#define RECORD_SLICE				1000
/* shortest sleep when something is due but could not be taken (locked) */
#define MIN_SLEEP_MS				100
/* pause between checks while waiting for the database */
#define DATABASE_CHECK_MS			1000

/* one claimed outbox row */
typedef struct ClaimedRow
{
	int64		id;
	Oid			owner;
	char	   *server;
	char	   *module;
	int64		record_id;
	char	   *field;
	char	   *value;
	bool		over_write;
	int			attempts;		/* including this try */
} ClaimedRow;

/* what becomes of one claimed row */
typedef struct RowOutcome
{
	const char *state;			/* sent, failed, pending */
	const char *code;
	const char *message;
	const char *details;		/* JSON text or NULL */
	int64		delay_ms;		/* pending: back-off */
} RowOutcome;

/*
 * One batch of the outbox on its way through the pipe: claimed and planned
 * while the previous batch's calls are in flight, sent, then recorded
 * while the next batch's calls are in flight.
 */
typedef struct Batch
{
	MemoryContext cxt;			/* everything below */
	int			n;				/* rows claimed */
	ClaimedRow *rows;
	ZcrmPlanRow *prows;
	ClaimedRow **sorted;		/* rows by key, newest first within a key */
	ZcrmPlan	plan;
	RowOutcome *out;
	ZcrmCall   *calls;
	int		   *call_plan;		/* call -> plan call */
	int			ncalls;
	ZcrmClientBatch *client;	/* calls in flight, or NULL */
} Batch;

/*
 * Where the current step allocates: the round's context, or while a batch
 * of the outbox is handled that batch's own context (a child of
 * pipe_cxt), so that each batch's memory goes when it is recorded.
 */
static MemoryContext round_cxt = NULL;
static MemoryContext round_base_cxt = NULL;
/*
 * Parent of the contexts of the outbox batches in the pipe.  Reset after
 * an ERROR, which aborts and frees the transfers of a batch in flight.
 */
static MemoryContext pipe_cxt = NULL;
static char *ext_schema = NULL;		/* quoted, in round_cxt */
static Oid	recovered_extoid = InvalidOid;
static TimestampTz last_retention = 0;
static bool extension_missing_logged = false;

/* rows claimed in this round and not yet recorded, for error recovery */
static bool claimed_unrecorded = false;

/*
 * Calls the worker keeps in flight: massupdate.max_concurrency, halved
 * after a round that met a 429 and raised by one after each round without,
 * so a CRM that admits fewer concurrent calls than configured is not
 * hammered (Zoho's limits per edition: reference section 5.2).
 */
static int	send_concurrency = 0;

void
zcrm_worker_register(void)
{
	BackgroundWorker bgw;

	zcrm_wake_shmem_init();

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
	(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
					 ms, PG_WAIT_EXTENSION);
	ResetLatch(MyLatch);
	CHECK_FOR_INTERRUPTS();
	reload_if_asked();
}

/*
 * A short transaction with SPI and a snapshot, as worker_spi does.
 *
 * The worker's statements touch rows by id, a batch at a time, and are
 * written so that the plan cannot read the whole table (sent rows of past
 * days included) or rescan a batch per row: ids go in arrays matched with
 * "id = ANY (...)" on the primary key, the claim walks the pending index in
 * id order, and the one join (outcomes) is forced to hash its side.
 */
static void
xact_begin(const char *activity)
{
	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	PushActiveSnapshot(GetTransactionSnapshot());
	pgstat_report_activity(STATE_RUNNING, activity);
}

/* SET LOCAL for one of the planner switches */
static void
set_local(const char *name, const char *value)
{
	(void) set_config_option(name, value, PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_LOCAL, true, 0, false);
}

static void
xact_end(void)
{
	SPI_finish();
	PopActiveSnapshot();
	CommitTransactionCommand();
	pgstat_report_stat(false);
}

static char *
qual(const char *table)
{
	return psprintf("%s.%s", ext_schema, table);
}

/* text of a result column, copied into the round context; NULL stays NULL */
static char *
spi_text(HeapTuple tup, TupleDesc desc, int col)
{
	char	   *v = SPI_getvalue(tup, desc, col);

	return v ? MemoryContextStrdup(round_cxt, v) : NULL;
}

static int64
spi_int64(HeapTuple tup, TupleDesc desc, int col, bool *isnull)
{
	Datum		d = SPI_getbinval(tup, desc, col, isnull);

	return *isnull ? 0 : DatumGetInt64(d);
}

static Datum
text_array(const char **v, int n)
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

static Datum
int8_array(const int64 *v, int n)
{
	Datum	   *d = palloc(sizeof(Datum) * (n > 0 ? n : 1));
	int			i;

	for (i = 0; i < n; i++)
		d[i] = Int64GetDatum(v[i]);
	return PointerGetDatum(construct_array(d, n, INT8OID, sizeof(int64),
										   FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
}

static void *
round_alloc(size_t size)
{
	return MemoryContextAlloc(round_cxt, size);
}

/*
 * Runs fn(arg) in a subtransaction; an ERROR is caught and its message
 * returned (in round_cxt), NULL on success.  Used for the catalog checks
 * of one job or one group of rows, so one bad owner does not stop the rest.
 */
static char *
try_in_subxact(void (*fn) (void *), void *arg, int *sqlstate)
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

		MemoryContextSwitchTo(round_cxt);
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

	xact_begin("massupdate: requeueing rows left sending");
	ret = SPI_execute(psprintf("UPDATE %s SET state = 'pending', next_attempt_at = now()"
							   " WHERE state = 'sending'", qual("zcrm_outbox")),
					  false, 0);
	if (ret != SPI_OK_UPDATE)
		elog(ERROR, "requeue of sending rows failed: %s", SPI_result_code_string(ret));
	if (SPI_processed > 0)
		ereport(LOG,
				(errmsg("massupdate worker requeued %llu outbox rows left sending",
						(unsigned long long) SPI_processed)));
	xact_end();
	claimed_unrecorded = false;
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
		ext_schema = MemoryContextStrdup(round_cxt, schema);
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
 * (1) Jobs
 * ---------------------------------------------------------------------
 */

typedef struct DueJob
{
	int64		job_id;
	char	   *server;
	Oid			owner;
	char	   *module;
	int64		age_ms;			/* since scheduled_at */
	bool		timed_out;
	/* filled while sending */
	ZcrmServer *srv;
	char	   *error;			/* catalog problem: no call made */
	/* outcome */
	bool		store_status;
	ZcJobStatus st;
	char	   *last_error;
	bool		stop_polling;
	int64		next_ms;
} DueJob;

/* interval before the next poll: half the job's age, within the bounds */
static int64
job_next_poll_ms(int64 age_ms)
{
	int64		ms = age_ms / 2;
	int64		max_ms = Max(zcrm_job_poll_max_interval_ms, JOB_POLL_MIN_INTERVAL_MS);

	if (ms < JOB_POLL_MIN_INTERVAL_MS)
		ms = JOB_POLL_MIN_INTERVAL_MS;
	if (ms > max_ms)
		ms = max_ms;
	return ms;
}

static void
job_resolve(void *arg)
{
	DueJob	   *job = arg;
	MemoryContext old = MemoryContextSwitchTo(round_cxt);

	job->srv = zcrm_get_server(job->server);
	zcrm_require_user_mapping(job->srv, job->owner);
	MemoryContextSwitchTo(old);
}

static const char *
outcome_name(ZcrmOutcome o)
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

/* Reads one status answer into the job's outcome. */
static void
job_read_answer(DueJob *job, ZcrmCall *call)
{
	ZcError		err;
	ZcAnswer	kind;

	job->next_ms = job_next_poll_ms(job->age_ms);
	if (call->outcome != ZCRM_ANSWERED)
	{
		job->last_error = psprintf("status request failed (%s): %s; polling again",
								   outcome_name(call->outcome), call->errmsg);
		return;
	}
	if (call->http_status == 429 || call->http_status >= 500 ||
		call->response == NULL || call->response[0] == '\0')
	{
		job->last_error = psprintf("status request answered HTTP %ld; polling again",
								   call->http_status);
		return;
	}
	kind = zc_parse_job_status(call->response, &job->st, &err);
	if (kind == ZC_ANSWER_OK)
	{
		job->store_status = true;
		job->stop_polling = zc_job_status_final(job->st.status);
		return;
	}
	if (kind == ZC_ANSWER_ERROR)
	{
		bool		transient = call->http_status == 401 &&
			(strcmp(err.code, "INVALID_TOKEN") == 0 ||
			 strcmp(err.code, "AUTHENTICATION_FAILURE") == 0);

		job->last_error = psprintf("status request answered HTTP %ld %s: %s%s",
								   call->http_status, err.code,
								   err.message ? err.message : "",
								   transient ? "; polling again" : "; polling stopped");
		job->stop_polling = !transient;
	}
	else
		job->last_error = psprintf("unreadable status answer (HTTP %ld): %s; polling again",
								   call->http_status, err.message ? err.message : "");
	zc_error_free(&err);
}

static void
poll_jobs(void)
{
	int			ret;
	int			njobs;
	DueJob	   *jobs;
	ZcrmCall   *calls;
	int		   *call_job;
	int			ncalls = 0;
	int			i;
	MemoryContext old;

	/* due jobs (zcrm_job_wait may hold one: skip it) */
	xact_begin("massupdate: reading due jobs");
	ret = SPI_execute_with_args(psprintf("SELECT job_id, server::text, owner::oid, module,"
										 " (extract(epoch FROM now() - scheduled_at) * 1000)::bigint"
										 " FROM %s"
										 " WHERE next_poll_at IS NOT NULL AND next_poll_at <= now()"
										 " AND status NOT IN ('COMPLETED', 'FAILED')"
										 " ORDER BY next_poll_at LIMIT %d FOR UPDATE SKIP LOCKED",
										 qual("zcrm_jobs"), JOBS_PER_ROUND),
								0, NULL, NULL, NULL, false, 0);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "reading due jobs failed: %s", SPI_result_code_string(ret));
	njobs = (int) SPI_processed;
	old = MemoryContextSwitchTo(round_cxt);
	jobs = palloc0(sizeof(DueJob) * (njobs > 0 ? njobs : 1));
	for (i = 0; i < njobs; i++)
	{
		HeapTuple	t = SPI_tuptable->vals[i];
		TupleDesc	d = SPI_tuptable->tupdesc;
		bool		isnull;

		jobs[i].job_id = spi_int64(t, d, 1, &isnull);
		jobs[i].server = spi_text(t, d, 2);
		jobs[i].owner = DatumGetObjectId(SPI_getbinval(t, d, 3, &isnull));
		jobs[i].module = spi_text(t, d, 4);
		jobs[i].age_ms = spi_int64(t, d, 5, &isnull);
		jobs[i].timed_out = jobs[i].age_ms > (int64) zcrm_job_poll_timeout_ms;
	}
	MemoryContextSwitchTo(old);
	xact_end();
	if (njobs == 0)
		return;

	/* the calls, with each owner's mapping */
	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	pgstat_report_activity(STATE_RUNNING, "massupdate: polling jobs");
	/* everything kept past the commit below lives in the round's context */
	old = MemoryContextSwitchTo(round_cxt);
	calls = palloc0(sizeof(ZcrmCall) * njobs);
	call_job = palloc0(sizeof(int) * njobs);
	for (i = 0; i < njobs; i++)
	{
		DueJob	   *job = &jobs[i];
		char	   *msg;

		if (job->timed_out)
		{
			job->last_error = psprintf("polling stopped: the job did not end within massupdate.job_poll_timeout (%d ms)",
									   zcrm_job_poll_timeout_ms);
			job->stop_polling = true;
			continue;
		}
		msg = try_in_subxact(job_resolve, job, NULL);
		if (msg != NULL)
		{
			job->last_error = psprintf("cannot poll: %s", msg);
			job->next_ms = Max(zcrm_job_poll_max_interval_ms, JOB_POLL_MIN_INTERVAL_MS);
			continue;
		}
		calls[ncalls].server = job->srv;
		calls[ncalls].roleid = job->owner;
		calls[ncalls].method = "GET";
		calls[ncalls].module = job->module;
		calls[ncalls].query = psprintf("job_id=%lld", (long long) job->job_id);
		calls[ncalls].body = NULL;
		calls[ncalls].retry_unsafe = false;
		calls[ncalls].max_retries = 0;
		call_job[ncalls++] = i;
	}
	if (ncalls > 0)
	{
		InvalidateCatalogSnapshot();
		zcrm_client_run(calls, ncalls, zcrm_max_concurrency, ZCRM_NO_RAISE);
		for (i = 0; i < ncalls; i++)
			job_read_answer(&jobs[call_job[i]], &calls[i]);
	}
	MemoryContextSwitchTo(old);
	CommitTransactionCommand();

	/* store what we learnt */
	xact_begin("massupdate: storing job status");
	for (i = 0; i < njobs; i++)
	{
		DueJob	   *job = &jobs[i];
		Oid			argtypes[9] = {INT8OID, BOOLOID, TEXTOID, INT4OID, INT4OID,
		INT4OID, INT4OID, TEXTOID, INT8OID};
		Datum		args[9];
		char		nulls[10] = "         ";
		long long	counts[4];
		int			c;

		args[0] = Int64GetDatum(job->job_id);
		args[1] = BoolGetDatum(job->store_status);
		if (job->store_status)
			args[2] = CStringGetTextDatum(job->st.status);
		else
		{
			args[2] = (Datum) 0;
			nulls[2] = 'n';
		}
		counts[0] = job->st.total_count;
		counts[1] = job->st.updated_count;
		counts[2] = job->st.failed_count;
		counts[3] = job->st.not_updated_count;
		for (c = 0; c < 4; c++)
		{
			if (!job->store_status || counts[c] < 0 || counts[c] > PG_INT32_MAX)
			{
				args[3 + c] = (Datum) 0;
				nulls[3 + c] = 'n';
			}
			else
				args[3 + c] = Int32GetDatum((int32) counts[c]);
		}
		if (job->last_error)
			args[7] = CStringGetTextDatum(job->last_error);
		else
		{
			args[7] = (Datum) 0;
			nulls[7] = 'n';
		}
		if (job->stop_polling)
		{
			args[8] = (Datum) 0;
			nulls[8] = 'n';
		}
		else
			args[8] = Int64GetDatum(job->next_ms);

		ret = SPI_execute_with_args(psprintf("UPDATE %s SET"
											 " status = CASE WHEN $2 THEN $3 ELSE status END,"
											 " total_count = CASE WHEN $2 THEN $4 ELSE total_count END,"
											 " updated_count = CASE WHEN $2 THEN $5 ELSE updated_count END,"
											 " failed_count = CASE WHEN $2 THEN $6 ELSE failed_count END,"
											 " not_updated_count = CASE WHEN $2 THEN $7 ELSE not_updated_count END,"
											 " last_polled_at = CASE WHEN $2 THEN now() ELSE last_polled_at END,"
											 " finished_at = CASE WHEN $2 AND $3 IN ('COMPLETED', 'FAILED')"
											 "   THEN coalesce(finished_at, now()) ELSE finished_at END,"
											 " last_error = $8,"
											 " next_poll_at = now() + $9 * interval '1 millisecond'"
											 " WHERE job_id = $1 AND status NOT IN ('COMPLETED', 'FAILED')",
											 qual("zcrm_jobs")),
									9, argtypes, args, nulls, false, 0);
		if (ret != SPI_OK_UPDATE)
			elog(ERROR, "storing job status failed: %s", SPI_result_code_string(ret));
	}
	xact_end();
}

/* ---------------------------------------------------------------------
 * (2) Outbox
 * ---------------------------------------------------------------------
 */

/* sort key for finding a claimed row by (server, module, record, field) */
static int
cmp_claimed_key(const ClaimedRow *a, const ClaimedRow *b)
{
	int			c;

	if (a->record_id != b->record_id)
		return a->record_id < b->record_id ? -1 : 1;
	if ((c = strcmp(a->field, b->field)) != 0)
		return c;
	if ((c = strcmp(a->module, b->module)) != 0)
		return c;
	return strcmp(a->server, b->server);
}

static int
cmp_claimed_ptr(const void *pa, const void *pb)
{
	const ClaimedRow *a = *(const ClaimedRow *const *) pa;
	const ClaimedRow *b = *(const ClaimedRow *const *) pb;
	int			c = cmp_claimed_key(a, b);

	if (c != 0)
		return c;
	return (a->id < b->id) ? 1 : (a->id > b->id) ? -1 : 0;	/* newest first */
}

/*
 * Index in the sorted array of the first (newest) claimed row of a key, or
 * -1.  Rows of one key follow it.
 */
static int
find_claimed_key(ClaimedRow **sorted, int n, const ClaimedRow *key)
{
	int			lo = 0;
	int			hi = n - 1;
	int			found = -1;

	while (lo <= hi)
	{
		int			mid = lo + (hi - lo) / 2;
		int			c = cmp_claimed_key(sorted[mid], key);

		if (c < 0)
			lo = mid + 1;
		else
		{
			if (c == 0)
				found = mid;
			hi = mid - 1;
		}
	}
	return found;
}

/*
 * Claims due rows and works out supersession, in one short transaction.
 * Fills rows/plan; returns the number of rows claimed.
 */
static void pump(Batch *inflight);
static bool pump2(Batch *ahead, Batch *b);

/*
 * Claims due rows and works out supersession, in one short transaction.
 * Rows of a key that has a call of the batch "inflight" in flight are not
 * sent now (DESIGN 8.10): older ones are superseded by it, newer ones go
 * back to pending, due at once, for a round after that call has ended.
 * Fills b; returns the number of rows claimed.
 */
static int
claim_and_plan(Batch *b, Batch *inflight)
{
	ZcrmPlan   *plan = &b->plan;
	int64	   *deferred = NULL;
	int			ndeferred = 0;
	int			ret;
	int			n;
	int			i;
	ClaimedRow *rows;
	ZcrmPlanRow *prows;
	ClaimedRow **sorted;
	int64	   *superseded;
	int			nsuperseded = 0;
	int64	   *record_ids;
	int			cap;
	int			q;
	int64		max_id = 0;
	Oid			argtypes[2] = {INT4OID, INT8OID};
	Datum		args[2];
	MemoryContext old;

	xact_begin("massupdate: claiming outbox rows");
	(void) set_config_option("lock_timeout", psprintf("%d", CLAIM_LOCK_TIMEOUT_MS),
							 PGC_SUSET, PGC_S_SESSION, GUC_ACTION_LOCAL,
							 true, 0, false);
	/*
	 * The claim walks zcrm_outbox_pending in id order and stops after
	 * batch_size rows; a bitmap scan would read and sort every pending row
	 * first (the whole backlog) whatever the statistics say.
	 */
	set_local("enable_bitmapscan", "off");
	set_local("enable_seqscan", "off");
	set_local("enable_sort", "off");
	/*
	 * In slices of CLAIM_SLICE rows (in id order, as one claim of
	 * batch_size would take them), so that the calls in flight are kept
	 * going in between.
	 */
	n = 0;
	cap = 0;
	rows = NULL;
	for (;;)
	{
		int			want = Min(CLAIM_SLICE, zcrm_batch_size - n);
		int			got;

		if (want <= 0)
			break;
		args[0] = Int32GetDatum(want);
		args[1] = Int64GetDatum(max_id);
		ret = SPI_execute_with_args(psprintf("UPDATE %s o SET state = 'sending', attempts = o.attempts + 1,"
											 "        next_attempt_at = NULL"
											 " WHERE o.id = ANY (ARRAY("
											 "  SELECT id FROM %s"
											 "   WHERE state = 'pending' AND next_attempt_at <= now() AND id > $2"
											 "   ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED))"
											 " RETURNING o.id, o.owner::oid, o.server::text, o.module,"
											 "           o.record_id, o.field, o.value::text, o.over_write,"
											 "           o.attempts",
											 qual("zcrm_outbox"), qual("zcrm_outbox")),
									2, argtypes, args, NULL, false, 0);
		if (ret != SPI_OK_UPDATE_RETURNING)
			elog(ERROR, "claiming outbox rows failed: %s", SPI_result_code_string(ret));
		got = (int) SPI_processed;
		if (got == 0)
			break;
		claimed_unrecorded = true;

		old = MemoryContextSwitchTo(round_cxt);
		if (n + got > cap)
		{
			cap = Max(n + got, Min(zcrm_batch_size, Max(cap * 2, CLAIM_SLICE)));
			rows = rows ? repalloc(rows, sizeof(ClaimedRow) * cap) :
				palloc(sizeof(ClaimedRow) * cap);
		}
		for (i = 0; i < got; i++)
		{
			HeapTuple	t = SPI_tuptable->vals[i];
			TupleDesc	d = SPI_tuptable->tupdesc;
			ClaimedRow *r = &rows[n + i];
			bool		isnull;

			r->id = spi_int64(t, d, 1, &isnull);
			r->owner = DatumGetObjectId(SPI_getbinval(t, d, 2, &isnull));
			r->server = spi_text(t, d, 3);
			r->module = spi_text(t, d, 4);
			r->record_id = spi_int64(t, d, 5, &isnull);
			r->field = spi_text(t, d, 6);
			r->value = spi_text(t, d, 7);
			r->over_write = DatumGetBool(SPI_getbinval(t, d, 8, &isnull));
			r->attempts = DatumGetInt32(SPI_getbinval(t, d, 9, &isnull));
			if (r->id > max_id)
				max_id = r->id;
		}
		MemoryContextSwitchTo(old);
		SPI_freetuptable(SPI_tuptable);
		n += got;
		pump(inflight);
		if (got < want)
			break;
	}
	if (n == 0)
	{
		xact_end();
		b->n = 0;
		return 0;
	}

	old = MemoryContextSwitchTo(round_cxt);
	prows = palloc0(sizeof(ZcrmPlanRow) * n);
	sorted = palloc(sizeof(ClaimedRow *) * n);
	superseded = palloc(sizeof(int64) * n);
	record_ids = palloc(sizeof(int64) * n);
	for (i = 0; i < n; i++)
	{
		sorted[i] = &rows[i];
		record_ids[i] = rows[i].record_id;

		prows[i].outbox_id = rows[i].id;
		prows[i].owner = rows[i].owner;
		prows[i].server = rows[i].server;
		prows[i].module = rows[i].module;
		prows[i].record_id = rows[i].record_id;
		prows[i].field = rows[i].field;
		prows[i].value = rows[i].value;
		prows[i].over_write = rows[i].over_write;
		prows[i].state = ZCRM_PLAN_SEND;
		prows[i].call = -1;
	}
	qsort(sorted, n, sizeof(ClaimedRow *), cmp_claimed_ptr);

	/* keys with a call in flight */
	if (inflight != NULL && inflight->n > 0)
	{
		deferred = palloc(sizeof(int64) * n);
		for (i = 0; i < n; i++)
		{
			int			k = find_claimed_key(inflight->sorted, inflight->n, &rows[i]);

			for (; k >= 0 && k < inflight->n &&
				 cmp_claimed_key(inflight->sorted[k], &rows[i]) == 0; k++)
			{
				if (inflight->prows[inflight->sorted[k] - inflight->rows].state != ZCRM_PLAN_SEND)
					continue;
				if (rows[i].id < inflight->sorted[k]->id)
					prows[i].state = ZCRM_PLAN_SUPERSEDED;
				else
				{
					prows[i].state = ZCRM_PLAN_DEFER;
					deferred[ndeferred++] = rows[i].id;
				}
				break;
			}
		}
	}
	MemoryContextSwitchTo(old);
	pump(inflight);

	/*
	 * Older unsent values of the same keys, which ours make moot: rows in
	 * back-off (pending, queued before the oldest row we claimed) and failed
	 * rows.  A failed row newer than ours makes ours moot instead.  Rows
	 * "sending" are all ours (one worker; a crash's leftovers are requeued
	 * at start): those of the batch in flight were dealt with above.  Newer pending rows beyond a full batch are not looked
	 * for: they are sent in a later round, after ours, so the CRM still
	 * ends with the newest value.
	 */
	for (q = 0; q < 2; q++)
	{
		Oid			types[2] = {INT8ARRAYOID, INT8OID};
		Datum		vals[2];
		int64		min_id = rows[0].id;

		for (i = 1; i < n; i++)
			if (rows[i].id < min_id)
				min_id = rows[i].id;
		vals[0] = int8_array(record_ids, n);
		vals[1] = Int64GetDatum(min_id);
		/* two statements, the calls in flight driven in between */
		if (q == 0)
			ret = SPI_execute_with_args(psprintf("SELECT id, server::text, module, record_id, field"
												 " FROM %s WHERE state = 'pending' AND id < $2"
												 " AND record_id = ANY ($1)",
												 qual("zcrm_outbox")),
										2, types, vals, NULL, false, 0);
		else
			ret = SPI_execute_with_args(psprintf("SELECT id, server::text, module, record_id, field"
												 " FROM %s WHERE state = 'failed' AND record_id = ANY ($1)",
												 qual("zcrm_outbox")),
										1, types, vals, NULL, false, 0);
		if (ret != SPI_OK_SELECT)
			elog(ERROR, "reading unsent rows failed: %s", SPI_result_code_string(ret));
		old = MemoryContextSwitchTo(round_cxt);
		if (SPI_processed > 0)
			superseded = repalloc(superseded, sizeof(int64) * (n + nsuperseded + SPI_processed));
		for (i = 0; i < (int) SPI_processed; i++)
		{
			HeapTuple	t = SPI_tuptable->vals[i];
			TupleDesc	d = SPI_tuptable->tupdesc;
			bool		isnull;
			ClaimedRow	other;
			int			first;

			other.id = spi_int64(t, d, 1, &isnull);
			other.server = SPI_getvalue(t, d, 2);
			other.module = SPI_getvalue(t, d, 3);
			other.record_id = spi_int64(t, d, 4, &isnull);
			other.field = SPI_getvalue(t, d, 5);
			first = find_claimed_key(sorted, n, &other);
			if (first < 0)
				continue;
			if (other.id < sorted[first]->id)
				superseded[nsuperseded++] = other.id;
			else
			{
				/* every claimed row of this key is moot */
				int			k;

				for (k = first; k < n && cmp_claimed_key(sorted[k], &other) == 0; k++)
					prows[sorted[k] - rows].state = ZCRM_PLAN_SUPERSEDED;
			}
		}
		MemoryContextSwitchTo(old);
		SPI_freetuptable(SPI_tuptable);
		pump(inflight);
	}
	old = MemoryContextSwitchTo(round_cxt);

	if (!zcrm_plan(prows, n, ZOHO_MAX_IDS_PER_CALL, round_alloc, plan))
		elog(ERROR, "out of memory while planning");
	for (i = 0; i < n; i++)
		if (prows[i].state == ZCRM_PLAN_SUPERSEDED)
			superseded[nsuperseded++] = rows[i].id;
	MemoryContextSwitchTo(old);

	if (nsuperseded > 0)
	{
		Oid			types[1] = {INT8ARRAYOID};
		Datum		vals[1];

		vals[0] = int8_array(superseded, nsuperseded);
		ret = SPI_execute_with_args(psprintf("UPDATE %s SET state = 'superseded', next_attempt_at = NULL,"
											 " attempts = CASE WHEN state = 'sending' THEN attempts - 1 ELSE attempts END"
											 " WHERE id = ANY ($1) AND state IN ('pending', 'sending', 'failed')",
											 qual("zcrm_outbox")),
									1, types, vals, NULL, false, 0);
		if (ret != SPI_OK_UPDATE)
			elog(ERROR, "superseding outbox rows failed: %s", SPI_result_code_string(ret));
	}
	if (ndeferred > 0)
	{
		Oid			types[1] = {INT8ARRAYOID};
		Datum		vals[1];

		/* not tried this time: the claim's attempt is given back */
		vals[0] = int8_array(deferred, ndeferred);
		ret = SPI_execute_with_args(psprintf("UPDATE %s SET state = 'pending', next_attempt_at = now(),"
											 " attempts = attempts - 1"
											 " WHERE id = ANY ($1) AND state = 'sending'",
											 qual("zcrm_outbox")),
									1, types, vals, NULL, false, 0);
		if (ret != SPI_OK_UPDATE)
			elog(ERROR, "deferring outbox rows failed: %s", SPI_result_code_string(ret));
	}
	xact_end();

	b->n = n;
	b->rows = rows;
	b->prows = prows;
	b->sorted = sorted;
	return n;
}

/* the catalog checks of one (owner, server) group */
typedef struct OwnerCheck
{
	Oid			owner;
	const char *server;
	ZcrmServer *srv;
	char	   *error;
	int			sqlstate;
	bool		no_server;
} OwnerCheck;

static void
owner_check(void *arg)
{
	OwnerCheck *oc = arg;
	MemoryContext old = MemoryContextSwitchTo(round_cxt);

	oc->no_server = true;
	oc->srv = zcrm_get_server(oc->server);
	oc->no_server = false;
	zcrm_require_user_mapping(oc->srv, oc->owner);
	MemoryContextSwitchTo(old);
}

static bool
code_is_transient(const char *code)
{
	return strcmp(code, "TOO_MANY_REQUESTS") == 0 ||
		strcmp(code, "INTERNAL_ERROR") == 0 ||
		strcmp(code, "INVALID_TOKEN") == 0 ||
		strcmp(code, "AUTHENTICATION_FAILURE") == 0;
}

static void
set_outcome(RowOutcome *o, const char *state, const char *code,
			const char *message, const char *details)
{
	o->state = state;
	o->code = code;
	o->message = message;
	o->details = details;
}

/*
 * What the answer to one call means for each of its rows (in round_cxt).
 * Transient: no answer, 429, 5xx, a token problem, an unreadable 2xx, an
 * id the answer does not mention.  Everything else Zoho says is final:
 * per-record results, and request-level errors for the whole call.
 */
static void
read_call_answer(ZcrmCall *call, ZcrmPlanCall *pc, ClaimedRow *rows,
				 RowOutcome *out)
{
	int			i;
	ZcError		err;
	ZcRecordResult *results = NULL;
	int			nresults = 0;
	ZcAnswer	kind;
	long long  *ids;
	int		   *slot;

	if (call->outcome != ZCRM_ANSWERED)
	{
		const char *msg = pstrdup(call->errmsg[0] ? call->errmsg : outcome_name(call->outcome));

		for (i = 0; i < pc->nrows; i++)
			set_outcome(&out[pc->rows[i]], "pending", outcome_name(call->outcome), msg, NULL);
		return;
	}

	if (call->http_status == 429 || call->http_status >= 500)
	{
		const char *code;
		const char *msg;

		if (call->response && zc_parse_error(call->response, &err))
		{
			code = pstrdup(err.code);
			msg = pstrdup(err.message ? err.message : "");
			zc_error_free(&err);
		}
		else
		{
			code = call->http_status == 429 ? "TOO_MANY_REQUESTS" : psprintf("HTTP_%ld", call->http_status);
			msg = psprintf("Zoho CRM answered HTTP %ld", call->http_status);
		}
		for (i = 0; i < pc->nrows; i++)
			set_outcome(&out[pc->rows[i]], "pending", code, msg, NULL);
		return;
	}

	kind = zc_parse_records(call->response ? call->response : "", &results, &nresults, &err);
	if (kind == ZC_ANSWER_ERROR || kind == ZC_ANSWER_MALFORMED)
	{
		const char *code = pstrdup(err.code);
		const char *msg = err.message ? pstrdup(err.message) : NULL;
		const char *det = err.details ? pstrdup(err.details) : NULL;
		bool		transient;

		if (kind == ZC_ANSWER_MALFORMED)
			transient = call->http_status >= 200 && call->http_status < 300;
		else
			transient = code_is_transient(code);
		zc_error_free(&err);
		for (i = 0; i < pc->nrows; i++)
			set_outcome(&out[pc->rows[i]], transient ? "pending" : "failed", code, msg, det);
		return;
	}

	ids = palloc(sizeof(long long) * pc->nrows);
	slot = palloc(sizeof(int) * pc->nrows);
	for (i = 0; i < pc->nrows; i++)
		ids[i] = rows[pc->rows[i]].record_id;

	if (zc_records_are_request_error(results, nresults, pc->nrows))
	{
		const char *code = pstrdup(results[0].code ? results[0].code : "ERROR");
		const char *msg = results[0].message ? pstrdup(results[0].message) : NULL;
		const char *det = results[0].details ? pstrdup(results[0].details) : NULL;

		for (i = 0; i < pc->nrows; i++)
			set_outcome(&out[pc->rows[i]], code_is_transient(code) ? "pending" : "failed",
						code, msg, det);
		zc_results_free(results, nresults);
		return;
	}

	(void) zc_match_results(ids, pc->nrows, results, nresults, slot);
	for (i = 0; i < pc->nrows; i++)
	{
		RowOutcome *o = &out[pc->rows[i]];

		if (slot[i] < 0)
			set_outcome(o, "pending", "NO_RESULT",
						"Zoho CRM's answer has no result for this record", NULL);
		else
		{
			ZcRecordResult *r = &results[slot[i]];
			const char *code = pstrdup(r->code ? r->code : (r->success ? "SUCCESS" : "ERROR"));
			const char *msg = r->message ? pstrdup(r->message) : NULL;

			if (r->success)
				set_outcome(o, "sent", code, msg, NULL);
			else
				set_outcome(o, code_is_transient(code) ? "pending" : "failed", code, msg,
							r->details ? pstrdup(r->details) : NULL);
		}
	}
	zc_results_free(results, nresults);
}

/*
 * Builds the planned calls of b, in one short transaction (b->calls,
 * b->out in round_cxt).  Rows whose owner may no longer use the server
 * fail without a call.
 */
static void
prepare_calls(Batch *b)
{
	ClaimedRow *rows = b->rows;
	int			nrows = b->n;
	ZcrmPlan   *plan = &b->plan;
	RowOutcome *out;
	OwnerCheck *checks;
	int			nchecks = 0;
	int		   *call_check;
	ZcrmCall   *calls;
	int		   *call_plan;
	int			ncalls = 0;
	int			i;
	MemoryContext old;

	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	pgstat_report_activity(STATE_RUNNING, "massupdate: sending outbox rows");
	old = MemoryContextSwitchTo(round_cxt);

	out = palloc0(sizeof(RowOutcome) * nrows);
	checks = palloc0(sizeof(OwnerCheck) * (plan->ncalls > 0 ? plan->ncalls : 1));
	call_check = palloc(sizeof(int) * (plan->ncalls > 0 ? plan->ncalls : 1));
	calls = palloc0(sizeof(ZcrmCall) * (plan->ncalls > 0 ? plan->ncalls : 1));
	call_plan = palloc(sizeof(int) * (plan->ncalls > 0 ? plan->ncalls : 1));

	/* one catalog check per (owner, server) */
	for (i = 0; i < plan->ncalls; i++)
	{
		ZcrmPlanCall *pc = &plan->calls[i];
		int			c;

		for (c = 0; c < nchecks; c++)
			if (checks[c].owner == pc->owner && strcmp(checks[c].server, pc->server) == 0)
				break;
		if (c == nchecks)
		{
			checks[c].owner = pc->owner;
			checks[c].server = pc->server;
			checks[c].error = try_in_subxact(owner_check, &checks[c], &checks[c].sqlstate);
			nchecks++;
		}
		call_check[i] = c;
	}

	for (i = 0; i < plan->ncalls; i++)
	{
		ZcrmPlanCall *pc = &plan->calls[i];
		OwnerCheck *oc = &checks[call_check[i]];
		ZcField		f;
		long long  *ids;
		char	   *body;
		int			j;

		if (oc->error != NULL)
		{
			const char *code = oc->no_server ? "NO_SERVER" :
			oc->sqlstate == ERRCODE_INSUFFICIENT_PRIVILEGE ? "NO_PRIVILEGE" :
			"NO_USER_MAPPING";

			for (j = 0; j < pc->nrows; j++)
				set_outcome(&out[pc->rows[j]], "failed", code, oc->error, NULL);
			continue;
		}
		ids = palloc(sizeof(long long) * pc->nrows);
		for (j = 0; j < pc->nrows; j++)
			ids[j] = rows[pc->rows[j]].record_id;
		f.name = pc->field;
		f.value_json = pc->value;
		body = zc_build_ids_body(&f, 1, ids, pc->nrows, pc->over_write);
		if (body == NULL)
			elog(ERROR, "out of memory building a request body");
		calls[ncalls].server = oc->srv;
		calls[ncalls].roleid = pc->owner;
		calls[ncalls].method = "POST";
		calls[ncalls].module = pc->module;
		calls[ncalls].query = NULL;
		calls[ncalls].body = pstrdup(body);
		free(body);
		calls[ncalls].retry_unsafe = false;
		calls[ncalls].max_retries = 0;
		call_plan[ncalls++] = i;
	}
	b->out = out;
	b->calls = calls;
	b->call_plan = call_plan;
	b->ncalls = ncalls;
	MemoryContextSwitchTo(old);
	CommitTransactionCommand();
}

/*
 * Starts b's calls.  The worker has at most two batches with calls in
 * flight, the older one ("ahead", whose last calls are ending) and b,
 * which gets only the slots that "ahead" leaves free, so that the total
 * stays within send_concurrency <= massupdate.max_concurrency.  The
 * mappings are looked up in a short transaction; the calls then run while
 * the worker does other things, driven by pump() and finish_calls().
 */
static void
start_calls(Batch *b, Batch *ahead)
{
	MemoryContext old;

	if (b->ncalls == 0)
		return;
	if (send_concurrency < 1 || send_concurrency > zcrm_max_concurrency)
		send_concurrency = zcrm_max_concurrency;
	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	pgstat_report_activity(STATE_RUNNING, "massupdate: sending outbox rows");
	old = MemoryContextSwitchTo(b->cxt);
	b->client = zcrm_client_start(b->calls, b->ncalls, send_concurrency,
								  ZCRM_NO_RAISE | ZCRM_START_IDLE);
	MemoryContextSwitchTo(old);
	CommitTransactionCommand();
	/* get the connections going */
	pump2(ahead, b);
}

/* Lets the calls of a batch in flight progress: answers in, free slots refilled. */
static void
pump(Batch *inflight)
{
	if (inflight != NULL && inflight->client != NULL)
		(void) zcrm_client_poll(inflight->client, 0);
}

/*
 * The same for two batches in flight: the older one (ahead) refills its
 * slots first, the newer one (b) gets what is left of send_concurrency.
 */
static bool
pump2(Batch *ahead, Batch *b)
{
	bool		done = true;
	int			used = 0;

	if (ahead != NULL && ahead->client != NULL)
	{
		if (b != NULL && b->client != NULL)
			zcrm_client_set_limit(ahead->client,
								  send_concurrency - zcrm_client_in_flight(b->client));
		done = zcrm_client_poll(ahead->client, 0);
		/* calls of ahead still to start keep their slots */
		used = Min(send_concurrency, zcrm_client_unfinished(ahead->client));
	}
	if (b != NULL && b->client != NULL)
	{
		zcrm_client_set_limit(b->client, send_concurrency - used);
		(void) zcrm_client_poll(b->client, 0);
	}
	return done;
}

/*
 * Waits for b's calls to end and reads each row's outcome from the
 * answers, while the calls of the batch "behind" (if started) go on in the
 * slots b leaves free.
 */
static void
finish_calls(Batch *b, Batch *behind)
{
	bool		saw_429 = false;
	bool	   *read;
	int			i;
	MemoryContext old;

	if (b->client == NULL)
		return;
	pgstat_report_activity(STATE_RUNNING, "massupdate: sending outbox rows");
	/* outside any transaction: allocate in the batch's context */
	read = MemoryContextAllocZero(b->cxt, sizeof(bool) * b->ncalls);
	for (;;)
	{
		bool		done;

		if (behind != NULL && behind->client != NULL)
		{
			done = pump2(b, behind);
			if (!done)
			{
				/* wait a little for the network, then look again */
				(void) zcrm_client_poll(b->client, 2);
				done = pump2(b, behind);
			}
		}
		else
			done = zcrm_client_poll(b->client, 5);

		/* read the answers that are in while the others are on their way */
		old = MemoryContextSwitchTo(b->cxt);
		for (i = 0; i < b->ncalls; i++)
		{
			if (read[i] || !zcrm_client_call_done(b->client, i))
				continue;
			read[i] = true;
			if (b->calls[i].outcome == ZCRM_ANSWERED && b->calls[i].http_status == 429)
				saw_429 = true;
			read_call_answer(&b->calls[i], &b->plan.calls[b->call_plan[i]], b->rows, b->out);
			if (b->calls[i].response)
			{
				pfree(b->calls[i].response);
				b->calls[i].response = NULL;
			}
			if (!done)
				(void) pump2(b, behind);
		}
		MemoryContextSwitchTo(old);
		if (done)
			break;
	}
	zcrm_client_finish(b->client);
	b->client = NULL;
	if (saw_429)
		send_concurrency = Max(1, send_concurrency / 2);
	else if (send_concurrency < zcrm_max_concurrency)
		send_concurrency++;
	/* the batch behind has the slots to itself now */
	if (behind != NULL && behind->client != NULL)
	{
		zcrm_client_set_limit(behind->client, send_concurrency);
		pump(behind);
	}
}

/*
 * Writes every row's outcome of b in one short transaction, letting the
 * calls of the batch inflight progress meanwhile.
 */
static void
record_outcomes(Batch *b, Batch *inflight)
{
	ClaimedRow *rows = b->rows;
	ZcrmPlanRow *prows = b->prows;
	int			nrows = b->n;
	RowOutcome *out = b->out;
	ZcrmPlan   *plan = &b->plan;
	int		   *call_attempts;
	uint32	   *call_rnd;
	int64	   *ids;
	const char **states;
	const char **codes;
	const char **messages;
	const char **details;
	int64	   *delays;
	int			n = 0;
	int			first;
	int			i;
	Oid			argtypes[6] = {INT8ARRAYOID, TEXTARRAYOID, TEXTARRAYOID,
	TEXTARRAYOID, TEXTARRAYOID, INT8ARRAYOID};
	Datum		args[6];
	int			ret;
	MemoryContext old = MemoryContextSwitchTo(round_cxt);

	/*
	 * One back-off per call, from its most-tried row: the rows of a call stay
	 * due together and are sent together again, instead of being scattered
	 * by per-row jitter into many small calls.
	 */
	call_attempts = palloc0(sizeof(int) * (plan->ncalls > 0 ? plan->ncalls : 1));
	call_rnd = palloc(sizeof(uint32) * (plan->ncalls > 0 ? plan->ncalls : 1));
	for (i = 0; i < plan->ncalls; i++)
		call_rnd[i] = (uint32) random();
	for (i = 0; i < nrows; i++)
		if (prows[i].call >= 0 && rows[i].attempts > call_attempts[prows[i].call])
			call_attempts[prows[i].call] = rows[i].attempts;

	ids = palloc(sizeof(int64) * nrows);
	states = palloc(sizeof(char *) * nrows);
	codes = palloc(sizeof(char *) * nrows);
	messages = palloc(sizeof(char *) * nrows);
	details = palloc(sizeof(char *) * nrows);
	delays = palloc(sizeof(int64) * nrows);
	for (i = 0; i < nrows; i++)
	{
		RowOutcome *o = &out[i];

		if (prows[i].state != ZCRM_PLAN_SEND || o->state == NULL)
			continue;
		ids[n] = rows[i].id;
		states[n] = o->state;
		codes[n] = o->code;
		messages[n] = o->message;
		details[n] = o->details;
		delays[n] = 0;
		if (strcmp(o->state, "pending") == 0)
		{
			if (rows[i].attempts >= zcrm_max_attempts)
				states[n] = "failed";
			else
				delays[n] = zcrm_backoff_ms(call_attempts[prows[i].call],
											zcrm_retry_base_ms, zcrm_retry_max_ms,
											call_rnd[prows[i].call]);
		}
		n++;
	}
	MemoryContextSwitchTo(old);
	pump(inflight);

	xact_begin("massupdate: recording outcomes");
	set_local("enable_nestloop", "off");
	set_local("enable_mergejoin", "off");
	/*
	 * In slices, so that the calls in flight are kept going in between: an
	 * answer that is in starts the next call only when we look.
	 */
	for (first = 0; first < n; first += RECORD_SLICE)
	{
		int			k = Min(RECORD_SLICE, n - first);

		args[0] = int8_array(ids + first, k);
		args[1] = text_array(states + first, k);
		args[2] = text_array(codes + first, k);
		args[3] = text_array(messages + first, k);
		args[4] = text_array(details + first, k);
		args[5] = int8_array(delays + first, k);
		ret = SPI_execute_with_args(psprintf("UPDATE %s o SET state = u.state,"
											 " sent_at = CASE WHEN u.state = 'sent' THEN now() END,"
											 " next_attempt_at = CASE WHEN u.state = 'pending'"
											 "   THEN now() + u.delay * interval '1 millisecond' END,"
											 " code = u.code, message = u.message, details = u.details::jsonb"
											 " FROM unnest($1, $2, $3, $4, $5, $6)"
											 "   AS u(id, state, code, message, details, delay)"
											 " WHERE o.id = ANY ($1) AND o.id = u.id AND o.state = 'sending'",
											 qual("zcrm_outbox")),
									6, argtypes, args, NULL, false, 0);
		if (ret != SPI_OK_UPDATE)
			elog(ERROR, "recording outcomes failed: %s", SPI_result_code_string(ret));
		pump(inflight);
	}
	xact_end();
}

/*
 * Claims, plans and builds the calls of a new batch in a context of its
 * own, while the calls of inflight (if any) progress; NULL when nothing
 * is due.
 */
static Batch *
next_batch(Batch *inflight)
{
	MemoryContext cxt = AllocSetContextCreate(pipe_cxt, "massupdate outbox batch",
											  ALLOCSET_DEFAULT_SIZES);
	Batch	   *b = MemoryContextAllocZero(cxt, sizeof(Batch));

	b->cxt = cxt;
	round_cxt = cxt;
	if (claim_and_plan(b, inflight) == 0)
	{
		round_cxt = round_base_cxt;
		MemoryContextDelete(cxt);
		return NULL;
	}
	pump(inflight);
	prepare_calls(b);
	round_cxt = round_base_cxt;
	pump(inflight);
	return b;
}

/*
 * Drains the outbox for at most PIPE_MAX_MS; returns the number of rows
 * of the last batch claimed (batch_size or more: work is left).
 *
 * The batches overlap (DESIGN 8.11): while the calls of one batch are in
 * flight the worker records the outcomes of the one before and claims and
 * plans the next, so the calls keep the connections busy instead of
 * waiting for the database work.  Only one batch has calls in flight at a
 * time, so the worker's calls stay within massupdate.max_concurrency, and
 * a key with a call in flight is left out of the next batch.  Every state
 * change is still a short transaction of its own; after a crash, rows
 * left "sending" (of either batch) are sent again.
 */
static int
drain_outbox(void)
{
	TimestampTz start = GetCurrentTimestamp();
	Batch	   *cur;
	int			last;

	cur = next_batch(NULL);
	if (cur == NULL)
		return 0;
	start_calls(cur, NULL);
	last = cur->n;
	for (;;)
	{
		Batch	   *next = NULL;

		/* the next batch while cur's calls are in flight */
		if (last >= zcrm_batch_size &&
			!TimestampDifferenceExceeds(start, GetCurrentTimestamp(), PIPE_MAX_MS))
		{
			CHECK_FOR_INTERRUPTS();
			next = next_batch(cur);
		}
		if (next != NULL)
		{
			start_calls(next, cur);
			last = next->n;
		}
		finish_calls(cur, next);
		round_cxt = cur->cxt;
		record_outcomes(cur, next);
		round_cxt = round_base_cxt;
		MemoryContextDelete(cur->cxt);
		if (next == NULL)
			break;
		cur = next;
	}
	claimed_unrecorded = false;
	return last;
}

/* ---------------------------------------------------------------------
 * (3) Retention
 * ---------------------------------------------------------------------
 */

static void
delete_old_rows(void)
{
	int			b;
	Oid			argtypes[1] = {INT4OID};
	Datum		args[1];

	args[0] = Int32GetDatum(zcrm_retention_s);
	for (b = 0; b < RETENTION_BATCHES_PER_ROUND; b++)
	{
		int			ret;
		uint64		deleted;

		xact_begin("massupdate: deleting old outbox rows");
		ret = SPI_execute_with_args(psprintf("DELETE FROM %s WHERE id = ANY (ARRAY("
											 " SELECT id FROM %s"
											 "  WHERE (state = 'sent' AND sent_at < now() - $1 * interval '1 second')"
											 "     OR (state = 'superseded' AND queued_at < now() - $1 * interval '1 second')"
											 "  LIMIT %d))",
											 qual("zcrm_outbox"), qual("zcrm_outbox"), RETENTION_BATCH),
									1, argtypes, args, NULL, false, 0);
		if (ret != SPI_OK_DELETE)
			elog(ERROR, "deleting old outbox rows failed: %s", SPI_result_code_string(ret));
		deleted = SPI_processed;
		xact_end();
		if (deleted < RETENTION_BATCH)
			break;
		CHECK_FOR_INTERRUPTS();
	}
}

/* ---------------------------------------------------------------------
 * The round and the main loop
 * ---------------------------------------------------------------------
 */

/* Milliseconds until the next back-off or job poll is due, at most naptime. */
static long
next_due_ms(void)
{
	int			ret;
	long		ms = zcrm_naptime_ms;

	xact_begin("massupdate: planning sleep");
	ret = SPI_execute(psprintf("SELECT (extract(epoch FROM least("
							   "  (SELECT min(next_attempt_at) FROM %s WHERE state = 'pending'),"
							   "  (SELECT min(next_poll_at) FROM %s WHERE next_poll_at IS NOT NULL"
							   "     AND status NOT IN ('COMPLETED', 'FAILED'))) - now()) * 1000)::bigint",
							   qual("zcrm_outbox"), qual("zcrm_jobs")),
					  true, 1);
	if (ret == SPI_OK_SELECT && SPI_processed == 1)
	{
		bool		isnull;
		int64		due = spi_int64(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);

		if (!isnull)
			ms = (long) Min((int64) ms, Max(due, (int64) MIN_SLEEP_MS));
	}
	xact_end();
	return ms;
}

/* One round; returns how long to sleep (0: more work is waiting). */
static long
run_round(void)
{
	int			claimed;
	TimestampTz now;

	if (!find_extension())
		return zcrm_naptime_ms;

	poll_jobs();
	claimed = drain_outbox();

	now = GetCurrentTimestamp();
	if (last_retention == 0 ||
		TimestampDifferenceExceeds(last_retention, now, RETENTION_EVERY_MS) ||
		(claimed == 0 && zcrm_retention_s == 0))
	{
		delete_old_rows();
		last_retention = now;
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

	before_shmem_exit(worker_detach, (Datum) 0);
	zcrm_wake_set_worker_latch(MyLatch);
	pgstat_report_appname("massupdate worker");

	round_base_cxt = AllocSetContextCreate(TopMemoryContext, "massupdate worker round",
										   ALLOCSET_DEFAULT_SIZES);
	round_cxt = round_base_cxt;
	pipe_cxt = AllocSetContextCreate(TopMemoryContext, "massupdate worker pipe",
									 ALLOCSET_DEFAULT_SIZES);
	ereport(LOG,
			(errmsg("massupdate worker started in database \"%s\"", zcrm_database)));

	for (;;)
	{
		volatile long sleep_ms = zcrm_naptime_ms;

		CHECK_FOR_INTERRUPTS();
		reload_if_asked();
		round_cxt = round_base_cxt;
		MemoryContextReset(pipe_cxt);
		MemoryContextReset(round_cxt);
		ext_schema = NULL;

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
			round_cxt = round_base_cxt;
			MemoryContextReset(pipe_cxt);
			RESUME_INTERRUPTS();
			if (claimed_unrecorded && ext_schema != NULL)
				recover_sending();
			sleep_ms = zcrm_naptime_ms;
		}
		PG_END_TRY();

		worker_sleep(sleep_ms);
	}
}
