"""Purchase orders, incoming stock and quality control, on the pure domain: one behaviour per
test, and a property test holding `incoming` to the open lines of the order streams."""

from __future__ import annotations

from collections import Counter
from datetime import date
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stockledger.domain import commands as c
from stockledger.domain.errors import (
    InsufficientQualityControl,
    InsufficientStock,
    InvalidCommand,
    LedgerConflict,
    NotFound,
    PurchaseOrderClosed,
    PurchaseOrderExists,
    UnitCostRequired,
)
from stockledger.domain.purchase_order.events import (
    NewDate,
    OrderedLine,
    PurchaseOrderCancelled,
    PurchaseOrderPlaced,
    PurchaseOrderReceived,
)
from stockledger.domain.purchase_order.state import PurchaseOrderState, PurchaseOrderStatus
from stockledger.domain.reorder.state import ReorderState
from stockledger.domain.stock.events import StockReceived
from stockledger.domain.stock.state import Levels, StockState

from .memory_ledger import MemoryLedger

DAY = date(2026, 1, 10)


def line(sku: str, wh: str, qty: int, cost: str = "4.00", on: date = DAY) -> OrderedLine:
    return OrderedLine(sku, wh, qty, Decimal(cost), on)


def place(ledger: MemoryLedger, po: str, *lines: OrderedLine, supplier: str = "Acme") -> None:
    ledger.handle(c.PlacePurchaseOrder(po, supplier, lines))


def receive(
    ledger: MemoryLedger,
    sku: str,
    wh: str,
    qty: int,
    po: str = "PO-1",
    cost: str | None = None,
    inspect: bool = False,
    receipt_id: str | None = None,
) -> None:
    unit = Decimal(cost) if cost is not None else None
    ledger.handle(c.ReceiveStock(sku, wh, qty, po, unit, "Acme", receipt_id, inspect))


def order(ledger: MemoryLedger, po: str) -> PurchaseOrderState:
    state = ledger.state(f"po:{po}")
    assert isinstance(state, PurchaseOrderState)
    return state


def test_placing_an_order_expects_every_line_on_its_stock_stream() -> None:
    ledger = MemoryLedger()
    place(ledger, "PO-1", line("SKU-1", "WH-A", 40), line("SKU-1", "WH-B", 10))
    assert ledger.stock("SKU-1", "WH-A").levels == Levels(incoming=40)
    assert ledger.stock("SKU-1", "WH-B").levels == Levels(incoming=10)
    assert order(ledger, "PO-1").status is PurchaseOrderStatus.OPEN
    assert [s for s, _, _ in ledger.log] == ["po:PO-1", "stock:SKU-1:WH-A", "stock:SKU-1:WH-B"]


def test_the_same_order_again_appends_nothing_and_another_body_is_refused() -> None:
    ledger = MemoryLedger()
    place(ledger, "PO-1", line("SKU-1", "WH-A", 40))
    decision = ledger.handle(c.PlacePurchaseOrder("PO-1", "Acme", (line("SKU-1", "WH-A", 40),)))
    assert decision.events == ()
    assert decision.already is not None
    with pytest.raises(PurchaseOrderExists):
        place(ledger, "PO-1", line("SKU-1", "WH-A", 41))
    assert ledger.stock("SKU-1", "WH-A").levels.incoming == 40


@pytest.mark.parametrize("qty", [0, -3])
def test_a_line_without_a_positive_quantity_is_refused(qty: int) -> None:
    ledger = MemoryLedger()
    with pytest.raises(InvalidCommand):
        place(ledger, "PO-1", line("SKU-1", "WH-A", 5), line("SKU-2", "WH-A", qty))
    assert ledger.log == []


def test_two_lines_for_one_place_are_refused() -> None:
    ledger = MemoryLedger()
    with pytest.raises(InvalidCommand):
        place(ledger, "PO-1", line("SKU-1", "WH-A", 5), line("SKU-1", "WH-A", 2))
    assert ledger.log == []


