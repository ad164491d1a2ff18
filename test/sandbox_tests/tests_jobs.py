"""Issue 2, items 3 and 4: scheduled (cvid) mass update and job status."""

import time

from harness import (CV_ALL_LEADS, CV_BIG_CONTACTS, CV_EMPTY, CV_FAILING, CV_NO_ACCESS,
                     LOCKED_LEAD, OLD_VERSIONS, STATUS_KEYS, TERRITORY, TestFailure,
                     UNAPPROVED_LEAD, check, eq, expect_flat, lead, short, test)

STATUS_ORDER = {"SCHEDULED": 0, "RUNNING": 1, "COMPLETED": 2, "FAILED": 2}


def schedule(sb, module, fields, cvid, version="v8", territory=None, what=None):
    extra = {"territory": territory} if territory is not None else None
    r = sb.mass_update(module, fields, cvid=cvid, version=version, extra=extra)
    what = what or "%s cvid %s" % (version, cvid)
    check(r.status == 200 and isinstance(r.json, dict) and isinstance(r.json.get("data"), list),
          "%s: expected HTTP 200 with data[], got %r" % (what, r))
    eq(set(r.json.keys()), {"data"}, "%s: top-level keys" % what)
    eq(len(r.json["data"]), 1, "%s: data[] length" % what)
    e = r.json["data"][0]
    eq(e.get("code"), "SUCCESS", "%s: code" % what)
    eq(e.get("status"), "success", "%s: status" % what)
    eq(e.get("message"), "mass update scheduled successfully", "%s: message" % what)
    check(isinstance(e.get("details"), dict) and set(e["details"].keys()) == {"job_id"},
          "%s: details must be exactly {job_id}: %s" % (what, short(e.get("details"))))
    job_id = e["details"]["job_id"]
    check(isinstance(job_id, str) and job_id.isdigit() and not job_id.startswith("0"),
          "%s: job_id must be a string of digits: %r" % (what, job_id))
    return job_id


def status(sb, module, job_id, version="v8", client="SANDBOX"):
    r = sb.job_status(module, job_id, version=version, client=client)
    what = "%s status of job %s" % (version, job_id)
    check(r.status == 200 and isinstance(r.json, dict) and isinstance(r.json.get("data"), list),
          "%s: expected HTTP 200 with data[], got %r" % (what, r))
    eq(set(r.json.keys()), {"data"}, "%s: top-level keys" % what)
    eq(len(r.json["data"]), 1, "%s: data[] length" % what)
    s = r.json["data"][0]
    eq(set(s.keys()), STATUS_KEYS, "%s: keys" % what)
    check(s["Status"] in ("SCHEDULED", "RUNNING", "COMPLETED", "FAILED"),
          "%s: Status %r" % (what, s["Status"]))
    for k in STATUS_KEYS - {"Status"}:
        check(isinstance(s[k], int) and not isinstance(s[k], bool) and s[k] >= 0,
              "%s: %s is not a non-negative integer: %r" % (what, k, s[k]))
    eq(s["Updated_Count"] + s["Failed_Count"] + s["Not_Updated_Count"], s["Total_Count"],
       "%s: Updated + Failed + Not_Updated = Total (%s)" % (what, short(s)))
    return s


def wait_done(sb, module, job_id, timeout, interval=0.05, version="v8"):
    """Polls until COMPLETED or FAILED; returns every status seen, checking order."""
    seen = []
    deadline = time.monotonic() + timeout
    while True:
        s = status(sb, module, job_id, version=version)
        if seen:
            prev = seen[-1]
            check(STATUS_ORDER[s["Status"]] >= STATUS_ORDER[prev["Status"]],
                  "job %s went from %s back to %s" % (job_id, prev["Status"], s["Status"]))
            eq(s["Total_Count"], prev["Total_Count"], "job %s Total_Count changed" % job_id)
            for k in ("Updated_Count", "Failed_Count"):
                check(s[k] >= prev[k], "job %s %s went down: %d -> %d"
                      % (job_id, k, prev[k], s[k]))
        seen.append(s)
        if s["Status"] in ("COMPLETED", "FAILED"):
            return seen
        if time.monotonic() > deadline:
            raise TestFailure("job %s not finished after %.0f s; last status %s"
                              % (job_id, timeout, short(s)))
        time.sleep(interval)


