"""Benchmark 8: instructions per request, counted by valgrind (callgrind).

Wall-clock throughput cannot resolve a 1 % overhead on a shared machine
(bench/probe_overhead.py: the baseline's own rounds spread 30-50 %), and
this VM has no hardware counters for `perf stat`.  Instructions executed
by the server do not depend on what else runs, so this counts them:

* FastAPI hello world (bench/probe_apps.py, whose $BENCH_PEER_LAG sets
  the peers' loop-lag task interval and $BENCH_SNAPSHOT dumps
  probe.snapshot() at shutdown) under
  `uvicorn --workers 1 --loop asyncio --http h11` (httptools is not in
  the venv; $BENCH_LOOP or --loop picks uvloop), inside
  `valgrind --tool=callgrind --trace-children=no`.
* A client outside valgrind (raw sockets, keep-alive HTTP/1.1, --conns
  connections each sending its share of N sequential GETs) drives exactly
  N requests and checks every answer is `200 {"hello":"world"}`; then
  SIGINT to the server (uvicorn shuts down, callgrind writes its file) and
  the file's `totals:` is the server's instruction count (Ir, all threads,
  user space only).
* Per request: (Ir(N2) - Ir(N1)) / (N2 - N1), so start-up and shutdown
  cancel.  Time-driven work must not leak into that: under callgrind wall
  time stretches ~50-100x, so a 10 ms timer would fire once every request
  or two.  The per-request runs therefore set the probe's lag interval and
  block threshold to 3000 s (ASYNC_AUDITOR_LAG_INTERVAL,
  ASYNC_AUDITOR_BLOCK_THRESHOLD: no lag timer tick, the watchdog wakes
  once a second, no blocking episode is opened by valgrind's slowness) and
  the peers' lag task to 3000 s, and uvicorn's own 0.1 s tick is turned
  off ($BENCH_NO_SERVER_TICK, bench/probe_apps.py: under callgrind it
  cost ~10 k instructions per request, in proportion to wall time, which
  the machine's load decides).  What time-driven work remains (the
  probe's watchdog waking once a second) is subtracted as the idle rate
  of `none` times the difference in wall time of the two runs (shown as
  the correction).
* The timers are measured on their own, idle: the probe variant with the
  default settings, with the lag timer off (watchdog only) and `none`,
  each for T1 and T2 seconds of wall time; the difference of the
  differences, divided by the ticks counted (the lag histogram's count
  from probe.snapshot(), dumped at shutdown), is instructions per tick.
  Idle, each tick also costs the loop iteration it wakes up (epoll_wait
  returning, _run_once); a busy loop iterates anyway, so this overstates
  the tick's cost under load.
* The timer on a busy loop is bench/probe_ticks.py's (a server's own
  ticks blur it here, and under callgrind every request is slow enough
  to make ticks late, which the lag count then overstates); --busy-tick
  feeds it into the prediction below, else the idle figure stands in.
* What that fixed cost is against a request-saturated worker: ticks/s x
  instructions per tick against requests/s x instructions per request, at
  the native request rate of `none` (a short `wrk` run, server pinned to
  CPU 0 and wrk to CPU 1, or --rps R), and for N workers sharing one CPU
  at the same total request rate (N x the fixed cost).

Instructions are a proxy for CPU time: they ignore the kernel (system
calls, the watchdog's wake-ups as such), cache misses and the cost of
individual instructions (a vDSO clock read is ~30 instructions but ~29 ns
here).

    .venv/bin/python bench/probe_instructions.py [--n1 600] [--n2 2400]
        [--conns 8] [--variants none,probe_nomw,probe,pfi,starlette_exporter]
        [--idle 5,20] [--no-idle] [--rps R] [--jobs 2] [--loop asyncio]
        [--busy-tick IR] [--keep DIR]
"""

import argparse
import concurrent.futures
import hashlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from _common import free_port  # noqa: E402

