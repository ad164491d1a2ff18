/*
 * fixture.c
 *		Loads the organisation (modules, fields, views, territories, users,
 *		OAuth clients) from the fixture file.  Records are expanded by
 *		records.c from the fixture's record sets.
 *
 * Field metadata is stored compactly in the fixture: each field names its
 * data_type, and its full metadata object is that type's template from
 * "field_templates" overlaid with the field's own keys.
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "model.h"
#include "util.h"

Org		   *g_org = NULL;

typedef struct LoadCtx
{
	Org		   *org;
	char	   *err;
	size_t		errlen;
} LoadCtx;

static bool
fail(LoadCtx *cx, const char *what, const char *name)
{
	snprintf(cx->err, cx->errlen, "%s%s%s", what, name ? ": " : "", name ? name : "");
	return false;
}

static const char *
get_str(const json_t *obj, const char *key)
{
	return json_string_value(json_object_get(obj, key));
}

static bool
get_bool(const json_t *obj, const char *key, bool dflt)
{
	json_t	   *v = json_object_get(obj, key);

	return json_is_boolean(v) ? json_is_true(v) : dflt;
}

static FieldType
field_type(const char *dt)
{
	static const struct
	{
		const char *name;
		FieldType	type;
	}			types[] = {
		{"text", FT_TEXT}, {"phone", FT_TEXT}, {"website", FT_TEXT},
		{"autonumber", FT_TEXT}, {"textarea", FT_TEXTAREA}, {"email", FT_EMAIL},
		{"picklist", FT_PICKLIST}, {"multiselectpicklist", FT_MULTISELECT},
		{"integer", FT_INTEGER}, {"bigint", FT_BIGINT}, {"double", FT_NUMBER},
		{"currency", FT_NUMBER}, {"percent", FT_NUMBER}, {"decimal", FT_NUMBER},
		{"boolean", FT_BOOLEAN}, {"date", FT_DATE}, {"datetime", FT_DATETIME},
		{"lookup", FT_LOOKUP}, {"ownerlookup", FT_LOOKUP},
		{"userlookup", FT_LOOKUP}, {"layout", FT_LOOKUP},
	};

	for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++)
		if (strcmp(types[i].name, dt) == 0)
			return types[i].type;
	return FT_OTHER;
}

static bool
never_mass_updatable(const char *data_type)
{
	static const char *const types[] = {
		"email", "lookup", "ownerlookup", "multiselectlookup", "textarea",
		"layout", "subform"
	};

	for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++)
		if (strcmp(types[i], data_type) == 0)
			return true;
	return false;
}

/* A key of the field's metadata without building it: own keys, then the template's. */
static json_t *
field_key(const Field *f, const char *key)
{
	json_t	   *v = json_object_get(f->compact, key);
	json_t	   *k;
	size_t		i;

	if (v != NULL)
		return v;
	json_array_foreach(json_object_get(f->compact, "__absent"), i, k)
	{
		if (json_is_string(k) && strcmp(json_string_value(k), key) == 0)
			return NULL;
	}
	return json_object_get(f->tmpl, key);
}

json_t *
field_meta(const Field *f)
{
	json_t	   *meta = f->tmpl ? json_deep_copy(f->tmpl) : json_object();
	json_t	   *own = json_deep_copy(f->compact);
	json_t	   *k;
	size_t		i;

	/* copies only: the fixture is shared by every thread, its refcounts too */
	json_object_update(meta, own);
	json_decref(own);
	json_array_foreach(json_object_get(f->compact, "__absent"), i, k)
	{
		if (json_is_string(k))
			json_object_del(meta, json_string_value(k));
	}
	json_object_del(meta, "__absent");
	return meta;
}

static void
load_picklist(Field *f)
{
	json_t	   *values = field_key(f, "pick_list_values");
	json_t	   *pv;
	size_t		i;

	f->npicklist = 0;
	f->picklist = xcalloc(json_array_size(values) * 3 + 1, sizeof(char *));
	json_array_foreach(values, i, pv)
	{
		const char *actual = get_str(pv, "actual_value");
		const char *display = get_str(pv, "display_value");
		const char *id = get_str(pv, "id");

		if (actual)
			f->picklist[f->npicklist++] = actual;
		if (display && (!actual || strcmp(display, actual) != 0))
			f->picklist[f->npicklist++] = display;
		/* Deals Pipeline is sent by id (reference 1.2, OAS-v8 example) */
		if (id)
			f->picklist[f->npicklist++] = id;
	}
}

