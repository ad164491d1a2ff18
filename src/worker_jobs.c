/*-------------------------------------------------------------------------
 *
 * worker_jobs.c
 *		The worker's step (1): polling due view jobs into zcrm_jobs.
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
	bool		no_owner;		/* the owner role was dropped */
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
	MemoryContext old = MemoryContextSwitchTo(worker_round_cxt);

	job->no_owner = !worker_owner_exists(job->owner);
	if (job->no_owner)
		worker_raise_no_owner(job->owner);
	job->srv = zcrm_get_server(job->server);
	zcrm_require_user_mapping(job->srv, job->owner);
	MemoryContextSwitchTo(old);
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
								   worker_outcome_name(call->outcome), call->errmsg);
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

void
worker_poll_jobs(void)
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
	worker_xact_begin("massupdate: reading due jobs");
	ret = SPI_execute_with_args(psprintf("SELECT job_id, server::text, owner::oid, module,"
										 " scheduled_at"
										 " FROM %s"
										 " WHERE next_poll_at IS NOT NULL AND next_poll_at <= pg_catalog.now()"
										 " AND status NOT IN ('COMPLETED', 'FAILED')"
										 " ORDER BY next_poll_at LIMIT %d FOR UPDATE SKIP LOCKED",
										 worker_qual("zcrm_jobs"), JOBS_PER_ROUND),
								0, NULL, NULL, NULL, false, 0);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "reading due jobs failed: %s", SPI_result_code_string(ret));
	njobs = (int) SPI_processed;
	old = MemoryContextSwitchTo(worker_round_cxt);
	jobs = palloc0(sizeof(DueJob) * (njobs > 0 ? njobs : 1));
	for (i = 0; i < njobs; i++)
	{
		HeapTuple	t = SPI_tuptable->vals[i];
		TupleDesc	d = SPI_tuptable->tupdesc;
		bool		isnull;

		jobs[i].job_id = worker_spi_int64(t, d, 1, &isnull);
		jobs[i].server = worker_spi_text(t, d, 2);
		jobs[i].owner = DatumGetObjectId(SPI_getbinval(t, d, 3, &isnull));
		jobs[i].module = worker_spi_text(t, d, 4);
		/* scheduled_at is never NULL: the functions that store jobs set it */
		jobs[i].age_ms = TimestampDifferenceMilliseconds(DatumGetTimestampTz(SPI_getbinval(t, d, 5, &isnull)),
														 GetCurrentTransactionStartTimestamp());
		jobs[i].timed_out = jobs[i].age_ms > (int64) zcrm_job_poll_timeout_ms;
	}
	MemoryContextSwitchTo(old);
	worker_xact_end();
	if (njobs == 0)
		return;

	/* the calls, with each owner's mapping */
	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	pgstat_report_activity(STATE_RUNNING, "massupdate: polling jobs");
	/* everything kept past the commit below lives in the round's context */
	old = MemoryContextSwitchTo(worker_round_cxt);
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
		msg = worker_try_in_subxact(job_resolve, job, NULL);
		if (msg != NULL)
		{
			job->last_error = psprintf(job->no_owner ? "NO_OWNER, polling stopped: %s" : "cannot poll: %s", msg);
			job->next_ms = Max(zcrm_job_poll_max_interval_ms, JOB_POLL_MIN_INTERVAL_MS);
			job->stop_polling = job->no_owner;
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
	worker_xact_begin("massupdate: storing job status");
	for (i = 0; i < njobs; i++)
	{
		DueJob	   *job = &jobs[i];
		Oid			argtypes[9] = {INT8OID, BOOLOID, TEXTOID, INT4OID, INT4OID,
		INT4OID, INT4OID, TEXTOID, TIMESTAMPTZOID};
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
			args[8] = TimestampTzGetDatum(TimestampTzPlusMilliseconds(GetCurrentTransactionStartTimestamp(),
																	  job->next_ms));

		ret = SPI_execute_with_args(psprintf("UPDATE %s SET"
											 " status = CASE WHEN $2 THEN $3 ELSE status END,"
											 " total_count = CASE WHEN $2 THEN $4 ELSE total_count END,"
											 " updated_count = CASE WHEN $2 THEN $5 ELSE updated_count END,"
											 " failed_count = CASE WHEN $2 THEN $6 ELSE failed_count END,"
											 " not_updated_count = CASE WHEN $2 THEN $7 ELSE not_updated_count END,"
											 " last_polled_at = CASE WHEN $2 THEN pg_catalog.now() ELSE last_polled_at END,"
											 " finished_at = CASE WHEN $2 AND $3 IN ('COMPLETED', 'FAILED')"
											 "   THEN coalesce(finished_at, pg_catalog.now()) ELSE finished_at END,"
											 " last_error = $8,"
											 " next_poll_at = $9"
											 " WHERE job_id = $1 AND status NOT IN ('COMPLETED', 'FAILED')",
											 worker_qual("zcrm_jobs")),
									9, argtypes, args, nulls, false, 0);
		if (ret != SPI_OK_UPDATE)
			elog(ERROR, "storing job status failed: %s", SPI_result_code_string(ret));
	}
	worker_xact_end();
}

