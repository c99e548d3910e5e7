"""aiohttp.web integration: HTTP metrics by route template, and
``instrument(app)``.

Why this module exists: aiohttp.web is not ASGI, so MetricsMiddleware
cannot wrap it; this is the same measurement as an aiohttp middleware,
into the same C table (``http_server_active_requests``, and
``http_server_request_duration_seconds`` by method, route template and
status).  The route is the resource's canonical template
(``/block/{n}``), ``unmatched`` when no resource matched, never the raw
path.  ``instrument(app)`` adds the middleware and installs the probe on
the serving loop at startup (closing it at cleanup); a failure to bind the
exporter is logged, never fatal.
"""

import logging
import os
from time import perf_counter

from aiohttp import web

from . import _install, _probe
from .asgi import UNMATCHED

__all__ = ["instrument", "middleware"]

log = logging.getLogger("async_auditor")

_active = _probe.http_active
_observe = _probe.http_observe
#: request key set by the outermost middleware (a sub-app's passes through)
SEEN_KEY = "async_auditor.observed"


def _route(request):
    route = getattr(request.match_info, "route", None)
    resource = getattr(route, "resource", None)
    if resource is None:
        return UNMATCHED  # 404/405 from the router itself
    return resource.canonical


@web.middleware
async def middleware(request, handler):
    """``web.Application(middlewares=[middleware, ...])``: first in the
    list, so that it sees every other middleware's response."""
    if SEEN_KEY in request:
        return await handler(request)
    request[SEEN_KEY] = True
    status = 0
    start = perf_counter()
    _active(1)
    try:
        response = await handler(request)
        status = response.status
        return response
    except web.HTTPException as e:
        status = e.status
        raise
    except BaseException:
        status = 500
        raise
    finally:
        try:
            _observe(request.method, _route(request), status,
                     perf_counter() - start, True)
        except Exception:
            _active(-1)


def instrument(app, serve=None, **install_options):
    """Instrument an aiohttp.web.Application (before it starts); returns
    the app.

    serve: exporter address ("host:port"), else $ASYNC_AUDITOR_SERVE, else
    no exporter.  install_options go to async_auditor.install()
    (lag_interval, block_threshold, stacks).  In a handler, the running
    Probe is ``async_auditor.get_probe()``."""
    if middleware not in app.middlewares:
        app.middlewares.insert(0, middleware)
    probes, started = [], []

    async def startup(app):
        # the exporter is started below, where a failure is only logged
        probes.append(_install.install(serve="", **install_options))
        address = serve if serve is not None else os.environ.get(
            "ASYNC_AUDITOR_SERVE")
        if address:
            try:
                _install.serve(address)
                started.append(True)
            except _probe.ExporterError as e:
                log.error("async_auditor: exporter not started: %s", e)

    async def cleanup(app):
        for probe in probes:
            probe.close()
        if started:
            _install.stop_serving()

    app.on_startup.append(startup)
    app.on_cleanup.append(cleanup)
    return app
