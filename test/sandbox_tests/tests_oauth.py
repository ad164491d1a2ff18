"""Issue 2, item 1: OAuth, tokens, scopes."""

import time

from harness import CLIENTS, CV_ALL_LEADS, TestFailure, check, eq, expect_flat, lead, test


def expect_token(resp, sb, ttl, what):
    check(resp.status == 200 and isinstance(resp.json, dict),
          "%s: expected HTTP 200 JSON, got %r" % (what, resp))
    body = resp.json
    for k in ("access_token", "api_domain", "token_type", "expires_in"):
        check(k in body, "%s: no %s in %r" % (what, k, body))
    check(isinstance(body["access_token"], str) and len(body["access_token"]) >= 8,
          "%s: access_token %r" % (what, body["access_token"]))
    eq(body["api_domain"], sb.base, "%s: api_domain" % what)
    check(isinstance(body["token_type"], str) and body["token_type"],
          "%s: token_type %r" % (what, body["token_type"]))
    check(isinstance(body["expires_in"], int) and not isinstance(body["expires_in"], bool),
          "%s: expires_in not an integer: %r" % (what, body["expires_in"]))
    eq(body["expires_in"], ttl, "%s: expires_in" % what)
    check("refresh_token" not in body, "%s: a refresh answer carries no refresh_token" % what)
    check("error" not in body, "%s: error key in a token answer: %r" % (what, body))
    return body["access_token"]


def works(sb, token, version="v8"):
    """True when the token is accepted for a mass update of one Lead."""
    resp = sb.mass_update("Leads", {"City": "Tokentown"}, ids=[lead(100)],
                          version=version, token=token)
    return resp


@test()
def oauth_form_body(sb, ctx):
    resp = sb.token_request("SANDBOX2", style="form")
    token = expect_token(resp, sb, 3600, "form-body token request")
    r = works(sb, token)
    eq(r.status, 200, "mass update with the new token: %r" % r)


@test()
def oauth_query_string(sb, ctx):
    resp = sb.token_request("SANDBOX2", style="query")
    token = expect_token(resp, sb, 3600, "query-string token request")
    r = works(sb, token)
    eq(r.status, 200, "mass update with the new token: %r" % r)


@test()
def oauth_tokens_differ(sb, ctx):
    a = expect_token(sb.token_request("SANDBOX2"), sb, 3600, "first token")
    b = expect_token(sb.token_request("SANDBOX2"), sb, 3600, "second token")
    check(a != b, "two token requests returned the same access_token")
    for t in (a, b):
        eq(works(sb, t).status, 200, "mass update with either token")


@test()
def oauth_invalid_client(sb, ctx):
    resp = sb.token_request("SANDBOX", secret="wrong-secret")
    check(isinstance(resp.json, dict), "wrong secret: not JSON: %r" % resp)
    eq(resp.json.get("error"), "invalid_client", "wrong secret: error (%r)" % resp)
    check("access_token" not in resp.json, "wrong secret: got an access_token")
    resp = sb.token_request("SANDBOX", client_id="1000.NOSUCHCLIENT")
    check(isinstance(resp.json, dict), "unknown client: not JSON: %r" % resp)
    eq(resp.json.get("error"), "invalid_client", "unknown client_id: error (%r)" % resp)
    check("access_token" not in resp.json, "unknown client: got an access_token")


@test()
def oauth_invalid_code(sb, ctx):
    resp = sb.token_request("SANDBOX", refresh="1000.no.such.refresh")
    check(isinstance(resp.json, dict), "unknown refresh token: not JSON: %r" % resp)
    eq(resp.json.get("error"), "invalid_code", "unknown refresh token: error (%r)" % resp)
    check("access_token" not in resp.json, "unknown refresh token: got an access_token")
    # another client's refresh token is not this client's
    resp = sb.token_request("SANDBOX", refresh=CLIENTS["SANDBOX2"][2])
    check(isinstance(resp.json, dict) and "access_token" not in resp.json,
          "client 1000.SANDBOX with 1000.SANDBOX2's refresh token got a token: %r" % resp)


