"""`rules export` semantics: the exported alerts of the default pack fire
on the data they should and carry the right labels and annotations, as
`promtool test rules` evaluates them: values humanized in the rule's unit
and a `culprit` annotation of the alert's own series (Prometheus runs the
annotation's `query` template): for blocking rules the top blocking site
with its hint (joined from python_asyncio_block_site_info; without info,
an older probe, the site alone), for the GIL rule the thread that held
the GIL and its line, for executor rules the function with the largest
share of the pool's run time, and none for utilization, backlog, tasks and
HTTP rules (docs/rules.md "Culprits"); and awkward rule files (quotes, backslashes, percent signs,
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
      - series: 'python_asyncio_loop_lag_seconds_bucket{instance="a",loop="main",le="0.0625"}'
        values: '0+0x40'
      - series: 'python_asyncio_loop_lag_seconds_bucket{instance="a",loop="main",le="0.1"}'
        values: '0+0x40'
      - series: 'python_asyncio_loop_lag_seconds_bucket{instance="a",loop="main",le="1"}'
        values: '0+10x40'
      - series: 'python_asyncio_loop_lag_seconds_bucket{instance="a",loop="main",le="+Inf"}'
        values: '0+10x40'
      # worker 4123 of instance a is blocked 6 s per 15 s since 0 (96 s
      # by 4m: 32% of the 5m window), by refresh_fx_rate (+1 s per 15 s: 16 s by 4m) whose info
      # carries a hint; worker 4124 has a busier site but no blocked time,
      # so it is neither an alert nor worker 4123's culprit
      - series: 'python_asyncio_loop_block_duration_seconds_sum{instance="a",worker="4123"}'
        values: '0+6x40'
      - series: 'python_asyncio_block_site_seconds_total{instance="a",worker="4123",site="app.py:15 refresh_fx_rate"}'
        values: '0+1x40'
      - series: 'python_asyncio_block_site_seconds_total{instance="a",worker="4124",site="app.py:99 other_worker"}'
        values: '0+3x40'
      - series: 'python_asyncio_block_site_info{instance="a",worker="4123",site="app.py:15 refresh_fx_rate",chain="app.py:15 refresh_fx_rate → requests.get",class="http_client",hint="use an async client"}'
        values: '1x40'
      # worker 4123 waits for the GIL 1.5 s per 15 s (24 s by 4m: 8% of
      # the 5m window), held by a thread
      - series: 'python_asyncio_loop_gil_wait_duration_seconds_sum{instance="a",worker="4123"}'
        values: '0+1.5x40'
      - series: 'python_asyncio_gil_holder_seconds_total{instance="a",worker="4123",thread="fx-refresher",site="jobs.py:40 recompute"}'
        values: '0+1.5x40'
      - series: 'python_asyncio_gil_holder_info{instance="a",worker="4123",thread="fx-refresher",site="jobs.py:40 recompute",chain="jobs.py:40 recompute",class="cpu",hint="move CPU work to a process pool"}'
        values: '1x40'
      # the anyio pool of instance a runs invoices 60% of its time; the
      # default pool's busier function is another pool's
      - series: 'python_asyncio_executor_function_run_seconds_total{instance="a",executor="anyio",function="invoices",site="app.py:12"}'
        values: '0+0.6x40'
      - series: 'python_asyncio_executor_function_run_seconds_total{instance="a",executor="anyio",function="other"}'
        values: '0+0.4x40'
      - series: 'python_asyncio_executor_function_run_seconds_total{instance="a",executor="default",function="crunch",site="a.py:1"}'
        values: '0+5x40'
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
          - exp_labels: {severity: critical, rule_id: ready_callback_backlog, instance: a, loop: main}
            exp_annotations:
              summary: "Backlog of ready callbacks on the event loop: 2k"
              description: "most callbacks ready to run and waiting their turn (value 2k, critical threshold > 1000)"
          - exp_labels: {severity: warning, rule_id: ready_callback_backlog, instance: b, loop: main}
            exp_annotations:
              summary: "Backlog of ready callbacks on the event loop: 1.5k"
              description: "most callbacks ready to run and waiting their turn (value 1.5k, warning threshold > 100)"
          - exp_labels: {severity: critical, rule_id: ready_callback_backlog, instance: b, loop: main}
            exp_annotations:
              summary: "Backlog of ready callbacks on the event loop: 1.5k"
              description: "most callbacks ready to run and waiting their turn (value 1.5k, critical threshold > 1000)"
      - eval_time: 4m
        alertname: EventLoopStarvation
        exp_alerts:
          - exp_labels: {severity: warning, rule_id: event_loop_starvation, instance: a, loop: main}
            exp_annotations:
              summary: "Event-loop starvation detected: 100%"
              description: "share of the time the event loop ran its timers more than 62.5 ms late (scheduling delay past the 50 ms block threshold): the share of time every request on the loop waited that long before it could run (value 100%, warning threshold > 5%)"
              culprit: "app.py:12 slow_handler (8s blocked in the last 5m)"
          - exp_labels: {severity: critical, rule_id: event_loop_starvation, instance: a, loop: main}
            exp_annotations:
              summary: "Event-loop starvation detected: 100%"
              description: "share of the time the event loop ran its timers more than 62.5 ms late (scheduling delay past the 50 ms block threshold): the share of time every request on the loop waited that long before it could run (value 100%, critical threshold > 20%)"
              culprit: "app.py:12 slow_handler (8s blocked in the last 5m)"
      - eval_time: 4m
        alertname: ExecutorQueueDepth
        exp_alerts:
          - exp_labels: {severity: warning, rule_id: executor_queue_depth, instance: a, executor: anyio}
            exp_annotations:
              summary: "Work queuing for a thread pool: 50"
              description: "most work items submitted to a thread pool and not yet started (all workers busy) (value 50, warning threshold > 10)"
              culprit: "invoices at app.py:12: 60% of pool time in the last 5m"
      - eval_time: 4m
        alertname: EventLoopBlockedTime
        exp_alerts:
          - exp_labels: {severity: warning, rule_id: event_loop_blocked_time, instance: a, worker: "4123"}
            exp_annotations:
              summary: "Event loop blocked by synchronous code: 32%"
              description: "fraction of wall-clock time the loop spent in blocking episodes (busy without returning to wait for I/O for longer than the block threshold) (value 32%, warning threshold > 5%)"
              culprit: "app.py:15 refresh_fx_rate (16s blocked in the last 5m); hint: use an async client"
          - exp_labels: {severity: critical, rule_id: event_loop_blocked_time, instance: a, worker: "4123"}
            exp_annotations:
              summary: "Event loop blocked by synchronous code: 32%"
              description: "fraction of wall-clock time the loop spent in blocking episodes (busy without returning to wait for I/O for longer than the block threshold) (value 32%, critical threshold > 20%)"
              culprit: "app.py:15 refresh_fx_rate (16s blocked in the last 5m); hint: use an async client"
      - eval_time: 4m
        alertname: EventLoopGilContention
        exp_alerts:
          - exp_labels: {severity: warning, rule_id: event_loop_gil_contention, instance: a, worker: "4123"}
            exp_annotations:
              summary: "Event loop stalled waiting for the GIL: 8%"
              description: "fraction of wall-clock time the loop waited for the GIL held by another thread of the process (GIL-contention episodes, not counted as blocking); the culprit is that thread and its line (value 8%, warning threshold > 5%)"
              culprit: "jobs.py:40 recompute in thread fx-refresher held the GIL (24s waited for in the last 5m); hint: move CPU work to a process pool"
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
    finding: Frozen
    metric: python_asyncio_loop_current_block_seconds
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
      - series: 'python_asyncio_loop_current_block_seconds{instance="x\"y%d",path="50%\"off\\",job="api"}'
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
              summary: "Frozen: 20s"
              description: "Frozen (value 20s, warning threshold > 10)"
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
    # blocking rules name the culprit; utilization, tasks and no-data
    # alerts do not (docs/rules.md "Culprits")
    assert "culprit:" in by_name["Lag"][0]
    assert "culprit:" not in by_name["Busy"][0]
    assert "culprit:" not in by_name["Tasks"][0]
    assert "culprit:" not in by_name["TasksNoData"][0]
    assert "$value" not in by_name["TasksNoData"][0]
