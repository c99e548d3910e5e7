"""Sign-up API: validates the e-mail address with a regular expression
found in a popular answer online.  It backtracks catastrophically on an
address like "aaaaaaaaaaaaaaaaaaaa!", which bots submit.
"""

import os
import re

from fastapi import FastAPI, HTTPException

from async_auditor.fastapi import instrument

EXPECT = {
    "title": "re with catastrophic backtracking on a submitted e-mail",
    "framework": "fastapi",
    "kind": "blocking",
    "finding": ["event_loop_blocked_time"],
    "needs": [],
    "paths": "/signup/aaaaaaaaaaaaaaaaaaaa!=1,/signup/ann@example.com=9,"
             "/health=10",
}

EMAIL_RE = re.compile(
    r"^([a-zA-Z0-9])(([\-.]|[_]+)?([a-zA-Z0-9]+))*(@){1}[a-z0-9]+[.]{1}"
    r"(([a-z]{2,3})|([a-z]{2,3}[.]{1}[a-z]{2,3}))$")

app = FastAPI(title="signup")
instrument(app, serve=os.environ.get("METRICS_ADDR", "127.0.0.1:9464"))

USERS = set()


@app.get("/signup/{email}")
async def signup(email: str):
    if not EMAIL_RE.match(email):  # culprit
        raise HTTPException(422, "invalid e-mail address")
    USERS.add(email)
    return {"email": email, "users": len(USERS)}


@app.get("/health")
async def health():
    return {"status": "ok"}
