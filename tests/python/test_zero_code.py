"""`python -m async_auditor run -- COMMAND`: the probe with no code change.

apps/zc_app.py (FastAPI) and apps/zc_service.py (plain asyncio) import
nothing of async_auditor.  Under every server, the loop that serves gets
the probe (a blocking request is an episode, with its line where this
CPython has stack capture), FastAPI gets HTTP series by route template,
and what runs no loop is left alone."""

import os
import socket
import subprocess
import sys
import time

import pytest

from conftest import (HERE, free_port, http_get, metric, parse_metrics,
                      wait_port)

from async_auditor import _probe

APPS = os.path.join(HERE, "apps")


def line_of(name, marker):
    with open(os.path.join(APPS, name)) as f:
        for n, text in enumerate(f, 1):
            if marker in text:
                return n
    raise AssertionError("no %r in %s" % (marker, name))


def run_cmd(mport, *extra):
    return [sys.executable, "-m", "async_auditor", "run", "--serve",
            "127.0.0.1:%d" % mport, *extra, "--"]


def server_cmd(name, port):
    py = sys.executable
    if name == "uvicorn":
        return [py, "-m", "uvicorn", "zc_app:app", "--host", "127.0.0.1",
                "--port", str(port), "--log-level", "warning"]
    if name == "uvicorn-workers":
        return server_cmd("uvicorn", port) + ["--workers", "2"]
    if name == "gunicorn":
        return [py, "-m", "gunicorn", "-k", "uvicorn.workers.UvicornWorker",
                "-w", "1", "-b", "127.0.0.1:%d" % port, "zc_app:app"]
    if name == "hypercorn":
        return [py, "-m", "hypercorn", "zc_app:app", "--bind",
                "127.0.0.1:%d" % port]
    if name == "granian":
        return [py, "-m", "granian", "--interface", "asgi", "--host",
                "127.0.0.1", "--port", str(port), "--workers", "1",
                "zc_app:app"]
    impl = name.split("-", 1)[1]  # service-asyncio, service-uvloop
    return [py, "zc_service.py", str(port), impl]


def scrape(mport):
    status, body = http_get("http://127.0.0.1:%d/metrics" % mport)
    assert status == 200
    return parse_metrics(body)


def total(samples, name, **labels):
    return sum(v for n, l, v in samples if n == name and
               all(l.get(k) == x for k, x in labels.items()))


EPISODES = "python_asyncio_loop_block_duration_seconds_count"


def settled_episodes(mport, timeout=30):
    """Episodes once start-up is over (a server starting on a loaded
    machine, or a framework's first request, can block its loop past the
    threshold on its own): the same count in two scrapes 0.5 s apart."""
    deadline = time.monotonic() + timeout
    prev = None
    while time.monotonic() < deadline:
        now = total(scrape(mport), EPISODES)
        if now == prev:
            return now
        prev = now
        time.sleep(0.5)
    raise AssertionError("episodes still changing: %r" % prev)


def block_once(port, mport, warmup):
    """GET warmup (not blocking), let start-up settle, GET /block once;
    (samples, episodes before /block) once /block's episode is recorded
    (it ends when the loop next polls, which may be after the client has
    its response) or 10 s passed."""
    if warmup:
        assert http_get("http://127.0.0.1:%d%s" % (port, warmup))[0] == 200
    base = settled_episodes(mport)
    assert http_get("http://127.0.0.1:%d/block" % port)[0] == 200
    deadline = time.monotonic() + 10
    while True:
        s = scrape(mport)
        if total(s, EPISODES) > base or time.monotonic() > deadline:
            return s, base
        time.sleep(0.1)


def sites(samples):
    return [l["site"] for n, l, v in samples
            if n == "python_asyncio_block_site_seconds_total"]


def start(spawn, name, **env):
    """The server under `run`; (server, app port, metrics port)."""
    module = "uvloop" if name.endswith("uvloop") else name.split("-")[0]
    if module != "service":
        pytest.importorskip(module)
    port, mport = free_port(), free_port()
    srv = spawn(run_cmd(mport) + server_cmd(name, port), cwd=APPS, env=env)
    try:
        wait_port(port, proc=srv.proc, timeout=40)
        wait_port(mport, proc=srv.proc, timeout=40)
    except Exception:
        raise AssertionError(srv.stop())
    return srv, port, mport


@pytest.mark.slow
@pytest.mark.parametrize("server", ["uvicorn", "gunicorn", "hypercorn",
                                    "granian"])
