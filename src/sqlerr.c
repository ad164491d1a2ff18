/*-------------------------------------------------------------------------
 *
 * sqlerr.c
 *		Zoho answers and transport failures as PostgreSQL errors, and the
 *		argument checks every SQL function shares.
 *
 * The SQLSTATE table is DESIGN section 8; Zoho's codes and their HTTP
 * statuses are in reference/zoho-mass-update-api.md sections 3.3 and 3.4.
 * Secrets never reach these messages: what we report comes from Zoho's
 * answer or from the transport's error text, which holds none.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "lib/stringinfo.h"
#include "mb/pg_wchar.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"

#include "codec.h"
#include "sqlerr.h"
#include "zoho_limits.h"

char *
zcrm_arg_for_message(const char *s)
{
	int			len = strlen(s);
	int			cut;

	if (len <= ZCRM_MAX_ARG_IN_MESSAGE)
		return pstrdup(s);
	cut = pg_mbcliplen(s, len, ZCRM_MAX_ARG_IN_MESSAGE);
	return psprintf("%.*s...", cut, s);
}

char *
zcrm_check_module(text *module)
{
	char	   *m;

	if (module == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("module must not be NULL"),
				 errhidestmt(true)));
	m = text_to_cstring(module);
	if (!zc_valid_module(m))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid module name \"%s\"", zcrm_arg_for_message(m)),
				 errdetail("A module is given by its Zoho API name: a letter, then letters, digits and underscores, at most %d characters.",
						   ZOHO_MAX_MODULE_NAME),
				 errhint("Use the API name as Zoho spells it, e.g. Leads, Contacts or Deals."),
				 errhidestmt(true)));
	return m;
}

/*
 * Longest part of an answer that is not a Zoho error envelope quoted in an
 * ERROR's DETAIL: enough to recognise a proxy's or gateway's JSON error,
 * too little to read a service through it.
 */
#define ZCRM_ANSWER_SNIPPET_MAX 80

/*
 * An answer that is not a Zoho error envelope, for an ERROR's DETAIL.
 * A server's api_domain may name any loopback service (http is allowed
 * there for the sandbox), so whoever may define a server could otherwise
 * read such a service through our errors (audit L4).  So only an answer
 * that looks like JSON is quoted, at most ZCRM_ANSWER_SNIPPET_MAX bytes,
 * with control and non-ASCII bytes shown as '?' (they could forge log
 * lines or terminal escapes); anything else is described by its size.
 * Palloc'd.
 */
static char *
answer_for_detail(const char *response)
{
	size_t		len = strlen(response);
	const char *p = response;
	StringInfoData buf;

	while (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n')
		p++;
	if (*p == '<')
		return psprintf("%zu bytes of HTML or XML", len);
	if (*p != '{' && *p != '[')
		return psprintf("%zu bytes that are not JSON", len);

	initStringInfo(&buf);
	for (; *p && buf.len < ZCRM_ANSWER_SNIPPET_MAX; p++)
		appendStringInfoChar(&buf, (*p >= 0x20 && *p < 0x7f) ? *p : '?');
	if (*p)
		appendStringInfo(&buf, "... (%zu bytes)", len);
	return buf.data;
}

/* The JSON text of one jsonb value, as jsonb_out would print it. */
static char *
jsonb_value_text(JsonbValue *v)
{
	Jsonb	   *jb = JsonbValueToJsonb(v);

	return JsonbToCString(NULL, &jb->root, VARSIZE(jb));
}

ZcField *
zcrm_fields_from_jsonb(Jsonb *fields, int *nfields)
{
	JsonbIterator *it;
	JsonbIteratorToken tok;
	JsonbValue	v;
	ZcField    *out;
	int			n = 0;
	char	   *key = NULL;

	if (fields == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("fields must not be NULL"),
				 errhint("Pass a jsonb object mapping field API names to values, e.g. '{\"Lead_Status\": \"Contacted\"}'."),
				 errhidestmt(true)));
	if (!JB_ROOT_IS_OBJECT(fields) || JB_ROOT_IS_SCALAR(fields) ||
		JB_ROOT_COUNT(fields) == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("fields must be a non-empty jsonb object"),
				 errhint("Pass a jsonb object mapping field API names to values, e.g. '{\"Lead_Status\": \"Contacted\"}'."),
				 errhidestmt(true)));

	out = palloc(sizeof(ZcField) * JB_ROOT_COUNT(fields));
	it = JsonbIteratorInit(&fields->root);
	while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		if (tok == WJB_KEY)
			key = pnstrdup(v.val.string.val, v.val.string.len);
		else if (tok == WJB_VALUE)
		{
			if (key == NULL || key[0] == '\0')
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("fields must not have an empty key"),
						 errhidestmt(true)));
			out[n].name = key;
			out[n].value_json = jsonb_value_text(&v);
			n++;
			key = NULL;
		}
	}
	*nfields = n;
	return out;
}

