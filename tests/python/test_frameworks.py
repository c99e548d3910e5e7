"""aiohttp.web, Litestar and Quart under real servers: HTTP series are
labelled with the route template each framework matched (aiohttp
``/block/{n}``, Litestar ``/block/{n}``, Quart ``/block/<int:n>``), never
the raw path (``/block/2``), and ``unmatched`` for a 404 no route served;
loop metrics and the blocking line come along."""

import os
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


def serve(spawn, args, mport, port):
    srv = spawn(args, cwd=APPS, env={"AA_METRICS_ADDR": "127.0.0.1:%d"
                                     % mport})
    try:
        wait_port(port, proc=srv.proc, timeout=40)
        wait_port(mport, proc=srv.proc, timeout=40)
    except Exception:
        raise AssertionError(srv.stop())
    return srv


def count(samples, route, code):
    return metric(samples, "http_server_request_duration_seconds_count",
                  http_request_method="GET", http_route=route,
                  http_response_status_code=code)


def check(samples, app_file, marker, templates):
    """templates: {route label: (status, expected count)}"""
    out = "\n".join(map(str, samples))
    for route, (code, n) in templates.items():
        assert count(samples, route, code) == n, (route, out)
    routes = {l.get("http_route") for name, l, v in samples
              if name == "http_server_request_duration_seconds_count"}
    assert not [r for r in routes if any(c.isdigit() for c in r)], routes
    assert metric(samples,
                  "python_asyncio_loop_block_duration_seconds_count") >= 1
    if _probe.stacks_supported:
        want = "%s:%d" % (app_file, line_of(app_file, marker))
        assert any(want in l["site"] for name, l, v in samples
                   if name == "python_asyncio_block_site_seconds_total"), out


def aiohttp_requests(base):
    assert http_get(base + "/block/2")[0] == 200
    assert http_get(base + "/items/7")[0] == 200
    assert http_get(base + "/items/8")[0] == 200
    assert http_get(base + "/gone/x")[0] == 404
    assert http_get(base + "/sub/ping/3")[0] == 200
    assert http_get(base + "/nope/1")[0] == 404


AIOHTTP_TEMPLATES = {
    "/block/{n}": ("200", 1),
    "/items/{item_id}": ("200", 2),
    "/gone/{what}": ("404", 1),  # the handler's own 404 keeps its route
    "/sub/ping/{item_id}": ("200", 1),  # a sub-app's route, counted once
    "unmatched": ("404", 1),
}


@pytest.mark.slow
def test_aiohttp_instrument(spawn):
    pytest.importorskip("aiohttp")
    port, mport = free_port(), free_port()
    serve(spawn, [sys.executable, "fw_aiohttp.py", str(port),
                  "instrumented"], mport, port)
    aiohttp_requests("http://127.0.0.1:%d" % port)
    time.sleep(0.1)
    s = parse_metrics(http_get("http://127.0.0.1:%d/metrics" % mport)[1])
    check(s, "fw_aiohttp.py", "aiohttp-block", AIOHTTP_TEMPLATES)


@pytest.mark.slow
def test_aiohttp_zero_code(spawn):
    pytest.importorskip("aiohttp")
    port, mport = free_port(), free_port()
    serve(spawn, [sys.executable, "-m", "async_auditor", "run", "--serve",
                  "127.0.0.1:%d" % mport, "--", sys.executable,
                  "fw_aiohttp.py", str(port), "plain"], mport, port)
    aiohttp_requests("http://127.0.0.1:%d" % port)
    time.sleep(0.1)
    s = parse_metrics(http_get("http://127.0.0.1:%d/metrics" % mport)[1])
    check(s, "fw_aiohttp.py", "aiohttp-block", AIOHTTP_TEMPLATES)


@pytest.mark.slow
def test_litestar_route_templates(spawn):
    pytest.importorskip("litestar")
    pytest.importorskip("uvicorn")
    port, mport = free_port(), free_port()
    serve(spawn, [sys.executable, "-m", "uvicorn", "fw_litestar:app",
                  "--host", "127.0.0.1", "--port", str(port),
                  "--log-level", "warning"], mport, port)
    base = "http://127.0.0.1:%d" % port
    assert http_get(base + "/block/2")[0] == 200
    assert http_get(base + "/items/a1")[0] == 200
    assert http_get(base + "/nope")[0] == 404
    time.sleep(0.1)
    s = parse_metrics(http_get("http://127.0.0.1:%d/metrics" % mport)[1])
    check(s, "fw_litestar.py", "litestar-block", {
        "/block/{n}": ("200", 1), "/items/{item_id}": ("200", 1),
        "unmatched": ("404", 1)})


@pytest.mark.slow
def test_quart_route_templates(spawn):
    pytest.importorskip("quart")
    pytest.importorskip("hypercorn")
    port, mport = free_port(), free_port()
    serve(spawn, [sys.executable, "-m", "hypercorn", "fw_quart:app",
                  "--bind", "127.0.0.1:%d" % port], mport, port)
    base = "http://127.0.0.1:%d" % port
    assert http_get(base + "/block/2")[0] == 200
    assert http_get(base + "/items/a1")[0] == 200
    assert http_get(base + "/nope")[0] == 404
    time.sleep(0.1)
    s = parse_metrics(http_get("http://127.0.0.1:%d/metrics" % mport)[1])
    check(s, "fw_quart.py", "quart-block", {
        "/block/<int:n>": ("200", 1), "/items/<item_id>": ("200", 1),
        "unmatched": ("404", 1)})
