/*-------------------------------------------------------------------------
 *
 * http.c
 *		libcurl transport for the token endpoint and the CRM API.
 *
 * Requests run on a curl multi handle so that several calls are in flight
 * at once, and the wait loop never blocks for more than a short slice
 * (ZCRM_HTTP_SLICE_MS): a cancel request or statement_timeout stops every
 * transfer in well under a second.  The progress callback also aborts a
 * transfer when an interrupt is pending, as pramsey/pgsql-http does.
 *
 * curl allocates with malloc: each easy handle, its header list and its
 * receive buffer are owned by the ZcrmHttp that started it, and
 * zcrm_http_destroy frees them all; callers run it in PG_FINALLY.  No
 * palloc and no ereport happen inside a curl callback.
 *
 * Connections, DNS answers and TLS sessions are kept in a share object
 * for the life of the process, so consecutive statements reuse them.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <curl/curl.h>

#include "miscadmin.h"
#include "utils/memutils.h"

#include "http.h"

/*
 * Longest answer accepted.  A mass-update answer for 500 ids is about
 * 100 kB, 250 kB with full success details (reference 1.3), so 4 MiB
 * leaves a margin of 16; it bounds what a hostile endpoint can make a
 * backend hold per call in flight (audit M4; README "Memory and stored
 * answers").
 */
#define ZCRM_HTTP_MAX_RESPONSE (4 * 1024 * 1024)
/* Longest wait on the network before interrupts are checked again. */
#define ZCRM_HTTP_SLICE_MS 100

/* Longest header line we build. */
#define ZCRM_HTTP_HEADER_MAX 2048

#define ZCRM_USER_AGENT "massupdate/1.0 (PostgreSQL extension)"

typedef struct HttpPriv
{
	CURL	   *easy;
	struct curl_slist *headers;
	char	   *buf;			/* malloc'd answer */
	size_t		len;
	size_t		cap;
	bool		too_large;
	bool		has_credits;
	char		credits[64];
	char		errbuf[CURL_ERROR_SIZE];
} HttpPriv;

struct ZcrmHttp
{
	CURLM	   *multi;
	MemoryContext cxt;
	ZcrmHttpRequest **active;	/* started, not yet finished */
	int			nactive;
	int			maxactive;
	ZcrmHttpRequest **done;		/* finished, not yet handed out */
	int			ndone;
	int			maxdone;
};

static bool curl_initialised = false;
static CURLSH *zcrm_share = NULL;

static void
ensure_curl(void)
{
	if (curl_initialised)
		return;
	if (curl_global_init(CURL_GLOBAL_ALL) != CURLE_OK)
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("could not initialise libcurl")));
	curl_initialised = true;

	/* single-threaded process: no lock callbacks needed */
	zcrm_share = curl_share_init();
	if (zcrm_share)
	{
		curl_share_setopt(zcrm_share, CURLSHOPT_SHARE, CURL_LOCK_DATA_CONNECT);
		curl_share_setopt(zcrm_share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS);
		curl_share_setopt(zcrm_share, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION);
	}
}

bool
zcrm_http_interrupted(void)
{
	return InterruptPending && (QueryCancelPending || ProcDiePending) &&
		INTERRUPTS_CAN_BE_PROCESSED();
}

static int
xferinfo_cb(void *p, curl_off_t dltotal, curl_off_t dlnow,
			curl_off_t ultotal, curl_off_t ulnow)
{
	/* non-zero aborts the transfer with CURLE_ABORTED_BY_CALLBACK */
	return zcrm_http_interrupted() ? 1 : 0;
}