def contacts_field(sb):
    meta = sb.fields("Contacts")
    for name in ("Mailing_City", "Department", "Title"):
        if meta.get(name, {}).get("mass_update"):
            return name
    name = next((f["api_name"] for f in meta.values()
                 if f.get("mass_update") and f.get("data_type") == "text"), None)
    check(name, "Contacts has no mass-updatable text field")
    return name


@test()
def job_schedule_answer(sb, ctx):
    for version in ("v8", "v7", "v2.1"):
        job_id = schedule(sb, "Leads", {"City": "Jobville"}, CV_ALL_LEADS, version=version)
        s = status(sb, "Leads", job_id, version=version)
        eq(s["Total_Count"], 5000, "%s job over view ...87501: Total_Count" % version)
        sb.reset()


@test()
def job_starts_scheduled(sb, ctx):
    sb.faults(job_rate=5)
    job_id = schedule(sb, "Leads", {"City": "Slowville"}, CV_ALL_LEADS)
    s = status(sb, "Leads", job_id)
    eq(s["Status"], "SCHEDULED", "status right after scheduling (job_rate 5)")
    eq((s["Updated_Count"], s["Failed_Count"], s["Not_Updated_Count"], s["Total_Count"]),
       (0, 0, 5000, 5000), "SCHEDULED counts (Updated, Failed, Not_Updated, Total)")


@test()
def job_progress_to_completed(sb, ctx):
    sb.faults(job_rate=2000)
    t0 = time.monotonic()
    job_id = schedule(sb, "Leads", {"City": "Progress"}, CV_ALL_LEADS)
    seen = wait_done(sb, "Leads", job_id, timeout=30, interval=0.05)
    took = time.monotonic() - t0
    statuses = [s["Status"] for s in seen]
    eq(statuses[0], "SCHEDULED", "first status seen (statuses %s)" % _runs(statuses))
    running = [s for s in seen if s["Status"] == "RUNNING"]
    check(running, "RUNNING never seen (statuses %s)" % _runs(statuses))
    done = sorted({s["Updated_Count"] + s["Failed_Count"] for s in running
                   if 0 < s["Updated_Count"] + s["Failed_Count"] < s["Total_Count"]})
    check(len(done) >= 3, "RUNNING counts did not grow: processed counts seen %s" % done)
    last = seen[-1]
    eq(last["Status"], "COMPLETED", "final status")
    eq(last["Total_Count"], 5000, "Total_Count")
    eq(last["Not_Updated_Count"], 0, "final Not_Updated_Count")
    check(last["Failed_Count"] >= 2, "locked and not-approved Leads must fail: %s" % short(last))
    eq(last["Updated_Count"] + last["Failed_Count"], 5000, "Updated + Failed")
    check(1.5 <= took <= 15, "5000 records at job_rate 2000 took %.1f s (expected about 2.5 s)"
          % took)
    eq(sb.record("Leads", lead(100)).get("City"), "Progress", "Lead 100 after the job")
    eq(sb.record("Leads", lead(5000)).get("City"), "Progress", "Lead 5000 after the job")
    for rid in (LOCKED_LEAD, UNAPPROVED_LEAD):
        check(sb.record("Leads", str(rid)).get("City") != "Progress",
              "failing Lead %s was updated by the job" % rid)
    # the finished job stays queryable, unchanged
    eq(status(sb, "Leads", job_id), last, "status after completion")
    eq(status(sb, "Leads", job_id, version="v7"), last, "v7 status after completion")


def _runs(statuses):
    out = []
    for s in statuses:
        if not out or out[-1][0] != s:
            out.append([s, 0])
        out[-1][1] += 1
    return " -> ".join("%sx%d" % (s, n) for s, n in out)


