"""Orders API with an audit trail: every order confirmation is logged to
the central log collector with the standard library's HTTPHandler,
configured once at import like any other logging handler.

HTTPHandler.emit() opens a connection and waits for the collector's
answer, on the thread that logs: here, the event loop.
"""

import logging
import logging.handlers
import os
import urllib.parse

from fastapi import FastAPI
from pydantic import BaseModel

from async_auditor.fastapi import instrument

EXPECT = {
    "title": "logging.handlers.HTTPHandler to a log collector on each "
             "order confirmation",
    "framework": "fastapi",
    "kind": "blocking",
    "finding": ["event_loop_blocked_time"],
    "needs": ["upstream"],
    "paths": "/orders/42/confirm=1,/orders/42=3,/health=1",
}

COLLECTOR = urllib.parse.urlsplit(
    os.environ.get("UPSTREAM_URL", "http://127.0.0.1:8081"))

audit = logging.getLogger("orders.audit")
audit.setLevel(logging.INFO)
audit.addHandler(logging.handlers.HTTPHandler(
    COLLECTOR.netloc, "/logs/orders", method="POST"))

app = FastAPI(title="orders")
instrument(app, serve=os.environ.get("METRICS_ADDR", "127.0.0.1:9464"))


class Order(BaseModel):
    id: int
    status: str
    total: float


ORDERS = {42: Order(id=42, status="pending", total=99.5)}


@app.get("/orders/{order_id}", response_model=Order)
async def get_order(order_id: int):
    return ORDERS.get(order_id) or Order(id=order_id, status="unknown",
                                         total=0)


@app.get("/orders/{order_id}/confirm", response_model=Order)
async def confirm_order(order_id: int):
    order = ORDERS.setdefault(order_id, Order(id=order_id, status="pending",
                                              total=0))
    order.status = "confirmed"
    audit.info("order %s confirmed", order.id)  # culprit
    return order


@app.get("/health")
async def health():
    return {"status": "ok"}
