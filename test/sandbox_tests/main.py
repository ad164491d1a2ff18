#!/usr/bin/env python3
"""
Runs the zcrm-sandbox black-box suite against one or more binaries.

usage: main.py BINARY [BINARY...]
environment: SANDBOX_TESTS_FILTER=regex  runs only tests whose name matches

Prints `ok - BINARY/test` or `not ok - BINARY/test: reason` per test, and as
its last line `N passed, N failed`; exits 1 on any failure.
"""

import os
import re
import shutil
import sys
import tempfile
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.dont_write_bytecode = True      # keep the checkout free of __pycache__

import harness  # noqa: E402
from harness import Context, Sandbox, Skip, TestFailure  # noqa: E402

import tests_oauth  # noqa: E402,F401
import tests_mass_update  # noqa: E402,F401
import tests_jobs  # noqa: E402,F401
import tests_api  # noqa: E402,F401
import tests_control  # noqa: E402,F401
import tests_process  # noqa: E402,F401
import tests_robustness  # noqa: E402,F401


class Results:
    def __init__(self):
        self.passed = 0
        self.failed = 0

    def ok(self, name, note=None):
        self.passed += 1
        print("ok - %s%s" % (name, "" if note is None else " # " + note), flush=True)

    def fail(self, name, reason):
        self.failed += 1
        reason = " ".join(str(reason).split())
        print("not ok - %s: %s" % (name, reason), flush=True)


def groups_in_order(tests):
    """Shared-process groups (same args) in order of first appearance; own tests alone."""
    order = []
    by_args = {}
    for t in tests:
        if t.own:
            order.append([t])
            continue
        if t.args not in by_args:
            by_args[t.args] = []
            order.append(by_args[t.args])
        by_args[t.args].append(t)
    return order


def run_binary(binary, label, results, pattern):
    logdir = tempfile.mkdtemp(prefix="sandbox-tests-")
    os.environ["ASAN_OPTIONS"] = ("detect_leaks=1:halt_on_error=0:log_path=%s/asan"
                                  % logdir)
    os.environ["UBSAN_OPTIONS"] = ("print_stacktrace=1:halt_on_error=0:log_path=%s/ubsan"
                                   % logdir)
    harness.BINARY = binary
    tests = [t for t in harness.TESTS if pattern is None or re.search(pattern, t.name)]
    attributed = set()
    failed_before = results.failed
    t_start = time.monotonic()
    for group in groups_in_order(tests):
        sb = None
        for t in group:
            name = "%s/%s" % (label, t.name)
            ctx = Context(binary, logdir)
            t_test = time.monotonic()
            try:
                if not t.sandbox:
                    pass
                elif sb is None:
                    sb = Sandbox(binary, t.args, logdir)
                    sb.start()
                else:
                    sb.reset()
                t.func(sb, ctx)
                outcome = None
            except Skip as e:
                outcome = ("skip", str(e))
            except TestFailure as e:
                outcome = ("fail", str(e))
            except Exception as e:  # an unexpected exception is a failure too
                tb = traceback.extract_tb(e.__traceback__)
                where = "%s:%d" % (os.path.basename(tb[-1].filename), tb[-1].lineno) if tb else "?"
                outcome = ("fail", "%s: %s (at %s)" % (type(e).__name__, e, where))
            problems = ctx.stop_all()
            attributed.update(ctx.reports)
            if sb is not None and sb.proc is not None and not sb.alive() and not sb.stopped:
                rc = sb.proc.returncode
                problems.append("sandbox exited during the test with status %s; stderr: %s"
                                % (rc, sb.stderr_tail()))
                problems += sb.stop()
                attributed.update(sb.sanitizer_reports())
                sb = None
            elif sb is not None and sb.stopped:
                attributed.update(sb.sanitizer_reports())
                sb = None
            if problems:
                msg = "; ".join(problems)
                outcome = ("fail", msg if outcome is None or outcome[0] != "fail"
                           else outcome[1] + "; " + msg)
            if os.environ.get("SANDBOX_TESTS_TIMES"):
                print("# %s took %.2f s" % (name, time.monotonic() - t_test), flush=True)
            if outcome is None:
                results.ok(name)
            elif outcome[0] == "skip":
                results.ok(name, "SKIP " + outcome[1])
            else:
                results.fail(name, outcome[1])
        if sb is not None:
            what = "%s/stop[%s]" % (label, (" ".join(group[0].args) or "default") if not group[0].own
                                     else group[0].name)
            problems = sb.stop()
            attributed.update(sb.sanitizer_reports())
            if problems:
                results.fail(what, "; ".join(problems))
            else:
                results.ok(what, "exit 0 in %.3f s" % sb.stop_time)
    for report in sorted(os.listdir(logdir)):
        path = os.path.join(logdir, report)
        if (report.startswith("asan.") or report.startswith("ubsan.")) and path not in attributed:
            with open(path, errors="replace") as f:
                head = " | ".join(l.strip() for l in f.readlines()[:6])
            results.fail("%s/sanitizer[%s]" % (label, report), head)
    print("# %s: suite took %.1f s" % (label, time.monotonic() - t_start), flush=True)
    if results.failed > failed_before:
        print("# %s: sandbox stderr and sanitizer logs kept in %s" % (label, logdir), flush=True)
    else:
        shutil.rmtree(logdir, ignore_errors=True)


def main(argv):
    if len(argv) < 2:
        print("usage: main.py BINARY [BINARY...]", file=sys.stderr)
        return 2
    pattern = os.environ.get("SANDBOX_TESTS_FILTER") or None
    results = Results()
    for binary in argv[1:]:
        label = os.path.basename(binary)
        if not (os.path.isfile(binary) and os.access(binary, os.X_OK)):
            results.fail("%s/binary" % label, "%s is not an executable file" % binary)
            continue
        run_binary(os.path.abspath(binary), label, results, pattern)
    print("%d passed, %d failed" % (results.passed, results.failed), flush=True)
    return 0 if results.failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
