"""Shared helpers for the probe's tests: free ports, subprocess servers
stopped by PID, scraping and a tiny Prometheus text parser."""

import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http_get(url, timeout=5.0):
    """(status, body text)."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


_SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)$')
_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def parse_metrics(text):
    """[(name, {labels}, value)] of a Prometheus text exposition."""
    out = []
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = _SAMPLE.match(line)
        assert m, "bad exposition line: %r" % line
        labels = dict(_LABEL.findall(m.group(3) or ""))
        out.append((m.group(1), labels, float(m.group(4))))
    return out


def metric(samples, name, **labels):
    """Value of the one sample matching name and labels (None if absent)."""
    found = [v for n, l, v in samples
             if n == name and all(l.get(k) == v2 for k, v2 in labels.items())]
    assert len(found) <= 1, (name, labels, found)
    return found[0] if found else None


async def asgi_call(app, path, method="GET", **scope):
    """Drive an ASGI app through one HTTP request for path (more scope
    keys in scope); the messages it sent."""
    scope = dict({"type": "http", "method": method, "path": path,
                  "headers": [], "query_string": b""}, **scope)
    sent = []

    async def receive():
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(msg):
        sent.append(msg)

    await app(scope, receive, send)
    return sent


def http_count(route, status, method="GET"):
    """Requests counted in one http_server_request_duration_seconds
    series of this process (0 when it does not exist)."""
    from async_auditor import _probe
    s = parse_metrics(_probe.render_metrics())
    return metric(s, "http_server_request_duration_seconds_count",
                  http_request_method=method, http_route=route,
                  http_response_status_code=str(status)) or 0


def wait_port(port, timeout=15.0, proc=None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError("server exited with %s" % proc.returncode)
        try:
            with socket.create_connection(("127.0.0.1", port), 0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError("port %d not open after %.0fs" % (port, timeout))


class Server:
    """A subprocess started for a test, stopped by PID."""

    def __init__(self, args, env=None, cwd=None):
        e = dict(os.environ)
        e.update(env or {})
        e["PYTHONUNBUFFERED"] = "1"
        self.proc = subprocess.Popen(args, env=e, cwd=cwd or HERE,
                                     stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT,
                                     start_new_session=True)

    def stop(self):
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)
        return self.proc.stdout.read().decode(errors="replace")


@pytest.fixture
def spawn():
    servers = []

    def start(args, **kw):
        s = Server(args, **kw)
        servers.append(s)
        return s

    yield start
    for s in servers:
        s.stop()


def python():
    return sys.executable
