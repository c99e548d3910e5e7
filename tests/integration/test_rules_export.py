"""`rules export` semantics: the exported alerts of the default pack fire
on the data they should and carry the right labels and annotations, as
`promtool test rules` evaluates them; and awkward rule files (quotes,
backslashes, newlines, template braces, raw queries ending in a comment,
no_data alerts) still export to rules promtool accepts.

Why this exists: `promtool check rules` only proves the YAML and PromQL
parse; this proves the thresholds and grouping survive the export.
Gauge and counter values are chosen so that Prometheus computes them
exactly, because promtool compares annotations (which show the value) as
strings.
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
      - series: 'python_asyncio_executor_pending{instance="a",executor="anyio"}'
        values: '0 0 0 50 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0'
      - series: 'python_asyncio_executor_pending{instance="a",executor="default"}'
        values: '0 0 0 1 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0'
    alert_rule_test:
      - eval_time: 5m
        alertname: HttpServerErrors
        exp_alerts:
          - exp_labels: {severity: warning, rule_id: http_server_errors, instance: a}
            exp_annotations:
              summary: HTTP 5xx responses
              description: "5xx responses per second (value 2, warning threshold > 0)"
          - exp_labels: {severity: critical, rule_id: http_server_errors, instance: a}
            exp_annotations:
              summary: HTTP 5xx responses
              description: "5xx responses per second (value 2, critical threshold > 1)"
      - eval_time: 4m
        alertname: ReadyCallbackBacklog
        exp_alerts:
          - exp_labels: {severity: warning, rule_id: ready_callback_backlog, instance: a, loop: main}
            exp_annotations:
              summary: Backlog of ready callbacks on the event loop
              description: "most callbacks ready to run and waiting their turn (value 2000, warning threshold > 100)"
          - exp_labels: {severity: critical, rule_id: ready_callback_backlog, instance: a, loop: main}
            exp_annotations:
              summary: Backlog of ready callbacks on the event loop
              description: "most callbacks ready to run and waiting their turn (value 2000, critical threshold > 1000)"
      - eval_time: 4m
        alertname: ExecutorQueueDepth
        exp_alerts:
          - exp_labels: {severity: warning, rule_id: executor_queue_depth, instance: a, executor: anyio}
            exp_annotations:
              summary: Work queuing for a thread pool
              description: "most work items submitted to a thread pool and not yet started (all workers busy) (value 50, warning threshold > 10)"
      - eval_time: 5m
        alertname: TaskCount
        exp_alerts: []
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
