/*
 * control.c
 *		The /__sandbox/ endpoints: stats, reset, faults, requests, records.
 *
 * They are not CRM requests: no token, no faults, not counted or logged.
 * Success answers {"ok": true} (records: {"created": n}); a bad request
 * answers {"ok": false, "error": "..."} with 400 or 404.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "control.h"
#include "jobs.h"
#include "limits.h"
#include "oauth.h"
#include "options.h"
#include "records.h"
#include "reqlog.h"
#include "stats.h"
#include "store.h"
#include "util.h"

#define PREFIX "/__sandbox/"

void
sandbox_reset(void)
{
	jobs_cancel_all();
	records_load_fixture(g_opts.seed);
	limits_reset();
	oauth_reset_windows();
	stats_reset();
	reqlog_reset();
}

/* The body as a JSON object ({} when empty); NULL with the error answer set. */
static json_t *
body_object(const char *body, size_t len, Response *out)
{
	json_t	   *obj;

	if (len == 0)
		return json_object();
	obj = json_loadb(body, len, 0, NULL);
	if (!json_is_object(obj))
	{
		json_decref(obj);
		resp_control_error(out, 400, "the body must be a JSON object");
		return NULL;
	}
	return obj;
}

static void
get_requests(const Params *query, Response *out)
{
	const char *text = params_get(query, "limit");
	long		limit = 100;
	StrBuf		sb;

	if (text)
	{
		char	   *end;

		limit = strtol(text, &end, 10);
		if (*text == '\0' || *end != '\0' || limit < 0)
		{
			resp_control_error(out, 400, "limit must be a non-negative integer");
			return;
		}
	}
	sb_init(&sb, 4096);
	reqlog_to_json(&sb, limit);
	resp_text(out, 200, &sb);
}

static void
post_faults(const char *body, size_t len, Response *out)
{
	json_t	   *obj = body_object(body, len, out);
	char		err[256];

	if (obj == NULL)
		return;
	if (limits_update(obj, err, sizeof(err)))
		resp_ok(out);
	else
		resp_control_error(out, 400, err);
	json_decref(obj);
}

static void
post_records(const char *body, size_t len, Response *out)
{
	json_t	   *obj = body_object(body, len, out);
	const Module *m;
	json_t	   *count;
	uint64_t	first_id;
	long		created;
	char		err[256];

	if (obj == NULL)
		return;
	m = org_module(json_string_value(json_object_get(obj, "module")) ?: "");
	count = json_object_get(obj, "count");
	if (m == NULL)
		resp_control_error(out, 400, "module must name a module of the fixture");
	else if (!json_is_integer(count) || json_integer_value(count) < 0 ||
			 json_integer_value(count) > 100000000)
		resp_control_error(out, 400, "count must be an integer from 0 to 100000000");
	else if (!json_is_string(json_object_get(obj, "first_id")) ||
			 !json_to_id(json_object_get(obj, "first_id"), &first_id))
		resp_control_error(out, 400, "first_id must be a string of digits");
	else if ((created = records_create(m, first_id, (long) json_integer_value(count),
									   json_object_get(obj, "values"), err, sizeof(err))) < 0)
		resp_control_error(out, 400, err);
	else
		resp_json(out, 200, json_pack("{s:I}", "created", (json_int_t) created));
	json_decref(obj);
}

/* Checks a PATCH body before anything changes; false with err set. */
static bool
check_patch(const Module *m, json_t *obj, char *err, size_t errlen)
{
	static const char *const flags[] = {"blueprint", "locked", "approved"};
	json_t	   *values = json_object_get(obj, "values");
	const char *key;
	json_t	   *v;

	for (size_t i = 0; i < sizeof(flags) / sizeof(flags[0]); i++)
	{
		v = json_object_get(obj, flags[i]);
		if (v != NULL && !json_is_boolean(v))
		{
			snprintf(err, errlen, "%s must be true or false", flags[i]);
			return false;
		}
	}
	if (values != NULL && !json_is_object(values))
	{
		snprintf(err, errlen, "values must be an object");
		return false;
	}
	json_object_foreach(values, key, v)
	{
		if (module_field_index(m, key) < 0)
		{
			snprintf(err, errlen, "unknown field %s in module %s", key, m->api_name);
			return false;
		}
	}
	return true;
}

