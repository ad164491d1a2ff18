/*-------------------------------------------------------------------------
 *
 * codec.c
 *		Zoho CRM Mass Update API request bodies and answers, plain C.
 *
 * Bodies are written as text, never through a JSON library: field values
 * arrive as PostgreSQL's own jsonb text and are spliced in verbatim, so
 * 1234.50 stays 1234.50 and a 19-digit id never passes through a double.
 * Answers are read with jansson; every json_t is released before return.
 *
 * See codec.h for the interface and the reference sections it follows.
 *
 *-------------------------------------------------------------------------
 */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "codec.h"
#include "zoho_limits.h"

/* A growing malloc'd string; on allocation failure it stays failed. */
typedef struct Buf
{
	char	   *data;
	size_t		len;
	size_t		cap;
	bool		failed;
} Buf;

static void
buf_reserve(Buf *b, size_t more)
{
	size_t		need;
	char	   *p;

	if (b->failed)
		return;
	need = b->len + more + 1;
	if (need <= b->cap)
		return;
	if (b->cap == 0)
		b->cap = 256;
	while (b->cap < need)
		b->cap *= 2;
	p = realloc(b->data, b->cap);
	if (p == NULL)
	{
		b->failed = true;
		return;
	}
	b->data = p;
}

static void
buf_append(Buf *b, const char *s, size_t n)
{
	buf_reserve(b, n);
	if (b->failed)
		return;
	memcpy(b->data + b->len, s, n);
	b->len += n;
	b->data[b->len] = '\0';
}

static void
buf_puts(Buf *b, const char *s)
{
	buf_append(b, s, strlen(s));
}

static void buf_printf(Buf *b, const char *fmt,...) __attribute__((format(printf, 2, 3)));

static void
buf_printf(Buf *b, const char *fmt,...)
{
	char		tmp[64];
	va_list		ap;
	int			n;

	va_start(ap, fmt);
	n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t) n >= sizeof(tmp))
	{
		b->failed = true;
		return;
	}
	buf_append(b, tmp, n);
}

/* JSON string escaping: quotes, backslash and control characters only. */
static void
buf_json_string(Buf *b, const char *s)
{
	const unsigned char *p;

	buf_append(b, "\"", 1);
	for (p = (const unsigned char *) s; *p; p++)
	{
		switch (*p)
		{
			case '"':
				buf_append(b, "\\\"", 2);
				break;
			case '\\':
				buf_append(b, "\\\\", 2);
				break;
			case '\b':
				buf_append(b, "\\b", 2);
				break;
			case '\f':
				buf_append(b, "\\f", 2);
				break;
			case '\n':
				buf_append(b, "\\n", 2);
				break;
			case '\r':
				buf_append(b, "\\r", 2);
				break;
			case '\t':
				buf_append(b, "\\t", 2);
				break;
			default:
				if (*p < 0x20)
					buf_printf(b, "\\u%04x", *p);
				else
					buf_append(b, (const char *) p, 1);
		}
	}
	buf_append(b, "\"", 1);
}

static char *
buf_finish(Buf *b)
{
	if (b->failed)
	{
		free(b->data);
		return NULL;
	}
	if (b->data == NULL)
		return strdup("");
	return b->data;
}

char *
zc_json_string(const char *s)
{
	Buf			b = {0};

	buf_json_string(&b, s);
	return buf_finish(&b);
}

