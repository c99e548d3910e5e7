"""Lifecycle: install/close many times, several loops in threads, loops
closed under the probe, interpreter exit while blocked, fork (uvloop:
test_uvloop.py)."""

import asyncio
import gc
import os
import subprocess
import sys
import textwrap
import threading
import time

import pytest

import async_auditor
from async_auditor import _probe
from conftest import free_port, http_get, metric, parse_metrics


def rss_kb():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") // 1024


@pytest.mark.slow
def test_install_close_1000_times_no_leak():
    loop = asyncio.new_event_loop()

    def cycle(n):
        for _ in range(n):
            p = async_auditor.install(loop)
            assert async_auditor.install(loop) is p
            loop.run_until_complete(asyncio.sleep(0))
            p.close()

    try:
        cycle(200)
        gc.collect()
        before = rss_kb()
        cycle(1000)
        gc.collect()
        grown = rss_kb() - before
    finally:
        loop.close()
    assert loop._selector is None
    assert "python_asyncio_loop_lag_seconds" not in _probe.render_metrics()
    if "libasan" not in os.environ.get("LD_PRELOAD", ""):
        # (ASan's quarantine holds freed memory, so RSS says nothing there)
        assert grown < 2048, "RSS grew by %d KiB over 1000 cycles" % grown


def test_idempotent_and_detached():
    loop = asyncio.new_event_loop()
    try:
        sel = loop._selector
        p = async_auditor.install(loop)
        assert loop._selector is not sel
        assert async_auditor.install(loop) is p
        p.close()
        p.close()
        assert loop._selector is sel
        assert "stop" not in loop.__dict__ and "_run_once" not in \
            loop.__dict__
        assert loop.get_task_factory() is None
        with pytest.raises(RuntimeError):
            p.snapshot()
    finally:
        loop.close()


def test_several_loops_in_threads():
    results = {}

    def worker(name, seconds):
        loop = asyncio.new_event_loop()
        probe = async_auditor.install(loop)

        async def main():
            await asyncio.sleep(0.05)
            time.sleep(seconds)
            await asyncio.sleep(0.05)

        loop.run_until_complete(main())
        blocks = probe.blocks()
        barrier.wait(10)
        results[name] = (blocks, _probe.render_metrics())
        barrier.wait(10)
        probe.close()
        loop.close()

    barrier = threading.Barrier(3)
    threads = [threading.Thread(target=worker, name=n, args=(n, s))
               for n, s in [("loop-a", 0.08), ("loop-b", 0.15),
                            ("loop-c", 0.0)]]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert len(results["loop-a"][0]) == 1
    assert len(results["loop-b"][0]) == 1
    assert results["loop-c"][0] == []
    assert results["loop-b"][0][0]["duration"] >= 0.15
    samples = parse_metrics(results["loop-c"][1])
    counts = {l["loop"]: v for n, l, v in samples
              if n == "python_asyncio_loop_block_duration_seconds_count"}
    assert counts == {"loop-a": 1, "loop-b": 1, "loop-c": 0}


def test_loop_closed_while_probe_runs():
    loop = asyncio.new_event_loop()
    probe = async_auditor.install(loop)
    loop.run_until_complete(asyncio.sleep(0.02))
    loop.close()
    assert probe.closed
    assert "python_asyncio_loop_lag_seconds" not in _probe.render_metrics()
    probe.close()


def test_asyncio_run_and_stopped_loop_no_false_block():
    """Between run_until_complete calls the loop is not running: no
    episode, no lag spike."""
    loop = asyncio.new_event_loop()
    probe = async_auditor.install(loop)
    try:
        loop.run_until_complete(asyncio.sleep(0.02))
        time.sleep(0.3)
        assert probe.snapshot()[
            "python_asyncio_loop_current_block_seconds"] == 0
        loop.run_until_complete(asyncio.sleep(0.05))
        snap = probe.snapshot()
        assert probe.blocks() == []
        assert snap["python_asyncio_loop_lag_seconds"]["sum"] < 0.2
    finally:
        probe.close()
        loop.close()


def run_script(body, timeout=30, env=None):
    e = dict(os.environ)
    e.update(env or {})
    return subprocess.run([sys.executable, "-c", textwrap.dedent(body)],
                          capture_output=True, timeout=timeout, env=e)


@pytest.mark.slow
def test_interpreter_exit_while_loop_blocked():
    r = run_script("""
        import asyncio, threading, time, async_auditor

        def runner(how):
            async def main():
                async_auditor.install(serve="127.0.0.1:0")
                await asyncio.sleep(0.05)
                if how == "sleep":
                    time.sleep(30)
                else:
                    while True:
                        pass
            asyncio.run(main())

        for how in ("sleep", "cpu"):
            threading.Thread(target=runner, args=(how,), daemon=True).start()
        time.sleep(0.5)
        print("exiting", flush=True)
    """)
    assert r.returncode == 0, r.stderr.decode()
    assert b"exiting" in r.stdout


