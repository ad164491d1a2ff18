--
-- 00_setup: the extension, and the sbx helpers that drive the sandbox's
-- control endpoints from SQL (test-only; superuser, through curl).
--
CREATE EXTENSION massupdate;
CREATE SCHEMA sbx;
CREATE FUNCTION sbx.url() RETURNS text LANGUAGE sql STABLE
AS $$ SELECT current_setting('massupdate_test.sandbox_url') $$;
CREATE FUNCTION sbx.shell_quote(s text) RETURNS text LANGUAGE sql IMMUTABLE
AS $$ SELECT '''' || replace(s, '''', '''\''''') || '''' $$;
-- sbx.run(cmd): one line of a shell command's output, taken verbatim
CREATE FUNCTION sbx.run(cmd text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
	result text;
BEGIN
	IF to_regclass('pg_temp.sbx_out') IS NULL THEN
		CREATE TEMP TABLE sbx_out (line text);
	END IF;
	TRUNCATE sbx_out;
	EXECUTE format('COPY sbx_out FROM PROGRAM %L WITH (FORMAT csv, DELIMITER E''\x02'', QUOTE E''\x01'')',
				   cmd || ' | tr -d ''\n''; echo');
	SELECT line INTO result FROM sbx_out;
	RETURN result;
END
$$;
-- sbx.http(method, path, body): call a control endpoint, answer as jsonb
CREATE FUNCTION sbx.http(method text, path text, body jsonb, base text DEFAULT NULL)
RETURNS jsonb LANGUAGE sql AS $$
	SELECT sbx.run(format('curl -sS -m 60 -X %s %s%s',
		method,
		sbx.shell_quote(coalesce(base, sbx.url()) || '/__sandbox/' || path),
		CASE WHEN body IS NULL THEN ''
			 ELSE ' -H ''Content-Type: application/json'' --data-binary '
				  || sbx.shell_quote(body::text) END))::jsonb
$$;
CREATE FUNCTION sbx.get(path text, base text DEFAULT NULL) RETURNS jsonb LANGUAGE sql
AS $$ SELECT sbx.http('GET', path, NULL, base) $$;
CREATE FUNCTION sbx.post(path text, body jsonb DEFAULT '{}', base text DEFAULT NULL)
RETURNS jsonb LANGUAGE sql AS $$ SELECT sbx.http('POST', path, body, base) $$;
CREATE FUNCTION sbx.patch(path text, body jsonb, base text DEFAULT NULL)
RETURNS jsonb LANGUAGE sql AS $$ SELECT sbx.http('PATCH', path, body, base) $$;
-- sbx.start_sandbox(args): start another sandbox (e.g. '--dc eu'), answer its URL
CREATE FUNCTION sbx.start_sandbox(args text DEFAULT '') RETURNS text LANGUAGE plpgsql AS $$
DECLARE
	dir text := current_setting('massupdate_test.tmpdir') || '/sandboxes';
	name text := 'sql' || md5(random()::text);
	out text := dir || '/' || name;
	url text;
BEGIN
	-- the sandbox must not keep the backend's descriptors (its client
	-- socket above all: psql would never see the backend die)
	PERFORM sbx.run(format('setsid python3 -c "import os, sys; os.closerange(3, 65536); os.execv(sys.argv[1], sys.argv[1:])" %s --port 0 %s >%s.out 2>%s.err </dev/null & echo $! >%s.pid',
		current_setting('massupdate_test.sandbox_bin'), args, out, out, out));
	FOR i IN 1..250 LOOP
		url := sbx.run(format('sed -n ''s/^zcrm-sandbox listening on //p'' %s.out', out));
		EXIT WHEN url <> '';
		PERFORM pg_sleep(0.02);
	END LOOP;
	IF url = '' THEN
		RAISE EXCEPTION 'sandbox % did not start', args;
	END IF;
	RETURN url;
END
$$;
-- sbx.stop_sandboxes(): stop every sandbox sbx.start_sandbox started
CREATE FUNCTION sbx.stop_sandboxes() RETURNS void LANGUAGE sql AS $$
	SELECT sbx.run(format('for f in %s/sandboxes/sql*.pid; do [ -f "$f" ] && kill $(cat "$f") 2>/dev/null; rm -f "$f"; done; true',
		current_setting('massupdate_test.tmpdir')))
