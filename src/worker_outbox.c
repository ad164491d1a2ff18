/*-------------------------------------------------------------------------
 *
 * worker_outbox.c
 *		The worker's steps (2) and (3): draining zcrm_outbox into mass-update
 *		calls, and deleting old rows.
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
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

#include "client.h"
#include "extension.h"
#include "codec.h"
#include "outbox.h"
#include "planner.h"
#include "settings.h"
#include "wake.h"
#include "worker.h"
#include "zoho_limits.h"


#include "worker_internal.h"

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
 * A row that waits for the outcome of a row sent, a newer one of the same
 * owner, server, module, record and field: superseded once that has been
 * sent; if it failed, failed too (NEWER_VALUE_FAILED) when claimed, left
 * as it is otherwise; pending again with it when it is to be tried again.
 */
typedef struct HeldRow
{
	int64		id;
	int			rep;			/* index into the batch's rows */
	bool		claimed;		/* "sending" (this batch's or the next's) */
} HeldRow;

/* an unsent row outside the batch, of a key the batch claimed */
typedef struct UnsentRow
{
	ClaimedRow	row;			/* id, owner and key only */
	bool		failed;			/* else pending */
	TimestampTz due;			/* next_attempt_at (pending), or 0 */
	int			first;			/* its key's first row in the batch's sorted */
} UnsentRow;

/*
 * One batch of the outbox on its way through the pipe: claimed and planned
 * while the previous batch's calls are in flight, sent, then recorded
 * while the next batch's calls are in flight.
 */
typedef struct Batch
{
	MemoryContext cxt;			/* everything below */
	Oid			relid;			/* the zcrm_outbox the rows were claimed from */
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
	TimestampTz *defer_due;		/* ZCRM_PLAN_DEFER rows: due then, or now */
	HeldRow    *held;			/* rows waiting for the outcome of a row sent */
	int			nheld;
	int			maxheld;
} Batch;

/*
 * Calls the worker keeps in flight: massupdate.max_concurrency, halved
 * after a round that met a 429 and raised by one after each round without,
 * so a CRM that admits fewer concurrent calls than configured is not
 * hammered (Zoho's limits per edition: reference section 5.2).
 */
static int	send_concurrency = 0;


/* ---------------------------------------------------------------------
 * (2) Outbox
 * ---------------------------------------------------------------------
 */

/* zcrm_outbox's oid (in a transaction): another after the extension is recreated */
static Oid
outbox_relid(void)
{
	return get_relname_relid("zcrm_outbox", zcrm_extension_namespace());
}

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

static void pump(Batch *inflight);
static bool pump2(Batch *ahead, Batch *b);

/*
 * Claims up to batch_size due pending rows, in slices of CLAIM_SLICE rows
 * (in id order, as one claim of batch_size would take them), so that the
 * calls in flight are kept going in between.  In the claim's transaction;
 * fills b->rows, returns their number.
 */
static int
claim_rows(Batch *b, Batch *inflight)
{
	Oid			argtypes[4] = {INT4OID, INT8OID, INT8OID, BOOLOID};
	Datum		args[4];
	int			n = 0;
	int			cap = 0;
	ClaimedRow *rows = NULL;

	for (;;)
	{
		int			want = Min(CLAIM_SLICE, zcrm_batch_size - n);
		int			got;
		int			ret;
		int			i;
		int64		after;
		int64		upto;
		bool		due_only;
		int64		slice_max = 0;
		MemoryContext old;

		if (want <= 0)
			break;
		worker_claim_next_range(&after, &upto, &due_only);
		args[0] = Int32GetDatum(want);
		args[1] = Int64GetDatum(after);
		args[2] = Int64GetDatum(upto);
		args[3] = BoolGetDatum(due_only);
		ret = SPI_execute_with_args(psprintf("UPDATE %s o SET state = 'sending', attempts = o.attempts + 1"
											 " WHERE o.id = ANY (ARRAY("
											 "  SELECT id FROM %s"
											 "   WHERE id > $2 AND id <= $3 AND state = 'pending'"
											 "     AND (NOT $4 OR next_attempt_at IS NULL"
											 "          OR next_attempt_at <= pg_catalog.clock_timestamp())"
											 "   ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED))"
											 " RETURNING o.id, o.owner::oid, o.server::text, o.module,"
											 "           o.record_id, o.field, o.value::text, o.over_write,"
											 "           o.attempts",
											 worker_qual("zcrm_outbox"), worker_qual("zcrm_outbox")),
									4, argtypes, args, NULL, false, 0);
		if (ret != SPI_OK_UPDATE_RETURNING)
			elog(ERROR, "claiming outbox rows failed: %s", SPI_result_code_string(ret));
		got = (int) SPI_processed;
		if (got == 0)
		{
			SPI_freetuptable(SPI_tuptable);
			if (worker_claim_slice_done(want, 0, 0))
				continue;		/* the sweep is over: the fresh lane */
			break;
		}
		worker_claimed_unrecorded = true;

		old = MemoryContextSwitchTo(worker_round_cxt);
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

			r->id = worker_spi_int64(t, d, 1, &isnull);
			r->owner = DatumGetObjectId(SPI_getbinval(t, d, 2, &isnull));
			r->server = worker_spi_text(t, d, 3);
			r->module = worker_spi_text(t, d, 4);
			r->record_id = worker_spi_int64(t, d, 5, &isnull);
			r->field = worker_spi_text(t, d, 6);
			r->value = worker_spi_text(t, d, 7);
			r->over_write = DatumGetBool(SPI_getbinval(t, d, 8, &isnull));
			r->attempts = DatumGetInt32(SPI_getbinval(t, d, 9, &isnull));
			if (r->id > slice_max)
				slice_max = r->id;
		}
		MemoryContextSwitchTo(old);
		SPI_freetuptable(SPI_tuptable);
		n += got;
		pump(inflight);
		if (!worker_claim_slice_done(want, got, slice_max))
			break;
	}
	b->rows = rows;
	b->n = n;
	return n;
}

