"""A Litestar app wrapped in MetricsMiddleware; the probe is installed at
startup.  Served by uvicorn in test_frameworks.py."""

import os
import time

from litestar import Litestar, get

import async_auditor
from async_auditor.asgi import MetricsMiddleware


@get("/block/{n:int}")
async def block(n: int) -> dict:
    time.sleep(0.2)  # litestar-block
    return {"n": n}


@get("/items/{item_id:str}")
async def item(item_id: str) -> dict:
    return {"id": item_id}


def start() -> None:
    async_auditor.install(serve=os.environ["AA_METRICS_ADDR"])


app = MetricsMiddleware(Litestar([block, item], on_startup=[start]))
