/*-------------------------------------------------------------------------
 *
 * capture.c
 *		Capturing a table's changes into the outbox: zcrm_capture_table,
 *		zcrm_uncapture_table and the statement trigger they install.
 *
 * zcrm_capture_table installs two AFTER ... FOR EACH STATEMENT triggers
 * (DESIGN 8.9): one for INSERT with a NEW TABLE, one for UPDATE with an OLD
 * TABLE and a NEW TABLE.  PostgreSQL allows transition tables only on a
 * trigger with a single event and no column list, hence two triggers and
 * no "UPDATE OF".  The configuration travels as the triggers' arguments
 * (module, server, id column, then column/field pairs), so it is dumped and
 * restored with the table and needs no catalog of its own.
 *
 * At the end of each statement the trigger walks the transition tables
 * once, in C.  For an UPDATE the old and new tables hold the rows in the
 * same order (AfterTriggerSaveEvent appends both images of a row
 * together), which pairs them without a key even when the id column
 * itself changes.  The changed values are converted with zcrm_value's
 * rules and written to zcrm_outbox in batches, the way COPY writes
 * (outbox.c), in the same pass.  A statement that changes no mapped column
 * queues nothing and checks nothing.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/table.h"
#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "executor/executor.h"
#include "executor/spi.h"
#include "executor/tuptable.h"
#include "fmgr.h"
#include "foreign/foreign.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "parser/parse_func.h"
#include "parser/parse_relation.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/numeric.h"
#include "utils/rel.h"
#include "utils/typcache.h"

#include "codec.h"
#include "outbox.h"
#include "sqlerr.h"
#include "wake.h"

PG_FUNCTION_INFO_V1(zcrm_capture_table);
PG_FUNCTION_INFO_V1(zcrm_uncapture_table);
PG_FUNCTION_INFO_V1(zcrm_capture_trigger);

#define CAPTURE_INSERT_TRIGGER	"zcrm_capture_insert"
#define CAPTURE_UPDATE_TRIGGER	"zcrm_capture_update"
#define CAPTURE_FIXED_ARGS		3	/* module, server, id column */

/* How a mapped column's values become jsonb. */
typedef enum ValueKind
{
	VALUE_TEXT,					/* text, varchar: a JSON string */
	VALUE_INTEGER,				/* int2, int4, int8: an exact JSON number */
	VALUE_NUMERIC,				/* numeric: exact JSON number (NaN: zcrm_value's error) */
	VALUE_BOOL,					/* a JSON boolean */
	VALUE_GENERIC				/* anything else: zcrm_value itself */
} ValueKind;

typedef struct MappedColumn
{
	AttrNumber	attnum;
	const char *column;
	const char *field;			/* Zoho field API name */
	Oid			typid;
	Oid			collation;
	ValueKind	kind;
	bool		over_write;		/* arrays replace the multi-select's values */
	bool		have_eq;
	FmgrInfo	eq;				/* the type's equality, for IS DISTINCT FROM */
	FmgrInfo	value;			/* zcrm_value, for VALUE_GENERIC */
	Datum		field_datum;	/* field as text */
} MappedColumn;

typedef struct CaptureConfig
{
	const char *module;
	const char *server;
	const char *id_column;
	AttrNumber	id_attnum;
	Oid			id_type;		/* base type of the id column */
	int			ncols;
	MappedColumn *cols;
} CaptureConfig;

/* ---------------------------------------------------------------------
 * Record ids
 * ---------------------------------------------------------------------
 */

static bool
id_type_supported(Oid basetype)
{
	switch (basetype)
	{
		case INT2OID:
		case INT4OID:
		case INT8OID:
		case NUMERICOID:
		case TEXTOID:
		case VARCHAROID:
		case BPCHAROID:
			return true;
		default:
			return false;
	}
}

