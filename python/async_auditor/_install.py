"""install(), serve() and the Probe handle.

Why this module exists: it is the thin Python glue between an asyncio loop
and the C side (``_probe``).  It puts the C hooks in place (selector wrapper,
a ready queue whose popleft marks each callback, lag timer, task factory, a
``loop.stop`` hook, a gc callback timing the loop thread's collections; on
uvloop the poll and callback hooks in its GOT), instruments the default
executor and anyio's worker threads (``_pools``), follows loops starting
and stopping (``_loopstart``), and undoes all of it on close().  Everything that runs per loop iteration or
callback is C; Python here runs at install, close, loop start and stop, and
once per executor job.  install() with no loop running defers to the next
loop that starts in the calling thread, and zero-code mode
(``enable_auto``) installs on every loop that starts.
"""

import asyncio
import atexit
import collections
import concurrent.futures
import gc
import logging
import os
import threading

from . import (_inapp, _loopstart, _pools, _probe, _settings, _unraisable,
               _uvloop)

_lock = threading.RLock()
_probes = {}  # id(loop) -> Probe
_DEFAULT_ADDRESS = "127.0.0.1:9464"
_log = logging.getLogger("async_auditor")
def parse_address(address):
    """Split "host:port" (also ":port", "port", "[v6]:port") into
    (host, port); the host defaults to the loopback address.  The host
    "0" is refused: it means every IPv4 interface to some tools and
    nothing to others; write 0.0.0.0 (or :: for every interface) when
    that is what you mean."""
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
    if host == "0":
        raise ValueError(
            "exporter address %r: host \"0\" is ambiguous; write 0.0.0.0 "
            "(every IPv4 interface) or :: (every interface) to listen on "
            "all interfaces, 127.0.0.1 for this machine only" % text)
    try:
        port_num = int(port)
    except ValueError:
        raise ValueError("exporter address %r: bad port %r"
                         % (text, port)) from None
    if not 0 <= port_num <= 65535:
        raise ValueError("exporter address %r: port out of range" % text)
    return host, port_num


def _debug_blocks_setting(value):
    """debug_blocks as given, else $ASYNC_AUDITOR_DEBUG_BLOCKS (0 or 1),
    else None: served on a loopback address only."""
    if value is not None:
        return bool(value)
    env = os.environ.get("ASYNC_AUDITOR_DEBUG_BLOCKS", "").strip()
    if not env:
        return None
    if env not in ("0", "1"):
        raise ValueError("ASYNC_AUDITOR_DEBUG_BLOCKS: expected 0 or 1, "
                         "got %r" % env)
    return env == "1"


_exporter_warned = set()


def serve(address=_DEFAULT_ADDRESS, *, debug_blocks=None):
    """Start the exporter thread on address ("host:port").  Returns
    (host, port) actually bound.  Raises async_auditor.ExporterError (an
    OSError, errno set) if it cannot bind, e.g. another program holds the
    port; nothing else is affected.

    Every process of this user that serves the same address shares it
    (SO_REUSEPORT) and each answers /metrics for all of them, a series
    per process (label worker="<pid>"): run the same code in every worker
    of uvicorn, gunicorn, hypercorn or granian.  Port 0 picks a free port
    for this process alone.

    debug_blocks serves /debug/blocks (episodes with their full stacks):
    default $ASYNC_AUDITOR_DEBUG_BLOCKS (0 or 1), else on for a loopback
    address only.  Binding any other address logs a warning."""
    host, port = parse_address(address)
    db = _debug_blocks_setting(debug_blocks)
    info = _probe.serve(host, port, -1 if db is None else int(db))
    key = (host, port)
    if key not in _exporter_warned:
        _exporter_warned.add(key)
        if not info["loopback"]:
            _log.warning(
                "async_auditor: exporter listening on %s:%d, reachable from "
                "other machines (/metrics%s)", host, info["port"],
                ", /debug/blocks" if info["debug_blocks"] else "")
        if port and not info["grouped"]:
            _log.warning(
                "async_auditor: exporter on %s:%d serves this process only: "
                "its state cannot be shared with the other processes "
                "serving that address (group directory %s: %s; it must be "
                "a directory of this user, mode 0700)", host, port,
                info["group_dir"] or "$ASYNC_AUDITOR_MULTIPROC_DIR or "
                "/dev/shm/async-auditor-<uid>", info["group_error"])
    return host, info["port"]


