"""How the writer treats the catalog streams a stock command only reads.

A stock command reads items, warehouses and reorder rules beside the stock it moves (is the
item active? is the warehouse? the rule of this stock stream?). Those streams are version-
checked in the batch's append (write/batch.py), so a catalog change that commits first turns
the batch into a conflict and a retry. They are locked shared (`only_read`): batches that read
one item or warehouse do not wait on each other, only on a batch that writes it. For the same
reason the scheduler leaves them out of a job's footprint unless the job writes them
(write/scheduler.py).

A refusal on a cached item or warehouse (unknown, inactive: `CATALOG_REFUSALS`) appends
nothing, so no version check would tell that another process has since defined or activated
it: the batch is decided again on the store's state (`StaleCatalog`, write/batch_writer.py).
So is a reservation short on an SKU that, as cached, is no kit and never had stock: another
process may have made it a kit since (`stale_kit`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from ..domain import commands as c
from ..domain.aggregates import State
from ..domain.errors import (
    DomainError,
    InsufficientStock,
    ItemInactive,
    UnitCostRequired,
    UnknownItem,
    UnknownWarehouse,
    WarehouseInactive,
)
from ..domain.streams import category, kit_stream, stock_stream

# Streams that stock commands read beside the stock they move (items, warehouses, reorder rules,
# kits): locked shared and left out of the pipelining footprint unless a command of theirs
# writes them.
READ_CHECKED = frozenset({"item", "warehouse", "reorder", "kit"})
# A receipt refused for want of a unitCost was decided on a purchase order it only read, which
# another process may have placed since: decided again on the store's state too.
CATALOG_REFUSALS = (
    UnknownItem,
    UnknownWarehouse,
    ItemInactive,
    WarehouseInactive,
    UnitCostRequired,
)
CACHED_CATALOG = ("item", "warehouse", "kit", "po")  # what a stale refusal drops from the cache


class StaleCatalog(Exception):
    """A cached catalog state refused a command: decide the batch again on the store's."""


def writes_catalog(command: c.Command) -> bool:
    primary = c.primary_streams(command)  # empty for a shipment naming nothing (refused)
    return bool(primary) and category(primary[0]) in READ_CHECKED


def only_read(commands: Iterable[c.Command], streams: Iterable[str]) -> list[str]:
    """The catalog streams among `streams` that none of `commands` writes (locked shared)."""
    written = {c.primary_streams(command)[0] for command in commands if writes_catalog(command)}
    return [s for s in streams if category(s) in READ_CHECKED and s not in written]


def stale_kit(error: DomainError | None, states: Mapping[str, State]) -> bool:
    """A reservation refused as short on a line whose SKU is, as cached, no kit and whose
    stock stream never had an event: a kit defined by another process since would have
    reserved its components instead."""
    if not isinstance(error, InsufficientStock):
        return False
    for line in error.lines:
        kit = states.get(kit_stream(line.sku))
        stock = states.get(stock_stream(line.sku, line.warehouse_id))
        if kit is not None and not kit.version and (stock is None or not stock.version):
            return True
    return False
