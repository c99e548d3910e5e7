"""On asyncio's loops the lag timer is driven by the probe's selector
(docs/probe.md, "Lag"): a tick due before or after select() runs there,
so nothing of the probe's goes through asyncio's timer heap; an idle
loop wakes every 100 ms instead of every tick, and the ticks it slept
through count with its wake-up latency (the schedule's arithmetic is
tests/probe/test_probe_ticker.c).  uvloop gets call_later.  Either way
the ticks count lag the same way."""

import asyncio
import selectors
import threading
import time

import pytest

import async_auditor


def lag(probe):
    return probe.snapshot()["python_asyncio_loop_lag_seconds"]


def lag_handles(loop, timer):
    """The timer's handles on the loop's heap or ready queue."""
    return [h for h in list(loop._scheduled) + list(loop._ready)
            if getattr(h, "_callback", None) is timer]


async def watch_ticks(probe, timer, n):
    """Wait for n ticks; how many of the timer's handles were queued at
    each look."""
    loop = asyncio.get_running_loop()
    seen = []
    before = lag(probe)["count"]
    while lag(probe)["count"] - before < n:
        await asyncio.sleep(0.003)
        seen.append(len(lag_handles(loop, timer)))
    return seen, lag(probe)["count"] - before


def run(loop, interval=0.005, debug=False):
    loop.set_debug(debug)
    try:
        probe = async_auditor.install(loop, lag_interval=interval,
                                      block_threshold=5.0)
        timer = probe._timer
        seen, ticks = loop.run_until_complete(
            asyncio.wait_for(watch_ticks(probe, timer, 20), 30))
        probe.close()
        return seen, ticks
    finally:
        loop.close()


class OwnClock(asyncio.SelectorEventLoop):
    """A loop whose time() is not time.monotonic()."""

    def time(self):
        return super().time() + 1000.0


@pytest.mark.parametrize("make, debug", [
    (asyncio.new_event_loop, False),
    (asyncio.new_event_loop, True),
    (OwnClock, False),
    (lambda: asyncio.SelectorEventLoop(selectors.PollSelector()), False),
], ids=["default", "debug", "own-clock", "poll-selector"])
def test_ticks_without_timer_handles(make, debug):
    seen, ticks = run(make(), debug=debug)
    assert ticks >= 20
    assert seen and set(seen) == {0}


@pytest.mark.parametrize("make", [
    asyncio.new_event_loop,
    lambda: asyncio.SelectorEventLoop(selectors.PollSelector()),
], ids=["epoll-fast-path", "poll-selector"])
def test_idle_loop_wakes_every_100_ms(make):
    """A loop with no timer of its own, waiting 0.4 s for another thread:
    select() must wake up by every idle wake-up (100 ms).  Uncapped, the
    one tick after the wait would be 0.4 s late and stand for the ~40 it
    swallowed, 8 s of lag in all; woken on time, ~40 ticks sum to well
    under a second.  And it must not wake for every tick (10 ms): 4-5
    iterations, not 40."""
    loop = make()
    try:
        probe = async_auditor.install(loop, lag_interval=0.01,
                                      block_threshold=5.0)

        iterations = []
        run_once = loop._run_once

        def counting_run_once():
            iterations.append(1)
            run_once()

        loop._run_once = counting_run_once

        async def idle():
            fut = loop.create_future()
            threading.Timer(0.4, loop.call_soon_threadsafe,
                            (fut.set_result, None)).start()
            before = lag(probe)
            assert not loop._scheduled  # nothing else would wake it
            del iterations[:]
            await fut
            after = lag(probe)
            return (after["count"] - before["count"],
                    after["sum"] - before["sum"])

        ticks, late = loop.run_until_complete(idle())
        probe.close()
    finally:
        loop.close()
    assert ticks >= 30
    assert late < 1.0
    assert 2 <= len(iterations) <= 15, len(iterations)



def test_block_is_seen_late():
    """A 200 ms block at a 10 ms interval: the next select() sees the tick
    late and records the samples it swallowed (coordinated omission)."""
    loop = asyncio.new_event_loop()
    try:
        probe = async_auditor.install(loop, lag_interval=0.01,
                                      block_threshold=5.0)

        async def main():
            await asyncio.sleep(0.05)
            time.sleep(0.2)
            await asyncio.sleep(0.05)

        loop.run_until_complete(main())
        got = lag(probe)
        probe.close()
    finally:
        loop.close()
    # the late tick and the ~19 it swallowed (0.19 s, 0.18 s, ... late):
    # about 2 s in all; without the correction it would be about 0.2 s
    assert got["count"] >= 20
    assert got["sum"] >= 1.0


def test_time_the_loop_does_not_run_is_not_lag():
    """install() before the loop runs, and a pause between two runs: 0.3 s
    each in which no tick could run.  Counted as lag they would add ~9 s
    (with the swallowed samples); the ticks must not see them."""
    loop = asyncio.new_event_loop()
    try:
        probe = async_auditor.install(loop, lag_interval=0.01,
                                      block_threshold=5.0)
        time.sleep(0.3)
        loop.run_until_complete(asyncio.sleep(0.1))
        time.sleep(0.3)
        loop.run_until_complete(asyncio.sleep(0.1))
        got = lag(probe)
        probe.close()
    finally:
        loop.close()
    assert got["count"] >= 4
    assert got["sum"] < 1.0


def test_close_stops_the_ticks():
    loop = asyncio.new_event_loop()
    try:
        probe = async_auditor.install(loop, lag_interval=0.005,
                                      block_threshold=5.0)
        timer = probe._timer
        loop.run_until_complete(asyncio.sleep(0.05))
        selector = loop._selector
        probe.close()
        assert loop._selector is not selector  # the inner one is back
        assert selector.select(0) == []  # and the wrapper drives nothing
        loop.run_until_complete(asyncio.sleep(0.05))
        assert lag_handles(loop, timer) == []
    finally:
        loop.close()


def test_uvloop_ticks_with_call_later():
    uvloop = pytest.importorskip("uvloop")
    loop = uvloop.new_event_loop()
    try:
        probe = async_auditor.install(loop, lag_interval=0.005,
                                      block_threshold=5.0)

        async def ticks(n):
            before = lag(probe)["count"]
            while lag(probe)["count"] - before < n:
                await asyncio.sleep(0.003)

        loop.run_until_complete(asyncio.wait_for(ticks(20), 30))
        probe.close()
    finally:
        loop.close()
