"""Hostile inputs and parallel mixed traffic: the sandbox answers, survives, and (under
ASan/UBSan) reports nothing."""

import json
import random
import socket
import threading
import time

from harness import CV_ALL_LEADS, CV_FAILING, check, eq, expect_records, lead, leads, short, test


def alive(sb, what):
    check(sb.alive(), "%s: the sandbox exited (status %s)" % (what, sb.proc.poll()))
    r = sb.mass_update("Leads", {"City": "Alive"}, ids=[lead(2)])
    expect_records(r, 200, "%s: a good call afterwards" % what)


def raw_exchange(sb, data, timeout=5.0, close_write=False):
    """Sends raw bytes; returns what came back before close or timeout."""
    s = socket.create_connection(("127.0.0.1", sb.port), timeout=timeout)
    try:
        try:
            s.sendall(data)
            if close_write:
                s.shutdown(socket.SHUT_WR)
        except OSError:
            pass
        out = b""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                chunk = s.recv(65536)
            except socket.timeout:
                break
            except OSError:
                break
            if not chunk:
                break
            out += chunk
            if b"\r\n\r\n" in out:
                head, _, body = out.partition(b"\r\n\r\n")
                cl = [l for l in head.split(b"\r\n") if l.lower().startswith(b"content-length:")]
                if cl and len(body) >= int(cl[0].split(b":")[1]):
                    break
        return out
    finally:
        s.close()


def status_of(raw):
    if not raw.startswith(b"HTTP/1."):
        return None
    try:
        return int(raw.split(b" ", 2)[1])
    except (IndexError, ValueError):
        return None


@test()
def hostile_http(sb, ctx):
    tok = sb.token().encode()
    cases = [
        ("garbage request line", b"GARBAGE\r\n\r\n", False),
        ("unknown method", b"BREW /crm/v8/Leads/actions/mass_update HTTP/1.1\r\nHost: x\r\n\r\n",
         False),
        ("100 KB URL", b"GET /crm/v8/Leads/" + b"1" * 100000 + b" HTTP/1.1\r\nHost: x\r\n\r\n",
         False),
        ("100 KB header", b"GET /crm/v8/Leads/1 HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 100000
         + b"\r\n\r\n", False),
        ("10 KB Authorization", b"GET /crm/v8/Leads/1 HTTP/1.1\r\nHost: x\r\n"
         b"Authorization: Zoho-oauthtoken " + b"t" * 10000 + b"\r\n\r\n", False),
        ("short body then close", b"POST /crm/v8/Leads/actions/mass_update HTTP/1.1\r\nHost: x\r\n"
         b"Authorization: Zoho-oauthtoken " + tok + b"\r\nContent-Length: 100\r\n\r\n{\"data\"",
         True),
        ("huge Content-Length", b"POST /crm/v8/Leads/actions/mass_update HTTP/1.1\r\nHost: x\r\n"
         b"Content-Length: 999999999999999\r\n\r\n{}", True),
        ("bad chunked body", b"POST /crm/v8/Leads/actions/mass_update HTTP/1.1\r\nHost: x\r\n"
         b"Transfer-Encoding: chunked\r\n\r\nZZ\r\nabc\r\n0\r\n\r\n", True),
        ("percent junk", b"GET /crm/v8/Leads/actions/mass_update?job_id=%zz%00%&&= HTTP/1.1\r\n"
         b"Host: x\r\nAuthorization: Zoho-oauthtoken " + tok + b"\r\n\r\n", False),
        ("dot segments", b"GET /crm/v8/../../__sandbox/stats HTTP/1.1\r\nHost: x\r\n\r\n", False),
        ("token endpoint garbage", b"POST /oauth/v2/token?%%%=&=&a HTTP/1.1\r\nHost: x\r\n"
         b"Content-Length: 11\r\n\r\n=&=&%zz&a==", False),
    ]
    for what, data, close_write in cases:
        raw = raw_exchange(sb, data, close_write=close_write)
        st = status_of(raw)
        check(st is None or 200 <= st < 500, "%s: answered %r" % (what, raw[:200]))
        check(sb.alive(), "%s: the sandbox exited" % what)
    # a valid chunked request and an HTTP/1.0 one work
    body = json.dumps({"data": [{"City": "Chunked"}], "ids": [lead(3)]}).encode()
    chunked = b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body)
    raw = raw_exchange(sb, b"POST /crm/v8/Leads/actions/mass_update HTTP/1.1\r\nHost: x\r\n"
                       b"Authorization: Zoho-oauthtoken " + tok + b"\r\nContent-Type: "
                       b"application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n"
                       b"\r\n" + chunked)
    eq(status_of(raw), 200, "chunked POST: %r" % raw[:300])
    eq(sb.record("Leads", lead(3)).get("City"), "Chunked", "Lead 3 after the chunked POST")
    raw = raw_exchange(sb, b"GET /crm/v8/Leads/" + lead(3).encode() + b" HTTP/1.0\r\n"
                       b"Authorization: Zoho-oauthtoken " + tok + b"\r\n\r\n")
    eq(status_of(raw), 200, "HTTP/1.0 GET: %r" % raw[:300])
    alive(sb, "after hostile HTTP")