static void
bad_id(const char *shown, const char *column, Relation rel)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("invalid Zoho record id \"%s\" in column \"%s\" of table \"%s\"",
					shown, column, RelationGetRelationName(rel)),
			 errdetail("Zoho record ids are positive 64-bit integers."),
			 errhint("Fix the value, or set the column to NULL for rows that have no CRM record yet."),
			 errhidestmt(true)));
}

/*
 * The record id of a non-NULL id column value.  Returns false when the value
 * is not a positive 64-bit integer, with *shown set to its text.
 */
static bool
parse_record_id(Datum d, const CaptureConfig *cfg, int64 *out, char **shown)
{
	long long	id;
	char	   *s;

	switch (cfg->id_type)
	{
		case INT2OID:
			id = DatumGetInt16(d);
			break;
		case INT4OID:
			id = DatumGetInt32(d);
			break;
		case INT8OID:
			id = DatumGetInt64(d);
			break;
		case NUMERICOID:
			{
				char	   *dot;

				s = DatumGetCString(DirectFunctionCall1(numeric_out, d));
				/* 123.000 is the integer 123; 123.5 is no id */
				dot = strchr(s, '.');
				if (dot != NULL)
				{
					char	   *p = dot + 1;

					while (*p == '0')
						p++;
					if (*p == '\0')
						*dot = '\0';
				}
				*shown = s;
				if (!zc_parse_id(s, &id))
					return false;
				*out = id;
				return true;
			}
		default:
			{
				int			len;

				s = TextDatumGetCString(d);
				len = strlen(s);
				if (cfg->id_type == BPCHAROID)
					while (len > 0 && s[len - 1] == ' ')
						s[--len] = '\0';
				*shown = s;
				if (!zc_parse_id(s, &id))
					return false;
				*out = id;
				return true;
			}
	}
	*shown = psprintf("%lld", id);
	if (id <= 0)
		return false;
	*out = id;
	return true;
}

/* The record id of a non-NULL id column value; 22023 when it is not one. */
static int64
record_id_from_datum(Datum d, const CaptureConfig *cfg, Relation rel)
{
	int64		id;
	char	   *shown;

	if (!parse_record_id(d, cfg, &id, &shown))
		bad_id(shown, cfg->id_column, rel);
	return id;
}

/*
 * Whether two non-NULL id column values name the same record: equal ids,
 * or (neither being an id) the same text.  Never raises: an UPDATE that
 * replaces a bad id, or leaves one alone without changing a mapped column,
 * must not fail on it.
 */
static bool
same_record(Datum a, Datum b, const CaptureConfig *cfg)
{
	int64		ida;
	int64		idb;
	char	   *sa;
	char	   *sb;
	bool		oka = parse_record_id(a, cfg, &ida, &sa);
	bool		okb = parse_record_id(b, cfg, &idb, &sb);

	if (oka && okb)
		return ida == idb;
	if (!oka && !okb)
		return strcmp(sa, sb) == 0;
	return false;
}

/* ---------------------------------------------------------------------
 * Values
 * ---------------------------------------------------------------------
 */

static Oid
zcrm_value_oid(void)
{
	Oid			argtypes[1] = {ANYELEMENTOID};
	List	   *name;

	name = list_make2(makeString(get_namespace_name(zcrm_extension_namespace())),
					  makeString("zcrm_value"));
	return LookupFuncName(name, 1, argtypes, false);
}

static ValueKind
value_kind(Oid typid)
{
	switch (typid)
	{
		case TEXTOID:
		case VARCHAROID:
			return VALUE_TEXT;
		case INT2OID:
		case INT4OID:
		case INT8OID:
			return VALUE_INTEGER;
		case NUMERICOID:
			return VALUE_NUMERIC;
		case BOOLOID:
			return VALUE_BOOL;
		default:
			return VALUE_GENERIC;
	}
}

