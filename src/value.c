/*-------------------------------------------------------------------------
 *
 * value.c
 *		zcrm_value(anyelement) RETURNS jsonb: a SQL value in Zoho's wire
 *		format (DESIGN 4 and 8.4; reference section 6, "Value formats").
 *
 * date -> "YYYY-MM-DD"; timestamptz -> "YYYY-MM-DDTHH:MM:SS+00:00" in UTC,
 * fractions truncated; timestamp without time zone is taken as UTC;
 * numeric and integers -> JSON numbers with their exact digits (NaN and
 * infinities are 22023); boolean -> true/false; json/jsonb as they are;
 * arrays element by element; NULL -> JSON null; anything else -> the JSON
 * string of its text output.  Composite values are 22023: Zoho has no
 * field for them.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "catalog/pg_type.h"
#include "fmgr.h"
#include "lib/stringinfo.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/date.h"
#include "utils/datetime.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/numeric.h"
#include "utils/timestamp.h"

PG_FUNCTION_INFO_V1(zcrm_value);

static void value_json(StringInfo buf, Datum v, Oid typid);

static void
not_representable(Oid typid, const char *why)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("%s value has no Zoho CRM representation", format_type_be(typid)),
			 errdetail("%s", why),
			 errhidestmt(true)));
}

static void
check_year(Oid typid, int year)
{
	if (year < 1 || year > 9999)
		not_representable(typid, "Zoho dates have years 1 to 9999.");
}

static void
date_json(StringInfo buf, DateADT d)
{
	int			y,
				m,
				day;

	if (DATE_NOT_FINITE(d))
		not_representable(DATEOID, "Infinite dates cannot be sent.");
	j2date(d + POSTGRES_EPOCH_JDATE, &y, &m, &day);
	check_year(DATEOID, y);
	appendStringInfo(buf, "\"%04d-%02d-%02d\"", y, m, day);
}

/* timestamptz is stored in UTC; timestamp is taken as UTC: same path */
static void
timestamp_json(StringInfo buf, Timestamp ts, Oid typid)
{
	struct pg_tm tm;
	fsec_t		fsec;

	if (TIMESTAMP_NOT_FINITE(ts))
		not_representable(typid, "Infinite timestamps cannot be sent.");
	if (timestamp2tm(ts, NULL, &tm, &fsec, NULL, NULL) != 0)
		not_representable(typid, "The timestamp is out of range.");
	check_year(typid, tm.tm_year);
	appendStringInfo(buf, "\"%04d-%02d-%02dT%02d:%02d:%02d+00:00\"",
					 tm.tm_year, tm.tm_mon, tm.tm_mday,
					 tm.tm_hour, tm.tm_min, tm.tm_sec);
}

/* Elements of dimension dim, starting at *idx, as nested JSON arrays. */
static void
array_dim_json(StringInfo buf, int dim, int ndim, const int *dims,
			   Datum *elems, bool *nulls, int *idx, Oid elemtype)
{
	int			i;

	appendStringInfoChar(buf, '[');
	for (i = 0; i < dims[dim]; i++)
	{
		if (i > 0)
			appendStringInfoChar(buf, ',');
		if (dim + 1 < ndim)
			array_dim_json(buf, dim + 1, ndim, dims, elems, nulls, idx, elemtype);
		else
		{
			if (nulls[*idx])
				appendStringInfoString(buf, "null");
			else
				value_json(buf, elems[*idx], elemtype);
			(*idx)++;
		}
	}
	appendStringInfoChar(buf, ']');
}

static void
array_json(StringInfo buf, ArrayType *arr)
{
	Oid			elemtype = ARR_ELEMTYPE(arr);
	int16		typlen;
	bool		typbyval;
	char		typalign;
	Datum	   *elems;
	bool	   *nulls;
	int			n;
	int			idx = 0;

	if (ARR_NDIM(arr) == 0)
	{
		appendStringInfoString(buf, "[]");
		return;
	}
	get_typlenbyvalalign(elemtype, &typlen, &typbyval, &typalign);
	deconstruct_array(arr, elemtype, typlen, typbyval, typalign,
					  &elems, &nulls, &n);
	array_dim_json(buf, 0, ARR_NDIM(arr), ARR_DIMS(arr), elems, nulls, &idx,
				   elemtype);
}