/* b's plan rows, and its rows sorted by key (in worker_round_cxt) */
static void
index_rows(Batch *b)
{
	int			i;

	b->prows = palloc0(sizeof(ZcrmPlanRow) * b->n);
	b->sorted = palloc(sizeof(ClaimedRow *) * b->n);
	b->defer_due = palloc0(sizeof(TimestampTz) * b->n);
	for (i = 0; i < b->n; i++)
	{
		ClaimedRow *r = &b->rows[i];
		ZcrmPlanRow *p = &b->prows[i];

		b->sorted[i] = r;
		p->outbox_id = r->id;
		p->owner = r->owner;
		p->server = r->server;
		p->module = r->module;
		p->record_id = r->record_id;
		p->field = r->field;
		p->value = r->value;
		p->over_write = r->over_write;
		p->state = ZCRM_PLAN_SEND;
		p->call = -1;
		p->held_by = -1;
	}
	qsort(b->sorted, b->n, sizeof(ClaimedRow *), cmp_claimed_ptr);
}

/*
 * Row "id" waits for the outcome of b's row rep (claimed: it is "sending",
 * in b or in the batch after b).  Called while b's calls are in flight by
 * the next batch's claim, so the list lives in b's own context.
 */
static void
hold_row(Batch *b, int64 id, int rep, bool claimed)
{
	if (b->nheld == b->maxheld)
	{
		b->maxheld = Max(16, b->maxheld * 2);
		b->held = b->held ? repalloc(b->held, sizeof(HeldRow) * b->maxheld) :
			MemoryContextAlloc(b->cxt, sizeof(HeldRow) * b->maxheld);
	}
	b->held[b->nheld].id = id;
	b->held[b->nheld].rep = rep;
	b->held[b->nheld].claimed = claimed;
	b->nheld++;
}

/* The row of b's key run from "first" that is sent, or -1. */
static int
sent_row_of_key(Batch *b, int first, const ClaimedRow *key)
{
	int			k;

	for (k = first; k >= 0 && k < b->n && cmp_claimed_key(b->sorted[k], key) == 0; k++)
		if (b->prows[b->sorted[k] - b->rows].state == ZCRM_PLAN_SEND)
			return (int) (b->sorted[k] - b->rows);
	return -1;
}

/*
 * Keys with a call in flight (in the batch "inflight", of the same
 * zcrm_outbox) are not sent again until it ends.  An older row of the
 * owner of the row in flight waits for that call's outcome like a row held
 * in its own batch; every other row of the key goes back to pending, due at
 * once, for a round after that call.
 */
static void
wait_for_calls_in_flight(Batch *b, Batch *inflight)
{
	int			i;

	if (inflight == NULL || inflight->n == 0 || inflight->relid != b->relid)
		return;
	for (i = 0; i < b->n; i++)
	{
		ClaimedRow *r = &b->rows[i];
		int			rep = sent_row_of_key(inflight,
										  find_claimed_key(inflight->sorted, inflight->n, r), r);

		if (rep < 0)
			continue;
		if (r->owner == inflight->rows[rep].owner && r->id < inflight->rows[rep].id)
		{
			b->prows[i].state = ZCRM_PLAN_ELSEWHERE;
			hold_row(inflight, r->id, rep, true);
		}
		else
			b->prows[i].state = ZCRM_PLAN_DEFER;
	}
}

