/*-------------------------------------------------------------------------
 *
 * client.c
 *		Authenticated, retried, concurrent calls to Zoho CRM's mass-update
 *		endpoint (client.h).
 *
 * zcrm_client_run keeps up to max_in_flight calls on one curl multi
 * handle.  A call that fails on the network, times out, or is answered 429
 * or 5xx waits an exponential back-off with jitter (massupdate.retry_base,
 * capped by massupdate.retry_max) and goes again, up to max_retries
 * retries; immediate mass updates are idempotent, so this is safe.  A
 * retry_unsafe call (the view-job POST) is never sent twice: once it may
 * have reached Zoho, a failure without an answer is ZCRM_UNKNOWN_OUTCOME;
 * only a connect failure, a 429 or a 401 (both refused before any effect)
 * lets it go again.
 *
 * A 401 INVALID_TOKEN or AUTHENTICATION_FAILURE refreshes the token once
 * (calls of the same mapping share that one refresh through the token
 * cache) and retries once; a second one means the token endpoint and the
 * CRM disagree, most often a data-centre mismatch, and is raised as 28000.
 *
 * The caller must be inside a transaction (catalog lookups).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <limits.h>

#include "common/pg_prng.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "storage/latch.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "client.h"
#include "http.h"
#include "oauth.h"
#include "options.h"
#include "settings.h"
#include "token_cache.h"

/* Longest single wait before interrupts and due retries are checked again. */
#define ZCRM_CLIENT_SLICE_MS 100

typedef struct MapState
{
	ZcrmServer *server;
	Oid			roleid;
	ZcrmMapping *map;			/* NULL if the lookup failed (no-raise mode) */
	bool		failed;			/* token or mapping problem: calls end ZCRM_TOKEN_ERROR */
	char		errmsg[256];
} MapState;

typedef enum CallPhase
{
	CALL_WAITING,
	CALL_RUNNING,
	CALL_DONE
} CallPhase;

typedef struct CallState
{
	ZcrmCall   *call;
	MapState   *ms;
	CallPhase	phase;
	TimestampTz due;			/* may start from then on */
	int			max_retries;
	int			retries;		/* retries used (401 retry not counted) */
	bool		refreshed_401;	/* the one token refresh after a 401 was done */
	bool		fixed_token;
	char	   *stale_token;	/* token a 401 rejected: refresh unless already done */
	char	   *token_used;
	char	   *url;
	char	   *authorization;
	ZcrmHttpRequest req;
} CallState;

static void
wipe(char *s)
{
	if (s)
	{
		explicit_bzero(s, strlen(s));
		pfree(s);
	}
}

static MapState *
map_state_for(MapState *maps, int *nmaps, ZcrmCall *call, int flags)
{
	int			i;
	MapState   *ms;
	ZcrmLookupError err;

	for (i = 0; i < *nmaps; i++)
		if (maps[i].server->serverid == call->server->serverid &&
			maps[i].roleid == call->roleid)
			return &maps[i];

	ms = &maps[(*nmaps)++];
	ms->server = call->server;
	ms->roleid = call->roleid;
	if (flags & ZCRM_NO_RAISE)
	{
		ms->map = zcrm_lookup_mapping(call->server, call->roleid, &err);
		if (ms->map == NULL)
		{
			ms->failed = true;
			strlcpy(ms->errmsg, err.message, sizeof(ms->errmsg));
		}
	}
	else
		ms->map = zcrm_get_mapping(call->server, call->roleid);
	return ms;
}

/* Back-off before retry n (1-based): exponential, equal jitter, capped. */
static int
retry_delay_ms(int n)
{
	double		base = Max(zcrm_retry_base_ms, 1);
	double		cap = Max(zcrm_retry_max_ms, base);
	double		d = base;
	int			i;

	for (i = 1; i < n && d < cap; i++)
		d *= 2;
	d = Min(d, cap);
	return (int) (d / 2 + pg_prng_double(&pg_global_prng_state) * d / 2);
}

static void
finish(CallState *cs, ZcrmOutcome outcome)
{
	cs->call->outcome = outcome;
	cs->phase = CALL_DONE;
}

static void
token_failed(CallState *states, int ncalls, MapState *ms, const char *msg)
{
	int			i;

	ms->failed = true;
	strlcpy(ms->errmsg, msg, sizeof(ms->errmsg));
	for (i = 0; i < ncalls; i++)
	{
		if (states[i].ms == ms && states[i].phase == CALL_WAITING)
		{
			strlcpy(states[i].call->errmsg, msg, sizeof(states[i].call->errmsg));
			finish(&states[i], ZCRM_TOKEN_ERROR);
		}
	}
}

