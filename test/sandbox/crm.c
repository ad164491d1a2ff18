/*
 * crm.c
 *		Routing of /crm/{version}/... requests: the URL, the token, the daily
 *		credits, the method, the scope and the module, in that order, then
 *		the endpoint's handler.
 *
 * Versions v2, v2.1 and v3 to v7 behave alike; v8 differs in the statuses
 * of mixed results, ALREADY_SCHEDULED and unknown jobs, and rejects
 * modules without mass update (Services, Appointments) as NOT_SUPPORTED.
 */
#include <stdio.h>
#include <string.h>

#include "crm.h"
#include "limits.h"
#include "oauth.h"
#include "util.h"

#define MAX_SEGMENTS 8

typedef struct Path
{
	char		buf[1024];
	const char *seg[MAX_SEGMENTS];
	int			n;				/* -1: too many segments */
} Path;

static void
split_path(const char *path, Path *p)
{
	char	   *save = NULL;
	char	   *tok;

	p->n = 0;
	if (strlen(path) >= sizeof(p->buf))
	{
		p->n = -1;
		return;
	}
	snprintf(p->buf, sizeof(p->buf), "%s", path);
	for (tok = strtok_r(p->buf, "/", &save); tok; tok = strtok_r(NULL, "/", &save))
	{
		if (p->n == MAX_SEGMENTS)
	{
		p->n = -1;
		return;
	}
		p->seg[p->n++] = tok;
	}
}

static bool
valid_version(const char *v)
{
	return strcmp(v, "v2") == 0 || strcmp(v, "v2.1") == 0 ||
		(strlen(v) == 2 && v[0] == 'v' && v[1] >= '3' && v[1] <= '8');
}

static bool
all_digits(const char *s)
{
	if (*s == '\0')
		return false;
	for (; *s; s++)
		if (*s < '0' || *s > '9')
			return false;
	return true;
}

/* /crm/{v}/{module}/{id}: a record URL needs an id of digits */
static bool
is_record_path(const Path *p)
{
	return p->n == 4 && all_digits(p->seg[3]);
}

static bool
is_mass_update_path(const Path *p)
{
	return p->n == 5 && strcmp(p->seg[3], "actions") == 0 &&
		strcmp(p->seg[4], "mass_update") == 0;
}

Endpoint
crm_classify(const char *method, const char *path)
{
	Path		p;

	split_path(path, &p);
	if (p.n < 3 || strcmp(p.seg[0], "crm") != 0)
		return EP_OTHER;
	if (p.n == 4 && strcmp(p.seg[2], "settings") == 0)
	{
		if (strcmp(p.seg[3], "fields") == 0)
			return EP_FIELDS;
		if (strcmp(p.seg[3], "custom_views") == 0)
			return EP_VIEWS;
		if (strcmp(p.seg[3], "territories") == 0)
			return EP_TERRITORIES;
		return EP_OTHER;
	}
	if (is_mass_update_path(&p))
	{
		if (strcmp(method, "POST") == 0)
			return EP_MASS_UPDATE;
		if (strcmp(method, "GET") == 0)
			return EP_STATUS;
		return EP_OTHER;
	}
	if (is_record_path(&p))
		return EP_RECORD;
	return EP_OTHER;
}

static void
invalid_url(Response *out)
{
	resp_error(out, 404, "INVALID_URL_PATTERN",
			   "Please check if the URL trying to access is a correct one", NULL);
}

static void
invalid_method(Response *out)
{
	resp_error(out, 400, "INVALID_REQUEST_METHOD",
			   "The http request method type is not a valid one", NULL);
}

