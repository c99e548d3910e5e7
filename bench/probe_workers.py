"""Benchmark 6: one exporter for several worker processes.

  scrape   /metrics latency while every worker's loop is frozen, with 8
           workers sharing one exporter address vs 1 (each worker answers
           for all: it maps every arena of the group)
  memory   per worker: RSS (anonymous, file-backed, shared memory) added
           by the probe, and the arena pages actually allocated
  render   cost and size of /metrics for one worker with the current
           bucket layouts; with --baseline DIR (a staged package of an
           earlier build) the same for that build, in the same run

Workers are plain processes running asyncio with install(serve=ADDR), a
table of 60 HTTP series (20 routes x 3 statuses; $BENCH_ROUTES routes),
both executors and a few blocking episodes, like a service's worker after
some traffic.

    .venv/bin/python bench/probe_workers.py [scrape|memory|render] \
        [--baseline DIR]
"""

import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time

from _common import free_port

WORKER = textwrap.dedent("""
    import asyncio, os, sys, time, concurrent.futures

    def mem():
        out = {}
        with open("/proc/self/status") as f:
            for line in f:
                k, _, v = line.partition(":")
                if k in ("VmRSS", "RssAnon", "RssFile", "RssShmem"):
                    out[k] = int(v.split()[0])
        return out

    async def main():
        try:
            os.nice(-10)  # ahead of other load on a shared machine
        except OSError:
            pass
        await asyncio.sleep(0.05)
        base = mem()
        import async_auditor
        from async_auditor import _probe
        probe = async_auditor.install()
        if sys.argv[1] != "-":
            async_auditor.serve(sys.argv[1])
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, time.sleep, 0.001)
        for r in range(int(os.environ.get("BENCH_ROUTES", "20"))):
            for status in (200, 404, 500):
                _probe.http_observe("GET", "/route/%d/{id}" % r, status,
                                    0.003 * (r + 1))
        for _ in range(3):
            time.sleep(0.06)
            await asyncio.sleep(0.02)
        await asyncio.sleep(0.2)
        after = mem()
        arena = 0
        d = os.environ.get("ASYNC_AUDITOR_MULTIPROC_DIR")
        if d:
            for name in os.listdir(d):
                if name.startswith("%d-" % os.getpid()):
                    arena = os.stat(os.path.join(d, name)).st_blocks * 512
        print("READY", base["VmRSS"], after["VmRSS"],
              after["RssAnon"] - base["RssAnon"],
              after["RssFile"] - base["RssFile"],
              after.get("RssShmem", 0) - base.get("RssShmem", 0), arena,
              flush=True)
        if sys.argv[2] == "render":
            n = 2000
            text = _probe.render_metrics()
            t0 = time.thread_time()  # CPU: the machine may be busy
            for _ in range(n):
                _probe.render_metrics()
            dt = (time.thread_time() - t0) / n
            print("RENDER", dt * 1e6, len(text), flush=True)
            return
        line = sys.stdin.readline().split()  # FREEZE seconds how
        if line[2] == "sleep":
            time.sleep(float(line[1]))  # a loop blocked in a call
        else:
            end = time.perf_counter() + float(line[1])
            while time.perf_counter() < end:  # a frozen loop, GIL held
                pass
        probe.close()

    asyncio.run(main())
""")


def spawn(args, env):
    return subprocess.Popen([sys.executable, "-c", WORKER] + args, env=env,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            text=True)


def workers(n, addr, group, mode="scrape", pythonpath=None):
    env = dict(os.environ)
    env["ASYNC_AUDITOR_MULTIPROC_DIR"] = group
    if pythonpath:
        env["PYTHONPATH"] = pythonpath
    procs = [spawn([addr, mode], env) for _ in range(n)]
    ready = []
    for p in procs:
        line = p.stdout.readline().split()
        assert line and line[0] == "READY", line
        ready.append([float(x) for x in line[1:]])
    return procs, ready


def pct(vals, q):
    ok = sorted(v for v in vals if v is not None)
    if len(ok) < len(vals):
        return "%d/%d failed" % (len(vals) - len(ok), len(vals))
    return "%.2f ms" % (ok[min(len(ok) - 1, int(round(q * (len(ok) - 1))))]
                        * 1000)


def curl_scrapes(port, count):
    """count scrapes by curl (a C client: a Python one would measure
    itself), each on a new connection so the kernel spreads them over
    the workers; seconds each (None: failed)."""
    args = []
    for _ in range(count):
        args += ["-o", "/dev/null", "http://127.0.0.1:%d/metrics" % port]
    out = subprocess.run(
        ["curl", "-s", "-m", "2", "-H", "Connection: close", "-w",
         "%{http_code} %{time_total} %{size_download}\n"] + args,
        capture_output=True, text=True, timeout=120).stdout
    res = []
    for line in out.splitlines():
        code, t, size = line.split()
        res.append((float(t), int(size)) if code == "200" else (None, 0))
    return res


