"""An in-memory ledger for domain tests: the write path's `record` over a dict of streams."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from uuid import uuid4

from stockledger.domain.aggregates import State, evolve, initial_state
from stockledger.domain.commands import Command
from stockledger.domain.decision import Decision
from stockledger.domain.events import Event
from stockledger.domain.stock.state import StockState
from stockledger.write.record import Caller, record, streams_of

T0 = datetime(2026, 1, 1, tzinfo=UTC)


@dataclass
class MemoryLedger:
    now: datetime = T0
    states: dict[str, State] = field(default_factory=dict)
    log: list[tuple[str, Event, datetime]] = field(default_factory=list)
    catalog_required: bool = False

    def state(self, stream_id: str) -> State:
        return self.states.get(stream_id) or initial_state(stream_id)

    def stock(self, sku: str, warehouse_id: str) -> StockState:
        state = self.state(f"stock:{sku}:{warehouse_id}")
        assert isinstance(state, StockState)
        return state

    def handle(self, command: Command) -> Decision:
        """Load every stream the command needs, record it, and keep the new states."""
        required = self.catalog_required
        streams = streams_of(command, self.state, catalog_required=required)
        states = {s: self.state(s) for s in streams}
        recording = record(
            command, states, self.now, Caller("test"), uuid4, catalog_required=required
        )
        at = recording.events[0][1].recorded_at if recording.events else self.now
        for stream_id, event in recording.decision.events:
            self.log.append((stream_id, event, at))
        self.states.update(
            (s, state) for s, state in recording.states.items() if state != states[s]
        )
        return recording.decision

    def tick(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)

    def refold(self) -> dict[str, State]:
        """Every stream's state folded from scratch from the log."""
        folded: dict[str, State] = {}
        for stream_id, event, at in self.log:
            folded[stream_id] = evolve(folded.get(stream_id) or initial_state(stream_id), event, at)
        return folded
