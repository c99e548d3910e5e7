"""Pure ASGI middleware for HTTP server metrics.

Why pure ASGI: BaseHTTPMiddleware adds a task and a memory stream per
request and changes how exceptions and streaming behave; this wraps
``send`` only.  It records ``http_server_active_requests``, and
``http_server_request_duration_seconds`` by method, route template and
status into the probe's C state, so they are exported with the loop
metrics.  The route is the template the router matched, never the raw
path, to keep cardinality bounded: ``scope["route"]`` (Starlette, FastAPI:
``/items/{item_id}``), ``scope["path_template"]`` (Litestar:
``/block/{n}``), or the URL rule Quart matched (``/block/<int:n>``, read
in Quart's ``request_started`` signal).
"""

import sys
from time import perf_counter

from . import _probe

_active = _probe.http_active
_observe = _probe.http_observe

__all__ = ["MetricsMiddleware"]

UNMATCHED = "unmatched"
OTHER = "other"
#: scope key: the route template, for frameworks that name it elsewhere
ROUTE_KEY = "async_auditor.route"
#: scope key set by the outermost MetricsMiddleware: an inner one (a
#: mounted sub-app, a second instrumentation) passes the request through
SEEN_KEY = "async_auditor.observed"


def _quart_app(app):
    """The Quart app behind app (the app itself or its bound asgi_app)."""
    quart = sys.modules.get("quart")
    if quart is None:
        return None
    for candidate in (app, getattr(app, "__self__", None)):
        if isinstance(candidate, quart.Quart):
            return candidate
    return None


async def _quart_route(sender, **extra):
    """Quart's request_started receiver: Quart keeps the matched rule on
    its request object; put the template where the middleware reads it."""
    from quart import request
    rule = request.url_rule
    if rule is not None:
        request.scope[ROUTE_KEY] = rule.rule


def _watch_quart(app):
    from quart.signals import request_started
    request_started.connect(_quart_route, sender=app, weak=False)


class MetricsMiddleware:
    """ASGI middleware: ``app = MetricsMiddleware(app)`` or
    ``app.add_middleware(MetricsMiddleware)``.

    Requests the router did not match are labelled ``unmatched`` when they
    end in 404; other unrouted requests (plain ASGI apps without a router)
    use the raw path for the first ``max_unrouted_paths`` distinct paths,
    then ``other``."""

    def __init__(self, app, *, max_unrouted_paths=64):
        self.app = app
        self.max_unrouted_paths = max_unrouted_paths
        self._unrouted = set()
        self._by_endpoint = {}
        quart_app = _quart_app(app)
        if quart_app is not None:
            _watch_quart(quart_app)

    def _from_endpoint(self, scope):
        """Older Starlette sets only scope["endpoint"]: map it back to the
        one route serving that endpoint (cached, bounded)."""
        endpoint, app = scope.get("endpoint"), scope.get("app")
        if endpoint is None or app is None:
            return None
        key = id(endpoint)
        if key in self._by_endpoint:
            return self._by_endpoint[key]
        routes = getattr(getattr(app, "router", app), "routes", None) or []
        found = [r for r in routes if getattr(r, "endpoint", None) is endpoint]
        path = None
        if len(found) == 1:
            path = getattr(found[0], "path_format", None) or getattr(
                found[0], "path", None)
        if len(self._by_endpoint) < 1024:
            self._by_endpoint[key] = path
        return path

    def _route(self, scope, status):
        route = scope.get("route")
        if route is not None:
            path = getattr(route, "path_format", None) or getattr(
                route, "path", None)
        else:
            path = scope.get(ROUTE_KEY) or scope.get("path_template")
            if path is None:
                path = self._from_endpoint(scope)
        if isinstance(path, str) and path:
            return path
        if status == 404:
            return UNMATCHED
        path = scope.get("path", "")
        if path in self._unrouted:
            return path
        if len(self._unrouted) < self.max_unrouted_paths:
            self._unrouted.add(path)
            return path
        return OTHER

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or SEEN_KEY in scope:
            await self.app(scope, receive, send)
            return
        scope[SEEN_KEY] = True
        status = 0
        start = perf_counter()

        # a plain function handing back send's awaitable: no coroutine
        # of our own per message (two per response)
        def send_status(message):
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            return send(message)

        _active(1)
        try:
            await self.app(scope, receive, send_status)
        except BaseException:
            if status == 0:
                status = 500
            raise
        finally:
            try:
                _observe(scope.get("method", ""), self._route(scope, status),
                         status, perf_counter() - start, True)
            except Exception:
                _active(-1)
