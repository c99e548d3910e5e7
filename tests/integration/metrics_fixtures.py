"""Deterministic metric fixtures for the integration tests.

Why this exists: the auditor's verdicts must be checked against real
PromQL engines on data whose right answers are known in advance.  This
module builds one synthetic hour of probe metrics (contract §2) for
three instances of a service, renders it as OpenMetrics text for
`promtool tsdb create-blocks-from openmetrics` and as Prometheus text with
millisecond timestamps for VictoriaMetrics' /api/v1/import/prometheus, and
computes the values the rules must report independently of any engine
(rate with counter resets, histogram_quantile, max/last over a window).

Everything is pinned to a fixed past hour, so nothing depends on "now":
the tests pass --start WINDOW_START --end END to the auditor.

The scenario, per instance (job="api"):

  api-1:8000  healthy: loop lag p99 7.5 ms, utilization 10 %, no blocking
  api-2:8000  degraded: lag p99 137.5 ms (warning band), utilization 60 %
              with a process restart (counter reset) inside the window,
              a little blocked time attributed to one code site,
              tasks spike to 5000 only in the last 60 s (breaches part of
              a 2m "for" span), a few 5xx
  api-3:8000  critical: lag p99 462.5 ms, utilization 95 %, a blocking
              episode every scrape attributed to two code sites, tasks at
              5000 for the last 10 minutes (the whole "for" span),
              3 errors per second

plus a ready-callbacks gauge whose instance label holds a quote and a
backslash (job="odd"), an executor "broken" on api-1 whose pending gauge
is NaN throughout
(NaN is no data), and no python_asyncio_executor_run_seconds at all (the
"is the probe installed?" case).
"""

import math

T0 = 1767225600  # 2026-01-01T00:00:00Z
STEP = 15  # seconds between samples (the scrape interval)
END = T0 + 3600  # evaluation time used by the tests
WINDOW = 300  # evaluation window, seconds
WINDOW_START = END - WINDOW
RESET_AT = END - 150  # api-2's process restart (busy counter reset)
SPIKE_PART_FROM = END - 60  # api-2: tasks high only from here
SPIKE_WHOLE_FROM = END - 600  # api-3: tasks high from here

INSTANCES = ["api-1:8000", "api-2:8000", "api-3:8000"]
JOB = "api"
ABSENT_METRIC = "python_asyncio_executor_run_seconds"
ODD_INSTANCE = 'we"ird\\path:1'  # a double quote and one backslash
ODD_VALUE = 7.0
NAN_EXECUTOR = "broken"

LAG_BUCKETS = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0]
# Observations per scrape interval in each (non-cumulative) bucket,
# including the +Inf bucket last.
LAG_COUNTS = {
    "api-1:8000": [1200, 270, 30, 0, 0, 0, 0, 0, 0, 0],
    "api-2:8000": [1000, 300, 100, 50, 20, 10, 20, 0, 0, 0],
    "api-3:8000": [600, 300, 100, 100, 100, 100, 100, 100, 0, 0],
}
BLOCK_BUCKETS = [0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0]
BLOCK_COUNTS = {
    "api-1:8000": [0, 0, 0, 0, 0, 0, 0, 0],
    "api-2:8000": [1, 0, 0, 0, 0, 0, 0, 0],
    "api-3:8000": [0, 0, 1, 0, 0, 0, 0, 0],
}
# Seconds the loop was busy per scrape interval: rate() = utilization.
BUSY_PER_STEP = {"api-1:8000": 1.5, "api-2:8000": 9.0, "api-3:8000": 14.25}
SITES = {
    "api-2:8000": {"app/cache.py:88 rebuild": 0.025},
    "api-3:8000": {
        "app/handlers.py:42 slow_handler": 0.15,
        "app/db.py:17 query": 0.05,
    },
}
HTTP_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0]
# Requests per scrape interval by status code, spread over buckets.
HTTP_COUNTS = {
    "api-1:8000": {"200": [100, 100, 50, 40, 10, 0, 0, 0, 0, 0, 0]},
    "api-2:8000": {
        "200": [50, 80, 80, 50, 30, 10, 0, 0, 0, 0, 0],
        "500": [0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0],
    },
    "api-3:8000": {
        "200": [0, 0, 0, 50, 100, 100, 50, 0, 0, 0, 0],
        "500": [0, 0, 0, 0, 0, 0, 0, 20, 20, 5, 0],
    },
}
TASKS_LOW, TASKS_HIGH = 50, 5000