/*
 * Other unsent rows of the keys claimed, looked for in two places, the
 * calls in flight driven in between:
 *	- rows that ever left the way of a row that goes well (in back-off,
 *	  failed, requeued, deferred), through zcrm_outbox_retried;
 *	- pending rows the claim cursor may have passed unseen: those of
 *	  transactions that committed while we claimed (worker_claim.c).
 * Rows "sending" are all ours (one worker; a crash's leftovers are
 * requeued at start): those of the batch in flight were dealt with
 * before.  Newer pending rows beyond a full batch are not looked for: they
 * are sent in a later round, after ours, so the CRM still ends with the
 * newest value.  Returns them (in worker_round_cxt), only those of keys b
 * claimed.
 */
static UnsentRow *
read_unsent_rows(Batch *b, Batch *inflight, int *nunsent)
{
	int64	   *record_ids = palloc(sizeof(int64) * b->n);
	UnsentRow  *unsent = NULL;
	int			nx = 0;
	int			cap = 0;
	bool		late;
	int64		late_from = 0;
	int64		late_upto = 0;
	int			q;
	int			i;

	for (i = 0; i < b->n; i++)
		record_ids[i] = b->rows[i].record_id;
	late = worker_claim_take_late(&late_from, &late_upto);
	for (q = 0; q < (late ? 2 : 1); q++)
	{
		Oid			types[3] = {INT8ARRAYOID, INT8OID, INT8OID};
		Datum		vals[3];
		int			ret;

		vals[0] = worker_int8_array(record_ids, b->n);
		vals[1] = Int64GetDatum(late_from);
		vals[2] = Int64GetDatum(late_upto);
		if (q == 0)
			ret = SPI_execute_with_args(psprintf("SELECT id, owner::oid, state, next_attempt_at,"
												 "        server::text, module, record_id, field"
												 " FROM %s WHERE record_id = ANY ($1)"
												 "   AND next_attempt_at IS DISTINCT FROM queued_at"
												 "   AND state IN ('pending', 'failed')",
												 worker_qual("zcrm_outbox")),
										1, types, vals, NULL, false, 0);
		else
			ret = SPI_execute_with_args(psprintf("SELECT id, owner::oid, state, next_attempt_at,"
												 "        server::text, module, record_id, field"
												 " FROM %s WHERE id >= $2 AND id <= $3"
												 "   AND state = 'pending' AND record_id = ANY ($1)",
												 worker_qual("zcrm_outbox")),
										3, types, vals, NULL, false, 0);
		if (ret != SPI_OK_SELECT)
			elog(ERROR, "reading unsent rows failed: %s", SPI_result_code_string(ret));
		for (i = 0; i < (int) SPI_processed; i++)
		{
			HeapTuple	t = SPI_tuptable->vals[i];
			TupleDesc	d = SPI_tuptable->tupdesc;
			bool		isnull;
			UnsentRow	x;
			Datum		due;

			x.row.id = worker_spi_int64(t, d, 1, &isnull);
			x.row.owner = DatumGetObjectId(SPI_getbinval(t, d, 2, &isnull));
			x.failed = strcmp(SPI_getvalue(t, d, 3), "failed") == 0;
			due = SPI_getbinval(t, d, 4, &isnull);
			x.due = isnull ? 0 : DatumGetTimestampTz(due);
			x.row.server = worker_spi_text(t, d, 5);
			x.row.module = worker_spi_text(t, d, 6);
			x.row.record_id = worker_spi_int64(t, d, 7, &isnull);
			x.row.field = worker_spi_text(t, d, 8);
			x.first = find_claimed_key(b->sorted, b->n, &x.row);
			if (x.first < 0)
				continue;
			if (nx == cap)
			{
				cap = Max(16, cap * 2);
				unsent = unsent ? repalloc(unsent, sizeof(UnsentRow) * cap) :
					palloc(sizeof(UnsentRow) * cap);
			}
			unsent[nx++] = x;
		}
		SPI_freetuptable(SPI_tuptable);
		pump(inflight);
	}
	*nunsent = nx;
	return unsent;
}

/*
 * Rows of a key go to Zoho in id order, whoever queued them: while an
 * older pending row of one owner waits outside the batch (in back-off,
 * locked, committed late), the claimed rows of the key newer than it and of
 * other owners are not sent; the key's claimed rows wait until that row is
 * due, and then go with it.
 */
