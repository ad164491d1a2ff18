/*-------------------------------------------------------------------------
 *
 * utility_hook.h
 *		Recognising, from the parse tree, the commands whose text the server
 *		log must not show (user mapping statements, which hold secrets).
 *
 *-------------------------------------------------------------------------
 */
#ifndef ZCRM_UTILITY_HOOK_H
#define ZCRM_UTILITY_HOOK_H

/*
 * Installs the ProcessUtility and post_parse_analyze hooks, chained to the
 * ones installed before.  Called once per process from _PG_init.
 */
extern void zcrm_utility_hook_init(void);

/*
 * How much of query, a top-level statement text (debug_query_string), the
 * server log may show: -1 for all of it, else the number of leading bytes
 * before the first part that may hold a user mapping secret (0: none of
 * it).  The answer comes from the hooks, which mark CREATE/ALTER USER
 * MAPPING on any server, and DO blocks that name USER MAPPING, when they
 * are analysed or run, including as dynamic SQL inside another command;
 * the marks last for the rest of the command (and for the same text run
 * again).  just_parsed says that query has just been parsed successfully
 * and nothing has run since (PostgreSQL's log_statement line): the text
 * is then parsed again here, because that line is logged before any hook
 * sees the statement.  Never raises an error.
 */
extern int	zcrm_log_visible_prefix(const char *query, bool just_parsed);

#endif							/* ZCRM_UTILITY_HOOK_H */
