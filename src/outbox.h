/*-------------------------------------------------------------------------
 *
 * outbox.h
 *		Writing zcrm_outbox on behalf of the calling role; shared by
 *		zcrm_enqueue, zcrm_outbox_retry (outbox.c), the capture trigger
 *		(capture.c) and the worker (worker.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef ZCRM_OUTBOX_H
#define ZCRM_OUTBOX_H

#include "postgres.h"

#include "client.h"
#include "extension.h"

/*
 * The checks before anything is queued for the calling role (DESIGN 8.8,
 * 8.11): the worker serves this database (55000), the server exists
 * (42704) and the role has USAGE on it (42501) and a user mapping (42704).
 * Arranges the worker's wake-up at commit.  Returns the server.
 */
extern ZcrmServer *zcrm_outbox_prepare_queue(const char *servername, Oid roleid);

/*
 * Queueing rows into zcrm_outbox as the extension (see outbox.c): begin,
 * add one row per (record, field), end.  The caller has run
 * zcrm_outbox_prepare_queue for roleid.  field is a text datum, value a
 * jsonb datum; both are copied.  end returns the number of rows queued.
 */
typedef struct ZcrmOutboxInserter ZcrmOutboxInserter;

extern ZcrmOutboxInserter *zcrm_outbox_inserter_begin(Oid roleid,
													  const char *servername,
													  const char *module);
extern void zcrm_outbox_inserter_add(ZcrmOutboxInserter *ins, int64 record_id,
									 Datum field, Datum value, bool over_write);
extern uint64 zcrm_outbox_inserter_end(ZcrmOutboxInserter *ins);

#endif							/* ZCRM_OUTBOX_H */
