"""Read side over the event store: levels, time travel and history from per-event deltas.

Every stock event stores how it moved its stream (`d_on_hand`, ...), and snapshots hold the
levels every N events, so "the levels at version v / time t" is the nearest snapshot plus one
indexed SUM over the events after it: no decoding, no fold, and the same query for 1 or 45,000
streams.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from ..domain.events import from_data
from ..domain.reorder.alerts import ALERT_EVENTS, Alert, alert_after
from ..domain.stock.state import Levels, StockLevel
from ..domain.streams import like_prefix, parse_stock_stream, stock_stream
from ..store.rows import RecordedEvent, levels_of

_LEVELS = """
SELECT x.stream_id, snap.state -> 'levels' AS base, snap.version AS base_version,
       snap.recorded_at AS base_at, t.on_hand, t.reserved, t.in_transit, t.damaged,
       t.incoming, t.quality_control, t.expired, t.version, t.updated_at
FROM unnest($1::text[]) WITH ORDINALITY AS x(stream_id, n)
-- The target as a version. For a timestamp: the last event at or before it, found in two
-- descents of the (stream_id, recorded_at) index because recordedAt never decreases within a
-- stream. Snapshot and SUM are then bounded by version (index ranges, no filter walking a
-- 100,000-event stream or its 1,000 snapshots); NULL means "now".
CROSS JOIN LATERAL (
    SELECT CASE WHEN $3::timestamptz IS NULL THEN $2::int
                ELSE LEAST($2::int, COALESCE((
                    SELECT max(e.version) FROM events e
                    WHERE e.stream_id = x.stream_id AND e.recorded_at = (
                        SELECT max(m.recorded_at) FROM events m
                        WHERE m.stream_id = x.stream_id AND m.recorded_at <= $3)), 0)) END
           AS upto
) target
LEFT JOIN LATERAL (
    SELECT version, recorded_at, state FROM snapshots
    WHERE stream_id = x.stream_id AND version <= COALESCE(target.upto, 2147483647)
    ORDER BY version DESC LIMIT 1
) snap ON true
CROSS JOIN LATERAL (
    SELECT COALESCE(sum(d_on_hand), 0)::int AS on_hand, COALESCE(sum(d_reserved), 0)::int
             AS reserved,
           COALESCE(sum(d_in_transit), 0)::int AS in_transit,
           COALESCE(sum(d_damaged), 0)::int AS damaged,
           COALESCE(sum(d_incoming), 0)::int AS incoming,
           COALESCE(sum(d_quality_control), 0)::int AS quality_control,
           COALESCE(sum(d_expired), 0)::int AS expired,
           max(version) AS version, max(recorded_at) AS updated_at
    FROM events e
    WHERE e.stream_id = x.stream_id AND e.version > COALESCE(snap.version, 0)
      AND e.version <= COALESCE(target.upto, 2147483647)
) t
ORDER BY x.n
"""

# The next `limit` distinct streams matching a LIKE pattern after a stream id: a loose index
# scan of events(stream_id, version), one index probe per stream, never a scan of the events.
_STREAMS_AFTER = """
WITH RECURSIVE s AS (
    (SELECT stream_id FROM events WHERE stream_id LIKE $1 AND stream_id > $2
     ORDER BY stream_id LIMIT 1)
    UNION ALL
    SELECT (SELECT e.stream_id FROM events e WHERE e.stream_id > s.stream_id
              AND e.stream_id LIKE $1 ORDER BY e.stream_id LIMIT 1)
    FROM s WHERE s.stream_id IS NOT NULL
)
SELECT stream_id FROM s WHERE stream_id IS NOT NULL LIMIT $3
"""

_SKU_STREAMS = """
WITH RECURSIVE s AS (
    (SELECT stream_id FROM events WHERE stream_id LIKE $1 ORDER BY stream_id LIMIT 1)
    UNION ALL
    SELECT (SELECT e.stream_id FROM events e WHERE e.stream_id > s.stream_id
              AND e.stream_id LIKE $1 ORDER BY e.stream_id LIMIT 1)
    FROM s WHERE s.stream_id IS NOT NULL
)
SELECT stream_id FROM s WHERE stream_id IS NOT NULL
"""

_HISTORY = """
SELECT * FROM (
    SELECT position, event_id, stream_id, version, type, schema_version, data, metadata,
           recorded_at, hash,
           sum(d_on_hand) OVER w AS on_hand, sum(d_reserved) OVER w AS reserved,
           sum(d_in_transit) OVER w AS in_transit, sum(d_damaged) OVER w AS damaged,
           sum(d_incoming) OVER w AS incoming, sum(d_quality_control) OVER w AS quality_control,
           sum(d_expired) OVER w AS expired
    FROM events WHERE stream_id = $1 AND version > $2
    WINDOW w AS (ORDER BY version)
) t
WHERE ($3::text[] IS NULL OR type = ANY($3)) AND ($4::timestamptz IS NULL OR recorded_at >= $4)
  AND ($5::timestamptz IS NULL OR recorded_at <= $5)
