"""A Quart app with MetricsMiddleware around its asgi_app (Quart's own
middleware pattern); the probe is installed before serving.  Served by
hypercorn in test_frameworks.py."""

import os
import time

from quart import Quart

import async_auditor
from async_auditor.asgi import MetricsMiddleware

app = Quart(__name__)


@app.before_serving
async def start():
    async_auditor.install(serve=os.environ["AA_METRICS_ADDR"])


@app.get("/block/<int:n>")
async def block(n):
    time.sleep(0.2)  # quart-block
    return {"n": n}


@app.get("/items/<item_id>")
async def item(item_id):
    return {"id": item_id}


app.asgi_app = MetricsMiddleware(app.asgi_app)
