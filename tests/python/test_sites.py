"""The culprit of a blocking episode is the user's line, with real client
libraries against real local servers: the site is the innermost in-app
frame (not socket.py under requests, not json/encoder.py under
json.dumps), the chain keeps the library entry and the innermost frame,
and the class names what kind of culprit it is (docs/probe.md, "Which
frame is the site")."""

import asyncio
import http.server
import inspect
import json
import logging
import logging.handlers
import os
import re
import shutil
import socket
import sqlite3
import subprocess
import threading
import time

import pytest

import async_auditor
from async_auditor import _probe

from conftest import free_port, wait_port

pytestmark = pytest.mark.skipif(
    not _probe.stacks_supported,
    reason="stack capture: %s" % _probe.stacks_unsupported_reason)

HERE = os.path.basename(__file__)


def site_of(fn, needle):
    src, start = inspect.getsourcelines(fn)
    for i, text in enumerate(src):
        if needle in text:
            return "%s:%d %s" % (inspect.getsourcefile(fn), start + i,
                                 fn.__name__)
    raise AssertionError(needle)


def run_blocking(fn, *args, threshold=0.03):
    """Run fn(*args) inside a callback of a probed loop; the episodes."""
    loop = asyncio.new_event_loop()
    try:
        probe = async_auditor.install(loop, block_threshold=threshold)

        async def main():
            await asyncio.sleep(0.02)
            fn(*args)
            await asyncio.sleep(0.02)

        loop.run_until_complete(main())
        blocks, snap = probe.blocks(), probe.snapshot()
        probe.close()
        return blocks, snap
    finally:
        loop.close()


def the_episode(blocks, site):
    """The one episode charged to site (there may be a short extra one,
    e.g. the first import of a module, but only one at that line)."""
    mine = [b for b in blocks if b["site"] == site]
    assert len(mine) == 1, (site, [(b["site"], b["duration"])
                                   for b in blocks])
    return mine[0]


def check(b, snap, site, cls, *in_chain):
    assert b["kind"] == "blocking"
    assert b["class"] == cls, b
    assert b["hint"] == _probe.culprit_classes()[cls]
    assert b["chain"].startswith("%s:%s" % (HERE, site.rsplit(":", 1)[1])), \
        b["chain"]
    for part in in_chain:
        assert re.search(part, b["chain"]), (part, b["chain"])
    info = snap["python_asyncio_block_site_info"][site]
    assert info["class"] == cls and info["chain"] == b["chain"]
    assert snap["python_asyncio_block_site_seconds_total"][site] > 0


# ---- a slow HTTP server on loopback --------------------------------------

class _Slow(http.server.BaseHTTPRequestHandler):
    def _answer(self):
        time.sleep(0.3)
        body = b"ok"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        self._answer()

    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self._answer()

    def log_message(self, *a):
        pass


@pytest.fixture
def slow_server():
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Slow)
    th = threading.Thread(target=srv.serve_forever, daemon=True)
    th.start()
    yield srv.server_address[1]
    srv.shutdown()
    srv.server_close()
    th.join(10)


def fetch_rate(url):
    import requests
    return requests.get(url, timeout=10)  # the user's line


def test_requests_get(slow_server):
    pytest.importorskip("requests")
    url = "http://127.0.0.1:%d/rate" % slow_server
    blocks, snap = run_blocking(fetch_rate, url)
    site = site_of(fetch_rate, "the user's line")
    b = the_episode(blocks, site)
    assert b["duration"] >= 0.3
    check(b, snap, site, "http_client", r" → requests\.get → ",
          r"socket\.py:\d+ readinto$")


def audit(log):
    log.warning("rate refreshed")  # the user's line


def test_logging_http_handler(slow_server):
    log = logging.getLogger("test_sites.audit")
    log.propagate = False
    h = logging.handlers.HTTPHandler("127.0.0.1:%d" % slow_server, "/log",
                                     method="POST")
    log.addHandler(h)
    try:
        blocks, snap = run_blocking(audit, log)
    finally:
        log.removeHandler(h)
    site = site_of(audit, "the user's line")
    b = the_episode(blocks, site)
    check(b, snap, site, "logging", r" → logging\.warning → ",
          r"socket\.py:\d+ readinto$")


def render(payload):
    return json.dumps(payload)  # the user's line


def test_json_dumps_large_payload():
    payload = [{"id": i, "name": "x" * 40, "tags": ["a", "b", "c"],
                "vals": list(range(12))} for i in range(40000)]
    assert len(json.dumps(payload)) > 3_000_000
    blocks, snap = run_blocking(render, payload, threshold=0.01)
    site = site_of(render, "the user's line")
    b = the_episode(blocks, site)
    check(b, snap, site, "serialization", r" → json\.dumps → ",
          r"json/encoder\.py:\d+ iterencode$")


def nap():
    time.sleep(0.15)  # the user's line


def test_time_sleep():
    blocks, snap = run_blocking(nap)
    site = site_of(nap, "the user's line")
    b = the_episode(blocks, site)
    check(b, snap, site, "sleep")
    assert " → " not in b["chain"]  # C all the way down