def test_partial_then_over_receipt_lowers_incoming_never_below_zero() -> None:
    ledger = MemoryLedger()
    place(ledger, "PO-1", line("SKU-1", "WH-A", 10, "3.25"))
    receive(ledger, "SKU-1", "WH-A", 4)
    assert ledger.stock("SKU-1", "WH-A").levels == Levels(on_hand=4, incoming=6)
    assert order(ledger, "PO-1").status is PurchaseOrderStatus.PARTIALLY_RECEIVED
    receive(ledger, "SKU-1", "WH-A", 9)
    assert ledger.stock("SKU-1", "WH-A").levels == Levels(on_hand=13, incoming=0)
    receipts = [e for s, e, _ in ledger.log if isinstance(e, StockReceived)]
    assert [(e.expected, e.over_received) for e in receipts] == [(4, 0), (6, 3)]
    assert all(e.unit_cost == Decimal("3.25") for e in receipts)  # the line's, by default
    assert order(ledger, "PO-1").status is PurchaseOrderStatus.RECEIVED
    assert order(ledger, "PO-1").lines[0].over_received == 3


def test_a_receipt_naming_no_line_needs_its_unit_cost() -> None:
    ledger = MemoryLedger()
    with pytest.raises(UnitCostRequired):
        receive(ledger, "SKU-1", "WH-A", 4, po="PO-NONE")
    receive(ledger, "SKU-1", "WH-A", 4, po="PO-NONE", cost="1.00")
    assert ledger.stock("SKU-1", "WH-A").levels == Levels(on_hand=4)


def test_cancelling_releases_what_is_open_and_a_received_order_is_closed() -> None:
    ledger = MemoryLedger()
    place(ledger, "PO-1", line("SKU-1", "WH-A", 10), line("SKU-2", "WH-A", 5))
    receive(ledger, "SKU-1", "WH-A", 10)
    ledger.handle(c.CancelPurchaseOrder("PO-1", "supplier out of stock"))
    assert ledger.stock("SKU-2", "WH-A").levels.incoming == 0
    assert ledger.stock("SKU-1", "WH-A").levels == Levels(on_hand=10)
    assert order(ledger, "PO-1").status is PurchaseOrderStatus.CANCELLED
    with pytest.raises(PurchaseOrderClosed):
        ledger.handle(c.ReschedulePurchaseOrder("PO-1", (NewDate("SKU-1", "WH-A", DAY),)))

    place(ledger, "PO-2", line("SKU-1", "WH-A", 3))
    receive(ledger, "SKU-1", "WH-A", 3, po="PO-2")
    count = len(ledger.log)
    with pytest.raises(PurchaseOrderClosed):
        ledger.handle(c.CancelPurchaseOrder("PO-2", "too late"))
    assert len(ledger.log) == count
    with pytest.raises(NotFound):
        ledger.handle(c.CancelPurchaseOrder("PO-NONE", "never placed"))


def test_reschedule_moves_a_line_and_names_only_its_lines() -> None:
    ledger = MemoryLedger()
    place(ledger, "PO-1", line("SKU-1", "WH-A", 10))
    later = date(2026, 2, 1)
    ledger.handle(c.ReschedulePurchaseOrder("PO-1", (NewDate("SKU-1", "WH-A", later),)))
    assert order(ledger, "PO-1").lines[0].expected_on == later
    with pytest.raises(LedgerConflict):
        ledger.handle(c.ReschedulePurchaseOrder("PO-1", (NewDate("SKU-9", "WH-A", later),)))


def test_inspected_receipts_wait_in_quality_control_then_release_or_go_to_damaged() -> None:
    ledger = MemoryLedger()
    receive(ledger, "SKU-1", "WH-A", 10, po="PO-X", cost="2.00", inspect=True)
    levels = ledger.stock("SKU-1", "WH-A").levels
    assert levels == Levels(on_hand=10, quality_control=10)
    assert levels.available == 0
    with pytest.raises(InsufficientStock):  # not available while in quality control
        ledger.handle(c.AdjustStock("SKU-1", "WH-A", -1, "damage"))
    ledger.handle(c.InspectStock("I-1", "SKU-1", "WH-A", accepted=7, rejected=2))
    ledger.handle(c.InspectStock("I-1", "SKU-1", "WH-A", accepted=7, rejected=2))  # counts once
    levels = ledger.stock("SKU-1", "WH-A").levels
    assert levels == Levels(on_hand=8, damaged=2, quality_control=1)
    assert levels.available == 7
    state = ledger.stock("SKU-1", "WH-A")
    assert state.value.damaged == Decimal("4.00")
    count = len(ledger.log)
    with pytest.raises(InsufficientQualityControl):
        ledger.handle(c.InspectStock("I-2", "SKU-1", "WH-A", accepted=2, rejected=0))
    assert len(ledger.log) == count


