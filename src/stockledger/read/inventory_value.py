"""Valuation and COGS read from the ledger: one stream as of an instant (its fold), the whole
inventory and the cost of goods shipped as set-based sums of `stock_values` (the per-event value
deltas the write path stores beside the quantity deltas), and the derivation of those rows for
events written before valuation existed.

Every figure includes the events up to an `asOfPosition` (the commit horizon when the read
started, or the one asked for), so a report can be reproduced.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from ..domain.aggregates import initial_state
from ..domain.events import from_data
from ..domain.stock.state import Levels, StockState, step_stock
from ..domain.streams import like_prefix, stock_stream
from ..domain.upcasting import unresolved_arrival, unvalued_receipt, wire_layers
from ..domain.valuation import ZERO, rounded, text
from ..store.event_store import VALUES_SQL, value_rows
from ..store.rows import ValueRow, worth_a_row
from ..store.snapshots import (
    StateLoader,
    state_to_json,
)
from .stock import StockReader

LOSS_REASONS = (
    "damage",
    "expiry",
    "theft",
    "physical_count",
    "system_correction",
    "lost_in_transit",
    "disposed",
)

# The CSV columns of the whole inventory's rows and of COGS rows, in the order of their fields.
INVENTORY_COLUMNS = (
    "sku",
    "warehouseId",
    "onHand",
    "value",
    "unitCost",
    "inTransit",
    "inTransitValue",
    "damaged",
    "damagedValue",
)
COGS_COLUMNS = (
    "sku",
    "warehouseId",
    "unitsShipped",
    "costOfGoodsSold",
    *(f"losses.{reason}" for reason in LOSS_REASONS),
)


def stream_filter(
    sku: str | None, warehouse_id: str | None, column: str, first: int
) -> tuple[str, list[Any]]:
    """An SQL condition on a stock stream id column for an optional SKU and warehouse."""
    if sku is not None and warehouse_id is not None:
        return f"{column} = ${first}", [stock_stream(sku, warehouse_id)]
    if sku is not None:
        return f"{column} LIKE ${first}", [like_prefix(f"stock:{sku}:")]
    if warehouse_id is not None:
        return f"split_part({column}, ':', 3) = ${first}", [warehouse_id]
    return "true", []


# -- one stream -------------------------------------------------------------------------------


async def stream_valuation(
    loader: StateLoader, sku: str, warehouse_id: str, at: datetime
) -> StockState | None:
    """The stream as of `at` (its value folded from its events), or None before its first."""
    stream = stock_stream(sku, warehouse_id)
    state = (await loader.load([stream], until=at))[stream]
    return state if isinstance(state, StockState) and state.version else None


def stream_body(state: StockState, at: datetime) -> dict[str, Any]:
    value = state.value
    on_hand = value.on_hand
    return {
        "sku": state.sku,
        "warehouseId": state.warehouse_id,
        "method": on_hand.method,
        "at": at.isoformat(),
        "version": state.version,
        "onHand": state.levels.on_hand,
        "value": text(on_hand.value),
        "unitCost": text(on_hand.unit_cost),
        "inTransit": state.levels.in_transit,
        "inTransitValue": text(value.in_transit_value),
        "damaged": state.levels.damaged,
        "damagedValue": text(value.damaged),
        "layers": [
            {
                "quantity": x.quantity,
                "unitCost": text(x.unit_cost),
                "value": text(x.value),
                "receivedAt": x.received_at.isoformat() if x.received_at else None,
            }
            for x in on_hand.layers
        ],
    }


# -- the whole inventory ----------------------------------------------------------------------

# $1 at, $2 asOfPosition: every stream with units or value then, by stream id
_HELD = """
WITH sums AS (
    SELECT stream_id, sum(d_on_hand)::bigint AS on_hand, sum(d_in_transit)::bigint AS in_transit,
           sum(d_damaged)::bigint AS damaged, sum(d_value) AS value,
           sum(d_in_transit_value) AS in_transit_value, sum(d_damaged_value) AS damaged_value
    FROM stock_values
    WHERE recorded_at <= $1 AND position <= $2 AND {streams}
    GROUP BY stream_id
), held AS (
    SELECT * FROM sums
    WHERE on_hand <> 0 OR in_transit <> 0 OR damaged <> 0 OR value <> 0
       OR in_transit_value <> 0 OR damaged_value <> 0
)"""
_BY_STREAM = " SELECT * FROM held ORDER BY stream_id"
_INVENTORY = (
    _HELD
    + """, totals AS (
    SELECT count(*) AS streams, COALESCE(sum(value), 0) AS value,
           COALESCE(sum(in_transit_value), 0) AS in_transit_value,
           COALESCE(sum(damaged_value), 0) AS damaged_value,
           COALESCE(sum(on_hand), 0)::bigint AS on_hand
    FROM held
)
SELECT t.streams AS total_streams, t.value AS total_value,
       t.in_transit_value AS total_in_transit_value, t.damaged_value AS total_damaged_value,
       t.on_hand AS total_on_hand, p.*
