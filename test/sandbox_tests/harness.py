"""
Black-box test harness for zcrm-sandbox (python3 standard library only).

A Sandbox is one running zcrm-sandbox process, started with --port 0; the
harness parses the first stdout line for the URL, talks plain HTTP/1.1 to it,
and stops it with SIGTERM, checking exit status 0, an exit in under a second,
no process left in its session, and no sanitizer report written by it.

Tests are plain functions registered with @test; those with the same command
line share one process, reset through POST /__sandbox/reset between tests.
"""

import glob
import http.client
import json
import os
import re
import select
import signal
import subprocess
import threading
import time
import urllib.parse

# --- fixed handles of the default fixture (DESIGN section 7) -------------

LEAD_BASE = 4150868000000224000
FIRST_LEAD = 4150868000000224001
LAST_LEAD = 4150868000000229000
BLUEPRINT_LEAD = 4150868000000224006
LOCKED_LEAD = 4150868000000224007
UNAPPROVED_LEAD = 4150868000000224008
FIRST_DEAL = 4150868000000300001
LAST_DEAL = 4150868000000301000
CV_ALL_LEADS = "4150868000000087501"
CV_EMPTY = "4150868000000087502"
CV_BIG_CONTACTS = "4150868000000087503"
CV_NO_ACCESS = "4150868000000087504"
CV_FAILING = "4150868000000087505"
TERRITORY = "4150868000000090001"
TERRITORY_CHILD = "4150868000000090002"

CLIENTS = {
    "SANDBOX": ("1000.SANDBOX", "sandbox-secret", "1000.sandbox.refresh"),
    "SANDBOX2": ("1000.SANDBOX2", "sandbox-secret-2", "1000.sandbox2.refresh"),
    "READONLY": ("1000.READONLY", "readonly-secret", "1000.readonly.refresh"),
}

OLD_VERSIONS = ["v2", "v2.1", "v3", "v4", "v5", "v6", "v7"]
FLAT_KEYS = {"code", "details", "message", "status"}
SUCCESS_DETAIL_KEYS = {"id", "Modified_Time", "Modified_By", "Created_Time",
                       "Created_By"}
STATUS_KEYS = {"Status", "Failed_Count", "Updated_Count", "Not_Updated_Count",
               "Total_Count"}
ISO_DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}[+-]\d{2}:\d{2}$")
LISTEN_LINE = re.compile(r"^zcrm-sandbox listening on (http://127\.0\.0\.1:(\d+))$")


# Sanitizer builds run several times slower: wall-clock limits on starting and
# answering (not on stopping) are multiplied by this for them.
def slow_factor(binary):
    return 3.0 if "asan" in os.path.basename(binary) or "san" in os.environ.get(
        "SANDBOX_TESTS_SLOW", "") else 1.0


def lead(n):
    """Id (string) of the n-th fixture Lead, 1..5000."""
    return str(LEAD_BASE + n)


def leads(first, count):
    return [lead(n) for n in range(first, first + count)]


def deal(n):
    return str(FIRST_DEAL - 1 + n)


# --- assertions ------------------------------------------------------------

class TestFailure(Exception):
    pass


class Skip(Exception):
    pass


def check(cond, msg):
    if not cond:
        raise TestFailure(msg)


def eq(actual, expected, what):
    if actual != expected:
        raise TestFailure("%s: expected %r, got %r" % (what, expected, actual))


def short(value, limit=400):
    text = value if isinstance(value, str) else json.dumps(value)
    return text if len(text) <= limit else text[:limit] + "..."


# --- HTTP --------------------------------------------------------------------

class Response:
    def __init__(self, status, headers, body, elapsed):
        self.status = status
        self.headers = headers          # lower-case name -> value
        self.body = body
        self.elapsed = elapsed
        self.text = body.decode("utf-8", "replace")
        try:
            self.json = json.loads(self.text) if self.text else None
        except ValueError:
            self.json = None

    def __repr__(self):
        return "HTTP %d %s" % (self.status, short(self.text))


