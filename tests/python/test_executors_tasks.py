"""Tasks, the default executor and anyio's worker threads."""

import asyncio
import concurrent.futures
import functools
import re
import threading
import time

import anyio
import anyio.to_thread
import pytest

import async_auditor
from async_auditor import _probe


def test_default_executor_pending_and_wait():
    loop = asyncio.new_event_loop()
    loop.set_default_executor(concurrent.futures.ThreadPoolExecutor(2))
    probe = async_auditor.install(loop)
    seen = []

    async def main():
        futs = [loop.run_in_executor(None, time.sleep, 0.03)
                for _ in range(20)]
        await asyncio.sleep(0.01)
        seen.append(probe.snapshot())
        await asyncio.gather(*futs)
        await asyncio.to_thread(time.sleep, 0.001)

    try:
        loop.run_until_complete(main())
        during, after = seen[0], probe.snapshot()
    finally:
        probe.close()
        loop.close()
    assert during["python_asyncio_executor_max_workers"]["default"] == 2
    assert during["python_asyncio_executor_pending"]["default"] >= 15
    assert during["python_asyncio_executor_busy_workers"]["default"] == 2
    wait = after["python_asyncio_executor_wait_seconds"]["default"]
    run = after["python_asyncio_executor_run_seconds"]["default"]
    assert wait["count"] == 21 and run["count"] == 21
    # 20 jobs of 30 ms on 2 workers: the last waited ~270 ms
    assert wait["sum"] > 1.0
    assert run["sum"] >= 20 * 0.03
    assert after["python_asyncio_executor_pending"]["default"] == 0
    assert after["python_asyncio_executor_busy_workers"]["default"] == 0


def test_executor_hook_removed_on_close():
    loop = asyncio.new_event_loop()
    probe = async_auditor.install(loop)
    ex = loop._default_executor
    assert "submit" in ex.__dict__
    probe.close()
    assert "submit" not in ex.__dict__
    assert loop.run_until_complete(
        loop.run_in_executor(None, sum, [1, 2])) == 3
    loop.close()


def test_default_executor_set_after_install_is_measured():
    """An app's lifespan often sets its own pool once the loop runs."""
    loop = asyncio.new_event_loop()
    probe = async_auditor.install(loop)
    first = loop._default_executor
    mine = concurrent.futures.ThreadPoolExecutor(3)

    async def main():
        loop.set_default_executor(mine)
        await asyncio.gather(*[loop.run_in_executor(None, time.sleep, 0.001)
                               for _ in range(5)])
        await asyncio.to_thread(sum, [1, 2])
        return probe.snapshot()

    try:
        snap = loop.run_until_complete(main())
        assert "submit" not in first.__dict__  # the old pool is released
        assert "submit" in mine.__dict__
    finally:
        probe.close()
        assert "submit" not in mine.__dict__
        assert "set_default_executor" not in loop.__dict__
        loop.close()
    assert snap["python_asyncio_executor_max_workers"]["default"] == 3
    assert snap["python_asyncio_executor_run_seconds"]["default"][
        "count"] == 6
    assert snap["python_asyncio_executor_pending"]["default"] == 0


def test_set_default_executor_composes_with_user_override():
    """A user's own instance-level set_default_executor hook keeps working
    and is restored as it was on close."""
    loop = asyncio.new_event_loop()
    calls = []
    orig = loop.set_default_executor

    def user_hook(executor):
        calls.append(executor)
        return orig(executor)

    loop.set_default_executor = user_hook
    probe = async_auditor.install(loop)
    mine = concurrent.futures.ThreadPoolExecutor(2)
    try:
        loop.set_default_executor(mine)
        assert calls[-1] is mine
        loop.run_until_complete(loop.run_in_executor(None, sum, [1]))
        snap = probe.snapshot()
    finally:
        probe.close()
        assert loop.__dict__["set_default_executor"] is user_hook
        loop.close()
    assert snap["python_asyncio_executor_max_workers"]["default"] == 2
    assert snap["python_asyncio_executor_run_seconds"]["default"][
        "count"] == 1


def test_default_executor_created_lazily_is_measured():
    """run_in_executor(None) with no default executor set yet."""
    loop = asyncio.new_event_loop()
    assert loop._default_executor is None
    probe = async_auditor.install(loop)

    async def main():
        await loop.run_in_executor(None, time.sleep, 0.001)
        await asyncio.to_thread(time.sleep, 0.001)
        return probe.snapshot()

    try:
        snap = loop.run_until_complete(main())
    finally:
        probe.close()
        loop.close()
    assert snap["python_asyncio_executor_run_seconds"]["default"][
        "count"] == 2
    assert snap["python_asyncio_executor_max_workers"]["default"] > 0


