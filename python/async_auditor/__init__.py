"""async_auditor: a runtime probe for asyncio services.

It measures event-loop lag, loop utilization, blocking episodes with the
culprit line, backlog, tasks and thread-pool pressure, and serves them from
a C thread that keeps answering while the loop is frozen.

    import async_auditor
    probe = async_auditor.install(serve="127.0.0.1:9464")

See docs/probe.md for what is measured and how.
"""

from ._probe import ExporterError, __version__
from ._install import Probe, get_probe, install, serve, stop_serving

__all__ = [
    "ExporterError",
    "Probe",
    "__version__",
    "get_probe",
    "install",
    "serve",
    "stop_serving",
]
