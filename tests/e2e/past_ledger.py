"""Ledgers written in the past: commands recorded by the write path's own loop (BulkLedger) on a
clock the test sets, then appended to the store, so reports can be checked day by day."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

import asyncpg

from stockledger.audit.event_export import horizon
from stockledger.domain import commands as c
from stockledger.domain.stock.events import Line
from stockledger.store.event_store import EventStore
from stockledger.store.rows import StreamWrite
from stockledger.write.bulk import BulkLedger

from ..support import eventually


class PastLedger:
    def __init__(self, start: datetime) -> None:
        self.ledger = BulkLedger(snapshot_every=4, now=start)  # snapshots inside the tests' streams
        self.refused = 0

    def at(self, moment: datetime) -> PastLedger:
        self.ledger.now = moment
        return self

    def run(self, command: c.Command) -> bool:
        """Record `command` now; False when the domain refuses it (as a 409 would)."""
        recorded = self.ledger.execute(command, "past-ledger") is not None
        self.refused += not recorded
        return recorded

    def receive(self, sku: str, wh: str, quantity: int) -> bool:
        return self.run(c.ReceiveStock(sku, wh, quantity, "PO-PAST", Decimal("2.50"), "Acme"))

    def ship(self, shipment: str, *lines: tuple[str, str, int]) -> bool:
        return self.run(
            c.ShipStock(shipment, f"O-{shipment}", lines=tuple(Line(*x) for x in lines))
        )

    async def write(self, pool: asyncpg.Pool[Any]) -> list[StreamWrite]:
        """Append what was recorded (no reservation deadlines: nothing expires them later),
        wait until reports see it, and return it."""
        chunk = self.ledger.take()
        if chunk.writes:
            appended = await EventStore(pool).append(chunk.writes)
            await settled(pool, max(e.position for e in appended))
        if chunk.snapshots:
            await pool.executemany(
                "INSERT INTO snapshots (stream_id, version, recorded_at, state) "
                "VALUES ($1, $2, $3, $4::text::jsonb)",  # the JSON text, not a JSON string of it
                chunk.snapshots,
            )
        return chunk.writes


async def settled(pool: asyncpg.Pool[Any], position: int) -> None:
    """Wait until the commit horizon has passed `position`: a transaction still open anywhere
    on the server (other tests, other runs) holds back what a report may include."""

    async def passed() -> bool:
        return await horizon(pool) >= position

    await eventually(passed, what=f"the commit horizon past {position}")