static bool
load_field(LoadCtx *cx, json_t *templates, json_t *compact, Field *f)
{
	const char *dt = get_str(compact, "data_type");
	json_t	   *len;
	json_t	   *v;

	if (get_str(compact, "api_name") == NULL || dt == NULL)
		return fail(cx, "field without api_name or data_type", NULL);
	f->compact = compact;
	f->tmpl = json_object_get(templates, dt);
	f->api_name = get_str(compact, "api_name");
	f->data_type = dt;
	f->type = field_type(dt);
	/*
	 * The metadata flag decides, except that email, lookup, multi-line,
	 * layout and line-item (subform) fields are never mass-updatable (issue
	 * 2, reference section 6): the Leads sample flags Layout true.
	 */
	v = field_key(f, "mass_update");
	f->mass_update = json_is_true(v) && !never_mass_updatable(dt);
	v = field_key(f, "blueprint_supported");
	f->blueprint = json_is_true(v);
	len = field_key(f, "length");
	f->length = json_is_integer(len) ? (int) json_integer_value(len) : 0;
	load_picklist(f);
	return true;
}

static bool
load_modules(LoadCtx *cx)
{
	Org		   *org = cx->org;
	json_t	   *mods = json_object_get(org->root, "modules");
	json_t	   *templates = json_object_get(org->root, "field_templates");
	json_t	   *m;
	size_t		i;

	if (!json_is_array(mods) || json_array_size(mods) == 0)
		return fail(cx, "fixture has no modules", NULL);
	org->nmodules = (int) json_array_size(mods);
	org->modules = xcalloc((size_t) org->nmodules, sizeof(Module));
	json_array_foreach(mods, i, m)
	{
		Module	   *mod = &org->modules[i];
		json_t	   *fields = json_object_get(m, "fields");
		json_t	   *f;
		json_t	   *maxf = json_object_get(m, "max_fields_per_call");
		size_t		j;

		mod->api_name = get_str(m, "api_name");
		if (mod->api_name == NULL)
			return fail(cx, "module without api_name", NULL);
		mod->index = (int) i;
		mod->mass_update = get_bool(m, "mass_update", true);
		mod->custom = get_str(m, "generated_type") &&
			strcmp(get_str(m, "generated_type"), "custom") == 0;
		mod->max_fields = json_is_integer(maxf) ? (int) json_integer_value(maxf) : 1;
		mod->nfields = (int) json_array_size(fields);
		mod->fields = xcalloc((size_t) mod->nfields, sizeof(Field));
		json_array_foreach(fields, j, f)
		{
			if (!load_field(cx, templates, f, &mod->fields[j]))
				return false;
		}
	}
	return true;
}

static bool
load_ranges(LoadCtx *cx, json_t *list, int dflt_module, IdRange **out, int *n)
{
	json_t	   *r;
	size_t		i;

	*n = (int) json_array_size(list);
	*out = xcalloc((size_t) *n, sizeof(IdRange));
	json_array_foreach(list, i, r)
	{
		IdRange    *ir = &(*out)[i];
		const char *mname = get_str(r, "module");
		Module	   *mod = mname ? org_module(mname) : NULL;

		ir->module = mod ? mod->index : dflt_module;
		if (ir->module < 0)
			return fail(cx, "record range with an unknown module", mname);
		if (!json_to_id(json_object_get(r, "first_id"), &ir->first) ||
			!json_to_id(json_object_get(r, "last_id"), &ir->last))
			return fail(cx, "record range without first_id/last_id", NULL);
	}
	return true;
}

static bool
load_views(LoadCtx *cx)
{
	Org		   *org = cx->org;
	json_t	   *views = json_object_get(org->root, "views");
	json_t	   *v;
	size_t		i;

	org->nviews = (int) json_array_size(views);
	org->views = xcalloc((size_t) org->nviews, sizeof(View));
	json_array_foreach(views, i, v)
	{
		View	   *view = &org->views[i];
		Module	   *mod = org_module(get_str(v, "module") ? get_str(v, "module") : "");
		json_t	   *recs = json_object_get(v, "records");
		const char *outcome = get_str(v, "job_outcome");

		view->meta = json_object_get(v, "meta");
		if (mod == NULL || !json_to_id(json_object_get(view->meta, "id"), &view->id))
			return fail(cx, "view without module or meta.id", NULL);
		view->module = mod->index;
		view->all = json_is_string(recs) && strcmp(json_string_value(recs), "all") == 0;
		if (!view->all && !load_ranges(cx, recs, mod->index, &view->ranges, &view->nranges))
			return false;
		view->accessible = get_bool(v, "accessible", true);
		view->fail_jobs = outcome && strcmp(outcome, "FAILED") == 0;
	}
	return true;
}

