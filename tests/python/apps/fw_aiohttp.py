"""An aiohttp.web service: `python fw_aiohttp.py PORT instrumented|plain`.
instrumented: async_auditor.aiohttp.instrument(app, serve=$AA_METRICS_ADDR);
plain: no async_auditor import (the zero-code test runs it under `run`)."""

import os
import sys
import time

from aiohttp import web


async def block(request):
    time.sleep(0.2)  # aiohttp-block
    return web.json_response({"n": int(request.match_info["n"])})


async def item(request):
    return web.json_response({"id": request.match_info["item_id"]})


async def missing(request):
    raise web.HTTPNotFound()


def make_app():
    app = web.Application()
    app.router.add_get("/block/{n}", block)
    app.router.add_get(r"/items/{item_id:\d+}", item)
    app.router.add_get("/gone/{what}", missing)
    sub = web.Application()
    sub.router.add_get("/ping/{item_id}", item)
    app.add_subapp("/sub", sub)
    return app


if __name__ == "__main__":
    port, mode = int(sys.argv[1]), sys.argv[2]
    app = make_app()
    if mode == "instrumented":
        import async_auditor.aiohttp
        async_auditor.aiohttp.instrument(
            app, serve=os.environ["AA_METRICS_ADDR"])
    web.run_app(app, host="127.0.0.1", port=port, print=None)
