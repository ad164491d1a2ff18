"""Issue 2, item 2: immediate (ids) mass update."""

import json
import re

from harness import (BLUEPRINT_LEAD, CV_ALL_LEADS, LAST_LEAD, LOCKED_LEAD, OLD_VERSIONS,
                     UNAPPROVED_LEAD, check, deal, entry_for, eq, expect_error_entry,
                     expect_flat, expect_records, expect_success_entry, lead, leads, short, test)

INVALID_ID_MESSAGE = "the id given seems to be invalid"


def picklist(sb, module, field):
    f = sb.fields(module).get(field)
    check(f is not None, "settings/fields?module=%s has no %s" % (module, field))
    vals = [p.get("actual_value", p.get("display_value")) for p in f.get("pick_list_values", [])]
    vals = [v for v in vals if v and v != "-None-"]
    check(vals, "%s.%s has no pick_list_values" % (module, field))
    return vals


def expect_field_error(resp, field, message=None, what="answer", need_type=False):
    """INVALID_DATA about one field: the flat envelope (HTTP 400) or, on v8, a 400
    whose every data[] entry carries it. Returns the details object."""
    body = resp.json
    if isinstance(body, dict) and "code" in body:
        expect_flat(resp, 400, "INVALID_DATA", what)
        det = body["details"]
        msg = body["message"]
    else:
        check(resp.status == 400 and isinstance(body, dict) and isinstance(body.get("data"), list)
              and body["data"], "%s: expected HTTP 400 INVALID_DATA, got %r" % (what, resp))
        det = msg = None
        for entry in body["data"]:
            check(isinstance(entry, dict) and entry.get("code") == "INVALID_DATA"
                  and entry.get("status") == "error",
                  "%s: expected INVALID_DATA in every data[] entry, got %s"
                  % (what, short(entry)))
            det, msg = entry.get("details", {}), entry.get("message")
    eq(det.get("api_name"), field, "%s: details.api_name" % what)
    if message is not None:
        eq(msg, message, "%s: message" % what)
    if need_type:
        edt = det.get("expected_data_type")
        check(isinstance(edt, str) and edt,
              "%s: no details.expected_data_type in %s" % (what, short(det)))
    return det


# --- field count and field rules ------------------------------------------------

@test()
def mu_field_limit_one(sb, ctx):
    r = sb.mass_update("Leads", {"City": "A", "State": "B"}, ids=[lead(10)])
    body = expect_flat(r, 400, "INVALID_DATA", "Leads with 2 fields")
    eq(body["message"], "Max field limit exceeded", "Leads with 2 fields: message")
    r = sb.mass_update("Leads", {"City": "A", "State": "B"}, ids=[lead(10)], version="v7")
    body = expect_flat(r, 400, "INVALID_DATA", "v7 Leads with 2 fields")
    eq(body["message"], "Max field limit exceeded", "v7 Leads with 2 fields: message")
    r = sb.mass_update("Leads", {"City": "A", "State": "B"}, cvid=CV_ALL_LEADS)
    body = expect_flat(r, 400, "INVALID_DATA", "cvid Leads with 2 fields")
    eq(body["message"], "Max field limit exceeded", "cvid Leads with 2 fields: message")
    rec = sb.record("Leads", lead(10))
    check(rec.get("City") != "A", "rejected call changed the record")


@test()
def mu_field_limit_deals_three(sb, ctx):
    stage = "Qualification" if "Qualification" in picklist(sb, "Deals", "Stage") \
        else picklist(sb, "Deals", "Stage")[0]
    dtype = picklist(sb, "Deals", "Type")[0]
    fields = {"Stage": stage, "Type": dtype, "Next_Step": "Send proposal"}
    r = sb.mass_update("Deals", fields, ids=[deal(15), deal(16)])
    got = expect_records(r, 200, "Deals with 3 fields")
    for rid in (deal(15), deal(16)):
        check(rid in got, "no answer for %s" % rid)
        expect_success_entry(entry_for(got, rid), rid)
        rec = sb.record("Deals", rid)
        for k, v in fields.items():
            eq(rec.get(k), v, "Deals %s %s after the update" % (rid, k))
    fields4 = dict(fields, Probability=40)
    r = sb.mass_update("Deals", fields4, ids=[deal(15)])
    body = expect_flat(r, 400, "INVALID_DATA", "Deals with 4 fields")
    eq(body["message"], "Max field limit exceeded", "Deals with 4 fields: message")


