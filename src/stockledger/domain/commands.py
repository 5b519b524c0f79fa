"""Every command the domain takes, in one namespace for the edge (`from ..domain import commands
as c`; `c.ReceiveStock(...)`). Each is defined by its aggregate (`stock/commands.py`, ...):
imperative, frozen, already validated for shape at the edge (the API schemas). `Command` and
`primary_streams` come from the dispatcher (aggregates.py)."""

from __future__ import annotations

from .aggregates import Command, primary_streams
from .catalog.commands import (
    ActivateItem,
    DeactivateItem,
    DeactivateWarehouse,
    DefineItem,
    DefineWarehouse,
)
from .kit.commands import DefineKit
from .purchase_order.commands import (
    CancelPurchaseOrder,
    PlacePurchaseOrder,
    ReschedulePurchaseOrder,
)
from .reorder.commands import RemoveReorderRule, SetReorderRule
from .reservation.commands import (
    ConfirmReservation,
    ExpireReservation,
    LotLine,
    ReleaseReservation,
    ReserveStock,
)
from .stock.commands import (
    AdjustStock,
    CountStock,
    ExpireLot,
    InspectStock,
    ReceiveStock,
    ReturnStock,
    ShipStock,
)
from .transfer.commands import DispatchTransfer, ReceiveTransfer

__all__ = [
    "ActivateItem",
    "AdjustStock",
    "CancelPurchaseOrder",
    "Command",
    "ConfirmReservation",
    "CountStock",
    "DeactivateItem",
    "DeactivateWarehouse",
    "DefineItem",
    "DefineKit",
    "DefineWarehouse",
    "DispatchTransfer",
    "ExpireLot",
    "ExpireReservation",
    "InspectStock",
    "LotLine",
    "PlacePurchaseOrder",
    "ReceiveStock",
    "ReceiveTransfer",
    "ReleaseReservation",
    "RemoveReorderRule",
    "ReschedulePurchaseOrder",
    "ReserveStock",
    "ReturnStock",
    "SetReorderRule",
    "ShipStock",
    "primary_streams",
]
