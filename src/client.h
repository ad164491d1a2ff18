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
#define ZCRM_START_IDLE 0x02	/* zcrm_client_start: start no call yet (the first poll does) */

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

/*
 * The same calls without blocking (zcrm_client_run is start, poll until
 * done, finish).  zcrm_client_start looks up the mappings and starts the
 * first calls; zcrm_client_poll drives the transfers, waiting at most
 * timeout_ms (0: just take what has arrived and refill free slots), and
 * returns true once every call has its outcome.  Either raises as
 * zcrm_client_run does (57014 on an interrupt, 28000 without
 * ZCRM_NO_RAISE); the calls' outs are final only after a true poll.
 *
 * The batch lives in the memory context current at zcrm_client_start,
 * which must outlive it; results are allocated there too.  Its transfers
 * are aborted and freed by zcrm_client_finish, by zcrm_client_abort
 * (never raises: for error paths), and in any case when that context is
 * reset or deleted, so an ERROR between two polls leaks nothing.  No
 * transaction is needed between start and finish.
 */
typedef struct ZcrmClientBatch ZcrmClientBatch;

extern ZcrmClientBatch *zcrm_client_start(ZcrmCall *calls, int ncalls, int max_in_flight, int flags);
extern bool zcrm_client_poll(ZcrmClientBatch *batch, int timeout_ms);
/* calls started and not yet ended */
extern int	zcrm_client_in_flight(ZcrmClientBatch *batch);
/* calls without their final outcome yet (in flight or waiting to start) */
extern int	zcrm_client_unfinished(ZcrmClientBatch *batch);
/*
 * Changes the batch's cap on calls in flight (never above the servers'
 * max_concurrency; 0: start none for now).  Calls already in flight go on.
 * Lets a caller share one cap between two batches.
 */
extern void zcrm_client_set_limit(ZcrmClientBatch *batch, int max_in_flight);
/*
 * Starts no call of index horizon or above until it is raised (initially
 * ncalls), so that a caller taking answers in call order holds at most
 * horizon - (its next call) of them; calls already started go on.
 */
extern void zcrm_client_set_horizon(ZcrmClientBatch *batch, int horizon);
/* the batch's highest cap: max_in_flight at start, and its servers' max_concurrency */
extern int	zcrm_client_limit_max(ZcrmClientBatch *batch);
/* whether call i of the batch has its final outcome */
extern bool zcrm_client_call_done(ZcrmClientBatch *batch, int i);
extern void zcrm_client_finish(ZcrmClientBatch *batch);
extern void zcrm_client_abort(ZcrmClientBatch *batch);

#endif							/* ZCRM_CLIENT_H */
