"""Sales reports straight from the orders database (SQLite), queried
with the standard library's sqlite3 module from async routes.  The
top-customers report scans the whole orders table: there is no index on
region.
"""

import os
import random
import sqlite3
import tempfile

from fastapi import FastAPI

from async_auditor.fastapi import instrument

EXPECT = {
    "title": "sqlite3 full-table aggregate in an async route",
    "framework": "fastapi",
    "kind": "blocking",
    "finding": ["event_loop_blocked_time"],
    "needs": [],
    "paths": "/reports/eu/top-customers=1,/orders/1001=9",
}

DB_PATH = os.path.join(os.environ.get("DATA_DIR", tempfile.gettempdir()),
                       "sales.sqlite3")


def create_demo_database(path):
    """The demo data: 300 000 orders of 20 000 customers."""
    tmp = path + ".tmp"
    if os.path.exists(tmp):
        os.unlink(tmp)
    rnd = random.Random(7)
    with sqlite3.connect(tmp) as db:
        db.execute("CREATE TABLE orders (id INTEGER PRIMARY KEY, "
                   "customer_id INTEGER, region TEXT, amount REAL, "
                   "created_at TEXT)")
        db.executemany(
            "INSERT INTO orders (customer_id, region, amount, created_at) "
            "VALUES (?, ?, ?, ?)",
            ((rnd.randrange(20000), rnd.choice(["eu", "us", "apac"]),
              round(rnd.random() * 200, 2),
              "2026-%02d-%02d" % (rnd.randrange(1, 13), rnd.randrange(1, 29)))
             for _ in range(300_000)))
    db.close()
    os.replace(tmp, path)


if not os.path.exists(DB_PATH):
    create_demo_database(DB_PATH)

db = sqlite3.connect(DB_PATH, check_same_thread=False)
db.row_factory = sqlite3.Row

TOP_CUSTOMERS = ("SELECT customer_id, SUM(amount) AS total, COUNT(*) AS n "
                 "FROM orders WHERE region = ? GROUP BY customer_id "
                 "ORDER BY total DESC LIMIT ?")

app = FastAPI(title="sales-reports")
instrument(app, serve=os.environ.get("METRICS_ADDR", "127.0.0.1:9464"))


@app.get("/orders/{order_id}")
async def get_order(order_id: int):
    row = db.execute("SELECT * FROM orders WHERE id = ?",
                     (order_id,)).fetchone()
    return dict(row) if row else {}


@app.get("/reports/{region}/top-customers")
async def top_customers(region: str, limit: int = 20):
    rows = db.execute(TOP_CUSTOMERS, (region, limit)).fetchall()  # culprit
    return [dict(r) for r in rows]


@app.get("/health")
async def health():
    return {"status": "ok"}