static bool
load_territories(LoadCtx *cx)
{
	Org		   *org = cx->org;
	json_t	   *terrs = json_object_get(org->root, "territories");
	json_t	   *t;
	size_t		i;

	org->nterritories = (int) json_array_size(terrs);
	org->territories = xcalloc((size_t) org->nterritories, sizeof(Territory));
	json_array_foreach(terrs, i, t)
	{
		Territory  *terr = &org->territories[i];

		terr->meta = json_object_get(t, "meta");
		if (!json_to_id(json_object_get(terr->meta, "id"), &terr->id))
			return fail(cx, "territory without meta.id", NULL);
		if (!load_ranges(cx, json_object_get(t, "records"), -1, &terr->ranges, &terr->nranges))
			return false;
	}
	/* parents by id, now that every territory is known */
	json_array_foreach(terrs, i, t)
	{
		uint64_t	pid;

		org->territories[i].parent = -1;
		if (json_to_id(json_object_get(t, "parent_id"), &pid))
		{
			org->territories[i].parent = org_territory(pid);
			if (org->territories[i].parent < 0)
				return fail(cx, "territory with an unknown parent_id", NULL);
		}
	}
	return true;
}

static bool
load_users(LoadCtx *cx)
{
	Org		   *org = cx->org;
	json_t	   *users = json_object_get(org->root, "users");
	json_t	   *u;
	size_t		i;

	org->nusers = (int) json_array_size(users);
	if (org->nusers == 0 || org->nusers > 255)
		return fail(cx, "fixture needs 1 to 255 users", NULL);
	org->users = xcalloc((size_t) org->nusers, sizeof(User));
	json_array_foreach(users, i, u)
	{
		org->users[i].id = get_str(u, "id");
		org->users[i].name = get_str(u, "full_name");
		org->users[i].email = get_str(u, "email");
		if (!org->users[i].id || !org->users[i].name || !org->users[i].email)
			return fail(cx, "user without id, full_name or email", NULL);
	}
	return true;
}

static int
user_index(const char *id)
{
	for (int i = 0; id && i < g_org->nusers; i++)
		if (strcmp(g_org->users[i].id, id) == 0)
			return i;
	return 0;
}

static const char **
string_list(json_t *arr, int *n)
{
	const char **out = xcalloc(json_array_size(arr) + 1, sizeof(char *));
	json_t	   *s;
	size_t		i;

	*n = 0;
	json_array_foreach(arr, i, s)
	{
		if (json_is_string(s))
			out[(*n)++] = json_string_value(s);
	}
	return out;
}

static bool
load_clients(LoadCtx *cx)
{
	Org		   *org = cx->org;
	json_t	   *clients = json_object_get(org->root, "oauth_clients");
	json_t	   *c;
	size_t		i;

	org->nclients = (int) json_array_size(clients);
	org->clients = xcalloc((size_t) org->nclients, sizeof(Client));
	json_array_foreach(clients, i, c)
	{
		Client	   *cl = &org->clients[i];
		json_t	   *scopes = json_object_get(c, "scopes");
		char	   *text;

		cl->client_id = get_str(c, "client_id");
		cl->client_secret = get_str(c, "client_secret");
		if (!cl->client_id || !cl->client_secret)
			return fail(cx, "OAuth client without client_id or client_secret", NULL);
		cl->refresh_tokens = string_list(json_object_get(c, "refresh_tokens"), &cl->nrefresh);
		cl->scopes = string_list(scopes, &cl->nscopes);
		cl->user = user_index(get_str(c, "user_id"));
		/* keep the space-separated scope text inside the fixture tree */
		{
			size_t		len = 1;

			for (int k = 0; k < cl->nscopes; k++)
				len += strlen(cl->scopes[k]) + 1;
			text = xcalloc(len, 1);
			for (int k = 0; k < cl->nscopes; k++)
			{
				if (k > 0)
					strcat(text, " ");
				strcat(text, cl->scopes[k]);
			}
			json_object_set_new(c, "scope_text", json_string(text));
			free(text);
			cl->scope_text = get_str(c, "scope_text");
		}
	}
	return true;
}

