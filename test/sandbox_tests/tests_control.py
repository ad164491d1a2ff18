"""Issue 2, item 7: control endpoints; fixture handles; settings endpoints."""

import http.client
import json
import threading
import time

from harness import (BLUEPRINT_LEAD, CV_ALL_LEADS, CV_BIG_CONTACTS, CV_EMPTY, CV_FAILING,
                     LOCKED_LEAD, TestFailure, UNAPPROVED_LEAD, check, deal, entry_for, eq,
                     expect_error_entry, expect_flat, expect_records, expect_success_entry, lead,
                     leads, short, test, wait_for)

STAT_INT_KEYS = ("requests_total", "mass_update_calls", "status_calls", "ids_received",
                 "max_ids_per_call", "peak_concurrent", "token_requests", "tokens_issued",
                 "responses_429")


def check_stats_shape(st):
    for k in STAT_INT_KEYS:
        check(k in st, "stats has no %s: %s" % (k, short(st)))
        check(isinstance(st[k], int) and not isinstance(st[k], bool),
              "stats %s is not an integer: %r" % (k, st[k]))
    check(isinstance(st.get("responses_by_status"), dict),
          "stats responses_by_status is not an object: %r" % st.get("responses_by_status"))
    for k, v in st["responses_by_status"].items():
        check(k.isdigit() and len(k) == 3 and isinstance(v, int),
              "responses_by_status entry %r: %r" % (k, v))


@test()
def stats_counting(sb, ctx):
    sb.reset()
    st = sb.stats()
    check_stats_shape(st)
    for k in STAT_INT_KEYS:
        eq(st[k], 0, "stats %s after reset" % k)
    eq(st["responses_by_status"], {}, "responses_by_status after reset")
    statuses = []

    def note(r):
        statuses.append(r.status)
        return r
    tok = note(sb.token_request("SANDBOX2")).json["access_token"]
    sb.tokens["SANDBOX2"] = tok
    note(sb.token_request("SANDBOX2", secret="bad"))
    note(sb.token_request("SANDBOX2", refresh="1000.bad.refresh"))
    expect_records(note(sb.mass_update("Leads", {"City": "S"}, ids=leads(1, 3), token=tok)), 200,
                   "3 ids")
    expect_records(note(sb.mass_update("Leads", {"City": "S"}, ids=leads(10, 5), token=tok)), 200,
                   "5 ids")
    r = note(sb.mass_update("Leads", {"City": "S"}, cvid=CV_FAILING, token=tok))
    job_id = r.json["data"][0]["details"]["job_id"]
    note(sb.job_status("Leads", job_id, token=tok))
    note(sb.job_status("Leads", job_id, version="v7", token=tok))
    note(sb.request("GET", "/crm/v8/Leads/%s" % lead(1)))                 # 401
    note(sb.request("GET", "/crm/v8/Leads/%s" % lead(1), token=tok))
    note(sb.request("GET", "/crm/v8/settings/fields?module=Leads", token=tok))
    st = sb.stats()
    check_stats_shape(st)
    want = {"requests_total": len(statuses), "mass_update_calls": 3, "status_calls": 2,
            "ids_received": 8, "max_ids_per_call": 5, "token_requests": 3, "tokens_issued": 1,
            "responses_429": 0}
    got = {k: st[k] for k in want}
    eq(got, want, "stats after known traffic")
    by_status = {}
    for s in statuses:
        by_status[str(s)] = by_status.get(str(s), 0) + 1
    eq(st["responses_by_status"], by_status, "responses_by_status")
    check(st["peak_concurrent"] >= 1, "peak_concurrent %r" % st["peak_concurrent"])
    eq(sb.stats(), st, "stats read twice (control requests are not counted)")


