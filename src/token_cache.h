/*-------------------------------------------------------------------------
 *
 * token_cache.h
 *		Access tokens shared by all backends and the worker.
 *
 *-------------------------------------------------------------------------
 */
#ifndef ZCRM_TOKEN_CACHE_H
#define ZCRM_TOKEN_CACHE_H

/*
 * Called from _PG_init: installs the shared-memory hooks when preloaded
 * (otherwise a backend-local cache is used) and registers the syscache
 * callbacks that drop a mapping's token on ALTER/DROP SERVER or USER MAPPING.
 */
extern void zcrm_token_cache_init(void);

#endif							/* ZCRM_TOKEN_CACHE_H */
