/*-------------------------------------------------------------------------
 *
 * view_jobs.c
 *		Scheduled (custom view) mass updates and their status:
 *		zcrm_mass_update_view, zcrm_job_status, zcrm_job_wait, and the
 *		rows of zcrm_jobs they write.
 *
 * zcrm_jobs has row level security, SELECT for PUBLIC and no write grants;
 * these functions are SECURITY INVOKER and write it through SPI under the
 * extension owner's identity (SetUserIdAndSecContext, as ri_triggers.c
 * does), with search_path pinned to pg_catalog and the table schema-
 * qualified, so no caller can steer what runs with those rights.  Only
 * the rows written are chosen here: the owner column is always the calling
 * role (or, for polls, the job's stored owner).
 *
 * Reference: zoho-mass-update-api.md sections 1.2 (cvid, territory),
 * 1.3 (scheduler answer), 2 (status GET), 8 (views and territories);
 * DESIGN sections 4 and 8.6.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "catalog/indexing.h"
#include "catalog/pg_extension.h"
#include "catalog/pg_type.h"
#include "commands/extension.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "storage/latch.h"
#include "tcop/utility.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/guc.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "client.h"
#include "codec.h"
#include "extension.h"
#include "settings.h"
#include "sqlerr.h"
#include "wake.h"
#include "zoho_limits.h"

PG_FUNCTION_INFO_V1(zcrm_mass_update_view);
PG_FUNCTION_INFO_V1(zcrm_job_status);
PG_FUNCTION_INFO_V1(zcrm_job_wait);

/* first pause of zcrm_job_wait; doubles up to massupdate.job_poll_max_interval */
#define JOB_WAIT_FIRST_PAUSE_MS 250
/* a zcrm_job_wait timeout above this (100 years) means none */
#define JOB_WAIT_MAX_TIMEOUT_MS (100 * 365.25 * SECS_PER_DAY * 1000.0)


/* A job row as far as the polling code needs it. */
typedef struct JobRow
{
	bool		found;
	Oid			owner;
	char	   *server;
	char	   *module;
	char	   *status;
} JobRow;

/* zcrm_jobs, schema-qualified, for the statements run in an owner scope */
static char *
jobs_table(ZcrmOwnerScope *s)
{
	return psprintf("%s.zcrm_jobs", s->schema);
}

/*
 * Reads a job row as the extension owner, so that polling can use the
 * owner's mapping, but answers only what the caller could read itself: a
 * row of a role the caller is not a member of comes back not found, so
 * that its id answers exactly as an unknown id does (42704) and no error
 * tells whose it is (audit L3; zcrm_jobs' row level security has the
 * same rule).
 */
static JobRow
read_job(int64 job_id)
{
	ZcrmOwnerScope scope;
	JobRow		row = {0};
	MemoryContext outer = CurrentMemoryContext;
	Oid			argtypes[1] = {INT8OID};
	Datum		args[1] = {Int64GetDatum(job_id)};
	int			ret;

	zcrm_owner_scope_enter(&scope);
	SPI_connect();
	ret = SPI_execute_with_args(psprintf("SELECT owner::oid, server::text, module, status FROM %s WHERE job_id = $1",
										 jobs_table(&scope)),
								1, argtypes, args, NULL, true, 1);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "SPI_execute_with_args failed: %s", SPI_result_code_string(ret));
	if (SPI_processed > 0)
	{
		HeapTuple	t = SPI_tuptable->vals[0];
		TupleDesc	d = SPI_tuptable->tupdesc;
		bool		isnull;
		MemoryContext old = MemoryContextSwitchTo(outer);

		row.found = true;
		row.owner = DatumGetObjectId(SPI_getbinval(t, d, 1, &isnull));
		row.server = SPI_getvalue(t, d, 2);
		row.module = SPI_getvalue(t, d, 3);
		row.status = SPI_getvalue(t, d, 4);
		MemoryContextSwitchTo(old);
	}
	SPI_finish();
	zcrm_owner_scope_exit(&scope);
	if (row.found && !is_member_of_role(GetUserId(), row.owner))
		memset(&row, 0, sizeof(row));
	return row;
}

/*
 * Runs one statement on zcrm_jobs as the extension owner and returns the
 * first row it gave (RETURNING or SELECT), as a zcrm_jobs composite in the
 * caller's context, or (Datum) 0 when it gave none.  sql_fmt names the
 * table as %1$s (as often as needed).
 */
