/*
 * stats.c
 *		Counters behind GET /__sandbox/stats.
 */
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "limits.h"
#include "stats.h"

#define MAX_STATUS 600

static const char *const endpoint_names[EP__COUNT] = {
	"token", "mass_update", "status", "record", "fields", "custom_views",
	"territories", "other"
};

typedef struct Counters
{
	long		requests_total;
	long		by_endpoint[EP__COUNT];
	long		by_endpoint_status[EP__COUNT][MAX_STATUS];
	long		by_status[MAX_STATUS];
	long		ids_received;
	long		max_ids_per_call;
	long		tokens_issued;
	long		dropped;
} Counters;

static pthread_mutex_t stats_lock = PTHREAD_MUTEX_INITIALIZER;
static Counters counters;

void
stats_request(Endpoint ep)
{
	pthread_mutex_lock(&stats_lock);
	counters.requests_total++;
	counters.by_endpoint[ep]++;
	pthread_mutex_unlock(&stats_lock);
}

void
stats_response(Endpoint ep, int status)
{
	if (status < 0 || status >= MAX_STATUS)
		return;
	pthread_mutex_lock(&stats_lock);
	counters.by_status[status]++;
	counters.by_endpoint_status[ep][status]++;
	pthread_mutex_unlock(&stats_lock);
}

void
stats_dropped(Endpoint ep)
{
	pthread_mutex_lock(&stats_lock);
	counters.dropped++;
	pthread_mutex_unlock(&stats_lock);
}

void
stats_ids(size_t n)
{
	pthread_mutex_lock(&stats_lock);
	counters.ids_received += (long) n;
	if ((long) n > counters.max_ids_per_call)
		counters.max_ids_per_call = (long) n;
	pthread_mutex_unlock(&stats_lock);
}

void
stats_token_issued(void)
{
	pthread_mutex_lock(&stats_lock);
	counters.tokens_issued++;
	pthread_mutex_unlock(&stats_lock);
}

void
stats_reset(void)
{
	pthread_mutex_lock(&stats_lock);
	memset(&counters, 0, sizeof(counters));
	pthread_mutex_unlock(&stats_lock);
}

static json_t *
status_object(const long *by_status)
{
	json_t	   *obj = json_object();
	char		key[16];

	for (int s = 0; s < MAX_STATUS; s++)
	{
		if (by_status[s] == 0)
			continue;
		snprintf(key, sizeof(key), "%d", s);
		json_object_set_new(obj, key, json_integer(by_status[s]));
	}
	return obj;
}

json_t *
stats_to_json(void)
{
	Counters	c;
	json_t	   *obj;
	json_t	   *eps = json_object();

	pthread_mutex_lock(&stats_lock);
	c = counters;
	pthread_mutex_unlock(&stats_lock);

	obj = json_object();
	json_object_set_new(obj, "requests_total", json_integer(c.requests_total));
	json_object_set_new(obj, "mass_update_calls", json_integer(c.by_endpoint[EP_MASS_UPDATE]));
	json_object_set_new(obj, "status_calls", json_integer(c.by_endpoint[EP_STATUS]));
	json_object_set_new(obj, "ids_received", json_integer(c.ids_received));
	json_object_set_new(obj, "max_ids_per_call", json_integer(c.max_ids_per_call));
	json_object_set_new(obj, "peak_concurrent", json_integer(limits_peak()));
	json_object_set_new(obj, "token_requests", json_integer(c.by_endpoint[EP_TOKEN]));
	json_object_set_new(obj, "tokens_issued", json_integer(c.tokens_issued));
	json_object_set_new(obj, "responses_429", json_integer(c.by_status[429]));
	json_object_set_new(obj, "responses_by_status", status_object(c.by_status));
	json_object_set_new(obj, "dropped_connections", json_integer(c.dropped));
	for (int e = 0; e < EP__COUNT; e++)
	{
		json_t	   *ep = json_object();

		json_object_set_new(ep, "requests", json_integer(c.by_endpoint[e]));
		json_object_set_new(ep, "responses_by_status", status_object(c.by_endpoint_status[e]));
		json_object_set_new(eps, endpoint_names[e], ep);
	}
	json_object_set_new(obj, "requests_by_endpoint", eps);
	return obj;
}
