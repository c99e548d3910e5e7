"""async_auditor: a runtime probe for asyncio services.

It measures event-loop lag, loop utilization, blocking episodes with the
culprit line, backlog, tasks and thread-pool pressure, and serves them from
a C thread that keeps answering while the loop is frozen.

    import async_auditor
    probe = async_auditor.install(serve="127.0.0.1:9464")

or with no code at all: ``python -m async_auditor run -- uvicorn app:app``.
See docs/probe.md for what is measured and how.

The names below are loaded on first use: the zero-code bootstrap imports
this package into every Python process it starts, and most of them (a
server's supervisor, a ``python -c`` child) never run a loop, so importing
the package must not import asyncio.
"""

__all__ = [
    "ExporterError",
    "Probe",
    "__version__",
    "get_probe",
    "install",
    "serve",
    "stop_serving",
]

_FROM = {
    "ExporterError": "_probe",
    "__version__": "_probe",
    "Probe": "_install",
    "get_probe": "_install",
    "install": "_install",
    "serve": "_install",
    "stop_serving": "_install",
}


def __getattr__(name):
    where = _FROM.get(name)
    if where is None:
        raise AttributeError("module 'async_auditor' has no attribute %r"
                             % name)
    if where == "_probe":
        from . import _probe as module
    else:
        from . import _install as module
    value = getattr(module, name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(__all__))