@test()
def hostile_json(sb, ctx):
    tok = sb.token()
    path = "/crm/v8/Leads/actions/mass_update"
    cases = [
        ("deep nesting", "[" * 100000 + "]" * 100000),
        ("deep nesting in data", '{"data":[{"City":' + "[" * 50000 + "]" * 50000 + '}],"ids":["%s"]}'
         % lead(4)),
        ("300,000 ids", json.dumps({"data": [{"City": "X"}],
                                    "ids": [lead(1 + i % 5000) for i in range(300000)]})),
        ("invalid UTF-8", b'{"data":[{"City":"\xff\xfe"}],"ids":["' + lead(4).encode() + b'"]}'),
        ("escaped NUL", '{"data":[{"City":"a\\u0000b"}],"ids":["%s"]}' % lead(4)),
        ("lone surrogate", '{"data":[{"City":"\\ud800"}],"ids":["%s"]}' % lead(4)),
        ("500 copies of one id", json.dumps({"data": [{"City": "Dup"}], "ids": [lead(4)] * 500})),
        ("odd ids", '{"data":[{"City":"X"}],"ids":[1e400, 1.5, true, null, "", "-1", [], {}]}'),
        ("id 2^64", '{"data":[{"City":"X"}],"ids":["18446744073709551616", 18446744073709551616]}'),
        ("huge integer value", '{"data":[{"No_of_Employees":99999999999999999999999999}],'
         '"ids":["%s"]}' % lead(4)),
        ("1e400 value", '{"data":[{"Annual_Revenue":1e400}],"ids":["%s"]}' % lead(4)),
        ("100,000-character City", json.dumps({"data": [{"City": "x" * 100000}],
                                               "ids": [lead(4)]})),
        ("long field name", json.dumps({"data": [{"F" * 100000: "x"}], "ids": [lead(4)]})),
        ("duplicate keys", '{"data":[{"City":"A","City":"B"}],"ids":["%s"],"ids":["%s"]}'
         % (lead(4), lead(5))),
        ("cvid not digits", '{"data":[{"City":"X"}],"cvid":"87501abc"}'),
        ("cvid huge", '{"data":[{"City":"X"}],"cvid":"%s"}' % ("9" * 50)),
        ("cvid number", '{"data":[{"City":"X"}],"cvid":%s}' % CV_FAILING),
        ("territory not object", '{"data":[{"City":"X"}],"cvid":"%s","territory":"x"}'
         % CV_FAILING),
        ("multi-select of objects", '{"data":[{"Interests":[{"a":1},[2]]}],"ids":["%s"]}'
         % lead(4)),
    ]
    for what, body in cases:
        r = sb.request("POST", path, body=body, token=tok, content_type="application/json",
                       timeout=30)
        check(r.status < 500, "%s: HTTP %d %s" % (what, r.status, short(r.text)))
        check(isinstance(r.json, dict), "%s: answer is not a JSON object: %r" % (what, r))
        check(sb.alive(), "%s: the sandbox exited" % what)
        if r.status == 200 or r.status == 207:
            check(isinstance(r.json.get("data"), list), "%s: %r" % (what, r))
    alive(sb, "after hostile JSON")


