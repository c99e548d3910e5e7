"""Catalogue export for partners: the full product list as one JSON
document (about 7 MB), serialised with json.dumps in the route and
returned as is.
"""

import json
import os

from fastapi import FastAPI, Response

from async_auditor.fastapi import instrument

EXPECT = {
    "title": "json.dumps of a 7 MB catalogue built per request",
    "framework": "fastapi",
    "kind": "blocking",
    "finding": ["event_loop_blocked_time"],
    "needs": [],
    "paths": "/export/catalogue=1,/products/7=19",
}

CATALOGUE = [
    {"id": i, "sku": "SKU-%06d" % i, "name": "Product %d" % i,
     "price": round(i * 0.37, 2), "stock": i % 17,
     "tags": ["garden", "outdoor", "summer"],
     "description": "A sturdy product for everyday use, model %d." % i}
    for i in range(40000)
]

app = FastAPI(title="catalogue")
instrument(app, serve=os.environ.get("METRICS_ADDR", "127.0.0.1:9464"))


@app.get("/products/{product_id}")
async def product(product_id: int):
    return CATALOGUE[product_id % len(CATALOGUE)]


@app.get("/export/catalogue")
async def export_catalogue(currency: str = "EUR"):
    payload = {"currency": currency, "count": len(CATALOGUE),
               "products": [p for p in CATALOGUE if p["stock"]]}
    body = json.dumps(payload)  # culprit
    return Response(body, media_type="application/json")


@app.get("/health")
async def health():
    return {"status": "ok"}
