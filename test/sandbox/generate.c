/*
 * generate.c
 *		Expanding the fixture's record sets into the store, with --seed.
 *
 * A record set describes many records compactly: module, first_id, count,
 * a created-time range and one value generator per field:
 *   {"const": v}                  the same value everywhere
 *   {"pick": [v, ...]}            one of the values
 *   {"multi": [v, ...], "max": n} 1 to n distinct values, as an array
 *   {"format": "..."}             text; {n} = 1-based index, {id}, {Field}
 *                                 and {Field|lower} = an earlier text value
 *   {"int": [lo, hi]}, {"number": [lo, hi, decimals]}
 *   {"date": [from, to]}, {"datetime": [from, to]}
 *   {"bool": rate}                true with that probability
 *   {"user": true}                an owner object {name, id, email}
 * Any generator may add "null_rate": r (no value with probability r).
 * The choice for a record depends only on (seed, id, field), so --seed N
 * gives the same organisation every time.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "records.h"
#include "util.h"

typedef enum GenKind
{
	G_CONST, G_PICK, G_MULTI, G_FORMAT, G_INT, G_NUMBER, G_DATE, G_DATETIME,
	G_BOOL, G_USER
} GenKind;

typedef struct Gen
{
	GenKind		kind;
	int			field;
	uint64_t	salt;
	double		null_rate;
	uint32_t   *vids;			/* const, pick, user: interned choices */
	const char **raw;			/* pick: the choices' text (or NULL) */
	int			nvids;
	json_t	   *choices;		/* multi */
	int			max;
	const char *fmt;
	int64_t		lo,
				hi;
	int			decimals;
	double		rate;
	StrBuf		last;			/* this record's text value, for {Field} */
} Gen;

typedef struct RecordSet
{
	const Module *m;
	uint64_t	first_id;
	long		count;
	time_t		created_lo,
				created_hi;
	Gen		   *gens;
	int			ngens;
	StrBuf		scratch;		/* format expansion */
} RecordSet;

static uint32_t
intern_user(int u)
{
	StrBuf		sb;
	uint32_t	vid;

	sb_init(&sb, 128);
	sb_puts(&sb, "{\"name\":");
	sb_json_cstring(&sb, g_org->users[u].name);
	sb_puts(&sb, ",\"id\":");
	sb_json_cstring(&sb, g_org->users[u].id);
	sb_puts(&sb, ",\"email\":");
	sb_json_cstring(&sb, g_org->users[u].email);
	sb_putc(&sb, '}');
	vid = intern_value(sb.data, sb.len);
	sb_free(&sb);
	return vid;
}

static int64_t
json_num_or(const json_t *arr, size_t i, int64_t dflt)
{
	json_t	   *v = json_array_get(arr, i);

	if (json_is_integer(v))
		return json_integer_value(v);
	if (json_is_real(v))
		return (int64_t) json_real_value(v);
	return dflt;
}

static time_t
json_time_at(const json_t *arr, size_t i, bool datetime)
{
	const char *s = json_string_value(json_array_get(arr, i));
	time_t		t = 0;

	if (s && !(datetime ? parse_datetime(s, &t) : parse_date(s, &t)))
		t = 0;
	return t;
}

static void
compile_pick(Gen *g, json_t *list)
{
	json_t	   *v;
	size_t		i;

	g->nvids = (int) json_array_size(list);
	g->vids = xcalloc((size_t) g->nvids, sizeof(uint32_t));
	g->raw = xcalloc((size_t) g->nvids, sizeof(char *));
	json_array_foreach(list, i, v)
	{
		g->vids[i] = intern_json(v);
		g->raw[i] = json_string_value(v);
	}
}