@test()
def mu_no_field(sb, ctx):
    r = sb.mass_update("Leads", {}, ids=[lead(10)])
    body = expect_flat(r, 400, "INVALID_DATA", "data [{}]")
    eq(body["message"], "No field found", "data [{}]: message")
    r = sb.mass_update("Deals", {}, ids=[deal(1)], version="v7")
    body = expect_flat(r, 400, "INVALID_DATA", "v7 Deals data [{}]")
    eq(body["message"], "No field found", "v7 data [{}]: message")


@test()
def mu_data_must_hold_one_object(sb, ctx):
    for what, body in (
            ("data with two objects", {"data": [{"City": "A"}, {"City": "B"}], "ids": [lead(10)]}),
            ("data empty", {"data": [], "ids": [lead(10)]}),
            ("data not an array", {"data": {"City": "A"}, "ids": [lead(10)]}),
            ("no data", {"ids": [lead(10)]}),
            ("data [\"City\"]", {"data": ["City"], "ids": [lead(10)]})):
        r = sb.mass_update("Leads", None, body=body)
        check(isinstance(r.json, dict) and r.json.get("code") in
              ("INVALID_DATA", "MANDATORY_NOT_FOUND"),
              "%s: expected a 400 INVALID_DATA or MANDATORY_NOT_FOUND, got %r" % (what, r))
        expect_flat(r, 400, r.json["code"], what)
    check(sb.record("Leads", lead(10)).get("City") not in ("A", "B"), "a rejected call applied")


@test()
def mu_unknown_field(sb, ctx):
    r = sb.mass_update("Leads", {"No_Such_Field": "x"}, ids=[lead(10)])
    expect_field_error(r, "No_Such_Field", what="unknown field")
    r = sb.mass_update("Deals", {"Stage": "Qualification", "No_Such_Field": "x"}, ids=[deal(10)])
    expect_field_error(r, "No_Such_Field", what="Deals with one unknown field of two")
    r = sb.mass_update("Leads", {"city": "x"}, ids=[lead(10)])
    expect_field_error(r, "city", what="field name in the wrong case")


@test()
def mu_not_mass_updatable(sb, ctx):
    meta = sb.fields("Leads")
    for name, flag in (("Email", False), ("Description", False), ("Owner", False),
                       ("Phone", False), ("Mobile", True), ("City", True)):
        check(name in meta, "Leads fields metadata has no %s" % name)
        eq(meta[name].get("mass_update"), flag, "Leads %s metadata mass_update" % name)
    for name, value in (("Email", "someone@example.com"), ("Description", "long text"),
                        ("Owner", {"id": "4150868000000225013"}), ("Phone", "+1 555 0100"),
                        ("Created_Time", "2024-01-01T00:00:00+00:00"),
                        ("Converted_Account", {"id": "4150868000000400001"})):
        if name not in meta:
            continue
        for version in ("v8", "v7"):
            r = sb.mass_update("Leads", {name: value}, ids=[lead(11)], version=version)
            expect_field_error(r, name, what="%s Leads %s (not mass-updatable)" % (version, name))
        r = sb.mass_update("Leads", {name: value}, cvid=CV_ALL_LEADS)
        expect_field_error(r, name, what="cvid Leads %s (not mass-updatable)" % name)
    dmeta = sb.fields("Deals")
    for name, value in (("Description", "text"), ("Owner", {"id": "4150868000000225013"}),
                        ("Account_Name", {"id": "4150868000000400001"}),
                        ("Contact_Name", {"id": "4150868000000500001"})):
        if name in dmeta:
            r = sb.mass_update("Deals", {name: value}, ids=[deal(11)])
            expect_field_error(r, name, what="Deals %s (not mass-updatable)" % name)
    # Mobile's flag says yes although it is a phone field like Phone
    r = sb.mass_update("Leads", {"Mobile": "+1 555 0199"}, ids=[lead(11)])
    got = expect_records(r, 200, "Leads Mobile (mass-updatable)")
    expect_success_entry(entry_for(got, lead(11)), lead(11))
    eq(sb.record("Leads", lead(11)).get("Mobile"), "+1 555 0199", "Mobile after the update")


