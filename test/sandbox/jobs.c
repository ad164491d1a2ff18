/*
 * jobs.c
 *		Scheduled (cvid) mass-update jobs and the thread that runs them.
 *
 * A job stays SCHEDULED for the fixture's job_start_delay_ms, then runs at
 * the current job rate (faults may change it while it runs): each tick it
 * applies the records its budget allows.  Records failing the per-record
 * rules count in Failed_Count.  A view flagged job_outcome FAILED fails
 * every record and ends FAILED.  Lock order: jobs lock, then store lock.
 */
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "jobs.h"
#include "limits.h"
#include "store.h"
#include "util.h"

#define TICK_MS				10
#define MAX_RECORDS_PER_TICK 20000

typedef enum JobState
{
	JOB_SCHEDULED, JOB_RUNNING, JOB_COMPLETED, JOB_FAILED
} JobState;

typedef struct Job
{
	uint64_t	job_id;
	uint64_t	cvid;
	int			module;
	bool		fail;
	MassUpdate	mu;
	uint64_t   *ids;
	size_t		n;
	size_t		done;
	long		updated;
	long		failed;
	JobState	state;
	int64_t		start_ms;		/* when it leaves SCHEDULED */
	int64_t		last_ms;
	double		budget;			/* records it may still process */
} Job;

static pthread_mutex_t jobs_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t jobs_cond = PTHREAD_COND_INITIALIZER;
static Job **jobs = NULL;
static size_t njobs = 0;
static size_t capjobs = 0;
static uint64_t next_job_id = 0;
static bool stop_requested = false;
static bool thread_started = false;
static pthread_t runner;

static const char *const state_names[] = {"SCHEDULED", "RUNNING", "COMPLETED", "FAILED"};

static void
job_free(Job *j)
{
	mu_free(&j->mu);
	free(j->ids);
	free(j);
}

static void
free_all_locked(void)
{
	for (size_t i = 0; i < njobs; i++)
		job_free(jobs[i]);
	njobs = 0;
}

void
jobs_cancel_all(void)
{
	pthread_mutex_lock(&jobs_lock);
	free_all_locked();
	pthread_mutex_unlock(&jobs_lock);
}

SubmitResult
jobs_submit(const View *v, const MassUpdate *mu, uint64_t *ids, size_t n,
			size_t max_records, uint64_t *job_id)
{
	Job		   *j;

	pthread_mutex_lock(&jobs_lock);
	for (size_t i = 0; i < njobs; i++)
	{
		if (jobs[i]->cvid == v->id &&
			(jobs[i]->state == JOB_SCHEDULED || jobs[i]->state == JOB_RUNNING))
		{
			pthread_mutex_unlock(&jobs_lock);
			free(ids);
			return SUBMIT_ALREADY;
		}
	}
	if (n == 0 || n > max_records)
	{
		pthread_mutex_unlock(&jobs_lock);
		free(ids);
		return n == 0 ? SUBMIT_EMPTY : SUBMIT_TOO_MANY;
	}
	if (next_job_id == 0)
		next_job_id = g_org->first_job_id;
	j = xcalloc(1, sizeof(Job));
	j->job_id = next_job_id;
	next_job_id += 1000;
	j->cvid = v->id;
	j->module = v->module;
	j->fail = v->fail_jobs;
	mu_copy(&j->mu, mu);
	j->ids = ids;
	j->n = n;
	j->state = JOB_SCHEDULED;
	j->start_ms = now_ms() + g_org->job_start_delay_ms;
	if (njobs == capjobs)
	{
		capjobs = capjobs ? capjobs * 2 : 16;
		jobs = xrealloc(jobs, capjobs * sizeof(Job *));
	}
	jobs[njobs++] = j;
	*job_id = j->job_id;
	pthread_mutex_unlock(&jobs_lock);
	return SUBMIT_OK;
}

bool
jobs_status(uint64_t job_id, int module, JobStatus *out)
{
	bool		found = false;

	pthread_mutex_lock(&jobs_lock);
	for (size_t i = 0; i < njobs; i++)
	{
		Job		   *j = jobs[i];

		if (j->job_id != job_id || j->module != module)
			continue;
		out->status = state_names[j->state];
		out->failed = j->failed;
		out->updated = j->updated;
		out->total = (long) j->n;
		out->not_updated = (long) j->n - j->updated - j->failed;
		found = true;
		break;
	}
	pthread_mutex_unlock(&jobs_lock);
	return found;
}

/* Processes up to k records of a running job (jobs lock held). */
static void
job_advance(Job *j, size_t k)
{
	time_t		now = time(NULL);

	if (k > j->n - j->done)
		k = j->n - j->done;
	if (k > 0)
	{
		store_wrlock();
		mu_prepare(&j->mu);
		for (size_t i = 0; i < k; i++)
		{
			Record	   *r = store_find(j->module, j->ids[j->done + i]);

			if (!j->fail && mu_apply(&j->mu, r, now, false) == RO_SUCCESS)
				j->updated++;
			else
				j->failed++;
		}
		store_unlock();
		j->done += k;
	}
	if (j->done == j->n)
		j->state = j->fail ? JOB_FAILED : JOB_COMPLETED;
}

static void
tick(void)
{
	int64_t		now = now_ms();
	double		rate = limits_get().job_rate;

	for (size_t i = 0; i < njobs; i++)
	{
		Job		   *j = jobs[i];
		size_t		k;

		if (j->state == JOB_SCHEDULED && now >= j->start_ms)
		{
			j->state = JOB_RUNNING;
			j->last_ms = j->start_ms;
		}
		if (j->state != JOB_RUNNING)
			continue;
		j->budget += (double) (now - j->last_ms) / 1000.0 * rate;
		j->last_ms = now;
		if (j->budget > (double) (j->n - j->done))
			j->budget = (double) (j->n - j->done);
		k = (size_t) floor(j->budget);
		if (k > MAX_RECORDS_PER_TICK)
			k = MAX_RECORDS_PER_TICK;
		j->budget -= (double) k;
		job_advance(j, k);
	}
}

static void *
runner_main(void *arg)
{
	pthread_mutex_lock(&jobs_lock);
	while (!stop_requested)
	{
		struct timespec until;

		tick();
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_nsec += TICK_MS * 1000000L;
		if (until.tv_nsec >= 1000000000L)
		{
			until.tv_sec++;
			until.tv_nsec -= 1000000000L;
		}
		pthread_cond_timedwait(&jobs_cond, &jobs_lock, &until);
	}
	pthread_mutex_unlock(&jobs_lock);
	return NULL;
}

void
jobs_start(void)
{
	stop_requested = false;
	if (pthread_create(&runner, NULL, runner_main, NULL) == 0)
		thread_started = true;
}

void
jobs_stop(void)
{
	pthread_mutex_lock(&jobs_lock);
	stop_requested = true;
	pthread_cond_broadcast(&jobs_cond);
	pthread_mutex_unlock(&jobs_lock);
	if (thread_started)
		pthread_join(runner, NULL);
	thread_started = false;
	pthread_mutex_lock(&jobs_lock);
	free_all_locked();
	free(jobs);
	jobs = NULL;
	capjobs = 0;
	pthread_mutex_unlock(&jobs_lock);
}