def test_tasks_counted_and_user_factory_composed():
    loop = asyncio.new_event_loop()
    made = []

    def user_factory(lp, coro, **kw):
        made.append(coro)
        return asyncio.Task(coro, loop=lp, **kw)

    loop.set_task_factory(user_factory)
    probe = async_auditor.install(loop)

    async def main():
        ev = asyncio.Event()
        tasks = [asyncio.create_task(ev.wait(), name="w%d" % i)
                 for i in range(10)]
        await asyncio.sleep(0)
        during = probe.snapshot()
        ev.set()
        await asyncio.gather(*tasks)
        await asyncio.sleep(0)
        assert tasks[3].get_name() == "w3"
        return during

    try:
        during = loop.run_until_complete(main())
        after = probe.snapshot()
        assert len(made) >= 11  # main + 10
        assert during["python_asyncio_tasks"] >= 11
        assert during["python_asyncio_tasks_created_total"] >= 11
        assert after["python_asyncio_tasks"] == 0
        probe.close()
        assert loop.get_task_factory() is user_factory
    finally:
        loop.close()


def test_anyio_tokens_exhausted():
    loop = asyncio.new_event_loop()
    probe = async_auditor.install(loop)
    seen = []

    async def main():
        anyio.to_thread.current_default_thread_limiter().total_tokens = 2

        async def job():
            await anyio.to_thread.run_sync(time.sleep, 0.05)

        async with anyio.create_task_group() as tg:
            for _ in range(8):
                tg.start_soon(job)
            await asyncio.sleep(0.02)
            seen.append(probe.snapshot())

    try:
        loop.run_until_complete(main())
        after = probe.snapshot()
    finally:
        probe.close()
        loop.close()
    during = seen[0]
    assert during["python_asyncio_executor_max_workers"]["anyio"] == 2
    assert during["python_asyncio_executor_busy_workers"]["anyio"] == 2
    assert during["python_asyncio_executor_pending"]["anyio"] == 6
    wait = after["python_asyncio_executor_wait_seconds"]["anyio"]
    assert wait["count"] == 8 and wait["sum"] > 0.3
    assert after["python_asyncio_executor_pending"]["anyio"] == 0
    assert anyio.to_thread.run_sync.__module__ == "anyio.to_thread"


def test_probe_never_raises_into_callbacks():
    """Executor jobs and tasks still work after the probe is closed from
    inside the loop, with jobs in flight."""
    loop = asyncio.new_event_loop()
    probe = async_auditor.install(loop)

    async def main():
        fut = loop.run_in_executor(None, time.sleep, 0.05)
        t = asyncio.create_task(asyncio.sleep(0.05))
        probe.close()
        await fut
        await t
        return 42

    try:
        assert loop.run_until_complete(main()) == 42
    finally:
        loop.close()


# -- which functions fill a pool -------------------------------------------

def traced(fn):
    @functools.wraps(fn)
    def wrapper(*a, **kw):
        return fn(*a, **kw)
    return wrapper


@traced
def report(n):
    time.sleep(0.01)
    return n


class Jobs:
    def method(self, x):
        time.sleep(0.01)
        return x

    def __call__(self):
        time.sleep(0.01)


def make_closure():
    def inner():
        time.sleep(0.001)
    return inner


def site(fn):
    code = fn.__code__
    return "%s:%d" % (code.co_filename, code.co_firstlineno)


def fn_tables(snap, executor):
    keys = ("python_asyncio_executor_function_run_seconds_total",
            "python_asyncio_executor_function_wait_seconds_total",
            "python_asyncio_executor_function_calls_total")
    run, wait, calls = (
        {k[1:]: v for k, v in snap[key].items() if k[0] == executor}
        for key in keys)
    return run, wait, calls