static Datum
run_job_sql(const char *sql_fmt, int nargs, Oid *argtypes, Datum *args,
			const char *nulls)
{
	ZcrmOwnerScope scope;
	HeapTupleHeader row = NULL;
	int			ret;

	zcrm_owner_scope_enter(&scope);
	SPI_connect();
	ret = SPI_execute_with_args(psprintf(sql_fmt, jobs_table(&scope)),
								nargs, argtypes, args, nulls, false, 0);
	if (ret != SPI_OK_INSERT_RETURNING && ret != SPI_OK_UPDATE_RETURNING &&
		ret != SPI_OK_SELECT)
		elog(ERROR, "SPI_execute_with_args failed: %s", SPI_result_code_string(ret));
	if (SPI_processed > 0)
		row = SPI_returntuple(SPI_tuptable->vals[0], SPI_tuptable->tupdesc);
	SPI_finish();
	zcrm_owner_scope_exit(&scope);
	return PointerGetDatum(row);
}

/* As run_job_sql, for a write that must give its row back. */
static Datum
write_job(const char *sql_fmt, int nargs, Oid *argtypes, Datum *args,
		  const char *nulls)
{
	Datum		row = run_job_sql(sql_fmt, nargs, argtypes, args, nulls);

	if (row == (Datum) 0)
		elog(ERROR, "zcrm_jobs row vanished while being written");
	return row;
}

static int64
check_positive(bool isnull, int64 v, const char *what)
{
	if (isnull)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must not be NULL", what),
				 errhidestmt(true)));
	if (v <= 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid %s %lld", what, (long long) v),
				 errdetail("Zoho ids are positive 64-bit integers."),
				 errhidestmt(true)));
	return v;
}

/*
 * Reports a job id that zcrm_jobs already holds for another server or
 * another role (audit L1).  zcrm_jobs keys jobs by job_id alone (DESIGN
 * section 4), while Zoho numbers jobs per organisation, so two servers,
 * or an endpoint that picks its ids, can answer the same id: the row
 * there is refused instead of taken over, and stays as it was.  The
 * message names neither the other server nor its owner.  scheduled says
 * whether our request has just scheduled the job in Zoho CRM.
 */
static void
raise_job_id_taken(int64 job_id, const char *module, const char *server,
				   bool scheduled)
{
	ereport(ERROR,
			(errcode(ERRCODE_UNIQUE_VIOLATION),
			 errmsg("job %lld is already in zcrm_jobs for another server or role",
					(long long) job_id),
			 scheduled ?
			 errdetail("Zoho CRM scheduled the job, but zcrm_jobs keys jobs by job_id alone; the row that holds this id was not changed.") :
			 errdetail("zcrm_jobs keys jobs by job_id alone; the row that holds this id was not changed."),
			 errhint("%sTo follow this job here, a superuser must first delete the other row from zcrm_jobs; then adopt it with zcrm_job_status(%lld, '%s', '%s').",
					 scheduled ? "The job runs in Zoho CRM all the same. " : "",
					 (long long) job_id, module, server),
			 errhidestmt(true)));
}

/*
 * zcrm_mass_update_view(module text, cvid bigint, fields jsonb,
 *                       territory_id bigint, include_child boolean,
 *                       over_write boolean, server name) RETURNS bigint
 *
 * POSTs a scheduler-type mass update (reference 1.2, 8) once: the POST is
 * never re-sent after it left (40003 when its outcome is unknown).  The
 * job goes into zcrm_jobs as SCHEDULED, owned by the calling role, and the
 * worker is woken at commit to poll it.  Arguments and the worker's
 * presence are checked before any request.
 */
