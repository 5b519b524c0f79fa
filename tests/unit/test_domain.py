"""Business rules of the ledger, one behaviour per test, on the pure domain."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest

from stockledger.domain import commands as c
from stockledger.domain.errors import (
    ConflictingDuplicate,
    InsufficientStock,
    InvalidCommand,
    LedgerConflict,
    NotFound,
    ReservationNotActive,
    VersionMismatch,
)
from stockledger.domain.reservation.state import ReservationState, ReservationStatus
from stockledger.domain.stock.events import Line, ReservedLine, StockAdjusted, StockCounted
from stockledger.domain.stock.state import Levels

from .memory_ledger import MemoryLedger


def receive(
    ledger: MemoryLedger, sku: str, wh: str, qty: int, receipt_id: str | None = None
) -> None:
    ledger.handle(c.ReceiveStock(sku, wh, qty, "PO-1", Decimal("2.50"), "Acme", receipt_id))


def reserve(ledger: MemoryLedger, rid: str, *lines: tuple[str, str, int], ttl: int = 900) -> None:
    ledger.handle(
        c.ReserveStock(
            rid,
            f"order-{rid}",
            tuple(Line(s, w, q) for s, w, q in lines),
            ledger.now + timedelta(seconds=ttl),
        )
    )


def reservation(ledger: MemoryLedger, rid: str) -> ReservationState:
    state = ledger.state(f"reservation:{rid}")
    assert isinstance(state, ReservationState)
    return state


@pytest.fixture
def ledger() -> MemoryLedger:
    ledger = MemoryLedger()
    receive(ledger, "SKU-1", "WH-A", 10)
    receive(ledger, "SKU-2", "WH-A", 5)
    return ledger


def test_receipt_adds_on_hand_and_a_retried_receipt_id_counts_once(ledger: MemoryLedger) -> None:
    receive(ledger, "SKU-1", "WH-A", 4, receipt_id="RCV-9")
    receive(ledger, "SKU-1", "WH-A", 4, receipt_id="RCV-9")
    assert ledger.stock("SKU-1", "WH-A").levels == Levels(on_hand=14)


def test_reservation_holds_every_line_and_sums_repeated_lines(ledger: MemoryLedger) -> None:
    reserve(ledger, "R1", ("SKU-1", "WH-A", 3), ("SKU-1", "WH-A", 2), ("SKU-2", "WH-A", 5))
    assert ledger.stock("SKU-1", "WH-A").levels == Levels(on_hand=10, reserved=5)
    assert ledger.stock("SKU-2", "WH-A").levels.available == 0
    assert reservation(ledger, "R1").lines == (
        ReservedLine("SKU-1", "WH-A", 5),
        ReservedLine("SKU-2", "WH-A", 5),
    )


def test_reservation_is_all_or_nothing_and_names_every_short_line(ledger: MemoryLedger) -> None:
    with pytest.raises(InsufficientStock) as refused:
        reserve(
            ledger,
            "R1",
            ("SKU-1", "WH-A", 8),
            ("SKU-1", "WH-A", 3),
            ("SKU-2", "WH-A", 6),
            ("SKU-3", "WH-A", 1),
        )
    assert [(x.sku, x.requested, x.available) for x in refused.value.lines] == [
        ("SKU-1", 11, 10),
        ("SKU-2", 6, 5),
        ("SKU-3", 1, 0),
    ]
    assert ledger.stock("SKU-1", "WH-A").levels.reserved == 0
    assert reservation(ledger, "R1").status is ReservationStatus.NONE


def test_confirm_then_ship_consumes_reservation_and_on_hand(ledger: MemoryLedger) -> None:
    reserve(ledger, "R1", ("SKU-1", "WH-A", 4))
    ledger.handle(c.ConfirmReservation("R1"))
    ledger.tick(3600)  # a confirmed reservation no longer expires
    ledger.handle(c.ExpireReservation("R1"))
    assert reservation(ledger, "R1").status is ReservationStatus.CONFIRMED
    ledger.handle(c.ShipStock("S1", "order-R1", reservation_id="R1"))
    assert ledger.stock("SKU-1", "WH-A").levels == Levels(on_hand=6, reserved=0)
    assert reservation(ledger, "R1").status is ReservationStatus.SHIPPED


def test_shipping_part_of_a_reservation_releases_the_rest(ledger: MemoryLedger) -> None:
    reserve(ledger, "R1", ("SKU-1", "WH-A", 4), ("SKU-2", "WH-A", 2))
    ledger.handle(c.ShipStock("S1", "order-R1", "R1", (Line("SKU-1", "WH-A", 3),)))
    assert ledger.stock("SKU-1", "WH-A").levels == Levels(on_hand=7)
    assert ledger.stock("SKU-2", "WH-A").levels == Levels(on_hand=5)


def test_shipping_more_than_reserved_is_refused(ledger: MemoryLedger) -> None:
    reserve(ledger, "R1", ("SKU-1", "WH-A", 4))
    with pytest.raises(LedgerConflict, match="holds 4"):
        ledger.handle(c.ShipStock("S1", "order-R1", "R1", (Line("SKU-1", "WH-A", 5),)))
    with pytest.raises(LedgerConflict, match="belongs to order order-R1"):
        ledger.handle(c.ShipStock("S1", "order-R2", "R1", None))


def test_retried_shipment_appends_nothing(ledger: MemoryLedger) -> None:
    reserve(ledger, "R1", ("SKU-1", "WH-A", 4))
    ledger.handle(c.ShipStock("S1", "order-R1", "R1"))
    again = ledger.handle(c.ShipStock("S1", "order-R1", "R1"))
    assert again.events == ()
    assert again.already is not None
    with pytest.raises(ReservationNotActive):
        ledger.handle(c.ShipStock("S2", "order-R1", "R1"))


def test_direct_shipment_takes_from_available_once(ledger: MemoryLedger) -> None:
    reserve(ledger, "R1", ("SKU-1", "WH-A", 8))
    with pytest.raises(InsufficientStock):
        ledger.handle(c.ShipStock("S1", "O1", lines=(Line("SKU-1", "WH-A", 3),)))
    ledger.handle(c.ShipStock("S2", "O1", lines=(Line("SKU-1", "WH-A", 2),)))
    ledger.handle(c.ShipStock("S2", "O1", lines=(Line("SKU-1", "WH-A", 2),)))
    assert ledger.stock("SKU-1", "WH-A").levels == Levels(on_hand=8, reserved=8)


def test_release_frees_stock_and_ended_reservations_refuse_changes(ledger: MemoryLedger) -> None:
    reserve(ledger, "R1", ("SKU-1", "WH-A", 4))
    ledger.handle(c.ReleaseReservation("R1", "customer cancelled"))
    assert ledger.stock("SKU-1", "WH-A").levels.available == 10
    assert ledger.handle(c.ReleaseReservation("R1")).already is not None
    with pytest.raises(ReservationNotActive):
        ledger.handle(c.ConfirmReservation("R1"))


def test_expiry_only_after_due_and_only_once(ledger: MemoryLedger) -> None:
    reserve(ledger, "R1", ("SKU-1", "WH-A", 4), ttl=60)
    assert ledger.handle(c.ExpireReservation("R1")).events == ()
    ledger.tick(60)
    with pytest.raises(ReservationNotActive, match="expired"):
        ledger.handle(c.ConfirmReservation("R1"))
    assert len(ledger.handle(c.ExpireReservation("R1")).events) == 2
    assert ledger.handle(c.ExpireReservation("R1")).events == ()
    assert ledger.stock("SKU-1", "WH-A").levels.reserved == 0
    assert reservation(ledger, "R1").status is ReservationStatus.EXPIRED


def test_unknown_reservation_is_not_found(ledger: MemoryLedger) -> None:
    with pytest.raises(NotFound):
        ledger.handle(c.ConfirmReservation("nope"))


@pytest.mark.parametrize(
    ("condition", "expected"),
    [
        ("resellable", Levels(on_hand=13)),
        ("damaged", Levels(on_hand=10, damaged=3)),
        ("dispose", Levels(on_hand=10)),
    ],
)
def test_return_condition_decides_the_bucket_and_counts_once(
    ledger: MemoryLedger, condition: str, expected: Levels
) -> None:
    cmd = c.ReturnStock("RET-1", "O1", "SKU-1", "WH-A", 3, "defective", condition)  # type: ignore[arg-type]
    ledger.handle(cmd)
    assert ledger.handle(cmd).already is not None
    assert ledger.stock("SKU-1", "WH-A").levels == expected


def test_transfer_moves_stock_through_transit_and_records_the_loss(ledger: MemoryLedger) -> None:
    ledger.handle(c.DispatchTransfer("T1", "SKU-1", "WH-A", "WH-B", 6))
    assert ledger.stock("SKU-1", "WH-A").levels == Levels(on_hand=4)
    assert ledger.stock("SKU-1", "WH-B").levels == Levels(in_transit=6)
    ledger.handle(c.ReceiveTransfer("T1", received_quantity=5))
    assert ledger.stock("SKU-1", "WH-B").levels == Levels(on_hand=5)
    assert ledger.handle(c.ReceiveTransfer("T1")).already is not None
    lost = [e for _, e, _ in ledger.log if getattr(e, "lost_quantity", 0)]
    assert len(lost) == 2  # on the transfer stream and the destination stream


def test_transfer_refuses_short_source_same_warehouse_and_reused_id(ledger: MemoryLedger) -> None:
    with pytest.raises(InsufficientStock):
        ledger.handle(c.DispatchTransfer("T1", "SKU-1", "WH-A", "WH-B", 11))
    with pytest.raises(InvalidCommand):
        ledger.handle(c.DispatchTransfer("T1", "SKU-1", "WH-A", "WH-A", 1))
    ledger.handle(c.DispatchTransfer("T1", "SKU-1", "WH-A", "WH-B", 1))
    assert ledger.handle(c.DispatchTransfer("T1", "SKU-1", "WH-A", "WH-B", 1)).already
    with pytest.raises(ConflictingDuplicate):
        ledger.handle(c.DispatchTransfer("T1", "SKU-1", "WH-A", "WH-B", 2))


def test_adjustment_cannot_take_on_hand_below_reserved(ledger: MemoryLedger) -> None:
    reserve(ledger, "R1", ("SKU-1", "WH-A", 7))
    with pytest.raises(InsufficientStock, match="below the 7 reserved"):
        ledger.handle(c.AdjustStock("SKU-1", "WH-A", -4, "theft"))
    ledger.handle(c.AdjustStock("SKU-1", "WH-A", -3, "theft"))
    assert ledger.stock("SKU-1", "WH-A").levels == Levels(on_hand=7, reserved=7)


def test_adjustment_with_stale_if_match_is_refused(ledger: MemoryLedger) -> None:
    version = ledger.stock("SKU-1", "WH-A").version
    with pytest.raises(VersionMismatch) as refused:
        ledger.handle(c.AdjustStock("SKU-1", "WH-A", 1, "system_correction", None, version + 1))
    assert (refused.value.expected, refused.value.actual) == (version + 1, version)
    ledger.handle(c.AdjustStock("SKU-1", "WH-A", 1, "system_correction", None, version))


def test_count_records_and_adjusts_only_when_it_differs(ledger: MemoryLedger) -> None:
    same = ledger.handle(c.CountStock("SKU-1", "WH-A", 10))
    assert [type(e) for _, e in same.events] == [StockCounted]
    differs = ledger.handle(c.CountStock("SKU-1", "WH-A", 7, "shelf 4"))
    adjusted = differs.events[1][1]
    assert isinstance(adjusted, StockAdjusted)
    assert (adjusted.previous_quantity, adjusted.new_quantity, adjusted.reason) == (
        10,
        7,
        "physical_count",
    )
    assert ledger.stock("SKU-1", "WH-A").levels.on_hand == 7