static size_t
write_cb(char *data, size_t size, size_t nmemb, void *arg)
{
	HttpPriv   *priv = (HttpPriv *) arg;
	size_t		n = size * nmemb;

	if (priv->len + n + 1 > ZCRM_HTTP_MAX_RESPONSE)
	{
		priv->too_large = true;
		return 0;				/* CURLE_WRITE_ERROR */
	}
	if (priv->len + n + 1 > priv->cap)
	{
		size_t		cap = Max(priv->cap * 2, priv->len + n + 1);
		char	   *nbuf;

		cap = Max(cap, 8192);
		nbuf = realloc(priv->buf, cap);
		if (nbuf == NULL)
			return 0;
		priv->buf = nbuf;
		priv->cap = cap;
	}
	memcpy(priv->buf + priv->len, data, n);
	priv->len += n;
	priv->buf[priv->len] = '\0';
	return n;
}

static size_t
header_cb(char *data, size_t size, size_t nitems, void *arg)
{
	HttpPriv   *priv = (HttpPriv *) arg;
	size_t		n = size * nitems;
	static const char name[] = "x-api-credits-remaining:";
	size_t		nlen = sizeof(name) - 1;

	if (n > nlen && pg_strncasecmp(data, name, nlen) == 0)
	{
		const char *v = data + nlen;
		const char *end = data + n;
		size_t		i = 0;

		while (v < end && (*v == ' ' || *v == '\t'))
			v++;
		while (v < end && *v != '\r' && *v != '\n' && i + 1 < sizeof(priv->credits))
		{
			priv->credits[i++] = (*v >= 0x20 && *v < 0x7f) ? *v : '?';
			v++;
		}
		priv->credits[i] = '\0';
		priv->has_credits = true;
	}
	return n;
}

ZcrmHttp *
zcrm_http_create(void)
{
	ZcrmHttp   *h;

	ensure_curl();
	h = palloc0(sizeof(ZcrmHttp));
	h->cxt = CurrentMemoryContext;
	h->maxactive = 8;
	h->active = palloc(sizeof(ZcrmHttpRequest *) * h->maxactive);
	h->maxdone = 8;
	h->done = palloc(sizeof(ZcrmHttpRequest *) * h->maxdone);
	h->multi = curl_multi_init();
	if (h->multi == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OUT_OF_MEMORY),
				 errmsg("could not create a libcurl multi handle")));
	return h;
}

static void
free_priv(HttpPriv *priv)
{
	if (priv == NULL)
		return;
	if (priv->easy)
		curl_easy_cleanup(priv->easy);
	if (priv->headers)
	{
		struct curl_slist *l;

		/* one of them carries the access token */
		for (l = priv->headers; l; l = l->next)
			explicit_bzero(l->data, strlen(l->data));
		curl_slist_free_all(priv->headers);
	}
	if (priv->buf)
		free(priv->buf);
	free(priv);
}

/*
 * Header values come from our own code or from a token whose characters
 * oauth.c checked; none may contain CR or LF.
 */
static void
append_header(HttpPriv *priv, const char *line)
{
	struct curl_slist *l = curl_slist_append(priv->headers, line);

	if (l == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OUT_OF_MEMORY),
				 errmsg("out of memory")));
	priv->headers = l;
}

#define SETOPT(easy, opt, val) \
	do { \
		if (curl_easy_setopt((easy), (opt), (val)) != CURLE_OK) \
			elog(ERROR, "curl_easy_setopt(%s) failed", #opt); \
	} while (0)

void
zcrm_http_start(ZcrmHttp *h, ZcrmHttpRequest *req)
{
	HttpPriv   *priv;
	CURL	   *easy;
	CURLMcode	mc;

	req->done = false;
	req->result = ZCRM_HTTP_NETWORK;
	req->sent = false;
	req->status = 0;
	req->response = NULL;
	req->response_len = 0;
	req->credits_remaining = NULL;
	req->errmsg[0] = '\0';

	if (h->nactive == h->maxactive)
	{
		h->maxactive *= 2;
		h->active = repalloc(h->active, sizeof(ZcrmHttpRequest *) * h->maxactive);
	}

	priv = calloc(1, sizeof(HttpPriv));
	if (priv == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OUT_OF_MEMORY),
				 errmsg("out of memory")));
	req->priv = priv;
	/* from here on zcrm_http_destroy frees it, even if setup fails */
	h->active[h->nactive++] = req;

	easy = priv->easy = curl_easy_init();
	if (easy == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OUT_OF_MEMORY),
				 errmsg("could not create a libcurl handle")));

	SETOPT(easy, CURLOPT_URL, req->url);
