/*
 * mass_update.c
 *		POST /crm/{v}/{module}/actions/mass_update (by ids or by cvid) and
 *		GET .../actions/mass_update?job_id= (reference sections 1 to 3).
 *
 * Request-level problems answer the flat error envelope before anything
 * changes; per-record outcomes go in data[], in the order of the ids.
 * Status of an ids call: v2 to v7 answer 200 unless every record failed
 * (400); v8 answers 200 all success, 207 mixed, 400 all failed.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "crm.h"
#include "fields.h"
#include "jobs.h"
#include "records.h"
#include "stats.h"
#include "store.h"
#include "update.h"
#include "util.h"

typedef struct IdResult
{
	uint64_t	id;
	char	   *echo;			/* an id that is not one, as given */
	RecordOutcome outcome;
	uint32_t	created;
	uint8_t		created_by;
} IdResult;

static json_t *
path_details(const char *api_name, const char *json_path)
{
	return json_pack("{s:s, s:s}", "api_name", api_name, "json_path", json_path);
}

static void
invalid_field(Response *out, const char *name, const char *message, const char *key, json_t *extra)
{
	char		jpath[512];
	json_t	   *d;

	snprintf(jpath, sizeof(jpath), "$.data[0].%s", name);
	d = path_details(name, jpath);
	if (key)
		json_object_set_new(d, key, extra);
	resp_error(out, 400, "INVALID_DATA", message, d);
}

/*
 * Checks "data" and its fields and fills mu.  False with the error answer
 * set when the request must be refused.
 */
static bool
parse_fields(CrmRequest *req, json_t *body, MassUpdate *mu, Response *out)
{
	json_t	   *data = json_object_get(body, "data");
	json_t	   *rec;
	json_t	   *v;
	const char *name;

	if (data == NULL || json_is_null(data))
	{
		resp_error(out, 400, "MANDATORY_NOT_FOUND", "required field not found",
				   path_details("data", "$.data"));
		return false;
	}
	if (!json_is_array(data) || json_array_size(data) != 1 ||
		!json_is_object(json_array_get(data, 0)))
	{
		json_t	   *d = path_details("data", "$.data");

		if (json_is_array(data) && json_array_size(data) > 1)
			json_object_set_new(d, "maximum_length", json_integer(1));
		else
			json_object_set_new(d, "expected_data_type", json_string("jsonarray"));
		resp_error(out, 400, "INVALID_DATA", "invalid data", d);
		return false;
	}
	rec = json_array_get(data, 0);
	if (json_object_size(rec) == 0)
	{
		resp_error(out, 400, "INVALID_DATA", "No field found", NULL);
		return false;
	}
	if (json_object_size(rec) > (size_t) req->module->max_fields)
	{
		resp_error(out, 400, "INVALID_DATA", "Max field limit exceeded",
				   json_pack("{s:i}", "limit", req->module->max_fields));
		return false;
	}
	mu->m = req->module;
	mu->fields = xcalloc(json_object_size(rec), sizeof(FieldUpdate));
	json_object_foreach(rec, name, v)
	{
		int			fi = module_field_index(req->module, name);
		const Field *f = fi >= 0 ? &req->module->fields[fi] : NULL;
		ValueProblem vp;

		if (f == NULL || !f->mass_update)
		{
			invalid_field(out, name, "This field cannot be updated in the Mass Update", NULL, NULL);
			return false;
		}
		vp = field_check_value(f, v);
		if (vp == VALUE_WRONG_TYPE)
		{
			invalid_field(out, name, "invalid data", "expected_data_type", json_string(f->data_type));
			return false;
		}
		if (vp == VALUE_TOO_LONG)
		{
			invalid_field(out, name, "invalid data", "maximum_length", json_integer(f->length));
			return false;
		}
		mu->fields[mu->nfields].field = fi;
		mu->fields[mu->nfields].f = f;
		mu->fields[mu->nfields].value = json_incref(v);
		mu->nfields++;
	}
	v = json_object_get(body, "over_write");
	if (v != NULL && !json_is_boolean(v))
	{
		resp_error(out, 400, "INVALID_DATA", "invalid data",
				   json_pack("{s:s, s:s, s:s}", "api_name", "over_write",
							 "json_path", "$.over_write", "expected_data_type", "boolean"));
		return false;
	}
	mu->over_write = json_is_true(v);
	mu->user = g_org->clients[req->client].user;
	return true;
}

