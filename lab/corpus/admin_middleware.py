"""Inventory API whose admin pages are guarded by a middleware that asks
the identity provider whether the caller may see them.  The middleware
uses urllib.request, so the check blocks.
"""

import json
import os
import urllib.request

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.middleware.base import BaseHTTPMiddleware

from async_auditor.fastapi import instrument

EXPECT = {
    "title": "BaseHTTPMiddleware calling the identity provider with "
             "urllib.request",
    "framework": "fastapi",
    "kind": "blocking",
    "finding": ["event_loop_blocked_time"],
    "needs": ["upstream"],
    "paths": "/admin/stock=1,/items/3=9",
}

IDP_URL = os.environ.get("UPSTREAM_URL", "http://127.0.0.1:8081")


class AdminGuard(BaseHTTPMiddleware):
    async def dispatch(self, request: Request, call_next):
        if request.url.path.startswith("/admin"):
            token = request.headers.get("authorization", "anonymous")
            url = f"{IDP_URL}/auth/introspect?token={token}"
            with urllib.request.urlopen(url, timeout=5) as resp:  # culprit
                grant = json.load(resp)
            if not grant.get("ok"):
                return JSONResponse({"detail": "forbidden"}, status_code=403)
        return await call_next(request)


app = FastAPI(title="inventory")
app.add_middleware(AdminGuard)
instrument(app, serve=os.environ.get("METRICS_ADDR", "127.0.0.1:9464"))

STOCK = {i: 10 + i for i in range(100)}


@app.get("/items/{item_id}")
async def item(item_id: int):
    return {"id": item_id, "stock": STOCK.get(item_id, 0)}


@app.get("/admin/stock")
async def admin_stock():
    return {"items": len(STOCK), "units": sum(STOCK.values())}


@app.get("/health")
async def health():
    return {"status": "ok"}