@test()
def mu_metadata_flag_decides(sb, ctx):
    """Every field whose metadata says mass_update false is refused with its api_name;
    the issue's never-updatable types (email, lookups, multi-line, line items) say false."""
    never = ("email", "lookup", "ownerlookup", "textarea", "subform", "multiselectlookup")
    for module, rid in (("Leads", "4150868000009500001"), ("Deals", "4150868000009500101"),
                        ("Contacts", "4150868000009500201"), ("Accounts", "4150868000009500301")):
        r = sb.create_records(module, 1, rid)
        check(r.status == 200, "POST records %s: %r" % (module, r))
        meta = sb.fields(module)
        refused = 0
        for name, f in sorted(meta.items()):
            if f.get("data_type") in never:
                eq(f.get("mass_update"), False, "%s %s (%s) metadata mass_update"
                   % (module, name, f.get("data_type")))
            if f.get("mass_update") is False:
                r = sb.mass_update(module, {name: "x"}, ids=[rid])
                expect_field_error(r, name, what="%s %s (mass_update false)" % (module, name))
                refused += 1
        check(refused >= 5, "%s has only %d fields with mass_update false" % (module, refused))


def valid_value(f):
    """A value a field of this metadata must accept, or None for types not covered."""
    dt = f.get("data_type")
    picks = [p.get("actual_value") for p in f.get("pick_list_values") or []
             if p.get("actual_value") not in (None, "-None-")]
    if dt in ("text", "phone"):
        return "555 0100" if dt == "phone" else "Meta value"
    if dt == "website":
        return "https://www.example.com"
    if dt == "picklist" and picks:
        return picks[-1]
    if dt == "multiselectpicklist" and picks:
        return picks[:2]
    if dt in ("integer", "bigint"):
        return 42
    if dt in ("currency", "double", "percent", "decimal"):
        return 12.5
    if dt == "boolean":
        return True
    if dt == "date":
        return "2025-06-30"
    if dt == "datetime":
        return "2025-06-30T08:15:00+02:00"
    return None


@test()
def mu_metadata_true_fields_accept(sb, ctx):
    """Every field whose metadata says mass_update true takes a valid value of its type."""
    for module, rid in (("Leads", "4150868000009600001"), ("Deals", "4150868000009600101"),
                        ("Contacts", "4150868000009600201"), ("Accounts", "4150868000009600301")):
        r = sb.create_records(module, 1, rid)
        check(r.status == 200, "POST records %s: %r" % (module, r))
        tried = 0
        for name, f in sorted(sb.fields(module).items()):
            value = valid_value(f) if f.get("mass_update") else None
            if value is None:
                continue
            what = "%s %s (%s) = %s" % (module, name, f.get("data_type"), json.dumps(value))
            r = sb.mass_update(module, {name: value}, ids=[rid], extra={"over_write": True})
            got = expect_records(r, 200, what)
            expect_success_entry(entry_for(got, rid, what), rid, what)
            eq(sb.record(module, rid).get(name), value, "%s: GET shows" % what)
            tried += 1
        check(tried >= 5, "%s: only %d mass-updatable fields tried" % (module, tried))


