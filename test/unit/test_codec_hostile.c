/*
 * test_codec_hostile.c: what src/codec.c keeps of answers a hostile or
 * broken endpoint may send (security audit 1.0, M3 and L7): code, message
 * and details are capped (message cut on a UTF-8 boundary and marked,
 * details replaced by a small valid JSON object), a status that is not a
 * string is not success, and ids that are not ours match nothing.
 */
/* unit-sources: src/codec.c */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "codec.h"

static int	passed;
static int	failed;

#define CHECK(cond) check((cond), #cond, __LINE__)

static void
check(int ok, const char *what, int line)
{
	if (ok)
		passed++;
	else
	{
		failed++;
		printf("not ok - line %d: %s\n", line, what);
	}
}

/* Whether s is well-formed UTF-8 (no cut sequence at the end). */
static int
valid_utf8(const char *s)
{
	const unsigned char *p = (const unsigned char *) s;

	while (*p)
	{
		int			n = (*p < 0x80) ? 0 : (*p >> 5) == 6 ? 1 : (*p >> 4) == 14 ? 2 :
			(*p >> 3) == 30 ? 3 : -1;

		if (n < 0)
			return 0;
		p++;
		while (n-- > 0)
		{
			if ((*p & 0xC0) != 0x80)
				return 0;
			p++;
		}
	}
	return 1;
}

/* n copies of unit, malloc'd */
static char *
repeat(const char *unit, size_t n)
{
	size_t		ul = strlen(unit);
	char	   *s = malloc(ul * n + 1);
	size_t		i;

	if (s == NULL)
		abort();

	for (i = 0; i < n; i++)
		memcpy(s + i * ul, unit, ul);
	s[ul * n] = '\0';
	return s;
}

/* A flat INVALID_DATA envelope with the given code, message and details texts. */
static char *
envelope(const char *code, const char *message, const char *details)
{
	size_t		n = strlen(code) + strlen(message) + strlen(details) + 100;
	char	   *s = malloc(n);

	if (s == NULL)
		abort();
	snprintf(s, n, "{\"code\":\"%s\",\"message\":\"%s\",\"details\":%s,\"status\":\"error\"}",
			 code, message, details);
	return s;
}

static void
test_message_cap(void)
{
	char	   *msg = repeat("QUJD", 250000);	/* 1,000,000 bytes of base64 */
	char	   *body = envelope("INVALID_DATA", msg, "{}");
	ZcError		e;

	CHECK(zc_parse_error(body, &e));
	CHECK(e.message != NULL && strlen(e.message) <= ZC_MAX_MESSAGE_BYTES);
	CHECK(e.message != NULL && strncmp(e.message, "QUJDQUJD", 8) == 0);
	CHECK(e.message != NULL && strstr(e.message, "cut") != NULL);
	CHECK(e.message != NULL && strstr(e.message, "1000000") != NULL);
	CHECK(e.code != NULL && strcmp(e.code, "INVALID_DATA") == 0);
	CHECK(e.details != NULL && strcmp(e.details, "{}") == 0);
	zc_error_free(&e);
	free(body);

	/* exactly at the cap: kept whole */
	msg[ZC_MAX_MESSAGE_BYTES] = '\0';
	body = envelope("INVALID_DATA", msg, "{}");
	CHECK(zc_parse_error(body, &e));
	CHECK(e.message != NULL && strcmp(e.message, msg) == 0);
	zc_error_free(&e);
	free(body);
	free(msg);
}

static void
test_utf8_boundary(void)
{
	const char *units[] = {"\xc3\xa9", "\xe2\x82\xac", "\xf0\x9f\x98\x80", "a\xe2\x82\xac"};
	int			u;

	for (u = 0; u < 4; u++)
	{
		char	   *msg = repeat(units[u], 5000);
		char	   *body = envelope("INVALID_DATA", msg, "{}");
		ZcError		e;

		CHECK(zc_parse_error(body, &e));
		CHECK(e.message != NULL && strlen(e.message) <= ZC_MAX_MESSAGE_BYTES);
		CHECK(e.message != NULL && valid_utf8(e.message));
		/* the kept prefix is whole characters of the original */
		CHECK(e.message != NULL && strncmp(e.message, msg, strlen(units[u]) * 10) == 0);
		CHECK(e.message != NULL && strstr(e.message, "cut") != NULL);
		zc_error_free(&e);
		free(body);
		free(msg);
	}
}

