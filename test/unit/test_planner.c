/*
 * test_planner.c
 *		Unit tests of src/planner.c: newest value per key, grouping,
 *		chunking, back-off.
 *
 */
/* unit-sources: src/planner.c src/codec.c */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec.h"
#include "planner.h"
#include "zoho_limits.h"

static int	passed = 0;
static int	failed = 0;

#define CHECK(cond, ...) \
	do { \
		if (cond) { passed++; } \
		else { failed++; printf("not ok - %s:%d: ", __FILE__, __LINE__); \
			   printf(__VA_ARGS__); printf("\n"); } \
	} while (0)

/* every allocation is remembered and released at the end of a test */
static void *allocs[4096];
static int	nallocs = 0;

static void *
test_alloc(size_t size)
{
	void	   *p = malloc(size);

	if (p && nallocs < 4096)
		allocs[nallocs++] = p;
	return p;
}

static void
free_all(void)
{
	while (nallocs > 0)
		free(allocs[--nallocs]);
}

static ZcrmPlanRow
row(int64_t id, unsigned owner, const char *server, const char *module,
	int64_t record, const char *field, const char *value, bool over_write)
{
	ZcrmPlanRow r;

	memset(&r, 0, sizeof(r));
	r.outbox_id = id;
	r.owner = owner;
	r.server = server;
	r.module = module;
	r.record_id = record;
	r.field = field;
	r.value = value;
	r.over_write = over_write;
	r.state = ZCRM_PLAN_SEND;
	r.call = -1;
	return r;
}

static void
test_empty(void)
{
	ZcrmPlan	plan;

	CHECK(zcrm_plan(NULL, 0, ZOHO_MAX_IDS_PER_CALL, test_alloc, &plan), "empty plan");
	CHECK(plan.ncalls == 0 && plan.nsend == 0 && plan.nheld == 0 && plan.ndeferred == 0,
		  "empty plan has no calls");
	free_all();
}

/* 1,200 records, one new status: exactly 3 calls of 500, 500, 200 */
static void
test_chunking(void)
{
	int			n = 1200;
	ZcrmPlanRow *rows = malloc(sizeof(ZcrmPlanRow) * n);
	ZcrmPlan	plan;
	int			i;
	int			total = 0;
	bool		ok = true;

	for (i = 0; i < n; i++)
		rows[i] = row(i + 1, 10, "zoho", "Leads", 4150868000000224001LL + i,
					  "Lead_Status", "\"Contacted\"", false);
	CHECK(zcrm_plan(rows, n, ZOHO_MAX_IDS_PER_CALL, test_alloc, &plan), "plan 1200");
	CHECK(plan.ncalls == 3, "1200 ids make 3 calls, got %d", plan.ncalls);
	CHECK(plan.ncalls == 3 && plan.calls[0].nrows == 500 &&
		  plan.calls[1].nrows == 500 && plan.calls[2].nrows == 200,
		  "calls of 500, 500, 200");
	for (i = 0; i < plan.ncalls; i++)
		total += plan.calls[i].nrows;
	CHECK(total == n && plan.nsend == n, "every row sent once");
	for (i = 0; i < n; i++)
		if (rows[i].state != ZCRM_PLAN_SEND || rows[i].call < 0)
			ok = false;
	CHECK(ok, "every row has a call");
	/* ids inside a call are ascending and distinct */
	ok = true;
	for (i = 1; i < plan.calls[0].nrows; i++)
		if (rows[plan.calls[0].rows[i]].record_id <= rows[plan.calls[0].rows[i - 1]].record_id)
			ok = false;
	CHECK(ok, "ids ascending in a call");

	/* exactly 500 and 501 */
	CHECK(zcrm_plan(rows, 500, ZOHO_MAX_IDS_PER_CALL, test_alloc, &plan) && plan.ncalls == 1,
		  "500 ids: one call");
	CHECK(zcrm_plan(rows, 501, ZOHO_MAX_IDS_PER_CALL, test_alloc, &plan) && plan.ncalls == 2,
		  "501 ids: two calls");
	free(rows);
	free_all();
}

