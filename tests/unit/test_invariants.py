"""Property-based proof of invariants 1-4 over random command sequences (hypothesis)."""

from __future__ import annotations

import contextlib
from collections import Counter
from datetime import timedelta
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from stockledger.domain import commands as c
from stockledger.domain.errors import DomainError
from stockledger.domain.events import Event
from stockledger.domain.kit.events import Component
from stockledger.domain.reservation.state import ReservationState
from stockledger.domain.stock.events import (
    Line,
    StockAdjusted,
    StockReceived,
    StockReturned,
    StockShipped,
)
from stockledger.domain.stock.state import StockState
from stockledger.domain.transfer.events import TransferReceived
from stockledger.write.facts import fact_of

from .memory_ledger import MemoryLedger

SKUS = ("A", "B")
KIT = "K"  # a kit of A and B, redefined now and then; it holds no stock of its own
KIT_PARTS = (((SKUS[0], 2), (SKUS[1], 1)), ((SKUS[0], 1),), ((SKUS[1], 3), (SKUS[0], 1)))
WAREHOUSES = ("W1", "W2", "W3")
ids = st.sampled_from(["1", "2", "3"])
qty = st.integers(min_value=1, max_value=6)
sku = st.sampled_from(SKUS)
any_sku = st.sampled_from((*SKUS, KIT))
wh = st.sampled_from(WAREHOUSES)
line = st.builds(Line, sku=any_sku, warehouse_id=wh, quantity=qty)

commands = st.one_of(
    st.builds(
        c.ReceiveStock,
        any_sku,
        wh,
        st.integers(1, 30),
        st.just("PO"),
        st.just(Decimal("1.5")),
        st.just("S"),
        st.one_of(st.none(), ids),
    ),
    st.builds(
        lambda rid, lines, ttl: ("reserve", rid, tuple(lines), ttl),
        ids,
        st.lists(line, min_size=1, max_size=3),
        st.integers(1, 100),
    ),
    st.builds(c.ConfirmReservation, ids),
    st.builds(c.ReleaseReservation, ids, st.just("changed mind")),
    st.builds(c.ExpireReservation, ids),
    st.builds(
        c.ShipStock,
        ids,
        st.just("O"),
        st.one_of(st.none(), ids),
        st.one_of(st.none(), st.lists(line, min_size=1, max_size=3).map(tuple)),
    ),
    st.builds(
        c.ReturnStock,
        ids,
        st.just("O"),
        sku,
        wh,
        qty,
        st.sampled_from(["defective", "wrong_item"]),
        st.sampled_from(["resellable", "damaged", "dispose"]),
    ),
    st.builds(c.DispatchTransfer, ids, sku, wh, wh, qty),
    st.builds(c.ReceiveTransfer, ids, st.one_of(st.none(), st.integers(0, 12))),
    st.builds(
        c.AdjustStock,
        sku,
        wh,
        st.integers(-10, 10).filter(bool),
        st.sampled_from(["damage", "theft", "system_correction"]),
    ),
    st.builds(c.CountStock, sku, wh, st.integers(0, 40)),
    st.builds(lambda parts: ("kit", parts), st.sampled_from(KIT_PARTS)),
    st.builds(lambda s: ("tick", s), st.integers(1, 60)),
    st.just(("retry",)),
)


def conserved_change(stream_id: str, event: Event) -> int:
    """How a stock-stream event may move Σ(onHand + inTransit + damaged) of its SKU (invariant 3).

    Written from the business rules, independently of `evolve`: receipts, returns to stock,
    shipments, adjustments and transfer losses move the total; transfers never do.
    """
    _, sku, warehouse = stream_id.split(":")
    match event:
        case StockReceived(quantity=q) | StockAdjusted(quantity_change=q):
            return q
        case StockReturned(quantity=q, condition=cond):
            return 0 if cond == "dispose" else q
        case StockShipped(lines=lines):
            return -sum(x.quantity for x in lines if (x.sku, x.warehouse_id) == (sku, warehouse))
        case TransferReceived(lost_quantity=lost):
            return -lost
    return 0


