"""pytest fixtures for the auditor's integration tests.

Why this exists: every integration test needs the same three things, the
auditor binary, a PromQL engine holding known data, and (for faults) a
scriptable fake backend, each started once, bounded in time and stopped by
PID.  The servers themselves live in aa_servers.py and the data in
metrics_fixtures.py, so other test directories can reuse them.

Fixtures:
  auditor            path of the CLI: $AA_AUDITOR, else
                     <repo>/build/src/auditor/async-auditor
  run_auditor        run_auditor(*args, timeout=60, env=None, cwd=None)
                     -> aa_run.Result (returncode, stdout, stderr, .json(),
                     maxrss_kb); fails the test on any sanitizer report,
                     on a signal, or on a hang
  prometheus_server  session factory: prometheus_server(text=None) backfills
                     OpenMetrics text (default: the standard fixture) and
                     returns a running prometheus (.url, .pid, .stop())
  victoria_server    session factory: victoria_server(text=None) imports
                     Prometheus text with ms timestamps into a running
                     victoria-metrics
  fake_backend       a FakeBackend (aa_servers.py) for this test; set
                     .behaviour to script its answers
  rules_file         rules_file(yaml_text, name="rules.yaml") -> path
"""

import os

import pytest

import aa_run
import aa_servers
import metrics_fixtures

REPO = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))


@pytest.fixture(scope="session")
def auditor():
    path = os.environ.get("AA_AUDITOR") or os.path.join(
        REPO, "build", "src", "auditor", "async-auditor")
    if not os.access(path, os.X_OK):
        pytest.fail("auditor binary %s is missing: build it "
                    "(make build) or set AA_AUDITOR" % path)
    return path


@pytest.fixture(scope="session")
def run_auditor(auditor):
    def run(*args, timeout=60, env=None, cwd=None):
        full_env = dict(os.environ)
        full_env.pop("ASYNC_AUDITOR_PASSWORD", None)
        full_env["NO_COLOR"] = "1"
        if env:
            full_env.update(env)
        try:
            res = aa_run.run([auditor] + [str(a) for a in args],
                             timeout=timeout, env=full_env, cwd=cwd)
        except aa_run.Hung as e:
            pytest.fail(str(e))
        aa_run.assert_no_sanitizer_report(res)
        assert res.returncode >= 0, "auditor killed by signal: %r" % res
        return res
    return run


@pytest.fixture(scope="session")
def prometheus_server(tmp_path_factory):
    started = {}

    def factory(text=None):
        text = text if text is not None else \
            metrics_fixtures.openmetrics_text()
        key = hash(text)
        if key not in started:
            d = tmp_path_factory.mktemp("prometheus")
            started[key] = aa_servers.start_prometheus(str(d), text)
        return started[key]

    yield factory
    for srv in started.values():
        srv.stop()


@pytest.fixture(scope="session")
def victoria_server(tmp_path_factory):
    started = {}

    def factory(text=None):
        text = text if text is not None else \
            metrics_fixtures.prometheus_import_text()
        key = hash(text)
        if key not in started:
            d = tmp_path_factory.mktemp("victoria")
            started[key] = aa_servers.start_victoria(str(d), text)
        return started[key]

    yield factory
    for srv in started.values():
        srv.stop()


@pytest.fixture
def fake_backend():
    fake = aa_servers.FakeBackend()
    yield fake
    fake.close()


@pytest.fixture
def rules_file(tmp_path):
    def write(text, name="rules.yaml"):
        p = tmp_path / name
        p.write_text(text)
        return str(p)
    return write
