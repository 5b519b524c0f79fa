"""`decide(command, states, now) -> Decision`: every business rule of the ledger, pure.

`states` maps stream id -> state for every stream `required_streams` names; a stream that has
no events yet is given as its `initial_state`.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from . import commands as c
from .catalog import decide as catalog
from .catalog.decide import require_defined
from .decision import Decision
from .reorder import decide as reorder
from .reservation import decide as reservation
from .reservation.state import ReservationState
from .state import State
from .stock import decide as stock
from .stock.costs import with_costs
from .streams import (
    stock_stream,
)
from .transfer import decide as transfer
from .transfer.state import TransferState


def required_streams(
    command: c.Command, states: Mapping[str, State], *, catalog_required: bool = False
) -> tuple[str, ...]:
    """Every stream the command reads; grows once the reservation/transfer it names is known.
    With `catalog_required`, also the item and warehouse of every place it names."""
    streams = c.primary_streams(command)
    if catalog_required:
        streams = tuple(dict.fromkeys((*streams, *c.catalog_streams(command))))
    match command:
        case (
            c.ConfirmReservation()
            | c.ReleaseReservation()
            | c.ExpireReservation()
            | c.ShipStock(reservation_id=str())
        ):
            own = states.get(streams[0])
            if isinstance(own, ReservationState):
                streams += tuple(stock_stream(x.sku, x.warehouse_id) for x in own.lines)
        case c.ReceiveTransfer():
            own = states.get(streams[0])
            if isinstance(own, TransferState) and own.dispatched is not None:
                d = own.dispatched
                streams += (stock_stream(d.sku, d.to_warehouse_id),)
    return tuple(dict.fromkeys((*streams, *reorder.rule_streams(streams))))


def decide(
    command: c.Command,
    states: Mapping[str, State],
    now: datetime,
    *,
    catalog_required: bool = False,
) -> Decision:
    if catalog_required:
        require_defined(c.named_places(command), states)
    decision = with_costs(_decide(command, states, now), states, now)
    stock.check_capacity(decision, states)
    return reorder.with_alerts(decision, states, now)


def _decide(command: c.Command, states: Mapping[str, State], now: datetime) -> Decision:
    match command:
        case c.ReceiveStock() | c.ReturnStock() | c.AdjustStock() | c.CountStock():
            return stock.decide(command, states, now)
        case (
            c.ReserveStock()
            | c.ConfirmReservation()
            | c.ReleaseReservation()
            | c.ExpireReservation()
            | c.ShipStock(reservation_id=str())
        ):
            return reservation.decide(command, states, now)
        case c.ShipStock():
            return stock.decide(command, states, now)
        case c.DispatchTransfer() | c.ReceiveTransfer():
            return transfer.decide(command, states, now)
        case (
            c.DefineItem()
            | c.DeactivateItem()
            | c.ActivateItem()
            | c.DefineWarehouse()
            | c.DeactivateWarehouse()
        ):
            return catalog.decide(command, states, now)
        case c.SetReorderRule() | c.RemoveReorderRule():
            return reorder.decide(command, states, now)
