"""install(), serve() and the Probe handle.

Why this module exists: it is the thin Python glue between an asyncio loop
and the C side (``_probe``).  It puts the C hooks in place (selector wrapper,
lag timer, task factory, a ``loop.stop`` hook), instruments the default
executor and anyio's worker threads, and undoes all of it on close().
Everything that runs per loop iteration is C; Python here runs at install,
close, and once per executor job.
"""

import asyncio
import atexit
import concurrent.futures
import os
import sys
import threading

from . import _probe

_lock = threading.RLock()
_probes = {}  # id(loop) -> Probe
_anyio_users = 0
_anyio_orig = None
_DEFAULT_ADDRESS = "127.0.0.1:9464"
# How a blocking episode's site is named (aap_stack_site_frame() in the C
# library): frames of asyncio and of this package are the loop's machinery,
# and so are these stdlib modules when asyncio called them; the site is the
# code the loop ran that called into them, not a line inside asyncio.
_SITE_MACHINERY = tuple(os.path.join(os.path.dirname(os.path.abspath(m)), "")
                        for m in (asyncio.__file__, __file__))
_STDLIB = os.path.dirname(os.path.abspath(os.__file__))
_SITE_HELPERS = tuple(os.path.join(_STDLIB, name) for name in (
    "_weakrefset.py", "weakref.py", "threading.py", "selectors.py",
    "socket.py", "ssl.py", "contextlib.py", "functools.py", "inspect.py",
    "traceback.py", "linecache.py", "reprlib.py", "warnings.py", "enum.py",
    "types.py", "heapq.py", "collections" + os.sep,
    "concurrent" + os.sep, "logging" + os.sep))


def _threshold_from_env(value):
    if value is not None:
        return float(value)
    env = os.environ.get("ASYNC_AUDITOR_BLOCK_THRESHOLD")
    if not env:
        return 0.05
    try:
        return float(env)
    except ValueError:
        raise ValueError(
            "ASYNC_AUDITOR_BLOCK_THRESHOLD: expected seconds (e.g. 0.05), "
            "got %r" % env) from None


def parse_address(address):
    """Split "host:port" (also ":port", "port", "[v6]:port") into
    (host, port); the host defaults to the loopback address."""
    text = str(address).strip()
    if not text:
        raise ValueError("exporter address is empty")
    host, sep, port = text.rpartition(":")
    if not sep:
        host, port = "", text
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    if not host:
        host = "127.0.0.1"
    try:
        port_num = int(port)
    except ValueError:
        raise ValueError("exporter address %r: bad port %r"
                         % (text, port)) from None
    if not 0 <= port_num <= 65535:
        raise ValueError("exporter address %r: port out of range" % text)
    return host, port_num


def serve(address=_DEFAULT_ADDRESS):
    """Start the exporter thread on address ("host:port"; port 0 picks a
    free one).  Returns (host, port) actually bound.  Raises
    async_auditor.ExporterError (an OSError, errno set) if it cannot bind,
    e.g. the port is in use; nothing else is affected."""
    host, port = parse_address(address)
    bound = _probe.serve(host, port)
    return host, bound


def stop_serving():
    """Stop the exporter thread (no-op when not serving)."""
    _probe.stop_serving()


def _loop_implementation(loop):
    mod = type(loop).__module__ or ""
    if mod.startswith("uvloop"):
        return "uvloop"
    if mod.startswith("asyncio"):
        return "asyncio"
    return mod.split(".")[0] or "asyncio"


def _has_selector(loop):
    return (isinstance(loop, asyncio.BaseEventLoop)
            and getattr(loop, "_selector", None) is not None
            and hasattr(loop, "_ready"))


def _make_submit(core, which, orig):
    """An executor submit() that reports pending/busy/wait/run."""

    def submit(fn, /, *args, **kwargs):
        t0 = core.exec_submit(which)
        started = []

        def run():
            started.append(True)
            t1 = core.exec_start(which, t0)
            try:
                return fn(*args, **kwargs)
            finally:
                core.exec_finish(which, t1)

        try:
            fut = orig(run)
        except BaseException:
            core.exec_unstarted(which)
            raise

        def done(_fut):
            if not started:
                core.exec_unstarted(which)

        fut.add_done_callback(done)
        return fut

    submit._async_auditor_orig = orig
    return submit