static void
test_code_cap(void)
{
	char	   *code = repeat("A", 100000);
	char	   *body = envelope(code, "m", "{}");
	ZcError		e;

	CHECK(zc_parse_error(body, &e));
	CHECK(e.code != NULL && strlen(e.code) <= ZC_MAX_CODE_BYTES);
	CHECK(e.code != NULL && strncmp(e.code, "AAAA", 4) == 0);
	CHECK(e.code != NULL && strcmp(e.code, code) != 0);
	zc_error_free(&e);
	free(body);
	free(code);

	/* the longest real codes are kept as they are */
	body = envelope("AMBIGUITY_DURING_PROCESSING", "m", "{}");
	CHECK(zc_parse_error(body, &e));
	CHECK(e.code != NULL && strcmp(e.code, "AMBIGUITY_DURING_PROCESSING") == 0);
	zc_error_free(&e);
	free(body);
}

/* details is a cut object: {"cut":true,"bytes":N,"prefix":"..."}, valid JSON */
static void
check_cut_details(const char *details, size_t original)
{
	json_error_t jerr;
	json_t	   *v;

	CHECK(details != NULL && strlen(details) <= ZC_MAX_DETAILS_BYTES);
	if (details == NULL)
		return;
	v = json_loads(details, 0, &jerr);
	CHECK(json_is_object(v));
	CHECK(json_is_true(json_object_get(v, "cut")));
	CHECK(json_is_integer(json_object_get(v, "bytes")) &&
		  (size_t) json_integer_value(json_object_get(v, "bytes")) == original);
	CHECK(json_is_string(json_object_get(v, "prefix")) &&
		  strlen(json_string_value(json_object_get(v, "prefix"))) > 100);
	json_decref(v);
}

static void
test_details_cap(void)
{
	char	   *big = repeat("\"xxxxxxxx\",", 20000);
	char	   *det;
	char	   *body;
	ZcError		e;
	ZcRecordResult *r;
	int			n;

	/* {"list":["xxxxxxxx",...,"end"]}: 220,024 bytes compact */
	det = malloc(strlen(big) + 64);
	if (det == NULL)
		abort();
	sprintf(det, "{\"list\":[%s\"end\"]}", big);
	body = envelope("INVALID_DATA", "m", det);
	CHECK(zc_parse_error(body, &e));
	check_cut_details(e.details, strlen(det));
	zc_error_free(&e);
	free(body);

	/* control characters escape to six bytes each: still within the cap */
	free(big);
	big = repeat("\\u0001\\\"", 20000);
	sprintf(det, "{\"s\":\"%s\"}", big);
	body = envelope("INVALID_DATA", "m", det);
	CHECK(zc_parse_error(body, &e));
	CHECK(e.details != NULL && strlen(e.details) <= ZC_MAX_DETAILS_BYTES);
	check_cut_details(e.details, 6 + 20000 * 8 + 2);
	zc_error_free(&e);
	free(body);

	/* per-record results are capped the same way */
	{
		char	   *msg = repeat("\xe2\x82\xac", 3000);
		char	   *code = repeat("B", 500);
		size_t		len = strlen(msg) + strlen(code) + strlen(det) + 200;

		body = malloc(len);
		if (body == NULL)
			abort();
		snprintf(body, len, "{\"data\":[{\"code\":\"%s\",\"message\":\"%s\",\"details\":{\"id\":\"7\",\"x\":%s},"
				 "\"status\":\"error\"}]}", code, msg, det);
		CHECK(zc_parse_records(body, &r, &n, &e) == ZC_ANSWER_OK);
		CHECK(n == 1);
		if (n == 1)
		{
			CHECK(strlen(r[0].code) <= ZC_MAX_CODE_BYTES);
			CHECK(r[0].message != NULL && strlen(r[0].message) <= ZC_MAX_MESSAGE_BYTES &&
				  valid_utf8(r[0].message) && strstr(r[0].message, "cut") != NULL);
			CHECK(r[0].details != NULL && strlen(r[0].details) <= ZC_MAX_DETAILS_BYTES);
			CHECK(r[0].id != NULL && strcmp(r[0].id, "7") == 0);
			CHECK(!r[0].success);
		}
		zc_results_free(r, n);
		free(body);
		free(msg);
		free(code);
	}
	free(det);
	free(big);
}

