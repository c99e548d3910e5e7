#!/usr/bin/env python3
"""Data-driven tests of the async-auditor command line.

Usage: python tests/cli/run_cases.py --auditor PATH [-v] [--update] [CASE...]

Each directory tests/cli/cases/<name>/ is one case:

  args             one argument per line.  {case} is replaced by the case
                   directory, {backend} by the URL of the fake backend and
                   {out} by an empty scratch directory for report files.
  rules.yaml       optional; referred to from args as {case}/rules.yaml
  backend.json     optional canned Prometheus API answers (see Backend);
                   without it {backend} points at a closed port
  env              optional KEY=VALUE lines added to a minimal environment
                   (PATH, LANG, HOME, TZ and the caller's *SAN_OPTIONS)
  expected_exit    the exit status (an integer)
  expected_stdout, expected_stderr
                   the exact output; or, named *_contains, lines each of
                   which must appear somewhere in that output
  expected_files/  files the run must write into {out}, compared exactly
  not_in_output    lines that must appear in no output and no written file
                   (secrets)
  expected_requests
                   the exact requests the fake backend must receive (see
                   Requests)

Before comparing, the actual outputs have the backend URL, the case and the
scratch directory replaced back by {backend}, {case} and {out}, so expected
files stay stable.  --update rewrites expected_stdout, expected_stderr and
expected_files/ from the actual run (review the diff before committing).

Backend (backend.json): {"routes": [ROUTE, ...]}.  A request is answered
by the first ROUTE whose "path" equals the request path and whose
"query" (the PromQL, exact) or "query_contains" (a substring) matches the
request's query parameter, and whose "match" equals its match[] parameter
(the series API's selector), if given.  A ROUTE answers with "status"
(default 200) and "body" (JSON, serialised) or "body_text" (sent as is);
"responses": [ANSWER, ...] serves its answers in turn, repeating the last;
"require_header": {"Name": "value"} answers 401 unless the request carries
that header; "content_type" replaces application/json (e.g. for a
/metrics route that scrape mode reads).  Unmatched requests get an empty
successful answer (vector, matrix or list) for /api/v1/query, /query_range
and /series, and 404 otherwise.  The server binds 127.0.0.1 on a free
port and is stopped after the case.

Requests (expected_requests): every request the backend received, written
by hand from the rule semantics (docs/rules.md, docs/cli.md), never copied
from a run.  A request is a line "METHOD PATH" followed by its query
parameters, decoded, one "  name: value" line each (a parameter given twice
is listed twice); the value is exact, to the end of the line, except
"{now}", which stands for a Unix time taken during the run.  A line "----"
ends a batch: the requests of one batch may arrive in any order, batches
must arrive in order (the auditor sends a batch only after the previous
one was answered).  Blank lines and lines starting with "#" are ignored.
No request may be missing and none may be extra.

The last line printed is "N passed, N failed"; the exit status is 1 when a
case failed.
"""

import argparse
import difflib
import http.server
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import xml.etree.ElementTree as ET

HERE = os.path.dirname(os.path.abspath(__file__))
CASES = os.path.join(HERE, "cases")
RUN_TIMEOUT = 60


