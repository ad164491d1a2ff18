/*-------------------------------------------------------------------------
 *
 * options.c
 *		The zcrm foreign data wrapper's options: the validator, and the
 *		lookup of servers and user mappings for the rest of the extension.
 *
 * A static table of (option, catalog) drives the validator, as in
 * contrib/postgres_fdw/option.c.  Secrets (client_secret, refresh_token,
 * access_token) are legal only in user mappings, and no message here ever
 * contains an option's value unless that option is known not to be secret
 * and not to be a URL (a URL may carry user information).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <ctype.h>
#include <limits.h>

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/reloptions.h"
#include "access/table.h"
#include "catalog/pg_foreign_data_wrapper.h"
#include "catalog/pg_foreign_server.h"
#include "catalog/pg_foreign_table.h"
#include "catalog/pg_user_mapping.h"
#include "commands/defrem.h"
#include "fmgr.h"
#include "foreign/foreign.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "tcop/tcopprot.h"
#include "utils/builtins.h"
#include "utils/inval.h"
#include "utils/elog.h"
#include "utils/syscache.h"

#include "client.h"
#include "options.h"
#include "utility_hook.h"

PG_FUNCTION_INFO_V1(zcrm_fdw_validator);

#define ZCRM_FDW_NAME "zcrm"

/* What kind of value an option takes. */
typedef enum ZcrmOptionKind
{
	ZOPT_DC,
	ZOPT_URL,
	ZOPT_API_VERSION,
	ZOPT_INT,
	ZOPT_CREDENTIAL,			/* client_id: not secret, but not echoed */
	ZOPT_SECRET
} ZcrmOptionKind;

typedef struct ZcrmOption
{
	const char *keyword;
	Oid			catalog;		/* ForeignServerRelationId or UserMappingRelationId */
	ZcrmOptionKind kind;
	int			min;			/* ZOPT_INT only */
	int			max;
	const char *unit;
} ZcrmOption;

static const ZcrmOption zcrm_options[] = {
	{"dc", ForeignServerRelationId, ZOPT_DC},
	{"accounts_url", ForeignServerRelationId, ZOPT_URL},
	{"api_domain", ForeignServerRelationId, ZOPT_URL},
	{"api_version", ForeignServerRelationId, ZOPT_API_VERSION},
	{"connect_timeout_ms", ForeignServerRelationId, ZOPT_INT, 1, 600000, "milliseconds"},
	{"timeout_ms", ForeignServerRelationId, ZOPT_INT, 1, 3600000, "milliseconds"},
	{"max_retries", ForeignServerRelationId, ZOPT_INT, 0, 20, "retries"},
	{"max_concurrency", ForeignServerRelationId, ZOPT_INT, 1, 25, "calls"},
	{"client_id", UserMappingRelationId, ZOPT_CREDENTIAL},
	{"client_secret", UserMappingRelationId, ZOPT_SECRET},
	{"refresh_token", UserMappingRelationId, ZOPT_SECRET},
	{"access_token", UserMappingRelationId, ZOPT_SECRET},
	{NULL}
};

#define ZCRM_DEFAULT_DC "com"
#define ZCRM_DEFAULT_API_VERSION "v8"
#define ZCRM_DEFAULT_CONNECT_TIMEOUT_MS 5000
#define ZCRM_DEFAULT_TIMEOUT_MS 30000
#define ZCRM_DEFAULT_MAX_RETRIES 5
#define ZCRM_DEFAULT_MAX_CONCURRENCY 5

/* Zoho's data centres, reference section 4.1. */
typedef struct ZcrmDataCentre
{
	const char *dc;
	const char *accounts_url;
	const char *api_domain;
} ZcrmDataCentre;

static const ZcrmDataCentre zcrm_data_centres[] = {
	{"com", "https://accounts.zoho.com", "https://www.zohoapis.com"},
	{"eu", "https://accounts.zoho.eu", "https://www.zohoapis.eu"},
	{"in", "https://accounts.zoho.in", "https://www.zohoapis.in"},
	{"com.au", "https://accounts.zoho.com.au", "https://www.zohoapis.com.au"},
	{"jp", "https://accounts.zoho.jp", "https://www.zohoapis.jp"},
	{"com.cn", "https://accounts.zoho.com.cn", "https://www.zohoapis.com.cn"},
	{"ca", "https://accounts.zohocloud.ca", "https://www.zohoapis.ca"},
	{"sa", "https://accounts.zoho.sa", "https://www.zohoapis.sa"},
	{NULL}
};