def test_pool_functions_named_where_defined():
    """Each job is charged to the function it really runs, unwrapped
    from partials (asyncio.to_thread's context.run included), bound
    methods, functools.wraps and callable instances, with the line of
    its definition."""
    loop = asyncio.new_event_loop()
    loop.set_default_executor(concurrent.futures.ThreadPoolExecutor(1))
    probe = async_auditor.install(loop)
    jobs = Jobs()

    async def main():
        blocker = loop.run_in_executor(None, time.sleep, 0.1)
        await asyncio.sleep(0.02)
        queued = [loop.run_in_executor(None, report, 1),
                  asyncio.to_thread(report, 2),
                  loop.run_in_executor(None, functools.partial(report, 3)),
                  loop.run_in_executor(None, jobs.method, 4),
                  loop.run_in_executor(None, jobs)]
        queued += [loop.run_in_executor(None, make_closure())
                   for _ in range(3)]
        await asyncio.gather(blocker, *queued)

    try:
        loop.run_until_complete(main())
        snap = probe.snapshot()
        text = _probe.render_metrics()
    finally:
        probe.close()
        loop.close()
    run, wait, calls = fn_tables(snap, "default")
    unwrapped = report.__wrapped__
    assert calls == {
        ("time.sleep", None): 1,
        ("report", site(unwrapped)): 3,
        ("Jobs.method", site(Jobs.method)): 1,
        ("Jobs.__call__", site(Jobs.__call__)): 1,
        ("make_closure.<locals>.inner", site(make_closure())): 3,
    }, calls
    assert run[("time.sleep", None)] >= 0.1
    assert run[("report", site(unwrapped))] >= 0.03
    # everything queued behind the 0.1 s job on the one worker
    assert wait[("report", site(unwrapped))] >= 3 * 0.05
    assert 'function="report",site="%s"} 3' % site(unwrapped) in text
    assert re.search(r'^python_asyncio_executor_function_run_seconds_total'
                     r'\{[^}]*executor="default",function="time.sleep"\} '
                     r'0\.1\d*$', text, re.M), text


def test_pool_function_table_is_bounded():
    """More distinct functions in flight than the table holds: the rest
    are counted as function="other" (no site), nothing is lost; a slot
    whose jobs all ended is given to a newcomer."""
    n = _probe.EXEC_FN_MAX + 5
    src = "".join("def job_%d(ev):\n    ev.wait(10)\n" % i for i in range(n))
    ns = {}
    exec(compile(src, "<jobs>", "exec"), ns)
    loop = asyncio.new_event_loop()
    probe = async_auditor.install(loop)
    release = threading.Event()

    async def main():
        futs = [loop.run_in_executor(None, ns["job_%d" % i], release)
                for i in range(n)]
        await asyncio.sleep(0.01)
        release.set()
        await asyncio.gather(*futs)
        # all ended: the next one takes a slot, not "other"
        await loop.run_in_executor(None, make_closure())

    try:
        loop.run_until_complete(main())
        snap = probe.snapshot()
    finally:
        release.set()
        probe.close()
        loop.close()
    run, wait, calls = fn_tables(snap, "default")
    assert len(calls) == _probe.EXEC_FN_MAX + 1
    assert calls[("other", None)] == 5
    assert calls[("make_closure.<locals>.inner", site(make_closure()))] == 1
    assert sum(calls.values()) == n - 1 + 1


def test_anyio_jobs_named():
    """anyio.to_thread.run_sync (what Starlette's run_in_threadpool and
    FastAPI's sync endpoints and dependencies use) names its functions."""
    loop = asyncio.new_event_loop()
    probe = async_auditor.install(loop)

    async def main():
        await anyio.to_thread.run_sync(functools.partial(report, 1))
        await anyio.to_thread.run_sync(jobs_method, 2)

    jobs_method = Jobs().method
    try:
        loop.run_until_complete(main())
        snap = probe.snapshot()
    finally:
        probe.close()
        loop.close()
    run, wait, calls = fn_tables(snap, "anyio")
    assert calls == {("report", site(report.__wrapped__)): 1,
                     ("Jobs.method", site(Jobs.method)): 1}
    assert run[("report", site(report.__wrapped__))] >= 0.01


def _rendered_tasks():
    """python_asyncio_tasks as the exporter renders it (no sweep first)."""
    from conftest import parse_metrics
    found = [v for n, _, v in parse_metrics(_probe.render_metrics())
             if n == "python_asyncio_tasks"]
    assert len(found) == 1, found
    return found[0]


def test_alive_count_settles_on_ticks_without_snapshot():
    # The exporter reads what the lag timer's sweeps left, not snapshot():
    # finished tasks must leave the gauge within a few ticks by themselves.
    loop = asyncio.new_event_loop()
    probe = async_auditor.install(loop, lag_interval=0.005)

    async def main():
        ev = asyncio.Event()
        tasks = [asyncio.create_task(ev.wait()) for _ in range(30)]
        await asyncio.sleep(0.05)
        during = _rendered_tasks()
        ev.set()
        await asyncio.gather(*tasks)
        deadline = time.monotonic() + 30
        while _rendered_tasks() != 1 and time.monotonic() < deadline:
            await asyncio.sleep(0.01)  # ticks run meanwhile
        return during, _rendered_tasks()

    try:
        during, after = loop.run_until_complete(main())
    finally:
        probe.close()
        loop.close()
    assert during == 31  # main and 30 waiters
    assert after == 1  # main only