def timestamps(end=END):
    """Every sample time of the fixture hour ending at end, inclusive."""
    return list(range(end - 3600, end + 1, STEP))


def _fmt_labels(labels):
    if not labels:
        return ""
    parts = []
    for k, v in labels.items():
        v = v.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
        parts.append('%s="%s"' % (k, v))
    return "{" + ",".join(parts) + "}"


def _fmt_value(v):
    if isinstance(v, float) and math.isnan(v):
        return "NaN"
    if isinstance(v, float) and math.isinf(v):
        return "+Inf" if v > 0 else "-Inf"
    return repr(float(v))


def _le(b):
    return "+Inf" if math.isinf(b) else repr(float(b))


class Family:
    """A metric family: name (without _total for counters), type, and
    series as {sample_name: [(labels, [(ts, value), ...]), ...]}."""

    def __init__(self, name, mtype, help_text):
        self.name = name
        self.type = mtype
        self.help = help_text
        self.samples = []  # (sample_name, labels, points)

    def add(self, sample_name, labels, points):
        self.samples.append((sample_name, dict(labels), list(points)))


def _base(inst):
    return {"job": JOB, "instance": inst}


def _counter_points(per_step, end, reset_at=None):
    """A counter growing by per_step each scrape, restarting from zero
    just after the sample before reset_at when given."""
    pts = []
    v = 0.0
    for ts in timestamps(end):
        if reset_at is not None and ts == reset_at:
            v = 0.0
        v += per_step
        pts.append((ts, v))
    return pts


def _histogram(fam, labels, bounds, counts, sum_per_step, end):
    cum = 0
    cumulative = []
    for c in counts:
        cum += c
        cumulative.append(cum)
    ts_list = timestamps(end)
    for b, c in zip(list(bounds) + [math.inf], cumulative):
        lab = dict(labels)
        lab["le"] = _le(b)
        fam.add(
            fam.name + "_bucket",
            lab,
            [(ts, float(c * (i + 1))) for i, ts in enumerate(ts_list)],
        )
    fam.add(
        fam.name + "_sum",
        labels,
        [(ts, sum_per_step * (i + 1)) for i, ts in enumerate(ts_list)],
    )
    fam.add(
        fam.name + "_count",
        labels,
        [(ts, float(cum * (i + 1))) for i, ts in enumerate(ts_list)],
    )


def _midpoints_sum(bounds, counts):
    total = 0.0
    lo = 0.0
    for b, c in zip(list(bounds) + [bounds[-1] * 2], counts):
        total += c * (lo + b) / 2
        lo = b
    return total


def _gauge_points(fn, end):
    return [(ts, fn(ts)) for ts in timestamps(end)]


def instances(replicas=1):
    """[(instance label, profile)]: each profile of INSTANCES once, and
    with replicas > 1 further copies named e.g. api-1-r1:8000 (used by the
    benchmark to scale the data)."""
    out = []
    for r in range(replicas):
        for inst in INSTANCES:
            name = inst if r == 0 else inst.replace(":", "-r%d:" % r)
            out.append((name, inst))
    return out


