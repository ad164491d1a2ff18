/*
 * reqlog.c
 *		The log of CRM requests: a ring of the last REQLOG_MAX_ENTRIES.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "reqlog.h"
#include "util.h"

typedef struct Entry
{
	uint64_t	seq;
	char	   *method;
	char	   *path;
	char	   *query;
	char	   *body;			/* NULL until answered */
	size_t		body_len;
	int			status;			/* 0 until answered */
	const char *client_id;		/* points into the fixture */
	bool		dropped;
} Entry;

static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;
static Entry *ring = NULL;
static size_t head = 0;			/* index of the oldest entry */
static size_t count = 0;
static uint64_t next_seq = 1;
static uint64_t generation = 1;
static size_t body_bytes = 0;

void
reqlog_init(void)
{
	ring = xcalloc(REQLOG_MAX_ENTRIES, sizeof(Entry));
}

static void
entry_clear(Entry *e)
{
	free(e->method);
	free(e->path);
	free(e->query);
	free(e->body);
	body_bytes -= e->body_len;
	memset(e, 0, sizeof(*e));
}

static void
drop_oldest(void)
{
	entry_clear(&ring[head]);
	head = (head + 1) % REQLOG_MAX_ENTRIES;
	count--;
}

static void
clear_all(void)
{
	while (count > 0)
		drop_oldest();
	head = 0;
	body_bytes = 0;
}

void
reqlog_free(void)
{
	pthread_mutex_lock(&log_lock);
	clear_all();
	free(ring);
	ring = NULL;
	pthread_mutex_unlock(&log_lock);
}

ReqTicket
reqlog_begin(const char *method, const char *path, const char *query)
{
	ReqTicket	t;
	Entry	   *e;

	pthread_mutex_lock(&log_lock);
	if (count == REQLOG_MAX_ENTRIES)
		drop_oldest();
	e = &ring[(head + count) % REQLOG_MAX_ENTRIES];
	count++;
	e->seq = next_seq++;
	e->method = xstrdup(method);
	e->path = xstrdup(path);
	e->query = xstrdup(query ? query : "");
	t.seq = e->seq;
	t.generation = generation;
	pthread_mutex_unlock(&log_lock);
	return t;
}

void
reqlog_finish(ReqTicket t, const char *body, size_t len, int status,
			  const char *client_id, bool dropped)
{
	pthread_mutex_lock(&log_lock);
	if (t.generation == generation && count > 0 && t.seq >= ring[head].seq &&
		t.seq < ring[head].seq + count)
	{
		Entry	   *e = &ring[(head + (t.seq - ring[head].seq)) % REQLOG_MAX_ENTRIES];

		e->body = xstrndup(body ? body : "", body ? len : 0);
		e->body_len = body ? len : 0;
		body_bytes += e->body_len;
		e->status = status;
		e->client_id = client_id;
		e->dropped = dropped;
		while (body_bytes > REQLOG_MAX_BYTES && count > 1)
			drop_oldest();
	}
	pthread_mutex_unlock(&log_lock);
}

void
reqlog_reset(void)
{
	pthread_mutex_lock(&log_lock);
	clear_all();
	next_seq = 1;
	generation++;
	pthread_mutex_unlock(&log_lock);
}

static void
entry_to_json(StrBuf *sb, const Entry *e)
{
	sb_printf(sb, "{\"seq\":%llu,\"method\":", (unsigned long long) e->seq);
	sb_json_cstring(sb, e->method);
	sb_puts(sb, ",\"path\":");
	sb_json_cstring(sb, e->path);
	sb_puts(sb, ",\"query\":");
	sb_json_cstring(sb, e->query);
	sb_puts(sb, ",\"body\":");
	if (e->body)
		sb_json_string(sb, e->body, e->body_len);
	else
		sb_puts(sb, "null");
	if (e->status)
		sb_printf(sb, ",\"status\":%d", e->status);
	else
		sb_puts(sb, ",\"status\":null");
	sb_puts(sb, ",\"client_id\":");
	sb_json_cstring(sb, e->client_id);
	sb_printf(sb, ",\"dropped\":%s}", e->dropped ? "true" : "false");
}

void
reqlog_to_json(StrBuf *sb, long limit)
{
	size_t		n,
				first;

	pthread_mutex_lock(&log_lock);
	n = limit < 0 ? 0 : ((size_t) limit < count ? (size_t) limit : count);
	first = count - n;
	sb_puts(sb, "{\"requests\":[");
	for (size_t i = 0; i < n; i++)
	{
		if (i > 0)
			sb_putc(sb, ',');
		entry_to_json(sb, &ring[(head + first + i) % REQLOG_MAX_ENTRIES]);
	}
	sb_puts(sb, "]}");
	pthread_mutex_unlock(&log_lock);
}