FROM totals t
LEFT JOIN LATERAL (
    SELECT * FROM held ORDER BY stream_id LIMIT $3
) p ON true
ORDER BY p.stream_id
"""
)


@dataclass(frozen=True, slots=True)
class Inventory:
    rows: list[dict[str, Any]]
    totals: dict[str, Any]
    next: str | None


async def inventory(
    pool: asyncpg.Pool[Any],
    at: datetime,
    as_of: int,
    *,
    warehouse_id: str | None = None,
    limit: int = 100,
) -> Inventory:
    """Every stock stream's onHand and value as of `at`: the first `limit` of them by stream id
    and the totals of all of them, in one set-based query (`inventory_page` gives the rest)."""
    streams, args = stream_filter(None, warehouse_id, "stream_id", 4)
    records = await pool.fetch(_INVENTORY.format(streams=streams), at, as_of, limit + 1, *args)
    first = records[0]
    page = [r for r in records if r["stream_id"] is not None]
    more = len(page) > limit
    page = page[:limit]
    rows = [inventory_row(r) for r in page]
    totals = {
        "streams": first["total_streams"],
        "onHand": first["total_on_hand"],
        "value": text(first["total_value"]),
        "inTransitValue": text(first["total_in_transit_value"]),
        "damagedValue": text(first["total_damaged_value"]),
    }
    return Inventory(rows, totals, page[-1]["stream_id"] if more else None)


async def inventory_page(
    pool: asyncpg.Pool[Any],
    at: datetime,
    as_of: int,
    *,
    warehouse_id: str | None = None,
    after: str = "",
    limit: int = 100,
) -> tuple[list[dict[str, Any]], str | None]:
    """The `limit` rows after the stream id `after` (and the last one's id when more follow),
    without the totals: a later page of `inventory`. It sums only the next streams in id order
    (a loose index scan finds them, as the movements report's pages do), widening the range
    while it holds too few streams with units or value."""
    reader = StockReader(pool)
    pattern = like_prefix("stock:")
    # enough streams for `limit` rows and a few without units or value (one range, mostly)
    span = limit + 1 + limit // 8
    span = span if warehouse_id is None else 4 * span
    where, args = stream_filter(None, warehouse_id, "stream_id", 5)
    sql = _HELD.format(streams=f"stream_id > $3 AND stream_id <= $4 AND {where}") + _BY_STREAM
    found: list[Any] = []
    async for low, high in reader.stream_ranges(pattern, after, span, most=16_384):
        found += await pool.fetch(sql, at, as_of, low, high, *args)
        if len(found) > limit:
            break
    page = found[:limit]
    more = len(found) > limit
    return [inventory_row(r) for r in page], page[-1]["stream_id"] if more else None


async def inventory_rows(
    pool: asyncpg.Pool[Any], at: datetime, as_of: int, *, warehouse_id: str | None = None
) -> AsyncIterator[dict[str, Any]]:
    """Every row of `inventory` in order from one statement, streamed (the CLI): the pages'
    rows without computing the totals again for each."""
    streams, args = stream_filter(None, warehouse_id, "stream_id", 3)
    sql = _HELD.format(streams=streams) + _BY_STREAM
    async with pool.acquire() as conn, conn.transaction(readonly=True):
        async for record in conn.cursor(sql, at, as_of, *args, prefetch=2_000):
            yield inventory_row(record)


def inventory_row(r: Any) -> dict[str, Any]:
    _, sku, warehouse_id = r["stream_id"].split(":")
    on_hand, value = r["on_hand"], r["value"]
    return {
        "sku": sku,
        "warehouseId": warehouse_id,
        "onHand": on_hand,
        "value": text(value),
        "unitCost": text(rounded(value / on_hand) if on_hand else ZERO),
        "inTransit": r["in_transit"],
        "inTransitValue": text(r["in_transit_value"]),
        "damaged": r["damaged"],
        "damagedValue": text(r["damaged_value"]),
    }


# -- cost of goods sold -----------------------------------------------------------------------

_COGS = """
SELECT stream_id, loss_reason, sum(units_shipped)::bigint AS units, sum(cogs) AS cogs,
       sum(loss) AS loss
FROM stock_values
WHERE recorded_at >= $1 AND recorded_at < $2 AND position <= $3 AND {streams}
  AND (units_shipped <> 0 OR cogs <> 0 OR loss <> 0)
GROUP BY stream_id, loss_reason
ORDER BY stream_id
"""


async def cogs(
    pool: asyncpg.Pool[Any],
    since: datetime,
    until: datetime,
    as_of: int,
    *,
    sku: str | None = None,
    warehouse_id: str | None = None,
) -> dict[str, Any]:
    """What the goods shipped in [since, until) cost, and the losses at cost by reason, per
    stock stream, with totals."""
    streams, args = stream_filter(sku, warehouse_id, "stream_id", 4)
    records = await pool.fetch(_COGS.format(streams=streams), since, until, as_of, *args)
    by_stream: dict[str, dict[str, Any]] = {}
    total_cogs, total_losses = ZERO, dict.fromkeys(LOSS_REASONS, ZERO)
    for r in records:
        _, row_sku, row_warehouse = r["stream_id"].split(":")
        row = by_stream.setdefault(
            r["stream_id"],
            {
                "sku": row_sku,
                "warehouseId": row_warehouse,
                "unitsShipped": 0,
                "cogs": ZERO,
                "losses": {},
            },
        )
        row["unitsShipped"] += r["units"]
        row["cogs"] += r["cogs"]
        total_cogs += r["cogs"]
        if r["loss_reason"] is not None and r["loss"]:
            reason = r["loss_reason"]
            row["losses"][reason] = row["losses"].get(reason, ZERO) + r["loss"]
            total_losses[reason] += r["loss"]
    rows = [
        {
            "sku": row["sku"],
            "warehouseId": row["warehouseId"],
            "unitsShipped": row["unitsShipped"],
            "costOfGoodsSold": text(row["cogs"]),
            "losses": {k: text(v) for k, v in sorted(row["losses"].items())},
        }
        for row in by_stream.values()
    ]
    return {
        "rows": rows,
        "totals": {
            "unitsShipped": sum(row["unitsShipped"] for row in rows),
            "costOfGoodsSold": text(total_cogs),
            "losses": {k: text(v) for k, v in total_losses.items()},
        },
    }


# -- rows of events written before valuation --------------------------------------------------

_MISSING = """
SELECT EXISTS (
    SELECT 1 FROM events e
    WHERE e.stream_id LIKE 'stock:%' AND e.schema_version = 1
      AND e.type = ANY($1::text[])
      AND NOT EXISTS (SELECT 1 FROM stock_values v WHERE v.position = e.position)
)
"""
_VALUED_V1 = [
    "StockReceived",
    "StockShipped",
    "StockReturned",
    "TransferDispatched",
    "TransferReceived",
    "StockAdjusted",
]


async def needs_backfill(pool: asyncpg.Pool[Any]) -> bool:
    """Whether some stock event written before valuation has no stock_values row yet."""
    missing: bool = await pool.fetchval(_MISSING, _VALUED_V1)
    return missing


async def count_stock_events(pool: asyncpg.Pool[Any]) -> int:
    total: int = await pool.fetchval("SELECT count(*) FROM events WHERE stream_id LIKE 'stock:%'")
    return total


async def backfill_stock_values(
    pool: asyncpg.Pool[Any], advance: Callable[[int], None], batch: int = 5000
) -> int:
    """Fold every stock stream from its first event, in position order across the ledger, and
    write the stock_values row of each event that has none (written before valuation), then a
    snapshot of each stream's head holding its value. Returns the rows written.

    A v1 transfer's layers at its destination are the ones its source's dispatch took. Both
    copies of the dispatch are in one transaction, in either order: when the destination's
    comes first, that stream waits (its events are held, in order) until the source's dispatch
    has been folded, just after. (The per-stream state loader derives the same by folding the
    source.)"""
    backfill = _Backfill()
    written = 0
    async with pool.acquire() as conn, conn.transaction():
        async for row in conn.cursor(
            "SELECT e.position, e.stream_id, e.type, e.schema_version, e.data, e.recorded_at, "
            "e.d_on_hand, e.d_in_transit, e.d_damaged, (v.position IS NOT NULL) AS has_row "
            "FROM events e LEFT JOIN stock_values v ON v.position = e.position "
            "WHERE e.stream_id LIKE 'stock:%' OR e.stream_id LIKE 'item:%' ORDER BY e.position",
            prefetch=batch,
        ):
            backfill.take(row)
            if len(backfill.pending) >= batch:
                written += await _write(conn, backfill.pending)
                backfill.pending = []
            advance(1)
        backfill.finish()
        written += await _write(conn, backfill.pending)
        await conn.executemany(
            "INSERT INTO snapshots (stream_id, version, recorded_at, state) "
            "VALUES ($1, $2, $3, $4) ON CONFLICT (stream_id, version) DO UPDATE "
            "SET state = EXCLUDED.state",
            [
                (s, st.version, st.updated_at, state_to_json(st))
                for s, st in backfill.states.items()
                if st.updated_at is not None
            ],
        )
    return written


class _Backfill:
    """The ledger-wide fold of `backfill_stock_values`, one event row at a time."""

    def __init__(self) -> None:
        self.states: dict[str, StockState] = {}
        self.pending: list[ValueRow] = []
        self.carried: dict[str, Any] = {}  # transfer id -> the layers its dispatch took (wire)
        self.methods: dict[str, str] = {}  # sku -> its item's valuation method
        self.held: dict[str, list[Any]] = {}  # stream -> its events waiting for a source
        self.waiting: dict[str, str] = {}  # transfer id -> the destination stream waiting

    def take(self, row: Any) -> None:
        stream_id = row["stream_id"]
        if stream_id.startswith("item:"):  # the method each SKU values by from then on
            if row["data"].get("valuationMethod"):
                self.methods[stream_id.removeprefix("item:")] = row["data"]["valuationMethod"]
        elif stream_id in self.held:
            self.held[stream_id].append(row)
        else:
            self._fold(row)

    def finish(self) -> None:
        """Fold what still waits (a source dispatch that never came: it carried nothing)."""
        while self.waiting:
            transfer_id, stream_id = self.waiting.popitem()
            self.carried.setdefault(transfer_id, [])
            self._release(stream_id)

    def _fold(self, row: Any) -> None:
        stream_id, data = row["stream_id"], row["data"]
        state = self.states.get(stream_id)
        if state is None:
            start = initial_state(stream_id)
            assert isinstance(start, StockState)
            state = start
        if unvalued_receipt(row["type"], data):
            data = {**data, "valuationMethod": self.methods.get(state.sku, "fifo")}
        if unresolved_arrival(stream_id, row["type"], data):
            if data["transferId"] not in self.carried:  # its source's copy comes later
                self.held[stream_id] = [row]
                self.waiting[data["transferId"]] = stream_id
                return
            data = {**data, "layers": self.carried.pop(data["transferId"])}
        event = from_data(row["type"], data, row["schema_version"])
        state, move = step_stock(state, event, row["recorded_at"])
        self.states[stream_id] = state
        delta = Levels(row["d_on_hand"], 0, row["d_in_transit"], row["d_damaged"])
        if not row["has_row"] and worth_a_row(delta, move):
            self.pending.append(
                ValueRow(row["position"], stream_id, row["recorded_at"], delta, move)
            )
        if move.layers is not None and row["type"] == "TransferDispatched":
            self.carried[data["transferId"]] = wire_layers(move.layers)
            if (destination := self.waiting.pop(data["transferId"], None)) is not None:
                self._release(destination)

    def _release(self, stream_id: str) -> None:
        """Fold a held stream's events in order, until one waits again."""
        rows = self.held.pop(stream_id)
        for n, row in enumerate(rows):
            self._fold(row)
            if stream_id in self.held:  # waits for another transfer: keep the rest behind it
                self.held[stream_id] += rows[n + 1 :]
                return


async def _write(conn: Any, pending: list[ValueRow]) -> int:
    if not pending:
        return 0
    await conn.execute(VALUES_SQL + " ON CONFLICT (position) DO NOTHING", *value_rows(pending))
    return len(pending)
