/*-------------------------------------------------------------------------
 *
 * token_cache.c
 *		Zoho access tokens, cached in shared memory for every backend and
 *		the worker, at most one refresh in flight per user mapping.
 *
 * Zoho allows 10 access tokens per refresh token in 10 minutes and then
 * answers "Access Denied" (reference 4.5), so tokens must be shared:
 * twenty backends starting on a cold cache cause exactly one request.  The
 * first backend to need a token marks the slot "refreshing" and asks the
 * accounts server without holding the lock; the others sleep on the slot's
 * condition variable and then use the fresh token.
 *
 * A slot is keyed by database, user mapping and the row versions (xmin and
 * ctid, as PL/pgSQL validates its function cache) of the server and the
 * mapping.  Any ALTER of either writes a new row version, so the next call
 * looks for a new slot: the old token and any back-off are left behind at
 * once, in every backend, with no window in which a backend that has not
 * yet seen the change could clear a token another backend just fetched.
 * Stale slots are recycled least recently used first.  The syscache
 * callbacks registered here only drop backend-local copies.
 *
 * When the library is not preloaded there is no shared memory: the same
 * table lives in the backend's own memory.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "miscadmin.h"
#include "pgstat.h"
#include "storage/condition_variable.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/lwlock.h"
#include "storage/shmem.h"
#include "utils/inval.h"
#include "utils/memutils.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"

#include "client.h"
#include "http.h"
#include "oauth.h"
#include "options.h"
#include "settings.h"
#include "token_cache.h"

/* Slots in shared memory: one per (database, user mapping, row versions). */
#define ZCRM_TOKEN_SLOTS 256
/* Slots of the backend-local fallback. */
#define ZCRM_TOKEN_LOCAL_SLOTS 32
/* Refresh when less than min(this, lifetime / 10) is left (DESIGN 8.7). */
#define ZCRM_TOKEN_REFRESH_MARGIN_MS 60000
/* Waiters re-check at least this often, in case a wake-up was missed. */
#define ZCRM_TOKEN_WAIT_SLICE_MS 100
/* A refresh not done after its timeouts plus this is taken over. */
#define ZCRM_TOKEN_REFRESH_GRACE_MS 5000

#define ZCRM_TOKEN_TRANCHE "massupdate_tokens"

typedef struct TokenSlot
{
	bool		in_use;
	Oid			dbid;
	Oid			umid;
	ZcrmRowStamp server_stamp;
	ZcrmRowStamp mapping_stamp;

	bool		refreshing;
	int			refresher_pid;
	uint64		refresh_gen;	/* bumped at each refresh start */
	TimestampTz refresh_deadline;

	TimestampTz last_used;
	TimestampTz obtained_at;
	TimestampTz expires_at;
	TimestampTz refresh_at;		/* refresh from here on */
	TimestampTz backoff_until;	/* no token request before this */
	TimestampTz backoff_since;
	char		token[ZCRM_OAUTH_MAX_TOKEN];
	char		api_domain[ZCRM_OAUTH_MAX_DOMAIN];	/* from the token answer */

	ConditionVariable cv;
} TokenSlot;

typedef struct TokenCache
{
	LWLock	   *lock;			/* NULL for the backend-local table */
	int			nslots;
	TokenSlot	slots[FLEXIBLE_ARRAY_MEMBER];
} TokenCache;

static TokenCache *shared_cache = NULL;
static TokenCache *local_cache = NULL;

#if PG_VERSION_NUM >= 150000
static shmem_request_hook_type prev_shmem_request_hook = NULL;
#endif
static shmem_startup_hook_type prev_shmem_startup_hook = NULL;

static Size
cache_size(int nslots)
{
	return add_size(offsetof(TokenCache, slots),
					mul_size(sizeof(TokenSlot), nslots));
}

static void
zcrm_shmem_request(void)
{
#if PG_VERSION_NUM >= 150000
	if (prev_shmem_request_hook)
		prev_shmem_request_hook();
#endif
	RequestAddinShmemSpace(cache_size(ZCRM_TOKEN_SLOTS));
	RequestNamedLWLockTranche(ZCRM_TOKEN_TRANCHE, 1);
}

