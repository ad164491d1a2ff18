/*
 * fields.c
 *		Whether a value fits a field.
 */
#include <math.h>
#include <string.h>

#include "fields.h"
#include "util.h"

static bool
in_picklist(const Field *f, const json_t *v)
{
	const char *s = json_string_value(v);

	if (s == NULL)
		return false;
	for (int i = 0; i < f->npicklist; i++)
		if (strcmp(f->picklist[i], s) == 0)
			return true;
	return false;
}

static size_t
utf8_chars(const char *s, size_t len)
{
	size_t		n = 0;

	for (size_t i = 0; i < len; i++)
		if (((unsigned char) s[i] & 0xc0) != 0x80)
			n++;
	return n;
}

static bool
is_integral(const json_t *v)
{
	if (json_is_integer(v))
		return true;
	return json_is_real(v) && floor(json_real_value(v)) == json_real_value(v) &&
		fabs(json_real_value(v)) < 9.2e18;
}

ValueProblem
field_check_value(const Field *f, const json_t *v)
{
	time_t		t;
	size_t		i;
	json_t	   *item;

	if (json_is_null(v))
		return VALUE_OK;
	switch (f->type)
	{
		case FT_TEXT:
		case FT_TEXTAREA:
		case FT_EMAIL:
			if (!json_is_string(v))
				return VALUE_WRONG_TYPE;
			if (f->length > 0 &&
				utf8_chars(json_string_value(v), json_string_length(v)) > (size_t) f->length)
				return VALUE_TOO_LONG;
			return VALUE_OK;
		case FT_PICKLIST:
			return in_picklist(f, v) ? VALUE_OK : VALUE_WRONG_TYPE;
		case FT_MULTISELECT:
			if (!json_is_array(v))
				return VALUE_WRONG_TYPE;
			json_array_foreach(v, i, item)
			{
				if (!in_picklist(f, item))
					return VALUE_WRONG_TYPE;
			}
			return VALUE_OK;
		case FT_INTEGER:
			if (!is_integral(v))
				return VALUE_WRONG_TYPE;
			return fabs(json_number_value(v)) <= 2147483647.0 ? VALUE_OK : VALUE_WRONG_TYPE;
		case FT_BIGINT:
			return is_integral(v) ? VALUE_OK : VALUE_WRONG_TYPE;
		case FT_NUMBER:
			return json_is_number(v) ? VALUE_OK : VALUE_WRONG_TYPE;
		case FT_BOOLEAN:
			return json_is_boolean(v) ? VALUE_OK : VALUE_WRONG_TYPE;
		case FT_DATE:
			return json_is_string(v) && parse_date(json_string_value(v), &t) ?
				VALUE_OK : VALUE_WRONG_TYPE;
		case FT_DATETIME:
			return json_is_string(v) && parse_datetime(json_string_value(v), &t) ?
				VALUE_OK : VALUE_WRONG_TYPE;
		case FT_LOOKUP:
			{
				uint64_t	id;

				return json_is_object(v) && json_to_id(json_object_get(v, "id"), &id) ?
					VALUE_OK : VALUE_WRONG_TYPE;
			}
		case FT_OTHER:
			return VALUE_OK;
	}
	return VALUE_OK;
}
