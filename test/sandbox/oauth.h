/*
 * oauth.h
 *		Zoho Accounts' refresh-token grant and the access tokens it issues
 *		(reference section 4).
 */
#ifndef SANDBOX_OAUTH_H
#define SANDBOX_OAUTH_H

#include <stdbool.h>

#include "params.h"
#include "response.h"

/* Issued tokens embed the dc, so a sandbox with another --dc never knows them. */
extern void oauth_init(const char *dc);
extern void oauth_free(void);
/* Forgets the token-issuance windows; issued tokens stay valid. */
extern void oauth_reset_windows(void);

/* POST /oauth/v2/token with a form body and/or query string. */
extern void oauth_token_request(const Params *params, Response *out);

typedef enum AuthResult
{
	AUTH_OK,
	AUTH_MISSING,				/* no Zoho-oauthtoken header: AUTHENTICATION_FAILURE */
	AUTH_INVALID				/* unknown or expired token: INVALID_TOKEN */
} AuthResult;

/* Checks an Authorization header; on AUTH_OK sets the client index. */
extern AuthResult oauth_check(const char *authorization, int *client);

/*
 * Whether the client's scopes allow op ("UPDATE" or "READ") on the mass
 * update API of module: ZohoCRM.mass_update.{OP|ALL} or
 * ZohoCRM.mass_update.{module}.{OP|ALL}, the module part compared without
 * case or underscores ("custom" covers custom modules).
 */
extern bool oauth_scope_allows(int client, const char *module, bool custom,
							   const char *op);

#endif