# --- values by type ---------------------------------------------------------------

def typed_fields(sb):
    meta = sb.fields("Leads")
    out = {}
    for name in ("City", "State", "Industry", "Lead_Status", "No_of_Employees",
                 "Annual_Revenue", "Next_Follow_Up", "Callback_Date", "Interests"):
        check(name in meta, "Leads fields metadata has no %s" % name)
        eq(meta[name].get("mass_update"), True, "Leads %s mass_update" % name)
        out[name] = meta[name]
    for name, dt in (("Lead_Status", "picklist"), ("Industry", "picklist"),
                     ("No_of_Employees", "integer"), ("Annual_Revenue", "currency"),
                     ("Next_Follow_Up", "datetime"), ("Callback_Date", "date"),
                     ("Interests", "multiselectpicklist")):
        eq(meta[name].get("data_type"), dt, "Leads %s data_type" % name)
    eq(meta["Lead_Status"].get("blueprint_supported"), True, "Lead_Status blueprint_supported")
    boolean = meta.get("Email_Opt_Out")
    if not (boolean and boolean.get("mass_update") and boolean.get("data_type") == "boolean"):
        boolean = next((f for f in meta.values() if f.get("data_type") == "boolean"
                        and f.get("mass_update")), None)
    double = next((f for f in meta.values() if f.get("data_type") == "double"
                   and f.get("mass_update")), None)
    return meta, boolean, double


@test()
def mu_value_type_checks(sb, ctx):
    meta, boolean, double = typed_fields(sb)
    interests = picklist(sb, "Leads", "Interests")
    cases = [
        ("Industry", "Not An Industry"), ("Industry", 7),
        ("Lead_Status", "No Such Status"), ("Lead_Status", ["Contacted"]),
        ("No_of_Employees", "many"), ("No_of_Employees", 12.5), ("No_of_Employees", True),
        ("No_of_Employees", {"n": 1}),
        ("Annual_Revenue", "lots"), ("Annual_Revenue", [100]), ("Annual_Revenue", False),
        ("Callback_Date", "2024/01/05"), ("Callback_Date", "05-01-2024"),
        ("Callback_Date", "2024-01-05T10:00:00+00:00"), ("Callback_Date", 20240105),
        ("Next_Follow_Up", "2024-01-05"), ("Next_Follow_Up", "2024-01-05T10:00:00"),
        ("Next_Follow_Up", "2024-01-05 10:00:00+00:00"), ("Next_Follow_Up", 1704448800),
        ("Next_Follow_Up", "2024-01-05T10:00+00:00"),
        ("Interests", interests[0]), ("Interests", {"0": interests[0]}), ("Interests", 3),
    ]
    if boolean:
        cases += [(boolean["api_name"], "yes"), (boolean["api_name"], 1),
                  (boolean["api_name"], "true")]
    if double:
        cases += [(double["api_name"], "1.5x")]
    before = sb.record("Leads", lead(12))
    for field, value in cases:
        what = "Leads %s = %s" % (field, json.dumps(value))
        r = sb.mass_update("Leads", {field: value}, ids=[lead(12)])
        det = expect_field_error(r, field, what=what, need_type=True)
        if field == "No_of_Employees":
            eq(det["expected_data_type"], "integer", "%s: expected_data_type" % what)
    r = sb.mass_update("Leads", {"No_of_Employees": "many"}, ids=[lead(12)], version="v7")
    expect_field_error(r, "No_of_Employees", what="v7 No_of_Employees = \"many\"", need_type=True)
    after = sb.record("Leads", lead(12))
    for field, _ in cases:
        eq(after.get(field), before.get(field), "%s after rejected updates" % field)


