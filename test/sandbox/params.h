/*
 * params.h
 *		Request parameters: the query string and form bodies.
 */
#ifndef SANDBOX_PARAMS_H
#define SANDBOX_PARAMS_H

#include <stddef.h>

typedef struct Params
{
	char	  **keys;
	char	  **values;
	int			n;
	int			cap;
} Params;

extern void params_add(Params *p, const char *key, const char *value);
/* Adds the pairs of an application/x-www-form-urlencoded text. */
extern void params_parse_form(Params *p, const char *text, size_t len);
/* The last value given for key, or NULL. */
extern const char *params_get(const Params *p, const char *key);
extern void params_free(Params *p);

#endif
