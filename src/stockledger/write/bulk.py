"""The write path's one loop (`record.record`) in memory on a simulated clock (for `seed`).

Bulk-written events are exactly the ones the API would have appended: the same streams, clock
rule, correlation id, metadata, order id and per-event delta. `take()` hands the buffered events
over as one transaction's `StreamWrite`s, each stream at the version it had before them, with
the due-reservation rows their new states call for.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from uuid import UUID, uuid4

import orjson

from ..domain import commands as c
from ..domain.aggregates import State, initial_state
from ..domain.decision import Decision
from ..domain.errors import DomainError
from ..domain.reservation.state import ReservationState
from ..domain.stock.state import StockState
from ..domain.streams import category, reservation_stream, stock_stream
from ..domain.transfer.state import TransferState, TransferStatus
from ..store.rows import Deadlines, NewEvent, OrderLineRow, StreamWrite
from ..store.snapshots import state_to_json
from .facts import fact_of
from .lot_holdings import Row, holdings
from .record import Caller, deadlines, order_lines, record, states_of
from .serial_places import SerialChanges, serial_changes
from .tracked_events import units


@dataclass(slots=True)
class Chunk:
    writes: list[StreamWrite]
    deadlines: Deadlines
    snapshots: list[tuple[str, int, datetime, str]]  # stream, version, recordedAt, state JSON
    events: int
    orders: list[OrderLineRow] = field(default_factory=list)
    # tracked stock, as the write path keeps it beside the events (write/serial_places.py,
    # lot_holdings.py, tracked_events.py): empty for untracked items
    serials: SerialChanges = field(default_factory=SerialChanges)
    holdings: tuple[list[str], list[Row]] = ([], [])
    tracked: list[tuple[UUID, str, str]] = field(default_factory=list)  # event id, sku, unit


class BulkLedger:
    """The write path's decide/evolve/NewEvent steps in memory, on a simulated clock."""

    def __init__(self, snapshot_every: int, now: datetime) -> None:
        self.snapshot_every, self.now = snapshot_every, now
        self.states: dict[str, State] = {}
        self.pending = 0
        self._events: dict[str, tuple[int, list[NewEvent]]] = {}
        self._changed: dict[str, State] = {}  # the chunk's streams, as it leaves them
        self._before: dict[str, State] = {}  # ... and tracked stock streams as it found them
        self._tracked: list[tuple[UUID, str, str]] = []
        self._snapshots: list[tuple[str, int, datetime, str]] = []
        self.counts: Counter[str] = Counter()
        self.refused: Counter[str] = Counter()
        self.streams: Counter[str] = Counter()
        self.first: datetime | None = None

    def state(self, stream_id: str) -> State:
        return self.states.get(stream_id) or initial_state(stream_id)

    def stock(self, sku: str, warehouse_id: str) -> StockState:
        state = self.state(stock_stream(sku, warehouse_id))
        assert isinstance(state, StockState)
        return state

    def reservation(self, reservation_id: str) -> ReservationState:
        state = self.state(reservation_stream(reservation_id))
        assert isinstance(state, ReservationState)
        return state

    def execute(self, command: c.Command, principal: str) -> Decision | None:
        """Record one command like the ledger does; None when it is refused."""
        if (fact := fact_of(command)) is not None:  # what the ledger reads from the store
            command = fact.in_states(self.states.values())
        states = states_of(command, self.state)
        try:
            recording = record(command, states, self.now, Caller(principal), uuid4)
        except DomainError as error:
            self.refused[f"{type(command).__name__}: {type(error).__name__}"] += 1
            return None
        for stream_id, event in recording.events:
            self._events.setdefault(stream_id, (states[stream_id].version, []))[1].append(event)
            self.counts[event.type] += 1
        pairs = zip(recording.decision.events, recording.events, strict=True)
        for (stream_id, appended), (_, new) in pairs:
            if category(stream_id) == "stock":
                moved = dict.fromkeys(units(appended))
                self._tracked += [(new.event_id, s, u) for s, u in moved]
        for stream_id, state in recording.states.items():
            if state.version != states[stream_id].version:
                self._keep(stream_id, states[stream_id], state)
        self.pending += len(recording.events)
        if recording.events and self.first is None:
            self.first = recording.events[0][1].recorded_at
        return recording.decision

    def _keep(self, stream_id: str, before: State, state: State) -> None:
        if before.version == 0:
            self.streams[category(stream_id)] += 1
        if before.version // self.snapshot_every != state.version // self.snapshot_every:
            json = orjson.dumps(state_to_json(state)).decode()
            self._snapshots.append((stream_id, state.version, state.updated_at or self.now, json))
        self._changed[stream_id] = state
        tracked = isinstance(state, StockState) and (state.lots or state.serials)
        if tracked and stream_id not in self._before:
            self._before[stream_id] = before
        ended = (isinstance(state, ReservationState) and not state.is_open) or (
            isinstance(state, TransferState) and state.status is TransferStatus.RECEIVED
        )
        if ended:  # never touched again: keep memory flat over millions of events
            self.states.pop(stream_id, None)
        else:
            self.states[stream_id] = state

    def take(self) -> Chunk:
        """The buffered events as one transaction's writes (each stream at its version before)."""
        writes = [StreamWrite(s, v, tuple(events)) for s, (v, events) in self._events.items()]
        tracked = {s: self._changed[s] for s in self._before}
        chunk = Chunk(
            writes,
            deadlines(self._changed),
            self._snapshots,
            self.pending,
            order_lines(self._changed),
            serial_changes(self._before, tracked),
            holdings(self._before, tracked),
            self._tracked,
        )
        self._events, self._changed, self._snapshots, self.pending = {}, {}, [], 0
        self._before, self._tracked = {}, []
        return chunk

    def still_open(self) -> Counter[str]:
        return Counter(
            f"{category(s)}s {state.status.value}"
            for s, state in self.states.items()
            if isinstance(state, ReservationState | TransferState)
        )
