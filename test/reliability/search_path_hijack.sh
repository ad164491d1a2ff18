#!/usr/bin/env bash
# The audit's C1 (CVE-2018-1058 class): a database owner who is not a
# superuser shadows, in schemas of its own that it puts first on the
# database's search_path and in public, every function and operator the
# worker's and the backends' SQL calls.  After the worker has run every
# kind of round (claim, outcomes, back-off and sweep, retention, job poll,
# audit) and the backends have queued, requeued, scheduled and polled, the
# role is still not a superuser and none of its functions ever ran.
#
# The test's own sessions use PGOPTIONS with a safe search_path: a
# superuser's query under a hostile path is the CVE itself, not ours.
set -u
. "$(dirname "$0")/helpers.bash"

export PGOPTIONS='-c search_path=pg_catalog,public'
FIRST=4150868000220000001
q "CREATE EXTENSION massupdate SCHEMA public"
setup_outbox
make_records 600 $FIRST
psql -X -q -v ON_ERROR_STOP=1 -v url="$ZCRM_SANDBOX_URL" <<'SQL' >/dev/null
ALTER SYSTEM SET massupdate.retention = 0;
ALTER SYSTEM SET massupdate.retry_base = '100ms';
ALTER SYSTEM SET massupdate.retry_max = '200ms';
SELECT pg_reload_conf();
CREATE ROLE dbowner LOGIN;
CREATE ROLE alice LOGIN;
GRANT USAGE ON FOREIGN SERVER zoho TO alice;
CREATE USER MAPPING FOR alice SERVER zoho
	OPTIONS (client_id '1000.SANDBOX2', client_secret 'sandbox-secret-2',
			 refresh_token '1000.sandbox2.refresh');
ALTER DATABASE regression OWNER TO dbowner;
CREATE TABLE public.pwned (who name, backend text, what text, at timestamptz DEFAULT clock_timestamp());
GRANT INSERT, SELECT ON public.pwned TO PUBLIC;
SQL

# As the database owner: schema "evil" first on the database's path, a
# schema named like the worker's role ("$user"), and public.
psql -X -q -v ON_ERROR_STOP=1 -U dbowner <<'SQL' >/dev/null
CREATE SCHEMA evil;
CREATE SCHEMA postgres;
GRANT USAGE ON SCHEMA evil, postgres TO PUBLIC;
ALTER DATABASE regression SET search_path = evil, postgres, public, pg_catalog;

-- hijack(what): records who ran it, and makes dbowner a superuser if it can
CREATE FUNCTION evil.hijack(what text) RETURNS void LANGUAGE plpgsql
SET search_path = pg_catalog AS $$
BEGIN
	INSERT INTO public.pwned (who, backend, what)
	SELECT current_user, backend_type, what FROM pg_stat_activity WHERE pid = pg_backend_pid();
	IF (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) THEN
		EXECUTE 'ALTER ROLE dbowner SUPERUSER';
	END IF;
END $$;

DO $gen$
DECLARE
	s text;
BEGIN
	FOREACH s IN ARRAY ARRAY['evil', 'postgres', 'public'] LOOP
		-- functions
		EXECUTE format($f$CREATE FUNCTION %I.now() RETURNS timestamptz LANGUAGE plpgsql SET search_path = pg_catalog
			AS $b$BEGIN PERFORM evil.hijack('now'); RETURN pg_catalog.now(); END$b$$f$, s);
		EXECUTE format($f$CREATE FUNCTION %I.clock_timestamp() RETURNS timestamptz LANGUAGE plpgsql SET search_path = pg_catalog
			AS $b$BEGIN PERFORM evil.hijack('clock_timestamp'); RETURN pg_catalog.clock_timestamp(); END$b$$f$, s);
		EXECUTE format($f$CREATE FUNCTION %I.unnest(anyarray) RETURNS SETOF anyelement LANGUAGE plpgsql SET search_path = pg_catalog
			AS $b$BEGIN PERFORM evil.hijack('unnest'); RETURN QUERY SELECT pg_catalog.unnest($1); END$b$$f$, s);
		EXECUTE format($f$CREATE FUNCTION %I.array_agg_hijack(bigint[], bigint) RETURNS bigint[] LANGUAGE plpgsql SET search_path = pg_catalog
			AS $b$BEGIN PERFORM evil.hijack('aggregate'); RETURN $1 || $2; END$b$$f$, s);
		EXECUTE format($f$CREATE FUNCTION %I.min_final(bigint[]) RETURNS bigint LANGUAGE sql SET search_path = pg_catalog
			AS $b$SELECT min(x) FROM pg_catalog.unnest($1) x$b$$f$, s);
		EXECUTE format($f$CREATE AGGREGATE %I.min(bigint) (SFUNC = %I.array_agg_hijack, STYPE = bigint[], FINALFUNC = %I.min_final)$f$, s, s, s);
		EXECUTE format($f$CREATE AGGREGATE %I.max(bigint) (SFUNC = %I.array_agg_hijack, STYPE = bigint[], FINALFUNC = %I.min_final)$f$, s, s, s);
		EXECUTE format($f$CREATE FUNCTION %I.ts_smaller_hijack(timestamptz, timestamptz) RETURNS timestamptz LANGUAGE plpgsql SET search_path = pg_catalog
			AS $b$BEGIN PERFORM evil.hijack('aggregate'); RETURN least($1, $2); END$b$$f$, s);
		EXECUTE format($f$CREATE AGGREGATE %I.min(timestamptz) (SFUNC = %I.ts_smaller_hijack, STYPE = timestamptz)$f$, s, s);
		EXECUTE format($f$CREATE FUNCTION %I.make_interval(years int DEFAULT 0, months int DEFAULT 0, weeks int DEFAULT 0,
			days int DEFAULT 0, hours int DEFAULT 0, mins int DEFAULT 0, secs double precision DEFAULT 0)
			RETURNS interval LANGUAGE plpgsql SET search_path = pg_catalog
			AS $b$BEGIN PERFORM evil.hijack('make_interval'); RETURN pg_catalog.make_interval(years, months, weeks, days, hours, mins, secs); END$b$$f$, s);
		EXECUTE format($f$CREATE FUNCTION %I.pg_has_role(oid, oid, text) RETURNS boolean LANGUAGE plpgsql SET search_path = pg_catalog
			AS $b$BEGIN PERFORM evil.hijack('pg_has_role'); RETURN pg_catalog.pg_has_role($1, $2, $3); END$b$$f$, s);
	END LOOP;
