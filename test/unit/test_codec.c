/*
 * test_codec.c: unit tests of src/codec.c (request bodies and Zoho's
 * answers), driven directly, no server.  Samples are Zoho's own
 * (../shared/reference/zoho-mass-update-api.md sections 1.3, 2, 3).
 */
/* unit-sources: src/codec.c */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec.h"

static int	passed;
static int	failed;

#define CHECK(cond) check((cond), #cond, __LINE__)
#define CHECK_STR(got, want) check_str((got), (want), __LINE__)

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

static void
check_str(const char *got, const char *want, int line)
{
	if (got != NULL && want != NULL && strcmp(got, want) == 0)
		passed++;
	else if (got == NULL && want == NULL)
		passed++;
	else
	{
		failed++;
		printf("not ok - line %d:\n  got:  %s\n  want: %s\n", line,
			   got ? got : "(null)", want ? want : "(null)");
	}
}

static void
test_module_and_ids(void)
{
	long long	v = 0;
	char		longname[120];

	CHECK(zc_valid_module("Leads"));
	CHECK(zc_valid_module("Price_Books"));
	CHECK(zc_valid_module("CustomModule1"));
	CHECK(!zc_valid_module(""));
	CHECK(!zc_valid_module(NULL));
	CHECK(!zc_valid_module("Leads/../x"));
	CHECK(!zc_valid_module("Leads?a=1"));
	CHECK(!zc_valid_module("Leads "));
	CHECK(!zc_valid_module("_Leads"));
	CHECK(!zc_valid_module("1Leads"));
	CHECK(!zc_valid_module("Léads"));
	CHECK(!zc_valid_module("Leads%2F"));
	memset(longname, 'a', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	CHECK(!zc_valid_module(longname));

	CHECK(zc_parse_id("4150868000000224005", &v) && v == 4150868000000224005LL);
	CHECK(zc_parse_id("9007199254740993", &v) && v == 9007199254740993LL);
	CHECK(zc_parse_id("9223372036854775807", &v) && v == 9223372036854775807LL);
	CHECK(zc_parse_id("007", &v) && v == 7);
	CHECK(!zc_parse_id("9223372036854775808", &v));
	CHECK(!zc_parse_id("99999999999999999999999", &v));
	CHECK(!zc_parse_id("0", &v));
	CHECK(!zc_parse_id("-1", &v));
	CHECK(!zc_parse_id("+1", &v));
	CHECK(!zc_parse_id(" 1", &v));
	CHECK(!zc_parse_id("1 ", &v));
	CHECK(!zc_parse_id("1e3", &v));
	CHECK(!zc_parse_id("", &v));
	CHECK(!zc_parse_id(NULL, &v));
}

static void
test_bodies(void)
{
	ZcField		f1[] = {{"Annual_Revenue", "1234.50"}};
	ZcField		f3[] = {{"Stage", "\"Closed Won\""}, {"Amount", "100000000000000000000.10"},
	{"Languages_Known", "[\"English\", \"Español\"]"}};
	ZcField		fq[] = {{"We\"ird\\Name\n", "null"}};
	long long	ids[] = {9007199254740993LL, 4150868000000224005LL};
	char	   *b;

	b = zc_build_ids_body(f1, 1, ids, 2, false);
	CHECK_STR(b, "{\"data\":[{\"Annual_Revenue\":1234.50}],\"ids\":[\"9007199254740993\",\"4150868000000224005\"],\"over_write\":false}");
	free(b);

	b = zc_build_ids_body(f3, 3, ids, 1, true);
	CHECK_STR(b, "{\"data\":[{\"Stage\":\"Closed Won\",\"Amount\":100000000000000000000.10,\"Languages_Known\":[\"English\", \"Español\"]}],\"ids\":[\"9007199254740993\"],\"over_write\":true}");
	free(b);

	b = zc_build_ids_body(fq, 1, ids, 0, false);
	CHECK_STR(b, "{\"data\":[{\"We\\\"ird\\\\Name\\n\":null}],\"ids\":[],\"over_write\":false}");
	free(b);

	b = zc_build_view_body(f1, 1, 4150868000000087501LL, 0, false, false);
	CHECK_STR(b, "{\"data\":[{\"Annual_Revenue\":1234.50}],\"cvid\":\"4150868000000087501\",\"over_write\":false}");
	free(b);

	b = zc_build_view_body(f1, 1, 4150868000000087501LL, 4150868000000090001LL, true, true);
	CHECK_STR(b, "{\"data\":[{\"Annual_Revenue\":1234.50}],\"cvid\":\"4150868000000087501\",\"territory\":{\"id\":\"4150868000000090001\",\"include_child\":true},\"over_write\":true}");
	free(b);

	b = zc_json_string("a\x01\tü");
	CHECK_STR(b, "\"a\\u0001\\tü\"");
	free(b);

	/* 500 ids of 19 digits */
	{
		long long	many[500];
		int			i;

		for (i = 0; i < 500; i++)
			many[i] = 4150868000000224001LL + i;
		b = zc_build_ids_body(f1, 1, many, 500, false);
		CHECK(b != NULL && strstr(b, "\"4150868000000224500\"],") != NULL);
		free(b);
	}
}

static const char *mixed_200 =
"{\"data\":[{\"code\":\"SUCCESS\",\"details\":{\"Modified_Time\":\"2021-03-03T12:17:00+05:30\","
"\"Modified_By\":{\"name\":\"Patricia boyle\",\"id\":\"554023000000497007\"},"
"\"Created_Time\":\"2021-02-26T19:13:56+05:30\",\"id\":\"580845000003654076\","
"\"Created_By\":{\"name\":\"Patricia Boyle\",\"id\":\"580845000000242009\"}},"
"\"message\":\"record updated\",\"status\":\"success\"},"
"{\"code\":\"INVALID_DATA\",\"details\":{\"id\":\"554023000000497021\"},"
"\"message\":\"the id given seems to be invalid\",\"status\":\"error\"}]}";

static void
test_records(void)
{
	ZcRecordResult *r;
	int			n;
	ZcError		e;
	int			slot[3];
	long long	ids[] = {580845000003654076LL, 554023000000497021LL};
	long long	rev[] = {554023000000497021LL, 580845000003654076LL};

	CHECK(zc_parse_records(mixed_200, &r, &n, &e) == ZC_ANSWER_OK);
	CHECK(n == 2);
	CHECK(r[0].success && !r[1].success);
	CHECK_STR(r[0].code, "SUCCESS");
	CHECK_STR(r[1].code, "INVALID_DATA");
	CHECK_STR(r[1].message, "the id given seems to be invalid");
	CHECK_STR(r[1].details, "{\"id\":\"554023000000497021\"}");
	CHECK_STR(r[0].id, "580845000003654076");
	CHECK(zc_match_results(ids, 2, r, n, slot) == 0 && slot[0] == 0 && slot[1] == 1);
	CHECK(zc_match_results(rev, 2, r, n, slot) == 0 && slot[0] == 1 && slot[1] == 0);
	CHECK(!zc_records_are_request_error(r, n, 2));
	zc_results_free(r, n);

	/* v8 400 with per-record data[] (all failed) is records, not an error */
	CHECK(zc_parse_records("{\"data\":[{\"code\":\"INVALID_DATA\",\"details\":{\"id\":\"19901170000358080\"},"
						   "\"message\":\"the id given seems to be invalid\",\"status\":\"error\"}]}",
						   &r, &n, &e) == ZC_ANSWER_OK);
	CHECK(n == 1 && !r[0].success);
	zc_results_free(r, n);

	/* v8 207 with RECORD_LOCKED */
	CHECK(zc_parse_records("{\"data\":[{\"code\":\"SUCCESS\",\"details\":{\"id\":\"1\"},\"message\":\"record updated\",\"status\":\"success\"},"
						   "{\"code\":\"RECORD_LOCKED\",\"details\":{\"action\":\"record_locking\",\"id\":\"2\"},"
						   "\"message\":\"Sorry, you cannot perform this operation as the record is locked.\",\"status\":\"error\"}]}",
						   &r, &n, &e) == ZC_ANSWER_OK);
	{
		long long	i3[] = {2, 1, 3};

		CHECK(zc_match_results(i3, 3, r, n, slot) == 1);
		CHECK(slot[0] == 1 && slot[1] == 0 && slot[2] == -1);
	}
	zc_results_free(r, n);

	/* entries without ids, one per id: positional */
	CHECK(zc_parse_records("{\"data\":[{\"code\":\"MANDATORY_NOT_FOUND\",\"details\":{},\"message\":\"required field not found\",\"status\":\"error\"},"
						   "{\"code\":\"SUCCESS\",\"details\":{},\"message\":\"record updated\",\"status\":\"success\"}]}",
						   &r, &n, &e) == ZC_ANSWER_OK);
	CHECK(zc_match_results(ids, 2, r, n, slot) == 0 && slot[0] == 0 && slot[1] == 1);
	CHECK(!zc_records_are_request_error(r, n, 2));
	zc_results_free(r, n);

	/* a single id-less error for many ids: a request-level refusal */
	CHECK(zc_parse_records("{\"data\":[{\"code\":\"MANDATORY_NOT_FOUND\",\"details\":{},\"message\":\"required field not found\",\"status\":\"error\"}]}",
						   &r, &n, &e) == ZC_ANSWER_OK);
	CHECK(zc_records_are_request_error(r, n, 500));
	CHECK(!zc_records_are_request_error(r, n, 1));
	zc_results_free(r, n);

	/* flat envelope */
	CHECK(zc_parse_records("{\"code\":\"INVALID_DATA\",\"details\":{\"api_name\":\"Email\"},\"message\":\"This field cannot be updated in the Mass Update\",\"status\":\"error\"}",
						   &r, &n, &e) == ZC_ANSWER_ERROR);
	CHECK(r == NULL && n == 0);
	CHECK_STR(e.code, "INVALID_DATA");
	CHECK_STR(e.param_name, "Email");
	CHECK_STR(e.details, "{\"api_name\":\"Email\"}");
	zc_error_free(&e);

	CHECK(zc_parse_records("<html>502</html>", &r, &n, &e) == ZC_ANSWER_MALFORMED);
	CHECK_STR(e.code, "MALFORMED_ANSWER");
	zc_error_free(&e);
	CHECK(zc_parse_records(NULL, &r, &n, &e) == ZC_ANSWER_MALFORMED);
	zc_error_free(&e);
	CHECK(zc_parse_records("{\"data\":[]}", &r, &n, &e) == ZC_ANSWER_MALFORMED);
	zc_error_free(&e);
	CHECK(zc_parse_records("{\"data\":[{\"status\":\"success\"}]}", &r, &n, &e) == ZC_ANSWER_MALFORMED);
	zc_error_free(&e);

	/* Unicode in messages survives */
	CHECK(zc_parse_records("{\"data\":[{\"code\":\"SUCCESS\",\"details\":{\"id\":\"1\",\"x\":\"Español\"},\"message\":\"ok\",\"status\":\"success\"}]}",
						   &r, &n, &e) == ZC_ANSWER_OK);
	CHECK_STR(r[0].details, "{\"id\":\"1\",\"x\":\"Español\"}");
	zc_results_free(r, n);
}

static void
test_scheduled(void)
{
	long long	job = 0;
	ZcError		e;

	CHECK(zc_parse_scheduled("{\"data\":[{\"code\":\"SUCCESS\",\"details\":{\"job_id\":\"554023000000506003\"},"
							 "\"message\":\"mass update scheduled successfully\",\"status\":\"success\"}]}",
							 &job, &e) == ZC_ANSWER_OK);
	CHECK(job == 554023000000506003LL);

	CHECK(zc_parse_scheduled("{\"code\":\"ALREADY_SCHEDULED\",\"message\":\"Already a Mass Action scheduler is running for the given cvid\","
							 "\"status\":\"error\",\"details\":{\"api_name\":\"cvid\"}}", &job, &e) == ZC_ANSWER_ERROR);
	CHECK_STR(e.code, "ALREADY_SCHEDULED");
	CHECK_STR(e.param_name, "cvid");
	zc_error_free(&e);

	/* v2-v7 may wrap the error in data[] (202) */
	CHECK(zc_parse_scheduled("{\"data\":[{\"code\":\"ALREADY_SCHEDULED\",\"details\":{},\"message\":\"m\",\"status\":\"error\"}]}",
							 &job, &e) == ZC_ANSWER_ERROR);
	CHECK_STR(e.code, "ALREADY_SCHEDULED");
	zc_error_free(&e);

	CHECK(zc_parse_scheduled("{\"code\":\"LIMIT_EXCEEDED\",\"details\":{},\"message\":\"Record count exceeded\",\"status\":\"error\"}",
							 &job, &e) == ZC_ANSWER_ERROR);
	CHECK_STR(e.message, "Record count exceeded");
	CHECK_STR(e.details, "{}");
	zc_error_free(&e);

	CHECK(zc_parse_scheduled("{\"data\":[{\"code\":\"SUCCESS\",\"details\":{},\"status\":\"success\"}]}",
							 &job, &e) == ZC_ANSWER_MALFORMED);
	zc_error_free(&e);
	CHECK(zc_parse_scheduled("{\"data\":[{\"code\":\"SUCCESS\",\"details\":{\"job_id\":12345},\"status\":\"success\"}]}",
							 &job, &e) == ZC_ANSWER_OK && job == 12345);
}

static void
test_status(void)
{
	ZcJobStatus st;
	ZcError		e;
	const char *statuses[] = {"SCHEDULED", "QUEUED", "RUNNING", "SUSPENDED", "COMPLETED", "FAILED"};
	int			i;

	CHECK(zc_parse_job_status("{\"data\":[{\"Status\":\"COMPLETED\",\"Failed_Count\":0,\"Updated_Count\":50,"
							  "\"Not_Updated_Count\":0,\"Total_Count\":50}]}", &st, &e) == ZC_ANSWER_OK);
	CHECK_STR(st.status, "COMPLETED");
	CHECK(st.total_count == 50 && st.updated_count == 50 && st.failed_count == 0 && st.not_updated_count == 0);
	CHECK(zc_job_status_final(st.status));

	for (i = 0; i < 6; i++)
	{
		char		body[200];

		snprintf(body, sizeof(body), "{\"data\":[{\"Status\":\"%s\",\"Failed_Count\":1,\"Updated_Count\":2,\"Not_Updated_Count\":3,\"Total_Count\":6}]}",
				 statuses[i]);
		CHECK(zc_parse_job_status(body, &st, &e) == ZC_ANSWER_OK);
		CHECK_STR(st.status, statuses[i]);
		CHECK(zc_job_status_final(st.status) == (i >= 4));
	}
	CHECK(zc_parse_job_status("{\"data\":[{\"Status\":\"DONE\"}]}", &st, &e) == ZC_ANSWER_MALFORMED);
	zc_error_free(&e);

	CHECK(zc_parse_job_status("{\"data\":[{\"Status\":\"RUNNING\"}]}", &st, &e) == ZC_ANSWER_OK);
	CHECK(st.total_count == -1);

	CHECK(zc_parse_job_status("{\"code\":\"INVALID_DATA\",\"details\":{\"param_name\":\"job_id\"},"
							  "\"message\":\"The jobid given seems to be invalid\",\"status\":\"error\"}",
							  &st, &e) == ZC_ANSWER_ERROR);
	CHECK_STR(e.code, "INVALID_DATA");
	CHECK_STR(e.param_name, "job_id");
	zc_error_free(&e);

	CHECK(zc_parse_job_status("{\"code\":\"NOT_FOUND\",\"details\":{},\"message\":\"Empty response\",\"status\":\"error\"}",
							  &st, &e) == ZC_ANSWER_ERROR);
	CHECK_STR(e.code, "NOT_FOUND");
	zc_error_free(&e);
}

static void
test_error(void)
{
	ZcError		e;

	CHECK(zc_parse_error("{\"code\":\"NO_PERMISSION\",\"message\":\"Permission denied\",\"status\":\"error\","
						 "\"details\":{\"permissions\":[\"Crm_Implied_View_Leads\"]}}", &e));
	CHECK_STR(e.code, "NO_PERMISSION");
	CHECK_STR(e.message, "Permission denied");
	CHECK_STR(e.details, "{\"permissions\":[\"Crm_Implied_View_Leads\"]}");
	zc_error_free(&e);

	CHECK(!zc_parse_error("{\"data\":[]}", &e));
	zc_error_free(&e);
	CHECK(!zc_parse_error("not json", &e));
	zc_error_free(&e);
	CHECK(!zc_parse_error(NULL, &e));
	zc_error_free(&e);
}

int
main(void)
{
	test_module_and_ids();
	test_bodies();
	test_records();
	test_scheduled();
	test_status();
	test_error();
	printf("%d passed, %d failed\n", passed, failed);
	return failed ? 1 : 0;
}
