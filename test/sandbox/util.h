/*
 * util.h
 *		Allocation, ids, time and JSON value helpers shared by every file.
 */
#ifndef SANDBOX_UTIL_H
#define SANDBOX_UTIL_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

/* Allocation that aborts on out-of-memory: the sandbox has no way to go on. */
extern void *xmalloc(size_t n);
extern void *xcalloc(size_t n, size_t size);
extern void *xrealloc(void *p, size_t n);
extern char *xstrdup(const char *s);
extern char *xstrndup(const char *s, size_t n);

/* A well-mixed 64-bit hash (splitmix64 finaliser). */
extern uint64_t hash64(uint64_t x);
extern uint64_t hash_str(const char *s);

/*
 * Record, view, territory and job ids are positive 64-bit integers written
 * as digits (Zoho: int64 as a JSON string).  Returns false for anything else.
 */
extern bool parse_id(const char *s, size_t len, uint64_t *id);
/* A JSON string of digits or a JSON integer. */
extern bool json_to_id(const json_t *v, uint64_t *id);

/* Wall clock as "YYYY-MM-DDTHH:MM:SS+00:00" (buf of at least 32 bytes). */
extern void format_time(time_t t, char *buf);
extern void format_date(time_t t, char *buf);
/* Parse "YYYY-MM-DD" / "YYYY-MM-DDTHH:MM:SS±HH:MM"; false when malformed. */
extern bool parse_date(const char *s, time_t *t);
extern bool parse_datetime(const char *s, time_t *t);
/* Monotonic milliseconds. */
extern int64_t now_ms(void);

/*
 * Shutdown: set once on SIGTERM/SIGINT.  sleep_ms() returns early when it
 * is set, so latency and background threads never hold up the exit.
 */
extern void shutdown_begin(void);
extern bool shutting_down(void);
extern void sleep_ms(int64_t ms);

/*
 * JSON text of a value as the sandbox stores it: compact, UTF-8, reals in
 * the shortest form that reads back to the same double.  malloc'd.
 */
extern char *value_to_text(const json_t *v, size_t *len);

#endif