static void
wait_for_older_owners(Batch *b, const UnsentRow *unsent, int nunsent)
{
	TimestampTz now = GetCurrentTimestamp();
	int			u;

	for (u = 0; u < nunsent; u++)
	{
		const UnsentRow *x = &unsent[u];
		bool		blocks = false;
		TimestampTz due;
		int			k;

		if (x->failed)
			continue;
		for (k = x->first; k < b->n && cmp_claimed_key(b->sorted[k], &x->row) == 0; k++)
			if (b->sorted[k]->owner != x->row.owner && b->sorted[k]->id > x->row.id)
				blocks = true;
		if (!blocks)
			continue;
		/*
		 * Until it is due; one already due was not claimed (locked, or past
		 * the batch): look again a little later, not at once.
		 */
		due = x->due > now ? x->due : TimestampTzPlusMilliseconds(now, CLAIM_LOCK_TIMEOUT_MS);
		for (k = x->first; k < b->n && cmp_claimed_key(b->sorted[k], &x->row) == 0; k++)
		{
			int			i = (int) (b->sorted[k] - b->rows);

			if (b->prows[i].state == ZCRM_PLAN_SEND || b->prows[i].state == ZCRM_PLAN_DEFER)
			{
				b->prows[i].state = ZCRM_PLAN_DEFER;
				b->defer_due[i] = Max(b->defer_due[i], due);
			}
		}
	}
}

/*
 * After planning: the rows held behind each row sent, claimed ones (older
 * rows of its owner in the batch) and unsent ones outside the batch (older
 * rows of its owner, pending or failed).  Each becomes superseded once its
 * row has been sent, and otherwise shares its fate (record_outcomes).
 */
static void
collect_held_rows(Batch *b, const UnsentRow *unsent, int nunsent)
{
	int			i;
	int			u;

	for (i = 0; i < b->n; i++)
		if (b->prows[i].state == ZCRM_PLAN_HELD)
			hold_row(b, b->rows[i].id, b->prows[i].held_by, true);
	for (u = 0; u < nunsent; u++)
	{
		const UnsentRow *x = &unsent[u];
		int			rep = sent_row_of_key(b, x->first, &x->row);

		if (rep >= 0 && b->rows[rep].owner == x->row.owner && b->rows[rep].id > x->row.id)
			hold_row(b, x->row.id, rep, false);
	}
}

/* Deferred rows go back to pending, due when wait_for_* said, the claim's attempt given back. */
static void
defer_rows(Batch *b)
{
	int64	   *ids = palloc(sizeof(int64) * b->n);
	TimestampTz *dues = palloc(sizeof(TimestampTz) * b->n);
	TimestampTz now = GetCurrentTransactionStartTimestamp();
	int			n = 0;
	int			i;
	int			ret;
	Oid			types[2] = {INT8ARRAYOID, TIMESTAMPTZARRAYOID};
	Datum		vals[2];

	for (i = 0; i < b->n; i++)
		if (b->prows[i].state == ZCRM_PLAN_DEFER)
		{
			ids[n] = b->rows[i].id;
			dues[n] = Max(b->defer_due[i], now);
			n++;
		}
	if (n == 0)
		return;
	vals[0] = worker_int8_array(ids, n);
	vals[1] = worker_timestamptz_array(dues, n);
	ret = SPI_execute_with_args(psprintf("UPDATE %s o SET state = 'pending', next_attempt_at = u.due,"
										 " attempts = o.attempts - 1"
										 " FROM ROWS FROM (pg_catalog.unnest($1), pg_catalog.unnest($2)) AS u(id, due)"
										 " WHERE o.id = ANY ($1) AND o.id = u.id AND o.state = 'sending'",
										 worker_qual("zcrm_outbox")),
								2, types, vals, NULL, false, 0);
	if (ret != SPI_OK_UPDATE)
		elog(ERROR, "deferring outbox rows failed: %s", SPI_result_code_string(ret));
	for (i = 0; i < n; i++)
		worker_claim_note_pending(ids[i], dues[i]);
}

/*
 * Claims due rows and plans them, in one short transaction.  Rows of a key
 * with a call in flight in the batch "inflight" are not sent now; older
 * rows of the same owner are held behind newer ones (superseded only once
 * those are sent); of several owners' rows of a key only the oldest owner's
 * goes, the others wait.  Nothing is superseded here.  Fills b; returns the
 * number of rows claimed.
 */