@test()
def reset_restores_everything(sb, ctx):
    tok = sb.token()
    before = sb.record("Leads", lead(80))
    expect_records(sb.mass_update("Leads", {"City": "Dirty"}, ids=[lead(80)]), 200, "update")
    sb.patch_record("Leads", lead(81), {"locked": True})
    sb.patch_record("Leads", str(BLUEPRINT_LEAD), {"blueprint": False})
    r = sb.create_records("Leads", 2, "4150868000008000001", {"City": "New"})
    eq(r.json, {"created": 2}, "records answer")
    sb.faults(job_rate=5)
    job_id = sb.mass_update("Leads", {"State": "Jobbed"}, cvid=CV_ALL_LEADS).json["data"][0][
        "details"]["job_id"]
    wait_for(lambda: sb.job_status("Leads", job_id).json["data"][0]["Status"] == "RUNNING", 5,
             what="the job to run")
    sb.faults(latency_ms=1000)
    sb.reset()
    # counters and log
    st = sb.stats()
    for k in STAT_INT_KEYS:
        eq(st[k], 0, "stats %s after reset" % k)
    eq(sb.requests_log(), [], "request log after reset")
    # faults back to the command line (no latency)
    r = sb.job_status("Leads", job_id, version="v7", token=tok)
    check(r.elapsed < 0.6, "latency still applied after reset (%.2f s)" % r.elapsed)
    # the job is gone and stopped
    expect_flat(r, 404, "NOT_FOUND", "status of a job from before reset (v7)")
    first = sb.record("Leads", lead(4999)).get("State")
    deadline = time.monotonic() + 0.6
    while time.monotonic() < deadline:
        check(sb.record("Leads", lead(4999)).get("State") == first,
              "a cancelled job kept updating records after reset")
        time.sleep(0.1)
    # records, flags, created records
    eq(sb.record("Leads", lead(80)), before, "Lead 80 after reset")
    r = sb.mass_update("Leads", {"Lead_Status": "Contacted"},
                       ids=[lead(81), str(BLUEPRINT_LEAD), "4150868000008000001"], token=tok)
    got = expect_records(r, 207, "update after reset")
    expect_success_entry(entry_for(got, lead(81)), lead(81))
    expect_error_entry(entry_for(got, str(BLUEPRINT_LEAD)), str(BLUEPRINT_LEAD),
                       "RECORD_IN_BLUEPRINT")
    expect_error_entry(entry_for(got, "4150868000008000001"), "4150868000008000001",
                       "INVALID_DATA")
    # and the job's view can be scheduled again
    r = sb.mass_update("Leads", {"State": "Again"}, cvid=CV_ALL_LEADS)
    eq(r.status, 200, "scheduling on the view after reset: %r" % r)


@test()
def faults_answer_and_partial_update(sb, ctx):
    r = sb.control("POST", "faults", body={"latency_ms": 1000})
    check(r.status == 200 and r.json == {"ok": True}, "faults answer: %r" % r)
    sb.faults(error_rate=0)          # latency_ms absent: unchanged
    r = sb.mass_update("Leads", {"City": "Slow"}, ids=[lead(90)])
    expect_records(r, 200, "call with latency")
    check(r.elapsed >= 1.0, "latency_ms 1000 kept after faults without it: call took %.3f s"
          % r.elapsed)
    st = sb.control("GET", "stats")
    check(st.elapsed < 0.5, "a control request was delayed %.2f s" % st.elapsed)
    tr = sb.token_request("SANDBOX2")
    check(tr.elapsed < 0.5, "a token request was delayed %.2f s" % tr.elapsed)
    sb.tokens["SANDBOX2"] = tr.json["access_token"]
    sb.faults(latency_ms=0)
    r = sb.mass_update("Leads", {"City": "Fast"}, ids=[lead(90)])
    check(r.elapsed < 0.5, "latency_ms 0: call took %.3f s" % r.elapsed)


@test()
def latency_added_after_processing(sb, ctx):
    """DESIGN 8.13: the update is applied when the request arrives; the answer waits."""
    tok = sb.token()
    sb.faults(latency_ms=1500)
    out = {}

    def slow():
        out["r"] = sb.mass_update("Leads", {"City": "Applied early"}, ids=[lead(92)], token=tok)
        out["t"] = time.monotonic()
    t = threading.Thread(target=slow)
    t0 = time.monotonic()
    t.start()
    wait_for(lambda: sb.stats().get("peak_concurrent", 0) >= 1, 5, what="the call to arrive")
    sb.faults(latency_ms=0)
    seen = wait_for(lambda: sb.record("Leads", lead(92)).get("City") == "Applied early"
                    and time.monotonic(), 5, what="the delayed call's update to show")
    t.join(10)
    check("r" in out, "the delayed call did not finish")
    expect_records(out["r"], 200, "the delayed call")
    check(seen < out["t"], "the update became visible only after the delayed answer "
          "(latency must be added after processing)")
    check(out["t"] - t0 >= 1.4, "the delayed call answered after %.2f s, want >= 1.5 s"
          % (out["t"] - t0))


