"""The ceiling of P7 and P9: the Python `eventsourcing` library (9.5.6) on PostgreSQL.

`Stock` is the same stream as ours: every event carries the same `data` and delta, and the
aggregate holds what our `StockState` holds (levels and the processed receipt/return/shipment
ids). Its application uses the library's own PostgreSQL persistence (psycopg 3, connection
pool, `LOCK TABLE ... IN EXCLUSIVE MODE` per insert for gap-free notification ids), in its own
schema of the same database, with its default JSON transcoder and no aggregate cache.
Install: `pip install -e '.[bench]'`.
"""

from __future__ import annotations

import asyncio
from typing import Any, ClassVar
from urllib.parse import urlsplit

import asyncpg
from eventsourcing.application import Application
from eventsourcing.domain import Aggregate, event


def processed_key(type_name: str, data: dict[str, Any]) -> str | None:
    """The id `StockState.processed` keeps for this event (see domain/stock/state.py)."""
    if type_name == "StockReceived" and data.get("receiptId"):
        return f"receipt:{data['receiptId']}"
    if type_name == "StockReturned":
        return f"return:{data['returnId']}"
    if type_name == "StockShipped" and data.get("reservationId") is None:
        return f"shipment:{data['shipmentId']}"
    return None


class Stock(Aggregate):
    @event("Opened")
    def __init__(
        self, sku: str, warehouse_id: str, type_name: str, data: dict[str, Any], delta: list[int]
    ) -> None:
        self.sku = sku
        self.warehouse_id = warehouse_id
        self.levels = list(delta)
        key = processed_key(type_name, data)
        self.processed: list[str] = [key] if key else []

    @event("Recorded")
    def record(self, type_name: str, data: dict[str, Any], delta: list[int]) -> None:
        self.levels = [a + b for a, b in zip(self.levels, delta, strict=True)]
        if key := processed_key(type_name, data):
            self.processed.append(key)


class StockApp(Application[Any]):
    """Snapshots every 100 versions, like the ledger."""

    snapshotting_intervals: ClassVar[dict[type[Aggregate], int]] = {Stock: 100}  # type: ignore[assignment]


class PlainStockApp(Application[Any]):
    """No snapshots: appends only (P9; `EventStore.append` takes none either)."""


def environment(url: str, schema: str, pool_size: int) -> dict[str, str]:
    """The library's settings for the database at `url` (a postgresql:// URL)."""
    parts = urlsplit(url)
    return {
        "PERSISTENCE_MODULE": "eventsourcing.postgres",
        "POSTGRES_DBNAME": parts.path.lstrip("/"),
        "POSTGRES_HOST": parts.hostname or "127.0.0.1",
        "POSTGRES_PORT": str(parts.port or 5432),
        "POSTGRES_USER": parts.username or "postgres",
        "POSTGRES_PASSWORD": parts.password or "",
        "POSTGRES_SCHEMA": schema,
        "POSTGRES_POOL_SIZE": str(pool_size),
        "POSTGRES_MAX_OVERFLOW": "0",
        "POSTGRES_IDLE_IN_TRANSACTION_SESSION_TIMEOUT": "60",
    }


async def fresh_app(
    url: str, schema: str, pool_size: int = 2, *, snapshots: bool = True
) -> Application[Any]:
    """A `StockApp` whose tables live in a new, empty `schema` of the database at `url`."""
    conn = await asyncpg.connect(url)
    try:
        await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        await conn.execute(f'CREATE SCHEMA "{schema}"')
    finally:
        await conn.close()
    kind = StockApp if snapshots else PlainStockApp
    return await asyncio.to_thread(kind, env=environment(url, schema, pool_size))