ORDER BY version LIMIT $6
"""


@dataclass(frozen=True, slots=True)
class HistoryEntry:
    event: RecordedEvent
    balance: Levels


class StockReader:
    def __init__(self, pool: asyncpg.Pool[Any]) -> None:
        self.pool = pool

    async def levels(
        self,
        stream_ids: Sequence[str],
        *,
        version: int | None = None,
        until: datetime | None = None,
    ) -> list[StockLevel]:
        """Levels of each stock stream (now, or at a version / time); streams without events
        (then) are left out."""
        rows = await self.pool.fetch(_LEVELS, list(stream_ids), version, until)
        out = []
        for row in rows:
            base = row["base"] or {}
            sums = levels_of(row)
            stream_version = row["version"] or row["base_version"]
            if not stream_version:
                continue
            sku, warehouse_id = parse_stock_stream(row["stream_id"])
            out.append(
                StockLevel(
                    sku,
                    warehouse_id,
                    Levels(**base) + sums,
                    stream_version,
                    row["updated_at"] or row["base_at"],
                )
            )
        return out

    async def level(
        self,
        sku: str,
        warehouse_id: str,
        *,
        version: int | None = None,
        until: datetime | None = None,
    ) -> StockLevel | None:
        found = await self.levels([stock_stream(sku, warehouse_id)], version=version, until=until)
        return found[0] if found else None

    async def version_through(self, sku: str, warehouse_id: str, through: int) -> int:
        """The stream's last version at or below the position `through` (0: none): one probe
        of its newest event in the common case, a walk back only over events beyond it."""
        found: int = await self.pool.fetchval(
            "SELECT COALESCE(max(version), 0) FROM events WHERE stream_id = $1 AND position <= $2",
            stock_stream(sku, warehouse_id),
            through,
        )
        return found

    async def streams_after(self, pattern: str, after: str, limit: int) -> list[str]:
        """Stream ids matching the LIKE `pattern` (`_` and `%` of ids escaped by the caller)
        after `after`, in order: the keyset pages of the listings."""
        rows = await self.pool.fetch(_STREAMS_AFTER, pattern, after, limit)
        return [r["stream_id"] for r in rows]

    async def stream_ranges(
        self, pattern: str, after: str, span: int, *, most: int, include_after: bool = False
    ) -> AsyncIterator[tuple[str, str]]:
        """Consecutive ranges (low, high] of the stream ids matching `pattern` after `after`,
        `span` streams each, the span doubling up to `most` after every range: for a page that
        reads a few streams at a time and widens while it has found too few rows (it stops
        iterating once it has enough). With `include_after` the first range is [after, high],
        `after` itself included even when no stream follows it (a page resuming inside it)."""
        low, first = after, True
        while True:
            streams = await self.streams_after(pattern, low, span)
            if not streams and not (first and include_after):
                return
            yield low, streams[-1] if streams else low
            if len(streams) < span:
                return
            low, first, span = streams[-1], False, min(span * 2, most)

    async def listing(
        self, sku_prefix: str, warehouse_id: str | None, after: str, limit: int
    ) -> list[StockLevel]:
        """Up to `limit` stock levels in stream order after the stream id `after`, folded
        from the store (the listing without projections)."""
        pattern = like_prefix("stock:" + sku_prefix)
        found: list[StockLevel] = []
        while len(found) < limit:
            streams = await self.streams_after(pattern, after, limit * 4)
            if not streams:
                break
            after = streams[-1]
            wanted = [s for s in streams if warehouse_id in (None, parse_stock_stream(s)[1])]
            found += await self.levels(wanted)
            if len(streams) < limit * 4:
                break
        return found[:limit]

    async def sku_levels(self, sku: str) -> list[StockLevel]:
        pattern = like_prefix(stock_stream(sku, ""))
        streams = [r["stream_id"] for r in await self.pool.fetch(_SKU_STREAMS, pattern)]
        return await self.levels(streams)

    async def history(
        self,
        sku: str,
        warehouse_id: str,
        *,
        after_version: int = 0,
        types: Sequence[str] | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int = 100,
    ) -> list[HistoryEntry]:
        """Events in version order, each with the balance right after it."""
        stream = stock_stream(sku, warehouse_id)
        if since is not None:  # start the running sum at the first event in range
            first = await self.pool.fetchval(
                "SELECT min(version) FROM events WHERE stream_id = $1 AND recorded_at >= $2",
                stream,
                since,
            )
            after_version = max(after_version, (first or 1) - 1)
        base = Levels()
        if after_version > 0:
            before = await self.level(sku, warehouse_id, version=after_version)
            base = before.levels if before else base
        rows = await self.pool.fetch(
            _HISTORY, stream, after_version, list(types) if types else None, since, until, limit
        )
        return [
            HistoryEntry(
                RecordedEvent(*list(row.values())[:10]),
                base + levels_of(row),
            )
            for row in rows
        ]

    async def alert_history(self, stream_ids: Sequence[str]) -> list[Alert]:
        """Every alert of these reorder streams, folded from their alert events, in (stream,
        opening version) order (the listing without projections)."""
        rows = await self.pool.fetch(
            "SELECT stream_id, version, type, schema_version, data, recorded_at FROM events "
            "WHERE stream_id = ANY($1::text[]) AND type = ANY($2::text[]) "
            "ORDER BY stream_id, version",
            list(stream_ids),
            sorted(ALERT_EVENTS),
        )
        alerts: dict[str, Alert] = {}
        current: dict[str, Alert] = {}  # the alert each stream has open
        for row in rows:
            event = from_data(row["type"], row["data"], row["schema_version"])
            alert = alert_after(current.get(row["stream_id"]), event, row["version"],
                                row["recorded_at"])  # fmt: skip
            if alert is not None:
                alerts[alert.alert_id] = current[row["stream_id"]] = alert
        return list(alerts.values())
