"""What each decided event cost, recorded on it (v2) as the write path appends it."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import Any

from ..costing import apply as apply_cost
from ..costing import recorded
from ..decision import Decision, Pending, States
from ..events import Event
from .events import StockShipped
from .state import StockState


def with_costs(decision: Decision, states: States, now: datetime) -> Decision:
    """The decision's events with the cost each took recorded on it (v2), by the rules of
    `costing` applied to each stock stream's value in the decision's order. A fact appended
    to several streams is one object there (a transfer on its own, source and destination
    streams) and records the figures of the stock stream that gave them: a transfer the
    source's cost and layers, which the destination then carries in transit; an arrival the
    destination's. A reservation's shipment holds every line: each line gets its stream's."""
    values: dict[str, Any] = {}
    filled: dict[int, Event] = {}  # id of a decided event -> it with its figures
    for stream_id, event in decision.events:
        state = states.get(stream_id)
        if not isinstance(state, StockState):
            continue
        given = filled.get(id(event), event)
        value, move = apply_cost(
            values.get(stream_id, state.value), state.sku, state.warehouse_id, given, now
        )
        values[stream_id] = value
        filled[id(event)] = recorded(given, move, state.sku, state.warehouse_id)
    if not filled:
        return decision
    shipped = {
        (x.sku, x.warehouse_id): x.cost
        for e in filled.values()
        if isinstance(e, StockShipped)
        for x in e.lines
        if x.cost is not None
    }
    events: list[Pending] = []
    for stream_id, event in decision.events:
        if id(event) in filled:
            events.append((stream_id, filled[id(event)]))
        elif isinstance(event, StockShipped):  # the reservation's copy: every line's cost
            lines = tuple(
                replace(x, cost=shipped.get((x.sku, x.warehouse_id))) for x in event.lines
            )
            events.append((stream_id, replace(event, lines=lines)))
        else:
            events.append((stream_id, event))
    return replace(decision, events=tuple(events))