@pytest.mark.slow
def test_fork_child_gets_working_probe():
    port = free_port()
    r = run_script("""
        import asyncio, os, sys, time, json, urllib.request
        import async_auditor

        async def block(probe):
            await asyncio.sleep(0.02)
            time.sleep(0.12)
            await asyncio.sleep(0.05)
            return probe.blocks()

        loop = asyncio.new_event_loop()
        probe = async_auditor.install(loop, serve="127.0.0.1:0")
        assert len(loop.run_until_complete(block(probe))) == 1
        pid = os.fork()
        if pid == 0:
            try:
                # inherited probe keeps working, counters start afresh
                blocks = loop.run_until_complete(block(probe))
                assert len(blocks) == 1, blocks
                # a fresh loop in the child works too, and it can serve
                loop2 = asyncio.new_event_loop()
                p2 = async_auditor.install(loop2)
                assert len(loop2.run_until_complete(block(p2))) == 1
                host, port = async_auditor.serve("127.0.0.1:%s")
                body = urllib.request.urlopen(
                    "http://127.0.0.1:%%d/metrics" %% port,
                    timeout=5).read().decode()
                assert "python_asyncio_loop_lag_seconds" in body
                p2.close()
                probe.close()
                os._exit(0)
            except BaseException as e:
                import traceback; traceback.print_exc()
                os._exit(3)
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0, status
        # the parent is unaffected
        assert len(loop.run_until_complete(block(probe))) == 2
        probe.close()
        print("ok")
    """ % port)
    assert r.returncode == 0, r.stderr.decode()
    assert r.stdout.strip() == b"ok"


@pytest.mark.parametrize("impl", ["asyncio", "uvloop"])
def test_install_long_before_the_loop_runs(impl):
    """The wait between install() and the loop running is neither lag nor
    a block (in heartbeat mode it used to be both: a test that installed,
    then was descheduled before run_until_complete, saw a false episode)."""
    if impl == "uvloop":
        loop = pytest.importorskip("uvloop").new_event_loop()
    else:
        loop = asyncio.new_event_loop()
    probe = async_auditor.install(loop)
    try:
        time.sleep(0.5)  # what a loaded machine may do to us

        async def main():
            await asyncio.sleep(0.03)
            return probe.blocks(), probe.snapshot()

        blocks, snap = loop.run_until_complete(main())
    finally:
        probe.close()
        loop.close()
    assert [b for b in blocks if b["duration"] >= 0.3] == []
    # 0.5 s counted as lag would be ~50 samples (with the correction for
    # swallowed samples) summing to over 10 s
    assert snap["python_asyncio_loop_lag_seconds"]["sum"] < 0.5


@pytest.mark.skipif(not _probe.stacks_supported,
                    reason="stack capture needs CPython 3.11 to 3.13")
def test_installed_in_one_thread_run_in_another():
    """Stacks follow the thread that actually runs the loop."""
    loop = asyncio.new_event_loop()
    probe = async_auditor.install(loop)

    def stuck_in_worker():
        time.sleep(0.12)  # worker-side

    async def main():
        await asyncio.sleep(0.02)
        stuck_in_worker()
        await asyncio.sleep(0.02)

    t = threading.Thread(target=loop.run_until_complete, args=(main(),))
    t.start()
    t.join(10)
    try:
        blocks = probe.blocks()
    finally:
        probe.close()
        loop.close()
    assert len(blocks) == 1
    assert blocks[0]["site"].endswith(" stuck_in_worker")


def test_same_thread_two_loops_distinct_labels():
    a, b = asyncio.new_event_loop(), asyncio.new_event_loop()
    pa, pb = async_auditor.install(a), async_auditor.install(b)
    try:
        samples = parse_metrics(_probe.render_metrics())
        names = {l["loop"] for n, l, _ in samples
                 if n == "python_asyncio_probe_info"}
        me = threading.current_thread().name
        assert names == {me, me + "#2"}
    finally:
        pa.close()
        pb.close()
        a.close()
        b.close()


@pytest.mark.parametrize("cls", ["EpollSelector", "PollSelector",
                                 "SelectSelector"])
def test_selector_wrapper_matches_stdlib(cls):
    """The wrapper (C fast path for EpollSelector, forwarding otherwise)
    returns exactly what the wrapped selector returns."""
    import selectors
    import socket
    sel_cls = getattr(selectors, cls, None)
    if sel_cls is None:
        pytest.skip(cls)
    core = _probe.Loop("t", "asyncio", 0.01, 0.05, True, False)
    a, b = socket.socketpair()
    c, d = socket.socketpair()
    inner = sel_cls()
    wrapped = _probe.Selector(core, inner)
    try:
        wrapped.register(a, selectors.EVENT_READ | selectors.EVENT_WRITE, "a")
        wrapped.register(c, selectors.EVENT_READ, "c")
        assert wrapped.get_key(a).data == "a"
        assert len(wrapped.get_map()) == 2

        def norm(events):
            return sorted((k.fd, k.data, ev) for k, ev in events)

        assert norm(wrapped.select(0)) == [(a.fileno(), "a",
                                            selectors.EVENT_WRITE)]
        b.send(b"x")
        d.send(b"y")
        time.sleep(0.01)
        got = norm(wrapped.select(None))
        assert got == norm(inner.select(0))
        assert got == sorted([
            (a.fileno(), "a", selectors.EVENT_READ | selectors.EVENT_WRITE),
            (c.fileno(), "c", selectors.EVENT_READ)])
        assert norm(wrapped.select(timeout=0.001)) == got
        wrapped.modify(c, selectors.EVENT_WRITE, "c2")
        wrapped.unregister(a)
        assert norm(wrapped.select(0.5)) == [(c.fileno(), "c2",
                                              selectors.EVENT_WRITE)]
    finally:
        wrapped.close()
        core.close()
        for s in (a, b, c, d):
            s.close()
