/*-------------------------------------------------------------------------
 *
 * oauth.c
 *		Zoho's refresh-token grant: building the request, reading the
 *		answer (reference section 4.2), and classifying CRM 401 answers
 *		(section 3.4).
 *
 * A jansson translation unit: no PostgreSQL headers, so that jansson's
 * json_object() does not clash with utils/builtins.h and unit tests can
 * link it alone.  Every string handed out is malloc'd.
 *
 *-------------------------------------------------------------------------
 */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>

#include "oauth.h"

/* Append s percent-encoded (application/x-www-form-urlencoded) at *p. */
static char *
append_encoded(char *p, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";

	for (; *s; s++)
	{
		unsigned char c = (unsigned char) *s;

		if (isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~')
			*p++ = (char) c;
		else
		{
			*p++ = '%';
			*p++ = hex[c >> 4];
			*p++ = hex[c & 15];
		}
	}
	return p;
}

char *
zcrm_oauth_form_body(const char *client_id, const char *client_secret,
					 const char *refresh_token)
{
	size_t		len;
	char	   *body;
	char	   *p;

	len = 3 * (strlen(client_id) + strlen(client_secret) + strlen(refresh_token)) + 80;
	body = malloc(len);
	if (body == NULL)
		return NULL;
	p = body;
	p = stpcpy(p, "grant_type=refresh_token&client_id=");
	p = append_encoded(p, client_id);
	p = stpcpy(p, "&client_secret=");
	p = append_encoded(p, client_secret);
	p = stpcpy(p, "&refresh_token=");
	p = append_encoded(p, refresh_token);
	*p = '\0';
	return body;
}

void
zcrm_oauth_free_secret(char *s)
{
	if (s == NULL)
		return;
	explicit_bzero(s, strlen(s));
	free(s);
}

/* Copy s into dst as printable ASCII, at most dstlen - 1 bytes. */
static void
copy_printable(char *dst, size_t dstlen, const char *s)
{
	size_t		i = 0;

	for (; *s && i + 1 < dstlen; s++)
		dst[i++] = (*s >= 0x20 && *s < 0x7f) ? *s : '?';
	dst[i] = '\0';
}

/*
 * A token lifetime: a JSON number, or a string of digits, in units of
 * unit_ms milliseconds (1000 for seconds, 1 for the legacy milliseconds),
 * clamped to ZCRM_OAUTH_MIN_EXPIRES_MS .. ZCRM_OAUTH_MAX_EXPIRES_MS before
 * it is multiplied, so that no value can overflow (audit L6: a huge one
 * used to wrap into a 1 s lifetime).  A fraction counts whole units.
 * Returns false, leaving *out_ms alone, for what cannot be read: not a
 * number, not finite, or out of long long's range as text (ERANGE).
 */
static bool
json_lifetime_ms(json_t *v, long long unit_ms, long long *out_ms)
{
	long long	lo = (ZCRM_OAUTH_MIN_EXPIRES_MS + unit_ms - 1) / unit_ms;
	long long	hi = ZCRM_OAUTH_MAX_EXPIRES_MS / unit_ms;
	long long	n;

	if (json_is_integer(v))
		n = (long long) json_integer_value(v);
	else if (json_is_real(v))
	{
		double		d = json_real_value(v);

		if (!isfinite(d))
			return false;
		/* clamp as a double: converting first would be undefined */
		n = d <= (double) lo ? lo : d >= (double) hi ? hi : (long long) d;
	}
	else if (json_is_string(v))
	{
		const char *s = json_string_value(v);
		char	   *end;

		if (*s == '\0')
			return false;
		errno = 0;
		n = strtoll(s, &end, 10);
		if (errno == ERANGE || *end != '\0')
			return false;
	}
	else
		return false;
	if (n < lo)
		n = lo;
	if (n > hi)
		n = hi;
	*out_ms = n * unit_ms;
	return true;
}

static bool
token_is_printable(const char *s)
{
	if (*s == '\0')
		return false;
	for (; *s; s++)
		if ((unsigned char) *s < 0x21 || (unsigned char) *s > 0x7e)
			return false;
	return true;
}

void
zcrm_oauth_parse(const char *body, size_t len, long http_status,
				 ZcrmOAuthAnswer *out)
{
	json_t	   *root;
	json_t	   *v;
	json_error_t jerr;

	memset(out, 0, sizeof(*out));
	out->status = ZCRM_OAUTH_BAD_ANSWER;

	root = body ? json_loadb(body, len, 0, &jerr) : NULL;
	if (root == NULL || !json_is_object(root))
	{
		snprintf(out->error, sizeof(out->error),
				 "HTTP %ld with a body that is not a JSON object", http_status);
		json_decref(root);
		return;
	}

	v = json_object_get(root, "error");
	if (v != NULL && !json_is_null(v))
	{
		const char *code = json_is_string(v) ? json_string_value(v) : "(not a string)";

		copy_printable(out->error, sizeof(out->error), code);
		out->status = strcasecmp(code, "Access Denied") == 0 ?
			ZCRM_OAUTH_ACCESS_DENIED : ZCRM_OAUTH_REFUSED;
		json_decref(root);
		return;
	}

	v = json_object_get(root, "access_token");
	if (!json_is_string(v))
	{
		snprintf(out->error, sizeof(out->error),
				 "HTTP %ld without access_token or error", http_status);
		json_decref(root);
		return;
	}
	if (http_status < 200 || http_status > 299)
	{
		snprintf(out->error, sizeof(out->error),
				 "HTTP %ld with an access_token", http_status);
		json_decref(root);
		return;
	}
	if (!token_is_printable(json_string_value(v)) ||
		strlen(json_string_value(v)) >= ZCRM_OAUTH_MAX_TOKEN)
	{
		snprintf(out->error, sizeof(out->error),
				 "the access_token is empty, too long or has characters a header cannot carry");
		json_decref(root);
		return;
	}

	out->expires_in_ms = ZCRM_OAUTH_DEFAULT_EXPIRES_MS;
	{
		json_t	   *ein = json_object_get(root, "expires_in");
		json_t	   *esec = json_object_get(root, "expires_in_sec");

		if (esec != NULL)
		{
			/* legacy answer: expires_in in milliseconds, expires_in_sec in seconds */
			if (ein == NULL || !json_lifetime_ms(ein, 1, &out->expires_in_ms))
				(void) json_lifetime_ms(esec, 1000, &out->expires_in_ms);
		}
		else if (ein != NULL)
			(void) json_lifetime_ms(ein, 1000, &out->expires_in_ms);
	}

	v = json_object_get(root, "api_domain");
	if (json_is_string(v) && json_string_value(v)[0] != '\0' &&
		strlen(json_string_value(v)) < ZCRM_OAUTH_MAX_DOMAIN)
		out->api_domain = strdup(json_string_value(v));

	out->access_token = strdup(json_string_value(json_object_get(root, "access_token")));
	out->status = out->access_token ? ZCRM_OAUTH_OK : ZCRM_OAUTH_BAD_ANSWER;
	if (out->access_token == NULL)
		snprintf(out->error, sizeof(out->error), "out of memory");
	json_decref(root);
}

void
zcrm_oauth_answer_free(ZcrmOAuthAnswer *ans)
{
	zcrm_oauth_free_secret(ans->access_token);
	ans->access_token = NULL;
	free(ans->api_domain);
	ans->api_domain = NULL;
}

bool
zcrm_oauth_token_rejected(const char *body, size_t len, char *code, size_t codelen,
						  char *message, size_t msglen)
{
	json_t	   *root;
	json_t	   *v;
	bool		rejected = true;
	json_error_t jerr;

	if (codelen > 0)
		code[0] = '\0';
	if (msglen > 0)
		message[0] = '\0';
	root = body ? json_loadb(body, len, 0, &jerr) : NULL;
	if (root == NULL)
		return true;
	v = json_is_object(root) ? json_object_get(root, "code") : NULL;
	if (json_is_string(v))
	{
		const char *c = json_string_value(v);

		if (codelen > 0)
			copy_printable(code, codelen, c);
		rejected = strcmp(c, "INVALID_TOKEN") == 0 ||
			strcmp(c, "AUTHENTICATION_FAILURE") == 0;
	}
	v = json_is_object(root) ? json_object_get(root, "message") : NULL;
	if (json_is_string(v) && msglen > 0)
		copy_printable(message, msglen, json_string_value(v));
	json_decref(root);
	return rejected;
}
