"""The one write path: load state, decide, append (events + idempotency in one transaction), retry.

Every command of every process goes through `Ledger.execute`, which hands it to the parts below:

- write/scheduler.py: group commit. Commands of one process queue for one writer task that
  takes everything waiting into a batch; batches whose streams are disjoint run at once.
- write/batch.py: a batch decided in memory, each command against the states the ones before it
  left (`record.record`, shared with every other writer).
- write/batch_writer.py: the batch appended in one transaction, optimistically against the
  cache; after a conflict with another process, again under the advisory locks of its streams.
- write/cache.py: the stream states a batch is decided on (an LRU cache, else snapshot + tail).
- write/facts.py and write/catalog_rules.py: what a decision needs beyond its streams, and how
  the catalog streams a stock command only reads are checked and locked.
- write/receipts.py: what a command gets back (`Answer`), and how a keyed command's answer is
  stored and replayed.

Idempotency keys: a keyed command first looks for its key's record (another execution's answer,
`from_receipt`); a copy of the request already running in this process is waited for instead of
run twice (`_execute`); across processes, the unique index on the keys decides which execution
owns a key (write/receipts.py).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from datetime import UTC, datetime
from uuid import UUID, uuid4

from ..domain import commands as c
from ..metrics import COMMAND_SECONDS
from ..store.event_store import EventStore
from ..store.rows import IdempotencyKeyTaken
from ..store.snapshots import StateLoader
from .batch_writer import BatchWriter, VersionConflictExhausted
from .cache import StateCache
from .receipts import Answer, Outcome, from_receipt
from .record import Caller
from .scheduler import Scheduler


def utcnow() -> datetime:
    return datetime.now(UTC)


__all__ = [
    "Answer",
    "Caller",
    "IdempotencyKeyReused",
    "Ledger",
    "Outcome",
    "VersionConflictExhausted",
    "utcnow",
]


class IdempotencyKeyReused(Exception):
    def __init__(self, key: str) -> None:
        self.key = key
        super().__init__(f"Idempotency-Key {key!r} was used for a different request")


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
        self._batches = BatchWriter(
            store,
            loader,
            self.cache,
            snapshot_every=snapshot_every,
            clock=clock,
            new_id=new_id,
            catalog_required=catalog_required,
        )
        self._scheduler = Scheduler(
            self._batches.run, self.cache, catalog_required=catalog_required
        )
        self._in_flight: dict[tuple[str, str], tuple[str, asyncio.Future[Answer]]] = {}

    async def close(self) -> None:
        await self._scheduler.close()
        await self._batches.close()

    async def execute(
        self, command: c.Command, caller: Caller, *, unrecorded: bool = False
    ) -> Answer:
        """Run one command through the write path.

        A refusal raises its DomainError, except under an Idempotency-Key: there it is recorded
        like a success and comes back as `Answer.refusal`, the same for every copy of the
        request. Conflicts that outlast the retries raise VersionConflictExhausted.
        `unrecorded`: the caller has just found no record of the key (one lookup for many,
        `EventStore.recorded_keys`), so the first lookup is skipped; a record made since is
        still found, by the unique index at the append."""
        started = time.perf_counter()
        try:
            return await self._execute(command, caller, unrecorded)
        finally:
            COMMAND_SECONDS.labels(type(command).__name__).observe(time.perf_counter() - started)

    async def _execute(self, command: c.Command, caller: Caller, unrecorded: bool) -> Answer:
        key = caller.idempotency_key
        if key is None:
            return await self._scheduler.submit(command, caller)
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
            response = await self._execute_keyed(command, caller, key, unrecorded)
            future.set_result(response)
            return response
        except BaseException as error:
            future.set_exception(error)
            future.exception()  # retrieved: waiters re-raise it, nobody logs it as lost
            raise
        finally:
            del self._in_flight[slot]

    async def _execute_keyed(
        self, command: c.Command, caller: Caller, key: str, unrecorded: bool
    ) -> Answer:
        while True:
            stored = (
                None if unrecorded else await self.store.find_idempotency(caller.principal, key)
            )
            unrecorded = False  # after a taken key, its record is read
            if stored is not None:
                if stored.request_hash != caller.request_hash:
                    raise IdempotencyKeyReused(key)
                return from_receipt(stored)
            try:
                return await self._scheduler.submit(command, caller)
            except IdempotencyKeyTaken:
                continue  # another process recorded it first: answer with its record
