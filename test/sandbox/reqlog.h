/*
 * reqlog.h
 *		The log of CRM requests behind GET /__sandbox/requests.
 *
 * A request gets its slot (and its sequence number n, which the fault
 * draws use) when its headers arrive; its body, status and client are
 * filled in when it is answered.
 */
#ifndef SANDBOX_REQLOG_H
#define SANDBOX_REQLOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "strbuf.h"

#define REQLOG_MAX_ENTRIES	100000
/* Oldest entries go earlier when their bodies exceed this in all. */
#define REQLOG_MAX_BYTES	((size_t) 256 * 1024 * 1024)

typedef struct ReqTicket
{
	uint64_t	seq;			/* 1, 2, ... since start or reset */
	uint64_t	generation;		/* changes at every reset */
} ReqTicket;

extern void reqlog_init(void);
extern void reqlog_free(void);
extern ReqTicket reqlog_begin(const char *method, const char *path, const char *query);
extern void reqlog_finish(ReqTicket t, const char *body, size_t len, int status,
						  const char *client_id, bool dropped);
extern void reqlog_reset(void);
/* Appends {"requests":[...]} with the last limit entries, oldest first. */
extern void reqlog_to_json(StrBuf *sb, long limit);

#endif
