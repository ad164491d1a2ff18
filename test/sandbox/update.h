/*
 * update.h
 *		Applying a validated mass update to one record, shared by the
 *		immediate (ids) and the scheduled (cvid) mass update.
 */
#ifndef SANDBOX_UPDATE_H
#define SANDBOX_UPDATE_H

#include <jansson.h>
#include <stdbool.h>
#include <time.h>

#include "model.h"
#include "store.h"

typedef struct FieldUpdate
{
	int			field;			/* index in the module's fields */
	const Field *f;
	json_t	   *value;			/* owned reference */
	uint32_t	vid;			/* interned value (0 for null) */
	uint32_t	cache_old;		/* multi-select append: last merge */
	uint32_t	cache_new;
} FieldUpdate;

typedef struct MassUpdate
{
	const Module *m;
	FieldUpdate *fields;
	int			nfields;
	bool		over_write;		/* multi-select: replace instead of append */
	int			user;			/* Modified_By */
} MassUpdate;

typedef enum RecordOutcome
{
	RO_SUCCESS,
	RO_INVALID_ID,				/* INVALID_DATA "the id given seems to be invalid" */
	RO_LOCKED,					/* RECORD_LOCKED */
	RO_NOT_APPROVED,			/* NOT_APPROVED */
	RO_BLUEPRINT				/* RECORD_IN_BLUEPRINT */
} RecordOutcome;

extern void mu_free(MassUpdate *mu);
extern void mu_copy(MassUpdate *dst, const MassUpdate *src);
/* Interns the values; write lock held, before any mu_apply. */
extern void mu_prepare(MassUpdate *mu);

/*
 * Checks the per-record rules (locked, not approved, a blueprint picklist
 * of a record in blueprint) and, unless check_only, applies the update.
 * r NULL: the record does not exist.  Write lock held.
 */
extern RecordOutcome mu_apply(MassUpdate *mu, Record *r, time_t now, bool check_only);

#endif