static int
claim_and_plan(Batch *b, Batch *inflight)
{
	UnsentRow  *unsent;
	int			nunsent;
	MemoryContext old;

	worker_xact_begin("massupdate: claiming outbox rows");
	worker_commit_async();
	(void) set_config_option("lock_timeout", psprintf("%d", CLAIM_LOCK_TIMEOUT_MS),
							 PGC_SUSET, PGC_S_SESSION, GUC_ACTION_LOCAL,
							 true, 0, false);
	/*
	 * The claim walks the primary key from where the claim cursor says
	 * (worker_claim.c) and stops after batch_size rows; a bitmap scan
	 * would read and sort every row of the range first.
	 */
	worker_set_local("enable_bitmapscan", "off");
	worker_set_local("enable_seqscan", "off");
	worker_set_local("enable_sort", "off");
	b->relid = outbox_relid();
	worker_claim_begin(b->relid);
	if (claim_rows(b, inflight) == 0)
	{
		worker_xact_end();
		return 0;
	}

	old = MemoryContextSwitchTo(worker_round_cxt);
	index_rows(b);
	wait_for_calls_in_flight(b, inflight);
	MemoryContextSwitchTo(old);
	pump(inflight);

	unsent = read_unsent_rows(b, inflight, &nunsent);

	old = MemoryContextSwitchTo(worker_round_cxt);
	wait_for_older_owners(b, unsent, nunsent);
	if (!zcrm_plan(b->prows, b->n, ZOHO_MAX_IDS_PER_CALL, worker_round_alloc, &b->plan))
		elog(ERROR, "out of memory while planning");
	collect_held_rows(b, unsent, nunsent);
	defer_rows(b);
	MemoryContextSwitchTo(old);
	worker_xact_end();
	return b->n;
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
	bool		no_owner;
} OwnerCheck;

static void
owner_check(void *arg)
{
	OwnerCheck *oc = arg;
	MemoryContext old = MemoryContextSwitchTo(worker_round_cxt);

	oc->no_owner = !worker_owner_exists(oc->owner);
	if (oc->no_owner)
		worker_raise_no_owner(oc->owner);
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
 * What the answer to one call means for each of its rows (in worker_round_cxt).
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
		const char *msg = pstrdup(call->errmsg[0] ? call->errmsg : worker_outcome_name(call->outcome));

		for (i = 0; i < pc->nrows; i++)
			set_outcome(&out[pc->rows[i]], "pending", worker_outcome_name(call->outcome), msg, NULL);
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
 * b->out in worker_round_cxt).  Rows whose owner may no longer use the server
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
	old = MemoryContextSwitchTo(worker_round_cxt);

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
			checks[c].error = worker_try_in_subxact(owner_check, &checks[c], &checks[c].sqlstate);
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
			const char *code = oc->no_owner ? "NO_OWNER" :
			oc->no_server ? "NO_SERVER" :
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

