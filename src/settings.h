/*-------------------------------------------------------------------------
 *
 * settings.h
 *		The massupdate.* configuration parameters (DESIGN section 5 and 8.7).
 *
 * Durations are held in milliseconds.
 *
 *-------------------------------------------------------------------------
 */
#ifndef ZCRM_SETTINGS_H
#define ZCRM_SETTINGS_H

extern char *zcrm_database;
extern int	zcrm_naptime_ms;
extern int	zcrm_batch_size;
extern int	zcrm_max_concurrency;
extern int	zcrm_max_attempts;
extern int	zcrm_retry_base_ms;
extern int	zcrm_retry_max_ms;
extern int	zcrm_job_poll_max_interval_ms;
extern int	zcrm_job_poll_timeout_ms;
extern int	zcrm_retention_s;	/* seconds: 7 days in ms would overflow int for longer settings */
extern int	zcrm_token_backoff_ms;

/* true when loaded through shared_preload_libraries */
extern bool zcrm_loaded_at_startup;

extern void zcrm_define_settings(void);

#endif							/* ZCRM_SETTINGS_H */
