"""Scrape mode gives Prometheus's answers (issue 4, "the proof").

(a) Prometheus's own histogram_quantile vectors (histograms.test from
    v2.42.0): each classic-histogram case a structured rule can express is
    turned into a recording plus a rule, replayed with --samples, and the
    value must match to 1e-9 relative.
(b) The real engine: a live exporter (the probe when importable, else a
    synthetic one with the SPEC's metric names) is scraped with
    --save-samples; the recording is backfilled into Debian's prometheus
    with promtool; every stat of the same rules is evaluated both ways and
    must agree to 1e-6 relative, series by series.
"""

import json
import math
import os
import re

import pytest

import _h6_util

REPO = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
HIST_TEST = os.path.join(REPO, "tests", "data", "promql", "histograms.test")


# ---- (a) histograms.test ---------------------------------------------------

def _load_blocks(text):
    """[(name, labels dict, [(t_seconds, value)])] from the load blocks."""
    series = []
    interval = None
    for line in text.splitlines():
        if line.startswith("load "):
            d = line.split()[1]
            assert d.endswith("m")
            interval = int(d[:-1]) * 60
            continue
        if not line[:1] in (" ", "\t"):
            if line and not line.startswith("#"):
                interval = None
            continue
        if interval is None or not line.strip():
            continue
        m = re.match(r"\s*([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+(\S+)$",
                     line)
        assert m, line
        labels = dict(re.findall(r'(\w+)="([^"]*)"', m.group(2) or ""))
        spec = m.group(3)
        head, count = spec.rsplit("x", 1)
        if "+" in head[1:]:
            i = head.index("+", 1)
            start, step = float(head[:i]), float(head[i + 1:])
        else:
            start, step = float(head), 0.0
        pts = [(k * interval, start + k * step)
               for k in range(int(count) + 1)]
        series.append((m.group(1), labels, pts))
    return series


def _recording(series):
    """OpenMetrics text of the series, grouped by family."""
    fams = {}
    for name, labels, pts in series:
        fam = name[:-len("_bucket")]
        fams.setdefault(fam, []).append((name, labels, pts))
    out = []
    for fam, members in fams.items():
        out.append("# TYPE %s histogram" % fam)
        for name, labels, pts in members:
            lab = ",".join('%s="%s"' % kv for kv in sorted(labels.items()))
            for t, v in pts:
                out.append("%s{%s} %r %d.000" % (name, lab, v, t))
    out.append("# EOF")
    return "\n".join(out) + "\n"


def _quantile_stat(q):
    """pNN text for q, or None when a stat cannot express q."""
    if not 0 < q < 1:
        return None
    # at most 15 characters of stat text (rules.h: stat_text[16])
    text = ("%.11f" % (q * 100)).rstrip("0").rstrip(".")
    text = text[:14]
    return "p" + text


def _eval_cases(text):
    """(t_seconds, window_seconds, q, metric, by, expected {labels: v})."""
    cases = []
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        m = re.match(r"eval instant at (\d+)m histogram_quantile\(([^,]+), "
                     r"(.*)\)$", lines[i])
        i += 1
        if not m:
            continue
        expected = {}
        while i < len(lines) and lines[i][:1] in (" ", "\t") and \
                lines[i].strip():
            lm = re.match(r"\s*\{([^}]*)\}\s+(\S+)", lines[i])
            labels = tuple(sorted(re.findall(r'(\w+)="([^"]*)"',
                                             lm.group(1))))
            expected[labels] = float(lm.group(2))
            i += 1
        qtext = m.group(2)
        if qtext == "NaN":
            continue
        if "/" in qtext:
            a, b = qtext.split("/")
            q = float(a) / float(b)
        else:
            q = float(qtext)
        expr = m.group(3)
        rm = re.match(r"rate\((\w+)_bucket\[(\d+)m\]\)$", expr)
        sm = re.match(r"sum\(rate\((\w+)_bucket\[(\d+)m\]\)\) by "
                      r"\(le(?:, ([\w, ]+))?\)$", expr)
        if rm:
            metric, w = rm.group(1), int(rm.group(2))
            # no aggregation: every label but le is a group label
            by = sorted({k for k, _ in
                         (kv for lab in expected for kv in lab)})
        elif sm:
            metric, w = sm.group(1), int(sm.group(2))
            by = [b.strip() for b in (sm.group(3) or "").split(",")
                  if b.strip()]
        else:
            continue
        if _quantile_stat(q) is None:
            continue
        cases.append((int(m.group(1)) * 60, w * 60, q, metric, by, expected))
    return cases