static void
zcrm_shmem_startup(void)
{
	bool		found;
	TokenCache *cache;

	if (prev_shmem_startup_hook)
		prev_shmem_startup_hook();

	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	cache = ShmemInitStruct("massupdate token cache",
							cache_size(ZCRM_TOKEN_SLOTS), &found);
	if (!found)
	{
		int			i;

		memset(cache, 0, cache_size(ZCRM_TOKEN_SLOTS));
		cache->lock = &(GetNamedLWLockTranche(ZCRM_TOKEN_TRANCHE))->lock;
		cache->nslots = ZCRM_TOKEN_SLOTS;
		for (i = 0; i < cache->nslots; i++)
			ConditionVariableInit(&cache->slots[i].cv);
	}
	LWLockRelease(AddinShmemInitLock);
	shared_cache = cache;
}

static void
forget_local_slots(Datum arg, int cacheid, uint32 hashvalue)
{
	int			i;

	/*
	 * Row-version keys already make the slots of an altered server or
	 * mapping unreachable; the backend-local table also wipes its tokens at
	 * once so they do not linger in memory.  Shared slots are left alone: a
	 * backend that processes this message late must not throw away a token
	 * another backend fetched after the change.
	 */
	if (local_cache == NULL)
		return;
	for (i = 0; i < local_cache->nslots; i++)
	{
		TokenSlot  *slot = &local_cache->slots[i];

		if (slot->in_use && !slot->refreshing && slot->dbid == MyDatabaseId)
		{
			explicit_bzero(slot->token, sizeof(slot->token));
			slot->in_use = false;
		}
	}
}

void
zcrm_token_cache_init(void)
{
	if (process_shared_preload_libraries_in_progress)
	{
#if PG_VERSION_NUM >= 150000
		prev_shmem_request_hook = shmem_request_hook;
		shmem_request_hook = zcrm_shmem_request;
#else
		zcrm_shmem_request();
#endif
		prev_shmem_startup_hook = shmem_startup_hook;
		shmem_startup_hook = zcrm_shmem_startup;
	}
	CacheRegisterSyscacheCallback(FOREIGNSERVEROID, forget_local_slots, (Datum) 0);
	CacheRegisterSyscacheCallback(USERMAPPINGOID, forget_local_slots, (Datum) 0);

	/* the tokens' source, the mappings' secrets, stays out of the log too */
}

static TokenCache *
get_cache(void)
{
	if (shared_cache)
		return shared_cache;
	if (local_cache == NULL)
	{
		local_cache = MemoryContextAllocZero(TopMemoryContext,
											 cache_size(ZCRM_TOKEN_LOCAL_SLOTS));
		local_cache->nslots = ZCRM_TOKEN_LOCAL_SLOTS;
	}
	return local_cache;
}

static void
cache_lock(TokenCache *cache)
{
	if (cache->lock)
		LWLockAcquire(cache->lock, LW_EXCLUSIVE);
}

static void
cache_unlock(TokenCache *cache)
{
	if (cache->lock)
		LWLockRelease(cache->lock);
}

static bool
stamp_equal(const ZcrmRowStamp *a, const ZcrmRowStamp *b)
{
	return a->xmin == b->xmin && ItemPointerEquals((ItemPointer) &a->tid,
												   (ItemPointer) &b->tid);
}

