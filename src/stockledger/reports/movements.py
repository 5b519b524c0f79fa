"""The stock movements report: per (period, stock stream) the opening levels, what moved the
stock by kind, and the closing levels, from the per-event delta columns in one SQL statement.

How each event counts (on the stock stream's own row; `delta` in domain/stock/state.py is the
rule, the report only sums and classifies the deltas it stored):

- StockReceived: received (its onHand delta).
- StockShipped: shipped (this stream's line).
- StockReturned: resellable -> returnedResellable (onHand); damaged -> returnedDamaged (the
  damaged bucket); dispose -> returnedDisposed (its quantity: it moves no bucket).
- TransferDispatched: on the source stream transferredOut (onHand); on the destination it only
  raises inTransit.
- TransferReceived (destination): transferredIn (what arrived), lostInTransit (the shortfall).
- StockAdjusted: adjustedUp / adjustedDown by the sign of quantityChange. A count that differs
  is recorded as StockCounted (no delta) plus StockAdjusted (reason physical_count): it shows
  once, as that adjustment. The write-off of a lot's expired units (reason expiry) moves the
  expired bucket, not onHand: it shows in the expired levels only.
- StockExpected: expected (what purchase orders put on order: `incoming`).
- StockInspected: inspectedAccepted (out of qualityControl, now available) and
  inspectedRejected (out of onHand into damaged).
- LotExpired: lotsExpired (the onHand that moved to the expired bucket).

Reservations move `reserved` only (in the opening and closing levels). Those (and a rejection
at inspection) are the only events with an onHand delta, so for every row
`closing.onHand = opening.onHand + received - shipped + returnedResellable + transferredIn -
transferredOut + adjustedUp - adjustedDown - inspectedRejected - lotsExpired`, and `closing` is
`opening` plus every delta of the period, which is the next period's `opening`.

A row exists for each period in which the stream had an event, or non-zero opening or closing
levels (stock sitting still is in the report). Periods are those of `periods.py`; an event
belongs to the period whose [start, end) holds its recordedAt. Only events at or below the
report's asOfPosition count, so the same asOfPosition gives the same figures forever.

Set-based: the events of the chosen streams before `to` are grouped by (stream, period) once
(the opening is the group of everything before `from`), the periods are crossed with the
streams, and running sums over them give each opening and closing: no fold per stream.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import asyncpg

from ..domain.streams import like_prefix, parse_stock_stream
from ..read.stock import StockReader
from ..store.event_store import Connection
from .periods import Granularity, Period, periods

LEVELS = (("onHand", "on_hand"), ("reserved", "reserved"), ("inTransit", "in_transit"),
          ("damaged", "damaged"), ("incoming", "incoming"),
          ("qualityControl", "quality_control"), ("expired", "expired"))  # fmt: skip
# (wire name, SQL aggregate over the stream's events of one period)
MOVEMENTS = (
    ("received", "sum(e.d_on_hand) FILTER (WHERE e.type = 'StockReceived')"),
    ("shipped", "-sum(e.d_on_hand) FILTER (WHERE e.type = 'StockShipped')"),
    ("returnedResellable", "sum(e.d_on_hand) FILTER (WHERE e.type = 'StockReturned')"),
    ("returnedDamaged", "sum(e.d_damaged) FILTER (WHERE e.type = 'StockReturned')"),
    (
        "returnedDisposed",
        "sum(e.disposed)",
    ),
    ("transferredOut", "-sum(e.d_on_hand) FILTER (WHERE e.type = 'TransferDispatched')"),
    ("transferredIn", "sum(e.d_on_hand) FILTER (WHERE e.type = 'TransferReceived')"),
    (
        "lostInTransit",
        "sum(-e.d_in_transit - e.d_on_hand) FILTER (WHERE e.type = 'TransferReceived')",
    ),
    ("adjustedUp", "sum(e.d_on_hand) FILTER (WHERE e.type = 'StockAdjusted' AND e.d_on_hand > 0)"),
    (
        "adjustedDown",
        "-sum(e.d_on_hand) FILTER (WHERE e.type = 'StockAdjusted' AND e.d_on_hand < 0)",
    ),
    ("expected", "sum(e.d_incoming) FILTER (WHERE e.type = 'StockExpected')"),
    (
        "inspectedAccepted",
        "sum(-e.d_quality_control - e.d_damaged) FILTER (WHERE e.type = 'StockInspected')",
    ),
    ("inspectedRejected", "sum(e.d_damaged) FILTER (WHERE e.type = 'StockInspected')"),
    ("lotsExpired", "-sum(e.d_on_hand) FILTER (WHERE e.type = 'LotExpired')"),
)
COLUMNS = (
    "periodStart",
    "periodEnd",
    "sku",
    "warehouseId",
    *(f"opening.{name}" for name, _ in LEVELS),
    *(name for name, _ in MOVEMENTS),
    *(f"closing.{name}" for name, _ in LEVELS),
)

_MOVED = ",\n           ".join(f'{sql} AS "{name}"' for name, sql in MOVEMENTS)
_LEVEL_SUMS = ", ".join(f"sum(e.d_{column}) AS {column}" for _, column in LEVELS)
_RUNNING = ", ".join(
    f"(sum(COALESCE(m.{c}, 0)) OVER w)::bigint AS c_{c}, COALESCE(m.{c}, 0) AS d_{c}"
    for _, c in LEVELS
)
_OPENING = ", ".join(f"c_{c} - d_{c} AS o_{c}" for _, c in LEVELS)
_CLOSING = ", ".join(f"c_{c}" for _, c in LEVELS)
_MOVED_OUT = ", ".join(f'COALESCE(m."{name}", 0) AS "{name}"' for name, _ in MOVEMENTS)
_STILL = " AND ".join(f"c_{c} = 0 AND c_{c} - d_{c} = 0" for _, c in LEVELS)

# $1 from, $2 to, $3 period starts, $4 period ends, $5 asOfPosition; stream conditions after.
_REPORT = """
WITH moves AS (
    -- n = 0: everything before `from` (the opening); n = 1..: the period holding recordedAt
    SELECT e.stream_id,
           CASE WHEN e.recorded_at < $1 THEN 0 ELSE width_bucket(e.recorded_at, $3) END AS n,
           sum(e.counted) AS events, {level_sums},
           {moved}
    FROM (
        -- the columns the groups need, all in events_stream_recorded (an index-only scan)
        SELECT e.stream_id, e.recorded_at, e.type, e.d_on_hand, e.d_reserved, e.d_in_transit,
               e.d_damaged, e.d_incoming, e.d_quality_control, e.d_expired,
               NULL::int AS disposed, 1 AS counted
        FROM events e
        WHERE e.recorded_at < $2 AND e.position <= $5 AND {streams}
        UNION ALL
        -- disposals, the one figure in an event's data: the returns alone (events_returns),
        -- counted as no further event
        SELECT e.stream_id, e.recorded_at, 'disposal', 0, 0, 0, 0, 0, 0, 0,
               (e.data ->> 'quantity')::int, 0
        FROM events e
        WHERE e.type = 'StockReturned' AND e.data ->> 'condition' = 'dispose'
          AND e.recorded_at < $2 AND e.position <= $5 AND {streams}
    ) e
    GROUP BY 1, 2
), grid AS (
    SELECT s.stream_id, p.n, p.period_start, p.period_end
    FROM (SELECT DISTINCT stream_id FROM moves) s
    CROSS JOIN (
        SELECT 0::bigint AS n, NULL::timestamptz AS period_start, NULL::timestamptz AS period_end
        UNION ALL
        SELECT u.n, u.period_start, u.period_end
        FROM unnest($3::timestamptz[], $4::timestamptz[]) WITH ORDINALITY
             AS u(period_start, period_end, n)
    ) p
), running AS (
    SELECT g.stream_id, g.n, g.period_start, g.period_end, COALESCE(m.events, 0) AS events,
           {running}, {moved_out}
    FROM grid g LEFT JOIN moves m ON m.stream_id = g.stream_id AND m.n = g.n
    WINDOW w AS (PARTITION BY g.stream_id ORDER BY g.n)
)
SELECT stream_id, period_start, period_end, {opening}, {closing}, {moved_names}
FROM running
WHERE n > 0 AND (events > 0 OR NOT ({still}))
ORDER BY stream_id, n
"""


@dataclass(frozen=True, slots=True)
class MovementQuery:
    """Which rows: the window [since, until) cut by `granularity`, every stock stream or those
    of one SKU and/or one warehouse."""

    since: datetime
    until: datetime
    granularity: Granularity = "day"
    sku: str | None = None
    warehouse_id: str | None = None
    spans: list[Period] = field(init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        # PeriodError (a ValueError) here: a window that cannot be reported on
        object.__setattr__(self, "spans", periods(self.since, self.until, self.granularity))

    @property
    def stream_prefix(self) -> str:
        return "stock:" if self.sku is None else f"stock:{self.sku}:"


@dataclass(frozen=True, slots=True)
class RowKey:
    """Where a row sits in the report's order: (stream id bytes, period)."""

    stream_id: str
    period_start: datetime


