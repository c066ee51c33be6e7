"""The comparison point for muara's event aggregator: a publish service in the style of the
ones it replaces (FastAPI + asyncpg, one process, counters in memory), written for this
benchmark only. Same contract: POST /publish (one event, an array, or {"events": [...]}),
GET /stats. Events go straight into PostgreSQL with INSERT ... ON CONFLICT DO NOTHING; there is
no queue between ingestion and storage, so an answer waits for the database.
"""

import os
import time
from datetime import datetime

import json
from contextlib import asynccontextmanager

import asyncpg
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

DSN = os.environ["BASELINE_DATABASE_URL"]
state = {"pool": None, "started": time.time()}
counters = {"received": 0, "unique_processed": 0, "duplicate_dropped": 0, "conflicts": 0, "rejected": 0}


@asynccontextmanager
async def lifespan(_app):
    state["pool"] = await asyncpg.create_pool(DSN, min_size=4, max_size=16)
    async with state["pool"].acquire() as c:
        await c.execute(
            """CREATE SCHEMA IF NOT EXISTS bench_baseline;
               CREATE TABLE IF NOT EXISTS bench_baseline.event (
                   topic text NOT NULL, event_id text NOT NULL, ts timestamptz NOT NULL,
                   source text NOT NULL, payload jsonb NOT NULL, PRIMARY KEY (topic, event_id))"""
        )
    yield
    await state["pool"].close()


app = FastAPI(lifespan=lifespan)


def valid(e):
    if not isinstance(e, dict):
        return None
    try:
        ts = datetime.fromisoformat(e["timestamp"].replace("Z", "+00:00"))
        if ts.tzinfo is None or not e["topic"] or not e["event_id"] or not isinstance(e["payload"], dict):
            return None
        return (e["topic"], e["event_id"], ts, e.get("source", ""), e["payload"])
    except (KeyError, AttributeError, ValueError, TypeError):
        return None


@app.post("/publish")
async def publish(request: Request):
    body = await request.json()
    single = isinstance(body, dict) and "events" not in body
    items = [body] if single else (body["events"] if isinstance(body, dict) else body)
    rows = [valid(e) for e in items]
    good = [r for r in rows if r is not None]
    async with state["pool"].acquire() as c:
        stored = await c.fetch(
            """INSERT INTO bench_baseline.event (topic, event_id, ts, source, payload)
               SELECT * FROM unnest($1::text[], $2::text[], $3::timestamptz[], $4::text[], $5::jsonb[])
               ON CONFLICT DO NOTHING RETURNING topic, event_id""",
            [r[0] for r in good], [r[1] for r in good], [r[2] for r in good],
            [r[3] for r in good], [json.dumps(r[4]) for r in good],
        )
    new = {(r["topic"], r["event_id"]) for r in stored}
    results, seen = [], set()
    for i, r in enumerate(rows):
        if r is None:
            results.append({"index": i, "status": "rejected"})
            continue
        key = (r[0], r[1])
        status = "success" if key in new and key not in seen else "ignored"
        seen.add(key)
        results.append({"index": i, "status": status, "topic": r[0], "event_id": r[1]})
    accepted = sum(1 for r in results if r["status"] == "success")
    rejected = sum(1 for r in results if r["status"] == "rejected")
    counters["received"] += len(items)
    counters["unique_processed"] += accepted
    counters["rejected"] += rejected
    counters["duplicate_dropped"] += len(items) - accepted - rejected
    if single:
        r = results[0]
        return JSONResponse(r, status_code=422 if r["status"] == "rejected" else 200)
    return {"status": "ok", "accepted": accepted, "duplicates": len(items) - accepted - rejected,
            "conflicts": 0, "rejected": [], "results": results}


@app.get("/stats")
async def stats():
    async with state["pool"].acquire() as c:
        topics = await c.fetchval("SELECT count(DISTINCT topic) FROM bench_baseline.event")
    return {**counters, "topics_active": topics, "pending": 0,
            "uptime_seconds": int(time.time() - state["started"])}
