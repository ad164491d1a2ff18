"""Issue 2, items 5 and 6: modules, URLs, methods, envelopes; concurrency and credits."""

import threading

from harness import (check, eq, expect_flat, expect_records, lead, leads, short, test,
                     wait_for)


@test()
def invalid_module(sb, ctx):
    for version in ("v8", "v7", "v2"):
        r = sb.mass_update("NoSuchModule", {"City": "X"}, ids=[lead(1)], version=version)
        expect_flat(r, 400, "INVALID_MODULE", "%s POST unknown module" % version)
        r = sb.job_status("NoSuchModule", "1", version=version)
        expect_flat(r, 400, "INVALID_MODULE", "%s status GET unknown module" % version)


@test()
def not_supported_v8(sb, ctx):
    for module in ("Services", "Appointments"):
        r = sb.mass_update(module, {"Name": "X"}, ids=["4150868000000800001"], version="v8")
        expect_flat(r, 400, "NOT_SUPPORTED", "v8 POST %s" % module)


@test()
def invalid_url_pattern(sb, ctx):
    tok = sb.token()
    for method, path in (("GET", "/crm/v8/Leads/actions/mass_updates"),
                         ("POST", "/crm/v8/Leads/actions/mass_update/extra"),
                         ("GET", "/crm/v8/settings/nothing"),
                         ("GET", "/crm/v9/Leads/actions/mass_update"),
                         ("GET", "/crm/v8"),
                         ("GET", "/nothing/here"),
                         ("GET", "/"),
                         ("POST", "/crm/v8/Leads/%s/extra/path" % lead(1))):
        body = {"data": [{"City": "X"}], "ids": [lead(1)]} if method == "POST" else None
        r = sb.request(method, path, body=body, token=tok)
        expect_flat(r, 404, "INVALID_URL_PATTERN", "%s %s" % (method, path))


@test()
def invalid_request_method(sb, ctx):
    tok = sb.token()
    for method in ("PUT", "DELETE", "PATCH"):
        for version in ("v8", "v7"):
            path = "/crm/%s/Leads/actions/mass_update" % version
            r = sb.request(method, path, body={"data": [{"City": "X"}], "ids": [lead(1)]},
                           token=tok)
            expect_flat(r, 400, "INVALID_REQUEST_METHOD", "%s %s" % (method, path))
    check(sb.record("Leads", lead(1)).get("City") != "X", "a refused method applied the update")


@test()
def malformed_bodies(sb, ctx):
    tok = sb.token()
    path = "/crm/v8/Leads/actions/mass_update"
    for what, body in (("not JSON", "{\"data\": [{\"City\": "),
                       ("empty body", ""),
                       ("a JSON array", "[]"),
                       ("a JSON string", "\"text\""),
                       ("nul byte", "{\"data\":[{\"City\":\"a\u0000b\"}],\"ids\":[\"%s\"]}"
                        .replace("\u0000", "\x00") % lead(1)),
                       ("ids not an array", "{\"data\":[{\"City\":\"X\"}],\"ids\":\"%s\"}"
                        % lead(1)),
                       ("id not digits", "{\"data\":[{\"City\":\"X\"}],\"ids\":[\"12ab\"]}"),
                       ("id an object", "{\"data\":[{\"City\":\"X\"}],\"ids\":[{\"id\":1}]}"),
                       ("huge id", "{\"data\":[{\"City\":\"X\"}],\"ids\":[\"%s\"]}" % ("9" * 40)),
                       ("negative id", "{\"data\":[{\"City\":\"X\"}],\"ids\":[-5]}"),
                       ("over_write not boolean",
                        "{\"data\":[{\"City\":\"X\"}],\"ids\":[\"%s\"],\"over_write\":\"yes\"}"
                        % lead(1))):
        r = sb.request("POST", path, body=body, token=tok, content_type="application/json")
        check(r.status in (200, 207, 400) and isinstance(r.json, dict),
              "%s: expected a JSON answer with HTTP 400 (or a per-record answer), got %r"
              % (what, r))
        if "code" in r.json:
            expect_flat(r, 400, r.json["code"], what)
        else:
            for e in r.json.get("data", []):
                check(e.get("status") == "error", "%s: an entry succeeded: %s" % (what, short(e)))
    # still serving
    r = sb.mass_update("Leads", {"City": "Alive"}, ids=[lead(2)])
    expect_records(r, 200, "a good call after malformed ones")