@test(args=("--latency-ms", "800"))
def latency_cmdline_and_reset(sb, ctx):
    r = sb.mass_update("Leads", {"City": "L"}, ids=[lead(91)])
    expect_records(r, 200, "call")
    check(r.elapsed >= 0.8, "--latency-ms 800: call took %.3f s" % r.elapsed)
    sb.faults(latency_ms=0)
    r = sb.mass_update("Leads", {"City": "L"}, ids=[lead(91)])
    check(r.elapsed < 0.5, "faults latency_ms 0: call took %.3f s" % r.elapsed)
    sb.reset()
    r = sb.mass_update("Leads", {"City": "L"}, ids=[lead(91)])
    check(r.elapsed >= 0.8, "after reset (back to --latency-ms 800): call took %.3f s" % r.elapsed)


def fault_pattern(rate, n):
    """DESIGN 8.13: request n fails when floor(n * rate) > floor((n - 1) * rate)."""
    import math
    return [i for i in range(1, n + 1) if math.floor(i * rate) > math.floor((i - 1) * rate)]


@test()
def faults_error_rate_deterministic(sb, ctx):
    tok = sb.token()
    before = {i: sb.record("Leads", lead(100 + i)).get("City") for i in range(1, 13)}
    for rate, status in ((0.3, 503), (0.5, 500), (0.25, 502)):
        sb.reset()
        sb.faults(error_rate=rate, error_status=status)
        failed = []
        for i in range(1, 13):
            r = sb.mass_update("Leads", {"City": "E%d" % i}, ids=[lead(100 + i)], token=tok)
            if r.status == status:
                failed.append(i)
            else:
                expect_records(r, 200, "request %d with error_rate %s" % (i, rate))
        eq(failed, fault_pattern(rate, 12),
           "requests answered %d with error_rate %s (n counted from reset)" % (status, rate))
        log = sb.requests_log()
        eq([e.get("status") for e in log], [status if i in failed else 200 for i in range(1, 13)],
           "logged statuses")
        sb.faults(error_rate=0)
        for i in range(1, 13):
            want = before[i] if i in failed else "E%d" % i
            eq(sb.record("Leads", lead(100 + i)).get("City"), want,
               "Lead %d after error_rate %s (errors answer before any effect)" % (100 + i, rate))


@test()
def faults_error_rate_one(sb, ctx):
    tok = sb.token()
    sb.faults(error_rate=1, error_status=500)
    for what, call in (("POST", lambda: sb.mass_update("Leads", {"City": "Z"}, ids=[lead(1)],
                                                       token=tok)),
                       ("status GET", lambda: sb.job_status("Leads", "1", token=tok)),
                       ("record GET", lambda: sb.request("GET", "/crm/v8/Leads/%s" % lead(1),
                                                         token=tok))):
        eq(call().status, 500, "%s with error_rate 1" % what)
    # token and control requests are not faulted
    tr = sb.token_request("SANDBOX2")
    eq(tr.status, 200, "token request with error_rate 1: %r" % tr)
    check("access_token" in (tr.json or {}), "token request with error_rate 1: %r" % tr)
    sb.tokens["SANDBOX2"] = tr.json["access_token"]
    eq(sb.control("GET", "stats").status, 200, "stats with error_rate 1")


@test()
def faults_drop_applies_then_closes(sb, ctx):
    tok = sb.token()
    sb.faults(drop_rate=1)
    try:
        r = sb.mass_update("Leads", {"City": "Dropped"}, ids=[lead(95)], token=tok)
        raise TestFailure("drop_rate 1: got an answer %r" % r)
    except (http.client.HTTPException, ConnectionError) as e:
        pass
    except OSError as e:
        raise TestFailure("drop_rate 1: expected the connection closed, got %r" % e)
    sb.faults(drop_rate=0)
    eq(sb.record("Leads", lead(95)).get("City"), "Dropped",
       "a dropped request is applied before the connection closes")
    st = sb.stats()
    eq(st["mass_update_calls"], 1, "dropped call counted in mass_update_calls")
    log = sb.requests_log()
    eq(len(log), 2, "log entries (dropped POST, record GET)")
    eq(log[0].get("method"), "POST", "dropped request logged")
    # drop_rate 0.5: every second CRM request
    sb.reset()
    sb.faults(drop_rate=0.5)
    outcome = []
    for i in range(1, 5):
        try:
            r = sb.mass_update("Leads", {"City": "D%d" % i}, ids=[lead(95 + i)], token=tok)
            outcome.append(r.status)
        except (http.client.HTTPException, ConnectionError):
            outcome.append("dropped")
    eq(outcome, [200, "dropped", 200, "dropped"], "drop_rate 0.5 pattern")
    sb.faults(drop_rate=0)
    for i in range(1, 5):
        eq(sb.record("Leads", lead(95 + i)).get("City"), "D%d" % i, "Lead %d" % (95 + i))