class _Unraisable:
    """What sys.unraisablehook expects: a hook failure is reported, never
    raised into the user's code."""

    def __init__(self, exc, obj):
        self.exc_type = type(exc)
        self.exc_value = exc
        self.exc_traceback = exc.__traceback__
        self.err_msg = "async_auditor: instrumenting the default executor"
        self.object = obj


def _anyio_capacity():
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
    probe = _probes.get(id(loop)) if loop is not None else None
    if probe is None or probe.closed or probe.loop is not loop:
        return await _anyio_orig(func, *args, **kwargs)
    core = probe._core
    limiter = kwargs.get("limiter")
    if limiter is None:
        import anyio.to_thread
        limiter = anyio.to_thread.current_default_thread_limiter()
    try:
        core.exec_enable(_probe.EXEC_ANYIO, int(limiter.total_tokens))
    except (OverflowError, ValueError, TypeError):
        pass
    t0 = core.exec_submit(_probe.EXEC_ANYIO)
    started = []

    def call(*a):
        started.append(True)
        t1 = core.exec_start(_probe.EXEC_ANYIO, t0)
        try:
            return func(*a)
        finally:
            core.exec_finish(_probe.EXEC_ANYIO, t1)

    try:
        return await _anyio_orig(call, *args, **kwargs)
    finally:
        if not started:
            core.exec_unstarted(_probe.EXEC_ANYIO)


def _anyio_acquire():
    """Route anyio.to_thread.run_sync (FastAPI/Starlette sync endpoints,
    run_in_threadpool) through the probe; reference counted.  Only when
    anyio is already imported (FastAPI/Starlette import it)."""
    global _anyio_users, _anyio_orig
    if "anyio" not in sys.modules:
        return False  # not used by this service (importing it costs ~2 MB)
    try:
        import anyio.to_thread
    except ImportError:
        return False
    if _anyio_users == 0:
        if anyio.to_thread.run_sync is not _anyio_run_sync:
            _anyio_orig = anyio.to_thread.run_sync
            anyio.to_thread.run_sync = _anyio_run_sync
    _anyio_users += 1
    return True


def _anyio_release():
    global _anyio_users
    _anyio_users -= 1
    if _anyio_users <= 0:
        _anyio_users = 0
        mod = sys.modules.get("anyio.to_thread")
        if mod is not None and mod.run_sync is _anyio_run_sync:
            mod.run_sync = _anyio_orig