bool
zc_valid_module(const char *module)
{
	const char *p;

	if (module == NULL ||
		!((module[0] >= 'A' && module[0] <= 'Z') ||
		  (module[0] >= 'a' && module[0] <= 'z')))
		return false;
	for (p = module; *p; p++)
	{
		if (!((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') ||
			  (*p >= '0' && *p <= '9') || *p == '_'))
			return false;
		if (p - module >= ZOHO_MAX_MODULE_NAME)
			return false;
	}
	return true;
}

bool
zc_parse_id(const char *text, long long *out)
{
	unsigned long long v = 0;
	const char *p;

	if (text == NULL || *text == '\0')
		return false;
	for (p = text; *p; p++)
	{
		if (*p < '0' || *p > '9')
			return false;
		if (v > ((unsigned long long) INT64_MAX - (*p - '0')) / 10)
			return false;
		v = v * 10 + (*p - '0');
	}
	if (v == 0)
		return false;
	*out = (long long) v;
	return true;
}

/* "data":[{"name":value,...}] */
static void
buf_data(Buf *b, const ZcField *fields, int nfields)
{
	int			i;

	buf_puts(b, "{\"data\":[{");
	for (i = 0; i < nfields; i++)
	{
		if (i > 0)
			buf_append(b, ",", 1);
		buf_json_string(b, fields[i].name);
		buf_append(b, ":", 1);
		buf_puts(b, fields[i].value_json);
	}
	buf_puts(b, "}]");
}

char *
zc_build_ids_body(const ZcField *fields, int nfields,
				  const long long *ids, int nids, bool over_write)
{
	Buf			b = {0};
	int			i;

	buf_data(&b, fields, nfields);
	buf_puts(&b, ",\"ids\":[");
	for (i = 0; i < nids; i++)
		buf_printf(&b, i > 0 ? ",\"%lld\"" : "\"%lld\"", ids[i]);
	buf_puts(&b, "],\"over_write\":");
	buf_puts(&b, over_write ? "true}" : "false}");
	return buf_finish(&b);
}

char *
zc_build_view_body(const ZcField *fields, int nfields,
				   long long cvid, long long territory_id,
				   bool include_child, bool over_write)
{
	Buf			b = {0};

	buf_data(&b, fields, nfields);
	buf_printf(&b, ",\"cvid\":\"%lld\"", cvid);
	if (territory_id > 0)
	{
		buf_printf(&b, ",\"territory\":{\"id\":\"%lld\",", territory_id);
		buf_puts(&b, include_child ? "\"include_child\":true}" :
				 "\"include_child\":false}");
	}
	buf_puts(&b, ",\"over_write\":");
	buf_puts(&b, over_write ? "true}" : "false}");
	return buf_finish(&b);
}

/* ---- answers ---- */

/*
 * Bytes of s (len bytes long) that fit in max without cutting a UTF-8
 * sequence: jansson hands out valid UTF-8, and a cut one would make the
 * text unstorable.
 */
static size_t
utf8_prefix_len(const char *s, size_t len, size_t max)
{
	size_t		n;

	if (len <= max)
		return len;
	n = max;
	while (n > 0 && ((unsigned char) s[n] & 0xC0) == 0x80)
		n--;
	return n;
}

/*
 * A malloc'd copy of s in at most cap bytes (NUL apart).  A longer text
 * keeps a prefix, cut on a character boundary, and ends with a mark that
 * says it was cut: "…" alone, or with its whole size when say_size (so a
 * reader knows how much is missing).
 */
static char *
capped_copy(const char *s, size_t cap, bool say_size)
{
	size_t		len = strlen(s);
	char		mark[64];
	size_t		keep;
	size_t		mlen;
	char	   *out;

	if (len <= cap)
		return strdup(s);
	if (say_size)
		snprintf(mark, sizeof(mark), "\xe2\x80\xa6 [cut from %zu bytes]", len);
	else
		strcpy(mark, "\xe2\x80\xa6");	/* U+2026, an ellipsis */
	mlen = strlen(mark);
	keep = utf8_prefix_len(s, len, cap > mlen ? cap - mlen : 0);
	out = malloc(keep + mlen + 1);
	if (out == NULL)
		return NULL;
	memcpy(out, s, keep);
	memcpy(out + keep, mark, mlen + 1);
	return out;
}

/*
 * A string member as a malloc'd copy of at most cap bytes (see
 * capped_copy); integers are printed; else NULL.
 */
static char *
member_text(json_t *obj, const char *key, size_t cap, bool say_size)
{
	json_t	   *v = json_object_get(obj, key);
	char		tmp[32];

	if (json_is_string(v))
		return capped_copy(json_string_value(v), cap, say_size);
	if (json_is_integer(v))
	{
		snprintf(tmp, sizeof(tmp), "%lld", (long long) json_integer_value(v));
		return strdup(tmp);
	}
	return NULL;
}

/*
 * details.id as text: digits as sent, or "?" when the entry names an id
 * that cannot be one of ours (a real such as 1e30, a boolean, a string too
 * long for a 64-bit id), so that it still counts as naming one; NULL when
 * there is no id.
 */
static char *
id_text(json_t *details)
{
	json_t	   *v = json_is_object(details) ? json_object_get(details, "id") : NULL;

	if (v == NULL)
		return NULL;
	if ((json_is_string(v) && strlen(json_string_value(v)) <= ZC_MAX_ID_BYTES) ||
		json_is_integer(v))
		return member_text(details, "id", ZC_MAX_ID_BYTES, false);
	return strdup("?");
}

/*
 * A JSON string literal of the longest prefix of s whose escaped form
 * takes at most room bytes, quotes apart; never cuts a UTF-8 sequence.
 */
static void
buf_json_prefix(Buf *b, const char *s, size_t room)
{
	const unsigned char *p = (const unsigned char *) s;

	buf_append(b, "\"", 1);
	while (*p)
	{
		size_t		clen = *p < 0x80 ? 1 : (*p >> 5) == 6 ? 2 :
			(*p >> 4) == 14 ? 3 : (*p >> 3) == 30 ? 4 : 1;
		size_t		k;
		char		esc[8];
		size_t		elen;

		for (k = 1; k < clen; k++)
			if (p[k] == '\0')
				goto done;
		if (*p == '"' || *p == '\\')
		{
			esc[0] = '\\';
			esc[1] = (char) *p;
			elen = 2;
		}
		else if (*p < 0x20)
		{
			snprintf(esc, sizeof(esc), "\\u%04x", *p);
			elen = 6;
		}
		else
		{
			memcpy(esc, p, clen);
			elen = clen;
		}
		if (elen > room)
			break;
		buf_append(b, esc, elen);
		room -= elen;
		p += clen;
	}
done:
	buf_append(b, "\"", 1);
}

/*
 * Details as compact JSON text of at most ZC_MAX_DETAILS_BYTES.  A longer
 * one becomes {"cut":true,"bytes":N,"prefix":"..."}: still JSON (it is
 * stored as jsonb), with the original size and as much of its text as fits.
 */
static char *
dump_details(json_t *v)
{
	char	   *text;
	size_t		len;
	char		head[80];
	Buf			b = {0};

	if (v == NULL)
		return NULL;
	text = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
	if (text == NULL)
		return NULL;
	len = strlen(text);
	if (len <= ZC_MAX_DETAILS_BYTES)
		return text;
	snprintf(head, sizeof(head), "{\"cut\":true,\"bytes\":%zu,\"prefix\":", len);
	buf_puts(&b, head);
	buf_json_prefix(&b, text, ZC_MAX_DETAILS_BYTES - strlen(head) - 3);
	buf_puts(&b, "}");
	free(text);
	return buf_finish(&b);
}

static void
set_malformed(ZcError *err, const char *why)
{
	err->code = strdup("MALFORMED_ANSWER");
	err->message = strdup(why);
	err->details = NULL;
	err->param_name = NULL;
}

/* Fills err from an object holding code/message/details, capped. */
static void
fill_error(json_t *obj, ZcError *err)
{
	json_t	   *details = json_object_get(obj, "details");

	err->code = member_text(obj, "code", ZC_MAX_CODE_BYTES, false);
	if (err->code == NULL)
		err->code = strdup("UNKNOWN");
	err->message = member_text(obj, "message", ZC_MAX_MESSAGE_BYTES, true);
	err->details = dump_details(details);
	err->param_name = NULL;
	if (json_is_object(details))
	{
		err->param_name = member_text(details, "param_name", ZC_MAX_CODE_BYTES, false);
		if (err->param_name == NULL)
			err->param_name = member_text(details, "api_name", ZC_MAX_CODE_BYTES, false);
	}
}

/*
 * Whether an entry reports success: status "success", or, without a
 * status, code SUCCESS.  A status that is there but not a string is not
 * success (audit L7).
 */
static bool
entry_success(json_t *e)
{
	json_t	   *st = json_object_get(e, "status");

	if (st == NULL)
		return strcmp(json_string_value(json_object_get(e, "code")), "SUCCESS") == 0;
	return json_is_string(st) && strcmp(json_string_value(st), "success") == 0;
}

/* A flat envelope: an object with a string "code" and no "data". */
static bool
is_flat_error(json_t *root)
{
	return json_is_object(root) &&
		json_is_string(json_object_get(root, "code")) &&
		json_object_get(root, "data") == NULL;
}

/*
 * Whether body has more than ZC_MAX_ANSWER_VALUES JSON values (counted as
 * commas and container openings outside strings).  jansson builds the
 * whole tree first, at up to some 30 times the text's size for tiny
 * values, so the count is checked before parsing (audit M4).
 */
static bool
too_many_values(const char *body)
{
	const char *p;
	bool		in_string = false;
	long		values = 1;

	for (p = body; *p; p++)
	{
		if (in_string)
		{
			if (*p == '\\' && p[1] != '\0')
				p++;
			else if (*p == '"')
				in_string = false;
		}
		else if (*p == '"')
			in_string = true;
		else if (*p == ',' || *p == '{' || *p == '[')
		{
			if (++values > ZC_MAX_ANSWER_VALUES)
				return true;
		}
	}
	return false;
}

static json_t *
load(const char *body)
{
	json_error_t jerr;

	if (body == NULL || too_many_values(body))
		return NULL;
	return json_loads(body, JSON_REJECT_DUPLICATES, &jerr);
}

/* Why load failed, for MALFORMED_ANSWER's message. */
static const char *
load_failure(const char *body)
{
	if (body == NULL)
		return "the answer is empty";
	if (too_many_values(body))
		return "the answer has too many JSON values";
	return "the answer is not JSON";
}

bool
zc_parse_error(const char *body, ZcError *err)
{
	json_t	   *root = load(body);
	bool		found = false;

	memset(err, 0, sizeof(*err));
	if (is_flat_error(root))
	{
		fill_error(root, err);
		found = true;
	}
	json_decref(root);
	return found;
}

ZcAnswer
zc_parse_records(const char *body, ZcRecordResult **results, int *nresults,
				 ZcError *err)
{
	json_t	   *root = load(body);
	json_t	   *data;
	ZcRecordResult *res;
	size_t		i,
				n;

	*results = NULL;
	*nresults = 0;
	memset(err, 0, sizeof(*err));
	if (root == NULL)
	{
		set_malformed(err, load_failure(body));
		return ZC_ANSWER_MALFORMED;
	}
	if (is_flat_error(root))
	{
		fill_error(root, err);
		json_decref(root);
		return ZC_ANSWER_ERROR;
	}
	data = json_object_get(root, "data");
	if (!json_is_array(data) || json_array_size(data) == 0)
	{
		set_malformed(err, "the answer has no data array");
		json_decref(root);
		return ZC_ANSWER_MALFORMED;
	}
	n = json_array_size(data);
	for (i = 0; i < n; i++)
	{
		json_t	   *e = json_array_get(data, i);

		if (!json_is_object(e) || !json_is_string(json_object_get(e, "code")))
		{
			set_malformed(err, "an entry of the data array has no code");
			json_decref(root);
			return ZC_ANSWER_MALFORMED;
		}
	}
	res = calloc(n, sizeof(ZcRecordResult));
	if (res == NULL)
	{
		set_malformed(err, "out of memory");
		json_decref(root);
		return ZC_ANSWER_MALFORMED;
	}
	for (i = 0; i < n; i++)
	{
		json_t	   *e = json_array_get(data, i);
		json_t	   *details = json_object_get(e, "details");

		res[i].code = member_text(e, "code", ZC_MAX_CODE_BYTES, false);
		res[i].message = member_text(e, "message", ZC_MAX_MESSAGE_BYTES, true);
		res[i].details = dump_details(details);
		res[i].id = id_text(details);
		res[i].success = entry_success(e);
		if (res[i].code == NULL)
		{
			zc_results_free(res, (int) n);
			set_malformed(err, "out of memory");
			json_decref(root);
			return ZC_ANSWER_MALFORMED;
		}
	}
	json_decref(root);
	*results = res;
	*nresults = (int) n;
	return ZC_ANSWER_OK;
}

int
zc_match_results(const long long *ids, int nids,
				 const ZcRecordResult *results, int nresults, int *slot)
{
	bool		names_ids = false;
	int			i,
				j,
				missing = 0;

	for (i = 0; i < nids; i++)
		slot[i] = -1;
	for (j = 0; j < nresults; j++)
		if (results[j].id != NULL)
			names_ids = true;

	if (names_ids)
	{
		/*
		 * Only an entry naming one of our ids counts for it: an entry with
		 * no id, or an id that is not ours, must not make another record
		 * look done (audit L7).  Ids are few per call (<= 500).
		 */
		for (j = 0; j < nresults; j++)
		{
			long long	v;

			if (results[j].id == NULL || !zc_parse_id(results[j].id, &v))
				continue;
			/* the usual case: answers in the order of the ids */
			if (j < nids && ids[j] == v && slot[j] < 0)
			{
				slot[j] = j;
				continue;
			}
			for (i = 0; i < nids; i++)
			{
				if (ids[i] == v && slot[i] < 0)
				{
					slot[i] = j;
					break;
				}
			}
		}
	}
	else
	{
		/* no entry names an id: one entry per id, in order */
		for (j = 0; j < nresults && j < nids; j++)
			slot[j] = j;
	}

	for (i = 0; i < nids; i++)
		if (slot[i] < 0)
			missing++;
	return missing;
}

bool
zc_records_are_request_error(const ZcRecordResult *results, int nresults,
							 int nids)
{
	int			j;

	if (nresults == nids)
		return false;
	for (j = 0; j < nresults; j++)
		if (results[j].id != NULL || results[j].success)
			return false;
	return true;
}

ZcAnswer
zc_parse_scheduled(const char *body, long long *job_id, ZcError *err)
{
	json_t	   *root = load(body);
	json_t	   *data;
	json_t	   *e;
	char	   *jid;

	memset(err, 0, sizeof(*err));
	*job_id = 0;
	if (root == NULL)
	{
		set_malformed(err, load_failure(body));
		return ZC_ANSWER_MALFORMED;
	}
	if (is_flat_error(root))
	{
		fill_error(root, err);
		json_decref(root);
		return ZC_ANSWER_ERROR;
	}
	data = json_object_get(root, "data");
	e = json_array_get(data, 0);
	if (!json_is_object(e) || !json_is_string(json_object_get(e, "code")))
	{
		set_malformed(err, "the answer has no data entry");
		json_decref(root);
		return ZC_ANSWER_MALFORMED;
	}
	if (!entry_success(e))
	{
		fill_error(e, err);
		json_decref(root);
		return ZC_ANSWER_ERROR;
	}
	jid = member_text(json_object_get(e, "details"), "job_id", ZC_MAX_ID_BYTES, false);
	if (jid == NULL || !zc_parse_id(jid, job_id))
	{
		free(jid);
		set_malformed(err, "the answer has no valid details.job_id");
		json_decref(root);
		return ZC_ANSWER_MALFORMED;
	}
	free(jid);
	json_decref(root);
	return ZC_ANSWER_OK;
}

static const char *const job_statuses[] = {
	"SCHEDULED", "QUEUED", "RUNNING", "SUSPENDED", "COMPLETED", "FAILED", NULL
};

bool
zc_job_status_final(const char *status)
{
	return status != NULL &&
		(strcmp(status, "COMPLETED") == 0 || strcmp(status, "FAILED") == 0);
}

static long long
count_member(json_t *obj, const char *key)
{
	json_t	   *v = json_object_get(obj, key);
	long long	n;

	if (json_is_integer(v))
		return (long long) json_integer_value(v);
	if (json_is_string(v) && zc_parse_id(json_string_value(v), &n))
		return n;
	if (json_is_string(v) && strcmp(json_string_value(v), "0") == 0)
		return 0;
	return -1;
}

ZcAnswer
zc_parse_job_status(const char *body, ZcJobStatus *st, ZcError *err)
{
	json_t	   *root = load(body);
	json_t	   *e;
	const char *status;
	int			i;

	memset(err, 0, sizeof(*err));
	memset(st, 0, sizeof(*st));
	if (root == NULL)
	{
		set_malformed(err, load_failure(body));
		return ZC_ANSWER_MALFORMED;
	}
	if (is_flat_error(root))
	{
		fill_error(root, err);
		json_decref(root);
		return ZC_ANSWER_ERROR;
	}
	e = json_array_get(json_object_get(root, "data"), 0);
	if (json_is_object(e) && json_is_string(json_object_get(e, "code")) &&
		json_object_get(e, "Status") == NULL)
	{
		fill_error(e, err);
		json_decref(root);
		return ZC_ANSWER_ERROR;
	}
	status = json_string_value(json_object_get(e, "Status"));
	if (status == NULL)
	{
		set_malformed(err, "the answer has no data[0].Status");
		json_decref(root);
		return ZC_ANSWER_MALFORMED;
	}
	for (i = 0; job_statuses[i] != NULL; i++)
		if (strcmp(status, job_statuses[i]) == 0)
			break;
	if (job_statuses[i] == NULL)
	{
		set_malformed(err, "the answer has an unknown job Status");
		json_decref(root);
		return ZC_ANSWER_MALFORMED;
	}
	strcpy(st->status, job_statuses[i]);
	st->total_count = count_member(e, "Total_Count");
	st->updated_count = count_member(e, "Updated_Count");
	st->failed_count = count_member(e, "Failed_Count");
	st->not_updated_count = count_member(e, "Not_Updated_Count");
	json_decref(root);
	return ZC_ANSWER_OK;
}

void
zc_error_free(ZcError *err)
{
	if (err == NULL)
		return;
	free(err->code);
	free(err->message);
	free(err->details);
	free(err->param_name);
	memset(err, 0, sizeof(*err));
}

void
zc_results_free(ZcRecordResult *results, int nresults)
{
	int			i;

	if (results == NULL)
		return;
	for (i = 0; i < nresults; i++)
	{
		free(results[i].id);
		free(results[i].code);
		free(results[i].message);
		free(results[i].details);
	}
	free(results);
}