/* Under the lock: the slot of map, made if need be; NULL if all are busy. */
static TokenSlot *
find_slot(TokenCache *cache, ZcrmMapping *map, TimestampTz now)
{
	TokenSlot  *victim = NULL;
	TokenSlot  *slot;
	int			i;

	for (i = 0; i < cache->nslots; i++)
	{
		slot = &cache->slots[i];
		if (slot->in_use && slot->dbid == MyDatabaseId && slot->umid == map->umid &&
			stamp_equal(&slot->server_stamp, &map->server_stamp) &&
			stamp_equal(&slot->mapping_stamp, &map->mapping_stamp))
			return slot;
		if (slot->refreshing)
			continue;
		if (!slot->in_use)
		{
			if (victim == NULL || victim->in_use)
				victim = slot;
		}
		else if (victim == NULL ||
				 (victim->in_use && slot->last_used < victim->last_used))
			victim = slot;
	}
	if (victim == NULL)
		return NULL;

	slot = victim;
	explicit_bzero(slot->token, sizeof(slot->token));
	slot->in_use = true;
	slot->dbid = MyDatabaseId;
	slot->umid = map->umid;
	slot->server_stamp = map->server_stamp;
	slot->mapping_stamp = map->mapping_stamp;
	slot->refreshing = false;
	slot->refresher_pid = 0;
	slot->obtained_at = 0;
	slot->expires_at = 0;
	slot->refresh_at = 0;
	slot->backoff_until = 0;
	slot->backoff_since = 0;
	slot->api_domain[0] = '\0';
	slot->last_used = now;
	return slot;
}

static const char *
ts_str(TimestampTz ts)
{
	return timestamptz_to_str(ts);
}

static void
set_failure(ZcrmToken *tok, ZcrmTokenStatus status, int sqlstate)
{
	tok->status = status;
	tok->sqlstate = sqlstate;
}

/* Under the lock: tok gets the slot's token and the API domain to use. */
static void
take_token(ZcrmServer *srv, TokenSlot *slot, ZcrmToken *tok)
{
	tok->status = ZCRM_TOKEN_OK;
	tok->access_token = pstrdup(slot->token);
	if (srv->api_domain)
		tok->api_domain = pstrdup(srv->api_domain);
	else if (slot->api_domain[0])
		tok->api_domain = pstrdup(slot->api_domain);
	else
		tok->api_domain = pstrdup(zcrm_dc_api_domain(srv->dc));
}

static void
backoff_failure(ZcrmServer *srv, TokenSlot *slot, TimestampTz now, ZcrmToken *tok)
{
	long		secs;
	int			usecs;

	TimestampDifference(now, slot->backoff_until, &secs, &usecs);
	set_failure(tok, ZCRM_TOKEN_BACKOFF, ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION);
	snprintf(tok->message, sizeof(tok->message),
			 "token requests for server \"%s\" are suspended until %s",
			 srv->servername, ts_str(slot->backoff_until));
	snprintf(tok->detail, sizeof(tok->detail),
			 "Zoho's accounts server answered \"Access Denied\" to a token request at %s "
			 "(too many access tokens for this refresh token); no token is requested "
			 "for this user mapping for massupdate.token_backoff (%d ms), %ld s more.",
			 ts_str(slot->backoff_since), zcrm_token_backoff_ms, secs + (usecs > 0 ? 1 : 0));
	snprintf(tok->hint, sizeof(tok->hint),
			 "Wait until then, or run ALTER USER MAPPING or ALTER SERVER to end the back-off now.");
}

typedef struct RefreshArgs
{
	TokenCache *cache;
	TokenSlot  *slot;
	uint64		gen;
} RefreshArgs;

/* ERROR or FATAL during a refresh: let the waiters try themselves. */
static void
refresh_cleanup(int code, Datum arg)
{
	RefreshArgs *args = (RefreshArgs *) DatumGetPointer(arg);

	if (args->cache->lock && !LWLockHeldByMe(args->cache->lock))
		LWLockAcquire(args->cache->lock, LW_EXCLUSIVE);
	if (args->slot->refreshing && args->slot->refresh_gen == args->gen)
	{
		args->slot->refreshing = false;
		args->slot->refresher_pid = 0;
	}
	if (args->cache->lock)
	{
		LWLockRelease(args->cache->lock);
		ConditionVariableBroadcast(&args->slot->cv);
	}
}

/*
 * POST {accounts_url}/oauth/v2/token (reference 4.2) and parse the answer
 * into ans; transport failures go into tok.  Raises only on cancel.
 */
