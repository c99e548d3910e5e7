"""A module imported from a directory whose name is not UTF-8 (Latin-1
bytes, decoded by Python with surrogateescape) blocks the loop: its site
must leave the probe as valid UTF-8 everywhere (snapshot(), blocks(),
/metrics, /debug/blocks), with the byte shown as \\xNN, and /metrics must
still pass promtool (issue 10)."""

import asyncio
import json
import os
import shutil
import subprocess
import sys

import pytest

import async_auditor
from async_auditor import _probe


@pytest.fixture
def latin1_module(tmp_path):
    raw = os.fsencode(str(tmp_path)) + b"/caf\xe9"
    try:
        os.mkdir(raw)
    except (OSError, UnicodeError):
        pytest.skip("the file system refuses non-UTF-8 names")
    with open(raw + b"/blocker_latin1.py", "w") as f:
        f.write("import time\n\n\ndef block():\n    time.sleep(0.2)\n")
    path = os.fsdecode(raw)
    assert "\udce9" in path  # what Python makes of the byte
    sys.path.insert(0, path)
    try:
        import blocker_latin1
        yield blocker_latin1
    finally:
        sys.path.remove(path)
        sys.modules.pop("blocker_latin1", None)


def test_non_utf8_directory(latin1_module):
    loop = asyncio.new_event_loop()
    try:
        probe = async_auditor.install(loop, block_threshold=0.05)

        async def main():
            await asyncio.sleep(0.02)
            latin1_module.block()
            await asyncio.sleep(0.02)

        loop.run_until_complete(main())
        snap = probe.snapshot()  # raised UnicodeDecodeError before
        blocks = probe.blocks()
        metrics = _probe.render_metrics()
        debug = _probe.render_blocks()
        probe.close()
    finally:
        loop.close()
    assert len(blocks) == 1
    for text in (metrics, debug, json.dumps(snap, default=str),
                 json.dumps(blocks)):
        text.encode("utf-8")  # no lone surrogate anywhere
    json.loads(debug)
    if not _probe.stacks_supported:
        return
    site = blocks[0]["site"]
    assert site.endswith("/caf\\xe9/blocker_latin1.py:5 block"), site
    assert site in snap["python_asyncio_block_site_seconds_total"]
    assert blocks[0]["class"] == "sleep"
    assert 'caf\\\\xe9/blocker_latin1.py:5 block"' in metrics
    assert any(b["site"] == site for b in json.loads(debug)["blocks"])
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.skip("promtool is not installed (scripts/bootstrap)")
    r = subprocess.run([promtool, "check", "metrics"], input=metrics.encode(),
                       capture_output=True, timeout=60)
    assert r.returncode == 0, r.stdout.decode() + r.stderr.decode()