static void
test_status_not_string(void)
{
	ZcRecordResult *r;
	int			n;
	ZcError		e;
	long long	job;

	/* audit L7: {"status":5,...} was taken as success from code SUCCESS */
	CHECK(zc_parse_records("{\"data\":[{\"code\":\"SUCCESS\",\"status\":5,\"details\":{\"id\":\"1\"},\"message\":\"m\"}]}",
						   &r, &n, &e) == ZC_ANSWER_OK);
	CHECK(n == 1 && !r[0].success);
	zc_results_free(r, n);
	CHECK(zc_parse_records("{\"data\":[{\"code\":\"SUCCESS\",\"status\":null,\"details\":{\"id\":\"1\"}}]}",
						   &r, &n, &e) == ZC_ANSWER_OK);
	CHECK(n == 1 && !r[0].success);
	zc_results_free(r, n);
	CHECK(zc_parse_records("{\"data\":[{\"code\":\"SUCCESS\",\"status\":true,\"details\":{\"id\":\"1\"}}]}",
						   &r, &n, &e) == ZC_ANSWER_OK);
	CHECK(n == 1 && !r[0].success);
	zc_results_free(r, n);

	/* a scheduled job with a non-string status is not scheduled */
	CHECK(zc_parse_scheduled("{\"data\":[{\"code\":\"SUCCESS\",\"status\":{},\"details\":{\"job_id\":\"5\"}}]}",
							 &job, &e) != ZC_ANSWER_OK);
	zc_error_free(&e);
}

