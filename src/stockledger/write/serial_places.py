"""One place per serial number across the whole ledger, kept by the database.

A stock stream knows its own serials, so a serial received twice in one warehouse is refused
by the domain. A serial received in two warehouses at once is two streams, two batches,
perhaps two processes: each would read "not here" and both would commit (a check by SELECT
before the INSERT races the same way). So every batch that changes a serial-tracked stream's
serials writes the rows of `serial_places` in its own transaction, after its events: a serial
that leaves a place is deleted, a serial arriving somewhere inserted. The primary key (sku,
serial) refuses a second place: the INSERT waits for a concurrent one to commit and then skips
the row, and the batch, finding its claim not taken, rolls back and raises `SerialTaken`
naming where the serial is (the writer answers those commands `serial-in-stock` and writes the
rest again).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from ..domain.aggregates import State
from ..domain.stock.state import StockState
from ..store.event_store import Connection


@dataclass(frozen=True, slots=True)
class SerialPlace:
    sku: str
    serial: str
    warehouse_id: str
    status: str  # in_stock, in_transit (to warehouse_id), damaged


@dataclass(frozen=True, slots=True)
class SerialChanges:
    """Rows to delete (serials that left where they were), then rows to insert (serials now
    somewhere); a serial that moved within the batch is both."""

    releases: tuple[tuple[str, str], ...] = ()  # (sku, serial)
    claims: tuple[SerialPlace, ...] = ()


class SerialTaken(Exception):
    """Serials the batch placed that are already somewhere else: (sku, serial) -> where."""

    def __init__(self, taken: Mapping[tuple[str, str], SerialPlace]) -> None:
        self.taken = dict(taken)
        super().__init__(", ".join(f"{s}/{n}" for s, n in self.taken))


def serial_changes(before: Mapping[str, State], after: Mapping[str, State]) -> SerialChanges:
    """What a batch changed: each serial-tracked stock stream's serials before and after."""
    releases: list[tuple[str, str]] = []
    claims: list[SerialPlace] = []
    for stream_id, state in after.items():
        old = before.get(stream_id)
        if not isinstance(state, StockState) or state.serials is None:
            continue
        was = old.serials.held() if isinstance(old, StockState) and old.serials else {}
        now = state.serials.held()
        releases += [(state.sku, s) for s, status in was.items() if now.get(s) != status]
        claims += [
            SerialPlace(state.sku, s, state.warehouse_id, status)
            for s, status in now.items()
            if was.get(s) != status
        ]
    return SerialChanges(tuple(releases), tuple(claims))


_RELEASE = """
DELETE FROM serial_places
WHERE (sku, serial) IN (SELECT * FROM unnest($1::text[], $2::text[]))
"""

_CLAIM = """
INSERT INTO serial_places (sku, serial, warehouse_id, status)
SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[])
ON CONFLICT DO NOTHING
RETURNING sku, serial, warehouse_id
"""

_WHERE = """
SELECT sku, serial, warehouse_id, status FROM serial_places
WHERE (sku, serial) IN (SELECT * FROM unnest($1::text[], $2::text[]))
"""


async def place_serials(conn: Connection, changes: SerialChanges) -> None:
    """Write `changes` in the caller's transaction; raises SerialTaken (the caller rolls back)
    when a serial claimed is somewhere else."""
    if changes.releases:
        skus, serials = zip(*changes.releases, strict=True)
        await conn.execute(_RELEASE, list(skus), list(serials))
    if not changes.claims:
        return
    claims = changes.claims
    placed = await conn.fetch(
        _CLAIM,
        [x.sku for x in claims],
        [x.serial for x in claims],
        [x.warehouse_id for x in claims],
        [x.status for x in claims],
    )
    got = {(r["sku"], r["serial"], r["warehouse_id"]) for r in placed}
    lost = [x for x in claims if (x.sku, x.serial, x.warehouse_id) not in got]
    if lost:
        rows = await conn.fetch(_WHERE, [x.sku for x in lost], [x.serial for x in lost])
        raise SerialTaken({(r["sku"], r["serial"]): SerialPlace(*r.values()) for r in rows})
