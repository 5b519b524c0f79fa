"""Facts a decision needs beyond its streams: which command asks what, and where it is read.

Three commands are decided on more than the states of their own streams: defining an item (its
valuation method is fixed once any stock stream of the SKU has events), deactivating a
warehouse (refused while any stock stream there holds stock) and defining a kit (refused when
the SKU has stock events or is a component of another kit). The writer looks the fact up and
hands the domain the command with it filled in (`DefineItem.stocked`,
`DeactivateWarehouse.holding`, `DefineKit.used_in` and `.stocked`). `fact_of` is the one place
that says which command asks for which fact; each fact says how it is read from the store and
from states held in memory.

The ledger reads a fact in the transaction that holds the command's stream locks, and runs such
a command alone, after every job before it committed (write/scheduler.py). Every command that
could change such a fact read-checks (and so locks) the same stream: an item's stock events
follow a receipt, which reads the item; stock into a warehouse reads the warehouse; stock of an
SKU reads its kit stream, and so does a kit naming the SKU as a component. The bulk
ledger reads the fact from the states it keeps (write/bulk.py).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace

from ..domain import commands as c
from ..domain.aggregates import State
from ..domain.kit.state import KitState
from ..domain.stock.state import Levels, StockState
from ..domain.streams import kit_stream, stock_stream
from ..store.event_store import Connection, EventStore


@dataclass(frozen=True, slots=True)
class Stocked:
    """Whether any stock stream of the item's SKU has events."""

    command: c.DefineItem

    def in_states(self, states: Iterable[State]) -> c.Command:
        sku = self.command.sku
        stocked = any(isinstance(s, StockState) and s.sku == sku and s.version for s in states)
        return replace(self.command, stocked=stocked)

    async def in_store(self, store: EventStore, conn: Connection) -> c.Command:
        return replace(self.command, stocked=await store.has_stock(conn, self.command.sku))


@dataclass(frozen=True, slots=True)
class Holding:
    """The stock streams of the warehouse with any bucket other than 0."""

    command: c.DeactivateWarehouse

    def in_states(self, states: Iterable[State]) -> c.Command:
        warehouse_id = self.command.warehouse_id
        holding = tuple(
            stock_stream(s.sku, s.warehouse_id)
            for s in states
            if isinstance(s, StockState) and s.warehouse_id == warehouse_id and s.levels != Levels()
        )
        return replace(self.command, holding=holding)

    async def in_store(self, store: EventStore, conn: Connection) -> c.Command:
        holding = await store.holding(conn, self.command.warehouse_id)
        return replace(self.command, holding=tuple(holding))


@dataclass(frozen=True, slots=True)
class KitUses:
    """The kits that name the SKU among their components, and whether it has stock events."""

    command: c.DefineKit

    def in_states(self, states: Iterable[State]) -> c.Command:
        sku = self.command.sku
        states = list(states)
        used_in = tuple(
            kit_stream(s.sku)
            for s in states
            if isinstance(s, KitState) and any(x.sku == sku for x in s.components)
        )
        stocked = any(isinstance(s, StockState) and s.sku == sku and s.version for s in states)
        return replace(self.command, used_in=used_in, stocked=stocked)

    async def in_store(self, store: EventStore, conn: Connection) -> c.Command:
        sku = self.command.sku
        used_in = tuple(await store.kits_using(conn, sku))
        return replace(self.command, used_in=used_in, stocked=await store.has_stock(conn, sku))


def fact_of(command: c.Command) -> Stocked | Holding | KitUses | None:
    """The fact `command` is decided on beyond its streams (None: it needs none, or carries it)."""
    match command:
        case c.DefineItem(stocked=None):
            return Stocked(command)
        case c.DeactivateWarehouse(holding=None):
            return Holding(command)
        case c.DefineKit(used_in=None) | c.DefineKit(stocked=None):
            return KitUses(command)
    return None


def needs_facts(command: c.Command) -> bool:
    """Commands decided on facts beyond their streams run alone, under their streams' locks."""
    return fact_of(command) is not None