/* API versions the mass-update endpoint exists in, reference section 1.1. */
static const char *const zcrm_api_versions[] = {
	"v2", "v2.1", "v3", "v4", "v5", "v6", "v7", "v8", NULL
};

static const ZcrmDataCentre *
find_dc(const char *dc)
{
	const ZcrmDataCentre *d;

	for (d = zcrm_data_centres; d->dc; d++)
		if (strcmp(d->dc, dc) == 0)
			return d;
	return NULL;
}

const char *
zcrm_dc_accounts_url(const char *dc)
{
	const ZcrmDataCentre *d = find_dc(dc ? dc : ZCRM_DEFAULT_DC);

	return d ? d->accounts_url : NULL;
}

const char *
zcrm_dc_api_domain(const char *dc)
{
	const ZcrmDataCentre *d = find_dc(dc ? dc : ZCRM_DEFAULT_DC);

	return d ? d->api_domain : NULL;
}

static const char *
catalog_name(Oid catalog)
{
	if (catalog == ForeignServerRelationId)
		return "server";
	if (catalog == UserMappingRelationId)
		return "user mapping";
	if (catalog == ForeignDataWrapperRelationId)
		return "foreign-data wrapper";
	return "object";
}

/* "a, b, c" of the options valid in catalog, or NULL if none. */
static char *
valid_options_list(Oid catalog)
{
	StringInfoData buf;
	const ZcrmOption *opt;

	initStringInfo(&buf);
	for (opt = zcrm_options; opt->keyword; opt++)
	{
		if (opt->catalog != catalog)
			continue;
		appendStringInfo(&buf, "%s%s", buf.len > 0 ? ", " : "", opt->keyword);
	}
	return buf.len > 0 ? buf.data : NULL;
}

static const ZcrmOption *
find_option(const char *keyword)
{
	const ZcrmOption *opt;

	for (opt = zcrm_options; opt->keyword; opt++)
		if (strcmp(opt->keyword, keyword) == 0)
			return opt;
	return NULL;
}

/*
 * Strict integer parse: optional sign, digits, nothing else.  Returns false
 * on junk or overflow.
 */
static bool
parse_int_strict(const char *s, int *result)
{
	char	   *end;
	long		v;

	if (s == NULL || *s == '\0' || isspace((unsigned char) *s))
		return false;
	errno = 0;
	v = strtol(s, &end, 10);
	if (errno != 0 || *end != '\0' || v < INT_MIN || v > INT_MAX)
		return false;
	*result = (int) v;
	return true;
}

static bool
is_loopback_host(const char *host, size_t len)
{
	int			parts[4];
	int			n = 0;
	size_t		i = 0;

	if ((len == 9 && pg_strncasecmp(host, "localhost", 9) == 0) ||
		(len == 10 && pg_strncasecmp(host, "localhost.", 10) == 0))
		return true;
	if (len == 5 && strncmp(host, "[::1]", 5) == 0)
		return true;

	/* dotted quad in 127.0.0.0/8 */
	while (n < 4)
	{
		int			v = 0;
		size_t		digits = 0;

		while (i < len && isdigit((unsigned char) host[i]) && digits < 3)
		{
			v = v * 10 + (host[i] - '0');
			i++;
			digits++;
		}
		if (digits == 0 || v > 255)
			return false;
		parts[n++] = v;
		if (n < 4)
		{
			if (i >= len || host[i] != '.')
				return false;
			i++;
		}
	}
	return i == len && parts[0] == 127;
}

