"""Cart service: the cart page shows every line with its current price,
read from Redis.  The team already had a synchronous redis-py client for
their scripts and used it here too, one HGET per line.
"""

import os

import redis
from fastapi import FastAPI

from async_auditor.fastapi import instrument

EXPECT = {
    "title": "sync redis-py HGET per cart line (N+1) against redis-server",
    "framework": "fastapi",
    "kind": "blocking",
    "finding": ["event_loop_blocked_time"],
    "needs": ["redis"],
    "paths": "/carts/9=1,/health=9",
}

cache = redis.Redis.from_url(os.environ.get("REDIS_URL",
                                            "redis://127.0.0.1:6379/0"),
                             decode_responses=True)

SKUS = ["SKU-%05d" % i for i in range(5000)]
if not cache.exists("prices"):
    cache.hset("prices", mapping={sku: "%.2f" % (i * 0.37)
                                  for i, sku in enumerate(SKUS)})
CARTS = {9: SKUS[::10]}  # a wholesale customer's 500-line cart

app = FastAPI(title="cart")
instrument(app, serve=os.environ.get("METRICS_ADDR", "127.0.0.1:9464"))


@app.get("/carts/{cart_id}")
async def show_cart(cart_id: int):
    lines = []
    for sku in CARTS.get(cart_id, []):
        price = cache.hget("prices", sku)  # culprit
        lines.append({"sku": sku, "price": float(price or 0)})
    return {"cart": cart_id, "lines": len(lines),
            "total": round(sum(line["price"] for line in lines), 2)}


@app.get("/health")
async def health():
    return {"status": "ok"}
