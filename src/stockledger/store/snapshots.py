"""Snapshots of stream state every N events, and loading state as snapshot + tail."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from datetime import datetime
from typing import Any

import asyncpg
from pydantic import TypeAdapter

from ..domain.aggregates import STATE_TYPES, State, fold_events, initial_state
from ..domain.costing import apply, method_at
from ..domain.events import from_data
from ..domain.stock.state import StockState
from ..domain.streams import category, item_stream, parse_stock_stream
from ..domain.upcasting import (
    dispatch_of,
    method_changes,
    resolved,
    unresolved_arrival,
    unvalued_receipt,
    valued,
)
from ..domain.valuation import Layer
from .event_store import Connection
from .rows import RecordedEvent

_ADAPTERS: dict[str, TypeAdapter[Any]] = {
    kind: TypeAdapter(state) for kind, state in STATE_TYPES.items()
}
_KINDS: dict[type[State], str] = {state: kind for kind, state in STATE_TYPES.items()}

# The snapshot's state goes out on each stream's first row only (it is read from there): sent
# on every row, a snapshot + 99-event tail shipped and decoded the state 99 times.
_LOAD = """
SELECT x.stream_id,
       CASE WHEN row_number() OVER (PARTITION BY x.stream_id ORDER BY e.version) = 1
            THEN s.state END AS state,
       e.position, e.event_id, e.stream_id AS event_stream, e.version,
       e.type, e.schema_version, e.data, e.metadata, e.recorded_at
FROM unnest($1::text[]) AS x(stream_id)
LEFT JOIN LATERAL (
    SELECT version, state FROM snapshots
    WHERE stream_id = x.stream_id AND ($2::int IS NULL OR version <= $2)
      AND ($3::timestamptz IS NULL OR recorded_at <= $3)
      -- a stock snapshot from before valuation holds no value: fold from an earlier one
      AND (x.stream_id NOT LIKE 'stock:%' OR state ? 'value')
    ORDER BY version DESC LIMIT 1
) s ON true
LEFT JOIN LATERAL (
    SELECT * FROM events
    WHERE stream_id = x.stream_id AND version > COALESCE(s.version, 0)
      AND ($2::int IS NULL OR version <= $2) AND ($3::timestamptz IS NULL OR recorded_at <= $3)
    ORDER BY version
) e ON true
ORDER BY x.stream_id, e.version
"""


def state_to_json(state: State) -> dict[str, Any]:
    data: dict[str, Any] = _ADAPTERS[_KINDS[type(state)]].dump_python(state, mode="json")
    return data


def state_from_json(stream_id: str, data: dict[str, Any]) -> State:
    state: State = _ADAPTERS[category(stream_id)].validate_python(data)
    return state


def fold(state: State, events: Iterable[RecordedEvent]) -> State:
    return fold_events(
        state, ((from_data(e.type, e.data, e.schema_version), e.recorded_at) for e in events)
    )


class StateLoader:
    def __init__(self, pool: asyncpg.Pool[Any]) -> None:
        self.pool = pool

    async def load(
        self,
        stream_ids: Iterable[str],
        *,
        version: int | None = None,
        until: datetime | None = None,
        conn: Connection | None = None,
    ) -> dict[str, State]:
        """Each stream's state from its nearest snapshot plus the events after it, in one query.

        With `version` or `until`, the state as it was then (time travel); with `conn`, as that
        connection's transaction sees it."""
        ids = list(dict.fromkeys(stream_ids))
        rows = await (conn or self.pool).fetch(_LOAD, ids, version, until)
        starts: dict[str, State] = {}
        tails: dict[str, list[RecordedEvent]] = {}
        for row in rows:
            stream_id = row["stream_id"]
            if stream_id not in starts:
                snap = row["state"]
                starts[stream_id] = (
                    state_from_json(stream_id, snap) if snap else initial_state(stream_id)
                )
                tails[stream_id] = []
            if row["position"] is not None:
                tails[stream_id].append(RecordedEvent(*list(row.values())[2:]))
        for stream_id, tail in tails.items():
            if any(unvalued_receipt(e.type, e.data) for e in tail):
                tails[stream_id] = await self._with_methods(stream_id, tail, conn)
            if any(unresolved_arrival(stream_id, e.type, e.data) for e in tail):
                tails[stream_id] = [
                    await self._resolved(stream_id, e, conn) for e in tails[stream_id]
                ]
        return {stream_id: fold(state, tails[stream_id]) for stream_id, state in starts.items()}

    async def _with_methods(
        self, stream_id: str, tail: list[RecordedEvent], conn: Connection | None
    ) -> list[RecordedEvent]:
        """v1 receipts with the valuation method their item had when they were recorded, as a
        v2 receipt records it (FIFO for an SKU never defined)."""
        sku, _ = parse_stock_stream(stream_id)
        found = await (conn or self.pool).fetch(
            "SELECT recorded_at, data FROM events WHERE stream_id = $1 ORDER BY version",
            item_stream(sku),
        )
        changes = method_changes((r["recorded_at"], r["data"]) for r in found)
        return [
            replace(e, data=valued(e.data, method_at(changes, e.recorded_at)))
            if unvalued_receipt(e.type, e.data)
            else e
            for e in tail
        ]

    async def _resolved(
        self, stream_id: str, event: RecordedEvent, conn: Connection | None
    ) -> RecordedEvent:
        """A v1 transfer's copy on its destination with the layers it carried, as a v2 event
        records them: the source stream's layers its dispatch took, derived by folding the
        source up to that dispatch (upcasting.py)."""
        if not unresolved_arrival(stream_id, event.type, event.data):
            return event
        data = event.data
        source, type_name, match = dispatch_of(data)
        version = await (conn or self.pool).fetchval(
            "SELECT version FROM events WHERE stream_id = $1 AND type = $2 AND data @> $3",
            source,
            type_name,
            match,
        )
        layers: tuple[Layer, ...] = ()
        if version is not None:
            before = (await self.load([source], version=version - 1, conn=conn))[source]
            if isinstance(before, StockState):
                moved = apply(
                    before.value,
                    before.sku,
                    before.warehouse_id,
                    from_data(event.type, data, event.schema_version),
                    event.recorded_at,
                )[1]
                layers = moved.layers or ()
        return replace(event, data=resolved(data, layers))

    async def save_snapshot(self, stream_id: str, state: State) -> None:
        if state.version == 0 or state.updated_at is None:
            return
        await self.pool.execute(
            "INSERT INTO snapshots (stream_id, version, recorded_at, state) VALUES ($1, $2, $3, $4)"
            " ON CONFLICT DO NOTHING",
            stream_id,
            state.version,
            state.updated_at,
            state_to_json(state),
        )
