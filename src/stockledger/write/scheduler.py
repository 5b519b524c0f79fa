"""Group commit: the commands of one process queue for one writer task, which runs them in batches.

The writer takes everything waiting into a batch; the batch is decided in memory, one command
after another against the cached stream states (each sees the events of those before it), and
appended in ONE transaction (write/batch.py, write/batch_writer.py). A hot SKU therefore costs
one round of decide + one transaction for many reservations instead of a conflict storm.

Pipelining: batches whose streams are disjoint run at once (up to MAX_IN_FLIGHT): the next is
decided and sent while the previous one commits; a stream is in at most one running batch, so a
stream's jobs still run in arrival order, one batch at a time, and the cached states they are
decided against are never those of a batch still in flight. A job decided on facts beyond its
streams (write/facts.py) runs alone, after every job before it committed.

The writer resolves every job it takes, on every path out of a batch (`_batch`'s and
`_write_loop`'s finally): a caller is never left waiting.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import structlog

from .. import tracing
from ..domain import commands as c
from ..domain.aggregates import required_streams
from ..domain.purchase_order.state import PurchaseOrderState
from ..domain.streams import category
from .batch import Job, fail
from .cache import StateCache
from .catalog_rules import READ_CHECKED, writes_catalog
from .facts import needs_facts
from .receipts import Answer
from .record import Caller

log = structlog.get_logger()

MAX_BATCH = 256
MAX_IN_FLIGHT = 4  # batches appending at once (each holds one pooled connection)


class Unresolved(Exception):
    """The writer could not finish a batch (a bug or a crash path); never left hanging."""


class Scheduler:
    """The queue and the one writer task of a process; `run` writes one batch."""

    def __init__(
        self,
        run: Callable[[list[Job]], Awaitable[None]],
        cache: StateCache,
        *,
        catalog_required: bool = False,
    ) -> None:
        self._run = run
        self._cache = cache
        self._catalog_required = catalog_required
        self._queue: asyncio.Queue[Job] = asyncio.Queue()
        self._writer: asyncio.Task[None] | None = None

    async def submit(self, command: c.Command, caller: Caller) -> Answer:
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._write_loop(), name="ledger-writer")
        job = Job(command, caller)
        self._queue.put_nowait(job)
        return await job.future

    async def close(self) -> None:
        if self._writer is not None:
            self._writer.cancel()
            await asyncio.gather(self._writer, return_exceptions=True)

    async def _write_loop(self) -> None:
        """Take waiting jobs into batches; keep up to MAX_IN_FLIGHT batches running at once.

        A job whose streams a running (or an earlier held) job touches is held until that
        batch ends. (Disjointness is judged from what the cache knows; a stream found later is
        still safe: the store's version check turns an overlap into a conflict, and the batch
        runs again under the streams' locks.)"""
        running: dict[asyncio.Task[None], frozenset[str]] = {}
        held: list[Job] = []
        getter: asyncio.Task[Job] | None = None
        fresh: list[Job] = []  # taken from the queue, in arrival order
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
                fail(job, Unresolved("the write path stopped before this command ran"))

    def _next_batch(
        self, held: list[Job], fresh: list[Job], busy: frozenset[str], recheck: bool
    ) -> tuple[list[Job], list[Job], bool]:
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
        ready: list[Job] = []
        still: list[Job] = []
        blocked = set(busy)
        if not recheck:
            still = held
            for job in held:
                blocked.update(job.streams or ())
            candidates = fresh
        else:
            candidates = held + fresh
        full = alone = False  # alone: a job decided on facts (needs_facts) runs by itself
        for job in candidates:
            streams = job.streams or frozenset()
            if len(ready) >= MAX_BATCH or alone:
                full = True
                still.append(job)
            elif streams & blocked:
                still.append(job)
                blocked.update(streams)
            elif needs_facts(job.command) and ready:
                full = True  # its facts must see every job before it committed
                still.append(job)
                blocked.update(streams)
            else:
                ready.append(job)
                alone = needs_facts(job.command)
        return ready, still, full

    def _footprint(self, command: c.Command) -> frozenset[str]:
        """The streams a command writes, as far as the cache knows (see _write_loop). Catalog
        streams a stock command only reads are left out: batches reading one item or
        warehouse run at once, and a batch that changes it meanwhile makes theirs conflict."""
        primary = c.primary_streams(command)
        known = {s: st for s in primary if (st := self._cache.peek(s)) is not None}
        streams = required_streams(command, known, catalog_required=self._catalog_required)
        if writes_catalog(command):
            return frozenset(streams)
        return frozenset(
            s
            for s in streams
            if category(s) not in READ_CHECKED and not self._only_reads_order(command, s)
        )

    def _only_reads_order(self, command: c.Command, stream_id: str) -> bool:
        """A receipt names a purchase order that, as cached, has no open line for it (most
        receipts: no such order was placed): it only reads that order, version-checked in its
        append like a catalog stream, so receipts naming one order id run at once. An order the
        cache does not hold stays in the footprint."""
        if not isinstance(command, c.ReceiveStock) or category(stream_id) != "po":
            return False
        order = self._cache.peek(stream_id)
        if not isinstance(order, PurchaseOrderState):
            return False
        line = order.line(command.sku, command.warehouse_id)
        return order.placed is None or order.cancelled or line is None

    async def _batch(self, jobs: list[Job]) -> None:
        # One span for the group commit, in the trace of a request it serves, linked to all.
        with tracing.batch(
            "ledger.batch", (j.caller.traceparent for j in jobs), commands=len(jobs)
        ):
            await self._batch_traced(jobs)

    async def _batch_traced(self, jobs: list[Job]) -> None:
        try:
            await self._run(jobs)
        except Exception as error:  # one bad command must not fail its neighbours
            if len(jobs) == 1:
                fail(jobs[0], error)
            else:
                for job in jobs:
                    try:
                        await self._run([job])
                    except Exception as single:
                        fail(job, single)
        finally:  # every path out of a batch answers every job it took
            for job in jobs:
                if not job.future.done():
                    fail(job, Unresolved("the write path could not finish this command"))
