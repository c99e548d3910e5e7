"""Warehouse reservations on aiohttp.web.  Reserving stock retries when
the row is locked by another reservation, with a growing pause between
attempts: time.sleep, copied from the synchronous version of the
service.

    PORT=8080 python inventory_aiohttp.py
"""

import os
import time

from aiohttp import web

from async_auditor.aiohttp import instrument

EXPECT = {
    "title": "aiohttp.web handler retrying with time.sleep backoff",
    "framework": "aiohttp",
    "kind": "blocking",
    "finding": ["event_loop_blocked_time"],
    "needs": [],
    "paths": "/reserve/5=1,/stock/5=9",
}

STOCK = {sku: 100 for sku in range(20)}
attempts = {"n": 0}


def try_reserve(sku):
    """The warehouse row is busy on every third attempt."""
    attempts["n"] += 1
    if attempts["n"] % 3 == 0:
        return False
    STOCK[sku] = STOCK.get(sku, 100) - 1
    return True


async def reserve(request):
    sku = int(request.match_info["sku"])
    for attempt in range(1, 4):
        if try_reserve(sku):
            return web.json_response({"sku": sku, "left": STOCK[sku]})
        time.sleep(0.1 * attempt)  # culprit
    return web.json_response({"error": "busy"}, status=409)


async def stock(request):
    sku = int(request.match_info["sku"])
    return web.json_response({"sku": sku, "left": STOCK.get(sku, 0)})


async def health(request):
    return web.json_response({"status": "ok"})


def create_app():
    app = web.Application()
    app.add_routes([web.get("/reserve/{sku}", reserve),
                    web.get("/stock/{sku}", stock),
                    web.get("/health", health)])
    instrument(app, serve=os.environ.get("METRICS_ADDR", "127.0.0.1:9464"))
    return app


if __name__ == "__main__":
    web.run_app(create_app(), host="127.0.0.1",
                port=int(os.environ.get("PORT", "8080")), print=None)
