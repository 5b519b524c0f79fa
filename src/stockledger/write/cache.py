"""The writer's stream states: an LRU cache in front of the store's snapshot + tail loads.

A batch is decided against the cached states, which are those the batches of this process left
(the writer puts every new state after its commit). Nothing keeps them fresh against other
processes: a stale state costs a conflict, never a wrong write, because the append checks every
stream it wrote or read at the version the batch was decided on (write/batch.py), and the batch
then runs again on states read under the streams' locks (write/batch_writer.py). Batches in flight
at once may finish out of order, so a state never replaces a later version of its stream.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable, Mapping, Sequence

from ..domain import commands as c
from ..domain.aggregates import State
from ..store.snapshots import StateLoader
from .record import unread


class StateCache:
    """Stream states with their version, most recently used kept (bounded)."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._states: OrderedDict[str, State] = OrderedDict()

    def get(self, stream_id: str) -> State | None:
        state = self._states.get(stream_id)
        if state is not None:
            self._states.move_to_end(stream_id)
        return state

    def peek(self, stream_id: str) -> State | None:
        """The cached state, without counting as a use."""
        return self._states.get(stream_id)

    def put(self, stream_id: str, state: State) -> None:
        """Keep `state` unless a later version of the stream is cached (batches in flight
        at once may finish out of order)."""
        current = self._states.get(stream_id)
        if current is not None and current.version > state.version:
            self._states.move_to_end(stream_id)
            return
        self._states[stream_id] = state
        self._states.move_to_end(stream_id)
        while len(self._states) > self.size:
            self._states.popitem(last=False)

    def drop(self, stream_ids: Iterable[str]) -> None:
        for stream_id in stream_ids:
            self._states.pop(stream_id, None)


async def states_for(
    commands: Sequence[c.Command],
    cache: StateCache,
    loader: StateLoader,
    known: Mapping[str, State] | None = None,
    *,
    catalog_required: bool = False,
) -> dict[str, State]:
    """The state of every stream `commands` read: `known`, else cached, else snapshot + tail
    (one load per round for every stream not cached, then cached)."""
    states: dict[str, State] = dict(known or {})
    for missing in unread(commands, states, catalog_required=catalog_required):
        cold = []
        for stream_id in missing:
            cached = cache.get(stream_id)
            if cached is None:
                cold.append(stream_id)
            else:
                states[stream_id] = cached
        if cold:
            loaded = await loader.load(cold)
            for stream_id, state in loaded.items():
                cache.put(stream_id, state)
            states.update(loaded)
    return states