@test()
def oauth_eleventh_token_access_denied(sb, ctx):
    issued = []
    for i in range(10):
        resp = sb.token_request("SANDBOX2")
        issued.append(expect_token(resp, sb, 3600, "token %d of 10" % (i + 1)))
    resp = sb.token_request("SANDBOX2")
    eq(resp.status, 200, "11th token request within 10 minutes: HTTP status (%r)" % resp)
    check(isinstance(resp.json, dict), "11th token: not JSON: %r" % resp)
    eq(resp.json.get("error"), "Access Denied", "11th token: error (%r)" % resp)
    check("access_token" not in resp.json, "11th token: got an access_token: %r" % resp)
    # the query-string form is the same refresh token: denied too
    resp = sb.token_request("SANDBOX2", style="query")
    check(isinstance(resp.json, dict) and resp.json.get("error") == "Access Denied",
          "12th token (query string): expected Access Denied, got %r" % resp)
    # tokens already issued keep working, and other refresh tokens are not throttled
    eq(works(sb, issued[-1]).status, 200, "the 10th token after the denial")
    expect_token(sb.token_request("SANDBOX"), sb, 3600, "another client's token")
    # reset clears the issuance windows; tokens issued stay valid
    sb.reset()
    expect_token(sb.token_request("SANDBOX2"), sb, 3600, "token after reset")
    eq(works(sb, issued[0]).status, 200, "a token issued before reset, after reset")
    sb.tokens.pop("SANDBOX2", None)


def wait_expired(sb, token, issued_at, version="v8"):
    """Uses token until a 401 arrives; checks it was valid for its first half second."""
    first = True
    while True:
        resp = sb.job_status("Leads", "1", version="v7", token=token)
        age = time.monotonic() - issued_at
        if resp.status != 401:
            check(resp.status == 404, "status GET of an unknown job: %r" % resp)
            first = False
        else:
            if first and age < 0.5:
                raise TestFailure("token with expires_in 1 refused %.2f s after issue: %r"
                                  % (age, resp))
            expect_flat(resp, 401, "INVALID_TOKEN", "expired token")
            return age
        if age > 4.0:
            raise TestFailure("token with expires_in 1 still accepted %.1f s after issue"
                              % age)
        time.sleep(0.05)


@test(args=("--token-ttl", "1"))
def token_expires_cmdline_ttl(sb, ctx):
    t0 = time.monotonic()
    resp = sb.token_request("SANDBOX")
    token = expect_token(resp, sb, 1, "token with --token-ttl 1")
    r = works(sb, token)
    if time.monotonic() - t0 < 0.5:
        eq(r.status, 200, "fresh token used at once: %r" % r)
    wait_expired(sb, token, t0)
    r = works(sb, token)
    expect_flat(r, 401, "INVALID_TOKEN", "mass update POST with an expired token")
    # a new token works again
    t1 = time.monotonic()
    fresh = expect_token(sb.token_request("SANDBOX"), sb, 1, "new token")
    r = works(sb, fresh)
    if time.monotonic() - t1 < 0.5:
        eq(r.status, 200, "a new token after the expiry: %r" % r)


@test()
def token_expires_faults_ttl(sb, ctx):
    sb.faults(token_ttl=1)
    t0 = time.monotonic()
    token = expect_token(sb.token_request("SANDBOX2"), sb, 1, "token after faults token_ttl 1")
    wait_expired(sb, token, t0)
    sb.reset()
    token = expect_token(sb.token_request("SANDBOX2"), sb, 3600,
                         "token after reset (faults back to --token-ttl 3600)")
    sb.tokens["SANDBOX2"] = token


@test()
def unknown_token_invalid(sb, ctx):
    for tok in ("1000.0123456789abcdef0123456789abcdef.0123456789abcdef0123456789abcdef",
                "x", sb.token("SANDBOX") + "x"):
        r = sb.mass_update("Leads", {"City": "X"}, ids=[lead(1)], token=tok)
        expect_flat(r, 401, "INVALID_TOKEN", "mass update with unknown token %r" % tok[:20])
        r = sb.job_status("Leads", "1", version="v8", token=tok)
        expect_flat(r, 401, "INVALID_TOKEN", "status GET with unknown token")


@test()
def no_authorization_header(sb, ctx):
    for path, method, body in (
            ("/crm/v8/Leads/actions/mass_update", "POST",
             {"data": [{"City": "X"}], "ids": [lead(1)]}),
            ("/crm/v7/Leads/actions/mass_update?job_id=1", "GET", None),
            ("/crm/v8/Leads/%s" % lead(1), "GET", None),
            ("/crm/v8/settings/fields?module=Leads", "GET", None)):
        r = sb.request(method, path, body=body)
        expect_flat(r, 401, "AUTHENTICATION_FAILURE", "%s %s without Authorization"
                    % (method, path))


