/*
 * limits.c
 *		Injected faults, the concurrency limit and the daily API credits.
 */
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "limits.h"

static pthread_mutex_t limits_lock = PTHREAD_MUTEX_INITIALIZER;
static Faults cli_faults;
static Faults faults;
static long in_flight = 0;
static long peak = 0;
static long credits_used = 0;

void
limits_init(const Faults *cli)
{
	cli_faults = *cli;
	faults = *cli;
}

void
limits_reset(void)
{
	pthread_mutex_lock(&limits_lock);
	faults = cli_faults;
	credits_used = 0;
	peak = in_flight;
	pthread_mutex_unlock(&limits_lock);
}

Faults
limits_get(void)
{
	Faults		f;

	pthread_mutex_lock(&limits_lock);
	f = faults;
	pthread_mutex_unlock(&limits_lock);
	return f;
}

static bool
get_int(json_t *obj, const char *key, long lo, long hi, long *out, char *err, size_t errlen)
{
	json_t	   *v = json_object_get(obj, key);

	if (v == NULL)
		return true;
	if (!json_is_integer(v) || json_integer_value(v) < lo || json_integer_value(v) > hi)
	{
		snprintf(err, errlen, "%s must be an integer from %ld to %ld", key, lo, hi);
		return false;
	}
	*out = (long) json_integer_value(v);
	return true;
}

static bool
get_rate(json_t *obj, const char *key, double lo, double hi, double *out, char *err, size_t errlen)
{
	json_t	   *v = json_object_get(obj, key);

	if (v == NULL)
		return true;
	if (!json_is_number(v) || json_number_value(v) < lo || json_number_value(v) > hi)
	{
		snprintf(err, errlen, "%s must be a number from %g to %g", key, lo, hi);
		return false;
	}
	*out = json_number_value(v);
	return true;
}

bool
limits_update(json_t *obj, char *err, size_t errlen)
{
	Faults		f;
	long		latency,
				status,
				ttl,
				conc,
				credits;
	bool		ok;

	if (!json_is_object(obj))
	{
		snprintf(err, errlen, "the body must be a JSON object");
		return false;
	}
	pthread_mutex_lock(&limits_lock);
	f = faults;
	latency = f.latency_ms;
	status = f.error_status;
	ttl = f.token_ttl;
	conc = f.concurrency_limit;
	credits = f.daily_credits;
	ok = get_int(obj, "latency_ms", 0, 3600000, &latency, err, errlen) &&
		get_int(obj, "error_status", 100, 599, &status, err, errlen) &&
		get_int(obj, "token_ttl", 1, 100000000, &ttl, err, errlen) &&
		get_int(obj, "concurrency_limit", 1, 100000, &conc, err, errlen) &&
		get_int(obj, "daily_credits", 0, 1000000000000L, &credits, err, errlen) &&
		get_rate(obj, "error_rate", 0, 1, &f.error_rate, err, errlen) &&
		get_rate(obj, "drop_rate", 0, 1, &f.drop_rate, err, errlen) &&
		get_rate(obj, "job_rate", 0, 1e9, &f.job_rate, err, errlen);
	if (ok)
	{
		f.latency_ms = (int) latency;
		f.error_status = (int) status;
		f.token_ttl = (int) ttl;
		f.concurrency_limit = (int) conc;
		f.daily_credits = credits;
		faults = f;
	}
	pthread_mutex_unlock(&limits_lock);
	return ok;
}

json_t *
limits_to_json(void)
{
	Faults		f = limits_get();
	long		used;

	pthread_mutex_lock(&limits_lock);
	used = credits_used;
	pthread_mutex_unlock(&limits_lock);
	return json_pack("{s:i, s:f, s:i, s:f, s:i, s:i, s:I, s:f, s:I}",
					 "latency_ms", f.latency_ms,
					 "error_rate", f.error_rate,
					 "error_status", f.error_status,
					 "drop_rate", f.drop_rate,
					 "token_ttl", f.token_ttl,
					 "concurrency_limit", f.concurrency_limit,
					 "daily_credits", (json_int_t) f.daily_credits,
					 "job_rate", f.job_rate,
					 "credits_used", (json_int_t) used);
}

bool
limits_enter(void)
{
	bool		ok;

	pthread_mutex_lock(&limits_lock);
	in_flight++;
	if (in_flight > peak)
		peak = in_flight;
	ok = in_flight <= faults.concurrency_limit;
	pthread_mutex_unlock(&limits_lock);
	return ok;
}

void
limits_leave(void)
{
	pthread_mutex_lock(&limits_lock);
	in_flight--;
	pthread_mutex_unlock(&limits_lock);
}

long
limits_peak(void)
{
	long		p;

	pthread_mutex_lock(&limits_lock);
	p = peak;
	pthread_mutex_unlock(&limits_lock);
	return p;
}

bool
fault_hits(double rate, uint64_t n)
{
	if (rate <= 0 || n == 0)
		return false;
	return floor((double) n * rate) > floor((double) (n - 1) * rate);
}

bool
credits_charge(long *remaining)
{
	bool		ok = true;

	*remaining = -1;
	pthread_mutex_lock(&limits_lock);
	if (faults.daily_credits > 0)
	{
		if (credits_used >= faults.daily_credits)
			ok = false;
		else
			credits_used++;
		if (credits_used * 2 >= faults.daily_credits)
			*remaining = credits_used < faults.daily_credits ?
				faults.daily_credits - credits_used : 0;
	}
	pthread_mutex_unlock(&limits_lock);
	return ok;
}
