"""The C exporter: serves while the loop is frozen (including by a
GIL-holding C call), answers 404/405, reports a port in use as an
OSError, and its output passes promtool."""

import asyncio
import errno
import json
import os
import shutil
import socket
import subprocess
import sys
import textwrap
import threading
import time

import pytest

import async_auditor
from async_auditor import _probe
from conftest import free_port, http_get, metric, parse_metrics, wait_port

BLOCKER = textwrap.dedent("""
    import asyncio, re, sys, time
    import async_auditor

    def cpu():
        end = time.perf_counter() + 2.5
        while time.perf_counter() < end:
            pass

    def regex():
        pat = re.compile(r"(a+)+$")
        n = 18
        while True:
            t0 = time.perf_counter()
            pat.match("a" * n + "b")
            if time.perf_counter() - t0 > 0.05:
                break
            n += 1
        n += 6  # ~3 s and more
        pat.match("a" * n + "b")

    async def main():
        async_auditor.install(serve="127.0.0.1:" + sys.argv[1])
        await asyncio.sleep(0.3)
        print("BLOCKING", flush=True)
        {"sleep": lambda: time.sleep(2.5), "cpu": cpu,
         "regex": regex}[sys.argv[2]]()
        print("DONE", flush=True)
        await asyncio.sleep(0.2)

    asyncio.run(main())
""")


@pytest.mark.slow
@pytest.mark.parametrize("how", ["sleep", "cpu", "regex"])
def test_metrics_answer_while_loop_blocked(tmp_path, spawn, how):
    script = tmp_path / "blocker.py"
    script.write_text(BLOCKER)
    port = free_port()
    srv = spawn([sys.executable, str(script), str(port), how])
    wait_port(port, proc=srv.proc)
    line = srv.proc.stdout.readline().decode()
    assert line.strip() == "BLOCKING"
    time.sleep(0.4)
    values = []
    for _ in range(3):
        t0 = time.perf_counter()
        status, body = http_get("http://127.0.0.1:%d/metrics" % port)
        elapsed = time.perf_counter() - t0
        assert status == 200
        cur = metric(parse_metrics(body),
                     "python_asyncio_loop_current_block_seconds")
        values.append((cur, elapsed))
        time.sleep(0.2)
    # it answered while frozen, and the current block grows
    assert values[0][0] > 0.2
    assert values[2][0] > values[0][0]
    status, body = http_get("http://127.0.0.1:%d/debug/blocks" % port)
    assert status == 200
    blocks = json.loads(body)["blocks"]
    assert blocks and blocks[-1]["ongoing"] is True
    assert blocks[-1]["duration"] > 0.2
    if _probe.stacks_supported:
        assert blocks[-1]["site"].endswith((" cpu", " regex", " <lambda>"))


def test_paths_and_methods():
    host, port = async_auditor.serve("127.0.0.1:0")
    try:
        assert port > 0
        assert async_auditor.serve("127.0.0.1:0") == (host, port)
        assert http_get("http://127.0.0.1:%d/nope" % port)[0] == 404
        status, body = http_get("http://127.0.0.1:%d/metrics" % port)
        assert status == 200 and "http_server_active_requests" in body
        import urllib.request
        req = urllib.request.Request(
            "http://127.0.0.1:%d/metrics" % port, data=b"x", method="POST")
        try:
            urllib.request.urlopen(req, timeout=5)
            raise AssertionError("POST accepted")
        except urllib.error.HTTPError as e:
            assert e.code == 405
            assert "GET" in e.headers["Allow"]
        status, body = http_get("http://127.0.0.1:%d/debug/blocks" % port)
        assert status == 200 and json.loads(body) == {"blocks": []}
    finally:
        async_auditor.stop_serving()
    assert _probe.serving_port() == 0


def test_port_in_use_is_a_clear_oserror():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        with pytest.raises(async_auditor.ExporterError) as ei:
            async_auditor.serve("127.0.0.1:%d" % port)
        assert isinstance(ei.value, OSError)
        assert ei.value.errno == errno.EADDRINUSE
        assert str(port) in str(ei.value)
        # install(serve=...) keeps the probe and says so
        loop = asyncio.new_event_loop()
        try:
            with pytest.raises(async_auditor.ExporterError) as ei:
                async_auditor.install(loop, serve="127.0.0.1:%d" % port)
            probe = ei.value.probe
            assert not probe.closed
            assert async_auditor.install(loop) is probe

            async def block():
                time.sleep(0.08)
            loop.run_until_complete(block())
            assert len(probe.blocks()) == 1
            probe.close()
        finally:
            loop.close()
    # the address is free again: serving works
    host, bound = async_auditor.serve("127.0.0.1:%d" % port)
    async_auditor.stop_serving(leave_group=True)
    assert bound == port


