/*-------------------------------------------------------------------------
 *
 * worker_claim.c
 *		The claim cursor: where the worker looks for due pending rows of
 *		zcrm_outbox, which has no index on state.
 *
 * zcrm_outbox is indexed only on columns that the way of a row that goes
 * well never changes, so that the worker's state changes are HOT updates
 * (see sql/install/20_outbox.sql).  Pending rows are found by walking the
 * primary key in two lanes:
 *
 *	- Fresh lane: rows with id > fresh_after, which the worker has never
 *	  claimed.  Each claim takes the next ones in id order (a queued row is
 *	  due at once) and moves fresh_after to the highest id taken.  When a
 *	  claim takes fewer rows than asked, the lane is empty for now.
 *
 *	- Sweep lane: rows at or below fresh_after that may be pending: rows
 *	  set pending again (the worker's back-offs and deferrals, requeues by
 *	  zcrm_outbox_retry) and rows of transactions that drew their ids
 *	  before others but committed after the fresh lane had passed them.
 *	  "soon" is the lowest id of such rows due now; "later" the lowest id of
 *	  rows in back-off and "later_due" the earliest time one of them is due.
 *	  A sweep walks [start, fresh_after] claiming the due rows in id order,
 *	  then reads the lowest id and earliest due time of the pending rows
 *	  left in that range (in back-off, or locked) into "later".  A claim
 *	  sweeps before it takes fresh rows, so an older row that is known
 *	  joins the same batch as a newer one of its record and field, and the
 *	  planner keeps the newer.
 *
 * What keeps every pending row within reach:
 *	- the worker notes the rows it sets pending itself (note_pending);
 *	- a committing transaction that queued or requeued rows leaves its
 *	  lowest id in shared memory, where the worker finds it once anyone
 *	  can see the transaction committed (wake.c); each claim takes it
 *	  first, and again after its last slice, when it also looks in [that
 *	  id, fresh_after] for pending rows older than the ones it claimed
 *	  (worker_claim_take_late): a newer change of the same table row,
 *	  which waited for the older one's commit, is never claimed alone;
 *	- a periodic audit (worker_claim_audit, every AUDIT_NAPTIMES naptimes)
 *	  looks for the lowest pending id of the whole table, for what nothing
 *	  reports: a row the fresh lane skipped because someone held its lock,
 *	  a prepared transaction committed later, a superuser's hand edit;
 *	- the cursor lives only in the worker's memory: a new worker, an ERROR
 *	  in a round, or a new zcrm_outbox (extension recreated) starts it
 *	  afresh from the table (cursor_start).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "utils/timestamp.h"

#include "wake.h"

#include "worker_internal.h"

static struct
{
	bool		valid;			/* false: read the table at the next claim */
	Oid			relid;			/* the zcrm_outbox it is about */
	int64		fresh_after;	/* rows above it were never claimed */
	int64		soon;			/* lowest id at or below fresh_after that may
								 * be pending and due now; PG_INT64_MAX: none */
	int64		later;			/* the same for rows in back-off */
	TimestampTz later_due;		/* earliest time one of those is due */
	bool		sweeping;		/* a sweep is under way */
	int64		sweep_start;	/* its range, [sweep_start, sweep_end] */
	int64		sweep_end;
	int64		sweep_pos;		/* it has claimed what is due up to here */
}			cur;

void
worker_claim_reset(void)
{
	cur.valid = false;
}

void
worker_claim_note_pending(int64 id, TimestampTz due)
{
	if (!cur.valid || id > cur.fresh_after)
		return;					/* the fresh lane will get there */
	if (due <= GetCurrentTimestamp())
	{
		if (id < cur.soon)
			cur.soon = id;
	}
	else
	{
		if (id < cur.later)
			cur.later = id;
		if (due < cur.later_due)
			cur.later_due = due;
	}
}

/* The lowest pending row of the table (a walk of the primary key): false if none. */
static bool
lowest_pending(int64 *id)
{
	int			ret;
	bool		isnull;

	ret = SPI_execute(psprintf("SELECT id FROM %s WHERE state = 'pending' ORDER BY id LIMIT 1",
							   worker_qual("zcrm_outbox")), false, 1);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "looking for pending outbox rows failed: %s", SPI_result_code_string(ret));
	if (SPI_processed != 1)
		return false;
	*id = worker_spi_int64(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	return true;
}

void
worker_claim_audit(void)
{
	int64		id;
	bool		found;

	if (!cur.valid)
		return;
	worker_xact_begin("massupdate: auditing the outbox cursor");
	found = lowest_pending(&id);
	worker_xact_end();
	/*
	 * Due now, whatever the lowest row's own due time: rows above it may be
	 * due, and the sweep reads the back-off of what it leaves.
	 */
	if (found)
		worker_claim_note_pending(id, 0);
}

/*
 * In the claim's transaction: a new cursor.  The fresh lane starts above
 * the highest row that was ever claimed (or requeued): everything above it
 * is new.  Every pending row at or below it goes to the sweep lane.
 */