Datum
zcrm_mass_update_view(PG_FUNCTION_ARGS)
{
	char	   *module;
	int64		cvid;
	Jsonb	   *fields_jb;
	ZcField    *fields;
	int			nfields;
	int64		territory_id = 0;
	bool		include_child;
	bool		over_write;
	ZcrmServer *srv;
	ZcrmCall	call;
	char	   *body;
	char	   *what;
	long long	job_id;
	ZcError		err;
	ZcAnswer	kind;
	Oid			argtypes[9] = {INT8OID, NAMEOID, REGROLEOID, TEXTOID, INT8OID,
	INT8OID, BOOLOID, JSONBOID, BOOLOID};
	Datum		args[9];
	char		nulls[9] = "         ";

	/* the job row is written after the POST: refuse now, not after it */
	PreventCommandIfReadOnly("zcrm_mass_update_view()");
	module = zcrm_check_module(PG_ARGISNULL(0) ? NULL : PG_GETARG_TEXT_PP(0));
	cvid = check_positive(PG_ARGISNULL(1), PG_ARGISNULL(1) ? 0 : PG_GETARG_INT64(1), "cvid");
	fields_jb = PG_ARGISNULL(2) ? NULL : PG_GETARG_JSONB_P(2);
	fields = zcrm_fields_from_jsonb(fields_jb, &nfields);
	if (nfields > zoho_fields_per_call(module))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("a scheduled mass update of %s takes at most %d field%s, not %d",
						module, zoho_fields_per_call(module),
						zoho_fields_per_call(module) == 1 ? "" : "s", nfields),
				 errhint("Schedule one job per field group, one after the other (Zoho runs one job per custom view at a time), or update by ids with zcrm_mass_update."),
				 errhidestmt(true)));
	if (!PG_ARGISNULL(3))
		territory_id = check_positive(false, PG_GETARG_INT64(3), "territory_id");
	if (PG_ARGISNULL(4) || PG_ARGISNULL(5))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must not be NULL", PG_ARGISNULL(4) ? "include_child" : "over_write"),
				 errhidestmt(true)));
	include_child = PG_GETARG_BOOL(4);
	over_write = PG_GETARG_BOOL(5);
	if (include_child && territory_id == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("include_child needs a territory_id"),
				 errhidestmt(true)));

	zcrm_check_worker_database();
	srv = zcrm_get_server(PG_ARGISNULL(6) ? NULL : NameStr(*PG_GETARG_NAME(6)));
	zcrm_require_user_mapping(srv, GetUserId());

	body = zc_build_view_body(fields, nfields, cvid, territory_id,
							  include_child, over_write);
	if (body == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OUT_OF_MEMORY),
				 errmsg("out of memory")));
	memset(&call, 0, sizeof(call));
	call.server = srv;
	call.roleid = GetUserId();
	call.method = "POST";
	call.module = module;
	call.body = pstrdup(body);
	free(body);
	call.retry_unsafe = true;
	call.max_retries = -1;

	zcrm_client_run(&call, 1, 1, 0);

	what = psprintf("scheduled mass update of %s over custom view %lld",
					module, (long long) cvid);
	if (call.outcome != ZCRM_ANSWERED || call.http_status == 429 ||
		call.http_status >= 500 || call.http_status == 401)
		zcrm_raise_call(&call, what, NULL);
	kind = zc_parse_scheduled(call.response, &job_id, &err);
	if (kind == ZC_ANSWER_ERROR)
		zcrm_raise_zoho(&call, what, NULL, &err);
	if (kind == ZC_ANSWER_MALFORMED)
		zcrm_raise_malformed(&call, what, NULL, &err,
							 "The job may have been scheduled.",
							 "Check the CRM's scheduled mass updates for this custom view before scheduling again.");

	zcrm_wake_worker_at_commit();

	args[0] = Int64GetDatum(job_id);
	args[1] = DirectFunctionCall1(namein, CStringGetDatum(srv->servername));
	args[2] = ObjectIdGetDatum(GetUserId());
	args[3] = CStringGetTextDatum(module);
	args[4] = Int64GetDatum(cvid);
	args[5] = Int64GetDatum(territory_id);
	if (territory_id == 0)
		nulls[5] = 'n';
	args[6] = BoolGetDatum(include_child);
	args[7] = JsonbPGetDatum(fields_jb);
	args[8] = BoolGetDatum(over_write);

	/*
	 * The same id of the same server and owner is a job Zoho numbered again
	 * (the sandbox after a reset): it replaces the old row.  Any other row
	 * with this id is another server's or role's, and is left alone.
	 */
	if (run_job_sql("INSERT INTO %1$s AS j (job_id, server, owner, module, cvid, territory_id,"
					" include_child, fields, over_write, status, scheduled_at, next_poll_at)"
					" VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 'SCHEDULED', clock_timestamp(), clock_timestamp())"
					" ON CONFLICT (job_id) DO UPDATE SET server = excluded.server,"
					" owner = excluded.owner, module = excluded.module, cvid = excluded.cvid,"
					" territory_id = excluded.territory_id, include_child = excluded.include_child,"
					" fields = excluded.fields, over_write = excluded.over_write,"
					" status = excluded.status, total_count = NULL, updated_count = NULL,"
					" failed_count = NULL, not_updated_count = NULL,"
					" scheduled_at = excluded.scheduled_at, last_polled_at = NULL,"
					" next_poll_at = excluded.next_poll_at, finished_at = NULL, last_error = NULL"
					" WHERE j.server = excluded.server AND j.owner = excluded.owner"
					" RETURNING *",
					9, argtypes, args, nulls) == (Datum) 0)
		raise_job_id_taken(job_id, module, srv->servername, true);

	PG_RETURN_INT64(job_id);
}

