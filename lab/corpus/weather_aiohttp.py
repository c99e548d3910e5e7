"""Weather widget backend on aiohttp.web: the forecast handler asks the
weather provider with `requests`, the client the team knows, inside the
async handler.

    PORT=8080 python weather_aiohttp.py
"""

import os

import requests
from aiohttp import web

from async_auditor.aiohttp import instrument

EXPECT = {
    "title": "aiohttp.web handler calling a slow API with requests.get",
    "framework": "aiohttp",
    "kind": "blocking",
    "finding": ["event_loop_blocked_time"],
    "needs": ["upstream"],
    "paths": "/forecast/oslo=1,/cities=9",
}

PROVIDER_URL = os.environ.get("UPSTREAM_URL", "http://127.0.0.1:8081")
CITIES = ["oslo", "lima", "pune", "kyiv"]


async def forecast(request):
    city = request.match_info["city"]
    resp = requests.get(f"{PROVIDER_URL}/forecast/{city}", timeout=5)  # culprit
    data = resp.json()
    return web.json_response({"city": city, "temp": data["temperature_c"]})


async def cities(request):
    return web.json_response(CITIES)


async def health(request):
    return web.json_response({"status": "ok"})


def create_app():
    app = web.Application()
    app.add_routes([web.get("/forecast/{city}", forecast),
                    web.get("/cities", cities),
                    web.get("/health", health)])
    instrument(app, serve=os.environ.get("METRICS_ADDR", "127.0.0.1:9464"))
    return app


if __name__ == "__main__":
    web.run_app(create_app(), host="127.0.0.1",
                port=int(os.environ.get("PORT", "8080")), print=None)