#if LIBCURL_VERSION_NUM >= 0x075500
	SETOPT(easy, CURLOPT_PROTOCOLS_STR, "http,https");
	SETOPT(easy, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
#else
	SETOPT(easy, CURLOPT_PROTOCOLS, (long) (CURLPROTO_HTTP | CURLPROTO_HTTPS));
	SETOPT(easy, CURLOPT_REDIR_PROTOCOLS, (long) (CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
	SETOPT(easy, CURLOPT_FOLLOWLOCATION, 0L);
	SETOPT(easy, CURLOPT_NOSIGNAL, 1L);
	SETOPT(easy, CURLOPT_CONNECTTIMEOUT_MS, (long) req->connect_timeout_ms);
	SETOPT(easy, CURLOPT_TIMEOUT_MS, (long) req->timeout_ms);
	SETOPT(easy, CURLOPT_USERAGENT, ZCRM_USER_AGENT);
	SETOPT(easy, CURLOPT_ERRORBUFFER, priv->errbuf);
	SETOPT(easy, CURLOPT_WRITEFUNCTION, write_cb);
	SETOPT(easy, CURLOPT_WRITEDATA, priv);
	SETOPT(easy, CURLOPT_HEADERFUNCTION, header_cb);
	SETOPT(easy, CURLOPT_HEADERDATA, priv);
	SETOPT(easy, CURLOPT_NOPROGRESS, 0L);
	SETOPT(easy, CURLOPT_XFERINFOFUNCTION, xferinfo_cb);
	SETOPT(easy, CURLOPT_XFERINFODATA, priv);
	SETOPT(easy, CURLOPT_PRIVATE, req);
	SETOPT(easy, CURLOPT_ACCEPT_ENCODING, "");
	if (zcrm_share)
		SETOPT(easy, CURLOPT_SHARE, zcrm_share);
	if (req->fresh_connect || strcmp(req->method, "GET") != 0)
	{
		/*
		 * libcurl silently re-sends a request whose reused connection turns
		 * out to be closed, even a POST.  A POST has effects (a mass update,
		 * a token counted against Zoho's limit), so it always gets a
		 * connection of its own: every try is one request, exactly.
		 */
		SETOPT(easy, CURLOPT_FRESH_CONNECT, 1L);
		SETOPT(easy, CURLOPT_FORBID_REUSE, 1L);
	}

	if (strcmp(req->method, "GET") == 0)
		SETOPT(easy, CURLOPT_HTTPGET, 1L);
	else
	{
		if (strcmp(req->method, "POST") != 0)
			SETOPT(easy, CURLOPT_CUSTOMREQUEST, req->method);
		else
			SETOPT(easy, CURLOPT_POST, 1L);
		SETOPT(easy, CURLOPT_POSTFIELDS, req->body ? req->body : "");
		SETOPT(easy, CURLOPT_POSTFIELDSIZE_LARGE,
			   (curl_off_t) (req->body ? strlen(req->body) : 0));
	}

	/*
	 * Header values come from our own code or from a token whose characters
	 * oauth.c checked; none may contain CR or LF.
	 */
	append_header(priv, "Accept: application/json");
	/* no 100-continue round trip for large bodies */
	append_header(priv, "Expect:");
	if (req->body && req->content_type)
	{
		char		line[ZCRM_HTTP_HEADER_MAX];

		snprintf(line, sizeof(line), "Content-Type: %s", req->content_type);
		append_header(priv, line);
	}
	if (req->authorization)
	{
		char		line[ZCRM_HTTP_HEADER_MAX];

		if (strlen(req->authorization) + 16 >= sizeof(line))
			elog(ERROR, "authorization header too long");
		snprintf(line, sizeof(line), "Authorization: %s", req->authorization);
		append_header(priv, line);
		explicit_bzero(line, sizeof(line));
	}
	SETOPT(easy, CURLOPT_HTTPHEADER, priv->headers);

	mc = curl_multi_add_handle(h->multi, easy);
	if (mc != CURLM_OK)
		elog(ERROR, "curl_multi_add_handle failed: %s", curl_multi_strerror(mc));
}

int
zcrm_http_pending(ZcrmHttp *h)
{
	return h->nactive + h->ndone;
}

/* Fill req's results from its finished easy handle, then free the handle. */
static void
finish_request(ZcrmHttp *h, ZcrmHttpRequest *req, CURLcode code)
{
	HttpPriv   *priv = (HttpPriv *) req->priv;
	MemoryContext old;
	curl_off_t	pretransfer = 0;
	curl_off_t	total = 0;
	long		request_size = 0;
	int			i;

	curl_easy_getinfo(priv->easy, CURLINFO_PRETRANSFER_TIME_T, &pretransfer);
	curl_easy_getinfo(priv->easy, CURLINFO_TOTAL_TIME_T, &total);
	curl_easy_getinfo(priv->easy, CURLINFO_REQUEST_SIZE, &request_size);
	req->elapsed_ms = total / 1000.0;

	switch (code)
	{
		case CURLE_OK:
			req->result = ZCRM_HTTP_OK;
			curl_easy_getinfo(priv->easy, CURLINFO_RESPONSE_CODE, &req->status);
			break;
		case CURLE_ABORTED_BY_CALLBACK:
			req->result = ZCRM_HTTP_ABORTED;
			break;
		case CURLE_OPERATION_TIMEDOUT:
			req->result = ZCRM_HTTP_TIMEOUT;
			break;
		default:
			req->result = ZCRM_HTTP_NETWORK;
			break;
	}

	/*
	 * Whether the request may have reached the server.  Only failures to
	 * resolve or connect are certain not to have sent anything; a timeout
	 * counts as unsent only if no connection was ever made.
	 */
	switch (code)
	{
		case CURLE_COULDNT_RESOLVE_HOST:
		case CURLE_COULDNT_RESOLVE_PROXY:
		case CURLE_COULDNT_CONNECT:
		case CURLE_SSL_CONNECT_ERROR:
		case CURLE_UNSUPPORTED_PROTOCOL:
		case CURLE_URL_MALFORMAT:
			req->sent = false;
			break;
		case CURLE_OPERATION_TIMEDOUT:
		case CURLE_ABORTED_BY_CALLBACK:
			req->sent = pretransfer > 0 || request_size > 0;
			break;
		default:
			req->sent = true;
			break;
	}

	if (code != CURLE_OK)
	{
		if (priv->too_large)
			snprintf(req->errmsg, sizeof(req->errmsg),
					 "the answer is larger than %d bytes", ZCRM_HTTP_MAX_RESPONSE);
		else if (priv->errbuf[0])
			strlcpy(req->errmsg, priv->errbuf, sizeof(req->errmsg));
		else
			strlcpy(req->errmsg, curl_easy_strerror(code), sizeof(req->errmsg));
	}

	old = MemoryContextSwitchTo(h->cxt);
	if (priv->buf && code == CURLE_OK)
	{
		req->response = palloc(priv->len + 1);
		memcpy(req->response, priv->buf, priv->len);
		req->response[priv->len] = '\0';
		req->response_len = priv->len;
	}
	if (priv->has_credits)
		req->credits_remaining = pstrdup(priv->credits);
	if (h->ndone == h->maxdone)
	{
		h->maxdone *= 2;
		h->done = repalloc(h->done, sizeof(ZcrmHttpRequest *) * h->maxdone);
	}
	MemoryContextSwitchTo(old);

	/* nothing below can fail */
	curl_multi_remove_handle(h->multi, priv->easy);
	free_priv(priv);
	req->priv = NULL;
	for (i = 0; i < h->nactive; i++)
	{
		if (h->active[i] == req)
		{
			h->active[i] = h->active[--h->nactive];
			break;
		}
	}
	req->done = true;
	h->done[h->ndone++] = req;
}

static void
collect_done(ZcrmHttp *h)
{
	CURLMsg    *msg;
	int			queued;

	while ((msg = curl_multi_info_read(h->multi, &queued)) != NULL)
	{
		ZcrmHttpRequest *req = NULL;

		if (msg->msg != CURLMSG_DONE)
			continue;
		curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **) &req);
		if (req)
			finish_request(h, req, msg->data.result);
	}
}

