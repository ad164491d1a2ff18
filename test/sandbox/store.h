/*
 * store.h
 *		The record store: per module an open-addressing hash from the 64-bit
 *		record id to a compact record holding (field index, value) pairs.
 *
 * Values are JSON texts interned once (a value id per distinct text), so a
 * million records with the same value cost 8 bytes each for it.  Every
 * function here expects the caller to hold the store lock: the read lock to
 * look, the write lock to change anything (including interning).
 */
#ifndef SANDBOX_STORE_H
#define SANDBOX_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define REC_BLUEPRINT		0x01	/* in a blueprint */
#define REC_LOCKED			0x02	/* record locking */
#define REC_NOT_APPROVED	0x04	/* waiting for approval */
#define REC_VALS_MALLOCED	0x80	/* vals is malloc'd (else in the module's arena) */
#define REC_FLAGS_PUBLIC	0x07

typedef struct FieldVal
{
	uint16_t	field;			/* index in Module.fields */
	uint32_t	value;			/* interned JSON text, never 0 */
} FieldVal;

typedef struct Record
{
	uint64_t	id;
	FieldVal   *vals;
	uint32_t	created;		/* Unix seconds */
	uint32_t	modified;
	uint16_t	nvals;
	uint8_t		flags;
	uint8_t		created_by;		/* index in org->users */
	uint8_t		modified_by;
} Record;

extern void store_init(int nmodules);
extern void store_free(void);
/* Drops every record and interned value (write lock held). */
extern void store_clear(void);

extern void store_rdlock(void);
extern void store_wrlock(void);
extern void store_unlock(void);

/* Makes room for n more records (bulk loads). */
extern void store_reserve(int module, size_t n);
extern Record *store_find(int module, uint64_t id);
/* Finds or adds the record; *existed tells which.  Pointers stay valid only until the next insert. */
extern Record *store_insert(int module, uint64_t id, bool *existed);
/* The module's records in insertion order, for scans. */
extern Record *store_records(int module, size_t *n);

extern uint32_t intern_value(const char *text, size_t len);
extern const char *intern_text(uint32_t value, size_t *len);

/* 0 when the field has no value. */
extern uint32_t record_get(const Record *r, int field);
/* value 0 removes the field's value. */
extern void record_set(Record *r, int field, uint32_t value);
/* Sets every value at once (bulk loads: the array goes to the module's arena). */
extern void record_set_all(int module, Record *r, const FieldVal *vals, int n);

#endif
