--
-- 05_options: the zcrm foreign data wrapper's validator, server lookup,
-- user mapping lookup and the visibility of secrets.
--
-- t05.try(sql) runs a statement and shows its SQLSTATE, message, detail
-- and hint on one row, so each expected error is checked whole.
CREATE SCHEMA t05;
CREATE FUNCTION t05.try(sql text) RETURNS text LANGUAGE sql AS $$
	SELECT sbx.try(sql, true, ARRAY['after \d+ ms', 'after <n> ms'])  -- curl's timings vary
$$;
GRANT USAGE ON SCHEMA t05 TO PUBLIC;
SELECT sbx.post('reset') ->> 'ok' AS reset;

-- No zcrm server yet: a call without a server name says so.
SELECT t05.try($$SELECT * FROM zcrm_mass_update('Leads', ARRAY[1]::bigint[], '{"City":"X"}')$$);

-- Server options.
CREATE SERVER zopt FOREIGN DATA WRAPPER zcrm OPTIONS (dc 'eu', api_version 'v2.1',
	connect_timeout_ms '1', timeout_ms '3600000', max_retries '0', max_concurrency '25');
SELECT t05.try($$CREATE SERVER zbad FOREIGN DATA WRAPPER zcrm OPTIONS (colour 'blue')$$);
SELECT t05.try($$CREATE SERVER zbad FOREIGN DATA WRAPPER zcrm OPTIONS (client_secret 'hunter2')$$);
SELECT t05.try($$CREATE SERVER zbad FOREIGN DATA WRAPPER zcrm OPTIONS (refresh_token '1000.x.y')$$);
SELECT t05.try($$CREATE SERVER zbad FOREIGN DATA WRAPPER zcrm OPTIONS (dc 'us')$$);
SELECT t05.try($$CREATE SERVER zbad FOREIGN DATA WRAPPER zcrm OPTIONS (api_version 'v9')$$);
SELECT t05.try($$CREATE SERVER zbad FOREIGN DATA WRAPPER zcrm OPTIONS (api_version 'V8')$$);
SELECT t05.try($$CREATE SERVER zbad FOREIGN DATA WRAPPER zcrm OPTIONS (timeout_ms '0')$$);
SELECT t05.try($$CREATE SERVER zbad FOREIGN DATA WRAPPER zcrm OPTIONS (timeout_ms '3600001')$$);
SELECT t05.try($$CREATE SERVER zbad FOREIGN DATA WRAPPER zcrm OPTIONS (connect_timeout_ms '5s')$$);
SELECT t05.try($$CREATE SERVER zbad FOREIGN DATA WRAPPER zcrm OPTIONS (connect_timeout_ms '600001')$$);
SELECT t05.try($$CREATE SERVER zbad FOREIGN DATA WRAPPER zcrm OPTIONS (max_retries '-1')$$);
SELECT t05.try($$CREATE SERVER zbad FOREIGN DATA WRAPPER zcrm OPTIONS (max_retries '21')$$);
SELECT t05.try($$CREATE SERVER zbad FOREIGN DATA WRAPPER zcrm OPTIONS (max_concurrency '0')$$);
SELECT t05.try($$CREATE SERVER zbad FOREIGN DATA WRAPPER zcrm OPTIONS (max_concurrency ' 5')$$);
SELECT t05.try($$CREATE SERVER zbad FOREIGN DATA WRAPPER zcrm OPTIONS (max_concurrency '99999999999')$$);
SELECT t05.try($$ALTER SERVER zopt OPTIONS (SET dc 'xx')$$);
SELECT t05.try($$ALTER FOREIGN DATA WRAPPER zcrm OPTIONS (ADD dc 'eu')$$);

