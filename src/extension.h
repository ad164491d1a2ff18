/*-------------------------------------------------------------------------
 *
 * extension.h
 *		The extension's identity and acting as its owner (extension.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef ZCRM_EXTENSION_H
#define ZCRM_EXTENSION_H

#include "postgres.h"

/*
 * The extension's identity: schema and owner.  zcrm_extension_lookup
 * returns false when massupdate is not installed in this database (the
 * worker waits quietly then); *schema is palloc'd and quoted.
 */
extern bool zcrm_extension_lookup(Oid *extoid, Oid *owner, char **schema);

/* The extension's namespace OID (ERROR when not installed). */
extern Oid	zcrm_extension_namespace(void);

/*
 * Acting as the extension owner, with search_path pinned to pg_catalog,
 * for the span between enter and exit.  An ERROR in between is fine:
 * transaction abort restores the user and the GUC.
 */
typedef struct ZcrmOwnerScope
{
	Oid			save_userid;
	int			save_sec;
	int			save_nestlevel;
	char	   *schema;			/* quoted extension schema */
} ZcrmOwnerScope;

extern void zcrm_owner_scope_enter(ZcrmOwnerScope *s);
extern void zcrm_owner_scope_exit(ZcrmOwnerScope *s);

#endif							/* ZCRM_EXTENSION_H */
