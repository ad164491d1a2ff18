/*
 * store.c
 *		The record store (see store.h) and the value intern table.
 */
#define _GNU_SOURCE				/* PTHREAD_RWLOCK_WRITER_NONRECURSIVE_INITIALIZER_NP */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "arena.h"
#include "store.h"
#include "util.h"

typedef struct ModuleStore
{
	Record	   *recs;
	size_t		nrecs;
	size_t		caprecs;
	uint32_t   *slots;			/* record index + 1; 0 = empty */
	size_t		nslots;			/* power of two */
	Arena		vals;			/* value arrays of bulk-loaded records */
} ModuleStore;

typedef struct InternTable
{
	Arena		arena;			/* the texts */
	char	  **texts;			/* [0] unused: value 0 means "no value" */
	uint32_t   *lens;
	size_t		n;
	size_t		cap;
	uint32_t   *slots;			/* value id; 0 = empty */
	size_t		nslots;
} InternTable;

/* writers first: job ticks and mass updates must not starve behind GETs */
static pthread_rwlock_t store_lock = PTHREAD_RWLOCK_WRITER_NONRECURSIVE_INITIALIZER_NP;
static ModuleStore *stores = NULL;
static int	nstores = 0;
static InternTable interns;

void
store_rdlock(void)
{
	pthread_rwlock_rdlock(&store_lock);
}

void
store_wrlock(void)
{
	pthread_rwlock_wrlock(&store_lock);
}

void
store_unlock(void)
{
	pthread_rwlock_unlock(&store_lock);
}

static void
intern_init(void)
{
	memset(&interns, 0, sizeof(interns));
	interns.cap = 1024;
	interns.texts = xcalloc(interns.cap, sizeof(char *));
	interns.lens = xcalloc(interns.cap, sizeof(uint32_t));
	interns.n = 1;
	interns.nslots = 2048;
	interns.slots = xcalloc(interns.nslots, sizeof(uint32_t));
}

static void
intern_free(void)
{
	arena_free(&interns.arena);
	free(interns.texts);
	free(interns.lens);
	free(interns.slots);
	memset(&interns, 0, sizeof(interns));
}

void
store_init(int nmodules)
{
	nstores = nmodules;
	stores = xcalloc((size_t) nmodules, sizeof(ModuleStore));
	intern_init();
}

static void
module_store_free(ModuleStore *ms)
{
	for (size_t i = 0; i < ms->nrecs; i++)
		if (ms->recs[i].flags & REC_VALS_MALLOCED)
			free(ms->recs[i].vals);
	free(ms->recs);
	free(ms->slots);
	arena_free(&ms->vals);
	memset(ms, 0, sizeof(*ms));
}

void
store_clear(void)
{
	for (int i = 0; i < nstores; i++)
		module_store_free(&stores[i]);
	intern_free();
	intern_init();
}

void
store_free(void)
{
	for (int i = 0; i < nstores; i++)
		module_store_free(&stores[i]);
	free(stores);
	stores = NULL;
	nstores = 0;
	intern_free();
}

static uint64_t
text_hash(const char *s, size_t len)
{
	uint64_t	h = 1469598103934665603ULL;

	for (size_t i = 0; i < len; i++)
		h = (h ^ (unsigned char) s[i]) * 1099511628211ULL;
	return hash64(h);
}

static void
intern_grow(void)
{
	size_t		nslots = interns.nslots * 2;
	uint32_t   *slots = xcalloc(nslots, sizeof(uint32_t));

	for (size_t v = 1; v < interns.n; v++)
	{
		size_t		i = text_hash(interns.texts[v], interns.lens[v]) & (nslots - 1);

		while (slots[i] != 0)
			i = (i + 1) & (nslots - 1);
		slots[i] = (uint32_t) v;
	}
	free(interns.slots);
	interns.slots = slots;
	interns.nslots = nslots;
}

uint32_t
intern_value(const char *text, size_t len)
{
	size_t		i;
	uint32_t	v;

	if ((interns.n + 1) * 2 > interns.nslots)
		intern_grow();
	i = text_hash(text, len) & (interns.nslots - 1);
	while ((v = interns.slots[i]) != 0)
	{
		if (interns.lens[v] == len && memcmp(interns.texts[v], text, len) == 0)
			return v;
		i = (i + 1) & (interns.nslots - 1);
	}
	if (interns.n == interns.cap)
	{
		interns.cap *= 2;
		interns.texts = xrealloc(interns.texts, interns.cap * sizeof(char *));
		interns.lens = xrealloc(interns.lens, interns.cap * sizeof(uint32_t));
	}
	v = (uint32_t) interns.n++;
	interns.texts[v] = arena_alloc(&interns.arena, len + 1);
	memcpy(interns.texts[v], text, len);
	interns.texts[v][len] = '\0';
	interns.lens[v] = (uint32_t) len;
	interns.slots[i] = v;
	return v;
}