class Probe:
    """The probe installed on one event loop (see install())."""

    def __init__(self, loop, core, lag_interval, block_threshold, stacks,
                 heartbeat):
        self.loop = loop
        self._core = core
        self.lag_interval = lag_interval
        self.block_threshold = block_threshold
        self.stacks = stacks
        self.mode = "heartbeat" if heartbeat else "selector"
        self._selector = None
        self._stop = None
        self._timer = None
        self._factory = None
        self._executor = None
        self._executor_submit = None
        self._executor_shutdown = None
        self._set_executor = None
        self._anyio = False

    # -- attaching -------------------------------------------------------
    def _attach(self):
        loop, core = self.loop, self._core
        heartbeat = self.mode == "heartbeat"
        if not heartbeat:
            self._selector = _probe.Selector(core, loop._selector,
                                             self._on_loop_close,
                                             loop._ready)
            loop._selector = self._selector
            orig_stop = loop.stop

            def stop():
                core.stopping()
                return orig_stop()

            stop._async_auditor_orig = orig_stop
            self._stop = stop
            loop.stop = stop
        if not loop.is_closed():
            self._timer = _probe.LagTimer(core, loop, self.lag_interval,
                                          heartbeat)
            self._timer.start()
        self._attach_tasks()
        self._attach_executor()
        self._anyio = _anyio_acquire()
        if self._anyio:
            core.exec_enable(_probe.EXEC_ANYIO, _anyio_capacity())

    def _attach_tasks(self):
        loop, core = self.loop, self._core
        prev = loop.get_task_factory()
        self._factory = _probe.TaskFactory(core, prev, asyncio.Task)
        loop.set_task_factory(self._factory)
        alive = 0
        for task in asyncio.all_tasks(loop):
            task.add_done_callback(self._factory.done)
            alive += 1
        core.tasks_add(0, alive)

    def _attach_executor(self):
        loop = self.loop
        if loop.is_closed():
            return
        executor = getattr(loop, "_default_executor", None)
        if executor is None:
            # asyncio creates it lazily with these settings; uvloop does
            # not expose its own, so the probe provides the default one.
            executor = concurrent.futures.ThreadPoolExecutor(
                thread_name_prefix="asyncio")
            loop.set_default_executor(executor)
        self._hook_set_default_executor()
        self._instrument_executor(executor)

    def _hook_set_default_executor(self):
        """Follow loop.set_default_executor() calls made after install()
        (an app's lifespan often sets its own pool).  An instance
        attribute, so nothing runs per job; loops without a __dict__
        (uvloop) cannot be followed."""
        loop = self.loop
        try:
            orig = loop.set_default_executor
        except AttributeError:
            return
        probe = self

        def set_default_executor(executor):
            result = orig(executor)
            try:
                if not probe._core.closed:
                    probe._release_executor()
                    probe._instrument_executor(executor)
            except Exception as e:
                sys.unraisablehook(_Unraisable(e, set_default_executor))
            return result

        set_default_executor._async_auditor_orig = orig
        try:
            loop.set_default_executor = set_default_executor
        except (AttributeError, TypeError):
            return
        self._set_executor = set_default_executor

    def _instrument_executor(self, executor):
        if self.mode == "heartbeat" and executor is not None:
            # The loop shuts its default executor down when it is closing
            # (asyncio.run, loop.close()): from then on a silent heartbeat
            # means "not running", not "blocked".
            core, orig_shutdown = self._core, executor.shutdown

            def shutdown(*args, **kwargs):
                core.closing_hint()
                return orig_shutdown(*args, **kwargs)

            shutdown._async_auditor_orig = orig_shutdown
            try:
                executor.shutdown = shutdown
                self._executor = executor
                self._executor_shutdown = shutdown
            except (AttributeError, TypeError):
                pass
        if not isinstance(executor, concurrent.futures.ThreadPoolExecutor):
            return
        submit = _make_submit(self._core, _probe.EXEC_DEFAULT,
                              executor.submit)
        executor.submit = submit
        self._executor = executor
        self._executor_submit = submit
        self._core.exec_enable(_probe.EXEC_DEFAULT,
                               getattr(executor, "_max_workers", 0))

    def _release_executor(self):
        """Restore the instrumented executor's own submit/shutdown; jobs
        already submitted still report to this probe until they end."""
        ex = self._executor
        if ex is None:
            return
        if self._executor_submit is not None and \
                ex.__dict__.get("submit") is self._executor_submit:
            orig = self._executor_submit._async_auditor_orig
            if getattr(orig, "__self__", None) is ex and \
                    getattr(orig, "__func__", None) is type(ex).submit:
                del ex.submit
            else:
                ex.submit = orig
        if self._executor_shutdown is not None and \
                ex.__dict__.get("shutdown") is self._executor_shutdown:
            orig = self._executor_shutdown._async_auditor_orig
            if getattr(orig, "__self__", None) is ex and \
                    getattr(orig, "__func__", None) is type(ex).shutdown:
                del ex.shutdown
            else:
                ex.shutdown = orig
        self._executor = self._executor_submit = None
        self._executor_shutdown = None

    # -- detaching -------------------------------------------------------
    def _detach(self):
        loop = self.loop
        if self._selector is not None:
            if getattr(loop, "_selector", None) is self._selector:
                loop._selector = self._selector.inner
            if loop.__dict__.get("stop") is self._stop:
                orig = self._stop._async_auditor_orig
                if getattr(orig, "__self__", None) is loop:
                    del loop.stop
                else:
                    loop.stop = orig
            self._selector = self._stop = None
        if self._timer is not None:
            self._timer.stop()
            self._timer = None
        if self._factory is not None:
            try:
                if loop.get_task_factory() is self._factory:
                    loop.set_task_factory(self._factory.prev)
            except Exception:
                pass
            self._factory = None
        if self._set_executor is not None:
            if loop.__dict__.get("set_default_executor") is \
                    self._set_executor:
                orig = self._set_executor._async_auditor_orig
                if getattr(orig, "__self__", None) is loop:
                    del loop.set_default_executor
                else:
                    loop.set_default_executor = orig
            self._set_executor = None
        self._release_executor()
        if self._anyio:
            _anyio_release()
            self._anyio = False

    def _on_loop_close(self):
        self.close()

    # -- public API ------------------------------------------------------
    @property
    def closed(self):
        return self._core.closed

    def snapshot(self):
        """Current values keyed by metric name (dicts where the metric has
        labels: executor name, site; histograms as {"count", "sum"})."""
        return self._core.snapshot()

    def blocks(self):
        """Recent blocking episodes, oldest first: dicts with "start"
        (epoch seconds), "duration" (seconds), "site" ("path:line
        function" or None), "stack" (frames, outermost first) and
        "ongoing" (True for an episode still in progress)."""
        return self._core.blocks()

    def close(self):
        """Remove every hook and free the C state.  Idempotent."""
        with _lock:
            if self._core.closed:
                return
            try:
                self._detach()
            finally:
                self._core.close()
                if _probes.get(id(self.loop)) is self:
                    del _probes[id(self.loop)]

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __repr__(self):
        state = "closed" if self.closed else "open"
        return "<async_auditor.Probe %s %s on %r>" % (self.mode, state,
                                                      self.loop)


