"""Control: a light, healthy notes API; async routes, small answers,
modest traffic.  Nothing to find.
"""

import os
import time

from fastapi import FastAPI
from pydantic import BaseModel

from async_auditor.fastapi import instrument

EXPECT = {
    "title": "control: light healthy service",
    "framework": "fastapi",
    "kind": "control",
    "finding": [],
    "needs": [],
    "paths": "/notes=3,/notes/1=6,/health=1",
    "connections": 4,
    "delay_ms": 100,
}


class Note(BaseModel):
    id: int
    text: str
    created: float


NOTES = {i: Note(id=i, text="note %d" % i, created=time.time())
         for i in range(1, 21)}

app = FastAPI(title="notes")
instrument(app, serve=os.environ.get("METRICS_ADDR", "127.0.0.1:9464"))


@app.get("/notes", response_model=list[Note])
async def list_notes(limit: int = 10):
    return list(NOTES.values())[:limit]


@app.get("/notes/{note_id}", response_model=Note)
async def get_note(note_id: int):
    return NOTES.get(note_id) or Note(id=note_id, text="", created=0)


@app.get("/health")
async def health():
    return {"status": "ok"}
