"""The lab's Prometheus side: lab/prometheus/prometheus.yml scrapes the
instrumented app; the Grafana dashboard and the alerting rules are the
ones `async-auditor rules export` generates from lab/rules.yaml (`make
lab-exports`), every panel's query is its rule's compiled query and
returns data while a scenario runs, the alerts that fire name the
culprit site with humanized values; and `lab/run --prometheus` audits
with --target (HTML report with the same charts as scrape mode).

Grafana itself is not run here (no Grafana in Debian 12); its variables
are substituted the way Grafana would: $job and $instance by their "All"
value, $__rate_interval by four scrape intervals, $__range by the load
window.
"""

import json
import os
import re
import shutil
import subprocess
import sys
import time
import urllib.parse
import urllib.request

import pytest

import lab_helpers as lh

pytestmark = pytest.mark.slow

DASHBOARD = os.path.join(lh.LAB, "grafana", "dashboards",
                         "async-runtime.json")
LOAD_SECONDS = 10
# every endpoint family, so that every panel has something to show
MIX = ("/mixed=8,/blocking/sleep=1,/pool/sync=2,/pool/executor=2,"
       "/fanout=1,/healthy=4")


def panel_queries():
    with open(DASHBOARD) as f:
        dash = json.load(f)
    out = []
    for p in dash["panels"]:
        for t in p.get("targets", []):
            out.append((p["title"], t["refId"], t["expr"],
                        bool(t.get("instant"))))
    return dash, out


def grafana_expand(expr, range_s):
    expr = expr.replace("$__rate_interval", "4s")
    expr = expr.replace("$__range", "%ds" % range_s)
    expr = expr.replace("$__interval", "1s")
    return expr.replace("$instance", ".*").replace("$job", ".*")


def export(fmt):
    res = subprocess.run([lh.auditor_path(), "rules", "export",
                          os.path.join(lh.LAB, "rules.yaml"), "--format",
                          fmt], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, timeout=30)
    assert res.returncode == 0, res.stderr.decode()
    return res.stdout.decode()


def lab_rule_queries(selector=None):
    """{rule id: compiled PromQL} of lab/rules.yaml, as `rules lint -v`
    prints them (window 5m)."""
    argv = [lh.auditor_path(), "rules", "lint",
            os.path.join(lh.LAB, "rules.yaml"), "-v"]
    if selector:
        argv += ["--selector", selector]
    res = subprocess.run(argv, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, timeout=30)
    assert res.returncode == 0, res.stderr.decode()
    out = {}
    for line in res.stderr.decode().splitlines():
        m = re.match(r"^async-auditor: info: ([a-z0-9_]+): (.*)$", line)
        if m:
            out[m.group(1)] = m.group(2)
    assert out, res.stderr.decode()
    return out


def prom_api(base, path, params):
    url = base + path + "?" + urllib.parse.urlencode(params)
    with urllib.request.urlopen(url, timeout=30) as r:
        doc = json.load(r)
    assert doc["status"] == "success", doc
    return doc["data"]


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    for tool in ("wrk", "prometheus"):
        if shutil.which(tool) is None:
            pytest.fail("%s is needed by the lab's Prometheus tests" % tool)
    lab = lh.load_lab_run()
    out = tmp_path_factory.mktemp("lab-prom")
    args = lab.parse_args(["--out", str(out), "--duration",
                           str(LOAD_SECONDS)])
    ctx = {"python": lab.find_python(lh.VENV_PY)}
    try:
        started = time.time()
        lab.start_app(args, ctx)
        lab.start_prometheus(args, ctx)
        lab.wait_scraped(ctx, started)
        sc = lab.Scenario("grafana", "every endpoint", MIX, "CRITICAL")
        start = time.time()
        log = os.path.join(str(out), "wrk.log")
        p = lab.spawn(lab.wrk_argv(args, ctx["app_url"]), log,
                      env=lab.wrk_env(sc, args,
                                      os.path.join(str(out), "wrk.json")))
        lab.finish(p, LOAD_SECONDS + 30, "wrk", log)
        end = time.time()
        time.sleep(2.5)  # the scrape after the load
        yield {"lab": lab, "ctx": ctx, "out": str(out), "start": start,
               "end": end}
    finally:
        lab.stop_all()


