/*-------------------------------------------------------------------------
 *
 * utility_hook.c
 *		Which commands the server log must not show: user mapping statements
 *		recognised from their parse tree (security audit L2).
 *
 * The text of CREATE/ALTER USER MAPPING holds the mapping's secrets, and
 * PostgreSQL logs statement texts in several places: log_statement and
 * log_min_duration_statement lines, the STATEMENT line of an error, the
 * CONTEXT line and internal query of dynamic SQL.  Matching option names
 * in that text is easy to defeat (U&"client\005Fsecret", names built at
 * run time), so the decision is taken from the parse tree instead: the
 * ProcessUtility hook (and post_parse_analyze, which sees a statement of
 * the extended protocol before its "execute" line is logged) marks the
 * command, and the emit_log_hook of options.c hides what the mark says for
 * the rest of the command.  A mark is the hash of the top-level statement
 * text, so it needs no reset: it matches only that text, which, run again,
 * deserves the same.
 *
 * Every server's mappings are hidden, not only zcrm's: another wrapper's
 * mapping (postgres_fdw's password) holds secrets too, and deciding by
 * server would mean catalog lookups on the way to the log.
 *
 * Other ProcessUtility hooks may be installed by the extension (transaction
 * statements) or by other libraries: this one only looks, then always
 * passes the statement on to the hook installed before it.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "common/hashfn.h"
#include "miscadmin.h"
#include "nodes/parsenodes.h"
#include "parser/analyze.h"
#include "parser/parser.h"
#include "tcop/tcopprot.h"
#include "tcop/utility.h"
#include "utils/memutils.h"

#include "utility_hook.h"

/* commands marked at once: a few, for prepared statements run out of order */
#define ZCRM_LOG_MARKS 8

typedef struct LogMark
{
	bool		used;
	uint64		hash;			/* of the top-level statement text */
	size_t		len;
	int			visible;		/* leading bytes the log may show */
} LogMark;

static LogMark log_marks[ZCRM_LOG_MARKS];
static int	next_mark = 0;
static bool any_marks = false;	/* most backends never mark: skip hashing */

static ProcessUtility_hook_type prev_ProcessUtility = NULL;
static post_parse_analyze_hook_type prev_post_parse_analyze = NULL;

/* where zcrm_log_visible_prefix parses a log_statement line's text again */
static MemoryContext reparse_cxt = NULL;
static bool in_reparse = false;

static bool
is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f';
}

/* Offset of the first ASCII case-insensitive occurrence of word in s[from, to), or -1. */
static int
find_word(const char *s, int from, int to, const char *word)
{
	int			n = strlen(word);
	int			i;

	for (i = from; i + n <= to; i++)
		if (pg_strncasecmp(s + i, word, n) == 0)
			return i;
	return -1;
}

/*
 * Whether a DO block's code names USER MAPPING (any case, any white space
 * between): it may build a mapping statement at run time, with its secret
 * written in the code.  Code that builds even those words at run time is
 * caught only when the statement it makes runs (the mark then hides the
 * rest of the command, not the DO's own log_statement line).
 */
static bool
mentions_user_mapping(const char *code)
{
	int			len = strlen(code);
	int			at = 0;

	while ((at = find_word(code, at, len, "user")) >= 0)
	{
		int			p = at + 4;

		at++;
		if (p >= len || !is_space(code[p]))
			continue;
		while (p < len && is_space(code[p]))
			p++;
		if (pg_strncasecmp(code + p, "mapping", 7) == 0)
			return true;
	}
	return false;
}

static bool
do_mentions_user_mapping(DoStmt *stmt)
{
	ListCell   *lc;

	foreach(lc, stmt->args)
	{
		DefElem    *d = (DefElem *) lfirst(lc);

		if (strcmp(d->defname, "as") == 0 && d->arg && IsA(d->arg, String) &&
			mentions_user_mapping(strVal(d->arg)))
			return true;
	}
	return false;
}

/*
 * For a statement of text (at location, stmt_len bytes, 0: to the end)
 * that may hold user mapping secrets, the leading bytes of text the log
 * may show; -1 when the statement holds none.  A mapping statement shows
 * up to its OPTIONS (an earlier "options" inside a quoted name only hides
 * more); a DO block shows nothing from its start on.
 */
static int
visible_prefix_of(Node *stmt, const char *text, int location, int stmt_len)
{
	int			end;
	int			at;

	if (location < 0 || text == NULL)
		location = 0;
	if (stmt == NULL)
		return -1;
	if (IsA(stmt, DoStmt))
		return do_mentions_user_mapping((DoStmt *) stmt) ? location : -1;
	if (!IsA(stmt, CreateUserMappingStmt) && !IsA(stmt, AlterUserMappingStmt))
		return -1;
	if (text == NULL)
		return 0;
	end = strlen(text);
	if (stmt_len > 0 && location + stmt_len < end)
		end = location + stmt_len;
	at = find_word(text, location, end, "options");
	return at >= 0 ? at : location;
}

