"""Which events moved which lot or serial: rows (sku, unit, position) beside the events, in the
append's transaction. A recall (read/recall.py) finds every movement of a lot with one range of
this table's primary key and the events' primary key, never a scan of the ledger; a serial's
history the same way. Only the copy of an event on a stock stream is indexed (a reservation's or
a transfer's own stream holds the same fact again).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING
from uuid import UUID

from ..domain.events import Event
from ..domain.reservation.events import StockReserved
from ..domain.stock.events import (
    LotExpired,
    StockAdjusted,
    StockCounted,
    StockReceived,
    StockReturned,
    StockShipped,
)
from ..domain.streams import category
from ..domain.transfer.events import TransferDispatched, TransferReceived
from ..store.event_store import Connection
from ..store.rows import RecordedEvent

if TYPE_CHECKING:
    from .batch import Decided

_INDEX = """
INSERT INTO tracked_events (sku, unit, position)
SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[]) ON CONFLICT DO NOTHING
"""


def lot_unit(lot_id: str) -> str:
    return f"lot:{lot_id}"


def serial_unit(serial: str) -> str:
    return f"serial:{serial}"


def units(event: Event) -> Iterator[tuple[str, str]]:
    """The (sku, unit) pairs an event moved: its lots and serials."""
    match event:
        case StockReceived() | StockReturned() | StockAdjusted() | StockCounted():
            if event.lot_id:
                yield event.sku, lot_unit(event.lot_id)
            for serial in event.serials or ():
                yield event.sku, serial_unit(serial)
        case LotExpired():
            yield event.sku, lot_unit(event.lot_id)
        case StockReserved() | StockShipped():
            for line in event.lines:
                for lot in getattr(line, "lots", None) or ():
                    yield line.sku, lot_unit(lot.lot_id)
                for serial in getattr(line, "serials", None) or ():
                    yield line.sku, serial_unit(serial)
        case TransferDispatched() | TransferReceived():
            for lot in event.lots or ():
                yield event.sku, lot_unit(lot.lot_id)
            serials = [*(event.serials or ())]
            if isinstance(event, TransferReceived):
                serials += event.lost_serials or ()
            for serial in serials:
                yield event.sku, serial_unit(serial)


def tracked_rows(
    decided: Sequence[Decided], recorded: Mapping[UUID, RecordedEvent]
) -> list[tuple[str, str, int]]:
    rows: list[tuple[str, str, int]] = []
    for item in decided:
        recording = item.recording
        if recording is None or recording.decision.already is not None:
            continue
        pairs = zip(recording.decision.events, recording.events, strict=True)
        for (stream_id, event), (_, new) in pairs:
            if category(stream_id) != "stock" or new.event_id not in recorded:
                continue
            position = recorded[new.event_id].position
            rows += [(sku, unit, position) for sku, unit in dict.fromkeys(units(event))]
    return rows


async def index_tracked(
    conn: Connection, decided: Sequence[Decided], recorded: Sequence[RecordedEvent]
) -> None:
    await write_tracked(conn, tracked_rows(decided, {e.event_id: e for e in recorded}))


async def write_tracked(conn: Connection, rows: Sequence[tuple[str, str, int]]) -> None:
    """(sku, unit, position) rows, in the caller's transaction."""
    if rows:
        await conn.execute(_INDEX, [r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows])