@test()
def large_body_and_keepalive(sb, ctx):
    conn = sb.connect()
    try:
        for i in range(5):
            r = sb.request("POST", "/crm/v8/Leads/actions/mass_update",
                           body={"data": [{"City": "K%d" % i}], "ids": leads(11 + i * 500, 500)},
                           token=sb.token(), conn=conn)
            got = expect_records(r, 200, "keep-alive call %d" % i)
            eq(len(got), 500, "entries of keep-alive call %d" % i)
        r = sb.request("GET", "/crm/v8/Leads/%s" % lead(2510), token=sb.token(), conn=conn)
        eq(r.status, 200, "GET on the same connection")
        eq(r.json["data"][0].get("City"), "K4", "Lead 2510 City")
    finally:
        conn.close()


def parallel(sb, n, make_call):
    """Runs n calls at once (a barrier releases them together); returns responses."""
    barrier = threading.Barrier(n)
    out = [None] * n

    def run(i):
        conn = sb.connect()
        conn.connect()
        try:
            barrier.wait(timeout=10)
            out[i] = make_call(i, conn)
        except Exception as e:  # recorded for the test to report
            out[i] = e
        finally:
            conn.close()
    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return out


def one_update(sb, tok):
    def call(i, conn):
        return sb.request("POST", "/crm/v8/Leads/actions/mass_update",
                          body={"data": [{"City": "P%d" % i}], "ids": [lead(200 + i)]},
                          token=tok, conn=conn)
    return call


@test(args=("--concurrency-limit", "1", "--latency-ms", "700"))
def concurrency_limit_429(sb, ctx):
    tok = sb.token()
    out = parallel(sb, 2, one_update(sb, tok))
    for r in out:
        check(not isinstance(r, Exception), "a parallel call raised %r" % r)
    statuses = sorted(r.status for r in out)
    eq(statuses, [200, 429], "two parallel calls with --concurrency-limit 1 (%s)" % out)
    limited = [r for r in out if r.status == 429][0]
    expect_flat(limited, 429, "TOO_MANY_REQUESTS", "the call over the limit")
    check("retry-after" not in limited.headers, "Zoho sends no Retry-After")
    st = sb.stats()
    eq(st.get("responses_429"), 1, "stats responses_429")
    eq(st.get("mass_update_calls"), 2, "stats mass_update_calls (the refused call counts)")
    eq(sorted(e.get("status") for e in sb.requests_log()), [200, 429],
       "logged statuses (every received request is logged)")
    # once the first is done, a call is accepted again
    r = sb.mass_update("Leads", {"City": "Later"}, ids=[lead(300)])
    expect_records(r, 200, "a call after the parallel ones")


@test(args=("--latency-ms", "1500"))
def concurrency_default_limit_10(sb, ctx):
    tok = sb.token()
    out = parallel(sb, 12, one_update(sb, tok))
    for r in out:
        check(not isinstance(r, Exception), "a parallel call raised %r" % r)
    ok = [r for r in out if r.status == 200]
    limited = [r for r in out if r.status == 429]
    eq((len(ok), len(limited)), (10, 2),
       "12 parallel calls with the default limit 10: (200s, 429s); statuses %s"
       % sorted(r.status for r in out))
    for r in limited:
        expect_flat(r, 429, "TOO_MANY_REQUESTS", "call over the default limit")
    st = sb.stats()
    check(st.get("peak_concurrent", 0) >= 10, "stats peak_concurrent %r after 10 calls in flight"
          % st.get("peak_concurrent"))
    eq(st.get("responses_429"), 2, "stats responses_429")


@test()
def concurrency_limit_faults(sb, ctx):
    sb.faults(concurrency_limit=2, latency_ms=1000)
    tok = sb.token()
    out = parallel(sb, 3, one_update(sb, tok))
    for r in out:
        check(not isinstance(r, Exception), "a parallel call raised %r" % r)
    eq(sorted(r.status for r in out), [200, 200, 429], "3 parallel calls with faults limit 2")
    # token and control requests are not CRM requests: never limited
    sb.reset()
    sb.faults(concurrency_limit=1, latency_ms=1000)
    results = {}

    def slow():
        results["crm"] = sb.mass_update("Leads", {"City": "Slow"}, ids=[lead(301)], token=tok)
    t = threading.Thread(target=slow)
    t.start()
    wait_for(lambda: sb.stats().get("peak_concurrent", 0) >= 1, 5,
             what="the slow call to be in flight")
    tr = sb.token_request("SANDBOX2")
    st = sb.control("GET", "stats")
    t.join(10)
    eq(tr.status, 200, "token request while the limit is used up: %r" % tr)
    check("access_token" in (tr.json or {}), "token request while the limit is used: %r" % tr)
    eq(st.status, 200, "stats while the limit is used up: %r" % st)
    check(tr.elapsed < 0.5, "token request delayed %.2f s by latency_ms meant for CRM requests"
          % tr.elapsed)
    check(st.elapsed < 0.5, "stats delayed %.2f s by latency_ms meant for CRM requests"
          % st.elapsed)
    eq(results["crm"].status, 200, "the slow call")
    sb.tokens["SANDBOX2"] = tr.json["access_token"]


