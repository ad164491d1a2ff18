/*-------------------------------------------------------------------------
 *
 * settings.c
 *		Defines the massupdate.* configuration parameters.
 *
 * All of them are documented in README.md ("Settings").  The worker reads
 * them at each round, so SIGHUP-level ones take effect on reload.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <limits.h>

#include "miscadmin.h"
#include "utils/guc.h"

#include "settings.h"

char	   *zcrm_database = NULL;
int			zcrm_naptime_ms = 10 * 1000;
int			zcrm_batch_size = 10000;
int			zcrm_max_concurrency = 5;
int			zcrm_max_attempts = 10;
int			zcrm_retry_base_ms = 1000;
int			zcrm_retry_max_ms = 5 * 60 * 1000;
int			zcrm_job_poll_max_interval_ms = 60 * 1000;
int			zcrm_job_poll_timeout_ms = 24 * 60 * 60 * 1000;
int			zcrm_retention_s = 7 * 24 * 60 * 60;
int			zcrm_token_backoff_ms = 5 * 60 * 1000;

bool		zcrm_loaded_at_startup = false;

void
zcrm_define_settings(void)
{
	DefineCustomStringVariable("massupdate.database",
							   "Database the massupdate worker connects to.",
							   "Queueing and scheduling work only in this database.",
							   &zcrm_database, "postgres",
							   process_shared_preload_libraries_in_progress ?
							   PGC_POSTMASTER : PGC_SIGHUP,
							   0, NULL, NULL, NULL);
	DefineCustomIntVariable("massupdate.naptime",
							"Longest sleep of the worker between rounds when nobody wakes it.",
							NULL, &zcrm_naptime_ms, 10 * 1000, 10, INT_MAX,
							PGC_SIGHUP, GUC_UNIT_MS, NULL, NULL, NULL);
	DefineCustomIntVariable("massupdate.batch_size",
							"Outbox rows the worker takes per round.",
							NULL, &zcrm_batch_size, 10000, 1, 1000000,
							PGC_SIGHUP, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("massupdate.max_concurrency",
							"Mass-update calls the worker keeps in flight in all.",
							NULL, &zcrm_max_concurrency, 5, 1, 25,
							PGC_SIGHUP, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("massupdate.max_attempts",
							"Worker tries of an outbox row before it is marked failed.",
							NULL, &zcrm_max_attempts, 10, 1, 1000,
							PGC_SIGHUP, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("massupdate.retry_base",
							"First back-off after a transient failure; doubles at each try.",
							NULL, &zcrm_retry_base_ms, 1000, 1, INT_MAX,
							PGC_SIGHUP, GUC_UNIT_MS, NULL, NULL, NULL);
	DefineCustomIntVariable("massupdate.retry_max",
							"Longest back-off after transient failures.",
							NULL, &zcrm_retry_max_ms, 5 * 60 * 1000, 1, INT_MAX,
							PGC_SIGHUP, GUC_UNIT_MS, NULL, NULL, NULL);
	DefineCustomIntVariable("massupdate.job_poll_max_interval",
							"Longest interval between two status polls of a view job.",
							NULL, &zcrm_job_poll_max_interval_ms, 60 * 1000, 10, INT_MAX,
							PGC_SIGHUP, GUC_UNIT_MS, NULL, NULL, NULL);
	DefineCustomIntVariable("massupdate.job_poll_timeout",
							"How long the worker polls a view job before giving up on it.",
							NULL, &zcrm_job_poll_timeout_ms, 24 * 60 * 60 * 1000, 1000, INT_MAX,
							PGC_SIGHUP, GUC_UNIT_MS, NULL, NULL, NULL);
	DefineCustomIntVariable("massupdate.retention",
							"How long sent outbox rows are kept.",
							NULL, &zcrm_retention_s, 7 * 24 * 60 * 60, 0, INT_MAX,
							PGC_SIGHUP, GUC_UNIT_S, NULL, NULL, NULL);
	DefineCustomIntVariable("massupdate.token_backoff",
							"How long a user mapping waits after a refused token request.",
							NULL, &zcrm_token_backoff_ms, 5 * 60 * 1000, 0, INT_MAX,
							PGC_SUSET, GUC_UNIT_MS, NULL, NULL, NULL);
	MarkGUCPrefixReserved("massupdate");
}
