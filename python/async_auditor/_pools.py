"""Thread pools: the default executor's submit() and anyio's
to_thread.run_sync, wrapped so that each job reports to the probe of its
loop when it is submitted, starts and ends (pending, busy, wait, run), and
names the function it runs and the line that defines it.

Why this module exists: "the pool is exhausted" is half a diagnosis; the
other half is which function holds its threads.  FastAPI and Starlette run
sync endpoints and dependencies through run_in_threadpool, that is anyio,
asyncio.to_thread goes through the default executor, each wrapping the
user's function in partials and context runs: they are unwrapped here, the
name and site computed once per code object (memoized, bounded), and per
job the C table is asked for the function's id with the id it gave last
time as a hint, so a known function costs no string comparison
(aap_execfn.c).
"""

import asyncio
import contextvars
import functools
import re
import sys
import types

from . import _probe

__all__ = ["job_fn", "make_submit", "anyio_capacity", "anyio_acquire",
           "anyio_release"]

_anyio_users = 0
_anyio_orig = None
_lookup = None  # loop -> its open Probe, or None

_fn_names = {}  # code object (or callable) -> (qualified name, site)
_FN_NAMES_MAX = 512
_FN_IDS_MAX = 256
_CTRL = re.compile(r"[\x00-\x1f\x7f]")


def _clean(text):
    """text as a label value: valid UTF-8, a byte Python smuggled in as a
    surrogate escape written \\xNN (as the stack reader writes it), other
    lone surrogates U+FFFD, control characters '?'."""
    try:
        raw = text.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        raw = text.encode("utf-8", "replace")
    return _CTRL.sub("?", raw.decode("utf-8", "backslashreplace"))


_library_code = {}  # code object -> whether it is a library's


def _is_library(fn):
    """Whether fn is a Python function of an installed library."""
    code = getattr(fn, "__code__", None)
    if code is None:
        return False
    lib = _library_code.get(code)
    if lib is None:
        path = code.co_filename
        lib = "/site-packages/" in path or "/dist-packages/" in path
        if len(_library_code) >= _FN_NAMES_MAX:
            _library_code.clear()
        _library_code[code] = lib
    return lib


def _called_by(partial):
    """The callable a library trampoline in a partial is given to call
    (FastAPI runs sync endpoints as partial(_run_sync_endpoint,
    function=endpoint, ...)), or None."""
    inner = partial.func
    if isinstance(inner, types.MethodType):
        inner = inner.__func__
    if not _is_library(inner):
        return None
    for arg in tuple(partial.keywords.values()) + partial.args:
        if isinstance(arg, (types.FunctionType, types.MethodType,
                            functools.partial)):
            return arg
    return None


def _unwrap(fn):
    """The function a pool job really runs: functools.partial (and
    asyncio.to_thread's partial(context.run, func, ...), a library
    trampoline's partial), bound methods, functools.wraps chains and
    callable instances peeled off."""
    for _ in range(16):
        if isinstance(fn, functools.partial):
            inner = fn.func
            if fn.args and isinstance(getattr(inner, "__self__", None),
                                      contextvars.Context):
                fn = fn.args[0]
            else:
                fn = _called_by(fn) or inner
        elif isinstance(fn, types.MethodType):
            fn = fn.__func__
        elif isinstance(fn, types.FunctionType):
            wrapped = fn.__dict__.get("__wrapped__")
            if wrapped is None:
                return fn
            fn = wrapped
        elif not isinstance(fn, (type, types.BuiltinFunctionType)) and \
                isinstance(getattr(type(fn), "__call__", None),
                           types.FunctionType):
            fn = type(fn).__call__
        else:
            return fn
    return fn