const char *
zcrm_check_base_url(const char *url)
{
	const char *p;
	const char *authority;
	size_t		alen;
	size_t		hostlen;
	bool		https;

	for (p = url; *p; p++)
		if ((unsigned char) *p <= ' ' || *p == 0x7f)
			return "must not contain spaces or control characters";

	if (pg_strncasecmp(url, "https://", 8) == 0)
	{
		https = true;
		authority = url + 8;
	}
	else if (pg_strncasecmp(url, "http://", 7) == 0)
	{
		https = false;
		authority = url + 7;
	}
	else
		return "must start with https:// (or http:// for a loopback host)";

	if (strchr(url, '?') || strchr(url, '#'))
		return "must not contain a query or a fragment";

	alen = strcspn(authority, "/");
	if (memchr(authority, '@', alen))
		return "must not contain user information";
	if (alen == 0)
		return "has no host";

	if (authority[0] == '[')
	{
		const char *close = memchr(authority, ']', alen);

		if (close == NULL)
			return "has an unterminated IPv6 address";
		hostlen = close - authority + 1;
	}
	else
	{
		const char *colon = memchr(authority, ':', alen);

		hostlen = colon ? (size_t) (colon - authority) : alen;
		if (hostlen == 0)
			return "has no host";
		for (p = authority; p < authority + hostlen; p++)
			if (!isalnum((unsigned char) *p) && *p != '-' && *p != '.' && *p != '_')
				return "has an invalid host name";
	}

	if (hostlen < alen)
	{
		const char *port = authority + hostlen;
		size_t		plen = alen - hostlen;
		long		v = 0;
		size_t		i;

		if (port[0] != ':' || plen < 2 || plen > 6)
			return "has an invalid port";
		for (i = 1; i < plen; i++)
		{
			if (!isdigit((unsigned char) port[i]))
				return "has an invalid port";
			v = v * 10 + (port[i] - '0');
		}
		if (v < 1 || v > 65535)
			return "has an invalid port";
	}

	if (!https && !is_loopback_host(authority, hostlen))
		return "must use https unless its host is a loopback host (127.0.0.0/8, ::1, localhost)";

	return NULL;
}

static void
check_option_value(const ZcrmOption *opt, DefElem *def)
{
	char	   *value = defGetString(def);

	switch (opt->kind)
	{
		case ZOPT_DC:
			if (find_dc(value) == NULL)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errhidestmt(true),
						 errmsg("invalid value for option \"%s\": \"%s\"",
								opt->keyword, value),
						 errhint("Valid values are com, eu, in, com.au, jp, com.cn, ca and sa.")));
			break;
		case ZOPT_URL:
			{
				const char *why = zcrm_check_base_url(value);

				/* the URL itself is not echoed: it may carry credentials */
				if (why)
					ereport(ERROR,
							(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
							 errhidestmt(true),
							 errmsg("invalid value for option \"%s\": the URL %s",
									opt->keyword, why),
							 errhint("Give a base URL such as https://accounts.zoho.eu; http is allowed only for loopback hosts (127.0.0.0/8, ::1, localhost).")));
				break;
			}
		case ZOPT_API_VERSION:
			{
				const char *const *v;

				for (v = zcrm_api_versions; *v; v++)
					if (strcmp(*v, value) == 0)
						break;
				if (*v == NULL)
					ereport(ERROR,
							(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
							 errhidestmt(true),
							 errmsg("invalid value for option \"%s\": \"%s\"",
									opt->keyword, value),
							 errhint("Valid values are v2, v2.1, v3, v4, v5, v6, v7 and v8.")));
				break;
			}
		case ZOPT_INT:
			{
				int			v;

				if (!parse_int_strict(value, &v) || v < opt->min || v > opt->max)
					ereport(ERROR,
							(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
							 errhidestmt(true),
							 errmsg("invalid value for option \"%s\": \"%s\"",
									opt->keyword, value),
							 errhint("Valid values are integers from %d to %d (%s).",
									 opt->min, opt->max, opt->unit)));
				break;
			}
		case ZOPT_CREDENTIAL:
		case ZOPT_SECRET:
			if (value[0] == '\0')
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errhidestmt(true),
						 errmsg("option \"%s\" must not be empty", opt->keyword)));
			break;
	}
}

