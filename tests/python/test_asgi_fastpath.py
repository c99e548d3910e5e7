"""MetricsMiddleware's per-request path in C (_probe.HttpMiddleware): the
same series as the Python coroutine it replaces, the awaitable protocol
(send, throw, close, return values, cancellation) passed through to the
app, and nothing left behind per request."""

import asyncio
import collections.abc
import gc
import inspect
import sys
import warnings

import pytest

from async_auditor import _probe
from async_auditor.asgi import MetricsMiddleware
from conftest import asgi_call, http_count, metric, parse_metrics

DURATION_COUNT = "http_server_request_duration_seconds_count"


def _active():
    return metric(parse_metrics(_probe.render_metrics()),
                  "http_server_active_requests") or 0


def _total():
    """Requests observed so far, all series together."""
    return sum(v for n, _, v in parse_metrics(_probe.render_metrics())
               if n == DURATION_COUNT)


class Route:
    """What Starlette puts in scope["route"]."""

    def __init__(self, path_format, path=None):
        self.path_format = path_format
        self.path = path


class Pause:
    """Awaitable suspending its awaiter once, as a Task's future does;
    what the driver sends back is the await's value."""

    def __await__(self):
        return (yield "paused")


def _scope(path, method="GET", **extra):
    return dict({"type": "http", "method": method, "path": path,
                 "headers": [], "query_string": b""}, **extra)


async def _receive():
    return {"type": "http.request", "body": b"", "more_body": False}


def _sink():
    sent = []

    async def send(msg):
        sent.append(msg)

    return sent, send


def _start(status):
    return {"type": "http.response.start", "status": status, "headers": []}


def test_plain_app_status_route_method_gauge():
    seen_active = []

    async def app(scope, receive, send):
        seen_active.append(_active())
        await send(_start(201))
        await send({"type": "http.response.body", "body": b"made"})

    mw = MetricsMiddleware(app)
    route = "/fast/items/{item_id}"
    before, total, active = http_count(route, 201, "POST"), _total(), \
        _active()
    sent = asyncio.run(asgi_call(mw, "/fast/items/7", method="POST",
                                 route=Route(route)))
    assert [m["type"] for m in sent] == ["http.response.start",
                                         "http.response.body"]
    assert sent[0]["status"] == 201
    assert seen_active == [active + 1]
    assert http_count(route, 201, "POST") == before + 1
    assert _total() == total + 1
    assert _active() == active
    assert "/fast/items/7" not in _probe.render_metrics()


def test_route_path_when_path_format_is_empty():
    async def app(scope, receive, send):
        await send(_start(200))

    before = http_count("/fast/plain-path", 200)
    asyncio.run(asgi_call(MetricsMiddleware(app), "/fast/plain-path/1",
                          route=Route("", "/fast/plain-path")))
    assert http_count("/fast/plain-path", 200) == before + 1


def test_exception_before_start_is_500_and_propagates_unchanged():
    boom = LookupError("fast-boom")

    async def app(scope, receive, send):
        raise boom

    route = "/fast/boom"
    before, total, active = http_count(route, 500), _total(), _active()
    with pytest.raises(LookupError) as info:
        asyncio.run(asgi_call(MetricsMiddleware(app), "/x",
                              route=Route(route)))
    assert info.value is boom
    assert http_count(route, 500) == before + 1
    assert _total() == total + 1
    assert _active() == active


def test_exception_after_start_keeps_the_sent_status():
    async def app(scope, receive, send):
        await send(_start(418))
        raise KeyError("late")

    before = http_count("/fast/late", 418)
    before500 = http_count("/fast/late", 500)
    with pytest.raises(KeyError):
        asyncio.run(asgi_call(MetricsMiddleware(app), "/x",
                              route=Route("/fast/late")))
    assert http_count("/fast/late", 418) == before + 1
    assert http_count("/fast/late", 500) == before500


def test_second_response_start_keeps_the_first_status():
    """ASGI allows one http.response.start: a second (an error handler's
    500 after the response began, which servers refuse) is not what the
    client got."""
    async def app(scope, receive, send):
        await send(_start(200))
        await send({"type": "http.response.body", "body": b"a",
                    "more_body": True})
        await send(_start(500))
        await send({"type": "http.response.body", "body": b""})

    before = http_count("/fast/twice", 200)
    before500 = http_count("/fast/twice", 500)
    asyncio.run(asgi_call(MetricsMiddleware(app), "/x",
                          route=Route("/fast/twice")))
    assert http_count("/fast/twice", 200) == before + 1
    assert http_count("/fast/twice", 500) == before500


