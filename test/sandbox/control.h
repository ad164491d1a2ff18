/*
 * control.h
 *		The /__sandbox/ endpoints for tests and benchmarks (DESIGN 7, 8.14).
 */
#ifndef SANDBOX_CONTROL_H
#define SANDBOX_CONTROL_H

#include <stddef.h>

#include "params.h"
#include "response.h"

extern void control_handle(const char *method, const char *path, const Params *query,
						   const char *body, size_t body_len, Response *out);

/* Back to the fixture: records, jobs, faults, counters, log, token windows. */
extern void sandbox_reset(void);

#endif
