/*
 * records.h
 *		Filling the store: the fixture's record sets (expanded with the
 *		seed), bulk creation for the control endpoint, and a record's JSON.
 */
#ifndef SANDBOX_RECORDS_H
#define SANDBOX_RECORDS_H

#include <jansson.h>
#include <stdint.h>

#include "model.h"
#include "store.h"
#include "strbuf.h"

/* records.c: builds (and frees) what record JSON needs; after org_load. */
extern void records_init(void);
extern void records_free(void);
/* Interns a value's JSON text (store write lock held). */
extern uint32_t intern_json(const json_t *v);

/* generate.c: clears the store and loads the fixture's records (takes the write lock). */
extern void records_load_fixture(uint64_t seed);

/*
 * Creates (or re-creates) count records with ids first_id, first_id + 1 ...
 * each holding values.  Returns the number created, or -1 with err set.
 */
extern long records_create(const Module *m, uint64_t first_id, long count,
						   json_t *values, char *err, size_t errlen);

/* Appends the record as Zoho's record object (store lock held). */
extern void record_to_json(StrBuf *sb, const Module *m, const Record *r);

/* Appends {"name":..,"id":..} of a user. */
extern void user_to_json(StrBuf *sb, int user);

#endif
