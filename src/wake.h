/*-------------------------------------------------------------------------
 *
 * wake.h
 *		Waking the massupdate worker when a transaction that queued work
 *		commits, and the bit of shared memory that makes it possible.
 *
 *-------------------------------------------------------------------------
 */
#ifndef ZCRM_WAKE_H
#define ZCRM_WAKE_H

#include "postgres.h"

#include "storage/latch.h"

/*
 * zcrm_wake_worker_at_commit
 *		Arrange for the worker's latch to be set when the current transaction
 *		commits; nothing happens if it aborts.
 *
 * Call it from any function that queues outbox rows or schedules a job,
 * before writing anything.  Raises 55000 (object_not_in_prerequisite_state)
 * when the library was not loaded through shared_preload_libraries (hint
 * names that setting) or when the current database is not
 * massupdate.database (hint names that setting), since no worker would ever
 * see the work.  Cheap to call repeatedly within one transaction.
 */
extern void zcrm_wake_worker_at_commit(void);

/*
 * zcrm_check_worker_database
 *		The checks of zcrm_wake_worker_at_commit alone (55000 as above),
 *		without arranging a wake-up.
 */
extern void zcrm_check_worker_database(void);

/*
 * zcrm_wake_note_queued
 *		Notes that the current transaction wrote zcrm_outbox row "id" as
 *		pending (queued it, or requeued it).  At commit the lowest such id
 *		goes to shared memory for zcrm_wake_take_queued_from.  Call after
 *		zcrm_wake_worker_at_commit; any order of ids, cheap.
 */
extern void zcrm_wake_note_queued(int64 id);

/* ---- for _PG_init (through zcrm_worker_register) and the worker ---- */

/* Installs the shared-memory hooks; only under shared_preload_libraries. */
extern void zcrm_wake_shmem_init(void);

/* The worker publishes its latch (NULL when it exits). */
extern void zcrm_wake_set_worker_latch(Latch *latch);

/*
 * Whether the worker may connect to massupdate.database straight away
 * (false after postmaster start, a crash or SIGTERM: it first checks
 * quietly that the database exists).
 */
extern bool zcrm_wake_get_connect_ok(void);
extern void zcrm_wake_set_connect_ok(bool ok);

/*
 * The worker: the lowest outbox id that transactions committed since the
 * last call wrote as pending (PG_INT64_MAX: none), and resets it.  Their
 * rows are visible to any snapshot taken after this call; and a snapshot
 * taken before it that sees one of them committed sees its report here.  Lost with
 * shared memory at a crash restart, when the worker starts afresh.
 */
extern int64 zcrm_wake_take_queued_from(void);

/*
 * Prepared transactions (wake_prepared.c, with its hooks installed by
 * zcrm_wake_prepared_init under shared_preload_libraries): the lowest id a
 * transaction being prepared queued is remembered under its gid; at COMMIT
 * PREPARED the committing backend reports it (report_committing before the
 * commit, with the prepared xid; report_committed after).
 */
extern void zcrm_wake_prepared_init(void);
extern void zcrm_wake_remember_prepared(int64 from);
extern void zcrm_wake_forget_prepared(const char *gid);
extern void zcrm_wake_report_committing(TransactionId xid, int64 from);
extern void zcrm_wake_report_committed(int64 from);
/* whether the current database is massupdate.database (no error) */
extern bool zcrm_wake_in_worker_database(void);

#endif							/* ZCRM_WAKE_H */
