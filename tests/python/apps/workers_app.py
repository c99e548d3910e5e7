"""The app of the multi-worker tests, instrumented exactly as the README
shows: every request to /block blocks its worker's loop once (longer than
the block threshold the tests set), and says which worker served it."""

import os
import time

from fastapi import FastAPI

from async_auditor.fastapi import instrument

app = FastAPI()
BLOCK = float(os.environ.get("AA_BLOCK_SECONDS", "0.3"))


@app.get("/block")
async def block():
    time.sleep(BLOCK)  # blocks the loop once
    return {"pid": os.getpid()}


@app.get("/pid")
async def pid():
    return {"pid": os.getpid()}


instrument(app, serve=os.environ["AA_METRICS_ADDR"])
