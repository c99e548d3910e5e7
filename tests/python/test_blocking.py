"""Blocking episodes against ground truth: the probe must report each
stall with its duration and the innermost frame's line, whether the
blocking code released the GIL or held it."""

import asyncio
import gc
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
    # the site holds the blocking callback's time: the sleep at least,
    # the stretch at most
    sites = snap["python_asyncio_block_site_seconds_total"]
    assert 0.2 <= sites[b["site"]] <= b["duration"]


def cpu_loop(seconds):
    # seconds of CPU: a wall-clock loop given a tenth of a CPU by a loaded
    # machine is mostly run-queue wait, which the probe calls starved
    end = time.thread_time() + seconds
    n = 0
    while time.thread_time() < end:  # cpu
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
    assert int(line) in (line_of(cpu_loop, "while time.thread_time"),
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
    the GIL between `t0 = ...` and the call, and the test flaked; a
    request made before the interval was raised is let through by a short
    sleep first)."""
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
            # a GIL request the ticker made under the old 5 ms interval
            # would still make this thread drop the GIL at its next check
            # (right after t0, say): let it through now; every request
            # from here on waits 5 s
            time.sleep(0.02)
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
    end = time.thread_time() + seconds  # CPU seconds (see cpu_loop)
    while time.thread_time() < end:  # fan-out
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
        assert 0.15 <= sites[b["site"]] <= b["duration"]


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
    # 20 chains that each advance one tick per iteration (call_soon from a
    # callback runs in the next one): at least count / 20 iterations, on
    # any machine (a fixed number failed when the test got little CPU)
    assert snap["python_asyncio_loop_iterations_total"] >= count // 20
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
    assert 0.6 <= sum(sites.values()) <= blocks[0]["duration"]
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


def spin(seconds):
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        pass


def test_saturated_loop_is_not_blocked():
    """300 callbacks of 1 ms in one iteration: the loop is busy far past
    the threshold, yet no callback comes near it: saturation (its own
    histogram), no blocking episode, no site."""
    ran = []

    async def body(probe):
        loop = asyncio.get_running_loop()
        for _ in range(300):
            loop.call_soon(lambda: (spin(0.001), ran.append(1)))
        await asyncio.sleep(0)
        await asyncio.sleep(0.01)

    _, blocks, snap = run(body, block_threshold=0.1)
    assert len(ran) == 300
    sat = snap["python_asyncio_loop_saturation_duration_seconds"]
    assert sat["count"] >= 1 and sat["sum"] >= 0.25
    assert snap["python_asyncio_loop_busy_seconds_total"] >= 0.3
    assert blocks == []
    assert snap["python_asyncio_loop_block_duration_seconds"]["count"] == 0
    assert snap["python_asyncio_block_site_seconds_total"] == {}


STARVE = r"""
import asyncio, json, os, subprocess, sys, time
import async_auditor

cpu = min(os.sched_getaffinity(0))
os.sched_setaffinity(0, {cpu})  # this thread and the ones it starts
# a CPU hog on the same CPU: three bursts of 0.3 s, 0.3 s apart
hog = subprocess.Popen([sys.executable, "-c", '''
import os, time
os.sched_setaffinity(0, {%d})
time.sleep(0.3)
for _ in range(3):
    end = time.monotonic() + 0.3
    while time.monotonic() < end:
        pass
    time.sleep(0.3)
''' % cpu])
loop = asyncio.new_event_loop()
probe = async_auditor.install(loop, block_threshold=0.05)
# the loop thread yields the CPU to anyone: the hog's bursts starve it
os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))

def spin():
    end = time.perf_counter() + 0.0005
    while time.perf_counter() < end:
        pass

async def main():
    end = time.monotonic() + 2.2
    while time.monotonic() < end and hog.poll() is None:
        for _ in range(10):
            spin()
        await asyncio.sleep(0)

loop.run_until_complete(main())
hog.wait()
snap = probe.snapshot()
print(json.dumps({k: snap[k] for k in (
    "python_asyncio_loop_starved_duration_seconds",
    "python_asyncio_loop_block_duration_seconds",
    "python_asyncio_block_site_seconds_total")}))
