"""A FastAPI app for the server tests: a sync endpoint with a sync
dependency that exhaust anyio's worker tokens (limited to 2) and an async
endpoint that blocks the loop."""

import contextlib
import os
import time

import anyio.to_thread
from fastapi import Depends, FastAPI

from async_auditor.fastapi import instrument


@contextlib.asynccontextmanager
async def lifespan(app):
    anyio.to_thread.current_default_thread_limiter().total_tokens = 2
    yield


app = FastAPI(lifespan=lifespan)


@app.get("/items/{item_id}")
def item(item_id: int):
    time.sleep(0.2)
    return {"id": item_id}


def current_user():  # the dependency's def
    time.sleep(0.01)
    return "someone"


@app.get("/me")  # the endpoint's def
def me(user: str = Depends(current_user)):
    time.sleep(0.01)
    return {"user": user}


@app.get("/block")
async def block():
    time.sleep(0.15)  # blocks the loop
    return {"blocked": True}


instrument(app, serve=os.environ["AA_METRICS_ADDR"])
