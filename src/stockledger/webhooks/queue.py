"""What a webhook sends next, and what came of it.

Order: a (webhook, stream) queue row says when that stream's oldest pending delivery goes next.
The sender takes due streams, and of each its oldest pending deliveries, which it sends one
after another (position order is version order within a stream) and stops at the first that
fails: that one waits for its backoff in the queue row, the stream's later ones wait behind it,
and the webhook's other streams go on.

Locks, always in this order so that no two of these transactions wait on each other in a
cycle: delivery rows, then queue rows (sorted), then the webhook row (in NO KEY UPDATE mode,
which the foreign keys' KEY SHARE locks do not wait for). A queue row is deleted
only under its row lock after a fresh look for pending deliveries; the matcher's upsert of the
row takes the same lock, so a delivery it adds is never left without its queue row.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg

from ..store.event_store import Connection
from ..store.rows import ENVELOPE_JOIN, envelope_sql
from . import schedule


@dataclass(frozen=True, slots=True)
class Due:
    """A pending delivery, with the envelope to POST (the Kafka value's very bytes)."""

    delivery_id: UUID
    stream_id: str
    attempts: int
    first_attempt_at: datetime | None
    event_id: str
    traceparent: str | None  # the trace context stored with the event, if any
    body: bytes


@dataclass(frozen=True, slots=True)
class Attempt:
    """How one POST went: a 2xx status, or the status or error that failed it."""

    status_code: int | None
    error: str | None

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


_DUE = f"""
WITH streams AS (
    SELECT stream_id FROM webhook_queues
    WHERE webhook_id = $1 AND next_attempt_at <= $2 AND stream_id <> ALL($3::text[])
    ORDER BY next_attempt_at LIMIT $4
)
SELECT s.stream_id, d.delivery_id, d.attempts, d.first_attempt_at, e.event_id::text,
       e.metadata->>'traceparent', {envelope_sql()} AS body
FROM streams s
LEFT JOIN LATERAL (
    SELECT delivery_id, position, attempts, first_attempt_at FROM webhook_deliveries
    WHERE webhook_id = $1 AND stream_id = s.stream_id AND status = 'pending'
    ORDER BY position LIMIT $5
) d ON true
LEFT JOIN events e ON e.position = d.position {ENVELOPE_JOIN}
ORDER BY s.stream_id, d.position
"""


async def due(
    pool: asyncpg.Pool[Any],
    webhook_id: UUID,
    now: datetime,
    *,
    streams: int,
    per_stream: int,
    besides: Sequence[str] = (),
) -> dict[str, list[Due]]:
    """Up to `streams` due streams (but those in `besides`), each with its oldest pending
    deliveries (at most `per_stream`) in order; a stream with none maps to []."""
    rows = await pool.fetch(_DUE, webhook_id, now, list(besides), streams, per_stream)
    found: dict[str, list[Due]] = {}
    for stream_id, delivery_id, attempts, first, event_id, traceparent, body in rows:
        chain = found.setdefault(stream_id, [])
        if delivery_id is not None:
            chain.append(
                Due(delivery_id, stream_id, attempts, first, event_id, traceparent, body.encode())
            )
    return found


@dataclass(frozen=True, slots=True)
class Outcome:
    delivery: Due
    attempt: Attempt
    at: datetime  # when it was sent, by the dispatcher's clock


@dataclass(frozen=True, slots=True)
class Recorded:
    """What recording a set of outcomes changed."""

    given_up: int  # deliveries now `failed`
    active: bool  # False: the webhook was disabled (3 days of failures)


async def record(
    pool: asyncpg.Pool[Any],
    webhook_id: UUID,
    outcomes: Sequence[Outcome],
    emptied: Sequence[str],
    *,
    window_since: datetime | None = None,
) -> Recorded:
    """Record these attempts (each at the time it was sent), move their streams' queue rows
    on, drop the queue rows of `emptied` streams that have no pending delivery left, and keep
    the webhook's health. `window_since`: the webhook was enabled again then, and a delivery's
    24 h count from it when that is later than its first attempt."""
    rows: list[tuple[Any, ...]] = []
    queues: dict[str, datetime] = {}  # stream -> when its queue row is due next
    settled: dict[str, bool] = {}  # stream -> its last delivery tried is done with
    given_up = 0
    for o in outcomes:  # a stream's outcomes in order: its last one decides its queue row
        d, a, at = o.delivery, o.attempt, o.at
        first = d.first_attempt_at or at
        retry_at = None
        if a.ok:
            status = "delivered"
        else:
            since = max(first, window_since) if window_since is not None else first
            retry_at = schedule.next_attempt(since, d.attempts + 1, at)
            status = "pending" if retry_at is not None else "failed"
            given_up += status == "failed"
        rows.append((d.delivery_id, status, first, at, retry_at, a.status_code, a.error))
        queues[d.stream_id] = retry_at or at
        settled[d.stream_id] = retry_at is None
    streams = sorted(set(queues) | set(emptied))
    drain = [s for s in streams if settled.get(s, True)]
    async with pool.acquire() as conn, conn.transaction():
        if rows:
            await conn.execute(_RECORD, *(list(column) for column in zip(*rows, strict=True)))
        await conn.execute(_LOCK_QUEUES, webhook_id, streams)
        await conn.execute(_MOVE_QUEUES, webhook_id, list(queues), list(queues.values()))
        await conn.execute(_DRAIN_QUEUES, webhook_id, drain)
        delivered = any(o.attempt.ok for o in outcomes)
        active = await _health(conn, webhook_id, delivered, [o.at for o in outcomes])
    return Recorded(given_up, active)


_RECORD = """
UPDATE webhook_deliveries d
SET status = u.status, attempts = d.attempts + 1, first_attempt_at = u.first,
    last_attempt_at = u.at, next_attempt_at = u.retry_at, last_status_code = u.code,
    last_error = u.error
FROM unnest($1::uuid[], $2::text[], $3::timestamptz[], $4::timestamptz[], $5::timestamptz[],
            $6::int[], $7::text[]) AS u(delivery_id, status, first, at, retry_at, code, error)
WHERE d.delivery_id = u.delivery_id AND d.status = 'pending'
"""
_LOCK_QUEUES = """
SELECT 1 FROM webhook_queues WHERE webhook_id = $1 AND stream_id = ANY($2::text[])
ORDER BY stream_id FOR UPDATE
"""
_MOVE_QUEUES = """
UPDATE webhook_queues q SET next_attempt_at = u.at
FROM unnest($2::text[], $3::timestamptz[]) AS u(stream_id, at)
WHERE q.webhook_id = $1 AND q.stream_id = u.stream_id
"""
# A statement of its own, after the lock: its snapshot sees every delivery committed before.
_DRAIN_QUEUES = """
DELETE FROM webhook_queues q WHERE q.webhook_id = $1 AND q.stream_id = ANY($2::text[])
AND NOT EXISTS (SELECT 1 FROM webhook_deliveries d WHERE d.webhook_id = $1
                AND d.stream_id = q.stream_id AND d.status = 'pending')
"""


async def _health(
    conn: Connection,
    webhook_id: UUID,
    delivered: bool,
    tried: Sequence[datetime],
) -> bool:
    """Keep `failing_since`; disable the webhook after 3 days of nothing but failures (the
    attempts `tried` at these times)."""
    # NO KEY UPDATE: the matcher's inserts hold KEY SHARE locks on the webhook row (the foreign
    # keys) while they wait for queue rows this transaction holds; FOR UPDATE would deadlock.
    row = await conn.fetchrow(
        "SELECT active, failing_since FROM webhooks WHERE webhook_id = $1 FOR NO KEY UPDATE",
        webhook_id,
    )
    if row is None:
        return False  # deleted meanwhile
    if not tried:
        return bool(row["active"])
    failing_since = None if delivered else row["failing_since"] or min(tried)
    active = row["active"] and not schedule.disabled(failing_since, max(tried))
    if failing_since != row["failing_since"] or active != row["active"]:
        await conn.execute(
            "UPDATE webhooks SET failing_since = $2, active = $3, "
            "disabled_at = CASE WHEN $3 THEN disabled_at ELSE $4 END WHERE webhook_id = $1",
            webhook_id,
            failing_since,
            active,
            max(tried),
        )
    return bool(active)
