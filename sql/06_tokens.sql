--
-- 06_tokens: the access token cache: refresh before expiry, the
-- "Access Denied" back-off, invalidation by ALTER, and a data-centre
-- mismatch that ends after one refresh and retry.
--
-- t06.try(sql) shows an error's SQLSTATE, message, detail and hint, with
-- times and countdowns replaced so the output is stable.
CREATE SCHEMA t06;
CREATE FUNCTION t06.try(sql text) RETURNS text LANGUAGE sql AS $$
	SELECT sbx.try(sql, true, ARRAY[
		'\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(\.\d+)?([+-]\d\d(:\d\d)?)?', '<time>',
		'\d+ s more', '<n> s more'])
$$;
CREATE FUNCTION t06.tokens(base text) RETURNS int LANGUAGE sql
AS $$ SELECT (sbx.get('stats', base) ->> 'token_requests')::int $$;
SELECT sbx.post('reset') ->> 'ok' AS reset;

-- 1. Tokens that live 2 seconds: a call on either side of expiry, one refresh
-- in between, made before the call (no 401).
SELECT sbx.start_sandbox('--token-ttl 2') AS ttl_url \gset
CREATE SERVER zttl FOREIGN DATA WRAPPER zcrm OPTIONS (accounts_url :'ttl_url');
CREATE USER MAPPING FOR CURRENT_USER SERVER zttl
	OPTIONS (client_id '1000.SANDBOX', client_secret 'sandbox-secret', refresh_token '1000.sandbox.refresh');
SELECT id, status FROM zcrm_mass_update('Leads', ARRAY[4150868000000224001]::bigint[], '{"City":"Nantes"}', server => 'zttl');
SELECT id, status FROM zcrm_mass_update('Leads', ARRAY[4150868000000224002]::bigint[], '{"City":"Nantes"}', server => 'zttl');
SELECT t06.tokens(:'ttl_url') AS token_requests_before_expiry;
SELECT pg_sleep(2.1);		-- the token's lifetime passes
SELECT id, status FROM zcrm_mass_update('Leads', ARRAY[4150868000000224001]::bigint[], '{"City":"Rennes"}', server => 'zttl');
SELECT s ->> 'token_requests' AS token_requests, s ->> 'tokens_issued' AS tokens_issued,
	s -> 'responses_by_status' ? '401' AS any_401
FROM sbx.get('stats', :'ttl_url') AS s;

-- ALTER SERVER and ALTER USER MAPPING each start over with a new token.
ALTER SERVER zttl OPTIONS (ADD max_retries '2');
SELECT id, status FROM zcrm_mass_update('Leads', ARRAY[4150868000000224001]::bigint[], '{"City":"Brest"}', server => 'zttl');
SELECT t06.tokens(:'ttl_url') AS token_requests_after_alter_server;
ALTER USER MAPPING FOR CURRENT_USER SERVER zttl OPTIONS (SET client_id '1000.SANDBOX');
SELECT id, status FROM zcrm_mass_update('Leads', ARRAY[4150868000000224001]::bigint[], '{"City":"Vannes"}', server => 'zttl');
SELECT t06.tokens(:'ttl_url') AS token_requests_after_alter_mapping;

-- 2. "Access Denied": the refresh token's ten tokens per ten minutes are used
-- up (by curl here).  The refused request is the last one for
-- massupdate.token_backoff; the errors say why and until when.
SELECT sbx.start_sandbox('') AS den_url \gset
SELECT sbx.run(format('for i in 1 2 3 4 5 6 7 8 9 10; do curl -sS -o /dev/null -d grant_type=refresh_token -d client_id=1000.SANDBOX -d client_secret=sandbox-secret -d refresh_token=1000.sandbox.refresh %s/oauth/v2/token; done; echo done',
	:'den_url')) AS burnt;
CREATE SERVER zden FOREIGN DATA WRAPPER zcrm OPTIONS (accounts_url :'den_url');
CREATE USER MAPPING FOR CURRENT_USER SERVER zden
	OPTIONS (client_id '1000.SANDBOX', client_secret 'sandbox-secret', refresh_token '1000.sandbox.refresh');
SELECT t06.try($$SELECT * FROM zcrm_mass_update('Leads', ARRAY[4150868000000224001]::bigint[], '{"City":"X"}', server => 'zden')$$);
SELECT t06.tokens(:'den_url') AS token_requests;
SELECT t06.try($$SELECT * FROM zcrm_mass_update('Leads', ARRAY[4150868000000224001]::bigint[], '{"City":"X"}', server => 'zden')$$);
SELECT t06.try($$SELECT * FROM zcrm_mass_update('Leads', ARRAY[4150868000000224002]::bigint[], '{"City":"X"}', server => 'zden')$$);
SELECT t06.tokens(:'den_url') AS token_requests_during_backoff;
-- ALTER ends the back-off: one more request (refused again, the window is still full).
ALTER USER MAPPING FOR CURRENT_USER SERVER zden OPTIONS (SET client_id '1000.SANDBOX');
SET massupdate.token_backoff = '1s';
SELECT t06.try($$SELECT * FROM zcrm_mass_update('Leads', ARRAY[4150868000000224001]::bigint[], '{"City":"X"}', server => 'zden')$$);
SELECT t06.tokens(:'den_url') AS token_requests_after_alter;
-- A back-off of one second: over after a second, then one request again.
SELECT sbx.wait($$t06.try('SELECT * FROM zcrm_mass_update(''Leads'', ARRAY[4150868000000224001]::bigint[], ''{"City":"X"}'', server => ''zden'')') NOT LIKE '%suspended%'$$, '10s') AS backoff_over;
SELECT t06.tokens(:'den_url') AS token_requests_after_backoff;
RESET massupdate.token_backoff;

-- 3. A token minted by the accounts server of another data centre: the CRM
-- rejects it, one refresh and one retry, then an error that points at the
-- data centres; no loop.
SELECT sbx.start_sandbox('--dc eu') AS eu_url \gset
SELECT sbx.url() AS main_url \gset
SELECT sbx.post('reset') ->> 'ok' AS reset;
CREATE SERVER zdc FOREIGN DATA WRAPPER zcrm OPTIONS (accounts_url :'eu_url', api_domain :'main_url');
CREATE USER MAPPING FOR CURRENT_USER SERVER zdc
	OPTIONS (client_id '1000.SANDBOX', client_secret 'sandbox-secret', refresh_token '1000.sandbox.refresh');
SELECT t06.try($$SELECT * FROM zcrm_mass_update('Leads', ARRAY[4150868000000224001]::bigint[], '{"City":"X"}', server => 'zdc')$$);
SELECT t06.tokens(:'eu_url') AS eu_token_requests;
SELECT s ->> 'mass_update_calls' AS crm_calls, s -> 'responses_by_status' ->> '401' AS answered_401
FROM sbx.get('stats') AS s;

DROP SERVER zttl CASCADE;
DROP SERVER zden CASCADE;
DROP SERVER zdc CASCADE;
SELECT sbx.stop_sandboxes();
DROP SCHEMA t06 CASCADE;
