"""Scrape mode gives Prometheus's answers (issue 4, "the proof").

(a) Prometheus's own histogram_quantile vectors (histograms.test from
    v2.42.0), read by the one reader of the .test format shared with the
    C tests (tests/unit/promql_test_runner.c): the recording of its load
    blocks is replayed with --samples, each classic-histogram case a
    structured rule can express becomes a rule.  The auditor reports a
    quantile by the bucket that holds it (docs/rules.md "Quantiles"): the
    file's value must lie in that bucket, and the auditor's is the
    bucket's geometric midpoint when the bucket is narrow, else the file's
    own to 1e-9 relative.
(b) The real engine: a live exporter (the probe when importable, else a
    synthetic one with the contract's metric names) is scraped with
    --save-samples; the recording is backfilled into Debian's prometheus
    with promtool; every stat of the same rules is evaluated both ways and
    must agree to 1e-6 relative, series by series.
"""

import json
import math
import os
import subprocess

import pytest

import _h6_util

REPO = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
HIST_TEST = os.path.join(REPO, "tests", "data", "promql", "histograms.test")


# ---- (a) histograms.test ---------------------------------------------------

def _runner(auditor):
    """The .test reader (tests/unit/promql_test_runner.c), built next to
    the auditor: $AA_PROMQL_TEST_RUNNER, else <build>/tests/unit/ of the
    auditor's build directory."""
    path = os.environ.get("AA_PROMQL_TEST_RUNNER") or os.path.join(
        os.path.dirname(os.path.dirname(os.path.dirname(
            os.path.abspath(auditor)))), "tests", "unit", "promql_test_runner")
    if not os.access(path, os.X_OK):
        pytest.fail("%s is missing: build the tests (meson -Dtests=true) or "
                    "set AA_PROMQL_TEST_RUNNER" % path)
    return path


def _run_runner(runner, *args):
    res = subprocess.run([runner] + list(args), capture_output=True,
                         text=True, timeout=60)
    assert res.returncode == 0, res.stderr
    return res.stdout


def _value(v):
    """A runner value: a number, or "NaN" / "+Inf" / "-Inf"."""
    return float(v) if isinstance(v, str) else v


def _quantile_stat(q):
    """pNN text for q, or None when a stat cannot express q."""
    if not 0 < q < 1:
        return None
    # at most 15 characters of stat text (rules.h: stat_text[16])
    text = ("%.11f" % (q * 100)).rstrip("0").rstrip(".")
    text = text[:14]
    return "p" + text


def _eval_cases(runner):
    """(t_seconds, window_seconds, q, metric, by, expected {labels: v}) of
    the file's rate and sum-by-le-of-rate cases, as the runner read them
    (the raw-bucket ones need an instant selector, which no rule has)."""
    cases = []
    for line in _run_runner(runner, "--json", HIST_TEST).splitlines():
        c = json.loads(line)
        q = _value(c["q"])
        if c["kind"] not in ("rate", "sum_rate") or math.isnan(q) or \
                _quantile_stat(q) is None:
            continue
        expected = {tuple(sorted(e["labels"].items())): _value(e["value"])
                    for e in c["expected"]}
        cases.append((c["t_ms"] // 1000, c["window_ms"] // 1000, q,
                      c["metric"], c["by"], expected))
    return cases


def _is_estimate(bound):
    """Whether a value with this bound is its bucket's midpoint: a finite
    bucket (a, b] with 0 < a and b / a <= 1.25."""
    lo, hi = bound["lower"], bound["upper"]
    return (not isinstance(hi, str) and not isinstance(lo, str) and lo > 0
            and hi / lo <= 1.25)


def _check_quantile(series, want, where):
    """The documented relation between the auditor's quantile and
    histogram_quantile's value want over the same bucket rates."""
    v, bound = series["value"], series["value_bound"]
    assert v is not None and bound is not None, (where, series)
    lo = -math.inf if bound["lower"] == "-Inf" else bound["lower"]
    hi = math.inf if bound["upper"] == "+Inf" else bound["upper"]
    # Prometheus's interpolation lies in the bucket the auditor names
    assert lo - 1e-12 <= want <= hi + 1e-12, (where, series, want)
    if _is_estimate(bound):
        assert _h6_util.rel_close(v, math.sqrt(lo * hi), 1e-12), \
            (where, series)
    else:
        assert _h6_util.rel_close(v, want, 1e-9), (where, series, want)
        # never above the largest finite bound
        assert v <= hi, (where, series)


