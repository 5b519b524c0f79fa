"""One stock stream through time: its levels at a past instant or version (time travel), and
its events in version order with the balance right after each."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

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
) -> StockLevel | None:
    """The levels right after `version`, or as they were at `until`; None when the stream had
    no events by then (or never reached `version`)."""
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
) -> list[HistoryEntry] | None:
    """Up to `limit` events after `after_version` (of `types`, recorded in [since, until]),
    each with its balance; None when the stream never had an event."""
    if await sources.stock.level(sku, warehouse_id) is None:
        return None
    return await sources.stock.history(
        sku,
        warehouse_id,
        after_version=after_version,
        types=types,
        since=since,
        until=until,
        limit=limit,
    )