def credit_header(r):
    return r.headers.get("x-api-credits-remaining")


@test(args=("--daily-credits", "10"))
def daily_credits(sb, ctx):
    tok = sb.token()
    for n in range(1, 11):
        r = sb.mass_update("Leads", {"City": "C%d" % n}, ids=[lead(400 + n)], token=tok)
        expect_records(r, 200, "call %d of 10 credits" % n)
        h = credit_header(r)
        if n < 5:
            check(h is None, "call %d of 10: X-API-CREDITS-REMAINING sent before half the "
                  "credits were used: %r" % (n, h))
        elif n > 5:
            check(h is not None, "call %d of 10: no X-API-CREDITS-REMAINING once half is used" % n)
        if h is not None:
            eq(h.strip(), str(10 - n), "call %d of 10: X-API-CREDITS-REMAINING" % n)
    for n in (11, 12):
        r = sb.mass_update("Leads", {"City": "C%d" % n}, ids=[lead(400 + n)], token=tok)
        expect_flat(r, 429, "TOO_MANY_REQUESTS", "call %d with no credits left" % n)
    r = sb.job_status("Leads", "1", version="v7", token=tok)
    expect_flat(r, 429, "TOO_MANY_REQUESTS", "status GET with no credits left")
    eq(sb.stats().get("responses_429"), 3, "stats responses_429 after three refused calls")
    # control endpoints still answer; reset restores the credits
    sb.reset()
    r = sb.mass_update("Leads", {"City": "Fresh"}, ids=[lead(420)], token=tok)
    expect_records(r, 200, "a call after reset")
    eq(credit_header(r), None, "X-API-CREDITS-REMAINING after reset")


@test()
def daily_credits_faults(sb, ctx):
    tok = sb.token()
    r = sb.mass_update("Leads", {"City": "Unlimited"}, ids=[lead(430)], token=tok)
    expect_records(r, 200, "a call with unlimited credits")
    eq(credit_header(r), None, "X-API-CREDITS-REMAINING with unlimited credits")
    sb.reset()
    sb.faults(daily_credits=4)
    seen = []
    for n in range(1, 5):
        r = sb.mass_update("Leads", {"City": "F%d" % n}, ids=[lead(430 + n)], token=tok)
        expect_records(r, 200, "call %d of 4 credits" % n)
        seen.append(credit_header(r))
    check(seen[0] is None, "call 1 of 4: X-API-CREDITS-REMAINING %r before half is used" % seen[0])
    eq([h.strip() if h else h for h in seen[2:]], ["1", "0"],
       "calls 3 and 4 of 4: X-API-CREDITS-REMAINING")
    r = sb.mass_update("Leads", {"City": "F5"}, ids=[lead(435)], token=tok)
    expect_flat(r, 429, "TOO_MANY_REQUESTS", "call 5 of 4 credits")
    # every kind of CRM call costs one credit: status, record and settings GETs too
    sb.reset()
    sb.faults(daily_credits=6)
    calls = [("POST", lambda: sb.mass_update("Leads", {"City": "G"}, ids=[lead(440)], token=tok)),
             ("status GET", lambda: sb.job_status("Leads", "1", version="v7", token=tok)),
             ("record GET", lambda: sb.request("GET", "/crm/v8/Leads/%s" % lead(440), token=tok)),
             ("fields GET", lambda: sb.request("GET", "/crm/v8/settings/fields?module=Leads",
                                               token=tok)),
             ("views GET", lambda: sb.request("GET", "/crm/v8/settings/custom_views?module=Leads",
                                              token=tok)),
             ("POST", lambda: sb.mass_update("Leads", {"City": "H"}, ids=[lead(441)], token=tok))]
    for n, (what, call) in enumerate(calls, 1):
        r = call()
        check(r.status in (200, 404), "credit call %d (%s): %r" % (n, what, r))
        h = credit_header(r)
        if n > 3:
            eq(h.strip() if h else h, str(6 - n), "call %d of 6 (%s): X-API-CREDITS-REMAINING"
               % (n, what))
    r = sb.request("GET", "/crm/v8/Leads/%s" % lead(440), token=tok)
    expect_flat(r, 429, "TOO_MANY_REQUESTS", "record GET with no credits left")
    # raising the limit through faults lets calls through again
    sb.faults(daily_credits=100)
    r = sb.mass_update("Leads", {"City": "F6"}, ids=[lead(436)], token=tok)
    expect_records(r, 200, "call after raising daily_credits to 100")