static bool
compile_gen(Gen *g, json_t *spec)
{
	json_t	   *v;
	json_t	   *nr = json_object_get(spec, "null_rate");

	g->null_rate = json_is_number(nr) ? json_number_value(nr) : 0;
	if ((v = json_object_get(spec, "const")) != NULL)
	{
		g->kind = G_CONST;
		g->nvids = 1;
		g->vids = xcalloc(1, sizeof(uint32_t));
		g->vids[0] = json_is_null(v) ? 0 : intern_json(v);
		g->raw = xcalloc(1, sizeof(char *));
		g->raw[0] = json_string_value(v);
	}
	else if ((v = json_object_get(spec, "pick")) != NULL && json_array_size(v) > 0)
	{
		g->kind = G_PICK;
		compile_pick(g, v);
	}
	else if ((v = json_object_get(spec, "multi")) != NULL && json_array_size(v) > 0)
	{
		json_t	   *max = json_object_get(spec, "max");

		g->kind = G_MULTI;
		g->choices = v;
		g->max = json_is_integer(max) ? (int) json_integer_value(max) : 2;
		if (g->max < 1)
			g->max = 1;
	}
	else if ((v = json_object_get(spec, "format")) != NULL && json_is_string(v))
	{
		g->kind = G_FORMAT;
		g->fmt = json_string_value(v);
	}
	else if ((v = json_object_get(spec, "int")) != NULL)
	{
		g->kind = G_INT;
		g->lo = json_num_or(v, 0, 0);
		g->hi = json_num_or(v, 1, g->lo);
	}
	else if ((v = json_object_get(spec, "number")) != NULL)
	{
		g->kind = G_NUMBER;
		g->lo = json_num_or(v, 0, 0);
		g->hi = json_num_or(v, 1, g->lo);
		g->decimals = (int) json_num_or(v, 2, 2);
	}
	else if ((v = json_object_get(spec, "date")) != NULL ||
			 (v = json_object_get(spec, "datetime")) != NULL)
	{
		bool		dt = json_object_get(spec, "datetime") != NULL;

		g->kind = dt ? G_DATETIME : G_DATE;
		g->lo = json_time_at(v, 0, dt);
		g->hi = json_time_at(v, 1, dt);
	}
	else if ((v = json_object_get(spec, "bool")) != NULL && json_is_number(v))
	{
		g->kind = G_BOOL;
		g->rate = json_number_value(v);
	}
	else if (json_object_get(spec, "user") != NULL)
	{
		g->kind = G_USER;
		g->nvids = g_org->nusers;
		g->vids = xcalloc((size_t) g->nvids, sizeof(uint32_t));
		for (int u = 0; u < g->nvids; u++)
			g->vids[u] = intern_user(u);
	}
	else
		return false;
	return true;
}

static void
free_gens(RecordSet *rs)
{
	for (int i = 0; i < rs->ngens; i++)
	{
		free(rs->gens[i].vids);
		free(rs->gens[i].raw);
		sb_free(&rs->gens[i].last);
	}
	free(rs->gens);
	sb_free(&rs->scratch);
}

static bool
compile_set(RecordSet *rs, json_t *spec, uint64_t seed)
{
	const char *mname = json_string_value(json_object_get(spec, "module"));
	json_t	   *count = json_object_get(spec, "count");
	json_t	   *created = json_object_get(spec, "created");
	json_t	   *values = json_object_get(spec, "values");
	const char *field;
	json_t	   *gspec;

	memset(rs, 0, sizeof(*rs));
	rs->m = mname ? org_module(mname) : NULL;
	if (rs->m == NULL || !json_is_integer(count) ||
		!json_to_id(json_object_get(spec, "first_id"), &rs->first_id))
		return false;
	rs->count = (long) json_integer_value(count);
	rs->created_lo = json_time_at(created, 0, true);
	rs->created_hi = json_time_at(created, 1, true);
	if (rs->created_lo == 0)
		rs->created_lo = rs->created_hi = 1704067200;	/* 2024-01-01 */
	rs->gens = xcalloc(json_object_size(values) + 1, sizeof(Gen));
	sb_init(&rs->scratch, 256);
	json_object_foreach(values, field, gspec)
	{
		Gen		   *g = &rs->gens[rs->ngens];

		g->field = module_field_index(rs->m, field);
		if (g->field < 0)
		{
			fprintf(stderr, "zcrm-sandbox: fixture: record set of %s: unknown field %s\n",
					rs->m->api_name, field);
			continue;
		}
		g->salt = hash64(seed ^ hash_str(field));
		if (!compile_gen(g, gspec))
		{
			fprintf(stderr, "zcrm-sandbox: fixture: bad generator for %s.%s\n",
					rs->m->api_name, field);
			free(g->vids);
			free(g->raw);
			memset(g, 0, sizeof(*g));
			continue;
		}
		rs->ngens++;
	}
	return true;
}

