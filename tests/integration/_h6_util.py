"""Helpers for the scrape-mode tests (test_equivalence.py, test_scrape.py).

Why this exists: scrape mode is checked against a live /metrics endpoint.
The real probe (async_auditor) is used when it is importable and serves;
otherwise SyntheticExporter serves the contract's metric names with values that
change on every scrape (histograms filling at different rates, a counter
that resets, gauges moving, label values that need escaping), which is
what the local evaluation and Prometheus must agree on.  Everything binds
127.0.0.1 on a free port and is stopped explicitly.
"""

import math
import os
import subprocess
import sys
import textwrap
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import aa_servers

LAG_BUCKETS = ["0.001", "0.005", "0.01", "0.05", "0.1", "0.25", "0.5", "1",
               "+Inf"]


class _State:
    """Deterministic metrics that move with each scrape."""

    def __init__(self, fixed=None):
        self.n = 0
        self.auth = None  # the last request's Authorization header
        self.lock = threading.Lock()
        self.fixed = fixed

    def render(self):
        with self.lock:
            self.n += 1
            n = self.n
        if self.fixed is not None:
            return self.fixed
        out = []
        w = out.append
        w("# HELP python_asyncio_loop_lag_seconds Loop scheduling delay.")
        w("# TYPE python_asyncio_loop_lag_seconds histogram")
        total = 0
        for i, le in enumerate(LAG_BUCKETS):
            # later buckets fill faster as the run goes on
            total = int(n * (10 + 3 * i) + (n * n * i) // 40)
            w('python_asyncio_loop_lag_seconds_bucket{loop="main",le="%s"} '
              '%d' % (le, total))
        w('python_asyncio_loop_lag_seconds_sum{loop="main"} %r'
          % (total * 0.013 + n * 0.5))
        w('python_asyncio_loop_lag_seconds_count{loop="main"} %d' % total)
        w("# TYPE python_asyncio_loop_busy_seconds_total counter")
        w('python_asyncio_loop_busy_seconds_total{loop="main"} %r'
          % (n * 0.37 + math.sin(n) * 0.1 + 0.2))
        w("# TYPE python_asyncio_loop_current_block_seconds gauge")
        w('python_asyncio_loop_current_block_seconds{loop="main"} %r'
          % (abs(math.sin(n / 3.0)) * 0.2))
        w("# TYPE python_asyncio_loop_ready_callbacks gauge")
        w('python_asyncio_loop_ready_callbacks{loop="main"} %d'
          % (n * 2 + (n % 5)))
        w("# TYPE python_asyncio_tasks_created_total counter")
        # resets after scrape 12, as after a process restart
        w('python_asyncio_tasks_created_total{loop="main"} %d'
          % ((n if n <= 12 else n - 12) * 7))
        w("# TYPE python_asyncio_block_site_seconds_total counter")
        w('python_asyncio_block_site_seconds_total{site="app.py:12 '
          'handler \\"q\\" \\\\ x"} %r' % (n * 0.05))
        w('python_asyncio_block_site_seconds_total{site="other"} %r'
          % (n * 0.01))
        w("# TYPE python_asyncio_executor_pending gauge")
        for ex, k in (("default", 1), ("anyio", 3)):
            w('python_asyncio_executor_pending{executor="%s"} %d'
              % (ex, (n * k) % 7))
        w("# TYPE http_server_request_duration_seconds histogram")
        for route, rate in (("/a", 5), ("/b", 9)):
            cum = 0
            for i, le in enumerate(["0.01", "0.1", "1", "+Inf"]):
                cum += rate * n // (i + 1) + i
                w('http_server_request_duration_seconds_bucket{'
                  'http_request_method="GET",http_route="%s",'
                  'http_response_status_code="200",le="%s"} %d'
                  % (route, le, cum))
            w('http_server_request_duration_seconds_sum{'
              'http_request_method="GET",http_route="%s",'
              'http_response_status_code="200"} %r' % (route, cum * 0.04))
            w('http_server_request_duration_seconds_count{'
              'http_request_method="GET",http_route="%s",'
              'http_response_status_code="200"} %d' % (route, cum))
        return ("\n".join(out) + "\n").encode()


class _Handler(BaseHTTPRequestHandler):
    def log_message(self, fmt, *args):
        return

    def do_GET(self):
        if self.path != "/metrics":
            self.send_error(404)
            return
        self.server.state.auth = self.headers.get("Authorization")
        body = self.server.state.render()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; version=0.0.4")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class SyntheticExporter:
    """A /metrics endpoint on 127.0.0.1:<free port> (in-process thread)."""

    def __init__(self, fixed=None):
        """fixed: bytes served instead of the moving metrics."""
        self.state = _State(fixed)
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self.httpd.state = self.state
        self.url = "http://127.0.0.1:%d/metrics" % self.httpd.server_port
        self.thread = threading.Thread(target=self.httpd.serve_forever,
                                       daemon=True)
        self.thread.start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=10)


PROBE_SERVICE = textwrap.dedent("""
    import asyncio, sys, time
    import async_auditor
    from async_auditor.asgi import MetricsMiddleware

    async def main(addr):
        probe = async_auditor.install(serve=addr, block_threshold=0.02)
        loop = asyncio.get_running_loop()
        state = {"i": 0}

        async def app(scope, receive, send):
            i = state["i"]
            await asyncio.sleep(0.001 * (i % 5))
            await send({"type": "http.response.start",
                        "status": 500 if i % 9 == 0 else 200,
                        "headers": []})
            await send({"type": "http.response.body", "body": b""})

        async def receive():
            return {"type": "http.request", "body": b""}

        async def send(message):
            return None

        mw = MetricsMiddleware(app)
        end = time.monotonic() + float(sys.argv[2])
        while time.monotonic() < end:
            state["i"] += 1
            i = state["i"]
            if i % 7 == 0:
                time.sleep(0.03)          # a blocking episode
            if i % 3 == 0:
                await loop.run_in_executor(None, time.sleep, 0.002)
            path = "/a" if i % 2 else "/b"
            await mw({"type": "http", "method": "GET", "path": path,
                      "headers": []}, receive, send)
            await asyncio.sleep(0.01)
        probe.close()

    asyncio.run(main(sys.argv[1]))
""")



class ProbeService:
    """A Python child process running an asyncio loop with the real probe
    installed and serving; stopped by PID."""

    def __init__(self, seconds):
        self.port = aa_servers.free_port()
        self.url = "http://127.0.0.1:%d/metrics" % self.port
        self.proc = subprocess.Popen(
            [sys.executable, "-c", PROBE_SERVICE, "127.0.0.1:%d" % self.port,
             str(seconds)], stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("probe service exited: %s" %
                                   self.proc.stderr.read()[-2000:])
            try:
                status, _ = aa_servers.http_get(self.url, timeout=2)
                if status == 200:
                    return
            except OSError:
                pass
            time.sleep(0.1)
        self.close()
        raise RuntimeError("probe service did not serve %s" % self.url)

    def close(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        if self.proc.stderr:
            self.proc.stderr.close()


def probe_available():
    """True when `import async_auditor` works with install() and serve."""
    r = subprocess.run([sys.executable, "-c",
                        "import async_auditor; async_auditor.install"],
                       capture_output=True, timeout=60)
    return r.returncode == 0


def rel_close(a, b, rel):
    if a is None or b is None:
        return a is b
    if math.isnan(a) and math.isnan(b):
        return True
    if a == b:
        return True
    return abs(a - b) <= rel * max(abs(a), abs(b))