def expect_flat(resp, status, code, what="answer"):
    """A request-level error: flat {code, details, message, status} envelope."""
    check(resp.status == status and isinstance(resp.json, dict)
          and resp.json.get("code") == code,
          "%s: expected HTTP %d %s, got %r" % (what, status, code, resp))
    body = resp.json
    eq(set(body.keys()), FLAT_KEYS, "%s: envelope keys" % what)
    eq(body["status"], "error", "%s: status" % what)
    check(isinstance(body["details"], dict),
          "%s: details is not an object: %r" % (what, body["details"]))
    check(isinstance(body["message"], str) and body["message"],
          "%s: message is not a non-empty string: %r" % (what, body["message"]))
    return body


def expect_records(resp, status, what="answer"):
    """A per-record answer {"data": [...]}: returns entries keyed by details.id."""
    check(resp.status == status and isinstance(resp.json, dict)
          and isinstance(resp.json.get("data"), list),
          "%s: expected HTTP %d with data[], got %r" % (what, status, resp))
    eq(set(resp.json.keys()), {"data"}, "%s: top-level keys" % what)
    out = {}
    for entry in resp.json["data"]:
        check(isinstance(entry, dict) and set(entry.keys()) == FLAT_KEYS,
              "%s: data[] entry keys not {code,details,message,status}: %s"
              % (what, short(entry)))
        rid = entry["details"].get("id") if isinstance(entry["details"], dict) else None
        check(isinstance(rid, str),
              "%s: data[] entry without string details.id: %s" % (what, short(entry)))
        check(rid not in out, "%s: id %s answered twice" % (what, rid))
        out[rid] = entry
    return out


def entry_for(got, rid, what="answer"):
    check(rid in got, "%s: no data[] entry for id %s (entries for %s)"
          % (what, rid, short(sorted(got.keys()), 200)))
    return got[rid]


def expect_success_entry(entry, rid, what="entry"):
    eq(entry["code"], "SUCCESS", "%s %s code" % (what, rid))
    eq(entry["status"], "success", "%s %s status" % (what, rid))
    eq(entry["message"], "record updated", "%s %s message" % (what, rid))
    det = entry["details"]
    eq(set(det.keys()), SUCCESS_DETAIL_KEYS, "%s %s details keys" % (what, rid))
    eq(det["id"], rid, "%s details.id" % what)
    for k in ("Modified_Time", "Created_Time"):
        check(isinstance(det[k], str) and ISO_DATETIME.match(det[k]),
              "%s %s %s not YYYY-MM-DDTHH:MM:SS+HH:MM: %r" % (what, rid, k, det[k]))
    for k in ("Modified_By", "Created_By"):
        v = det[k]
        check(isinstance(v, dict) and isinstance(v.get("id"), str)
              and v["id"].isdigit() and isinstance(v.get("name"), str),
              "%s %s %s not {name, id(string)}: %r" % (what, rid, k, v))


def expect_error_entry(entry, rid, code, what="entry"):
    eq(entry["code"], code, "%s %s code" % (what, rid))
    eq(entry["status"], "error", "%s %s status" % (what, rid))
    check(isinstance(entry["message"], str) and entry["message"],
          "%s %s: empty message" % (what, rid))
    eq(entry["details"].get("id"), rid, "%s details.id" % what)


# --- processes ---------------------------------------------------------------

def session_members(sid):
    """Pids of live processes whose session id is sid."""
    pids = []
    for stat in glob.glob("/proc/[0-9]*/stat"):
        try:
            with open(stat) as f:
                data = f.read()
        except OSError:
            continue
        fields = data[data.rfind(")") + 2:].split()
        # fields: state ppid pgrp session ...
        if len(fields) > 3 and fields[0] != "Z" and int(fields[3]) == sid:
            pids.append(int(stat.split("/")[2]))
    return pids


