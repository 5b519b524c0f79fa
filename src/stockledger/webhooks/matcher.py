"""The matcher: the event log -> webhook deliveries. Never the request path.

It tails the gap-free global feed (`EventStore.read_all`: only positions below the commit
horizon, so an event that commits late is never passed) from its cursor, and each pass is one
transaction: lock the cursor row, read the active webhooks and the next events, insert a
delivery per (webhook, matching event), add the queue rows of their (webhook, stream) pairs, and
move the cursor past the events. A crash loses the whole pass or nothing, so every event is
matched exactly once (UNIQUE (webhook_id, position) would refuse a second delivery anyway).

Registering or enabling a webhook waits for the cursor row (subscriptions.py): a webhook takes
part from the cursor on. With no active webhook, a pass only moves the cursor to the horizon.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from uuid import UUID, uuid4

import asyncpg

from ..store.event_store import EventStore
from ..store.rows import RecordedEvent

SKU_STREAMS = frozenset({"stock", "item", "reorder"})  # streams named after their SKU

_HORIZON = "SELECT (pg_snapshot_xmin(pg_current_snapshot())::text::bigint << 16) - 1"
_ACTIVE = "SELECT webhook_id, event_types, sku_prefix FROM webhooks WHERE active"
_INSERT = """
INSERT INTO webhook_deliveries
    (delivery_id, webhook_id, position, event_id, stream_id, version, status, matched_at)
SELECT *, 'pending', $7 FROM unnest($1::uuid[], $2::uuid[], $3::bigint[], $4::uuid[],
                                    $5::text[], $6::int[])
ON CONFLICT (webhook_id, position) DO NOTHING
"""
# A queue row that was idle is due now; one waiting for a backoff keeps waiting (the new
# deliveries go after the failing one). `touched` tells the sender the row changed (queue.py).
_QUEUE = """
INSERT INTO webhook_queues (webhook_id, stream_id, next_attempt_at)
SELECT DISTINCT w, s, $3::timestamptz FROM unnest($1::uuid[], $2::text[]) AS u(w, s) ORDER BY 1, 2
ON CONFLICT (webhook_id, stream_id) DO UPDATE SET
    touched = webhook_queues.touched + 1,
    next_attempt_at = CASE WHEN webhook_queues.next_attempt_at = 'infinity'
                           THEN EXCLUDED.next_attempt_at ELSE webhook_queues.next_attempt_at END
"""


def skus(event: RecordedEvent) -> set[str]:
    """The SKUs an event is about: its stream's, and those its data names (`sku`, `lines`)."""
    kind, _, rest = event.stream_id.partition(":")
    found = {rest.split(":", 1)[0]} if kind in SKU_STREAMS else set()
    if isinstance(sku := event.data.get("sku"), str):
        found.add(sku)
    for line in event.data.get("lines") or ():
        if isinstance(line, dict) and isinstance(sku := line.get("sku"), str):
            found.add(sku)
    return found


@dataclass(frozen=True, slots=True)
class Filter:
    """What a webhook subscribed to: event types (None: all) and an SKU prefix (None: any)."""

    webhook_id: UUID
    event_types: frozenset[str] | None
    sku_prefix: str | None

    @staticmethod
    def of(row: asyncpg.Record) -> Filter:
        types = row["event_types"]
        return Filter(
            row["webhook_id"], frozenset(types) if types is not None else None, row["sku_prefix"]
        )

    def matches(self, event: RecordedEvent) -> bool:
        if self.event_types is not None and event.type not in self.event_types:
            return False
        prefix = self.sku_prefix
        return prefix is None or any(s.startswith(prefix) for s in skus(event))


@dataclass(frozen=True, slots=True)
class Pass:
    matched: dict[UUID, int] = field(default_factory=dict)  # webhook -> deliveries added
    full: bool = False  # the batch was full: more events may be waiting
    webhooks: int = 0  # active webhooks


class Matcher:
    def __init__(self, store: EventStore, *, batch: int = 1000) -> None:
        self.store = store
        self.batch = batch

    async def step(self, now: datetime) -> Pass:
        """One pass over the next events after the cursor (see the module docstring)."""
        async with self.store.pool.acquire() as conn, conn.transaction():
            cursor = await conn.fetchval("SELECT position FROM webhook_cursor FOR UPDATE")
            filters = [Filter.of(r) for r in await conn.fetch(_ACTIVE)]
            if not filters:
                horizon: int = await conn.fetchval(_HORIZON)
                if horizon > cursor:
                    await _move(conn, horizon)
                return Pass()
            events = await self.store.read_all(cursor, self.batch, conn=conn)
            if not events:
                return Pass(webhooks=len(filters))
            rows = [(f.webhook_id, e) for e in events for f in filters if f.matches(e)]
            if rows:
                await conn.execute(
                    _INSERT,
                    [uuid4() for _ in rows],
                    [w for w, _ in rows],
                    [e.position for _, e in rows],
                    [e.event_id for _, e in rows],
                    [e.stream_id for _, e in rows],
                    [e.version for _, e in rows],
                    now,
                )
                await conn.execute(
                    _QUEUE, [w for w, _ in rows], [e.stream_id for _, e in rows], now
                )
            await _move(conn, events[-1].position)
        matched: dict[UUID, int] = {}
        for webhook_id, _ in rows:
            matched[webhook_id] = matched.get(webhook_id, 0) + 1
        return Pass(matched, len(events) == self.batch, len(filters))


async def _move(conn: Any, position: int) -> None:
    await conn.execute("UPDATE webhook_cursor SET position = $1", position)
