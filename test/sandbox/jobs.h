/*
 * jobs.h
 *		Scheduled (cvid) mass-update jobs, run by a background thread at the
 *		job rate (records per second): SCHEDULED, RUNNING with growing
 *		counts, then COMPLETED (or FAILED for a view flagged so).
 */
#ifndef SANDBOX_JOBS_H
#define SANDBOX_JOBS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "model.h"
#include "update.h"

typedef enum SubmitResult
{
	SUBMIT_OK,
	SUBMIT_ALREADY,				/* a SCHEDULED or RUNNING job for the cvid */
	SUBMIT_EMPTY,				/* NO_RECORDS_FOUND */
	SUBMIT_TOO_MANY				/* LIMIT_EXCEEDED */
} SubmitResult;

typedef struct JobStatus
{
	const char *status;
	long		failed;
	long		updated;
	long		not_updated;
	long		total;
} JobStatus;

extern void jobs_start(void);
/* Stops the thread and frees every job. */
extern void jobs_stop(void);
extern void jobs_cancel_all(void);

/*
 * Schedules a job over ids (taken over) with the update mu (copied).
 * max_records: the per-job limit.  Sets *job_id on SUBMIT_OK.
 */
extern SubmitResult jobs_submit(const View *v, const MassUpdate *mu,
								uint64_t *ids, size_t n, size_t max_records,
								uint64_t *job_id);

/* False when no job of that id was made in this module. */
extern bool jobs_status(uint64_t job_id, int module, JobStatus *out);

#endif
