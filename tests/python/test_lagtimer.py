"""The lag timer re-arms itself by pushing the TimerHandle that just ran
back onto asyncio's timer heap (docs/probe.md, "Lag"): one handle for the
probe's whole life, never two on the heap, cancelled by close(), counted
like call_later's; other loops (debug mode, a loop whose time() is its
own, uvloop) get call_later and the same counts."""

import asyncio

import pytest

import async_auditor


def lag_handles(loop, timer):
    """The timer's live handles: on the heap, or due and waiting in the
    ready queue for this iteration's turn."""
    return [h for h in list(loop._scheduled) + list(loop._ready)
            if getattr(h, "_callback", None) is timer and not h._cancelled]


async def watch_ticks(probe, timer, n, interval):
    """Identities of the timer's handle over n ticks, and how many of the
    timer's handles were live at each look."""
    loop = asyncio.get_running_loop()
    ids, on_heap = set(), []
    before = probe.snapshot()["python_asyncio_loop_lag_seconds"]["count"]
    while True:
        await asyncio.sleep(0.003)
        mine = lag_handles(loop, timer)
        on_heap.append(len(mine))
        ids.update(id(h) for h in mine)
        for h in mine:
            # due on the loop's own clock, at most one interval ahead
            assert h._when - loop.time() <= interval + 0.001, h._when
            assert h._when - loop.time() > -1.0, h._when
        got = probe.snapshot()["python_asyncio_loop_lag_seconds"]["count"]
        if got - before >= n:
            return ids, on_heap, got - before


def run(loop, interval=0.005, debug=False):
    loop.set_debug(debug)
    try:
        probe = async_auditor.install(loop, lag_interval=interval,
                                      block_threshold=5.0)
        timer = probe._timer
        ids, on_heap, ticks = loop.run_until_complete(
            asyncio.wait_for(watch_ticks(probe, timer, 20, interval), 30))
        probe.close()
        left = lag_handles(loop, timer)
        return ids, on_heap, ticks, left
    finally:
        loop.close()


def test_one_handle_reused_for_every_tick():
    ids, on_heap, ticks, left = run(asyncio.new_event_loop())
    assert ticks >= 20
    assert set(on_heap) == {1}  # never two, never none
    assert len(ids) == 1  # the same handle object every tick
    assert left == []  # close() cancelled it


def test_debug_loop_gets_call_later():
    ids, on_heap, ticks, left = run(asyncio.new_event_loop(), debug=True)
    assert ticks >= 20
    assert set(on_heap) == {1}
    assert len(ids) > 1  # a new handle per tick
    assert left == []


class OwnClock(asyncio.SelectorEventLoop):
    """A loop whose time() is not time.monotonic(): the timer's due times
    must come from it."""

    offset = 1000.0

    def time(self):
        return super().time() + self.offset


def test_loop_with_its_own_clock():
    loop = OwnClock()
    ids, on_heap, ticks, left = run(loop)
    assert ticks >= 20
    assert set(on_heap) == {1}
    assert len(ids) == 1
    assert left == []


def test_reused_handle_keeps_lag_honest():
    """A 200 ms block at a 10 ms interval: the reused timer still sees it
    late and records the swallowed samples (coordinated omission)."""
    import time

    loop = asyncio.new_event_loop()
    try:
        probe = async_auditor.install(loop, lag_interval=0.01,
                                      block_threshold=5.0)

        async def main():
            await asyncio.sleep(0.05)
            time.sleep(0.2)
            await asyncio.sleep(0.05)

        loop.run_until_complete(main())
        lag = probe.snapshot()["python_asyncio_loop_lag_seconds"]
        probe.close()
    finally:
        loop.close()
    # the late tick and the ~19 it swallowed (0.19 s, 0.18 s, ... late):
    # about 2 s in all; without the correction it would be about 0.2 s
    assert lag["count"] >= 20
    assert lag["sum"] >= 1.0


def test_uvloop_ticks_with_call_later():
    uvloop = pytest.importorskip("uvloop")
    loop = uvloop.new_event_loop()
    try:
        probe = async_auditor.install(loop, lag_interval=0.005,
                                      block_threshold=5.0)

        async def ticks(n):
            count = probe.snapshot
            before = count()["python_asyncio_loop_lag_seconds"]["count"]
            while (count()["python_asyncio_loop_lag_seconds"]["count"] -
                   before < n):
                await asyncio.sleep(0.003)

        loop.run_until_complete(asyncio.wait_for(ticks(20), 30))
        probe.close()
    finally:
        loop.close()
