"""Orders API written with plain `def` endpoints, as the FastAPI docs
allow, and a plain `def` dependency that asks the identity provider who
the caller is.  FastAPI runs both in anyio's thread pool (40 threads);
the identity provider takes a quarter of a second.
"""

import os

import requests
from fastapi import Depends, FastAPI

from async_auditor.fastapi import instrument

EXPECT = {
    "title": "sync def endpoints and a sync dependency (identity "
             "provider over requests) exhaust anyio's thread pool",
    "framework": "fastapi",
    "kind": "pool",
    "finding": ["executor_queue_depth", "executor_wait"],
    "needs": ["upstream"],
    "paths": "/orders=3,/orders/7=1",
    "connections": 96,
    "delay_ms": 0,
}

IDP_URL = os.environ.get("UPSTREAM_URL", "http://127.0.0.1:8081")

app = FastAPI(title="orders-sync")
instrument(app, serve=os.environ.get("METRICS_ADDR", "127.0.0.1:9464"))

http = requests.Session()
ORDERS = [{"id": i, "total": 10.0 * i} for i in range(50)]


def current_user():  # culprit
    resp = http.get(f"{IDP_URL}/auth/whoami", timeout=5)
    resp.raise_for_status()
    return resp.json()["user"]


@app.get("/orders")
def list_orders(user: str = Depends(current_user)):
    return {"user": user, "orders": ORDERS[:10]}


@app.get("/orders/{order_id}")
def get_order(order_id: int, user: str = Depends(current_user)):
    return {"user": user, "order": ORDERS[order_id % len(ORDERS)]}


@app.get("/health")
def health():
    return {"status": "ok"}