def test_histograms_vectors_through_samples(tmp_path, run_auditor):
    text = open(HIST_TEST).read()
    rec = tmp_path / "hist.om"
    rec.write_text(_recording(_load_blocks(text)))
    cases = _eval_cases(text)
    assert len(cases) >= 18, "histograms.test cases not found"
    groups = {}
    for c in cases:
        groups.setdefault((c[0], c[1]), []).append(c)
    checked = 0
    for (t, w), members in sorted(groups.items()):
        rules = ["version: 1", "rules:"]
        for k, (_, _, q, metric, by, _) in enumerate(members):
            rules += ["  - id: case_%d" % k,
                      "    finding: case %d" % k,
                      "    metric: %s" % metric,
                      "    stat: %s" % _quantile_stat(q),
                      "    by: [%s]" % ", ".join(by),
                      '    warning: "> 1000000"',
                      "    no_data: ok"]
        rf = tmp_path / ("rules_%d_%d.yaml" % (t, w))
        rf.write_text("\n".join(rules) + "\n")
        res = run_auditor("--config", rf, "--samples", rec, "--start",
                          str(t - w), "--end", str(t), "--format", "json")
        assert res.returncode == 0, res
        doc = res.json()
        for k, (_, _, q, metric, by, expected) in enumerate(members):
            rr = doc["rules"][k]
            got = {tuple(sorted(s["labels"].items())): s["value"]
                   for s in rr["series"]}
            assert set(got) == set(expected), (metric, q, by, rr)
            for labels, want in expected.items():
                v = got[labels]
                if math.isnan(want):
                    assert v is None or math.isnan(v), (metric, q, rr)
                else:
                    assert v is not None and _h6_util.rel_close(
                        v, want, 1e-9), (metric, q, labels, v, want)
                checked += 1
    assert checked >= 30


# ---- (b) the real engine ----------------------------------------------------

EQUIV_RULES = """
version: 1
rules:
  - {id: lag_p50, finding: f, metric: python_asyncio_loop_lag_seconds, stat: p50, warning: "> 10ms"}
  - {id: lag_p90, finding: f, metric: python_asyncio_loop_lag_seconds, stat: p90, warning: "> 10ms"}
  - {id: lag_p99, finding: f, metric: python_asyncio_loop_lag_seconds, stat: p99, by: [loop], warning: "> 10ms"}
  - {id: lag_avg, finding: f, metric: python_asyncio_loop_lag_seconds, stat: avg, warning: "> 10ms"}
  - {id: lag_rate, finding: f, metric: python_asyncio_loop_lag_seconds, stat: rate, warning: "> 1"}
  - {id: lag_sum_rate, finding: f, metric: python_asyncio_loop_lag_seconds, stat: sum_rate, warning: "> 1"}
  - {id: busy_rate, finding: f, metric: python_asyncio_loop_busy_seconds_total, stat: rate, warning: "> 0.5"}
  - {id: busy_increase, finding: f, metric: python_asyncio_loop_busy_seconds_total, stat: increase, warning: "> 1"}
  - {id: tasks_created_rate, finding: f, metric: python_asyncio_tasks_created_total, stat: rate, warning: "> 1"}
  - {id: tasks_created_increase, finding: f, metric: python_asyncio_tasks_created_total, stat: increase, warning: "> 1"}
  - {id: block_max, finding: f, metric: python_asyncio_loop_current_block_seconds, stat: max, warning: "> 50ms"}
  - {id: block_min, finding: f, metric: python_asyncio_loop_current_block_seconds, stat: min, warning: "> 50ms"}
  - {id: block_avg, finding: f, metric: python_asyncio_loop_current_block_seconds, stat: avg, warning: "> 50ms"}
  - {id: block_last, finding: f, metric: python_asyncio_loop_current_block_seconds, stat: last, warning: "> 50ms"}
  - {id: ready_delta, finding: f, metric: python_asyncio_loop_ready_callbacks, stat: delta, warning: "> 5"}
  - {id: ready_slope, finding: f, metric: python_asyncio_loop_ready_callbacks, stat: slope, warning: "> 1"}
  - {id: pending_max_by, finding: f, metric: python_asyncio_executor_pending, stat: max, by: [executor], warning: "> 3"}
  - {id: pending_where, finding: f, metric: python_asyncio_executor_pending, stat: avg, where: '{executor=~"any.*"}', warning: "> 3"}
  - {id: http_p95_by_route, finding: f, metric: http_server_request_duration_seconds, stat: p95, by: [http_route], warning: "> 50ms"}
  - {id: http_rate_5xx, finding: f, metric: http_server_request_duration_seconds, stat: rate, where: '{http_response_status_code!~"2.."}', warning: "> 1", no_data: ok}
  - {id: lag_p99_for, finding: f, metric: python_asyncio_loop_lag_seconds, stat: p99, warning: "> 1ms", for: 4s}
"""