/*
 * Validate the options of a zcrm server or user mapping.
 *
 * PostgreSQL calls this with the complete option list after CREATE or
 * ALTER, so combination rules (the three OAuth options together, or
 * access_token alone) can be checked here.  Errors: unknown option or a
 * secret outside a user mapping HV00D, bad value 22023.
 */
Datum
zcrm_fdw_validator(PG_FUNCTION_ARGS)
{
	List	   *options = untransformRelOptions(PG_GETARG_DATUM(0));
	Oid			catalog = PG_GETARG_OID(1);
	ListCell   *cell;
	bool		has_client_id = false;
	bool		has_client_secret = false;
	bool		has_refresh_token = false;
	bool		has_access_token = false;

	foreach(cell, options)
	{
		DefElem    *def = (DefElem *) lfirst(cell);
		const ZcrmOption *opt = find_option(def->defname);

		if (opt == NULL || opt->catalog != catalog)
		{
			char	   *valid = valid_options_list(catalog);

			if (opt && opt->catalog == UserMappingRelationId)
				ereport(ERROR,
						(errcode(ERRCODE_FDW_INVALID_OPTION_NAME),
						 errhidestmt(true),
						 errmsg("option \"%s\" belongs in a user mapping, not in a %s",
								def->defname, catalog_name(catalog)),
						 errdetail("Credentials live in user mappings, whose options only their owner and superusers can read."),
						 valid ? errhint("Valid options for a %s are: %s.",
										 catalog_name(catalog), valid) :
						 errhint("Put client_id, client_secret and refresh_token, or access_token, in CREATE USER MAPPING ... OPTIONS (...).")));

			ereport(ERROR,
					(errcode(ERRCODE_FDW_INVALID_OPTION_NAME),
					 errhidestmt(true),
					 errmsg("invalid option \"%s\" for a zcrm %s",
							def->defname, catalog_name(catalog)),
					 valid ? errhint("Valid options for a %s are: %s.",
									 catalog_name(catalog), valid) :
					 errhint("A zcrm %s takes no options.", catalog_name(catalog))));
		}

		check_option_value(opt, def);

		if (strcmp(opt->keyword, "client_id") == 0)
			has_client_id = true;
		else if (strcmp(opt->keyword, "client_secret") == 0)
			has_client_secret = true;
		else if (strcmp(opt->keyword, "refresh_token") == 0)
			has_refresh_token = true;
		else if (strcmp(opt->keyword, "access_token") == 0)
			has_access_token = true;
	}

	if (catalog == UserMappingRelationId)
	{
		bool		any_oauth = has_client_id || has_client_secret || has_refresh_token;

		if (has_access_token && any_oauth)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errhidestmt(true),
					 errmsg("option \"access_token\" cannot be combined with client_id, client_secret or refresh_token"),
					 errhint("Give either client_id, client_secret and refresh_token, or access_token alone.")));
		if (!has_access_token &&
			!(has_client_id && has_client_secret && has_refresh_token))
		{
			StringInfoData missing;

			initStringInfo(&missing);
			if (!has_client_id)
				appendStringInfoString(&missing, "client_id");
			if (!has_client_secret)
				appendStringInfo(&missing, "%sclient_secret", missing.len ? ", " : "");
			if (!has_refresh_token)
				appendStringInfo(&missing, "%srefresh_token", missing.len ? ", " : "");
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errhidestmt(true),
					 errmsg("a zcrm user mapping needs client_id, client_secret and refresh_token, or access_token"),
					 errdetail("Missing: %s.", missing.data),
					 errhint("Valid options for a user mapping are: %s.",
							 valid_options_list(UserMappingRelationId))));
		}
	}

	PG_RETURN_VOID();
}

static Oid
zcrm_fdw_oid(bool missing_ok)
{
	ForeignDataWrapper *fdw = GetForeignDataWrapperByName(ZCRM_FDW_NAME, true);

	if (fdw == NULL)
	{
		if (missing_ok)
			return InvalidOid;
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("foreign-data wrapper \"%s\" does not exist", ZCRM_FDW_NAME),
				 errhint("Run CREATE EXTENSION massupdate.")));
	}
	return fdw->fdwid;
}

/* ---- keeping secrets out of the server log ---- */

