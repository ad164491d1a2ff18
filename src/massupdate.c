/*-------------------------------------------------------------------------
 *
 * massupdate.c
 *		Module entry point: settings, shared memory and the worker.
 *
 * The extension must be loaded through shared_preload_libraries: the
 * token cache lives in shared memory and the worker is registered at
 * postmaster start.  Loaded any other way, the SQL functions still work
 * for immediate calls with a backend-local token cache, and anything
 * that needs the worker fails with SQLSTATE 55000 and a hint.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "fmgr.h"
#include "miscadmin.h"

#include "options.h"
#include "settings.h"
#include "token_cache.h"
#include "utility_hook.h"
#include "worker.h"

PG_MODULE_MAGIC;

void		_PG_init(void);

void
_PG_init(void)
{
	zcrm_loaded_at_startup = process_shared_preload_libraries_in_progress;

	zcrm_define_settings();
	zcrm_options_init();
	zcrm_utility_hook_init();
	zcrm_token_cache_init();
	if (zcrm_loaded_at_startup)
		zcrm_worker_register();
}