def test_no_response_start_observes_status_zero():
    """As the Python version did: status 0, an empty status label."""
    async def app(scope, receive, send):
        pass

    def count():
        return metric(parse_metrics(_probe.render_metrics()), DURATION_COUNT,
                      http_route="/fast/silent",
                      http_response_status_code="") or 0

    before = count()
    asyncio.run(asgi_call(MetricsMiddleware(app), "/x",
                          route=Route("/fast/silent")))
    assert count() == before + 1


def test_app_runs_when_awaited_and_sync_raise_is_500():
    """The app is called at the first send(None), as in the coroutine the
    Python version was; a synchronous raise surfaces there."""
    calls = []
    err = ValueError("sync")

    def app(scope, receive, send):
        calls.append(scope["path"])
        raise err

    mw = MetricsMiddleware(app)
    scope = _scope("/fast/sync")
    sent, send = _sink()
    before, active = http_count("/fast/sync-route", 500), _active()
    req = mw(scope, _receive, send)
    assert calls == [] and "async_auditor.observed" not in scope
    assert _active() == active

    async def main():
        await req

    scope["route"] = Route("/fast/sync-route")
    with pytest.raises(ValueError) as info:
        asyncio.run(main())
    assert info.value is err and calls == ["/fast/sync"]
    assert scope["async_auditor.observed"] is True
    assert http_count("/fast/sync-route", 500) == before + 1
    assert _active() == active


@pytest.mark.parametrize("wrapped", [False, True],
                         ids=["task-drives-request", "server-coroutine"])
def test_cancellation_is_500_and_propagates(wrapped):
    route = "/fast/cancel-%s" % wrapped

    async def main():
        started, never = asyncio.Event(), asyncio.Event()
        cleanup = []

        async def app(scope, receive, send):
            started.set()
            try:
                await never.wait()
            finally:
                cleanup.append("app")

        mw = MetricsMiddleware(app)
        sent, send = _sink()
        req = mw(_scope("/c", route=Route(route)), _receive, send)

        async def server():
            await req

        active = _active()
        task = asyncio.ensure_future(server() if wrapped else req)
        await started.wait()
        assert _active() == active + 1
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert cleanup == ["app"]
        return active

    before = http_count(route, 500)
    active = asyncio.run(main())
    assert http_count(route, 500) == before + 1
    assert _active() == active


def test_return_value_passes_through_await():
    async def app(scope, receive, send):
        await send(_start(200))
        return 42

    async def tuple_app(scope, receive, send):
        return (1, 2)

    async def main():
        sent, send = _sink()
        a = await MetricsMiddleware(app)(_scope("/r"), _receive, send)
        b = await MetricsMiddleware(tuple_app)(_scope("/r"), _receive, send)
        return a, b

    assert asyncio.run(main()) == (42, (1, 2))


def test_other_awaitables_and_non_awaitables():
    """The app may hand back any awaitable (a Future here); a value that
    cannot be awaited fails the request like `await` does, as a 500."""
    route = "/fast/awaitables"

    async def main():
        loop = asyncio.get_running_loop()

        def future_app(scope, receive, send):
            fut = loop.create_future()
            loop.call_soon(fut.set_result, "from-future")
            return fut

        def sync_app(scope, receive, send):
            return None

        sent, send = _sink()
        got = await MetricsMiddleware(future_app)(
            _scope("/f", route=Route(route)), _receive, send)
        with pytest.raises(TypeError):
            await MetricsMiddleware(sync_app)(
                _scope("/f", route=Route(route)), _receive, send)
        return got

    before500, total, active = http_count(route, 500), _total(), _active()
    assert asyncio.run(main()) == "from-future"
    assert http_count(route, 500) == before500 + 1
    assert _total() == total + 2
    assert _active() == active


def test_task_cancelled_before_it_starts_observes_nothing():
    """Cancelling a task before its first step throws into the unstarted
    request: the app never runs, nothing is observed (as with the Python
    coroutine)."""
    calls = []

    async def app(scope, receive, send):
        calls.append(1)

    async def main():
        sent, send = _sink()
        task = asyncio.ensure_future(
            MetricsMiddleware(app)(_scope("/early"), _receive, send))
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    total, active = _total(), _active()
    asyncio.run(main())
    assert calls == [] and _total() == total and _active() == active


def test_keyword_call():
    async def app(scope, receive, send):
        await send(_start(200))
        return "kw"

    async def main():
        sent, send = _sink()
        mw = MetricsMiddleware(app)
        got = await mw(scope=_scope("/kw"), receive=_receive, send=send)
        with pytest.raises(TypeError):
            mw(_scope("/kw"), _receive)
        return got, sent

    got, sent = asyncio.run(main())
    assert got == "kw" and sent[0]["status"] == 200