def _fn_of(fn):
    """(key, (name, site)) of a pool job's function: the key is its code
    object (shared by every closure of one def), the qualified name and
    the definition site path:line; memoized, bounded."""
    target = _unwrap(fn)
    code = getattr(target, "__code__", None)
    key = code if code is not None else target
    try:
        hit = _fn_names.get(key)
    except TypeError:  # an unhashable callable
        key = type(target)
        hit = _fn_names.get(key)
    if hit is None:
        name = getattr(target, "__qualname__", None) or \
            getattr(target, "__name__", None) or type(target).__qualname__
        if code is not None:
            site = "%s:%d" % (code.co_filename, code.co_firstlineno)
        else:
            site = ""
            module = getattr(target, "__module__", None)
            if isinstance(module, str) and module != "builtins":
                name = "%s.%s" % (module, name)
        hit = (_clean(str(name))[:120], _clean(site))
        if len(_fn_names) >= _FN_NAMES_MAX:
            _fn_names.clear()
        _fn_names[key] = hit
    return key, hit


def job_fn(core, which, ids, fn):
    """The function id of a job of fn about to be submitted (ids: the
    probe's hints for this executor)."""
    key, (name, site) = _fn_of(fn)
    fid = core.exec_fn(which, name, site, ids.get(key))
    if ids.get(key) != fid:
        if len(ids) >= _FN_IDS_MAX:
            ids.clear()
        ids[key] = fid
    return fid


def make_submit(core, which, orig, ids):
    """An executor submit() that reports pending/busy/wait/run, per job
    function too."""

    def submit(fn, /, *args, **kwargs):
        fid = job_fn(core, which, ids, fn)
        t0 = core.exec_submit(which)
        started = []

        def run():
            started.append(True)
            t1 = core.exec_start(which, t0, fid)
            try:
                return fn(*args, **kwargs)
            finally:
                core.exec_finish(which, t1, fid)

        try:
            fut = orig(run)
        except BaseException:
            core.exec_unstarted(which, fid)
            raise

        def done(_fut):
            if not started:
                core.exec_unstarted(which, fid)

        fut.add_done_callback(done)
        return fut

    submit._async_auditor_orig = orig
    return submit


def anyio_capacity():
    """The default limiter's tokens (40 without an anyio context)."""
    try:
        import anyio.to_thread
        tokens = anyio.to_thread.current_default_thread_limiter().total_tokens
        return int(tokens)
    except Exception:  # no anyio context yet, or infinite tokens
        return 40


async def _anyio_run_sync(func, *args, **kwargs):
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        loop = None
    probe = _lookup(loop) if loop is not None and _lookup else None
    if probe is None:
        return await _anyio_orig(func, *args, **kwargs)
    core = probe._core
    which = _probe.EXEC_ANYIO
    limiter = kwargs.get("limiter")
    if limiter is None:
        import anyio.to_thread
        limiter = anyio.to_thread.current_default_thread_limiter()
    try:
        core.exec_enable(which, int(limiter.total_tokens))
    except (OverflowError, ValueError, TypeError):
        pass
    fid = job_fn(core, which, probe._fn_ids[which], func)
    t0 = core.exec_submit(which)
    started = []

    def call(*a):
        started.append(True)
        t1 = core.exec_start(which, t0, fid)
        try:
            return func(*a)
        finally:
            core.exec_finish(which, t1, fid)

    try:
        return await _anyio_orig(call, *args, **kwargs)
    finally:
        if not started:
            core.exec_unstarted(which, fid)


def anyio_acquire(lookup):
    """Route anyio.to_thread.run_sync (FastAPI/Starlette sync endpoints
    and dependencies, run_in_threadpool) through the probe whose loop
    lookup(loop) returns (None: not probed); reference counted.  Only
    when anyio is already imported (FastAPI/Starlette import it)."""
    global _anyio_users, _anyio_orig, _lookup
    if "anyio" not in sys.modules:
        return False  # not used by this service (importing it costs ~2 MB)
    try:
        import anyio.to_thread
    except ImportError:
        return False
    _lookup = lookup
    if _anyio_users == 0:
        if anyio.to_thread.run_sync is not _anyio_run_sync:
            _anyio_orig = anyio.to_thread.run_sync
            anyio.to_thread.run_sync = _anyio_run_sync
    _anyio_users += 1
    return True


def anyio_release():
    """The last release puts anyio's own run_sync back."""
    global _anyio_users
    _anyio_users -= 1
    if _anyio_users <= 0:
        _anyio_users = 0
        mod = sys.modules.get("anyio.to_thread")
        if mod is not None and mod.run_sync is _anyio_run_sync:
            mod.run_sync = _anyio_orig
