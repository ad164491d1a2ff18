/*-------------------------------------------------------------------------
 *
 * codec.h
 *		Zoho CRM Mass Update API: request bodies and answers, as plain C.
 *
 * No PostgreSQL and no jansson in this header: the SQL functions, the
 * worker and the unit tests (test/unit/test_codec.c) all include it.
 * Everything returned is malloc'd; release it with the matching zc_*_free
 * function.  Nothing here raises: a caller on the server copies what it
 * needs into palloc'd memory, frees, and only then reports.
 *
 * Shapes follow ../shared/reference/zoho-mass-update-api.md:
 * request bodies section 1.2, answers 1.3, status answers section 2,
 * error envelopes section 3.1.
 *
 *-------------------------------------------------------------------------
 */
#ifndef ZCRM_CODEC_H
#define ZCRM_CODEC_H

#include <stdbool.h>
#include <stddef.h>

/*
 * What is kept of a text an answer carries, in bytes, whatever its size:
 * these values end up in result rows and in every zcrm_outbox row of a
 * call, so a hostile endpoint must not be able to store megabytes per row
 * (security audit 1.0, M3).  Zoho's own codes are short identifiers, a
 * per-record message has at most 255 characters (reference 1.3) and
 * details a few keys; anything longer is cut and marked so (see
 * zc_parse_records).
 */
#define ZC_MAX_CODE_BYTES		64	/* code, and param_name */
#define ZC_MAX_MESSAGE_BYTES	512	/* message, mark included */
#define ZC_MAX_DETAILS_BYTES	2048	/* details as compact JSON text */
#define ZC_MAX_ID_BYTES			32	/* details.id; longer is never one of ours */

/*
 * JSON values an answer may hold (a 500-id answer with full success
 * details has about 10,000); more is MALFORMED_ANSWER without parsing, so
 * that parsing one answer needs at most a few tens of MB.
 */
#define ZC_MAX_ANSWER_VALUES	65536

/* One field of the "data" object: raw name, value as JSON text. */
typedef struct ZcField
{
	const char *name;			/* field API name, not escaped, NUL-terminated */
	const char *value_json;		/* the value's exact JSON text, copied verbatim */
} ZcField;

/*
 * Zoho's four-key envelope {code, details, message, status}.  Texts are
 * capped as ZC_MAX_* say, here and in ZcRecordResult.
 */
typedef struct ZcError
{
	char	   *code;			/* e.g. "LIMIT_EXCEEDED"; never NULL after a parse */
	char	   *message;		/* may be NULL */
	char	   *details;		/* compact JSON text, or NULL */
	char	   *param_name;		/* details.param_name or details.api_name, or NULL */
} ZcError;

/* One entry of the per-record data[] of an immediate mass update. */
typedef struct ZcRecordResult
{
	char	   *id;				/* details.id as digits, "?" for an id that cannot
								 * be ours (1e30, too long ...), NULL if none */
	bool		success;		/* status "success" (or code SUCCESS without
								 * status; a non-string status is not success) */
	char	   *code;
	char	   *message;
	char	   *details;		/* compact JSON text, or NULL */
} ZcRecordResult;

/* A status answer (GET ?job_id=): section 2.  Counts are -1 when absent. */
typedef struct ZcJobStatus
{
	char		status[16];		/* SCHEDULED, QUEUED, RUNNING, SUSPENDED, COMPLETED, FAILED */
	long long	total_count;
	long long	updated_count;
	long long	failed_count;
	long long	not_updated_count;
} ZcJobStatus;

typedef enum ZcAnswer
{
	ZC_ANSWER_OK,				/* the expected shape: records, a job id, a status */
	ZC_ANSWER_ERROR,			/* a Zoho error envelope: see the ZcError */
	ZC_ANSWER_MALFORMED			/* not JSON or not a known shape: ZcError.code is
								 * "MALFORMED_ANSWER", message says why */
} ZcAnswer;

/* Module API names: an ASCII letter, then letters, digits, underscores. */
extern bool zc_valid_module(const char *module);

/*
 * A record id given as text: digits only, value 1 .. 2^63-1 (leading zeros
 * allowed).  Sets *out and returns true, else false.
 */
extern bool zc_parse_id(const char *text, long long *out);

/*
 * Immediate mass update body: {"data":[{fields}],"ids":["1",...],
 * "over_write":bool}.  Ids travel as JSON strings of their digits; values
 * are copied verbatim, so numbers keep their digits and strings their
 * bytes.  NULL only when out of memory.
 */
extern char *zc_build_ids_body(const ZcField *fields, int nfields,
							   const long long *ids, int nids, bool over_write);

/*
 * Scheduler (view) body: {"data":[{fields}],"cvid":"N",
 * ["territory":{"id":"N","include_child":bool},] "over_write":bool}.
 * territory_id <= 0 means none.
 */
extern char *zc_build_view_body(const ZcField *fields, int nfields,
								long long cvid, long long territory_id,
								bool include_child, bool over_write);

/* JSON string literal (quotes included) of a UTF-8 string; bytes >= 0x80 kept. */
extern char *zc_json_string(const char *s);

/*
 * The answer to an immediate mass update.  OK: *results holds *nresults
 * entries (a per-record data[], whatever the HTTP status: v8 answers 207
 * for mixed results and 400 when every record fails).  ERROR: the flat
 * envelope is in *err.  Whatever the answer's size, each code keeps at
 * most ZC_MAX_CODE_BYTES, each message ZC_MAX_MESSAGE_BYTES (a longer one
 * is cut on a UTF-8 boundary and ends "… [cut from N bytes]") and each
 * details ZC_MAX_DETAILS_BYTES (a longer one becomes the JSON object
 * {"cut":true,"bytes":N,"prefix":"<start of its text>"}).
 */
extern ZcAnswer zc_parse_records(const char *body, ZcRecordResult **results,
								 int *nresults, ZcError *err);

/*
 * Pairs answers with the ids sent: slot[i] becomes the index of the
 * result for ids[i], or -1.  When any entry names an id (details.id), only
 * entries naming one of ids count, each for that id; entries without an
 * id or with an id not sent match nothing (audit L7).  When none names an
 * id, entry j goes to ids[j].  Returns the number of ids left without a
 * result (the caller's NO_RESULT, a transient outcome).
 */
extern int	zc_match_results(const long long *ids, int nids,
							 const ZcRecordResult *results, int nresults,
							 int *slot);

/*
 * True when a per-record answer is really a request-level refusal: entries
 * that name no id and do not line up one to one with the ids sent (e.g. a
 * single MANDATORY_NOT_FOUND entry for a 500-id call).
 */
extern bool zc_records_are_request_error(const ZcRecordResult *results,
										 int nresults, int nids);

/*
 * The answer to a view-job POST: OK sets *job_id (digits).  An error
 * entry inside data[] (some versions wrap ALREADY_SCHEDULED that way) is
 * returned as ERROR like a flat envelope.
 */
extern ZcAnswer zc_parse_scheduled(const char *body, long long *job_id,
								   ZcError *err);

/* The answer to a status GET: OK fills *st; an unknown Status is MALFORMED. */
extern ZcAnswer zc_parse_job_status(const char *body, ZcJobStatus *st,
									ZcError *err);

/* A flat error envelope alone; false when body is not one. */
extern bool zc_parse_error(const char *body, ZcError *err);

/* True for COMPLETED and FAILED. */
extern bool zc_job_status_final(const char *status);

extern void zc_error_free(ZcError *err);
extern void zc_results_free(ZcRecordResult *results, int nresults);

#endif							/* ZCRM_CODEC_H */
