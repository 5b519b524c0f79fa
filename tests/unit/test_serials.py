"""Serial-tracked stock, decided by the pure domain, with the one-place-per-serial rows the
write path keeps beside it (`serial_places`): over random scripts a serial is never in two
places, and each stream's serials are its levels (hypothesis)."""

from __future__ import annotations

import copy
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, note, settings
from hypothesis import strategies as st

from stockledger.domain import commands as c
from stockledger.domain.errors import (
    DomainError,
    InvalidCommand,
    LedgerConflict,
    NotShippedOnOrder,
    SerialInStock,
    SerialNotInStock,
    SerialsRequired,
)
from stockledger.domain.stock.commands import SerialLine
from stockledger.domain.stock.state import StockState
from stockledger.write.serial_places import SerialPlace, serial_changes

from .memory_ledger import MemoryLedger

SKU = "PHONE"
WAREHOUSES = ("W1", "W2")


class SerialLedger:
    """The memory ledger, and `serial_places` as a dict: a batch that places a serial held
    elsewhere rolls back whole, as the database's primary key makes it."""

    def __init__(self) -> None:
        self.ledger = MemoryLedger()
        self.ledger.handle(c.DefineItem(SKU, "Phone", tracking="serial"))
        self.places: dict[str, SerialPlace] = {}

    def handle(self, command: c.Command) -> None:
        before_states, before_log = dict(self.ledger.states), list(self.ledger.log)
        self.ledger.handle(command)
        changes = serial_changes(before_states, self.ledger.states)
        places = copy.copy(self.places)
        for _, serial in changes.releases:
            del places[serial]
        for claim in changes.claims:
            if claim.serial in places:
                self.ledger.states, self.ledger.log = before_states, before_log
                held = places[claim.serial]
                raise SerialInStock(SKU, claim.serial, held.warehouse_id, held.status)
            places[claim.serial] = claim
        self.places = places

    def stock(self, wh: str) -> StockState:
        return self.ledger.stock(SKU, wh)


def check(serials: SerialLedger) -> None:
    held: dict[str, str] = {}
    for wh in WAREHOUSES:
        stock = serials.stock(wh)
        book = stock.serials
        if book is None:
            assert stock.levels.on_hand == stock.levels.in_transit == 0
            continue
        assert len(book.in_stock) == stock.levels.on_hand
        assert len(book.in_transit) == stock.levels.in_transit
        assert len(book.damaged) == stock.levels.damaged
        for serial, status in book.held().items():
            assert serial not in held, f"{serial} in {held.get(serial)} and {wh}"
            held[serial] = wh
            assert serials.places[serial] == SerialPlace(SKU, serial, wh, status)
    assert set(held) == set(serials.places)


serial = st.sampled_from([f"SN-{n}" for n in range(6)])
some = st.lists(serial, min_size=1, max_size=3, unique=True)
wh = st.sampled_from(WAREHOUSES)
order = st.sampled_from(["O1", "O2"])
steps = st.one_of(
    st.tuples(st.just("receive"), wh, some),
    st.tuples(st.just("ship"), order, wh, some),
    st.tuples(st.just("return"), order, wh, some, st.sampled_from(["resellable", "damaged"])),
    st.tuples(st.just("transfer"), wh, some, st.integers(0, 3)),
    st.tuples(st.just("adjust"), wh, some, st.booleans()),
    st.tuples(st.just("count"), wh, st.lists(serial, max_size=4, unique=True)),
)


def run(serials: SerialLedger, step: tuple[Any, ...], n: int) -> None:
    match step:
        case ("receive", w, sns):
            serials.handle(
                c.ReceiveStock(SKU, w, len(sns), "PO", Decimal(9), "S", serials=tuple(sns))
            )
        case ("ship", o, w, sns):
            line = SerialLine(SKU, w, len(sns), tuple(sns))
            serials.handle(c.ShipStock(f"S-{n}", o, None, (line,)))
        case ("return", o, w, sns, condition):
            serials.handle(
                c.ReturnStock(
                    f"R-{n}", o, SKU, w, len(sns), "defective", condition, serials=tuple(sns)
                )
            )
        case ("transfer", w, sns, arrived):
            other = WAREHOUSES[1 - WAREHOUSES.index(w)]
            serials.handle(c.DispatchTransfer(f"T-{n}", SKU, w, other, len(sns), None, tuple(sns)))
            serials.handle(c.ReceiveTransfer(f"T-{n}", None, tuple(sns[:arrived])))
        case ("adjust", w, sns, gain):
            change = len(sns) if gain else -len(sns)
            serials.handle(c.AdjustStock(SKU, w, change, "damage", "x", serials=tuple(sns)))
        case ("count", w, sns):
            serials.handle(c.CountStock(SKU, w, len(sns), serials=tuple(sns)))