static void
request_token(ZcrmServer *srv, ZcrmMapping *map, ZcrmOAuthAnswer *ans, ZcrmToken *tok)
{
	ZcrmHttpRequest req;
	char	   *volatile body = NULL;

	memset(&req, 0, sizeof(req));
	memset(ans, 0, sizeof(*ans));
	ans->status = ZCRM_OAUTH_BAD_ANSWER;

	PG_TRY();
	{
		body = zcrm_oauth_form_body(map->client_id, map->client_secret,
									map->refresh_token);
		if (body == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_OUT_OF_MEMORY),
					 errmsg("out of memory")));
		req.method = "POST";
		req.url = psprintf("%s/oauth/v2/token", srv->accounts_url);
		req.body = body;
		req.content_type = "application/x-www-form-urlencoded";
		req.connect_timeout_ms = srv->connect_timeout_ms;
		req.timeout_ms = srv->timeout_ms;
		req.fresh_connect = false;
		zcrm_http_perform(&req);
	}
	PG_FINALLY();
	{
		zcrm_oauth_free_secret(body);
	}
	PG_END_TRY();

	if (req.result != ZCRM_HTTP_OK)
	{
		set_failure(tok, ZCRM_TOKEN_UNREACHABLE, ERRCODE_CONNECTION_FAILURE);
		snprintf(tok->message, sizeof(tok->message),
				 "could not obtain an access token for server \"%s\": %s",
				 srv->servername,
				 req.result == ZCRM_HTTP_TIMEOUT ? "the token request timed out" :
				 "the accounts server could not be reached");
		snprintf(tok->detail, sizeof(tok->detail), "%s", req.errmsg);
		snprintf(tok->hint, sizeof(tok->hint),
				 "Check the server options accounts_url (or dc), connect_timeout_ms and timeout_ms.");
		return;
	}
	if (req.status >= 500)
	{
		set_failure(tok, ZCRM_TOKEN_UNREACHABLE, ERRCODE_CONNECTION_FAILURE);
		snprintf(tok->message, sizeof(tok->message),
				 "could not obtain an access token for server \"%s\": the accounts server answered HTTP %ld",
				 srv->servername, req.status);
		snprintf(tok->hint, sizeof(tok->hint), "Try again later.");
	}
	else
	{
		zcrm_oauth_parse(req.response, req.response_len, req.status, ans);
		tok->status = ZCRM_TOKEN_OK;
	}
	if (req.response)
	{
		explicit_bzero(req.response, req.response_len);
		pfree(req.response);
	}
}

/* Fill tok's failure from a token answer that is not a token. */
static void
answer_failure(ZcrmServer *srv, ZcrmOAuthAnswer *ans, ZcrmToken *tok)
{
	switch (ans->status)
	{
		case ZCRM_OAUTH_REFUSED:
			set_failure(tok, ZCRM_TOKEN_REFUSED, ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION);
			snprintf(tok->message, sizeof(tok->message),
					 "Zoho refused the token request for server \"%s\": %s",
					 srv->servername, ans->error);
			snprintf(tok->detail, sizeof(tok->detail),
					 "The accounts server answered {\"error\": \"%s\"} to the refresh-token grant.",
					 ans->error);
			snprintf(tok->hint, sizeof(tok->hint),
					 "Check the client_id, client_secret and refresh_token options of the user mapping, "
					 "and that the client was registered in the data centre of the server's accounts_url (or dc).");
			break;
		case ZCRM_OAUTH_BAD_ANSWER:
		default:
			set_failure(tok, ZCRM_TOKEN_BAD_ANSWER, ERRCODE_PROTOCOL_VIOLATION);
			snprintf(tok->message, sizeof(tok->message),
					 "the accounts server of server \"%s\" did not answer with an access token",
					 srv->servername);
			snprintf(tok->detail, sizeof(tok->detail), "It answered %s.", ans->error);
			snprintf(tok->hint, sizeof(tok->hint),
					 "Check that the server option accounts_url (or dc) names Zoho's accounts server, not the API domain.");
			break;
	}
}

