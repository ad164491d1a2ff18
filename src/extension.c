/*-------------------------------------------------------------------------
 *
 * extension.c
 *		The extension's identity (schema, owner) and acting as its owner.
 *
 * zcrm_jobs and zcrm_outbox have no write grants: the SECURITY INVOKER
 * functions, the capture trigger and the worker write them as the
 * extension's owner, with search_path pinned, after checking the calling
 * role themselves (DESIGN 8.8).  Everything is looked up in pg_extension,
 * so the extension may live in any schema (DESIGN 8.11).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "catalog/indexing.h"
#include "catalog/pg_extension.h"
#include "commands/extension.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"

#include "extension.h"

/* Reads massupdate's pg_extension row; false when it is not installed. */
static bool
read_extension(Oid *extoid, Oid *owner, Oid *nsp)
{
	Oid			oid = get_extension_oid("massupdate", true);
	Relation	rel;
	ScanKeyData key;
	SysScanDesc scan;
	HeapTuple	tup;
	bool		found = false;

	if (!OidIsValid(oid))
		return false;
	rel = table_open(ExtensionRelationId, AccessShareLock);
	ScanKeyInit(&key, Anum_pg_extension_oid, BTEqualStrategyNumber, F_OIDEQ,
				ObjectIdGetDatum(oid));
	scan = systable_beginscan(rel, ExtensionOidIndexId, true, NULL, 1, &key);
	tup = systable_getnext(scan);
	if (HeapTupleIsValid(tup))
	{
		Form_pg_extension ext = (Form_pg_extension) GETSTRUCT(tup);

		*extoid = oid;
		*owner = ext->extowner;
		*nsp = ext->extnamespace;
		found = true;
	}
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
	return found;
}

bool
zcrm_extension_lookup(Oid *extoid, Oid *owner, char **schema)
{
	Oid			oid;
	Oid			own;
	Oid			nsp;
	char	   *nspname;

	if (!read_extension(&oid, &own, &nsp))
		return false;
	nspname = get_namespace_name(nsp);
	if (nspname == NULL)
		return false;
	if (extoid)
		*extoid = oid;
	if (owner)
		*owner = own;
	if (schema)
		*schema = pstrdup(quote_identifier(nspname));
	return true;
}

Oid
zcrm_extension_namespace(void)
{
	Oid			oid;
	Oid			owner;
	Oid			nsp;

	if (!read_extension(&oid, &owner, &nsp))
		elog(ERROR, "could not find extension massupdate");
	return nsp;
}

void
zcrm_owner_scope_enter(ZcrmOwnerScope *s)
{
	Oid			owner;

	if (!zcrm_extension_lookup(NULL, &owner, &s->schema))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("extension \"massupdate\" is not installed in this database")));
	s->save_nestlevel = NewGUCNestLevel();
	(void) set_config_option("search_path", "pg_catalog, pg_temp",
							 PGC_USERSET, PGC_S_SESSION, GUC_ACTION_SAVE,
							 true, 0, false);
	GetUserIdAndSecContext(&s->save_userid, &s->save_sec);
	/*
	 * As PostgreSQL's maintenance commands do when they run code as a
	 * table's owner: a restricted operation (no SET ROLE, no temporary
	 * objects) with a search_path of pg_catalog alone.
	 */
	SetUserIdAndSecContext(owner, s->save_sec | SECURITY_LOCAL_USERID_CHANGE |
						   SECURITY_RESTRICTED_OPERATION);
}

void
zcrm_owner_scope_exit(ZcrmOwnerScope *s)
{
	SetUserIdAndSecContext(s->save_userid, s->save_sec);
	AtEOXact_GUC(false, s->save_nestlevel);
}
