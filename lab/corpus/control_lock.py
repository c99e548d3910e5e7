"""Control: a ledger API that serialises transfers with an asyncio.Lock
held across the (awaited) write to storage.  Requests queue behind the
lock and are slow, but the loop itself is free the whole time: no
blocking finding and no culprit line may be reported.
"""

import asyncio
import os

from fastapi import FastAPI, HTTPException

from async_auditor.fastapi import instrument

EXPECT = {
    "title": "control: requests awaiting an asyncio.Lock held across "
             "an await",
    "framework": "fastapi",
    "kind": "control",
    "finding": [],
    "needs": [],
    "paths": "/transfer/alice/bob=1,/balance/alice=1",
}

balances = {"alice": 1_000_000, "bob": 0}
journal = []
ledger_lock = asyncio.Lock()

app = FastAPI(title="ledger")
instrument(app, serve=os.environ.get("METRICS_ADDR", "127.0.0.1:9464"))


async def persist(entry):
    await asyncio.sleep(0.02)  # the storage round trip, awaited
    journal.append(entry)


@app.get("/transfer/{src}/{dst}")
async def transfer(src: str, dst: str, amount: int = 1):
    async with ledger_lock:
        if balances.get(src, 0) < amount:
            raise HTTPException(409, "insufficient funds")
        balances[src] -= amount
        balances[dst] = balances.get(dst, 0) + amount
        await persist((src, dst, amount))
    return {"ok": True, "journal": len(journal)}


@app.get("/balance/{account}")
async def balance(account: str):
    async with ledger_lock:
        return {"account": account, "balance": balances.get(account, 0)}


@app.get("/health")
async def health():
    return {"status": "ok"}