static void
value_json(StringInfo buf, Datum v, Oid typid)
{
	Oid			base = getBaseType(typid);
	Oid			outfn;
	bool		isvarlena;

	switch (base)
	{
		case BOOLOID:
			appendStringInfoString(buf, DatumGetBool(v) ? "true" : "false");
			return;
		case INT2OID:
		case INT4OID:
		case INT8OID:
			break;				/* their text is a JSON number */
		case NUMERICOID:
			if (numeric_is_nan(DatumGetNumeric(v)) ||
				numeric_is_inf(DatumGetNumeric(v)))
				not_representable(base, "NaN and infinity are not JSON numbers.");
			break;
		case FLOAT4OID:
		case FLOAT8OID:
			{
				double		d = base == FLOAT4OID ?
					(double) DatumGetFloat4(v) : DatumGetFloat8(v);

				if (isnan(d) || isinf(d))
					not_representable(base, "NaN and infinity are not JSON numbers.");
				break;
			}
		case DATEOID:
			date_json(buf, DatumGetDateADT(v));
			return;
		case TIMESTAMPOID:
		case TIMESTAMPTZOID:
			timestamp_json(buf, DatumGetTimestamp(v), base);
			return;
		case JSONBOID:
			{
				Jsonb	   *jb = DatumGetJsonbP(v);

				appendStringInfoString(buf, JsonbToCString(NULL, &jb->root, VARSIZE(jb)));
				return;
			}
		case JSONOID:
			appendStringInfoString(buf, TextDatumGetCString(v));
			return;
		case BPCHAROID:
			{
				/* char(n) pads with spaces that are not part of the value */
				char	   *str = TextDatumGetCString(v);
				int			len = strlen(str);

				while (len > 0 && str[len - 1] == ' ')
					str[--len] = '\0';
				escape_json(buf, str);
				return;
			}
		case CASHOID:
			/* money's text has a currency symbol: send the amount */
			v = DirectFunctionCall1(cash_numeric, v);
			base = NUMERICOID;
			break;
		default:
			if (type_is_array(base))
			{
				array_json(buf, DatumGetArrayTypeP(v));
				return;
			}
			if (type_is_rowtype(base))
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("%s value has no Zoho CRM representation", format_type_be(typid)),
						 errhint("Build the JSON value Zoho expects as jsonb, e.g. jsonb_build_object('id', ...) for a lookup."),
						 errhidestmt(true)));
			getTypeOutputInfo(typid, &outfn, &isvarlena);
			escape_json(buf, OidOutputFunctionCall(outfn, v));
			return;
	}

	/* numbers: PostgreSQL's own text keeps every digit */
	getTypeOutputInfo(base, &outfn, &isvarlena);
	appendStringInfoString(buf, OidOutputFunctionCall(outfn, v));
}

/*
 * zcrm_value(anyelement) RETURNS jsonb, not STRICT: NULL gives JSON null.
 */
Datum
zcrm_value(PG_FUNCTION_ARGS)
{
	StringInfoData buf;
	Oid			typid = get_fn_expr_argtype(fcinfo->flinfo, 0);

	if (!OidIsValid(typid))
		elog(ERROR, "could not determine the type of the argument of zcrm_value");
	initStringInfo(&buf);
	if (PG_ARGISNULL(0))
		appendStringInfoString(&buf, "null");
	else
		value_json(&buf, PG_GETARG_DATUM(0), typid);
	PG_RETURN_DATUM(DirectFunctionCall1(jsonb_in, CStringGetDatum(buf.data)));
}
