"""The `stock_values` rows of stock events written before valuation existed (`migrate`
derives them once): a ledger-wide fold in position order that values each such event as the
write path would have."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import asyncpg

from ..domain.aggregates import initial_state
from ..domain.events import from_data
from ..domain.stock.state import Levels, StockState, step_stock
from ..domain.upcasting import unresolved_arrival, unvalued_receipt, wire_layers
from ..store.rows import VALUES_SQL, ValueRow, value_rows, worth_a_row
from ..store.snapshots import state_to_json

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
