"""Control: a healthy all-async API with small pydantic models, driven
at full rate.  The loop is busy all the time, serving many short
requests, and never blocks on anything: no blocking finding and no
culprit line may be reported.
"""

import os

from fastapi import FastAPI
from pydantic import BaseModel

from async_auditor.fastapi import instrument

EXPECT = {
    "title": "control: saturated but healthy (small pydantic handlers, "
             "full rate)",
    "framework": "fastapi",
    "kind": "control",
    "finding": [],
    "needs": [],
    "paths": "/quotes/EURUSD=3,/quotes=1",
    "connections": 32,
    "delay_ms": 0,
}


class Quote(BaseModel):
    symbol: str
    bid: float
    ask: float
    spread: float


class QuoteIn(BaseModel):
    symbol: str
    bid: float
    ask: float


BOOK = {s: QuoteIn(symbol=s, bid=1.0 + i / 10, ask=1.001 + i / 10)
        for i, s in enumerate(["EURUSD", "GBPUSD", "USDJPY", "AUDUSD"])}

app = FastAPI(title="quotes")
instrument(app, serve=os.environ.get("METRICS_ADDR", "127.0.0.1:9464"))


def to_quote(q: QuoteIn) -> Quote:
    return Quote(symbol=q.symbol, bid=q.bid, ask=q.ask,
                 spread=round(q.ask - q.bid, 6))


@app.get("/quotes/{symbol}", response_model=Quote)
async def quote(symbol: str):
    return to_quote(BOOK.get(symbol) or BOOK["EURUSD"])


@app.get("/quotes", response_model=list[Quote])
async def quotes():
    return [to_quote(q) for q in BOOK.values()]


@app.get("/health")
async def health():
    return {"status": "ok"}