@test()
def job_failed_count_blueprint(sb, ctx):
    sb.faults(job_rate=100000)
    bp_status = sb.record("Leads", lead(6)).get("Lead_Status")
    job_id = schedule(sb, "Leads", {"City": "Fastville"}, CV_ALL_LEADS)
    city = wait_done(sb, "Leads", job_id, timeout=20)[-1]
    eq(city["Status"], "COMPLETED", "City job status")
    target = "Contacted" if bp_status != "Contacted" else "Attempted to Contact"
    job_id = schedule(sb, "Leads", {"Lead_Status": target}, CV_ALL_LEADS)
    ls = wait_done(sb, "Leads", job_id, timeout=20)[-1]
    eq(ls["Status"], "COMPLETED", "Lead_Status job status")
    eq(ls["Failed_Count"], city["Failed_Count"] + 1,
       "Lead_Status job fails the blueprint Lead besides the City job's failures "
       "(City job %s, Lead_Status job %s)" % (short(city), short(ls)))
    eq(ls["Updated_Count"] + ls["Failed_Count"], 5000, "Lead_Status job Updated + Failed")
    eq(sb.record("Leads", lead(6)).get("City"), "Fastville", "blueprint Lead City (no blueprint)")
    eq(sb.record("Leads", lead(6)).get("Lead_Status"), bp_status,
       "blueprint Lead's Lead_Status after the Lead_Status job")
    eq(sb.record("Leads", lead(9)).get("Lead_Status"), target, "Lead 9 Lead_Status after the job")


@test(args=("--job-rate", "50000"))
def job_rate_cmdline(sb, ctx):
    t0 = time.monotonic()
    job_id = schedule(sb, "Leads", {"State": "Quick"}, CV_ALL_LEADS)
    last = wait_done(sb, "Leads", job_id, timeout=10, interval=0.02)[-1]
    took = time.monotonic() - t0
    eq(last["Status"], "COMPLETED", "status")
    check(took < 3, "5000 records at --job-rate 50000 took %.1f s" % took)


@test()
def job_view_ends_failed(sb, ctx):
    sb.faults(job_rate=2000)
    job_id = schedule(sb, "Leads", {"City": "Doomed"}, CV_FAILING)
    seen = wait_done(sb, "Leads", job_id, timeout=20, interval=0.02)
    last = seen[-1]
    eq(last["Status"], "FAILED", "final status of a job over view ...87505")
    eq(last["Total_Count"], 100, "Total_Count of view ...87505")
    eq(status(sb, "Leads", job_id), last, "status after failure")
    # a FAILED job does not block the view
    schedule(sb, "Leads", {"City": "Again"}, CV_FAILING, what="a new job after FAILED")


@test()
def job_unknown_cvid(sb, ctx):
    for version in ("v8", "v7"):
        r = sb.mass_update("Leads", {"City": "X"}, cvid="4150868000000087599", version=version)
        body = expect_flat(r, 400, "INVALID_DATA", "%s unknown cvid" % version)
        eq(body["details"].get("api_name"), "cvid", "%s unknown cvid: details.api_name" % version)
    # a view of another module is not a view of this one
    r = sb.mass_update("Deals", {"Next_Step": "X"}, cvid=CV_ALL_LEADS)
    body = expect_flat(r, 400, "INVALID_DATA", "Leads view used with Deals")
    eq(body["details"].get("api_name"), "cvid", "Leads view with Deals: details.api_name")


@test()
def job_no_permission(sb, ctx):
    for version in ("v8", "v7"):
        r = sb.mass_update("Leads", {"City": "X"}, cvid=CV_NO_ACCESS, version=version)
        body = expect_flat(r, 403, "NO_PERMISSION", "%s view ...87504" % version)
        eq(body["message"].lower(), "customview not accessible", "view ...87504 message")


@test()
def job_no_records(sb, ctx):
    for version in ("v8", "v7"):
        r = sb.mass_update("Leads", {"City": "X"}, cvid=CV_EMPTY, version=version)
        expect_flat(r, 400, "NO_RECORDS_FOUND", "%s empty view ...87502" % version)