static void
set_values(const Module *m, Record *r, json_t *values)
{
	const char *key;
	json_t	   *v;

	json_object_foreach(values, key, v)
	{
		int			fi = module_field_index(m, key);
		size_t		len;
		char	   *text;

		if (json_is_null(v))
		{
			record_set(r, fi, 0);
			continue;
		}
		text = value_to_text(v, &len);
		record_set(r, fi, intern_value(text, len));
		free(text);
	}
}

static void
set_flag(Record *r, json_t *obj, const char *key, uint8_t flag, bool when)
{
	json_t	   *v = json_object_get(obj, key);

	if (!json_is_boolean(v))
		return;
	if (json_is_true(v) == when)
		r->flags |= flag;
	else
		r->flags &= (uint8_t) ~flag;
}

/* PATCH records/{module}/{id} and GET of the same (record plus flags). */
static void
one_record(const char *method, const char *rest, const char *body, size_t len, Response *out)
{
	char		module[256];
	const char *slash = strchr(rest, '/');
	const Module *m;
	uint64_t	id;
	Record	   *r;
	json_t	   *obj = NULL;
	json_t	   *values;
	char		err[256] = "";
	StrBuf		sb;

	if (slash == NULL || (size_t) (slash - rest) >= sizeof(module))
	{
		resp_control_error(out, 404, "expected records/{module}/{id}");
		return;
	}
	snprintf(module, sizeof(module), "%.*s", (int) (slash - rest), rest);
	if ((m = org_module(module)) == NULL || !parse_id(slash + 1, strlen(slash + 1), &id))
	{
		resp_control_error(out, 404, "unknown module or malformed id");
		return;
	}
	if (strcmp(method, "PATCH") == 0 && (obj = body_object(body, len, out)) == NULL)
		return;
	if (obj && !check_patch(m, obj, err, sizeof(err)))
	{
		json_decref(obj);
		resp_control_error(out, 400, err);
		return;
	}
	values = obj ? json_object_get(obj, "values") : NULL;
	sb_init(&sb, 1024);
	store_wrlock();
	r = store_find(m->index, id);
	if (r && obj)
	{
		set_flag(r, obj, "blueprint", REC_BLUEPRINT, true);
		set_flag(r, obj, "locked", REC_LOCKED, true);
		set_flag(r, obj, "approved", REC_NOT_APPROVED, false);
		if (values)
			set_values(m, r, values);
	}
	if (r && !obj)
	{
		sb_printf(&sb, "{\"blueprint\":%s,\"locked\":%s,\"approved\":%s,\"record\":",
				  (r->flags & REC_BLUEPRINT) ? "true" : "false",
				  (r->flags & REC_LOCKED) ? "true" : "false",
				  (r->flags & REC_NOT_APPROVED) ? "false" : "true");
		record_to_json(&sb, m, r);
		sb_putc(&sb, '}');
	}
	store_unlock();
	json_decref(obj);
	if (r == NULL)
		resp_control_error(out, 404, "no such record");
	else if (sb.len > 0)
	{
		resp_text(out, 200, &sb);
		return;
	}
	else
		resp_ok(out);
	sb_free(&sb);
}

void
control_handle(const char *method, const char *path, const Params *query,
			   const char *body, size_t body_len, Response *out)
{
	const char *what = path + strlen(PREFIX);
	bool		get = strcmp(method, "GET") == 0;
	bool		post = strcmp(method, "POST") == 0;

	if (strcmp(what, "stats") == 0 && get)
	{
		json_t	   *stats = stats_to_json();

		json_object_set_new(stats, "faults", limits_to_json());
		resp_json(out, 200, stats);
	}
	else if (strcmp(what, "reset") == 0 && post)
	{
		sandbox_reset();
		resp_ok(out);
	}
	else if (strcmp(what, "faults") == 0 && post)
		post_faults(body, body_len, out);
	else if (strcmp(what, "requests") == 0 && get)
		get_requests(query, out);
	else if (strcmp(what, "records") == 0 && post)
		post_records(body, body_len, out);
	else if (strncmp(what, "records/", 8) == 0 &&
			 (get || strcmp(method, "PATCH") == 0))
		one_record(method, what + 8, body, body_len, out);
	else
		resp_control_error(out, 404, "unknown control endpoint or method");
}
