"""What stock is worth, over random workloads (hypothesis): the value never goes negative, is
conserved to the last digit, FIFO layers stay in receipt order across transfers, a fold from
scratch equals the incremental value, and every cost an event records is the rules' figure."""

from __future__ import annotations

import contextlib
from datetime import timedelta
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from stockledger.domain import commands as c
from stockledger.domain.costing import EMPTY, StockValue, apply, recorded_figures
from stockledger.domain.errors import DomainError
from stockledger.domain.events import Event
from stockledger.domain.stock.events import (
    Line,
    StockAdjusted,
    StockReceived,
    StockReturned,
    StockShipped,
)
from stockledger.domain.stock.state import StockState
from stockledger.domain.transfer.events import TransferDispatched, TransferReceived
from stockledger.domain.valuation import ZERO

from .memory_ledger import MemoryLedger
from .test_invariants import KIT_PARTS, SKUS, WAREHOUSES, commands, define_kit

costs = st.decimals(min_value=Decimal("0.01"), max_value=Decimal("99.99"), places=2)
receipts = st.builds(
    c.ReceiveStock,
    st.sampled_from(SKUS),
    st.sampled_from(WAREHOUSES),
    st.integers(1, 30),
    st.just("PO"),
    costs,
    st.just("S"),
)
gains = st.builds(
    c.AdjustStock,
    st.sampled_from(SKUS),
    st.sampled_from(WAREHOUSES),
    st.integers(1, 5),
    st.just("system_correction"),
    st.none(),
    st.none(),
    st.one_of(st.none(), costs),
)
workload = st.lists(st.one_of(commands, receipts, gains), min_size=10, max_size=60)
opening = st.lists(
    costs, min_size=len(SKUS) * len(WAREHOUSES), max_size=len(SKUS) * len(WAREHOUSES)
)


def _value_in_and_out(stream_id: str, event: Event) -> tuple[Decimal, Decimal]:
    """What an event brought into the ledger's value and took out of it, from the figures it
    recorded (a transfer moves value within the ledger: neither)."""
    _, sku, warehouse = stream_id.split(":")
    match event:
        case StockReceived(quantity=q, unit_cost=unit_cost):
            return unit_cost * q, ZERO
        case StockShipped(lines=lines):
            own = [x.cost for x in lines if (x.sku, x.warehouse_id) == (sku, warehouse)]
            return ZERO, own[0] or ZERO
        case StockReturned(cost=cost, condition=condition):
            assert cost is not None
            return cost, cost if condition == "dispose" else ZERO
        case StockAdjusted(quantity_change=change, cost=cost):
            assert cost is not None
            return (cost, ZERO) if change > 0 else (ZERO, cost)
        case TransferReceived(lost_cost=lost, to_warehouse_id=to) if warehouse == to:
            return ZERO, lost or ZERO
    return ZERO, ZERO


def _check(ledger: MemoryLedger, value_in: Decimal, value_out: Decimal) -> None:
    held = ZERO
    for state in ledger.states.values():
        if not isinstance(state, StockState):
            continue
        on_hand, value = state.value.on_hand, state.value
        assert on_hand.quantity == state.levels.on_hand, state  # Σ layers = onHand
        assert sum(x.quantity for lot in value.in_transit for x in lot.layers) == (
            state.levels.in_transit
        )
        assert all(x.quantity > 0 and x.value >= 0 for x in on_hand.layers), on_hand
        assert on_hand.value >= 0
        assert value.damaged >= 0
        assert (on_hand.value == 0) or on_hand.quantity > 0  # an empty stream is worth nothing
        if on_hand.method == "fifo":  # oldest first, across transfers too
            times = [x.received_at for x in on_hand.layers if x.received_at is not None]
            assert times == sorted(times)
        held += on_hand.value + value.in_transit_value + value.damaged
    assert value_in == value_out + held  # conservation, exactly


@settings(max_examples=200, deadline=None)
@given(workload, st.booleans())
def test_value_is_conserved_and_never_negative(script: list[object], average: bool) -> None:
    ledger = MemoryLedger()
    ledger.handle(c.DefineItem("B", "B", valuation_method="moving_average" if average else "fifo"))
    ledger.handle(define_kit(ledger, KIT_PARTS[0]))
    value_in = value_out = ZERO
    for step in script:
        match step:
            case ("tick", seconds):
                ledger.tick(float(seconds))  # type: ignore[arg-type]
                continue
            case ("retry",):
                continue
            case ("kit", parts):
                command = define_kit(ledger, parts)  # type: ignore[arg-type]
            case ("reserve", rid, lines, ttl):
                command = c.ReserveStock(rid, "O", lines, ledger.now + timedelta(seconds=ttl))  # type: ignore[arg-type]
            case _:
                command = step  # type: ignore[assignment]
        before = len(ledger.log)
        with contextlib.suppress(DomainError):
            ledger.handle(command)
        for stream_id, event, _ in ledger.log[before:]:
            if stream_id.startswith("stock:"):
                brought, took = _value_in_and_out(stream_id, event)
                value_in, value_out = value_in + brought, value_out + took
        _check(ledger, value_in, value_out)
    assert ledger.refold() == ledger.states  # a fold from scratch == the incremental value
    _recorded_costs_are_the_rules(ledger)


def _recorded_costs_are_the_rules(ledger: MemoryLedger) -> None:
    values: dict[str, StockValue] = {}
    for stream_id, event, at in ledger.log:
        if not stream_id.startswith("stock:"):
            continue
        _, sku, warehouse = stream_id.split(":")
        value, move = apply(values.get(stream_id, EMPTY), sku, warehouse, event, at)
        values[stream_id] = value
        figures = recorded_figures(event, sku, warehouse)
        if "cost" in figures:
            assert figures["cost"] == move.cost, (event, move)
        if isinstance(event, TransferDispatched) and warehouse == event.from_warehouse_id:
            assert event.layers == move.layers


def test_the_worked_examples_of_the_contract() -> None:
    ledger = MemoryLedger()
    ledger.handle(c.ReceiveStock("F", "W", 10, "PO", Decimal("2.00"), "S"))
    ledger.handle(c.ReceiveStock("F", "W", 10, "PO", Decimal("3.00"), "S"))
    ledger.handle(c.ShipStock("S1", "O1", None, (Line("F", "W", 15),)))
    shipped = ledger.log[-1][1]
    assert isinstance(shipped, StockShipped)
    assert shipped.lines[0].cost == Decimal("35.00")
    assert ledger.stock("F", "W").value.on_hand.value == Decimal("15.00")

    ledger.handle(c.DefineItem("M", "M", valuation_method="moving_average"))
    ledger.handle(c.ReceiveStock("M", "W", 10, "PO", Decimal("2"), "S"))
    ledger.handle(c.ReceiveStock("M", "W", 10, "PO", Decimal("4"), "S"))
    ledger.handle(c.ShipStock("S2", "O2", None, (Line("M", "W", 5),)))
    shipped = ledger.log[-1][1]
    assert isinstance(shipped, StockShipped)
    assert shipped.lines[0].cost == Decimal("15.00")
    assert ledger.stock("M", "W").value.on_hand.value == Decimal("45.00")
