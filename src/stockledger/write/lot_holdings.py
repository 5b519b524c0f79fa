"""The lots each stock stream holds, kept beside the events in the append's transaction.

A row per (stream, lot) holding units, as the stream's state has it after the batch: written by
the batch that changed the stream's lots, never by a lagging projection (as the due-reservation
rows are). The expiry worker (write/expiry.py) appends `LotExpired` for the lots whose date has
come and that still hold unreserved units, each decided again against the stream at its
version, so no lot is forgotten and none expired twice; GET /v1/lots lists them by expiry date.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from typing import Any

from ..domain.aggregates import State
from ..domain.stock.state import StockState
from ..domain.streams import stock_stream
from ..store.event_store import Connection

_CLEAR = "DELETE FROM lot_holdings WHERE stream_id = ANY($1::text[])"
_SET = """
INSERT INTO lot_holdings (stream_id, lot_id, sku, warehouse_id, expires_on, on_hand, reserved,
                          expired, first_received_at, quality_control)
SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::date[], $6::int[],
                     $7::int[], $8::int[], $9::timestamptz[], $10::int[])
"""

Row = tuple[str, str, str, str, date | None, int, int, int, datetime, int]


def holdings(
    before: Mapping[str, State], after: Mapping[str, State]
) -> tuple[list[str], list[Row]]:
    """The lot-tracked streams whose lots changed, and every lot those hold now."""
    changed: list[str] = []
    rows: list[Row] = []
    for stream_id, state in after.items():
        old = before.get(stream_id)
        if not isinstance(state, StockState):
            continue
        if state.lots == (old.lots if isinstance(old, StockState) else None):
            continue
        changed.append(stream_id)
        stream = stock_stream(state.sku, state.warehouse_id)
        rows += [
            (
                stream,
                x.lot_id,
                state.sku,
                state.warehouse_id,
                x.expires_on,
                x.on_hand,
                x.reserved,
                x.expired,
                x.first_received_at,
                x.quality_control,
            )
            for x in (state.lots.lots if state.lots else ())
        ]
    return changed, rows


async def keep_holdings(
    conn: Connection, before: Mapping[str, State], after: Mapping[str, State]
) -> None:
    """Rewrite the rows of every lot-tracked stream the batch changed, in its transaction."""
    await write_holdings(conn, *holdings(before, after))


async def write_holdings(conn: Connection, changed: list[str], rows: list[Row]) -> None:
    """The rows of the streams `changed`, replaced by `rows`."""
    if not changed:
        return
    await conn.execute(_CLEAR, changed)
    if rows:
        columns: list[list[Any]] = [list(x) for x in zip(*rows, strict=True)]
        await conn.execute(_SET, *columns)
