"""Session service that keeps sessions in memory and, so that a restart
does not log everybody out, snapshots them to disk from a background task
started with the app.  The snapshot pickles the whole dict on the loop.
"""

import asyncio
import contextlib
import os
import pickle
import tempfile
import time

from fastapi import FastAPI

from async_auditor.fastapi import instrument

EXPECT = {
    "title": "background task (create_task at startup) pickling all "
             "sessions every second",
    "framework": "fastapi",
    "kind": "blocking",
    "finding": ["event_loop_blocked_time"],
    "needs": [],
    "paths": "/sessions/s123=4,/health=1",
}

SNAPSHOT_PATH = os.path.join(os.environ.get("DATA_DIR",
                                            tempfile.gettempdir()),
                             "sessions.pickle")
SNAPSHOT_EVERY = 1.0

sessions = {"s%d" % i: {"user_id": i, "cart": list(range(20)),
                        "name": "user%d" % i, "seen": time.time()}
            for i in range(100_000)}


async def snapshot_sessions():
    while True:
        await asyncio.sleep(SNAPSHOT_EVERY)
        blob = pickle.dumps(sessions)  # culprit
        with open(SNAPSHOT_PATH + ".tmp", "wb") as f:
            f.write(blob)
        os.replace(SNAPSHOT_PATH + ".tmp", SNAPSHOT_PATH)


@contextlib.asynccontextmanager
async def lifespan(app):
    task = asyncio.create_task(snapshot_sessions())
    yield
    task.cancel()


app = FastAPI(title="sessions", lifespan=lifespan)
instrument(app, serve=os.environ.get("METRICS_ADDR", "127.0.0.1:9464"))


@app.get("/sessions/{sid}")
async def get_session(sid: str):
    session = sessions.get(sid)
    if session is not None:
        session["seen"] = time.time()
    return session or {}


@app.get("/health")
async def health():
    return {"status": "ok"}