@test()
def job_limit_exceeded(sb, ctx):
    field = contacts_field(sb)
    for version in ("v8", "v7"):
        r = sb.mass_update("Contacts", {field: "X"}, cvid=CV_BIG_CONTACTS, version=version)
        expect_flat(r, 400, "LIMIT_EXCEEDED", "%s view ...87503 of 60,000 Contacts" % version)


@test()
def job_already_scheduled(sb, ctx):
    sb.faults(job_rate=5)
    job_id = schedule(sb, "Leads", {"City": "First"}, CV_ALL_LEADS)
    r = sb.mass_update("Leads", {"City": "Second"}, cvid=CV_ALL_LEADS, version="v7")
    expect_flat(r, 202, "ALREADY_SCHEDULED", "v7 second job on the view")
    r = sb.mass_update("Leads", {"City": "Second"}, cvid=CV_ALL_LEADS, version="v8")
    expect_flat(r, 400, "ALREADY_SCHEDULED", "v8 second job on the view")
    for version in ("v2", "v2.1", "v5"):
        r = sb.mass_update("Leads", {"State": "Second"}, cvid=CV_ALL_LEADS, version=version)
        expect_flat(r, 202, "ALREADY_SCHEDULED", "%s second job on the view" % version)
    # still refused once RUNNING
    deadline = time.monotonic() + 5
    while status(sb, "Leads", job_id)["Status"] != "RUNNING":
        check(time.monotonic() < deadline, "job at job_rate 5 not RUNNING within 5 s")
        time.sleep(0.05)
    r = sb.mass_update("Leads", {"City": "Third"}, cvid=CV_ALL_LEADS, version="v8")
    expect_flat(r, 400, "ALREADY_SCHEDULED", "v8 job on the view while RUNNING")
    # other views are not blocked
    schedule(sb, "Leads", {"City": "Other"}, CV_FAILING, what="job on another view")
    # reset cancels running jobs
    sb.reset()
    schedule(sb, "Leads", {"City": "AfterReset"}, CV_ALL_LEADS, what="job after reset")


@test()
def job_territory(sb, ctx):
    r = sb.mass_update("Leads", {"City": "T"}, ids=[lead(1)],
                       extra={"territory": {"id": TERRITORY, "include_child": False}})
    check(r.status == 400 and isinstance(r.json, dict) and "code" in r.json,
          "territory with ids (no cvid): expected a 400 error, got %r" % r)
    expect_flat(r, 400, r.json["code"], "territory with ids")
    check(sb.record("Leads", lead(1)).get("City") != "T", "territory+ids call applied")
    r = sb.mass_update("Leads", {"City": "T"},
                       extra={"territory": {"id": TERRITORY, "include_child": False}})
    check(r.status == 400 and isinstance(r.json, dict) and "code" in r.json,
          "territory without cvid or ids: expected a 400 error, got %r" % r)
    expect_flat(r, 400, r.json["code"], "territory without cvid")
    r = sb.mass_update("Leads", {"City": "T"}, cvid=CV_ALL_LEADS,
                       extra={"territory": {"id": "4150868000000090999"}})
    expect_flat(r, 400, "INVALID_DATA", "unknown territory id")
    sb.faults(job_rate=5)
    job_id = schedule(sb, "Leads", {"City": "Terr"}, CV_ALL_LEADS,
                      territory={"id": TERRITORY, "include_child": False})
    alone = status(sb, "Leads", job_id)["Total_Count"]
    sb.reset()
    # the job updates the territory's records only: run one to the end
    outside = {rid: sb.record("Leads", rid).get("City") for rid in (lead(4999), lead(4000))}
    sb.faults(job_rate=100000)
    job_id = schedule(sb, "Leads", {"City": "Terr"}, CV_ALL_LEADS,
                      territory={"id": TERRITORY, "include_child": True})
    last = wait_done(sb, "Leads", job_id, timeout=20)[-1]
    eq(last["Status"], "COMPLETED", "territory job status")
    updated = [n for n in range(1, 5001, 7)
               if sb.request("GET", "/crm/v8/Leads/%s" % lead(n), token=sb.token())
               .json["data"][0].get("City") == "Terr"]
    check(updated, "the territory job updated none of Leads 1, 8, 15, ...")
    check(len(updated) < len(range(1, 5001, 7)) / 2,
          "the territory job updated %d of %d sampled Leads: more than its territory"
          % (len(updated), len(range(1, 5001, 7))))
    eq(last["Updated_Count"] + last["Failed_Count"], last["Total_Count"], "territory job counts")
    sb.reset()
    sb.faults(job_rate=5)
    job_id = schedule(sb, "Leads", {"City": "Terr"}, CV_ALL_LEADS,
                      territory={"id": TERRITORY, "include_child": True})
    with_child = status(sb, "Leads", job_id)["Total_Count"]
    sb.reset()
    sb.faults(job_rate=5)
    job_id = schedule(sb, "Leads", {"City": "Terr"}, CV_ALL_LEADS,
                      territory={"id": TERRITORY})
    default = status(sb, "Leads", job_id)["Total_Count"]
    check(0 < alone < with_child < 5000,
          "territory job totals: without child %d, with child %d (want 0 < without < with "
          "< 5000)" % (alone, with_child))
    eq(default, alone, "include_child defaults to false: Total_Count")
    # territory ids as a JSON number are accepted too (the SDKs send a Long)
    sb.reset()
    text = ('{"data":[{"City":"Terr"}],"cvid":"%s","territory":{"id":%s,"include_child":true}}'
            % (CV_ALL_LEADS, TERRITORY))
    r = sb.request("POST", "/crm/v8/Leads/actions/mass_update", body=text, token=sb.token(),
                   content_type="application/json")
    check(r.status == 200 and r.json and r.json.get("data"),
          "territory id as a JSON number: %r" % r)


