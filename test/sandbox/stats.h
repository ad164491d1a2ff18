/*
 * stats.h
 *		Counters behind GET /__sandbox/stats (DESIGN section 7).
 *
 * Every received token or CRM request counts; control requests do not.
 */
#ifndef SANDBOX_STATS_H
#define SANDBOX_STATS_H

#include <jansson.h>
#include <stddef.h>

typedef enum Endpoint
{
	EP_TOKEN,
	EP_MASS_UPDATE,				/* POST .../actions/mass_update */
	EP_STATUS,					/* GET .../actions/mass_update?job_id= */
	EP_RECORD,
	EP_FIELDS,
	EP_VIEWS,
	EP_TERRITORIES,
	EP_OTHER,
	EP__COUNT
} Endpoint;

extern void stats_request(Endpoint ep);
extern void stats_response(Endpoint ep, int status);
extern void stats_dropped(Endpoint ep);
extern void stats_ids(size_t n);
extern void stats_token_issued(void);
extern void stats_reset(void);
extern json_t *stats_to_json(void);

#endif
