/*-------------------------------------------------------------------------
 *
 * oauth.h
 *		Zoho OAuth: the refresh-token grant's request body and answer, and
 *		recognising a CRM answer that rejects the access token.
 *
 * Plain C and jansson, no PostgreSQL headers: unit tests drive it directly
 * (test/unit/test_oauth.c).  Strings it returns are malloc'd.
 *
 *-------------------------------------------------------------------------
 */
#ifndef ZCRM_OAUTH_H
#define ZCRM_OAUTH_H

#include <stdbool.h>
#include <stddef.h>

/* Longest access token accepted; Zoho's are about 70 characters. */
#define ZCRM_OAUTH_MAX_TOKEN 1024
/* Longest api_domain accepted. */
#define ZCRM_OAUTH_MAX_DOMAIN 256
/* Default lifetime when the answer has no expires_in (reference 4.5). */
#define ZCRM_OAUTH_DEFAULT_EXPIRES_MS (3600 * 1000LL)
/* Lifetimes an answer may set, clamped to (Zoho's are one hour). */
#define ZCRM_OAUTH_MIN_EXPIRES_MS 1000LL
#define ZCRM_OAUTH_MAX_EXPIRES_MS (86400 * 1000LL)

typedef enum ZcrmOAuthStatus
{
	ZCRM_OAUTH_OK,				/* access_token present */
	ZCRM_OAUTH_REFUSED,			/* {"error": "invalid_client"}, invalid_code, ... */
	ZCRM_OAUTH_ACCESS_DENIED,	/* "Access Denied": token rate limit, back off */
	ZCRM_OAUTH_BAD_ANSWER		/* neither: not JSON, HTTP error, bad token */
} ZcrmOAuthStatus;

typedef struct ZcrmOAuthAnswer
{
	ZcrmOAuthStatus status;
	char	   *access_token;	/* malloc'd, only with ZCRM_OAUTH_OK */
	char	   *api_domain;		/* malloc'd or NULL */
	long long	expires_in_ms;	/* lifetime in milliseconds */
	char		error[128];		/* the endpoint's error code, printable, or a reason */
} ZcrmOAuthAnswer;

/*
 * Form body of the refresh-token grant (reference 4.2):
 * grant_type=refresh_token&client_id=..&client_secret=..&refresh_token=..
 * malloc'd; free it with zcrm_oauth_free_secret.
 */
extern char *zcrm_oauth_form_body(const char *client_id, const char *client_secret,
								  const char *refresh_token);

/* Zero and free a string that held a secret. */
extern void zcrm_oauth_free_secret(char *s);

/*
 * Parse the token endpoint's answer.  expires_in is seconds, except that
 * with the legacy key expires_in_sec present expires_in is milliseconds
 * (reference 4.2); the lifetime is clamped to ZCRM_OAUTH_MIN_EXPIRES_MS ..
 * ZCRM_OAUTH_MAX_EXPIRES_MS, and one that cannot be read (not a number,
 * not finite, out of range as text) leaves ZCRM_OAUTH_DEFAULT_EXPIRES_MS.
 * "Access Denied" comes with HTTP 200 (reference 4.2,
 * Kaizen #43).  An access token with characters outside 0x21..0x7e is
 * refused (it goes into a header).
 */
extern void zcrm_oauth_parse(const char *body, size_t len, long http_status,
							 ZcrmOAuthAnswer *out);
extern void zcrm_oauth_answer_free(ZcrmOAuthAnswer *ans);

/*
 * Whether a CRM 401 answer rejects the access token itself (INVALID_TOKEN
 * or AUTHENTICATION_FAILURE, reference 3.4) rather than its scope
 * (OAUTH_SCOPE_MISMATCH).  A 401 without a JSON code counts as a
 * rejection.  The code and message found, if any, are copied (printable,
 * truncated) into code and message.
 */
extern bool zcrm_oauth_token_rejected(const char *body, size_t len,
									  char *code, size_t codelen,
									  char *message, size_t msglen);

#endif							/* ZCRM_OAUTH_H */
