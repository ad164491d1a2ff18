/*
 * oauth.c
 *		Zoho Accounts' refresh-token grant and the access tokens it issues.
 *
 * Token errors answer HTTP 200 with {"error": ...}, as Zoho Accounts does
 * (reference 4.2; Kaizen #43 for "Access Denied").  At most
 * TOKENS_PER_WINDOW tokens are issued per refresh token in WINDOW_MS.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>

#include "limits.h"
#include "model.h"
#include "oauth.h"
#include "options.h"
#include "stats.h"
#include "util.h"

#define TOKENS_PER_WINDOW	10
#define WINDOW_MS			(10 * 60 * 1000)
#define TOKEN_BUCKETS		4096

typedef struct Token
{
	char	   *text;
	int			client;
	int64_t		expires_ms;		/* monotonic */
	struct Token *next;
} Token;

typedef struct Window
{
	int64_t		issued[TOKENS_PER_WINDOW];	/* ring of the last issue times */
	int			n;
	int			next;
} Window;

static pthread_mutex_t oauth_lock = PTHREAD_MUTEX_INITIALIZER;
static Token *buckets[TOKEN_BUCKETS];
static Window **windows = NULL;	/* [client][refresh token] */
static char token_prefix[64];

void
oauth_init(const char *dc)
{
	snprintf(token_prefix, sizeof(token_prefix), "1000.%s.", dc);
	windows = xcalloc((size_t) g_org->nclients + 1, sizeof(Window *));
	for (int c = 0; c < g_org->nclients; c++)
		windows[c] = xcalloc((size_t) g_org->clients[c].nrefresh + 1, sizeof(Window));
}

void
oauth_free(void)
{
	for (int b = 0; b < TOKEN_BUCKETS; b++)
	{
		while (buckets[b])
		{
			Token	   *t = buckets[b];

			buckets[b] = t->next;
			free(t->text);
			free(t);
		}
	}
	for (int c = 0; windows && c < g_org->nclients; c++)
		free(windows[c]);
	free(windows);
	windows = NULL;
}

void
oauth_reset_windows(void)
{
	pthread_mutex_lock(&oauth_lock);
	for (int c = 0; c < g_org->nclients; c++)
		memset(windows[c], 0, (size_t) g_org->clients[c].nrefresh * sizeof(Window));
	pthread_mutex_unlock(&oauth_lock);
}

static void
token_error(Response *out, const char *error, const char *description)
{
	json_t	   *obj = json_object();

	if (description)
		json_object_set_new(obj, "error_description", json_string(description));
	json_object_set_new(obj, "error", json_string(error));
	if (description)
		json_object_set_new(obj, "status", json_string("failure"));
	resp_json(out, 200, obj);
}

/* Takes a slot in the window; false when TOKENS_PER_WINDOW are already used. */
static bool
window_take(Window *w, int64_t now)
{
	if (w->n == TOKENS_PER_WINDOW && now - w->issued[w->next] < WINDOW_MS)
		return false;
	w->issued[w->next] = now;
	w->next = (w->next + 1) % TOKENS_PER_WINDOW;
	if (w->n < TOKENS_PER_WINDOW)
		w->n++;
	return true;
}

static char *
new_token_text(void)
{
	unsigned char rnd[24];
	char	   *text = xmalloc(strlen(token_prefix) + 2 * sizeof(rnd) + 2);
	char	   *p;

	if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t) sizeof(rnd))
	{
		/* cannot happen on Linux for 24 bytes; fall back to the clock */
		for (size_t i = 0; i < sizeof(rnd); i++)
			rnd[i] = (unsigned char) (hash64((uint64_t) now_ms() + i) & 0xff);
	}
	p = text + sprintf(text, "%s", token_prefix);
	for (size_t i = 0; i < sizeof(rnd); i++)
	{
		p += sprintf(p, "%02x", rnd[i]);
		if (i == 11)
			*p++ = '.';
	}
	*p = '\0';
	return text;
}

static Token *
issue_token(int client, int ttl)
{
	Token	   *t = xcalloc(1, sizeof(Token));
	uint64_t	b;

	t->text = new_token_text();
	t->client = client;
	t->expires_ms = now_ms() + (int64_t) ttl * 1000;
	b = hash_str(t->text) % TOKEN_BUCKETS;
	t->next = buckets[b];
	buckets[b] = t;
	return t;
}