void
zcrm_http_wait(ZcrmHttp *h, int timeout_ms)
{
	int			running = 0;
	int			numfds = 0;
	CURLMcode	mc;

	if (zcrm_http_interrupted())
		return;
	mc = curl_multi_perform(h->multi, &running);
	if (mc != CURLM_OK)
		elog(ERROR, "curl_multi_perform failed: %s", curl_multi_strerror(mc));
	collect_done(h);
	if (h->ndone > 0 || h->nactive == 0 || timeout_ms <= 0)
		return;

	mc = curl_multi_poll(h->multi, NULL, 0, Min(timeout_ms, ZCRM_HTTP_SLICE_MS), &numfds);
	if (mc != CURLM_OK)
		elog(ERROR, "curl_multi_poll failed: %s", curl_multi_strerror(mc));
	if (zcrm_http_interrupted())
		return;
	mc = curl_multi_perform(h->multi, &running);
	if (mc != CURLM_OK)
		elog(ERROR, "curl_multi_perform failed: %s", curl_multi_strerror(mc));
	collect_done(h);
}

ZcrmHttpRequest *
zcrm_http_next_done(ZcrmHttp *h)
{
	ZcrmHttpRequest *req;

	if (h->ndone == 0)
		return NULL;
	req = h->done[0];
	memmove(h->done, h->done + 1, sizeof(ZcrmHttpRequest *) * (h->ndone - 1));
	h->ndone--;
	return req;
}

