/*
 * update.c
 *		Applying a validated mass update to one record.
 */
#include <stdlib.h>
#include <string.h>

#include "update.h"
#include "util.h"

void
mu_free(MassUpdate *mu)
{
	for (int i = 0; i < mu->nfields; i++)
		json_decref(mu->fields[i].value);
	free(mu->fields);
	mu->fields = NULL;
	mu->nfields = 0;
}

void
mu_copy(MassUpdate *dst, const MassUpdate *src)
{
	*dst = *src;
	dst->fields = xcalloc((size_t) src->nfields + 1, sizeof(FieldUpdate));
	for (int i = 0; i < src->nfields; i++)
	{
		dst->fields[i] = src->fields[i];
		/* a private copy: the job thread outlives the request */
		dst->fields[i].value = json_deep_copy(src->fields[i].value);
	}
}

void
mu_prepare(MassUpdate *mu)
{
	for (int i = 0; i < mu->nfields; i++)
	{
		FieldUpdate *fu = &mu->fields[i];
		size_t		len;
		char	   *text;

		fu->cache_old = fu->cache_new = 0;
		if (json_is_null(fu->value))
		{
			fu->vid = 0;
			continue;
		}
		text = value_to_text(fu->value, &len);
		fu->vid = intern_value(text, len);
		free(text);
	}
}

static bool
array_has(const json_t *arr, const json_t *v)
{
	size_t		i;
	json_t	   *item;

	json_array_foreach(arr, i, item)
	{
		if (json_equal(item, v))
			return true;
	}
	return false;
}

/* Multi-select with over_write false: the old values, then the new ones not yet there. */
static uint32_t
append_values(FieldUpdate *fu, uint32_t old)
{
	size_t		len;
	const char *text;
	json_t	   *merged;
	json_t	   *item;
	size_t		i;
	char	   *out;
	uint32_t	vid;

	if (old != 0 && old == fu->cache_old)
		return fu->cache_new;
	text = intern_text(old, &len);
	merged = old ? json_loadb(text, len, 0, NULL) : NULL;
	if (!json_is_array(merged))
	{
		json_decref(merged);
		merged = json_array();
	}
	json_array_foreach(fu->value, i, item)
	{
		if (!array_has(merged, item))
			json_array_append(merged, item);
	}
	out = value_to_text(merged, &len);
	vid = intern_value(out, len);
	free(out);
	json_decref(merged);
	fu->cache_old = old;
	fu->cache_new = vid;
	return vid;
}

RecordOutcome
mu_apply(MassUpdate *mu, Record *r, time_t now, bool check_only)
{
	if (r == NULL)
		return RO_INVALID_ID;
	if (r->flags & REC_LOCKED)
		return RO_LOCKED;
	if (r->flags & REC_NOT_APPROVED)
		return RO_NOT_APPROVED;
	if (r->flags & REC_BLUEPRINT)
	{
		for (int i = 0; i < mu->nfields; i++)
			if (mu->fields[i].f->blueprint)
				return RO_BLUEPRINT;
	}
	if (check_only)
		return RO_SUCCESS;
	for (int i = 0; i < mu->nfields; i++)
	{
		FieldUpdate *fu = &mu->fields[i];
		uint32_t	vid = fu->vid;

		if (fu->f->type == FT_MULTISELECT && !mu->over_write && vid != 0)
			vid = append_values(fu, record_get(r, fu->field));
		record_set(r, fu->field, vid);
	}
	r->modified = (uint32_t) now;
	r->modified_by = (uint8_t) mu->user;
	return RO_SUCCESS;
}
