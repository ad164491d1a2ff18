/*
 * records.c
 *		Records outside the fixture's expansion: bulk creation for
 *		POST /__sandbox/records, and the JSON of records and users.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "records.h"
#include "util.h"

/* {"name":..,"id":..} of each user, built once: every success entry has two */
static char **user_json = NULL;
static size_t *user_json_len = NULL;

void
records_init(void)
{
	user_json = xcalloc((size_t) g_org->nusers, sizeof(char *));
	user_json_len = xcalloc((size_t) g_org->nusers, sizeof(size_t));
	for (int u = 0; u < g_org->nusers; u++)
	{
		StrBuf		sb;

		sb_init(&sb, 128);
		sb_puts(&sb, "{\"name\":");
		sb_json_cstring(&sb, g_org->users[u].name);
		sb_puts(&sb, ",\"id\":");
		sb_json_cstring(&sb, g_org->users[u].id);
		sb_putc(&sb, '}');
		user_json[u] = sb_steal(&sb, &user_json_len[u]);
	}
}

uint32_t
intern_json(const json_t *v)
{
	size_t		len;
	char	   *text = value_to_text(v, &len);
	uint32_t	vid = intern_value(text, len);

	free(text);
	return vid;
}

long
records_create(const Module *m, uint64_t first_id, long count, json_t *values,
			   char *err, size_t errlen)
{
	FieldVal   *vals;
	const char *key;
	json_t	   *v;
	int			nv = 0;
	time_t		now = time(NULL);

	if (values != NULL && !json_is_object(values))
	{
		snprintf(err, errlen, "values must be an object");
		return -1;
	}
	if (count < 0 || (uint64_t) count > (uint64_t) INT64_MAX - first_id)
	{
		snprintf(err, errlen, "count out of range");
		return -1;
	}
	json_object_foreach(values, key, v)
	{
		if (module_field_index(m, key) < 0)
		{
			snprintf(err, errlen, "unknown field %s in module %s", key, m->api_name);
			return -1;
		}
	}
	vals = xcalloc(json_object_size(values) + 1, sizeof(FieldVal));
	store_wrlock();
	store_reserve(m->index, (size_t) count);
	json_object_foreach(values, key, v)
	{
		if (json_is_null(v))
			continue;
		vals[nv].field = (uint16_t) module_field_index(m, key);
		vals[nv].value = intern_json(v);
		nv++;
	}
	for (long n = 0; n < count; n++)
	{
		bool		existed;
		Record	   *r = store_insert(m->index, first_id + (uint64_t) n, &existed);

		record_set_all(m->index, r, vals, nv);
		r->created = r->modified = (uint32_t) now;
		r->created_by = r->modified_by = 0;
		r->flags &= REC_VALS_MALLOCED;
	}
	store_unlock();
	free(vals);
	return count;
}

void
records_free(void)
{
	for (int u = 0; user_json && u < g_org->nusers; u++)
		free(user_json[u]);
	free(user_json);
	free(user_json_len);
	user_json = NULL;
	user_json_len = NULL;
}

void
user_to_json(StrBuf *sb, int user)
{
	sb_append(sb, user_json[user], user_json_len[user]);
}

static void
put_key(StrBuf *sb, const char *key)
{
	sb_putc(sb, ',');
	sb_json_cstring(sb, key);
	sb_putc(sb, ':');
}

void
record_to_json(StrBuf *sb, const Module *m, const Record *r)
{
	char		buf[32];

	sb_puts(sb, "{\"id\":");
	sb_json_id(sb, r->id);
	for (int i = 0; i < m->nfields; i++)
	{
		const char *api = m->fields[i].api_name;
		size_t		len;
		const char *text;

		if (strcmp(api, "id") == 0 || strcmp(api, "Created_Time") == 0 ||
			strcmp(api, "Modified_Time") == 0 || strcmp(api, "Created_By") == 0 ||
			strcmp(api, "Modified_By") == 0 || strcmp(api, "Locked__s") == 0)
			continue;
		text = intern_text(record_get(r, i), &len);
		put_key(sb, api);
		sb_append(sb, text, len);
	}
	format_time((time_t) r->created, buf);
	put_key(sb, "Created_Time");
	sb_json_cstring(sb, buf);
	put_key(sb, "Created_By");
	user_to_json(sb, r->created_by);
	format_time((time_t) r->modified, buf);
	put_key(sb, "Modified_Time");
	sb_json_cstring(sb, buf);
	put_key(sb, "Modified_By");
	user_to_json(sb, r->modified_by);
	put_key(sb, "Locked__s");
	sb_puts(sb, (r->flags & REC_LOCKED) ? "true" : "false");
	put_key(sb, "$locked_for_me");
	sb_puts(sb, (r->flags & REC_LOCKED) ? "true" : "false");
	put_key(sb, "$process_flow");
	sb_puts(sb, (r->flags & REC_BLUEPRINT) ? "true" : "false");
	put_key(sb, "$approved");
	sb_puts(sb, (r->flags & REC_NOT_APPROVED) ? "false" : "true");
	put_key(sb, "$approval_state");
	sb_puts(sb, (r->flags & REC_NOT_APPROVED) ? "\"approval_process_pending\"" : "\"approved\"");
	put_key(sb, "$editable");
	sb_puts(sb, "true");
	sb_putc(sb, '}');
}
