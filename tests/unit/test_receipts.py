"""An idempotency record answers every later copy of a request as the first execution was
answered: outcomes and refusals survive being written down and read back."""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import uuid4

import pytest

from stockledger.domain.errors import (
    ConflictingDuplicate,
    DomainError,
    InsufficientQualityControl,
    InsufficientStock,
    InvalidCommand,
    ItemInactive,
    KitHasNoStock,
    LedgerConflict,
    LotExpiryMismatch,
    LotRequired,
    NotFound,
    NotShippedOnOrder,
    PurchaseOrderClosed,
    PurchaseOrderExists,
    ReservationNotActive,
    SerialInStock,
    SerialNotInStock,
    SerialsRequired,
    ShortLine,
    TrackingLocked,
    UnitCostRequired,
    UnknownItem,
    UnknownWarehouse,
    ValuationMethodLocked,
    VersionMismatch,
    WarehouseInactive,
    WarehouseNotEmpty,
)
from stockledger.domain.reservation.state import ReservationState, ReservationStatus
from stockledger.domain.stock.events import ReservedLine
from stockledger.domain.stock.state import Levels, StockLevel
from stockledger.store.rows import IdempotencyRecord, RecordedEvent
from stockledger.write.receipts import Answer, Outcome, from_receipt, receipt

AT = datetime(2026, 3, 1, 15, 47, tzinfo=UTC)
ERRORS: list[DomainError] = [
    InsufficientStock([ShortLine("SKU-1", "WH-1", 5, 2), ShortLine("SKU-2", "WH-1", 1, 0)]),
    ReservationNotActive("R-1", "expired", "confirm"),
    NotFound("Reservation R-9"),
    InvalidCommand("quantity must not exceed what was dispatched"),
    VersionMismatch("stock:SKU-1:WH-1", 3, 4),
    ConflictingDuplicate("Reservation R-1 already exists"),
    LedgerConflict("receiving 5 of a transfer that dispatched 3"),
    ItemInactive("SKU-1", "receipts"),
    WarehouseInactive("WH-9", "transfers in"),
    WarehouseNotEmpty("WH-9", ["stock:SKU-1:WH-9"]),
    ValuationMethodLocked("SKU-1", "fifo"),
    TrackingLocked("SKU-1", "lot"),
    LotRequired("SKU-1", "receipts"),
    LotExpiryMismatch("SKU-1", "WH-1", "L-1", "2027-01-31", None),
    NotShippedOnOrder("O-1", "SKU-1", "WH-1", "L-1", 3, 1),
    SerialsRequired("SKU-1", "receipts"),
    SerialInStock("SKU-1", "SN-1", "WH-2", "in_stock"),
    SerialNotInStock("SKU-1", "WH-1", "SN-1"),
    UnknownItem("SKU-1"),
    UnknownWarehouse("WH-9"),
    KitHasNoStock("GIFT-1", "receipts go to its components"),
    PurchaseOrderExists("PO-1"),
    PurchaseOrderClosed("PO-1", "received"),
    InsufficientQualityControl("SKU-1", "WH-1", 5, 3),
    UnitCostRequired("PO-1", "SKU-1", "WH-1"),
]


def test_every_kind_of_refusal_can_be_recorded() -> None:
    assert {type(e) for e in ERRORS} == set(DomainError.__subclasses__())


def _stored(answer: Answer) -> IdempotencyRecord:
    return IdempotencyRecord("orders", "key-1", "hash", None, receipt(answer))


@pytest.mark.parametrize("error", ERRORS, ids=lambda e: type(e).__name__)
def test_a_recorded_refusal_is_the_same_error_for_every_copy(error: DomainError) -> None:
    replay = from_receipt(_stored(Answer(None, error, False, "order-1")))
    assert type(replay.refusal) is type(error)
    assert replay.refusal is not None
    assert replay.refusal.to_json() == error.to_json()
    assert str(replay.refusal) == str(error)
    assert (replay.replayed, replay.correlation_id, replay.outcome) == (True, "order-1", None)


def test_a_recorded_outcome_comes_back_whole() -> None:
    event = RecordedEvent(
        (7 << 16) + 1,
        uuid4(),
        "reservation:R-1",
        1,
        "StockReserved",
        1,
        {"reservationId": "R-1", "orderId": "O-1"},
        {"causedBy": "orders", "correlationId": "O-1"},
        AT,
        bytes(range(32)),
    )
    reservation = ReservationState(
        "R-1", 1, ReservationStatus.ACTIVE, "O-1", (ReservedLine("SKU-1", "WH-1", 2),), AT, None, AT
    )
    level = StockLevel("SKU-1", "WH-1", Levels(on_hand=10, reserved=2), 4, AT)
    outcome = Outcome([event], [level], reservation, already=False)
    replay = from_receipt(_stored(Answer(outcome, None, False, "O-1")))
    assert replay.outcome == outcome
    assert (replay.replayed, replay.refusal, replay.earlier) == (True, None, None)


def test_an_answer_recorded_before_receipts_is_sent_as_it_was() -> None:
    old = IdempotencyRecord("orders", "k", "h", 201, {"events": [], "_correlationId": "O-1"})
    replay = from_receipt(old)
    assert replay.earlier == (201, {"events": []})
    assert (replay.correlation_id, replay.replayed) == ("O-1", True)
