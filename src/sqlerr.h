/*-------------------------------------------------------------------------
 *
 * sqlerr.h
 *		Turning Zoho's answers and transport failures into ereport, and the
 *		argument checks shared by the SQL functions.
 *
 * SQLSTATEs follow DESIGN section 8's table; every report names Zoho's
 * code in the message, carries Zoho's message and details in DETAIL, a
 * HINT where the fix is known, and errhidestmt(true).
 *
 *-------------------------------------------------------------------------
 */
#ifndef ZCRM_SQLERR_H
#define ZCRM_SQLERR_H

#include "postgres.h"

#include "utils/jsonb.h"

#include "client.h"
#include "codec.h"

/* Longest part of a user's argument echoed in an error message. */
#define ZCRM_MAX_ARG_IN_MESSAGE 64

/*
 * s for an error message: at most ZCRM_MAX_ARG_IN_MESSAGE bytes (whole
 * characters), then "..." if it was longer.  Palloc'd.
 */
extern char *zcrm_arg_for_message(const char *s);

/*
 * Module API name check: NULL, empty or anything but a letter followed by
 * letters, digits and underscores is 22023.  Returns a palloc'd copy.
 */
extern char *zcrm_check_module(text *module);

/*
 * The fields of a non-empty jsonb object, in jsonb key order, each value
 * as PostgreSQL's own jsonb text (exact numeric digits, Unicode as is).
 * NULL, a non-object or an empty object is 22023.
 */
extern ZcField *zcrm_fields_from_jsonb(Jsonb *fields, int *nfields);

/* SQLSTATE for a Zoho error code and HTTP status (DESIGN section 8). */
extern int	zcrm_sqlstate_for_zoho(const char *code, long http_status);

/*
 * Reports a call that did not succeed: a transport outcome (08006, 40003,
 * 28000) or an answer holding an error envelope (by code, or 53400 for
 * 429 and HV000 for 5xx).  "what" names the request in lower case, e.g.
 * "mass update of Leads"; context, if not NULL, goes to CONTEXT.
 */
extern void zcrm_raise_call(const ZcrmCall *call, const char *what,
							const char *context) pg_attribute_noreturn();

/*
 * Reports an answer the codec could not read: as zcrm_raise_call when its
 * HTTP status says it failed, else HV000 "unreadable answer".  consequence
 * (appended to DETAIL) and hint may be NULL.  Takes ownership of err.
 */
extern void zcrm_raise_malformed(const ZcrmCall *call, const char *what,
								 const char *context, ZcError *err,
								 const char *consequence,
								 const char *hint) pg_attribute_noreturn();

/*
 * Reports a parsed Zoho error.  Takes ownership of err (frees it before
 * raising).
 */
extern void zcrm_raise_zoho(const ZcrmCall *call, const char *what,
							const char *context, ZcError *err) pg_attribute_noreturn();

#endif							/* ZCRM_SQLERR_H */