static emit_log_hook_type prev_emit_log_hook = NULL;

/* Option names whose values are secrets (the ZOPT_SECRET rows above). */
static const char *const zcrm_secret_keywords[] = {
	"client_secret", "refresh_token", "access_token", NULL
};

/* Case-insensitive strstr, ASCII only. */
static const char *
find_ci(const char *haystack, const char *needle)
{
	size_t		n = strlen(needle);
	const char *p;

	for (p = haystack; *p; p++)
		if (pg_strncasecmp(p, needle, n) == 0)
			return p;
	return NULL;
}

/* Where the first secret option name occurs in s, or NULL. */
static const char *
find_secret_keyword(const char *s)
{
	const char *first = NULL;
	int			i;

	if (s == NULL)
		return NULL;
	for (i = 0; zcrm_secret_keywords[i]; i++)
	{
		const char *p = find_ci(s, zcrm_secret_keywords[i]);

		if (p && (first == NULL || p < first))
			first = p;
	}
	return first;
}

/*
 * What the log may show of a command that utility_hook.c recognised, from
 * its parse tree, as a user mapping statement (or a DO block or dynamic SQL
 * making one): no STATEMENT or CONTEXT line, no internal query, and lines
 * that quote the statement (log_statement's "statement:" and "execute",
 * log_min_duration_statement's "duration:", the DEBUG2 "parse" and
 * "bind" lines) cut where the secrets may start.
 */
static void
hide_marked_statement(ErrorData *edata)
{
	const char *query = debug_query_string;
	size_t		qlen = strlen(query);
	size_t		mlen;
	bool		log_statement_line;
	int			visible;

	/* log_statement's line for the simple protocol: the text just parsed */
	log_statement_line = edata->elevel == LOG && edata->hide_stmt &&
		edata->message != NULL && strncmp(edata->message, "statement: ", 11) == 0 &&
		strcmp(edata->message + 11, query) == 0;
	visible = zcrm_log_visible_prefix(query, log_statement_line);

	/*
	 * The extended protocol's DEBUG2 "parse" line comes before the text is
	 * parsed at all, so no parse tree can decide: any text naming the
	 * keyword MAPPING loses its quote there.
	 */
	if (visible < 0 && edata->elevel < LOG && edata->message != NULL &&
		(mlen = strlen(edata->message)) >= qlen &&
		strcmp(edata->message + mlen - qlen, query) == 0 &&
		find_ci(query, "mapping") != NULL)
		visible = 0;
	if (visible < 0)
		return;

	edata->hide_stmt = true;
	edata->hide_ctx = true;
	edata->internalquery = NULL;
	if (edata->message != NULL && (mlen = strlen(edata->message)) >= qlen &&
		strcmp(edata->message + mlen - qlen, query) == 0)
		edata->message = psprintf("%.*s[the rest is hidden by massupdate: it may hold user mapping secrets]",
								  (int) (mlen - qlen + visible), edata->message);
}

/*
 * emit_log_hook: PostgreSQL logs the text of a failing statement (STATEMENT:
 * and CONTEXT: lines, log_min_error_statement) and, with log_statement or
 * log_min_duration_statement, every statement.  For CREATE or ALTER USER
 * MAPPING that text holds the secrets, and the errors that log it come from
 * PostgreSQL itself (the role does not exist, the mapping exists already,
 * an option is given twice), not from our validator.  So any log entry
 * whose statement, context or message names a secret option loses that
 * part: the STATEMENT and CONTEXT lines are dropped, and a logged
 * statement is cut before its OPTIONS clause.  The client still gets the
 * whole error.  That keyword match is the fallback, for texts that never
 * parsed; the decision proper comes from the parse tree (utility_hook.c,
 * hide_marked_statement).
 */
