"""ProbeCollector for prometheus_client and the ASGI middleware's labels."""

import asyncio
import time

import pytest

import async_auditor
from async_auditor import _probe
from async_auditor.asgi import MetricsMiddleware
from conftest import asgi_call, http_count, metric, parse_metrics


def test_probe_collector_in_prometheus_client_registry():
    prometheus_client = pytest.importorskip("prometheus_client")
    from async_auditor.prometheus import ProbeCollector

    loop = asyncio.new_event_loop()
    probe = async_auditor.install(loop)

    async def main():
        time.sleep(0.06)

    try:
        loop.run_until_complete(main())
        reg = prometheus_client.CollectorRegistry()
        reg.register(ProbeCollector())
        text = prometheus_client.generate_latest(reg).decode()
    finally:
        probe.close()
        loop.close()
    s = parse_metrics(text)
    assert metric(s, "python_asyncio_loop_block_duration_seconds_count") == 1
    assert metric(s, "python_asyncio_loop_iterations_total") > 0
    assert metric(s, "python_asyncio_probe_info",
                  loop_implementation="asyncio",
                  version=async_auditor.__version__) == 1
    assert "# TYPE python_asyncio_loop_busy_seconds_total counter" in text


def test_middleware_route_template_and_fallbacks():
    from starlette.applications import Starlette
    from starlette.responses import PlainTextResponse
    from starlette.routing import Route

    async def user(request):
        return PlainTextResponse("u")

    async def boom(request):
        raise RuntimeError("boom")

    app = MetricsMiddleware(Starlette(routes=[
        Route("/users/{uid}", user), Route("/boom", boom)]))
    before = http_count("/users/{uid}", 200)
    before404 = http_count("unmatched", 404)
    before500 = http_count("/boom", 500)

    async def main():
        for i in range(5):
            await asgi_call(app, "/users/%d" % i)
        await asgi_call(app, "/zzz/%d" % 1)
        with pytest.raises(RuntimeError):
            await asgi_call(app, "/boom")

    asyncio.run(main())
    assert http_count("/users/{uid}", 200) == before + 5
    assert http_count("unmatched", 404) == before404 + 1
    assert http_count("/boom", 500) == before500 + 1
    assert "/users/3" not in _probe.render_metrics()


def test_middleware_plain_asgi_bounded_paths():
    async def plain(scope, receive, send):
        await send({"type": "http.response.start", "status": 204,
                    "headers": []})
        await send({"type": "http.response.body", "body": b""})

    app = MetricsMiddleware(plain, max_unrouted_paths=3)

    async def main():
        for i in range(10):
            await asgi_call(app, "/p%d" % i, method="PUT")

    before = http_count("other", 204, "PUT")
    asyncio.run(main())
    assert http_count("/p0", 204, "PUT") >= 1
    assert http_count("/p5", 204, "PUT") == 0
    assert http_count("other", 204, "PUT") == before + 7
    s = parse_metrics(_probe.render_metrics())
    assert metric(s, "http_server_active_requests") == 0

    async def in_flight():
        probe = async_auditor.install()
        seen = []

        async def slow(scope, receive, send):
            seen.append(probe.snapshot()["http_server_active_requests"])
            await plain(scope, receive, send)

        await asgi_call(MetricsMiddleware(slow), "/x")
        probe.close()
        return seen

    assert asyncio.run(in_flight()) == [1]


def test_fastapi_instrument_in_process():
    fastapi = pytest.importorskip("fastapi")
    from fastapi.testclient import TestClient
    from async_auditor.fastapi import instrument

    app = fastapi.FastAPI()

    @app.get("/hello/{name}")
    async def hello(name: str):
        return {"hi": name}

    instrument(app, block_threshold=0.1)
    with TestClient(app) as client:
        probe = app.state.async_auditor_probe
        assert not probe.closed and probe.block_threshold == 0.1
        assert client.get("/hello/x").json() == {"hi": "x"}
    assert probe.closed
    assert http_count("/hello/{name}", 200) >= 1


def test_instrument_survives_port_in_use(monkeypatch, caplog):
    """An exporter port in use is logged; the service still starts."""
    import socket
    fastapi = pytest.importorskip("fastapi")
    from fastapi.testclient import TestClient
    from async_auditor.fastapi import instrument

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        addr = "127.0.0.1:%d" % s.getsockname()[1]
        monkeypatch.setenv("ASYNC_AUDITOR_SERVE", addr)
        app = fastapi.FastAPI()

        @app.get("/ok")
        async def ok():
            return {"ok": True}

        instrument(app)
        with caplog.at_level("ERROR", logger="async_auditor"):
            with TestClient(app) as client:
                assert client.get("/ok").json() == {"ok": True}
                assert not app.state.async_auditor_probe.closed
        assert any("exporter not started" in r.getMessage()
                   for r in caplog.records)
