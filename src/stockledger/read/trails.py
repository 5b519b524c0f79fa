"""Audit trails and the global feed: events across streams in position order, keyset-paged
by position (the store's reads are gap-safe: a page never skips an event that commits late)."""

from __future__ import annotations

from ..store.rows import RecordedEvent
from .sources import ReadSources


async def correlation_trail(
    sources: ReadSources, correlation_id: str, after: int, limit: int
) -> list[RecordedEvent]:
    """Every event with this correlation id, across streams."""
    return await sources.store.read_correlation(correlation_id, after, limit)


async def order_trail(
    sources: ReadSources, order_id: str, after: int, limit: int
) -> list[RecordedEvent]:
    """Every event about this order: its reservations, shipments and returns."""
    return await sources.store.read_order(order_id, after, limit)


async def feed(sources: ReadSources, after: int, limit: int) -> list[RecordedEvent]:
    """The global feed: every event."""
    return await sources.store.read_all(after, limit)
