"""What the read side reads from, and how an answer names where it came from.

The modules beside this one answer one question each (a level, a listing, a catalog page, the
alerts...); each chooses its source (Redis, then the Postgres read models, then a fold of the
event store) so that a route only parses, calls and presents. `ReadSources` is built once per
process by the composition root (`wiring.open_services`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, Literal, TypeVar

from ..domain.aggregates import State
from ..store.event_store import EventStore
from ..store.snapshots import StateLoader
from .projected import ProjectedReader
from .stock import StockReader

T = TypeVar("T")

Consistency = Literal["eventual", "strong"]  # strong: a fold of the event store, never stale


@dataclass(frozen=True, slots=True)
class Source:
    """Where an answer came from: `redis`, `postgres` (a read model) or `event-store` (a fold),
    and when a projection last wrote it, so a client can judge its freshness."""

    name: str
    projected_at: datetime | None = None


EVENT_STORE = Source("event-store")
READ_MODEL = Source("postgres")


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    """A keyset page: its rows, and whether more may follow (the route makes the cursor)."""

    rows: list[T]
    more: bool


@dataclass(frozen=True, slots=True)
class ReadSources:
    store: EventStore
    loader: StateLoader  # snapshot + tail folds, the states the write path decides on
    stock: StockReader  # stock levels, time travel and history from the per-event deltas
    projected: ProjectedReader | None  # None: no pipeline, every read folds the store

    @property
    def listing_source(self) -> Source:
        """Where a listing comes from: the read models (pipeline) or a fold of the store."""
        return READ_MODEL if self.projected is not None else EVENT_STORE

    async def state(self, stream: str, until: datetime | None = None) -> State:
        """The stream's state now (snapshot + tail), or as of `until`."""
        return (await self.loader.load([stream], until=until))[stream]

    async def states_after(
        self, pattern: str, after: str, limit: int, keep: Callable[[Any], bool]
    ) -> Page[Any]:
        """Up to `limit` states of the streams matching `pattern` after the stream id `after`,
        those `keep` takes, folded from the store (always current): stream ids by a loose index
        scan, a page filled from the next ids when `keep` left some out. `more`: a full page."""
        found: list[Any] = []
        while len(found) < limit:
            streams = await self.stock.streams_after(pattern, after, limit)
            states = await self.loader.load(streams) if streams else {}
            found += [st for x in streams if keep(st := states[x])][: limit - len(found)]
            if len(streams) < limit:
                return Page(found, False)
            after = streams[-1]
        return Page(found, True)