@test()
def job_multiselect_over_write(sb, ctx):
    from tests_mass_update import picklist
    vals = picklist(sb, "Leads", "Interests")
    check(len(vals) >= 2, "Leads Interests needs two values")
    sb.faults(job_rate=100000)
    r = sb.mass_update("Leads", {"Interests": [vals[0]]}, cvid=CV_ALL_LEADS,
                       extra={"over_write": True})
    check(r.status == 200, "Interests job over_write true: %r" % r)
    job_id = r.json["data"][0]["details"]["job_id"]
    eq(wait_done(sb, "Leads", job_id, timeout=20)[-1]["Status"], "COMPLETED", "job 1")
    eq(sb.record("Leads", lead(50)).get("Interests"), [vals[0]], "Lead 50 after replace")
    r = sb.mass_update("Leads", {"Interests": [vals[1], vals[0]]}, cvid=CV_ALL_LEADS)
    check(r.status == 200, "Interests job appending: %r" % r)
    job_id = r.json["data"][0]["details"]["job_id"]
    eq(wait_done(sb, "Leads", job_id, timeout=20)[-1]["Status"], "COMPLETED", "job 2")
    eq(sb.record("Leads", lead(50)).get("Interests"), [vals[0], vals[1]],
       "Lead 50 after an appending job")


@test()
def status_unknown_job(sb, ctx):
    for version in OLD_VERSIONS:
        r = sb.job_status("Leads", "4150868000999999999", version=version)
        expect_flat(r, 404, "NOT_FOUND", "%s unknown job" % version)
    r = sb.job_status("Leads", "4150868000999999999", version="v8")
    body = expect_flat(r, 400, "INVALID_DATA", "v8 unknown job")
    eq(body["details"].get("param_name"), "job_id", "v8 unknown job: details.param_name")


@test()
def status_missing_job_id(sb, ctx):
    for version in ("v8", "v7", "v2"):
        r = sb.job_status("Leads", None, version=version)
        expect_flat(r, 400, "MANDATORY_NOT_FOUND", "%s status GET without job_id" % version)


@test()
def status_exact_keys_all_versions(sb, ctx):
    job_id = schedule(sb, "Leads", {"City": "Keys"}, CV_FAILING)
    for version in OLD_VERSIONS + ["v8"]:
        status(sb, "Leads", job_id, version=version)
