"""`rules export` semantics: the exported alerts of the default pack fire
on the data they should and carry the right labels and annotations, as
`promtool test rules` evaluates them: values humanized in the rule's unit
and, for event-loop rules, a `culprit` annotation naming the top blocking
site of the alert's own series (Prometheus runs the annotation's `query`
template); and awkward rule files (quotes, backslashes, percent signs,
newlines, template braces, raw queries ending in a comment, no_data
alerts) still export to rules promtool accepts and evaluates.

Why this exists: `promtool check rules` only proves the YAML and PromQL
parse; this proves the thresholds, the grouping and the annotation
templates survive the export.  Gauge and counter values are chosen so
that Prometheus computes them exactly, because promtool compares
annotations (which show the value) as strings.
"""

import os
import shutil
import subprocess

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
DEFAULT_PACK = os.path.join(REPO, "rules", "default.yaml")

pytestmark = pytest.mark.skipif(shutil.which("promtool") is None,
                                reason="promtool is not installed")

UNIT_TEST = """\
rule_files:
  - alerts.yml
evaluation_interval: 15s
tests:
  - interval: 15s
    input_series:
      - series: 'http_server_request_duration_seconds_count{instance="a",http_response_status_code="500"}'
        values: '0+30x40'
      - series: 'http_server_request_duration_seconds_count{instance="a",http_response_status_code="200"}'
        values: '0+300x40'
      - series: 'python_asyncio_loop_ready_callbacks{instance="a",loop="main"}'
        values: '5 5 5 2000 5 5 5 5 5 5 5 5 5 5 5 5 5 5 5 5'
      - series: 'python_asyncio_loop_ready_callbacks{instance="b",loop="main"}'
        values: '5 5 5 1500 5 5 5 5 5 5 5 5 5 5 5 5 5 5 5 5'
      # blocked seconds per site: on instance a, slow_handler is the top
      # site (+0.5 s per 15 s: 8 s by 4m); instance b has none
      - series: 'python_asyncio_block_site_seconds_total{instance="a",loop="main",site="app.py:12 slow_handler"}'
        values: '0+0.5x40'
      - series: 'python_asyncio_block_site_seconds_total{instance="a",loop="main",site="app.py:40 parse"}'
        values: '0+0.25x40'
      - series: 'python_asyncio_block_site_seconds_total{instance="c",loop="main",site="app.py:99 elsewhere"}'
        values: '0+1x40'
      - series: 'python_asyncio_executor_pending{instance="a",executor="anyio"}'
        values: '0 0 0 50 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0'
      - series: 'python_asyncio_executor_pending{instance="a",executor="default"}'
        values: '0 0 0 1 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0'
      - series: 'python_asyncio_loop_lag_seconds_bucket{instance="a",loop="main",le="0.1"}'
        values: '0+0x40'
      - series: 'python_asyncio_loop_lag_seconds_bucket{instance="a",loop="main",le="1"}'
        values: '0+10x40'
      - series: 'python_asyncio_loop_lag_seconds_bucket{instance="a",loop="main",le="+Inf"}'
        values: '0+10x40'
    alert_rule_test:
      - eval_time: 5m
        alertname: HttpServerErrors
        exp_alerts:
          - exp_labels: {severity: warning, rule_id: http_server_errors, instance: a}
            exp_annotations:
              summary: "HTTP 5xx responses: 2"
              description: "5xx responses per second (value 2, warning threshold > 0)"
          - exp_labels: {severity: critical, rule_id: http_server_errors, instance: a}
            exp_annotations:
              summary: "HTTP 5xx responses: 2"
              description: "5xx responses per second (value 2, critical threshold > 1)"
      - eval_time: 4m
        alertname: ReadyCallbackBacklog
        exp_alerts:
          - exp_labels: {severity: warning, rule_id: ready_callback_backlog, instance: a, loop: main}
            exp_annotations:
              summary: "Backlog of ready callbacks on the event loop: 2k"
              description: "most callbacks ready to run and waiting their turn (value 2k, warning threshold > 100)"
              culprit: "app.py:12 slow_handler (8s blocked in the last 5m)"
          - exp_labels: {severity: critical, rule_id: ready_callback_backlog, instance: a, loop: main}
            exp_annotations:
              summary: "Backlog of ready callbacks on the event loop: 2k"
              description: "most callbacks ready to run and waiting their turn (value 2k, critical threshold > 1000)"
              culprit: "app.py:12 slow_handler (8s blocked in the last 5m)"
          - exp_labels: {severity: warning, rule_id: ready_callback_backlog, instance: b, loop: main}
            exp_annotations:
              summary: "Backlog of ready callbacks on the event loop: 1.5k"
              description: "most callbacks ready to run and waiting their turn (value 1.5k, warning threshold > 100)"
              culprit: "no blocking site recorded"
          - exp_labels: {severity: critical, rule_id: ready_callback_backlog, instance: b, loop: main}
            exp_annotations:
              summary: "Backlog of ready callbacks on the event loop: 1.5k"
              description: "most callbacks ready to run and waiting their turn (value 1.5k, critical threshold > 1000)"
              culprit: "no blocking site recorded"
      - eval_time: 4m
        alertname: EventLoopStarvation
        exp_alerts:
          - exp_labels: {severity: warning, rule_id: event_loop_starvation, instance: a, loop: main}
            exp_annotations:
              summary: "Event-loop starvation detected: 991ms"
              description: "p99 of how late the event loop ran its timers (scheduling delay); every request on the loop waits at least this long at the tail (value 991ms, warning threshold > 50ms)"
              culprit: "app.py:12 slow_handler (8s blocked in the last 5m)"
          - exp_labels: {severity: critical, rule_id: event_loop_starvation, instance: a, loop: main}
            exp_annotations:
              summary: "Event-loop starvation detected: 991ms"
              description: "p99 of how late the event loop ran its timers (scheduling delay); every request on the loop waits at least this long at the tail (value 991ms, critical threshold > 250ms)"
              culprit: "app.py:12 slow_handler (8s blocked in the last 5m)"
      - eval_time: 4m
        alertname: ExecutorQueueDepth
        exp_alerts:
          - exp_labels: {severity: warning, rule_id: executor_queue_depth, instance: a, executor: anyio}
            exp_annotations:
              summary: "Work queuing for a thread pool: 50"
              description: "most work items submitted to a thread pool and not yet started (all workers busy) (value 50, warning threshold > 10)"
      - eval_time: 5m
        alertname: TaskCount
        exp_alerts: []
"""