@test()
def hostile_control(sb, ctx):
    def post(what, path, body, method="POST", ok=(400,)):
        r = sb.request(method, "/__sandbox/" + path, body=body,
                       content_type="application/json", timeout=20)
        check(r.status in ok, "%s %s %s: expected HTTP %s, got %r"
              % (method, path, short(body if isinstance(body, str) else json.dumps(body), 80),
                 "/".join(map(str, ok)), r))
        check(sb.alive(), "%s: the sandbox exited" % what)
        return r
    for body in ("[]", "{", "null", {"latency_ms": "abc"}, {"error_rate": 5},
                 {"error_rate": -0.5}, {"latency_ms": -5}, {"drop_rate": "x"},
                 {"concurrency_limit": -1}, {"daily_credits": -3}, {"token_ttl": "1"},
                 {"job_rate": -10}):
        post("faults", "faults", body)
    # nothing of the refused bodies was applied
    r = sb.mass_update("Leads", {"City": "Calm"}, ids=[lead(6 + 10)])
    expect_records(r, 200, "a call after refused faults")
    check(r.elapsed < 0.5, "a refused faults body changed the latency")
    for body in ("[]", "{", {"module": "Leads", "count": -1, "first_id": "4150868000009300001"},
                 {"module": "Leads", "count": 1 << 40, "first_id": "4150868000009300001"},
                 {"module": "Leads", "count": 2, "first_id": "abc"},
                 {"module": "Leads", "count": 2, "first_id": 4150868000009300001},
                 {"module": "Leads", "count": 2, "first_id": "99999999999999999999"},
                 {"module": "NoSuchModule", "count": 2, "first_id": "4150868000009300001"},
                 {"count": 2, "first_id": "4150868000009300001"},
                 {"module": "Leads", "count": 2, "first_id": "4150868000009300001",
                  "values": ["x"]},
                 {"module": "Leads", "count": "2", "first_id": "4150868000009300001"}):
        post("records", "records", body)
    for path, body, ok in (("records/NoSuchModule/%s" % lead(1), {"locked": True}, (400, 404)),
                           ("records/Leads/4150868000000299999", {"locked": True}, (400, 404)),
                           ("records/Leads/abc", {"locked": True}, (400, 404)),
                           ("records/Leads/%s" % lead(1), "[]", (400,)),
                           ("records/Leads/%s" % lead(1), {"locked": "yes"}, (400,)),
                           ("records/Leads/%s" % lead(1), {"values": "x"}, (400,))):
        post("patch", path, body, method="PATCH", ok=ok)
    for path in ("requests?limit=abc", "requests?limit=-1", "requests?limit=99999999999999999999",
                 "requests?limit="):
        r = sb.request("GET", "/__sandbox/" + path)
        check(r.status in (200, 400) and isinstance(r.json, dict), "GET %s: %r" % (path, r))
    r = sb.request("GET", "/__sandbox/nothing")
    check(r.status == 404, "GET /__sandbox/nothing: %r" % r)
    for method, path in (("GET", "reset"), ("GET", "faults"), ("POST", "stats"),
                         ("DELETE", "records"), ("POST", "requests")):
        r = sb.request(method, "/__sandbox/" + path, body={} if method != "GET" else None)
        check(400 <= r.status < 500, "%s /__sandbox/%s: %r" % (method, path, r))
    # Lead 1 was not locked by a refused PATCH
    r = sb.mass_update("Leads", {"City": "Unlocked"}, ids=[lead(1)])
    expect_records(r, 200, "Lead 1 after refused PATCHes")
    alive(sb, "after hostile control calls")


