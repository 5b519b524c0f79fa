"""The catalog's rules in the pure domain: definitions that change only what differs, the
valuation lock, deactivation, and what stock commands an inactive item or warehouse refuses."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest

from stockledger.domain import commands as c
from stockledger.domain.catalog.events import ItemChanged, WarehouseChanged
from stockledger.domain.catalog.state import ItemState, WarehouseState
from stockledger.domain.errors import (
    ItemInactive,
    NotFound,
    UnknownItem,
    UnknownWarehouse,
    ValuationMethodLocked,
    VersionMismatch,
    WarehouseInactive,
    WarehouseNotEmpty,
)
from stockledger.domain.stock.events import Line

from .memory_ledger import T0, MemoryLedger


def receipt(sku: str = "A", wh: str = "W1", qty: int = 5) -> c.ReceiveStock:
    return c.ReceiveStock(sku, wh, qty, "PO", Decimal("1.00"), "S")


def test_a_put_defines_then_changes_only_what_differs_and_nothing_when_equal() -> None:
    ledger = MemoryLedger()
    first = ledger.handle(c.DefineItem("A", "Mug", "blue", "each", "fifo"))
    assert [type(e).__name__ for _, e in first.events] == ["ItemDefined"]
    assert ledger.handle(c.DefineItem("A", "Mug", "blue", "each", "fifo")).events == ()
    changed = ledger.handle(c.DefineItem("A", "Mug", "red", "box", "fifo"))
    assert [e for _, e in changed.events] == [
        ItemChanged("A", description="red", unit_of_measure="box")
    ]
    item = ledger.state("item:A")
    assert isinstance(item, ItemState)
    assert (item.description, item.unit_of_measure, item.version) == ("red", "box", 2)
    with pytest.raises(VersionMismatch):
        ledger.handle(c.DefineItem("A", "Cup", expected_version=1))


def test_the_valuation_method_changes_only_while_the_sku_has_no_stock() -> None:
    ledger = MemoryLedger()
    ledger.handle(c.DefineItem("A", "Tea"))
    moved = ledger.handle(
        c.DefineItem("A", "Tea", valuation_method="moving_average", stocked=False)
    )
    assert [e for _, e in moved.events] == [ItemChanged("A", valuation_method="moving_average")]
    with pytest.raises(ValuationMethodLocked):
        ledger.handle(c.DefineItem("A", "Tea", valuation_method="fifo", stocked=True))
    with pytest.raises(TypeError):  # the write path must have looked the fact up
        ledger.handle(c.DefineItem("A", "Tea", valuation_method="fifo"))
    renamed = ledger.handle(c.DefineItem("A", "Green tea", valuation_method="moving_average"))
    assert [e for _, e in renamed.events] == [ItemChanged("A", name="Green tea")]


def test_an_inactive_item_takes_nothing_in_but_lets_stock_out() -> None:
    ledger = MemoryLedger()
    ledger.handle(receipt(qty=10))  # never defined: implicitly active (v1 clients)
    ledger.handle(c.DefineItem("A", "Lamp"))
    ledger.handle(c.ReserveStock("R1", "O1", (Line("A", "W1", 2),), ledger.now.replace(year=2030)))
    ledger.handle(c.DeactivateItem("A", "discontinued"))
    assert ledger.handle(c.DeactivateItem("A", "again")).events == ()  # already so
    for refused in (
        receipt(),
        c.ReserveStock("R2", "O2", (Line("A", "W1", 1),), ledger.now.replace(year=2030)),
        c.DispatchTransfer("T1", "A", "W1", "W2", 1),
    ):
        with pytest.raises(ItemInactive):
            ledger.handle(refused)
    ledger.handle(c.ShipStock("S1", "O1", "R1"))
    ledger.handle(c.ReturnStock("RT1", "O1", "A", "W1", 1, "defective", "resellable"))
    ledger.handle(c.AdjustStock("A", "W1", -1, "damage"))
    assert ledger.stock("A", "W1").levels.on_hand == 8
    ledger.handle(c.ActivateItem("A"))
    ledger.handle(receipt())
    with pytest.raises(NotFound):
        ledger.handle(c.DeactivateItem("NEVER", "x"))


def test_a_warehouse_closes_only_empty_and_then_takes_nothing_in() -> None:
    ledger = MemoryLedger()
    ledger.handle(c.DefineWarehouse("W2", "North", "1 Quay"))
    changed = ledger.handle(c.DefineWarehouse("W2", "North", "2 Quay"))
    assert [e for _, e in changed.events] == [WarehouseChanged("W2", address="2 Quay")]
    with pytest.raises(WarehouseNotEmpty):
        ledger.handle(c.DeactivateWarehouse("W2", "closing", holding=("stock:A:W2",)))
    ledger.handle(c.DeactivateWarehouse("W2", "closing", holding=()))
    warehouse = ledger.state("warehouse:W2")
    assert isinstance(warehouse, WarehouseState)
    assert not warehouse.active
    ledger.handle(receipt(wh="W1"))
    for refused in (
        receipt(wh="W2"),
        c.DispatchTransfer("T1", "A", "W1", "W2", 1),
        c.ReturnStock("RT1", "O1", "A", "W2", 1, "defective", "resellable"),
    ):
        with pytest.raises(WarehouseInactive):
            ledger.handle(refused)
    disposed = ledger.handle(c.ReturnStock("RT2", "O1", "A", "W2", 1, "defective", "dispose"))
    assert len(disposed.events) == 1  # recorded only: nothing enters the warehouse


def test_a_required_catalog_refuses_places_never_defined_but_not_what_was_accepted() -> None:
    ledger = MemoryLedger()
    ledger.handle(receipt("OLD", "W1", 5))  # before the catalog was required
    held = ledger.handle(
        c.ReserveStock("R1", "O1", (Line("OLD", "W1", 2),), T0 + timedelta(minutes=15))
    )
    assert held.events
    ledger.catalog_required = True
    with pytest.raises(UnknownItem):
        ledger.handle(receipt("NEW", "W1"))
    ledger.handle(c.DefineItem("NEW", "Kettle"))
    with pytest.raises(UnknownWarehouse):
        ledger.handle(receipt("NEW", "W1"))
    ledger.handle(c.DefineWarehouse("W1", "North"))
    assert ledger.handle(receipt("NEW", "W1")).events
    with pytest.raises(UnknownWarehouse):
        ledger.handle(c.DispatchTransfer("T1", "NEW", "W1", "W2", 1))
    assert ledger.handle(c.ReleaseReservation("R1")).events  # goes on with what was accepted
    with pytest.raises(UnknownItem):
        ledger.handle(c.AdjustStock("OLD", "W1", -1, "damage"))