/*
 * We own slot->refreshing (generation gen): ask the accounts server, store
 * the outcome, wake the waiters.
 */
static void
refresh(ZcrmServer *srv, ZcrmMapping *map, TokenCache *cache, TokenSlot *slot,
		uint64 gen, const char *stale, ZcrmToken *tok)
{
	RefreshArgs *args = palloc(sizeof(RefreshArgs));
	ZcrmOAuthAnswer ans;
	TimestampTz started = GetCurrentTimestamp();
	TimestampTz now;
	bool		ours;

	args->cache = cache;
	args->slot = slot;
	args->gen = gen;

	PG_ENSURE_ERROR_CLEANUP(refresh_cleanup, PointerGetDatum(args));
	{
		request_token(srv, map, &ans, tok);
	}
	PG_END_ENSURE_ERROR_CLEANUP(refresh_cleanup, PointerGetDatum(args));

	tok->refreshed = true;
	now = GetCurrentTimestamp();

	/* a usable api_domain, unless the server fixes it */
	if (tok->status == ZCRM_TOKEN_OK && ans.status == ZCRM_OAUTH_OK &&
		srv->api_domain == NULL && ans.api_domain)
	{
		const char *why = zcrm_check_base_url(ans.api_domain);

		if (why)
		{
			ans.status = ZCRM_OAUTH_BAD_ANSWER;
			snprintf(ans.error, sizeof(ans.error),
					 "an api_domain that %s", why);
		}
	}

	cache_lock(cache);
	ours = slot->refreshing && slot->refresh_gen == gen;
	if (ours)
	{
		slot->refreshing = false;
		slot->refresher_pid = 0;
	}

	if (tok->status != ZCRM_TOKEN_OK)
	{
		/* transport failure: a token not yet expired is still good */
		if (ours && slot->token[0] && now < slot->expires_at &&
			(stale == NULL || strcmp(slot->token, stale) != 0))
		{
			ZcrmToken	failure = *tok;

			take_token(srv, slot, tok);
			tok->refreshed = failure.refreshed;
			ereport(LOG,
					(errmsg("%s", failure.message),
					 errdetail("Using the current token until it expires at %s.",
							   ts_str(slot->expires_at))));
		}
	}
	else if (ans.status == ZCRM_OAUTH_OK)
	{
		int64		margin_ms = Min(ZCRM_TOKEN_REFRESH_MARGIN_MS, ans.expires_in_ms / 10);

		if (ours)
		{
			strlcpy(slot->token, ans.access_token, sizeof(slot->token));
			strlcpy(slot->api_domain, ans.api_domain ? ans.api_domain : "",
					sizeof(slot->api_domain));
			/* measured from the start of the request: errs on the early side */
			slot->obtained_at = started;
			slot->expires_at = started + ans.expires_in_ms * 1000;
			slot->refresh_at = slot->expires_at - margin_ms * 1000;
			slot->backoff_until = 0;
			take_token(srv, slot, tok);
		}
		else
		{
			/* our refresh was taken over: use what we got, keep theirs */
			tok->status = ZCRM_TOKEN_OK;
			tok->access_token = pstrdup(ans.access_token);
			tok->api_domain = pstrdup(srv->api_domain ? srv->api_domain :
									  ans.api_domain ? ans.api_domain :
									  zcrm_dc_api_domain(srv->dc));
		}
	}
	else if (ans.status == ZCRM_OAUTH_ACCESS_DENIED)
	{
		explicit_bzero(slot->token, sizeof(slot->token));
		slot->backoff_since = now;
		slot->backoff_until = TimestampTzPlusMilliseconds(now, zcrm_token_backoff_ms);
		set_failure(tok, ZCRM_TOKEN_DENIED, ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION);
		snprintf(tok->message, sizeof(tok->message),
				 "Zoho refused the token request for server \"%s\": Access Denied",
				 srv->servername);
		snprintf(tok->detail, sizeof(tok->detail),
				 "Zoho allows 10 access tokens per refresh token in 10 minutes. "
				 "No token will be requested for this user mapping until %s (massupdate.token_backoff).",
				 ts_str(slot->backoff_until));
		snprintf(tok->hint, sizeof(tok->hint),
				 "Wait until then, or run ALTER USER MAPPING or ALTER SERVER to end the back-off now.");
	}
	else
	{
		if (ours && ans.status == ZCRM_OAUTH_REFUSED)
			explicit_bzero(slot->token, sizeof(slot->token));
		answer_failure(srv, &ans, tok);
	}
	cache_unlock(cache);
	if (cache->lock)
		ConditionVariableBroadcast(&slot->cv);
	zcrm_oauth_answer_free(&ans);
	pfree(args);
}