def _compare(local, prom, rel):
    assert len(local["rules"]) == len(prom["rules"])
    compared = 0
    for lr, pr in zip(local["rules"], prom["rules"]):
        assert lr["id"] == pr["id"]
        assert lr["status"] == pr["status"], (lr, pr)
        assert _h6_util.rel_close(lr["value"], pr["value"], rel), (lr, pr)
        ls = {json.dumps(s["labels"], sort_keys=True): s["value"]
              for s in lr["series"]}
        ps = {json.dumps(s["labels"], sort_keys=True): s["value"]
              for s in pr["series"]}
        assert set(ls) == set(ps), (lr["id"], ls, ps)
        for k in ls:
            assert _h6_util.rel_close(ls[k], ps[k], rel), (lr["id"], k,
                                                            ls[k], ps[k])
            compared += 1
    return compared


def test_local_equals_prometheus(tmp_path, run_auditor, rules_file,
                                 prometheus_server):
    rules = rules_file(EQUIV_RULES)
    rec = tmp_path / "scraped.om"
    use_probe = _h6_util.probe_available()
    if use_probe:
        try:
            exporter = _h6_util.ProbeService(seconds=60)
        except RuntimeError:
            use_probe = False
    if not use_probe:
        exporter = _h6_util.SyntheticExporter()
    try:
        scrape = run_auditor("--config", rules, "--scrape", exporter.url,
                             "--duration", "15s", "--interval", "1s",
                             "--save-samples", rec, "--format", "json",
                             timeout=90)
    finally:
        exporter.close()
    assert scrape.returncode in (0, 1, 2), scrape
    doc = scrape.json()
    # the RFC 3339 forms carry the milliseconds exactly
    start = doc["window"]["start"]
    end = doc["window"]["end"]
    text = rec.read_text()
    assert text.endswith("# EOF\n")

    local = run_auditor("--config", rules, "--samples", rec, "--start",
                        start, "--end", end, "--step", "1s", "--format",
                        "json")
    assert local.returncode in (0, 1, 2), local
    # replaying the recording gives what the live scrape gave
    assert _compare(scrape.json(), local.json(), 1e-9) > 0

    prom = prometheus_server(text)
    remote = run_auditor("--config", rules, "--target", prom.url, "--start",
                         start, "--end", end, "--step", "1s", "--format",
                         "json")
    assert remote.returncode in (0, 1, 2), remote
    compared = _compare(local.json(), remote.json(), 1e-6)
    assert compared >= 20
    # every stat of the table was exercised with a value
    stats = {r["stat"] for r in local.json()["rules"]
             if r["value"] is not None}
    assert {"p50", "p90", "p99", "p95", "avg", "rate", "sum_rate",
            "increase", "max", "min", "last", "delta",
            "slope"} <= stats, stats