def test_dashboard_is_importable_json():
    dash, queries = panel_queries()
    assert dash["uid"] and dash["title"]
    names = {v["name"] for v in dash["templating"]["list"]}
    assert {"datasource", "job", "instance"} <= names
    for p in dash["panels"]:
        if p["type"] != "row":
            assert p["datasource"]["uid"] == "${datasource}", p["title"]
            assert p["targets"], p["title"]
    text = json.dumps(dash)
    rules = lab_rule_queries()
    for metric in ("python_asyncio_loop_lag_seconds",
                   "python_asyncio_loop_busy_seconds_total",
                   "python_asyncio_loop_block_duration_seconds",
                   "python_asyncio_block_site_seconds_total",
                   "python_asyncio_executor_wait_seconds",
                   "python_asyncio_loop_ready_callbacks",
                   "http_server_request_duration_seconds"):
        assert metric in text, metric
    # one panel per rule, plus the culprit sites
    assert len(queries) == len(rules) + 1


def test_dashboard_matches_the_lab_rule_file():
    with open(DASHBOARD) as f:
        checked_in = f.read()
    assert checked_in == export("grafana"), \
        "lab/grafana/dashboards/async-runtime.json is stale: make lab-exports"


def test_panels_are_the_rules_queries():
    """Each rule's panel runs the rule's own query (as `rules lint` and
    --target compile it), with the job/instance variables as selector and
    the window bound to Grafana's rate interval."""
    dash, _ = panel_queries()
    rules = lab_rule_queries('{job=~"$job", instance=~"$instance"}')
    panels = {p["title"]: p for p in dash["panels"] if p["type"] != "row"}
    for rule_id, query in rules.items():
        assert rule_id in panels, rule_id
        expected = query.replace("[5m]", "[$__rate_interval]")
        assert panels[rule_id]["targets"][0]["expr"] == expected
        assert panels[rule_id]["type"] == "timeseries"
    unit = {p: panels[p]["fieldConfig"]["defaults"]["unit"] for p in panels
            if p in rules}
    assert unit["event_loop_starvation"] == "s"       # "> 50ms"
    assert unit["event_loop_blocked"] == "percentunit"  # "> 5%"
    assert unit["callback_backlog"] == "short"        # "> 200"
    steps = panels["event_loop_starvation"]["fieldConfig"]["defaults"][
        "thresholds"]["steps"]
    assert [(s["color"], s["value"]) for s in steps[1:]] == \
        [("orange", 0.05), ("red", 0.25)]
    rows = [p["title"] for p in dash["panels"] if p["type"] == "row"]
    assert rows == ["Event loop", "Queues and tasks",
                    "Executors (thread pools)", "HTTP"]