-- URLs: https anywhere, http only on loopback hosts; a rejected URL is never echoed.
SELECT t05.try($$CREATE SERVER zbad FOREIGN DATA WRAPPER zcrm OPTIONS (accounts_url 'http://accounts.zoho.eu')$$);
SELECT t05.try($$CREATE SERVER zbad FOREIGN DATA WRAPPER zcrm OPTIONS (api_domain 'http://10.0.0.1:8080')$$);
SELECT t05.try($$CREATE SERVER zbad FOREIGN DATA WRAPPER zcrm OPTIONS (api_domain 'http://127.0.0.1.evil.example')$$);
SELECT t05.try($$CREATE SERVER zbad FOREIGN DATA WRAPPER zcrm OPTIONS (api_domain 'http://localhost.evil.example')$$);
SELECT t05.try($$CREATE SERVER zbad FOREIGN DATA WRAPPER zcrm OPTIONS (accounts_url 'https://user:s3cret@accounts.zoho.eu')$$);
SELECT t05.try($$CREATE SERVER zbad FOREIGN DATA WRAPPER zcrm OPTIONS (accounts_url 'ftp://accounts.zoho.eu')$$);
SELECT t05.try($$CREATE SERVER zbad FOREIGN DATA WRAPPER zcrm OPTIONS (accounts_url 'https://accounts.zoho.eu/?x=1')$$);
SELECT t05.try($$CREATE SERVER zbad FOREIGN DATA WRAPPER zcrm OPTIONS (accounts_url 'https://accounts.zoho.eu:0')$$);
SELECT t05.try($$CREATE SERVER zbad FOREIGN DATA WRAPPER zcrm OPTIONS (accounts_url 'https://')$$);
SELECT t05.try($$CREATE SERVER zurl1 FOREIGN DATA WRAPPER zcrm OPTIONS (accounts_url 'https://accounts.zoho.eu', api_domain 'https://www.zohoapis.eu/')$$);
SELECT t05.try($$CREATE SERVER zurl2 FOREIGN DATA WRAPPER zcrm OPTIONS (accounts_url 'http://127.0.0.1:9', api_domain 'http://localhost:9')$$);
SELECT t05.try($$CREATE SERVER zurl3 FOREIGN DATA WRAPPER zcrm OPTIONS (accounts_url 'http://[::1]:9', api_domain 'http://127.1.2.3')$$);
SELECT srvname, srvoptions FROM pg_foreign_server WHERE srvname LIKE 'zurl%' ORDER BY 1;
DROP SERVER zurl1;
DROP SERVER zurl2;
DROP SERVER zurl3;

-- User mapping options: the three OAuth options together, or access_token alone.
SELECT t05.try($$CREATE USER MAPPING FOR CURRENT_USER SERVER zopt OPTIONS (client_id '1000.X', client_secret 'sec', refresh_token 'rt', colour 'blue')$$);
SELECT t05.try($$CREATE USER MAPPING FOR CURRENT_USER SERVER zopt OPTIONS (dc 'eu')$$);
SELECT t05.try($$CREATE USER MAPPING FOR CURRENT_USER SERVER zopt OPTIONS (client_id '1000.X', client_secret 'sec')$$);
SELECT t05.try($$CREATE USER MAPPING FOR CURRENT_USER SERVER zopt$$);
SELECT t05.try($$CREATE USER MAPPING FOR CURRENT_USER SERVER zopt OPTIONS (access_token 'tok', client_id '1000.X')$$);
SELECT t05.try($$CREATE USER MAPPING FOR CURRENT_USER SERVER zopt OPTIONS (client_id '1000.X', client_secret '', refresh_token 'rt')$$);
SELECT t05.try($$CREATE USER MAPPING FOR CURRENT_USER SERVER zopt OPTIONS (access_token 'fixed-token')$$);
SELECT t05.try($$ALTER USER MAPPING FOR CURRENT_USER SERVER zopt OPTIONS (ADD client_id '1000.X')$$);
SELECT t05.try($$ALTER USER MAPPING FOR CURRENT_USER SERVER zopt OPTIONS (DROP access_token, ADD client_id '1000.X', ADD client_secret 'sec', ADD refresh_token 'rt')$$);
DROP USER MAPPING FOR CURRENT_USER SERVER zopt;

