"""Writing one batch: optimistically against the cache, then pessimistically under stream locks.

Several processes (docs/architecture.md, "Group commit"): a batch is first decided against the
cache and appended optimistically. A conflict means another process wrote one of its streams;
the batch then runs pessimistically: one transaction takes the advisory lock of every stream the
batch reads or writes (store `transaction()`, sorted lock keys, so no deadlock), reads those
streams under the locks, decides again and appends. Every append takes the same locks, so no
other writer can move those streams in between: the second try cannot conflict, and a valid
command is not refused because other processes were busy. `409 version-conflict` is left for the
pathological case (a batch whose streams change between decisions, e.g. a reservation naming a
stream not locked) and counted (`stockledger_commands_refused_total`).

The batch's events, their due-reservation rows (`record.deadlines`) and the receipts of its
keyed commands (write/receipts.py) commit in one transaction.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

import structlog

from ..domain import commands as c
from ..domain.aggregates import State
from ..domain.errors import SerialInStock
from ..domain.streams import category
from ..metrics import BATCH_SIZE, CONFLICTS, REFUSED_CONFLICTS, RETRIES
from ..store.event_store import Connection, EventStore
from ..store.rows import ConcurrencyConflict, IdempotencyKeyTaken, RecordedEvent, StreamWrite
from ..store.snapshots import StateLoader
from .batch import Decided, Job, answer_of, decide_batch, fail, receipt_of
from .cache import StateCache, states_for
from .catalog_rules import CACHED_CATALOG, CATALOG_REFUSALS, StaleCatalog, only_read, stale_kit
from .facts import fact_of, needs_facts
from .lot_holdings import keep_holdings
from .record import deadlines, order_lines
from .serial_places import SerialTaken, place_serials, serial_changes
from .tracked_events import index_tracked

log = structlog.get_logger()

MAX_ATTEMPTS = 8
CONTENDED_SECONDS = 1.0  # see run


class VersionConflictExhausted(Exception):
    """Retries against other processes' appends ran out (maps to 409 version-conflict)."""

    def __init__(self, conflict: ConcurrencyConflict) -> None:
        self.conflict = conflict
        super().__init__(str(conflict))


