"""GIL contention: a CPU-bound job in a worker thread (asyncio.to_thread)
starves the loop of the GIL while it serves requests.  The probe must call
those episodes GIL contention, name the worker thread and the job's own
line, and charge none of that time to the loop's frames (asyncio's
selector, the request handler); a loop blocked by its own time.sleep while
a worker burns CPU stays a blocking episode (docs/probe.md, "GIL
contention")."""

import asyncio
import inspect
import random
import re
import socket
import threading
import time

import pytest

import async_auditor
from async_auditor import _probe

pytestmark = pytest.mark.skipif(
    not _probe.stacks_supported,
    reason="stack capture: %s" % _probe.stacks_unsupported_reason)


def site_of(fn, needle):
    src, start = inspect.getsourcelines(fn)
    for i, text in enumerate(src):
        if needle in text:
            return "%s:%d %s" % (inspect.getsourcefile(fn), start + i,
                                 fn.__name__)
    raise AssertionError(needle)


def rank(data, seconds):
    """The worker's job: pure Python driving sorted(), which holds the GIL
    for tens of milliseconds per call (the interpreter cannot switch
    threads inside it)."""
    end = time.perf_counter() + seconds
    rounds = 0
    while time.perf_counter() < end:
        sorted(data)  # the job's line
        rounds += 1
    return rounds


def handle(payload):
    """What the loop does per request: a few milliseconds of Python, more
    than the 5 ms switch interval, so the worker gets the GIL in the
    middle of it."""
    total = 0
    for i in range(len(payload) * 2000):
        total += i % 7
    return total


async def serve(reader, writer):
    while True:
        line = await reader.readline()
        if not line:
            break
        writer.write(b"%d\n" % handle(line))
        await writer.drain()
    writer.close()


def client(port, stop, answered):
    """A blocking client in its own thread: it waits in the kernel, not
    for the GIL, between requests."""
    with socket.create_connection(("127.0.0.1", port)) as s:
        f = s.makefile("rwb")
        while not stop.is_set():
            f.write(b"ping\n")
            f.flush()
            if not f.readline():
                break
            answered.append(1)


def test_cpu_job_in_a_thread_is_gil_contention():
    # a list whose sort takes about 40 ms on this machine
    size = 10_000
    while True:
        data = list(range(size))
        random.Random(1).shuffle(data)
        t0 = time.perf_counter()
        sorted(data)
        per_sort = time.perf_counter() - t0
        if per_sort > 0.04 or size > 10_000_000:
            break
        size *= 2
    # the loop should wait for several sorts' worth: a threshold under
    # one sort, but above a scheduling hiccup
    threshold = max(0.01, min(0.05, per_sort * 0.6))
    loop = asyncio.new_event_loop()
    stop = threading.Event()
    answered = []
    try:
        probe = async_auditor.install(loop, block_threshold=threshold)

        async def main():
            server = await asyncio.start_server(serve, "127.0.0.1", 0)
            port = server.sockets[0].getsockname()[1]
            clients = [threading.Thread(target=client,
                                        args=(port, stop, answered))
                       for _ in range(1)]
            for c in clients:
                c.start()
            await asyncio.sleep(0.1)
            rounds = await asyncio.to_thread(rank, data, 2.0)
            stop.set()
            server.close()
            for c in clients:
                await asyncio.to_thread(c.join, 10)
            return rounds

        rounds = loop.run_until_complete(main())
        blocks, snap = probe.blocks(), probe.snapshot()
        metrics = _probe.render_metrics()
        probe.close()
    finally:
        stop.set()
        loop.close()
    assert rounds > 3 and answered
    job = site_of(rank, "the job's line")
    gil = [b for b in blocks if b["kind"] == "gil"]
    seen = [(round(b["duration"], 3), b["kind"], b["site"], b["class"])
            for b in blocks]
    # the stalls are mostly the worker's doing, and say so (on a loaded
    # machine the loop also waits for a CPU, which is its own time)
    assert sum(b["duration"] for b in gil) > \
        sum(b["duration"] for b in blocks) / 2, seen
    for b in gil:
        assert b["site"] == job, b
        assert b["class"] == "gil"
        assert "process pool" in b["hint"]
        assert b["thread"] and b["thread"].startswith("asyncio_"), b
        assert b["thread_id"] and b["thread_id"] != threading.get_native_id()
        assert b["chain"].startswith("test_gil.py:"), b["chain"]
    # the wait is never charged to the loop's own frames: its sites hold
    # only the time it ran its own code (the handler, asyncio's callbacks)
    # in the few stalls that were mostly that, far less than the wait
    sites = {s: v for s, v in
             snap["python_asyncio_block_site_seconds_total"].items() if v}
    assert job not in sites
    # GIL episodes have their own histogram, blocking ones theirs
    waited = snap["python_asyncio_loop_gil_wait_duration_seconds"]
    blocked = snap["python_asyncio_loop_block_duration_seconds"]
    assert waited["count"] >= 1 and waited["sum"] > threshold
    assert blocked["sum"] < waited["sum"], (blocked, waited, seen)
    # the ring keeps the last 32 episodes; the histogram has them all
    assert waited["sum"] >= sum(b["duration"] for b in gil) - 1e-6
    assert sum(sites.values()) < waited["sum"], (sites, seen)
    # the series: time waited by holder thread and site, and what the
    # holder's site is
    holders = snap["python_asyncio_gil_holder_seconds_total"]
    mine = {k: v for k, v in holders.items() if k[1] == job}
    assert mine and all(k[0].startswith("asyncio_") for k in mine)
    assert sum(mine.values()) > threshold
    info = snap["python_asyncio_gil_holder_info"]
    for k in mine:
        assert info[k]["class"] == "cpu", info[k]
        assert "process pool" in info[k]["hint"]
        assert info[k]["chain"].startswith("test_gil.py:")
    assert re.search(r"^python_asyncio_loop_gil_wait_duration_seconds_count"
                     r"\{[^}]*\} [0-9]+$", metrics, re.M)
    assert re.search(r'^python_asyncio_gil_holder_seconds_total\{.*'
                     r'thread="asyncio_\d+",site="%s"\} [0-9.]+$'
                     % re.escape(job), metrics, re.M), metrics
    assert re.search(r'^python_asyncio_gil_holder_info\{.*'
                     r'thread="asyncio_\d+",site="%s",chain="test_gil.py:'
                     r'[^"]*",class="cpu",hint="[^"]+"\} 1$'
                     % re.escape(job), metrics, re.M), metrics


def burn(stop):
    while not stop.is_set():
        sum(range(1000))


def doze():
    time.sleep(0.3)  # the loop's own line


def test_own_sleep_while_a_worker_burns_cpu_is_blocking():
    """The loop thread sleeps in the kernel, not on the GIL: its own
    line is the culprit even though another thread holds the GIL most of
    the time meanwhile."""
    stop = threading.Event()
    t = threading.Thread(target=burn, args=(stop,))
    loop = asyncio.new_event_loop()
    try:
        probe = async_auditor.install(loop, block_threshold=0.05)
        t.start()

        async def main():
            await asyncio.sleep(0.05)
            doze()
            await asyncio.sleep(0.05)

        loop.run_until_complete(main())
        blocks = probe.blocks()
        probe.close()
    finally:
        stop.set()
        t.join()
        loop.close()
    mine = [b for b in blocks if b["site"] == site_of(doze, "own line")]
    assert len(mine) == 1, blocks
    assert mine[0]["kind"] == "blocking"
    assert mine[0]["class"] == "sleep"
    assert mine[0]["thread"] is None
