/*-------------------------------------------------------------------------
 *
 * zoho_limits.h
 *		Zoho CRM Mass Update API limits, in one place.
 *
 * Every number here comes from ../shared/reference/zoho-mass-update-api.md;
 * the section is given beside each constant.  Plain C: usable from the
 * extension, the codecs and the unit tests alike.
 *
 *-------------------------------------------------------------------------
 */
#ifndef ZOHO_LIMITS_H
#define ZOHO_LIMITS_H

#include <string.h>

/* Record ids per immediate (non-scheduler) call: reference 5.3, OAS ids.maxItems */
#define ZOHO_MAX_IDS_PER_CALL			500

/* Records one scheduled (cvid) job may cover: reference 5.3 */
#define ZOHO_MAX_VIEW_RECORDS			50000

/* Fields per call: 1, but 3 in Deals (reference 1.2 and 5.3) */
#define ZOHO_MAX_FIELDS_PER_CALL		1
#define ZOHO_MAX_FIELDS_PER_CALL_DEALS	3

/* Longest module API name we accept (Zoho API names are short identifiers) */
#define ZOHO_MAX_MODULE_NAME			100

/*
 * zoho_fields_per_call
 *		How many fields one mass-update call may carry for a module.
 *
 * Module names are Zoho API names and compared exactly ("Deals").
 */
static inline int
zoho_fields_per_call(const char *module)
{
	return strcmp(module, "Deals") == 0 ?
		ZOHO_MAX_FIELDS_PER_CALL_DEALS : ZOHO_MAX_FIELDS_PER_CALL;
}

#endif							/* ZOHO_LIMITS_H */