static const char *const outcome_codes[] = {
	"SUCCESS", "INVALID_DATA", "RECORD_LOCKED", "NOT_APPROVED", "RECORD_IN_BLUEPRINT"
};
static const char *const outcome_messages[] = {
	"record updated",
	"the id given seems to be invalid",
	"Sorry, you cannot perform this operation as the record is locked.",
	"record not approved",
	"The record is in blue print"
};

static void
result_to_json(StrBuf *sb, const IdResult *r, const char *modified, const MassUpdate *mu)
{
	char		created[32];

	sb_puts(sb, "{\"code\":\"");
	sb_puts(sb, outcome_codes[r->outcome]);
	sb_puts(sb, "\",\"details\":{");
	switch (r->outcome)
	{
		case RO_SUCCESS:
			format_time((time_t) r->created, created);
			sb_puts(sb, "\"Modified_Time\":");
			sb_json_cstring(sb, modified);
			sb_puts(sb, ",\"Modified_By\":");
			user_to_json(sb, mu->user);
			sb_puts(sb, ",\"Created_Time\":");
			sb_json_cstring(sb, created);
			sb_puts(sb, ",\"id\":");
			sb_json_id(sb, r->id);
			sb_puts(sb, ",\"Created_By\":");
			user_to_json(sb, r->created_by);
			break;
		case RO_LOCKED:
			sb_puts(sb, "\"action\":\"record_locking\",\"id\":");
			sb_json_id(sb, r->id);
			break;
		case RO_INVALID_ID:
			sb_puts(sb, "\"id\":");
			if (r->echo)
				sb_json_cstring(sb, r->echo);
			else
				sb_json_id(sb, r->id);
			break;
		default:
			sb_puts(sb, "\"id\":");
			sb_json_id(sb, r->id);
			break;
	}
	sb_puts(sb, "},\"message\":");
	sb_json_cstring(sb, outcome_messages[r->outcome]);
	sb_puts(sb, r->outcome == RO_SUCCESS ? ",\"status\":\"success\"}" : ",\"status\":\"error\"}");
}

static char *
id_echo(const json_t *v)
{
	if (json_is_string(v))
		return xstrndup(json_string_value(v), json_string_length(v));
	return value_to_text(v, NULL);
}

static void
update_by_ids(CrmRequest *req, json_t *ids, MassUpdate *mu, Response *out)
{
	size_t		n = json_array_size(ids);
	IdResult   *res = xcalloc(n + 1, sizeof(IdResult));
	time_t		now = time(NULL);
	char		modified[32];
	size_t		nok = 0;
	StrBuf		sb;
	json_t	   *v;
	size_t		i;
	int			status;

	json_array_foreach(ids, i, v)
	{
		if (!json_to_id(v, &res[i].id))
			res[i].echo = id_echo(v);
	}
	store_wrlock();
	mu_prepare(mu);
	for (i = 0; i < n; i++)
	{
		Record	   *r = res[i].echo ? NULL : store_find(req->module->index, res[i].id);

		res[i].outcome = mu_apply(mu, r, now, false);
		if (r)
		{
			res[i].created = r->created;
			res[i].created_by = r->created_by;
		}
		if (res[i].outcome == RO_SUCCESS)
			nok++;
	}
	store_unlock();

	format_time(now, modified);
	sb_init(&sb, 64 + n * 360);
	sb_puts(&sb, "{\"data\":[");
	for (i = 0; i < n; i++)
	{
		if (i > 0)
			sb_putc(&sb, ',');
		result_to_json(&sb, &res[i], modified, mu);
		free(res[i].echo);
	}
	sb_puts(&sb, "]}");
	free(res);

	if (nok == 0)
		status = 400;
	else if (nok < n && req->v8)
		status = 207;
	else
		status = 200;
	resp_text(out, status, &sb);
}