def stop_serving(*, leave_group=False):
    """Stop this process's exporter thread (no-op when not serving).  Its
    series stay in the group of its address, served by the other
    processes, also after it exits; leave_group=True withdraws them."""
    _probe.stop_serving(bool(leave_group))


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


class Probe:
    """The probe installed on one event loop (see install()).

    install() called while no loop runs in its thread returns a *pending*
    Probe: it attaches to the next loop that starts running in that thread
    (``attached`` is False until then, and snapshot()/blocks() say so)."""

    def __init__(self, options):
        self.loop = None
        self._core = None
        self._options = options
        self.lag_interval = options["lag_interval"]
        self.block_threshold = options["block_threshold"]
        self.stacks = options["stacks"]
        self.mode = None
        self._waiting_in = None  # pending: name of the thread it waits in
        self._cancelled = False
        self._error = None
        self._selector = None
        self._stop = None
        self._timer = None
        self._factory = None
        self._executor = None
        self._executor_submit = None
        self._executor_shutdown = None
        self._set_executor = None
        self._anyio = False
        self._ready = None  # the Ready queue put in loop._ready
        self._gcwatch = None  # in gc.callbacks: the loop thread's collections
        self._uvhook = False  # holds a reference to uvloop's hooks
        self._fn_ids = ({}, {})  # per executor: function key -> id hint

    # -- attaching -------------------------------------------------------
    def _bind(self, loop):
        """Create the loop's C state and put every hook in place (the
        caller holds _lock, in the loop's thread or before it runs)."""
        if _has_selector(loop):
            mode = "selector"
        else:
            self._uvhook = _uvloop.hook(loop)
            mode = "hook" if self._uvhook else "heartbeat"
        try:
            core = _new_core(loop, mode, self._options)
        except BaseException:
            self._release_uvhook()
            raise
        self.loop, self._core = loop, core
        self.mode = mode
        self._waiting_in = None
        try:
            self._attach()
        except BaseException:
            try:
                self._detach()
            finally:
                core.close()
                self._release_uvhook()
            raise
        _probes[id(loop)] = self
        _events_acquire()
        running = asyncio._get_running_loop() is loop
        if mode == "hook" and (running or not loop.is_running()):
            core.bind_thread()  # else when it starts in its own thread
        if mode != "heartbeat" and running:
            # install() inside a callback of this loop: that callback's
            # stretch is busy from now, so a block in it is an episode
            core.busy_now()

    def _release_uvhook(self):
        if self._uvhook:
            self._uvhook = False
            _probe.uvloop_hook_release()

    def _attach(self):
        loop, core = self.loop, self._core
        if self.mode == "selector":
            ready_type = getattr(_probe, "Ready", None)
            if ready_type is not None and \
                    type(loop._ready) is collections.deque:
                # each popleft() of _run_once starts a callback
                ready = ready_type(loop._ready)
                ready.attach(core)
                loop._ready = self._ready = ready
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
                                          self.mode == "heartbeat")
            if self._selector is not None:
                # ticked by select(): nothing on asyncio's timer heap
                self._selector.drive(self._timer)
            self._timer.start()
        self._attach_tasks()
        self._gcwatch = _probe.GcWatch(core)
        gc.callbacks.append(self._gcwatch)
        self._attach_executor()
        self._anyio = _pools.anyio_acquire(_installed)
        if self._anyio:
            core.exec_enable(_probe.EXEC_ANYIO, _pools.anyio_capacity())

    def _attach_tasks(self):
        loop, core = self.loop, self._core
        prev = loop.get_task_factory()
        self._factory = _probe.TaskFactory(core, prev, asyncio.Task)
        loop.set_task_factory(self._factory)
        for task in asyncio.all_tasks(loop):
            self._factory.track(task)
        if self._timer is not None:
            self._timer.sweep_tasks(self._factory)

    def _attach_executor(self):
        loop = self.loop
        if loop.is_closed():
            return
        executor = getattr(loop, "_default_executor", None)
        if executor is None and self.mode != "selector":
            executor = _uvloop.referenced_executor(loop)
        if executor is None:
            # asyncio creates it lazily with these settings; a uvloop loop
            # that has none yet gets the default one from the probe.
            executor = concurrent.futures.ThreadPoolExecutor(
                thread_name_prefix="asyncio")
            loop.set_default_executor(executor)
        self._hook_set_default_executor()
        self._instrument_executor(executor)

    def _follow_executor(self):
        """A loop whose set_default_executor() cannot be wrapped (uvloop):
        measure the executor it holds now if it changed since."""
        if self._set_executor is not None or self.loop.is_closed():
            return
        executor = _uvloop.referenced_executor(self.loop)
        if executor is not None and executor is not self._executor:
            self._release_executor()
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
                _unraisable.report(
                    e, "instrumenting the default executor",
                    set_default_executor)
            return result

        set_default_executor._async_auditor_orig = orig
        try:
            loop.set_default_executor = set_default_executor
        except (AttributeError, TypeError):
            return
        self._set_executor = set_default_executor

    def _instrument_executor(self, executor):
        if self.mode != "selector" and executor is not None:
            # The loop shuts its default executor down when it is closing
            # (asyncio.run, loop.close()): from then on a silent heartbeat
            # means "not running", not "blocked"; and uvloop's close()
            # does it last, in the loop's thread, the one moment a probe
            # sees that loop closed (its close() cannot be wrapped).
            probe, core = self, self._core
            orig_shutdown, loop = executor.shutdown, self.loop

            def shutdown(*args, **kwargs):
                if probe.mode == "heartbeat":
                    core.closing_hint()
                try:
                    return orig_shutdown(*args, **kwargs)
                finally:
                    if loop.is_closed():
                        probe.close()

            shutdown._async_auditor_orig = orig_shutdown
            try:
                executor.shutdown = shutdown
                self._executor = executor
                self._executor_shutdown = shutdown
            except (AttributeError, TypeError):
                pass
        if not isinstance(executor, concurrent.futures.ThreadPoolExecutor):
            return
        submit = _pools.make_submit(self._core, _probe.EXEC_DEFAULT,
                                    executor.submit,
                                    self._fn_ids[_probe.EXEC_DEFAULT])
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
        if self._gcwatch is not None:
            try:
                gc.callbacks.remove(self._gcwatch)
            except ValueError:
                pass
            self._gcwatch = None
        if self._ready is not None:
            if loop.__dict__.get("_ready") is self._ready:
                loop._ready = collections.deque(self._ready)
            self._ready.attach(None)
            self._ready = None
        if self._selector is not None:
            self._selector.drive(None)
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
            self._timer.sweep_tasks(None)
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
            _pools.anyio_release()
            self._anyio = False

    def _on_loop_close(self):
        self.close()

    def _on_start(self):
        """The loop starts running, in this thread (_loopstart)."""
        core = self._core
        if self.mode == "hook":
            core.bind_thread()  # it may run in another thread than before
        core.started()
        if self.mode != "selector":
            self._follow_executor()

    def _on_stop(self):
        """The loop's run_forever returned, in this thread."""
        self._core.stopping()

    # -- public API ------------------------------------------------------
    @property
    def closed(self):
        """True once close() ran (or the loop closed)."""
        return self._cancelled or (self._core is not None
                                   and self._core.closed)

    @property
    def attached(self):
        """True while the probe measures a loop; False while it waits for
        a loop to start (pending), and after close()."""
        return self._core is not None and not self._core.closed

    def _measuring(self, what):
        if self._core is None and not self._cancelled:
            if self._error is not None:
                raise RuntimeError(
                    "async_auditor: the probe could not attach to the loop "
                    "that started: %s" % self._error)
            raise RuntimeError(
                "async_auditor: %s(): the probe waits for an event loop to "
                "start running in thread %r (install() was called while "
                "none ran there); call it once that loop runs, or call "
                "install() inside the loop" % (what, self._waiting_in))
        if self.closed:
            raise RuntimeError("probe is closed")
        return self._core

    def snapshot(self):
        """Current values keyed by metric name (dicts where the metric has
        labels: executor name, site; histograms as {"count", "sum"}).
        RuntimeError while the probe waits for its loop."""
        core = self._measuring("snapshot")
        if self._factory is not None:
            self._factory.sweep()  # the alive count, settled now
        return core.snapshot()

    def blocks(self):
        """Recent blocking episodes, oldest first: dicts with "start"
        (epoch seconds), "duration" (seconds), "site" ("path:line
        function" or None), "stack" (frames, outermost first) and
        "ongoing" (True for an episode still in progress).  RuntimeError
        while the probe waits for its loop."""
        return self._measuring("blocks").blocks()

    def close(self):
        """Remove every hook and free the C state (or stop waiting for a
        loop).  Idempotent."""
        with _lock:
            if self._core is None:
                self._cancelled = True
                _forget_pending(self)
                return
            if self._core.closed:
                return
            try:
                self._detach()
            finally:
                self._core.close()
                self._release_uvhook()
                if _probes.get(id(self.loop)) is self:
                    del _probes[id(self.loop)]
                _events_release()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __repr__(self):
        if self._core is None:
            if self._cancelled:
                return "<async_auditor.Probe closed before a loop ran>"
            if self._error is not None:
                return "<async_auditor.Probe failed to attach: %s>" % (
                    self._error,)
            return ("<async_auditor.Probe pending: attaches to the next "
                    "loop that runs in thread %r>" % (self._waiting_in,))
        state = "closed" if self.closed else "open"
        return "<async_auditor.Probe %s %s on %r>" % (self.mode, state,
                                                      self.loop)