void
zcrm_http_destroy(ZcrmHttp *h)
{
	int			i;

	if (h == NULL || h->multi == NULL)
		return;
	for (i = 0; i < h->nactive; i++)
	{
		HttpPriv   *priv = (HttpPriv *) h->active[i]->priv;

		if (priv && priv->easy)
			curl_multi_remove_handle(h->multi, priv->easy);
		free_priv(priv);
		h->active[i]->priv = NULL;
	}
	h->nactive = 0;
	h->ndone = 0;
	curl_multi_cleanup(h->multi);
	h->multi = NULL;
}

void
zcrm_http_perform(ZcrmHttpRequest *req)
{
	ZcrmHttp   *volatile h = NULL;
	bool		interrupted = false;

	PG_TRY();
	{
		h = zcrm_http_create();
		zcrm_http_start(h, req);
		while (!req->done)
		{
			if (zcrm_http_interrupted())
			{
				interrupted = true;
				break;
			}
			zcrm_http_wait(h, ZCRM_HTTP_SLICE_MS);
		}
	}
	PG_FINALLY();
	{
		zcrm_http_destroy(h);
	}
	PG_END_TRY();

	if (interrupted || req->result == ZCRM_HTTP_ABORTED)
	{
		CHECK_FOR_INTERRUPTS();
		/* the interrupt was consumed without an error: still stop here */
		ereport(ERROR,
				(errcode(ERRCODE_QUERY_CANCELED),
				 errmsg("canceling request to Zoho due to an interrupt")));
	}
}