@test()
def faults_job_rate_and_token_ttl(sb, ctx):
    sb.faults(token_ttl=77, job_rate=100000)
    tr = sb.token_request("SANDBOX2")
    eq((tr.json or {}).get("expires_in"), 77, "expires_in after faults token_ttl 77")
    sb.tokens["SANDBOX2"] = tr.json["access_token"]
    r = sb.mass_update("Leads", {"City": "Quick"}, cvid=CV_ALL_LEADS)
    job_id = r.json["data"][0]["details"]["job_id"]
    t0 = time.monotonic()
    wait_for(lambda: sb.job_status("Leads", job_id).json["data"][0]["Status"] == "COMPLETED", 5,
             what="a 5000-record job at job_rate 100000")
    check(time.monotonic() - t0 < 3, "job took too long")


@test()
def requests_log_shape(sb, ctx):
    tok = sb.token()
    ro = sb.token("READONLY")
    sb.reset()
    sb.token_request("SANDBOX2")                  # not logged
    sb.stats()                                     # not logged
    raw = '{ "data" : [ {"City":"Logged \u00e9"} ],\n "ids":["%s"] }' % lead(97)
    r1 = sb.request("POST", "/crm/v8/Leads/actions/mass_update", body=raw, token=tok,
                    content_type="application/json")
    r2 = sb.job_status("Leads", "4150868000999999999", version="v7", token=tok)
    r3 = sb.request("GET", "/crm/v2.1/Leads/%s" % lead(97), token=tok)
    r4 = sb.request("GET", "/crm/v8/Leads/%s" % lead(97))
    r5 = sb.mass_update("Leads", {"City": "RO"}, ids=[lead(97)], token=ro)
    log = sb.requests_log()
    eq(len(log), 5, "log entries: %s" % short(log, 800))
    for e in log:
        for k in ("seq", "method", "path", "query", "body", "status", "client_id"):
            check(k in e, "log entry without %s: %s" % (k, short(e)))
    seqs = [e["seq"] for e in log]
    check(all(isinstance(s, int) for s in seqs) and seqs == sorted(seqs)
          and len(set(seqs)) == 5, "seq not increasing integers: %s" % seqs)
    e = log[0]
    eq((e["method"], e["path"], e["status"], e["client_id"]),
       ("POST", "/crm/v8/Leads/actions/mass_update", r1.status, "1000.SANDBOX"), "entry 1")
    eq(e["body"], raw, "entry 1 body (raw request text)")
    check(e["query"] in ("", None), "entry 1 query %r" % e["query"])
    e = log[1]
    eq((e["method"], e["path"], e["query"], e["status"], e["client_id"]),
       ("GET", "/crm/v7/Leads/actions/mass_update", "job_id=4150868000999999999", 404,
        "1000.SANDBOX"), "entry 2")
    check(e["body"] in ("", None), "entry 2 body %r" % e["body"])
    e = log[2]
    eq((e["method"], e["path"], e["status"], e["client_id"]),
       ("GET", "/crm/v2.1/Leads/%s" % lead(97), r3.status, "1000.SANDBOX"), "entry 3")
    e = log[3]
    eq((e["path"], e["status"], e["client_id"]), ("/crm/v8/Leads/%s" % lead(97), 401, None),
       "entry 4 (no token)")
    e = log[4]
    eq((e["method"], e["status"], e["client_id"]), ("POST", 401, "1000.READONLY"),
       "entry 5 (READ-only token)")
    eq(r5.status, 401, "READ-only POST status")
    # limit keeps the newest, oldest first
    eq(sb.requests_log(limit=2), log[3:], "requests?limit=2")
    eq(sb.requests_log(limit=1000), log, "requests?limit=1000")
    # default limit 100
    for i in range(103):
        sb.request("GET", "/crm/v8/Leads/%s" % lead(1 + i), token=tok)
    log = sb.requests_log()
    eq(len(log), 100, "entries without limit (default 100)")
    eq(log[-1]["path"], "/crm/v8/Leads/%s" % lead(103), "newest entry last")
    eq(len(sb.requests_log(limit=500)), 108, "requests?limit=500 after 108 requests")


