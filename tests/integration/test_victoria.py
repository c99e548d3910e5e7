"""The auditor against Debian's VictoriaMetrics, a second PromQL engine,
with the fixture loaded through /api/v1/import/prometheus.

The cases live in engine_cases.py; this module runs them with `engine`
bound to VictoriaMetrics.
"""

import time

import pytest

import aa_servers
import metrics_fixtures as mf
from engine_cases import *  # noqa: F401,F403


@pytest.fixture(scope="module")
def engine(victoria_server):
    return victoria_server()


@pytest.fixture(scope="module")
def engine_now(victoria_server):
    end = int(time.time()) // mf.STEP * mf.STEP
    return victoria_server(mf.prometheus_import_text(end=end))


def test_fixture_loaded(engine):
    """The import really reached storage (guards every case above against
    passing on an empty database)."""
    data = aa_servers.query(engine.url, "count(python_asyncio_tasks)",
                            mf.END)
    assert data["result"][0]["value"][1] == str(len(mf.INSTANCES))
