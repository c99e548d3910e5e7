"""FastAPI (and Starlette) integration: ``instrument(app)``.

It adds MetricsMiddleware and wraps the app's lifespan so that the probe
is installed on the loop that actually serves the app (whatever server
runs it: uvicorn, hypercorn, granian) at startup and closed at shutdown.
A failure to bind the exporter is logged, never fatal: the service keeps
running.
"""

import contextlib
import logging

from . import _install
from ._probe import ExporterError
from .asgi import MetricsMiddleware

__all__ = ["instrument"]

log = logging.getLogger("async_auditor")


def instrument(app, serve=None, *, debug_blocks=None, **install_options):
    """Instrument a FastAPI/Starlette app; returns the app.

    serve: exporter address ("host:port"), else $ASYNC_AUDITOR_SERVE, else
    no exporter (use ProbeCollector).  Under a server with several worker
    processes every worker serves the same address and each answers for
    all of them (docs/deploying.md).  debug_blocks goes to
    async_auditor.serve().  install_options go to async_auditor.install()
    (lag_interval, block_threshold, stacks).  The running Probe is
    available as ``app.state.async_auditor_probe``."""
    if getattr(app.state, "async_auditor_instrumented", False):
        return app  # idempotent: one middleware, one probe
    if serve:
        _install.parse_address(serve)  # a bad address fails here, at once
    app.state.async_auditor_instrumented = True
    app.add_middleware(MetricsMiddleware)
    router = app.router
    inner = router.lifespan_context

    @contextlib.asynccontextmanager
    async def lifespan(lifespan_app):
        # the exporter is started below, where a failure is only logged
        probe = _install.install(serve="", **install_options)
        started = False
        address = serve
        if address is None:
            import os
            address = os.environ.get("ASYNC_AUDITOR_SERVE")
        if address:
            try:
                _install.serve(address, debug_blocks=debug_blocks)
                started = True
            except ExporterError as e:
                log.error("async_auditor: exporter not started: %s", e)
        app.state.async_auditor_probe = probe
        try:
            async with inner(lifespan_app) as state:
                yield state
        finally:
            probe.close()
            if started:
                # the worker's series stay exported by the other workers
                _install.stop_serving()

    router.lifespan_context = lifespan
    return app
