"""The diagnosis scorecard (lab/run --scorecard) end to end, and its
scoring rules.

Ground truth is the corpus's own source: each culprit service marks its
culprit line with a "# culprit" comment.  The test finds that line
itself (a plain text scan, not the harness's parser) and checks that the
scorecard names it, then moves the marker and checks that the same
report now scores as a miss; a control must score no blocking finding,
and one whose report is edited to carry one must score a false finding.

Two services run, on asyncio only, with short load: signup_regex (a
catastrophically backtracking regex on the loop: blocking long by
construction, 20 characters take hundreds of milliseconds) and
control_light.  Nothing here depends on how fast the machine is.
"""

import json
import os
import re
import shutil
import subprocess
import sys

import pytest

import lab_helpers as lh

pytestmark = pytest.mark.slow

CULPRIT = "signup_regex"
CONTROL = "control_light"
MARKER = "  # culprit"


def marked_line(path):
    """(1-based number, text) of the line ending in the marker."""
    with open(path) as f:
        hits = [(n, line.rstrip("\n")) for n, line in enumerate(f, 1)
                if line.rstrip().endswith(MARKER.strip())]
    assert len(hits) == 1, (path, hits)
    return hits[0]


def require_tools():
    missing = [t for t in ("wrk",) if shutil.which(t) is None]
    if not os.access(lh.auditor_path(), os.X_OK):
        missing.append(lh.auditor_path())
    if not os.access(lh.VENV_PY, os.X_OK):
        missing.append(lh.VENV_PY)
    if missing:
        pytest.fail("the scorecard test needs: %s" % ", ".join(missing))


def scorecard_argv(corpus, out, *extra):
    return [sys.executable, os.path.join(lh.LAB, "run"), "--scorecard",
            "--corpus", str(corpus), "--out", str(out),
            "--auditor", lh.auditor_path(), "--python", lh.VENV_PY] + \
        list(extra)


def run_scorecard(corpus, out, *extra, timeout=240):
    res = subprocess.run(scorecard_argv(corpus, out, *extra),
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         timeout=timeout)
    return (res.returncode, res.stdout.decode("utf-8", "replace"),
            res.stderr.decode("utf-8", "replace"))


def load_card(out):
    with open(os.path.join(str(out), "scorecard.json")) as f:
        return json.load(f)


def runs_by_service(card):
    return {r["service"]: r for r in card["runs"]}


@pytest.fixture(scope="module")
def card(tmp_path_factory):
    """One scorecard over a copy of two corpus services."""
    require_tools()
    corpus = tmp_path_factory.mktemp("corpus")
    for name in (CULPRIT, CONTROL):
        shutil.copy(os.path.join(lh.LAB, "corpus", name + ".py"), corpus)
    out = tmp_path_factory.mktemp("scorecard-out")
    rc, stdout, stderr = run_scorecard(
        corpus, out, "--loop", "asyncio", "--duration", "5",
        "--scenario", CULPRIT, "--scenario", CONTROL)
    assert rc == 0, "lab/run --scorecard failed (%d):\n%s\n%s" % (
        rc, stdout, stderr)
    return {"corpus": corpus, "out": out, "stdout": stdout,
            "card": load_card(out)}


def test_culprit_service_names_the_marked_line(card):
    path = os.path.join(str(card["corpus"]), CULPRIT + ".py")
    line, text = marked_line(path)
    assert "EMAIL_RE.match" in text  # the marker is where the test thinks
    run = runs_by_service(card["card"])[CULPRIT]
    assert run["loop"] == "asyncio" and run["kind"] == "blocking"
    assert run["status"] == "CRITICAL", run
    assert "event_loop_blocked_time" in run["findings"], run
    named = run["named"]
    assert named is not None, run
    site_path, site_line = re.match(r"^(.*):(\d+)(?: |$)", named).groups()
    assert os.path.basename(site_path) == CULPRIT + ".py", run
    assert int(site_line) == line, run
    assert run["correct"] is True and run["result"] == "ok", run
    assert run["expected"].startswith("%s:%d " % (path, line)), run


def test_control_has_no_blocking_finding_and_no_line(card):
    run = runs_by_service(card["card"])[CONTROL]
    assert run["kind"] == "control"
    assert run["named"] is None and run["expected"] is None, run
    assert not any(f in ("event_loop_blocked_time",
                         "event_loop_blocking_episodes")
                   for f in run["findings"]), run
    assert run["false_findings"] == [] and run["result"] == "ok", run