@test()
def mu_valid_values_stored(sb, ctx):
    meta, boolean, double = typed_fields(sb)
    industry = [v for v in picklist(sb, "Leads", "Industry")][-1]
    interests = picklist(sb, "Leads", "Interests")
    values = [
        ("City", "Zürich – 東京 \"quoted\" \\ back"),
        ("State", "Bavaria"),
        ("Industry", industry),
        ("Lead_Status", "Contacted"),
        ("No_of_Employees", 1250),
        ("No_of_Employees", 0),
        ("Annual_Revenue", 1234567.89),
        ("Annual_Revenue", 250000),
        ("Callback_Date", "2024-02-29"),
        ("Next_Follow_Up", "2024-03-01T09:30:00+05:30"),
        ("Next_Follow_Up", "2024-11-03T23:59:59-08:00"),
        ("Interests", [interests[0]]),
    ]
    if boolean:
        values += [(boolean["api_name"], True), (boolean["api_name"], False)]
    if double:
        values += [(double["api_name"], 12.5)]
    rid = lead(13)
    for field, value in values:
        what = "Leads %s = %s" % (field, json.dumps(value, ensure_ascii=False))
        r = sb.mass_update("Leads", {field: value}, ids=[rid], extra={"over_write": True})
        got = expect_records(r, 200, what)
        expect_success_entry(entry_for(got, rid, what), rid, what)
        rec = sb.record("Leads", rid)
        eq(rec.get(field), value, "%s: GET shows" % what)
    for text in ("1234567.89", "0.1", "19.99", "100", "2.5E+3"):
        body = '{"data":[{"Annual_Revenue":%s}],"ids":["%s"]}' % (text, rid)
        r = sb.request("POST", "/crm/v8/Leads/actions/mass_update", body=body,
                       token=sb.token(), content_type="application/json")
        expect_records(r, 200, "Annual_Revenue %s" % text)
        raw = sb.request("GET", "/crm/v8/Leads/%s" % rid, token=sb.token()).text
        got = re.search(r'"Annual_Revenue"\s*:\s*([-0-9.eE+]+)', raw)
        check(got and (got.group(1) == text or (text == "2.5E+3" and float(got.group(1)) == 2500
                                                and "0000" not in got.group(1))),
              "Annual_Revenue %s given back as %s (a client compares what it sent)"
              % (text, got.group(1) if got else short(raw, 100)))


@test()
def mu_null_clears_field(sb, ctx):
    rid = lead(14)
    r = sb.mass_update("Leads", {"City": "Before"}, ids=[rid])
    expect_records(r, 200, "set City")
    r = sb.mass_update("Leads", {"City": None}, ids=[rid])
    got = expect_records(r, 200, "City = null")
    expect_success_entry(entry_for(got, rid), rid)
    eq(sb.record("Leads", rid).get("City"), None, "City after null")


# --- ids --------------------------------------------------------------------------

@test()
def mu_neither_ids_nor_cvid(sb, ctx):
    for version in ("v8", "v7", "v2"):
        r = sb.mass_update("Leads", {"City": "X"}, version=version)
        expect_flat(r, 400, "MANDATORY_NOT_FOUND", "%s without ids or cvid" % version)


@test()
def mu_ids_and_cvid(sb, ctx):
    for version in ("v8", "v7"):
        r = sb.mass_update("Leads", {"City": "Both"}, ids=[lead(15)], cvid=CV_ALL_LEADS,
                           version=version)
        expect_flat(r, 400, "INVALID_DATA", "%s with both ids and cvid" % version)
    check(sb.record("Leads", lead(15)).get("City") != "Both", "rejected call applied")


@test()
def mu_ids_limit_500(sb, ctx):
    ids = leads(1001, 501)
    for version in ("v8", "v7"):
        r = sb.mass_update("Leads", {"City": "Limit"}, ids=ids, version=version)
        expect_flat(r, 400, "LIMIT_EXCEEDED", "%s with 501 ids" % version)
    check(sb.record("Leads", ids[0]).get("City") != "Limit", "rejected 501-id call applied")
    ids = leads(1001, 500)
    r = sb.mass_update("Leads", {"City": "Limit"}, ids=ids)
    got = expect_records(r, 200, "500 valid ids")
    eq(len(got), 500, "entries for 500 ids")
    for rid in ids:
        check(rid in got, "no entry for %s" % rid)
        expect_success_entry(entry_for(got, rid), rid)
    eq(sb.record("Leads", ids[-1]).get("City"), "Limit", "last of 500 after update")


