"""PO1: place a 500-line purchase order over HTTP; ATP1: available to promise over HTTP.

PO1. A fresh server; each of 20 PUT /v1/purchase-orders/{id} names the same 500 stock streams
(167 SKUs x 3 warehouses, less one), so every one is a single transaction appending 501 events
(`PurchaseOrderPlaced` and 500 `StockExpected`, each stream at its expected version) and
writing 500 order-line rows. Sequential, one client, each order sent once the previous one's
events are projected (the relay and projector share the server's core): latency per order
(p50, max). Ceiling in
the same run: the store alone appending 501 events of the same size to 501 fresh streams
(`EventStore.append` from the bench driver: no HTTP, no decision, no order-line rows).

ATP1. One SKU in 3 warehouses with stock, and 200 purchase orders of 3 lines (one per
warehouse: 600 open lines over 90 days); 8 keep-alive clients ask GET /v1/atp/{sku}?quantity=
for 10 s. Ceiling: GET /bench/constant/{sku}/{wh} on the same server and load (the stack with
no I/O).
"""

from __future__ import annotations

import statistics
import time
from datetime import UTC, date, datetime, timedelta
from uuid import uuid4

import asyncpg

from bench.harness import SPLIT, harness, latency, load_note, per_second, statuses
from bench.results import Result
from bench.runner import Context, scenario
from stockledger.domain.stock.state import Levels
from stockledger.store.event_store import EventStore
from stockledger.store.rows import NewEvent, StreamWrite

WAREHOUSES = ("WH-A", "WH-B", "WH-C")
LINES, PO_GOAL_MS, ATP_P99_GOAL_MS = 500, 200.0, 20.0


def _lines(prefix: str, start: date) -> list[dict[str, object]]:
    places = [(f"{prefix}-{n:03d}", wh) for n in range(167) for wh in WAREHOUSES][:LINES]
    return [
        {"sku": s, "warehouseId": w, "quantity": 10, "unitCost": "2.50",
         "expectedOn": (start + timedelta(days=n % 60)).isoformat()}
        for n, (s, w) in enumerate(places)
    ]  # fmt: skip


async def _bare_append(url: str, prefix: str, rounds: int) -> list[float]:
    """501 events to 501 fresh streams, each append in its own transaction."""
    pool = await asyncpg.create_pool(url, min_size=1, max_size=2)
    assert pool is not None
    store = EventStore(pool)
    times: list[float] = []
    try:
        for r in range(rounds):
            now = datetime.now(UTC)
            data = {"purchaseOrderId": f"{prefix}-{r}", "supplier": "Bench", "sku": "S",
                    "warehouseId": "W", "quantity": 10, "expectedOn": "2026-12-14"}  # fmt: skip
            writes = [
                StreamWrite(
                    f"stock:{prefix}-bare-{r}-{n}:WH-A",
                    0,
                    (
                        NewEvent(
                            uuid4(),
                            "StockExpected",
                            1,
                            data,
                            {"causedBy": "bench"},
                            now,
                            str(uuid4()),
                            None,
                            Levels(incoming=10),
                        ),
                    ),
                )
                for n in range(LINES + 1)
            ]
            started = time.perf_counter()
            await store.append(writes)
            times.append(time.perf_counter() - started)
    finally:
        await pool.close()
    return times


