"""Checkout API: totals a shopping cart, pricing each line with the
pricing service over HTTP.

The pricing client was lifted from a script, so it uses `requests`: a
blocking call, two helpers below an `async def` route.
"""

import os

import requests
from fastapi import FastAPI, HTTPException
from pydantic import BaseModel

from async_auditor.fastapi import instrument

EXPECT = {
    "title": "requests.get to a slow pricing API, two helpers below an "
             "async route",
    "framework": "fastapi",
    "kind": "blocking",
    "finding": ["event_loop_blocked_time"],
    "needs": ["upstream"],
    "paths": "/carts/17/total=1,/products=9",
}

PRICING_URL = os.environ.get("UPSTREAM_URL", "http://127.0.0.1:8081")

app = FastAPI(title="checkout")
instrument(app, serve=os.environ.get("METRICS_ADDR", "127.0.0.1:9464"))


class CartLine(BaseModel):
    sku: str
    quantity: int


class CartTotal(BaseModel):
    cart_id: int
    lines: int
    total: float


CARTS = {
    17: [CartLine(sku="BOOK-1", quantity=2), CartLine(sku="PEN-4", quantity=5),
         CartLine(sku="MUG-2", quantity=1)],
}
PRODUCTS = [{"sku": s, "name": n} for s, n in
            [("BOOK-1", "Dune"), ("PEN-4", "Fountain pen"), ("MUG-2", "Mug")]]


def unit_price(sku: str) -> float:
    resp = requests.get(f"{PRICING_URL}/prices/{sku}", timeout=5)  # culprit
    resp.raise_for_status()
    return float(resp.json()["price"])


def price_cart(lines: list[CartLine]) -> float:
    return round(sum(unit_price(line.sku) * line.quantity for line in lines), 2)


@app.get("/carts/{cart_id}/total", response_model=CartTotal)
async def cart_total(cart_id: int):
    lines = CARTS.get(cart_id)
    if lines is None:
        raise HTTPException(404, "no such cart")
    return CartTotal(cart_id=cart_id, lines=len(lines),
                     total=price_cart(lines))


@app.get("/products")
async def products():
    return PRODUCTS


@app.get("/health")
async def health():
    return {"status": "ok"}