def _statement(
    query: MovementQuery,
    as_of: int,
    low: str | None = None,
    high: str | None = None,
    *,
    from_low: bool = False,
) -> tuple[str, list[Any]]:
    """The SQL and its arguments: the streams of `query`, within (low, high] of stream ids
    when given ([low, high] with `from_low`)."""
    spans = query.spans
    args: list[Any] = [query.since, query.until, [p.start for p in spans],
                       [p.end for p in spans], as_of]  # fmt: skip

    def arg(value: Any) -> str:
        args.append(value)
        return f"${len(args)}"

    prefix = query.stream_prefix
    # A range of the C-collated stream id (index-friendly): ids hold no ';', the byte after ':'.
    where = [f"e.stream_id >= {arg(prefix)}", f"e.stream_id < {arg(prefix[:-1] + ';')}"]
    if low is not None:
        where.append(f"e.stream_id {'>=' if from_low else '>'} {arg(low)}")
    if high is not None:
        where.append(f"e.stream_id <= {arg(high)}")
    if query.warehouse_id is not None:
        where.append(f"split_part(e.stream_id, ':', 3) = {arg(query.warehouse_id)}")
    sql = _REPORT.format(
        level_sums=_LEVEL_SUMS,
        moved=_MOVED,
        streams=" AND ".join(where),
        running=_RUNNING,
        moved_out=_MOVED_OUT,
        opening=_OPENING,
        closing=_CLOSING,
        moved_names=", ".join(f'"{name}"' for name, _ in MOVEMENTS),
        still=_STILL,
    )
    return sql, args