static const char *
find_last(RecordSet *rs, const char *name, size_t len)
{
	for (int i = 0; i < rs->ngens; i++)
	{
		const char *api = rs->m->fields[rs->gens[i].field].api_name;

		if (strlen(api) == len && strncmp(api, name, len) == 0)
			return rs->gens[i].last.data ? rs->gens[i].last.data : "";
	}
	return "";
}

/* Expands a format string; the result is raw text (not JSON). */
static void
expand_format(StrBuf *out, RecordSet *rs, const char *fmt, long n, uint64_t id)
{
	const char *p = fmt;

	while (*p)
	{
		const char *close;

		if (*p != '{' || (close = strchr(p, '}')) == NULL)
		{
			sb_putc(out, *p++);
			continue;
		}
		{
			const char *name = p + 1;
			size_t		len = (size_t) (close - name);
			bool		lower = false;
			const char *bar = memchr(name, '|', len);

			if (bar)
			{
				lower = strncmp(bar, "|lower}", 7) == 0;
				len = (size_t) (bar - name);
			}
			if (len == 1 && name[0] == 'n')
				sb_printf(out, "%ld", n);
			else if (len == 2 && strncmp(name, "id", 2) == 0)
				sb_printf(out, "%llu", (unsigned long long) id);
			else
			{
				const char *s = find_last(rs, name, len);

				for (; *s; s++)
				{
					if (lower && *s == ' ')
						continue;
					sb_putc(out, (char) ((lower && *s >= 'A' && *s <= 'Z') ? *s + 32 : *s));
				}
			}
			p = close + 1;
		}
	}
}

static void
set_last(Gen *g, const char *s)
{
	if (g->last.data == NULL)
		sb_init(&g->last, 64);
	g->last.len = 0;
	g->last.data[0] = '\0';
	if (s)
		sb_puts(&g->last, s);
}

static uint32_t
gen_multi(Gen *g, uint64_t h)
{
	size_t		n = json_array_size(g->choices);
	int			k = 1 + (int) ((h >> 8) % (uint64_t) g->max);
	json_t	   *arr = json_array();
	uint32_t	vid;

	for (int i = 0; i < k && (size_t) i < n; i++)
		json_array_append(arr, json_array_get(g->choices, (size_t) ((h + (uint64_t) i) % n)));
	vid = intern_json(arr);
	json_decref(arr);
	return vid;
}

/* The value id for one generated field of one record (0: no value). */
static uint32_t
gen_value(RecordSet *rs, Gen *g, long n, uint64_t id, StrBuf *tmp)
{
	uint64_t	h = hash64(g->salt ^ hash64(id));
	char		buf[64];

	set_last(g, NULL);
	if (g->null_rate > 0 && (double) (h % 1000000) / 1e6 < g->null_rate)
		return 0;
	h = hash64(h);
	tmp->len = 0;
	switch (g->kind)
	{
		case G_CONST:
		case G_PICK:
		case G_USER:
			{
				int			i = g->kind == G_CONST ? 0 : (int) (h % (uint64_t) g->nvids);

				if (g->raw)
					set_last(g, g->raw[i]);
				return g->vids[i];
			}
		case G_MULTI:
			return gen_multi(g, h);
		case G_FORMAT:
			{
				StrBuf	   *text = &rs->scratch;

				text->len = 0;
				expand_format(text, rs, g->fmt, n, id);
				sb_json_string(tmp, text->data, text->len);
				set_last(g, text->data);
				break;
			}
		case G_INT:
			sb_printf(tmp, "%lld", (long long) (g->lo + (int64_t) (h % (uint64_t) (g->hi - g->lo + 1))));
			break;
		case G_NUMBER:
			{
				double		scale = pow(10, g->decimals);
				double		span = (double) (g->hi - g->lo) * scale;
				double		v = (double) g->lo + floor((double) (h % (uint64_t) (span + 1))) / scale;

				sb_printf(tmp, "%.*f", g->decimals, v);
				break;
			}
		case G_DATE:
		case G_DATETIME:
			{
				uint64_t	span = (uint64_t) (g->hi - g->lo) + 1;
				time_t		t = (time_t) (g->lo + (int64_t) (h % span));

				if (g->kind == G_DATE)
					format_date(t - t % 86400, buf);
				else
					format_time(t, buf);
				sb_json_cstring(tmp, buf);
				break;
			}
		case G_BOOL:
			sb_puts(tmp, (double) (h % 1000000) / 1e6 < g->rate ? "true" : "false");
			break;
	}
	return intern_value(tmp->data, tmp->len);
}