@test()
def mu_ids_strings_and_numbers(sb, ctx):
    text = ('{"data":[{"City":"Numbered"}],"ids":[%s,"%s",%s]}'
            % (lead(20), lead(21), lead(22)))
    r = sb.request("POST", "/crm/v8/Leads/actions/mass_update", body=text,
                   token=sb.token(), content_type="application/json")
    got = expect_records(r, 200, "ids as numbers and strings")
    eq(sorted(got.keys()), [lead(20), lead(21), lead(22)], "answered ids (strings)")
    for rid in (lead(20), lead(21), lead(22)):
        expect_success_entry(entry_for(got, rid), rid)
        eq(sb.record("Leads", rid).get("City"), "Numbered", "Lead %s City" % rid)
    check(re.search(r'"id"\s*:\s*"%s"' % lead(20), r.text),
          "id sent as a number not answered as a JSON string: %s" % short(r.text))


@test()
def mu_ids_compared_exactly(sb, ctx):
    """19-digit ids are compared as integers, never through a double (all of
    ...224000-...224511 are one double; ...229001 is the double of ...229000)."""
    target = "4150868000000224005"
    before = {n: sb.record("Leads", lead(n)).get("City") for n in (4, 6, 9, 200)}
    text = '{"data":[{"City":"Exact"}],"ids":[4150868000000224005]}'
    r = sb.request("POST", "/crm/v8/Leads/actions/mass_update", body=text,
                   token=sb.token(), content_type="application/json")
    got = expect_records(r, 200, "id 4150868000000224005 as a JSON number")
    eq(list(got.keys()), [target], "answered id")
    eq(sb.record("Leads", target).get("City"), "Exact", "Lead ...224005 City")
    for n, city in before.items():
        eq(sb.record("Leads", lead(n)).get("City"), city, "neighbour Lead %s City" % lead(n))
    # unknown ids next to known ones
    beyond = str(LAST_LEAD + 1)
    below = lead(0)
    text = ('{"data":[{"City":"Edge"}],"ids":[%s,"%s","%s"]}' % (beyond, below, str(LAST_LEAD)))
    r = sb.request("POST", "/crm/v8/Leads/actions/mass_update", body=text,
                   token=sb.token(), content_type="application/json")
    got = expect_records(r, 207, "ids ...229001 (number), ...224000, ...229000")
    expect_error_entry(entry_for(got, beyond), beyond, "INVALID_DATA")
    expect_error_entry(entry_for(got, below), below, "INVALID_DATA")
    expect_success_entry(entry_for(got, str(LAST_LEAD)), str(LAST_LEAD))
    eq(sb.record("Leads", str(LAST_LEAD)).get("City"), "Edge", "Lead ...229000 City")


# --- per-record outcomes and HTTP status per version -------------------------------