@test()
def patch_records_flags_and_values(sb, ctx):
    tok = sb.token()

    def one(rid, fields, module="Leads"):
        r = sb.mass_update(module, fields, ids=[rid], token=tok)
        check(isinstance(r.json, dict) and isinstance(r.json.get("data"), list) and r.json["data"],
              "update of %s: %r" % (rid, r))
        return r.json["data"][0]["code"]
    a, b, c = lead(70), lead(71), lead(72)
    sb.patch_record("Leads", a, {"blueprint": True})
    eq(one(a, {"Lead_Status": "Contacted"}), "RECORD_IN_BLUEPRINT", "after blueprint true")
    eq(one(a, {"City": "Free"}), "SUCCESS", "other field of a blueprint record")
    sb.patch_record("Leads", a, {"blueprint": False})
    eq(one(a, {"Lead_Status": "Contacted"}), "SUCCESS", "after blueprint false")
    sb.patch_record("Leads", b, {"locked": True})
    eq(one(b, {"City": "X"}), "RECORD_LOCKED", "after locked true")
    sb.patch_record("Leads", b, {"locked": False})
    eq(one(b, {"City": "X"}), "SUCCESS", "after locked false")
    sb.patch_record("Leads", c, {"approved": False})
    eq(one(c, {"City": "X"}), "NOT_APPROVED", "after approved false")
    sb.patch_record("Leads", c, {"approved": True})
    eq(one(c, {"City": "X"}), "SUCCESS", "after approved true")
    # the fixture's special Leads can be released too
    sb.patch_record("Leads", str(BLUEPRINT_LEAD), {"blueprint": False})
    eq(one(str(BLUEPRINT_LEAD), {"Lead_Status": "Contacted"}), "SUCCESS", "Lead ...224006 freed")
    sb.patch_record("Leads", str(LOCKED_LEAD), {"locked": False})
    eq(one(str(LOCKED_LEAD), {"City": "X"}), "SUCCESS", "Lead ...224007 unlocked")
    sb.patch_record("Leads", str(UNAPPROVED_LEAD), {"approved": True})
    eq(one(str(UNAPPROVED_LEAD), {"City": "X"}), "SUCCESS", "Lead ...224008 approved")
    # values, and an empty body
    sb.patch_record("Leads", a, {"values": {"City": "Patched", "No_of_Employees": 77,
                                            "Description": "set by PATCH"}})
    rec = sb.record("Leads", a)
    eq((rec.get("City"), rec.get("No_of_Employees"), rec.get("Description")),
       ("Patched", 77, "set by PATCH"), "values after PATCH")
    sb.patch_record("Leads", a, {})
    eq(sb.record("Leads", a).get("City"), "Patched", "after an empty PATCH")
    # another module
    sb.patch_record("Deals", deal(30), {"locked": True})
    eq(one(deal(30), {"Next_Step": "X"}, "Deals"), "RECORD_LOCKED", "locked Deal")
    # several flags at once
    sb.patch_record("Leads", b, {"locked": True, "approved": False, "values": {"City": "Both"}})
    check(one(b, {"City": "Y"}) in ("RECORD_LOCKED", "NOT_APPROVED"), "locked + not approved")
    eq(sb.record("Leads", b).get("City"), "Both", "City set by PATCH, not by the refused update")