/*
 * The jsonb a column value is queued as.  The common scalar types are
 * built here directly, equal to what zcrm_value gives for them (a JSON
 * string of the text; the exact number; a boolean); every other type goes
 * through zcrm_value itself, called with an expression that tells it the
 * column's type.
 */
static Datum
column_value_jsonb(MappedColumn *col, Datum d)
{
	JsonbValue	jv;

	switch (col->kind)
	{
		case VALUE_TEXT:
			{
				text	   *t = DatumGetTextPP(d);

				jv.type = jbvString;
				jv.val.string.val = VARDATA_ANY(t);
				jv.val.string.len = VARSIZE_ANY_EXHDR(t);
				return JsonbPGetDatum(JsonbValueToJsonb(&jv));
			}
		case VALUE_INTEGER:
			{
				int64		i = col->typid == INT8OID ? DatumGetInt64(d) :
				col->typid == INT4OID ? DatumGetInt32(d) : DatumGetInt16(d);

				jv.type = jbvNumeric;
				jv.val.numeric = int64_to_numeric(i);
				return JsonbPGetDatum(JsonbValueToJsonb(&jv));
			}
		case VALUE_NUMERIC:
			{
				Numeric		n = DatumGetNumeric(d);

				if (numeric_is_nan(n) || numeric_is_inf(n))
					break;		/* zcrm_value reports it */
				jv.type = jbvNumeric;
				jv.val.numeric = n;
				return JsonbPGetDatum(JsonbValueToJsonb(&jv));
			}
		case VALUE_BOOL:
			jv.type = jbvBool;
			jv.val.boolean = DatumGetBool(d);
			return JsonbPGetDatum(JsonbValueToJsonb(&jv));
		case VALUE_GENERIC:
			break;
	}
	return FunctionCall1Coll(&col->value, InvalidOid, d);
}

/* ---------------------------------------------------------------------
 * Configuration from the trigger's arguments
 * ---------------------------------------------------------------------
 */