@test()
def mu_per_record_outcomes(sb, ctx):
    unknown = "4150868000000299999"
    ok = lead(30)
    r = sb.mass_update("Leads", {"City": "Wrong module"}, ids=[deal(40), ok])
    got = expect_records(r, 207, "a Deal id in a Leads call")
    expect_error_entry(entry_for(got, deal(40)), deal(40), "INVALID_DATA")
    check(sb.record("Deals", deal(40)).get("City") is None, "the Deal got a City")
    ids = [unknown, str(BLUEPRINT_LEAD), str(LOCKED_LEAD), str(UNAPPROVED_LEAD), ok]
    before = {rid: sb.record("Leads", rid).get("Lead_Status") for rid in ids[1:]}
    target = "Contacted" if before[ok] != "Contacted" else "Attempted to Contact"
    r = sb.mass_update("Leads", {"Lead_Status": target}, ids=ids)
    got = expect_records(r, 207, "mixed per-record outcomes on v8")
    eq(len(got), 5, "number of entries")
    e = entry_for(got, unknown)
    expect_error_entry(e, unknown, "INVALID_DATA")
    eq(e["message"].lower(), INVALID_ID_MESSAGE, "unknown id message")
    expect_error_entry(entry_for(got, str(BLUEPRINT_LEAD)), str(BLUEPRINT_LEAD), "RECORD_IN_BLUEPRINT")
    expect_error_entry(entry_for(got, str(LOCKED_LEAD)), str(LOCKED_LEAD), "RECORD_LOCKED")
    expect_error_entry(entry_for(got, str(UNAPPROVED_LEAD)), str(UNAPPROVED_LEAD), "NOT_APPROVED")
    expect_success_entry(entry_for(got, ok), ok)
    for rid in ids[1:4]:
        eq(sb.record("Leads", rid).get("Lead_Status"), before[rid],
           "Lead_Status of failed record %s" % rid)
    eq(sb.record("Leads", ok).get("Lead_Status"), target, "Lead_Status of updated record")
    # blueprint only guards its blueprint picklist; lock and approval guard every field
    r = sb.mass_update("Leads", {"City": "Bluetown"}, ids=ids[1:])
    got = expect_records(r, 207, "City on the special Leads")
    expect_success_entry(entry_for(got, str(BLUEPRINT_LEAD)), str(BLUEPRINT_LEAD))
    expect_error_entry(entry_for(got, str(LOCKED_LEAD)), str(LOCKED_LEAD), "RECORD_LOCKED")
    expect_error_entry(entry_for(got, str(UNAPPROVED_LEAD)), str(UNAPPROVED_LEAD), "NOT_APPROVED")
    eq(sb.record("Leads", str(BLUEPRINT_LEAD)).get("City"), "Bluetown", "blueprint Lead City")
    check(sb.record("Leads", str(LOCKED_LEAD)).get("City") != "Bluetown", "locked Lead changed")


@test()
def mu_http_status_per_version(sb, ctx):
    unknown = "4150868000000299998"
    for i, version in enumerate(OLD_VERSIONS):
        rid = lead(40 + i)
        r = sb.mass_update("Leads", {"City": "Mixed %s" % version}, ids=[rid, unknown],
                           version=version)
        got = expect_records(r, 200, "%s mixed results" % version)
        expect_success_entry(entry_for(got, rid), rid, version)
        expect_error_entry(entry_for(got, unknown), unknown, "INVALID_DATA", version)
        eq(sb.record("Leads", rid, version=version).get("City"), "Mixed %s" % version,
           "%s GET after update" % version)
        r = sb.mass_update("Leads", {"City": "All %s" % version}, ids=[rid], version=version)
        expect_records(r, 200, "%s all success" % version)
    rid = lead(50)
    r = sb.mass_update("Leads", {"City": "Mixed v8"}, ids=[rid, unknown])
    expect_records(r, 207, "v8 mixed results")
    r = sb.mass_update("Leads", {"City": "All v8"}, ids=[rid, lead(51)])
    expect_records(r, 200, "v8 all success")
    r = sb.mass_update("Leads", {"City": "None v8"}, ids=[unknown, str(LOCKED_LEAD)])
    got = expect_records(r, 400, "v8 all failed")
    expect_error_entry(entry_for(got, unknown), unknown, "INVALID_DATA")
    expect_error_entry(entry_for(got, str(LOCKED_LEAD)), str(LOCKED_LEAD), "RECORD_LOCKED")


