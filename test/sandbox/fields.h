/*
 * fields.h
 *		Whether a value fits a field (reference section 6, FIELDS.md).
 */
#ifndef SANDBOX_FIELDS_H
#define SANDBOX_FIELDS_H

#include <jansson.h>

#include "model.h"

typedef enum ValueProblem
{
	VALUE_OK,
	VALUE_WRONG_TYPE,			/* INVALID_DATA with expected_data_type */
	VALUE_TOO_LONG				/* INVALID_DATA with maximum_length */
} ValueProblem;

/*
 * Checks value against the field's data type: picklist values from its
 * pick_list_values, multi-select a JSON array of them, integer/bigint a
 * JSON integer, double/currency/percent a JSON number, date YYYY-MM-DD,
 * datetime YYYY-MM-DDTHH:MM:SS±HH:MM, boolean true/false, text a string of
 * at most length characters.  null clears a field and always fits.
 */
extern ValueProblem field_check_value(const Field *f, const json_t *value);

#endif