void
zcrm_token_get(ZcrmServer *srv, ZcrmMapping *map, const char *stale, ZcrmToken *tok)
{
	TokenCache *cache;
	bool		sleeping = false;

	memset(tok, 0, sizeof(*tok));

	if (map->access_token)
	{
		tok->status = ZCRM_TOKEN_OK;
		tok->fixed = true;
		tok->access_token = pstrdup(map->access_token);
		tok->api_domain = pstrdup(srv->api_domain ? srv->api_domain :
								  zcrm_dc_api_domain(srv->dc));
		return;
	}

	cache = get_cache();
	for (;;)
	{
		TimestampTz now = GetCurrentTimestamp();
		TokenSlot  *slot;
		uint64		gen;

		cache_lock(cache);
		slot = find_slot(cache, map, now);
		if (slot == NULL)
		{
			/* every slot is being refreshed: wait for one */
			cache_unlock(cache);
			pg_usleep(ZCRM_TOKEN_WAIT_SLICE_MS * 1000L);
			CHECK_FOR_INTERRUPTS();
			continue;
		}
		slot->last_used = now;

		if (slot->refreshing && now < slot->refresh_deadline)
		{
			cache_unlock(cache);
			if (cache->lock == NULL)
				elog(ERROR, "token refresh already in progress in this backend");
			/* the first call only prepares to sleep */
			ConditionVariableTimedSleep(&slot->cv, ZCRM_TOKEN_WAIT_SLICE_MS,
										PG_WAIT_EXTENSION);
			sleeping = true;
			continue;
		}
		if (!slot->refreshing && slot->backoff_until > now)
		{
			backoff_failure(srv, slot, now, tok);
			cache_unlock(cache);
			break;
		}
		if (!slot->refreshing && slot->token[0] && now < slot->refresh_at &&
			(stale == NULL || strcmp(slot->token, stale) != 0))
		{
			take_token(srv, slot, tok);
			cache_unlock(cache);
			break;
		}

		/* ours to refresh (or a refresher that vanished: take over) */
		slot->refreshing = true;
		slot->refresher_pid = MyProcPid;
		slot->refresh_gen++;
		slot->refresh_deadline =
			TimestampTzPlusMilliseconds(now, (int64) srv->connect_timeout_ms +
										srv->timeout_ms + ZCRM_TOKEN_REFRESH_GRACE_MS);
		gen = slot->refresh_gen;
		cache_unlock(cache);
		if (sleeping)
		{
			ConditionVariableCancelSleep();
			SetLatch(MyLatch);
			sleeping = false;
		}
		refresh(srv, map, cache, slot, gen, stale, tok);
		break;
	}
	if (sleeping)
	{
		ConditionVariableCancelSleep();
		/* the sleep may have eaten a wake-up meant for our caller */
		SetLatch(MyLatch);
	}
}

void
zcrm_token_raise(const ZcrmToken *tok)
{
	ereport(ERROR,
			(errcode(tok->sqlstate ? tok->sqlstate : ERRCODE_INTERNAL_ERROR),
			 errmsg("%s", tok->message),
			 tok->detail[0] ? errdetail("%s", tok->detail) : 0,
			 tok->hint[0] ? errhint("%s", tok->hint) : 0,
			 errhidestmt(true)));
	pg_unreachable();
}
