"""Running the auditor binary from tests: a bounded run that captures its
output and its own resource usage, and rejects sanitizer reports.

Why this exists: every integration test runs the CLI the same way, and
the ASan stage depends on one place that turns an AddressSanitizer,
UndefinedBehaviorSanitizer or LeakSanitizer report into a test failure.
"""

import json
import os
import subprocess
import threading

SANITIZER_MARKERS = ("ERROR: AddressSanitizer", "runtime error:",
                     "LeakSanitizer", "ThreadSanitizer")


class Hung(Exception):
    """The process outlived its timeout and was killed."""


class Result:
    """A finished auditor run: returncode, stdout, stderr (text),
    maxrss_kb and cpu_seconds (the process's own rusage), json()."""

    def __init__(self, args, returncode, stdout, stderr, maxrss_kb=0,
                 cpu_seconds=0.0, wall_seconds=0.0):
        self.args = args
        self.returncode = returncode
        self.stdout = stdout
        self.stderr = stderr
        self.maxrss_kb = maxrss_kb
        self.cpu_seconds = cpu_seconds
        self.wall_seconds = wall_seconds

    @property
    def output(self):
        return self.stdout + self.stderr

    def json(self):
        try:
            return json.loads(self.stdout)
        except ValueError as e:
            raise AssertionError("stdout is not JSON (%s):\n%s\nstderr:\n%s"
                                 % (e, self.stdout[:2000], self.stderr))

    def __repr__(self):
        return "<auditor %s -> %d>\nstdout:\n%s\nstderr:\n%s" % (
            " ".join(self.args), self.returncode, self.stdout[:3000],
            self.stderr[:3000])


def assert_no_sanitizer_report(res):
    """Fails when a sanitizer (ASan, UBSan, LSan, TSan) reported anything."""
    for marker in SANITIZER_MARKERS:
        assert marker not in res.stderr, "sanitizer report: %r" % res


def run(argv, timeout=60.0, env=None, cwd=None):
    """Runs argv with stdin closed; returns a Result with the child's own
    rusage (os.wait4).  Raises Hung after killing it when it outlives
    timeout seconds."""
    import time
    t0 = time.monotonic()
    p = subprocess.Popen(argv, stdin=subprocess.DEVNULL,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         env=env, cwd=cwd)
    hung = threading.Event()

    def kill():
        hung.set()
        p.kill()
    timer = threading.Timer(timeout, kill)
    timer.start()
    out = {}

    def reader(name, stream):
        out[name] = stream.read()
    threads = [threading.Thread(target=reader, args=("out", p.stdout)),
               threading.Thread(target=reader, args=("err", p.stderr))]
    for t in threads:
        t.start()
    try:
        _, status, ru = os.wait4(p.pid, 0)
    finally:
        timer.cancel()
    p.returncode = os.waitstatus_to_exitcode(status)
    for t in threads:
        t.join()
    p.stdout.close()
    p.stderr.close()
    res = Result([str(a) for a in argv], p.returncode,
                 out.get("out", b"").decode("utf-8", "replace"),
                 out.get("err", b"").decode("utf-8", "replace"),
                 ru.ru_maxrss, ru.ru_utime + ru.ru_stime,
                 time.monotonic() - t0)
    if hung.is_set():
        raise Hung("auditor hung (> %ss): %r" % (timeout, res))
    return res
