/*
 * response.h
 *		An answer being prepared: status, JSON body, extra headers.
 */
#ifndef SANDBOX_RESPONSE_H
#define SANDBOX_RESPONSE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "strbuf.h"

typedef struct Response
{
	int			status;
	char	   *body;			/* malloc'd JSON text (or empty) */
	size_t		len;
	long		credits_remaining;	/* X-API-CREDITS-REMAINING, -1: none */
	bool		drop;			/* close the connection without answering */
} Response;

extern void resp_init(Response *r);
extern void resp_free(Response *r);
/* Takes the text of sb. */
extern void resp_text(Response *r, int status, StrBuf *sb);
/* Steals the reference to obj. */
extern void resp_json(Response *r, int status, json_t *obj);
/*
 * The flat request-level error envelope {code, details, message, status}
 * (reference 3.1).  Steals details; NULL means {}.
 */
extern void resp_error(Response *r, int status, const char *code,
					   const char *message, json_t *details);
/* {"ok": false, "error": message}, for control endpoints. */
extern void resp_control_error(Response *r, int status, const char *message);
extern void resp_ok(Response *r);

#endif
