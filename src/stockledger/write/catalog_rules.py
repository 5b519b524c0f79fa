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
"""

from __future__ import annotations

from collections.abc import Iterable

from ..domain import commands as c
from ..domain.errors import (
    ItemInactive,
    UnitCostRequired,
    UnknownItem,
    UnknownWarehouse,
    WarehouseInactive,
)
from ..domain.streams import category

# Streams that stock commands read beside the stock they move (items, warehouses, reorder rules):
# locked shared and left out of the pipelining footprint unless a command of theirs writes them.
READ_CHECKED = frozenset({"item", "warehouse", "reorder"})
# A receipt refused for want of a unitCost was decided on a purchase order it only read, which
# another process may have placed since: decided again on the store's state too.
CATALOG_REFUSALS = (
    UnknownItem,
    UnknownWarehouse,
    ItemInactive,
    WarehouseInactive,
    UnitCostRequired,
)
CACHED_CATALOG = ("item", "warehouse", "po")  # the categories a stale refusal drops from the cache


class StaleCatalog(Exception):
    """A cached catalog state refused a command: decide the batch again on the store's."""


def writes_catalog(command: c.Command) -> bool:
    primary = c.primary_streams(command)  # empty for a shipment naming nothing (refused)
    return bool(primary) and category(primary[0]) in READ_CHECKED


def only_read(commands: Iterable[c.Command], streams: Iterable[str]) -> list[str]:
    """The catalog streams among `streams` that none of `commands` writes (locked shared)."""
    written = {c.primary_streams(command)[0] for command in commands if writes_catalog(command)}
    return [s for s in streams if category(s) in READ_CHECKED and s not in written]
