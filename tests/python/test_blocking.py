"""Blocking episodes against ground truth: the probe must report each
stall with its duration and the innermost frame's line, whether the
blocking code released the GIL or held it."""

import asyncio
import inspect
import re
import sys
import threading
import time

import pytest

import async_auditor
from async_auditor import _probe


STACKS = bool(_probe.stacks_supported)
needs_stacks = pytest.mark.skipif(
    not STACKS, reason="stack capture: %s" % _probe.stacks_unsupported_reason)


def run(coro_fn, **install_kw):
    """Run coro_fn(probe) on a fresh loop with the probe installed; returns
    (result, blocks, snapshot) read before the probe is closed."""
    loop = asyncio.new_event_loop()
    try:
        probe = async_auditor.install(loop, **install_kw)

        async def main():
            await asyncio.sleep(0.02)
            r = await coro_fn(probe)
            await asyncio.sleep(0.02)
            return r

        result = loop.run_until_complete(main())
        blocks, snap = probe.blocks(), probe.snapshot()
        probe.close()
        return result, blocks, snap
    finally:
        loop.close()


def line_of(fn, needle):
    src, start = inspect.getsourcelines(fn)
    for i, text in enumerate(src):
        if needle in text:
            return start + i
    raise AssertionError(needle)


def site_of(fn, needle):
    return "%s:%d %s" % (inspect.getsourcefile(fn), line_of(fn, needle),
                         fn.__name__)


def frames_of(tb):
    """traceback.extract_stack() as the reader's tuples, innermost first."""
    return [(f.filename, f.lineno, f.name) for f in reversed(tb)]


class Nest:
    """Frames of every kind the reader walks through: a method, a lambda,
    a generator, a coroutine driven by send(), a comprehension, code run
    by exec() (a "<string>" file), a decorator's wrapper."""

    def method(self):
        return (lambda: list(self.gen()))()[0]

    def gen(self):
        yield from [self.coro_result()]

    def coro_result(self):
        c = self.coro()
        try:
            c.send(None)
        except StopIteration as stop:
            return stop.value

    async def coro(self):
        return [capture() for _ in range(1)][0]


def traced(fn):
    def wrapper(*a):
        return fn(*a)
    return wrapper


@traced
def capture():
    ns = {"_probe": _probe, "traceback": __import__("traceback")}
    exec("r = (_probe.capture_self(), traceback.extract_stack())", ns)
    return ns["r"]


@needs_stacks
def test_stack_reader_matches_traceback():
    """The whole stack, file, line and function of every frame, is what
    the interpreter itself reports (the walk skips shim and incomplete
    frames as tracebacks do, and does not stop at them)."""
    mine, tb = Nest().method()
    want = frames_of(tb)
    # the two calls sit on the same line of the same exec'd code
    assert want[0][0] == "<string>"
    assert mine == want
    names = [f[2] for f in mine]
    for name in ("capture", "wrapper", "coro", "coro_result", "gen",
                 "<lambda>", "method", "test_stack_reader_matches_traceback"):
        assert name in names
    assert len(mine) > 10  # pytest's own frames too, all of them


@needs_stacks
def test_stack_reader_in_a_thread():
    out = []

    def worker():
        out.append(capture())

    t = threading.Thread(target=worker)
    t.start()
    t.join()
    mine, tb = out[0]
    assert mine == frames_of(tb)
    assert mine[-1][2] == "_bootstrap"


def test_unsupported_reason_is_stated():
    if STACKS:
        assert _probe.stacks_unsupported_reason is None
        assert _probe.stacks_layout_source in ("headers", "_Py_DebugOffsets")
    else:
        assert _probe.stacks_unsupported_reason
        assert _probe.stacks_layout_source == "none"
        with pytest.raises(RuntimeError):
            _probe.capture_self()
    if sys.version_info >= (3, 13) and STACKS:
        # from 3.13 on, the layout comes from the interpreter itself
        assert _probe.stacks_layout_source == "_Py_DebugOffsets"


def sleepy():
    time.sleep(0.2)  # the blocking line


def test_sleep_in_coroutine():
    async def body(probe):
        sleepy()

    _, blocks, snap = run(body)
    assert len(blocks) == 1
    b = blocks[0]
    assert 0.2 <= b["duration"] < 2.0
    assert not b["ongoing"]
    hist = snap["python_asyncio_loop_block_duration_seconds"]
    assert hist["count"] == 1 and hist["sum"] >= 0.2
    if not STACKS:
        assert b["site"] is None
        return
    assert b["site"] == site_of(sleepy, "time.sleep(0.2)")
    assert b["stack"][-1] == b["site"]
    sites = snap["python_asyncio_block_site_seconds_total"]
    assert sites[b["site"]] == pytest.approx(b["duration"], rel=1e-6)