static void
config_from_trigger(Trigger *tg, Relation rel, CaptureConfig *cfg)
{
	TupleDesc	desc = RelationGetDescr(rel);
	Oid			value_fn = InvalidOid;
	int			i;

	if (tg->tgnargs < CAPTURE_FIXED_ARGS + 2 ||
		(tg->tgnargs - CAPTURE_FIXED_ARGS) % 2 != 0)
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("trigger \"%s\" on table \"%s\" has bad arguments",
						tg->tgname, RelationGetRelationName(rel)),
				 errhint("Install capture triggers with zcrm_capture_table.")));

	cfg->module = tg->tgargs[0];
	cfg->server = tg->tgargs[1];
	cfg->id_column = tg->tgargs[2];
	/* the names go into a URL and a body: same rules as zcrm_capture_table */
	if (!zc_valid_module(cfg->module))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid module name \"%s\" in trigger \"%s\"",
						cfg->module, tg->tgname),
				 errhint("Install capture triggers with zcrm_capture_table.")));
	cfg->ncols = (tg->tgnargs - CAPTURE_FIXED_ARGS) / 2;
	cfg->cols = palloc0(sizeof(MappedColumn) * cfg->ncols);

	cfg->id_attnum = attnameAttNum(rel, cfg->id_column, false);
	if (cfg->id_attnum <= 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_COLUMN),
				 errmsg("id column \"%s\" of captured table \"%s\" does not exist",
						cfg->id_column, RelationGetRelationName(rel)),
				 errhint("Run zcrm_capture_table again with the table's current column names."),
				 errhidestmt(true)));
	cfg->id_type = getBaseType(TupleDescAttr(desc, cfg->id_attnum - 1)->atttypid);
	/* the column's type may have changed since zcrm_capture_table */
	if (!id_type_supported(cfg->id_type))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("id column \"%s\" of captured table \"%s\" has type %s",
						cfg->id_column, RelationGetRelationName(rel),
						format_type_be(TupleDescAttr(desc, cfg->id_attnum - 1)->atttypid)),
				 errdetail("The id column holds Zoho record ids: bigint, numeric or text of digits."),
				 errhint("Change the column back to one of those types, or remove the capture with zcrm_uncapture_table."),
				 errhidestmt(true)));

	for (i = 0; i < cfg->ncols; i++)
	{
		MappedColumn *col = &cfg->cols[i];
		Form_pg_attribute att;
		TypeCacheEntry *tce;

		col->column = tg->tgargs[CAPTURE_FIXED_ARGS + 2 * i];
		col->field = tg->tgargs[CAPTURE_FIXED_ARGS + 2 * i + 1];
		if (!zc_valid_module(col->field))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("invalid field name \"%s\" in trigger \"%s\"",
							col->field, tg->tgname),
					 errhint("Install capture triggers with zcrm_capture_table.")));
		col->field_datum = CStringGetTextDatum(col->field);
		col->attnum = attnameAttNum(rel, col->column, false);
		if (col->attnum <= 0)
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_COLUMN),
					 errmsg("captured column \"%s\" of table \"%s\" does not exist",
							col->column, RelationGetRelationName(rel)),
					 errhint("Run zcrm_capture_table again with the table's current column names."),
					 errhidestmt(true)));
		att = TupleDescAttr(desc, col->attnum - 1);
		col->typid = att->atttypid;
		col->collation = att->attcollation;
		col->kind = value_kind(col->typid);
		col->over_write = type_is_array(getBaseType(col->typid));

		tce = lookup_type_cache(col->typid, TYPECACHE_EQ_OPR_FINFO);
		if (OidIsValid(tce->eq_opr_finfo.fn_oid))
		{
			fmgr_info_copy(&col->eq, &tce->eq_opr_finfo, CurrentMemoryContext);
			col->have_eq = true;
		}

		if (col->kind == VALUE_GENERIC || col->kind == VALUE_NUMERIC)
		{
			FuncExpr   *expr;

			if (!OidIsValid(value_fn))
				value_fn = zcrm_value_oid();
			fmgr_info(value_fn, &col->value);
			/* zcrm_value is polymorphic: tell it the argument's type */
			expr = makeFuncExpr(value_fn, JSONBOID,
								list_make1(makeNullConst(col->typid, att->atttypmod,
														 col->collation)),
								InvalidOid, col->collation, COERCE_EXPLICIT_CALL);
			col->value.fn_expr = (Node *) expr;
		}
	}
}

/* IS DISTINCT FROM for two non-NULL values of a column */
static bool
values_differ(MappedColumn *col, Datum a, Datum b)
{
	int16		typlen;
	bool		typbyval;

	if (col->have_eq)
		return !DatumGetBool(FunctionCall2Coll(&col->eq, col->collation, a, b));
	/* no equality operator (json, point ...): compare the bytes */
	get_typlenbyval(col->typid, &typlen, &typbyval);
	return !datumIsEqual(a, b, typbyval, typlen);
}

/* ---------------------------------------------------------------------
 * The trigger
 * ---------------------------------------------------------------------
 */

/* A read pointer of our own, from the start (others may have read the store). */
static void
start_reading(Tuplestorestate *ts)
{
	int			rp = tuplestore_alloc_read_pointer(ts, EXEC_FLAG_REWIND);

	tuplestore_select_read_pointer(ts, rp);
	tuplestore_rescan(ts);
}

/*
 * zcrm_capture_trigger() RETURNS trigger
 *
 * AFTER INSERT (NEW TABLE) or AFTER UPDATE (OLD TABLE, NEW TABLE), FOR EACH
 * STATEMENT, arguments (module, server, id_column, column, field, ...).
 * Rows whose id column is NULL are skipped; an id that is not a positive
 * 64-bit integer fails the statement (22023) when the row queues
 * something.  INSERT, and an UPDATE that changes the id, queue every
 * non-NULL mapped column; other UPDATEs queue the mapped columns IS
 * DISTINCT FROM their old value, NULL as JSON null.  Only when something
 * is queued: the calling role needs USAGE on the server and a user mapping
 * (42501, 42704), and the worker must serve this database (55000).
 *
 * The old and new tables pair up row by row unless a row moved to another
 * partition was dropped by a BEFORE INSERT trigger of its new partition:
 * then the old table holds more rows and the pairs are unknown, so every
 * row of the new table queues every mapped column (NULL as JSON null),
 * which leaves the CRM as the table is.
 */
