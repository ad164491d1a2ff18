/*
 * limits.h
 *		Runtime knobs of the sandbox: injected faults, the concurrency limit
 *		and the daily API credits (DESIGN 8.13, reference section 5).
 */
#ifndef SANDBOX_LIMITS_H
#define SANDBOX_LIMITS_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

typedef struct Faults
{
	int			latency_ms;
	double		error_rate;
	int			error_status;
	double		drop_rate;
	int			token_ttl;
	int			concurrency_limit;
	long		daily_credits;	/* 0: unlimited */
	double		job_rate;
} Faults;

extern void limits_init(const Faults *cli);
/* Faults back to the command line, credits unused, peak zeroed. */
extern void limits_reset(void);
extern Faults limits_get(void);
/* POST /__sandbox/faults: absent keys unchanged; false + err on a bad value. */
extern bool limits_update(json_t *obj, char *err, size_t errlen);
extern json_t *limits_to_json(void);

/*
 * A CRM request is in flight from receipt of its headers until its answer
 * is queued.  limits_enter returns false when this one is over the limit.
 */
extern bool limits_enter(void);
extern void limits_leave(void);
extern long limits_peak(void);

/* Request n of the run is hit when floor(n * rate) > floor((n - 1) * rate). */
extern bool fault_hits(double rate, uint64_t n);

/*
 * Charges one credit.  False when none is left.  *remaining is the number
 * left once half the credits are used (the X-API-CREDITS-REMAINING header),
 * -1 otherwise.
 */
extern bool credits_charge(long *remaining);

#endif