def movement_out(record: asyncpg.Record) -> dict[str, Any]:
    """One report row on the wire (camelCase, instants as RFC 3339)."""
    sku, warehouse_id = parse_stock_stream(record["stream_id"])
    return {
        "periodStart": record["period_start"].isoformat(),
        "periodEnd": record["period_end"].isoformat(),
        "sku": sku,
        "warehouseId": warehouse_id,
        "opening": {name: record[f"o_{column}"] for name, column in LEVELS},
        **{name: record[name] for name, _ in MOVEMENTS},
        "closing": {name: record[f"c_{column}"] for name, column in LEVELS},
    }


@asynccontextmanager
async def reading(pool: asyncpg.Pool[Any]) -> AsyncIterator[Connection]:
    """A read-only transaction tuned for one report statement: the groups of a month over
    45,000 streams fit a ~40 MB hash table where the default 4 MB work_mem sorts them on disk,
    and JIT would compile the plan for longer than it runs (measured on bench P5's ledger)."""
    async with pool.acquire() as conn, conn.transaction(readonly=True):
        await conn.execute("SET LOCAL work_mem = '64MB'; SET LOCAL jit = off")
        yield conn


def _key(record: asyncpg.Record) -> RowKey:
    return RowKey(record["stream_id"], record["period_start"])


async def movement_rows(
    pool: asyncpg.Pool[Any], query: MovementQuery, as_of: int
) -> AsyncIterator[dict[str, Any]]:
    """Every row of the report in order, from one statement over all its streams (a scan of
    their events before `to`), streamed through a server-side cursor: the whole report at
    constant memory (the CLI, the benchmark)."""
    sql, args = _statement(query, as_of)
    async with reading(pool) as conn:
        async for record in conn.cursor(sql, *args, prefetch=2_000):
            yield movement_out(record)


async def movement_page(
    pool: asyncpg.Pool[Any],
    query: MovementQuery,
    as_of: int,
    limit: int,
    after: RowKey | None = None,
) -> tuple[list[dict[str, Any]], RowKey | None]:
    """Up to `limit` rows after `after` in (stream id, period) order, and the key of the last
    one when more follow.

    A page reads only the streams it needs: the next streams in id order come from a loose
    index scan (`StockReader.streams_after`), enough for `limit` rows if each had a row in every
    period (and an eighth more, for streams without any), and the report's statement runs on
    that range of stream ids, an index-only scan of events_stream_recorded; a range that gives
    too few rows (streams without stock or activity then) is followed by a wider one."""
    reader = StockReader(pool)
    pattern = like_prefix(query.stream_prefix)
    # enough streams for `limit` rows and a few streams without any (one range per page, mostly)
    span = max(8, -(-(limit + 1 + limit // 8) // len(query.spans)))
    found: list[asyncpg.Record] = []
    # The cursor's own stream may still have periods after the cursor: the first range starts
    # at it (inclusive), later ones after the last stream already read.
    resume = after is not None
    ranges = reader.stream_ranges(
        pattern, after.stream_id if after else "", span, most=4_096, include_after=resume
    )
    async for low, high in ranges:
        sql, args = _statement(query, as_of, low, high, from_low=resume)
        async with reading(pool) as conn:
            records = await conn.fetch(sql, *args)
        if resume and after is not None:
            records = [r for r in records if (r["stream_id"], r["period_start"]) >
                       (after.stream_id, after.period_start)]  # fmt: skip
        found += records
        resume = False
        if len(found) > limit:
            break
    page = found[:limit]
    more = len(found) > limit
    return [movement_out(r) for r in page], _key(page[-1]) if more else None
