/*
 * response.c
 *		An answer being prepared: status, JSON body, extra headers.
 */
#include <stdlib.h>
#include <string.h>

#include "response.h"
#include "util.h"

void
resp_init(Response *r)
{
	memset(r, 0, sizeof(*r));
	r->credits_remaining = -1;
}

void
resp_free(Response *r)
{
	free(r->body);
	r->body = NULL;
	r->len = 0;
}

void
resp_text(Response *r, int status, StrBuf *sb)
{
	free(r->body);
	r->status = status;
	r->body = sb_steal(sb, &r->len);
}

void
resp_json(Response *r, int status, json_t *obj)
{
	free(r->body);
	r->status = status;
	r->body = json_dumps(obj, JSON_COMPACT);
	r->len = r->body ? strlen(r->body) : 0;
	json_decref(obj);
}

void
resp_error(Response *r, int status, const char *code, const char *message,
		   json_t *details)
{
	json_t	   *obj = json_object();

	json_object_set_new(obj, "code", json_string(code));
	json_object_set_new(obj, "details", details ? details : json_object());
	json_object_set_new(obj, "message", json_string(message));
	json_object_set_new(obj, "status", json_string("error"));
	resp_json(r, status, obj);
}

void
resp_control_error(Response *r, int status, const char *message)
{
	resp_json(r, status, json_pack("{s:b, s:s}", "ok", 0, "error", message));
}

void
resp_ok(Response *r)
{
	resp_json(r, 200, json_pack("{s:b}", "ok", 1));
}