def crunch(seconds):
    # CPU seconds, not wall: on a loaded machine a wall-clock loop can get
    # so little CPU that the probe rightly calls the callback starved
    end = time.thread_time() + seconds
    n = 0
    while time.thread_time() < end:  # the user's line
        n += 1  # the user's line
    return n


def test_cpu_loop():
    blocks, snap = run_blocking(crunch, 0.25)
    sites = {site_of(crunch, "while time"), site_of(crunch, "n += 1")}
    mine = [b for b in blocks if b["site"] in sites]
    assert len(mine) == 1
    check(mine[0], snap, mine[0]["site"], "cpu")


def validate(text):
    return re.match(r"(a+)+$", text)  # the user's line


def test_regex_backtracking():
    # calibrated on CPU time: calibrated on the wall clock while the test
    # got a tenth of a CPU, the episode was 8 x 2 ms of CPU stretched by
    # waits on the run queue, which the probe rightly calls starved
    n = 16
    while True:
        t0 = time.thread_time()
        validate("a" * n + "b")
        if time.thread_time() - t0 > 0.02:
            break
        n += 1
    blocks, snap = run_blocking(validate, "a" * (n + 3) + "b")
    site = site_of(validate, "the user's line")
    b = the_episode(blocks, site)
    # 3.15 names re.match's function re.prefixmatch
    check(b, snap, site, "regex", r" → re\.(prefix)?match")


INSERT = "INSERT INTO orders VALUES (?, ?)"
# Each commit writes and syncs one page's worth of row: the episode is
# the kernel's (write, fsync, unlink of the journal), not sqlite's own
# copying, which with large rows outweighed the waits on a fast disk
# with the CPU shared (the class was then cpu).
ROW = b"x" * 4096


def record_orders(path, n):
    conn = sqlite3.connect(path)
    # EXTRA: the journal's deletion is synced too (one more wait on
    # the disk per commit, the directory's, which is the database's)
    conn.execute("PRAGMA synchronous=EXTRA")
    conn.execute("CREATE TABLE IF NOT EXISTS orders (id INTEGER, v BLOB)")
    for i in range(n):
        (conn.execute(INSERT, (i, ROW)), conn.commit())  # the user's line
    conn.close()


def test_sqlite3_on_a_file(tmp_path):
    """Each commit waits for the database file (fsync): the kernel says
    which file the loop thread waits for, so the class is database even
    though no Python frame lies below the user's line, and stays database
    on a fast disk where sqlite's own CPU between the syncs is most of
    the episode (ASan's allocator, a shared CPU)."""
    path = str(tmp_path / "orders.db")
    t0 = time.perf_counter()
    record_orders(path, 20)
    per = (time.perf_counter() - t0) / 20
    n = max(20, min(2000, int(0.4 / max(per, 1e-5))))
    blocks, snap = run_blocking(record_orders, path, n)
    site = site_of(record_orders, "the user's line")
    b = max((b for b in blocks if b["site"] == site),
            key=lambda b: b["duration"])
    check(b, snap, site, "database")


# ---- redis-py against Debian's redis-server --------------------------------

@pytest.fixture
def redis_server(tmp_path):
    exe = shutil.which("redis-server")
    if exe is None:
        pytest.skip("redis-server is not installed (scripts/bootstrap)")
    port = free_port()
    proc = subprocess.Popen(
        [exe, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
         "--appendonly", "no", "--dir", str(tmp_path)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_port(port, proc=proc)
        yield port
    finally:
        proc.terminate()
        proc.wait(10)


def next_job(client):
    return client.blpop(["jobs"], timeout=0.3)  # the user's line


def test_redis_sync_client(redis_server):
    redis = pytest.importorskip("redis")
    client = redis.Redis(host="127.0.0.1", port=redis_server)
    client.ping()
    blocks, snap = run_blocking(next_job, client)
    client.close()
    site = site_of(next_job, "the user's line")
    b = the_episode(blocks, site)
    check(b, snap, site, "redis", r" → redis\.blpop → ",
          r"redis/.*:\d+ \w+$")


def test_socket_recv_in_user_code():
    """No library at all: the kernel says the loop thread waits for a
    socket."""
    a, b = socket.socketpair()

    def late():
        time.sleep(0.3)
        b.sendall(b"x")

    t = threading.Thread(target=late)
    t.start()
    try:
        blocks, snap = run_blocking(receive, a)
    finally:
        t.join()
        a.close()
        b.close()
    site = site_of(receive, "the user's line")
    check(the_episode(blocks, site), snap, site, "network")


def receive(sock):
    return sock.recv(1)  # the user's line


def test_classes_have_remedies():
    classes = _probe.culprit_classes()
    for name in ("sleep", "http_client", "redis", "database",
                 "serialization", "regex", "cpu_builtin", "logging",
                 "file_io", "network", "cpu", "gil"):
        assert len(classes[name]) > 20, name
    assert "asyncio.sleep" in classes["sleep"]
    assert "QueueHandler" in classes["logging"]