static void
cursor_start(Oid relid)
{
	int			ret;
	bool		isnull;
	int64		first;

	ret = SPI_execute(psprintf("SELECT coalesce(pg_catalog.max(id), 0) FROM (SELECT id FROM %s"
							   " WHERE state <> 'pending' OR next_attempt_at IS DISTINCT FROM queued_at"
							   " ORDER BY id DESC LIMIT 1) last",
							   worker_qual("zcrm_outbox")), false, 1);
	if (ret != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "reading the outbox's last claimed id failed: %s", SPI_result_code_string(ret));
	cur.fresh_after = worker_spi_int64(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	cur.relid = relid;
	cur.valid = true;
	cur.sweeping = false;
	cur.soon = cur.later = PG_INT64_MAX;
	cur.later_due = DT_NOEND;
	if (lowest_pending(&first))
		worker_claim_note_pending(first, 0);	/* as in the audit */
}

/* Starts a sweep if rows at or below fresh_after are due: soon ones, or ones in back-off. */
static void
sweep_if_due(bool soon_only)
{
	int64		start = PG_INT64_MAX;

	if (cur.sweeping)
		return;
	if (cur.soon <= cur.fresh_after)
	{
		start = cur.soon;
		cur.soon = PG_INT64_MAX;
	}
	if (!soon_only && cur.later <= cur.fresh_after && cur.later_due <= GetCurrentTimestamp())
	{
		start = Min(start, cur.later);
		cur.later = PG_INT64_MAX;
		cur.later_due = DT_NOEND;
	}
	if (start == PG_INT64_MAX)
		return;
	cur.sweeping = true;
	cur.sweep_start = start;
	cur.sweep_end = cur.fresh_after;
	cur.sweep_pos = start - 1;
}

void
worker_claim_begin(Oid relid)
{
	int64		queued_from = zcrm_wake_take_queued_from();

	if (!cur.valid || cur.relid != relid)
		cursor_start(relid);
	worker_claim_note_pending(queued_from, 0);
	sweep_if_due(false);
}

void
worker_claim_next_range(int64 *after, int64 *upto, bool *due_only)
{
	Assert(cur.valid);
	if (cur.sweeping)
	{
		*after = cur.sweep_pos;
		*upto = cur.sweep_end;
		*due_only = true;
	}
	else
	{
		*after = cur.fresh_after;
		*upto = PG_INT64_MAX;
		*due_only = false;
	}
}

/*
 * The end of a sweep: the pending rows left in its range (in back-off, or
 * locked) wait for a later one.  Reads the claim's own updates (a fresh
 * snapshot: read_only false).
 */
static void
sweep_end(void)
{
	Oid			types[2] = {INT8OID, INT8OID};
	Datum		vals[2];
	int			ret;
	bool		isnull;
	HeapTuple	t;
	TupleDesc	d;
	int64		id;

	vals[0] = Int64GetDatum(cur.sweep_start);
	vals[1] = Int64GetDatum(cur.sweep_end);
	ret = SPI_execute_with_args(psprintf("SELECT pg_catalog.min(id), pg_catalog.min(coalesce(next_attempt_at, '-infinity'))"
										 " FROM %s WHERE id >= $1 AND id <= $2 AND state = 'pending'",
										 worker_qual("zcrm_outbox")),
								2, types, vals, NULL, false, 1);
	if (ret != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "reading outbox rows in back-off failed: %s", SPI_result_code_string(ret));
	t = SPI_tuptable->vals[0];
	d = SPI_tuptable->tupdesc;
	cur.sweeping = false;
	id = worker_spi_int64(t, d, 1, &isnull);
	if (!isnull)
	{
		TimestampTz due = DatumGetTimestampTz(SPI_getbinval(t, d, 2, &isnull));

		/* not "soon" even when due (locked): the next claim looks again */
		if (id < cur.later)
			cur.later = id;
		if (due < cur.later_due)
			cur.later_due = due;
	}
}

bool
worker_claim_slice_done(int asked, int got, int64 max_id)
{
	if (cur.sweeping)
	{
		if (got > 0)
			cur.sweep_pos = max_id;
		if (got < asked)
		{
			sweep_end();
			/* rows reported during that sweep go before the fresh lane */
			sweep_if_due(true);
		}
		return true;			/* on to the rest, or the fresh lane */
	}
	if (got > 0 && max_id > cur.fresh_after)
		cur.fresh_after = max_id;
	return got == asked;
}

bool
worker_claim_take_late(int64 *from, int64 *upto)
{
	int64		queued_from = zcrm_wake_take_queued_from();

	if (!cur.valid || queued_from > cur.fresh_after)
		return false;
	worker_claim_note_pending(queued_from, 0);
	*from = queued_from;
	*upto = cur.fresh_after;
	return true;
}

long
worker_claim_due_ms(long max_ms)
{
	TimestampTz now;

	if (!cur.valid)
		return max_ms;			/* the next claim starts it */
	if (cur.sweeping || cur.soon <= cur.fresh_after)
		return 0;
	if (cur.later > cur.fresh_after)
		return max_ms;			/* nothing in back-off */
	now = GetCurrentTimestamp();
	if (cur.later_due <= now)
		return 0;
	return (long) Min((int64) max_ms, (int64) TimestampDifferenceMilliseconds(now, cur.later_due));
}