class Sandbox:
    """One zcrm-sandbox process."""

    counter = 0

    def __init__(self, binary, args=(), logdir="/tmp", cwd=None, port="0"):
        self.binary = binary
        self.args = list(args)
        self.logdir = logdir
        self.cwd = cwd
        self.port_arg = port
        self.proc = None
        self.base = None
        self.port = None
        self.tokens = {}
        self.startup_time = None
        self.stop_time = None
        self.stdout_rest = []
        self.stopped = False
        Sandbox.counter += 1
        self.stderr_path = os.path.join(logdir, "sandbox-%d.stderr" % Sandbox.counter)

    # -- lifecycle --

    def start(self, timeout=10.0):
        cmd = [self.binary, "--port", str(self.port_arg)] + self.args
        self.stderr_file = open(self.stderr_path, "wb")
        t0 = time.monotonic()
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE,
                                     stderr=self.stderr_file, stdin=subprocess.DEVNULL,
                                     cwd=self.cwd, start_new_session=True)
        fd = self.proc.stdout.fileno()
        buf = b""
        deadline = t0 + timeout
        while b"\n" not in buf:
            left = deadline - time.monotonic()
            if left <= 0:
                self.kill()
                raise TestFailure("no listening line within %.0f s (cmd %s); stderr: %s"
                                  % (timeout, " ".join(cmd), self.stderr_tail()))
            ready, _, _ = select.select([fd], [], [], left)
            if ready:
                chunk = os.read(fd, 4096)
                if not chunk:
                    rc = self.proc.wait()
                    self.stopped = True
                    raise TestFailure("exited (status %s) before its listening line; "
                                      "stdout %r; stderr: %s"
                                      % (rc, buf, self.stderr_tail()))
                buf += chunk
        self.startup_time = time.monotonic() - t0
        line, rest = buf.split(b"\n", 1)
        self.stdout_rest.append(rest)
        m = LISTEN_LINE.match(line.decode("utf-8", "replace").rstrip("\r"))
        if not m:
            self.kill()
            raise TestFailure("first stdout line is %r, expected "
                              "'zcrm-sandbox listening on http://127.0.0.1:PORT'" % line)
        self.base = m.group(1)
        self.port = int(m.group(2))
        threading.Thread(target=self._drain, daemon=True).start()
        return self

    def _drain(self):
        fd = self.proc.stdout.fileno()
        while True:
            try:
                chunk = os.read(fd, 65536)
            except OSError:
                return
            if not chunk:
                return
            self.stdout_rest.append(chunk)

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def kill(self):
        self.stopped = True
        if self.proc and self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except OSError:
                pass
            self.proc.wait()

    def stop(self, sig=signal.SIGTERM, limit=1.0):
        """Stops the process; returns a list of problems (empty when clean)."""
        problems = []
        if self.proc is None or self.stopped:
            return problems
        self.stopped = True
        pid = self.proc.pid
        rc = self.proc.poll()
        if rc is not None:
            problems.append("had already exited with status %s before %s"
                            % (rc, signal.Signals(sig).name))
        else:
            t0 = time.monotonic()
            self.proc.send_signal(sig)
            try:
                rc = self.proc.wait(timeout=limit)
                self.stop_time = time.monotonic() - t0
            except subprocess.TimeoutExpired:
                problems.append("still running %.1f s after %s"
                                % (limit, signal.Signals(sig).name))
                try:
                    rc = self.proc.wait(timeout=5)
                    self.stop_time = time.monotonic() - t0
                except subprocess.TimeoutExpired:
                    self.kill()
                    rc = None
            if rc is not None and rc != 0:
                problems.append("exit status %d after %s (want 0)"
                                % (rc, signal.Signals(sig).name))
        left = [p for p in session_members(pid) if p != pid]
        if left:
            problems.append("processes left behind in its session: %s" % left)
            for p in left:
                try:
                    os.kill(p, signal.SIGKILL)
                except OSError:
                    pass
        self.stderr_file.close()
        for report in self.sanitizer_reports():
            with open(report, "r", errors="replace") as f:
                head = " | ".join(l.strip() for l in f.readlines()[:6])
            problems.append("sanitizer report %s: %s" % (os.path.basename(report),
                                                          short(head, 600)))
        if problems and os.path.getsize(self.stderr_path) > 0:
            problems.append("stderr: " + self.stderr_tail())
        return problems

    def sanitizer_reports(self):
        pid = self.proc.pid
        out = []
        for prefix in ("asan", "ubsan"):
            out += glob.glob(os.path.join(self.logdir, "%s.%d" % (prefix, pid)))
            out += glob.glob(os.path.join(self.logdir, "%s.%d.*" % (prefix, pid)))
        return sorted(set(out))

    def stderr_tail(self, n=600):
        try:
            with open(self.stderr_path, "rb") as f:
                data = f.read()
        except OSError:
            return ""
        return data[-n:].decode("utf-8", "replace").strip()

    def rss_kib(self):
        with open("/proc/%d/status" % self.proc.pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        return None

    # -- HTTP --

    def connect(self, timeout=30):
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)

    def request(self, method, path, body=None, token=None, headers=None,
                timeout=30, conn=None, content_type=None):
        hdrs = {}
        if token is not None:
            hdrs["Authorization"] = "Zoho-oauthtoken " + token
        data = None
        if body is not None:
            if isinstance(body, (bytes, bytearray)):
                data = bytes(body)
            elif isinstance(body, str):
                data = body.encode("utf-8")
            else:
                data = json.dumps(body).encode("utf-8")
                hdrs["Content-Type"] = "application/json"
        if content_type:
            hdrs["Content-Type"] = content_type
        if headers:
            hdrs.update(headers)
        own = conn is None
        c = self.connect(timeout) if own else conn
        t0 = time.monotonic()
        try:
            c.request(method, path, body=data, headers=hdrs)
            r = c.getresponse()
            raw = r.read()
            elapsed = time.monotonic() - t0
            resp = Response(r.status, {k.lower(): v for k, v in r.getheaders()},
                            raw, elapsed)
        finally:
            if own:
                c.close()
        return resp

    # -- OAuth --

    def token_request(self, client="SANDBOX", secret=None, refresh=None,
                      style="form", client_id=None):
        cid, csecret, crefresh = CLIENTS.get(client, (client, "", ""))
        params = {"grant_type": "refresh_token",
                  "client_id": client_id if client_id is not None else cid,
                  "client_secret": secret if secret is not None else csecret,
                  "refresh_token": refresh if refresh is not None else crefresh}
        enc = urllib.parse.urlencode(params)
        if style == "form":
            return self.request("POST", "/oauth/v2/token", body=enc,
                                content_type="application/x-www-form-urlencoded")
        return self.request("POST", "/oauth/v2/token?" + enc, body=b"")

    def fresh_token(self, client="SANDBOX"):
        resp = self.token_request(client)
        check(resp.status == 200 and isinstance(resp.json, dict)
              and isinstance(resp.json.get("access_token"), str),
              "token request for %s failed: %r" % (client, resp))
        self.tokens[client] = resp.json["access_token"]
        return resp.json["access_token"]

    def token(self, client="SANDBOX"):
        """A cached token (tokens survive reset)."""
        if client not in self.tokens:
            self.fresh_token(client)
        return self.tokens[client]

    # -- CRM helpers --

    def mass_update(self, module, data, ids=None, cvid=None, version="v8",
                    client="SANDBOX", token=None, extra=None, body=None):
        if body is None:
            body = {"data": data if isinstance(data, list) else [data]}
            if ids is not None:
                body["ids"] = ids
            if cvid is not None:
                body["cvid"] = cvid
            if extra:
                body.update(extra)
        tok = token if token is not None else self.token(client)
        return self.request("POST", "/crm/%s/%s/actions/mass_update" % (version, module),
                            body=body, token=tok)

    def job_status(self, module, job_id, version="v8", client="SANDBOX", token=None):
        tok = token if token is not None else self.token(client)
        q = "" if job_id is None else "?job_id=" + str(job_id)
        return self.request("GET", "/crm/%s/%s/actions/mass_update%s" % (version, module, q),
                            token=tok)

    def record(self, module, rid, version="v8", client="SANDBOX"):
        resp = self.request("GET", "/crm/%s/%s/%s" % (version, module, rid),
                            token=self.token(client))
        check(resp.status == 200 and isinstance(resp.json, dict)
              and isinstance(resp.json.get("data"), list) and len(resp.json["data"]) == 1,
              "GET /crm/%s/%s/%s: expected 200 {\"data\":[record]}, got %r"
              % (version, module, rid, resp))
        rec = resp.json["data"][0]
        eq(rec.get("id"), str(rid), "GET %s/%s: id" % (module, rid))
        return rec

    def fields(self, module, client="SANDBOX"):
        resp = self.request("GET", "/crm/v8/settings/fields?module=" + module,
                            token=self.token(client))
        check(resp.status == 200 and isinstance(resp.json, dict)
              and isinstance(resp.json.get("fields"), list),
              "GET settings/fields?module=%s: %r" % (module, resp))
        return {f.get("api_name"): f for f in resp.json["fields"]}

    # -- control --

    def control(self, method, what, body=None):
        return self.request(method, "/__sandbox/" + what, body=body)

    def reset(self):
        resp = self.control("POST", "reset", body={})
        check(resp.status == 200 and resp.json == {"ok": True},
              "POST /__sandbox/reset: expected 200 {\"ok\": true}, got %r" % resp)

    def faults(self, **kw):
        resp = self.control("POST", "faults", body=kw)
        check(resp.status == 200 and resp.json == {"ok": True},
              "POST /__sandbox/faults %s: expected 200 {\"ok\": true}, got %r"
              % (json.dumps(kw), resp))

    def stats(self):
        resp = self.control("GET", "stats")
        check(resp.status == 200 and isinstance(resp.json, dict),
              "GET /__sandbox/stats: %r" % resp)
        return resp.json

    def requests_log(self, limit=None):
        resp = self.control("GET", "requests" + ("" if limit is None else "?limit=%d" % limit))
        check(resp.status == 200 and isinstance(resp.json, dict)
              and isinstance(resp.json.get("requests"), list),
              "GET /__sandbox/requests: %r" % resp)
        return resp.json["requests"]

    def patch_record(self, module, rid, body):
        resp = self.control("PATCH", "records/%s/%s" % (module, rid), body=body)
        check(resp.status == 200 and resp.json == {"ok": True},
              "PATCH /__sandbox/records/%s/%s: expected 200 {\"ok\": true}, got %r"
              % (module, rid, resp))

    def create_records(self, module, count, first_id, values=None, timeout=120):
        body = {"module": module, "count": count, "first_id": str(first_id)}
        if values is not None:
            body["values"] = values
        return self.request("POST", "/__sandbox/records", body=body, timeout=timeout)


