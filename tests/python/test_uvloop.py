"""uvloop, measured through its GOT (aap_uvhook.c): libuv's polls are the
loop's iterations and uvloop's context switches its callbacks, so busy
time, iterations, exact block durations and the blocking/saturation
verdict are the same as on asyncio (the ready backlog is not measured);
the probe follows the loop stopping, running again and closing; with
ASYNC_AUDITOR_UVLOOP_HOOK=0 it falls back to heartbeat mode."""

import asyncio
import threading
import time

import pytest

import async_auditor
from async_auditor import _probe
from conftest import parse_metrics

uvloop = pytest.importorskip("uvloop")


def series(samples, name, loop_name):
    return [v for n, l, v in samples
            if n == name and l.get("loop", loop_name) == loop_name]


def spin(seconds):
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        pass


def deep():
    time.sleep(0.15)  # uvloop-block


def test_hook_mode_measures_the_loop():
    loop = uvloop.new_event_loop()
    probe = async_auditor.install(loop)
    try:
        assert probe.mode == "hook"

        async def main():
            await asyncio.sleep(0.05)
            deep()
            await asyncio.sleep(0.05)
            await loop.run_in_executor(None, time.sleep, 0.01)
            return probe.blocks(), probe.snapshot()

        blocks, snap = loop.run_until_complete(main())
        samples = parse_metrics(_probe.render_metrics())
    finally:
        probe.close()
        loop.close()
    assert snap["python_asyncio_probe_info"]["loop_implementation"] == \
        "uvloop"
    assert snap["python_asyncio_loop_iterations_total"] > 3
    assert 0.15 <= snap["python_asyncio_loop_busy_seconds_total"] < 5
    assert snap["python_asyncio_loop_ready_callbacks"] is None
    assert len(blocks) == 1 and blocks[0]["kind"] == "blocking"
    assert 0.15 <= blocks[0]["duration"] < 2
    if _probe.stacks_supported:
        assert blocks[0]["site"].endswith(" deep")
        sites = snap["python_asyncio_block_site_seconds_total"]
        assert 0.15 <= sites[blocks[0]["site"]] <= blocks[0]["duration"]
    hist = snap["python_asyncio_loop_block_duration_seconds"]
    assert hist["count"] == 1
    assert snap["python_asyncio_executor_run_seconds"]["default"][
        "count"] == 1
    # "loop" is labelled only when the process has several loops
    name = [l.get("loop") for n, l, _ in samples
            if n == "python_asyncio_probe_info"
            and l["loop_implementation"] == "uvloop"]
    assert len(name) == 1
    name = name[0]
    assert series(samples, "python_asyncio_loop_iterations_total", name)
    assert series(samples, "python_asyncio_loop_busy_seconds_total", name)
    assert series(samples, "python_asyncio_loop_ready_callbacks", name) == []


def test_saturated_loop_is_not_blocked():
    """Many short callbacks in one iteration: a stretch far past the
    threshold, no callback near it: saturation, no episode, no site."""
    loop = uvloop.new_event_loop()
    probe = async_auditor.install(loop, block_threshold=0.1)
    ran = []
    try:
        async def main():
            await asyncio.sleep(0.02)
            for _ in range(300):
                loop.call_soon(lambda: (spin(0.001), ran.append(1)))
            await asyncio.sleep(0)
            await asyncio.sleep(0.05)
            return probe.blocks(), probe.snapshot()

        blocks, snap = loop.run_until_complete(main())
    finally:
        probe.close()
        loop.close()
    assert len(ran) == 300
    sat = snap["python_asyncio_loop_saturation_duration_seconds"]
    assert sat["count"] >= 1 and sat["sum"] >= 0.2
    assert blocks == []
    assert snap["python_asyncio_loop_block_duration_seconds"]["count"] == 0
    assert snap["python_asyncio_block_site_seconds_total"] == {}


class Echo(asyncio.Protocol):
    """A protocol whose data_received (run by uvloop directly, not through
    its ready queue) blocks on one message."""

    def connection_made(self, transport):
        self.transport = transport

    def data_received(self, data):
        if data.startswith(b"slow"):
            time.sleep(0.15)  # protocol-block
        self.transport.write(data)


def test_protocol_callback_is_a_callback():
    loop = uvloop.new_event_loop()
    probe = async_auditor.install(loop)
    try:
        async def main():
            server = await loop.create_server(Echo, "127.0.0.1", 0)
            port = server.sockets[0].getsockname()[1]
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            for msg in (b"fast\n", b"slow\n", b"fast\n"):
                writer.write(msg)
                assert await reader.readline() == msg
            writer.close()
            server.close()
            await server.wait_closed()
            return probe.blocks()

        blocks = loop.run_until_complete(main())
    finally:
        probe.close()
        loop.close()
    assert len(blocks) == 1 and blocks[0]["kind"] == "blocking"
    if _probe.stacks_supported:
        assert blocks[0]["site"].endswith(" data_received")