const char *
intern_text(uint32_t value, size_t *len)
{
	if (value == 0 || value >= interns.n)
	{
		*len = 4;
		return "null";
	}
	*len = interns.lens[value];
	return interns.texts[value];
}

static size_t
slot_of(const ModuleStore *ms, uint64_t id)
{
	size_t		i = hash64(id) & (ms->nslots - 1);
	uint32_t	s;

	while ((s = ms->slots[i]) != 0 && ms->recs[s - 1].id != id)
		i = (i + 1) & (ms->nslots - 1);
	return i;
}

static void
slots_resize(ModuleStore *ms, size_t nslots)
{
	free(ms->slots);
	ms->slots = xcalloc(nslots, sizeof(uint32_t));
	ms->nslots = nslots;
	for (size_t r = 0; r < ms->nrecs; r++)
		ms->slots[slot_of(ms, ms->recs[r].id)] = (uint32_t) (r + 1);
}

static void
slots_grow(ModuleStore *ms)
{
	slots_resize(ms, ms->nslots ? ms->nslots * 2 : 1024);
}

void
store_reserve(int module, size_t n)
{
	ModuleStore *ms = &stores[module];
	size_t		want = ms->nrecs + n;
	size_t		nslots = ms->nslots ? ms->nslots : 1024;

	if (want > ms->caprecs)
	{
		ms->caprecs = want;
		ms->recs = xrealloc(ms->recs, ms->caprecs * sizeof(Record));
	}
	while (want * 2 > nslots)
		nslots *= 2;
	if (nslots != ms->nslots)
		slots_resize(ms, nslots);
}

Record *
store_find(int module, uint64_t id)
{
	ModuleStore *ms = &stores[module];
	uint32_t	s;

	if (ms->nslots == 0)
		return NULL;
	s = ms->slots[slot_of(ms, id)];
	return s ? &ms->recs[s - 1] : NULL;
}

Record *
store_insert(int module, uint64_t id, bool *existed)
{
	ModuleStore *ms = &stores[module];
	Record	   *r = store_find(module, id);
	size_t		slot;

	*existed = (r != NULL);
	if (r)
		return r;
	/* keep the load factor at or below one half */
	if ((ms->nrecs + 1) * 2 > ms->nslots)
		slots_grow(ms);
	if (ms->nrecs == ms->caprecs)
	{
		ms->caprecs = ms->caprecs ? ms->caprecs * 2 : 256;
		ms->recs = xrealloc(ms->recs, ms->caprecs * sizeof(Record));
	}
	slot = slot_of(ms, id);
	r = &ms->recs[ms->nrecs];
	memset(r, 0, sizeof(*r));
	r->id = id;
	ms->slots[slot] = (uint32_t) (++ms->nrecs);
	return r;
}

Record *
store_records(int module, size_t *n)
{
	*n = stores[module].nrecs;
	return stores[module].recs;
}

uint32_t
record_get(const Record *r, int field)
{
	for (int i = 0; i < r->nvals; i++)
		if (r->vals[i].field == field)
			return r->vals[i].value;
	return 0;
}

/* Makes r->vals a malloc'd array of room for n values. */
static void
own_vals(Record *r, int n)
{
	FieldVal   *vals;

	if (r->flags & REC_VALS_MALLOCED)
	{
		r->vals = xrealloc(r->vals, (size_t) (n ? n : 1) * sizeof(FieldVal));
		return;
	}
	vals = xmalloc((size_t) (n ? n : 1) * sizeof(FieldVal));
	if (r->nvals > 0)
		memcpy(vals, r->vals, (size_t) r->nvals * sizeof(FieldVal));
	r->vals = vals;
	r->flags |= REC_VALS_MALLOCED;
}

void
record_set(Record *r, int field, uint32_t value)
{
	for (int i = 0; i < r->nvals; i++)
	{
		if (r->vals[i].field != field)
			continue;
		if (!(r->flags & REC_VALS_MALLOCED))
			own_vals(r, r->nvals);
		if (value != 0)
			r->vals[i].value = value;
		else
			r->vals[i] = r->vals[--r->nvals];
		return;
	}
	if (value == 0)
		return;
	own_vals(r, r->nvals + 1);
	r->vals[r->nvals].field = (uint16_t) field;
	r->vals[r->nvals].value = value;
	r->nvals++;
}

void
record_set_all(int module, Record *r, const FieldVal *vals, int n)
{
	if (r->flags & REC_VALS_MALLOCED)
		free(r->vals);
	r->flags &= (uint8_t) ~REC_VALS_MALLOCED;
	r->vals = NULL;
	r->nvals = 0;
	if (n == 0)
		return;
	r->vals = arena_alloc(&stores[module].vals, (size_t) n * sizeof(FieldVal));
	memcpy(r->vals, vals, (size_t) n * sizeof(FieldVal));
	r->nvals = (uint16_t) n;
}