def cpu_loop(seconds):
    end = time.perf_counter() + seconds
    n = 0
    while time.perf_counter() < end:  # cpu
        n += 1  # cpu
    return n


def test_cpu_loop():
    async def body(probe):
        cpu_loop(0.25)

    _, blocks, _ = run(body)
    assert len(blocks) == 1
    assert 0.25 <= blocks[0]["duration"] < 2.0
    if not STACKS:
        return
    path, _, rest = blocks[0]["site"].rpartition(":")
    line, func = rest.split(" ")
    assert path == inspect.getsourcefile(cpu_loop) and func == "cpu_loop"
    assert int(line) in (line_of(cpu_loop, "while time.perf_counter"),
                         line_of(cpu_loop, "n += 1"))


EVIL = re.compile(r"(a+)+$")


def gil_holding_match(n):
    return EVIL.match("a" * n + "b")  # regex


def test_gil_holding_c_call():
    """A catastrophic-backtracking re match runs in C and never releases
    the GIL; a ticker thread proves it (it cannot run meanwhile).  The
    switch interval is raised for the test so the interpreter does not
    hand the GIL over between two bytecodes on its own: ticks can then
    only come in when the main thread releases the GIL, and none may
    fall between the two clock reads around the match, whatever the load
    of the machine (with the default 5 ms interval the ticker could take
    the GIL between `t0 = ...` and the call, and the test flaked)."""
    n = 18
    while True:
        t0 = time.perf_counter()
        gil_holding_match(n)
        if time.perf_counter() - t0 >= 0.02:
            break
        n += 1
    n += 3  # about 8x: >= 0.16 s
    ticks = []
    stop = threading.Event()

    def ticker():
        while not stop.is_set():
            ticks.append(time.perf_counter())
            time.sleep(0.001)

    async def body(probe):
        th = threading.Thread(target=ticker)
        th.start()
        await asyncio.sleep(0.05)
        old = sys.getswitchinterval()
        sys.setswitchinterval(5.0)
        try:
            t0 = time.perf_counter()
            gil_holding_match(n)
            t1 = time.perf_counter()
        finally:
            sys.setswitchinterval(old)
        await asyncio.sleep(0.01)
        stop.set()
        th.join()
        return t0, t1

    (t0, t1), blocks, _ = run(body)
    assert len(ticks) > 10, "the ticker never ran"
    inside = [t for t in ticks if t0 < t < t1]
    assert not inside, "the GIL was released during the match"
    assert len(blocks) == 1
    assert blocks[0]["duration"] >= t1 - t0 - 0.001
    if STACKS:
        assert blocks[0]["site"] == site_of(gil_holding_match, "# regex")
        # the loop thread held the GIL: blocking, not GIL contention
        assert blocks[0]["kind"] == "blocking"
        assert blocks[0]["class"] == "cpu"


def helper_c():
    time.sleep(0.12)  # innermost


def helper_b():
    helper_c()


def helper_a():
    helper_b()


@needs_stacks
def test_three_calls_deep():
    async def body(probe):
        helper_a()

    _, blocks, _ = run(body)
    assert len(blocks) == 1
    assert blocks[0]["site"] == site_of(helper_c, "# innermost")
    names = [s.rsplit(" ", 1)[1] for s in blocks[0]["stack"][-4:]]
    assert names == ["body", "helper_a", "helper_b", "helper_c"]


async def nop():
    pass


def fan_out(loop, seconds):
    """Most of the time goes to asyncio's own functions called here.  Few
    tasks, so that running them afterwards is no episode of its own."""
    tasks = []
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:  # fan-out
        for _ in range(200):  # fan-out
            asyncio.isfuture(tasks)  # fan-out
        if len(tasks) < 100:  # fan-out
            tasks.append(loop.create_task(nop()))  # fan-out
    return tasks