/* three distinct values: one call per value */
static void
test_grouping(void)
{
	const char *values[] = {"\"Contacted\"", "\"Lost Lead\"", "\"Qualified\""};
	int			n = 300;
	ZcrmPlanRow *rows = malloc(sizeof(ZcrmPlanRow) * n);
	ZcrmPlan	plan;
	int			i;
	bool		ok = true;

	for (i = 0; i < n; i++)
		rows[i] = row(i + 1, 10, "zoho", "Leads", 1000 + i, "Lead_Status",
					  values[i % 3], false);
	CHECK(zcrm_plan(rows, n, ZOHO_MAX_IDS_PER_CALL, test_alloc, &plan), "plan values");
	CHECK(plan.ncalls == 3, "three values, three calls: got %d", plan.ncalls);
	for (i = 0; i < plan.ncalls; i++)
	{
		int			j;

		if (plan.calls[i].nrows != 100)
			ok = false;
		for (j = 0; j < plan.calls[i].nrows; j++)
			if (strcmp(rows[plan.calls[i].rows[j]].value, plan.calls[i].value) != 0)
				ok = false;
	}
	CHECK(ok, "each call carries only its value");
	/* calls ordered by their oldest row: values[0] first */
	CHECK(strcmp(plan.calls[0].value, values[0]) == 0 &&
		  strcmp(plan.calls[1].value, values[1]) == 0,
		  "calls in queue order");
	free(rows);
	free_all();
}

/* owner, server, module, field and over_write each split groups */
static void
test_group_keys(void)
{
	ZcrmPlanRow rows[8];
	ZcrmPlan	plan;

	rows[0] = row(1, 10, "zoho", "Leads", 1, "City", "\"Paris\"", false);
	rows[1] = row(2, 11, "zoho", "Leads", 2, "City", "\"Paris\"", false);	/* owner */
	rows[2] = row(3, 10, "zoho2", "Leads", 3, "City", "\"Paris\"", false);	/* server */
	rows[3] = row(4, 10, "zoho", "Contacts", 4, "City", "\"Paris\"", false);	/* module */
	rows[4] = row(5, 10, "zoho", "Leads", 5, "State", "\"Paris\"", false);	/* field */
	rows[5] = row(6, 10, "zoho", "Leads", 6, "City", "\"Paris\"", true);	/* over_write */
	rows[6] = row(7, 10, "zoho", "Leads", 7, "City", "\"Paris\"", false);	/* joins rows[0] */
	rows[7] = row(8, 10, "zoho", "Leads", 8, "City", "null", false);	/* JSON null */
	CHECK(zcrm_plan(rows, 8, ZOHO_MAX_IDS_PER_CALL, test_alloc, &plan), "plan keys");
	CHECK(plan.ncalls == 7, "seven groups: got %d", plan.ncalls);
	CHECK(rows[0].call == rows[6].call && rows[0].call == 0, "same group, same call");
	CHECK(plan.calls[0].nrows == 2, "first call has two ids");
	free_all();
}