# Matchers with every character that could break out of the annotation's
# printf format or PromQL string (", \\, %), a by label, and --selector:
# the culprit query must still select exactly the alert's own series.
QUOTED_RULES = r"""
version: 1
window: 1m
rules:
  - id: quoted
    finding: Backlog
    metric: python_asyncio_loop_ready_callbacks
    stat: max
    by: [instance]
    where: '{path="50%\"off\\"}'
    warning: "> 10"
"""

QUOTED_TEST = r"""
rule_files:
  - alerts.yml
evaluation_interval: 15s
tests:
  - interval: 15s
    input_series:
      - series: 'python_asyncio_loop_ready_callbacks{instance="x\"y%d",path="50%\"off\\",job="api"}'
        values: '20 20 20 20 20'
      - series: 'python_asyncio_block_site_seconds_total{instance="x\"y%d",path="50%\"off\\",job="api",site="a.py:1 f"}'
        values: '0+2x4'
      - series: 'python_asyncio_block_site_seconds_total{instance="x\"y%d",path="other",job="api",site="a.py:2 wrong_path"}'
        values: '0+9x4'
      - series: 'python_asyncio_block_site_seconds_total{instance="x\"y%d",path="50%\"off\\",job="web",site="a.py:3 wrong_job"}'
        values: '0+9x4'
    alert_rule_test:
      - eval_time: 1m
        alertname: Quoted
        exp_alerts:
          - exp_labels: {severity: warning, rule_id: quoted, instance: 'x"y%d'}
            exp_annotations:
              summary: "Backlog: 20"
              description: "Backlog (value 20, warning threshold > 10)"
              culprit: "a.py:1 f (8s blocked in the last 1m)"
"""