def test_driven_by_hand_send_throw_close():
    log = []
    caught = ValueError("thrown")

    async def app(scope, receive, send):
        try:
            log.append(("resumed", await Pause()))
            await Pause()
        except ValueError as e:
            log.append(("caught", e))
            await send(_start(409))
            return "handled"
        finally:
            log.append("finally")

    mw = MetricsMiddleware(app)
    route = "/fast/by-hand"
    sent, send = _sink()
    before409, active = http_count(route, 409), _active()
    req = mw(_scope("/h", route=Route(route)), _receive, send)
    assert isinstance(req, collections.abc.Coroutine)
    assert inspect.isawaitable(req)
    with pytest.raises(TypeError):
        req.send("not None first")
    assert req.send(None) == "paused"
    assert _active() == active + 1
    assert req.send("value") == "paused"
    with pytest.raises(StopIteration) as stop:
        req.throw(caught)
    assert stop.value.value == "handled"
    assert log == [("resumed", "value"), ("caught", caught), "finally"]
    assert http_count(route, 409) == before409 + 1
    assert _active() == active
    with pytest.raises(RuntimeError):
        req.send(None)


def test_legacy_three_argument_throw_reaches_the_app():
    seen = []

    async def app(scope, receive, send):
        try:
            await Pause()
        except KeyError as e:
            seen.append(e)
            raise

    route = "/fast/throw3"
    sent, send = _sink()
    before, active = http_count(route, 500), _active()
    req = MetricsMiddleware(app)(_scope("/t", route=Route(route)), _receive,
                                 send)
    assert req.send(None) == "paused"
    exc = KeyError("three")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        with pytest.raises(KeyError) as info:
            req.throw(KeyError, exc, None)
    assert info.value is exc and seen == [exc]
    assert http_count(route, 500) == before + 1
    assert _active() == active


def test_close_closes_the_app_and_observes_once():
    log = []

    async def app(scope, receive, send):
        try:
            await Pause()
        except GeneratorExit:
            log.append("GeneratorExit")
            raise

    route = "/fast/close"
    sent, send = _sink()
    before, total, active = http_count(route, 500), _total(), _active()
    req = MetricsMiddleware(app)(_scope("/c", route=Route(route)), _receive,
                                 send)
    assert req.send(None) == "paused"
    assert req.close() is None
    assert log == ["GeneratorExit"]
    assert req.close() is None
    assert http_count(route, 500) == before + 1
    assert _total() == total + 1
    assert _active() == active


def test_close_before_start_observes_nothing():
    calls = []

    async def app(scope, receive, send):
        calls.append(1)

    sent, send = _sink()
    total, active = _total(), _active()
    req = MetricsMiddleware(app)(_scope("/n"), _receive, send)
    req.close()
    del req
    gc.collect()
    assert calls == [] and _total() == total and _active() == active


def test_abandoned_requests_end_like_coroutines():
    """A started request collected unfinished is closed and observed (as
    the Python coroutine's finalizer did); an unstarted one warns that it
    was never awaited and observes nothing."""
    log = []

    async def app(scope, receive, send):
        try:
            await Pause()
        finally:
            log.append("finally")

    mw = MetricsMiddleware(app)
    route = "/fast/abandoned"
    sent, send = _sink()
    before, active = http_count(route, 500), _active()
    req = mw(_scope("/a", route=Route(route)), _receive, send)
    assert req.send(None) == "paused"
    assert _active() == active + 1
    del req
    gc.collect()
    assert log == ["finally"]
    assert http_count(route, 500) == before + 1
    assert _active() == active

    total = _total()
    req = mw(_scope("/a", route=Route(route)), _receive, send)
    with pytest.warns(RuntimeWarning, match="never awaited"):
        del req
        gc.collect()
    assert _total() == total and _active() == active


@pytest.mark.parametrize("kind", ["lifespan", "websocket"])
def test_other_scopes_pass_straight_through(kind):
    async def app(scope, receive, send):
        return "inner"

    total, active = _total(), _active()
    scope = {"type": kind, "path": "/ws"}
    sent, send = _sink()
    aw = MetricsMiddleware(app)(scope, _receive, send)
    assert inspect.iscoroutine(aw) and aw.cr_code is app.__code__

    async def main():
        return await aw

    assert asyncio.run(main()) == "inner"
    assert scope == {"type": kind, "path": "/ws"}
    assert _total() == total and _active() == active


