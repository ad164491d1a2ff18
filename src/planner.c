/*-------------------------------------------------------------------------
 *
 * planner.c
 *		Outbox rows to mass-update calls: newest value per key and owner,
 *		one owner per key at a time, grouping by value, chunking at Zoho's
 *		id limit.
 *
 * Plain C (no PostgreSQL headers): see planner.h for the rules and
 * test/unit/test_planner.c for the cases.  Everything is two sorts of an
 * array of row pointers, so a round of 10,000 rows plans in a few
 * milliseconds.
 *
 *-------------------------------------------------------------------------
 */
#include <stdlib.h>
#include <string.h>

#include "planner.h"

static int
cmp_str(const char *a, const char *b)
{
	if (a == b)
		return 0;
	if (a == NULL)
		return -1;
	if (b == NULL)
		return 1;
	return strcmp(a, b);
}

static int
cmp_i64(int64_t a, int64_t b)
{
	return (a > b) - (a < b);
}

/* (server, module, record, field, owner) ascending, then outbox id descending */
static int
cmp_key_newest_first(const void *pa, const void *pb)
{
	const ZcrmPlanRow *a = *(const ZcrmPlanRow *const *) pa;
	const ZcrmPlanRow *b = *(const ZcrmPlanRow *const *) pb;
	int			c;

	if ((c = cmp_str(a->server, b->server)) != 0)
		return c;
	if ((c = cmp_str(a->module, b->module)) != 0)
		return c;
	if ((c = cmp_i64(a->record_id, b->record_id)) != 0)
		return c;
	if ((c = cmp_str(a->field, b->field)) != 0)
		return c;
	if (a->owner != b->owner)
		return a->owner < b->owner ? -1 : 1;
	return cmp_i64(b->outbox_id, a->outbox_id);
}

static bool
same_key(const ZcrmPlanRow *a, const ZcrmPlanRow *b)
{
	return a->record_id == b->record_id &&
		cmp_str(a->field, b->field) == 0 &&
		cmp_str(a->module, b->module) == 0 &&
		cmp_str(a->server, b->server) == 0;
}

/* (owner, server, module, field, value, over_write), then record id */
static int
cmp_group(const void *pa, const void *pb)
{
	const ZcrmPlanRow *a = *(const ZcrmPlanRow *const *) pa;
	const ZcrmPlanRow *b = *(const ZcrmPlanRow *const *) pb;
	int			c;

	if (a->owner != b->owner)
		return a->owner < b->owner ? -1 : 1;
	if ((c = cmp_str(a->server, b->server)) != 0)
		return c;
	if ((c = cmp_str(a->module, b->module)) != 0)
		return c;
	if ((c = cmp_str(a->field, b->field)) != 0)
		return c;
	if ((c = cmp_str(a->value, b->value)) != 0)
		return c;
	if (a->over_write != b->over_write)
		return a->over_write ? 1 : -1;
	return cmp_i64(a->record_id, b->record_id);
}

static bool
same_group(const ZcrmPlanRow *a, const ZcrmPlanRow *b)
{
	return a->owner == b->owner &&
		a->over_write == b->over_write &&
		cmp_str(a->field, b->field) == 0 &&
		cmp_str(a->value, b->value) == 0 &&
		cmp_str(a->module, b->module) == 0 &&
		cmp_str(a->server, b->server) == 0;
}

typedef struct CallOrder
{
	int64_t		oldest;			/* smallest outbox id in the call */
	int			index;			/* position before sorting */
} CallOrder;

static int
cmp_call_order(const void *pa, const void *pb)
{
	const CallOrder *a = pa;
	const CallOrder *b = pb;
	int			c = cmp_i64(a->oldest, b->oldest);

	return c != 0 ? c : (a->index > b->index) - (a->index < b->index);
}

/*
 * Over live (sorted by key, owner, newest first): in each key's run, the
 * first row of each owner's stretch stands for the others of that owner,
 * which are held behind it; the stand-in with the lowest outbox id is sent,
 * the other owners' rows are deferred.  Moves the rows to send to the front
 * of live and returns their number.
 */
static int
pick_one_owner_per_key(ZcrmPlanRow *rows, ZcrmPlanRow **live, int nlive,
					   ZcrmPlan *plan)
{
	int			kept = 0;
	int			start = 0;

	while (start < nlive)
	{
		int			end = start + 1;
		int			best = start;
		int			i;

		while (end < nlive && same_key(live[end], live[start]))
			end++;
		/* the owners' newest rows start each owner's stretch */
		for (i = start + 1; i < end; i++)
			if (live[i]->owner != live[i - 1]->owner &&
				live[i]->outbox_id < live[best]->outbox_id)
				best = i;
		for (i = start; i < end; i++)
		{
			ZcrmPlanRow *r = live[i];

			if (i == best)
				live[kept++] = r;
			else if (r->owner == live[best]->owner)
			{
				r->state = ZCRM_PLAN_HELD;
				r->held_by = (int) (live[best] - rows);
				plan->nheld++;
			}
			else
			{
				r->state = ZCRM_PLAN_DEFER;
				plan->ndeferred++;
			}
		}
		start = end;
	}
	return kept;
}