static void
zcrm_hide_secrets_hook(ErrorData *edata)
{
	const char *p;

	if (edata->output_to_server && debug_query_string != NULL)
		hide_marked_statement(edata);
	if (edata->output_to_server)
	{
		if (!edata->hide_stmt && find_secret_keyword(debug_query_string))
			edata->hide_stmt = true;
		if (!edata->hide_ctx && find_secret_keyword(edata->context))
			edata->hide_ctx = true;
		if (edata->internalquery && find_secret_keyword(edata->internalquery))
			edata->internalquery = NULL;
		if (edata->elevel == LOG && (p = find_secret_keyword(edata->message)) != NULL)
		{
			/* "statement: CREATE USER MAPPING ... OPTIONS (client_secret '...')" */
			const char *cut = p;
			const char *q;

			for (q = edata->message; q < p; q++)
				if (pg_strncasecmp(q, "options", 7) == 0)
					cut = q;
			edata->message = psprintf("%.*s[the rest is hidden by massupdate: it may hold user mapping secrets]",
									  (int) (cut - edata->message), edata->message);
		}
	}
	if (prev_emit_log_hook)
		prev_emit_log_hook(edata);
}

void
zcrm_options_init(void)
{
	static bool done = false;

	if (done)
		return;
	done = true;
	prev_emit_log_hook = emit_log_hook;
	emit_log_hook = zcrm_hide_secrets_hook;
}

static int
int_option(DefElem *def)
{
	int			v;

	/* the validator already checked it; be strict anyway */
	if (!parse_int_strict(defGetString(def), &v))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid value for option \"%s\"", def->defname)));
	return v;
}

static ZcrmServer *
server_from_catalog(ForeignServer *fs)
{
	ZcrmServer *srv = palloc0(sizeof(ZcrmServer));
	ListCell   *cell;

	srv->serverid = fs->serverid;
	srv->servername = pstrdup(fs->servername);
	srv->dc = ZCRM_DEFAULT_DC;
	srv->api_version = ZCRM_DEFAULT_API_VERSION;
	srv->connect_timeout_ms = ZCRM_DEFAULT_CONNECT_TIMEOUT_MS;
	srv->timeout_ms = ZCRM_DEFAULT_TIMEOUT_MS;
	srv->max_retries = ZCRM_DEFAULT_MAX_RETRIES;
	srv->max_concurrency = ZCRM_DEFAULT_MAX_CONCURRENCY;

	foreach(cell, fs->options)
	{
		DefElem    *def = (DefElem *) lfirst(cell);

		if (strcmp(def->defname, "dc") == 0)
			srv->dc = pstrdup(defGetString(def));
		else if (strcmp(def->defname, "accounts_url") == 0)
			srv->accounts_url = pstrdup(defGetString(def));
		else if (strcmp(def->defname, "api_domain") == 0)
			srv->api_domain = pstrdup(defGetString(def));
		else if (strcmp(def->defname, "api_version") == 0)
			srv->api_version = pstrdup(defGetString(def));
		else if (strcmp(def->defname, "connect_timeout_ms") == 0)
			srv->connect_timeout_ms = int_option(def);
		else if (strcmp(def->defname, "timeout_ms") == 0)
			srv->timeout_ms = int_option(def);
		else if (strcmp(def->defname, "max_retries") == 0)
			srv->max_retries = int_option(def);
		else if (strcmp(def->defname, "max_concurrency") == 0)
			srv->max_concurrency = int_option(def);
	}

	if (srv->accounts_url == NULL)
		srv->accounts_url = pstrdup(zcrm_dc_accounts_url(srv->dc));
	else
	{
		/* the client appends /oauth/v2/token */
		size_t		len = strlen(srv->accounts_url);

		while (len > 0 && srv->accounts_url[len - 1] == '/')
			srv->accounts_url[--len] = '\0';
	}
	if (srv->api_domain)
	{
		size_t		len = strlen(srv->api_domain);

		while (len > 0 && srv->api_domain[len - 1] == '/')
			srv->api_domain[--len] = '\0';
	}
	return srv;
}

static void
check_zcrm_server(ForeignServer *fs)
{
	if (fs->fdwid != zcrm_fdw_oid(false))
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("server \"%s\" is not a zcrm server", fs->servername),
				 errhint("Use a server created with FOREIGN DATA WRAPPER zcrm.")));
}

static int
cmp_names(const ListCell *a, const ListCell *b)
{
	return strcmp((const char *) lfirst(a), (const char *) lfirst(b));
}

