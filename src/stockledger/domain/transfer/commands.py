"""What a transfer can be asked: be dispatched from one warehouse to another, be received."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class DispatchTransfer:
    transfer_id: str
    sku: str
    from_warehouse_id: str
    to_warehouse_id: str
    quantity: int
    lot_id: str | None = None  # lot-tracked items: only this lot (else FEFO)
    serials: tuple[str, ...] | None = None  # serial-tracked items: the serials moved


@dataclass(frozen=True, slots=True)
class ReceiveTransfer:
    transfer_id: str
    received_quantity: int | None = None
    received_serials: tuple[str, ...] | None = None  # default: every serial dispatched


TransferCommand = DispatchTransfer | ReceiveTransfer
