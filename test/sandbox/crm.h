/*
 * crm.h
 *		The CRM API: /crm/{version}/... routing, authentication, scopes and
 *		credits, and the handlers behind it.
 */
#ifndef SANDBOX_CRM_H
#define SANDBOX_CRM_H

#include <stdbool.h>
#include <stddef.h>

#include "model.h"
#include "params.h"
#include "response.h"
#include "stats.h"

/* Zoho's per-call and per-job limits (reference 5.3). */
#define ZOHO_MAX_IDS_PER_CALL	500
#define ZOHO_MAX_VIEW_RECORDS	50000

typedef struct CrmRequest
{
	const char *method;
	const char *path;
	const char *authorization;	/* the Authorization header or NULL */
	const Params *query;
	const char *body;
	size_t		body_len;
	/* set by crm_handle */
	bool		v8;				/* /crm/v8: 207 mixed, 400 ALREADY_SCHEDULED ... */
	const Module *module;
	int			client;			/* -1 until authenticated */
} CrmRequest;

/* Which endpoint a request is for, from its method and path alone. */
extern Endpoint crm_classify(const char *method, const char *path);

/* Answers a CRM request (faults and the concurrency limit are the caller's). */
extern void crm_handle(CrmRequest *req, Response *out);

/* mass_update.c */
extern void mass_update_post(CrmRequest *req, Response *out);
extern void mass_update_status(CrmRequest *req, Response *out);

/* metadata.c: records and settings */
extern void record_get_handler(CrmRequest *req, const char *id_text, Response *out);
extern void settings_fields(CrmRequest *req, Response *out);
extern void settings_custom_views(CrmRequest *req, Response *out);
extern void settings_territories(CrmRequest *req, Response *out);

#endif
