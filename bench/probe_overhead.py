"""Benchmark 1: throughput overhead of the probe under uvicorn + wrk.

Server pinned to CPU 0, wrk to CPU 1, variants alternated round-robin so
drift hits them all alike.  Prints requests/s per variant (median of the
rounds) and, more robust on a shared machine, the server's CPU time per
request (utime+stime of the server process over the run divided by the
requests served), both against the uninstrumented baseline.

    .venv/bin/python bench/probe_overhead.py [rounds] [seconds] [workers]
        [probe-only]

probe-only leaves the peers (prometheus-fastapi-instrumentator,
starlette-exporter) out.
With workers > 1 (uvicorn --workers N, all pinned to CPU 0 with the
server) only the baseline and the full probe run, the probe serving its
exporter from every worker (one group, file-backed state), and CPU time
is summed over the workers.  $BENCH_LOOP picks uvicorn's --loop (auto,
the default, is uvloop when it is installed; asyncio; uvloop).  uvicorn is started
through uvicorn_nodelay.py, without which every keep-alive response of
--workers N waits ~40 ms for a delayed ACK (Kludex/uvicorn#3149).
"""

import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

from _common import free_port

HERE = os.path.dirname(os.path.abspath(__file__))
VARIANTS = ["none", "probe_nomw", "probe", "pfi", "starlette_exporter"]


def wait_port(port, timeout=20):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(port)


def cpu_seconds(pid):
    """utime + stime of pid and of its children still running."""
    total = 0
    for p in [pid] + children(pid):
        try:
            with open("/proc/%d/stat" % p) as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def children(pid):
    out = []
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                with open("/proc/%s/stat" % name) as f:
                    if int(f.read().rsplit(")", 1)[1].split()[1]) == pid:
                        out.append(int(name))
            except OSError:
                pass
    return out


def run(variant, seconds, workers=1):
    port = free_port()
    env = dict(os.environ, BENCH_VARIANT=variant)
    if workers > 1:
        env["BENCH_SERVE"] = "127.0.0.1:%d" % free_port()
        env["ASYNC_AUDITOR_MULTIPROC_DIR"] = tempfile.mkdtemp(
            prefix="aa-bench-")
    srv = subprocess.Popen(
        # uvicorn_nodelay: uvicorn, but --workers N keeps TCP_NODELAY
        ["taskset", "-c", "0", sys.executable, "uvicorn_nodelay.py",
         "probe_apps:app", "--port", str(port), "--log-level", "error",
         "--no-access-log", "--workers", str(workers),
         "--loop", os.environ.get("BENCH_LOOP", "auto")], cwd=HERE, env=env,
        start_new_session=True)
    try:
        wait_port(port)
        url = "http://127.0.0.1:%d/" % port
        subprocess.run(["taskset", "-c", "1", "wrk", "-t1", "-c32", "-d2s",
                        url], capture_output=True, check=True)
        c0 = cpu_seconds(srv.pid)
        perf = None
        if shutil.which("perf"):
            # instructions retired by the server: unlike time, they do not
            # depend on what else the machine runs
            pids = ",".join(str(p) for p in [srv.pid] + children(srv.pid))
            perf = subprocess.Popen(
                ["perf", "stat", "-x", ",", "-e", "instructions:u", "-p",
                 pids, "--", "sleep", str(seconds)],
                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        out = subprocess.run(["taskset", "-c", "1", "wrk", "-t1", "-c32",
                              "-d%ds" % seconds, url], capture_output=True,
                             check=True, text=True).stdout
        c1 = cpu_seconds(srv.pid)
        n = int(re.search(r"(\d+) requests in", out).group(1))
        rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
        instr = 0.0
        if perf is not None:
            err = perf.communicate(timeout=seconds + 30)[1]
            m = re.search(r"^(\d+),", err, re.M)
            instr = int(m.group(1)) / n if m else 0.0
        return rps, (c1 - c0) / n * 1e6, instr
    finally:
        os.killpg(srv.pid, signal.SIGTERM)
        srv.wait(20)
        if "ASYNC_AUDITOR_MULTIPROC_DIR" in env:
            shutil.rmtree(env["ASYNC_AUDITOR_MULTIPROC_DIR"],
                          ignore_errors=True)


def main():
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 3
    seconds = int(sys.argv[2]) if len(sys.argv) > 2 else 8
    workers = int(sys.argv[3]) if len(sys.argv) > 3 else 1
    peers = len(sys.argv) <= 4 or sys.argv[4] != "probe-only"
    if workers > 1:
        variants = ["none", "probe"]
    else:
        variants = VARIANTS if peers else ["none", "probe_nomw", "probe"]
    res = {v: [] for v in variants}
    for r in range(rounds):
        order = variants[r % len(variants):] + variants[:r % len(variants)]
        for v in order:
            res[v].append(run(v, seconds, workers))
            print(v, res[v][-1], file=sys.stderr)
    base = statistics.median(x[0] for x in res["none"])
    base_cpu = statistics.median(x[1] for x in res["none"])
    base_ins = statistics.median(x[2] for x in res["none"])
    counted = base_ins > 0  # no hardware counters in some VMs
    print("| variant | requests/s (median of %d) | vs. baseline | server "
          "CPU per request (µs, median) | CPU added per request |%s"
          % (rounds, " instructions per request (median) | instructions "
             "added |" if counted else ""))
    print("|---|---|---|---|---|%s" % ("---|---|" if counted else ""))
    for v in variants:
        m = statistics.median(x[0] for x in res[v])
        c = statistics.median(x[1] for x in res[v])
        ins = statistics.median(x[2] for x in res[v])
        print("| %s | %.0f | %.1f %% | %.1f | %+.1f %% |%s" % (
            v, m, 100.0 * m / base, c, 100.0 * (c - base_cpu) / base_cpu,
            " %.0f | %+.2f %% |" % (ins, 100.0 * (ins - base_ins) / base_ins)
            if counted else ""))
    # A machine whose speed drifts between rounds (other load, frequency
    # scaling) moves every variant of a round alike: the median of each
    # round's ratio to that round's baseline is the robust figure then.
    print()
    print("| variant | requests/s vs. the same round's baseline (median "
          "of %d rounds, min-max) | CPU per request vs. the same round's "
          "(median) |" % rounds)
    print("|---|---|---|")
    for v in variants[1:]:
        r = [a[0] / b[0] for a, b in zip(res[v], res["none"])]
        c = [a[1] / b[1] - 1 for a, b in zip(res[v], res["none"])]
        print("| %s | %.1f %% (%.1f-%.1f) | %+.1f %% |" % (
            v, 100 * statistics.median(r), 100 * min(r), 100 * max(r),
            100 * statistics.median(c)))

if __name__ == "__main__":
    main()