/*
 * One status GET for job_id (reference section 2) as role, with the
 * server's retries.  Unknown jobs (v8: 400 INVALID_DATA on job_id; v2 to
 * v7: 404 NOT_FOUND) are 42704; other failures go through sqlerr.c.
 */
static void
fetch_status(ZcrmServer *srv, Oid roleid, const char *module, int64 job_id,
			 ZcJobStatus *st)
{
	ZcrmCall	call;
	ZcError		err;
	ZcAnswer	kind;
	char	   *what = psprintf("status request for job %lld", (long long) job_id);

	memset(&call, 0, sizeof(call));
	call.server = srv;
	call.roleid = roleid;
	call.method = "GET";
	call.module = module;
	call.query = psprintf("job_id=%lld", (long long) job_id);
	call.retry_unsafe = false;
	call.max_retries = -1;

	zcrm_client_run(&call, 1, 1, 0);

	if (call.outcome != ZCRM_ANSWERED || call.http_status == 429 ||
		call.http_status >= 500 || call.http_status == 401)
		zcrm_raise_call(&call, what, NULL);
	if (call.http_status == 204 || call.response == NULL || call.response[0] == '\0')
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("Zoho CRM knows no mass update job %lld in module %s",
						(long long) job_id, module),
				 errdetail("Zoho CRM answered HTTP %ld with no body.", call.http_status),
				 errhidestmt(true)));

	kind = zc_parse_job_status(call.response, st, &err);
	if (kind == ZC_ANSWER_ERROR)
	{
		bool		unknown = strcmp(err.code, "NOT_FOUND") == 0 ||
			(strcmp(err.code, "INVALID_DATA") == 0 && err.param_name != NULL &&
			 strcmp(err.param_name, "job_id") == 0);

		if (unknown)
		{
			char	   *code = pstrdup(err.code);
			char	   *msg = pstrdup(err.message ? err.message : "");
			char	   *det = pstrdup(err.details ? err.details : "none");

			zc_error_free(&err);
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_OBJECT),
					 errmsg("Zoho CRM knows no mass update job %lld in module %s (%s)",
							(long long) job_id, module, code),
					 errdetail("Zoho CRM answered HTTP %ld: \"%s\"; details: %s.",
							   call.http_status, msg, det),
					 errhint("Check the job id and the module the job was scheduled for."),
					 errhidestmt(true)));
		}
		zcrm_raise_zoho(&call, what, NULL, &err);
	}
	if (kind == ZC_ANSWER_MALFORMED)
		zcrm_raise_malformed(&call, what, NULL, &err, NULL, NULL);
}

static Datum
count_datum(long long v, char *null)
{
	*null = v < 0 || v > PG_INT32_MAX ? 'n' : ' ';
	return Int32GetDatum((int32) (v < 0 || v > PG_INT32_MAX ? 0 : v));
}

/*
 * Stores a status answer into an existing row; returns the row.
 *
 * Another transaction may hold the row: a zcrm_job_wait in another session
 * (its transaction keeps the row locked until it ends), or the worker.
 * Waiting for it would hold this call up for as long as that transaction
 * lasts, past zcrm_job_wait's own timeout, so a locked row is not written:
 * the answer is returned as the stored row with the fresh status laid over
 * it, and whoever holds the row stores its own, as fresh, answer.
 */