class Backend:
    """A tiny threaded HTTP server answering from backend.json."""

    def __init__(self, spec):
        self.routes = spec.get("routes", [])
        self.counters = {}
        self.requests = []
        self.log = []  # (method, path, [(name, value)]) in arrival order
        self.lock = threading.Lock()
        backend = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                backend.answer(self, "GET", "")

            def do_POST(self):
                n = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(n).decode("utf-8", "replace")
                backend.answer(self, "POST", body)

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0),
                                                      Handler)
        self.server.daemon_threads = True
        self.url = "http://127.0.0.1:%d" % self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever,
                                       kwargs={"poll_interval": 0.05},
                                       daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=10)

    def match(self, path, params):
        query = params.get("query", [None])[0]
        for i, route in enumerate(self.routes):
            if route.get("path", path) != path:
                continue
            if "query" in route and route["query"] != query:
                continue
            if "match" in route and [route["match"]] != params.get(
                    "match[]"):
                continue
            if "query_contains" in route and (
                    query is None or route["query_contains"] not in query):
                continue
            return i, route
        return None, None

    def answer(self, h, method, body):
        parsed = urllib.parse.urlsplit(h.path)
        params = urllib.parse.parse_qs(parsed.query)
        pairs = urllib.parse.parse_qsl(parsed.query, keep_blank_values=True)
        if body:
            params.update(urllib.parse.parse_qs(body))
            pairs += urllib.parse.parse_qsl(body, keep_blank_values=True)
        with self.lock:
            self.requests.append((parsed.path, params))
            self.log.append((method, parsed.path, pairs))
        i, route = self.match(parsed.path, params)
        status, payload = 404, {"status": "error", "errorType": "not_found",
                                "error": "no such path"}
        if route is None:
            empty = {"/api/v1/query": {"resultType": "vector", "result": []},
                     "/api/v1/query_range": {"resultType": "matrix",
                                             "result": []},
                     "/api/v1/series": [], "/api/v1/labels": []}
            if parsed.path in empty:
                status = 200
                payload = {"status": "success", "data": empty[parsed.path]}
        else:
            ans = route
            if "responses" in route:
                n = self.counters.get(i, 0)
                self.counters[i] = n + 1
                seq = route["responses"]
                ans = seq[min(n, len(seq) - 1)]
            status = ans.get("status", 200)
            payload = ans.get("body_text", ans.get("body", {}))
            for name, value in route.get("require_header", {}).items():
                if h.headers.get(name) != value:
                    status = 401
                    payload = {"status": "error", "errorType": "auth",
                               "error": "missing " + name}
        ctype = "application/json"
        if route is not None:
            ctype = route.get("content_type", ctype)
        data = payload if isinstance(payload, str) else json.dumps(payload)
        data = data.encode("utf-8")
        try:
            h.send_response(status)
            h.send_header("Content-Type", ctype)
            h.send_header("Content-Length", str(len(data)))
            h.end_headers()
            h.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass


def closed_port_url():
    """A URL on which nothing listens (connection refused)."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return "http://127.0.0.1:%d" % port


def read(path):
    with open(path, encoding="utf-8", errors="replace") as f:
        return f.read()


def diff(expected, actual, label):
    lines = difflib.unified_diff(expected.splitlines(True),
                                 actual.splitlines(True),
                                 "expected " + label, "actual " + label)
    return "".join(lines)


def parse_requests(text):
    """expected_requests -> [[(head, [(name, value)])]], one list per
    batch."""
    batches, batch, cur = [], [], None
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        if line.strip() == "----":
            batches.append(batch)
            batch, cur = [], None
        elif line.startswith("  "):
            name, sep, value = line[2:].partition(":")
            if cur is None or not sep:
                raise ValueError("expected_requests:%d: not a parameter "
                                 "of a request: %r" % (n, line))
            cur[1].append((name, value[1:] if value[:1] == " " else value))
        else:
            cur = (line.strip(), [])
            batch.append(cur)
    if batch:
        batches.append(batch)
    return batches


def show_request(req):
    head, params = req
    return head + "".join("\n  %s: %s" % p for p in params)


def same_request(want, got, t0, t1):
    """Whether a received request is the expected one; "{now}" matches a
    Unix time in [t0, t1]."""
    if want[0] != got[0] or len(want[1]) != len(got[1]):
        return False
    rest = list(got[1])
    for name, value in sorted(want[1], key=lambda p: p[1] == "{now}"):
        for i, (gn, gv) in enumerate(rest):
            if gn != name:
                continue
            if value == "{now}":
                try:
                    ok = t0 <= float(gv) <= t1
                except ValueError:
                    ok = False
            else:
                ok = gv == value
            if ok:
                del rest[i]
                break
        else:
            return False
    return not rest


def check_requests(expected, log, t0, t1):
    """Problems of the received requests against expected_requests."""
    try:
        batches = parse_requests(expected)
    except ValueError as e:
        return [str(e)]
    got = [("%s %s" % (m, p), params) for m, p, params in log]
    problems = []
    at = 0
    for k, batch in enumerate(batches, 1):
        part = got[at:at + len(batch)]
        at += len(batch)
        left = list(part)
        missing = []
        for want in batch:
            for i, g in enumerate(left):
                if same_request(want, g, t0, t1):
                    del left[i]
                    break
            else:
                missing.append(want)
        for want in missing:
            problems.append("batch %d: request not sent:\n%s"
                            % (k, show_request(want)))
        for g in left:
            problems.append("batch %d: unexpected request:\n%s"
                            % (k, show_request(g)))
    for g in got[at:]:
        problems.append("request after the last batch:\n%s"
                        % show_request(g))
    return problems


def check_syntax(args, stdout, written):
    """Reports must parse: JSON and JUnit XML on stdout and in files."""
    problems = []
    docs = [(f, t) for f, t in written.items()]
    for i, a in enumerate(args):
        fmt = a[len("--format="):] if a.startswith("--format=") else (
            args[i + 1] if a == "--format" and i + 1 < len(args) else None)
        if fmt in ("json", "junit") and stdout.strip():
            docs.append(("stdout." + ("xml" if fmt == "junit" else fmt),
                         stdout))
    for name, text in docs:
        try:
            if name.endswith(".json"):
                json.loads(text)
            elif name.endswith(".xml"):
                root = ET.fromstring(text.encode("utf-8"))
                if root.tag != "testsuites" or len(root) != 1:
                    problems.append("%s: not one testsuite" % name)
        except (ValueError, ET.ParseError) as e:
            problems.append("%s does not parse: %s" % (name, e))
    return problems


def run_case(name, auditor, verbose, update):
    cdir = os.path.join(CASES, name)
    problems = []
    out_dir = tempfile.mkdtemp(prefix="aa-cli-")
    try:
        spec = None
        bpath = os.path.join(cdir, "backend.json")
        if os.path.exists(bpath):
            spec = json.loads(read(bpath))
        backend = Backend(spec) if spec is not None else None
        url = backend.url if backend else closed_port_url()

        def subst(s):
            return (s.replace("{case}", cdir).replace("{backend}", url)
                    .replace("{out}", out_dir))

        def normalize(s):
            return (s.replace(out_dir, "{out}").replace(url, "{backend}")
                    .replace(cdir, "{case}"))

        args = [subst(a) for a in read(os.path.join(cdir, "args"))
                .split("\n")]
        if args and args[-1] == "":
            args.pop()
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"),
               "LANG": "C.UTF-8", "HOME": out_dir, "TZ": "UTC"}
        for k, v in os.environ.items():
            if k.split("_", 1)[0] in ("ASAN", "UBSAN", "LSAN", "MSAN"):
                env[k] = v  # sanitizer settings of the calling test stage
        epath = os.path.join(cdir, "env")
        if os.path.exists(epath):
            for line in read(epath).splitlines():
                if line.strip() and "=" in line:
                    k, v = line.split("=", 1)
                    env[k] = subst(v)
        cmd = [auditor] + args
        if backend:
            backend.__enter__()
        t0 = time.time() - 1
        try:
            p = subprocess.run(cmd, env=env, stdin=subprocess.DEVNULL,
                               capture_output=True, timeout=RUN_TIMEOUT)
        except subprocess.TimeoutExpired:
            return ["timed out after %ds" % RUN_TIMEOUT]
        finally:
            if backend:
                backend.__exit__(None, None, None)
        t1 = time.time() + 1
        stdout = normalize(p.stdout.decode("utf-8", "replace"))
        stderr = normalize(p.stderr.decode("utf-8", "replace"))

        want = int(read(os.path.join(cdir, "expected_exit")).strip())
        if p.returncode != want:
            problems.append("exit status %d, expected %d"
                            % (p.returncode, want))
        for stream, actual in (("stdout", stdout), ("stderr", stderr)):
            exact = os.path.join(cdir, "expected_" + stream)
            contains = exact + "_contains"
            if update and os.path.exists(exact):
                with open(exact, "w", encoding="utf-8") as f:
                    f.write(actual)
            if os.path.exists(exact):
                expected = read(exact)
                if expected != actual:
                    problems.append(stream + " differs:\n"
                                    + diff(expected, actual, stream))
            if os.path.exists(contains):
                for line in read(contains).splitlines():
                    if line and line not in actual:
                        problems.append("%s lacks %r" % (stream, line))
        written = {}
        for fname in sorted(os.listdir(out_dir)):
            fp = os.path.join(out_dir, fname)
            if os.path.isfile(fp):
                written[fname] = normalize(read(fp))
        edir = os.path.join(cdir, "expected_files")
        if os.path.isdir(edir):
            for fname in sorted(os.listdir(edir)):
                if fname not in written:
                    problems.append("file %s was not written" % fname)
                    continue
                if update:
                    with open(os.path.join(edir, fname), "w",
                              encoding="utf-8") as f:
                        f.write(written[fname])
                expected = read(os.path.join(edir, fname))
                if expected != written[fname]:
                    problems.append("file %s differs:\n%s" % (
                        fname, diff(expected, written[fname], fname)))
        problems.extend(check_syntax(args, stdout, written))
        leftovers = [f for f in written if ".tmp." in f]
        if leftovers:
            problems.append("temporary files left: %s" % leftovers)
        rpath = os.path.join(cdir, "expected_requests")
        if os.path.exists(rpath):
            problems.extend(check_requests(read(rpath),
                                           backend.log if backend else [],
                                           t0, t1))
        npath = os.path.join(cdir, "not_in_output")
        if os.path.exists(npath):
            every = [("stdout", stdout), ("stderr", stderr)] + [
                (f, t) for f, t in written.items()]
            for secret in read(npath).splitlines():
                for where, text in every:
                    if secret and secret in text:
                        problems.append("%r appears in %s" % (secret, where))
        if problems and verbose:
            problems.append("command: %s\n--- stdout\n%s--- stderr\n%s"
                            % (" ".join(cmd), stdout, stderr))
            if backend:
                problems.append("requests: %s" % backend.requests)
        return problems
    finally:
        shutil.rmtree(out_dir, ignore_errors=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--auditor", required=True, help="async-auditor binary")
    ap.add_argument("-v", "--verbose", action="store_true",
                    help="show the command, outputs and requests of a "
                         "failed case")
    ap.add_argument("--update", action="store_true",
                    help="rewrite expected outputs from actual runs")
    ap.add_argument("cases", nargs="*", help="case names (default: all)")
    opts = ap.parse_args()
    auditor = os.path.abspath(opts.auditor)
    if not os.access(auditor, os.X_OK):
        print("run_cases.py: %s: not an executable" % opts.auditor,
              file=sys.stderr)
        return 2
    names = opts.cases or sorted(
        d for d in os.listdir(CASES)
        if os.path.isfile(os.path.join(CASES, d, "args")))
    passed = failed = 0
    for name in names:
        if not os.path.isfile(os.path.join(CASES, name, "args")):
            print("FAIL %s: no such case" % name)
            failed += 1
            continue
        problems = run_case(name, auditor, opts.verbose, opts.update)
        if problems:
            failed += 1
            print("FAIL %s" % name)
            for pr in problems:
                print("    " + pr.replace("\n", "\n    "))
        else:
            passed += 1
            print("ok   %s" % name)
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