Org *
org_load(const char *path, char *err, size_t errlen)
{
	json_error_t jerr;
	LoadCtx		cx;
	json_t	   *orgobj;
	json_t	   *delay;
	bool		ok;

	cx.org = xcalloc(1, sizeof(Org));
	cx.err = err;
	cx.errlen = errlen;
	cx.org->root = json_load_file(path, 0, &jerr);
	if (cx.org->root == NULL)
	{
		snprintf(err, errlen, "cannot load fixture %s: %s (line %d)", path, jerr.text, jerr.line);
		free(cx.org);
		return NULL;
	}
	g_org = cx.org;
	orgobj = json_object_get(cx.org->root, "org");
	cx.org->org_id = get_str(orgobj, "id") ? get_str(orgobj, "id") : "4150868000000000001";
	delay = json_object_get(orgobj, "job_start_delay_ms");
	cx.org->job_start_delay_ms = json_is_integer(delay) ? (int) json_integer_value(delay) : 250;
	if (!json_to_id(json_object_get(orgobj, "first_job_id"), &cx.org->first_job_id))
		cx.org->first_job_id = 4150868000002000003ULL;
	ok = load_modules(&cx) && load_views(&cx) && load_territories(&cx) &&
		load_users(&cx) && load_clients(&cx);
	if (!ok)
	{
		org_free(cx.org);
		g_org = NULL;
		return NULL;
	}
	return cx.org;
}

void
org_free(Org *org)
{
	if (org == NULL)
		return;
	for (int i = 0; i < org->nmodules; i++)
	{
		for (int j = 0; j < org->modules[i].nfields; j++)
			free(org->modules[i].fields[j].picklist);
		free(org->modules[i].fields);
	}
	free(org->modules);
	for (int i = 0; i < org->nviews; i++)
		free(org->views[i].ranges);
	free(org->views);
	for (int i = 0; i < org->nterritories; i++)
		free(org->territories[i].ranges);
	free(org->territories);
	free(org->users);
	for (int i = 0; i < org->nclients; i++)
	{
		free(org->clients[i].refresh_tokens);
		free(org->clients[i].scopes);
	}
	free(org->clients);
	json_decref(org->root);
	free(org);
}

Module *
org_module(const char *name)
{
	for (int i = 0; g_org && i < g_org->nmodules; i++)
		if (strcasecmp(g_org->modules[i].api_name, name) == 0)
			return &g_org->modules[i];
	return NULL;
}

int
module_field_index(const Module *m, const char *api_name)
{
	for (int i = 0; i < m->nfields; i++)
		if (strcmp(m->fields[i].api_name, api_name) == 0)
			return i;
	return -1;
}

View *
org_view(uint64_t id)
{
	for (int i = 0; i < g_org->nviews; i++)
		if (g_org->views[i].id == id)
			return &g_org->views[i];
	return NULL;
}

int
org_territory(uint64_t id)
{
	for (int i = 0; i < g_org->nterritories; i++)
		if (g_org->territories[i].id == id)
			return i;
	return -1;
}

static bool
ranges_cover(const IdRange *r, int n, int module, uint64_t id)
{
	for (int i = 0; i < n; i++)
		if (r[i].module == module && id >= r[i].first && id <= r[i].last)
			return true;
	return false;
}

bool
view_covers(const View *v, uint64_t id)
{
	return v->all || ranges_cover(v->ranges, v->nranges, v->module, id);
}

/*
 * A record is in a territory when one of its ranges covers it, or, with
 * include_child, when it is in a descendant territory.
 */
bool
territory_covers(int territory, bool include_child, int module, uint64_t id)
{
	const Territory *t = &g_org->territories[territory];

	if (ranges_cover(t->ranges, t->nranges, module, id))
		return true;
	if (!include_child)
		return false;
	for (int i = 0; i < g_org->nterritories; i++)
	{
		if (g_org->territories[i].parent == territory &&
			territory_covers(i, true, module, id))
			return true;
	}
	return false;
}