Datum
zcrm_capture_trigger(PG_FUNCTION_ARGS)
{
	TriggerData *td;
	Relation	rel;
	bool		is_update;
	CaptureConfig cfg;
	TupleDesc	desc;
	ZcrmOutboxInserter *ins = NULL;
	bool		paired;
	TupleTableSlot *newslot;
	TupleTableSlot *oldslot = NULL;
	MemoryContext rowcxt;
	MemoryContext oldcxt;
	Datum		json_null;

	if (!CALLED_AS_TRIGGER(fcinfo))
		elog(ERROR, "zcrm_capture_trigger must be called as a trigger");
	td = (TriggerData *) fcinfo->context;
	rel = td->tg_relation;
	if (!TRIGGER_FIRED_AFTER(td->tg_event) ||
		!TRIGGER_FIRED_FOR_STATEMENT(td->tg_event) ||
		!(TRIGGER_FIRED_BY_INSERT(td->tg_event) || TRIGGER_FIRED_BY_UPDATE(td->tg_event)) ||
		td->tg_newtable == NULL ||
		(TRIGGER_FIRED_BY_UPDATE(td->tg_event) && td->tg_oldtable == NULL))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("zcrm_capture_trigger must fire AFTER INSERT or UPDATE FOR EACH STATEMENT with transition tables"),
				 errhint("Install capture triggers with zcrm_capture_table.")));
	is_update = TRIGGER_FIRED_BY_UPDATE(td->tg_event);

	if (tuplestore_tuple_count(td->tg_newtable) == 0)
		return PointerGetDatum(NULL);
	paired = is_update &&
		tuplestore_tuple_count(td->tg_oldtable) == tuplestore_tuple_count(td->tg_newtable);

	config_from_trigger(td->tg_trigger, rel, &cfg);
	desc = RelationGetDescr(rel);
	json_null = DirectFunctionCall1(jsonb_in, CStringGetDatum("null"));

	newslot = MakeSingleTupleTableSlot(desc, &TTSOpsMinimalTuple);
	start_reading(td->tg_newtable);
	if (paired)
	{
		oldslot = MakeSingleTupleTableSlot(desc, &TTSOpsMinimalTuple);
		start_reading(td->tg_oldtable);
	}

	rowcxt = AllocSetContextCreate(CurrentMemoryContext, "zcrm capture row",
								   ALLOCSET_SMALL_SIZES);
	while (tuplestore_gettupleslot(td->tg_newtable, true, false, newslot))
	{
		bool		id_null;
		Datum		id_datum;
		int64		record_id = 0;
		bool		have_id = false;
		bool		only_changes = false;
		int			i;

		if (paired &&
			!tuplestore_gettupleslot(td->tg_oldtable, true, false, oldslot))
			elog(ERROR, "transition tables of table \"%s\" do not pair up",
				 RelationGetRelationName(rel));

		id_datum = slot_getattr(newslot, cfg.id_attnum, &id_null);
		if (id_null)
			continue;

		MemoryContextReset(rowcxt);
		oldcxt = MemoryContextSwitchTo(rowcxt);

		if (paired)
		{
			bool		old_id_null;
			Datum		old_id = slot_getattr(oldslot, cfg.id_attnum, &old_id_null);

			/* the same record when the id stayed, then only changes count */
			only_changes = !old_id_null && same_record(old_id, id_datum, &cfg);
		}

		for (i = 0; i < cfg.ncols; i++)
		{
			MappedColumn *col = &cfg.cols[i];
			bool		isnull;
			Datum		d = slot_getattr(newslot, col->attnum, &isnull);

			if (is_update && !paired)
			{
				/* pairs unknown: every mapped column, NULL included */
			}
			else if (!only_changes)
			{
				if (isnull)
					continue;
			}
			else
			{
				bool		old_null;
				Datum		od = slot_getattr(oldslot, col->attnum, &old_null);

				if (isnull && old_null)
					continue;
				if (!isnull && !old_null && !values_differ(col, od, d))
					continue;
			}

			/* the id is checked only for rows that queue something */
			if (!have_id)
			{
				record_id = record_id_from_datum(id_datum, &cfg, rel);
				have_id = true;
			}

			/* the first change: may this role queue at all? */
			if (ins == NULL)
			{
				ZcrmServer *srv;

				MemoryContextSwitchTo(oldcxt);
				/* a temporary table is writable in a read-only transaction */
				PreventCommandIfReadOnly("zcrm_capture_trigger()");
				/* the server's name was stored by zcrm_capture_table */
				if (GetForeignServerByName(cfg.server, true) == NULL)
					ereport(ERROR,
							(errcode(ERRCODE_UNDEFINED_OBJECT),
							 errmsg("server \"%s\" of captured table \"%s\" does not exist",
									cfg.server, RelationGetRelationName(rel)),
							 errhint("Run zcrm_capture_table again to name the current server, or remove the capture with zcrm_uncapture_table."),
							 errhidestmt(true)));
				srv = zcrm_outbox_prepare_queue(cfg.server, GetUserId());
				ins = zcrm_outbox_inserter_begin(GetUserId(), srv->servername,
												 cfg.module);
				MemoryContextSwitchTo(rowcxt);
			}
			zcrm_outbox_inserter_add(ins, record_id, col->field_datum,
									 isnull ? json_null : column_value_jsonb(col, d),
									 col->over_write);
		}
		MemoryContextSwitchTo(oldcxt);
	}
	MemoryContextDelete(rowcxt);
	ExecDropSingleTupleTableSlot(newslot);
	if (oldslot)
		ExecDropSingleTupleTableSlot(oldslot);

	if (ins != NULL)
		(void) zcrm_outbox_inserter_end(ins);
	return PointerGetDatum(NULL);
}

