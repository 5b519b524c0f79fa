"""One stock stream through time: its levels at a past instant or version (time travel), and
its events in version order with the balance right after each."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from itertools import takewhile

from ..domain.stock.state import StockLevel
from .sources import ReadSources
from .stock import HistoryEntry


async def level_at(
    sources: ReadSources,
    sku: str,
    warehouse_id: str,
    *,
    version: int | None = None,
    until: datetime | None = None,
    through: int | None = None,
) -> StockLevel | None:
    """The levels right after `version`, or as they were at `until`; None when the stream had
    no events by then (or never reached `version`). With `through`, only the events at or
    below that position count (a standby's answer never reaches past its commit horizon)."""
    if through is not None:
        reached = await sources.stock.version_through(sku, warehouse_id, through)
        if version is not None and version > reached:
            return None
        version = reached if version is None else version
        if version == 0:
            return None
    found = await sources.stock.level(sku, warehouse_id, version=version, until=until)
    if found is None or (version is not None and found.version < version):
        return None
    return found


async def history(
    sources: ReadSources,
    sku: str,
    warehouse_id: str,
    *,
    after_version: int = 0,
    types: Sequence[str] | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int = 100,
    through: int | None = None,
) -> list[HistoryEntry] | None:
    """Up to `limit` events after `after_version` (of `types`, recorded in [since, until]),
    each with its balance; None when the stream never had an event (at or below the position
    `through`, when given: the page then ends before the first event beyond it)."""
    if await level_at(sources, sku, warehouse_id, through=through) is None:
        return None
    found = await sources.stock.history(
        sku,
        warehouse_id,
        after_version=after_version,
        types=types,
        since=since,
        until=until,
        limit=limit,
    )
    if through is None:
        return found
    return list(takewhile(lambda entry: entry.event.position <= through, found))