/* Marks a top-level statement text: the log shows at most visible bytes of it. */
static void
mark_statement(const char *query, int visible)
{
	size_t		len = strlen(query);
	uint64		hash = hash_bytes_extended((const unsigned char *) query, len, 0);
	int			i;

	for (i = 0; i < ZCRM_LOG_MARKS; i++)
		if (log_marks[i].used && log_marks[i].hash == hash && log_marks[i].len == len)
		{
			log_marks[i].visible = Min(log_marks[i].visible, visible);
			return;
		}
	any_marks = true;
	log_marks[next_mark].used = true;
	log_marks[next_mark].hash = hash;
	log_marks[next_mark].len = len;
	log_marks[next_mark].visible = visible;
	next_mark = (next_mark + 1) % ZCRM_LOG_MARKS;
}

/*
 * Marks the command now running (debug_query_string) when stmt, of text
 * query_text, may hold user mapping secrets.  A statement of dynamic SQL
 * (text other than the top-level one) hides the whole top-level text: its
 * secret may have been written anywhere in it.
 */
static void
mark_if_secret(Node *stmt, const char *query_text, int location, int stmt_len)
{
	const char *top = debug_query_string;
	int			visible;

	if (top == NULL)
		return;
	visible = visible_prefix_of(stmt, query_text, location, stmt_len);
	if (visible < 0)
		return;
	if (query_text != top && (query_text == NULL || strcmp(query_text, top) != 0))
		visible = 0;
	mark_statement(top, visible);
}

static void
zcrm_ProcessUtility(PlannedStmt *pstmt, const char *queryString,
					bool readOnlyTree, ProcessUtilityContext context,
					ParamListInfo params, QueryEnvironment *queryEnv,
					DestReceiver *dest, QueryCompletion *qc)
{
	mark_if_secret(pstmt->utilityStmt, queryString, pstmt->stmt_location,
				   pstmt->stmt_len);
	if (prev_ProcessUtility)
		prev_ProcessUtility(pstmt, queryString, readOnlyTree, context, params,
							queryEnv, dest, qc);
	else
		standard_ProcessUtility(pstmt, queryString, readOnlyTree, context,
								params, queryEnv, dest, qc);
}

static void
zcrm_post_parse_analyze(ParseState *pstate, Query *query, JumbleState *jstate)
{
	if (query->commandType == CMD_UTILITY)
		mark_if_secret(query->utilityStmt, pstate->p_sourcetext,
					   query->stmt_location, query->stmt_len);
	if (prev_post_parse_analyze)
		prev_post_parse_analyze(pstate, query, jstate);
}

int
zcrm_log_visible_prefix(const char *query, bool just_parsed)
{
	size_t		len;
	uint64		hash;
	int			i;

	if (query == NULL)
		return -1;

	/*
	 * The log_statement line comes before any hook sees the statement, so
	 * its text is parsed again here.  That cannot fail: PostgreSQL has just
	 * parsed the same text with the same settings (and escape_string_warning
	 * is off meanwhile, so the parser repeats no WARNING).  Only texts that
	 * hold the keyword MAPPING can be mapping statements (keywords are
	 * never spelt with escapes) or DO blocks naming one, so others are not
	 * parsed twice.
	 */
	len = strlen(query);
	if (just_parsed && !in_reparse && reparse_cxt != NULL &&
		find_word(query, 0, len, "mapping") >= 0)
	{
		MemoryContext old = MemoryContextSwitchTo(reparse_cxt);
		bool		save_warning = escape_string_warning;
		List	   *stmts;
		ListCell   *lc;
		int			visible = -1;

		in_reparse = true;
		escape_string_warning = false;
		stmts = raw_parser(query, RAW_PARSE_DEFAULT);
		escape_string_warning = save_warning;
		in_reparse = false;
		foreach(lc, stmts)
		{
			RawStmt    *rs = lfirst_node(RawStmt, lc);
			int			v = visible_prefix_of(rs->stmt, query, rs->stmt_location,
											  rs->stmt_len);

			if (v >= 0 && (visible < 0 || v < visible))
				visible = v;
		}
		MemoryContextSwitchTo(old);
		MemoryContextReset(reparse_cxt);
		if (visible >= 0)
			mark_statement(query, visible);
	}

	if (!any_marks)
		return -1;
	hash = hash_bytes_extended((const unsigned char *) query, len, 0);
	for (i = 0; i < ZCRM_LOG_MARKS; i++)
		if (log_marks[i].used && log_marks[i].hash == hash && log_marks[i].len == len)
			return log_marks[i].visible;
	return -1;
}

void
zcrm_utility_hook_init(void)
{
	static bool done = false;

	if (done)
		return;
	done = true;
	reparse_cxt = AllocSetContextCreate(TopMemoryContext,
										"massupdate log statement parse",
										ALLOCSET_SMALL_SIZES);
	prev_ProcessUtility = ProcessUtility_hook;
	ProcessUtility_hook = zcrm_ProcessUtility;
	prev_post_parse_analyze = post_parse_analyze_hook;
	post_parse_analyze_hook = zcrm_post_parse_analyze;
}
