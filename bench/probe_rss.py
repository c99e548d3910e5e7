"""Benchmark 5: memory added by the probe.

Measures a fresh interpreter running an asyncio loop, then after importing
async_auditor, installing the probe, serving /metrics, five episodes and
twenty scrapes (made over a raw asyncio connection, so no HTTP client is
imported).  Reports RSS and its two parts: anonymous (private memory the
probe allocated) and file-backed (shared library pages, shared with every
other process mapping them).

    .venv/bin/python bench/probe_rss.py
"""

import asyncio
import time


def mem():
    out = {}
    with open("/proc/self/status") as f:
        for line in f:
            k, _, v = line.partition(":")
            if k in ("VmRSS", "RssAnon", "RssFile"):
                out[k] = int(v.split()[0])
    return out


async def scrape(port):
    r, w = await asyncio.open_connection("127.0.0.1", port)
    w.write(b"GET /metrics HTTP/1.0\r\n\r\n")
    await w.drain()
    data = await r.read()
    w.close()
    return data


async def main():
    await asyncio.sleep(0.05)
    base = mem()
    import async_auditor
    imported = mem()
    probe = async_auditor.install()
    host, port = async_auditor.serve("127.0.0.1:0")
    for _ in range(5):
        time.sleep(0.06)
        await asyncio.sleep(0.02)
    for _ in range(20):
        assert b"python_asyncio_loop_lag_seconds" in await scrape(port)
    await asyncio.sleep(0.2)
    running = mem()
    probe.close()
    async_auditor.stop_serving()
    print("| stage | RSS (KiB) | anonymous added | file-backed added |")
    print("|---|---|---|---|")
    print("| loop running, no probe | %d | | |" % base["VmRSS"])
    for name, m in (("after import", imported),
                    ("installed, serving, 5 episodes, 20 scrapes", running)):
        print("| %s | %d | %d | %d |" % (
            name, m["VmRSS"], m["RssAnon"] - base["RssAnon"],
            m["RssFile"] - base["RssFile"]))


asyncio.run(main())
