"""The one write path: load state, decide, append (events + idempotency in one transaction), retry.

Every command of every process goes through `Ledger.execute`. Inside a process, commands
queue for one writer task that takes everything waiting, decides the commands one after
another against the cached stream states (each sees the events of those before it), and
appends the whole batch in ONE transaction (group commit). A hot SKU therefore costs one round
of decide + one transaction for many reservations instead of a conflict storm. Batches whose
streams are disjoint run at once (up to MAX_IN_FLIGHT): the next is decided and sent while the
previous one commits; a stream is in at most one running batch (`_write_loop`).

Several processes (DESIGN.md "Hot SKUs across processes"): a batch is first decided against the
cache and appended optimistically. A conflict means another process wrote one of its streams;
the batch then runs pessimistically: one transaction takes the advisory lock of every stream the
batch reads or writes (store `transaction()`, sorted lock keys, so no deadlock), reads those
streams under the locks, decides again and appends. Every append takes the same locks, so no
other writer can move those streams in between: the second try cannot conflict, and a valid
command is not refused because other processes were busy. `409 version-conflict` is left for
the pathological case (a batch whose streams change between decisions, e.g. a reservation
naming a stream not locked) and counted (`stockledger_commands_refused_total`).

What a command gets back is an `Answer`: its domain `Outcome` (the events, the stock levels,
the reservation), or, under an Idempotency-Key, the `DomainError` that refused it; the API
renders either. Deciding and stamping a command is `record.record`, shared with every other
writer; the due-reservation rows follow from the new states (`record.deadlines`).

Idempotency keys: the receipt of every keyed command (its outcome or refusal, `receipt()`),
is inserted in the batch's transaction with ON CONFLICT DO NOTHING. Exactly one execution owns a
key: a copy of the request running in another process waits on the unique index, finds the key
taken and answers with the winner's receipt, whatever that was.

The writer resolves every job it takes, on every path out of a batch (`_write_loop`'s finally).
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any
from uuid import UUID, uuid4

import structlog
from pydantic import TypeAdapter

from ..domain import commands as c
from ..domain.aggregates import State, required_streams
from ..domain.catalog.state import ItemState, WarehouseState
from ..domain.errors import (
    DomainError,
    ItemInactive,
    UnknownItem,
    UnknownWarehouse,
    WarehouseInactive,
)
from ..domain.reorder.state import ReorderState
from ..domain.reservation.state import ReservationState
from ..domain.stock.state import StockLevel
from ..domain.streams import category
from ..metrics import BATCH_SIZE, COMMAND_SECONDS, CONFLICTS, REFUSED_CONFLICTS, RETRIES
from ..store.event_store import Connection, EventStore
from ..store.rows import (
    ConcurrencyConflict,
    IdempotencyKeyTaken,
    IdempotencyRecord,
    NewEvent,
    RecordedEvent,
    StreamWrite,
)
from ..store.snapshots import StateLoader
from .record import Caller, Recording, correlation_of, deadlines, record

log = structlog.get_logger()

MAX_BATCH = 256
MAX_ATTEMPTS = 8
CONTENDED_SECONDS = 1.0  # see _run_batch
MAX_IN_FLIGHT = 4  # batches appending at once (each holds one pooled connection)
# Streams that stock commands read beside the stock they move (items, warehouses, reorder rules):
# locked shared and left out of the pipelining footprint unless a command of theirs writes them.
READ_CHECKED = frozenset({"item", "warehouse", "reorder"})


def utcnow() -> datetime:
    return datetime.now(UTC)


__all__ = ["Answer", "Caller", "Ledger", "Outcome", "utcnow"]


@dataclass(frozen=True, slots=True)
class Outcome:
    """What a command did: the events it appended, the stock levels it left and the reservation
    it concerns. `already`: the ledger had carried it out before (same receipt, shipment,
    return id, ...); `events` are then the earlier ones and nothing was appended."""

    events: list[RecordedEvent]
    stock: list[StockLevel]
    reservation: ReservationState | None
    already: bool = False
    catalog: ItemState | WarehouseState | ReorderState | None = None  # what a catalog command set


@dataclass(frozen=True, slots=True)
class Answer:
    """The ledger's answer to one command: its outcome, or the refusal recorded under its
    Idempotency-Key (a refusal without a key is raised); `replayed`: an earlier execution's
    answer (a recorded key or an id the ledger already holds)."""

    outcome: Outcome | None
    refusal: DomainError | None
    replayed: bool
    correlation_id: str
    # The HTTP status and body recorded by a version before receipts (0005), sent as they are.
    earlier: tuple[int, dict[str, Any]] | None = None


def receipt(answer: Answer) -> dict[str, Any]:
    """An answer as JSON, for its idempotency record; `from_receipt` reads it back."""
    written: dict[str, Any] = {"correlationId": answer.correlation_id}
    if answer.refusal is not None:
        written["refusal"] = answer.refusal.to_json()
    elif (outcome := answer.outcome) is not None:
        written["outcome"] = {
            "events": [e.envelope() for e in outcome.events],
            "stock": _LEVELS.dump_python(outcome.stock, mode="json"),
            "reservation": _RESERVATION.dump_python(outcome.reservation, mode="json"),
            **_catalog_json(outcome.catalog),
            "already": outcome.already,
        }
    return written


def from_receipt(stored: IdempotencyRecord) -> Answer:
    """The answer an idempotency record holds, as a replay."""
    data = stored.response
    if stored.status_code is not None:  # recorded before receipts: the HTTP answer itself
        body = {k: v for k, v in data.items() if k != "_correlationId"}
        return Answer(None, None, True, data.get("_correlationId", ""), (stored.status_code, body))
    if "refusal" in data:
        return Answer(None, DomainError.from_json(data["refusal"]), True, data["correlationId"])
    written = data["outcome"]
    outcome = Outcome(
        [RecordedEvent.from_envelope(e) for e in written["events"]],
        _LEVELS.validate_python(written["stock"]),
        _RESERVATION.validate_python(written["reservation"]),
        written["already"],
        _catalog_of(written),
    )
    return Answer(outcome, None, True, data["correlationId"])


def _catalog_json(state: ItemState | WarehouseState | ReorderState | None) -> dict[str, Any]:
    match state:
        case ItemState():
            return {"item": _ITEM.dump_python(state, mode="json")}
        case WarehouseState():
            return {"warehouse": _WAREHOUSE.dump_python(state, mode="json")}
        case ReorderState():
            return {"reorder": _REORDER.dump_python(state, mode="json")}
    return {}


def _catalog_of(written: dict[str, Any]) -> ItemState | WarehouseState | ReorderState | None:
    if "item" in written:
        return _ITEM.validate_python(written["item"])
    if "warehouse" in written:
        return _WAREHOUSE.validate_python(written["warehouse"])
    if "reorder" in written:
        return _REORDER.validate_python(written["reorder"])
    return None


_ITEM = TypeAdapter(ItemState)
_WAREHOUSE = TypeAdapter(WarehouseState)
_REORDER = TypeAdapter(ReorderState)
_LEVELS = TypeAdapter(list[StockLevel])
_RESERVATION: TypeAdapter[ReservationState | None] = TypeAdapter(ReservationState | None)


class VersionConflictExhausted(Exception):
    """Retries against other processes' appends ran out (maps to 409 version-conflict)."""

    def __init__(self, conflict: ConcurrencyConflict) -> None:
        self.conflict = conflict
        super().__init__(str(conflict))


