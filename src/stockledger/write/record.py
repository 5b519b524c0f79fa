"""Decide and record: one command against its streams' states -> the events to append, as the
store takes them, and the streams' new states. Pure: no I/O, the clock and ids are passed in.

This is the one loop of the write path. The ledger runs it for every command of a batch
(write/batch.py), the seed's bulk ledger on a simulated clock, the domain tests' memory ledger
and the bench's naive route as they are: so every writer stamps events the same way (recordedAt
never earlier than a stream's last event, the default correlation id, metadata, order id, the
per-event level delta the read side sums).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from ..domain import commands as c
from ..domain.aggregates import State, decide, evolve, required_streams
from ..domain.catalog.state import ItemState, WarehouseState
from ..domain.decision import Decision
from ..domain.events import SCHEMA_VERSIONS, to_data
from ..domain.kit.state import KitState
from ..domain.purchase_order.state import PurchaseOrderState
from ..domain.reorder.state import ReorderState
from ..domain.reservation.state import ReservationState
from ..domain.stock.state import NO_CHANGE, StockLevel, StockState, delta, step_stock
from ..store.rows import Deadlines, NewEvent, OrderLineRow


@dataclass(frozen=True, slots=True)
class Caller:
    principal: str
    correlation_id: str | None = None
    request_id: str | None = None
    idempotency_key: str | None = None
    request_hash: str = ""
    traceparent: str | None = None  # the request's trace context, while tracing is on


@dataclass(frozen=True, slots=True)
class Recording:
    """What one command decided, stamped for the store."""

    decision: Decision
    correlation_id: str
    events: tuple[tuple[str, NewEvent], ...]  # (stream id, event) in the decision's order
    states: dict[str, State]  # every stream the command read, after its events

    @property
    def stock(self) -> list[StockLevel]:
        """The levels of the stock streams the command changed (or, for a retry, would have)."""
        touched = (self.states[t] for t in self.decision.touched)
        return [s.level for s in touched if isinstance(s, StockState)]

    @property
    def reservation(self) -> ReservationState | None:
        return next((s for s in self.states.values() if isinstance(s, ReservationState)), None)

    @property
    def catalog(self) -> ItemState | WarehouseState | ReorderState | KitState | None:
        """The item, warehouse or reorder rule a catalog command concerns (a stock command
        only reads them: it touches stock)."""
        if not self.decision.touched:
            for state in self.states.values():
                if isinstance(state, ItemState | WarehouseState | ReorderState | KitState):
                    return state
        return None


def unread(
    commands: Iterable[c.Command], states: Mapping[str, State], *, catalog_required: bool = False
) -> Iterator[list[str]]:
    """The streams `commands` read that `states` does not hold yet, round after round: the
    caller puts their states into `states` before taking the next round, and the rounds end
    when nothing is missing. A reservation or a transfer names further stock streams once its
    own state is known, so every writer's loading ends after two rounds."""
    while missing := [
        *dict.fromkeys(
            s
            for command in commands
            for s in required_streams(command, states, catalog_required=catalog_required)
            if s not in states
        )
    ]:
        yield missing


def states_of(
    command: c.Command, state_of: Callable[[str], State], *, catalog_required: bool = False
) -> dict[str, State]:
    """Every stream `command` reads, with its state from `state_of`."""
    states: dict[str, State] = {}
    for missing in unread((command,), states, catalog_required=catalog_required):
        states.update((s, state_of(s)) for s in missing)
    return states


def streams_of(
    command: c.Command, state_of: Callable[[str], State], *, catalog_required: bool = False
) -> tuple[str, ...]:
    """Every stream `command` reads: a reservation or a transfer names further stock streams."""
    return tuple(states_of(command, state_of, catalog_required=catalog_required))


def correlation_of(
    command: c.Command, states: Mapping[str, State], caller: Caller, new_id: Callable[[], UUID]
) -> str:
    """The caller's correlation id, else the command's order / purchase order / transfer /
    return id (a reservation's order for its lifecycle commands), else a new one."""
    return caller.correlation_id or _business_id(command, states) or str(new_id())