def test_bad_addresses():
    with pytest.raises(ValueError):
        async_auditor.serve("127.0.0.1:http")
    with pytest.raises(ValueError):
        async_auditor.serve("127.0.0.1:70000")
    with pytest.raises(async_auditor.ExporterError):
        async_auditor.serve("203.0.113.7:0")  # not a local address


def test_abusive_clients_do_not_block_the_exporter():
    host, port = async_auditor.serve("127.0.0.1:0")
    socks = []
    try:
        # many idle connections and a half-sent request
        for _ in range(20):
            s = socket.create_connection(("127.0.0.1", port))
            s.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n")
            socks.append(s)
        big = socket.create_connection(("127.0.0.1", port))
        big.sendall(b"GET /metrics HTTP/1.1\r\nX: " + b"a" * 100000 +
                    b"\r\n\r\n")
        socks.append(big)
        status, _ = http_get("http://127.0.0.1:%d/metrics" % port)
        assert status == 200
    finally:
        for s in socks:
            s.close()
        async_auditor.stop_serving()


def _exposition_with_everything():
    """Render with two loops, executor, anyio, HTTP and site series."""
    pytest.importorskip("anyio")  # anyio is instrumented when imported
    _probe.http_observe("GET", '/items/{id}"\\x', 200, 0.01)
    _probe.http_observe("BREW", "/", 0, 0.01)
    loops = []
    probes = []
    for _ in range(2):
        loop = asyncio.new_event_loop()
        probes.append(async_auditor.install(loop, block_threshold=0.05))
        loops.append(loop)

    async def block():
        time.sleep(0.06)
        await asyncio.get_running_loop().run_in_executor(None, time.sleep,
                                                         0.001)
    loops[0].run_until_complete(block())
    text = _probe.render_metrics()
    for p, loop in zip(probes, loops):
        p.close()
        loop.close()
    return text


def test_exposition_names_and_labels():
    text = _exposition_with_everything()
    samples = parse_metrics(text)
    names = {n for n, _, _ in samples}
    for want in [
            "python_asyncio_loop_lag_seconds_bucket",
            "python_asyncio_loop_busy_seconds_total",
            "python_asyncio_loop_iterations_total",
            "python_asyncio_loop_block_duration_seconds_count",
            "python_asyncio_loop_current_block_seconds",
            "python_asyncio_loop_ready_callbacks",
            "python_asyncio_tasks",
            "python_asyncio_tasks_created_total",
            "python_asyncio_executor_pending",
            "python_asyncio_executor_busy_workers",
            "python_asyncio_executor_max_workers",
            "python_asyncio_executor_wait_seconds_bucket",
            "python_asyncio_executor_run_seconds_sum",
            "http_server_active_requests",
            "http_server_request_duration_seconds_bucket",
            "python_asyncio_probe_info"]:
        assert want in names, want
    assert ("python_asyncio_block_site_seconds_total" in names) == bool(
        _probe.stacks_supported)
    assert "# TYPE python_asyncio_block_site_seconds_total counter" in text
    info = [l for n, l, _ in samples if n == "python_asyncio_probe_info"]
    assert len(info) == 2 and all("loop" in l for l in info)
    assert info[0]["loop_implementation"] == "asyncio"
    assert info[0]["version"] == async_auditor.__version__
    execs = {l["executor"] for n, l, _ in samples
             if n == "python_asyncio_executor_max_workers"}
    assert execs == {"default", "anyio"}
    routes = {l.get("http_route") for n, l, _ in samples
              if n == "http_server_request_duration_seconds_count"}
    assert '/items/{id}\\"\\\\x' in routes


@pytest.mark.skipif(shutil.which("promtool") is None, reason="no promtool")
def test_promtool_check_metrics():
    text = _exposition_with_everything()
    r = subprocess.run(["promtool", "check", "metrics"], input=text.encode(),
                       capture_output=True, timeout=30)
    assert r.returncode == 0, r.stdout.decode() + r.stderr.decode()


def _raw(port, data, timeout=5.0):
    """Send raw bytes, return the whole response."""
    with socket.create_connection(("127.0.0.1", port), timeout) as s:
        s.sendall(data)
        out = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                return out
            out += chunk


def test_exact_paths_only():
    """/metrics%00 and friends are not /metrics; a query is ignored."""
    host, port = async_auditor.serve("127.0.0.1:0")
    try:
        for path in (b"/metrics%00", b"/metrics/", b"//metrics",
                     b"/%6detrics", b"/METRICS", b"/metrics.txt"):
            r = _raw(port, b"GET " + path + b" HTTP/1.0\r\n\r\n")
            assert r.startswith(b"HTTP/1.1 404 "), (path, r[:40])
        r = _raw(port, b"GET /metrics\x00 HTTP/1.0\r\n\r\n")
        assert r.startswith(b"HTTP/1.1 400 "), r[:40]
        r = _raw(port, b"GET /metrics?name[]=x HTTP/1.0\r\n\r\n")
        assert r.startswith(b"HTTP/1.1 200 ")
        r = _raw(port, b"GET /metrics HTTP/1.0\r\nX: " + b"a" * 10000 +
                 b"\r\n\r\n")
        assert r.startswith(b"HTTP/1.1 431 "), r[:40]
    finally:
        async_auditor.stop_serving()