@scenario("PO1", "place a 500-line purchase order (one transaction) vs the bare append")
async def place_order(context: Context) -> list[Result]:
    h = await harness()
    rounds = 5 if context.quick else 20
    prefix = h.ids("PO1")
    lines = _lines(prefix, datetime.now(UTC).date())
    times: list[float] = []
    async with h.server("PO1") as server:
        warm = await server.call("PUT", f"/v1/purchase-orders/{prefix}-warm", "warehouse",
                                 {"supplier": "Bench", "lines": lines})  # fmt: skip
        if warm.status_code != 201:
            raise RuntimeError(f"warm-up order failed: {warm.status_code} {warm.text[:500]}")
        places = [(str(x["sku"]), str(x["warehouseId"])) for x in lines]
        for n in range(rounds):
            # the previous order's 501 events projected first: each figure is one command, not
            # the relay and projector working off the one before on the same core
            await server.wait_projected(places, n + 1)
            body = {"supplier": "Bench", "lines": lines}
            started = time.perf_counter()
            reply = await server.call("PUT", f"/v1/purchase-orders/{prefix}-{n}", "warehouse", body)
            times.append(time.perf_counter() - started)
            if reply.status_code != 201:
                raise RuntimeError(f"order {n} failed: {reply.status_code} {reply.text[:500]}")
    bare = await _bare_append(h.database_url, prefix, rounds)
    p50, worst = statistics.median(times) * 1000, max(times) * 1000
    bare_p50 = statistics.median(bare) * 1000
    context.console.print(f"PUT p50 {p50:.1f} ms, max {worst:.1f} ms; bare {bare_p50:.1f} ms")
    return [
        Result(
            scenario=f"PO1 PUT /v1/purchase-orders with {LINES} lines over {LINES} stock streams "
            f"(501 events, one transaction), {rounds} orders one after another ({SPLIT})",
            figure=f"p50 {p50:.1f} ms, max {worst:.1f} ms per order",
            ceiling=f"p50 {bare_p50:.1f} ms: EventStore.append of 501 events to fresh streams",
            ratio=bare_p50 / p50 if p50 else None,
            goal=f"<= {PO_GOAL_MS:g} ms per order (p50)",
            met=p50 <= PO_GOAL_MS,
        )
    ]


@scenario("ATP1", "available to promise over HTTP, 3 warehouses x 200 open lines, vs a constant")
async def promise(context: Context) -> list[Result]:
    h = await harness()
    seconds = 5.0 if context.quick else 10.0
    prefix = h.ids("ATP1")
    sku, today = f"{prefix}-SKU", datetime.now(UTC).date()
    async with h.server("ATP1") as server:
        await server.receive([(sku, wh) for wh in WAREHOUSES], 40)
        for n in range(200):
            on = (today + timedelta(days=n % 90)).isoformat()
            lines = [{"sku": sku, "warehouseId": wh, "quantity": 5, "unitCost": "2.50",
                      "expectedOn": on} for wh in WAREHOUSES]  # fmt: skip
            reply = await server.call("PUT", f"/v1/purchase-orders/{prefix}-{n}", "warehouse",
                                      {"supplier": "Bench", "lines": lines})  # fmt: skip
            if reply.status_code != 201:
                raise RuntimeError(f"setup order failed: {reply.status_code} {reply.text[:300]}")
        await server.wait_projected([(sku, wh) for wh in WAREHOUSES], 201)
        asks = [server.raw("GET", f"/v1/atp/{sku}?quantity={q}", "orders")
                for q in (50, 500, 2000, 5000)]  # fmt: skip
        spec = server.spec(asks, connections=8, duration=seconds, warmup=2.0)
        figure = await server.drive(spec, "ATP1-promise")
        spec.requests = [server.raw("GET", f"/bench/constant/{sku}/WH-A", "orders")]
        ceiling = await server.drive(spec, "ATP1-constant-ceiling")
    rate, top = figure.rate_of(200), ceiling.rate_of(200)
    context.console.print(f"atp: {rate:,.0f}/s {statuses(figure)}; constant: {top:,.0f}/s")
    return [
        Result(
            scenario=f"ATP1 GET /v1/atp/{{sku}} over 3 warehouses x 200 open purchase order "
            f"lines, 8 clients, {seconds:.0f} s ({SPLIT})",
            figure=f"{per_second(rate)}, {latency(figure)}; {statuses(figure)}; "
            f"{load_note(figure)}",
            ceiling=f"{per_second(top)} constant GETs, {latency(ceiling)}",
            ratio=rate / top if top else None,
            goal=f"p99 <= {ATP_P99_GOAL_MS:g} ms",
            met=figure.p99_ms <= ATP_P99_GOAL_MS and figure.count(200) == figure.completed,
        )
    ]
