"""Zero-code mode: what ``python -m async_auditor run`` turns on in every
Python process of the command it runs.

Why this module exists: ``run`` cannot change the service's code, so the
bootstrap (``_bootstrap/sitecustomize.py``) calls enable() at interpreter
start, which arranges two things and does nothing else until they fire:

- every event loop that starts running, in any thread, gets a probe
  (``_loopstart``); the first one also starts the exporter.  A process
  that never runs a loop (a server's supervisor, a ``python -c`` helper)
  never imports asyncio because of us, starts no thread and binds no port;
- Starlette/FastAPI apps get MetricsMiddleware as the outermost layer of
  their middleware stack, aiohttp.web apps get ``async_auditor.aiohttp``'s
  middleware first in their list (``_postimport``), once per app, unless
  the app was instrumented in code.
"""

import sys

from . import _loopstart, _postimport, _settings

__all__ = ["enable"]

_enabled = False

#: modules whose loops belong to a server's supervisor, not to the service
#: (gunicorn's arbiter serves its control socket with asyncio.run in a
#: thread): left alone, so that the exporter is bound by a process that
#: serves
SUPERVISOR_MODULES = ("gunicorn.ctl.",)


def _supervisor_loop(loop):
    """Whether the loop starting now was started by a supervisor module
    (looked up on the stack of the thread starting it)."""
    frame = sys._getframe(1)
    while frame is not None:
        name = frame.f_globals.get("__name__") or ""
        if name.startswith(SUPERVISOR_MODULES):
            return True
        frame = frame.f_back
    return False


def _first_loop(loop):
    """The first loop that starts in this process: from now on _install
    handles every loop (it imports asyncio, which this loop already
    did)."""
    from . import _install
    _install.enable_auto(skip=_supervisor_loop)
    _loopstart.unsubscribe(_first_loop)
    _install._loop_starting(loop)


def _building():
    """Per-thread nesting depth of patched stack builds (FastAPI's build
    does not call Starlette's, but a subclass's might)."""
    import threading
    tls = _building.__dict__.get("tls")
    if tls is None:
        tls = _building.tls = threading.local()
    return tls


def _wrap_build(cls):
    """Make cls.build_middleware_stack return MetricsMiddleware(stack)."""
    orig = cls.__dict__.get("build_middleware_stack")
    if orig is None or hasattr(orig, "_async_auditor_orig"):
        return

    def build_middleware_stack(self):
        tls = _building()
        depth = getattr(tls, "depth", 0)
        tls.depth = depth + 1
        try:
            stack = orig(self)
        finally:
            tls.depth = depth
        state = getattr(self, "state", None)
        if depth or getattr(state, "async_auditor_instrumented", False):
            return stack  # an outer build wraps it / instrument() did
        from .asgi import MetricsMiddleware
        return MetricsMiddleware(stack)

    build_middleware_stack._async_auditor_orig = orig
    build_middleware_stack.__name__ = orig.__name__
    build_middleware_stack.__qualname__ = orig.__qualname__
    build_middleware_stack.__doc__ = orig.__doc__
    cls.build_middleware_stack = build_middleware_stack


def _patch_starlette(module):
    _wrap_build(module.Starlette)


def _patch_fastapi(module):
    _wrap_build(module.FastAPI)  # FastAPI overrides Starlette's build


def _patch_aiohttp(module):
    cls = module.Application
    orig = cls.pre_freeze
    if hasattr(orig, "_async_auditor_orig"):
        return

    def pre_freeze(self):
        tls = _building()
        depth = getattr(tls, "depth", 0)
        if not depth and not self.pre_frozen:
            from .aiohttp import middleware
            if middleware not in self.middlewares:
                self.middlewares.insert(0, middleware)
        tls.depth = depth + 1  # sub-apps are frozen by their parent
        try:
            return orig(self)
        finally:
            tls.depth = depth

    pre_freeze._async_auditor_orig = orig
    pre_freeze.__name__ = orig.__name__
    pre_freeze.__qualname__ = orig.__qualname__
    pre_freeze.__doc__ = orig.__doc__
    cls.pre_freeze = pre_freeze


def enable():
    """Turn zero-code mode on in this process (idempotent); settings come
    from the ASYNC_AUDITOR_* variables (see _settings)."""
    global _enabled
    if _enabled:
        return
    _enabled = True
    _loopstart.subscribe(_first_loop)
    if _settings.middleware():
        _postimport.when_imported("starlette.applications",
                                  _patch_starlette)
        _postimport.when_imported("fastapi.applications", _patch_fastapi)
        _postimport.when_imported("aiohttp.web_app", _patch_aiohttp)
