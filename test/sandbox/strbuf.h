/*
 * strbuf.h
 *		A growable string buffer, used to build JSON text fast.
 */
#ifndef SANDBOX_STRBUF_H
#define SANDBOX_STRBUF_H

#include <stddef.h>
#include <stdint.h>

typedef struct StrBuf
{
	char	   *data;			/* always NUL-terminated */
	size_t		len;
	size_t		cap;
} StrBuf;

extern void sb_init(StrBuf *sb, size_t cap);
extern void sb_free(StrBuf *sb);
/* Hands the text over to the caller (free() it); the buffer is left empty. */
extern char *sb_steal(StrBuf *sb, size_t *len);
extern void sb_append(StrBuf *sb, const char *s, size_t n);
extern void sb_puts(StrBuf *sb, const char *s);
extern void sb_putc(StrBuf *sb, char c);
extern void sb_printf(StrBuf *sb, const char *fmt,...) __attribute__((format(printf, 2, 3)));
/* Appends s (n bytes of UTF-8) as a quoted, escaped JSON string. */
extern void sb_json_string(StrBuf *sb, const char *s, size_t n);
extern void sb_json_cstring(StrBuf *sb, const char *s);
/* Appends an id as a JSON string of digits. */
extern void sb_json_id(StrBuf *sb, uint64_t id);

#endif