def test_nested_middleware_observes_once():
    async def app(scope, receive, send):
        await send(_start(202))

    route = "/fast/nested"
    before, total = http_count(route, 202), _total()
    asyncio.run(asgi_call(MetricsMiddleware(MetricsMiddleware(app)), "/n",
                          route=Route(route)))
    assert http_count(route, 202) == before + 1
    assert _total() == total + 1


def test_python_route_fallback_labels():
    async def app(scope, receive, send):
        await send(_start(404 if scope["path"].startswith("/nf") else 200))

    mw = MetricsMiddleware(app)
    um, raw = http_count("unmatched", 404), http_count("/fast/raw/1", 200)
    tmpl = http_count("/fast/tmpl/{x}", 200)

    async def main():
        await asgi_call(mw, "/nf/zzz")
        await asgi_call(mw, "/fast/raw/1")
        await asgi_call(mw, "/fast/tmpl/3",
                        **{"async_auditor.route": "/fast/tmpl/{x}"})

    asyncio.run(main())
    assert http_count("unmatched", 404) == um + 1
    assert http_count("/fast/raw/1", 200) == raw + 1
    assert http_count("/fast/tmpl/{x}", 200) == tmpl + 1
    assert mw._unrouted == {"/fast/raw/1"}


def test_route_failure_is_reported_not_raised(monkeypatch):
    reported = []
    monkeypatch.setattr(sys, "unraisablehook", reported.append)

    class Broken(MetricsMiddleware):
        def _route(self, scope, status):
            raise RuntimeError("no label")

    async def app(scope, receive, send):
        await send(_start(200))

    async def main():
        sent, send = _sink()
        await Broken(app)(_scope("/b"), _receive, send)
        return sent

    total, active = _total(), _active()
    assert asyncio.run(main())[0]["status"] == 200
    assert [type(r.exc_value) for r in reported] == [RuntimeError]
    assert _total() == total and _active() == active


def test_no_python_call_frame_and_servers_see_asgi3():
    """No __call__ of its own: the C slot runs; servers that inspect
    app.__call__ to tell ASGI 3 from 2 still see a coroutine function."""
    assert "__call__" not in MetricsMiddleware.__dict__
    assert MetricsMiddleware.__call__ is _probe.HttpMiddleware.__call__

    async def app(scope, receive, send):
        pass

    mw = MetricsMiddleware(app)
    assert mw.app is app
    assert inspect.iscoroutinefunction(mw.__call__)
    assert asyncio.iscoroutinefunction(mw.__call__)
    uvicorn = pytest.importorskip("uvicorn")
    config = uvicorn.Config(mw, lifespan="off")
    config.load()
    assert config.interface == "asgi3"
    hypercorn_utils = pytest.importorskip("hypercorn.utils")
    assert hypercorn_utils.is_asgi(mw)


def test_fastapi_add_middleware_route_template():
    fastapi = pytest.importorskip("fastapi")
    httpx = pytest.importorskip("httpx")
    app = fastapi.FastAPI()

    @app.get("/items/{item_id}")
    async def item(item_id: str):
        return {"id": item_id}

    app.add_middleware(MetricsMiddleware)
    before, total = http_count("/items/{item_id}", 200), _total()

    async def main():
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport,
                                     base_url="http://t") as client:
            r = await client.get("/items/abc")
            return r.status_code, r.json()

    assert asyncio.run(main()) == (200, {"id": "abc"})
    assert http_count("/items/{item_id}", 200) == before + 1
    assert _total() == total + 1


def test_no_leak_over_many_requests():
    """2000 requests leave no HttpRequest behind, even with the collector
    off (no request<->coroutine cycle survives its end), and no extra
    reference to the middleware or the app."""
    async def app(scope, receive, send):
        await send(_start(200))
        await send({"type": "http.response.body", "body": b""})

    mw = MetricsMiddleware(app)
    route = Route("/fast/leak")
    sent, send = _sink()

    def live():
        return sum(1 for o in gc.get_objects()
                   if type(o) is _probe.HttpRequest)

    async def main():
        for _ in range(2000):
            await mw(_scope("/l", route=route), _receive, send)

    before, active = http_count("/fast/leak", 200), _active()
    gc.collect()
    live0, mw_refs, app_refs = live(), sys.getrefcount(mw), \
        sys.getrefcount(app)
    gc.disable()
    try:
        asyncio.run(main())
        assert live() == live0
        assert sys.getrefcount(mw) == mw_refs
        assert sys.getrefcount(app) == app_refs
    finally:
        gc.enable()
    assert len(sent) == 4000
    assert http_count("/fast/leak", 200) == before + 2000
    assert _active() == active
