"""Benchmark 9: what the lag timer costs per tick on a busy loop, counted
by valgrind (callgrind).

Benchmark 8 measures the timer on an idle server, where each tick also
pays for the loop iteration it wakes up (epoll returning, _run_once):
~30 k instructions.  A saturated worker's loop is busy when the timer
falls due, so it pays only for the timer itself.  This measures that, in
one process, without a server whose own ticks would blur it:

* a loop kept busy by a chain of N callbacks (with a far timer pending
  in every run, as a server always has one), each doing the same small
  pure-Python work (~10 us natively) and scheduling the next with
  call_soon, under `install(lag_interval=0.01, block_threshold=3000)`
  (the timer at its default; no blocking episode from valgrind's
  slowness) and again with `lag_interval=3000` (no tick);
* Ir(on) - Ir(off), over the ticks the lag histogram counted in the `on`
  run, is instructions per tick.  Each callback takes well under the
  10 ms interval even under callgrind, so no tick is late by a whole
  interval and the histogram counts ticks only (no missed-sample
  corrections; the mean lag printed checks it);
* the chain of N/4 callbacks, timer off, gives instructions per callback
  ((Ir(off, N) - Ir(off, N/4)) / (3N/4): start-up cancels); the same
  chain natively (no valgrind, timer off, best of 3) gives callbacks per
  second, so the loop's instructions per second, and the timer's share
  of a saturated worker at 100 ticks/s.

    .venv/bin/python bench/probe_ticks.py [--n 100000] [--loop asyncio]
"""

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time

OFF = 3000.0


def work():
    s = 0
    for i in range(40):
        s += i * i
    return s


def child(mode, n, loop_name, out):
    import asyncio
    if loop_name == "uvloop":
        import uvloop
        loop = uvloop.new_event_loop()
    else:
        loop = asyncio.new_event_loop()
    probe = None
    if mode != "none":
        import async_auditor
        probe = async_auditor.install(
            loop, lag_interval=0.01 if mode == "on" else OFF,
            block_threshold=OFF)
    done = loop.create_future()
    left = [n]
    # a server always has a timer pending (its own tick, keep-alive
    # timeouts), and asyncio checks the timer heap every iteration while
    # one is: so do both runs, and the difference is the ticks alone
    far = loop.call_later(3600, lambda: None)

    def step():
        work()
        left[0] -= 1
        if left[0]:
            loop.call_soon(step)
        else:
            done.set_result(None)

    async def main():
        await asyncio.sleep(0.05)  # the probe attached, the timer armed
        t0 = time.perf_counter()
        loop.call_soon(step)
        await done
        return time.perf_counter() - t0

    took = loop.run_until_complete(main())
    far.cancel()
    snap = probe.snapshot() if probe else {}
    lag = snap.get("python_asyncio_loop_lag_seconds", {"count": 0, "sum": 0})
    with open(out, "w") as f:
        json.dump({"seconds": took, "ticks": lag["count"],
                   "lag_sum": lag["sum"]}, f)
    if probe:
        probe.close()
    loop.close()


def run(mode, n, loop_name, valgrind):
    fd, out = tempfile.mkstemp(prefix="aa-ticks-", suffix=".json")
    os.close(fd)
    cg = out + ".cg"
    cmd = [sys.executable, os.path.abspath(__file__), "--child", mode,
           "--n", str(n), "--loop", loop_name, "--out", out]
    if valgrind:
        cmd = ["valgrind", "--tool=callgrind", "--dump-instr=no",
               "--collect-jumps=no", "--callgrind-out-file=" + cg] + cmd
    try:
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL,
                       env=dict(os.environ, PYTHONHASHSEED="0"),
                       timeout=3600)
        with open(out) as f:
            res = json.load(f)
        if valgrind:
            with open(cg) as f:
                res["ir"] = int(re.search(r"^totals:\s+(\d+)", f.read(),
                                          re.M).group(1))
        return res
    finally:
        for p in (out, cg):
            if os.path.exists(p):
                os.unlink(p)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=100000)
    ap.add_argument("--loop", default="asyncio",
                    choices=["asyncio", "uvloop"])
    ap.add_argument("--child", choices=["none", "on", "off"])
    ap.add_argument("--out")
    args = ap.parse_args()
    if args.child:
        child(args.child, args.n, args.loop, args.out)
        return
    res = {}
    for mode, n in (("off", args.n), ("on", args.n), ("quarter", args.n // 4)):
        res[mode] = run("off" if mode == "quarter" else mode, n, args.loop,
                        True)
        print("%-7s Ir %d  ticks %d  %.1f s under callgrind" % (
            mode, res[mode]["ir"], res[mode]["ticks"],
            res[mode]["seconds"]), file=sys.stderr, flush=True)
    native = min(run("off", args.n, args.loop, False)["seconds"]
                 for _ in range(3))
    on, off = res["on"], res["off"]
    per_tick = (on["ir"] - off["ir"]) / on["ticks"]
    mean_lag = on["lag_sum"] / on["ticks"]
    per_cb = (off["ir"] - res["quarter"]["ir"]) / (args.n - args.n // 4)
    rate = per_cb * args.n / native  # the busy loop natively, instr/s
    share = 100 * per_tick / rate
    print("Loop %s; %d callbacks of %.0f instructions, ~%.1f us natively "
          "(best of 3: %.3f s); under callgrind: timer off %d Ir, timer at "
          "10 ms %d Ir, %d ticks (mean lag %.2f ms)." % (
              args.loop, args.n, per_cb, 1e6 * native / args.n, native,
              off["ir"], on["ir"], on["ticks"], 1e3 * mean_lag))
    print()
    print("| per tick, busy loop | busy loop natively | timer at 100 "
          "ticks/s, share of a saturated worker |")
    print("|---|---|---|")
    print("| %.0f instructions | %.3g instructions/s | %.3f %% |" % (
        per_tick, rate, 100 * share))


if __name__ == "__main__":
    main()
