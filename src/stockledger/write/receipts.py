"""What a command gets back (`Answer`), and the receipt that answers every copy of a keyed request.

What a command gets back is an `Answer`: its domain `Outcome` (the events, the stock levels,
the reservation), or, under an Idempotency-Key, the `DomainError` that refused it; the API
renders either.

Idempotency keys: the receipt of every keyed command (its outcome or refusal, `receipt()`) is
inserted in the batch's transaction with ON CONFLICT DO NOTHING (write/batch_writer.py). Exactly
one execution owns a key: a copy of the request running in another process waits on the unique
index, finds the key taken and answers with the winner's receipt (`from_receipt()`), whatever
that was. Records written before receipts (migration 0005) hold the HTTP status and body
themselves; they are sent back as they are.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import TypeAdapter

from ..domain.catalog.state import ItemState, WarehouseState
from ..domain.errors import DomainError
from ..domain.kit.state import KitState
from ..domain.reorder.state import ReorderState
from ..domain.reservation.state import ReservationState
from ..domain.stock.state import StockLevel
from ..store.rows import IdempotencyRecord, RecordedEvent
from .record import Caller

CatalogState = ItemState | WarehouseState | ReorderState | KitState


@dataclass(frozen=True, slots=True)
class Outcome:
    """What a command did: the events it appended, the stock levels it left and the reservation
    it concerns. `already`: the ledger had carried it out before (same receipt, shipment,
    return id, ...); `events` are then the earlier ones and nothing was appended."""

    events: list[RecordedEvent]
    stock: list[StockLevel]
    reservation: ReservationState | None
    already: bool = False
    catalog: CatalogState | None = None  # what a catalog command set


@dataclass(frozen=True, slots=True)
class Answer:
    """The ledger's answer to one command: its outcome, or the refusal recorded under its
    Idempotency-Key (a refusal without a key is raised); `replayed`: an earlier execution's
    answer (a recorded key or an id the ledger already holds)."""

    outcome: Outcome | None
    refusal: DomainError | None
    replayed: bool
    correlation_id: str
    # The HTTP status and body recorded by a version before receipts (0005), sent as they are.
    earlier: tuple[int, dict[str, Any]] | None = None


def receipt(answer: Answer) -> dict[str, Any]:
    """An answer as JSON, for its idempotency record; `from_receipt` reads it back."""
    written: dict[str, Any] = {"correlationId": answer.correlation_id}
    if answer.refusal is not None:
        written["refusal"] = answer.refusal.to_json()
    elif (outcome := answer.outcome) is not None:
        written["outcome"] = {
            "events": [e.envelope() for e in outcome.events],
            "stock": _LEVELS.dump_python(outcome.stock, mode="json"),
            "reservation": _RESERVATION.dump_python(outcome.reservation, mode="json"),
            **_catalog_json(outcome.catalog),
            "already": outcome.already,
        }
    return written


def from_receipt(stored: IdempotencyRecord) -> Answer:
    """The answer an idempotency record holds, as a replay."""
    data = stored.response
    if stored.status_code is not None:  # recorded before receipts: the HTTP answer itself
        body = {k: v for k, v in data.items() if k != "_correlationId"}
        return Answer(None, None, True, data.get("_correlationId", ""), (stored.status_code, body))
    if "refusal" in data:
        return Answer(None, DomainError.from_json(data["refusal"]), True, data["correlationId"])
    written = data["outcome"]
    outcome = Outcome(
        [RecordedEvent.from_envelope(e) for e in written["events"]],
        _LEVELS.validate_python(written["stock"]),
        _RESERVATION.validate_python(written["reservation"]),
        written["already"],
        _catalog_of(written),
    )
    return Answer(outcome, None, True, data["correlationId"])


def idempotency_record(caller: Caller, answer: Answer) -> IdempotencyRecord:
    """The record of a keyed caller's answer, stored in the batch's transaction."""
    assert caller.idempotency_key is not None
    return IdempotencyRecord(
        caller.principal, caller.idempotency_key, caller.request_hash, None, receipt(answer)
    )


def _catalog_json(
    state: CatalogState | None,
) -> dict[str, Any]:
    match state:
        case ItemState():
            return {"item": _ITEM.dump_python(state, mode="json")}
        case WarehouseState():
            return {"warehouse": _WAREHOUSE.dump_python(state, mode="json")}
        case ReorderState():
            return {"reorder": _REORDER.dump_python(state, mode="json")}
        case KitState():
            return {"kit": _KIT.dump_python(state, mode="json")}
    return {}


def _catalog_of(
    written: dict[str, Any],
) -> CatalogState | None:
    if "item" in written:
        return _ITEM.validate_python(written["item"])
    if "warehouse" in written:
        return _WAREHOUSE.validate_python(written["warehouse"])
    if "reorder" in written:
        return _REORDER.validate_python(written["reorder"])
    if "kit" in written:
        return _KIT.validate_python(written["kit"])
    return None


_ITEM = TypeAdapter(ItemState)
_WAREHOUSE = TypeAdapter(WarehouseState)
_REORDER = TypeAdapter(ReorderState)
_KIT = TypeAdapter(KitState)
_LEVELS = TypeAdapter(list[StockLevel])
_RESERVATION: TypeAdapter[ReservationState | None] = TypeAdapter(ReservationState | None)
