"""The same instrumented FastAPI app under uvicorn, hypercorn and granian:
anyio token exhaustion, HTTP metrics by route template, a blocking
endpoint's site, all read from the probe's exporter."""

import asyncio
import json
import os
import sys
import time

import httpx
import pytest

from conftest import (HERE, free_port, http_get, metric, parse_metrics,
                      wait_port)

APPS = os.path.join(HERE, "apps")


def server_cmd(name, port):
    if name == "uvicorn":
        return [sys.executable, "-m", "uvicorn", "lab_app:app", "--host",
                "127.0.0.1", "--port", str(port), "--log-level", "warning"]
    if name == "hypercorn":
        return [sys.executable, "-m", "hypercorn", "lab_app:app", "--bind",
                "127.0.0.1:%d" % port]
    return [sys.executable, "-m", "granian", "--interface", "asgi",
            "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
            "lab_app:app"]


@pytest.mark.slow
@pytest.mark.parametrize("server", ["uvicorn", "hypercorn", "granian"])
def test_fastapi_under_server(spawn, server):
    pytest.importorskip(server)
    port, mport = free_port(), free_port()
    srv = spawn(server_cmd(server, port), cwd=APPS,
                env={"AA_METRICS_ADDR": "127.0.0.1:%d" % mport})
    try:
        wait_port(port, proc=srv.proc, timeout=30)
        wait_port(mport, proc=srv.proc, timeout=30)
    except Exception:
        raise AssertionError(srv.stop())
    base = "http://127.0.0.1:%d" % port
    murl = "http://127.0.0.1:%d/metrics" % mport

    async def drive():
        async with httpx.AsyncClient(base_url=base, timeout=30) as c:
            reqs = [asyncio.create_task(c.get("/items/%d" % i))
                    for i in range(8)]
            # 8 requests of 0.2 s on 2 threads: about 0.8 s during which
            # the pool is full; scrape until the scrape sees it so (a
            # loaded machine may take a while to start the threads, and
            # to accept the last requests: the first job may end before
            # the eighth request arrives, so 8 in flight at once is not
            # certain; every request in the pool is)
            for _ in range(40):
                await asyncio.sleep(0.02)
                during = await asyncio.to_thread(http_get, murl)
                d = parse_metrics(during[1])
                busy = metric(d, "python_asyncio_executor_busy_workers",
                              executor="anyio")
                pending = metric(d, "python_asyncio_executor_pending",
                                 executor="anyio")
                active = metric(d, "http_server_active_requests")
                if busy == 2 and (pending or 0) >= 4 and \
                        (active or 0) >= busy + pending:
                    break
            rs = await asyncio.gather(*reqs)
            assert all(r.status_code == 200 for r in rs)
            for _ in range(3):
                r = await c.get("/me")
                assert r.status_code == 200
            r = await c.get("/block")
            assert r.status_code == 200
            r = await c.get("/nope")
            assert r.status_code == 404
            return during

    status, during = asyncio.run(drive())
    assert status == 200
    d = parse_metrics(during)
    assert metric(d, "python_asyncio_executor_max_workers",
                  executor="anyio") == 2
    assert metric(d, "python_asyncio_executor_busy_workers",
                  executor="anyio") == 2
    assert metric(d, "python_asyncio_executor_pending",
                  executor="anyio") >= 4
    # each request in the pool is in flight for the middleware too
    assert metric(d, "http_server_active_requests") >= metric(
        d, "python_asyncio_executor_busy_workers", executor="anyio") + \
        metric(d, "python_asyncio_executor_pending", executor="anyio")
    time.sleep(0.1)
    status, body = http_get(murl)
    s = parse_metrics(body)
    assert metric(s, "http_server_request_duration_seconds_count",
                  http_request_method="GET", http_route="/items/{item_id}",
                  http_response_status_code="200") == 8
    assert metric(s, "http_server_request_duration_seconds_count",
                  http_request_method="GET", http_route="unmatched",
                  http_response_status_code="404") == 1
    # 8 + 3 endpoint jobs and 3 dependency jobs, each named where it is
    # defined (a decorated def: its decorator's line)
    assert metric(s, "python_asyncio_executor_wait_seconds_count",
                  executor="anyio") == 14
    app = os.path.join(APPS, "lab_app.py")
    with open(app) as f:
        lines = f.read().splitlines()

    def site(needle):
        return "%s:%d" % (app, 1 + next(i for i, t in enumerate(lines)
                                        if needle in t))

    for fn, where, calls in (("item", '@app.get("/items/{item_id}")', 8),
                             ("me", "# the endpoint's def", 3),
                             ("current_user", "# the dependency's def", 3)):
        assert metric(s, "python_asyncio_executor_function_calls_total",
                      executor="anyio", function=fn,
                      site=site(where)) == calls, fn
    assert metric(s, "python_asyncio_executor_function_run_seconds_total",
                  executor="anyio", function="item",
                  site=site('@app.get("/items/{item_id}")')) >= 1.6
    assert metric(s, "python_asyncio_executor_wait_seconds_sum",
                  executor="anyio") > 0.5
    assert metric(s, "python_asyncio_loop_block_duration_seconds_count") >= 1
    sites = [l["site"] for n, l, v in s
             if n == "python_asyncio_block_site_seconds_total" and v > 0]
    assert any(x.endswith(" block") and "lab_app.py" in x for x in sites)
    status, body = http_get("http://127.0.0.1:%d/debug/blocks" % mport)
    blocks = json.loads(body)["blocks"]
    assert any(b["site"].endswith(" block") for b in blocks)
    srv.stop()
    assert srv.proc.returncode is not None
