"""Process behaviour: start, command line, fixture lookup, stop (DESIGN section 7, 8.12)."""

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time

import harness
from harness import (CV_ALL_LEADS, Sandbox, TestFailure, check, eq, expect_records, lead, test,
                     wait_for)


def fixture_path():
    return os.path.join(os.path.dirname(os.path.dirname(harness.BINARY)), "fixtures",
                        "sandbox.json")


def smoke(sb, what):
    r = sb.mass_update("Leads", {"City": "Smoke"}, ids=[lead(1)])
    got = expect_records(r, 200, what)
    check(lead(1) in got, "%s: no entry" % what)


@test(sandbox=False)
def start_answer_stop_under_1s(sb, ctx):
    limit = 1.0 * harness.slow_factor(harness.BINARY)
    for i in range(3):
        s = ctx.start()
        check(s.startup_time < limit, "start %d: first stdout line after %.3f s (limit %.0f s)"
              % (i + 1, s.startup_time, limit))
        t0 = time.monotonic()
        smoke(s, "start %d: first call" % (i + 1))
        check(time.monotonic() - t0 < limit, "start %d: token + first call took %.3f s"
              % (i + 1, time.monotonic() - t0))
        problems = s.stop()
        check(not problems, "start %d: %s" % (i + 1, "; ".join(problems)))


@test(sandbox=False)
def sigint_exits_0(sb, ctx):
    s = ctx.start()
    smoke(s, "call")
    problems = s.stop(sig=signal.SIGINT)
    check(not problems, "; ".join(problems))


@test(sandbox=False)
def stop_with_calls_in_flight(sb, ctx):
    s = ctx.start(["--latency-ms", "3000"])
    tok = s.token()
    out = {}

    def call():
        try:
            out["r"] = s.mass_update("Leads", {"City": "Late"}, ids=[lead(2)], token=tok)
        except Exception as e:
            out["r"] = e
    t = threading.Thread(target=call)
    t.start()
    wait_for(lambda: s.stats().get("peak_concurrent", 0) >= 1, 5, what="a call in flight")
    problems = s.stop()
    t.join(10)
    check(not problems, "SIGTERM with a call delayed by latency in flight: %s"
          % "; ".join(problems))


@test(sandbox=False)
def stop_with_job_running(sb, ctx):
    s = ctx.start(["--job-rate", "10"])
    r = s.mass_update("Leads", {"City": "Running"}, cvid=CV_ALL_LEADS)
    check(r.status == 200, "schedule: %r" % r)
    job_id = r.json["data"][0]["details"]["job_id"]
    wait_for(lambda: s.job_status("Leads", job_id).json["data"][0]["Status"] == "RUNNING", 5,
             what="the job to run")
    problems = s.stop()
    check(not problems, "SIGTERM with a job running: %s" % "; ".join(problems))


@test(sandbox=False)
def stop_after_many_connections(sb, ctx):
    s = ctx.start()
    tok = s.token()
    for i in range(300):
        r = s.request("GET", "/crm/v8/Leads/%s" % lead(1 + i), token=tok)
        check(r.status == 200, "GET %d: %r" % (i, r))
    # a client that connects and sends nothing, and one that sends half a request
    idle = socket.create_connection(("127.0.0.1", s.port))
    half = socket.create_connection(("127.0.0.1", s.port))
    half.sendall(b"POST /crm/v8/Leads/actions/mass_update HTTP/1.1\r\nHost: x\r\n"
                 b"Content-Length: 100\r\n\r\n{\"data\"")
    smoke(s, "call beside idle connections")
    try:
        problems = s.stop()
    finally:
        idle.close()
        half.close()
    check(not problems, "SIGTERM with idle and half-sent connections: %s" % "; ".join(problems))


@test(sandbox=False)
def default_fixture_found_from_any_cwd(sb, ctx):
    d = tempfile.mkdtemp(prefix="sandbox-cwd-")
    try:
        s = ctx.start(cwd=d)
        smoke(s, "started from %s" % d)
        eq(s.fields("Leads").get("City", {}).get("mass_update"), True, "fixture loaded")
        problems = s.stop()
        check(not problems, "; ".join(problems))
        # through a relative path to the binary, from another directory
        rel = os.path.relpath(harness.BINARY, os.path.dirname(os.path.dirname(harness.BINARY)))
        s = Sandbox(rel, (), ctx.logdir, cwd=os.path.dirname(os.path.dirname(harness.BINARY)))
        ctx.extra.append(s)
        s.start()
        smoke(s, "started as %s" % rel)
    finally:
        shutil.rmtree(d, ignore_errors=True)


@test(sandbox=False)
def explicit_fixture_option(sb, ctx):
    path = fixture_path()
    check(os.path.isfile(path), "no default fixture at %s" % path)
    s = ctx.start(["--fixture", path])
    smoke(s, "--fixture %s" % path)


def expect_refused(args, what, timeout=5):
    env = dict(os.environ)
    t0 = time.monotonic()
    p = subprocess.Popen([harness.BINARY] + args, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
                         start_new_session=True, env=env)
    try:
        out, err = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGKILL)
        p.wait()
        raise TestFailure("%s: still running after %d s (should refuse to start)"
                          % (what, timeout))
    check(p.returncode not in (0, None), "%s: exit status %s, want non-zero"
          % (what, p.returncode))
    check(b"listening" not in out, "%s: printed a listening line: %r" % (what, out[:200]))
    check(err.strip(), "%s: no message on stderr" % what)
    check(p.returncode > 0, "%s: died of signal %d" % (what, -p.returncode))
    return time.monotonic() - t0


@test(sandbox=False)
def bad_command_lines_refused(sb, ctx):
    expect_refused(["--port", "0", "--no-such-option"], "unknown option")
    expect_refused(["--port", "0", "--fixture", "/nonexistent/fixture.json"], "missing fixture")
    expect_refused(["--port", "abc"], "--port abc")
    d = tempfile.mkdtemp(prefix="sandbox-badfx-")
    bad = os.path.join(d, "bad.json")
    with open(bad, "w") as f:
        f.write("{ not json")
    try:
        expect_refused(["--port", "0", "--fixture", bad], "--fixture with invalid JSON")
    finally:
        os.unlink(bad)
        os.rmdir(d)
    # a port in use
    lsock = socket.socket()
    lsock.bind(("127.0.0.1", 0))
    lsock.listen(1)
    try:
        expect_refused(["--port", str(lsock.getsockname()[1])], "--port of a port in use")
    finally:
        lsock.close()


@test(sandbox=False)
def explicit_port(sb, ctx):
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    s = ctx.start(port=str(port))
    eq(s.port, port, "port in the listening line")
    smoke(s, "--port %d" % port)


@test(sandbox=False)
def all_options_accepted(sb, ctx):
    s = ctx.start(["--token-ttl", "120", "--job-rate", "500", "--concurrency-limit", "3",
                   "--daily-credits", "1000", "--latency-ms", "1", "--dc", "eu", "--seed", "7",
                   "--fixture", fixture_path()])
    r = s.token_request("SANDBOX")
    eq((r.json or {}).get("expires_in"), 120, "expires_in with --token-ttl 120")
    smoke(s, "call with every option")