/* ---------------------------------------------------------------------
 * zcrm_capture_table, zcrm_uncapture_table
 * ---------------------------------------------------------------------
 */

/* Opens tbl, checks it can be captured and that the caller owns it. */
static Relation
open_capturable(Oid relid)
{
	Relation	rel = table_open(relid, ShareRowExclusiveLock);
	char		kind = rel->rd_rel->relkind;

	if (!(kind == RELKIND_RELATION ||
		  (kind == RELKIND_PARTITIONED_TABLE && !rel->rd_rel->relispartition)) ||
		(kind == RELKIND_RELATION && rel->rd_rel->relispartition))
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("\"%s\" cannot be captured", RelationGetRelationName(rel)),
				 errdetail("Only plain tables and the root of a partitioned table can be captured."),
				 kind == RELKIND_RELATION || kind == RELKIND_PARTITIONED_TABLE ?
				 errhint("Capture the root of the partitioned table instead.") : 0));
	if (!pg_class_ownercheck(relid, GetUserId()))
		aclcheck_error(ACLCHECK_NOT_OWNER, get_relkind_objtype(kind),
					   RelationGetRelationName(rel));
	return rel;
}

static char *
qualified_table_name(Relation rel)
{
	return quote_qualified_identifier(get_namespace_name(RelationGetNamespace(rel)),
									  RelationGetRelationName(rel));
}