/* 5 changes of one field of one record: the last is sent, 4 held behind it */
static void
test_newest_wins(void)
{
	ZcrmPlanRow rows[7];
	ZcrmPlan	plan;
	int			i;
	int			nheld = 0;

	/* queued out of order on purpose: the highest outbox id wins */
	rows[0] = row(13, 10, "zoho", "Leads", 42, "City", "\"v3\"", false);
	rows[1] = row(11, 10, "zoho", "Leads", 42, "City", "\"v1\"", false);
	rows[2] = row(15, 10, "zoho", "Leads", 42, "City", "\"v5\"", false);
	rows[3] = row(12, 10, "zoho", "Leads", 42, "City", "\"v2\"", false);
	rows[4] = row(14, 10, "zoho", "Leads", 42, "City", "\"v4\"", false);
	/* other field, other record: untouched */
	rows[5] = row(16, 10, "zoho", "Leads", 42, "State", "\"v1\"", false);
	rows[6] = row(10, 10, "zoho", "Leads", 43, "City", "\"v1\"", false);
	CHECK(zcrm_plan(rows, 7, ZOHO_MAX_IDS_PER_CALL, test_alloc, &plan), "plan newest");
	for (i = 0; i < 5; i++)
		if (rows[i].state == ZCRM_PLAN_HELD && rows[i].held_by == 2 && rows[i].call == -1)
			nheld++;
	CHECK(nheld == 4 && plan.nheld == 4, "four held behind row 3, got %d", nheld);
	CHECK(rows[2].state == ZCRM_PLAN_SEND && rows[2].held_by == -1, "the newest (id 15, v5) is sent");
	CHECK(rows[5].state == ZCRM_PLAN_SEND && rows[6].state == ZCRM_PLAN_SEND,
		  "other keys untouched");
	/* v5 for record 42 and v1 for 43 are different values: 3 calls */
	CHECK(plan.ncalls == 3, "three calls: got %d", plan.ncalls);
	CHECK(plan.nsend == 3, "three rows sent: got %d", plan.nsend);
	free_all();
}

/* preset rows take no part: they neither hold nor are held */
static void
test_presets(void)
{
	ZcrmPlanRow rows[4];
	ZcrmPlan	plan;

	rows[0] = row(1, 10, "zoho", "Leads", 42, "City", "\"a\"", false);
	rows[1] = row(2, 10, "zoho", "Leads", 42, "City", "\"b\"", false);
	rows[1].state = ZCRM_PLAN_ELSEWHERE;	/* waits for another batch */
	rows[2] = row(3, 10, "zoho", "Leads", 50, "City", "\"a\"", false);
	rows[3] = row(4, 10, "zoho", "Leads", 50, "City", "\"b\"", false);
	rows[3].state = ZCRM_PLAN_DEFER;	/* in flight: wait */
	CHECK(zcrm_plan(rows, 4, ZOHO_MAX_IDS_PER_CALL, test_alloc, &plan), "plan presets");
	CHECK(rows[0].state == ZCRM_PLAN_SEND, "row 1 sent: the preset row 2 does not count");
	CHECK(rows[1].state == ZCRM_PLAN_ELSEWHERE && rows[1].call == -1, "row 2 stays where it is");
	CHECK(rows[2].state == ZCRM_PLAN_SEND, "row 3 sent: a deferred newer row holds nobody");
	CHECK(rows[3].state == ZCRM_PLAN_DEFER && rows[3].call == -1, "row 4 stays deferred");
	CHECK(plan.ncalls == 1 && plan.nsend == 2 && plan.nheld == 0, "one call of two ids");
	free_all();
}

/*
 * Owners: a row never holds another owner's row.  Of the owners' newest
 * rows of a key the oldest is sent; the other owners' rows wait.
 */