def test_fastapi_app_without_a_line_of_probe_code(spawn, server):
    srv, port, mport = start(spawn, server)
    base = "http://127.0.0.1:%d" % port
    assert http_get(base + "/items/3")[0] == 200
    assert http_get(base + "/block")[0] == 200
    assert http_get(base + "/nope")[0] == 404
    time.sleep(0.2)
    s = scrape(mport)
    out = "\n".join(map(str, s))
    assert total(s, "python_asyncio_loop_block_duration_seconds_count") \
        >= 1, out
    if _probe.stacks_supported:
        want = "zc_app.py:%d block" % line_of("zc_app.py", "zero-code-block")
        assert any(site.endswith(want) for site in sites(s)), sites(s)
    for route, code in (("/items/{item_id}", "200"), ("/block", "200"),
                        ("unmatched", "404")):
        assert metric(s, "http_server_request_duration_seconds_count",
                      http_request_method="GET", http_route=route,
                      http_response_status_code=code) == 1, (route, out)
    assert "/items/3" not in out


@pytest.mark.slow
@pytest.mark.parametrize("impl", ["asyncio", "uvloop"])
def test_plain_python_service(spawn, impl):
    srv, port, mport = start(spawn, "service-" + impl)
    s, base = block_once(port, mport, None)
    assert total(s, EPISODES) == base + 1
    assert metric(s, "python_asyncio_probe_info", version=_probe.__version__,
                  loop_implementation=impl) == 1
    if _probe.stacks_supported:
        want = "zc_service.py:%d block" % line_of(
            "zc_service.py", "zero-code-service-block")
        assert any(site.endswith(want) for site in sites(s)), sites(s)
    # no middleware without a framework: no HTTP series
    assert total(s, "http_server_request_duration_seconds_count") == 0


@pytest.mark.slow
def test_uvicorn_workers(spawn):
    """Two workers, one /metrics: every blocking request of either worker
    is there, once (the kernel picks which worker answers)."""
    srv, port, mport = start(spawn, "uvicorn-workers")
    url = "http://127.0.0.1:%d/block" % port
    deadline = time.monotonic() + 40
    while len(probe_workers(scrape(mport))) < 2:
        assert time.monotonic() < deadline, "the second worker never came"
        time.sleep(0.2)
    base = settled_episodes(mport)
    sent = 4
    for _ in range(sent):
        assert http_get(url)[0] == 200
    # an episode ends when its loop next polls and a request is observed
    # when the app returns, both a moment after the client has the
    # response (later still when that worker loses its CPU): wait for them
    deadline = time.monotonic() + 30
    while True:
        s = scrape(mport)
        eps = total(s, EPISODES)
        n = total(s, "http_server_request_duration_seconds_count",
                  http_route="/block")
        if (eps >= base + sent and n >= sent) or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert eps == base + sent, s
    assert n == sent, s
    assert len(probe_workers(s)) == 2, s
    out = srv.stop()
    assert "exporter not started" not in out, out


def probe_workers(samples):
    return {l["worker"] for name, l, _ in samples
            if name == "python_asyncio_probe_info"}


