"""The HTML report's charts in Prometheus mode (issue 11 item 6): against
Debian's Prometheus holding the fixture hour, every rule gets an SVG chart
of its value over the window, drawn from the range answers; replaying the
same hour with --samples draws the same charts (one drawing path, the same
steps, the same groups and points).

Expected counts come from the fixture and the documented step (docs/cli.md
"Charts"): a 5m window at 300 s / 240 rounded up to 2 s is 151 steps, each
with a value for every instance the fixture has.
"""

import re

import metrics_fixtures as mf

WINDOW_ARGS = ["--start", str(mf.WINDOW_START), "--end", str(mf.END)]
STEPS = 300 // 2 + 1

RULES = """\
version: 1
window: 5m
rules:
  - id: lag_p99
    finding: Event-loop starvation
    metric: python_asyncio_loop_lag_seconds
    stat: p99
    by: [instance]
    warning: "> 50ms"
    critical: "> 250ms"
  - id: lag_share
    finding: Loop late past 250 ms
    metric: python_asyncio_loop_lag_seconds
    stat: share_above(250ms)
    by: [instance]
    warning: "> 5%"
  - id: utilization
    finding: Loop busy
    metric: python_asyncio_loop_busy_seconds_total
    stat: rate
    by: [instance]
    warning: "> 70%"
  - id: http_5xx
    finding: Too many 5xx
    query: 'sum(rate(http_server_request_duration_seconds_count{http_response_status_code=~"5.."}[$window]))'
    critical: "> 1"
"""

FIGURE = re.compile(r'<figure class="chart" id="chart-([a-z0-9_]+)" '
                    r'data-chart="[a-z0-9_]+" data-series="(\d+)" '
                    r'data-points="(\d+)">(.*?)</figure>', re.S)


def _charts(page):
    """{rule id: (series, points, [path d...])} of the report's charts."""
    out = {}
    for rid, series, points, body in FIGURE.findall(page):
        paths = re.findall(r'<path class="series"[^>]* d="([^"]*)"', body)
        out[rid] = (int(series), int(points), paths)
    return out


def test_prometheus_mode_draws_a_chart_per_rule(run_auditor, rules_file,
                                                tmp_path, prometheus_server):
    prom = prometheus_server()
    rules = rules_file(RULES)
    page = tmp_path / "prom.html"
    res = run_auditor("--config", rules, "--target", prom.url, *WINDOW_ARGS,
                      "--html", str(page))
    assert res.returncode == 0, res
    text = page.read_text()
    assert 'id="no-charts"' not in text
    charts = _charts(text)
    assert set(charts) == {"lag_p99", "lag_share", "utilization",
                           "http_5xx"}, charts.keys()
    n = len(mf.INSTANCES)
    for rid in ("lag_p99", "lag_share", "utilization"):
        series, points, paths = charts[rid]
        # one line per instance, a value at every step
        assert series == n, (rid, series)
        assert points == n * STEPS, (rid, points)
        assert len(paths) == n
        for d in paths:
            assert d.startswith("M") and d.count("L") == STEPS - 1, (rid, d)
    series, points, paths = charts["http_5xx"]
    assert (series, points) == (1, STEPS), charts["http_5xx"]
    # the thresholds are drawn with the lines
    assert 'class="threshold critical"' in text
    assert "3 of 4 charts have data" not in text
    assert 'data-drawn="4">4 of 4 charts have data.' in text

    # the same hour replayed locally: the same charts from the same model
    # (the raw query is not charted there, and says why)
    rec = tmp_path / "hour.om"
    rec.write_text(mf.openmetrics_text())
    local_page = tmp_path / "local.html"
    res = run_auditor("--config", rules, "--samples", str(rec), *WINDOW_ARGS,
                      "--html", str(local_page))
    assert res.returncode == 0, res
    local_text = local_page.read_text()
    local = _charts(local_text)
    for rid in ("lag_p99", "lag_share", "utilization"):
        assert local[rid][:2] == charts[rid][:2], (rid, local[rid][:2],
                                                   charts[rid][:2])
        # the same points, to the tenth of a pixel in the SVG
        assert sorted(local[rid][2]) == sorted(charts[rid][2]), rid
    assert "not charted: raw PromQL needs a Prometheus backend" in local_text
