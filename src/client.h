/*-------------------------------------------------------------------------
 *
 * client.h
 *		Authenticated calls to Zoho CRM's mass-update endpoint.
 *
 * The interface between the SQL-facing code (mass_update.c, view_jobs.c,
 * worker.c) and the transport: server options, user mappings, the token
 * cache and libcurl.  No jansson here.
 *
 *-------------------------------------------------------------------------
 */
#ifndef ZCRM_CLIENT_H
#define ZCRM_CLIENT_H

#include "postgres.h"

typedef struct ZcrmServer
{
	Oid			serverid;
	char	   *servername;
	char	   *dc;				/* com, eu, ... */
	char	   *accounts_url;	/* base, no /oauth/v2/token; default from dc */
	char	   *api_domain;		/* NULL: take from token response (or dc default with access_token) */
	char	   *api_version;	/* "v8", "v2.1", ... */
	int			connect_timeout_ms;
	int			timeout_ms;
	int			max_retries;
	int			max_concurrency;
} ZcrmServer;

/* NULL name: the only zcrm server (42704 none, 22023 several with hint listing them). 42704 unknown. */
extern ZcrmServer *zcrm_get_server(const char *servername);
extern ZcrmServer *zcrm_get_server_by_oid(Oid serverid);
/* USAGE on server (42501) and a user mapping for role (42704, no request made). Returns umid. */
extern Oid zcrm_require_user_mapping(ZcrmServer *srv, Oid roleid);

typedef enum ZcrmOutcome
{
	ZCRM_ANSWERED,			/* an HTTP answer arrived: see http_status / response */
	ZCRM_NETWORK_ERROR,		/* connect/reset/DNS etc. after retries, request may not have been applied */
	ZCRM_TIMEOUT,			/* timeout after retries */
	ZCRM_UNKNOWN_OUTCOME,	/* non-retriable call (retry_unsafe) failed after it was sent */
	ZCRM_TOKEN_ERROR		/* only with ZCRM_NO_RAISE: the token could not be obtained; errmsg says why */
} ZcrmOutcome;

typedef struct ZcrmCall
{
	/* in */
	ZcrmServer *server;
	Oid			roleid;			/* whose user mapping/token to use */
	const char *method;			/* "POST" or "GET" */
	const char *module;			/* module API name, already validated */
	const char *query;			/* e.g. "job_id=123", or NULL */
	const char *body;			/* JSON text or NULL */
	bool		retry_unsafe;	/* view-job POST: never re-sent once sent */
	int			max_retries;	/* -1: server's max_retries; 0 for the worker */
	/* out (palloc'd in the caller's memory context) */
	ZcrmOutcome outcome;
	long		http_status;
	char	   *response;		/* body text, NUL-terminated, or NULL */
	int			attempts;
	char		errmsg[256];	/* transport error text, never secrets */
	char	   *credits_remaining;	/* X-API-CREDITS-REMAINING if sent, else NULL */
} ZcrmCall;

#define ZCRM_NO_RAISE 0x01	/* worker: token problems become ZCRM_TOKEN_ERROR instead of ERROR */

/*
 * Runs the calls over CRM URL {api_domain}/crm/{api_version}/{module}/actions/mass_update[?query],
 * at most max_concurrency in flight (per server; the min over calls' servers), with
 * Authorization: Zoho-oauthtoken <cached token>. Retries (network, timeout, 429, 5xx) with
 * exponential back-off and jitter up to max_retries, except a retry_unsafe call once sent.
 * On 401 INVALID_TOKEN/AUTHENTICATION_FAILURE: refreshes the token once and retries once; a second
 * 401 is returned as answered. Cancel/statement_timeout: aborts transfers, raises 57014.
 * Token refusal raises 28000 unless ZCRM_NO_RAISE.
 */
extern void zcrm_client_run(ZcrmCall *calls, int ncalls, int max_in_flight, int flags);

#endif							/* ZCRM_CLIENT_H */