/* Start one try of cs; false if the call ended instead (token error). */
static bool
start_call(ZcrmHttp *h, CallState *states, int ncalls, CallState *cs, int flags)
{
	ZcrmCall   *call = cs->call;
	ZcrmToken	tok;
	StringInfoData url;

	if (cs->ms->failed)
	{
		strlcpy(call->errmsg, cs->ms->errmsg, sizeof(call->errmsg));
		finish(cs, ZCRM_TOKEN_ERROR);
		return false;
	}

	zcrm_token_get(cs->ms->server, cs->ms->map, cs->stale_token, &tok);
	if (tok.status != ZCRM_TOKEN_OK)
	{
		if (!(flags & ZCRM_NO_RAISE))
			zcrm_token_raise(&tok);
		token_failed(states, ncalls, cs->ms, tok.message);
		return false;
	}
	cs->fixed_token = tok.fixed;

	initStringInfo(&url);
	appendStringInfo(&url, "%s/crm/%s/%s/actions/mass_update",
					 tok.api_domain, call->server->api_version, call->module);
	if (call->query && call->query[0])
		appendStringInfo(&url, "?%s", call->query);
	if (cs->url)
		pfree(cs->url);
	cs->url = url.data;

	wipe(cs->authorization);
	wipe(cs->token_used);
	cs->authorization = psprintf("Zoho-oauthtoken %s", tok.access_token);
	cs->token_used = tok.access_token;

	memset(&cs->req, 0, sizeof(cs->req));
	cs->req.method = call->method;
	cs->req.url = cs->url;
	cs->req.body = call->body;
	cs->req.content_type = call->body ? "application/json" : NULL;
	cs->req.authorization = cs->authorization;
	cs->req.connect_timeout_ms = call->server->connect_timeout_ms;
	cs->req.timeout_ms = call->server->timeout_ms;
	cs->req.fresh_connect = call->retry_unsafe;
	cs->req.arg = cs;

	call->attempts++;
	cs->phase = CALL_RUNNING;
	zcrm_http_start(h, &cs->req);
	return true;
}

static void
schedule_retry(CallState *cs)
{
	cs->retries++;
	cs->phase = CALL_WAITING;
	cs->due = TimestampTzPlusMilliseconds(GetCurrentTimestamp(),
										  retry_delay_ms(cs->retries));
}

static void
keep_answer(CallState *cs)
{
	ZcrmCall   *call = cs->call;

	if (call->response)
		pfree(call->response);
	call->response = cs->req.response;
	call->http_status = cs->req.status;
	if (cs->req.credits_remaining)
		call->credits_remaining = cs->req.credits_remaining;
}

/* A second 401 after a fresh token (or any 401 on a fixed token). */
static void
raise_rejected(CallState *cs, const char *code, const char *message)
{
	ZcrmServer *srv = cs->call->server;

	if (cs->fixed_token)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION),
				 errmsg("Zoho rejected the access_token of the user mapping for server \"%s\": %s",
						srv->servername, code[0] ? code : "HTTP 401"),
				 message[0] ? errdetail("%s", message) : 0,
				 errhint("The access_token option holds a fixed token that has expired or belongs to another data centre; "
						 "replace it, or give client_id, client_secret and refresh_token instead."),
				 errhidestmt(true)));
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION),
			 errmsg("Zoho rejected a freshly obtained access token for server \"%s\": %s",
					srv->servername, code[0] ? code : "HTTP 401"),
			 errdetail("%s%sThe token was refreshed once after the first rejection and rejected again.",
					   message, message[0] ? ". " : ""),
			 errhint("This usually means a data-centre mismatch: the token comes from the accounts server of accounts_url (or dc \"%s\") "
					 "but the CRM calls go to %s. Make dc, accounts_url and api_domain of server \"%s\" name the same data centre.",
					 srv->dc, srv->api_domain ? "the server's api_domain" : "the api_domain of the token answer",
					 srv->servername),
			 errhidestmt(true)));
}

