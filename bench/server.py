"""The app the HTTP benchmarks run: the production `create_app(settings)` plus three bench-only
routes, never part of the production app. Each goes through the same middleware, the same auth
dependency and the same body validation, served the same way (FastRoute), as the route it is a
ceiling or baseline for.

- POST /bench/insert: exactly one INSERT of one event row per request (autocommit): the P1
  ceiling, what "one database write per request" costs on this stack.
- GET /bench/constant/{sku}/{warehouse_id}: a constant stock-shaped body: the P3 ceiling.
- POST /bench/naive-reserve: the honest naive write path, P2's baseline: every request loads
  its streams from the event store (the same StateLoader: snapshot + tail), decides with the
  domain, appends with the expected versions (the same EventStore.append, outbox and hash chain
  included), snapshots like the ledger does, and on a ConcurrencyConflict reloads and retries
  up to 3 times with the ledger's jittered backoff. No in-process serialization, no cache.

Run: `uvicorn --factory bench.server:create_bench_app` with STOCKLEDGER_* in the environment.
"""

from __future__ import annotations

import asyncio
import random
from datetime import timedelta
from typing import Annotated, Any
from uuid import uuid4

import orjson
from fastapi import APIRouter, FastAPI, Query, Request
from fastapi.responses import Response

from stockledger.api.app import create_app, serve_routes, tune_gc_for_serving
from stockledger.api.auth import ORDERS, READ_STOCK, Principal, require
from stockledger.api.deps import CommandHeadersDep, ServicesDep
from stockledger.api.fastroute import FastRoute
from stockledger.api.present import reservation_command_out
from stockledger.api.schemas import commands as s
from stockledger.api.schemas.wire import Id
from stockledger.config import Settings
from stockledger.domain import commands as c
from stockledger.domain.stock.events import Line
from stockledger.store.hashchain import GENESIS, canonical, chain
from stockledger.store.rows import ConcurrencyConflict, NewEvent, StreamWrite
from stockledger.write.ledger import Outcome, VersionConflictExhausted, utcnow
from stockledger.write.record import Caller, deadlines, record

router = APIRouter(prefix="/bench", tags=["bench"], include_in_schema=False, route_class=FastRoute)
Orders = Annotated[Principal, require(ORDERS)]
NAIVE_RETRIES = 3

_INSERT = """
INSERT INTO events (position, event_id, stream_id, version, type, schema_version, data,
                    metadata, recorded_at, correlation_id, order_id, d_reserved, hash)
VALUES ((pg_current_xact_id()::text::bigint << 16) + 1, $1, $2, 1, 'StockReserved', 1, $3, $4,
        $5, $6, $6, $7, $8)
RETURNING position
"""


def _json(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(
        orjson.dumps(body), status_code=status, media_type="application/json", headers=headers
    )


@router.post("/insert", status_code=201)
async def insert(
    body: s.ReservationIn,
    request: Request,
    services: ServicesDep,
    who: Orders,
    headers: CommandHeadersDep,
) -> Response:
    """One INSERT of one StockReserved-shaped event row (its own stream, version 1)."""
    event_id, now = uuid4(), utcnow()
    stream_id = f"bench-insert:{event_id}"
    data = {
        "reservationId": str(event_id),
        "orderId": body.order_id,
        "expiresAt": (now + timedelta(seconds=services.reservation_ttl_seconds)).isoformat(),
        "lines": [
            {"sku": x.sku, "warehouseId": x.warehouse_id, "quantity": x.quantity}
            for x in body.lines
        ],
    }
    metadata = {"causedBy": who.name, "correlationId": body.order_id}
    if headers.request_id:
        metadata["requestId"] = headers.request_id
    link = chain(
        GENESIS,
        canonical(
            event_id=event_id,
            type="StockReserved",
            stream_id=stream_id,
            version=1,
            recorded_at=now,
            schema_version=1,
            data=data,
            metadata=metadata,
        ),
    )
    reserved = sum(x.quantity for x in body.lines)
    pool = services.pool
    position = await pool.fetchval(
        _INSERT, event_id, stream_id, data, metadata, now, body.order_id, reserved, link
    )
    return _json({"eventId": str(event_id), "position": position}, 201)


@router.get("/constant/{sku}/{warehouse_id}")
async def constant(
    sku: Id,
    warehouse_id: Id,
    services: ServicesDep,
    _: Annotated[Principal, require(READ_STOCK)],
    consistency: Annotated[str, Query(pattern="^(eventual|strong)$")] = "eventual",
) -> Response:
    """The stock route's shape and headers, with constant levels and no I/O."""
    body = {
        "sku": sku,
        "warehouseId": warehouse_id,
        "onHand": 100,
        "reserved": 10,
        "available": 90,
        "inTransit": 0,
        "damaged": 0,
        "version": 7,
        "updatedAt": "2026-01-01T00:00:00+00:00",
    }
    headers = {
        "X-Stock-Source": "constant",
        "X-Projected-At": "2026-01-01T00:00:00+00:00",
        "ETag": '"7"',
        "X-Projection-Version": "7",
    }
    return _json(body, 200, headers)


@router.post("/naive-reserve", status_code=201)
async def naive_reserve(
    body: s.ReservationIn,
    services: ServicesDep,
    who: Orders,
    headers: CommandHeadersDep,
) -> Response:
    """Reserve the naive way: load, record, append with expected versions, retry on conflict."""
    ttl = body.ttl_seconds or services.reservation_ttl_seconds
    lines = tuple(Line(x.sku, x.warehouse_id, x.quantity) for x in body.lines)
    command = c.ReserveStock(str(uuid4()), body.order_id, lines, utcnow() + timedelta(seconds=ttl))
    caller = Caller(who.name, request_id=headers.request_id)
    for attempt in range(NAIVE_RETRIES + 1):
        states = await services.loader.load(c.primary_streams(command))  # every time
        recording = record(command, states, utcnow(), caller, uuid4)  # DomainError -> 409 etc.
        pending: dict[str, list[NewEvent]] = {}
        for stream_id, event in recording.events:
            pending.setdefault(stream_id, []).append(event)
        writes = [StreamWrite(sid, states[sid].version, tuple(e)) for sid, e in pending.items()]
        try:
            recorded = await services.store.append(writes, deadlines(recording.states))
        except ConcurrencyConflict as conflict:
            if attempt == NAIVE_RETRIES:
                raise VersionConflictExhausted(conflict) from conflict
            await asyncio.sleep(random.uniform(0, 0.002 * 2 ** (attempt + 1)))
            continue
        every = services.ledger.snapshot_every  # snapshot like the ledger, so tails stay short
        for write in writes:
            before, after = states[write.stream_id], recording.states[write.stream_id]
            if before.version // every != after.version // every:
                await services.loader.save_snapshot(write.stream_id, after)
        outcome = Outcome(recorded, recording.stock, recording.reservation)
        correlation = {"X-Correlation-Id": recording.correlation_id}
        return _json(reservation_command_out(outcome), 201, correlation)
    raise AssertionError("unreachable")


def create_bench_app() -> FastAPI:
    """`create_app(Settings())` (STOCKLEDGER_* from the environment) plus the bench routes,
    with the garbage collector tuned as `stockledger serve` tunes it."""
    app = create_app(Settings())
    serve_routes(app, router)
    tune_gc_for_serving()
    return app