/*
 * The zcrm server of that name; with a NULL name the only zcrm server of
 * the database (none: 42704, several: 22023 with a hint listing them).
 */
ZcrmServer *
zcrm_get_server(const char *servername)
{
	ForeignServer *fs;

	if (servername == NULL)
	{
		Oid			fdwid = zcrm_fdw_oid(false);
		Relation	rel;
		SysScanDesc scan;
		HeapTuple	tup;
		List	   *names = NIL;
		Oid			found = InvalidOid;

		rel = table_open(ForeignServerRelationId, AccessShareLock);
		scan = systable_beginscan(rel, InvalidOid, false, NULL, 0, NULL);
		while (HeapTupleIsValid(tup = systable_getnext(scan)))
		{
			Form_pg_foreign_server form = (Form_pg_foreign_server) GETSTRUCT(tup);

			if (form->srvfdw != fdwid)
				continue;
			found = form->oid;
			names = lappend(names, pstrdup(NameStr(form->srvname)));
		}
		systable_endscan(scan);
		table_close(rel, AccessShareLock);

		if (names == NIL)
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_OBJECT),
					 errmsg("no zcrm server exists"),
					 errhint("Create one with CREATE SERVER ... FOREIGN DATA WRAPPER zcrm, and a user mapping for it.")));
		if (list_length(names) > 1)
		{
			StringInfoData buf;
			ListCell   *cell;

			list_sort(names, cmp_names);
			initStringInfo(&buf);
			foreach(cell, names)
				appendStringInfo(&buf, "%s%s", buf.len ? ", " : "",
								 quote_identifier((char *) lfirst(cell)));
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("%d zcrm servers exist, so the server must be named",
							list_length(names)),
					 errhint("Pass server => one of: %s.", buf.data)));
		}
		return zcrm_get_server_by_oid(found);
	}

	fs = GetForeignServerByName(servername, true);
	if (fs == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("server \"%s\" does not exist", servername)));
	check_zcrm_server(fs);
	return server_from_catalog(fs);
}

ZcrmServer *
zcrm_get_server_by_oid(Oid serverid)
{
	ForeignServer *fs = GetForeignServerExtended(serverid, FSV_MISSING_OK);

	if (fs == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("server with OID %u does not exist", serverid)));
	check_zcrm_server(fs);
	return server_from_catalog(fs);
}

static void
stamp_of(HeapTuple tup, ZcrmRowStamp *stamp)
{
	stamp->xmin = HeapTupleHeaderGetRawXmin(tup->t_data);
	stamp->tid = tup->t_self;
}

static char *
role_name(Oid roleid)
{
	char	   *name = GetUserNameFromId(roleid, true);

	return name ? name : psprintf("OID %u", roleid);
}

/*
 * Report a lookup failure: raise it, or with err given, fill err and return
 * NULL (the worker must not abort its round over one role's mapping).
 */
static ZcrmMapping *
lookup_failure(ZcrmLookupError *err, int sqlstate, const char *message,
			   const char *detail, const char *hint)
{
	if (err == NULL)
		ereport(ERROR,
				(errcode(sqlstate),
				 errmsg("%s", message),
				 detail ? errdetail("%s", detail) : 0,
				 hint ? errhint("%s", hint) : 0,
				 errhidestmt(true)));
	err->sqlstate = sqlstate;
	strlcpy(err->message, message, sizeof(err->message));
	strlcpy(err->detail, detail ? detail : "", sizeof(err->detail));
	strlcpy(err->hint, hint ? hint : "", sizeof(err->hint));
	return NULL;
}

