"""The side of ``attach``/``detach`` that runs inside the target process.

Why this module exists: PEP 768's sys.remote_exec() makes the target run
a script file in its main thread, at its next safe point, inside whatever
it is executing (for a service, normally a callback of its loop).  The
script that ``_attach`` writes only imports this module and calls run(),
which installs the probe on the running loop(s) and starts the exporter,
or removes everything again, and reports back through a status file that
the ``attach`` command waits for.  Nothing here may raise into the target.
"""

import json
import os
import sys
import threading

__all__ = ["run"]


def _write(path, status):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(status, f)
    os.replace(tmp, path)


def _describe(probe):
    from . import _probe
    if not probe.attached:
        return {"pending": True, "thread": probe._waiting_in}
    loop = probe.loop
    return {"pending": False, "loop": type(loop).__module__ + "." +
            type(loop).__qualname__, "mode": probe.mode,
            "thread": threading.current_thread().name,
            "stacks_supported": int(_probe.stacks_supported)}


def _other_threads_loops():
    """Loops running in threads other than this one (PEP 768 runs us in
    the main thread; a service may run its loop elsewhere)."""
    import asyncio
    import gc
    me = threading.get_ident()
    found = []
    for obj in gc.get_objects():
        try:
            if isinstance(obj, asyncio.AbstractEventLoop) and \
                    obj.is_running() and not obj.is_closed() and \
                    getattr(obj, "_thread_id", None) != me:
                found.append(obj)
        except Exception:
            continue
    return found


def _in_loop_thread(loop, fn, timeout=5.0):
    """fn() run by loop in its own thread; its result, or raises."""
    done = threading.Event()
    out = {}

    def call():
        try:
            out["value"] = fn()
        except BaseException as e:
            out["error"] = e
        finally:
            done.set()

    loop.call_soon_threadsafe(call)
    if not done.wait(timeout):
        raise TimeoutError("the loop in another thread did not run our "
                           "callback within %.0f s (blocked?)" % timeout)
    if "error" in out:
        raise out["error"]
    return out["value"]


def _attach(options):
    import asyncio
    from . import _install
    serve = options.pop("serve", None)
    loops = []
    loop = asyncio._get_running_loop()
    if loop is not None:
        loops.append(_describe(_install.install(loop, serve="", **options)))
    else:
        for other in _other_threads_loops():
            loops.append(_in_loop_thread(other, lambda: _describe(
                _install.install(serve="", **options))))
        if not loops:  # nothing runs: the next loop of this thread
            loops.append(_describe(_install.install(serve="", **options)))
    status = {"ok": True, "loops": loops}
    if serve:
        try:
            host, port = _install.serve(serve)
            status["metrics"] = "http://%s:%d/metrics" % (
                "[%s]" % host if ":" in host else host, port)
        except (OSError, ValueError) as e:
            status["ok"] = False
            status["error"] = "exporter not started: %s" % (e,)
    return status


def _detach():
    from . import _install, _loopstart
    closed = 0
    for probe in _install.probes():
        loop = probe.loop
        owner = getattr(loop, "_thread_id", None)
        if loop.is_running() and owner not in (None,
                                               threading.get_ident()):
            _in_loop_thread(loop, probe.close)
        else:
            probe.close()
        closed += 1
    for probe in list(_install._pending.values()):
        probe.close()
        closed += 1
    _install.disable_auto()
    _install.stop_serving()
    return {"ok": True, "closed": closed,
            "hooks_removed": not _loopstart.active()}


def run(status_path, command, options):
    """Entry point of the attach script: do command, write the status."""
    try:
        status = _attach(dict(options)) if command == "attach" else _detach()
    except BaseException as e:
        status = {"ok": False, "error": "%s: %s" % (type(e).__name__, e)}
    status["pid"] = os.getpid()
    status["python"] = sys.version.split()[0]
    try:
        _write(status_path, status)
    except OSError:
        pass