_stacks_note = []


def _note_no_stacks(options):
    """Say once per process why episodes will have no culprit line."""
    if options["stacks"] and not _probe.stacks_supported and \
            not _stacks_note:
        _stacks_note.append(True)
        _log.warning(
            "async_auditor: blocking episodes are measured without their "
            "culprit line: %s", _probe.stacks_unsupported_reason)


def _new_core(loop, mode, options):
    """The C state (_probe.Loop) of one loop, named after this thread."""
    _note_no_stacks(options)
    return _probe.Loop(threading.current_thread().name,
                       _loop_implementation(loop), options["lag_interval"],
                       options["block_threshold"], options["stacks"],
                       mode == "heartbeat", options["in_app"],
                       mode == "hook")


# -- loops starting and stopping: while any probe is attached ------------
_events_users = 0


def _loop_started(loop):
    """_loopstart subscriber, in the loop's thread as it starts running."""
    probe = _installed(loop)
    if probe is not None:
        probe._on_start()


def _loop_stopped(loop):
    """_loopstart stop subscriber, in the loop's thread as its
    run_forever returns; also closes the probes of loops that were closed
    meanwhile (a uvloop loop's close() cannot be seen otherwise)."""
    probe = _installed(loop)
    if probe is not None:
        probe._on_stop()
    for other in list(_probes.values()):
        try:
            closed = other.mode != "selector" and other.loop.is_closed()
        except Exception:
            closed = False
        if closed:
            other.close()


