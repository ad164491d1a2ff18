/*
 * strbuf.c
 *		A growable string buffer, used to build JSON text fast.
 *
 * The mass-update answer carries up to 500 result objects; building it with
 * jansson objects would cost more than the rest of the request, so it is
 * written as text here.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "strbuf.h"
#include "util.h"

void
sb_init(StrBuf *sb, size_t cap)
{
	if (cap < 64)
		cap = 64;
	sb->data = xmalloc(cap);
	sb->data[0] = '\0';
	sb->len = 0;
	sb->cap = cap;
}

void
sb_free(StrBuf *sb)
{
	free(sb->data);
	sb->data = NULL;
	sb->len = sb->cap = 0;
}

char *
sb_steal(StrBuf *sb, size_t *len)
{
	char	   *s = sb->data;

	if (len)
		*len = sb->len;
	sb->data = NULL;
	sb->len = sb->cap = 0;
	return s;
}

static void
sb_reserve(StrBuf *sb, size_t more)
{
	size_t		need = sb->len + more + 1;

	if (need <= sb->cap)
		return;
	while (sb->cap < need)
		sb->cap *= 2;
	sb->data = xrealloc(sb->data, sb->cap);
}

void
sb_append(StrBuf *sb, const char *s, size_t n)
{
	sb_reserve(sb, n);
	memcpy(sb->data + sb->len, s, n);
	sb->len += n;
	sb->data[sb->len] = '\0';
}

void
sb_puts(StrBuf *sb, const char *s)
{
	sb_append(sb, s, strlen(s));
}

void
sb_putc(StrBuf *sb, char c)
{
	sb_reserve(sb, 1);
	sb->data[sb->len++] = c;
	sb->data[sb->len] = '\0';
}

void
sb_printf(StrBuf *sb, const char *fmt,...)
{
	va_list		ap;
	int			n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	sb_reserve(sb, (size_t) n);
	va_start(ap, fmt);
	vsnprintf(sb->data + sb->len, (size_t) n + 1, fmt, ap);
	va_end(ap);
	sb->len += (size_t) n;
}

void
sb_json_string(StrBuf *sb, const char *s, size_t n)
{
	size_t		i,
				start = 0;

	sb_reserve(sb, n + 2);
	sb_putc(sb, '"');
	for (i = 0; i < n; i++)
	{
		unsigned char c = (unsigned char) s[i];
		char		esc[8];

		if (c >= 0x20 && c != '"' && c != '\\')
			continue;
		sb_append(sb, s + start, i - start);
		start = i + 1;
		switch (c)
		{
			case '"':
				sb_append(sb, "\\\"", 2);
				break;
			case '\\':
				sb_append(sb, "\\\\", 2);
				break;
			case '\n':
				sb_append(sb, "\\n", 2);
				break;
			case '\r':
				sb_append(sb, "\\r", 2);
				break;
			case '\t':
				sb_append(sb, "\\t", 2);
				break;
			default:
				snprintf(esc, sizeof(esc), "\\u%04x", c);
				sb_append(sb, esc, 6);
				break;
		}
	}
	sb_append(sb, s + start, n - start);
	sb_putc(sb, '"');
}

void
sb_json_cstring(StrBuf *sb, const char *s)
{
	if (s == NULL)
		sb_append(sb, "null", 4);
	else
		sb_json_string(sb, s, strlen(s));
}

void
sb_json_id(StrBuf *sb, uint64_t id)
{
	char		buf[24];
	char	   *p = buf + sizeof(buf);

	*--p = '"';
	do
	{
		*--p = (char) ('0' + id % 10);
		id /= 10;
	} while (id > 0);
	*--p = '"';
	sb_append(sb, p, (size_t) (buf + sizeof(buf) - p));
}