WARM = 30  # scrapes that reach every worker at least once, on average


def bench_scrape():
    # A worker's first scrapes render into fresh memory (page faults of
    # the whole page); later ones reuse the exporter's buffer.  Prometheus
    # scrapes for as long as the workers live, so the table separates the
    # first WARM scrapes from the steady state that follows.
    print("| every loop frozen by | workers | HTTP series per worker | "
          "/metrics size | first %d scrapes: p50 / max | next 150: p50 | "
          "p99 | max |" % WARM)
    print("|---|---|---|---|---|---|---|---|")
    for how, n, routes in (("sleep", 1, 20), ("sleep", 8, 20),
                           ("sleep", 8, 0), ("cpu", 1, 20), ("cpu", 8, 20)):
        os.environ["BENCH_ROUTES"] = str(routes)
        group = tempfile.mkdtemp(prefix="aa-bench-")
        port = free_port()
        procs, _ = workers(n, "127.0.0.1:%d" % port, group)
        try:
            for p in procs:
                # frozen past the last scrape (180 of up to 2 s each);
                # killed below: a freeze that ended mid-run (8 s, before)
                # closed the exporters under the CPU-loop case's last
                # scrapes, which were then counted as failures
                p.stdin.write("FREEZE 400 %s\n" % how)
                p.stdin.flush()
            time.sleep(0.5)
            res = curl_scrapes(port, WARM + 150)  # one client, as Prometheus
            first = [t for t, _ in res[:WARM]]
            times = [t for t, _ in res[WARM:]]
            ok = [t for t in times if t is not None]
            okf = [t for t in first if t is not None]
            print("| %s | %d | %d | %d KiB | %s / %.2f ms | %s | %s | %.2f ms |"
                  % ({"sleep": "`time.sleep`", "cpu": "a CPU loop"}[how], n,
                     routes * 3, max(sz for _, sz in res) // 1024,
                     pct(first, 0.5), max(okf) * 1000 if okf else 0,
                     pct(times, 0.5), pct(times, 0.99),
                     max(ok) * 1000 if ok else 0))
        finally:
            for p in procs:
                p.kill()
                p.wait()
            shutil.rmtree(group, ignore_errors=True)


def bench_memory(baseline):
    cols = ["RSS before import", "RSS after", "anonymous added",
            "file-backed added", "shared memory added",
            "arena pages allocated"]
    rows = []
    builds = [("this build, 8 workers in one group", None, 8)]
    if baseline:
        builds.insert(0, ("baseline, 1 process", baseline, 1))
        builds.insert(1, ("this build, 1 process", None, 1))
    for name, path, n in builds:
        group = tempfile.mkdtemp(prefix="aa-bench-")
        addr = "127.0.0.1:%d" % (free_port() if n > 1 else 0)
        procs, ready = workers(n, addr, group, "scrape",
                               path or os.environ.get("PYTHONPATH"))
        for p in procs:
            p.kill()
            p.wait()
        shutil.rmtree(group, ignore_errors=True)
        rows.append((name, [statistics.median(r[i] for r in ready)
                            for i in range(len(cols))]))
    print("| KiB per worker (median) | " + " | ".join(n for n, _ in rows) +
          " |")
    print("|---|" + "---|" * len(rows))
    for i, c in enumerate(cols):
        print("| %s | %s |" % (c, " | ".join(
            "%d" % (v[i] / 1024 if i == 5 else v[i]) for _, v in rows)))


def bench_render(baseline):
    builds = [("this build", None)]
    if baseline:
        builds.insert(0, ("baseline", baseline))
    print("| build | render /metrics (µs of CPU, one worker) | size (bytes) |")
    print("|---|---|---|")
    for name, path in builds:
        best = None
        for _ in range(3):
            group = tempfile.mkdtemp(prefix="aa-bench-")
            env_path = path if path else os.environ.get("PYTHONPATH")
            procs, _ = workers(1, "-", group, "render", env_path)
            line = procs[0].stdout.readline().split()
            procs[0].wait()
            shutil.rmtree(group, ignore_errors=True)
            us, size = float(line[1]), int(line[2])
            best = us if best is None else min(best, us)
        print("| %s | %.1f | %d |" % (name, best, size))


def main():
    try:
        os.nice(-10)  # the scraping client too (see the workers)
    except OSError:
        pass
    what = sys.argv[1] if len(sys.argv) > 1 else "all"
    baseline = None
    if "--baseline" in sys.argv:
        baseline = sys.argv[sys.argv.index("--baseline") + 1]
    if what in ("scrape", "all"):
        bench_scrape()
    if what in ("memory", "all"):
        bench_memory(baseline)
    if what in ("render", "all"):
        bench_render(baseline)


if __name__ == "__main__":
    main()
