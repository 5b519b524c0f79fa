"""A batch: the jobs the scheduler took together, decided one after another in memory.

Each job is recorded (`record.record`, the one loop every writer shares) against the states the
jobs before it left, so it sees their events; the batch's events become one `StreamWrite` per
stream, at the version the batch was decided on, for one transaction. No I/O here: the clock and
new ids come in, and the writer (write/batch_writer.py) appends what `decide_batch` returns.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from uuid import UUID

from ..domain import commands as c
from ..domain.aggregates import State
from ..domain.errors import DomainError
from ..store.rows import IdempotencyRecord, NewEvent, RecordedEvent, StreamWrite
from .receipts import Answer, Outcome, idempotency_record
from .record import Caller, Recording, correlation_of, record


@dataclass(slots=True)
class Job:
    """One command waiting for the writer, and the future its caller awaits."""

    command: c.Command
    caller: Caller
    future: asyncio.Future[Answer] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )
    streams: frozenset[str] | None = None  # what it touches, as far as the cache knows
    decided_as: c.Command | None = None  # the command with its facts, for the next decision


@dataclass(slots=True)
class Decided:
    job: Job
    recording: Recording | None
    error: DomainError | None
    correlation_id: str
    found: list[RecordedEvent] | None = None  # the earlier events of an already-recorded one

    @property
    def keyed(self) -> bool:
        """Whether its receipt is stored with the batch (its caller sent an Idempotency-Key)."""
        return self.job.caller.idempotency_key is not None


def decide_batch(
    jobs: Sequence[Job],
    states: Mapping[str, State],
    clock: Callable[[], datetime],
    new_id: Callable[[], UUID],
    *,
    catalog_required: bool = False,
) -> tuple[list[Decided], list[StreamWrite], dict[str, State]]:
    """Record every job in turn, each against the states the jobs before it left: (each job's
    decision, the batch's writes, the new state of every stream written)."""
    working = dict(states)
    pending: dict[str, list[NewEvent]] = {}
    decided: list[Decided] = []
    for job in jobs:
        command, job.decided_as = job.decided_as or job.command, None
        try:
            recording = record(
                command, working, clock(), job.caller, new_id, catalog_required=catalog_required
            )
        except DomainError as error:
            correlation = correlation_of(job.command, working, job.caller, new_id)
            decided.append(Decided(job, None, error, correlation))
            continue
        for stream_id, event in recording.events:
            pending.setdefault(stream_id, []).append(event)
        working.update(recording.states)
        decided.append(Decided(job, recording, None, recording.correlation_id))
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


def answer_of(item: Decided, recorded: Mapping[UUID, RecordedEvent]) -> Answer:
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


def receipt_of(item: Decided, recorded: Mapping[UUID, RecordedEvent]) -> IdempotencyRecord:
    """A keyed job's idempotency record, for the batch's transaction."""
    return idempotency_record(item.job.caller, answer_of(item, recorded))


def fail(job: Job, error: BaseException) -> None:
    if not job.future.done():
        job.future.set_exception(error)
