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

The per-request path is C (``_probe.HttpMiddleware``, the base class;
src/probe/_probe_asgi.c): written here as an ``async def __call__`` it
cost about 14 k instructions per request, over the probe's budget of
1 % of a small FastAPI request.  The C call hands back one object that
is both the awaitable and the wrapped ``send``, and behaves like the
coroutine this class used to define; Python code runs per request only
to label a request the router did not name (``_route``).
"""

import sys

from . import _probe

__all__ = ["MetricsMiddleware"]

UNMATCHED = "unmatched"
OTHER = "other"
#: scope key: the route template, for frameworks that name it elsewhere
ROUTE_KEY = "async_auditor.route"
#: scope key set by the outermost MetricsMiddleware: an inner one (a
#: mounted sub-app, a second instrumentation) passes the request through
#: (the C base spells it too)
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


class MetricsMiddleware(_probe.HttpMiddleware):
    """ASGI middleware: ``app = MetricsMiddleware(app)`` or
    ``app.add_middleware(MetricsMiddleware)``.

    Requests the router did not match are labelled ``unmatched`` when they
    end in 404; other unrouted requests (plain ASGI apps without a router)
    use the raw path for the first ``max_unrouted_paths`` distinct paths,
    then ``other``.

    Calls go to the C base's call (no ``__call__`` here: that would put a
    Python frame back on every request)."""

    def __init__(self, app, *, max_unrouted_paths=64):
        super().__init__(app, type(self)._route)
        self.max_unrouted_paths = max_unrouted_paths
        self._unrouted = set()
        self._by_endpoint = {}
        # uvicorn and hypercorn tell ASGI 3 from ASGI 2 by asking whether
        # app.__call__ is a coroutine function; calls still take the C slot
        self.__call__ = self._asgi3_call
        quart_app = _quart_app(app)
        if quart_app is not None:
            _watch_quart(quart_app)

    async def _asgi3_call(self, scope, receive, send):
        """``self.__call__``: what servers inspect; ``self(...)`` does not
        run it."""
        return await _probe.HttpMiddleware.__call__(self, scope, receive,
                                                    send)

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