/* The module of the URL; NULL with the error answer set. */
static const Module *
url_module(CrmRequest *req, const char *name, bool for_mass_update, Response *out)
{
	const Module *m = org_module(name);

	if (m == NULL)
	{
		char		alt[256];

		snprintf(alt, sizeof(alt), "%s__s", name);
		m = org_module(alt);
	}
	if (m != NULL && for_mass_update && !m->mass_update)
	{
		if (req->v8)
		{
			resp_error(out, 400, "NOT_SUPPORTED", "the given module is not supported for this api",
					   json_pack("{s:i}", "resource_path_index", 0));
			return NULL;
		}
		m = NULL;
	}
	if (m == NULL)
		resp_error(out, 400, "INVALID_MODULE", "the module name given seems to be invalid",
				   json_pack("{s:i}", "resource_path_index", 0));
	return m;
}

/* Authentication and credits; false with the error answer set. */
static bool
admit(CrmRequest *req, Response *out)
{
	long		remaining;

	switch (oauth_check(req->authorization, &req->client))
	{
		case AUTH_MISSING:
			resp_error(out, 401, "AUTHENTICATION_FAILURE", "Authentication failed", NULL);
			return false;
		case AUTH_INVALID:
			resp_error(out, 401, "INVALID_TOKEN", "invalid oauth token", NULL);
			return false;
		case AUTH_OK:
			break;
	}
	if (!credits_charge(&remaining))
	{
		resp_error(out, 429, "TOO_MANY_REQUESTS",
				   "Number of API requests for the 24 hour period is exceeded or the concurrency limit of the user for the app is exceeded.",
				   NULL);
		out->credits_remaining = remaining;
		return false;
	}
	out->credits_remaining = remaining;
	return true;
}

static void
handle_settings(CrmRequest *req, const char *what, Response *out)
{
	if (strcmp(req->method, "GET") != 0)
	{
		invalid_method(out);
		return;
	}
	if (strcmp(what, "fields") == 0)
		settings_fields(req, out);
	else if (strcmp(what, "custom_views") == 0)
		settings_custom_views(req, out);
	else
		settings_territories(req, out);
}

static void
handle_mass_update(CrmRequest *req, const char *module, Response *out)
{
	bool		post = strcmp(req->method, "POST") == 0;
	const Module *m;

	if (!post && strcmp(req->method, "GET") != 0)
	{
		invalid_method(out);
		return;
	}
	m = org_module(module);
	if (!oauth_scope_allows(req->client, module, m && m->custom, post ? "UPDATE" : "READ"))
{
	resp_error(out, 401, "OAUTH_SCOPE_MISMATCH", "invalid oauth scope to access this URL", NULL);
	return;
}
	if ((req->module = url_module(req, module, true, out)) == NULL)
		return;
	if (post)
		mass_update_post(req, out);
	else
		mass_update_status(req, out);
}

void
crm_handle(CrmRequest *req, Response *out)
{
	Path		p;
	bool		settings;

	req->client = -1;
	split_path(req->path, &p);
	if (p.n < 3 || strcmp(p.seg[0], "crm") != 0 || !valid_version(p.seg[1]))
	{
		invalid_url(out);
		return;
	}
	req->v8 = strcmp(p.seg[1], "v8") == 0;
	settings = strcmp(p.seg[2], "settings") == 0;
	if (settings ? !(p.n == 4 && (strcmp(p.seg[3], "fields") == 0 ||
								  strcmp(p.seg[3], "custom_views") == 0 ||
								  strcmp(p.seg[3], "territories") == 0))
		: !(is_record_path(&p) || is_mass_update_path(&p)))
	{
		invalid_url(out);
		return;
	}
	if (!admit(req, out))
		return;
	if (settings)
	{
		handle_settings(req, p.seg[3], out);
		return;
	}
	if (is_mass_update_path(&p))
	{
		handle_mass_update(req, p.seg[2], out);
		return;
	}
	/* GET /crm/{v}/{module}/{id} */
	if (strcmp(req->method, "GET") != 0)
	{
		invalid_method(out);
		return;
	}
	if ((req->module = url_module(req, p.seg[2], false, out)) == NULL)
		return;
	record_get_handler(req, p.seg[3], out);
}