static Datum
store_status(int64 job_id, const ZcJobStatus *st)
{
	Oid			argtypes[7] = {INT8OID, TEXTOID, INT4OID, INT4OID, INT4OID, INT4OID, BOOLOID};
	Datum		args[7];
	char		nulls[8] = "       ";
	Datum		row;

	args[0] = Int64GetDatum(job_id);
	args[1] = CStringGetTextDatum(st->status);
	args[2] = count_datum(st->total_count, &nulls[2]);
	args[3] = count_datum(st->updated_count, &nulls[3]);
	args[4] = count_datum(st->failed_count, &nulls[4]);
	args[5] = count_datum(st->not_updated_count, &nulls[5]);
	args[6] = BoolGetDatum(zc_job_status_final(st->status));
	row = run_job_sql("UPDATE %1$s SET status = $2, total_count = $3, updated_count = $4,"
					  " failed_count = $5, not_updated_count = $6, last_polled_at = clock_timestamp(),"
					  " finished_at = CASE WHEN $7 THEN coalesce(finished_at, clock_timestamp()) END,"
					  " next_poll_at = CASE WHEN $7 THEN NULL ELSE next_poll_at END,"
					  " last_error = NULL"
					  " WHERE job_id = $1"
					  " AND job_id IN (SELECT job_id FROM %1$s WHERE job_id = $1 FOR UPDATE SKIP LOCKED)"
					  " RETURNING *",
					  7, argtypes, args, nulls);
	if (row != (Datum) 0)
		return row;
	return write_job("SELECT r.* FROM %1$s j,"
					 " LATERAL pg_catalog.jsonb_populate_record(j, pg_catalog.jsonb_build_object("
					 "'status', $2, 'total_count', $3, 'updated_count', $4,"
					 " 'failed_count', $5, 'not_updated_count', $6,"
					 " 'last_polled_at', pg_catalog.clock_timestamp(),"
					 " 'finished_at', CASE WHEN $7 THEN coalesce(j.finished_at, pg_catalog.clock_timestamp()) END,"
					 " 'next_poll_at', CASE WHEN $7 THEN NULL ELSE j.next_poll_at END,"
					 " 'last_error', NULL)) AS r"
					 " WHERE j.job_id = $1",
					 7, argtypes, args, nulls);
}

/*
 * Inserts a job learnt from Zoho (not scheduled through us), owned by the
 * caller.  A row with this id already visible to the caller never comes
 * here (zcrm_job_status polls it instead); one of another server or role
 * is refused (raise_job_id_taken), unchanged.
 */
static Datum
adopt_job(int64 job_id, ZcrmServer *srv, const char *module, const ZcJobStatus *st)
{
	Oid			argtypes[9] = {INT8OID, NAMEOID, REGROLEOID, TEXTOID, TEXTOID,
	INT4OID, INT4OID, INT4OID, INT4OID};
	Datum		args[10];
	char		nulls[10] = "          ";
	Oid			argtypes10[10];
	Datum		row;

	memcpy(argtypes10, argtypes, sizeof(argtypes));
	argtypes10[9] = BOOLOID;
	args[0] = Int64GetDatum(job_id);
	args[1] = DirectFunctionCall1(namein, CStringGetDatum(srv->servername));
	args[2] = ObjectIdGetDatum(GetUserId());
	args[3] = CStringGetTextDatum(module);
	args[4] = CStringGetTextDatum(st->status);
	args[5] = count_datum(st->total_count, &nulls[5]);
	args[6] = count_datum(st->updated_count, &nulls[6]);
	args[7] = count_datum(st->failed_count, &nulls[7]);
	args[8] = count_datum(st->not_updated_count, &nulls[8]);
	args[9] = BoolGetDatum(zc_job_status_final(st->status));
	row = run_job_sql("INSERT INTO %1$s AS j (job_id, server, owner, module, status, total_count,"
					  " updated_count, failed_count, not_updated_count, scheduled_at,"
					  " last_polled_at, next_poll_at, finished_at)"
					  " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, clock_timestamp(), clock_timestamp(),"
					  " CASE WHEN $10 THEN NULL ELSE clock_timestamp() END, CASE WHEN $10 THEN clock_timestamp() END)"
					  " ON CONFLICT (job_id) DO UPDATE SET status = excluded.status,"
					  " total_count = excluded.total_count, updated_count = excluded.updated_count,"
					  " failed_count = excluded.failed_count,"
					  " not_updated_count = excluded.not_updated_count,"
					  " last_polled_at = excluded.last_polled_at"
					  " WHERE j.server = excluded.server AND j.owner = excluded.owner"
					  " RETURNING *",
					  10, argtypes10, args, nulls);
	if (row == (Datum) 0)
		raise_job_id_taken(job_id, module, srv->servername, false);
	return row;
}