int
zcrm_sqlstate_for_zoho(const char *code, long http_status)
{
	static const struct
	{
		const char *code;
		int			sqlstate;
	}			map[] =
	{
		{"INVALID_DATA", ERRCODE_INVALID_PARAMETER_VALUE},
		{"INVALID_MODULE", ERRCODE_INVALID_PARAMETER_VALUE},
		{"MANDATORY_NOT_FOUND", ERRCODE_INVALID_PARAMETER_VALUE},
		{"NOT_SUPPORTED", ERRCODE_INVALID_PARAMETER_VALUE},
		{"INVALID_TOKEN", ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION},
		{"AUTHENTICATION_FAILURE", ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION},
		{"OAUTH_SCOPE_MISMATCH", ERRCODE_INSUFFICIENT_PRIVILEGE},
		{"NO_PERMISSION", ERRCODE_INSUFFICIENT_PRIVILEGE},
		{"AUTHORIZATION_FAILED", ERRCODE_INSUFFICIENT_PRIVILEGE},
		{"LIMIT_EXCEEDED", ERRCODE_PROGRAM_LIMIT_EXCEEDED},
		{"ALREADY_SCHEDULED", ERRCODE_OBJECT_IN_USE},
		{"NO_RECORDS_FOUND", ERRCODE_NO_DATA_FOUND},
		{"TOO_MANY_REQUESTS", ERRCODE_CONFIGURATION_LIMIT_EXCEEDED},
	};
	int			i;

	if (http_status == 429)
		return ERRCODE_CONFIGURATION_LIMIT_EXCEEDED;
	if (http_status >= 500)
		return ERRCODE_FDW_ERROR;
	for (i = 0; i < lengthof(map); i++)
		if (code != NULL && strcmp(code, map[i].code) == 0)
			return map[i].sqlstate;
	/* no code to go by: the HTTP status still says who is at fault */
	if (code == NULL && http_status == 401)
		return ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION;
	if (code == NULL && http_status == 403)
		return ERRCODE_INSUFFICIENT_PRIVILEGE;
	return ERRCODE_FDW_ERROR;
}

/*
 * A string member of Zoho's details object (compact JSON text), or NULL.
 * details comes from our own JSON encoder, but is read defensively.
 */
static char *
details_string(const char *details, const char *key)
{
	Jsonb	   *jb;
	JsonbValue	k;
	JsonbValue *v;

	if (details == NULL || details[0] != '{')
		return NULL;
	jb = DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum(details)));
	if (!JB_ROOT_IS_OBJECT(jb))
		return NULL;
	k.type = jbvString;
	k.val.string.val = unconstify(char *, key);
	k.val.string.len = strlen(key);
	v = findJsonbValueFromContainer(&jb->root, JB_FOBJECT, &k);
	if (v == NULL || v->type != jbvString)
		return NULL;
	return pnstrdup(v->val.string.val, v->val.string.len);
}

/*
 * A 5xx that is final: after the retries, or at once for a view-job POST,
 * which is never sent twice (client.c) and so may have scheduled a job.
 */
static const char *
server_failure_hint(const ZcrmCall *call)
{
	if (call->retry_unsafe)
		return "Zoho CRM failed on its side, and the request was not sent again because a second one could schedule a second job. "
			"Check the CRM's scheduled mass updates for this custom view before trying again: if a job is running, Zoho answers ALREADY_SCHEDULED.";
	return "Zoho CRM failed on its side and kept failing through the retries: retry later.";
}