class Unresolved(Exception):
    """The writer could not finish a batch (a bug or a crash path); never left hanging."""


class IdempotencyKeyReused(Exception):
    def __init__(self, key: str) -> None:
        self.key = key
        super().__init__(f"Idempotency-Key {key!r} was used for a different request")


@dataclass(slots=True)
class _Job:
    command: c.Command
    caller: Caller
    future: asyncio.Future[Answer] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )
    streams: frozenset[str] | None = None  # what it touches, as far as the cache knows
    decided_as: c.Command | None = None  # the command with its facts, for the next decision


@dataclass(slots=True)
class _Decided:
    job: _Job
    recording: Recording | None
    error: DomainError | None
    correlation_id: str
    found: list[RecordedEvent] | None = None  # the earlier events of an already-recorded one


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


class Ledger:
    def __init__(
        self,
        store: EventStore,
        loader: StateLoader,
        *,
        cache_size: int = 100_000,
        snapshot_every: int = 100,
        clock: Callable[[], datetime] = utcnow,
        new_id: Callable[[], UUID] = uuid4,
        catalog_required: bool = False,
    ) -> None:
        self.store = store
        self.catalog_required = catalog_required  # STOCKLEDGER_CATALOG_REQUIRED
        self.loader = loader
        self.cache = StateCache(cache_size)
        self.snapshot_every = snapshot_every
        self.clock = clock
        self.new_id = new_id
        self._queue: asyncio.Queue[_Job] = asyncio.Queue()
        self._writer: asyncio.Task[None] | None = None
        self._in_flight: dict[tuple[str, str], tuple[str, asyncio.Future[Answer]]] = {}
        self._background: set[asyncio.Task[Any]] = set()
        self._contended: dict[str, float] = {}  # stream -> until when batches start locked

    async def close(self) -> None:
        if self._writer is not None:
            self._writer.cancel()
            await asyncio.gather(self._writer, return_exceptions=True)
        await asyncio.gather(*self._background, return_exceptions=True)

    async def execute(self, command: c.Command, caller: Caller) -> Answer:
        """Run one command through the write path.

        A refusal raises its DomainError, except under an Idempotency-Key: there it is recorded
        like a success and comes back as `Answer.refusal`, the same for every copy of the
        request. Conflicts that outlast the retries raise VersionConflictExhausted."""
        started = time.perf_counter()
        try:
            return await self._execute(command, caller)
        finally:
            COMMAND_SECONDS.labels(type(command).__name__).observe(time.perf_counter() - started)

    async def _execute(self, command: c.Command, caller: Caller) -> Answer:
        key = caller.idempotency_key
        if key is None:
            return await self._submit(command, caller)
        slot = (caller.principal, key)
        if slot in self._in_flight:  # the same key is running in this process: wait for it
            request_hash, running = self._in_flight[slot]
            if request_hash != caller.request_hash:
                raise IdempotencyKeyReused(key)
            first = await asyncio.shield(running)
            return Answer(first.outcome, first.refusal, True, first.correlation_id, first.earlier)
        future: asyncio.Future[Answer] = asyncio.get_running_loop().create_future()
        self._in_flight[slot] = (caller.request_hash, future)
        try:
            response = await self._execute_keyed(command, caller, key)
            future.set_result(response)
            return response
        except BaseException as error:
            future.set_exception(error)
            future.exception()  # retrieved: waiters re-raise it, nobody logs it as lost
            raise
        finally:
            del self._in_flight[slot]

    async def _execute_keyed(self, command: c.Command, caller: Caller, key: str) -> Answer:
        while True:
            stored = await self.store.find_idempotency(caller.principal, key)
            if stored is not None:
                if stored.request_hash != caller.request_hash:
                    raise IdempotencyKeyReused(key)
                return from_receipt(stored)
            try:
                return await self._submit(command, caller)
            except IdempotencyKeyTaken:
                continue  # another process recorded it first: answer with its record

    async def _submit(self, command: c.Command, caller: Caller) -> Answer:
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._write_loop(), name="ledger-writer")
        job = _Job(command, caller)
        self._queue.put_nowait(job)
        return await job.future

    # -- the writer ------------------------------------------------------------------------

    async def _write_loop(self) -> None:
        """Take waiting jobs into batches; keep up to MAX_IN_FLIGHT batches running at once.

        Pipelining: while one batch waits for its commit, the next is decided and sent, as
        long as their streams are disjoint. A job whose streams a running (or an earlier
        held) job touches is held until that batch ends, so a stream's jobs still run in
        arrival order, one batch at a time, and the cached states they are decided against
        are never those of a batch still in flight. (Disjointness is judged from what the
        cache knows; a stream found later is still safe: the store's version check turns an
        overlap into a conflict, and the batch runs again under the streams' locks.)"""
        running: dict[asyncio.Task[None], frozenset[str]] = {}
        held: list[_Job] = []
        getter: asyncio.Task[_Job] | None = None
        fresh: list[_Job] = []  # taken from the queue, in arrival order
        recheck = False
        try:
            while True:
                if len(running) < MAX_IN_FLIGHT:
                    if getter is not None and getter.done():  # took a job while slots were full
                        fresh.append(getter.result())  # it arrived before those still queued
                        getter = None
                    while len(fresh) < MAX_BATCH and not self._queue.empty():
                        fresh.append(self._queue.get_nowait())
                    busy: frozenset[str] = frozenset().union(*running.values())
                    ready, held, recheck = self._next_batch(held, fresh, busy, recheck)
                    fresh = []
                    if ready:
                        task = asyncio.create_task(self._batch(ready), name="ledger-batch")
                        running[task] = frozenset(s for j in ready for s in j.streams or ())
                        continue
                waiters: set[asyncio.Future[Any]] = set(running)
                if len(running) < MAX_IN_FLIGHT:  # a free slot: a new job can start at once
                    getter = getter or asyncio.create_task(self._queue.get())
                    waiters.add(getter)
                done, _ = await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
                if getter is not None and getter in done:
                    fresh.append(getter.result())
                    getter = None
                for finished in done.intersection(running):
                    del running[finished]  # type: ignore[arg-type]
                    recheck = True
        except asyncio.CancelledError:  # close(): let the batches in flight finish cancelling
            for task in running:
                task.cancel()
            await asyncio.gather(*running, return_exceptions=True)
            raise
        finally:  # also when the loop is collected unclosed: nothing may be awaited here
            if getter is not None:
                getter.cancel()
            for task in running:
                task.cancel()
            held += fresh
            while not self._queue.empty():
                held.append(self._queue.get_nowait())
            for job in held:
                _fail(job, Unresolved("the write path stopped before this command ran"))

    def _next_batch(
        self, held: list[_Job], fresh: list[_Job], busy: frozenset[str], recheck: bool
    ) -> tuple[list[_Job], list[_Job], bool]:
        """(the jobs to run now, the jobs still held, whether held jobs must be looked at again).

        Held jobs are looked at again only when a batch ended (or a batch was full): with one
        hot stream, hundreds wait behind one batch, and each arrival must not scan them all."""
        for job in fresh:
            if job.streams is None:
                try:
                    job.streams = self._footprint(job.command)
                except Exception:  # a malformed command fails in its batch, not the loop
                    log.exception("footprint failed", command=type(job.command).__name__)
                    job.streams = frozenset()
        ready: list[_Job] = []
        still: list[_Job] = []
        blocked = set(busy)
        if not recheck:
            still = held
            for job in held:
                blocked.update(job.streams or ())
            candidates = fresh
        else:
            candidates = held + fresh
        full = alone = False  # alone: a job decided on facts (_needs_facts) runs by itself
        for job in candidates:
            streams = job.streams or frozenset()
            if len(ready) >= MAX_BATCH or alone:
                full = True
                still.append(job)
            elif streams & blocked:
                still.append(job)
                blocked.update(streams)
            elif _needs_facts(job.command) and ready:
                full = True  # its facts must see every job before it committed
                still.append(job)
                blocked.update(streams)
            else:
                ready.append(job)
                alone = _needs_facts(job.command)
        return ready, still, full

    def _contend(self, stream_id: str) -> None:
        now = time.monotonic()
        if len(self._contended) > 10_000:  # bounded: forget what has cooled down
            self._contended = {s: t for s, t in self._contended.items() if t > now}
        self._contended[stream_id] = now + CONTENDED_SECONDS

    def _footprint(self, command: c.Command) -> frozenset[str]:
        """The streams a command writes, as far as the cache knows (see _write_loop). Catalog
        streams a stock command only reads are left out: batches reading one item or
        warehouse run at once, and a batch that changes it meanwhile makes theirs conflict."""
        primary = c.primary_streams(command)
        known = {s: st for s in primary if (st := self.cache.peek(s)) is not None}
        streams = required_streams(command, known, catalog_required=self.catalog_required)
        if _writes_catalog(command):
            return frozenset(streams)
        return frozenset(s for s in streams if category(s) not in READ_CHECKED)

    async def _batch(self, jobs: list[_Job]) -> None:
        try:
            await self._run_batch(jobs)
        except Exception as error:  # one bad command must not fail its neighbours
            if len(jobs) == 1:
                _fail(jobs[0], error)
            else:
                for job in jobs:
                    try:
                        await self._run_batch([job])
                    except Exception as single:
                        _fail(job, single)
        finally:  # every path out of a batch answers every job it took
            for job in jobs:
                if not job.future.done():
                    _fail(job, Unresolved("the write path could not finish this command"))

    async def _run_batch(self, jobs: list[_Job]) -> None:
        """Optimistic once; after a conflict, pessimistic under the streams' locks. A batch
        touching a stream that met another process's append in the last CONTENDED_SECONDS
        starts pessimistic: on a hot SKU shared by processes, the optimistic try would only
        cost a transaction that fails."""
        BATCH_SIZE.observe(len(jobs))
        attempt, now = 0, time.monotonic()
        pessimistic = any(
            self._contended.get(s, 0.0) > now for job in jobs for s in job.streams or ()
        ) or any(_needs_facts(job.command) for job in jobs)
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
                        _fail(job, VersionConflictExhausted(conflict))
                    return
                RETRIES.inc()
                if pessimistic:  # only a stream found late can do this: a short pause helps
                    await asyncio.sleep(random.uniform(0, 0.002 * 2**attempt))
                pessimistic = True
            except _StaleCatalog:  # decided again on the store's catalog, under the locks
                pessimistic = True
            except IdempotencyKeyTaken as taken:
                # Those requests were recorded elsewhere first: each answers with that record
                # (Ledger._execute_keyed); the rest run again at once. Not an attempt: the batch
                # only shrinks, so this ends.
                for job in jobs:
                    if (job.caller.principal, job.caller.idempotency_key) in taken.keys:
                        _fail(job, taken)
                jobs = [job for job in jobs if not job.future.done()]
                if not jobs:
                    return

    async def _write_cached(self, jobs: list[_Job]) -> None:
        states = await self._states_for(jobs)
        decided, writes, new_states = self._decide_all(jobs, states)
        if any(isinstance(item.error, CATALOG_REFUSALS) for item in decided):
            # A refusal on a cached item or warehouse (unknown, inactive) appends nothing, so no
            # version check would tell that another process has since defined or activated it:
            # the batch is decided again on the store's state (the locked path reads it).
            self.cache.drop(s for s in states if category(s) in ("item", "warehouse"))
            raise _StaleCatalog
        await self._prefetch_already(decided)
        try:
            recorded = await self._record(decided, writes, new_states, None)
        except ConcurrencyConflict:
            self.cache.drop(w.stream_id for w in writes)
            raise
        self._commit(states, new_states, decided, recorded)

    async def _write_locked(self, jobs: list[_Job]) -> None:
        """Decide and append in one transaction that holds every stream's lock (see above)."""
        known = await self._states_for(jobs)  # which streams: their states are read again
        async with self.store.transaction(known, _only_read(jobs, known)) as conn:
            states = await self.loader.load(known, conn=conn)
            for stream_id, state in states.items():
                self.cache.put(stream_id, state)
            states = await self._states_for(jobs, states)  # a stream not locked: see above
            for job in jobs:  # facts beyond the streams, read under the same locks
                job.decided_as = await self._with_facts(job.command, conn)
            decided, writes, new_states = self._decide_all(jobs, states)
            await self._prefetch_already(decided)
            recorded = await self._record(decided, writes, new_states, conn)
        self._commit(states, new_states, decided, recorded)

    async def _record(
        self,
        decided: Sequence[_Decided],
        writes: list[StreamWrite],
        new_states: Mapping[str, State],
        conn: Connection | None,
    ) -> list[RecordedEvent]:
        """Append the batch's events, their due-reservation rows and the receipts of its keyed
        commands in one transaction (`conn`'s, or one of its own)."""
        keyed = [item for item in decided if _records_receipt(item)]
        if not writes and not keyed:
            return []
        if conn is None:
            checked = [w.stream_id for w in writes if not w.events]
            async with self.store.transaction((w.stream_id for w in writes), checked) as own:
                return await self._record(decided, writes, new_states, own)
        recorded = (
            await self.store.append(writes, deadlines(new_states), conn=conn) if writes else []
        )
        if keyed:
            by_id = {e.event_id: e for e in recorded}
            await self.store.save_idempotency(conn, [_record_of(x, by_id) for x in keyed])
        return recorded

    def _commit(
        self,
        states: Mapping[str, State],
        new_states: Mapping[str, State],
        decided: Sequence[_Decided],
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
                item.job.future.set_result(_answer(item, by_id))

    async def _states_for(
        self, jobs: Sequence[_Job], known: Mapping[str, State] | None = None
    ) -> dict[str, State]:
        """The current state of every stream the batch needs (cache, else snapshot + tail)."""
        states: dict[str, State] = dict(known or {})
        for _ in range(3):  # reservation/transfer streams name further stock streams
            wanted = {
                s
                for job in jobs
                for s in required_streams(
                    job.command, states, catalog_required=self.catalog_required
                )
            }
            missing = [s for s in wanted if s not in states]
            if not missing:
                break
            cold = []
            for stream_id in missing:
                cached = self.cache.get(stream_id)
                if cached is None:
                    cold.append(stream_id)
                else:
                    states[stream_id] = cached
            if cold:
                loaded = await self.loader.load(cold)
                for stream_id, state in loaded.items():
                    self.cache.put(stream_id, state)
                states.update(loaded)
        return states

    def _decide_all(
        self, jobs: Sequence[_Job], states: Mapping[str, State]
    ) -> tuple[list[_Decided], list[StreamWrite], dict[str, State]]:
        """Record every job in turn, each against the states the jobs before it left."""
        working = dict(states)
        pending: dict[str, list[NewEvent]] = {}
        decided: list[_Decided] = []
        for job in jobs:
            command, job.decided_as = job.decided_as or job.command, None
            try:
                recording = record(
                    command,
                    working,
                    self.clock(),
                    job.caller,
                    self.new_id,
                    catalog_required=self.catalog_required,
                )
            except DomainError as error:
                correlation = correlation_of(job.command, working, job.caller, self.new_id)
                decided.append(_Decided(job, None, error, correlation))
                continue
            for stream_id, event in recording.events:
                pending.setdefault(stream_id, []).append(event)
            working.update(recording.states)
            decided.append(_Decided(job, recording, None, recording.correlation_id))
        writes = [
            StreamWrite(stream_id, states[stream_id].version, tuple(events))
            for stream_id, events in pending.items()
        ]
        # A stream a command only read (is the item active? the rule of this stock stream? the
        # level a new rule is set against) is checked at its version in the same append: a
        # change that commits first turns this batch into a conflict and a retry, so nothing
        # is decided on a state that no longer holds. (A batch appending nothing checks
        # nothing: it changes nothing either.)
        if pending:
            read = {s for item in decided if item.recording for s in item.recording.states}
            writes += [StreamWrite(s, states[s].version, ()) for s in sorted(read - pending.keys())]
        return decided, writes, {s: working[s] for s in pending}

    async def _prefetch_already(self, decided: Sequence[_Decided]) -> None:
        """Commands the ledger already carried out answer with the earlier events (found now,
        before the append, so a keyed one's receipt can be stored with the batch)."""
        for item in decided:
            if item.recording is not None and (a := item.recording.decision.already) is not None:
                item.found = await self.store.find(a.stream_id, a.type_name, a.match)

    async def _with_facts(self, command: c.Command, conn: Connection) -> c.Command | None:
        """The command with what its decision needs beyond its streams (None: nothing): read
        in the transaction that holds its streams' locks. Every command that could change such
        a fact read-checks (and so locks) the same stream: an item's stock events follow a
        receipt, which reads the item; stock into a warehouse reads the warehouse."""
        match command:
            case c.DefineItem(stocked=None):
                return replace(command, stocked=await self.store.has_stock(conn, command.sku))
            case c.DeactivateWarehouse(holding=None):
                holding = await self.store.holding(conn, command.warehouse_id)
                return replace(command, holding=tuple(holding))
        return None

    def _remember(self, stream_id: str, before: State | None, after: State) -> None:
        self.cache.put(stream_id, after)
        old = before.version if before else 0
        if old // self.snapshot_every != after.version // self.snapshot_every:
            task = asyncio.create_task(self.loader.save_snapshot(stream_id, after))
            self._background.add(task)
            task.add_done_callback(self._background.discard)


CATALOG_REFUSALS = (UnknownItem, UnknownWarehouse, ItemInactive, WarehouseInactive)


class _StaleCatalog(Exception):
    """A cached catalog state refused a command: decide the batch again on the store's."""


def _writes_catalog(command: c.Command) -> bool:
    primary = c.primary_streams(command)  # empty for a shipment naming nothing (refused)
    return bool(primary) and category(primary[0]) in READ_CHECKED


def _only_read(jobs: Sequence[_Job], streams: Iterable[str]) -> list[str]:
    """The catalog streams among `streams` that no job of the batch writes (locked shared)."""
    written = {c.primary_streams(j.command)[0] for j in jobs if _writes_catalog(j.command)}
    return [s for s in streams if category(s) in READ_CHECKED and s not in written]


def _needs_facts(command: c.Command) -> bool:
    """Commands decided on facts beyond their streams run under their streams' locks."""
    return isinstance(command, c.DefineItem | c.DeactivateWarehouse)


def _records_receipt(item: _Decided) -> bool:
    return item.job.caller.idempotency_key is not None


def _answer(item: _Decided, recorded: Mapping[UUID, RecordedEvent]) -> Answer:
    """A decided job's answer: its refusal, or its outcome with the events as recorded."""
    if item.error is not None:
        return Answer(None, item.error, False, item.correlation_id)
    assert item.recording is not None
    already = item.recording.decision.already is not None
    events = (
        (item.found or []) if already else [recorded[e.event_id] for _, e in item.recording.events]
    )
    recording = item.recording
    outcome = Outcome(events, recording.stock, recording.reservation, already, recording.catalog)
    return Answer(outcome, None, already, item.correlation_id)


def _record_of(item: _Decided, recorded: Mapping[UUID, RecordedEvent]) -> IdempotencyRecord:
    caller = item.job.caller
    assert caller.idempotency_key is not None
    answer = receipt(_answer(item, recorded))
    return IdempotencyRecord(
        caller.principal, caller.idempotency_key, caller.request_hash, None, answer
    )


def _fail(job: _Job, error: BaseException) -> None:
    if not job.future.done():
        job.future.set_exception(error)
