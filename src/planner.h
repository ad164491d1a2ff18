/*-------------------------------------------------------------------------
 *
 * planner.h
 *		Turning claimed outbox rows into as few mass-update calls as Zoho
 *		allows.
 *
 * Plain C with no PostgreSQL headers, so test/unit/test_planner.c drives it
 * directly.  The worker claims rows, fills a ZcrmPlanRow per row and calls
 * zcrm_plan(); the plan says which rows became superseded and which rows go
 * into which call.
 *
 * Rules (README "Order"):
 *	- for one (server, module, record, field) each owner's newest row stands
 *	  for that owner's older ones, which are held behind it: they become
 *	  superseded only once it has been sent, and share its fate otherwise
 *	  (a row never supersedes another owner's row: an owner's value that
 *	  Zoho refuses, or credentials that do not work, cancel nobody else's);
 *	- of those owners' newest rows only the oldest is sent now; the other
 *	  owners' rows of the key are deferred to a later round, so that a
 *	  key's rows reach Zoho one call at a time, in outbox id order;
 *	- the survivors are grouped by (owner, server, module, field, value,
 *	  over_write): one call carries one field and one value for many ids;
 *	- a group is cut into calls of at most max_ids ids (Zoho's 500,
 *	  ZOHO_MAX_IDS_PER_CALL, reference section 5.3).
 *
 *-------------------------------------------------------------------------
 */
#ifndef ZCRM_PLANNER_H
#define ZCRM_PLANNER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum ZcrmPlanState
{
	ZCRM_PLAN_SEND,				/* goes into plan->calls[row->call] */
	ZCRM_PLAN_HELD,				/* waits for the outcome of rows[row->held_by],
								 * a newer row of its owner and key */
	ZCRM_PLAN_DEFER,			/* left for a later round */
	ZCRM_PLAN_ELSEWHERE			/* the caller's: waits for a call of another
								 * batch */
} ZcrmPlanState;

typedef struct ZcrmPlanRow
{
	/* in */
	int64_t		outbox_id;
	unsigned int owner;			/* role OID of whoever queued the row */
	const char *server;			/* server name */
	const char *module;			/* module API name */
	int64_t		record_id;
	const char *field;			/* field API name */
	const char *value;			/* the value's jsonb text, exactly as stored */
	bool		over_write;

	/*
	 * in/out: the caller may preset ZCRM_PLAN_DEFER or ZCRM_PLAN_ELSEWHERE
	 * (for every row of a key: it has a call in flight, or an older row of
	 * another owner waits outside the batch); such rows are left as they
	 * are and take no part in planning.
	 */
	ZcrmPlanState state;
	/* out */
	int			call;			/* index into plan->calls, or -1 */
	int			held_by;		/* ZCRM_PLAN_HELD: index into rows, or -1 */
} ZcrmPlanRow;

typedef struct ZcrmPlanCall
{
	/* the group: shared by every row of the call, pointing into a row */
	unsigned int owner;
	const char *server;
	const char *module;
	const char *field;
	const char *value;
	bool		over_write;
	/* rows of the call, indexes into the row array, in record id order */
	int			nrows;
	int		   *rows;
} ZcrmPlanCall;

typedef struct ZcrmPlan
{
	int			ncalls;
	ZcrmPlanCall *calls;		/* in order of their oldest row */
	int			nsend;			/* rows in calls */
	int			nheld;			/* rows held behind a newer one of their owner */
	int			ndeferred;		/* rows deferred by this planning */
} ZcrmPlan;

/* Allocator of the plan's memory: palloc in the worker, malloc in tests. */
typedef void *(*ZcrmPlanAlloc) (size_t size);

/*
 * zcrm_plan
 *		Plans nrows claimed rows into calls of at most max_ids ids.
 *
 * Sets every row's state, call and held_by; fills *plan.  All memory comes from
 * alloc and is never freed here (the worker resets its round context).
 * Returns false only when alloc returns NULL (malloc in tests).
 */
extern bool zcrm_plan(ZcrmPlanRow *rows, int nrows, int max_ids,
					  ZcrmPlanAlloc alloc, ZcrmPlan *plan);

/*
 * zcrm_backoff_ms
 *		Back-off before the next try of a row that has been tried "attempts"
 *		times (1 or more): base * 2^(attempts-1), capped at max, then
 *		"equal jitter": a uniform draw from [d/2, d] made from rnd (any
 *		32-bit random value).  Never below 1 ms.
 */
extern long zcrm_backoff_ms(int attempts, long base_ms, long max_ms,
							uint32_t rnd);

#endif							/* ZCRM_PLANNER_H */