/* The cap on the calls of two batches in flight together (pump2). */
static int
shared_cap(Batch *ahead, Batch *b)
{
	int			cap = send_concurrency;

	if (ahead != NULL && ahead->client != NULL)
		cap = Min(cap, zcrm_client_limit_max(ahead->client));
	if (b != NULL && b->client != NULL)
		cap = Min(cap, zcrm_client_limit_max(b->client));
	return cap;
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
 * slots first, the newer one (b) gets what is left.  The two share one cap:
 * send_concurrency, and no more than either batch's servers'
 * max_concurrency allows (a server's cap holds across both batches).
 */
static bool
pump2(Batch *ahead, Batch *b)
{
	bool		done = true;
	int			used = 0;
	int			cap = shared_cap(ahead, b);

	if (ahead != NULL && ahead->client != NULL)
	{
		if (b != NULL && b->client != NULL)
			zcrm_client_set_limit(ahead->client,
								  cap - zcrm_client_in_flight(b->client));
		done = zcrm_client_poll(ahead->client, 0);
		/* calls of ahead still to start keep their slots */
		used = Min(cap, zcrm_client_unfinished(ahead->client));
	}
	if (b != NULL && b->client != NULL)
	{
		zcrm_client_set_limit(b->client, cap - used);
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
 * Rows whose outcome is the same final answer (sent or failed, with the
 * same code, message and details: mostly "SUCCESS, record updated") are
 * written by one plain UPDATE per group; the rest (pending again, each
 * call with its own back-off, or more distinct answers than this) by one
 * UPDATE from arrays of per-row values.
 */
#define MAX_OUTCOME_GROUPS 8

typedef struct OutcomeGroup
{
	const RowOutcome *o;		/* the shared outcome */
	int64	   *ids;
	int			n;
} OutcomeGroup;

static bool
str_eq(const char *a, const char *b)
{
	return (a == NULL || b == NULL) ? a == b : strcmp(a, b) == 0;
}

static bool
same_outcome(const RowOutcome *a, const RowOutcome *b)
{
	return strcmp(a->state, b->state) == 0 && str_eq(a->code, b->code) &&
		str_eq(a->message, b->message) && str_eq(a->details, b->details);
}

/* One group's rows, in slices, the calls in flight driven in between. */
static void
record_group(const OutcomeGroup *g, Batch *inflight)
{
	Oid			argtypes[5] = {INT8ARRAYOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID};
	Datum		args[5];
	char		nulls[5] = {' ', ' ', ' ', ' ', ' '};
	int			first;

	args[1] = CStringGetTextDatum(g->o->state);
	if (g->o->code)
		args[2] = CStringGetTextDatum(g->o->code);
	else
		nulls[2] = 'n';
	if (g->o->message)
		args[3] = CStringGetTextDatum(g->o->message);
	else
		nulls[3] = 'n';
	if (g->o->details)
		args[4] = CStringGetTextDatum(g->o->details);
	else
		nulls[4] = 'n';
	for (first = 0; first < g->n; first += RECORD_SLICE)
	{
		int			ret;

		args[0] = worker_int8_array(g->ids + first, Min(RECORD_SLICE, g->n - first));
		ret = SPI_execute_with_args(psprintf("UPDATE %s SET state = $2,"
											 " sent_at = CASE WHEN $2 = 'sent' THEN pg_catalog.now() END,"
											 " next_attempt_at = CASE WHEN $2 = 'sent' THEN next_attempt_at END,"
											 " code = $3, message = $4,"
											 " details = $5::jsonb"
											 " WHERE id = ANY ($1) AND state = 'sending'",
											 worker_qual("zcrm_outbox")),
									5, argtypes, args, nulls, false, 0);
		if (ret != SPI_OK_UPDATE)
			elog(ERROR, "recording outcomes failed: %s", SPI_result_code_string(ret));
		pump(inflight);
	}
}

/*
 * The rows held behind b's rows sent (HeldRow), in record_outcomes'
 * transaction: superseded where their row was sent; where it was not,
 * claimed ones follow it (pending again with its back-off, or failed with
 * NEWER_VALUE_FAILED), their claim's attempt given back; unclaimed ones stay
 * as they are (a pending one is sent in its turn, a failed one can be
 * requeued).
 */
static void
record_held_rows(Batch *b, const int64 *row_delay, Batch *inflight)
{
	int64	   *sup = palloc(sizeof(int64) * (b->nheld + 1));
	int64	   *ids = palloc(sizeof(int64) * (b->nheld + 1));
	const char **states = palloc(sizeof(char *) * (b->nheld + 1));
	const char **messages = palloc(sizeof(char *) * (b->nheld + 1));
	const char **codes = palloc(sizeof(char *) * (b->nheld + 1));
	TimestampTz *dues = palloc(sizeof(TimestampTz) * (b->nheld + 1));
	int			nsup = 0;
	int			n = 0;
	int			h;
	int			ret;

	for (h = 0; h < b->nheld; h++)
	{
		const HeldRow *held = &b->held[h];
		const RowOutcome *o = &b->out[held->rep];
		const char *state = o->state ? o->state : "pending";

		if (strcmp(state, "sent") == 0)
			sup[nsup++] = held->id;
		else if (held->claimed)
		{
			ids[n] = held->id;
			states[n] = state;
			messages[n] = NULL;
			dues[n] = TimestampTzPlusMilliseconds(GetCurrentTransactionStartTimestamp(),
												  row_delay[held->rep]);
			if (strcmp(state, "pending") == 0)
				worker_claim_note_pending(held->id, dues[n]);
			else
				messages[n] = psprintf("a newer value of this record and field (outbox row %lld) failed with %s",
									   (long long) b->rows[held->rep].id,
									   o->code ? o->code : "an error");
			/* the owner is gone: so is the right to requeue its older rows */
			codes[n] = (o->code && strcmp(o->code, "NO_OWNER") == 0) ? "NO_OWNER" : "NEWER_VALUE_FAILED";
			n++;
		}
	}
	if (nsup > 0)
	{
		Oid			types[1] = {INT8ARRAYOID};
		Datum		vals[1];

		vals[0] = worker_int8_array(sup, nsup);
		ret = SPI_execute_with_args(psprintf("UPDATE %s SET state = 'superseded',"
											 " attempts = CASE WHEN state = 'sending' THEN attempts - 1 ELSE attempts END"
											 " WHERE id = ANY ($1) AND state IN ('pending', 'sending', 'failed')",
											 worker_qual("zcrm_outbox")),
									1, types, vals, NULL, false, 0);
		if (ret != SPI_OK_UPDATE)
			elog(ERROR, "superseding outbox rows failed: %s", SPI_result_code_string(ret));
		pump(inflight);
	}
	if (n > 0)
	{
		Oid			types[5] = {INT8ARRAYOID, TEXTARRAYOID, TEXTARRAYOID, TIMESTAMPTZARRAYOID,
		TEXTARRAYOID};
		Datum		vals[5];

		vals[0] = worker_int8_array(ids, n);
		vals[1] = worker_text_array(states, n);
		vals[2] = worker_text_array(messages, n);
		vals[3] = worker_timestamptz_array(dues, n);
		vals[4] = worker_text_array(codes, n);
		ret = SPI_execute_with_args(psprintf("UPDATE %s o SET state = u.state, attempts = o.attempts - 1,"
											 " next_attempt_at = CASE WHEN u.state = 'pending' THEN u.due END,"
											 " code = CASE WHEN u.state = 'failed' THEN u.code END,"
											 " message = u.message, details = NULL"
											 " FROM ROWS FROM (pg_catalog.unnest($1), pg_catalog.unnest($2), pg_catalog.unnest($3),"
											 "                 pg_catalog.unnest($4), pg_catalog.unnest($5)) AS u(id, state, message, due, code)"
											 " WHERE o.id = ANY ($1) AND o.id = u.id AND o.state = 'sending'",
											 worker_qual("zcrm_outbox")),
									5, types, vals, NULL, false, 0);
		if (ret != SPI_OK_UPDATE)
			elog(ERROR, "recording held outbox rows failed: %s", SPI_result_code_string(ret));
		pump(inflight);
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
	OutcomeGroup groups[MAX_OUTCOME_GROUPS];
	int			ngroups = 0;
	int64	   *ids;
	const char **states;
	const char **codes;
	const char **messages;
	const char **details;
	int64	   *delays;
	int64	   *row_delay;		/* by row: its back-off, if pending again */
	TimestampTz *dues;
	int			n = 0;
	int			first;
	int			i;
	Oid			argtypes[6] = {INT8ARRAYOID, TEXTARRAYOID, TEXTARRAYOID,
	TEXTARRAYOID, TEXTARRAYOID, TIMESTAMPTZARRAYOID};
	Datum		args[6];
	int			ret;
	MemoryContext old = MemoryContextSwitchTo(worker_round_cxt);

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
	dues = palloc(sizeof(TimestampTz) * nrows);
	row_delay = palloc0(sizeof(int64) * nrows);
	for (i = 0; i < nrows; i++)
	{
		RowOutcome *o = &out[i];
		int			g;

		if (prows[i].state != ZCRM_PLAN_SEND || o->state == NULL)
			continue;
		if (strcmp(o->state, "pending") == 0 && rows[i].attempts >= zcrm_max_attempts)
			o->state = "failed";
		if (strcmp(o->state, "pending") != 0)
		{
			for (g = 0; g < ngroups; g++)
				if (same_outcome(groups[g].o, o))
					break;
			if (g == ngroups && ngroups < MAX_OUTCOME_GROUPS)
			{
				groups[g].o = o;
				groups[g].ids = palloc(sizeof(int64) * nrows);
				groups[g].n = 0;
				ngroups++;
			}
			if (g < ngroups)
			{
				groups[g].ids[groups[g].n++] = rows[i].id;
				continue;
			}
		}
		ids[n] = rows[i].id;
		states[n] = o->state;
		codes[n] = o->code;
		messages[n] = o->message;
		details[n] = o->details;
		delays[n] = 0;
		if (strcmp(o->state, "pending") == 0)
			delays[n] = row_delay[i] = zcrm_backoff_ms(call_attempts[prows[i].call],
													   zcrm_retry_base_ms, zcrm_retry_max_ms,
													   call_rnd[prows[i].call]);
		n++;
	}
	MemoryContextSwitchTo(old);
	pump(inflight);

	worker_xact_begin("massupdate: recording outcomes");
	worker_commit_async();
	if (outbox_relid() != b->relid)
	{
		/* the extension was recreated meanwhile: these rows are gone */
		ereport(LOG,
				(errmsg("massupdate worker dropped the outcomes of %d outbox rows of a zcrm_outbox that no longer exists",
						nrows)));
		worker_xact_end();
		return;
	}
	/* in back-off until now() + delay, as the UPDATE below writes it */
	for (i = 0; i < n; i++)
	{
		dues[i] = TimestampTzPlusMilliseconds(GetCurrentTransactionStartTimestamp(), delays[i]);
		if (strcmp(states[i], "pending") == 0)
			worker_claim_note_pending(ids[i], dues[i]);
	}
	for (i = 0; i < ngroups; i++)
		record_group(&groups[i], inflight);
	worker_set_local("enable_nestloop", "off");
	worker_set_local("enable_mergejoin", "off");
	/*
	 * In slices, so that the calls in flight are kept going in between: an
	 * answer that is in starts the next call only when we look.
	 */
	for (first = 0; first < n; first += RECORD_SLICE)
	{
		int			k = Min(RECORD_SLICE, n - first);

		args[0] = worker_int8_array(ids + first, k);
		args[1] = worker_text_array(states + first, k);
		args[2] = worker_text_array(codes + first, k);
		args[3] = worker_text_array(messages + first, k);
		args[4] = worker_text_array(details + first, k);
		args[5] = worker_timestamptz_array(dues + first, k);
		ret = SPI_execute_with_args(psprintf("UPDATE %s o SET state = u.state,"
											 " sent_at = CASE WHEN u.state = 'sent' THEN pg_catalog.now() END,"
											 " next_attempt_at = CASE u.state"
											 "   WHEN 'pending' THEN u.due"
											 "   WHEN 'sent' THEN o.next_attempt_at END,"
											 " code = u.code, message = u.message, details = u.details::jsonb"
											 " FROM ROWS FROM (pg_catalog.unnest($1), pg_catalog.unnest($2), pg_catalog.unnest($3), pg_catalog.unnest($4), pg_catalog.unnest($5), pg_catalog.unnest($6))"
											 "   AS u(id, state, code, message, details, due)"
											 " WHERE o.id = ANY ($1) AND o.id = u.id AND o.state = 'sending'",
											 worker_qual("zcrm_outbox")),
									6, argtypes, args, NULL, false, 0);
		if (ret != SPI_OK_UPDATE)
			elog(ERROR, "recording outcomes failed: %s", SPI_result_code_string(ret));
		pump(inflight);
	}
	record_held_rows(b, row_delay, inflight);
	worker_xact_end();
}

/*
 * Claims, plans and builds the calls of a new batch in a context of its
 * own, while the calls of inflight (if any) progress; NULL when nothing
 * is due.
 */
static Batch *
next_batch(Batch *inflight)
{
	MemoryContext cxt = AllocSetContextCreate(worker_pipe_cxt, "massupdate outbox batch",
											  ALLOCSET_DEFAULT_SIZES);
	Batch	   *b = MemoryContextAllocZero(cxt, sizeof(Batch));

	b->cxt = cxt;
	worker_round_cxt = cxt;
	if (claim_and_plan(b, inflight) == 0)
	{
		worker_round_cxt = worker_round_base_cxt;
		MemoryContextDelete(cxt);
		return NULL;
	}
	pump(inflight);
	prepare_calls(b);
	worker_round_cxt = worker_round_base_cxt;
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
int
worker_drain_outbox(void)
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
		worker_round_cxt = cur->cxt;
		record_outcomes(cur, next);
		worker_round_cxt = worker_round_base_cxt;
		MemoryContextDelete(cur->cxt);
		if (next == NULL)
			break;
		cur = next;
	}
	worker_claimed_unrecorded = false;
	return last;
}

/* ---------------------------------------------------------------------
 * (3) Retention
 * ---------------------------------------------------------------------
 */

void
worker_delete_old_rows(void)
{
	int			b;
	Oid			argtypes[1] = {TIMESTAMPTZOID};
	Datum		args[1];

	for (b = 0; b < RETENTION_BATCHES_PER_ROUND; b++)
	{
		int			ret;
		uint64		deleted;

		worker_xact_begin("massupdate: deleting old outbox rows");
		/* now() less the retention, computed here: no operator to resolve */
		args[0] = TimestampTzGetDatum(GetCurrentTransactionStartTimestamp() -
									  (TimestampTz) zcrm_retention_s * USECS_PER_SEC);
		ret = SPI_execute_with_args(psprintf("DELETE FROM %s WHERE id = ANY (ARRAY("
											 " SELECT id FROM %s s"
											 "  WHERE ((state = 'sent' AND sent_at < $1)"
											 "         OR (state = 'superseded' AND queued_at < $1))"
											 /* a sent row is what keeps an older failed one from being requeued */
											 "    AND NOT (state = 'sent' AND EXISTS (SELECT 1 FROM %s f"
											 "          WHERE f.record_id = s.record_id"
											 "            AND f.next_attempt_at IS DISTINCT FROM f.queued_at"
											 "            AND f.state = 'failed' AND f.id < s.id AND f.field = s.field"
											 "            AND f.module = s.module AND f.server = s.server))"
											 "  LIMIT %d))",
											 worker_qual("zcrm_outbox"), worker_qual("zcrm_outbox"),
											 worker_qual("zcrm_outbox"), RETENTION_BATCH),
									1, argtypes, args, NULL, false, 0);
		if (ret != SPI_OK_DELETE)
			elog(ERROR, "deleting old outbox rows failed: %s", SPI_result_code_string(ret));
		deleted = SPI_processed;
		worker_xact_end();
		if (deleted < RETENTION_BATCH)
			break;
		CHECK_FOR_INTERRUPTS();
	}
}