def test_prometheus_config_is_valid():
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.fail("promtool is needed")
    res = subprocess.run([promtool, "check", "config",
                          os.path.join(lh.LAB, "prometheus",
                                       "prometheus.yml")],
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    assert res.returncode == 0, res.stdout.decode()


def test_alerting_rules_match_the_lab_rule_file():
    with open(os.path.join(lh.LAB, "prometheus", "alerts.yml")) as f:
        checked_in = [l for l in f.read().splitlines()
                      if not l.startswith("#")]
    assert checked_in == export("prometheus").splitlines(), \
        "lab/prometheus/alerts.yml is stale: make lab-exports"


def test_every_panel_query_returns_data(live):
    _, queries = panel_queries()
    base = live["ctx"]["prom_url"]
    range_s = int(live["end"] - live["start"]) + 3
    empty = []
    for title, ref, expr, instant in queries:
        q = grafana_expand(expr, range_s)
        if instant:
            data = prom_api(base, "/api/v1/query",
                            {"query": q, "time": "%.3f" % live["end"]})
            values = [s["value"][1] for s in data["result"]]
        else:
            data = prom_api(base, "/api/v1/query_range",
                            {"query": q, "start": "%.3f" % live["start"],
                             "end": "%.3f" % (live["end"] + 1),
                             "step": "1"})
            values = [v[1] for s in data["result"] for v in s["values"]]
        if not [v for v in values if v not in ("NaN", "+Inf", "-Inf")]:
            empty.append("%s [%s]: %s" % (title, ref, q))
    assert not empty, "panels without data:\n" + "\n".join(empty)


def test_top_sites_panel_names_the_lab_culprits(live):
    _, queries = panel_queries()
    expr = [e for t, _, e, _ in queries if t == "Top blocking sites"][0]
    range_s = int(live["end"] - live["start"]) + 3
    data = prom_api(live["ctx"]["prom_url"], "/api/v1/query",
                    {"query": grafana_expand(expr, range_s),
                     "time": "%.3f" % live["end"]})
    sites = [s["metric"].get("site", "") for s in data["result"]]
    assert any(s.endswith(" load_fx_rates_sync") for s in sites), sites
    assert any(s.endswith(" blocking_sleep") for s in sites), sites


def test_firing_alerts_name_the_culprit(live):
    """The exported alerts, loaded by the lab's Prometheus, fire on what
    the load does to the loop; their annotations show the value humanized
    and name the site Prometheus itself ranks first."""
    base = live["ctx"]["prom_url"]
    deadline = time.time() + 20
    firing = []
    while time.time() < deadline:
        alerts = prom_api(base, "/api/v1/alerts", {})["alerts"]
        firing = [a for a in alerts if a["state"] == "firing" and
                  a["labels"]["alertname"] == "EventLoopStarvation"]
        if firing:
            break
        time.sleep(1)
    assert firing, alerts
    top = prom_api(base, "/api/v1/query", {
        "query": "topk(1, sum by (site) (increase("
                 "python_asyncio_block_site_seconds_total[5m])))"})
    site = top["result"][0]["metric"]["site"]
    assert re.search(r"app\.py:\d+ \w+$", site), site
    duration = r"(\d+(\.\d+)?(ms|s)|\d+m \d+(\.\d+)?s)"
    for a in firing:
        ann = a["annotations"]
        # the p99 lag, humanized as a duration rather than 0.2534...
        assert re.match(r"^Event-loop starvation detected: %s$" % duration,
                        ann["summary"]), ann
        assert "{{" not in ann["description"], ann
        # the probe exports python_asyncio_block_site_info, so the
        # culprit carries the site's one-line remedy too
        m = re.match(r"^(.*) \(%s blocked in the last 5m\); hint: \S.*$"
                     % duration, ann["culprit"])
        assert m, ann
        assert m.group(1) == site, (ann, site)


def test_auditor_target_mode_over_the_load_window(live, tmp_path):
    base = str(tmp_path / "audit")
    res = subprocess.run(
        [lh.auditor_path(), "--config", os.path.join(lh.LAB, "rules.yaml"),
         "--target", live["ctx"]["prom_url"],
         "--start", "%.3f" % live["start"], "--end", "%.3f" % live["end"],
         "--step", "1s", "--no-color", "--json", base + ".json",
         "--html", base + ".html"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=120)
    assert res.returncode == 0, res.stderr.decode()
    with open(base + ".json") as f:
        report = json.load(f)
    assert report["status"] == "CRITICAL", report["status"]
    rules = {r["id"]: r for r in report["rules"]}
    assert rules["event_loop_blocked"]["status"] in ("warning", "critical")
    assert rules["event_loop_blocked"]["query"].startswith("sum(rate(")
    with open(base + ".html") as f:
        page = f.read()
    # the same charts as in scrape mode, from Prometheus's range answers
    assert 'id="no-charts"' not in page
    assert re.search(r'data-chart="event_loop_blocked" data-series="\d+" '
                     r'data-points="[1-9]', page), page
    assert 'class="finding critical"' in page


def test_lab_run_prometheus_mode(tmp_path):
    res = subprocess.run(
        [sys.executable, os.path.join(lh.LAB, "run"), "--prometheus",
         "--scenario", "one-percent", "--duration", "6",
         "--out", str(tmp_path), "--auditor", lh.auditor_path(),
         "--python", lh.VENV_PY],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=180)
    out = res.stdout.decode("utf-8", "replace")
    assert res.returncode == 0, out + res.stderr.decode("utf-8", "replace")
    with open(tmp_path / "summary.json") as f:
        summary = json.load(f)
    assert summary["mode"] == "prometheus"
    row = summary["scenarios"][0]
    assert row["status"] == "CRITICAL", row
    assert re.search(r"app\.py:\d+ load_fx_rates_sync$", row["top_site"])
