"""Benchmark 3: /metrics latency while the event loop is frozen.

A child process serves three /metrics endpoints — the probe's C exporter,
prometheus_client's start_http_server thread, and a route served by the
asyncio app itself — then freezes its loop for 4 s with (a) a pure-Python
CPU loop and (b) a GIL-holding regex match.  The parent scrapes each
endpoint in turn during the freeze (2 s timeout) and reports p50/p99.

    .venv/bin/python bench/probe_scrape.py
"""

import os
import statistics
import subprocess
import sys
import textwrap
import time
import urllib.request

from _common import free_port

CHILD = textwrap.dedent("""
    import asyncio, re, sys, time
    import async_auditor
    import prometheus_client
    from async_auditor.prometheus import ProbeCollector

    probe_port, pc_port, app_port, how = sys.argv[1:5]

    def freeze():
        if how == "cpu":
            end = time.perf_counter() + 4
            while time.perf_counter() < end:
                pass
        else:
            pat = re.compile(r"(a+)+$")
            n = 18
            while True:
                t0 = time.perf_counter()
                pat.match("a" * n + "b")
                if time.perf_counter() - t0 > 0.06:
                    break
                n += 1
            deadline = time.perf_counter() + 4
            while time.perf_counter() < deadline:
                pat.match("a" * (n + 3) + "b")

    async def handle(reader, writer):
        await reader.readuntil(b"\\r\\n\\r\\n")
        body = prometheus_client.generate_latest()
        writer.write(b"HTTP/1.0 200 OK\\r\\nContent-Length: %d\\r\\n\\r\\n"
                     % len(body) + body)
        await writer.drain()
        writer.close()

    async def main():
        async_auditor.install(serve="127.0.0.1:" + probe_port)
        prometheus_client.REGISTRY.register(ProbeCollector())
        prometheus_client.start_http_server(int(pc_port), "127.0.0.1")
        await asyncio.start_server(handle, "127.0.0.1", int(app_port))
        await asyncio.sleep(0.5)
        print("FREEZE", flush=True)
        freeze()
        print("DONE", flush=True)
        await asyncio.sleep(1)

    asyncio.run(main())
""")


def scrape(port, timeout=2.0):
    t0 = time.perf_counter()
    try:
        urllib.request.urlopen("http://127.0.0.1:%d/metrics" % port,
                               timeout=timeout).read()
        return time.perf_counter() - t0
    except Exception:
        return None


def one(how):
    """Scrape each endpoint from its own thread, back to back, during the
    freeze; a timed-out scrape counts as one sample of >= 2 s."""
    import threading
    ports = [free_port() for _ in range(3)]
    p = subprocess.Popen([sys.executable, "-c", CHILD] +
                         [str(x) for x in ports] + [how],
                         stdout=subprocess.PIPE)
    try:
        assert p.stdout.readline().strip() == b"FREEZE"
        time.sleep(0.1)
        res = {n: [] for n in ("probe", "prometheus_client", "app")}
        end = time.perf_counter() + 3.5

        def worker(name, port):
            while time.perf_counter() < end:
                res[name].append(scrape(port))
                time.sleep(0.01)

        threads = [threading.Thread(target=worker, args=(n, port))
                   for n, port in zip(res, ports)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        return res
    finally:
        p.kill()
        p.wait()


def pct(vals, q):
    ok = sorted(v for v in vals if v is not None)
    if not ok:
        return "timeout"
    if len(ok) < len(vals):
        return "%d/%d timed out" % (len(vals) - len(ok), len(vals))
    i = min(len(ok) - 1, int(round(q * (len(ok) - 1))))
    return "%.2f ms" % (ok[i] * 1000)


def main():
    print("| freeze | endpoint | scrapes | p50 | p99 |")
    print("|---|---|---|---|---|")
    for how in ("cpu", "regex"):
        res = one(how)
        for name, vals in res.items():
            print("| %s | %s | %d | %s | %s |" % (
                {"cpu": "pure-Python CPU loop",
                 "regex": "GIL-holding re match"}[how], name, len(vals),
                pct(vals, 0.5), pct(vals, 0.99)))


if __name__ == "__main__":
    main()