ZcrmMapping *
zcrm_lookup_mapping(ZcrmServer *srv, Oid roleid, ZcrmLookupError *err)
{
	AclResult	aclresult;
	HeapTuple	stup;
	HeapTuple	utup;
	Datum		datum;
	bool		isnull;
	ZcrmMapping *map;
	ListCell   *cell;

	/*
	 * The worker looks mappings up inside transactions that may span a
	 * committed DROP or ALTER of the mapping: take pending invalidations
	 * first so a dropped mapping is never used.
	 */
	AcceptInvalidationMessages();

#if PG_VERSION_NUM >= 160000
	aclresult = object_aclcheck(ForeignServerRelationId, srv->serverid, roleid, ACL_USAGE);
#else
	aclresult = pg_foreign_server_aclcheck(srv->serverid, roleid, ACL_USAGE);
#endif
	if (aclresult != ACLCHECK_OK)
		return lookup_failure(err, ERRCODE_INSUFFICIENT_PRIVILEGE,
							  psprintf("permission denied for foreign server %s",
									   srv->servername),
							  psprintf("Role \"%s\" lacks USAGE on the server.",
									   role_name(roleid)),
							  psprintf("GRANT USAGE ON FOREIGN SERVER %s TO %s;",
									   quote_identifier(srv->servername),
									   quote_identifier(role_name(roleid))));

	stup = SearchSysCache1(FOREIGNSERVEROID, ObjectIdGetDatum(srv->serverid));
	if (!HeapTupleIsValid(stup))
		return lookup_failure(err, ERRCODE_UNDEFINED_OBJECT,
							  psprintf("server \"%s\" does not exist", srv->servername),
							  NULL, NULL);

	utup = SearchSysCache2(USERMAPPINGUSERSERVER, ObjectIdGetDatum(roleid),
						   ObjectIdGetDatum(srv->serverid));
	if (!HeapTupleIsValid(utup))
		utup = SearchSysCache2(USERMAPPINGUSERSERVER, ObjectIdGetDatum(InvalidOid),
							   ObjectIdGetDatum(srv->serverid));
	if (!HeapTupleIsValid(utup))
	{
		ReleaseSysCache(stup);
		return lookup_failure(err, ERRCODE_UNDEFINED_OBJECT,
							  psprintf("user mapping for role \"%s\" on server \"%s\" does not exist",
									   role_name(roleid), srv->servername),
							  "No request was sent.",
							  psprintf("Create one with CREATE USER MAPPING FOR %s SERVER %s OPTIONS (client_id '...', client_secret '...', refresh_token '...').",
									   quote_identifier(role_name(roleid)),
									   quote_identifier(srv->servername)));
	}

	map = palloc0(sizeof(ZcrmMapping));
	map->serverid = srv->serverid;
	map->umid = ((Form_pg_user_mapping) GETSTRUCT(utup))->oid;
	map->roleid = ((Form_pg_user_mapping) GETSTRUCT(utup))->umuser;
	stamp_of(stup, &map->server_stamp);
	stamp_of(utup, &map->mapping_stamp);

	datum = SysCacheGetAttr(USERMAPPINGUSERSERVER, utup,
							Anum_pg_user_mapping_umoptions, &isnull);
	if (!isnull)
	{
		foreach(cell, untransformRelOptions(datum))
		{
			DefElem    *def = (DefElem *) lfirst(cell);

			if (strcmp(def->defname, "client_id") == 0)
				map->client_id = defGetString(def);
			else if (strcmp(def->defname, "client_secret") == 0)
				map->client_secret = defGetString(def);
			else if (strcmp(def->defname, "refresh_token") == 0)
				map->refresh_token = defGetString(def);
			else if (strcmp(def->defname, "access_token") == 0)
				map->access_token = defGetString(def);
		}
	}
	ReleaseSysCache(utup);
	ReleaseSysCache(stup);

	if (map->access_token == NULL &&
		(map->client_id == NULL || map->client_secret == NULL || map->refresh_token == NULL))
		return lookup_failure(err, ERRCODE_INVALID_PARAMETER_VALUE,
							  psprintf("user mapping for role \"%s\" on server \"%s\" has no credentials",
									   role_name(roleid), srv->servername),
							  "No request was sent.",
							  "ALTER USER MAPPING ... OPTIONS (ADD client_id '...', ADD client_secret '...', ADD refresh_token '...').");
	return map;
}

ZcrmMapping *
zcrm_get_mapping(ZcrmServer *srv, Oid roleid)
{
	return zcrm_lookup_mapping(srv, roleid, NULL);
}

Oid
zcrm_require_user_mapping(ZcrmServer *srv, Oid roleid)
{
	return zcrm_get_mapping(srv, roleid)->umid;
}