static void
test_wrong_ids(void)
{
	ZcRecordResult *r;
	int			n;
	ZcError		e;
	int			slot[3];
	long long	ours[] = {1, 2};
	long long	three[] = {1, 2, 3};

	/* both entries name ids that are not ours: nothing matches */
	CHECK(zc_parse_records("{\"data\":[{\"code\":\"SUCCESS\",\"status\":\"success\",\"details\":{\"id\":\"99\"}},"
						   "{\"code\":\"SUCCESS\",\"status\":\"success\",\"details\":{\"id\":\"98\"}}]}",
						   &r, &n, &e) == ZC_ANSWER_OK);
	CHECK(zc_match_results(ours, 2, r, n, slot) == 2);
	CHECK(slot[0] == -1 && slot[1] == -1);
	zc_results_free(r, n);

	/* audit L7: id 1e30 (a JSON real) matched our id by position */
	CHECK(zc_parse_records("{\"data\":[{\"code\":\"SUCCESS\",\"status\":\"success\",\"details\":{\"id\":1e30}},"
						   "{\"code\":\"SUCCESS\",\"status\":\"success\",\"details\":{\"id\":1e30}}]}",
						   &r, &n, &e) == ZC_ANSWER_OK);
	CHECK(zc_match_results(ours, 2, r, n, slot) == 2);
	CHECK(slot[0] == -1 && slot[1] == -1);
	CHECK(!zc_records_are_request_error(r, n, 500));
	zc_results_free(r, n);

	/* ids out of range as strings */
	CHECK(zc_parse_records("{\"data\":[{\"code\":\"SUCCESS\",\"status\":\"success\",\"details\":{\"id\":\"99999999999999999999\"}},"
						   "{\"code\":\"SUCCESS\",\"status\":\"success\",\"details\":{\"id\":\"-1\"}}]}",
						   &r, &n, &e) == ZC_ANSWER_OK);
	CHECK(zc_match_results(ours, 2, r, n, slot) == 2);
	CHECK(slot[0] == -1 && slot[1] == -1);
	zc_results_free(r, n);

	/*
	 * An id longer than ZC_MAX_ID_BYTES is never ours: 31 zeros, then 12,
	 * must not be cut into "0...01" = 1.
	 */
	{
		char		body[300];

		snprintf(body, sizeof(body),
				 "{\"data\":[{\"code\":\"SUCCESS\",\"status\":\"success\",\"details\":{\"id\":\"%s\"}}]}",
				 "000000000000000000000000000000012");
		CHECK(zc_parse_records(body, &r, &n, &e) == ZC_ANSWER_OK);
		{
			long long	twelve[] = {12};
			long long	one[] = {1};

			CHECK(zc_match_results(twelve, 1, r, n, slot) == 1 && slot[0] == -1);
			CHECK(zc_match_results(one, 1, r, n, slot) == 1 && slot[0] == -1);
		}
		zc_results_free(r, n);
	}

	/*
	 * One entry names id 1, the other names none: only 1 is matched, id 2
	 * has no result (NO_RESULT, transient) instead of taking the id-less
	 * entry by position.
	 */
	CHECK(zc_parse_records("{\"data\":[{\"code\":\"SUCCESS\",\"status\":\"success\",\"details\":{\"id\":\"1\"}},"
						   "{\"code\":\"SUCCESS\",\"status\":\"success\",\"details\":{}}]}",
						   &r, &n, &e) == ZC_ANSWER_OK);
	CHECK(zc_match_results(ours, 2, r, n, slot) == 1);
	CHECK(slot[0] == 0 && slot[1] == -1);
	zc_results_free(r, n);

	/* answers that name our ids in any order still match all of them */
	CHECK(zc_parse_records("{\"data\":[{\"code\":\"SUCCESS\",\"status\":\"success\",\"details\":{\"id\":\"3\"}},"
						   "{\"code\":\"SUCCESS\",\"status\":\"success\",\"details\":{\"id\":1}},"
						   "{\"code\":\"SUCCESS\",\"status\":\"success\",\"details\":{\"id\":\"2\"}}]}",
						   &r, &n, &e) == ZC_ANSWER_OK);
	CHECK(zc_match_results(three, 3, r, n, slot) == 0);
	CHECK(slot[0] == 1 && slot[1] == 2 && slot[2] == 0);
	zc_results_free(r, n);
}

/* Too many tiny values is refused before jansson builds the tree. */
static void
test_too_many_values(void)
{
	char	   *many = repeat("{\"code\":\"A\"},", ZC_MAX_ANSWER_VALUES);
	char	   *body = malloc(strlen(many) + 64);
	char	   *text = repeat("a,b{c[", 100000);
	char	   *inside = malloc(strlen(text) + 64);
	ZcRecordResult *r;
	int			n;
	ZcError		e;

	if (body == NULL || inside == NULL)
		abort();
	sprintf(body, "{\"data\":[%s{\"code\":\"A\"}]}", many);
	CHECK(zc_parse_records(body, &r, &n, &e) == ZC_ANSWER_MALFORMED);
	CHECK(e.message != NULL && strstr(e.message, "too many") != NULL);
	zc_error_free(&e);

	/* commas and brackets inside strings are text, not values */
	sprintf(inside, "{\"data\":[{\"code\":\"A\",\"message\":\"%s\\\"\",\"status\":\"error\"}]}", text);
	CHECK(zc_parse_records(inside, &r, &n, &e) == ZC_ANSWER_OK);
	CHECK(n == 1);
	zc_results_free(r, n);
	free(many);
	free(body);
	free(text);
	free(inside);
}

int
main(void)
{
	test_too_many_values();
	test_message_cap();
	test_utf8_boundary();
	test_code_cap();
	test_details_cap();
	test_status_not_string();
	test_wrong_ids();
	printf("%d passed, %d failed\n", passed, failed);
	return failed ? 1 : 0;
}