def record(
    command: c.Command,
    states: Mapping[str, State],
    now: datetime,
    caller: Caller,
    new_id: Callable[[], UUID],
    *,
    catalog_required: bool = False,
) -> Recording:
    """Decide `command` against `states` (which hold every stream it reads) and stamp its events.

    Raises the DomainError of a refusal. recordedAt is `now`, or the latest updatedAt of the
    streams read if that is later (another process's clock ran ahead): a stream's events never
    go back in time, so time travel and the history stay monotonic."""
    streams = required_streams(command, states, catalog_required=catalog_required)
    read = {s: states[s] for s in streams}
    at = max([now, *(s.updated_at or now for s in read.values())])
    correlation = correlation_of(command, read, caller, new_id)
    decision = decide(command, read, at, catalog_required=catalog_required)
    metadata = _metadata(caller, correlation)
    events: list[tuple[str, NewEvent]] = []
    for stream_id, event in decision.events:
        state = read[stream_id]
        move = None
        after: State
        if isinstance(state, StockState):
            after, move = step_stock(state, event, at)
        else:
            after = evolve(state, event, at)
        data = to_data(event)
        events.append(
            (
                stream_id,
                NewEvent(
                    event_id=new_id(),
                    type=event.TYPE,
                    schema_version=SCHEMA_VERSIONS[event.TYPE],
                    data=data,
                    metadata=metadata,
                    recorded_at=at,
                    correlation_id=correlation,
                    order_id=data.get("orderId"),
                    delta=delta(state, event) if isinstance(state, StockState) else NO_CHANGE,
                    move=move,
                ),
            )
        )
        read[stream_id] = after
    return Recording(decision, correlation, tuple(events), read)


def deadlines(states: Mapping[str, State]) -> Deadlines:
    """The due-reservation rows that go with these new states, in the same transaction: an
    active reservation is due at its expiresAt; any other ends its deadline."""
    due: dict[str, datetime] = {}
    ended: list[str] = []
    for state in states.values():
        if isinstance(state, ReservationState):
            if state.deadline is not None:
                due[state.reservation_id] = state.deadline
            else:
                ended.append(state.reservation_id)
    return Deadlines(due, tuple(ended))


def order_lines(states: Mapping[str, State]) -> list[OrderLineRow]:
    """The purchase order line rows that go with these new states, in the same transaction:
    every line of every order the append wrote, as the order now stands."""
    rows: list[OrderLineRow] = []
    for state in states.values():
        if isinstance(state, PurchaseOrderState) and state.placed_at is not None:
            status = state.status.value
            rows += [
                OrderLineRow(
                    state.purchase_order_id,
                    x.sku,
                    x.warehouse_id,
                    n,
                    state.supplier,
                    status,
                    x.ordered,
                    x.received,
                    x.open,
                    x.unit_cost,
                    x.expected_on,
                    state.placed_at,
                    state.version,
                )
                for n, x in enumerate(state.lines)
            ]
    return rows


def _metadata(caller: Caller, correlation_id: str) -> dict[str, Any]:
    meta: dict[str, Any] = {"causedBy": caller.principal, "correlationId": correlation_id}
    if caller.request_id:
        meta["requestId"] = caller.request_id
    if caller.traceparent:  # only while tracing is on: v1 metadata is unchanged otherwise
        meta["traceparent"] = caller.traceparent
    return meta


def _business_id(command: c.Command, states: Mapping[str, State]) -> str | None:
    match command:
        case c.ReserveStock(order_id=o) | c.ShipStock(order_id=o) | c.ReturnStock(order_id=o):
            return o
        case c.ReceiveStock(purchase_order_id=po):
            return po
        case c.DispatchTransfer(transfer_id=t) | c.ReceiveTransfer(transfer_id=t):
            return t
        case (
            c.ConfirmReservation(reservation_id=r)
            | c.ReleaseReservation(reservation_id=r)
            | c.ExpireReservation(reservation_id=r)
        ):
            state = states.get(f"reservation:{r}")
            return state.order_id if isinstance(state, ReservationState) else None
    return None