AWKWARD = r"""
version: 1
window: 1m30s
rules:
  - id: 9lives
    finding: "Finding with {{ braces }} and \"quotes\" and: colon"
    description: "multi\nline {{ $value }} text # not a comment"
    metric: python_asyncio_loop_lag_seconds
    stat: avg
    where: '{path="a\"b\\c\nd", x=~".*"}'
    warning: ">= 1ms"
    critical: "!= 0.5"
    for: 1m
    no_data: critical
  - id: raw
    finding: raw
    query: |
      sum(rate(http_server_request_duration_seconds_count{http_response_status_code=~"5.."}[$window])) # trailing comment
    critical: "> 1"
    no_data: warning
"""


def _export(run_auditor, path, *extra):
    res = run_auditor("rules", "export", path, "--format", "prometheus",
                      *extra)
    assert res.returncode == 0, res.stderr
    return res.stdout


def _promtool(*args, cwd=None):
    r = subprocess.run(["promtool"] + list(args), capture_output=True,
                       text=True, timeout=120, cwd=cwd)
    return r.returncode, r.stdout + r.stderr


def test_default_pack_alerts_fire_as_judged(run_auditor, tmp_path):
    (tmp_path / "alerts.yml").write_text(_export(run_auditor, DEFAULT_PACK))
    (tmp_path / "test.yml").write_text(UNIT_TEST)
    rc, out = _promtool("test", "rules", "test.yml", cwd=str(tmp_path))
    assert rc == 0, out


def test_awkward_rules_export_is_valid(run_auditor, rules_file, tmp_path):
    path = rules_file(AWKWARD)
    text = _export(run_auditor, path, "--selector", '{job="a\\"pi"}')
    out = tmp_path / "alerts.yml"
    out.write_text(text)
    rc, msg = _promtool("check", "rules", str(out))
    assert rc == 0, msg + text
    assert "SUCCESS: 5 rules found" in msg, msg
    assert "alert: Rule9livesNoData" in text
    assert "for: 1m" in text
    assert 'job="a\\"pi"' in text
    assert "[1m30s]" in text and "$window" not in text


def test_culprit_query_keeps_quotes_and_percent_signs(run_auditor, rules_file,
                                                      tmp_path):
    path = rules_file(QUOTED_RULES)
    text = _export(run_auditor, path, "--selector", '{job="api"}')
    (tmp_path / "alerts.yml").write_text(text)
    (tmp_path / "test.yml").write_text(QUOTED_TEST)
    rc, out = _promtool("check", "rules", "alerts.yml", cwd=str(tmp_path))
    assert rc == 0, out + text
    rc, out = _promtool("test", "rules", "test.yml", cwd=str(tmp_path))
    assert rc == 0, out + text


def test_humanized_unit_follows_the_threshold(run_auditor, rules_file):
    path = rules_file(r"""
version: 1
rules:
  - id: lag
    finding: Lag
    metric: python_asyncio_loop_lag_seconds
    stat: p99
    warning: "> 50ms"
  - id: busy
    finding: Busy
    metric: python_asyncio_loop_busy_seconds_total
    stat: rate
    critical: "> 90%"
  - id: tasks
    finding: Tasks
    metric: python_asyncio_tasks
    stat: max
    warning: "> 10"
    no_data: critical
""")
    text = _export(run_auditor, path)
    blocks = text.split("  - alert: ")[1:]
    by_name = {}
    for b in blocks:
        by_name.setdefault(b.split("\n", 1)[0], []).append(b)
    assert "{{ $value | humanizeDuration }}" in by_name["Lag"][0]
    assert "{{ $value | humanizePercentage }}" in by_name["Busy"][0]
    assert "{{ $value | humanize }}" in by_name["Tasks"][0]
    # loop rules name the culprit, other rules and no-data alerts do not
    assert "culprit:" in by_name["Lag"][0] and "culprit:" in by_name["Busy"][0]
    assert "culprit:" not in by_name["Tasks"][0]
    assert "culprit:" not in by_name["TasksNoData"][0]
    assert "$value" not in by_name["TasksNoData"][0]