-- A server of the sandbox, and two roles with USAGE on it; only the first has a mapping.
SELECT sbx.url() AS sbx_url \gset
CREATE SERVER zsbx FOREIGN DATA WRAPPER zcrm OPTIONS (accounts_url :'sbx_url', max_retries '0');
CREATE ROLE zcrm_opt_a;
CREATE ROLE zcrm_opt_b;
CREATE ROLE zcrm_opt_c;
GRANT USAGE ON FOREIGN SERVER zsbx TO zcrm_opt_a, zcrm_opt_b;
GRANT USAGE ON SCHEMA t05 TO zcrm_opt_a, zcrm_opt_b, zcrm_opt_c;
CREATE USER MAPPING FOR zcrm_opt_a SERVER zsbx
	OPTIONS (client_id '1000.SANDBOX', client_secret 'sandbox-secret', refresh_token '1000.sandbox.refresh');

-- The role sees its own secrets; another role with USAGE does not (PostgreSQL's rule).
SET ROLE zcrm_opt_a;
SELECT usename, srvname, umoptions FROM pg_user_mappings WHERE srvname = 'zsbx';
SET ROLE zcrm_opt_b;
SELECT usename, srvname, umoptions FROM pg_user_mappings WHERE srvname = 'zsbx';
SELECT t05.try($$SELECT umoptions FROM pg_user_mapping$$);
RESET ROLE;

-- Two servers now: the server must be named.
SELECT t05.try($$SELECT * FROM zcrm_mass_update('Leads', ARRAY[4150868000000224001]::bigint[], '{"City":"X"}')$$);
SELECT t05.try($$SELECT * FROM zcrm_mass_update('Leads', ARRAY[4150868000000224001]::bigint[], '{"City":"X"}', server => 'nosuch')$$);

-- No mapping, no USAGE: clear errors, and not a single request reaches the sandbox.
SET ROLE zcrm_opt_b;
SELECT t05.try($$SELECT * FROM zcrm_mass_update('Leads', ARRAY[4150868000000224001]::bigint[], '{"City":"X"}', server => 'zsbx')$$);
SET ROLE zcrm_opt_c;
SELECT t05.try($$SELECT * FROM zcrm_mass_update('Leads', ARRAY[4150868000000224001]::bigint[], '{"City":"X"}', server => 'zsbx')$$);
RESET ROLE;
SELECT (s ->> 'requests_total')::int AS requests, (s ->> 'token_requests')::int AS token_requests
FROM sbx.get('stats') AS s;

-- A PUBLIC mapping serves every role with USAGE that has none of its own.
CREATE USER MAPPING FOR PUBLIC SERVER zsbx
	OPTIONS (client_id '1000.SANDBOX2', client_secret 'sandbox-secret-2', refresh_token '1000.sandbox2.refresh');
SET ROLE zcrm_opt_b;
SELECT id, status FROM zcrm_mass_update('Leads', ARRAY[4150868000000224001]::bigint[], '{"City":"Lyon"}', server => 'zsbx');
SELECT usename, srvname, umoptions FROM pg_user_mappings WHERE srvname = 'zsbx' ORDER BY usename;
RESET ROLE;
SELECT method, path, status, client_id FROM jsonb_to_recordset(sbx.get('requests?limit=1') -> 'requests')
	AS r(method text, path text, status int, client_id text);

-- A wrong secret: 28000 naming the token endpoint's code, with a hint; no secret in it.
ALTER USER MAPPING FOR zcrm_opt_a SERVER zsbx OPTIONS (SET client_secret 'wrong-secret-value');
SET ROLE zcrm_opt_a;
SELECT t05.try($$SELECT * FROM zcrm_mass_update('Leads', ARRAY[4150868000000224001]::bigint[], '{"City":"X"}', server => 'zsbx')$$);
RESET ROLE;
ALTER USER MAPPING FOR zcrm_opt_a SERVER zsbx OPTIONS (SET refresh_token '1000.no.such.refresh', SET client_secret 'sandbox-secret');
SET ROLE zcrm_opt_a;
SELECT t05.try($$SELECT * FROM zcrm_mass_update('Leads', ARRAY[4150868000000224001]::bigint[], '{"City":"X"}', server => 'zsbx')$$);
RESET ROLE;

-- A fixed access_token skips OAuth: a garbage one is rejected once, without a token request.
ALTER SERVER zsbx OPTIONS (ADD api_domain :'sbx_url');
ALTER USER MAPPING FOR zcrm_opt_a SERVER zsbx
	OPTIONS (DROP client_id, DROP client_secret, DROP refresh_token, ADD access_token '1000.com.garbage');
SELECT (sbx.get('stats') ->> 'token_requests')::int AS token_requests_before \gset
SET ROLE zcrm_opt_a;
SELECT t05.try($$SELECT * FROM zcrm_mass_update('Leads', ARRAY[4150868000000224001]::bigint[], '{"City":"X"}', server => 'zsbx')$$);
RESET ROLE;
SELECT (sbx.get('stats') ->> 'token_requests')::int - :token_requests_before AS new_token_requests;

-- The token endpoint unreachable: 08006.
ALTER SERVER zsbx OPTIONS (SET accounts_url 'http://127.0.0.1:1', ADD connect_timeout_ms '2000');
SET ROLE zcrm_opt_b;
SELECT t05.try($$SELECT * FROM zcrm_mass_update('Leads', ARRAY[4150868000000224001]::bigint[], '{"City":"X"}', server => 'zsbx')$$);
RESET ROLE;

-- Secrets stay out of the server log even when PostgreSQL itself refuses a
-- CREATE/ALTER USER MAPPING (its STATEMENT and CONTEXT lines used to carry
-- the secrets), and with log_statement = 'ddl' (the logged statement is cut
-- before its OPTIONS).  The log is the cluster's pg.log, read from where it
-- stood before.
SELECT current_setting('massupdate_test.tmpdir') || '/pg.log' AS pglog \gset
SELECT size AS log_before FROM pg_stat_file(:'pglog') \gset
\set VERBOSITY terse
CREATE USER MAPPING FOR zcrm_opt_a SERVER zsbx
	OPTIONS (client_id '1000.SANDBOX', client_secret 'never-log-this-1', refresh_token 'never-log-this-2');
CREATE USER MAPPING FOR zcrm_no_such_role SERVER zsbx
	OPTIONS (client_id '1000.SANDBOX', client_secret 'never-log-this-3', refresh_token 'never-log-this-4');
ALTER USER MAPPING FOR zcrm_opt_a SERVER zsbx OPTIONS (ADD access_token 'never-log-this-5');
DO $$
BEGIN
	EXECUTE 'CREATE USER MAPPING FOR zcrm_opt_a SERVER zsbx OPTIONS (client_id ''x'', client_secret ''never-log-this-6'', refresh_token ''y'')';
END
$$;
\set VERBOSITY default
SET log_statement = 'ddl';
CREATE USER MAPPING FOR zcrm_opt_c SERVER zsbx
	OPTIONS (client_id '1000.SANDBOX', client_secret 'never-log-this-7', refresh_token 'never-log-this-8');
RESET log_statement;
DROP USER MAPPING FOR zcrm_opt_c SERVER zsbx;
SELECT size AS log_after FROM pg_stat_file(:'pglog') \gset
SELECT (SELECT count(*) FROM regexp_matches(t, 'never-log-this', 'g')) AS secrets_in_log,
	   (SELECT count(*) FROM regexp_matches(t, 'ERROR:  (user mapping for|role|option)', 'g')) AS errors_logged,
	   (SELECT count(*) FROM regexp_matches(t, 'statement: CREATE USER MAPPING FOR zcrm_opt_c SERVER zsbx\s+\[the rest is hidden by massupdate', 'g')) AS ddl_logged_cut
  FROM pg_read_file(:'pglog', :log_before, :log_after - :log_before) AS t;

DROP SERVER zopt;
DROP SERVER zsbx CASCADE;
DROP SCHEMA t05 CASCADE;
DROP ROLE zcrm_opt_a;
DROP ROLE zcrm_opt_b;
DROP ROLE zcrm_opt_c;
