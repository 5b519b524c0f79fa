"""A transfer's state, and `evolve`: a pure fold of its events."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum

from ..events import Event
from .events import TransferDispatched, TransferReceived


class TransferStatus(StrEnum):
    NONE = "none"
    IN_TRANSIT = "in_transit"
    RECEIVED = "received"


@dataclass(frozen=True, slots=True)
class TransferState:
    transfer_id: str
    version: int = 0
    status: TransferStatus = TransferStatus.NONE
    dispatched: TransferDispatched | None = None
    updated_at: datetime | None = None


def evolve_transfer(state: TransferState, event: Event, recorded_at: datetime) -> TransferState:
    match event:
        case TransferDispatched():
            state = replace(state, status=TransferStatus.IN_TRANSIT, dispatched=event)
        case TransferReceived():
            state = replace(state, status=TransferStatus.RECEIVED)
    return replace(state, version=state.version + 1, updated_at=recorded_at)
