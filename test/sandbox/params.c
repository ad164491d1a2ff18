/*
 * params.c
 *		Request parameters: the query string and form bodies.
 */
#include <stdlib.h>
#include <string.h>

#include "params.h"
#include "util.h"

void
params_add(Params *p, const char *key, const char *value)
{
	if (p->n == p->cap)
	{
		p->cap = p->cap ? p->cap * 2 : 8;
		p->keys = xrealloc(p->keys, (size_t) p->cap * sizeof(char *));
		p->values = xrealloc(p->values, (size_t) p->cap * sizeof(char *));
	}
	p->keys[p->n] = xstrdup(key);
	p->values[p->n] = xstrdup(value ? value : "");
	p->n++;
}

static int
hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Decodes %XX and '+' of s[0..len) into a new string. */
static char *
url_decode(const char *s, size_t len)
{
	char	   *out = xmalloc(len + 1);
	size_t		o = 0;

	for (size_t i = 0; i < len; i++)
	{
		if (s[i] == '+')
			out[o++] = ' ';
		else if (s[i] == '%' && i + 2 < len &&
				 hexval(s[i + 1]) >= 0 && hexval(s[i + 2]) >= 0)
		{
			out[o++] = (char) (hexval(s[i + 1]) * 16 + hexval(s[i + 2]));
			i += 2;
		}
		else
			out[o++] = s[i];
	}
	out[o] = '\0';
	return out;
}

void
params_parse_form(Params *p, const char *text, size_t len)
{
	size_t		start = 0;

	while (start < len)
	{
		const char *pair = text + start;
		const char *amp = memchr(pair, '&', len - start);
		size_t		plen = amp ? (size_t) (amp - pair) : len - start;
		const char *eq = memchr(pair, '=', plen);

		if (plen > 0)
		{
			size_t		klen = eq ? (size_t) (eq - pair) : plen;
			char	   *key = url_decode(pair, klen);
			char	   *value = eq ? url_decode(eq + 1, plen - klen - 1) : xstrdup("");

			params_add(p, key, value);
			free(key);
			free(value);
		}
		start += plen + 1;
	}
}

const char *
params_get(const Params *p, const char *key)
{
	for (int i = p->n - 1; i >= 0; i--)
		if (strcmp(p->keys[i], key) == 0)
			return p->values[i];
	return NULL;
}

void
params_free(Params *p)
{
	for (int i = 0; i < p->n; i++)
	{
		free(p->keys[i]);
		free(p->values[i]);
	}
	free(p->keys);
	free(p->values);
	memset(p, 0, sizeof(*p));
}