def test_incoming_moves_the_reorder_projection_and_alerts_cross_once() -> None:
    ledger = MemoryLedger()
    receive(ledger, "SKU-1", "WH-A", 3, po="PO-0", cost="1.00")
    ledger.handle(c.SetReorderRule("SKU-1", "WH-A", 5, 20, 0))
    rule = ledger.state("reorder:SKU-1:WH-A")
    assert isinstance(rule, ReorderState)
    assert rule.alert_id is not None
    place(ledger, "PO-1", line("SKU-1", "WH-A", 20))  # projected 23: closes
    rule = ledger.state("reorder:SKU-1:WH-A")
    assert isinstance(rule, ReorderState)
    assert rule.alert_id is None
    ledger.handle(c.CancelPurchaseOrder("PO-1", "changed our minds"))  # projected 3: opens again
    rule = ledger.state("reorder:SKU-1:WH-A")
    assert isinstance(rule, ReorderState)
    assert rule.alert_id is not None
    types = [e.TYPE for s, e, _ in ledger.log if s == "reorder:SKU-1:WH-A"]
    assert types == [
        "ReorderRuleSet", "LowStockDetected", "LowStockResolved", "LowStockDetected"
    ]  # fmt: skip


# -- the property: incoming = Σ open lines, at every version ------------------------------------

SKUS, WHS = ("S1", "S2"), ("W1", "W2")
places = st.tuples(st.sampled_from(SKUS), st.sampled_from(WHS))
steps = st.one_of(
    st.tuples(
        st.just("place"),
        st.sampled_from(("P1", "P2", "P3")),
        st.lists(
            st.tuples(places, st.integers(1, 30)), min_size=1, max_size=4, unique_by=lambda x: x[0]
        ),
    ),
    st.tuples(st.just("receive"), st.sampled_from(("P1", "P2", "P3")), places, st.integers(1, 40)),
    st.tuples(st.just("cancel"), st.sampled_from(("P1", "P2", "P3"))),
)


def open_lines_oracle(ledger: MemoryLedger) -> Counter[str]:
    """Σ open quantities per stock stream, read from the order streams' events alone."""
    ordered: dict[tuple[str, str, str], int] = {}
    cancelled: set[str] = set()
    for stream, event, _ in ledger.log:
        if not stream.startswith("po:"):
            continue
        po = stream.removeprefix("po:")
        match event:
            case PurchaseOrderPlaced(lines=lines):
                for x in lines:
                    ordered[(po, x.sku, x.warehouse_id)] = x.quantity
            case PurchaseOrderReceived(sku=sku, warehouse_id=wh, quantity=q):
                ordered[(po, sku, wh)] -= q
            case PurchaseOrderCancelled():
                cancelled.add(po)
    out: Counter[str] = Counter()
    for (po, sku, wh), left in ordered.items():
        if po not in cancelled:
            out[f"stock:{sku}:{wh}"] += left
    return out


@settings(max_examples=60, deadline=None)
@given(st.lists(steps, max_size=25))
def test_incoming_is_the_sum_of_open_lines_at_every_step(script: list[tuple[object, ...]]) -> None:
    ledger = MemoryLedger()
    for step in script:
        try:
            match step:
                case ("place", po, lines):
                    ordered = tuple(line(s, w, q) for (s, w), q in lines)  # type: ignore[attr-defined]
                    place(ledger, str(po), *ordered)
                case ("receive", po, (sku, wh), qty):
                    receive(ledger, str(sku), str(wh), int(qty), po=str(po), cost="1.00")  # type: ignore[call-overload]
                case ("cancel", po):
                    ledger.handle(c.CancelPurchaseOrder(str(po), "random"))
        except (PurchaseOrderExists, PurchaseOrderClosed, NotFound):
            pass
        oracle = open_lines_oracle(ledger)
        for stream_id, state in ledger.states.items():
            if isinstance(state, StockState):
                assert state.levels.incoming == oracle[stream_id], stream_id
                assert state.levels.is_valid()
    assert ledger.refold() == ledger.states