@test(own=True)
def token_from_other_dc_unknown(sb, ctx):
    eu = ctx.start(["--dc", "eu"])
    eu_token = expect_token(eu.token_request("SANDBOX"), eu, 3600, "--dc eu token")
    com_token = expect_token(sb.token_request("SANDBOX"), sb, 3600, "--dc com token")
    eq(works(eu, eu_token).status, 200, "eu token on the eu sandbox")
    eq(works(sb, com_token).status, 200, "com token on the com sandbox")
    expect_flat(works(sb, eu_token), 401, "INVALID_TOKEN", "eu token on a --dc com sandbox")
    expect_flat(works(eu, com_token), 401, "INVALID_TOKEN", "com token on a --dc eu sandbox")


@test()
def readonly_client_scopes(sb, ctx):
    ro = sb.token("READONLY")
    r = sb.mass_update("Leads", {"City": "X"}, ids=[lead(1)], token=ro)
    expect_flat(r, 401, "OAUTH_SCOPE_MISMATCH", "ids mass update with a READ-only token")
    r = sb.mass_update("Leads", {"City": "X"}, cvid=CV_ALL_LEADS, token=ro)
    expect_flat(r, 401, "OAUTH_SCOPE_MISMATCH", "cvid mass update with a READ-only token")
    # the record was not changed
    check(sb.record("Leads", lead(1)).get("City") != "X", "READ-only POST changed the record")
    # READ is enough for the status GET, record GET and settings GETs
    r = sb.mass_update("Leads", {"City": "Readville"}, cvid=CV_ALL_LEADS)
    check(r.status == 200 and r.json and r.json.get("data"), "scheduling a job: %r" % r)
    job_id = r.json["data"][0]["details"]["job_id"]
    r = sb.job_status("Leads", job_id, token=ro)
    check(r.status == 200 and isinstance(r.json, dict) and "data" in r.json,
          "status GET with a READ-only token: %r" % r)
    r = sb.job_status("Leads", "4150868000999999999", version="v7", token=ro)
    expect_flat(r, 404, "NOT_FOUND", "status GET of an unknown job with a READ-only token")
    sb.record("Leads", lead(2), client="READONLY")
    sb.fields("Leads", client="READONLY")
    r = sb.request("GET", "/crm/v8/settings/custom_views?module=Leads", token=ro)
    eq(r.status, 200, "custom_views with a READ-only token: %r" % r)


def fixture_clients():
    """OAuth clients of the default fixture with their scopes, if it can be read."""
    import json
    import os
    import harness
    path = os.path.join(os.path.dirname(os.path.dirname(harness.BINARY)),
                        "fixtures", "sandbox.json")
    try:
        with open(path) as f:
            fx = json.load(f)
    except (OSError, ValueError):
        return None
    found = []

    def walk(node):
        if isinstance(node, dict):
            refresh = node.get("refresh_token", node.get("refresh_tokens"))
            if ("client_id" in node and "client_secret" in node
                    and refresh and "scopes" in node):
                scopes = node["scopes"]
                if isinstance(scopes, str):
                    scopes = [s for s in scopes.replace(" ", ",").split(",") if s]
                if isinstance(refresh, list):
                    refresh = refresh[0]
                found.append((node["client_id"], node["client_secret"],
                              refresh, list(scopes)))
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)
    walk(fx)
    return found


def scope_allows(scopes, module, op):
    """DESIGN / issue item 1: POST needs mass_update.UPDATE|ALL or
    mass_update.{module}.UPDATE|ALL; GET needs READ|ALL; module part case-insensitive."""
    want = {op.upper(), "ALL"}
    for s in scopes:
        parts = s.split(".")
        if len(parts) < 3 or parts[0].lower() != "zohocrm" or parts[1].lower() != "mass_update":
            continue
        if len(parts) == 3 and parts[2].upper() in want:
            return True
        if (len(parts) == 4 and parts[2].lower().replace("_", "") == module.lower().replace("_", "")
                and parts[3].upper() in want):
            return True
    return False


