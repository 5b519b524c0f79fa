"""Audit trails and the global feed: events across streams in position order, keyset-paged
by position (the store's reads are gap-safe: a page never skips an event that commits late).
`through`: the page ends at that position (a standby's commit horizon), never beyond it."""

from __future__ import annotations

from itertools import takewhile

from ..store.rows import RecordedEvent
from .sources import ReadSources


def _upto(events: list[RecordedEvent], through: int | None) -> list[RecordedEvent]:
    if through is None:
        return events
    return list(takewhile(lambda event: event.position <= through, events))


async def correlation_trail(
    sources: ReadSources, correlation_id: str, after: int, limit: int, through: int | None = None
) -> list[RecordedEvent]:
    """Every event with this correlation id, across streams."""
    return _upto(await sources.store.read_correlation(correlation_id, after, limit), through)


async def order_trail(
    sources: ReadSources, order_id: str, after: int, limit: int, through: int | None = None
) -> list[RecordedEvent]:
    """Every event about this order: its reservations, shipments and returns."""
    return _upto(await sources.store.read_order(order_id, after, limit), through)


async def feed(
    sources: ReadSources, after: int, limit: int, through: int | None = None
) -> list[RecordedEvent]:
    """The global feed: every event."""
    return _upto(await sources.store.read_all(after, limit), through)
