"""The write path's decide/evolve/NewEvent steps in memory on a simulated clock (for `seed`).

`BulkLedger.execute` does for one command what `Ledger._decide_all` does (service.py): the same
streams, clock rule, correlation id, metadata, order id and per-event delta, so bulk-written
events are exactly the ones the API would have appended. `take()` hands the buffered events over
as one transaction's `StreamWrite`s, each stream at the version it had before them.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from uuid import uuid4

import orjson

from .domain import commands as c
from .domain.decide import Decision, decide, required_streams
from .domain.errors import DomainError
from .domain.events import SCHEMA_VERSION, to_data
from .domain.state import (
    NO_CHANGE,
    ReservationState,
    State,
    StockState,
    TransferState,
    TransferStatus,
    delta,
    evolve,
    initial_state,
)
from .domain.streams import category, reservation_stream, stock_stream
from .service import Caller, _correlation, _metadata
from .store.records import NewEvent, StreamWrite
from .store.snapshots import state_to_json


@dataclass(slots=True)
class Chunk:
    writes: list[StreamWrite]
    snapshots: list[tuple[str, int, datetime, str]]  # stream, version, recordedAt, state JSON
    closed: list[str]  # reservations both made and ended in this chunk
    events: int


class BulkLedger:
    """The write path's decide/evolve/NewEvent steps in memory, on a simulated clock."""

    def __init__(self, snapshot_every: int, now: datetime) -> None:
        self.snapshot_every, self.now = snapshot_every, now
        self.states: dict[str, State] = {}
        self.pending = 0
        self._events: dict[str, tuple[int, list[NewEvent]]] = {}
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
        """Decide and apply one command like `Ledger._decide_all`; None when it is refused."""
        streams: tuple[str, ...] = ()
        while (needed := required_streams(command, {s: self.state(s) for s in streams})) != streams:
            streams = needed
        states = {s: self.state(s) for s in streams}
        now = max([self.now, *(s.updated_at or self.now for s in states.values())])
        correlation = _correlation(command, states) or str(uuid4())
        try:
            decision = decide(command, states, now)
        except DomainError as error:
            self.refused[f"{type(command).__name__}: {type(error).__name__}"] += 1
            return None
        metadata = _metadata(Caller(principal), correlation)
        for stream_id, event in decision.events:
            state = self.state(stream_id)
            data = to_data(event)
            new = NewEvent(
                event_id=uuid4(),
                type=event.TYPE,
                schema_version=SCHEMA_VERSION,
                data=data,
                metadata=metadata,
                recorded_at=now,
                correlation_id=correlation,
                order_id=data.get("orderId"),
                delta=delta(state, event) if isinstance(state, StockState) else NO_CHANGE,
            )
            self._events.setdefault(stream_id, (state.version, []))[1].append(new)
            self._keep(stream_id, evolve(state, event, now))
            self.counts[event.TYPE] += 1
        self.pending += len(decision.events)
        self.first = self.first or now
        return decision

    def _keep(self, stream_id: str, state: State) -> None:
        if state.version == 1:
            self.streams[category(stream_id)] += 1
        if state.version % self.snapshot_every == 0:
            json = orjson.dumps(state_to_json(state)).decode()
            self._snapshots.append((stream_id, state.version, state.updated_at or self.now, json))
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
        # After StockReserved, every event of a reservation stream ends its deadline.
        closed = [
            w.stream_id.split(":", 1)[1]
            for w in writes
            if category(w.stream_id) == "reservation"
            and w.events[0].type == "StockReserved"
            and len(w.events) > 1
        ]
        chunk = Chunk(writes, self._snapshots, closed, self.pending)
        self._events, self._snapshots, self.pending = {}, [], 0
        return chunk

    def still_open(self) -> Counter[str]:
        return Counter(
            f"{category(s)}s {state.status.value}"
            for s, state in self.states.items()
            if not isinstance(state, StockState)
        )