class BatchWriter:
    def __init__(
        self,
        store: EventStore,
        loader: StateLoader,
        cache: StateCache,
        *,
        snapshot_every: int,
        clock: Callable[[], datetime],
        new_id: Callable[[], UUID],
        catalog_required: bool = False,
    ) -> None:
        self.store = store
        self.loader = loader
        self.cache = cache
        self.snapshot_every = snapshot_every
        self.clock = clock
        self.new_id = new_id
        self.catalog_required = catalog_required
        self._background: set[asyncio.Task[Any]] = set()  # snapshots being saved
        self._contended: dict[str, float] = {}  # stream -> until when batches start locked

    async def close(self) -> None:
        await asyncio.gather(*self._background, return_exceptions=True)

    async def run(self, jobs: list[Job]) -> None:
        """Optimistic once; after a conflict, pessimistic under the streams' locks. A batch
        touching a stream that met another process's append in the last CONTENDED_SECONDS
        starts pessimistic: on a hot SKU shared by processes, the optimistic try would only
        cost a transaction that fails."""
        BATCH_SIZE.observe(len(jobs))
        attempt, now = 0, time.monotonic()
        pessimistic = any(
            self._contended.get(s, 0.0) > now for job in jobs for s in job.streams or ()
        ) or any(needs_facts(job.command) for job in jobs)
        while True:
            try:
                if pessimistic:
                    await self._write_locked(jobs)
                else:
                    await self._write_cached(jobs)
                return
            except ConcurrencyConflict as conflict:
                CONFLICTS.inc()
                self._contend(conflict.stream_id)
                attempt += 1
                log.info(
                    "append conflict",
                    stream=conflict.stream_id,
                    attempt=attempt,
                    expected=conflict.expected,
                    actual=conflict.actual,
                    pessimistic=pessimistic,
                )
                if attempt >= MAX_ATTEMPTS:
                    REFUSED_CONFLICTS.inc(len(jobs))
                    for job in jobs:
                        fail(job, VersionConflictExhausted(conflict))
                    return
                RETRIES.inc()
                if pessimistic:  # only a stream found late can do this: a short pause helps
                    await asyncio.sleep(random.uniform(0, 0.002 * 2**attempt))
                pessimistic = True
            except StaleCatalog:  # decided again on the store's catalog, under the locks
                pessimistic = True
            except IdempotencyKeyTaken as taken:
                # Those requests were recorded elsewhere first: each answers with that record
                # (Ledger._execute_keyed); the rest run again at once. Not an attempt: the batch
                # only shrinks, so this ends.
                for job in jobs:
                    if (job.caller.principal, job.caller.idempotency_key) in taken.keys:
                        fail(job, taken)
                jobs = [job for job in jobs if not job.future.done()]
                if not jobs:
                    return
            except SerialTaken as taken:
                # Serials another place holds (write/serial_places.py): the commands that
                # brought them in are refused, naming where; the rest run again at once (the
                # batch only shrinks, so this ends).
                refused: list[tuple[Job, Exception]] = [
                    (job, r) for job in jobs if (r := _serial_refusal(job.command, taken))
                ]
                for job, refusal in refused or [(job, taken) for job in jobs]:
                    fail(job, refusal)  # (none to blame: a bug; every job gets the error)
                jobs = [job for job in jobs if not job.future.done()]
                if not jobs:
                    return

    async def _write_cached(self, jobs: list[Job]) -> None:
        states = await self._states_for(jobs)
        decided, writes, new_states = self._decide(jobs, states)
        if any(
            isinstance(item.error, CATALOG_REFUSALS) or stale_kit(item.error, states)
            for item in decided
        ):
            # A refusal on a cached item, warehouse or kit (unknown, inactive, no kit yet)
            # appends nothing, so no version check would tell that another process has since
            # defined or activated it: the batch is decided again on the store's state (the
            # locked path reads it).
            self.cache.drop(s for s in states if category(s) in CACHED_CATALOG)
            raise StaleCatalog
        await self._prefetch_already(decided)
        try:
            recorded = await self._record(decided, writes, new_states, None, states)
        except ConcurrencyConflict:
            self.cache.drop(w.stream_id for w in writes)
            raise
        self._commit(states, new_states, decided, recorded)

    async def _write_locked(self, jobs: list[Job]) -> None:
        """Decide and append in one transaction that holds every stream's lock (see above)."""
        known = await self._states_for(jobs)  # which streams: their states are read again
        shared = only_read((job.command for job in jobs), known)
        async with self.store.transaction(known, shared) as conn:
            states = await self.loader.load(known, conn=conn)
            for stream_id, state in states.items():
                self.cache.put(stream_id, state)
            states = await self._states_for(jobs, states)  # a stream not locked: see above
            for job in jobs:  # facts beyond the streams, read under the same locks
                fact = fact_of(job.command)
                job.decided_as = None if fact is None else await fact.in_store(self.store, conn)
            decided, writes, new_states = self._decide(jobs, states)
            await self._prefetch_already(decided)
            recorded = await self._record(decided, writes, new_states, conn, states)
        self._commit(states, new_states, decided, recorded)

    async def _states_for(
        self, jobs: Sequence[Job], known: Mapping[str, State] | None = None
    ) -> dict[str, State]:
        """The current state of every stream the batch needs (cache, else snapshot + tail)."""
        commands = [job.command for job in jobs]
        return await states_for(
            commands, self.cache, self.loader, known, catalog_required=self.catalog_required
        )

    def _decide(
        self, jobs: Sequence[Job], states: Mapping[str, State]
    ) -> tuple[list[Decided], list[StreamWrite], dict[str, State]]:
        return decide_batch(
            jobs, states, self.clock, self.new_id, catalog_required=self.catalog_required
        )

    async def _record(
        self,
        decided: Sequence[Decided],
        writes: list[StreamWrite],
        new_states: Mapping[str, State],
        conn: Connection | None,
        before: Mapping[str, State],
    ) -> list[RecordedEvent]:
        """Append the batch's events, their due-reservation rows, the places of the serials
        they moved and the receipts of its keyed commands in one transaction (`conn`'s, or one
        of its own)."""
        keyed = [item for item in decided if item.keyed]
        if not writes and not keyed:
            return []
        if conn is None:
            checked = [w.stream_id for w in writes if not w.events]
            async with self.store.transaction((w.stream_id for w in writes), checked) as own:
                return await self._record(decided, writes, new_states, own, before)
        recorded = (
            await self.store.append(
                writes, deadlines(new_states), conn=conn, orders=order_lines(new_states)
            )
            if writes
            else []
        )
        await place_serials(conn, serial_changes(before, new_states))
        await keep_holdings(conn, before, new_states)
        await index_tracked(conn, decided, recorded)
        if keyed:
            by_id = {e.event_id: e for e in recorded}
            await self.store.save_idempotency(conn, [receipt_of(x, by_id) for x in keyed])
        return recorded

    def _commit(
        self,
        states: Mapping[str, State],
        new_states: Mapping[str, State],
        decided: Sequence[Decided],
        recorded: list[RecordedEvent],
    ) -> None:
        for stream_id, state in new_states.items():
            self._remember(stream_id, states.get(stream_id), state)
        by_id = {e.event_id: e for e in recorded}
        for item in decided:
            if item.job.future.done():
                continue
            if item.error is not None and item.job.caller.idempotency_key is None:
                item.job.future.set_exception(item.error)
            else:
                item.job.future.set_result(answer_of(item, by_id))

    async def _prefetch_already(self, decided: Sequence[Decided]) -> None:
        """Commands the ledger already carried out answer with the earlier events (found now,
        before the append, so a keyed one's receipt can be stored with the batch)."""
        for item in decided:
            if item.recording is not None and (a := item.recording.decision.already) is not None:
                item.found = await self.store.find(a.stream_id, a.type_name, a.match)

    def _remember(self, stream_id: str, before: State | None, after: State) -> None:
        self.cache.put(stream_id, after)
        old = before.version if before else 0
        if old // self.snapshot_every != after.version // self.snapshot_every:
            task = asyncio.create_task(self.loader.save_snapshot(stream_id, after))
            self._background.add(task)
            task.add_done_callback(self._background.discard)

    def _contend(self, stream_id: str) -> None:
        now = time.monotonic()
        if len(self._contended) > 10_000:  # bounded: forget what has cooled down
            self._contended = {s: t for s, t in self._contended.items() if t > now}
        self._contended[stream_id] = now + CONTENDED_SECONDS


def _serial_refusal(command: c.Command, taken: SerialTaken) -> SerialInStock | None:
    """The refusal of a command that brought in a serial another place holds (None: it did
    not; the place that won is not refused)."""
    match command:
        case c.ReceiveStock(serials=tuple(serials)) | c.ReturnStock(serials=tuple(serials)):
            pass
        case c.AdjustStock(serials=tuple(serials)) | c.CountStock(serials=tuple(serials)):
            pass
        case _:
            return None
    for serial in serials:
        place = taken.taken.get((command.sku, serial))
        if place is not None and place.warehouse_id != command.warehouse_id:
            return SerialInStock(command.sku, serial, place.warehouse_id, place.status)
    return None