static void
test_owners(void)
{
	ZcrmPlanRow rows[7];
	ZcrmPlan	plan;

	/* record 42: alice 1, bob 2, alice 3 */
	rows[0] = row(1, 10, "zoho", "Leads", 42, "City", "\"a1\"", false);
	rows[1] = row(2, 11, "zoho", "Leads", 42, "City", "\"b2\"", false);
	rows[2] = row(3, 10, "zoho", "Leads", 42, "City", "\"a3\"", false);
	/* record 43: bob 4, alice 5, alice 6, bob 7 */
	rows[3] = row(4, 11, "zoho", "Leads", 43, "City", "\"b4\"", false);
	rows[4] = row(5, 10, "zoho", "Leads", 43, "City", "\"a5\"", false);
	rows[5] = row(6, 10, "zoho", "Leads", 43, "City", "\"a6\"", false);
	rows[6] = row(7, 11, "zoho", "Leads", 43, "City", "\"b7\"", false);
	CHECK(zcrm_plan(rows, 7, ZOHO_MAX_IDS_PER_CALL, test_alloc, &plan), "plan owners");
	/* 42: newest rows alice 3, bob 2: bob's goes, alice's wait */
	CHECK(rows[1].state == ZCRM_PLAN_SEND, "42: bob's row 2 (the older newest) is sent");
	CHECK(rows[0].state == ZCRM_PLAN_DEFER && rows[2].state == ZCRM_PLAN_DEFER,
		  "42: alice's rows wait for a later round");
	/* 43: newest rows bob 7, alice 6: alice's goes, holding her row 5 */
	CHECK(rows[5].state == ZCRM_PLAN_SEND, "43: alice's row 6 is sent");
	CHECK(rows[4].state == ZCRM_PLAN_HELD && rows[4].held_by == 5, "43: alice's row 5 held behind 6");
	CHECK(rows[3].state == ZCRM_PLAN_DEFER && rows[6].state == ZCRM_PLAN_DEFER,
		  "43: bob's rows wait, none held by alice's");
	CHECK(plan.nsend == 2 && plan.nheld == 1 && plan.ndeferred == 4,
		  "2 sent, 1 held, 4 deferred: got %d, %d, %d", plan.nsend, plan.nheld, plan.ndeferred);
	free_all();
}

/*
 * Random batches: for every key exactly one row is sent, it is the newest
 * row of its owner, no newest row of another owner is older, and every
 * held row is older than, and of the owner of, the row it is held by.
 */
static void
test_owners_random(void)
{
	int			round;
	bool		ok = true;
	unsigned int seed = 12345;

	for (round = 0; round < 2000 && ok; round++)
	{
		ZcrmPlanRow rows[12];
		ZcrmPlan	plan;
		int			n = 1 + (int) ((seed = seed * 1103515245u + 12345u) >> 16) % 12;
		int			i;
		int			j;

		for (i = 0; i < n; i++)
		{
			unsigned int r = (seed = seed * 1103515245u + 12345u) >> 16;

			rows[i] = row(100 + (r % 1000) * 16 + i, 10 + (r >> 3) % 3, "zoho", "Leads",
						  42 + (r >> 5) % 2, "City", "\"v\"", false);
		}
		if (!zcrm_plan(rows, n, ZOHO_MAX_IDS_PER_CALL, test_alloc, &plan))
			ok = false;
		for (i = 0; i < n && ok; i++)
		{
			int			sent_of_key = 0;

			for (j = 0; j < n; j++)
				if (rows[j].record_id == rows[i].record_id && rows[j].state == ZCRM_PLAN_SEND)
					sent_of_key++;
			if (sent_of_key != 1)
				ok = false;
			if (rows[i].state == ZCRM_PLAN_HELD)
			{
				const ZcrmPlanRow *by = &rows[rows[i].held_by];

				if (by->state != ZCRM_PLAN_SEND || by->owner != rows[i].owner ||
					by->record_id != rows[i].record_id || by->outbox_id <= rows[i].outbox_id)
					ok = false;
			}
			if (rows[i].state == ZCRM_PLAN_SEND)
				for (j = 0; j < n; j++)
				{
					if (j == i || rows[j].record_id != rows[i].record_id)
						continue;
					/* nothing newer of its owner; no other owner's newest row older */
					if (rows[j].owner == rows[i].owner && rows[j].outbox_id > rows[i].outbox_id)
						ok = false;
					if (rows[j].owner != rows[i].owner && rows[j].state != ZCRM_PLAN_DEFER)
						ok = false;
					if (rows[j].owner != rows[i].owner && rows[j].outbox_id < rows[i].outbox_id)
					{
						/* an older row of another owner: its owner has a newer one */
						int			k;
						bool		newer = false;

						for (k = 0; k < n; k++)
							if (rows[k].owner == rows[j].owner && rows[k].record_id == rows[i].record_id &&
								rows[k].outbox_id > rows[i].outbox_id)
								newer = true;
						if (!newer)
							ok = false;
					}
				}
		}
		free_all();
	}
	CHECK(ok, "2,000 random batches keep the owner rules (round %d)", round);
}