bool
zcrm_plan(ZcrmPlanRow *rows, int nrows, int max_ids,
		  ZcrmPlanAlloc alloc, ZcrmPlan *plan)
{
	ZcrmPlanRow **live;
	int			nlive = 0;
	int			nsend = 0;
	int			ncalls = 0;
	int			i;
	ZcrmPlanCall *calls;
	int		   *rowidx;
	CallOrder  *order;
	ZcrmPlanCall *sorted;

	memset(plan, 0, sizeof(*plan));
	if (max_ids < 1)
		max_ids = 1;
	if (nrows <= 0)
		return true;

	live = alloc(sizeof(ZcrmPlanRow *) * nrows);
	if (live == NULL)
		return false;

	/* 1. per key, the newest row of each owner; of those the oldest goes */
	for (i = 0; i < nrows; i++)
	{
		rows[i].call = -1;
		rows[i].held_by = -1;
		if (rows[i].state == ZCRM_PLAN_SEND)
			live[nlive++] = &rows[i];
	}
	qsort(live, nlive, sizeof(ZcrmPlanRow *), cmp_key_newest_first);
	nsend = pick_one_owner_per_key(rows, live, nlive, plan);

	/* 2. group the survivors and cut each group at max_ids */
	qsort(live, nsend, sizeof(ZcrmPlanRow *), cmp_group);
	{
		int			in_group = 0;

		for (i = 0; i < nsend; i++)
		{
			if (i == 0 || !same_group(live[i], live[i - 1]))
				in_group = 0;
			if (in_group % max_ids == 0)
				ncalls++;
			in_group++;
		}
	}

	calls = alloc(sizeof(ZcrmPlanCall) * (ncalls > 0 ? ncalls : 1));
	rowidx = alloc(sizeof(int) * (nsend > 0 ? nsend : 1));
	order = alloc(sizeof(CallOrder) * (ncalls > 0 ? ncalls : 1));
	sorted = alloc(sizeof(ZcrmPlanCall) * (ncalls > 0 ? ncalls : 1));
	if (calls == NULL || rowidx == NULL || order == NULL || sorted == NULL)
		return false;

	{
		int			c = -1;
		int			in_group = 0;

		for (i = 0; i < nsend; i++)
		{
			ZcrmPlanRow *r = live[i];
			bool		new_group = (i == 0 || !same_group(r, live[i - 1]));

			if (new_group)
				in_group = 0;
			if (new_group || in_group % max_ids == 0)
			{
				c++;
				calls[c].owner = r->owner;
				calls[c].server = r->server;
				calls[c].module = r->module;
				calls[c].field = r->field;
				calls[c].value = r->value;
				calls[c].over_write = r->over_write;
				calls[c].nrows = 0;
				calls[c].rows = &rowidx[i];
				order[c].oldest = r->outbox_id;
				order[c].index = c;
			}
			calls[c].rows[calls[c].nrows++] = (int) (r - rows);
			if (r->outbox_id < order[c].oldest)
				order[c].oldest = r->outbox_id;
			in_group++;
		}
	}

	/* 3. calls in the order their oldest row was queued */
	qsort(order, ncalls, sizeof(CallOrder), cmp_call_order);
	for (i = 0; i < ncalls; i++)
	{
		int			j;

		sorted[i] = calls[order[i].index];
		for (j = 0; j < sorted[i].nrows; j++)
			rows[sorted[i].rows[j]].call = i;
	}

	plan->ncalls = ncalls;
	plan->calls = sorted;
	plan->nsend = nsend;
	return true;
}

long
zcrm_backoff_ms(int attempts, long base_ms, long max_ms, uint32_t rnd)
{
	long		d;
	long		half;
	int			i;

	if (base_ms < 1)
		base_ms = 1;
	if (max_ms < base_ms)
		max_ms = base_ms;
	d = base_ms;
	for (i = 1; i < attempts && d < max_ms; i++)
		d = (d > max_ms / 2) ? max_ms : d * 2;
	if (d > max_ms)
		d = max_ms;

	half = d / 2;
	d = half + (long) (rnd % (uint32_t) (d - half + 1));
	return d < 1 ? 1 : d;
}