def install(loop=None, *, lag_interval=0.01, block_threshold=None,
            stacks=True, serve=None):
    """Install the probe on loop (default: the running loop, else the
    current thread's event loop).  Call it in the loop's thread.
    Idempotent per loop: a second call returns the same Probe.

    block_threshold defaults to $ASYNC_AUDITOR_BLOCK_THRESHOLD, else 0.05
    seconds.  serve ("host:port") or $ASYNC_AUDITOR_SERVE also starts the
    exporter; if that fails the probe stays installed and ExporterError is
    raised (its .probe attribute holds the installed Probe)."""
    if loop is None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            loop = asyncio.get_event_loop_policy().get_event_loop()
    threshold = _threshold_from_env(block_threshold)
    lag_interval = float(lag_interval)
    if not lag_interval > 0 or not threshold > 0:
        raise ValueError("lag_interval and block_threshold must be > 0")
    with _lock:
        probe = _probes.get(id(loop))
        if probe is None or probe.closed or probe.loop is not loop:
            owner = getattr(loop, "_thread_id", None)
            if loop.is_running() and owner not in (None,
                                                   threading.get_ident()):
                raise RuntimeError(
                    "async_auditor.install() must be called in the event "
                    "loop's thread (use loop.call_soon_threadsafe)")
            if loop.is_closed():
                raise RuntimeError("async_auditor.install(): loop is closed")
            heartbeat = not _has_selector(loop)
            core = _probe.Loop(threading.current_thread().name,
                               _loop_implementation(loop), lag_interval,
                               threshold, bool(stacks), heartbeat,
                               _SITE_MACHINERY, _SITE_HELPERS)
            probe = Probe(loop, core, lag_interval, threshold, bool(stacks),
                          heartbeat)
            try:
                probe._attach()
            except BaseException:
                try:
                    probe._detach()
                finally:
                    core.close()
                raise
            _probes[id(loop)] = probe
    address = serve if serve is not None else os.environ.get(
        "ASYNC_AUDITOR_SERVE")
    if address:
        try:
            globals()["serve"](address)
        except _probe.ExporterError as e:
            e.probe = probe
            raise
    return probe


def get_probe(loop=None):
    """The open Probe of loop (default: the running loop), or None."""
    if loop is None:
        loop = asyncio.get_running_loop()
    probe = _probes.get(id(loop))
    if probe is not None and not probe.closed and probe.loop is loop:
        return probe
    return None


def _after_fork_child():
    try:
        _probe.after_fork_child()
    except Exception:
        pass


atexit.register(_probe.shutdown)
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_child)
