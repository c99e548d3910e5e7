"""Zero-code bootstrap of ``python -m async_auditor run``.

Why this file exists: ``run`` puts this directory first on PYTHONPATH, so
every Python process the command starts (the server, its workers, any
child) imports this module at startup, before the service's code.  With
ASYNC_AUDITOR_AUTO=1 (set by ``run``) it turns zero-code mode on
(async_auditor._autoinstrument); otherwise it does nothing.  Either way it
first runs the sitecustomize it shadows, if there is one (as
opentelemetry-instrument's bootstrap does).  It never raises: a failure is
one line on stderr and the process runs unprobed.

This directory holds nothing but this file: it is on the path of every
process, so any other module here could shadow one of the service's.
"""

import os
import sys


def _chain_shadowed():
    """Import the sitecustomize that this one hides, if any."""
    here = os.path.dirname(os.path.abspath(__file__))
    me = sys.modules.get(__name__)
    saved = sys.path[:]
    sys.path[:] = [p for p in saved
                   if os.path.abspath(p or os.curdir) != here]
    del sys.modules[__name__]
    try:
        import sitecustomize  # noqa: F401  (the shadowed one)
    except ImportError as e:
        if e.name != "sitecustomize":
            raise
        sys.modules[__name__] = me
    finally:
        sys.path[:] = saved


def _start():
    if os.environ.get("ASYNC_AUDITOR_AUTO") != "1":
        return
    try:
        from async_auditor import _autoinstrument
    except ImportError as e:
        sys.stderr.write(
            "async_auditor: zero-code mode: this Python (%s) cannot import "
            "async_auditor (%s); this process runs unprobed. Install "
            "async-auditor into the environment that runs the service.\n"
            % (sys.executable, e))
        return
    _autoinstrument.enable()


for _step in (_chain_shadowed, _start):
    try:
        _step()
    except Exception as _e:
        sys.stderr.write("async_auditor: zero-code bootstrap: %s: %s\n"
                         % (type(_e).__name__, _e))
del _step