def families(end=END, replicas=1):
    """The whole fixture, its hour ending at end, as Family objects."""
    fams = []

    lag = Family("python_asyncio_loop_lag_seconds", "histogram",
                 "Event-loop scheduling delay.")
    busy = Family("python_asyncio_loop_busy_seconds", "counter",
                  "Time the loop spent running callbacks.")
    iters = Family("python_asyncio_loop_iterations", "counter",
                   "Loop iterations.")
    block = Family("python_asyncio_loop_block_duration_seconds", "histogram",
                   "Blocking episodes.")
    cur = Family("python_asyncio_loop_current_block_seconds", "gauge",
                 "Current busy stretch.")
    site = Family("python_asyncio_block_site_seconds", "counter",
                  "Blocked time per code site.")
    ready = Family("python_asyncio_loop_ready_callbacks", "gauge",
                   "Ready callbacks.")
    tasks = Family("python_asyncio_tasks", "gauge", "Tasks alive.")
    created = Family("python_asyncio_tasks_created", "counter",
                     "Tasks created.")
    pend = Family("python_asyncio_executor_pending", "gauge",
                  "Executor work not yet started.")
    bw = Family("python_asyncio_executor_busy_workers", "gauge",
                "Executor workers in use.")
    mw = Family("python_asyncio_executor_max_workers", "gauge",
                "Executor capacity.")
    wait = Family("python_asyncio_executor_wait_seconds", "histogram",
                  "Executor queue wait.")
    active = Family("http_server_active_requests", "gauge",
                    "HTTP requests in flight.")
    http = Family("http_server_request_duration_seconds", "histogram",
                  "HTTP request duration.")
    info = Family("python_asyncio_probe_info", "gauge", "Probe version.")

    def gauge(fn):
        return _gauge_points(fn, end)

    def counter(per_step, reset_at=None):
        return _counter_points(per_step, end, reset_at)

    def histogram(fam, labels, bounds, counts):
        _histogram(fam, labels, bounds, counts,
                   _midpoints_sum(bounds, counts), end)

    reset_at = end - (END - RESET_AT)
    part_from = end - (END - SPIKE_PART_FROM)
    whole_from = end - (END - SPIKE_WHOLE_FROM)

    for name, inst in instances(replicas):
        n = INSTANCES.index(inst)
        base = _base(name)
        histogram(lag, base, LAG_BUCKETS, LAG_COUNTS[inst])
        busy.add(busy.name + "_total", base, counter(
            BUSY_PER_STEP[inst], reset_at if inst == "api-2:8000" else None))
        iters.add(iters.name + "_total", base, counter(1500.0 + 100 * n))
        histogram(block, base, BLOCK_BUCKETS, BLOCK_COUNTS[inst])
        cur.add(cur.name, base, gauge(lambda ts: 0.0))
        for s, per in SITES.get(inst, {}).items():
            lab = dict(base)
            lab["site"] = s
            site.add(site.name + "_total", lab, counter(per))
        ready.add(ready.name, base, gauge(lambda ts, n=n: float(2 + 20 * n)))

        high_from = {"api-2:8000": part_from,
                     "api-3:8000": whole_from}.get(inst, end + 1)
        tasks.add(tasks.name, base, gauge(
            lambda ts, h=high_from: float(TASKS_HIGH if ts >= h
                                          else TASKS_LOW)))
        created.add(created.name + "_total", base, counter(30.0))

        for ex, cap in (("default", 8.0), ("anyio", 40.0)):
            lab = dict(base)
            lab["executor"] = ex
            pend.add(pend.name, lab, gauge(lambda ts, n=n: float(n * 3)))
            bw.add(bw.name, lab, gauge(
                lambda ts, n=n, cap=cap: float(min(cap, 2 + n * 10))))
            mw.add(mw.name, lab, gauge(lambda ts, cap=cap: cap))
            histogram(wait, lab, LAG_BUCKETS, LAG_COUNTS[inst])
        if inst == "api-1:8000":
            lab = dict(base)
            lab["executor"] = NAN_EXECUTOR
            pend.add(pend.name, lab, gauge(lambda ts: math.nan))

        active.add(active.name, base, gauge(
            lambda ts, n=n: float(3 + 10 * n)))
        for code, counts in HTTP_COUNTS[inst].items():
            lab = dict(base)
            lab.update({"http_request_method": "GET",
                        "http_route": "/items",
                        "http_response_status_code": code})
            histogram(http, lab, HTTP_BUCKETS, counts)
        lab = dict(base)
        lab.update({"version": "0.1.0", "loop_implementation": "asyncio"})
        info.add(info.name, lab, gauge(lambda ts: 1.0))

    # a label value needing escapes in PromQL and in the text formats
    ready.add(ready.name, {"job": "odd", "instance": ODD_INSTANCE},
              gauge(lambda ts: ODD_VALUE))

    fams.extend([lag, busy, iters, block, cur, site, ready, tasks, created,
                 pend, bw, mw, wait, active, http, info])
    return fams