def test_stopped_loop_is_neither_busy_nor_lag():
    """Between two run_until_complete calls the loop is stopped, not
    blocked: uvloop's stop() cannot be wrapped, its run_forever's restoring
    of the asyncgen hooks says so."""
    loop = uvloop.new_event_loop()
    probe = async_auditor.install(loop)
    try:
        loop.run_until_complete(asyncio.sleep(0.03))
        time.sleep(0.4)  # stopped
        assert probe.snapshot()[
            "python_asyncio_loop_current_block_seconds"] == 0
        loop.run_until_complete(asyncio.sleep(0.03))
        snap, blocks = probe.snapshot(), probe.blocks()
    finally:
        probe.close()
        loop.close()
    assert blocks == []
    assert snap["python_asyncio_loop_busy_seconds_total"] < 0.3
    assert snap["python_asyncio_loop_lag_seconds"]["sum"] < 0.4


def test_closed_loop_closes_its_probe():
    holder = {}

    async def main():
        holder["probe"] = async_auditor.install()
        await asyncio.sleep(0.05)

    uvloop.run(main())
    probe = holder["probe"]
    assert probe.closed
    time.sleep(0.1)
    samples = parse_metrics(_probe.render_metrics())
    assert not [l for n, l, _ in samples if n == "python_asyncio_probe_info"
                and l["loop_implementation"] == "uvloop"]
    # the hooks are gone with the last probe: uvloop runs as before
    assert uvloop.run(asyncio.sleep(0, result=7)) == 7


def test_loops_in_two_threads_are_told_apart():
    """The GOT is the process's, the binding the thread's: a block in one
    loop's thread is that loop's only."""
    results = {}

    def run(name, block):
        async def main():
            probe = async_auditor.install()
            await asyncio.sleep(0.05)
            if block:
                time.sleep(0.15)
            await asyncio.sleep(0.1)
            results[name] = (probe.blocks(), probe.snapshot())
            probe.close()

        uvloop.run(main())

    threads = [threading.Thread(target=run, args=("a", True), name="uv-a"),
               threading.Thread(target=run, args=("b", False), name="uv-b")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    blocks_a, snap_a = results["a"]
    blocks_b, snap_b = results["b"]
    assert len(blocks_a) == 1 and blocks_b == []
    assert snap_a["python_asyncio_loop_iterations_total"] > 0
    assert snap_b["python_asyncio_loop_iterations_total"] > 0
    assert snap_b["python_asyncio_loop_busy_seconds_total"] < 0.1


def test_heartbeat_when_the_hook_is_off(monkeypatch):
    monkeypatch.setenv("ASYNC_AUDITOR_UVLOOP_HOOK", "0")
    loop = uvloop.new_event_loop()
    probe = async_auditor.install(loop)
    try:
        assert probe.mode == "heartbeat"

        async def main():
            await asyncio.sleep(0.05)
            deep()
            await asyncio.sleep(0.05)
            return probe.blocks(), probe.snapshot()

        blocks, snap = loop.run_until_complete(main())
    finally:
        probe.close()
        loop.close()
    assert snap["python_asyncio_loop_iterations_total"] is None
    assert snap["python_asyncio_loop_busy_seconds_total"] is None
    assert len(blocks) == 1 and blocks[0]["duration"] >= 0.1
    if _probe.stacks_supported:
        assert blocks[0]["site"].endswith(" deep")
    monkeypatch.setenv("ASYNC_AUDITOR_UVLOOP_HOOK", "maybe")
    with pytest.raises(ValueError, match="ASYNC_AUDITOR_UVLOOP_HOOK"):
        async_auditor.install(uvloop.new_event_loop())


def test_default_executor_of_uvloop_is_found():
    """uvloop does not expose its default executor: the probe finds the
    one the app set among the loop's referents and measures it rather than
    replacing it; one set after install() is measured from the loop's next
    start."""
    import concurrent.futures
    loop = uvloop.new_event_loop()
    mine = concurrent.futures.ThreadPoolExecutor(2, thread_name_prefix="app")
    loop.set_default_executor(mine)
    probe = async_auditor.install(loop)
    later = concurrent.futures.ThreadPoolExecutor(3, thread_name_prefix="l")
    try:
        names = loop.run_until_complete(loop.run_in_executor(
            None, lambda: threading.current_thread().name))
        first = probe.snapshot()
        loop.set_default_executor(later)
        loop.run_until_complete(loop.run_in_executor(None, time.sleep, 0))
        second = probe.snapshot()
    finally:
        probe.close()
        loop.close()
        mine.shutdown()
        later.shutdown()
    assert names.startswith("app")
    assert first["python_asyncio_executor_max_workers"]["default"] == 2
    assert first["python_asyncio_executor_run_seconds"]["default"][
        "count"] == 1
    assert second["python_asyncio_executor_max_workers"]["default"] == 3
    assert second["python_asyncio_executor_run_seconds"]["default"][
        "count"] == 2