/* The fix, where it is known; NULL otherwise. */
static const char *
hint_for(const char *code, const char *param_name, const char *expected_type,
		 long http_status, const ZcrmCall *call)
{
	bool		view = call->body != NULL && call->retry_unsafe;

	if (http_status == 429 || strcmp(code, "TOO_MANY_REQUESTS") == 0)
		return "Zoho CRM's API credit or concurrency limit was reached: retry later, or lower the server's max_concurrency option.";
	if (http_status >= 500)
		return server_failure_hint(call);
	if (strcmp(code, "INVALID_TOKEN") == 0 ||
		strcmp(code, "AUTHENTICATION_FAILURE") == 0)
		return "Check the user mapping's credentials, and that the server's dc (or accounts_url and api_domain) is the data centre of the Zoho account.";
	if (strcmp(code, "OAUTH_SCOPE_MISMATCH") == 0)
		return "Generate the refresh token with the scopes ZohoCRM.mass_update.UPDATE and ZohoCRM.mass_update.READ.";
	if (strcmp(code, "NO_PERMISSION") == 0)
		return view ?
			"The Zoho user of the user mapping may not use this custom view: share the view with that user, or use another mapping." :
			"The Zoho user of the user mapping lacks a permission (see the details): grant it in Zoho CRM, or use another mapping.";
	if (strcmp(code, "ALREADY_SCHEDULED") == 0)
		return "Zoho runs one scheduled mass update per custom view at a time: wait until the running job ends (zcrm_job_wait, or its row in zcrm_jobs) and try again.";
	if (strcmp(code, "LIMIT_EXCEEDED") == 0)
		return view ?
			psprintf("A scheduled mass update covers at most %d records: use a narrower custom view, or a territory.", ZOHO_MAX_VIEW_RECORDS) :
			NULL;
	if (strcmp(code, "NO_RECORDS_FOUND") == 0)
		return "The custom view (within the territory, if one was given) selects no records.";
	if (strcmp(code, "INVALID_MODULE") == 0)
		return "Use the module's API name as Zoho spells it, e.g. Leads, Contacts or Deals.";
	if (strcmp(code, "NOT_SUPPORTED") == 0)
		return "This module cannot be mass updated through Zoho's API.";
	if (strcmp(code, "INVALID_DATA") == 0 && expected_type != NULL)
		return psprintf("%s%s takes a value of Zoho type %s: zcrm_value() gives Zoho's format for a SQL value (dates \"YYYY-MM-DD\", date-times \"YYYY-MM-DDTHH:MM:SS+00:00\", exact numbers, arrays for multi-select picklists).",
						param_name ? "Field " : "The field",
						param_name ? param_name : "", expected_type);
	if (strcmp(code, "INVALID_DATA") == 0 && param_name != NULL)
	{
		if (strcmp(param_name, "cvid") == 0)
			return "Check the custom view id: Zoho's custom views API (settings/custom_views?module=...) lists them.";
		if (strcmp(param_name, "territory") == 0 || strcmp(param_name, "id") == 0)
			return NULL;
		return "Check that the field exists in the module and is mass-updatable (Email, lookup, layout and multi-line fields are not).";
	}
	return NULL;
}

void
zcrm_raise_zoho(const ZcrmCall *call, const char *what, const char *context,
				ZcError *err)
{
	char	   *code = pstrdup(err->code ? err->code : "UNKNOWN");
	char	   *message = err->message ? pstrdup(err->message) : NULL;
	char	   *details = err->details ? pstrdup(err->details) : NULL;
	char	   *param = err->param_name ? pstrdup(err->param_name) : NULL;
	const char *hint;
	long		status = call->http_status;

	zc_error_free(err);
	hint = hint_for(code, param,
					strcmp(code, "INVALID_DATA") == 0 ?
					details_string(details, "expected_data_type") : NULL,
					status, call);

	ereport(ERROR,
			(errcode(zcrm_sqlstate_for_zoho(code, status)),
			 errmsg("%s failed with Zoho CRM error %s", what, code),
			 message ?
			 errdetail("Zoho CRM answered HTTP %ld: \"%s\"; details: %s.",
					   status, message, details ? details : "none") :
			 errdetail("Zoho CRM answered HTTP %ld with no message.", status),
			 hint ? errhint("%s", hint) : 0,
			 context ? errcontext("%s", context) : 0,
			 errhidestmt(true)));
	pg_unreachable();
}

