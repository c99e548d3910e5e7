"""Login API: verifies passwords against PBKDF2-SHA256 hashes (200 000
iterations) with hashlib, inside the async route.
"""

import hashlib
import hmac
import os

from fastapi import FastAPI, HTTPException

from async_auditor.fastapi import instrument

EXPECT = {
    "title": "hashlib.pbkdf2_hmac password check in an async route",
    "framework": "fastapi",
    "kind": "blocking",
    "finding": ["event_loop_blocked_time"],
    "needs": [],
    "paths": "/login/alice/correct-horse=1,/profile/alice=9",
}

ITERATIONS = 200_000
SALT = b"per-user-salt-alice"
USERS = {"alice": hashlib.pbkdf2_hmac("sha256", b"correct-horse", SALT,
                                      ITERATIONS)}

app = FastAPI(title="login")
instrument(app, serve=os.environ.get("METRICS_ADDR", "127.0.0.1:9464"))


def check_password(user: str, password: str) -> bool:
    stored = USERS.get(user)
    if stored is None:
        return False
    digest = hashlib.pbkdf2_hmac("sha256", password.encode(), SALT, ITERATIONS)  # culprit
    return hmac.compare_digest(digest, stored)


@app.get("/login/{user}/{password}")
async def login(user: str, password: str):
    if not check_password(user, password):
        raise HTTPException(401, "bad credentials")
    return {"user": user, "token": hashlib.sha256(user.encode()).hexdigest()}


@app.get("/profile/{user}")
async def profile(user: str):
    return {"user": user, "plan": "pro"}


@app.get("/health")
async def health():
    return {"status": "ok"}