@settings(max_examples=200, deadline=None)
@given(st.lists(steps, min_size=1, max_size=40))
def test_a_serial_is_never_in_two_places_and_each_streams_serials_are_its_levels(
    script: list[tuple[Any, ...]],
) -> None:
    serials = SerialLedger()
    note(repr(script))
    for n, step in enumerate(script):
        before = len(serials.ledger.log)
        try:
            run(serials, step, n)
        except DomainError:
            if step[0] != "transfer":  # a transfer's receipt follows its dispatch
                assert len(serials.ledger.log) == before
        check(serials)


def test_a_serial_received_again_after_it_shipped_cannot_also_come_back_from_the_order() -> None:
    serials = SerialLedger()
    serials.handle(c.ReceiveStock(SKU, "W1", 1, "PO", Decimal(9), "S", serials=("A",)))
    serials.handle(c.ShipStock("S", "O", None, (SerialLine(SKU, "W1", 1, ("A",)),)))
    serials.handle(c.ReceiveStock(SKU, "W1", 1, "PO", Decimal(9), "S", serials=("A",)))
    with pytest.raises(SerialInStock):
        serials.handle(
            c.ReturnStock("R", "O", SKU, "W1", 1, "defective", "resellable", None, ("A",))
        )
    serials.handle(c.ReceiveStock(SKU, "W2", 1, "PO", Decimal(9), "S", serials=("B",)))
    serials.handle(c.ShipStock("S2", "O2", None, (SerialLine(SKU, "W2", 1, ("B",)),)))
    serials.handle(c.ReceiveStock(SKU, "W1", 1, "PO", Decimal(9), "S", serials=("B",)))
    with pytest.raises(SerialInStock):  # in stock elsewhere: the places refuse it
        serials.handle(
            c.ReturnStock("R2", "O2", SKU, "W2", 1, "defective", "damaged", None, ("B",))
        )
    check(serials)


def test_serial_rules_refuse_what_would_lose_track() -> None:
    serials = SerialLedger()
    with pytest.raises(SerialsRequired):
        serials.handle(c.ReceiveStock(SKU, "W1", 1, "PO", Decimal(9), "S"))
    with pytest.raises(InvalidCommand):
        serials.handle(c.ReceiveStock(SKU, "W1", 2, "PO", Decimal(9), "S", serials=("A", "A")))
    with pytest.raises(LedgerConflict, match="skip quality control"):  # no serial to reject
        serials.handle(
            c.ReceiveStock(SKU, "W1", 1, "PO", Decimal(9), "S", inspect=True, serials=("Q",))
        )
    serials.handle(c.ReceiveStock(SKU, "W1", 2, "PO", Decimal(9), "S", serials=("A", "B")))
    with pytest.raises(SerialInStock):  # here: the domain; elsewhere: the places
        serials.handle(c.ReceiveStock(SKU, "W1", 1, "PO", Decimal(9), "S", serials=("A",)))
    with pytest.raises(SerialInStock):
        serials.handle(c.ReceiveStock(SKU, "W2", 1, "PO", Decimal(9), "S", serials=("B",)))
    with pytest.raises(SerialNotInStock):
        serials.handle(c.ShipStock("S", "O", None, (SerialLine(SKU, "W1", 1, ("C",)),)))
    serials.handle(c.ShipStock("S", "O", None, (SerialLine(SKU, "W1", 1, ("A",)),)))
    with pytest.raises(NotShippedOnOrder):
        serials.handle(
            c.ReturnStock("R", "O2", SKU, "W1", 1, "defective", "resellable", None, ("A",))
        )
    check(serials)
