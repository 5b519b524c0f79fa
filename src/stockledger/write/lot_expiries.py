"""The lots due to expire, kept beside the events in the append's transaction.

A lot with an expiry date and unreserved units has a row (stream, lot, expiresOn); the expiry
worker (write/expiry.py) appends `LotExpired` for the rows whose date has come. The rows follow
the stream's state exactly as the due-reservation rows do: written by the batch that changed
the lots, never by a lagging projection, so no lot is forgotten and none expired twice (the
decision is made again against the stream at its version).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date

from ..domain.aggregates import State
from ..domain.stock.state import StockState
from ..domain.streams import stock_stream
from ..store.event_store import Connection

_CLEAR = "DELETE FROM lot_expiries WHERE stream_id = ANY($1::text[])"
_SET = """
INSERT INTO lot_expiries (stream_id, lot_id, expires_on)
SELECT * FROM unnest($1::text[], $2::text[], $3::date[])
"""


def due_lots(
    before: Mapping[str, State], after: Mapping[str, State]
) -> tuple[list[str], list[tuple[str, str, date]]]:
    """The lot-tracked streams whose lots changed, and the lots of those that may expire."""
    changed: list[str] = []
    rows: list[tuple[str, str, date]] = []
    for stream_id, state in after.items():
        old = before.get(stream_id)
        if not isinstance(state, StockState):
            continue
        if state.lots == (old.lots if isinstance(old, StockState) else None):
            continue
        changed.append(stream_id)
        stream = stock_stream(state.sku, state.warehouse_id)
        rows += [
            (stream, x.lot_id, x.expires_on)
            for x in (state.lots.lots if state.lots else ())
            if x.expires_on is not None and x.available > 0
        ]
    return changed, rows


async def keep_due_lots(
    conn: Connection, before: Mapping[str, State], after: Mapping[str, State]
) -> None:
    """Rewrite the rows of every lot-tracked stream the batch changed, in its transaction."""
    changed, rows = due_lots(before, after)
    if not changed:
        return
    await conn.execute(_CLEAR, changed)
    if rows:
        await conn.execute(_SET, [r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows])