static void
run_ddl(const char *sql)
{
	int			ret;

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	ret = SPI_execute(sql, false, 0);
	if (ret != SPI_OK_UTILITY)
		elog(ERROR, "could not run \"%s\": %s", sql, SPI_result_code_string(ret));
	SPI_finish();
}

/*
 * zcrm_capture_table(tbl regclass, module text, id_column name,
 *                    columns jsonb, server name DEFAULT NULL) RETURNS void
 *
 * Installs (or replaces) the capture triggers of tbl.  columns maps local
 * column names to Zoho field API names, e.g. {"status": "Lead_Status"}.
 * Errors: 42809 for anything but a plain table or a partitioned table's
 * root; 42501 unless the caller owns tbl; 42703 for an unknown column;
 * 22023 for a bad module, field name, id column type or columns argument;
 * 42704/22023 when server is NULL and there is not exactly one zcrm
 * server; 55000 when the worker does not serve this database.
 */
Datum
zcrm_capture_table(PG_FUNCTION_ARGS)
{
	Oid			relid;
	Relation	rel;
	char	   *module;
	char	   *id_column;
	Jsonb	   *columns;
	ZcrmServer *srv;
	AttrNumber	id_att;
	Oid			id_type;
	JsonbIterator *it;
	JsonbIteratorToken tok;
	JsonbValue	v;
	char	   *key = NULL;
	StringInfoData args;
	List	   *fields_seen = NIL;
	char	   *schema;
	char	   *tbl;
	char	   *trigger_fn;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(2) || PG_ARGISNULL(3))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must not be NULL",
						PG_ARGISNULL(0) ? "tbl" : PG_ARGISNULL(2) ? "id_column" : "columns"),
				 errhidestmt(true)));
	relid = PG_GETARG_OID(0);
	module = zcrm_check_module(PG_ARGISNULL(1) ? NULL : PG_GETARG_TEXT_PP(1));
	id_column = pstrdup(NameStr(*PG_GETARG_NAME(2)));
	columns = PG_GETARG_JSONB_P(3);

	rel = open_capturable(relid);
	zcrm_check_worker_database();
	srv = zcrm_get_server(PG_ARGISNULL(4) ? NULL : NameStr(*PG_GETARG_NAME(4)));

	id_att = attnameAttNum(rel, id_column, false);
	if (id_att <= 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_COLUMN),
				 errmsg("column \"%s\" of table \"%s\" does not exist",
						id_column, RelationGetRelationName(rel)),
				 errhidestmt(true)));
	id_type = TupleDescAttr(RelationGetDescr(rel), id_att - 1)->atttypid;
	if (!id_type_supported(getBaseType(id_type)))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("id column \"%s\" has type %s", id_column, format_type_be(id_type)),
				 errdetail("The id column holds Zoho record ids: bigint, numeric or text of digits."),
				 errhidestmt(true)));

	if (!JB_ROOT_IS_OBJECT(columns) || JB_ROOT_IS_SCALAR(columns) ||
		JB_ROOT_COUNT(columns) == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("columns must be a non-empty jsonb object"),
				 errhint("Map local columns to Zoho field API names, e.g. '{\"status\": \"Lead_Status\"}'."),
				 errhidestmt(true)));

	schema = NULL;
	if (!zcrm_extension_lookup(NULL, NULL, &schema))
		elog(ERROR, "extension massupdate is not installed");
	tbl = qualified_table_name(rel);
	trigger_fn = psprintf("%s.zcrm_capture_trigger", schema);

	initStringInfo(&args);
	appendStringInfo(&args, "%s, %s, %s",
					 quote_literal_cstr(module),
					 quote_literal_cstr(srv->servername),
					 quote_literal_cstr(id_column));

	it = JsonbIteratorInit(&columns->root);
	while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		if (tok == WJB_KEY)
			key = pnstrdup(v.val.string.val, v.val.string.len);
		else if (tok == WJB_VALUE)
		{
			char	   *field;
			ListCell   *lc;

			if (attnameAttNum(rel, key, false) <= 0)
				ereport(ERROR,
						(errcode(ERRCODE_UNDEFINED_COLUMN),
						 errmsg("column \"%s\" of table \"%s\" does not exist",
								key, RelationGetRelationName(rel)),
						 errhidestmt(true)));
			if (v.type != jbvString)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("the field of column \"%s\" must be a JSON string", key),
						 errhint("Map local columns to Zoho field API names, e.g. '{\"status\": \"Lead_Status\"}'."),
						 errhidestmt(true)));
			field = pnstrdup(v.val.string.val, v.val.string.len);
			if (!zc_valid_module(field))
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("invalid field name \"%s\"", field),
						 errdetail("A field is given by its Zoho API name: a letter, then letters, digits and underscores."),
						 errhidestmt(true)));
			foreach(lc, fields_seen)
			{
				if (strcmp((char *) lfirst(lc), field) == 0)
					ereport(ERROR,
							(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
							 errmsg("field \"%s\" is mapped from more than one column", field),
							 errhidestmt(true)));
			}
			fields_seen = lappend(fields_seen, field);
			appendStringInfo(&args, ", %s, %s",
							 quote_literal_cstr(key), quote_literal_cstr(field));
		}
	}

	/* replaces an earlier capture of the same table */
	if (OidIsValid(get_trigger_oid(relid, CAPTURE_INSERT_TRIGGER, true)))
		run_ddl(psprintf("DROP TRIGGER %s ON %s", CAPTURE_INSERT_TRIGGER, tbl));
	if (OidIsValid(get_trigger_oid(relid, CAPTURE_UPDATE_TRIGGER, true)))
		run_ddl(psprintf("DROP TRIGGER %s ON %s", CAPTURE_UPDATE_TRIGGER, tbl));
	run_ddl(psprintf("CREATE TRIGGER %s AFTER INSERT ON %s"
					 " REFERENCING NEW TABLE AS zcrm_new"
					 " FOR EACH STATEMENT EXECUTE FUNCTION %s(%s)",
					 CAPTURE_INSERT_TRIGGER, tbl, trigger_fn, args.data));
	run_ddl(psprintf("CREATE TRIGGER %s AFTER UPDATE ON %s"
					 " REFERENCING OLD TABLE AS zcrm_old NEW TABLE AS zcrm_new"
					 " FOR EACH STATEMENT EXECUTE FUNCTION %s(%s)",
					 CAPTURE_UPDATE_TRIGGER, tbl, trigger_fn, args.data));

	table_close(rel, NoLock);
	PG_RETURN_VOID();
}

/*
 * zcrm_uncapture_table(tbl regclass) RETURNS void
 *
 * Drops the capture triggers (rows already queued stay queued).  42501
 * unless the caller owns tbl; a table that is not captured gets a NOTICE.
 */
Datum
zcrm_uncapture_table(PG_FUNCTION_ARGS)
{
	Oid			relid = PG_GETARG_OID(0);
	Relation	rel = open_capturable(relid);
	char	   *tbl = qualified_table_name(rel);
	bool		had_insert = OidIsValid(get_trigger_oid(relid, CAPTURE_INSERT_TRIGGER, true));
	bool		had_update = OidIsValid(get_trigger_oid(relid, CAPTURE_UPDATE_TRIGGER, true));

	if (!had_insert && !had_update)
		ereport(NOTICE,
				(errmsg("table \"%s\" is not captured, skipping",
						RelationGetRelationName(rel))));
	if (had_insert)
		run_ddl(psprintf("DROP TRIGGER %s ON %s", CAPTURE_INSERT_TRIGGER, tbl));
	if (had_update)
		run_ddl(psprintf("DROP TRIGGER %s ON %s", CAPTURE_UPDATE_TRIGGER, tbl));
	table_close(rel, NoLock);
	PG_RETURN_VOID();
}