def check_invariants(ledger: MemoryLedger, expected_totals: Counter[str]) -> None:
    stocks = [s for s in ledger.states.values() if isinstance(s, StockState)]
    reservations = [s for s in ledger.states.values() if isinstance(s, ReservationState)]
    totals: Counter[str] = Counter()
    assert not [s for s in stocks if s.sku == KIT and s.version]  # a kit holds no stock
    for stock in stocks:
        assert stock.levels.is_valid(), stock  # invariant 2
        open_lines = sum(
            x.quantity
            for r in reservations
            if r.is_open
            for x in r.lines
            if (x.sku, x.warehouse_id) == (stock.sku, stock.warehouse_id)
        )
        assert stock.levels.reserved == open_lines
        totals[stock.sku] += stock.levels.on_hand + stock.levels.in_transit + stock.levels.damaged
    assert +totals == +expected_totals  # invariant 3: transfers never create or destroy stock
    per_stream = Counter(stream_id for stream_id, _, _ in ledger.log)
    assert all(ledger.states[s].version == n for s, n in per_stream.items())  # invariant 1


@settings(max_examples=300, deadline=None)
@given(st.lists(commands, min_size=1, max_size=60))
def test_random_workloads_keep_every_invariant(script: list[object]) -> None:
    ledger = MemoryLedger()
    expected: Counter[str] = Counter()
    for s in SKUS:  # start with stock everywhere so that reservations and transfers succeed
        for w in WAREHOUSES:
            ledger.handle(c.ReceiveStock(s, w, 20, "PO-0", Decimal(1), "S"))
            expected[s] += 20
    ledger.handle(define_kit(ledger, KIT_PARTS[0]))
    last: c.Command | None = None
    for step in script:
        command: c.Command
        match step:
            case ("tick", seconds):
                ledger.tick(float(seconds))  # type: ignore[arg-type]
                continue
            case ("retry",):
                if last is None or not _has_business_id(last):
                    continue  # only Idempotency-Key makes those retries safe (tested over HTTP)
                before = len(ledger.log)
                with contextlib.suppress(DomainError):
                    ledger.handle(last)
                assert len(ledger.log) == before, f"retry of {last} appended"  # invariant 4
                continue
            case ("kit", parts):
                command = define_kit(ledger, parts)  # type: ignore[arg-type]
            case ("reserve", rid, lines, ttl):
                command = c.ReserveStock(rid, "O", lines, ledger.now + timedelta(seconds=ttl))  # type: ignore[arg-type]
            case _:
                command = step  # type: ignore[assignment]
        before = len(ledger.log)
        try:
            ledger.handle(command)
        except DomainError:
            assert len(ledger.log) == before  # a refusal changes nothing
        for stream_id, event, _ in ledger.log[before:]:
            if stream_id.startswith("stock:"):
                expected[stream_id.split(":")[1]] += conserved_change(stream_id, event)
        last = command
        check_invariants(ledger, expected)
    assert ledger.refold() == ledger.states  # folding from scratch == incremental state


def define_kit(ledger: MemoryLedger, parts: tuple[tuple[str, int], ...]) -> c.Command:
    """Define (or change) the kit, with the facts the write path looks up."""
    command = c.DefineKit(KIT, tuple(Component(s, q) for s, q in parts))
    fact = fact_of(command)
    assert fact is not None
    return fact.in_states(ledger.states.values())


def _has_business_id(command: c.Command) -> bool:
    """Commands whose own ids (receipt, return, shipment, transfer, reservation) dedupe them."""
    if isinstance(command, c.ReceiveStock):
        return command.receipt_id is not None
    return not isinstance(command, c.AdjustStock | c.CountStock)
