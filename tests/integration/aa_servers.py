"""Servers the integration tests run the auditor against.

Why this exists: the auditor's contract is with real PromQL engines and
with misbehaving networks, so the tests need (1) Debian's `prometheus`
over backfilled blocks, (2) Debian's `victoria-metrics` over imported
data, and (3) a scriptable fake Prometheus API for fault injection.
Every server binds 127.0.0.1 on a free port, every wait is bounded, and
every process is stopped by its PID.  conftest.py wraps these in pytest
fixtures; other test directories may import this module directly.
"""

import json
import os
import re
import signal
import socket
import ssl
import subprocess
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

START_TIMEOUT = 60.0  # seconds a server gets to become ready


def free_port():
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def closed_port_url():
    """http://127.0.0.1:PORT of a port nothing listens on (connections are
    refused)."""
    return "http://127.0.0.1:%d" % free_port()


def http_get(url, timeout=10.0):
    """(status, body bytes) of a GET; HTTP errors are returned, not
    raised."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def http_post(url, data, content_type="text/plain", timeout=60.0):
    req = urllib.request.Request(url, data=data, method="POST",
                                 headers={"Content-Type": content_type})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def query(base_url, promql, at):
    """An instant query straight to the engine (not through the auditor):
    the parsed `data` member."""
    q = urllib.parse.urlencode({"query": promql, "time": str(at)})
    status, body = http_get(base_url + "/api/v1/query?" + q)
    doc = json.loads(body)
    if status != 200 or doc.get("status") != "success":
        raise RuntimeError("query %r failed: %s %s" % (promql, status,
                                                       body[:300]))
    return doc["data"]


class ServerProcess:
    """A child process serving HTTP; stopped by PID (SIGTERM, then
    SIGKILL after a bounded wait)."""

    def __init__(self, name, argv, url, log_path, ready_path):
        self.name = name
        self.url = url
        self.log_path = log_path
        self._log = open(log_path, "wb")
        self.proc = subprocess.Popen(argv, stdout=self._log,
                                     stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL)
        self.pid = self.proc.pid
        self._wait_ready(ready_path)

    def _wait_ready(self, ready_path):
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                break
            try:
                status, _ = http_get(self.url + ready_path, timeout=2.0)
                if status == 200:
                    return
            except OSError:
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError("%s did not become ready at %s; log %s:\n%s" % (
            self.name, self.url, self.log_path, self.log_tail()))

    def log_tail(self, n=4000):
        try:
            with open(self.log_path, "rb") as f:
                return f.read()[-n:].decode("utf-8", "replace")
        except OSError:
            return ""

    def stop(self):
        if self.proc.poll() is None:
            os.kill(self.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.kill(self.pid, signal.SIGKILL)
                self.proc.wait(timeout=15)
        self._log.close()


def start_prometheus(workdir, openmetrics_text, lookback="5m"):
    """Backfills openmetrics_text into workdir/data with promtool and starts
    prometheus over it.  Returns a ServerProcess (url, pid, stop())."""
    os.makedirs(workdir, exist_ok=True)
    data = os.path.join(workdir, "data")
    src = os.path.join(workdir, "fixture.om.txt")
    with open(src, "w") as f:
        f.write(openmetrics_text)
    r = subprocess.run(["promtool", "tsdb", "create-blocks-from",
                        "openmetrics", src, data],
                       capture_output=True, text=True, timeout=120)
    if r.returncode != 0:
        raise RuntimeError("promtool backfill failed:\n%s%s" % (r.stdout,
                                                                 r.stderr))
    cfg = os.path.join(workdir, "prometheus.yml")
    with open(cfg, "w") as f:
        f.write("global:\n  scrape_interval: 15s\n"
                "  evaluation_interval: 15s\n")
    port = free_port()
    argv = ["prometheus", "--config.file=" + cfg,
            "--storage.tsdb.path=" + data,
            "--storage.tsdb.retention.time=100y",
            "--web.listen-address=127.0.0.1:%d" % port,
            "--query.lookback-delta=" + lookback]
    return ServerProcess("prometheus", argv, "http://127.0.0.1:%d" % port,
                         os.path.join(workdir, "prometheus.log"),
                         "/-/ready")


def start_victoria(workdir, import_text):
    """Starts victoria-metrics on workdir/data, imports import_text
    (Prometheus text, millisecond timestamps) and forces a flush so that
    queries see it.  Returns a ServerProcess."""
    os.makedirs(workdir, exist_ok=True)
    port = free_port()
    argv = ["victoria-metrics", "-httpListenAddr=127.0.0.1:%d" % port,
            "-storageDataPath=" + os.path.join(workdir, "data"),
            "-retentionPeriod=100y", "-search.disableCache",
            "-loggerLevel=WARN"]
    srv = ServerProcess("victoria-metrics", argv,
                        "http://127.0.0.1:%d" % port,
                        os.path.join(workdir, "victoria.log"), "/health")
    try:
        status, body = http_post(srv.url + "/api/v1/import/prometheus",
                                 import_text.encode())
        if status not in (200, 204):
            raise RuntimeError("import failed: %s %s" % (status, body[:500]))
        status, body = http_get(srv.url + "/internal/force_flush")
        if status != 200:
            raise RuntimeError("force_flush failed: %s %s" % (status, body))
    except BaseException:
        srv.stop()
        raise
    return srv


# ---- the fake backend -------------------------------------------------------

def prom_vector(samples, at=0):
    """A Prometheus instant-query success body: samples is
    [(labels dict, value)]."""
    return {"status": "success", "data": {"resultType": "vector", "result": [
        {"metric": lab, "value": [at, _promval(v)]} for lab, v in samples]}}


def prom_matrix(samples, start, end, step):
    """A range-query success body: each series constant over [start, end]."""
    res = []
    for lab, v in samples:
        pts = []
        t = start
        while t <= end:
            pts.append([t, _promval(v)])
            t += step
        res.append({"metric": lab, "values": pts})
    return {"status": "success",
            "data": {"resultType": "matrix", "result": res}}


def _promval(v):
    if v != v:
        return "NaN"
    return repr(float(v))


class Request:
    """What the fake backend received."""

    def __init__(self, method, path, params, headers, body):
        self.received = time.monotonic()
        self.method = method
        self.path = path
        self.params = params  # {name: [values]} from query string + form
        self.headers = headers  # {lower-case name: value}
        self.body = body

    def param(self, name, default=None):
        v = self.params.get(name)
        return v[0] if v else default


class Reply:
    """A scripted response.  kind is one of:

    json      status + JSON document (doc)
    raw       status + raw body bytes (body), e.g. invalid JSON
    sleep     wait `seconds` (bounded by the server's stop), then reply
              with `then` (another Reply) if the client is still there
    truncate  announce Content-Length `length`, send `body`, close
    oversize  stream `total` bytes of a syntactically plausible JSON body
              in 1 MiB chunks without holding it in memory; with
              announce=False no Content-Length (the body ends at close)
    trickle   announce `length` bytes, send one byte every `interval`
              seconds until `seconds` elapsed or the client went away
    proxy     forward the request to `upstream` and relay the answer
    """

    def __init__(self, kind, status=200, doc=None, body=b"", seconds=0.0,
                 then=None, length=0, total=0, interval=0.1, upstream=None,
                 headers=None, announce=True):
        self.kind = kind
        self.status = status
        self.doc = doc
        self.body = body
        self.seconds = seconds
        self.then = then
        self.length = length
        self.total = total
        self.interval = interval
        self.upstream = upstream
        self.headers = headers or {}
        self.announce = announce


def ok_reply(value=1.0, labels=None):
    """A behaviour answering every query with one sample of `value`."""
    labels = labels if labels is not None else {"instance": "fake:1"}

    def behaviour(req):
        return default_answer(req, value, labels)
    return behaviour


def _answer_samples(req, value, labels):
    """[(labels, value)] answering the request's query.  A bucket-rate
    question ("sum by (le, ...) (rate(M_bucket...))", which the auditor
    asks for a pNN rule) gets the buckets of a histogram whose every
    observation lies in (value / 1.1, value * 1.1]: the quantile the
    auditor computes from them is that bucket's midpoint, value
    (docs/rules.md "Quantiles").  Any other query gets value."""
    q = req.param("query", "") or ""
    if re.match(r"sum by \(le[,)]", q) and "_bucket" in q:
        return [(dict(labels, le=repr(value / 1.1)), 0),
                (dict(labels, le=repr(value * 1.1)), 1),
                (dict(labels, le="+Inf"), 1)]
    return [(labels, value)]


def default_answer(req, value=1.0, labels=None):
    """A well-formed answer to any Prometheus API request."""
    labels = labels if labels is not None else {"instance": "fake:1"}
    if req.path.endswith("/api/v1/query_range"):
        start = float(req.param("start", "0"))
        end = float(req.param("end", "0"))
        step = _step_seconds(req.param("step", "15"))
        return Reply("json", doc=prom_matrix(
            _answer_samples(req, value, labels), start, end, step))
    if req.path.endswith("/api/v1/query"):
        return Reply("json", doc=prom_vector(
            _answer_samples(req, value, labels),
            float(req.param("time", "0"))))
    if req.path.endswith("/api/v1/series"):
        return Reply("json", doc={"status": "success", "data": [
            dict(labels, __name__="x")]})
    if req.path.endswith("/api/v1/status/buildinfo"):
        return Reply("json", doc={"status": "success", "data": {
            "version": "2.42.0"}})
    if req.path.endswith("/-/ready") or req.path.endswith("/-/healthy"):
        return Reply("raw", body=b"ok\n")
    return Reply("json", status=404, doc={
        "status": "error", "errorType": "not_found", "error": "not found"})


def _step_seconds(text):
    try:
        return max(float(text), 0.001)
    except ValueError:
        units = {"ms": 0.001, "s": 1, "m": 60, "h": 3600}
        for u in ("ms", "s", "m", "h"):
            if text.endswith(u):
                return float(text[:-len(u)]) * units[u]
    return 15.0


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        return

    def do_GET(self):
        self._serve(b"")

    def do_POST(self):
        n = int(self.headers.get("Content-Length", "0") or 0)
        self._serve(self.rfile.read(n) if n else b"")

    def _serve(self, body):
        fake = self.server.fake
        url = urllib.parse.urlsplit(self.path)
        params = urllib.parse.parse_qs(url.query, keep_blank_values=True)
        ctype = self.headers.get("Content-Type", "")
        if body and "application/x-www-form-urlencoded" in ctype:
            for k, v in urllib.parse.parse_qs(
                    body.decode("utf-8", "replace"),
                    keep_blank_values=True).items():
                params.setdefault(k, []).extend(v)
        req = Request(self.command, url.path, params,
                      {k.lower(): v for k, v in self.headers.items()}, body)
        with fake.lock:
            fake.requests.append(req)
        try:
            reply = fake.behaviour(req)
            self._send(reply, req)
        except (BrokenPipeError, ConnectionResetError):
            pass

    def _send(self, reply, req):
        fake = self.server.fake
        if reply.kind == "json":
            self._plain(reply.status, json.dumps(reply.doc).encode(),
                        "application/json", reply.headers)
        elif reply.kind == "raw":
            self._plain(reply.status, reply.body, "application/json",
                        reply.headers)
        elif reply.kind == "sleep":
            if fake.stopping.wait(reply.seconds):
                return
            if reply.then is not None:
                self._send(reply.then, req)
        elif reply.kind == "truncate":
            self.send_response(reply.status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(reply.length))
            self.end_headers()
            self.wfile.write(reply.body)
            self.wfile.flush()
            self.close_connection = True
        elif reply.kind == "oversize":
            self._oversize(reply.total, reply.announce)
        elif reply.kind == "trickle":
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(reply.length))
            self.end_headers()
            self.wfile.flush()
            deadline = time.monotonic() + reply.seconds
            sent = 0
            while sent < reply.length and time.monotonic() < deadline:
                if fake.stopping.wait(reply.interval):
                    break
                self.wfile.write(b" ")
                self.wfile.flush()
                sent += 1
            self.close_connection = True
        elif reply.kind == "proxy":
            self._proxy(reply.upstream, req)
        else:
            raise AssertionError("unknown reply kind %r" % reply.kind)

    def _plain(self, status, body, ctype, headers):
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for k, v in headers.items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def _oversize(self, total, announce):
        head = b'{"status":"success","data":{"resultType":"vector","result":['
        item = b'{"metric":{"instance":"fake:1"},"value":[1,"1"]},'
        chunk = item * (1048576 // len(item))
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        if announce:
            self.send_header("Content-Length", str(total))
        else:
            self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(head)
        sent = len(head)
        while sent + len(chunk) <= total:
            if self.server.fake.stopping.is_set():
                break
            self.wfile.write(chunk)
            sent += len(chunk)
        self.close_connection = True

    def _proxy(self, upstream, req):
        q = urllib.parse.urlencode(
            [(k, v) for k, vs in req.params.items() for v in vs])
        url = upstream + req.path + ("?" + q if q else "")
        status, body = http_get(url, timeout=30.0)
        self._plain(status, body, "application/json", {})


def self_signed_cert(directory, name, ip="127.0.0.1"):
    """(cert path, key path) of a new self-signed certificate for ip,
    made with the openssl command."""
    cert = os.path.join(directory, name + ".crt")
    key = os.path.join(directory, name + ".key")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048",
                    "-nodes", "-keyout", key, "-out", cert, "-days", "2",
                    "-subj", "/CN=" + name,
                    "-addext", "subjectAltName=IP:" + ip],
                   check=True, capture_output=True, timeout=60)
    return cert, key


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128  # concurrent clients must not wait for SYN
    #                           retransmits (the default backlog is 5)


class FakeBackend:
    """A scriptable Prometheus HTTP API on 127.0.0.1:<free port>.

    Set `behaviour` to a function Request -> Reply (default: well-formed
    answers with value 1).  tls={"cert", "key"[, "client_ca"]} serves
    HTTPS (requiring a client certificate signed by client_ca if given).
    `requests` records everything received (method, path, params,
    headers, arrival time), for tests asserting what the auditor sent.  Use as a context manager or call close(); both stop the server
    and release sleeping handlers within a bounded time.
    """

    def __init__(self, behaviour=None, tls=None):
        self.behaviour = behaviour or ok_reply()
        self.requests = []
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.httpd = _Server(("127.0.0.1", 0), _Handler)
        self.httpd.fake = self
        self.port = self.httpd.server_address[1]
        scheme = "http"
        if tls is not None:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(tls["cert"], tls["key"])
            if tls.get("client_ca"):
                ctx.verify_mode = ssl.CERT_REQUIRED
                ctx.load_verify_locations(tls["client_ca"])
            self.httpd.socket = ctx.wrap_socket(self.httpd.socket,
                                                server_side=True)
            scheme = "https"
        self.url = "%s://127.0.0.1:%d" % (scheme, self.port)
        self._thread = threading.Thread(target=self.httpd.serve_forever,
                                        kwargs={"poll_interval": 0.05},
                                        daemon=True)
        self._thread.start()

    def queries(self):
        """The PromQL texts received on query endpoints, in order."""
        with self.lock:
            return [r.param("query") for r in self.requests
                    if r.path.endswith(("/api/v1/query",
                                        "/api/v1/query_range"))]

    def close(self):
        self.stopping.set()
        self.httpd.shutdown()
        self.httpd.server_close()
        self._thread.join(timeout=10)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