/* The records a job over the view (and territory) would update. */
static uint64_t *
collect_view(const View *view, int territory, bool include_child, size_t *n)
{
	size_t		nrecs;
	Record	   *recs;
	uint64_t   *ids;

	store_rdlock();
	recs = store_records(view->module, &nrecs);
	ids = xmalloc((nrecs + 1) * sizeof(uint64_t));
	*n = 0;
	for (size_t i = 0; i < nrecs; i++)
	{
		if (!view_covers(view, recs[i].id))
			continue;
		if (territory >= 0 &&
			!territory_covers(territory, include_child, view->module, recs[i].id))
			continue;
		ids[(*n)++] = recs[i].id;
	}
	store_unlock();
	return ids;
}

/* Parses "territory"; -1 for none, -2 with the error answer set. */
static int
parse_territory(json_t *terr, bool *include_child, Response *out)
{
	json_t	   *ic;
	uint64_t	tid;
	int			t;

	*include_child = false;
	if (terr == NULL || json_is_null(terr))
		return -1;
	if (!json_is_object(terr))
	{
		resp_error(out, 400, "INVALID_DATA", "invalid data",
				   json_pack("{s:s, s:s, s:s}", "api_name", "territory",
							 "json_path", "$.territory", "expected_data_type", "jsonobject"));
		return -2;
	}
	if (json_object_get(terr, "id") == NULL)
	{
		resp_error(out, 400, "MANDATORY_NOT_FOUND", "required field not found",
				   path_details("id", "$.territory.id"));
		return -2;
	}
	if (!json_to_id(json_object_get(terr, "id"), &tid) || (t = org_territory(tid)) < 0)
	{
		resp_error(out, 400, "INVALID_DATA", "the id given seems to be invalid",
				   path_details("id", "$.territory.id"));
		return -2;
	}
	ic = json_object_get(terr, "include_child");
	if (ic != NULL && !json_is_boolean(ic))
	{
		resp_error(out, 400, "INVALID_DATA", "invalid data",
				   json_pack("{s:s, s:s, s:s}", "api_name", "include_child",
							 "json_path", "$.territory.include_child",
							 "expected_data_type", "boolean"));
		return -2;
	}
	*include_child = json_is_true(ic);
	return t;
}

static void
update_by_view(CrmRequest *req, json_t *body, MassUpdate *mu, Response *out)
{
	uint64_t	cvid;
	const View *view;
	int			territory;
	bool		include_child;
	uint64_t   *ids;
	size_t		n;
	uint64_t	job_id;
	StrBuf		sb;

	if (!json_to_id(json_object_get(body, "cvid"), &cvid) ||
		(view = org_view(cvid)) == NULL || view->module != req->module->index)
	{
		resp_error(out, 400, "INVALID_DATA", "the cvid given seems to be invalid",
				   path_details("cvid", "$.cvid"));
		return;
	}
	if (!view->accessible)
	{
		resp_error(out, 403, "NO_PERMISSION", "Customview not accessible", NULL);
		return;
	}
	territory = parse_territory(json_object_get(body, "territory"), &include_child, out);
	if (territory == -2)
		return;
	ids = collect_view(view, territory, include_child, &n);
	switch (jobs_submit(view, mu, ids, n, ZOHO_MAX_VIEW_RECORDS, &job_id))
	{
		case SUBMIT_ALREADY:
			resp_error(out, req->v8 ? 400 : 202, "ALREADY_SCHEDULED",
					   "Already a Mass Action scheduler is running for the given cvid",
					   json_pack("{s:s}", "api_name", "cvid"));
			return;
		case SUBMIT_EMPTY:
			resp_error(out, 400, "NO_RECORDS_FOUND", "no record found to update", NULL);
			return;
		case SUBMIT_TOO_MANY:
			resp_error(out, 400, "LIMIT_EXCEEDED", "Record count exceeded",
					   json_pack("{s:i}", "limit", ZOHO_MAX_VIEW_RECORDS));
			return;
		case SUBMIT_OK:
			break;
	}
	sb_init(&sb, 256);
	sb_puts(&sb, "{\"data\":[{\"code\":\"SUCCESS\",\"details\":{\"job_id\":");
	sb_json_id(&sb, job_id);
	sb_puts(&sb, "},\"message\":\"mass update scheduled successfully\",\"status\":\"success\"}]}");
	resp_text(out, 200, &sb);
}

