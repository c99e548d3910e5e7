"""install() before any loop runs: never a silent dead probe.

install() with no loop running in its thread returns a pending Probe that
attaches to the next loop that starts running in that thread (asyncio.run,
uvloop.run, run_until_complete), never to a loop that does not run; and
install() inside a callback counts a block in that very callback."""

import asyncio
import sys
import threading
import time

import pytest

import async_auditor
from async_auditor import _loopstart

RUNNERS = ["asyncio", "uvloop"]


def run(impl, coro):
    if impl == "uvloop":
        return pytest.importorskip("uvloop").run(coro)
    return asyncio.run(coro)


def in_thread(fn):
    """Run fn in a fresh thread (no loop, no pending probe of ours)."""
    out = {}

    def target():
        try:
            out["value"] = fn()
        except BaseException as e:  # handed back to the test
            out["error"] = e

    t = threading.Thread(target=target)
    t.start()
    t.join(30)
    assert not t.is_alive()
    if "error" in out:
        raise out["error"]
    return out["value"]


@pytest.mark.parametrize("impl", RUNNERS)
def test_module_level_install_attaches_to_the_loop_that_runs(impl):
    if impl == "uvloop":
        pytest.importorskip("uvloop")

    def body():
        probe = async_auditor.install(block_threshold=0.05)
        pending = (repr(probe), probe.attached, probe.closed)
        with pytest.raises(RuntimeError, match="waits for an event loop"):
            probe.snapshot()
        time.sleep(0.3)  # before the loop: neither lag nor a block

        async def main():
            assert async_auditor.get_probe() is probe
            await asyncio.sleep(0.05)
            time.sleep(0.25)  # the block the old install() missed
            await asyncio.sleep(0.05)
            return probe.attached, probe.blocks(), probe.snapshot()

        return pending, run(impl, main()), probe

    pending, (attached, blocks, snap), probe = in_thread(body)
    assert "pending" in pending[0] and pending[1:] == (False, False)
    assert attached
    assert len(blocks) == 1, blocks
    assert 0.2 <= blocks[0]["duration"] < 0.6, blocks
    assert snap["python_asyncio_loop_block_duration_seconds"]["count"] == 1
    if impl == "asyncio":
        assert probe.closed  # the loop closed at the end of the run
    probe.close()


def test_never_attaches_to_a_loop_that_does_not_run():
    def body():
        idle = asyncio.new_event_loop()  # created, set, never run
        asyncio.set_event_loop(idle)
        probe = async_auditor.install()
        # a loop running in another thread is not this thread's loop
        in_thread(lambda: asyncio.run(asyncio.sleep(0.01)))
        state = probe.attached, repr(probe)
        probe.close()
        after = probe.closed, repr(probe)
        asyncio.run(asyncio.sleep(0.01))  # after close(): nothing attaches
        asyncio.set_event_loop(None)
        idle.close()
        return state, after, probe.attached

    (attached, text), (closed, closed_text), later = in_thread(body)
    assert not attached and "pending" in text
    assert closed and "closed before a loop ran" in closed_text
    assert not later


def test_second_install_before_the_loop_is_the_same_probe():
    def body():
        a = async_auditor.install()
        b = async_auditor.install()

        async def main():
            return async_auditor.install()

        c = asyncio.run(main())
        return a, b, c

    a, b, c = in_thread(body)
    assert a is b is c


@pytest.mark.parametrize("impl", RUNNERS)
def test_block_in_the_installing_callback_counts(impl):
    if impl == "uvloop":
        loop = pytest.importorskip("uvloop").new_event_loop()
    else:
        loop = asyncio.new_event_loop()
    holder = {}

    def callback():
        holder["probe"] = async_auditor.install(block_threshold=0.05)
        time.sleep(0.2)

    async def main():
        loop.call_soon(callback)
        await asyncio.sleep(0.4)
        return holder["probe"].blocks()

    try:
        blocks = loop.run_until_complete(main())
    finally:
        holder["probe"].close()
        loop.close()
    assert len(blocks) == 1, blocks
    # heartbeat mode (uvloop) counts from the first tick, one lag interval
    # after install()
    assert 0.15 <= blocks[0]["duration"] < 1.0, blocks


def test_the_hook_is_removed_when_nothing_waits():
    original = sys.set_asyncgen_hooks
    if _loopstart.active():
        pytest.skip("zero-code mode is on in this process")

    def body():
        probe = async_auditor.install()
        wrapped = _loopstart.active()
        asyncio.run(asyncio.sleep(0))
        return wrapped, _loopstart.active(), probe

    wrapped, after, probe = in_thread(body)
    assert wrapped and not after
    assert sys.set_asyncgen_hooks is original
    probe.close()


def test_runner_with_loop_factory_attaches():
    uvloop = pytest.importorskip("uvloop")
    if not hasattr(asyncio, "Runner"):
        pytest.skip("asyncio.Runner is 3.11+")

    def body():
        probe = async_auditor.install()
        try:
            with asyncio.Runner(loop_factory=uvloop.new_event_loop) as r:
                r.run(asyncio.sleep(0.02))
                seen = (probe.attached, probe.mode,
                        type(probe.loop).__module__)
            # the runner closed the loop: the probe saw it and closed
            return seen + (probe.closed,)
        finally:
            probe.close()

    attached, mode, module, closed = in_thread(body)
    assert attached and mode == "hook" and module.startswith("uvloop")
    assert closed


@pytest.mark.parametrize("impl", RUNNERS)
def test_loop_start_and_stop_are_seen(impl):
    """run_forever calls sys.set_asyncgen_hooks as it starts and again as
    it returns: _loopstart turns the second call into "this loop
    stopped", the only way to see a uvloop loop stop."""
    if impl == "uvloop":
        loop = pytest.importorskip("uvloop").new_event_loop()
    else:
        loop = asyncio.new_event_loop()
    seen = []

    def started(lp):
        seen.append(("start", lp is loop))

    def stopped(lp):
        seen.append(("stop", lp is loop, lp.is_running()))

    _loopstart.subscribe(started)
    _loopstart.subscribe_stop(stopped)
    try:
        loop.run_until_complete(asyncio.sleep(0))
        loop.run_until_complete(asyncio.sleep(0))
    finally:
        _loopstart.unsubscribe(started)
        _loopstart.unsubscribe_stop(stopped)
        loop.close()
    assert seen == [("start", True), ("stop", True, False)] * 2
