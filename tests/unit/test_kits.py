"""Kits in the pure domain: definitions, a kit SKU holding no stock, and reservations of kits
that reserve their components, summed with every other line before the check."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from stockledger.domain import commands as c
from stockledger.domain.errors import (
    InsufficientStock,
    InvalidCommand,
    KitHasNoStock,
    LedgerConflict,
)
from stockledger.domain.kit.events import Component, KitChanged, KitDefined, KitLine
from stockledger.domain.kit.state import KitState
from stockledger.domain.kit.views import kit_available
from stockledger.domain.reservation.state import ReservationState, ReservationStatus
from stockledger.domain.stock.events import Line, LotQuantity, ReservedLine
from stockledger.domain.stock.state import Levels
from stockledger.write.facts import fact_of

from .memory_ledger import MemoryLedger


def define(ledger: MemoryLedger, sku: str, *parts: tuple[str, int]) -> c.DefineKit:
    """A kit definition with its facts looked up as the write path does."""
    command = c.DefineKit(sku, tuple(Component(s, q) for s, q in parts))
    fact = fact_of(command)
    assert fact is not None
    filled = fact.in_states(ledger.states.values())
    assert isinstance(filled, c.DefineKit)
    return filled


def receive(ledger: MemoryLedger, sku: str, qty: int, wh: str = "W1") -> None:
    ledger.handle(c.ReceiveStock(sku, wh, qty, "PO", Decimal("1.00"), "S"))


def reserve(ledger: MemoryLedger, rid: str, *lines: tuple[str, int], wh: str = "W1") -> None:
    ledger.handle(
        c.ReserveStock(
            rid, f"order-{rid}", tuple(Line(s, wh, q) for s, q in lines), ledger.now + timedelta(1)
        )
    )


def reservation(ledger: MemoryLedger, rid: str) -> ReservationState:
    state = ledger.state(f"reservation:{rid}")
    assert isinstance(state, ReservationState)
    return state


@pytest.fixture
def shop() -> MemoryLedger:
    """Mugs, tea and spoons in W1; GIFT = 2 mugs + 1 tea, BREW = 1 tea + 3 spoons."""
    ledger = MemoryLedger()
    receive(ledger, "MUG", 10)
    receive(ledger, "TEA", 6)
    receive(ledger, "SPOON", 9)
    ledger.handle(define(ledger, "GIFT", ("MUG", 2), ("TEA", 1)))
    ledger.handle(define(ledger, "BREW", ("TEA", 1), ("SPOON", 3)))
    return ledger


def test_a_put_defines_then_changes_and_the_same_body_again_records_nothing() -> None:
    ledger = MemoryLedger()
    first = ledger.handle(define(ledger, "K", ("A", 1), ("B", 2)))
    assert [e for _, e in first.events] == [KitDefined("K", (Component("A", 1), Component("B", 2)))]
    assert ledger.handle(define(ledger, "K", ("A", 1), ("B", 2))).events == ()
    changed = ledger.handle(define(ledger, "K", ("A", 3)))
    assert [e for _, e in changed.events] == [KitChanged("K", (Component("A", 3),))]
    kit = ledger.state("kit:K")
    assert isinstance(kit, KitState)
    assert kit.version == 2


def test_no_kit_inside_a_kit_nor_inside_itself(shop: MemoryLedger) -> None:
    for parts in ((("SELF", 1),), (("GIFT", 1), ("SPOON", 1)), (("A", 1), ("A", 2))):
        with pytest.raises(InvalidCommand):
            shop.handle(define(shop, "SELF", *parts))
    with pytest.raises(InvalidCommand, match="component of GIFT"):  # MUG is in a kit
        shop.handle(define(shop, "MUG", ("SPOON", 1)))
    with pytest.raises(TypeError):  # the write path must have looked the facts up
        shop.handle(c.DefineKit("NEW", (Component("TEA", 1),)))


def test_a_kit_holds_no_stock_and_a_stocked_sku_cannot_become_one(shop: MemoryLedger) -> None:
    refused: list[c.Command] = [
        c.ReceiveStock("GIFT", "W1", 1, "PO", Decimal("1.00"), "S"),
        c.ReturnStock("R1", "O1", "GIFT", "W1", 1, "defective", "resellable"),
        c.AdjustStock("GIFT", "W1", 1, "system_correction"),
        c.CountStock("GIFT", "W1", 1),
        c.DispatchTransfer("T1", "GIFT", "W1", "W2", 1),
    ]
    for command in refused:
        with pytest.raises(KitHasNoStock):
            shop.handle(command)
    receive(shop, "PLATE", 1)
    with pytest.raises(KitHasNoStock):
        shop.handle(define(shop, "PLATE", ("TEA", 1)))
    assert "stock:GIFT:W1" not in shop.states


def test_a_kit_line_reserves_every_component_and_shows_as_the_kit(shop: MemoryLedger) -> None:
    reserve(shop, "R1", ("GIFT", 2), ("SPOON", 1))
    assert shop.stock("MUG", "W1").levels == Levels(on_hand=10, reserved=4)
    assert shop.stock("TEA", "W1").levels == Levels(on_hand=6, reserved=2)
    assert shop.stock("SPOON", "W1").levels == Levels(on_hand=9, reserved=1)
    held = reservation(shop, "R1")
    assert held.kits == (KitLine("GIFT", "W1", 2, (Component("MUG", 2), Component("TEA", 1))),)
    assert set(held.lines) == {
        ReservedLine("MUG", "W1", 4),
        ReservedLine("TEA", "W1", 2),
        ReservedLine("SPOON", "W1", 1),
    }


def test_lines_sharing_a_component_are_summed_before_the_check(shop: MemoryLedger) -> None:
    # TEA: 6 units. GIFT x3 takes 3, BREW x3 takes 3 (and 9 spoons): exactly enough ...
    reserve(shop, "R1", ("GIFT", 3), ("BREW", 3))
    assert shop.stock("TEA", "W1").levels.available == 0
    # ... and one more unit of tea, by kit or by itself, is refused whole, naming the component.
    for lines in ((("GIFT", 1),), (("BREW", 1), ("MUG", 1)), (("TEA", 1),)):
        with pytest.raises(InsufficientStock) as refused:
            reserve(shop, "R2", *lines)
        assert "TEA" in {x.sku for x in refused.value.lines}
    assert shop.stock("MUG", "W1").levels.reserved == 6


def test_two_kits_together_never_take_more_than_is_there(shop: MemoryLedger) -> None:
    with pytest.raises(InsufficientStock) as refused:  # 4 + 3 teas of 6
        reserve(shop, "R1", ("GIFT", 4), ("BREW", 3))
    assert [(x.sku, x.requested, x.available) for x in refused.value.lines] == [("TEA", 7, 6)]
    assert all(s.levels.reserved == 0 for s in (shop.stock(x, "W1") for x in ("MUG", "TEA")))


def test_a_changed_kit_leaves_reservations_as_they_were_made(shop: MemoryLedger) -> None:
    reserve(shop, "R1", ("GIFT", 1))
    shop.handle(define(shop, "GIFT", ("SPOON", 1)))
    reserve(shop, "R2", ("GIFT", 1))
    assert reservation(shop, "R1").kits[0].components == (Component("MUG", 2), Component("TEA", 1))
    assert reservation(shop, "R2").kits[0].components == (Component("SPOON", 1),)
    shop.handle(c.ReleaseReservation("R1"))
    assert shop.stock("MUG", "W1").levels.reserved == 0
    assert shop.stock("TEA", "W1").levels.reserved == 0
    assert shop.stock("SPOON", "W1").levels.reserved == 1
    shop.handle(c.ShipStock("S2", "order-R2", reservation_id="R2"))
    assert shop.stock("SPOON", "W1").levels == Levels(on_hand=8)
    assert reservation(shop, "R2").status is ReservationStatus.SHIPPED


def test_expiry_and_confirmation_act_on_every_component(shop: MemoryLedger) -> None:
    reserve(shop, "R1", ("GIFT", 1), ("BREW", 1))
    reserve(shop, "R2", ("BREW", 1))
    shop.handle(c.ConfirmReservation("R2"))
    shop.tick(2 * 86400)
    shop.handle(c.ExpireReservation("R1"))
    shop.handle(c.ExpireReservation("R2"))
    assert reservation(shop, "R1").status is ReservationStatus.EXPIRED
    assert [shop.stock(x, "W1").levels.reserved for x in ("MUG", "TEA", "SPOON")] == [0, 1, 3]


@given(
    st.lists(st.integers(1, 4), min_size=1, max_size=4),
    st.lists(st.integers(0, 20), min_size=4, max_size=4),
    st.lists(st.integers(0, 5), min_size=4, max_size=4),
)
def test_kit_availability_is_the_most_kits_a_reservation_can_take(
    per_kit: list[int], on_hand: list[int], reserved: list[int]
) -> None:
    """The oracle: the largest n for which reserving n kits succeeds in the ledger itself."""
    ledger = MemoryLedger()
    skus = [f"C{i}" for i in range(len(per_kit))]
    for sku, units, held in zip(skus, on_hand, reserved, strict=False):
        if units:
            receive(ledger, sku, units)
        if 0 < held <= units:
            reserve(ledger, f"hold-{sku}", (sku, held))
    ledger.handle(define(ledger, "KIT", *zip(skus, per_kit, strict=True)))
    kit = ledger.state("kit:KIT")
    assert isinstance(kit, KitState)
    shown = kit_available(kit.components, {s: ledger.stock(s, "W1").levels for s in skus})
    if shown:
        reserve(ledger, "most", ("KIT", shown))
    with pytest.raises(InsufficientStock):
        reserve(ledger, "one-more", ("KIT", 1))


def test_a_kits_lot_tracked_component_is_taken_fefo_like_any_line() -> None:
    """CHEESE is tracked by lot: a kit naming it takes the earliest-expiring lot first, summed
    with a plain line of CHEESE against the same lots; a kit line cannot choose a lot."""
    ledger = MemoryLedger()
    ledger.handle(c.DefineItem("CHEESE", "Cheese", tracking="lot"))
    soon, later = ledger.now.date() + timedelta(3), ledger.now.date() + timedelta(9)
    for lot, expires_on in (("LATE", later), ("SOON", soon)):
        ledger.handle(
            c.ReceiveStock(
                "CHEESE", "W1", 4, "PO", Decimal("1"), "S", lot_id=lot, expires_on=expires_on
            )
        )
    receive(ledger, "CRACKER", 10)
    ledger.handle(define(ledger, "PLATTER", ("CHEESE", 3), ("CRACKER", 1)))

    reserve(ledger, "R1", ("PLATTER", 1))
    held = reservation(ledger, "R1")
    cheese = next(x for x in held.lines if x.sku == "CHEESE")
    assert cheese.lots == (LotQuantity("SOON", 3, soon),)
    assert next(x for x in held.lines if x.sku == "CRACKER").lots is None

    reserve(ledger, "R2", ("PLATTER", 1), ("CHEESE", 1))  # 3 + 1: SOON's last unit, then LATE
    cheese = next(x for x in reservation(ledger, "R2").lines if x.sku == "CHEESE")
    assert cheese == ReservedLine(
        "CHEESE", "W1", 4, (LotQuantity("SOON", 1, soon), LotQuantity("LATE", 3, later))
    )
    with pytest.raises(InsufficientStock):  # one unit of LATE is left
        reserve(ledger, "R3", ("PLATTER", 1))
    with pytest.raises(LedgerConflict, match="is a kit"):
        ledger.handle(
            c.ReserveStock(
                "R4",
                "order-R4",
                (c.LotLine("PLATTER", "W1", 1, "LATE"),),
                ledger.now + timedelta(1),
            )
        )
