/*
 * model.h
 *		The organisation described by the fixture: modules and their fields,
 *		custom views, territories, users and OAuth clients.
 *
 * Loaded once at start (fixture.c) and never changed afterwards, so every
 * thread reads it without a lock.  Records live in store.h, not here.
 */
#ifndef SANDBOX_MODEL_H
#define SANDBOX_MODEL_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

typedef enum FieldType
{
	FT_TEXT,					/* text, phone, website, autonumber ... */
	FT_TEXTAREA,
	FT_EMAIL,
	FT_PICKLIST,
	FT_MULTISELECT,
	FT_INTEGER,
	FT_BIGINT,
	FT_NUMBER,					/* double, currency, percent, decimal */
	FT_BOOLEAN,
	FT_DATE,
	FT_DATETIME,
	FT_LOOKUP,					/* lookup, ownerlookup, userlookup, layout */
	FT_OTHER
} FieldType;

typedef struct Field
{
	const char *api_name;
	const char *data_type;		/* Zoho's data_type, e.g. "currency" */
	FieldType	type;
	bool		mass_update;	/* metadata "mass_update": true */
	bool		blueprint;		/* metadata "blueprint_supported": true */
	int			length;			/* maximum characters; 0 = unchecked */
	const char **picklist;		/* actual_value and display_value of each */
	int			npicklist;
	json_t	   *compact;		/* the fixture's keys for this field */
	json_t	   *tmpl;			/* its data_type's template, or NULL */
} Field;

typedef struct Module
{
	const char *api_name;
	int			index;
	bool		custom;			/* a custom module */
	bool		mass_update;	/* false: NOT_SUPPORTED (v8) / INVALID_MODULE */
	int			max_fields;		/* fields per mass-update call */
	Field	   *fields;
	int			nfields;
} Module;

typedef struct IdRange
{
	int			module;
	uint64_t	first;
	uint64_t	last;
} IdRange;

typedef struct View
{
	uint64_t	id;
	int			module;
	bool		all;			/* every record of the module */
	IdRange    *ranges;			/* otherwise records whose id is in these */
	int			nranges;
	bool		accessible;		/* false: NO_PERMISSION for every client */
	bool		fail_jobs;		/* jobs over this view end FAILED */
	json_t	   *meta;			/* for GET settings/custom_views */
} View;

typedef struct Territory
{
	uint64_t	id;
	int			parent;			/* index in org->territories, or -1 */
	IdRange    *ranges;
	int			nranges;
	json_t	   *meta;
} Territory;

typedef struct User
{
	const char *id;
	const char *name;
	const char *email;
} User;

typedef struct Client
{
	const char *client_id;
	const char *client_secret;
	const char **refresh_tokens;
	int			nrefresh;
	const char **scopes;
	const char *scope_text;		/* space separated, for the token answer */
	int			nscopes;
	int			user;			/* index in org->users: Modified_By */
} Client;

typedef struct Org
{
	json_t	   *root;			/* the fixture; strings above point into it */
	const char *org_id;
	Module	   *modules;
	int			nmodules;
	View	   *views;
	int			nviews;
	Territory  *territories;
	int			nterritories;
	User	   *users;
	int			nusers;
	Client	   *clients;
	int			nclients;
	int			job_start_delay_ms;	/* how long a new job stays SCHEDULED */
	uint64_t	first_job_id;
} Org;

extern Org *g_org;

/* fixture.c */
extern Org *org_load(const char *path, char *err, size_t errlen);
extern void org_free(Org *org);

/* Lookups (case-insensitive module names, as Zoho's URLs are). */
/* A new reference to the field's full metadata object (template + own keys). */
extern json_t *field_meta(const Field *f);

extern Module *org_module(const char *name);
extern int	module_field_index(const Module *m, const char *api_name);
extern View *org_view(uint64_t id);
extern int	org_territory(uint64_t id);
extern bool territory_covers(int territory, bool include_child, int module, uint64_t id);
extern bool view_covers(const View *v, uint64_t id);

#endif