/*
 * zcrm_job_status(job_id bigint, module text, server name) RETURNS zcrm_jobs
 *
 * Fetches the status live with the job owner's mapping, stores it and
 * returns the row.  A job missing from zcrm_jobs, or held there for a
 * role the caller is not a member of (read_job), needs module (42704
 * otherwise) and is inserted owned by the caller; an id held for another
 * server or role is 23505 (raise_job_id_taken).
 */
Datum
zcrm_job_status(PG_FUNCTION_ARGS)
{
	int64		job_id = check_positive(PG_ARGISNULL(0),
										PG_ARGISNULL(0) ? 0 : PG_GETARG_INT64(0),
										"job_id");
	char	   *module = NULL;
	JobRow		row;
	ZcrmServer *srv;
	ZcJobStatus st;

	PreventCommandIfReadOnly("zcrm_job_status()");
	if (!PG_ARGISNULL(1))
		module = zcrm_check_module(PG_GETARG_TEXT_PP(1));
	row = read_job(job_id);
	if (row.found)
	{
		if (module != NULL && strcmp(module, row.module) != 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("job %lld is a job of module %s, not %s",
							(long long) job_id, row.module, module),
					 errhidestmt(true)));
		if (!PG_ARGISNULL(2) && strcmp(NameStr(*PG_GETARG_NAME(2)), row.server) != 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("job %lld is a job of server %s, not %s",
							(long long) job_id, row.server, NameStr(*PG_GETARG_NAME(2))),
					 errhidestmt(true)));
		srv = zcrm_get_server(row.server);
		zcrm_require_user_mapping(srv, row.owner);
		fetch_status(srv, row.owner, row.module, job_id, &st);
		PG_RETURN_DATUM(store_status(job_id, &st));
	}

	if (module == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("job %lld is not in zcrm_jobs", (long long) job_id),
				 errhint("To follow a job scheduled elsewhere, name its module: zcrm_job_status(%lld, 'Leads').",
						 (long long) job_id),
				 errhidestmt(true)));
	srv = zcrm_get_server(PG_ARGISNULL(2) ? NULL : NameStr(*PG_GETARG_NAME(2)));
	zcrm_require_user_mapping(srv, GetUserId());
	fetch_status(srv, GetUserId(), module, job_id, &st);
	PG_RETURN_DATUM(adopt_job(job_id, srv, module, &st));
}

/*
 * Milliseconds of an interval, months counting as 30 days.  Computed in
 * double: the largest intervals (178,000,000 years) do not fit int64
 * microseconds.
 */
static double
interval_ms(Interval *iv)
{
	return (double) iv->time / 1000.0 +
		((double) iv->month * DAYS_PER_MONTH + (double) iv->day) * SECS_PER_DAY * 1000.0;
}

/*
 * zcrm_job_wait(job_id bigint, timeout interval) RETURNS zcrm_jobs
 *
 * Polls the job with the owner's mapping, first at once, then with pauses
 * doubling from 250 ms up to massupdate.job_poll_max_interval, storing
 * every answer, until COMPLETED or FAILED.  Once two answers show the job's
 * pace, a pause is cut short to when the remaining records should be done,
 * so a caller learns of the end soon after it happens; a row already final is returned
 * without a call.  Past the timeout (NULL: none) it raises 57014.  A job
 * not in zcrm_jobs, or held for a role the caller is not a member of, is
 * 42704.
 * Cancel and statement_timeout interrupt the pauses and the calls.
 */