def test_child_without_a_loop_is_left_alone(tmp_path):
    mport = free_port()
    script = ("import os, sys, threading; "
              "print(os.getpid(), len(os.listdir('/proc/self/task')), "
              "'asyncio' in sys.modules, 'async_auditor' in sys.modules)")
    proc = subprocess.Popen(run_cmd(mport) + [sys.executable, "-c", script],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    pid, tasks, asyncio_loaded, bootstrapped = out.decode().split()
    assert int(pid) == proc.pid  # exec: no extra process layer
    assert tasks == "1"  # no thread started
    assert asyncio_loaded == "False"  # the bootstrap stays light
    assert bootstrapped == "True"  # ...but it did run
    with socket.socket() as s:  # and bound nothing
        s.bind(("127.0.0.1", mport))


def test_non_python_child_and_exit_status():
    mport = free_port()
    r = subprocess.run(run_cmd(mport) + ["sh", "-c", "exit 7"],
                       capture_output=True, timeout=60)
    assert r.returncode == 7
    with socket.socket() as s:
        s.bind(("127.0.0.1", mport))


def test_python_script_gets_its_exit_status_and_signals(tmp_path):
    r = subprocess.run(run_cmd(free_port()) + [
        sys.executable, "-c",
        "import asyncio, os, signal\n"
        "async def main():\n"
        "    os.kill(os.getpid(), signal.SIGTERM)\n"
        "    await asyncio.sleep(5)\n"
        "asyncio.run(main())"], capture_output=True, timeout=60)
    assert r.returncode == -15, r.stderr


def test_shadowed_sitecustomize_still_runs(tmp_path):
    (tmp_path / "sitecustomize.py").write_text(
        "import sys\nsys.shadowed_sitecustomize_ran = True\n")
    env = dict(os.environ, PYTHONPATH=str(tmp_path) + os.pathsep +
               os.environ.get("PYTHONPATH", ""))
    r = subprocess.run(run_cmd(free_port()) + [
        sys.executable, "-c",
        "import sys; print(getattr(sys, 'shadowed_sitecustomize_ran', 0), "
        "'async_auditor' in sys.modules)"],
        capture_output=True, timeout=60, env=env)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == [b"True", b"True"]


@pytest.mark.parametrize("args,env,message", [
    (["--block-threshold", "fast"], {},
     b"error: --block-threshold: expected seconds"),
    (["--lag-interval", "0"], {}, b"error: --lag-interval: expected seconds"),
    ([], {"ASYNC_AUDITOR_BLOCK_THRESHOLD": "-1"},
     b"error: ASYNC_AUDITOR_BLOCK_THRESHOLD: expected seconds"),
    ([], {"ASYNC_AUDITOR_STACKS": "maybe"},
     b"error: ASYNC_AUDITOR_STACKS: expected 1 or 0"),
    (["--serve", "localhost:http"], {}, b"error: --serve:"),
])
def test_bad_values_are_usage_errors(args, env, message):
    r = subprocess.run(
        [sys.executable, "-m", "async_auditor", "run", *args, "--", "true"],
        capture_output=True, timeout=60, env=dict(os.environ, **env))
    assert r.returncode == 64, r.stderr
    assert message in r.stderr, r.stderr


def test_usage_help_and_missing_command():
    r = subprocess.run([sys.executable, "-m", "async_auditor", "run",
                        "--help"], capture_output=True, timeout=60)
    assert r.returncode == 0
    for word in (b"uvicorn", b"gunicorn", b"ASYNC_AUDITOR_SERVE",
                 b"exit status", b"--no-middleware"):
        assert word in r.stdout, word
    r = subprocess.run([sys.executable, "-m", "async_auditor", "run"],
                       capture_output=True, timeout=60)
    assert r.returncode == 64 and b"no command to run" in r.stderr
    r = subprocess.run([sys.executable, "-m", "async_auditor", "run", "--",
                        "no-such-command-here"], capture_output=True,
                       timeout=60)
    assert r.returncode == 127 and b"command not found" in r.stderr
    r = subprocess.run([sys.executable, "-m", "async_auditor", "frobnicate"],
                       capture_output=True, timeout=60)
    assert r.returncode == 64 and b"unknown command" in r.stderr


@pytest.mark.slow
def test_app_instrumented_in_code_is_not_instrumented_twice(spawn):
    pytest.importorskip("uvicorn")
    port, mport = free_port(), free_port()
    addr = "127.0.0.1:%d" % mport
    srv = spawn(run_cmd(mport) + [
        sys.executable, "-m", "uvicorn", "lab_app:app", "--host",
        "127.0.0.1", "--port", str(port), "--log-level", "warning"],
        cwd=APPS, env={"AA_METRICS_ADDR": addr})
    try:
        wait_port(port, proc=srv.proc, timeout=40)
        wait_port(mport, proc=srv.proc, timeout=40)
    except Exception:
        raise AssertionError(srv.stop())
    assert http_get("http://127.0.0.1:%d/block" % port)[0] == 200
    # the middleware records the request once the app returns, which may
    # be after the client has its response
    deadline = time.monotonic() + 10
    while True:
        s = scrape(mport)
        count = metric(s, "http_server_request_duration_seconds_count",
                       http_request_method="GET", http_route="/block",
                       http_response_status_code="200")
        if count is not None or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert count == 1


@pytest.mark.slow
def test_no_middleware_option(spawn):
    pytest.importorskip("uvicorn")
    port, mport = free_port(), free_port()
    srv = spawn(run_cmd(mport, "--no-middleware") +
                server_cmd("uvicorn", port), cwd=APPS)
    try:
        wait_port(port, proc=srv.proc, timeout=40)
        wait_port(mport, proc=srv.proc, timeout=40)
    except Exception:
        raise AssertionError(srv.stop())
    s, base = block_once(port, mport, "/items/1")
    assert total(s, EPISODES) == base + 1
    assert total(s, "http_server_request_duration_seconds_count") == 0
