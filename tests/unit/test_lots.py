"""Lot-tracked stock, decided by the pure domain: FEFO against an oracle, the lots always
summing to the stream's levels, returns bounded by what shipped on the order (hypothesis)."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from typing import Any
from uuid import uuid4

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stockledger.domain import commands as c
from stockledger.domain.errors import (
    DomainError,
    InsufficientQualityControl,
    InsufficientStock,
    LotExpiryMismatch,
    LotRequired,
    NotShippedOnOrder,
    TrackingLocked,
)
from stockledger.domain.events import SCHEMA_VERSIONS, to_data
from stockledger.domain.reservation.events import StockReserved
from stockledger.domain.stock.events import Line, LotExpired, LotQuantity
from stockledger.domain.stock.lots import Lot, LotBook
from stockledger.domain.stock.state import StockState
from stockledger.read.recall import accounted, lot_trail
from stockledger.store.rows import RecordedEvent
from stockledger.write.tracked_events import lot_unit, units

from .memory_ledger import T0, MemoryLedger

SKU = "CHEESE"
WAREHOUSES = ("W1", "W2")
# Each lot has one expiry date (a supplier's lot), relative to the ledger's first day.
EXPIRY = {"A": 2, "B": 5, "C": None, "D": 9, "E": 5}


def expires(lot: str) -> date | None:
    days = EXPIRY[lot]
    return None if days is None else T0.date() + timedelta(days=days)


def lot_ledger() -> MemoryLedger:
    ledger = MemoryLedger()
    ledger.handle(c.DefineItem(SKU, "Cheese", tracking="lot"))
    return ledger


def receive(ledger: MemoryLedger, wh: str, quantity: int, lot: str) -> None:
    ledger.handle(
        c.ReceiveStock(
            SKU, wh, quantity, "PO", Decimal("2"), "S", lot_id=lot, expires_on=expires(lot)
        )
    )


def fefo_oracle(
    lots: tuple[Lot, ...], quantity: int, today: date, lot_id: str | None, minimum: date | None
) -> list[tuple[str, int]] | None:
    """What FEFO must allocate, written from the rule: usable lots by (expiry, no expiry last,
    first receipt, and the lot id when received at the same instant), each emptied before the
    next."""
    usable = [
        x
        for x in lots
        if x.on_hand - x.reserved > 0
        and (x.expires_on is None or x.expires_on > today)
        and (lot_id is None or x.lot_id == lot_id)
        and (minimum is None or x.expires_on is None or x.expires_on >= minimum)
    ]
    usable.sort(key=lambda x: (x.expires_on or date(9999, 12, 31), x.first_received_at, x.lot_id))
    usable.sort(key=lambda x: x.expires_on is None)  # stable: no expiry last
    taken, left = [], quantity
    for x in usable:
        if left == 0:
            break
        q = min(left, x.on_hand - x.reserved)
        taken.append((x.lot_id, q))
        left -= q
    return None if left else taken


def check(ledger: MemoryLedger) -> None:
    refolded = ledger.refold()
    for stream_id, state in ledger.states.items():
        assert refolded[stream_id] == state, stream_id  # the fold of every event, from scratch
        if not isinstance(state, StockState):
            continue
        lots = state.lots.lots if state.lots else ()
        assert sum(x.on_hand for x in lots) == state.levels.on_hand, state
        assert sum(x.reserved for x in lots) == state.levels.reserved, state
        assert sum(x.expired for x in lots) == state.levels.expired, state
        assert sum(x.quality_control for x in lots) == state.levels.quality_control, state
        for x in lots:
            assert 0 <= x.reserved <= x.on_hand, x
            assert x.expired >= 0, x
            assert x.on_hand or x.reserved or x.expired  # lots holding nothing are dropped
        assert len({x.lot_id for x in lots}) == len(lots)


lot = st.sampled_from(sorted(EXPIRY))
wh = st.sampled_from(WAREHOUSES)
qty = st.integers(1, 6)
rid = st.sampled_from(["R1", "R2", "R3"])
order = st.sampled_from(["O1", "O2"])
steps = st.one_of(
    st.tuples(st.just("receive"), wh, st.integers(1, 12), lot),
    st.tuples(
        st.just("reserve"),
        rid,
        order,
        wh,
        qty,
        st.one_of(st.none(), lot),
        st.one_of(st.none(), st.integers(0, 10)),
    ),
    st.tuples(st.just("release"), rid),
    st.tuples(st.just("ship"), rid, st.one_of(st.none(), st.integers(0, 6))),
    st.tuples(st.just("ship_direct"), order, wh, qty),
    st.tuples(st.just("return"), order, wh, lot, qty, st.sampled_from(["resellable", "damaged"])),
    st.tuples(st.just("adjust"), wh, lot, st.integers(-5, 5).filter(bool)),
    st.tuples(st.just("count"), wh, lot, st.integers(0, 8)),
    st.tuples(st.just("transfer"), wh, qty, st.one_of(st.none(), lot), st.integers(0, 6)),
    st.tuples(st.just("tick"), st.integers(1, 3)),
    st.tuples(st.just("expire"), wh, lot),
    st.tuples(st.just("write_off"), wh, lot, qty),
)


def run(ledger: MemoryLedger, step: tuple[Any, ...], n: int) -> None:
    match step:
        case ("receive", w, q, lot_id):
            receive(ledger, w, q, lot_id)
        case ("reserve", r, o, w, q, lot_id, min_days):
            minimum = None if min_days is None else T0.date() + timedelta(days=min_days)
            line = c.LotLine(SKU, w, q, lot_id, minimum)
            stock = ledger.stock(SKU, w)
            lots = stock.lots.lots if stock.lots else ()
            expected = fefo_oracle(lots, q, ledger.now.date(), lot_id, minimum)
            command = c.ReserveStock(f"{r}-{n}", o, (line,), ledger.now + timedelta(days=30))
            try:
                decision = ledger.handle(command)
            except InsufficientStock:
                assert expected is None or q > stock.levels.available
                return
            assert expected is not None
            [(_, on_stock)] = [(s, e) for s, e in decision.events if s.startswith("stock:")]
            assert isinstance(on_stock, StockReserved)
            given_lots = on_stock.lines[0].lots or ()
            assert [(x.lot_id, x.quantity) for x in given_lots] == expected
            ledger.last_reservation = command.reservation_id  # type: ignore[attr-defined]
        case ("release", _):
            if held := getattr(ledger, "last_reservation", None):
                ledger.handle(c.ReleaseReservation(held))
        case ("ship", _, quantity):
            if held := getattr(ledger, "last_reservation", None):
                res = ledger.state(f"reservation:{held}")
                lines = None
                if quantity is not None and res.lines:  # type: ignore[union-attr]
                    first: Any = res.lines[0]  # type: ignore[union-attr]
                    lines = (Line(first.sku, first.warehouse_id, min(quantity, first.quantity)),)
                ledger.handle(c.ShipStock(f"S-{n}", res.order_id, held, lines))  # type: ignore[union-attr]
        case ("ship_direct", o, w, q):
            ledger.handle(c.ShipStock(f"S-{n}", o, None, (Line(SKU, w, q),)))
        case ("return", o, w, lot_id, q, condition):
            back = c.ReturnStock(f"RT-{n}", o, SKU, w, q, "defective", condition, lot_id)
            stock = ledger.stock(SKU, w)
            sent = stock.lots.shipped_on(o, lot_id) if stock.lots else None
            if (sent.quantity if sent else 0) < q:
                before = len(ledger.log)
                with pytest.raises(NotShippedOnOrder):
                    ledger.handle(back)
                assert len(ledger.log) == before
                return
            ledger.handle(back)
        case ("adjust", w, lot_id, change):
            ledger.handle(c.AdjustStock(SKU, w, change, "damage", "x", None, None, lot_id))
        case ("count", w, lot_id, counted):
            ledger.handle(c.CountStock(SKU, w, counted, None, None, lot_id))
        case ("transfer", w, q, lot_id, received):
            other = WAREHOUSES[1 - WAREHOUSES.index(w)]
            ledger.handle(c.DispatchTransfer(f"T-{n}", SKU, w, other, q, lot_id))
            ledger.handle(c.ReceiveTransfer(f"T-{n}", min(received, q)))
        case ("tick", days):
            ledger.tick(days * 86400.0)
        case ("expire", w, lot_id):
            ledger.handle(c.ExpireLot(SKU, w, lot_id))
        case ("write_off", w, lot_id, q):
            ledger.handle(c.AdjustStock(SKU, w, -q, "expiry", "binned", None, None, lot_id))


@settings(max_examples=200, deadline=None)
@given(st.lists(steps, min_size=1, max_size=50))
def test_random_lot_workloads_keep_the_lots_equal_to_the_levels_and_fefo_exact(
    script: list[tuple[Any, ...]],
) -> None:
    ledger = lot_ledger()
    for n, step in enumerate(script):
        before = len(ledger.log)
        try:
            run(ledger, step, n)
        except DomainError:
            assert len(ledger.log) == before  # a refusal appends nothing
        check(ledger)
    check_recalls(ledger)


def check_recalls(ledger: MemoryLedger) -> None:
    """Each lot's recall, from the events that name it (what tracked_events indexes), accounts
    for every unit: what its movements leave is what the streams hold of it now."""
    versions: dict[str, int] = {}
    recorded: list[tuple[RecordedEvent, Any]] = []
    for n, (stream_id, event, at) in enumerate(ledger.log):
        versions[stream_id] = versions.get(stream_id, 0) + 1
        data = to_data(event)
        row = RecordedEvent(
            n, uuid4(), stream_id, versions[stream_id], event.TYPE,
            SCHEMA_VERSIONS[event.TYPE], data, {}, at,
        )  # fmt: skip
        recorded.append((row, event))
    for lot_id in EXPIRY:
        events = [
            row
            for row, event in recorded
            if row.stream_id.startswith("stock:") and (SKU, lot_unit(lot_id)) in units(event)
        ]
        trail = lot_trail(SKU, lot_id, events)
        held = 0
        for wh in WAREHOUSES:
            book = ledger.stock(SKU, wh).lots
            found = book.lot(lot_id) if book else None
            held += found.on_hand + found.expired if found else 0
        assert accounted(trail) == held + sum(trail.in_transit.values()), lot_id


def test_fefo_takes_the_earliest_expiry_then_the_first_receipt_and_no_expiry_last() -> None:
    ledger = lot_ledger()
    receive(ledger, "W1", 3, "C")  # no expiry
    ledger.tick(60)
    receive(ledger, "W1", 2, "E")  # expires on day 5, received after B
    receive(ledger, "W1", 2, "D")
    ledger.tick(60)
    receive(ledger, "W1", 2, "B")  # day 5 too, received later than E
    decision = ledger.handle(
        c.ReserveStock("R", "O", (Line(SKU, "W1", 8),), ledger.now + timedelta(hours=1))
    )
    reserved = decision.events[1][1]
    assert isinstance(reserved, StockReserved)
    assert reserved.lines[0].lots == (
        LotQuantity("E", 2, expires("E")),
        LotQuantity("B", 2, expires("B")),
        LotQuantity("D", 2, expires("D")),
        LotQuantity("C", 2, None),
    )


def test_a_lot_expiring_today_is_no_longer_allocated() -> None:
    ledger = lot_ledger()
    receive(ledger, "W1", 4, "A")  # expires on day 2
    ledger.tick(2 * 86400)
    with pytest.raises(InsufficientStock):
        ledger.handle(
            c.ReserveStock("R", "O", (Line(SKU, "W1", 1),), ledger.now + timedelta(hours=1))
        )


def test_lot_rules_refuse_what_would_lose_track() -> None:
    ledger = lot_ledger()
    with pytest.raises(LotRequired):
        ledger.handle(c.ReceiveStock(SKU, "W1", 1, "PO", Decimal(1), "S"))
    receive(ledger, "W1", 4, "A")
    with pytest.raises(LotExpiryMismatch):
        ledger.handle(c.ReceiveStock(SKU, "W1", 1, "PO", Decimal(1), "S", lot_id="A"))
    with pytest.raises(TrackingLocked):
        ledger.handle(c.DefineItem(SKU, "Cheese", stocked=True, tracking="none"))
    with pytest.raises(LotRequired):
        ledger.handle(c.AdjustStock(SKU, "W1", -1, "damage"))


def test_the_random_workloads_reach_every_lot_rule() -> None:
    """The property above is not vacuous: a plain script allocates, ships, returns and moves
    lots, and checks hold after each step."""
    ledger = lot_ledger()
    script: list[tuple[Any, ...]] = [
        ("receive", "W1", 6, "B"),
        ("receive", "W1", 4, "A"),
        ("reserve", "R1", "O1", "W1", 5, None, None),
        ("ship", "R1", None),
        ("return", "O1", "W1", "A", 2, "resellable"),
        ("transfer", "W1", 3, None, 2),
        ("count", "W2", "B", 1),
        ("tick", 3),
        ("reserve", "R2", "O2", "W1", 2, None, None),
    ]
    for n, step in enumerate(script):
        run(ledger, step, n)
        check(ledger)
    w1, w2 = ledger.stock(SKU, "W1"), ledger.stock(SKU, "W2")
    assert w1.lots is not None
    assert w2.lots is not None
    # A (day 2) went first everywhere: 4 reserved and shipped, 2 back, both transferred out
    assert [(x.lot_id, x.on_hand, x.reserved) for x in w1.lots.lots] == [("B", 4, 2)]
    assert [(x.lot_id, x.on_hand) for x in w2.lots.lots] == [("A", 2), ("B", 1)]
    check_recalls(ledger)  # one unit of A was lost in transit: the recall still balances


def test_from_its_date_a_lot_expires_its_unreserved_units_and_reserved_ones_stay() -> None:
    ledger = lot_ledger()
    receive(ledger, "W1", 5, "A")  # expires on day 2
    ledger.handle(c.ReserveStock("R", "O", (Line(SKU, "W1", 2),), ledger.now + timedelta(days=9)))
    assert not ledger.handle(c.ExpireLot(SKU, "W1", "A")).events  # not yet
    ledger.tick(2 * 86400)
    decision = ledger.handle(c.ExpireLot(SKU, "W1", "A"))
    [(_, expired)] = decision.events
    assert isinstance(expired, LotExpired)
    assert expired.quantity == 3
    stock = ledger.stock(SKU, "W1")
    assert (stock.levels.on_hand, stock.levels.reserved, stock.levels.expired) == (2, 2, 3)
    assert not ledger.handle(c.ExpireLot(SKU, "W1", "A")).events  # nothing left to expire
    ledger.handle(c.ReleaseReservation("R"))  # released units of an expired lot expire too
    assert ledger.handle(c.ExpireLot(SKU, "W1", "A")).events
    ledger.handle(c.AdjustStock(SKU, "W1", -5, "expiry", "binned", None, None, "A"))
    stock = ledger.stock(SKU, "W1")
    assert (stock.levels.on_hand, stock.levels.expired, stock.lots) == (0, 0, LotBook())
    check(ledger)


def test_an_inspection_of_a_lot_rejects_units_out_of_that_lot() -> None:
    """Quality control on a lot-tracked item, per lot: FEFO passes over units awaiting
    inspection, the inspection names the lot (422 without) and releases only what that lot holds
    in quality control, its rejected units leave the lot as they leave onHand, and the lots keep
    summing to the levels."""
    ledger = lot_ledger()
    receipt = c.ReceiveStock(
        SKU, "W1", 6, "PO", Decimal("2"), "S", inspect=True, lot_id="A", expires_on=expires("A")
    )
    ledger.handle(receipt)
    receive(ledger, "W1", 2, "B")
    with pytest.raises(LotRequired):
        ledger.handle(c.InspectStock("I-1", SKU, "W1", accepted=4, rejected=2))
    with pytest.raises(InsufficientQualityControl):  # B's units were not held for inspection
        ledger.handle(c.InspectStock("I-1", SKU, "W1", accepted=0, rejected=1, lot_id="B"))
    # FEFO passes over what waits in quality control: A expires first, but only B is available
    ledger.handle(c.ReserveStock("R1", "O1", (Line(SKU, "W1", 2),), T0 + timedelta(days=1)))
    reserved: Any = ledger.state("reservation:R1").lines  # type: ignore[union-attr]
    assert [x.lots for x in reserved] == [(LotQuantity("B", 2, expires("B")),)]
    with pytest.raises(InsufficientStock):
        ledger.handle(c.ReserveStock("R2", "O2", (Line(SKU, "W1", 1),), T0 + timedelta(days=1)))
    ledger.handle(c.InspectStock("I-1", SKU, "W1", accepted=4, rejected=2, lot_id="A"))
    levels = ledger.stock(SKU, "W1").levels
    assert (levels.on_hand, levels.damaged, levels.quality_control) == (6, 2, 0)
    lots = ledger.stock(SKU, "W1").lots
    assert lots is not None
    assert [(x.lot_id, x.on_hand, x.available) for x in lots.lots] == [("A", 4, 4), ("B", 2, 0)]
    check(ledger)