@needs_stacks
def test_site_is_the_callers_line_not_asyncio_internals():
    async def body(probe):
        await asyncio.gather(*fan_out(asyncio.get_running_loop(), 0.4))

    _, blocks, snap = run(body, block_threshold=0.02)
    assert len(blocks) == 1
    sites = snap["python_asyncio_block_site_seconds_total"]
    assert sites
    # the user's lines: the fan-out, and gather() over its tasks
    allowed = {site_of(fan_out, text) for text in (
        "while time", "for _ in", "asyncio.isfuture", "if len(tasks)",
        "tasks.append")}
    allowed.add(site_of(body, "asyncio.gather"))
    assert set(sites) <= allowed
    assert blocks[0]["site"] in sites
    # the stack itself still shows every frame, asyncio's included (when
    # the first sample could read it: the loop thread runs meanwhile)
    stack = blocks[0]["stack"]
    assert not stack or any("/asyncio/" in f for f in stack)


@needs_stacks
def test_site_table_admits_late_culprits():
    """More distinct sites than the table holds: the later ones are still
    named (the quietest earlier site gives up its slot), not "other"."""
    n = async_auditor._probe.SITES_MAX + 5
    src = "".join("def block_%d(t):\n    time.sleep(t)\n" % i
                  for i in range(n))
    ns = {}
    exec(compile(src, "<sites>", "exec"), {"time": time}, ns)

    async def body(probe):
        for i in range(n):
            ns["block_%d" % i](0.15)
            await asyncio.sleep(0)

    _, blocks, snap = run(body, block_threshold=0.03)
    sites = snap["python_asyncio_block_site_seconds_total"]
    assert len(blocks) == n
    assert len(sites) <= async_auditor._probe.SITES_MAX + 1
    assert "other" not in sites
    # each late episode is charged to its own site, not to "other"
    late = [(i, b) for i, b in enumerate(blocks) if i >= n - 5 and b["site"]]
    assert late, "the watchdog sampled none of the late episodes"
    for i, b in late:
        assert b["site"] == "<sites>:%d block_%d" % (2 * i + 2, i)
    # the last one was admitted last: nothing has evicted it
    i, b = late[-1]
    if i == n - 1:
        assert sites[b["site"]] == pytest.approx(b["duration"], rel=1e-6)


def test_healthy_high_rate_no_false_positive():
    async def body(probe):
        loop = asyncio.get_running_loop()
        count = 0
        done = loop.create_future()
        end = time.perf_counter() + 1.0

        def tick():
            nonlocal count
            count += 1
            sum(range(200))
            if time.perf_counter() < end:
                loop.call_soon(tick)
            elif not done.done():
                done.set_result(None)

        for _ in range(20):
            loop.call_soon(tick)

        async def sleeper():
            for _ in range(100):
                await asyncio.sleep(0.001)

        await asyncio.gather(done, *[sleeper() for _ in range(50)])
        return count

    count, blocks, snap = run(body)
    assert count > 10000
    assert blocks == []
    assert snap["python_asyncio_loop_block_duration_seconds"]["count"] == 0
    assert snap["python_asyncio_loop_iterations_total"] > 1000
    assert snap["python_asyncio_tasks_created_total"] >= 50


@needs_stacks
def test_long_stall_resampled_and_lag_corrected():
    """A 0.6 s stall at a 0.1 s threshold is sampled several times and the
    lag histogram gets the samples the stall swallowed."""
    def first():
        time.sleep(0.3)  # first half

    def second():
        time.sleep(0.3)  # second half

    async def body(probe):
        first()
        second()

    _, blocks, snap = run(body, block_threshold=0.1, lag_interval=0.01)
    assert len(blocks) == 1
    sites = snap["python_asyncio_block_site_seconds_total"]
    assert set(sites) == {site_of(first, "# first half"),
                          site_of(second, "# second half")}
    assert sum(sites.values()) == pytest.approx(blocks[0]["duration"],
                                                rel=1e-6)
    # 0.6 s late at a 10 ms interval: ~60 corrected samples
    assert snap["python_asyncio_loop_lag_seconds"]["count"] >= 55


def test_stacks_off_still_counts_episodes():
    async def body(probe):
        time.sleep(0.08)

    _, blocks, snap = run(body, stacks=False)
    assert len(blocks) == 1 and blocks[0]["site"] is None
    assert blocks[0]["stack"] == []
    assert snap["python_asyncio_block_site_seconds_total"] == {}


def test_threshold_from_environment(monkeypatch):
    monkeypatch.setenv("ASYNC_AUDITOR_BLOCK_THRESHOLD", "0.3")

    async def body(probe):
        assert probe.block_threshold == 0.3
        time.sleep(0.1)

    _, blocks, _ = run(body)
    assert blocks == []
    monkeypatch.setenv("ASYNC_AUDITOR_BLOCK_THRESHOLD", "fast")
    with pytest.raises(ValueError, match="ASYNC_AUDITOR_BLOCK_THRESHOLD"):
        run(body)
