/*-------------------------------------------------------------------------
 *
 * mass_update.c
 *		zcrm_mass_update(module, ids, fields, over_write, server): the
 *		immediate (non-scheduler) Zoho CRM mass update, set-returning.
 *
 * One statement becomes (field groups) x (id chunks) calls: ids are
 * deduplicated in first-occurrence order and cut into chunks of
 * ZOHO_MAX_IDS_PER_CALL, fields are taken in jsonb key order in groups of
 * zoho_fields_per_call(module).  The calls run concurrently through
 * zcrm_client_run, up to the server's max_concurrency.  Each record gets
 * one row per field group, in a stable order: per group, ids in
 * first-occurrence order.  Per-record outcomes are rows; a request-level
 * failure is an ERROR (sqlerr.c).  Reference: zoho-mass-update-api.md
 * sections 1.2, 1.3 and 5.3; DESIGN sections 4, 6 and 8.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/hsearch.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"

#include "client.h"
#include "codec.h"
#include "sqlerr.h"
#include "zoho_limits.h"

PG_FUNCTION_INFO_V1(zcrm_mass_update);

#define MU_NCOLS 6

/* Calls per wave, per call the server lets be in flight at once. */
#define MU_WAVE_PER_CONCURRENCY 4

/*
 * Answers held at once (in flight, or arrived and waiting for an earlier
 * call's), per call the server lets be in flight: with answers of at most
 * ZCRM_HTTP_MAX_RESPONSE this bounds the statement's memory (README
 * "Memory and stored answers", audit M4).
 */
#define MU_HELD_PER_CONCURRENCY 2

/* Longest wait for answers before taking those that arrived, milliseconds. */
#define MU_POLL_MS 10

/*
 * The ids of the array, checked (22023 before any request) and
 * deduplicated in first-occurrence order.
 */
static long long *
collect_ids(ArrayType *arr, int *nids)
{
	Oid			elemtype = ARR_ELEMTYPE(arr);
	int16		typlen;
	bool		typbyval;
	char		typalign;
	Datum	   *elems;
	bool	   *nulls;
	int			nelems;
	long long  *ids;
	HASHCTL		ctl;
	HTAB	   *seen;
	int			n = 0;
	int			i;

	if (elemtype != INT8OID && elemtype != TEXTOID)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("ids must be bigint[] or text[]"),
				 errhidestmt(true)));
	get_typlenbyvalalign(elemtype, &typlen, &typbyval, &typalign);
	deconstruct_array(arr, elemtype, typlen, typbyval, typalign,
					  &elems, &nulls, &nelems);

	ids = palloc(sizeof(long long) * Max(nelems, 1));
	memset(&ctl, 0, sizeof(ctl));
	ctl.keysize = sizeof(int64);
	ctl.entrysize = sizeof(int64);
	ctl.hcxt = CurrentMemoryContext;
	seen = hash_create("zcrm_mass_update ids", Max(nelems, 16), &ctl,
					   HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);

	for (i = 0; i < nelems; i++)
	{
		long long	id;
		bool		found;

		if (nulls[i])
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("ids must not contain NULL"),
					 errdetail("Element %d of ids is NULL.", i + 1),
					 errhidestmt(true)));
		if (elemtype == INT8OID)
		{
			id = DatumGetInt64(elems[i]);
			if (id <= 0)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("invalid record id %lld", id),
						 errdetail("Zoho record ids are positive 64-bit integers."),
						 errhidestmt(true)));
		}
		else
		{
			char	   *s = TextDatumGetCString(elems[i]);

			if (!zc_parse_id(s, &id))
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("invalid record id \"%s\"", zcrm_arg_for_message(s)),
						 errdetail("Zoho record ids are positive 64-bit integers written in digits."),
						 errhidestmt(true)));
			pfree(s);
		}
		hash_search(seen, &id, HASH_ENTER, &found);
		if (!found)
			ids[n++] = id;
	}
	hash_destroy(seen);
	*nids = n;
	return ids;
}

static ArrayType *
field_names_array(const ZcField *fields, int nfields)
{
	Datum	   *d = palloc(sizeof(Datum) * nfields);
	int			i;

	for (i = 0; i < nfields; i++)
		d[i] = CStringGetTextDatum(fields[i].name);
	return construct_array(d, nfields, TEXTOID, -1, false, TYPALIGN_INT);
}

/* jsonb from Zoho's details text, or NULL */
static Datum
details_datum(const char *details, bool *isnull)
{
	*isnull = (details == NULL);
	if (details == NULL)
		return (Datum) 0;
	return DirectFunctionCall1(jsonb_in, CStringGetDatum(details));
}

/*
 * Rows of one answered call, in the order of its ids.  A flat error, a
 * per-record answer that is really a request-level refusal, or an
 * unreadable answer raises.
 */