def _events_acquire():
    """A probe attached (caller holds _lock)."""
    global _events_users
    _events_users += 1
    if _events_users == 1:
        _loopstart.subscribe(_loop_started)
        _loopstart.subscribe_stop(_loop_stopped)


def _events_release():
    """A probe closed (caller holds _lock)."""
    global _events_users
    _events_users -= 1
    if _events_users <= 0:
        _events_users = 0
        _loopstart.unsubscribe(_loop_started)
        _loopstart.unsubscribe_stop(_loop_stopped)


# -- install() before any loop runs: pending until one starts ------------
_pending = {}  # threading.get_ident() -> pending Probe
_auto = False  # zero-code mode: probe every loop that starts
_auto_skip = None  # zero-code mode: predicate(loop) -> True to leave it


def _forget_pending(probe):
    for ident, p in list(_pending.items()):
        if p is probe:
            del _pending[ident]
    if not _pending and not _auto:
        _loopstart.unsubscribe(_loop_starting)


def _defer(options):
    """A pending Probe for the calling thread (the same one if called
    again before a loop runs)."""
    ident = threading.get_ident()
    probe = _pending.get(ident)
    if probe is None:
        probe = Probe(options)
        probe._waiting_in = threading.current_thread().name
        _pending[ident] = probe
        _loopstart.subscribe(_loop_starting)
    return probe


def _loop_starting(loop):
    """_loopstart subscriber, in the loop's thread as it starts running:
    attach this thread's pending probe, and in zero-code mode install on
    every loop."""
    with _lock:
        probe = _pending.pop(threading.get_ident(), None)
        if probe is not None:
            if not _pending and not _auto:
                _loopstart.unsubscribe(_loop_starting)
            if _installed(loop) is not None:
                probe._error = ("that loop already had a probe: use "
                                "async_auditor.get_probe(loop)")
            elif loop.is_closed():
                probe._error = "the loop was closed"
            else:
                try:
                    probe._bind(loop)
                except Exception as e:
                    probe._error = "%s: %s" % (type(e).__name__, e)
                    raise
        if _auto and _installed(loop) is None and not loop.is_closed() \
                and not (_auto_skip is not None and _auto_skip(loop)):
            _auto_install(loop)


def _installed(loop):
    probe = _probes.get(id(loop))
    if probe is not None and not probe.closed and probe.loop is loop:
        return probe
    return None