@test()
def stress_mixed_parallel(sb, ctx):
    """Eight threads of mixed traffic for 3 s, resets included."""
    tok = sb.token()
    ro = sb.token("READONLY")
    stop_at = time.monotonic() + 3.0
    problems = []
    counts = {}
    lock = threading.Lock()
    industries = [p["actual_value"] for p in sb.fields("Leads")["Industry"]["pick_list_values"]
                  if p["actual_value"] != "-None-"]

    def note(kind, r, allowed):
        with lock:
            counts[kind] = counts.get(kind, 0) + 1
            if isinstance(r, Exception):
                problems.append("%s: %r" % (kind, r))
            elif r.status not in allowed or (r.body and not isinstance(r.json, (dict, list))):
                problems.append("%s: %r" % (kind, r))

    def updater(seed):
        rnd = random.Random(seed)
        conn = sb.connect()
        while time.monotonic() < stop_at:
            n = rnd.randint(1, 500)
            first = rnd.randint(1, 5000 - n + 1)
            field = rnd.choice([{"City": "S%d" % seed}, {"Industry": rnd.choice(industries)},
                                {"No_of_Employees": rnd.randint(0, 1000)}])
            version = rnd.choice(["v2", "v7", "v8"])
            try:
                r = sb.request("POST", "/crm/%s/Leads/actions/mass_update" % version,
                               body={"data": [field], "ids": leads(first, n),
                                     "over_write": rnd.random() < 0.5},
                               token=tok, conn=conn)
            except Exception as e:
                conn.close()
                conn = sb.connect()
                r = e
            note("update", r, (200, 207, 400, 429))
        conn.close()

    def jobs():
        rnd = random.Random(7)
        while time.monotonic() < stop_at:
            try:
                r = sb.mass_update("Leads", {"State": "J"}, cvid=rnd.choice([CV_FAILING,
                                                                             CV_ALL_LEADS]))
                note("schedule", r, (200, 400, 429))
                if r.status == 200:
                    job = r.json["data"][0]["details"]["job_id"]
                    for _ in range(5):
                        note("status", sb.job_status("Leads", job, token=ro,
                                                     version=rnd.choice(["v7", "v8"])),
                             (200, 400, 404, 429))
            except Exception as e:
                note("jobs", e, ())

    def reader():
        rnd = random.Random(8)
        while time.monotonic() < stop_at:
            try:
                kind = rnd.random()
                if kind < 0.6:
                    r = sb.request("GET", "/crm/v8/Leads/%s" % lead(rnd.randint(1, 5000)),
                                   token=ro)
                elif kind < 0.8:
                    r = sb.request("GET", "/crm/v8/settings/fields?module=Leads", token=ro)
                else:
                    r = sb.request("GET", "/crm/v8/settings/custom_views?module=Leads", token=ro)
                note("read", r, (200, 429))
            except Exception as e:
                note("read", e, ())

    def control():
        rnd = random.Random(9)
        last_reset = time.monotonic()
        while time.monotonic() < stop_at:
            try:
                k = rnd.random()
                if time.monotonic() - last_reset > 0.8:
                    note("reset", sb.control("POST", "reset", body={}), (200,))
                    last_reset = time.monotonic()
                elif k < 0.3:
                    note("stats", sb.control("GET", "stats"), (200,))
                elif k < 0.5:
                    note("log", sb.control("GET", "requests?limit=%d" % rnd.randint(1, 300)),
                         (200,))
                elif k < 0.7:
                    note("faults", sb.control("POST", "faults",
                                              body={"latency_ms": rnd.randint(0, 3),
                                                    "job_rate": rnd.choice([500, 5000, 50000])}),
                         (200,))
                elif k < 0.85:
                    note("patch", sb.control("PATCH", "records/Leads/%s" % lead(rnd.randint(
                        1, 5000)), body={"locked": rnd.random() < 0.5,
                                         "values": {"City": "P"}}), (200,))
                else:
                    note("create", sb.create_records("Leads", rnd.randint(1, 2000),
                                                     str(4150868000009400001 + rnd.randint(0, 9)
                                                         * 10000), {"City": "C"}), (200,))
            except Exception as e:
                note("control", e, ())

    def tokens():
        while time.monotonic() < stop_at:
            try:
                note("token", sb.token_request("SANDBOX2", secret="wrong"), (200, 400, 401))
            except Exception as e:
                note("token", e, ())
    threads = [threading.Thread(target=updater, args=(i,)) for i in range(3)]
    threads += [threading.Thread(target=f) for f in (jobs, reader, reader, control, tokens)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    check(not any(t.is_alive() for t in threads), "stress threads still running after 60 s")
    check(not problems, "%d bad answers, e.g. %s (counts %s)" % (len(problems),
                                                                 "; ".join(problems[:3]), counts))
    check(counts.get("update", 0) >= 10 and counts.get("reset", 0) >= 1,
          "too little traffic: %s" % counts)
    sb.reset()
    alive(sb, "after the stress run")