/* the planned call becomes a body with string ids and the exact value */
static void
test_body(void)
{
	ZcrmPlanRow rows[2];
	ZcrmPlan	plan;
	ZcField		f;
	long long	ids[2];
	char	   *body;
	int			i;

	rows[0] = row(1, 10, "zoho", "Leads", 9007199254740993LL, "Annual_Revenue",
				  "1234.50", false);
	rows[1] = row(2, 10, "zoho", "Leads", 4150868000000224005LL, "Annual_Revenue",
				  "1234.50", false);
	CHECK(zcrm_plan(rows, 2, ZOHO_MAX_IDS_PER_CALL, test_alloc, &plan) && plan.ncalls == 1,
		  "one call");
	f.name = plan.calls[0].field;
	f.value_json = plan.calls[0].value;
	for (i = 0; i < plan.calls[0].nrows; i++)
		ids[i] = rows[plan.calls[0].rows[i]].record_id;
	body = zc_build_ids_body(&f, 1, ids, 2, plan.calls[0].over_write);
	CHECK(body != NULL && strstr(body, "\"9007199254740993\"") != NULL &&
		  strstr(body, "\"4150868000000224005\"") != NULL,
		  "ids travel as strings: %s", body ? body : "(null)");
	CHECK(body != NULL && strstr(body, "1234.50") != NULL, "value keeps its digits");
	free(body);
	free_all();
}

static void
test_backoff(void)
{
	long		d;
	int			a;
	bool		ok = true;

	/* attempt 1: [base/2, base] */
	CHECK(zcrm_backoff_ms(1, 1000, 300000, 0) == 500, "attempt 1, rnd 0: 500");
	CHECK(zcrm_backoff_ms(1, 1000, 300000, 500) == 1000, "attempt 1, top: 1000");
	/* doubles */
	d = zcrm_backoff_ms(3, 1000, 300000, 0);
	CHECK(d == 2000, "attempt 3, rnd 0: 2000, got %ld", d);
	/* capped, also for absurd attempts */
	for (a = 1; a < 200; a++)
	{
		d = zcrm_backoff_ms(a, 1000, 300000, 0xffffffffu);
		if (d < 1 || d > 300000)
			ok = false;
	}
	CHECK(ok, "always within [1, max]");
	CHECK(zcrm_backoff_ms(100, 1000, 300000, 0) == 150000, "capped at max, half jitter");
	CHECK(zcrm_backoff_ms(1, 1, 1, 12345) >= 1, "never below 1 ms");
	CHECK(zcrm_backoff_ms(5, 0, 0, 7) >= 1, "zero settings still positive");
}

/* a big batch plans quickly (no quadratic step) */
static void
test_large(void)
{
	int			n = 200000;
	ZcrmPlanRow *rows = malloc(sizeof(ZcrmPlanRow) * n);
	ZcrmPlan	plan;
	int			i;

	for (i = 0; i < n; i++)
		rows[i] = row(i + 1, 10, "zoho", "Leads", 1 + i, "City",
					  (i % 2) ? "\"a\"" : "\"b\"", false);
	CHECK(zcrm_plan(rows, n, ZOHO_MAX_IDS_PER_CALL, test_alloc, &plan), "plan 200000");
	CHECK(plan.ncalls == 400, "200000 rows, 2 values: 400 calls, got %d", plan.ncalls);
	free(rows);
	free_all();
}

int
main(void)
{
	test_empty();
	test_chunking();
	test_grouping();
	test_group_keys();
	test_newest_wins();
	test_presets();
	test_owners();
	test_owners_random();
	test_body();
	test_backoff();
	test_large();
	printf("%d passed, %d failed\n", passed, failed);
	return failed ? 1 : 0;
}