def test_many_long_lived_tasks_counted_then_released():
    # More tasks than one sweep holds: they outlive sweeps (pending), are
    # kept as old, and leave when done; nothing stays tracked.
    loop = asyncio.new_event_loop()
    probe = async_auditor.install(loop)
    factory = loop.get_task_factory()

    async def main():
        ev = asyncio.Event()
        tasks = [asyncio.create_task(ev.wait()) for _ in range(1000)]
        await asyncio.sleep(0)
        during = probe.snapshot()["python_asyncio_tasks"]
        ev.set()
        await asyncio.gather(*tasks)
        await asyncio.sleep(0)
        return during

    try:
        during = loop.run_until_complete(main())
        after = probe.snapshot()
        tracked = factory.tracked
        created = after["python_asyncio_tasks_created_total"]
    finally:
        probe.close()
        loop.close()
    assert during == 1001
    assert after["python_asyncio_tasks"] == 0
    assert created == 1001
    assert tracked == 0


def test_pending_task_destroyed_leaves_the_count_and_is_not_kept():
    # The probe holds tasks weakly: a pending task nobody references is
    # destroyed as without the probe, and counts as gone.
    import gc
    import weakref
    loop = asyncio.new_event_loop()
    probe = async_auditor.install(loop)
    refs = []

    async def main():
        fut = loop.create_future()
        refs.append(weakref.ref(asyncio.create_task(fut_wait(fut))))
        await asyncio.sleep(0)
        during = probe.snapshot()["python_asyncio_tasks"]
        del fut
        gc.collect()
        return during

    async def fut_wait(fut):
        await fut

    loop.set_exception_handler(lambda lp, ctx: None)  # "destroyed pending"
    try:
        during = loop.run_until_complete(main())
        after = probe.snapshot()["python_asyncio_tasks"]
    finally:
        probe.close()
        loop.close()
    assert during == 2
    assert refs[0]() is None
    assert after == 0


def test_done_task_freed_at_once_with_the_probe():
    # No strong reference from the probe: a finished task is freed when
    # its last user reference goes, before any sweep or collection.
    import weakref
    loop = asyncio.new_event_loop()
    probe = async_auditor.install(loop, lag_interval=60)  # no sweep

    async def main():
        t = asyncio.create_task(asyncio.sleep(0))
        await t
        ref = weakref.ref(t)
        del t
        # the loop's handle that woke us holds t until the next pass
        await asyncio.sleep(0)
        return ref() is None

    try:
        freed = loop.run_until_complete(main())
    finally:
        probe.close()
        loop.close()
    assert freed


def test_factory_keywords_reach_the_task():
    import contextvars
    var = contextvars.ContextVar("v", default="unset")
    loop = asyncio.new_event_loop()
    probe = async_auditor.install(loop)

    async def read():
        return var.get()

    async def main():
        ctx = contextvars.copy_context()
        ctx.run(var.set, "from-ctx")
        t = asyncio.create_task(read(), name="named", context=ctx)
        return t.get_name(), await t

    try:
        name, value = loop.run_until_complete(main())
        created = probe.snapshot()["python_asyncio_tasks_created_total"]
        with pytest.raises(TypeError, match=r"\(loop, coro\)"):
            loop.get_task_factory()(loop)
    finally:
        probe.close()
        loop.close()
    assert (name, value) == ("named", "from-ctx")
    assert created == 2


def test_tasks_present_at_install_are_counted():
    loop = asyncio.new_event_loop()
    box = {}

    async def main():
        ev = asyncio.Event()
        tasks = [asyncio.create_task(ev.wait()) for _ in range(5)]
        await asyncio.sleep(0)
        box["probe"] = probe = async_auditor.install(loop)
        before = probe.snapshot()
        ev.set()
        await asyncio.gather(*tasks)
        return before

    try:
        before = loop.run_until_complete(main())
        after = box["probe"].snapshot()
    finally:
        box["probe"].close()
        loop.close()
    assert before["python_asyncio_tasks"] == 6
    assert before["python_asyncio_tasks_created_total"] == 0
    assert after["python_asyncio_tasks"] == 0