static void
handle_done(CallState *states, int ncalls, CallState *cs, int flags)
{
	ZcrmCall   *call = cs->call;
	ZcrmHttpRequest *req = &cs->req;

	if (req->result == ZCRM_HTTP_OK)
	{
		long		status = req->status;

		if (status == 401)
		{
			char		code[64];
			char		message[160];

			if (zcrm_oauth_token_rejected(req->response, req->response_len,
										  code, sizeof(code), message, sizeof(message)))
			{
				if (!cs->fixed_token && !cs->refreshed_401)
				{
					/* refresh once (shared with the other calls) and retry */
					cs->refreshed_401 = true;
					cs->stale_token = pstrdup(cs->token_used);
					cs->phase = CALL_WAITING;
					cs->due = 0;
					if (req->response)
						pfree(req->response);
					return;
				}
				if (!(flags & ZCRM_NO_RAISE))
					raise_rejected(cs, code, message);
				snprintf(call->errmsg, sizeof(call->errmsg),
						 "%s after a token refresh: check that dc, accounts_url and api_domain name the same data centre",
						 code[0] ? code : "HTTP 401");
			}
		}
		else if ((status == 429 || (status >= 500 && !call->retry_unsafe)) &&
				 cs->retries < cs->max_retries)
		{
			if (req->credits_remaining)
				call->credits_remaining = req->credits_remaining;
			if (req->response)
				pfree(req->response);
			schedule_retry(cs);
			return;
		}
		keep_answer(cs);
		finish(cs, ZCRM_ANSWERED);
		return;
	}

	/* no answer */
	strlcpy(call->errmsg, req->errmsg, sizeof(call->errmsg));
	if (call->retry_unsafe && req->sent)
	{
		snprintf(call->errmsg, sizeof(call->errmsg),
				 "%s after the request was sent; Zoho may or may not have applied it",
				 req->result == ZCRM_HTTP_TIMEOUT ? "timeout" : req->errmsg);
		finish(cs, ZCRM_UNKNOWN_OUTCOME);
		return;
	}
	if (cs->retries < cs->max_retries)
	{
		schedule_retry(cs);
		return;
	}
	finish(cs, req->result == ZCRM_HTTP_TIMEOUT ? ZCRM_TIMEOUT : ZCRM_NETWORK_ERROR);
}

struct ZcrmClientBatch
{
	ZcrmCall   *calls;
	int			ncalls;
	CallState  *states;
	MapState   *maps;
	int			limit;			/* current cap, 0..limit_max */
	int			horizon;		/* calls from this index on are not started */
	int			blocked;		/* waiting calls at or past the horizon */
	int			limit_max;		/* max_in_flight and the servers' max_concurrency */
	int			flags;
	MemoryContext cxt;			/* the batch's, results included */
	ZcrmHttp   *h;
	bool		released;		/* transfers freed, secrets wiped */
	bool		done;
	bool		latch_consumed;
	struct BatchGuard *guard;
};

/*
 * Outlives the batch in its context: the reset callback must not touch a
 * batch that zcrm_client_finish already freed.
 */
typedef struct BatchGuard
{
	MemoryContextCallback cb;
	ZcrmClientBatch *batch;
} BatchGuard;

/* Abort and free the transfers, wipe the secrets; idempotent, never raises. */
static void
batch_release(ZcrmClientBatch *b)
{
	int			i;

	if (b->released)
		return;
	b->released = true;
	zcrm_http_destroy(b->h);

	/*
	 * A wake-up meant for our caller (the worker's latch) must survive our
	 * own waiting.
	 */
	if (b->latch_consumed)
		SetLatch(MyLatch);
	for (i = 0; i < b->ncalls; i++)
	{
		CallState  *cs = &b->states[i];

		if (cs->authorization)
			explicit_bzero(cs->authorization, strlen(cs->authorization));
		if (cs->token_used)
			explicit_bzero(cs->token_used, strlen(cs->token_used));
		if (cs->stale_token)
			explicit_bzero(cs->stale_token, strlen(cs->stale_token));
	}
}

static void
batch_reset_cb(void *arg)
{
	BatchGuard *g = (BatchGuard *) arg;

	if (g->batch)
		batch_release(g->batch);
	g->batch = NULL;
}

/*
 * Starts every due waiting call while there is room; returns the numbers
 * running and waiting, and the earliest due time of a waiting call (those
 * past the horizon count as waiting, in b->blocked too, with no due time).
 */
static void
start_due(ZcrmClientBatch *b, int *running_out, int *waiting_out, TimestampTz *next_due_out)
{
	TimestampTz now = GetCurrentTimestamp();
	TimestampTz next_due = 0;
	int			running = 0;
	int			waiting = 0;
	int			blocked = 0;
	int			i;

	for (i = 0; i < b->ncalls; i++)
		if (b->states[i].phase == CALL_RUNNING)
			running++;
	for (i = 0; i < b->ncalls; i++)
	{
		CallState  *cs = &b->states[i];

		if (cs->phase != CALL_WAITING)
			continue;
		if (i >= b->horizon)
		{
			/* not done, but nothing to wait for until the caller moves on */
			waiting++;
			blocked++;
			continue;
		}
		if (cs->due <= now && running < b->limit)
		{
			if (start_call(b->h, b->states, b->ncalls, cs, b->flags))
				running++;
			continue;
		}
		waiting++;
		if (next_due == 0 || cs->due < next_due)
			next_due = cs->due;
	}
	*running_out = running;
	*waiting_out = waiting;
	*next_due_out = next_due;
	b->blocked = blocked;
}

