"""uvloop: whether the probe can measure a uvloop loop through its GOT
(its epoll_pwait and PyContext_Enter, src/probe/aap_uvhook.c), and the
default executor such a loop holds.

Why this module exists: uvloop's loop is compiled, so what asyncio exposes
as attributes (the selector, the ready queue, the default executor) is not
reachable from Python, and what the probe does instead needs the compiled
module itself (its hooks) or the loop's referents (its executor).
"""

import concurrent.futures
import gc
import logging
import sys

from . import _probe, _settings

__all__ = ["hook", "referenced_executor"]

_log = logging.getLogger("async_auditor")
_noted = []


def hook(loop):
    """True when the poll and callback hooks are in place for loop's
    compiled module (one reference taken: the caller releases it with
    _probe.uvloop_hook_release()); False for another loop, with
    ASYNC_AUDITOR_UVLOOP_HOOK=0, or when a check refused (the reason is
    logged once): the loop is then measured by heartbeat."""
    if not (type(loop).__module__ or "").startswith("uvloop") or \
            not _settings.uvloop_hook():
        return False
    why = "uvloop's compiled module not found"
    for cls in type(loop).__mro__:  # uvloop.Loop subclasses uvloop.loop.Loop
        module = sys.modules.get(cls.__module__)
        if module is not None and \
                str(getattr(module, "__file__", "")).endswith(".so"):
            why = _probe.uvloop_hook_acquire(module)
            break
    if why is None:
        return True
    if not _noted:
        _noted.append(why)
        _log.warning("async_auditor: uvloop measured by heartbeat (no loop "
                     "utilization, each long stretch a blocking episode): "
                     "%s", why)
    return False


def referenced_executor(loop):
    """The executor a loop that does not expose its default executor
    (uvloop keeps it in a C attribute) holds: the one Executor among the
    objects the loop references (gc.get_referents: its traverse function
    visits its attributes), else None."""
    found = [o for o in gc.get_referents(loop)
             if isinstance(o, concurrent.futures.Executor)]
    return found[0] if len(found) == 1 else None
