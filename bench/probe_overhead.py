"""Benchmark 1: throughput overhead of the probe under uvicorn + wrk.

Server pinned to CPU 0, wrk to CPU 1, variants alternated round-robin so
drift hits them all alike.  Prints requests/s per variant (median of the
rounds) and, more robust on a shared machine, the server's CPU time per
request (utime+stime of the server process over the run divided by the
requests served), both against the uninstrumented baseline.

    .venv/bin/python bench/probe_overhead.py [rounds] [seconds]
"""

import os
import re
import signal
import socket
import statistics
import subprocess
import sys
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
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run(variant, seconds):
    port = free_port()
    env = dict(os.environ, BENCH_VARIANT=variant)
    srv = subprocess.Popen(
        ["taskset", "-c", "0", sys.executable, "-m", "uvicorn",
         "probe_apps:app", "--port", str(port), "--log-level", "error",
         "--no-access-log"], cwd=HERE, env=env, start_new_session=True)
    try:
        wait_port(port)
        url = "http://127.0.0.1:%d/" % port
        subprocess.run(["taskset", "-c", "1", "wrk", "-t1", "-c32", "-d2s",
                        url], capture_output=True, check=True)
        c0 = cpu_seconds(srv.pid)
        out = subprocess.run(["taskset", "-c", "1", "wrk", "-t1", "-c32",
                              "-d%ds" % seconds, url], capture_output=True,
                             check=True, text=True).stdout
        c1 = cpu_seconds(srv.pid)
        n = int(re.search(r"(\d+) requests in", out).group(1))
        rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
        return rps, (c1 - c0) / n * 1e6
    finally:
        os.kill(srv.pid, signal.SIGTERM)
        srv.wait(10)


def main():
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 3
    seconds = int(sys.argv[2]) if len(sys.argv) > 2 else 8
    res = {v: [] for v in VARIANTS}
    for r in range(rounds):
        order = VARIANTS[r % len(VARIANTS):] + VARIANTS[:r % len(VARIANTS)]
        for v in order:
            res[v].append(run(v, seconds))
            print(v, res[v][-1], file=sys.stderr)
    base = statistics.median(x[0] for x in res["none"])
    base_cpu = statistics.median(x[1] for x in res["none"])
    print("| variant | requests/s (median of %d) | vs. baseline | server "
          "CPU per request (µs, median) | CPU added per request |" % rounds)
    print("|---|---|---|---|---|")
    for v in VARIANTS:
        m = statistics.median(x[0] for x in res[v])
        c = statistics.median(x[1] for x in res[v])
        print("| %s | %.0f | %.1f %% | %.1f | %+.1f %% |" % (
            v, m, 100.0 * m / base, c, 100.0 * (c - base_cpu) / base_cpu))


if __name__ == "__main__":
    main()
