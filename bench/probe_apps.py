"""FastAPI hello-world variants for bench/probe_overhead.py and
bench/probe_instructions.py, chosen by $BENCH_VARIANT: none | probe_nomw
(probe, no HTTP middleware) | probe (instrument(): everything on) | pfi
(prometheus-fastapi-instrumentator) | starlette_exporter.  The peers get a
loop-lag task written the way prometheus_client users do it (a sleep loop
observing a Histogram).

Other parameters, from the environment:

* $BENCH_SERVE: variant probe, the exporter address every worker serves
  (one group); unset, no exporter.
* $BENCH_PEER_LAG: seconds, the interval of the peers' lag task; default
  0.01 (probe_instructions.py sets it to 3000 s: no tick under callgrind).
* $BENCH_SNAPSHOT: variants probe and probe_nomw, a path where
  probe.snapshot() is written as JSON at shutdown; unset, nothing is
  written.
* $BENCH_NO_SERVER_TICK: set, uvicorn's main loop stops ticking every
  0.1 s (it waits for SIGINT/SIGTERM instead; the Date header is set
  once): probe_instructions.py counts instructions per request, and
  under callgrind those ticks cost as much as the probe's whole
  per-request work, in proportion to wall time, which the machine's load
  decides.
"""

import asyncio
import contextlib
import json
import os
import signal

from fastapi import FastAPI

VARIANT = os.environ.get("BENCH_VARIANT", "none")
PEER_LAG = float(os.environ.get("BENCH_PEER_LAG", "0.01"))
SNAPSHOT = os.environ.get("BENCH_SNAPSHOT")


def dump(probe):
    with open(SNAPSHOT, "w") as f:
        json.dump(probe.snapshot(), f, default=repr)


def lag_task_lifespan():
    from prometheus_client import Histogram
    lag = Histogram("event_loop_lag_seconds", "Event loop lag.")

    @contextlib.asynccontextmanager
    async def lifespan(app):
        async def watch():
            loop = asyncio.get_running_loop()
            while True:
                t = loop.time()
                await asyncio.sleep(PEER_LAG)
                lag.observe(max(0.0, loop.time() - t - PEER_LAG))
        task = asyncio.create_task(watch())
        yield
        task.cancel()
    return lifespan


def probe_only_lifespan():
    import async_auditor

    @contextlib.asynccontextmanager
    async def lifespan(app):
        probe = async_auditor.install()
        yield
        if SNAPSHOT:
            dump(probe)
        probe.close()
    return lifespan


def snapshot_lifespan():
    # instrument() wraps this: it exits before the probe closes
    @contextlib.asynccontextmanager
    async def lifespan(app):
        yield
        dump(app.state.async_auditor_probe)
    return lifespan


if os.environ.get("BENCH_NO_SERVER_TICK"):
    import uvicorn.server

    async def _main_loop_without_ticks(self):
        loop = asyncio.get_running_loop()
        stop = asyncio.Event()

        def on_signal(sig, frame):
            self.handle_exit(sig, frame)  # what uvicorn's handler does
            loop.call_soon_threadsafe(stop.set)

        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, on_signal)  # uvicorn restores its own after
        await self.on_tick(0)
        await stop.wait()

    uvicorn.server.Server.main_loop = _main_loop_without_ticks

if VARIANT in ("pfi", "starlette_exporter"):
    app = FastAPI(lifespan=lag_task_lifespan())
elif VARIANT == "probe_nomw":
    app = FastAPI(lifespan=probe_only_lifespan())
elif VARIANT == "probe" and SNAPSHOT:
    app = FastAPI(lifespan=snapshot_lifespan())
else:
    app = FastAPI()


@app.get("/")
async def hello():
    return {"hello": "world"}


if VARIANT == "probe":
    from async_auditor.fastapi import instrument
    instrument(app, serve=os.environ.get("BENCH_SERVE") or None)
elif VARIANT == "pfi":
    from prometheus_fastapi_instrumentator import Instrumentator
    Instrumentator().instrument(app).expose(app)
elif VARIANT == "starlette_exporter":
    from starlette_exporter import PrometheusMiddleware, handle_metrics
    app.add_middleware(PrometheusMiddleware)
    app.add_route("/metrics", handle_metrics)
