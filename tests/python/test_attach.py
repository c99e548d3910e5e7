"""`python -m async_auditor attach PID` / `detach PID` (PEP 768).

On CPython 3.14+ (scripts/pythons runs these in the sid chroot on 3.14 and
3.15): a uvicorn service under load, never restarted, gets the probe; a
blocking request is then an episode (with its line where stack capture
exists), and detach closes the exporter.  Everywhere: refusals are clear
and non-zero (older Python, another user, remote debugging disabled,
async_auditor not importable in the target), usage errors exit 64."""

import http.client
import os
import shutil
import socket
import subprocess
import sys
import threading
import time

import pytest

from conftest import HERE, free_port, http_get, parse_metrics, wait_port

from async_auditor import _probe

APPS = os.path.join(HERE, "apps")
HAS_REMOTE_EXEC = hasattr(sys, "remote_exec")
needs_314 = pytest.mark.skipif(not HAS_REMOTE_EXEC,
                               reason="attach needs CPython 3.14+")

# a target that runs an asyncio loop in its main thread, waking often
LOOP_TARGET = ("import asyncio\n"
               "async def main():\n"
               "    while True:\n"
               "        await asyncio.sleep(0.05)\n"
               "asyncio.run(main())\n")


def aa(*args, timeout=90, **kw):
    return subprocess.run([sys.executable, "-m", "async_auditor", *args],
                          capture_output=True, text=True, timeout=timeout,
                          **kw)


def line_of(name, marker):
    with open(os.path.join(APPS, name)) as f:
        for n, text in enumerate(f, 1):
            if marker in text:
                return n
    raise AssertionError(marker)


def port_closed(port):
    with socket.socket() as s:
        s.settimeout(1)
        return s.connect_ex(("127.0.0.1", port)) != 0


class Load:
    """A bounded request loop against the service (one keep-alive client,
    at most `limit` requests or `seconds`)."""

    def __init__(self, port, limit=5000, seconds=60):
        self.port, self.limit, self.seconds = port, limit, seconds
        self.done = 0
        self.errors = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self):
        deadline = time.monotonic() + self.seconds
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        while not self._stop.is_set() and self.done < self.limit and \
                time.monotonic() < deadline:
            try:
                conn.request("GET", "/items/%d" % self.done)
                conn.getresponse().read()
                self.done += 1
            except (OSError, http.client.HTTPException):
                self.errors += 1
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", self.port,
                                                  timeout=10)
                time.sleep(0.05)
        conn.close()

    def stop(self):
        self._stop.set()
        self._thread.join(15)


def test_usage_errors_exit_64():
    r = aa("attach", "not-a-pid")
    assert r.returncode == 64 and "PID: expected a process id" in r.stderr
    r = aa("attach", "1", "--block-threshold", "slow")
    assert r.returncode == 64 and "--block-threshold" in r.stderr
    r = aa("detach")
    assert r.returncode == 64
    r = aa("attach", "--help")
    assert r.returncode == 0 and "ptrace_scope" in r.stdout and \
        "exit status" in r.stdout


@pytest.mark.skipif(HAS_REMOTE_EXEC, reason="this Python has remote_exec")
def test_older_python_says_it_needs_314(spawn):
    target = spawn([sys.executable, "-c", LOOP_TARGET])
    r = aa("attach", str(target.proc.pid))
    assert r.returncode == 1, r.stderr
    assert "needs CPython 3.14 or newer" in r.stderr
    assert "python -m async_auditor run" in r.stderr
    assert target.proc.poll() is None  # untouched


def test_no_such_process():
    pid = 4194304 + 17  # above any pid_max
    r = aa("attach", str(pid))
    assert r.returncode == 1
    assert ("no process" in r.stderr) or ("3.14" in r.stderr)


@needs_314
@pytest.mark.slow
def test_attach_uvicorn_under_load_then_detach(spawn):
    pytest.importorskip("uvicorn")
    port, mport = free_port(), free_port()
    srv = spawn([sys.executable, "-m", "uvicorn", "zc_app:app", "--host",
                 "127.0.0.1", "--port", str(port), "--log-level",
                 "warning"], cwd=APPS)
    try:
        wait_port(port, proc=srv.proc, timeout=40)
    except Exception:
        raise AssertionError(srv.stop())
    load = Load(port)
    try:
        time.sleep(0.5)
        r = aa("attach", str(srv.proc.pid), "--serve",
               "127.0.0.1:%d" % mport)
        assert r.returncode == 0, r.stderr
        assert "attached to process %d" % srv.proc.pid in r.stdout
        assert "HTTP metrics need the middleware" in r.stdout
        wait_port(mport, proc=srv.proc, timeout=10)
        assert http_get("http://127.0.0.1:%d/block" % port)[0] == 200
        time.sleep(0.2)
        status, body = http_get("http://127.0.0.1:%d/metrics" % mport)
        assert status == 200
        s = parse_metrics(body)
        episodes = sum(v for n, l, v in s if n ==
                       "python_asyncio_loop_block_duration_seconds_count")
        assert episodes >= 1, body
        if _probe.stacks_supported:
            want = "zc_app.py:%d block" % line_of("zc_app.py",
                                                 "zero-code-block")
            assert any(l["site"].endswith(want) for n, l, v in s
                       if n == "python_asyncio_block_site_seconds_total"), \
                body
        assert load.done > 0
        r = aa("detach", str(srv.proc.pid))
        assert r.returncode == 0, r.stderr
        assert "1 probe(s) closed" in r.stdout
        assert "hooks removed" in r.stdout
        assert port_closed(mport)
        before = load.done
        time.sleep(0.5)
        assert load.done > before  # the service kept serving throughout
    finally:
        load.stop()
    assert srv.proc.poll() is None
    assert load.errors == 0


@needs_314
def test_target_with_remote_debugging_disabled(spawn):
    target = spawn([sys.executable, "-c", LOOP_TARGET],
                   env={"PYTHON_DISABLE_REMOTE_DEBUG": "1"})
    time.sleep(0.3)
    r = aa("attach", str(target.proc.pid))
    assert r.returncode == 1
    assert "disabled remote debugging" in r.stderr


@needs_314
def test_target_that_cannot_import_async_auditor(spawn):
    # -I -S: no PYTHONPATH, no site-packages, so no async_auditor there
    target = spawn([sys.executable, "-I", "-S", "-c", LOOP_TARGET])
    time.sleep(0.3)
    r = aa("attach", str(target.proc.pid), "--timeout", "20")
    assert r.returncode == 1
    assert "cannot import async_auditor" in r.stderr
    assert "nothing was changed" in r.stderr
    assert target.proc.poll() is None


@needs_314
def test_unprivileged_user_against_a_root_service(spawn):
    if os.geteuid() != 0 or shutil.which("setpriv") is None:
        pytest.skip("needs root and setpriv to run attach as nobody")
    target = spawn([sys.executable, "-c", LOOP_TARGET])
    time.sleep(0.3)
    r = subprocess.run(
        ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
         sys.executable, "-m", "async_auditor", "attach",
         str(target.proc.pid)], capture_output=True, text=True, timeout=60,
        cwd="/", env=dict(os.environ, HOME="/"))
    assert r.returncode == 1, (r.stdout, r.stderr)
    assert "permission denied" in r.stderr
    assert "as root" in r.stderr
