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
 * Rules (DESIGN section 5 and 8.10):
 *	- for one (server, module, record, field) only the row with the highest
 *	  outbox id is sent; the older ones are superseded;
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
	ZCRM_PLAN_SUPERSEDED,		/* a newer row for the same key exists */
	ZCRM_PLAN_DEFER				/* left for a later round (set by the caller) */
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
	 * in/out: the caller may preset ZCRM_PLAN_SUPERSEDED (it knows of a newer
	 * row outside the batch) or ZCRM_PLAN_DEFER (the key has a call in
	 * flight); such rows are left as they are and do not supersede others.
	 */
	ZcrmPlanState state;
	/* out */
	int			call;			/* index into plan->calls, or -1 */
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
	int			nsuperseded;	/* rows marked superseded by this planning */
} ZcrmPlan;

/* Allocator of the plan's memory: palloc in the worker, malloc in tests. */
typedef void *(*ZcrmPlanAlloc) (size_t size);

/*
 * zcrm_plan
 *		Plans nrows claimed rows into calls of at most max_ids ids.
 *
 * Sets every row's state and call; fills *plan.  All memory comes from
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