/* Releases the batch and raises 57014 (or whatever the interrupt raises). */
static void
batch_interrupted(ZcrmClientBatch *b)
{
	batch_release(b);
	CHECK_FOR_INTERRUPTS();
	ereport(ERROR,
			(errcode(ERRCODE_QUERY_CANCELED),
			 errmsg("canceling calls to Zoho due to an interrupt"),
			 errhidestmt(true)));
}

ZcrmClientBatch *
zcrm_client_start(ZcrmCall *calls, int ncalls, int max_in_flight, int flags)
{
	ZcrmClientBatch *b;
	int			limit = max_in_flight > 0 ? max_in_flight : INT_MAX;
	int			i;

	b = palloc0(sizeof(ZcrmClientBatch));
	b->calls = calls;
	b->ncalls = Max(ncalls, 0);
	b->flags = flags;
	b->cxt = CurrentMemoryContext;
	b->states = palloc0(sizeof(CallState) * (b->ncalls > 0 ? b->ncalls : 1));
	b->maps = palloc0(sizeof(MapState) * (b->ncalls > 0 ? b->ncalls : 1));
	if (b->ncalls == 0)
	{
		b->released = true;
		b->done = true;
		return b;
	}
	{
		int			nmaps = 0;

		for (i = 0; i < ncalls; i++)
		{
			ZcrmCall   *call = &calls[i];
			CallState  *cs = &b->states[i];

			call->outcome = ZCRM_NETWORK_ERROR;
			call->http_status = 0;
			call->response = NULL;
			call->attempts = 0;
			call->errmsg[0] = '\0';
			call->credits_remaining = NULL;

			cs->call = call;
			cs->phase = CALL_WAITING;
			cs->max_retries = call->max_retries >= 0 ? call->max_retries :
				call->server->max_retries;
			cs->ms = map_state_for(b->maps, &nmaps, call, flags);
			limit = Min(limit, call->server->max_concurrency);
		}
	}
	b->limit = b->limit_max = Max(limit, 1);
	b->horizon = b->ncalls;

	/* from here on the transfers are freed with the context at the latest */
	b->guard = palloc0(sizeof(BatchGuard));
	b->guard->batch = b;
	b->guard->cb.func = batch_reset_cb;
	b->guard->cb.arg = b->guard;
	MemoryContextRegisterResetCallback(b->cxt, &b->guard->cb);
	b->h = zcrm_http_create();

	PG_TRY();
	{
		int			running;
		int			waiting;
		TimestampTz next_due;

		if (zcrm_http_interrupted())
			batch_interrupted(b);
		CHECK_FOR_INTERRUPTS();
		if (!(flags & ZCRM_START_IDLE))
		{
			start_due(b, &running, &waiting, &next_due);
			if (running == 0 && waiting == 0)
				b->done = true;
		}
	}
	PG_CATCH();
	{
		batch_release(b);
		PG_RE_THROW();
	}
	PG_END_TRY();
	return b;
}

/*
 * One turn: take the answers that arrived, refill the free slots, and wait
 * at most timeout_ms for more.  On an ERROR the caller releases the batch
 * (zcrm_client_run in PG_FINALLY; otherwise the context reset does).
 */
