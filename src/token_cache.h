/*-------------------------------------------------------------------------
 *
 * token_cache.h
 *		Access tokens shared by all backends and the worker.
 *
 *-------------------------------------------------------------------------
 */
#ifndef ZCRM_TOKEN_CACHE_H
#define ZCRM_TOKEN_CACHE_H

/*
 * Called from _PG_init: installs the shared-memory hooks when preloaded
 * (otherwise a backend-local cache is used) and registers the syscache
 * callbacks that drop a mapping's token on ALTER/DROP SERVER or USER MAPPING.
 */
extern void zcrm_token_cache_init(void);

#include "options.h"

typedef enum ZcrmTokenStatus
{
	ZCRM_TOKEN_OK,
	ZCRM_TOKEN_REFUSED,			/* invalid_client, invalid_code, ...: 28000 */
	ZCRM_TOKEN_DENIED,			/* "Access Denied" just now, back-off started: 28000 */
	ZCRM_TOKEN_BACKOFF,			/* back-off still running, nothing sent: 28000 */
	ZCRM_TOKEN_UNREACHABLE,		/* network, timeout, 5xx: 08006 */
	ZCRM_TOKEN_BAD_ANSWER		/* not a token answer: 08P01 */
} ZcrmTokenStatus;

typedef struct ZcrmToken
{
	ZcrmTokenStatus status;
	char	   *access_token;	/* palloc'd, with ZCRM_TOKEN_OK */
	char	   *api_domain;		/* palloc'd base URL for CRM calls */
	bool		fixed;			/* the mapping's access_token: never refreshed */
	bool		refreshed;		/* this call asked the token endpoint */
	int			sqlstate;		/* for errors */
	char		message[256];
	char		detail[512];
	char		hint[512];
} ZcrmToken;

/*
 * An access token for the mapping.  A valid cached token is returned
 * unless it equals stale (the token a 401 rejected); otherwise one
 * backend refreshes (reference 4.2) while others with the same mapping
 * wait for it.  Refreshes when less than min(60 s, expires_in / 10) is
 * left.  Raises only on cancel (57014); other failures are in tok.
 * Must run inside a transaction.
 */
extern void zcrm_token_get(ZcrmServer *srv, ZcrmMapping *map, const char *stale,
						   ZcrmToken *tok);

/* ereport(ERROR) tok's failure, with errhidestmt. */
extern void zcrm_token_raise(const ZcrmToken *tok) pg_attribute_noreturn();

#endif							/* ZCRM_TOKEN_CACHE_H */