def openmetrics_text(end=END, replicas=1):
    """The fixture as OpenMetrics text (timestamps in seconds), ending in
    '# EOF', as promtool's backfill reads it."""
    out = []
    for fam in families(end, replicas):
        out.append("# HELP %s %s" % (fam.name, fam.help))
        out.append("# TYPE %s %s" % (fam.name, fam.type))
        for sample_name, labels, points in fam.samples:
            lab = _fmt_labels(labels)
            for ts, v in points:
                out.append("%s%s %s %d" % (sample_name, lab, _fmt_value(v),
                                           ts))
    out.append("# EOF")
    return "\n".join(out) + "\n"


def prometheus_import_text(end=END, replicas=1):
    """The fixture as Prometheus text format with millisecond timestamps,
    for VictoriaMetrics' /api/v1/import/prometheus."""
    out = []
    for fam in families(end, replicas):
        for sample_name, labels, points in fam.samples:
            lab = _fmt_labels(labels)
            for ts, v in points:
                out.append("%s%s %s %d" % (sample_name, lab, _fmt_value(v),
                                           ts * 1000))
    return "\n".join(out) + "\n"


# ---- independent calculations --------------------------------------------

def series(sample_name, **match):
    """Points of every fixture series named sample_name whose labels
    include match: [(labels, points)]."""
    found = []
    for fam in families():
        for name, labels, points in fam.samples:
            if name != sample_name:
                continue
            if all(labels.get(k) == v for k, v in match.items()):
                found.append((labels, points))
    return found


def _in_window(points, end=END, window=WINDOW):
    return [(ts, v) for ts, v in points if end - window <= ts <= end]


def increase(points, end=END, window=WINDOW):
    """Counter increase over (end-window, end] with resets handled the
    way Prometheus does: a drop means the counter restarted from zero."""
    pts = _in_window(points, end, window)
    total = 0.0
    for (_, a), (_, b) in zip(pts, pts[1:]):
        total += b - a if b >= a else b
    return total


def rate(points, end=END, window=WINDOW):
    """Per-second rate; exact for the fixture, whose samples line up with
    the window's edges (no extrapolation needed)."""
    return increase(points, end, window) / window


def bucket_quantile(q, buckets):
    """Prometheus's histogram_quantile over [(upper_bound, cumulative)]."""
    buckets = sorted(buckets, key=lambda b: b[0])
    total = buckets[-1][1]
    if total == 0:
        return math.nan
    rank = q * total
    prev_bound, prev_count = 0.0, 0.0
    for i, (bound, count) in enumerate(buckets):
        if count >= rank:
            if math.isinf(bound):
                return buckets[-2][0]
            if i == 0 and bound <= 0:
                return bound
            lower = prev_bound if i > 0 else 0.0
            return lower + (bound - lower) * (rank - prev_count) / (
                count - prev_count)
        prev_bound, prev_count = bound, count
    return buckets[-2][0]


def histogram_quantile(q, metric, group_by=("instance",), **match):
    """{group label values: quantile} of rate(metric_bucket[window]) summed
    by group_by + le, as `histogram_quantile(q, sum by (...) (rate(...)))`."""
    groups = {}
    for labels, points in series(metric + "_bucket", **match):
        key = tuple(labels.get(k, "") for k in group_by)
        le = float(labels["le"])
        g = groups.setdefault(key, {})
        g[le] = g.get(le, 0.0) + rate(points)
    return {k: bucket_quantile(q, list(v.items())) for k, v in groups.items()}


def rate_by(sample_name, group_by=("instance",), **match):
    """{group: sum of rate(sample_name[window])}."""
    out = {}
    for labels, points in series(sample_name, **match):
        key = tuple(labels.get(k, "") for k in group_by)
        out[key] = out.get(key, 0.0) + rate(points)
    return out


def over_window(sample_name, fn, group_by=("instance",), end=END,
                window=WINDOW, **match):
    """{group: fn(values in [end-window, end])} over gauge series, fn
    applied per series then max across the group's series."""
    out = {}
    for labels, points in series(sample_name, **match):
        vals = [v for ts, v in _in_window(points, end, window)]
        key = tuple(labels.get(k, "") for k in group_by)
        v = fn(vals)
        out[key] = v if key not in out else max(out[key], v)
    return out
