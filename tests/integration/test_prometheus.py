"""The auditor against Debian's Prometheus over backfilled fixture blocks,
plus the rule-file commands whose output Prometheus' own tools check
(`rules export` through `promtool check rules`, `rules lint`).

The engine-independent cases live in engine_cases.py; this module runs them
with `engine` bound to Prometheus.
"""

import os
import re
import subprocess
import time

import pytest

import metrics_fixtures as mf
from engine_cases import *  # noqa: F401,F403
from engine_cases import VERDICTS_YAML

REPO = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
DEFAULT_PACK = os.path.join(REPO, "rules", "default.yaml")


@pytest.fixture(scope="module")
def engine(prometheus_server):
    return prometheus_server()


@pytest.fixture(scope="module")
def engine_now(prometheus_server):
    end = int(time.time()) // mf.STEP * mf.STEP
    return prometheus_server(mf.openmetrics_text(end=end))


def _promtool_check_rules(path):
    r = subprocess.run(["promtool", "check", "rules", path],
                       capture_output=True, text=True, timeout=60)
    return r.returncode, r.stdout + r.stderr


def test_export_default_pack_passes_promtool(run_auditor, tmp_path):
    res = run_auditor("rules", "export", DEFAULT_PACK, "--format",
                      "prometheus")
    assert res.returncode == 0, res
    out = tmp_path / "alerts.yml"
    out.write_text(res.stdout)
    rc, text = _promtool_check_rules(str(out))
    assert rc == 0, text + res.stdout
    found = re.search(r"SUCCESS: (\d+) rules found", text)
    assert found and int(found.group(1)) >= 8, text


def test_export_one_alert_per_rule_and_severity(run_auditor, rules_file,
                                                tmp_path):
    path = rules_file(VERDICTS_YAML)
    res = run_auditor("rules", "export", path, "--format", "prometheus")
    assert res.returncode == 0, res
    out = tmp_path / "alerts.yml"
    out.write_text(res.stdout)
    rc, text = _promtool_check_rules(str(out))
    assert rc == 0, text + res.stdout
    thresholds = len(re.findall(r"^    (warning|critical): ", VERDICTS_YAML,
                                re.MULTILINE))
    assert re.search(r"SUCCESS: %d rules found" % thresholds, text), text
    assert re.search(r"^\s+for: 2m\s*$", res.stdout, re.MULTILINE), \
        res.stdout
    assert "severity: critical" in res.stdout
    assert "severity: warning" in res.stdout


def test_lint_accepts_default_pack(run_auditor):
    res = run_auditor("rules", "lint", DEFAULT_PACK)
    assert res.returncode == 0, res


@pytest.mark.parametrize("text,line", [
    # unknown key (a typo of "critical")
    ("""version: 1
rules:
  - id: a
    finding: A
    metric: python_asyncio_tasks
    stat: max
    critcal: "> 5"
""", 7),
    # duplicate id
    ("""version: 1
rules:
  - id: a
    finding: A
    metric: python_asyncio_tasks
    stat: max
    critical: "> 5"
  - id: a
    finding: B
    metric: python_asyncio_tasks
    stat: max
    critical: "> 6"
""", 8),
    # bad duration
    ("""version: 1
rules:
  - id: a
    finding: A
    metric: python_asyncio_tasks
    stat: max
    critical: "> 5"
    for: 5 minutes
""", 8),
    # bad threshold
    ("""version: 1
rules:
  - id: a
    finding: A
    metric: python_asyncio_tasks
    stat: max
    critical: ">> 5"
""", 7),
    # empty rule set
    ("""version: 1
window: 5m
rules: []
""", 3),
])
def test_lint_errors_name_line_and_column(run_auditor, rules_file, text,
                                          line):
    path = rules_file(text, name="lint.yaml")
    res = run_auditor("rules", "lint", path)
    assert res.returncode == 78, res
    assert re.search(r"lint\.yaml:%d:\d+" % line, res.stderr), res
    assert "async-auditor: error:" in res.stderr or \
        re.search(r"lint\.yaml:%d:\d+: error" % line, res.stderr), res