@test(own=True)
def records_one_million(sb, ctx):
    first = 4150868100000000001
    t0 = time.monotonic()
    r = sb.create_records("Leads", 1000000, str(first), {"City": "Bulk", "No_of_Employees": 5},
                          timeout=120)
    took = time.monotonic() - t0
    check(r.status == 200 and r.json == {"created": 1000000},
          "POST /__sandbox/records count 1000000: %r" % r)
    check(took < 20, "creating 1,000,000 records took %.1f s (limit 20 s)" % took)
    last = str(first + 999999)
    rec = sb.record("Leads", last)
    eq((rec.get("City"), rec.get("No_of_Employees")), ("Bulk", 5), "last created record")
    ids = [str(first + 999999 - i) for i in range(500)]
    t1 = time.monotonic()
    r = sb.mass_update("Leads", {"City": "BulkUpdated"}, ids=ids)
    got = expect_records(r, 200, "500 of the created records")
    check(time.monotonic() - t1 < 2, "a 500-id update among 1,005,000 Leads took %.1f s"
          % (time.monotonic() - t1))
    eq(sb.record("Leads", last).get("City"), "BulkUpdated", "last record after update")
    eq(sb.record("Leads", str(first + 499999)).get("City"), "Bulk", "middle record untouched")
    sb.record("Leads", lead(1))      # the fixture's Leads are still there
    rss = sb.rss_kib()
    if "asan" not in sb.binary:      # ASan's shadow memory and redzones inflate RSS
        check(rss is not None and rss < 1024 * 1024,
              "RSS with 1,000,000 records: %s KiB (target < 1 GiB)" % rss)
    # reset drops them again
    t2 = time.monotonic()
    sb.reset()
    check(time.monotonic() - t2 < 10, "reset with 1,000,000 records took %.1f s"
          % (time.monotonic() - t2))
    r = sb.mass_update("Leads", {"City": "Gone"}, ids=[last])
    got = expect_records(r, 400, "created record after reset")
    expect_error_entry(entry_for(got, last), last, "INVALID_DATA")
    print("# records_one_million: created in %.2f s, RSS %.0f MiB" % (took, rss / 1024.0),
          flush=True)


@test()
def records_create_answer(sb, ctx):
    r = sb.create_records("Deals", 10, "4150868000009100001",
                          {"Stage": "Qualification", "Languages_Known": ["German"]})
    check(r.status == 200 and r.json == {"created": 10}, "records answer: %r" % r)
    rec = sb.record("Deals", "4150868000009100010")
    eq(rec.get("Languages_Known"), ["German"], "created Deal Languages_Known")
    r = sb.mass_update("Deals", {"Languages_Known": ["English"]}, ids=["4150868000009100010"])
    expect_records(r, 200, "append to a created Deal")
    eq(sb.record("Deals", "4150868000009100010").get("Languages_Known"), ["German", "English"],
       "appended")
    r = sb.create_records("Leads", 1, "4150868000009200001")   # values optional
    check(r.status == 200 and r.json == {"created": 1}, "records without values: %r" % r)
    r = sb.mass_update("Leads", {"City": "Bare"}, ids=["4150868000009200001"])
    expect_records(r, 200, "update of a record created without values")


@test()
def fixture_handles(sb, ctx):
    r = sb.mass_update("Leads", {"State": "Edge"}, ids=[lead(0), lead(1), lead(5000), lead(5001)])
    got = expect_records(r, 207, "Leads ...224000/1, ...229000/1")
    expect_error_entry(entry_for(got, lead(0)), lead(0), "INVALID_DATA")
    expect_success_entry(entry_for(got, lead(1)), lead(1))
    expect_success_entry(entry_for(got, lead(5000)), lead(5000))
    expect_error_entry(entry_for(got, lead(5001)), lead(5001), "INVALID_DATA")
    r = sb.mass_update("Deals", {"Next_Step": "Edge"}, ids=[deal(0), deal(1), deal(1000),
                                                            deal(1001)])
    got = expect_records(r, 207, "Deals ...300000/1, ...301000/1")
    expect_error_entry(entry_for(got, deal(0)), deal(0), "INVALID_DATA")
    expect_success_entry(entry_for(got, deal(1)), deal(1))
    expect_success_entry(entry_for(got, deal(1000)), deal(1000))
    expect_error_entry(entry_for(got, deal(1001)), deal(1001), "INVALID_DATA")
    for n in (1, 2500, 5000):
        rec = sb.record("Leads", lead(n))
        for k in ("Last_Name", "Company"):
            check(isinstance(rec.get(k), str) and rec[k], "Lead %d has no %s: %s"
                  % (n, k, short(rec)))
    names = {sb.record("Leads", lead(n)).get("Last_Name") for n in range(1, 40)}
    check(len(names) > 5, "Leads 1-39 are not realistic: Last_Name values %s" % names)
    rec = sb.record("Deals", deal(1))
    check(isinstance(rec.get("Deal_Name"), str) and rec["Deal_Name"], "Deal 1: %s" % short(rec))
    # special Leads answer GET like the others
    for rid in (BLUEPRINT_LEAD, LOCKED_LEAD, UNAPPROVED_LEAD):
        sb.record("Leads", str(rid))


