"""The lab service: a FastAPI app whose endpoints reproduce, on purpose,
the ways an async Python service degrades inside before it degrades
outside.  Each blocking line sits in its own named function so that the
auditor's culprit site (``path:line function``) points at it.

Run it alone with::

    LAB_METRICS=127.0.0.1:9464 .venv/bin/python -m uvicorn app:app \\
        --app-dir lab --host 127.0.0.1 --port 8000

Environment:
    LAB_METRICS           probe exporter address (default 127.0.0.1:9464)
    LAB_PROBE             "0" runs without the probe (a baseline)
    LAB_ANYIO_TOKENS      anyio thread-pool size for sync endpoints (4)
    LAB_EXECUTOR_WORKERS  default executor size for run_in_executor (2)
    LAB_UPSTREAM_DELAY    seconds the slow upstream takes to answer (0.1)
"""

import asyncio
import contextlib
import json
import os
import socket
import socketserver
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import anyio.to_thread
from fastapi import FastAPI

ANYIO_TOKENS = int(os.environ.get("LAB_ANYIO_TOKENS", "4"))
EXECUTOR_WORKERS = int(os.environ.get("LAB_EXECUTOR_WORKERS", "2"))
UPSTREAM_DELAY = float(os.environ.get("LAB_UPSTREAM_DELAY", "0.1"))
METRICS_ADDR = os.environ.get("LAB_METRICS", "127.0.0.1:9464")
PROBE = os.environ.get("LAB_PROBE", "1") != "0"

# How much each scenario blocks per request.  Sized so that one scenario
# run under the lab's bounded load (lab/run) takes seconds, not minutes,
# and each blocking call stays well past the probe's 50 ms block
# threshold (the CPU loop takes about 0.2 s on the 2-CPU VM of
# docs/benchmarks.md).
SLEEP_SECONDS = 0.2
CPU_ITERATIONS = 5_000_000
AUDIT_RECORDS = 500
POOL_SLEEP = 0.25
EXECUTOR_JOB_SECONDS = 0.1
FANOUT_TASKS = 400
MIXED_EVERY = 100          # one request in MIXED_EVERY blocks: 1 %
MIXED_BLOCK_SECONDS = 0.15


# ---- the slow upstream: what a synchronous SDK talks to --------------------

class _SlowUpstreamHandler(socketserver.BaseRequestHandler):
    def handle(self):
        self.request.recv(4096)
        time.sleep(UPSTREAM_DELAY)
        body = b'{"price": 42}'
        self.request.sendall(b"HTTP/1.0 200 OK\r\nContent-Length: %d\r\n"
                             b"\r\n%s" % (len(body), body))