END $gen$;

-- operators: exact matches for what pg_catalog reaches only through casts,
-- and (in evil, searched before pg_catalog) the plain comparisons
CREATE FUNCTION evil.mul_int_interval(integer, interval) RETURNS interval LANGUAGE plpgsql SET search_path = pg_catalog
	AS $$BEGIN PERFORM evil.hijack('int * interval'); RETURN $2 * $1::float8; END$$;
CREATE FUNCTION evil.mul_bigint_interval(bigint, interval) RETURNS interval LANGUAGE plpgsql SET search_path = pg_catalog
	AS $$BEGIN PERFORM evil.hijack('bigint * interval'); RETURN $2 * $1::float8; END$$;
CREATE FUNCTION evil.eq_int8(bigint, bigint) RETURNS boolean LANGUAGE plpgsql SET search_path = pg_catalog
	AS $$BEGIN PERFORM evil.hijack('bigint = bigint'); RETURN $1 OPERATOR(pg_catalog.=) $2; END$$;
CREATE FUNCTION evil.gt_int8(bigint, bigint) RETURNS boolean LANGUAGE plpgsql SET search_path = pg_catalog
	AS $$BEGIN PERFORM evil.hijack('bigint > bigint'); RETURN $1 OPERATOR(pg_catalog.>) $2; END$$;
CREATE FUNCTION evil.eq_text(text, text) RETURNS boolean LANGUAGE plpgsql SET search_path = pg_catalog
	AS $$BEGIN PERFORM evil.hijack('text = text'); RETURN $1 OPERATOR(pg_catalog.=) $2; END$$;
CREATE FUNCTION evil.lt_ts(timestamptz, timestamptz) RETURNS boolean LANGUAGE plpgsql SET search_path = pg_catalog
	AS $$BEGIN PERFORM evil.hijack('timestamptz < timestamptz'); RETURN $1 OPERATOR(pg_catalog.<) $2; END$$;
CREATE FUNCTION evil.minus_ts(timestamptz, interval) RETURNS timestamptz LANGUAGE plpgsql SET search_path = pg_catalog
	AS $$BEGIN PERFORM evil.hijack('timestamptz - interval'); RETURN $1 OPERATOR(pg_catalog.-) $2; END$$;
CREATE FUNCTION evil.plus_ts(timestamptz, interval) RETURNS timestamptz LANGUAGE plpgsql SET search_path = pg_catalog
	AS $$BEGIN PERFORM evil.hijack('timestamptz + interval'); RETURN $1 OPERATOR(pg_catalog.+) $2; END$$;
CREATE OPERATOR public.* (LEFTARG = integer, RIGHTARG = interval, FUNCTION = evil.mul_int_interval);
CREATE OPERATOR public.* (LEFTARG = bigint, RIGHTARG = interval, FUNCTION = evil.mul_bigint_interval);
CREATE OPERATOR postgres.* (LEFTARG = integer, RIGHTARG = interval, FUNCTION = evil.mul_int_interval);
CREATE OPERATOR evil.* (LEFTARG = integer, RIGHTARG = interval, FUNCTION = evil.mul_int_interval);
CREATE OPERATOR evil.* (LEFTARG = bigint, RIGHTARG = interval, FUNCTION = evil.mul_bigint_interval);
CREATE OPERATOR evil.= (LEFTARG = bigint, RIGHTARG = bigint, FUNCTION = evil.eq_int8);
CREATE OPERATOR evil.> (LEFTARG = bigint, RIGHTARG = bigint, FUNCTION = evil.gt_int8);
CREATE OPERATOR evil.= (LEFTARG = text, RIGHTARG = text, FUNCTION = evil.eq_text);
CREATE OPERATOR evil.< (LEFTARG = timestamptz, RIGHTARG = timestamptz, FUNCTION = evil.lt_ts);
CREATE OPERATOR evil.- (LEFTARG = timestamptz, RIGHTARG = interval, FUNCTION = evil.minus_ts);
CREATE OPERATOR evil.+ (LEFTARG = timestamptz, RIGHTARG = interval, FUNCTION = evil.plus_ts);
SQL