def test_histograms_vectors_through_samples(tmp_path, run_auditor, auditor):
    runner = _runner(auditor)
    rec = tmp_path / "hist.om"
    rec.write_text(_run_runner(runner, "--openmetrics", HIST_TEST))
    cases = _eval_cases(runner)
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
            got = {tuple(sorted(s["labels"].items())): s
                   for s in rr["series"]}
            assert set(got) == set(expected), (metric, q, by, rr)
            for labels, want in expected.items():
                s = got[labels]
                if math.isnan(want):
                    assert s["value"] is None, (metric, q, rr)
                else:
                    _check_quantile(s, want, (metric, q, labels))
                checked += 1
    assert checked >= 30


# ---- (b) the real engine ----------------------------------------------------

LAG = "python_asyncio_loop_lag_seconds"
BUSY = "python_asyncio_loop_busy_seconds_total"
CREATED = "python_asyncio_tasks_created_total"
BLOCK = "python_asyncio_loop_current_block_seconds"
READY = "python_asyncio_loop_ready_callbacks"
PENDING = "python_asyncio_executor_pending"
HTTP = "http_server_request_duration_seconds"

# (id, metric, stat, extra keys): every stat of the table, with by,
# where and for.
EQUIV = [
    ("lag_p50", LAG, "p50", ""),
    ("lag_p90", LAG, "p90", ""),
    ("lag_p99", LAG, "p99", "by: [loop]"),
    ("lag_avg", LAG, "avg", ""),
    ("lag_rate", LAG, "rate", ""),
    ("lag_sum_rate", LAG, "sum_rate", ""),
    ("busy_rate", BUSY, "rate", ""),
    ("busy_increase", BUSY, "increase", ""),
    ("tasks_created_rate", CREATED, "rate", ""),
    ("tasks_created_increase", CREATED, "increase", ""),
    ("block_max", BLOCK, "max", ""),
    ("block_min", BLOCK, "min", ""),
    ("block_avg", BLOCK, "avg", ""),
    ("block_last", BLOCK, "last", ""),
    ("ready_delta", READY, "delta", ""),
    ("ready_slope", READY, "slope", ""),
    ("pending_max_by", PENDING, "max", "by: [executor]"),
    ("pending_where", PENDING, "avg", "where: '{executor=~\"any.*\"}'"),
    ("http_p95_by_route", HTTP, "p95", "by: [http_route]"),
    ("http_rate_5xx", HTTP, "rate",
     "where: '{http_response_status_code!~\"2..\"}', no_data: ok"),
    ("lag_p99_for", LAG, "p99", "for: 4s"),
    # 250 ms is a bound of the synthetic lag buckets and of the probe's
    ("lag_share_above", LAG, "share_above(250ms)", "by: [loop]"),
]
EQUIV_RULES = "version: 1\nrules:\n" + "".join(
    '  - {id: %s, finding: f, metric: %s, stat: %s, warning: "> 0.001"%s}\n'
    % (rid, metric, stat, ", " + extra if extra else "")
    for rid, metric, stat, extra in EQUIV)


def _same_bound(a, b, rel):
    """Two value_bound objects (or nulls) agree: the same bucket."""
    if a is None or b is None:
        return a is b
    return all(a[k] == b[k] or _h6_util.rel_close(a[k], b[k], rel)
               for k in ("lower", "upper"))


