"""ProbeCollector: the probe's metrics in prometheus_client's registry.

For services that already expose prometheus_client's /metrics: register
the collector and the probe's families appear there with the same names,
types and labels as the C exporter produces (it parses that very text).
It shows what the exporter would: every worker of the process's group
when it belongs to one (it serves an address, or
$ASYNC_AUDITOR_MULTIPROC_DIR is set), like prometheus_client's own
multiprocess mode, else this process alone; each series has a worker
label.  Note that such an endpoint is served by Python and so freezes
with the loop; the C exporter (async_auditor.serve) does not.
"""

from prometheus_client.parser import text_string_to_metric_families

from . import _probe

__all__ = ["ProbeCollector"]


class ProbeCollector:
    """``REGISTRY.register(ProbeCollector())``."""

    def collect(self):
        yield from text_string_to_metric_families(_probe.render_metrics())

    def describe(self):
        return []