static void
emit_call_rows(ReturnSetInfo *rsinfo, ZcrmCall *call, const char *what,
			   const char *context, const long long *ids, int nids,
			   Datum names)
{
	ZcRecordResult *res;
	int			nres;
	ZcError		err;
	ZcAnswer	kind;
	int		   *slot;
	char	  **codes;
	char	  **msgs;
	char	  **dets;
	bool	   *oks;
	Datum		values[MU_NCOLS];
	bool		isnull[MU_NCOLS];
	int			i;

	if (call->outcome != ZCRM_ANSWERED || call->http_status == 429 ||
		call->http_status >= 500 || call->http_status == 401)
		zcrm_raise_call(call, what, context);

	kind = zc_parse_records(call->response, &res, &nres, &err);
	/* the answer is read: what is kept of it is capped (codec.h) */
	pfree(call->response);
	call->response = NULL;
	if (kind == ZC_ANSWER_ERROR)
		zcrm_raise_zoho(call, what, context, &err);
	if (kind == ZC_ANSWER_MALFORMED)
		zcrm_raise_malformed(call, what, context, &err, NULL, NULL);
	if (zc_records_are_request_error(res, nres, nids))
	{
		ZcError		e;

		e.code = res[0].code;
		e.message = res[0].message;
		e.details = res[0].details;
		e.param_name = NULL;
		res[0].code = res[0].message = res[0].details = NULL;
		zc_results_free(res, nres);
		zcrm_raise_zoho(call, what, context, &e);
	}

	slot = palloc(sizeof(int) * nids);
	zc_match_results(ids, nids, res, nres, slot);

	/* copy out of malloc'd memory before anything may raise */
	codes = palloc0(sizeof(char *) * nids);
	msgs = palloc0(sizeof(char *) * nids);
	dets = palloc0(sizeof(char *) * nids);
	oks = palloc0(sizeof(bool) * nids);
	for (i = 0; i < nids; i++)
	{
		ZcRecordResult *r;

		if (slot[i] < 0)
			continue;
		r = &res[slot[i]];
		codes[i] = pstrdup(r->code);
		msgs[i] = r->message ? pstrdup(r->message) : NULL;
		dets[i] = r->details ? pstrdup(r->details) : NULL;
		oks[i] = r->success;
	}
	zc_results_free(res, nres);

	for (i = 0; i < nids; i++)
	{
		memset(isnull, 0, sizeof(isnull));
		values[0] = Int64GetDatum(ids[i]);
		values[1] = names;
		if (codes[i] == NULL)
		{
			values[2] = CStringGetTextDatum("error");
			values[3] = CStringGetTextDatum("NO_RESULT");
			values[4] = CStringGetTextDatum("Zoho CRM's answer had no entry for this record");
			isnull[5] = true;
		}
		else
		{
			values[2] = CStringGetTextDatum(oks[i] ? "success" : "error");
			values[3] = CStringGetTextDatum(codes[i]);
			if (msgs[i])
				values[4] = CStringGetTextDatum(msgs[i]);
			else
				isnull[4] = true;
			values[5] = details_datum(dets[i], &isnull[5]);
		}
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, isnull);
	}
}

/*
 * zcrm_mass_update(module text, ids bigint[] | text[], fields jsonb,
 *                  over_write boolean, server name)
 *		RETURNS TABLE (id bigint, field_names text[], status text,
 *		               code text, message text, details jsonb)
 *
 * Bad arguments are 22023 before any request; an empty ids array makes no
 * call and returns no rows.
 */