def test_numbers_and_table(card):
    n = card["card"]["numbers"]
    assert (n["runs"], n["culprit_runs"], n["control_runs"]) == (2, 1, 1)
    assert n["precision"] == 1.0 and n["recall"] == 1.0, n
    assert n["false_findings"] == 0, n
    out = card["stdout"]
    header = [l for l in out.splitlines() if l.startswith("service")]
    assert len(header) == 1, out
    for col in ("loop", "kind", "expected line", "named line", "verdict",
                "result"):
        assert col in header[0]
    assert re.search(r"^precision 100 %.*recall 100 %.*false findings on "
                     r"controls: 0 of 1", out, re.M), out
    md = open(os.path.join(str(card["out"]), "scorecard.md")).read()
    assert "| %s | asyncio | blocking |" % CULPRIT in md, md


def copy_out(card, tmp_path):
    """A copy of the fixture's output directory (scorecard.json refers to
    its reports relative to it), to rescore without touching the
    fixture's files."""
    out = tmp_path / "out"
    shutil.copytree(str(card["out"]), str(out))
    return out


def test_moved_marker_scores_a_miss(card, tmp_path):
    """The same report, scored again after the marker moved one line
    down, must be a miss: the harness compares lines, it does not echo
    what the report named.  Rescored unchanged first, it stays ok."""
    out = copy_out(card, tmp_path)
    rc, stdout, stderr = run_scorecard(card["corpus"], out, "--rescore",
                                       timeout=60)
    assert rc == 0, stderr
    assert runs_by_service(load_card(out))[CULPRIT]["result"] == "ok"

    path = os.path.join(str(card["corpus"]), CULPRIT + ".py")
    original = open(path).read()
    line, _ = marked_line(path)
    lines = original.split("\n")
    lines[line - 1] = lines[line - 1][:-len(MARKER)]
    lines[line] += MARKER  # the raise below the culprit
    try:
        with open(path, "w") as f:
            f.write("\n".join(lines))
        assert marked_line(path)[0] == line + 1
        rc, stdout, stderr = run_scorecard(card["corpus"], out, "--rescore",
                                           timeout=60)
    finally:
        with open(path, "w") as f:
            f.write(original)
    assert rc == 0, stderr
    run = runs_by_service(load_card(out))[CULPRIT]
    assert run["result"] == "miss" and run["correct"] is False, run
    assert run["expected"].startswith("%s:%d " % (path, line + 1)), run
    n = load_card(out)["numbers"]
    assert n["recall"] == 0.0 and n["precision"] == 0.0, n
    assert "miss: %s on asyncio" % CULPRIT in stdout


def test_blocking_finding_on_a_control_is_counted(card, tmp_path):
    """A control whose report carries a blocking finding scores a false
    finding (the report is edited in a copy of the output)."""
    out = copy_out(card, tmp_path)
    rel = runs_by_service(load_card(out))[CONTROL]["report_json"]
    path = os.path.join(str(out), rel)
    with open(path) as f:
        report = json.load(f)
    ids = [r["id"] for r in report["rules"]]
    assert "event_loop_blocking_episodes" in ids, ids
    for rule in report["rules"]:
        if rule["id"] == "event_loop_blocking_episodes":
            rule["status"] = "critical"
    with open(path, "w") as f:
        json.dump(report, f)
    rc, stdout, stderr = run_scorecard(card["corpus"], out, "--rescore",
                                       timeout=60)
    assert rc == 0, stderr
    run = runs_by_service(load_card(out))[CONTROL]
    assert run["false_findings"] == ["event_loop_blocking_episodes"], run
    assert run["result"].startswith("false finding"), run
    assert load_card(out)["numbers"]["false_findings"] == 1


def test_marker_on_a_control_is_refused(tmp_path):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    src = open(os.path.join(lh.LAB, "corpus", CONTROL + ".py")).read()
    src = src.replace('return {"status": "ok"}',
                      'return {"status": "ok"}' + MARKER)
    (corpus / (CONTROL + ".py")).write_text(src)
    rc, _, stderr = run_scorecard(corpus, tmp_path / "out", "--list",
                                  timeout=60)
    assert rc == 1 and "a control has no culprit" in stderr, stderr


def test_marker_text_inside_a_string_is_not_a_marker(tmp_path):
    run = lh.load_lab_run()
    path = tmp_path / "svc.py"
    path.write_text(
        'EXPECT = {"title": "t", "framework": "fastapi", "kind": '
        '"blocking", "paths": "/x=1"}\n'
        'NOTE = """\n# culprit\n"""\n'
        'def handler():\n'
        '    return 1  # culprit\n')
    svc = run.load_service(str(path))
    assert svc.culprit_line == 6 and svc.culprit_function == "handler"
    assert run.site_matches(svc, "%s:6 handler" % path)
    assert not run.site_matches(svc, "%s:3 handler" % path)
    assert not run.site_matches(svc, "/elsewhere/svc2.py:6 handler")