static int
find_client(const char *client_id)
{
	for (int c = 0; client_id && c < g_org->nclients; c++)
		if (strcmp(g_org->clients[c].client_id, client_id) == 0)
			return c;
	return -1;
}

void
oauth_token_request(const Params *params, Response *out)
{
	const char *grant = params_get(params, "grant_type");
	const char *secret = params_get(params, "client_secret");
	const char *refresh = params_get(params, "refresh_token");
	int			c = find_client(params_get(params, "client_id"));
	int			rt = -1;
	int			ttl = limits_get().token_ttl;
	Token	   *t;
	json_t	   *obj;

	if (grant == NULL || strcmp(grant, "refresh_token") != 0)
	{
		token_error(out, "unsupported_grant_type", NULL);
		return;
	}
	if (c < 0 || secret == NULL || strcmp(secret, g_org->clients[c].client_secret) != 0)
	{
		token_error(out, "invalid_client", NULL);
		return;
	}
	for (int i = 0; refresh && i < g_org->clients[c].nrefresh; i++)
		if (strcmp(g_org->clients[c].refresh_tokens[i], refresh) == 0)
			rt = i;
	if (rt < 0)
	{
		token_error(out, "invalid_code", NULL);
		return;
	}

	pthread_mutex_lock(&oauth_lock);
	if (!window_take(&windows[c][rt], now_ms()))
	{
		pthread_mutex_unlock(&oauth_lock);
		{
			token_error(out, "Access Denied",
						   "You have made too many requests continuously. Please try again after some time.");
			return;
		}
	}
	t = issue_token(c, ttl);
	obj = json_pack("{s:s, s:s, s:s, s:s, s:i}",
					"access_token", t->text,
					"scope", g_org->clients[c].scope_text,
					"api_domain", g_base_url,
					"token_type", "Bearer",
					"expires_in", ttl);
	pthread_mutex_unlock(&oauth_lock);
	stats_token_issued();
	resp_json(out, 200, obj);
}

AuthResult
oauth_check(const char *authorization, int *client)
{
	static const char scheme[] = "Zoho-oauthtoken ";
	const char *text;
	AuthResult	res = AUTH_INVALID;

	if (authorization == NULL || strncasecmp(authorization, scheme, sizeof(scheme) - 1) != 0)
		return AUTH_MISSING;
	text = authorization + sizeof(scheme) - 1;
	while (*text == ' ')
		text++;
	if (strncmp(text, token_prefix, strlen(token_prefix)) != 0)
		return AUTH_INVALID;
	pthread_mutex_lock(&oauth_lock);
	for (Token *t = buckets[hash_str(text) % TOKEN_BUCKETS]; t; t = t->next)
	{
		if (strcmp(t->text, text) != 0)
			continue;
		if (now_ms() < t->expires_ms)
		{
			*client = t->client;
			res = AUTH_OK;
		}
		break;
	}
	pthread_mutex_unlock(&oauth_lock);
	return res;
}

/* Compares module names ignoring case and underscores (Price_Books = pricebooks). */
static bool
module_matches(const char *a, size_t alen, const char *b)
{
	size_t		i = 0;

	for (;;)
	{
		while (i < alen && a[i] == '_')
			i++;
		while (*b == '_')
			b++;
		if (i == alen || *b == '\0')
			return i == alen && *b == '\0';
		if ((a[i] | 0x20) != (*b | 0x20))
			return false;
		i++;
		b++;
	}
}

bool
oauth_scope_allows(int client, const char *module, bool custom, const char *op)
{
	static const char prefix[] = "ZohoCRM.mass_update.";
	const Client *cl = &g_org->clients[client];

	for (int i = 0; i < cl->nscopes; i++)
	{
		const char *s = cl->scopes[i];
		const char *dot;
		const char *sop;

		if (strncasecmp(s, prefix, sizeof(prefix) - 1) != 0)
			continue;
		s += sizeof(prefix) - 1;
		dot = strrchr(s, '.');
		sop = dot ? dot + 1 : s;
		if (strcasecmp(sop, "ALL") != 0 && strcasecmp(sop, op) != 0)
			continue;
		if (dot == NULL)
			return true;		/* ZohoCRM.mass_update.UPDATE */
		if (module_matches(s, (size_t) (dot - s), module) ||
			(custom && module_matches(s, (size_t) (dot - s), "custom")))
			return true;
	}
	return false;
}