$$;
-- sbx.create_server(name, api_version): a zcrm server pointing at the sandbox
CREATE PROCEDURE sbx.create_server(name text DEFAULT 'zoho', api_version text DEFAULT 'v8')
LANGUAGE plpgsql AS $$
BEGIN
	EXECUTE format('CREATE SERVER %I FOREIGN DATA WRAPPER zcrm OPTIONS (accounts_url %L, api_domain %L, api_version %L)',
				   name, sbx.url(), sbx.url(), api_version);
END
$$;
-- sbx.create_mapping(server): the current user's mapping for a server, with
-- the sandbox's default OAuth client
CREATE PROCEDURE sbx.create_mapping(server text DEFAULT 'zoho')
LANGUAGE plpgsql AS $$
BEGIN
	EXECUTE format('CREATE USER MAPPING FOR CURRENT_USER SERVER %I OPTIONS (client_id %L,'
				   ' client_secret %L, refresh_token %L)',
				   server, '1000.SANDBOX', 'sandbox-secret', '1000.sandbox.refresh');
END
$$;
-- sbx.mass_update_calls(), sbx.posted_bodies(), sbx.outbox_drained():
-- what the outbox tests wait on and look at
CREATE FUNCTION sbx.mass_update_calls() RETURNS int LANGUAGE sql
AS $$ SELECT (sbx.get('stats') ->> 'mass_update_calls')::int $$;
CREATE FUNCTION sbx.posted_bodies() RETURNS SETOF jsonb LANGUAGE sql
AS $$ SELECT (r ->> 'body')::jsonb
		FROM jsonb_array_elements(sbx.get('requests?limit=100') -> 'requests') r
	   WHERE r ->> 'method' = 'POST' ORDER BY (r ->> 'seq')::int $$;
CREATE FUNCTION sbx.outbox_drained() RETURNS boolean LANGUAGE sql
AS $$ SELECT NOT EXISTS (SELECT 1 FROM zcrm_outbox WHERE state IN ('pending', 'sending')) $$;
-- sbx.try(sql, whole, masks): runs a statement; 'ok', or its SQLSTATE and
-- message (whole: with its DETAIL and HINT lines), with what changes from
-- run to run masked: masks holds pairs of regular expression, replacement
CREATE FUNCTION sbx.try(sql text, whole boolean DEFAULT true, masks text[] DEFAULT '{}')
RETURNS text LANGUAGE plpgsql AS $$
DECLARE
	st text; msg text; det text; hin text; r text; i int;
BEGIN
	BEGIN
		EXECUTE sql;
		RETURN 'ok';
	EXCEPTION
		WHEN query_canceled THEN
			GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, msg = MESSAGE_TEXT,
				det = PG_EXCEPTION_DETAIL, hin = PG_EXCEPTION_HINT;
		WHEN OTHERS THEN
			GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, msg = MESSAGE_TEXT,
				det = PG_EXCEPTION_DETAIL, hin = PG_EXCEPTION_HINT;
	END;
	r := st || ': ' || msg;
	IF whole THEN
		r := r || CASE WHEN det <> '' THEN E'\nDETAIL: ' || det ELSE '' END
			   || CASE WHEN hin <> '' THEN E'\nHINT: ' || hin ELSE '' END;
	END IF;
	FOR i IN 1 .. coalesce(array_length(masks, 1), 0) / 2 LOOP
		r := regexp_replace(r, masks[2 * i - 1], masks[2 * i], 'g');
	END LOOP;
	RETURN r;
END
$$;
-- sbx.wait(condition, timeout): poll a boolean SQL expression until it is
-- true or the deadline passes; answers whether it became true
CREATE FUNCTION sbx.wait(condition text, timeout interval DEFAULT '30s') RETURNS boolean
LANGUAGE plpgsql AS $$
DECLARE
	deadline timestamptz := clock_timestamp() + timeout;
	ok boolean;
BEGIN
	LOOP
		EXECUTE 'SELECT (' || condition || ')' INTO ok;
		IF ok THEN RETURN true; END IF;
		IF clock_timestamp() > deadline THEN RETURN false; END IF;
		PERFORM pg_sleep(0.05);
	END LOOP;
END
$$;
-- the tests' other roles call sbx.try (through their file's wrapper) only
GRANT USAGE ON SCHEMA sbx TO PUBLIC;
REVOKE EXECUTE ON ALL FUNCTIONS IN SCHEMA sbx FROM PUBLIC;
GRANT EXECUTE ON FUNCTION sbx.try(text, boolean, text[]) TO PUBLIC;
SELECT sbx.post('reset');
SELECT (sbx.get('stats') ? 'requests_total') AS sandbox_answers;
