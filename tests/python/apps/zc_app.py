"""A FastAPI app with no async_auditor import at all: the zero-code tests
run it under `python -m async_auditor run` with every server."""

import time

from fastapi import FastAPI

app = FastAPI()


@app.get("/items/{item_id}")
async def item(item_id: int):
    return {"id": item_id}


@app.get("/block")
async def block():
    time.sleep(0.3)  # zero-code-block
    return {"blocked": 0.3}