Datum
zcrm_mass_update(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	char	   *module;
	ArrayType  *arr;
	ZcField    *fields;
	int			nfields;
	bool		over_write;
	ZcrmServer *srv;
	long long  *ids;
	int			nids;
	int			per_call;
	int			ngroups;
	int			nchunks;
	int			ncalls;
	int			wave;
	int			held;
	int			first;
	Datum	   *names;
	char	   *what;
	MemoryContext outer;
	MemoryContext wavecxt;
	MemoryContext rowcxt;
	int			g;

	InitMaterializedSRF(fcinfo, 0);

	module = zcrm_check_module(PG_ARGISNULL(0) ? NULL : PG_GETARG_TEXT_PP(0));
	if (PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("ids must not be NULL"),
				 errhidestmt(true)));
	arr = PG_GETARG_ARRAYTYPE_P(1);
	fields = zcrm_fields_from_jsonb(PG_ARGISNULL(2) ? NULL : PG_GETARG_JSONB_P(2),
									&nfields);
	if (PG_ARGISNULL(3))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("over_write must not be NULL"),
				 errhidestmt(true)));
	over_write = PG_GETARG_BOOL(3);
	ids = collect_ids(arr, &nids);

	srv = zcrm_get_server(PG_ARGISNULL(4) ? NULL : NameStr(*PG_GETARG_NAME(4)));
	zcrm_require_user_mapping(srv, GetUserId());

	if (nids == 0)
		return (Datum) 0;

	per_call = zoho_fields_per_call(module);
	ngroups = (nfields + per_call - 1) / per_call;
	nchunks = (nids + ZOHO_MAX_IDS_PER_CALL - 1) / ZOHO_MAX_IDS_PER_CALL;
	ncalls = ngroups * nchunks;
	names = palloc(sizeof(Datum) * ngroups);
	for (g = 0; g < ngroups; g++)
	{
		int			f0 = g * per_call;

		names[g] = PointerGetDatum(field_names_array(fields + f0,
													 Min(per_call, nfields - f0)));
	}
	what = psprintf("mass update of %s", module);

	/*
	 * The calls go in waves, in call order, so that the bodies held at once
	 * stay bounded by the wave, not by the number of ids: 100,000 ids are
	 * 200 calls.  A wave keeps several times max_concurrency calls, so the
	 * transport stays busy; answers are bounded by "held" below.
	 */
	wave = Max(srv->max_concurrency * MU_WAVE_PER_CONCURRENCY, 1);
	held = Max(srv->max_concurrency * MU_HELD_PER_CONCURRENCY, 1);
	wavecxt = AllocSetContextCreate(CurrentMemoryContext, "zcrm_mass_update wave",
									ALLOCSET_DEFAULT_SIZES);
	rowcxt = AllocSetContextCreate(CurrentMemoryContext, "zcrm_mass_update rows",
								   ALLOCSET_DEFAULT_SIZES);
	outer = CurrentMemoryContext;
	for (first = 0; first < ncalls; first += wave)
	{
		int			n = Min(wave, ncalls - first);
		ZcrmCall   *calls;
		ZcrmClientBatch *volatile batch;
		int			k;

		MemoryContextReset(wavecxt);
		MemoryContextSwitchTo(wavecxt);
		calls = palloc0(sizeof(ZcrmCall) * n);
		for (k = 0; k < n; k++)
		{
			ZcrmCall   *call = &calls[k];
			int			ci = first + k;
			int			f0 = (ci / nchunks) * per_call;
			int			i0 = (ci % nchunks) * ZOHO_MAX_IDS_PER_CALL;
			char	   *body;

			body = zc_build_ids_body(fields + f0, Min(per_call, nfields - f0),
									 ids + i0, Min(ZOHO_MAX_IDS_PER_CALL, nids - i0),
									 over_write);
			if (body == NULL)
				ereport(ERROR,
						(errcode(ERRCODE_OUT_OF_MEMORY),
						 errmsg("out of memory")));
			call->body = pstrdup(body);
			free(body);
			call->server = srv;
			call->roleid = GetUserId();
			call->method = "POST";
			call->module = module;
			call->query = NULL;
			call->retry_unsafe = false;
			call->max_retries = -1;
		}

		/*
		 * Answers become rows in call order as soon as they arrive and are
		 * freed at once; calls further than the held window ahead of the
		 * next one to become rows are not started yet.
		 */
		batch = zcrm_client_start(calls, n, srv->max_concurrency, 0);
		PG_TRY();
		{
			int			next = 0;
			bool		done = false;

			while (next < n)
			{
				zcrm_client_set_horizon(batch, next + held);
				if (!done)
					done = zcrm_client_poll(batch, MU_POLL_MS);
				while (next < n && zcrm_client_call_done(batch, next))
				{
					int			ci = first + next;
					int			gi = ci / nchunks;
					int			i0 = (ci % nchunks) * ZOHO_MAX_IDS_PER_CALL;
					int			ni = Min(ZOHO_MAX_IDS_PER_CALL, nids - i0);
					char	   *context = NULL;

					MemoryContextSwitchTo(rowcxt);
					if (ncalls > 1)
						context = psprintf("call %d of %d: field group %d of %d, ids %d to %d of %d",
										   ci + 1, ncalls, gi + 1, ngroups,
										   i0 + 1, i0 + ni, nids);
					emit_call_rows(rsinfo, &calls[next], what, context, ids + i0, ni,
								   names[gi]);
					MemoryContextSwitchTo(wavecxt);
					MemoryContextReset(rowcxt);
					next++;
				}
			}
		}
		PG_CATCH();
		{
			zcrm_client_abort(batch);
			PG_RE_THROW();
		}
		PG_END_TRY();
		zcrm_client_finish(batch);
		MemoryContextSwitchTo(outer);
	}
	MemoryContextDelete(rowcxt);
	MemoryContextDelete(wavecxt);

	return (Datum) 0;
}
