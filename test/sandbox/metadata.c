/*
 * metadata.c
 *		GET /crm/{v}/{module}/{id} and the settings endpoints (fields,
 *		custom_views, territories), answered from the fixture and the store.
 */
#include <stdio.h>
#include <string.h>

#include "crm.h"
#include "records.h"
#include "store.h"
#include "util.h"

void
record_get_handler(CrmRequest *req, const char *id_text, Response *out)
{
	uint64_t	id;
	Record	   *r = NULL;
	StrBuf		sb;

	sb_init(&sb, 4096);
	store_rdlock();
	if (parse_id(id_text, strlen(id_text), &id))
		r = store_find(req->module->index, id);
	if (r)
	{
		sb_puts(&sb, "{\"data\":[");
		record_to_json(&sb, req->module, r);
		sb_puts(&sb, "]}");
	}
	store_unlock();
	if (r == NULL)
	{
		sb_free(&sb);
		resp_error(out, 400, "INVALID_DATA", "the id given seems to be invalid",
				   json_pack("{s:s}", "id", id_text));
		return;
	}
	resp_text(out, 200, &sb);
}

/* The module of ?module=; NULL with the error answer set. */
static const Module *
module_param(CrmRequest *req, Response *out)
{
	const char *name = params_get(req->query, "module");
	const Module *m;

	if (name == NULL || name[0] == '\0')
	{
		resp_error(out, 400, "MANDATORY_NOT_FOUND", "required param not found",
				   json_pack("{s:s}", "param_name", "module"));
		return NULL;
	}
	m = org_module(name);
	if (m == NULL)
	{
		resp_error(out, 400, "INVALID_MODULE", "the module name given seems to be invalid",
				   json_pack("{s:s}", "param_name", "module"));
		return NULL;
	}
	return m;
}

void
settings_fields(CrmRequest *req, Response *out)
{
	const Module *m = module_param(req, out);
	json_t	   *fields;

	if (m == NULL)
		return;
	fields = json_array();
	for (int i = 0; i < m->nfields; i++)
		json_array_append_new(fields, field_meta(&m->fields[i]));
	resp_json(out, 200, json_pack("{s:o}", "fields", fields));
}

static json_t *
info_object(size_t count, const char *dflt)
{
	json_t	   *info = json_pack("{s:i, s:I, s:i, s:b}", "per_page", 200,
								 "count", (json_int_t) count, "page", 1,
								 "more_records", 0);

	if (dflt)
		json_object_set_new(info, "default", json_string(dflt));
	return info;
}

void
settings_custom_views(CrmRequest *req, Response *out)
{
	const Module *m = module_param(req, out);
	json_t	   *views;
	const char *dflt = NULL;

	if (m == NULL)
		return;
	views = json_array();
	for (int i = 0; i < g_org->nviews; i++)
	{
		if (g_org->views[i].module != m->index)
			continue;
		json_array_append_new(views, json_deep_copy(g_org->views[i].meta));
		if (dflt == NULL)
			dflt = json_string_value(json_object_get(g_org->views[i].meta, "id"));
	}
	resp_json(out, 200, json_pack("{s:o, s:o}", "custom_views", views,
								  "info", info_object(json_array_size(views), dflt)));
}

void
settings_territories(CrmRequest *req, Response *out)
{
	json_t	   *terrs = json_array();

	for (int i = 0; i < g_org->nterritories; i++)
		json_array_append_new(terrs, json_deep_copy(g_org->territories[i].meta));
	resp_json(out, 200, json_pack("{s:o, s:o}", "territories", terrs,
								  "info", info_object(json_array_size(terrs), NULL)));
}
