"""report(): a hook's failure goes to sys.unraisablehook, never into the
user's code.

Why this module exists: the probe's hooks run inside the service's own
calls (a loop starting, a module being imported, an executor being set);
an exception there must not change what the service's code sees, yet must
not vanish either.  This is the one way the package reports it.  Light
(sys only): the zero-code bootstrap imports it into every process.
"""

import sys

__all__ = ["report"]


class _Unraisable:
    """The object sys.unraisablehook expects."""

    def __init__(self, exc, message, obj):
        self.exc_type = type(exc)
        self.exc_value = exc
        self.exc_traceback = exc.__traceback__
        self.err_msg = "async_auditor: " + message
        self.object = obj


def report(exc, message, obj=None):
    """Hand exc to sys.unraisablehook; message says what the probe was
    doing ("instrumenting the default executor")."""
    sys.unraisablehook(_Unraisable(exc, message, obj))