@test()
def fixture_client_scopes(sb, ctx):
    """Every OAuth client of the fixture is allowed exactly what its scopes say."""
    clients = fixture_clients()
    check(clients, "could not read OAuth clients (client_id, client_secret, refresh_token, "
          "scopes) from test/fixtures/sandbox.json")
    ids = {c[0] for c in clients}
    for cid in ("1000.SANDBOX", "1000.SANDBOX2", "1000.READONLY"):
        check(cid in ids, "fixture has no client %s" % cid)
    module_specific = False
    for cid, secret, refresh, scopes in clients:
        resp = sb.token_request(cid, secret=secret, refresh=refresh, client_id=cid)
        if not (isinstance(resp.json, dict) and "access_token" in resp.json):
            continue  # e.g. a client of another organisation
        tok = resp.json["access_token"]
        # record and settings GETs accept any valid token of the organisation
        r = sb.request("GET", "/crm/v8/Leads/%s" % lead(51), token=tok)
        eq(r.status, 200, "client %s (scopes %s): record GET: %r" % (cid, scopes, r))
        r = sb.request("GET", "/crm/v8/settings/fields?module=Deals", token=tok)
        eq(r.status, 200, "client %s (scopes %s): fields GET: %r" % (cid, scopes, r))
        r = sb.request("GET", "/crm/v2/settings/custom_views?module=Leads", token=tok)
        eq(r.status, 200, "client %s (scopes %s): custom views GET: %r" % (cid, scopes, r))
        for module, rid in (("Leads", lead(50)), ("Deals", "4150868000000300050"),
                            ("Contacts", None)):
            for s in scopes:
                if s.lower().startswith("zohocrm.mass_update.%s." % module.lower()):
                    module_specific = True
            if rid is not None:
                field = {"City": "Scopeville"} if module == "Leads" else {"Next_Step": "Scope"}
                r = sb.mass_update(module, field, ids=[rid], token=tok)
                if scope_allows(scopes, module, "UPDATE"):
                    check(r.status == 200, "client %s scopes %s: POST %s: expected 200, got %r"
                          % (cid, scopes, module, r))
                else:
                    expect_flat(r, 401, "OAUTH_SCOPE_MISMATCH", "client %s scopes %s: POST %s"
                                % (cid, scopes, module))
            r = sb.job_status(module, "4150868000999999999", version="v7", token=tok)
            if scope_allows(scopes, module, "READ"):
                expect_flat(r, 404, "NOT_FOUND", "client %s scopes %s: status GET %s"
                            % (cid, scopes, module))
            else:
                expect_flat(r, 401, "OAUTH_SCOPE_MISMATCH", "client %s scopes %s: status GET %s"
                            % (cid, scopes, module))
    check(module_specific, "no fixture client has a module-specific scope "
          "(ZohoCRM.mass_update.{module}.UPDATE) to test")


@test()
def scope_module_part_case_insensitive(sb, ctx):
    """A client whose module scope is written in another case than the module's API name."""
    clients = fixture_clients() or []
    cases = []
    for cid, secret, refresh, scopes in clients:
        for s in scopes:
            parts = s.split(".")
            if len(parts) == 4 and parts[1].lower() == "mass_update":
                cases.append((cid, secret, refresh, scopes, parts[2]))
    odd = [c for c in cases if c[4] not in ("Leads", "Deals", "Contacts", "Accounts")
           and c[4].lower() in ("leads", "deals", "contacts", "accounts")]
    check(odd, "no fixture client with a module scope in non-API-name case "
          "(e.g. ZohoCRM.mass_update.leads.UPDATE) to test")
    for cid, secret, refresh, scopes, mod in odd:
        module = mod[0].upper() + mod[1:].lower()
        tok = sb.token_request(cid, secret=secret, refresh=refresh,
                               client_id=cid).json.get("access_token")
        check(tok, "no token for %s" % cid)
        rid = lead(60) if module == "Leads" else "4150868000000300060"
        field = {"City": "Casetown"} if module == "Leads" else {"Next_Step": "Case"}
        r = sb.mass_update(module, field, ids=[rid], token=tok)
        if scope_allows(scopes, module, "UPDATE"):
            check(r.status == 200, "client %s with scopes %s: POST %s: %r"
                  % (cid, scopes, module, r))
        if scope_allows(scopes, module, "READ"):
            r = sb.job_status(module, "4150868000999999999", version="v7", token=tok)
            expect_flat(r, 404, "NOT_FOUND", "client %s with scopes %s: status GET %s"
                        % (cid, scopes, module))
