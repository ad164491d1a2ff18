/*
 * options.h
 *		Command-line options of zcrm-sandbox (DESIGN section 7 and 8.12).
 */
#ifndef SANDBOX_OPTIONS_H
#define SANDBOX_OPTIONS_H

#include <stdint.h>

typedef struct Options
{
	int			port;			/* 0: any free port */
	const char *fixture;		/* NULL: ../fixtures/sandbox.json beside the binary */
	int			token_ttl;		/* seconds */
	double		job_rate;		/* records per second */
	int			concurrency_limit;
	long		daily_credits;	/* 0: unlimited */
	int			latency_ms;
	const char *dc;
	uint64_t	seed;
} Options;

extern Options g_opts;
/* "http://127.0.0.1:PORT", the api_domain of issued tokens */
extern char g_base_url[64];

#endif