def wait_for(cond, timeout, interval=0.02, what="condition"):
    """Polls cond() until it returns a true value or the deadline passes."""
    deadline = time.monotonic() + timeout
    while True:
        v = cond()
        if v:
            return v
        if time.monotonic() >= deadline:
            raise TestFailure("timed out after %.1f s waiting for %s" % (timeout, what))
        time.sleep(interval)


# --- registry ------------------------------------------------------------------

class Test:
    def __init__(self, name, func, args, own, sandbox):
        self.name = name
        self.func = func
        self.args = tuple(args)
        self.own = own or not sandbox
        self.sandbox = sandbox


TESTS = []


def test(args=(), own=False, sandbox=True):
    """Registers a test function f(sb, ctx); args: the sandbox's extra command-line
    arguments; own: give the test a fresh process of its own; sandbox=False: sb is
    None (the test starts what it needs through ctx)."""
    def deco(func):
        TESTS.append(Test(func.__name__, func, args, own, sandbox))
        return func
    return deco


class Context:
    """Per-test helpers: extra sandboxes (stopped and checked at the end)."""

    def __init__(self, binary, logdir):
        self.binary = binary
        self.logdir = logdir
        self.extra = []
        self.reports = set()        # sanitizer reports of the sandboxes stopped here

    def start(self, args=(), cwd=None, port="0"):
        sb = Sandbox(self.binary, args, self.logdir, cwd=cwd, port=port)
        self.extra.append(sb)
        return sb.start()

    def stop_all(self):
        problems = []
        for sb in self.extra:
            problems += ["extra sandbox [%s]: %s" % (" ".join(sb.args), p)
                         for p in sb.stop()]
            if sb.proc is not None:
                self.reports.update(sb.sanitizer_reports())
        self.extra = []
        return problems