def enable_auto(skip=None):
    """Zero-code mode (python -m async_auditor run): from now on every
    loop that starts running in this process gets a probe configured by
    the ASYNC_AUDITOR_* variables, except those for which skip(loop) is
    true; the exporter starts with the first."""
    global _auto, _auto_skip
    with _lock:
        _auto = True
        _auto_skip = skip
        _loopstart.subscribe(_loop_starting)


def disable_auto():
    """Leave zero-code mode (probes already installed stay)."""
    global _auto
    with _lock:
        _auto = False
        if not _pending:
            _loopstart.unsubscribe(_loop_starting)


_auto_served = False


def _auto_install(loop):
    global _auto_served
    _install_on(loop, _options(None, None, None))
    if _auto_served:
        return
    _auto_served = True
    address = os.environ.get(_settings.ENV["serve"])
    if address:
        try:
            globals()["serve"](address)
        except (_probe.ExporterError, ValueError) as e:
            import logging
            logging.getLogger("async_auditor").error(
                "async_auditor: exporter not started in process %d: %s",
                os.getpid(), e)


def _options(lag_interval, block_threshold, stacks, in_app=None):
    lag_interval = _settings.lag_interval(lag_interval)
    threshold = _settings.block_threshold(block_threshold)
    return {"lag_interval": lag_interval, "block_threshold": threshold,
            "stacks": _settings.stacks(stacks),
            "in_app": _inapp.rules(in_app)}


def _install_on(loop, options):
    """The loop's open Probe, else a new one attached to it (caller holds
    _lock)."""
    probe = _installed(loop)
    if probe is not None:
        return probe
    owner = getattr(loop, "_thread_id", None)
    if loop.is_running() and owner not in (None, threading.get_ident()):
        raise RuntimeError(
            "async_auditor.install() must be called in the event "
            "loop's thread (use loop.call_soon_threadsafe)")
    if loop.is_closed():
        raise RuntimeError("async_auditor.install(): loop is closed")
    probe = Probe(options)
    probe._bind(loop)
    return probe


def install(loop=None, *, lag_interval=None, block_threshold=None,
            stacks=None, serve=None, in_app=None, debug_blocks=None):
    """Install the probe on loop (default: the loop running in this
    thread).  Idempotent per loop: a second call returns the same Probe.

    With no loop given and none running in this thread (install() at
    module level, before asyncio.run), the returned Probe is pending: it
    attaches to the next loop that starts running in this thread, and
    never to a loop that does not run.  Pass the loop explicitly to
    install on a loop before it runs.

    lag_interval, block_threshold (seconds) and stacks default to
    $ASYNC_AUDITOR_LAG_INTERVAL (else 0.01), $ASYNC_AUDITOR_BLOCK_THRESHOLD
    (else 0.05) and $ASYNC_AUDITOR_STACKS (else on); a malformed value is
    a ValueError naming it.  serve ("host:port") or $ASYNC_AUDITOR_SERVE
    also starts the exporter (right away, even for a pending probe); if
    that fails the probe stays installed and ExporterError is raised (its
    .probe attribute holds the Probe).  debug_blocks goes to serve().

    in_app names the application's own code, whose innermost line is the
    culprit site of a blocking episode: path prefixes or module names, a
    leading "-" to exclude (a list, or a comma-separated string), added to
    $ASYNC_AUDITOR_IN_APP; everything outside the standard library and
    site-packages is in-app already (docs/probe.md)."""
    options = _options(lag_interval, block_threshold, stacks, in_app)
    with _lock:
        if loop is None:
            loop = asyncio._get_running_loop()
        if loop is None:
            probe = _defer(options)
        else:
            probe = _install_on(loop, options)
    address = serve if serve is not None else os.environ.get(
        "ASYNC_AUDITOR_SERVE")
    if address:
        try:
            globals()["serve"](address, debug_blocks=debug_blocks)
        except _probe.ExporterError as e:
            e.probe = probe
            raise
    return probe


def get_probe(loop=None):
    """The open Probe of loop (default: the running loop), or None."""
    if loop is None:
        loop = asyncio.get_running_loop()
    return _installed(loop)


def probes():
    """Every open Probe in this process (attached ones; see install())."""
    with _lock:
        return [p for p in _probes.values() if not p.closed]


def _auto_after_fork():
    global _auto_served
    _auto_served = False  # a forked worker serves (or joins) on its own


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_auto_after_fork)


def _after_fork_child():
    try:
        _probe.after_fork_child()
    except Exception:
        pass


atexit.register(_probe.shutdown)
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_child)