def _compare(local, prom, rel):
    assert len(local["rules"]) == len(prom["rules"])
    compared = 0
    for lr, pr in zip(local["rules"], prom["rules"]):
        assert lr["id"] == pr["id"]
        assert lr["status"] == pr["status"], (lr, pr)
        assert _h6_util.rel_close(lr["value"], pr["value"], rel), (lr, pr)
        assert _same_bound(lr["value_bound"], pr["value_bound"], rel), \
            (lr, pr)
        ls = {json.dumps(s["labels"], sort_keys=True): s
              for s in lr["series"]}
        ps = {json.dumps(s["labels"], sort_keys=True): s
              for s in pr["series"]}
        assert set(ls) == set(ps), (lr["id"], ls, ps)
        for k in ls:
            assert _h6_util.rel_close(ls[k]["value"], ps[k]["value"], rel), \
                (lr["id"], k, ls[k], ps[k])
            assert _same_bound(ls[k]["value_bound"], ps[k]["value_bound"],
                               rel), (lr["id"], k, ls[k], ps[k])
            compared += 1
    return compared


@pytest.mark.parametrize("source", ["probe", "synthetic"])
def test_local_equals_prometheus(source, tmp_path, run_auditor, rules_file,
                                 prometheus_server):
    """source: the real probe in an asyncio service (skipped when
    async_auditor is not installed), or the synthetic exporter, which adds
    a counter reset and label values that need escaping."""
    rules = rules_file(EQUIV_RULES)
    rec = tmp_path / "scraped.om"
    if source == "probe":
        if not _h6_util.probe_available():
            pytest.skip("async_auditor (the probe) is not installed")
        exporter = _h6_util.ProbeService(seconds=60)
    else:
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
            "increase", "max", "min", "last", "delta", "slope",
            "share_above(250ms)"} <= stats, stats


# ---- scrape-mode behaviour -------------------------------------------------

SIMPLE_RULES = """
version: 1
rules:
  - id: busy
    finding: Loop busy
    metric: python_asyncio_loop_busy_seconds_total
    stat: rate
    warning: "> 100"
"""


@pytest.fixture
def exporter():
    e = _h6_util.SyntheticExporter()
    yield e
    e.close()


def test_command_failure_is_exit_4_unless_the_gate_fails(
        run_auditor, rules_file, exporter):
    rules = rules_file(SIMPLE_RULES)
    res = run_auditor("--config", rules, "--scrape", exporter.url,
                      "--interval", "200ms", "--fail-on-critical", "--",
                      "sh", "-c", "echo from-the-command; sleep 1; exit 3")
    assert res.returncode == 4, res
    assert "from-the-command" in res.stdout
    assert "command sh: exited with status 3" in res.stderr
    assert "Runtime Status: HEALTHY" in res.stdout
    ok = run_auditor("--config", rules, "--scrape", exporter.url,
                     "--interval", "200ms", "--fail-on-critical", "--",
                     "sh", "-c", "sleep 1")
    assert ok.returncode == 0, ok
    # the gate's own failure wins over the command's
    strict = rules_file(SIMPLE_RULES.replace("> 100", "> 0"), "strict.yaml")
    res = run_auditor("--config", strict, "--scrape", exporter.url,
                      "--interval", "200ms", "--fail-on-warning", "--",
                      "sh", "-c", "sleep 1; exit 1")
    assert res.returncode == 1, res
    missing = run_auditor("--config", rules, "--scrape", exporter.url, "--",
                          "/nonexistent/load-test")
    assert missing.returncode == 4, missing
    assert "cannot run /nonexistent/load-test" in missing.stderr


