"""Benchmark 4: detection accuracy of blocking episodes.

Ground truth: time.sleep(d) inside a coroutine, measured around the call
with perf_counter.  Reported: the probe's episode duration and how long
after the episode began the watchdog detected it (threshold 50 ms).
Beside it: aiodebug.log_slow_callbacks and pyleak's
no_event_loop_blocking on the same episodes.  Prints a Markdown table.

    .venv/bin/python bench/probe_accuracy.py [repeats]
"""

import asyncio
import statistics
import sys
import time

import async_auditor

SLEEPS = [0.060, 0.100, 0.250, 1.000]
THRESHOLD = 0.05


async def episode(d):
    await asyncio.sleep(0.02)
    t0 = time.perf_counter()
    time.sleep(d)
    truth = time.perf_counter() - t0
    await asyncio.sleep(0.02)
    return truth


def run_probe(d):
    async def main():
        probe = async_auditor.install(block_threshold=THRESHOLD)
        truth = await episode(d)
        blocks = probe.blocks()
        probe.close()
        return truth, blocks
    truth, blocks = asyncio.run(main())
    assert len(blocks) == 1, blocks
    b = blocks[0]
    return truth, b["duration"], b["detected_after"]


def run_aiodebug(d):
    import aiodebug.log_slow_callbacks as lsc
    seen = []
    import asyncio.events
    orig = asyncio.events.Handle._run
    lsc.enable(THRESHOLD, lambda name, dt: seen.append(dt))
    try:
        truth = asyncio.run(episode(d))
    finally:
        asyncio.events.Handle._run = orig
    return truth, max(seen) if seen else None


def run_pyleak(d):
    from pyleak import no_event_loop_blocking
    from pyleak.eventloop import EventLoopBlockError

    async def main():
        try:
            async with no_event_loop_blocking(action="raise",
                                              threshold=THRESHOLD,
                                              check_interval=0.005):
                truth = await episode(d)
        except EventLoopBlockError as e:
            return truth, sum(b.duration for b in e.blocking_events)
        return truth, None
    return asyncio.run(main())


def main():
    repeats = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    print("| sleep | probe error (ms, median / max) | probe detection after "
          "start (ms, median) | aiodebug error (ms) | pyleak error (ms) |")
    print("|---|---|---|---|---|")
    for d in SLEEPS:
        errs, dets, aerr, perr = [], [], [], []
        for _ in range(repeats):
            truth, dur, det = run_probe(d)
            errs.append((dur - truth) * 1000)
            dets.append(det * 1000)
            truth, rep = run_aiodebug(d)
            if rep is not None:
                aerr.append((rep - truth) * 1000)
            try:
                truth, rep = run_pyleak(d)
                if rep is not None:
                    perr.append((rep - truth) * 1000)
            except Exception as e:  # report, don't hide
                perr.append(float("nan"))
                print("pyleak failed: %r" % e, file=sys.stderr)

        def fmt(v):
            return "%.2f" % statistics.median(v) if v else "not reported"
        print("| %d ms | %.2f / %.2f | %.2f | %s | %s |" % (
            d * 1000, statistics.median(errs), max(errs, key=abs),
            statistics.median(dets), fmt(aerr), fmt(perr)))


if __name__ == "__main__":
    main()