Datum
zcrm_job_wait(PG_FUNCTION_ARGS)
{
	int64		job_id = check_positive(PG_ARGISNULL(0),
										PG_ARGISNULL(0) ? 0 : PG_GETARG_INT64(0),
										"job_id");
	TimestampTz deadline = 0;
	JobRow		row;
	ZcrmServer *srv;
	int64		pause = JOB_WAIT_FIRST_PAUSE_MS;
	long long	prev_done = -1;
	TimestampTz prev_time = 0;
	MemoryContext outer = CurrentMemoryContext;
	MemoryContext loopcxt;
	Datum		result = (Datum) 0;
	char	   *last_status;
	ZcJobStatus st;

	PreventCommandIfReadOnly("zcrm_job_wait()");
	if (!PG_ARGISNULL(1))
	{
		double		ms = interval_ms(PG_GETARG_INTERVAL_P(1));

		if (ms < 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("timeout must not be negative"),
					 errhidestmt(true)));
		/* longer than any job can run is no timeout (and cannot overflow) */
		if (ms <= JOB_WAIT_MAX_TIMEOUT_MS)
			deadline = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), (int64) ms);
	}

	row = read_job(job_id);
	if (!row.found)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("job %lld is not in zcrm_jobs", (long long) job_id),
				 errhint("Adopt a job scheduled elsewhere with zcrm_job_status(job_id, module) first."),
				 errhidestmt(true)));
	if (zc_job_status_final(row.status))
	{
		ZcrmOwnerScope scope;
		Oid			argtypes[1] = {INT8OID};
		Datum		args[1] = {Int64GetDatum(job_id)};
		HeapTupleHeader h = NULL;

		zcrm_owner_scope_enter(&scope);
		SPI_connect();
		if (SPI_execute_with_args(psprintf("SELECT * FROM %s WHERE job_id = $1", jobs_table(&scope)),
								  1, argtypes, args, NULL, true, 1) == SPI_OK_SELECT &&
			SPI_processed > 0)
			h = SPI_returntuple(SPI_tuptable->vals[0], SPI_tuptable->tupdesc);
		SPI_finish();
		zcrm_owner_scope_exit(&scope);
		if (h != NULL)
			PG_RETURN_DATUM(PointerGetDatum(h));
	}

	srv = zcrm_get_server(row.server);
	zcrm_require_user_mapping(srv, row.owner);
	last_status = row.status;

	loopcxt = AllocSetContextCreate(CurrentMemoryContext, "zcrm_job_wait",
									ALLOCSET_DEFAULT_SIZES);
	for (;;)
	{
		TimestampTz now;
		int64		wait_ms;

		CHECK_FOR_INTERRUPTS();
		MemoryContextReset(loopcxt);
		MemoryContextSwitchTo(loopcxt);
		fetch_status(srv, row.owner, row.module, job_id, &st);
		MemoryContextSwitchTo(outer);
		result = store_status(job_id, &st);
		last_status = pstrdup(st.status);
		if (zc_job_status_final(st.status))
			break;

		now = GetCurrentTimestamp();
		if (deadline != 0 && now >= deadline)
			ereport(ERROR,
					(errcode(ERRCODE_QUERY_CANCELED),
					 errmsg("timed out waiting for job %lld", (long long) job_id),
					 st.total_count >= 0 && st.updated_count >= 0 ?
					 errdetail("Its last status is %s, with %lld of %lld records updated.",
							   last_status, st.updated_count, st.total_count) :
					 errdetail("Its last status is %s.", last_status),
					 errhint("The worker keeps polling the job into zcrm_jobs; call zcrm_job_wait again to wait longer."),
					 errhidestmt(true)));
		wait_ms = pause;
		if (st.updated_count >= 0 && st.failed_count >= 0 &&
			st.not_updated_count >= 0)
		{
			long long	done = st.updated_count + st.failed_count;

			if (prev_done >= 0 && done > prev_done && now > prev_time)
			{
				/* records per ms so far, and the time the rest needs */
				double		rate = (double) (done - prev_done) /
					((double) (now - prev_time) / 1000.0);
				int64		eta = (int64) (st.not_updated_count / rate);

				wait_ms = Min(wait_ms, Max(eta, JOB_WAIT_FIRST_PAUSE_MS));
			}
			prev_done = done;
			prev_time = now;
		}
		if (deadline != 0)
		{
			long		secs;
			int			usecs;

			TimestampDifference(now, deadline, &secs, &usecs);
			wait_ms = Min(wait_ms, (int64) secs * 1000 + usecs / 1000 + 1);
		}
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 (long) wait_ms, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		pause = Min(pause * 2, (int64) Max(zcrm_job_poll_max_interval_ms, JOB_WAIT_FIRST_PAUSE_MS));
	}
	MemoryContextDelete(loopcxt);
	PG_RETURN_DATUM(result);
}