/* Checks ids/cvid/territory presence; false with the error answer set. */
static bool
check_target(json_t *body, Response *out)
{
	json_t	   *ids = json_object_get(body, "ids");
	json_t	   *cvid = json_object_get(body, "cvid");
	json_t	   *terr = json_object_get(body, "territory");
	bool		has_ids = ids && !json_is_null(ids);
	bool		has_cvid = cvid && !json_is_null(cvid);
	bool		has_terr = terr && !json_is_null(terr);

	if (has_ids && has_cvid)
	{
		resp_error(out, 400, "INVALID_DATA", "ids and cvid cannot be given together",
				   path_details("cvid", "$.cvid"));
		return false;
	}
	if (!has_ids && !has_cvid)
	{
		resp_error(out, 400, "MANDATORY_NOT_FOUND", "required field not found",
				   has_terr ? path_details("cvid", "$.cvid") : NULL);
		return false;
	}
	if (has_ids && has_terr)
	{
		resp_error(out, 400, "INVALID_DATA", "territory can be given only with cvid",
				   path_details("territory", "$.territory"));
		return false;
	}
	if (has_ids && !json_is_array(ids))
	{
		resp_error(out, 400, "INVALID_DATA", "invalid data",
				   json_pack("{s:s, s:s, s:s}", "api_name", "ids", "json_path", "$.ids",
							 "expected_data_type", "jsonarray"));
		return false;
	}
	if (has_ids)
	{
		stats_ids(json_array_size(ids));
		if (json_array_size(ids) == 0)
		{
			resp_error(out, 400, "MANDATORY_NOT_FOUND", "required field not found",
					   path_details("ids", "$.ids"));
			return false;
		}
		if (json_array_size(ids) > ZOHO_MAX_IDS_PER_CALL)
		{
			json_t	   *d = path_details("ids", "$.ids");

			json_object_set_new(d, "limit", json_integer(ZOHO_MAX_IDS_PER_CALL));
			resp_error(out, 400, "LIMIT_EXCEEDED", "Maximum ids limit exceeded", d);
			return false;
		}
	}
	return true;
}

void
mass_update_post(CrmRequest *req, Response *out)
{
	json_t	   *body;
	json_error_t jerr;
	MassUpdate	mu;

	memset(&mu, 0, sizeof(mu));
	body = req->body_len == 0 ? json_object() :
		json_loadb(req->body, req->body_len, 0, &jerr);
	if (!json_is_object(body))
	{
		resp_error(out, 400, "INVALID_DATA", "the request body is not a valid JSON object",
				   json_pack("{s:s}", "expected_data_type", "jsonobject"));
		json_decref(body);
		return;
	}
	if (check_target(body, out) && parse_fields(req, body, &mu, out))
	{
		if (json_object_get(body, "cvid") && !json_is_null(json_object_get(body, "cvid")))
			update_by_view(req, body, &mu, out);
		else
			update_by_ids(req, json_object_get(body, "ids"), &mu, out);
	}
	mu_free(&mu);
	json_decref(body);
}

void
mass_update_status(CrmRequest *req, Response *out)
{
	const char *text = params_get(req->query, "job_id");
	uint64_t	job_id;
	JobStatus	js;

	if (text == NULL || text[0] == '\0')
	{
		resp_error(out, 400, "MANDATORY_NOT_FOUND", "mandatory param missing",
				   json_pack("{s:s}", "param_name", "job_id"));
		return;
	}
	if (!parse_id(text, strlen(text), &job_id) ||
		!jobs_status(job_id, req->module->index, &js))
	{
		if (req->v8)
			resp_error(out, 400, "INVALID_DATA", "The jobid given seems to be invalid",
					   json_pack("{s:s}", "param_name", "job_id"));
		else
			resp_error(out, 404, "NOT_FOUND", "Empty response", NULL);
		return;
	}
	resp_json(out, 200,
			  json_pack("{s:[{s:s, s:I, s:I, s:I, s:I}]}", "data",
						"Status", js.status,
						"Failed_Count", (json_int_t) js.failed,
						"Updated_Count", (json_int_t) js.updated,
						"Not_Updated_Count", (json_int_t) js.not_updated,
						"Total_Count", (json_int_t) js.total));
}