bool
zcrm_client_poll(ZcrmClientBatch *b, int timeout_ms)
{
	MemoryContext old;
	TimestampTz deadline;

	if (b->done)
		return true;
	if (b->released)
		elog(ERROR, "zcrm_client_poll on a released batch");
	old = MemoryContextSwitchTo(b->cxt);
	deadline = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), Max(timeout_ms, 0));
	for (;;)
	{
		TimestampTz now;
		TimestampTz next_due;
		int			running;
		int			waiting;
		int			wait_ms;
		ZcrmHttpRequest *req;
		long		secs;
		int			usecs;

		if (zcrm_http_interrupted())
			batch_interrupted(b);
		CHECK_FOR_INTERRUPTS();

		start_due(b, &running, &waiting, &next_due);
		if (running == 0 && waiting == 0)
		{
			b->done = true;
			break;
		}
		/* only calls past the horizon left: the caller must raise it */
		if (running == 0 && waiting == b->blocked)
			break;

		now = GetCurrentTimestamp();
		TimestampDifference(now, deadline, &secs, &usecs);
		wait_ms = Min(ZCRM_CLIENT_SLICE_MS, (int) (secs * 1000 + usecs / 1000));
		if (running > 0)
		{
			if (waiting > b->blocked && running < b->limit)
			{
				TimestampDifference(now, next_due, &secs, &usecs);
				wait_ms = Min(wait_ms, (int) (secs * 1000 + usecs / 1000));
			}
			/* 0: take what has arrived without waiting */
			zcrm_http_wait(b->h, timeout_ms > 0 ? Max(wait_ms, 1) : 0);
		}
		else
		{
			/* only back-offs pending: sleep on the latch, cancel wakes it */
			TimestampDifference(now, next_due, &secs, &usecs);
			wait_ms = Min(wait_ms, (int) (secs * 1000 + usecs / 1000));
			if (wait_ms > 0 &&
				(WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						   wait_ms, PG_WAIT_EXTENSION) & WL_LATCH_SET))
			{
				ResetLatch(MyLatch);
				b->latch_consumed = true;
			}
		}

		while ((req = zcrm_http_next_done(b->h)) != NULL)
		{
			if (req->result == ZCRM_HTTP_ABORTED)
				batch_interrupted(b);
			handle_done(b->states, b->ncalls, (CallState *) req->arg, b->flags);
		}

		if (GetCurrentTimestamp() >= deadline)
		{
			/*
			 * Refill the slots the answers just freed and get the new
			 * transfers under way (connect, then send) before returning: a
			 * caller that polls between other work would otherwise leave
			 * each new call a whole poll interval per step.  Answers that
			 * arrive meanwhile are taken at the next poll.
			 */
			start_due(b, &running, &waiting, &next_due);
			if (running == 0 && waiting == 0)
				b->done = true;
			else if (running > 0)
			{
				zcrm_http_wait(b->h, 0);
				zcrm_http_wait(b->h, 0);
			}
			break;
		}
	}
	MemoryContextSwitchTo(old);
	return b->done;
}

int
zcrm_client_in_flight(ZcrmClientBatch *b)
{
	int			n = 0;
	int			i;

	if (b->released)
		return 0;
	for (i = 0; i < b->ncalls; i++)
		if (b->states[i].phase == CALL_RUNNING)
			n++;
	return n;
}

int
zcrm_client_unfinished(ZcrmClientBatch *b)
{
	int			n = 0;
	int			i;

	if (b->done || b->released)
		return 0;
	for (i = 0; i < b->ncalls; i++)
		if (b->states[i].phase != CALL_DONE)
			n++;
	return n;
}

int
zcrm_client_limit_max(ZcrmClientBatch *b)
{
	return b->limit_max;
}

void
zcrm_client_set_limit(ZcrmClientBatch *b, int max_in_flight)
{
	b->limit = Max(0, Min(max_in_flight, b->limit_max));
}

void
zcrm_client_set_horizon(ZcrmClientBatch *b, int horizon)
{
	b->horizon = Max(0, Min(horizon, b->ncalls));
}

bool
zcrm_client_call_done(ZcrmClientBatch *b, int i)
{
	Assert(i >= 0 && i < b->ncalls);
	return b->states[i].phase == CALL_DONE;
}

void
zcrm_client_abort(ZcrmClientBatch *b)
{
	if (b != NULL)
		batch_release(b);
}

void
zcrm_client_finish(ZcrmClientBatch *b)
{
	int			i;

	if (b == NULL)
		return;
	batch_release(b);
	if (b->guard)
		b->guard->batch = NULL;
	for (i = 0; i < b->ncalls; i++)
	{
		wipe(b->states[i].authorization);
		wipe(b->states[i].token_used);
		wipe(b->states[i].stale_token);
		if (b->states[i].url)
			pfree(b->states[i].url);
	}
	pfree(b->states);
	pfree(b->maps);
	pfree(b);
}

void
zcrm_client_run(ZcrmCall *calls, int ncalls, int max_in_flight, int flags)
{
	ZcrmClientBatch *volatile b = NULL;

	if (ncalls <= 0)
		return;

	PG_TRY();
	{
		b = zcrm_client_start(calls, ncalls, max_in_flight, flags);
		while (!zcrm_client_poll(b, ZCRM_CLIENT_SLICE_MS))
			;
	}
	PG_FINALLY();
	{
		zcrm_client_abort(b);
	}
	PG_END_TRY();
	zcrm_client_finish(b);
}