@test()
def settings_fields(sb, ctx):
    meta = sb.fields("Leads")
    for f in meta.values():
        check(isinstance(f.get("api_name"), str) and isinstance(f.get("data_type"), str)
              and isinstance(f.get("mass_update"), bool),
              "field without api_name/data_type/mass_update(bool): %s" % short(f))
    for name in ("City", "State", "Industry", "Lead_Status", "No_of_Employees", "Annual_Revenue",
                 "Next_Follow_Up", "Callback_Date", "Interests", "Mobile"):
        check(meta.get(name, {}).get("mass_update") is True, "Leads %s not mass-updatable" % name)
    for name in ("Email", "Description", "Owner", "Phone"):
        check(meta.get(name, {}).get("mass_update") is False,
              "Leads %s: want mass_update false, got %s" % (name, short(meta.get(name))))
    eq(meta["Lead_Status"].get("blueprint_supported"), True, "Lead_Status blueprint_supported")
    vals = [p.get("actual_value") for p in meta["Lead_Status"].get("pick_list_values", [])]
    check("Contacted" in vals, "Lead_Status values %s lack Contacted" % vals)
    deals = sb.fields("Deals")
    for name in ("Stage", "Type", "Amount", "Closing_Date", "Next_Step", "Probability",
                 "Languages_Known"):
        check(deals.get(name, {}).get("mass_update") is True, "Deals %s not mass-updatable" % name)
    eq(deals["Languages_Known"].get("data_type"), "multiselectpicklist",
       "Languages_Known data_type")
    langs = [p.get("actual_value") for p in deals["Languages_Known"].get("pick_list_values", [])]
    for v in ("English", "Spanish", "German", "Español"):
        check(v in langs, "Languages_Known values %s lack %s" % (langs, v))
    for module in ("Contacts", "Accounts", "Tasks", "Campaigns", "Products", "Quotes"):
        m = sb.fields(module)
        check(len(m) >= 3, "%s has only %d fields" % (module, len(m)))
    for version in ("v2", "v2.1", "v7"):
        r = sb.request("GET", "/crm/%s/settings/fields?module=Deals" % version, token=sb.token())
        check(r.status == 200 and "fields" in (r.json or {}), "%s fields: %r" % (version, r))
    r = sb.request("GET", "/crm/v8/settings/fields?module=NoSuchModule", token=sb.token())
    expect_flat(r, 400, "INVALID_MODULE", "fields of an unknown module")
    r = sb.request("GET", "/crm/v8/settings/fields", token=sb.token())
    check(r.status == 400 and isinstance(r.json, dict) and "code" in r.json,
          "fields without module: expected 400, got %r" % r)
    expect_flat(r, 400, r.json["code"], "fields without module")


@test()
def settings_custom_views(sb, ctx):
    tok = sb.token()

    def views(module):
        r = sb.request("GET", "/crm/v8/settings/custom_views?module=" + module, token=tok)
        check(r.status == 200 and isinstance(r.json, dict)
              and isinstance(r.json.get("custom_views"), list),
              "custom_views?module=%s: %r" % (module, r))
        for v in r.json["custom_views"]:
            check(isinstance(v.get("id"), str) and v["id"].isdigit()
                  and isinstance(v.get("name"), str),
                  "custom view without string id and name: %s" % short(v))
        return {v["id"]: v for v in r.json["custom_views"]}
    lv = views("Leads")
    for cv in (CV_ALL_LEADS, CV_EMPTY, CV_FAILING):
        check(cv in lv, "Leads custom views lack %s (have %s)" % (cv, sorted(lv)))
    cv = views("Contacts")
    check(CV_BIG_CONTACTS in cv, "Contacts custom views lack %s" % CV_BIG_CONTACTS)
    check(CV_ALL_LEADS not in cv, "Contacts views list a Leads view")
    r = sb.request("GET", "/crm/v8/settings/custom_views?module=NoSuchModule", token=tok)
    expect_flat(r, 400, "INVALID_MODULE", "custom views of an unknown module")
