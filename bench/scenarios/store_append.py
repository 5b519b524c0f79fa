"""P9: store appends/s, batched per aggregate and one event per transaction, vs `eventsourcing`.

Same database, same client concurrency (WRITERS writers, each appending to its own stream /
aggregate, one database connection each), same events (a stock receipt with the same `data`
and delta), same duration. Ours: `EventStore.append` (one statement: events, outbox rows,
hash chain, NOTIFY) from asyncio tasks in this process. Theirs: `Application.save` of a
`Stock` aggregate (bench/esmodel.py) from threads of this process (the library is synchronous).
"""

from __future__ import annotations

import asyncio
import threading
import time
from datetime import UTC, datetime
from typing import Any
from uuid import uuid4

from bench.esmodel import Stock, fresh_app
from bench.results import Result
from bench.runner import Context, scenario
from bench.storebench import fresh_database, load_average
from stockledger.domain.stock.state import Levels
from stockledger.store.db import create_pool
from stockledger.store.event_store import EventStore
from stockledger.store.rows import NewEvent, StreamWrite

GOAL_RATIO = 3.0
WRITERS = 4
MODES = (("batched, 100 events per append", 100), ("one event per transaction", 1))


def receipt(n: int, sku: str) -> dict[str, Any]:
    return {
        "sku": sku,
        "warehouseId": "WH-0",
        "quantity": 12,
        "purchaseOrderId": f"PO-{n // 100:06d}",
        "unitCost": "4.20",
        "supplier": "Acme",
        "receiptId": f"RCT-{sku}-{n:08d}",
    }


def new_event(data: dict[str, Any]) -> NewEvent:
    po = data["purchaseOrderId"]
    return NewEvent(
        event_id=uuid4(),
        type="StockReceived",
        schema_version=1,
        data=data,
        metadata={"causedBy": "bench-warehouse", "correlationId": po},
        recorded_at=datetime.now(UTC),
        correlation_id=po,
        order_id=None,
        delta=Levels(on_hand=12),
    )


async def ours(url: str, per_append: int, seconds: float) -> int:
    pool = await create_pool(url, WRITERS)
    store = EventStore(pool)
    deadline = time.monotonic() + seconds
    counts = [0] * WRITERS

    async def writer(w: int) -> None:
        sku = f"AP-{uuid4().hex[:8]}"
        stream, version, n = f"stock:{sku}:WH-0", 0, 0
        while time.monotonic() < deadline:
            events = tuple(new_event(receipt(n + k, sku)) for k in range(per_append))
            await store.append([StreamWrite(stream, version, events)])
            version += per_append
            n += per_append
        counts[w] = n

    try:
        await asyncio.gather(*(writer(w) for w in range(WRITERS)))
    finally:
        await pool.close()
    return sum(counts)


def theirs(app: Any, per_append: int, seconds: float) -> int:
    deadline = time.monotonic() + seconds
    counts = [0] * WRITERS

    def writer(w: int) -> None:
        sku = f"ES-{uuid4().hex[:8]}"
        first = receipt(0, sku)
        stock = Stock(sku, "WH-0", "StockReceived", first, [12, 0, 0, 0])
        app.save(stock)
        n = 1
        while time.monotonic() < deadline:
            for k in range(per_append):
                stock.record("StockReceived", receipt(n + k, sku), [12, 0, 0, 0])
            app.save(stock)
            n += per_append
        counts[w] = n - 1

    threads = [threading.Thread(target=writer, args=(w,)) for w in range(WRITERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return sum(counts)


def _rate(count: int, seconds: float) -> str:
    return f"{count / seconds:,.0f} events/s"


@scenario("P9", "store appends/s (batched and one per transaction) vs eventsourcing")
async def run(context: Context) -> list[Result]:
    seconds, rounds = (2.0, 1) if context.quick else (5.0, 3)
    url = await fresh_database("stockledger_bench_append")
    app = await fresh_app(url, "eventsourcing_p9", pool_size=WRITERS, snapshots=False)
    results = []
    try:
        for label, per_append in MODES:
            load = load_average()
            mine = other = 0
            mine_s = other_s = 0.0
            for _ in range(rounds):  # alternating rounds: both see the same machine
                started = time.perf_counter()
                mine += await ours(url, per_append, seconds)
                mine_s += time.perf_counter() - started
                started = time.perf_counter()
                other += await asyncio.to_thread(theirs, app, per_append, seconds)
                other_s += time.perf_counter() - started
            ratio = (mine / mine_s) / (other / other_s)
            context.console.print(
                f"{label}: ours {_rate(mine, mine_s)}, theirs {_rate(other, other_s)}"
            )
            results.append(
                Result(
                    scenario=f"P9 EventStore.append, {label}, {WRITERS} concurrent writers",
                    figure=f"{_rate(mine, mine_s)} ({mine:,} in {mine_s:.1f} s, {rounds} rounds "
                    f"alternating with the ceiling; {load})",
                    ceiling=f"eventsourcing 9.5.6 Application.save, {WRITERS} threads: "
                    f"{_rate(other, other_s)}",
                    ratio=ratio,
                    goal=f">= {GOAL_RATIO:.0f}x eventsourcing",
                    met=ratio >= GOAL_RATIO,
                )
            )
    finally:
        await asyncio.to_thread(app.close)
    return results
