/*-------------------------------------------------------------------------
 *
 * http.h
 *		libcurl transport: several requests in flight on one multi handle,
 *		cancellable by statement_timeout and pg_cancel_backend.
 *
 * No jansson and no curl types here.  A ZcrmHttp owns every easy handle it
 * started; zcrm_http_destroy (safe in PG_FINALLY) frees them all, so an
 * ERROR never leaks one.
 *
 *-------------------------------------------------------------------------
 */
#ifndef ZCRM_HTTP_H
#define ZCRM_HTTP_H

#include "postgres.h"

typedef struct ZcrmHttp ZcrmHttp;

typedef enum ZcrmHttpResult
{
	ZCRM_HTTP_OK,				/* an HTTP answer arrived (any status) */
	ZCRM_HTTP_TIMEOUT,			/* connect or overall timeout */
	ZCRM_HTTP_NETWORK,			/* DNS, connect, reset, empty reply, TLS ... */
	ZCRM_HTTP_ABORTED			/* an interrupt (cancel, die) is pending */
} ZcrmHttpResult;

typedef struct ZcrmHttpRequest
{
	/* in; the strings must stay valid until the request is done */
	const char *method;			/* "GET" or "POST" */
	const char *url;
	const char *body;			/* NULL: no body */
	const char *content_type;	/* with body */
	const char *authorization;	/* whole header value, or NULL */
	int			connect_timeout_ms;
	int			timeout_ms;
	bool		fresh_connect;	/* never on a reused connection (always for POST) */
	void	   *arg;			/* the caller's */

	/* out, once done; palloc'd in the ZcrmHttp's memory context */
	bool		done;
	ZcrmHttpResult result;
	bool		sent;			/* the request may have reached the server */
	long		status;			/* HTTP status, 0 without answer */
	char	   *response;		/* NUL-terminated body or NULL */
	size_t		response_len;
	char	   *credits_remaining;	/* X-API-CREDITS-REMAINING, or NULL */
	char		errmsg[256];	/* curl's reason, without secrets */
	double		elapsed_ms;

	/* private */
	void	   *priv;
} ZcrmHttpRequest;

/* A new transfer set; results are allocated in CurrentMemoryContext. */
extern ZcrmHttp *zcrm_http_create(void);

/* Start req (not copied: it must outlive the transfer). */
extern void zcrm_http_start(ZcrmHttp *h, ZcrmHttpRequest *req);

/* Number of requests started and not yet returned by zcrm_http_next_done. */
extern int	zcrm_http_pending(ZcrmHttp *h);

/*
 * Drive the transfers, waiting at most timeout_ms for network activity.
 * Returns early when an interrupt is pending: the caller must then
 * destroy the set and CHECK_FOR_INTERRUPTS.
 */
extern void zcrm_http_wait(ZcrmHttp *h, int timeout_ms);

/* A finished request, or NULL. */
extern ZcrmHttpRequest *zcrm_http_next_done(ZcrmHttp *h);

/* Abort and free everything; idempotent, never raises. */
extern void zcrm_http_destroy(ZcrmHttp *h);

/*
 * One request, synchronously: waits until done, raising 57014 (after
 * freeing the transfer) on cancel or statement_timeout.
 */
extern void zcrm_http_perform(ZcrmHttpRequest *req);

/* Whether an interrupt that should stop a transfer is pending. */
extern bool zcrm_http_interrupted(void);

#endif							/* ZCRM_HTTP_H */
