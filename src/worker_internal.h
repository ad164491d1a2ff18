/*-------------------------------------------------------------------------
 *
 * worker_internal.h
 *		What the parts of the background worker share: worker.c (process,
 *		start-up, main loop), worker_spi.c (short transactions and SPI
 *		helpers), worker_jobs.c (polling view jobs) and worker_outbox.c
 *		(draining the outbox, retention).
 *
 *-------------------------------------------------------------------------
 */
#ifndef ZCRM_WORKER_INTERNAL_H
#define ZCRM_WORKER_INTERNAL_H

#include "postgres.h"

#include "client.h"
#include "utils/array.h"
#include "utils/palloc.h"

/* how long a claim waits for a row lock before giving up for this round */
#define CLAIM_LOCK_TIMEOUT_MS		1000
/* jobs polled per round */
#define JOBS_PER_ROUND				100
/* first and smallest interval between two polls of a job */
#define JOB_POLL_MIN_INTERVAL_MS	1000
/* rows deleted per retention transaction, and transactions per round */
#define RETENTION_BATCH				5000
#define RETENTION_BATCHES_PER_ROUND	20
/* how often retention runs at most */
#define RETENTION_EVERY_MS			60000
/*
 * The claim cursor's audit (worker_claim.c) runs every this many naptimes,
 * and at least every RETENTION_EVERY_MS
 */
#define AUDIT_NAPTIMES				6
/* longest stretch of overlapping outbox batches before the round goes on */
#define PIPE_MAX_MS					5000
/* rows claimed per statement, the calls in flight driven in between */
#define CLAIM_SLICE					1000
/* outcomes written per statement, the calls in flight driven in between */
#define RECORD_SLICE				1000
/* shortest sleep when something is due but could not be taken (locked) */
#define MIN_SLEEP_MS				100
/* how often the worker gives free heap memory back, at most (glibc) */
#define TRIM_EVERY_MS				10000
/* pause between checks while waiting for the database */
#define DATABASE_CHECK_MS			1000

/*
 * Where the current step allocates: the round's context, or while a batch
 * of the outbox is handled that batch's own context (a child of
 * worker_pipe_cxt), so that each batch's memory goes when it is recorded.
 */
extern MemoryContext worker_round_cxt;
extern MemoryContext worker_round_base_cxt;
/* parent of the outbox batches' contexts; reset after an ERROR */
extern MemoryContext worker_pipe_cxt;
/* the extension's schema, quoted, in worker_round_cxt */
extern char *worker_ext_schema;
/* rows claimed in this round and not yet recorded, for error recovery */
extern bool worker_claimed_unrecorded;

/* the only schemas the worker searches (worker_pin_search_path) */
#define WORKER_SEARCH_PATH			"pg_catalog, pg_temp"

/* worker_spi.c: one short transaction with SPI and a snapshot */
extern void worker_pin_search_path(void);
extern void worker_xact_begin(const char *activity);
extern void worker_xact_end(void);
extern void worker_commit_async(void);
extern void worker_set_local(const char *name, const char *value);
/* a table of the extension, schema-qualified (in the round's context) */
extern char *worker_qual(const char *table);
extern char *worker_spi_text(HeapTuple tup, TupleDesc desc, int col);
extern int64 worker_spi_int64(HeapTuple tup, TupleDesc desc, int col, bool *isnull);
extern Datum worker_text_array(const char **v, int n);
extern Datum worker_int8_array(const int64 *v, int n);
extern Datum worker_timestamptz_array(const TimestampTz *v, int n);
extern void *worker_round_alloc(size_t size);
extern char *worker_try_in_subxact(void (*fn) (void *), void *arg, int *sqlstate);
extern const char *worker_outcome_name(ZcrmOutcome o);
/* the role that queued work still exists; the ERROR to give when not */
extern bool worker_owner_exists(Oid owner);
extern void worker_raise_no_owner(Oid owner) pg_attribute_noreturn();

/* worker_jobs.c: (1) poll due view jobs */
extern void worker_poll_jobs(void);

/*
 * worker_claim.c: the claim cursor, where the outbox's due pending rows
 * are looked for (see that file).  In the claim's transaction:
 * worker_claim_begin (relid: zcrm_outbox's oid), then per slice
 * worker_claim_next_range (claim rows with after < id <= upto, only due
 * ones if due_only, in id order) and worker_claim_slice_done (rows asked
 * and got, highest id got; false when nothing more is to be claimed now),
 * then worker_claim_take_late (true: pending rows in [from, upto] may be
 * older values of the rows claimed).  worker_claim_note_pending: the
 * worker set row "id" pending, due at "due".  worker_claim_due_ms: how
 * long until rows in back-off are due, at most max_ms (0: now).
 * worker_claim_audit: the periodic look for pending rows out of reach
 * (own transaction).  worker_claim_reset: forget everything, read the
 * table again at the next claim.
 */
extern void worker_claim_begin(Oid relid);
extern void worker_claim_next_range(int64 *after, int64 *upto, bool *due_only);
extern bool worker_claim_slice_done(int asked, int got, int64 max_id);
extern bool worker_claim_take_late(int64 *from, int64 *upto);
extern void worker_claim_note_pending(int64 id, TimestampTz due);
extern long worker_claim_due_ms(long max_ms);
extern void worker_claim_audit(void);
extern void worker_claim_reset(void);

/* worker_outbox.c: (2) drain the outbox, (3) delete old rows */
extern int	worker_drain_outbox(void);
extern void worker_delete_old_rows(void);

#endif							/* ZCRM_WORKER_INTERNAL_H */