static void
expand_set(RecordSet *rs, uint64_t seed)
{
	FieldVal   *vals = xcalloc((size_t) rs->ngens + 1, sizeof(FieldVal));
	int			owner = module_field_index(rs->m, "Owner");
	StrBuf		tmp;

	sb_init(&tmp, 256);
	store_reserve(rs->m->index, (size_t) rs->count);
	for (long n = 1; n <= rs->count; n++)
	{
		uint64_t	id = rs->first_id + (uint64_t) (n - 1);
		uint64_t	h = hash64(seed ^ hash64(id));
		bool		existed;
		Record	   *r;
		int			nv = 0;
		int			created_by = (int) (h % (uint64_t) g_org->nusers);

		for (int i = 0; i < rs->ngens; i++)
		{
			Gen		   *g = &rs->gens[i];
			uint32_t	vid = gen_value(rs, g, n, id, &tmp);

			if (vid == 0)
				continue;
			vals[nv].field = (uint16_t) g->field;
			vals[nv].value = vid;
			nv++;
			if (g->field == owner && g->kind == G_USER)
			{
				/* the owner created the record */
				for (int u = 0; u < g->nvids; u++)
					if (g->vids[u] == vid)
						created_by = u;
			}
		}
		r = store_insert(rs->m->index, id, &existed);
		record_set_all(rs->m->index, r, vals, nv);
		r->created = (uint32_t) (rs->created_lo +
								 (time_t) (h % (uint64_t) (rs->created_hi - rs->created_lo + 1)));
		r->modified = r->created + (uint32_t) ((h >> 20) % (86400 * 30));
		if ((time_t) r->modified > rs->created_hi && rs->created_hi > (time_t) r->created)
			r->modified = (uint32_t) rs->created_hi;
		r->created_by = (uint8_t) created_by;
		r->modified_by = (uint8_t) created_by;
		r->flags &= REC_VALS_MALLOCED;
	}
	sb_free(&tmp);
	free(vals);
}

static void
apply_flags(json_t *flags)
{
	json_t	   *f;
	size_t		i;

	json_array_foreach(flags, i, f)
	{
		Module	   *m = org_module(json_string_value(json_object_get(f, "module")) ?: "");
		uint64_t	id;
		Record	   *r;

		if (m == NULL || !json_to_id(json_object_get(f, "id"), &id) ||
			(r = store_find(m->index, id)) == NULL)
		{
			fprintf(stderr, "zcrm-sandbox: fixture: record flag for an unknown record\n");
			continue;
		}
		if (json_is_true(json_object_get(f, "blueprint")))
			r->flags |= REC_BLUEPRINT;
		if (json_is_true(json_object_get(f, "locked")))
			r->flags |= REC_LOCKED;
		if (json_is_false(json_object_get(f, "approved")))
			r->flags |= REC_NOT_APPROVED;
	}
}

void
records_load_fixture(uint64_t seed)
{
	json_t	   *sets = json_object_get(g_org->root, "record_sets");
	json_t	   *spec;
	size_t		i;

	store_wrlock();
	store_clear();
	json_array_foreach(sets, i, spec)
	{
		RecordSet	rs;

		if (!compile_set(&rs, spec, seed))
		{
			fprintf(stderr, "zcrm-sandbox: fixture: bad record set %zu\n", i);
			continue;
		}
		expand_set(&rs, seed);
		free_gens(&rs);
	}
	apply_flags(json_object_get(g_org->root, "record_flags"));
	store_unlock();
}

