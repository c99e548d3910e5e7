"""Tell subscribers that an event loop is about to run in this thread, or
has stopped running.

Why this module exists: install() called before any loop runs must attach
to the loop that runs next in that thread, and zero-code mode must probe
every loop that runs, whoever created it (asyncio.run, an asyncio.Runner
with a loop_factory, uvloop.run, uvicorn, hypercorn, granian).  asyncio's
BaseEventLoop.run_forever (3.9 to 3.15) and uvloop's Loop.run_forever both
call ``sys.set_asyncgen_hooks(firstiter=self._asyncgen_firstiter_hook,
...)`` through the ``sys`` module, in the loop's own thread, just before
they start looping, and again with the previous hooks as run_forever
returns.  Wrapping that one module attribute hands us the loop object at
both moments, at no cost per iteration (it is called twice per
run_forever): the loop that stops is the one whose hook was installed
until then.  That is the only way to see a uvloop loop stop (its stop()
and close() cannot be wrapped).

It imports nothing but sys, _thread and _unraisable: the zero-code
bootstrap loads it into every Python process, most of which never run a
loop.
"""

import _thread
import sys

from . import _unraisable

__all__ = ["subscribe", "unsubscribe", "subscribe_stop", "unsubscribe_stop"]

_lock = _thread.allocate_lock()
_subscribers = ()  # callables taking the loop; replaced, never mutated
_stop_subscribers = ()  # the same, for loops that stop running
_orig = None  # sys.set_asyncgen_hooks before we wrapped it


def _loop_of(firstiter):
    """The loop whose run_forever passed firstiter, or None."""
    if getattr(firstiter, "__name__", None) != "_asyncgen_firstiter_hook":
        return None
    loop = getattr(firstiter, "__self__", None)
    asyncio = sys.modules.get("asyncio")  # no loop can exist without it
    if asyncio is None or not isinstance(loop, asyncio.AbstractEventLoop):
        return None
    return loop


def _notify(subscribers, loop, what):
    for fn in subscribers:
        try:
            fn(loop)
        except Exception as e:
            _unraisable.report(e, what, fn)


def _set_asyncgen_hooks(*args, **kwargs):
    stops = _stop_subscribers
    before = None
    if stops:
        before = _loop_of(sys.get_asyncgen_hooks().firstiter)
    _orig(*args, **kwargs)
    firstiter = args[0] if args else kwargs.get("firstiter")
    loop = _loop_of(firstiter) if firstiter is not None else None
    if before is not None and before is not loop:
        _notify(stops, before, "noting that a loop stopped running")
    if loop is not None and loop is not before and _subscribers:
        _notify(_subscribers, loop, "probing a loop that starts running")


_set_asyncgen_hooks.__doc__ = sys.set_asyncgen_hooks.__doc__


def _wrap():
    global _orig
    if _orig is None:  # else ours is still in the chain of wrappers
        _orig = sys.set_asyncgen_hooks
        sys.set_asyncgen_hooks = _set_asyncgen_hooks


def _unwrap():
    global _orig
    if not _subscribers and not _stop_subscribers and \
            sys.set_asyncgen_hooks is _set_asyncgen_hooks:
        sys.set_asyncgen_hooks = _orig
        _orig = None


def subscribe(fn):
    """Call fn(loop) in the loop's thread each time a loop is about to run
    (each run_forever / run_until_complete).  fn must be idempotent per
    loop and must not raise (failures go to sys.unraisablehook)."""
    global _subscribers
    with _lock:
        if fn in _subscribers:
            return
        _subscribers = _subscribers + (fn,)
        _wrap()


def unsubscribe(fn):
    """Stop calling fn; the last one out restores sys.set_asyncgen_hooks
    (unless something wrapped it after us: then ours stays, inert)."""
    global _subscribers
    with _lock:
        _subscribers = tuple(f for f in _subscribers if f is not fn)
        _unwrap()


def subscribe_stop(fn):
    """Call fn(loop) in the loop's thread each time a loop's run_forever
    returns (after it stopped running), with the same rules as
    subscribe()."""
    global _stop_subscribers
    with _lock:
        if fn in _stop_subscribers:
            return
        _stop_subscribers = _stop_subscribers + (fn,)
        _wrap()


def unsubscribe_stop(fn):
    """Stop calling fn (as unsubscribe())."""
    global _stop_subscribers
    with _lock:
        _stop_subscribers = tuple(f for f in _stop_subscribers
                                  if f is not fn)
        _unwrap()


def active():
    """True while sys.set_asyncgen_hooks is wrapped by this module."""
    return sys.set_asyncgen_hooks is _set_asyncgen_hooks
