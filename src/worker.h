/*-------------------------------------------------------------------------
 *
 * worker.h
 *		The massupdate background worker.
 *
 *-------------------------------------------------------------------------
 */
#ifndef ZCRM_WORKER_H
#define ZCRM_WORKER_H

#include "postgres.h"

/* Registers the worker; called from _PG_init under shared_preload_libraries. */
extern void zcrm_worker_register(void);

/* Entry point of the worker process (bgw_function_name). */
extern PGDLLEXPORT void zcrm_worker_main(Datum arg);

#endif							/* ZCRM_WORKER_H */
