"""FastAPI hello-world variants for bench/probe_overhead.py, chosen by
$BENCH_VARIANT: none | probe_nomw (probe, no HTTP middleware) | probe
(instrument(): everything on) | pfi (prometheus-fastapi-instrumentator)
| starlette_exporter.  The peers get a loop-lag task written the way
prometheus_client users do it (a sleep loop observing a Histogram)."""

import asyncio
import contextlib
import os

from fastapi import FastAPI

VARIANT = os.environ.get("BENCH_VARIANT", "none")


def lag_task_lifespan():
    from prometheus_client import Histogram
    lag = Histogram("event_loop_lag_seconds", "Event loop lag.")

    @contextlib.asynccontextmanager
    async def lifespan(app):
        async def watch():
            loop = asyncio.get_running_loop()
            while True:
                t = loop.time()
                await asyncio.sleep(0.01)
                lag.observe(max(0.0, loop.time() - t - 0.01))
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
        probe.close()
    return lifespan


if VARIANT in ("pfi", "starlette_exporter"):
    app = FastAPI(lifespan=lag_task_lifespan())
elif VARIANT == "probe_nomw":
    app = FastAPI(lifespan=probe_only_lifespan())
else:
    app = FastAPI()


@app.get("/")
async def hello():
    return {"hello": "world"}


if VARIANT == "probe":
    from async_auditor.fastapi import instrument
    # $BENCH_SERVE: every worker serves the exporter (one group)
    instrument(app, serve=os.environ.get("BENCH_SERVE") or None)
elif VARIANT == "pfi":
    from prometheus_fastapi_instrumentator import Instrumentator
    Instrumentator().instrument(app).expose(app)
elif VARIANT == "starlette_exporter":
    from starlette_exporter import PrometheusMiddleware, handle_metrics
    app.add_middleware(PrometheusMiddleware)
    app.add_route("/metrics", handle_metrics)
