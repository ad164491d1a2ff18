/*-------------------------------------------------------------------------
 *
 * worker_claim.c
 *		The claim cursor: where the worker looks for due pending rows of
 *		zcrm_outbox, which has no index on state.
 *
 * zcrm_outbox is indexed only on columns that never change, so that the
 * worker's state changes are HOT updates (see sql/install/20_outbox.sql).
 * Pending rows are found by walking the primary key in two lanes:
 *
 *	- Fresh lane: rows with id > fresh_after, which the worker has never
 *	  claimed.  Each claim takes the next ones in id order, due or not (a
 *	  queued row is due at once), and moves fresh_after to the highest id
 *	  taken.  When a claim takes fewer rows than asked, the lane is empty.
 *
 *	- Sweep lane: rows at or below fresh_after that may be pending again or
 *	  late: the worker's own back-offs and deferrals, rows requeued by
 *	  zcrm_outbox_retry, and rows of transactions that drew their ids
 *	  before others but committed after the fresh lane had passed them.
 *	  "low" is the lowest id that may be such a row, "low_due" the earliest
 *	  time one of them may be due.  From low_due on, a sweep walks
 *	  [low, fresh_after] claiming the due rows in id order, then reads the
 *	  lowest id and earliest due time of the pending rows left in that
 *	  range (in back-off, or locked) as the new low and low_due.
 *
 * What keeps every pending row within reach, in order of cost:
 *	- the worker notes the rows it sets pending itself (note_pending);
 *	- a committing transaction that queued or requeued rows leaves its
 *	  lowest id in shared memory once its rows are visible (wake.c), and
 *	  each claim takes it first;
 *	- a periodic audit (worker_claim_audit, with retention) looks for the
 *	  lowest pending id in the whole table, for anything else: a row the
 *	  fresh lane skipped because someone held its lock, a prepared
 *	  transaction committed later, a superuser's hand edit;
 *	- the cursor lives only in the worker's memory: a new worker, an ERROR
 *	  in a round, or the extension recreated starts it afresh from the
 *	  table (worker_claim_reset), with every pending row in the sweep lane.
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
	int64		fresh_after;	/* rows above it were never claimed */
	int64		low;			/* lowest id at or below fresh_after that may
								 * be pending; PG_INT64_MAX: none */
	TimestampTz low_due;		/* earliest time such a row may be due */
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
	if (id < cur.low)
		cur.low = id;
	if (due < cur.low_due)
		cur.low_due = due;
}

/* The lowest pending id of the table (a walk of the primary key) or 0. */
static int64
lowest_pending_id(void)
{
	int			ret;
	bool		isnull;
	int64		id = 0;

	ret = SPI_execute(psprintf("SELECT id FROM %s WHERE state = 'pending' ORDER BY id LIMIT 1",
							   worker_qual("zcrm_outbox")), true, 1);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "looking for pending outbox rows failed: %s", SPI_result_code_string(ret));
	if (SPI_processed == 1)
		id = worker_spi_int64(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	return id;
}

void
worker_claim_audit(void)
{
	int64		id;

	if (!cur.valid)
		return;
	worker_xact_begin("massupdate: auditing the outbox cursor");
	id = lowest_pending_id();
	worker_xact_end();
	if (id > 0)
		worker_claim_note_pending(id, 0);
}

/* In the claim's transaction: a new cursor, every pending row swept. */
static void
cursor_start(void)
{
	int			ret;
	bool		isnull;
	int64		first = lowest_pending_id();

	ret = SPI_execute(psprintf("SELECT max(id) FROM %s", worker_qual("zcrm_outbox")), true, 1);
	if (ret != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "reading the last outbox id failed: %s", SPI_result_code_string(ret));
	cur.fresh_after = worker_spi_int64(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	if (isnull)
		cur.fresh_after = 0;
	cur.low = first > 0 ? first : PG_INT64_MAX;
	cur.low_due = 0;
	cur.sweeping = false;
	cur.valid = true;
}

void
worker_claim_begin(void)
{
	int64		queued_from = zcrm_wake_take_queued_from();

	if (!cur.valid)
		cursor_start();
	worker_claim_note_pending(queued_from, 0);
	if (!cur.sweeping && cur.low <= cur.fresh_after &&
		cur.low_due <= GetCurrentTimestamp())
	{
		cur.sweeping = true;
		cur.sweep_start = cur.low;
		cur.sweep_end = cur.fresh_after;
		cur.sweep_pos = cur.low - 1;
		/* what is noted from now on is for after this sweep */
		cur.low = PG_INT64_MAX;
		cur.low_due = DT_NOEND;
	}
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

/* The end of a sweep: what is left pending in its range waits for a later one. */
static void
sweep_end(void)
{
	Oid			types[2] = {INT8OID, INT8OID};
	Datum		vals[2];
	int			ret;
	bool		isnull;
	HeapTuple	t;
	TupleDesc	d;

	vals[0] = Int64GetDatum(cur.sweep_start);
	vals[1] = Int64GetDatum(cur.sweep_end);
	ret = SPI_execute_with_args(psprintf("SELECT min(id), min(next_attempt_at) FROM %s"
										 " WHERE id >= $1 AND id <= $2 AND state = 'pending'",
										 worker_qual("zcrm_outbox")),
								2, types, vals, NULL, true, 1);
	if (ret != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "reading outbox rows in back-off failed: %s", SPI_result_code_string(ret));
	t = SPI_tuptable->vals[0];
	d = SPI_tuptable->tupdesc;
	cur.sweeping = false;
	{
		int64		id = worker_spi_int64(t, d, 1, &isnull);

		if (!isnull)
		{
			Datum		due = SPI_getbinval(t, d, 2, &isnull);

			if (id < cur.low)
				cur.low = id;
			/* a row with no due time (a hand edit) is taken as due now */
			if (isnull || DatumGetTimestampTz(due) < cur.low_due)
				cur.low_due = isnull ? 0 : DatumGetTimestampTz(due);
		}
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
			sweep_end();
		return true;			/* on to the rest, or the fresh lane */
	}
	if (got > 0 && max_id > cur.fresh_after)
		cur.fresh_after = max_id;
	return got == asked;
}

long
worker_claim_due_ms(long max_ms)
{
	long		secs;
	int			usecs;
	TimestampTz now;

	if (!cur.valid)
		return max_ms;			/* the next claim starts it */
	if (cur.sweeping)
		return 0;
	if (cur.low > cur.fresh_after)
		return max_ms;			/* nothing in back-off */
	now = GetCurrentTimestamp();
	if (cur.low_due <= now)
		return 0;
	TimestampDifference(now, cur.low_due, &secs, &usecs);
	if (secs >= max_ms / 1000)
		return max_ms;
	return Min(max_ms, secs * 1000 + (usecs + 999) / 1000);
}
