"""Benchmark 2: cost of the probe per loop iteration.

A callback reschedules itself with call_soon, so every loop iteration runs
one callback; time N iterations without and with the probe (selector
wrapper, lag timer running), alternating, and report the
difference per iteration (from the fastest run of each, the least
disturbed by other load on the machine, and from the medians).

    .venv/bin/python bench/probe_iteration.py [iterations] [rounds]
"""

import asyncio
import selectors
import statistics
import sys
import time

import async_auditor


def one(n, probed, selector=None):
    loop = asyncio.SelectorEventLoop(selector() if selector else None)
    probe = async_auditor.install(loop) if probed else None
    left = n
    done = loop.create_future()

    def tick():
        nonlocal left
        left -= 1
        if left:
            loop.call_soon(tick)
        else:
            done.set_result(None)

    loop.call_soon(tick)
    t0 = time.perf_counter()
    loop.run_until_complete(done)
    elapsed = time.perf_counter() - t0
    iters = probe.snapshot()["python_asyncio_loop_iterations_total"] \
        if probe else None
    if probe:
        probe.close()
    loop.close()
    return elapsed, iters


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 300000
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 7
    for label, sel in (("default selector (EpollSelector, C fast path)",
                        None),
                       ("PollSelector (forwarded to the Python select)",
                        selectors.PollSelector)):
        print("## " + label)
        measure(n, rounds, sel)


def measure(n, rounds, sel):
    base, probed = [], []
    one(n // 10, False, sel)
    one(n // 10, True, sel)
    for _ in range(rounds):
        base.append(one(n, False, sel)[0])
        t, iters = one(n, True, sel)
        probed.append(t)
    print("iterations per run: %d (probe counted %d)" % (n, iters))
    for name, f in (("fastest", min), ("median", statistics.median)):
        b, p = f(base), f(probed)
        print("%s: baseline %.1f ns/iteration, probe %.1f, added %.1f"
              % (name, b / n * 1e9, p / n * 1e9, (p - b) / n * 1e9))


if __name__ == "__main__":
    main()
