/*
 * Unit tests of src/oauth.c: the refresh-token grant body, token answers
 * (reference 4.2, including the expires_in_sec quirk and "Access Denied"
 * with HTTP 200) and the classification of CRM 401 answers (3.4).
 */
/* unit-sources: src/oauth.c */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "oauth.h"

static int	passed = 0;
static int	failed = 0;

#define CHECK(cond, name) \
	do { \
		if (cond) { passed++; printf("ok - %s\n", name); } \
		else { failed++; printf("not ok - %s (line %d)\n", name, __LINE__); } \
	} while (0)

static void
parse(const char *body, long status, ZcrmOAuthAnswer *a)
{
	zcrm_oauth_parse(body, body ? strlen(body) : 0, status, a);
}

int
main(void)
{
	ZcrmOAuthAnswer a;
	char	   *body;
	char		code[64];
	char		msg[64];

	body = zcrm_oauth_form_body("1000.SANDBOX", "s&e=c r+t", "1000.a/b");
	CHECK(strcmp(body, "grant_type=refresh_token&client_id=1000.SANDBOX"
				  "&client_secret=s%26e%3Dc%20r%2Bt&refresh_token=1000.a%2Fb") == 0,
		  "form body is percent-encoded");
	zcrm_oauth_free_secret(body);

	parse("{\"access_token\":\"1000.abc.def\",\"expires_in\":3600,"
		  "\"api_domain\":\"https://www.zohoapis.eu\",\"token_type\":\"Bearer\"}", 200, &a);
	CHECK(a.status == ZCRM_OAUTH_OK, "token answer is OK");
	CHECK(a.access_token && strcmp(a.access_token, "1000.abc.def") == 0, "access_token read");
	CHECK(a.expires_in_ms == 3600000LL, "expires_in is seconds");
	CHECK(a.api_domain && strcmp(a.api_domain, "https://www.zohoapis.eu") == 0, "api_domain read");
	zcrm_oauth_answer_free(&a);

	parse("{\"access_token\":\"t\",\"expires_in\":3600000,\"expires_in_sec\":3600}", 200, &a);
	CHECK(a.status == ZCRM_OAUTH_OK && a.expires_in_ms == 3600000LL,
		  "legacy expires_in_sec: expires_in is milliseconds");
	CHECK(a.api_domain == NULL, "no api_domain");
	zcrm_oauth_answer_free(&a);

	parse("{\"access_token\":\"t\",\"expires_in_sec\":120}", 200, &a);
	CHECK(a.expires_in_ms == 120000LL, "expires_in_sec alone is seconds");
	zcrm_oauth_answer_free(&a);

	parse("{\"access_token\":\"t\",\"expires_in\":\"2\"}", 200, &a);
	CHECK(a.expires_in_ms == 2000LL, "expires_in as a string of digits");
	zcrm_oauth_answer_free(&a);

	parse("{\"access_token\":\"t\"}", 200, &a);
	CHECK(a.expires_in_ms == ZCRM_OAUTH_DEFAULT_EXPIRES_MS, "no expires_in: one hour");
	zcrm_oauth_answer_free(&a);

	parse("{\"access_token\":\"t\",\"expires_in\":0}", 200, &a);
	CHECK(a.expires_in_ms == 1000, "expires_in 0 is clamped to 1 s");
	zcrm_oauth_answer_free(&a);

	/*
	 * Audit L6: out-of-range lifetimes were undefined behaviour (a double
	 * out of long long's range, n * 1000 overflowing) and wrapped to 1 s.
	 * Now a finite number is clamped to 1 s .. 1 day before it becomes
	 * milliseconds; what cannot be read (ERANGE, not a number) is ignored.
	 */
	parse("{\"access_token\":\"t\",\"expires_in\":1e300}", 200, &a);
	CHECK(a.status == ZCRM_OAUTH_OK && a.expires_in_ms == ZCRM_OAUTH_MAX_EXPIRES_MS,
		  "expires_in 1e300 is clamped to one day");
	zcrm_oauth_answer_free(&a);

	parse("{\"access_token\":\"t\",\"expires_in\":-1e300}", 200, &a);
	CHECK(a.expires_in_ms == 1000, "expires_in -1e300 is clamped to 1 s");
	zcrm_oauth_answer_free(&a);

	parse("{\"access_token\":\"t\",\"expires_in\":9223372036854775807}", 200, &a);
	CHECK(a.expires_in_ms == ZCRM_OAUTH_MAX_EXPIRES_MS, "expires_in INT64_MAX is clamped to one day");
	zcrm_oauth_answer_free(&a);

	parse("{\"access_token\":\"t\",\"expires_in\":\"99999999999999999999\"}", 200, &a);
	CHECK(a.status == ZCRM_OAUTH_OK && a.expires_in_ms == ZCRM_OAUTH_DEFAULT_EXPIRES_MS,
		  "expires_in \"99999999999999999999\" (ERANGE) is ignored");
	zcrm_oauth_answer_free(&a);

	parse("{\"access_token\":\"t\",\"expires_in\":\"-99999999999999999999\"}", 200, &a);
	CHECK(a.expires_in_ms == ZCRM_OAUTH_DEFAULT_EXPIRES_MS,
		  "expires_in \"-99999999999999999999\" (ERANGE) is ignored");
	zcrm_oauth_answer_free(&a);

	parse("{\"access_token\":\"t\",\"expires_in\":-5}", 200, &a);
	CHECK(a.expires_in_ms == 1000, "negative expires_in is clamped to 1 s");
	zcrm_oauth_answer_free(&a);

	parse("{\"access_token\":\"t\",\"expires_in\":\"-5\"}", 200, &a);
	CHECK(a.expires_in_ms == 1000, "negative expires_in as text is clamped to 1 s");
	zcrm_oauth_answer_free(&a);

	parse("{\"access_token\":\"t\",\"expires_in\":2.5}", 200, &a);
	CHECK(a.expires_in_ms == 2000, "a fractional expires_in counts whole seconds");
	zcrm_oauth_answer_free(&a);

	parse("{\"access_token\":\"t\",\"expires_in\":\"1e300\"}", 200, &a);
	CHECK(a.expires_in_ms == ZCRM_OAUTH_DEFAULT_EXPIRES_MS, "expires_in \"1e300\" is not digits: ignored");
	zcrm_oauth_answer_free(&a);

	parse("{\"access_token\":\"t\",\"expires_in\":true}", 200, &a);
	CHECK(a.status == ZCRM_OAUTH_OK && a.expires_in_ms == ZCRM_OAUTH_DEFAULT_EXPIRES_MS,
		  "expires_in true is ignored");
	zcrm_oauth_answer_free(&a);

	parse("{\"access_token\":\"t\",\"expires_in\":{\"s\":1}}", 200, &a);
	CHECK(a.expires_in_ms == ZCRM_OAUTH_DEFAULT_EXPIRES_MS, "expires_in an object is ignored");
	zcrm_oauth_answer_free(&a);

	parse("{\"access_token\":\"t\",\"expires_in\":\"\"}", 200, &a);
	CHECK(a.expires_in_ms == ZCRM_OAUTH_DEFAULT_EXPIRES_MS, "expires_in empty text is ignored");
	zcrm_oauth_answer_free(&a);

	/* legacy form: expires_in in milliseconds, with the same bounds */
	parse("{\"access_token\":\"t\",\"expires_in\":1e300,\"expires_in_sec\":3600}", 200, &a);
	CHECK(a.expires_in_ms == ZCRM_OAUTH_MAX_EXPIRES_MS, "legacy expires_in 1e300 ms is clamped to one day");
	zcrm_oauth_answer_free(&a);

	parse("{\"access_token\":\"t\",\"expires_in_sec\":\"99999999999999999999\"}", 200, &a);
	CHECK(a.expires_in_ms == ZCRM_OAUTH_DEFAULT_EXPIRES_MS, "expires_in_sec out of range is ignored");
	zcrm_oauth_answer_free(&a);

	parse("{\"access_token\":\"t\",\"expires_in_sec\":9223372036854775807}", 200, &a);
	CHECK(a.expires_in_ms == ZCRM_OAUTH_MAX_EXPIRES_MS, "expires_in_sec INT64_MAX is clamped to one day");
	zcrm_oauth_answer_free(&a);

	parse("{\"error\":\"invalid_client\"}", 200, &a);
	CHECK(a.status == ZCRM_OAUTH_REFUSED && strcmp(a.error, "invalid_client") == 0,
		  "invalid_client is a refusal");
	zcrm_oauth_answer_free(&a);

	parse("{\"error\":\"invalid_code\"}", 400, &a);
	CHECK(a.status == ZCRM_OAUTH_REFUSED && strcmp(a.error, "invalid_code") == 0,
		  "invalid_code is a refusal");
	zcrm_oauth_answer_free(&a);

	parse("{\"error_description\":\"You have made too many requests continuously.\","
		  "\"error\":\"Access Denied\",\"status\":\"failure\"}", 200, &a);
	CHECK(a.status == ZCRM_OAUTH_ACCESS_DENIED, "Access Denied with HTTP 200");
	CHECK(a.access_token == NULL, "no token with Access Denied");
	zcrm_oauth_answer_free(&a);

	parse("<html>bad gateway</html>", 502, &a);
	CHECK(a.status == ZCRM_OAUTH_BAD_ANSWER && strstr(a.error, "502"), "HTML is a bad answer");
	zcrm_oauth_answer_free(&a);

	parse(NULL, 200, &a);
	CHECK(a.status == ZCRM_OAUTH_BAD_ANSWER, "empty body is a bad answer");

	parse("{\"access_token\":\"a\\r\\nX-Evil: 1\"}", 200, &a);
	CHECK(a.status == ZCRM_OAUTH_BAD_ANSWER && a.access_token == NULL,
		  "a token with CR LF is refused");
	zcrm_oauth_answer_free(&a);

	parse("{\"access_token\":\"t\"}", 400, &a);
	CHECK(a.status == ZCRM_OAUTH_BAD_ANSWER, "a token with HTTP 400 is refused");
	zcrm_oauth_answer_free(&a);

	parse("{\"error\":\"x\\u0001y\"}", 200, &a);
	CHECK(a.status == ZCRM_OAUTH_REFUSED && strcmp(a.error, "x?y") == 0,
		  "error code made printable");
	zcrm_oauth_answer_free(&a);

	{
		const char *b = "{\"code\":\"INVALID_TOKEN\",\"details\":{},"
			"\"message\":\"invalid oauth token\",\"status\":\"error\"}";

		CHECK(zcrm_oauth_token_rejected(b, strlen(b), code, sizeof(code), msg, sizeof(msg)) &&
			  strcmp(code, "INVALID_TOKEN") == 0 && strcmp(msg, "invalid oauth token") == 0,
			  "INVALID_TOKEN rejects the token");
		b = "{\"code\":\"AUTHENTICATION_FAILURE\",\"details\":{},"
			"\"message\":\"Authentication failed\",\"status\":\"error\"}";

		CHECK(zcrm_oauth_token_rejected(b, strlen(b), code, sizeof(code), msg, sizeof(msg)),
			  "AUTHENTICATION_FAILURE rejects the token");
		b = "{\"code\":\"OAUTH_SCOPE_MISMATCH\",\"details\":{},"
			"\"message\":\"invalid oauth scope to access this URL\",\"status\":\"error\"}";
		CHECK(!zcrm_oauth_token_rejected(b, strlen(b), code, sizeof(code), msg, sizeof(msg)) &&
			  strcmp(code, "OAUTH_SCOPE_MISMATCH") == 0,
			  "OAUTH_SCOPE_MISMATCH does not");
		b = "Unauthorized";
		CHECK(zcrm_oauth_token_rejected(b, strlen(b), code, sizeof(code), msg, sizeof(msg)) &&
			  code[0] == '\0', "a 401 without JSON counts as a rejection");
	}

	printf("%d passed, %d failed\n", passed, failed);
	return failed ? 1 : 0;
}