def test_signals_are_forwarded_to_the_command(auditor, rules_file, exporter):
    import signal
    import subprocess
    import time
    rules = rules_file(SIMPLE_RULES)
    p = subprocess.Popen([auditor, "--config", rules, "--scrape",
                          exporter.url, "--interval", "200ms", "--",
                          "sleep", "30"], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    try:
        time.sleep(1.5)
        p.send_signal(signal.SIGTERM)
        out, err = p.communicate(timeout=20)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait(timeout=10)
    assert p.returncode == 4, (out, err)
    assert "killed by signal 15" in err
    assert "ASYNC RUNTIME AUDITOR" in out


IGNORES_TERM = ("import signal, sys, time\n"
                "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
                "print('ready', flush=True)\n"
                "time.sleep(120)\n")


def test_a_command_ignoring_sigterm_cannot_hang_the_auditor(
        auditor, rules_file, exporter):
    import signal
    import subprocess
    import sys
    import time
    rules = rules_file(SIMPLE_RULES)
    p = subprocess.Popen([auditor, "--config", rules, "--scrape",
                          exporter.url, "--interval", "200ms", "--",
                          sys.executable, "-c", IGNORES_TERM],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True)
    try:
        assert p.stdout.readline() == "ready\n"
        time.sleep(0.5)
        p.send_signal(signal.SIGTERM)
        # the auditor's grace is 5 s; 60 s only bounds a broken build
        out, err = p.communicate(timeout=60)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait(timeout=10)
    assert p.returncode == 4, (out, err)
    assert "still running 5 s after the signal: killing it" in err
    assert "killed by signal 9" in err
    assert "ASYNC RUNTIME AUDITOR" in out


def test_exposed_target_labels_are_kept(run_auditor, rules_file, tmp_path):
    """A series that exposes job or instance itself keeps them, as
    Prometheus keeps them with honor_labels: true; its other labels, an
    exported_instance among them, stay as they are (docs/scrape-mode.md
    "Labels")."""
    body = (b'# TYPE g gauge\n'
            b'g{instance="a",exported_instance="b",job="j",other=""} 1\n')
    e = _h6_util.SyntheticExporter(fixed=body)
    rec = tmp_path / "clash.om"
    try:
        res = run_auditor("--config", rules_file(SIMPLE_RULES), "--scrape",
                          e.url, "--duration", "1s", "--interval", "500ms",
                          "--save-samples", rec)
    finally:
        e.close()
    assert res.returncode == 0, res
    lines = [ln for ln in rec.read_text().splitlines()
             if ln.startswith("g{")]
    assert lines, rec.read_text()
    host = e.url.split("/")[2]
    for ln in lines:
        labels = ln[:ln.index("}") + 1]
        assert labels == 'g{exported_instance="b",instance="a",job="j"}', ln
    # the scrape's own series gets the scrape's labels: job async-auditor,
    # the target's host:port
    ups = [ln for ln in rec.read_text().splitlines()
           if ln.startswith("up{")]
    assert ups and all(ln.startswith('up{instance="%s",job="async-auditor"}'
                                     % host) for ln in ups), ups


def test_scrape_urls_with_credentials_are_never_printed(run_auditor,
                                                       rules_file, exporter):
    import aa_servers
    good = exporter.url.replace("://", "://user:hunter2@")
    bad = aa_servers.closed_port_url().replace("://", "://user:hunter2@")
    for url, code in ((good, 0), (bad + "/metrics", 3)):
        res = run_auditor("-v", "--config", rules_file(SIMPLE_RULES),
                          "--scrape", url, "--duration", "1s",
                          "--interval", "500ms", "--format", "json")
        assert res.returncode == code, res
        assert "hunter2" not in res.stdout + res.stderr, res
        assert "127.0.0.1" in res.json()["target"]


def test_scrape_access_options_match_check_mode(run_auditor, rules_file,
                                                exporter, tmp_path):
    rules = rules_file(SIMPLE_RULES)
    res = run_auditor("--config", rules, "--scrape", exporter.url,
                      "--duration", "1s", "--interval", "500ms",
                      env={"ASYNC_AUDITOR_BEARER_TOKEN": "tok123"})
    assert res.returncode == 0, res
    assert exporter.state.auth == "Bearer tok123"
    res = run_auditor("--config", rules, "--scrape", exporter.url,
                      "--duration", "1s", "--basic-auth-user", "u")
    assert res.returncode == 64, res
    assert "--basic-auth-user u: no password" in res.stderr
    big = tmp_path / "token"
    big.write_text("x" * 70000)
    res = run_auditor("--config", rules, "--scrape", exporter.url,
                      "--duration", "1s", "--bearer-token-file", big)
    assert res.returncode == 64, res
    assert "larger than" in res.stderr and "x" * 20 not in res.stderr


def test_every_scrape_failing_is_incomplete(run_auditor, rules_file):
    import aa_servers
    url = aa_servers.closed_port_url() + "/metrics"
    res = run_auditor("--config", rules_file(SIMPLE_RULES), "--scrape", url,
                      "--duration", "1s", "--interval", "500ms",
                      "--format", "json")
    assert res.returncode == 3, res
    assert "every scrape failed" in res.stderr
    doc = res.json()
    assert doc["scrapes"] == {"ok": 0, "failed": 3}


def test_malformed_exposition_fails_that_scrape(run_auditor, rules_file):
    bad = _h6_util.SyntheticExporter(
        fixed=b'python_asyncio_tasks{loop="main"} 1\n'
              b'python_asyncio_tasks{loop="x} 2\n')
    try:
        res = run_auditor("--config", rules_file(SIMPLE_RULES), "--scrape",
                          bad.url, "--duration", "1s", "--interval",
                          "500ms")
    finally:
        bad.close()
    assert res.returncode == 3, res
    assert "malformed exposition: line 2, column 27: label value not " \
           "terminated" in res.stderr


def test_nothing_of_a_malformed_scrape_is_kept(run_auditor, rules_file,
                                               tmp_path):
    """Prometheus rolls a failed scrape back: the lines before the error
    are not stored either."""
    bad = _h6_util.SyntheticExporter(
        fixed=b'# TYPE g gauge\ng{a="1"} 5\ng{a="x} 2\n')
    rec = tmp_path / "bad.om"
    try:
        res = run_auditor("--config", rules_file(SIMPLE_RULES), "--scrape",
                          bad.url, "--duration", "1s", "--interval",
                          "500ms", "--save-samples", rec)
    finally:
        bad.close()
    assert res.returncode == 3, res
    text = rec.read_text()
    assert not [ln for ln in text.splitlines() if ln.startswith("g{")], text
    assert "up{" in text and text.endswith("# EOF\n")


def test_raw_rules_and_replay_errors(run_auditor, rules_file, tmp_path):
    rules = rules_file(SIMPLE_RULES + """
  - {id: custom_promql, finding: raw, query: 'sum(up)', critical: "> 1"}
""")
    rec = tmp_path / "r.om"
    rec.write_text("# TYPE python_asyncio_loop_busy_seconds counter\n"
                   "python_asyncio_loop_busy_seconds_total 1 100.000\n"
                   "python_asyncio_loop_busy_seconds_total 3 110.000\n"
                   "# EOF\n")
    res = run_auditor("--config", rules, "--samples", rec, "--format",
                      "json")
    doc = res.json()
    assert doc["rules"][0]["value"] == pytest.approx(0.2)
    raw = doc["rules"][1]
    assert raw["status"] == "error"
    assert raw["message"].startswith("rule custom_promql: raw PromQL "
                                     "queries need a Prometheus backend")
    bad = tmp_path / "bad.om"
    bad.write_text("# TYPE x gauge\nx 1 100\nx 2\n# EOF\n")
    res = run_auditor("--config", rules, "--samples", bad)
    assert res.returncode == 78, res
    assert "bad.om:3" in res.stderr and "no timestamp" in res.stderr
    res = run_auditor("--config", rules, "--samples", tmp_path / "nope.om")
    assert res.returncode == 64, res
    assert "nope.om" in res.stderr


def test_save_samples_loads_into_promtool(run_auditor, rules_file, exporter,
                                          tmp_path):
    import subprocess
    rec = tmp_path / "s.om"
    res = run_auditor("--config", rules_file(SIMPLE_RULES), "--scrape",
                      exporter.url, "--duration", "2s", "--interval",
                      "500ms", "--save-samples", rec)
    assert res.returncode == 0, res
    text = rec.read_text()
    assert text.endswith("# EOF\n")
    assert "# TYPE python_asyncio_loop_busy_seconds counter\n" in text
    assert 'job="async-auditor"' in text
    # label values needing escapes survive
    assert 'site="app.py:12 handler \\"q\\" \\\\ x"' in text
    out = subprocess.run(["promtool", "tsdb", "create-blocks-from",
                          "openmetrics", str(rec), str(tmp_path / "data")],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stdout + out.stderr
    os.makedirs(str(tmp_path / "data" / "wal"), exist_ok=True)
    dump = subprocess.run(["promtool", "tsdb", "dump", str(tmp_path /
                                                          "data")],
                          capture_output=True, text=True, timeout=120)
    n_file = sum(1 for ln in text.splitlines() if not ln.startswith("#"))
    n_dump = sum(1 for ln in dump.stdout.splitlines() if ln.strip())
    assert n_dump == n_file