@test()
def mu_multiselect_over_write(sb, ctx):
    langs = picklist(sb, "Deals", "Languages_Known")
    for v in ("English", "Spanish", "German", "Español"):
        check(v in langs, "Deals Languages_Known has no value %r (has %s)" % (v, langs))
    rid = deal(20)

    def put(values, over_write):
        extra = {} if over_write is None else {"over_write": over_write}
        r = sb.mass_update("Deals", {"Languages_Known": values}, ids=[rid], extra=extra)
        got = expect_records(r, 200, "Languages_Known %s over_write %s" % (values, over_write))
        expect_success_entry(entry_for(got, rid), rid)
        return sb.record("Deals", rid).get("Languages_Known")

    eq(put(["English"], True), ["English"], "over_write true [English]")
    eq(put(["Spanish", "English"], False), ["English", "Spanish"],
       "over_write false [Spanish, English] appends without duplicates")
    eq(put(["German", "Spanish"], None), ["English", "Spanish", "German"],
       "over_write absent (false) [German, Spanish] appends without duplicates")
    eq(put(["Español"], True), ["Español"], "over_write true [Español] replaces")
    eq(put(["Español", "English"], False), ["Español", "English"], "append to [Español]")
    # Leads' custom multi-select too
    interests = picklist(sb, "Leads", "Interests")
    check(len(interests) >= 2, "Leads Interests needs two values")
    lid = lead(25)
    r = sb.mass_update("Leads", {"Interests": [interests[0]]}, ids=[lid],
                       extra={"over_write": True})
    expect_records(r, 200, "Interests over_write true")
    r = sb.mass_update("Leads", {"Interests": [interests[1], interests[0]]}, ids=[lid])
    expect_records(r, 200, "Interests append")
    eq(sb.record("Leads", lid).get("Interests"), [interests[0], interests[1]],
       "Interests after append")
    r = sb.mass_update("Leads", {"Interests": [interests[1]]}, ids=[lid],
                       extra={"over_write": True})
    expect_records(r, 200, "Interests replace")
    eq(sb.record("Leads", lid).get("Interests"), [interests[1]], "Interests after replace")


@test()
def mu_get_record_shows_change(sb, ctx):
    rid = lead(60)
    rec = sb.record("Leads", rid)
    new = "Changed-" + str(rec.get("City"))
    r = sb.mass_update("Leads", {"City": new}, ids=[rid], version="v2")
    expect_records(r, 200, "v2 update")
    for version in ("v2", "v2.1", "v7", "v8"):
        eq(sb.record("Leads", rid, version=version).get("City"), new, "%s GET City" % version)
    other = sb.record("Leads", lead(61))
    check(other.get("City") != new, "another record changed")
    # the record keeps its other fields
    after = sb.record("Leads", rid)
    for k, v in rec.items():
        if k not in ("City", "Modified_Time", "Modified_By"):
            eq(after.get(k), v, "Lead %s %s kept" % (rid, k))


@test()
def mu_created_records_other_modules(sb, ctx):
    """Records created through the control endpoint in other modules can be mass updated."""
    for module, first in (("Contacts", "4150868000007000001"), ("Accounts", "4150868000007100001"),
                          ("Products", "4150868000007200001")):
        meta = sb.fields(module)
        field = next((f["api_name"] for f in meta.values() if f.get("mass_update")
                      and f.get("data_type") == "text"), None)
        check(field, "%s has no mass-updatable text field" % module)
        r = sb.create_records(module, 3, first, {field: "Created"})
        check(r.status == 200 and r.json == {"created": 3},
              "POST records %s: %r" % (module, r))
        last = str(int(first) + 2)
        eq(sb.record(module, last).get(field), "Created", "%s %s %s" % (module, last, field))
        r = sb.mass_update(module, {field: "Updated"}, ids=[first, last])
        got = expect_records(r, 200, "%s mass update" % module)
        for rid in (first, last):
            expect_success_entry(entry_for(got, rid), rid)
        eq(sb.record(module, last).get(field), "Updated", "%s %s after" % (module, last))
        eq(sb.record(module, str(int(first) + 1)).get(field), "Created", "untouched record")