def test_host_zero_is_refused():
    for addr in ("0:9464", "0:0"):
        with pytest.raises(ValueError) as ei:
            async_auditor.serve(addr)
        assert "0.0.0.0" in str(ei.value) and "::" in str(ei.value)
    assert _probe.serving_port() == 0


@pytest.mark.parametrize("setting,env,served", [
    (None, None, True),     # loopback: on by default
    (False, None, False),
    (None, "0", False),
    (True, "0", True),      # the argument wins
    (None, "1", True),
])
def test_debug_blocks_switch(monkeypatch, setting, env, served):
    if env is None:
        monkeypatch.delenv("ASYNC_AUDITOR_DEBUG_BLOCKS", raising=False)
    else:
        monkeypatch.setenv("ASYNC_AUDITOR_DEBUG_BLOCKS", env)
    host, port = async_auditor.serve("127.0.0.1:0", debug_blocks=setting)
    try:
        status, _ = http_get("http://127.0.0.1:%d/debug/blocks" % port)
        assert status == (200 if served else 404)
        assert http_get("http://127.0.0.1:%d/metrics" % port)[0] == 200
    finally:
        async_auditor.stop_serving()


def test_debug_blocks_env_must_be_0_or_1(monkeypatch):
    monkeypatch.setenv("ASYNC_AUDITOR_DEBUG_BLOCKS", "yes")
    with pytest.raises(ValueError) as ei:
        async_auditor.serve("127.0.0.1:0")
    assert "ASYNC_AUDITOR_DEBUG_BLOCKS" in str(ei.value)


def test_all_interfaces_warns_and_hides_debug_blocks(monkeypatch, caplog):
    """Binding beyond loopback logs one warning and, by default, does not
    serve /debug/blocks (stacks name the service's code)."""
    monkeypatch.delenv("ASYNC_AUDITOR_DEBUG_BLOCKS", raising=False)
    with caplog.at_level("WARNING", logger="async_auditor"):
        host, port = async_auditor.serve("0.0.0.0:0")
    try:
        warned = [r.getMessage() for r in caplog.records
                  if "reachable from other machines" in r.getMessage()]
        assert len(warned) == 1 and "0.0.0.0" in warned[0]
        assert http_get("http://127.0.0.1:%d/metrics" % port)[0] == 200
        assert http_get("http://127.0.0.1:%d/debug/blocks" % port)[0] == 404
    finally:
        async_auditor.stop_serving()


@pytest.mark.slow
def test_slowloris_does_not_hold_the_exporter():
    """300 connections from 127.0.0.1 (the address Prometheus scrapes
    from, on loopback) each trickling one header byte a second: /metrics
    still answers, within 2 s, every time it is asked."""
    host, port = async_auditor.serve("127.0.0.1:0")
    stop = threading.Event()
    socks = []
    peak = [0]

    def attack():
        head = b"GET /metrics HTTP/1.1\r\nHost: x\r\nX-Pad: " + b"a" * 64
        pos = {}
        while not stop.is_set():
            # keep 300 connections open, replacing those the exporter
            # closed, and send each one more byte
            while len(socks) < 300 and not stop.is_set():
                try:
                    s = socket.create_connection(("127.0.0.1", port), 2)
                except OSError:
                    break
                s.setblocking(False)
                socks.append(s)
            peak[0] = max(peak[0], len(socks))
            for s in list(socks):
                i = pos.get(s, 0)
                try:
                    s.send(head[i % len(head):i % len(head) + 1])
                    pos[s] = i + 1
                except OSError:
                    socks.remove(s)
                    pos.pop(s, None)
                    s.close()
            stop.wait(1.0)

    t = threading.Thread(target=attack, daemon=True)
    t.start()
    try:
        time.sleep(2.0)  # the attack is in full swing
        times = []
        for _ in range(5):
            t0 = time.monotonic()
            status, body = http_get("http://127.0.0.1:%d/metrics" % port,
                                    timeout=10)
            times.append(time.monotonic() - t0)
            assert status == 200
            assert "http_server_active_requests" in body
            time.sleep(0.5)
        # the attack held its connections open (how many are open at one
        # instant depends on when the exporter last closed some)
        assert peak[0] >= 200
        assert max(times) < 2.0, times
    finally:
        stop.set()
        t.join(10)
        for s in socks:
            s.close()
        async_auditor.stop_serving()