print(json.dumps(probe.blocks()))
"""


def test_host_cpu_starvation_is_not_blocking():
    """A loop thread that waits on the CPU run queue (here: SCHED_IDLE
    behind a CPU hog pinned to its CPU) inside a small callback is starved
    by the host, not blocked by its code: such stretches go to their own
    histogram and charge no site."""
    import json
    import os
    import subprocess
    if not os.path.exists("/proc/thread-self/schedstat"):
        pytest.skip("no schedstat in this kernel")
    if not hasattr(os, "SCHED_IDLE") or not hasattr(os, "sched_setaffinity"):
        pytest.skip("no SCHED_IDLE or affinity here")
    r = subprocess.run([sys.executable, "-c", STARVE], capture_output=True,
                       timeout=120)
    assert r.returncode == 0, r.stderr.decode()
    out = r.stdout.decode().splitlines()
    snap, blocks = json.loads(out[0]), json.loads(out[1])
    starved = snap["python_asyncio_loop_starved_duration_seconds"]
    assert starved["count"] >= 1 and starved["sum"] >= 0.1, (snap, blocks)
    assert snap["python_asyncio_loop_block_duration_seconds"]["count"] == 0
    assert snap["python_asyncio_block_site_seconds_total"] == {}
    assert blocks == []


def collect():
    gc.collect()  # a full collection of a large heap


def test_garbage_collection_is_not_a_callbacks_own_time():
    """A full collection of a large heap stalls whichever callback runs
    it; its time is timed apart (python_asyncio_loop_gc_duration_seconds)
    and is no callback's own: a callback long only by it is no blocking
    episode.  One that also sleeps past the threshold is, with its line."""
    # a heap whose full collection takes 80 ms of CPU or more (CPU time:
    # a busy machine stretches the wall time of the measurement, not the
    # collection's work)
    heap = [[] for _ in range(300_000)]
    t0 = time.thread_time()
    gc.collect()
    one = time.thread_time() - t0
    while one < 0.08 and len(heap) < 20_000_000:
        heap.extend([] for _ in range(len(heap)))
        t0 = time.thread_time()
        gc.collect()
        one = time.thread_time() - t0
    # The first full collection after the heap grew also moved the new
    # objects out of the young generations and can cost twice what later
    # ones do (0.235 s, then 0.096 s each, once in CI): what a collection
    # of this heap costs is the cheaper of two more.
    costs = []
    for _ in range(2):
        t0 = time.thread_time()
        gc.collect()
        costs.append(time.thread_time() - t0)
    threshold = max(0.02, min(costs) / 2)

    async def body(probe):
        collect()
        await asyncio.sleep(0.01)
        before = len(probe.blocks())
        collect()
        sleepy_for(threshold * 2)
        return before

    try:
        before, blocks, snap = run(body, block_threshold=threshold)
    finally:
        del heap
    assert before == 0
    gcs = snap["python_asyncio_loop_gc_duration_seconds"]
    assert gcs["count"] >= 2 and gcs["sum"] >= 2 * threshold
    # the first callback's stretch: busy (or, on a machine so loaded that
    # the thread waited for a CPU longer than it collected, starved)
    assert snap["python_asyncio_loop_saturation_duration_seconds"][
        "count"] + snap["python_asyncio_loop_starved_duration_seconds"][
        "count"] >= 1
    assert len(blocks) == 1 and blocks[0]["kind"] == "blocking"
    if STACKS:
        assert blocks[0]["site"] == site_of(sleepy_for, "# sleeps on")
        sites = snap["python_asyncio_block_site_seconds_total"]
        assert site_of(collect, "# a full collection") not in sites


def sleepy_for(seconds):
    time.sleep(seconds)  # sleeps on


def short_first():
    time.sleep(0.09)  # under the threshold


def just_over():
    time.sleep(0.105)  # just over the threshold


def test_callback_just_over_the_threshold_is_named():
    """Two callbacks in one iteration, 90 ms then 105 ms, at a 100 ms
    threshold: the second is the blocking one whether or not the watchdog
    happened to sample it once it was past the threshold (a sample taken
    in it earlier names it), and the first is charged nothing."""
    async def body(probe):
        loop = asyncio.get_running_loop()
        loop.call_soon(short_first)
        loop.call_soon(just_over)
        await asyncio.sleep(0.01)

    _, blocks, snap = run(body, block_threshold=0.1)
    assert len(blocks) == 1 and blocks[0]["kind"] == "blocking"
    assert blocks[0]["duration"] >= 0.195
    if not STACKS:
        return
    sites = snap["python_asyncio_block_site_seconds_total"]
    assert site_of(short_first, "# under") not in sites
    assert blocks[0]["site"] == site_of(just_over, "# just over")
    assert 0.105 <= sites[blocks[0]["site"]] <= blocks[0]["duration"]
