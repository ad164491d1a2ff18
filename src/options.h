/*-------------------------------------------------------------------------
 *
 * options.h
 *		Options of the zcrm foreign data wrapper: validation, server lookup
 *		and user mapping lookup.
 *
 * The fixed, SQL-facing part (ZcrmServer, zcrm_get_server, ...) is declared
 * in client.h; this header adds what the token cache needs to know about a
 * user mapping.
 *
 *-------------------------------------------------------------------------
 */
#ifndef ZCRM_OPTIONS_H
#define ZCRM_OPTIONS_H

#include "postgres.h"

#include "storage/itemptr.h"

#include "client.h"

/*
 * Identity of one catalog row version: ALTER writes a new row version, so
 * a cached token stamped with an older version is stale.  This is how
 * PL/pgSQL validates its function cache (fn_xmin, fn_tid).
 */
typedef struct ZcrmRowStamp
{
	TransactionId xmin;
	ItemPointerData tid;
} ZcrmRowStamp;

/* A user mapping's credentials, palloc'd; never print any of them. */
typedef struct ZcrmMapping
{
	Oid			umid;
	Oid			serverid;
	Oid			roleid;			/* the mapping's role, InvalidOid for PUBLIC */
	ZcrmRowStamp server_stamp;
	ZcrmRowStamp mapping_stamp;
	char	   *client_id;
	char	   *client_secret;
	char	   *refresh_token;
	char	   *access_token;	/* fixed token: no OAuth at all */
} ZcrmMapping;

/*
 * The user mapping that applies to roleid on srv (the role's own, else
 * PUBLIC's), after checking USAGE on the server (42501).  No mapping is
 * 42704, raised before any request.  Must run inside a transaction.
 */
extern ZcrmMapping *zcrm_get_mapping(ZcrmServer *srv, Oid roleid);

/* Why a lookup failed, for callers that must not raise (the worker). */
typedef struct ZcrmLookupError
{
	int			sqlstate;
	char		message[256];
	char		detail[256];
	char		hint[512];
} ZcrmLookupError;

/* As zcrm_get_mapping, but with err given returns NULL and fills err. */
extern ZcrmMapping *zcrm_lookup_mapping(ZcrmServer *srv, Oid roleid,
										ZcrmLookupError *err);

/* Default accounts URL and API domain of a data centre ("com", "eu", ...). */
extern const char *zcrm_dc_accounts_url(const char *dc);
extern const char *zcrm_dc_api_domain(const char *dc);

/*
 * Checks a base URL: http or https, https required unless the host is a
 * loopback host (127.0.0.0/8, ::1, localhost); no user information, query
 * or fragment.  Returns NULL when fine, else a static reason.
 */
extern const char *zcrm_check_base_url(const char *url);

/*
 * Installs the emit_log_hook that keeps user mapping secrets out of the
 * server log (statements of failing CREATE/ALTER USER MAPPING, and
 * log_statement lines): what utility_hook.c marks from the parse tree,
 * and, as a fallback for texts that never parsed, secret option names.  Called once per process from _PG_init (through
 * zcrm_token_cache_init).
 */
extern void zcrm_options_init(void);

#endif							/* ZCRM_OPTIONS_H */
