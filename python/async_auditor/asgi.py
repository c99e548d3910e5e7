"""Pure ASGI middleware for HTTP server metrics.

Why pure ASGI: BaseHTTPMiddleware adds a task and a memory stream per
request and changes how exceptions and streaming behave; this wraps
``send`` only.  It records ``http_server_active_requests`` and
``http_server_request_duration_seconds`` by method, route template and
status into the probe's C state, so they are exported with the loop
metrics.  The route is the template the router matched (``/items/{id}``,
from ``scope["route"]``), never the raw path, to keep cardinality bounded.
"""

from time import perf_counter

from . import _probe

_active = _probe.http_active
_observe = _probe.http_observe

__all__ = ["MetricsMiddleware"]

UNMATCHED = "unmatched"
OTHER = "other"


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
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = 0
        start = perf_counter()

        async def send_status(message):
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

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
