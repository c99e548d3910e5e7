"""Benchmark 5: resident memory added by the probe.

Measures RSS of a fresh interpreter running an asyncio loop, then after
importing async_auditor, installing the probe, serving /metrics and
producing a few episodes and scrapes.

    .venv/bin/python bench/probe_rss.py
"""

import asyncio
import os
import time
import urllib.request


def rss_kb():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") // 1024


async def main():
    await asyncio.sleep(0.05)
    base = rss_kb()
    import async_auditor
    after_import = rss_kb()
    probe = async_auditor.install()
    host, port = async_auditor.serve("127.0.0.1:0")
    for _ in range(5):
        time.sleep(0.06)
        await asyncio.sleep(0.02)
    for _ in range(20):
        await asyncio.to_thread(
            lambda: urllib.request.urlopen(
                "http://127.0.0.1:%d/metrics" % port).read())
    await asyncio.sleep(0.2)
    running = rss_kb()
    probe.close()
    async_auditor.stop_serving()
    print("| stage | RSS (KiB) | added (KiB) |")
    print("|---|---|---|")
    print("| loop running, no probe | %d | |" % base)
    print("| after import | %d | %d |" % (after_import, after_import - base))
    print("| installed, serving, 5 episodes, 20 scrapes | %d | %d |"
          % (running, running - base))


asyncio.run(main())
