"""What a webhook sends next, and what came of it.

Order: a (webhook, stream) queue row says when that stream's oldest pending delivery goes
next ('infinity': nothing pending). The sender takes due streams, and of each its oldest
pending deliveries, which it sends one after another (position order is version order within a
stream) and stops at the first that fails: that one waits for its backoff in the queue row,
the stream's later ones wait behind it, and the webhook's other streams go on.

Races: every other writer of a queue row (the matcher adding deliveries, a retry, an enable)
adds 1 to its `touched`. The sender reads `touched` with the deliveries and records in one
statement whose decisions read only the row itself: the row goes idle only if nobody touched
it since (a row updated concurrently is re-read before the decision), so a delivery added
meanwhile never waits behind an idle row, and an operator's retry meanwhile is kept. Recording
is one statement, one round trip.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg

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
class Stream:
    """A due stream of a webhook as read: its queue row's `touched` then, and its oldest
    pending deliveries in order."""

    stream_id: str
    touched: int
    deliveries: list[Due]
    complete: bool  # every delivery pending then is in `deliveries`


@dataclass(frozen=True, slots=True)
class Attempt:
    """How one POST went: a 2xx status, or the status or error that failed it."""

    status_code: int | None
    error: str | None

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


@dataclass(frozen=True, slots=True)
class Outcome:
    delivery: Due
    attempt: Attempt
    at: datetime  # when it was sent, by the dispatcher's clock


@dataclass(frozen=True, slots=True)
class Sent:
    """A stream's outcomes: its deliveries in order, up to the first that failed."""

    stream: Stream
    outcomes: list[Outcome]


@dataclass(frozen=True, slots=True)
class Health:
    """The webhook row's new failure state (webhook_health says when it changes)."""

    failing_since: datetime | None
    active: bool
    at: datetime  # the last attempt's time: `disabledAt` if it disables the webhook


_DUE = f"""
WITH streams AS (
    SELECT stream_id, touched FROM webhook_queues
    WHERE webhook_id = $1 AND next_attempt_at <= $2 AND stream_id <> ALL($3::text[])
    ORDER BY next_attempt_at LIMIT $4
)
SELECT s.stream_id, s.touched, d.delivery_id, d.attempts, d.first_attempt_at,
       e.event_id::text, e.metadata->>'traceparent', {envelope_sql()} AS body
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
) -> list[Stream]:
    """Up to `streams` due streams (but those in `besides`), each with its oldest pending
    deliveries (at most `per_stream`) in order; a stream may have none (it goes idle)."""
    rows = await pool.fetch(_DUE, webhook_id, now, list(besides), streams, per_stream)
    found: dict[str, tuple[int, list[Due]]] = {}
    for stream_id, touched, delivery_id, attempts, first, event_id, trace, body in rows:
        chain = found.setdefault(stream_id, (touched, []))[1]
        if delivery_id is not None:
            chain.append(
                Due(delivery_id, stream_id, attempts, first, event_id, trace, body.encode())
            )
    return [
        Stream(s, touched, chain, len(chain) < per_stream) for s, (touched, chain) in found.items()
    ]


def webhook_health(
    failing_since: datetime | None, outcomes: Sequence[Outcome]
) -> tuple[datetime | None, bool]:
    """`failing_since` and whether the webhook stays active after these attempts: any
    delivered clears it, else it is the first failed attempt since the last delivered one;
    3 days of that disable the webhook."""
    if not outcomes:
        return failing_since, True
    if any(o.attempt.ok for o in outcomes):
        return None, True
    since = failing_since or min(o.at for o in outcomes)
    return since, not schedule.disabled(since, max(o.at for o in outcomes))


async def record(
    pool: asyncpg.Pool[Any],
    webhook_id: UUID,
    sent: Sequence[Sent],
    *,
    health: Health | None = None,
    window_since: datetime | None = None,
    now: datetime,
) -> int:
    """Record these streams' attempts (each at the time it was sent), move their queue rows
    on (idle when nothing is left), and write `health` if given; returns how many deliveries
    were given up (`failed`). `window_since`: the webhook was enabled again then, and a
    delivery's 24 h count from it when that is later than its first attempt."""
    rows: list[tuple[Any, ...]] = []
    queues: list[tuple[Any, ...]] = []
    given_up = 0
    for stream, outcomes in ((s.stream, s.outcomes) for s in sent):
        retry_at = None
        for o in outcomes:
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
        drained = stream.complete and len(outcomes) == len(stream.deliveries) and not retry_at
        queues.append((stream.stream_id, stream.touched, retry_at, drained))
    delivery_columns = [list(c) for c in zip(*rows, strict=True)] if rows else [[]] * 7
    queue_columns = [list(c) for c in zip(*sorted(queues), strict=True)] if queues else [[]] * 4
    await pool.execute(
        _RECORD,
        webhook_id,
        now,
        *delivery_columns,
        *queue_columns,
        health is not None,
        health.failing_since if health else None,
        health.active if health else True,
        health.at if health else None,
    )
    return given_up


_RECORD = """
WITH attempted AS (
    UPDATE webhook_deliveries d
    SET status = u.status, attempts = d.attempts + 1, first_attempt_at = u.first,
        last_attempt_at = u.at, next_attempt_at = u.retry_at, last_status_code = u.code,
        last_error = u.error
    FROM unnest($3::uuid[], $4::text[], $5::timestamptz[], $6::timestamptz[],
                $7::timestamptz[], $8::int[], $9::text[])
         AS u(delivery_id, status, first, at, retry_at, code, error)
    WHERE d.delivery_id = u.delivery_id AND d.status = 'pending'
), moved AS (
    UPDATE webhook_queues q
    SET next_attempt_at = CASE
        -- an operator's retry or enable since it was read: at once, as asked
        WHEN q.touched <> s.touched AND q.next_attempt_at = '-infinity' THEN '-infinity'
        WHEN s.retry_at IS NOT NULL THEN s.retry_at  -- its head failed: the backoff
        WHEN s.drained AND q.touched = s.touched THEN 'infinity'  -- nothing left: idle
        ELSE $2  -- more to send: due now
    END
    FROM (SELECT * FROM unnest($10::text[], $11::bigint[], $12::timestamptz[], $13::bool[])
          AS s(stream_id, touched, retry_at, drained) ORDER BY stream_id) s
    WHERE q.webhook_id = $1 AND q.stream_id = s.stream_id
), health AS (
    UPDATE webhooks SET failing_since = $15, active = $16,
                        disabled_at = CASE WHEN $16 THEN disabled_at ELSE $17 END
    WHERE webhook_id = $1 AND $14
)
SELECT 1
"""
