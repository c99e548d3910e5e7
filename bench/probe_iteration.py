"""Benchmark 2: cost of the probe per loop iteration and per callback.

Callbacks reschedule themselves with call_soon, K chains at once, so every
loop iteration runs K callbacks; time N callbacks without and with the
probe (selector wrapper or uvloop's hooks, the ready queue's popleft mark,
lag timer running), alternating, and report the difference per callback
and per iteration (from the fastest run of each, the least disturbed by
other load on the machine, and from the medians).

    .venv/bin/python bench/probe_iteration.py [callbacks] [rounds]
"""

import asyncio
import selectors
import statistics
import sys
import time

import async_auditor

try:
    import uvloop
except ImportError:  # uvloop rows are skipped
    uvloop = None


def make_loop(kind):
    if kind == "uvloop":
        return uvloop.new_event_loop()
    if kind == "poll":
        return asyncio.SelectorEventLoop(selectors.PollSelector())
    return asyncio.SelectorEventLoop()


def one(n, probed, kind, chains):
    loop = make_loop(kind)
    probe = async_auditor.install(loop) if probed else None
    left = n
    done = loop.create_future()

    def tick():
        nonlocal left
        left -= 1
        if left > 0:
            loop.call_soon(tick)
        elif not done.done():
            done.set_result(None)

    for _ in range(chains):
        loop.call_soon(tick)
    t0 = time.perf_counter()
    loop.run_until_complete(done)
    elapsed = time.perf_counter() - t0
    iters = probe.snapshot()["python_asyncio_loop_iterations_total"] \
        if probe else None
    mode = probe.mode if probe else None
    if probe:
        probe.close()
    loop.close()
    return elapsed, iters, mode


def measure(n, rounds, kind, chains):
    base, probed = [], []
    one(n // 10, False, kind, chains)
    one(n // 10, True, kind, chains)
    for _ in range(rounds):
        base.append(one(n, False, kind, chains)[0])
        t, iters, mode = one(n, True, kind, chains)
        probed.append(t)
    print("callbacks per run: %d, %d per iteration (probe in %s mode "
          "counted %s iterations)" % (n, chains, mode, iters))
    for name, f in (("fastest", min), ("median", statistics.median)):
        b, p = f(base), f(probed)
        print("%s: baseline %.1f ns/callback, probe %.1f, added %.1f ns "
              "per callback, %.1f ns per iteration (%.2f %%)"
              % (name, b / n * 1e9, p / n * 1e9, (p - b) / n * 1e9,
                 (p - b) / n * chains * 1e9, (p - b) / b * 100))


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 300000
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 7
    cases = [("asyncio, EpollSelector (the wrapper selects in C)",
              "epoll", 1),
             ("asyncio, EpollSelector, 100 callbacks per iteration",
              "epoll", 100),
             ("asyncio, PollSelector (forwarded to the Python select)",
              "poll", 1)]
    if uvloop is not None:
        cases += [("uvloop (poll and context hooks)", "uvloop", 1),
                  ("uvloop, 100 callbacks per iteration", "uvloop", 100)]
    for label, kind, chains in cases:
        print("## " + label)
        measure(n, rounds, kind, chains)


if __name__ == "__main__":
    main()