VARIANTS = ["none", "probe_nomw", "probe", "pfi", "starlette_exporter"]
PEERS = {"pfi": "prometheus_fastapi_instrumentator",
         "starlette_exporter": "starlette_exporter"}
OFF = "3000"  # seconds: the settings accept (0, 3600)

REQUEST = b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
BODY = b'{"hello":"world"}'


def log(*a):
    print(*a, file=sys.stderr, flush=True)


def wait_port(port, proc, timeout):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if proc.poll() is not None:
            raise RuntimeError("server exited with %s" % proc.returncode)
        try:
            socket.create_connection(("127.0.0.1", port), 0.5).close()
            return
        except OSError:
            time.sleep(0.1)
    raise TimeoutError("port %d not open after %d s" % (port, timeout))


def drive(port, n, conns, timeout):
    """Exactly n GETs over conns keep-alive connections, each checked."""
    shares = [n // conns + (1 if i < n % conns else 0) for i in range(conns)]
    errors = []

    def one(k):
        try:
            s = socket.create_connection(("127.0.0.1", port), timeout)
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            buf = b""
            for _ in range(k):
                s.sendall(REQUEST)
                while b"\r\n\r\n" not in buf:
                    chunk = s.recv(65536)
                    if not chunk:
                        raise RuntimeError("connection closed")
                    buf += chunk
                head, _, rest = buf.partition(b"\r\n\r\n")
                lines = head.split(b"\r\n")
                status = int(lines[0].split()[1])
                length = None
                for ln in lines[1:]:
                    name, _, value = ln.partition(b":")
                    if name.strip().lower() == b"content-length":
                        length = int(value)
                if length is None:
                    raise RuntimeError("no content-length: %r" % head)
                while len(rest) < length:
                    chunk = s.recv(65536)
                    if not chunk:
                        raise RuntimeError("connection closed in body")
                    rest += chunk
                body, buf = rest[:length], rest[length:]
                if status != 200 or body != BODY:
                    raise RuntimeError("bad answer %d %r" % (status, body))
            s.close()
        except Exception as e:  # reported below
            errors.append(e)

    threads = [threading.Thread(target=one, args=(k,)) for k in shares]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise RuntimeError("client: %r" % errors[0])


def totals(path):
    with open(path) as f:
        text = f.read()
    m = re.search(r"^totals:\s+(\d+)", text, re.M) or re.search(
        r"^summary:\s+(\d+)", text, re.M)
    return int(m.group(1))


def callgrind(variant, env_extra, loop, action, timeout, keep=None):
    """Runs the server under callgrind, calls action(port) once it
    listens, stops it with SIGINT; returns (Ir, seconds action took,
    snapshot dict or None)."""
    out = tempfile.mkdtemp(prefix="aa-cg-")
    port = free_port()
    env = dict(os.environ, BENCH_VARIANT=variant, PYTHONHASHSEED="0",
               **env_extra)
    env["BENCH_NO_SERVER_TICK"] = "1"
    for k in ("ASYNC_AUDITOR_LAG_INTERVAL", "ASYNC_AUDITOR_BLOCK_THRESHOLD",
              "ASYNC_AUDITOR_SERVE", "ASYNC_AUDITOR_AUTO", "BENCH_SERVE",
              "BENCH_PEER_LAG", "BENCH_SNAPSHOT"):
        if k not in env_extra:
            env.pop(k, None)
    snap = os.path.join(out, "snapshot.json")
    if env_extra.get("BENCH_SNAPSHOT"):
        env["BENCH_SNAPSHOT"] = snap
    cg = os.path.join(out, "callgrind.out")
    srv = subprocess.Popen(
        ["valgrind", "--tool=callgrind", "--trace-children=no",
         "--dump-instr=no", "--collect-jumps=no",
         "--callgrind-out-file=" + cg,
         sys.executable, "-m", "uvicorn", "probe_apps:app",
         "--port", str(port), "--log-level", "error", "--no-access-log",
         "--workers", "1", "--loop", loop, "--http", "h11"],
        cwd=HERE, env=env, stdout=subprocess.DEVNULL,
        stderr=open(os.path.join(out, "valgrind.log"), "w"),
        start_new_session=True)
    try:
        wait_port(port, srv, timeout)
        t0 = time.monotonic()
        action(port)
        took = time.monotonic() - t0
        srv.send_signal(signal.SIGINT)
        srv.wait(timeout)
        if srv.returncode != 0:
            raise RuntimeError("server exit %s" % srv.returncode)
        if keep:
            shutil.copy(cg, keep)
        snapshot = None
        if os.path.exists(snap):
            with open(snap) as f:
                snapshot = json.load(f)
        return totals(cg), took, snapshot
    except BaseException:
        with open(os.path.join(out, "valgrind.log")) as f:
            log(f.read()[-3000:])
        raise
    finally:
        if srv.poll() is None:
            srv.kill()  # valgrind's own pid: we started it
            srv.wait(30)
        shutil.rmtree(out, ignore_errors=True)


def native_rps(loop, seconds):
    """Requests/s of `none` natively: uvicorn on CPU 0, wrk on CPU 1."""
    port = free_port()
    env = dict(os.environ, BENCH_VARIANT="none")
    srv = subprocess.Popen(
        ["taskset", "-c", "0", sys.executable, "-m", "uvicorn",
         "probe_apps:app", "--port", str(port), "--log-level", "error",
         "--no-access-log", "--workers", "1", "--loop", loop, "--http",
         "h11"],
        cwd=HERE, env=env, start_new_session=True)
    try:
        wait_port(port, srv, 30)
        url = "http://127.0.0.1:%d/" % port
        subprocess.run(["taskset", "-c", "1", "wrk", "-t1", "-c32", "-d1s",
                        url], capture_output=True, check=True, timeout=30)
        out = subprocess.run(
            ["taskset", "-c", "1", "wrk", "-t1", "-c32", "-d%ds" % seconds,
             url], capture_output=True, check=True, text=True,
            timeout=seconds + 30).stdout
        return float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    finally:
        srv.send_signal(signal.SIGINT)
        try:
            srv.wait(20)
        except subprocess.TimeoutExpired:
            srv.kill()
            srv.wait(10)


def probe_so_digest():
    import async_auditor._probe as p
    with open(p.__file__, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()[:12]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n1", type=int, default=600)
    ap.add_argument("--n2", type=int, default=2400)
    ap.add_argument("--conns", type=int, default=8)
    ap.add_argument("--variants", default=",".join(VARIANTS))
    ap.add_argument("--idle", default="5,20",
                    help="T1,T2 seconds of the idle (timer) runs")
    ap.add_argument("--no-idle", action="store_true")
    ap.add_argument("--rps", type=float,
                    help="native requests/s of `none` (else wrk measures)")
    ap.add_argument("--wrk-seconds", type=int, default=5)
    ap.add_argument("--workers", default="1,2,4,8",
                    help="worker counts sharing one CPU, for the timer")
    ap.add_argument("--jobs", type=int, default=2,
                    help="callgrind runs at a time (instructions do not "
                    "depend on it; wall time does)")
    ap.add_argument("--loop", default=os.environ.get("BENCH_LOOP",
                                                      "asyncio"))
    ap.add_argument("--busy-tick", type=float, metavar="IR",
                    help="instructions per lag tick on a busy loop "
                    "(bench/probe_ticks.py) for the saturated-worker "
                    "prediction; default: the idle figure measured here")
    ap.add_argument("--keep", metavar="DIR",
                    help="keep the callgrind files there (for "
                    "callgrind_annotate)")
    ap.add_argument("--timeout", type=int, default=600,
                    help="seconds for each server start and stop")
    args = ap.parse_args()
    if not shutil.which("valgrind"):
        sys.exit("valgrind is not on PATH")
    variants = []
    for v in args.variants.split(","):
        if v in PEERS:
            try:
                __import__(PEERS[v])
            except ImportError:
                log("skipping %s: %s is not importable" % (v, PEERS[v]))
                continue
        variants.append(v)
    t1, t2 = (float(x) for x in args.idle.split(","))
    digest = probe_so_digest()
    started = time.monotonic()

    per_req_env = {"ASYNC_AUDITOR_LAG_INTERVAL": OFF,
                   "ASYNC_AUDITOR_BLOCK_THRESHOLD": OFF,
                   "BENCH_PEER_LAG": OFF}
    jobs = {}
    for v in variants:
        for n in (args.n1, args.n2):
            jobs[("req", v, n)] = (v, per_req_env, lambda port, n=n:
                                   drive(port, n, args.conns, 300))
    idle = {"none": {},
            "probe_default": {"BENCH_SNAPSHOT": "1"},
            "probe_lag_off": {"BENCH_SNAPSHOT": "1",
                              "ASYNC_AUDITOR_LAG_INTERVAL": OFF},
            "probe_all_off": {"BENCH_SNAPSHOT": "1",
                              "ASYNC_AUDITOR_LAG_INTERVAL": OFF,
                              "ASYNC_AUDITOR_BLOCK_THRESHOLD": OFF}}
    if not args.no_idle:
        for name, extra in idle.items():
            v = "none" if name == "none" else "probe"
            for t in (t1, t2):
                jobs[("idle", name, t)] = (v, extra, lambda port, t=t:
                                           time.sleep(t))
    res = {}
    # long runs first, so that the pool ends together
    order = sorted(jobs, key=lambda k: -(k[2] if k[0] == "req"
                                         else k[2] * 150))
    with concurrent.futures.ThreadPoolExecutor(args.jobs) as pool:
        if args.keep:
            os.makedirs(args.keep, exist_ok=True)
        futs = {pool.submit(callgrind, jobs[k][0], jobs[k][1],
                            args.loop, jobs[k][2], args.timeout,
                            args.keep and os.path.join(
                                args.keep, "callgrind.%s.%s.%g.out" % k)
                            ): k
                for k in order}
        for fut in concurrent.futures.as_completed(futs):
            k = futs[fut]
            res[k] = fut.result()
            ir, took, snap = res[k]
            log("%-40s Ir %14d  %7.1f s%s  (%.0f s elapsed)" % (
                k, ir, took, "  lag count %s" % snap.get(
                    "python_asyncio_loop_lag_seconds", {}).get("count")
                if snap else "", time.monotonic() - started))
    rps = args.rps or native_rps(args.loop, args.wrk_seconds)
    if probe_so_digest() != digest:
        log("WARNING: the installed _probe changed during the run")

    # time-driven work left (uvicorn ticks off): idle Ir per second of `none`
    idle_rate = 0.0
    if not args.no_idle:
        idle_rate = ((res[("idle", "none", t2)][0]
                      - res[("idle", "none", t1)][0])
                     / (res[("idle", "none", t2)][1]
                        - res[("idle", "none", t1)][1]))
    per = {}
    rows = []
    for v in variants:
        a, b = res[("req", v, args.n1)], res[("req", v, args.n2)]
        dn = args.n2 - args.n1
        raw = (b[0] - a[0]) / dn
        corr = idle_rate * (b[1] - a[1]) / dn
        per[v] = raw - corr
        rows.append((v, a, b, raw, corr))

    print("Loop %s, h11, 1 worker, %d connections; per request = (Ir(%d) - "
          "Ir(%d)) / %d; probe _probe.so %s" % (
              args.loop, args.conns, args.n2, args.n1, args.n2 - args.n1,
              digest))
    print()
    base = per["none"]
    print("| variant | instructions per request | added vs none | added % |")
    print("|---|---|---|---|")
    for v in variants:
        print("| %s | %.0f | %s | %s |" % (
            v, per[v], "" if v == "none" else "%+.0f" % (per[v] - base),
            "" if v == "none" else "%+.2f %%" % (100 * (per[v] / base - 1))))
    print()
    print("| variant | Ir(%d) | Ir(%d) | wall (s) | raw per request | "
          "idle-rate correction |" % (args.n1, args.n2))
    print("|---|---|---|---|---|---|")
    for v, a, b, raw, corr in rows:
        print("| %s | %d | %d | %.0f / %.0f | %.0f | %.0f |" % (
            v, a[0], b[0], a[1], b[1], raw, corr))
    if args.no_idle:
        return

    def rate(name):
        a, b = res[("idle", name, t1)], res[("idle", name, t2)]
        ticks = None
        if a[2] is not None:
            ticks = ((b[2]["python_asyncio_loop_lag_seconds"]["count"]
                      - a[2]["python_asyncio_loop_lag_seconds"]["count"])
                     / (b[1] - a[1]))
        return (b[0] - a[0]) / (b[1] - a[1]), ticks

    r_none, _ = rate("none")
    r_def, ticks_def = rate("probe_default")
    r_lagoff, ticks_off = rate("probe_lag_off")
    r_alloff, _ = rate("probe_all_off")
    ticks = ticks_def - ticks_off
    per_tick = (r_def - r_lagoff) / ticks
    watchdog = r_lagoff - r_alloff
    print()
    print("Idle servers under callgrind, %g s and %g s of wall time "
          "(instructions per second of wall time, from the difference):"
          % (t1, t2))
    print()
    print("| idle server | Ir per second | lag ticks per second |")
    print("|---|---|---|")
    for name, r, tk in (("none", r_none, None),
                        ("probe, defaults (lag 10 ms, threshold 50 ms)",
                         r_def, ticks_def),
                        ("probe, lag timer off", r_lagoff, ticks_off),
                        ("probe, lag timer off, threshold 3000 s", r_alloff,
                         None)):
        print("| %s | %.0f | %s |" % (name, r, "" if tk is None
                                      else "%.1f" % tk))
    busy_tick = args.busy_tick
    fixed = 100 * (busy_tick if busy_tick is not None else per_tick) + \
        max(0.0, watchdog)  # below 0: noise
    saturated = rps * base
    print()
    print("Lag timer: %.0f instructions per tick (idle, including the loop "
          "iteration it wakes), %.1f ticks/s counted under callgrind; at "
          "the default 100 ticks/s: %.0f instructions/s.  Watchdog at the "
          "default threshold: %.0f instructions/s.  Fixed cost per worker: "
          "%.0f instructions/s." % (per_tick, ticks, 100 * per_tick,
                                     watchdog, fixed))
    if busy_tick is not None:
        print("On a busy loop (--busy-tick, from bench/probe_ticks.py): "
              "%.0f instructions per tick, which the fixed cost below uses "
              "(a saturated worker's loop is busy when its timer falls "
              "due)." % busy_tick)
    print("A worker saturated at %.0f requests/s (native `none`) executes "
          "%.0f x %.0f = %.3g instructions/s.  (User space only: the "
          "kernel side of an idle worker's wake-ups is not counted; a "
          "saturated loop polls without sleeping.)" % (
              rps, rps, base, saturated))
    print()
    print("| workers on one CPU, same total requests/s | fixed cost share of "
          "the CPU | per-request added | predicted throughput vs none |")
    print("|---|---|---|---|")
    added = per["probe"] - base
    for n in (int(x) for x in args.workers.split(",")):
        share = n * fixed / saturated
        pred = (1 - share) / (1 + added / base)
        print("| %d | %.2f %% | %+.2f %% | %.2f %% |" % (
            n, 100 * share, 100 * added / base, 100 * pred))


if __name__ == "__main__":
    main()
