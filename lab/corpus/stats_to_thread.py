"""Metrics dashboard API: the summary endpoint computes percentiles over
the last readings in pure Python.  Someone read that CPU work must not
run on the event loop, so it goes through asyncio.to_thread; but it
still holds the GIL, which the loop needs too.
"""

import asyncio
import os
import random

from fastapi import FastAPI

from async_auditor.fastapi import instrument

EXPECT = {
    "title": "asyncio.to_thread of a pure-Python CPU job (GIL contention)",
    "framework": "fastapi",
    "kind": "gil",
    "finding": ["event_loop_starvation"],
    "needs": [],
    "paths": "/summary=1,/readings/latest=4",
}

rnd = random.Random(3)
READINGS = [rnd.gauss(50, 12) for _ in range(300_000)]


def summarize(values, buckets=200):
    lo, hi = min(values), max(values)
    width = (hi - lo) / buckets
    counts = [0] * buckets
    for v in values:
        counts[min(int((v - lo) / width), buckets - 1)] += 1  # culprit
    total, seen, out = len(values), 0, {}
    for i, c in enumerate(counts):
        seen += c
        for q in (0.5, 0.9, 0.99):
            if q not in out and seen >= q * total:
                out[q] = lo + (i + 1) * width
    return {"p50": out[0.5], "p90": out[0.9], "p99": out[0.99]}


app = FastAPI(title="dashboard")
instrument(app, serve=os.environ.get("METRICS_ADDR", "127.0.0.1:9464"))


@app.get("/summary")
async def summary():
    return await asyncio.to_thread(summarize, READINGS)


@app.get("/readings/latest")
async def latest():
    return {"value": READINGS[-1]}


@app.get("/health")
async def health():
    return {"status": "ok"}
