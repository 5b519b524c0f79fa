"""An in-memory ledger for domain tests: decide + evolve over a dict of streams, no I/O."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from stockledger.domain.commands import Command
from stockledger.domain.decide import Decision, decide, required_streams
from stockledger.domain.events import Event
from stockledger.domain.state import State, StockState, evolve, initial_state

T0 = datetime(2026, 1, 1, tzinfo=UTC)


@dataclass
class MemoryLedger:
    now: datetime = T0
    states: dict[str, State] = field(default_factory=dict)
    log: list[tuple[str, Event, datetime]] = field(default_factory=list)

    def state(self, stream_id: str) -> State:
        return self.states.get(stream_id) or initial_state(stream_id)

    def stock(self, sku: str, warehouse_id: str) -> StockState:
        state = self.state(f"stock:{sku}:{warehouse_id}")
        assert isinstance(state, StockState)
        return state

    def handle(self, command: Command) -> Decision:
        """Load every stream the command needs, decide, and apply the events."""
        streams: tuple[str, ...] = ()
        while True:
            needed = required_streams(command, {s: self.state(s) for s in streams})
            if needed == streams:
                break
            streams = needed
        decision = decide(command, {s: self.state(s) for s in streams}, self.now)
        for stream_id, event in decision.events:
            self.states[stream_id] = evolve(self.state(stream_id), event, self.now)
            self.log.append((stream_id, event, self.now))
        return decision

    def tick(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)

    def refold(self) -> dict[str, State]:
        """Every stream's state folded from scratch from the log."""
        folded: dict[str, State] = {}
        for stream_id, event, at in self.log:
            folded[stream_id] = evolve(folded.get(stream_id) or initial_state(stream_id), event, at)
        return folded