# the hijack works where nothing pins the path: the probe must fire
probe=$(PGOPTIONS= psql -X -At -U alice -c "SELECT 2 * interval '1 s', now() IS NOT NULL" 2>&1)
check "the shadowing objects fire for an ordinary session (probe: $probe)" \
	test "$(q "SELECT count(*) > 0 FROM public.pwned WHERE who = 'alice'")" = t
q "DELETE FROM public.pwned"

# the worker reconnects, so the database's search_path applies to it
q "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE backend_type = 'massupdate worker'" >/dev/null
check "worker restarted" wait_sql 30 "EXISTS (SELECT 1 FROM pg_stat_activity WHERE backend_type = 'massupdate worker')"

# backends, under the hostile path, as a plain role (extension functions qualified)
PGOPTIONS= psql -X -q -v ON_ERROR_STOP=1 -U alice <<SQL >/dev/null 2>"$ZCRM_TEST_TMP/alice.err"
SELECT public.zcrm_enqueue('Leads'::text, ($FIRST + g)::bigint, jsonb_build_object('City', 'C1-' || g))
  FROM generate_series(0, 299) g;
SELECT public.zcrm_enqueue('Leads'::text, ($FIRST + 500)::bigint, '{"Email": "not-an-email"}'::jsonb);
SQL
check "alice queued under the hostile path ($(head -c 200 "$ZCRM_TEST_TMP/alice.err"))" test ! -s "$ZCRM_TEST_TMP/alice.err"
# (retention 0 deletes sent rows at once: look in the CRM)
crm_field() { sbx_get "records/Leads/$1" | python3 -c "import json,sys; print(json.load(sys.stdin)['record'].get('$2'))"; }
check "claim and outcomes: alice's rows sent" \
	wait_sql 60 "NOT EXISTS (SELECT 1 FROM zcrm_outbox WHERE field = 'City' AND state IN ('pending', 'sending'))"
check "the CRM holds alice's values" test "$(crm_field $((FIRST + 299)) City)" = C1-299

# back-off and sweep: 50% of calls fail with 503 for a while
sbx_post faults '{"error_rate": 0.5, "error_status": 503}' >/dev/null
q "SELECT zcrm_enqueue('Leads', $FIRST + g, jsonb_build_object('State', 'S-' || g)) FROM generate_series(0, 99) g" >/dev/null
sleep 1
sbx_post faults '{"error_rate": 0}' >/dev/null
check "back-off and sweep: rows sent after 503s" \
	wait_sql 60 "NOT EXISTS (SELECT 1 FROM zcrm_outbox WHERE field = 'State' AND state IN ('pending', 'sending'))"
check "the CRM holds the values sent after back-off" test "$(crm_field $((FIRST + 99)) State)" = S-99
check "503s were answered (back-off really ran)" test "$(sbx_get stats | python3 -c "import json,sys; print(json.load(sys.stdin)['responses_by_status'].get('503', 0) > 0)")" = True

# requeue of failed rows (backend, owner scope) and a view job polled by the worker
q "SELECT count(*) FROM zcrm_outbox WHERE state = 'failed'" >/dev/null
PGOPTIONS= psql -X -q -At -U alice -c "SELECT public.zcrm_outbox_retry(NULL::bigint[])" >/dev/null 2>>"$ZCRM_TEST_TMP/alice.err"
job=$(PGOPTIONS= psql -X -q -At -U alice -c "SELECT public.zcrm_mass_update_view('Leads'::text, 4150868000000087501::bigint, '{\"City\": \"Hijack-free\"}'::jsonb)" 2>>"$ZCRM_TEST_TMP/alice.err")
check "alice scheduled a job ($job)" test -n "$job"
check "job poll: the worker polled the job to its end" \
	wait_sql 60 "EXISTS (SELECT 1 FROM zcrm_jobs WHERE job_id = '$job' AND status = 'COMPLETED')"
PGOPTIONS= psql -X -q -At -U alice -c "SELECT (public.zcrm_job_status('$job'::bigint)).status" >/dev/null 2>>"$ZCRM_TEST_TMP/alice.err"

# retention (0: sent rows deleted at once) and the audit (every six naptimes)
check "retention: sent rows deleted" \
	wait_sql 60 "NOT EXISTS (SELECT 1 FROM zcrm_outbox WHERE state = 'sent')"
sleep 3

check "dbowner is still not a superuser" test "$(q "SELECT rolsuper FROM pg_roles WHERE rolname = 'dbowner'")" = f
ran=$(q "SELECT coalesce(string_agg(DISTINCT who || '/' || backend || ': ' || what, '; '), '') FROM public.pwned")
check "none of dbowner's functions ran (ran: ${ran:-none})" test -z "$ran"
summary