void
zcrm_raise_call(const ZcrmCall *call, const char *what, const char *context)
{
	ZcError		err;

	switch (call->outcome)
	{
		case ZCRM_ANSWERED:
			break;
		case ZCRM_NETWORK_ERROR:
			ereport(ERROR,
					(errcode(ERRCODE_CONNECTION_FAILURE),
					 errmsg("%s failed: could not reach Zoho CRM", what),
					 errdetail("%s (after %d attempts).", call->errmsg, call->attempts),
					 errhint("Check the server's api_domain and the network; transient failures were retried up to the server's max_retries."),
					 context ? errcontext("%s", context) : 0,
					 errhidestmt(true)));
			break;
		case ZCRM_TIMEOUT:
			ereport(ERROR,
					(errcode(ERRCODE_CONNECTION_FAILURE),
					 errmsg("%s failed: Zoho CRM did not answer in time", what),
					 errdetail("%s (after %d attempts).", call->errmsg, call->attempts),
					 errhint("Retry later, or raise the server's timeout_ms option."),
					 context ? errcontext("%s", context) : 0,
					 errhidestmt(true)));
			break;
		case ZCRM_UNKNOWN_OUTCOME:
			ereport(ERROR,
					(errcode(ERRCODE_T_R_STATEMENT_COMPLETION_UNKNOWN),
					 errmsg("outcome of the %s is unknown", what),
					 errdetail("The request was sent but no answer arrived (%s). It was not sent again, because a second request could schedule a second job.",
							   call->errmsg),
					 errhint("Check the CRM's scheduled mass updates for this custom view before scheduling again: if a job is already running, Zoho answers a new request with ALREADY_SCHEDULED."),
					 context ? errcontext("%s", context) : 0,
					 errhidestmt(true)));
			break;
		case ZCRM_TOKEN_ERROR:
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION),
					 errmsg("%s failed: no access token", what),
					 errdetail("%s", call->errmsg),
					 context ? errcontext("%s", context) : 0,
					 errhidestmt(true)));
			break;
	}

	if (zc_parse_error(call->response, &err))
		zcrm_raise_zoho(call, what, context, &err);
	zc_error_free(&err);

	/* an answer without an envelope: a proxy page, an empty 5xx, ... */
	ereport(ERROR,
			(errcode(zcrm_sqlstate_for_zoho(NULL, call->http_status)),
			 errmsg("%s failed with HTTP status %ld from Zoho CRM", what,
					call->http_status),
			 call->response && call->response[0] ?
			 errdetail("The answer was not a Zoho error envelope: %s.",
					   answer_for_detail(call->response)) :
			 errdetail("The answer had no body."),
			 call->http_status == 429 ?
			 errhint("Zoho CRM's API credit or concurrency limit was reached: retry later, or lower the server's max_concurrency option.") :
			 call->http_status >= 500 ?
			 errhint("%s", server_failure_hint(call)) : 0,
			 context ? errcontext("%s", context) : 0,
			 errhidestmt(true)));
	pg_unreachable();
}

void
zcrm_raise_malformed(const ZcrmCall *call, const char *what,
					 const char *context, ZcError *err,
					 const char *consequence, const char *hint)
{
	char	   *why = pstrdup(err->message ? err->message : "unreadable");

	zc_error_free(err);
	if (call->http_status >= 300)
		zcrm_raise_call(call, what, context);
	ereport(ERROR,
			(errcode(ERRCODE_FDW_ERROR),
			 errmsg("%s failed: unreadable answer from Zoho CRM", what),
			 errdetail("HTTP %ld: %s.%s%s", call->http_status, why,
					   consequence ? " " : "", consequence ? consequence : ""),
			 hint ? errhint("%s", hint) : 0,
			 context ? errcontext("%s", context) : 0,
			 errhidestmt(true)));
}