class _SlowUpstream(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True


def start_upstream():
    server = _SlowUpstream(("127.0.0.1", 0), _SlowUpstreamHandler)
    thread = threading.Thread(target=server.serve_forever,
                              name="lab-upstream", daemon=True)
    thread.start()
    return server


# ---- the culprits: each blocking call on its own line ----------------------

def sdk_fetch_quote(port):
    """A synchronous HTTP client call, as an SDK without async support
    makes it: connect, send, and wait for the answer on a blocking
    socket."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(b"GET /quote HTTP/1.0\r\nHost: upstream\r\n\r\n")
        reply = b""
        while True:
            chunk = sock.recv(4096)  # blocks the event loop: SDK call
            if not chunk:
                break
            reply += chunk
    return json.loads(reply.split(b"\r\n\r\n", 1)[1])


def score_portfolio(n):
    """Pure-Python CPU work: holds the GIL the whole time."""
    acc = 0
    for i in range(n):
        acc = (acc * 31 + i) % 1000003  # CPU-bound loop on the event loop
    return acc


def write_audit_trail(path, records):
    """Durable audit log: one fsync per record, on the event loop."""
    with open(path, "ab") as f:
        for i in range(records):
            f.write(b"audit record %d\n" % i)
            f.flush()
            os.fsync(f.fileno())  # blocking file I/O on the event loop
    return records


def render_report_sync():
    """Work a sync endpoint does in anyio's thread pool."""
    time.sleep(POOL_SLEEP)  # occupies an anyio worker token
    return {"rows": 100}


def resize_image_job():
    """A job handed to the default executor."""
    time.sleep(EXECUTOR_JOB_SECONDS)  # occupies a default-executor worker
    return 1


def load_fx_rates_sync():
    """The rare slow path: a cache miss that refreshes synchronously."""
    time.sleep(MIXED_BLOCK_SECONDS)  # blocks the loop on 1 % of requests
    return {"EUR": 1.08}


async def enrich_item(i):
    await asyncio.sleep(0)
    return json.dumps({"item": i, "score": i * 7 % 13})


# ---- the app ---------------------------------------------------------------

@contextlib.asynccontextmanager
async def size_pools(app):
    """Sizes the two thread pools.  It runs before the probe starts (see
    the bottom of this file), so the probe attaches to the pools the app
    really uses."""
    limiter = anyio.to_thread.current_default_thread_limiter()
    limiter.total_tokens = ANYIO_TOKENS
    loop = asyncio.get_running_loop()
    executor = ThreadPoolExecutor(max_workers=EXECUTOR_WORKERS,
                                  thread_name_prefix="lab-executor")
    loop.set_default_executor(executor)
    yield


@contextlib.asynccontextmanager
async def lifespan(app):
    upstream = start_upstream()
    # /var/tmp is on disk where /tmp may be tmpfs, on which fsync is free
    fd, audit_path = tempfile.mkstemp(
        prefix="lab-audit-", suffix=".log",
        dir="/var/tmp" if os.path.isdir("/var/tmp") else None)
    os.close(fd)
    app.state.upstream_port = upstream.server_address[1]
    app.state.audit_path = audit_path
    app.state.mixed_count = 0
    try:
        yield
    finally:
        upstream.shutdown()
        upstream.server_close()
        with contextlib.suppress(OSError):
            os.unlink(audit_path)


app = FastAPI(title="async-auditor lab", lifespan=lifespan)


@app.get("/")
async def index():
    return {"routes": sorted(r.path for r in app.routes
                             if getattr(r, "path", "/") != "/")}


@app.get("/healthy")
async def healthy():
    await asyncio.sleep(0.002)
    return {"ok": True}


@app.get("/blocking/sleep")
async def blocking_sleep():
    time.sleep(SLEEP_SECONDS)  # time.sleep in an async route
    return {"slept": SLEEP_SECONDS}


@app.get("/blocking/sdk")
async def blocking_sdk():
    return sdk_fetch_quote(app.state.upstream_port)


@app.get("/blocking/cpu")
async def blocking_cpu():
    return {"score": score_portfolio(CPU_ITERATIONS)}


@app.get("/blocking/file")
async def blocking_file():
    return {"written": write_audit_trail(app.state.audit_path,
                                         AUDIT_RECORDS)}


@app.get("/pool/sync")
def pool_sync():
    return render_report_sync()


@app.get("/pool/executor")
async def pool_executor():
    loop = asyncio.get_running_loop()
    return {"done": await loop.run_in_executor(None, resize_image_job)}


@app.get("/fanout")
async def fanout():
    results = await asyncio.gather(*(enrich_item(i)
                                     for i in range(FANOUT_TASKS)))
    return {"items": len(results)}


@app.get("/mixed")
async def mixed():
    app.state.mixed_count += 1
    if app.state.mixed_count % MIXED_EVERY == 0:
        return load_fx_rates_sync()
    await asyncio.sleep(0.002)
    return {"ok": True}


if PROBE:
    from async_auditor.fastapi import instrument

    instrument(app, serve=METRICS_ADDR)


def _run_first(outer, inner):
    """A lifespan that enters outer, then inner."""
    @contextlib.asynccontextmanager
    async def both(app):
        async with outer(app):
            async with inner(app) as state:
                yield state
    return both


# The pools are sized before everything else, the probe included.
app.router.lifespan_context = _run_first(size_pools,
                                         app.router.lifespan_context)
