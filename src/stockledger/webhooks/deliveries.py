"""A webhook's deliveries as operators see them: listed, retried, and forgotten in time."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal
from uuid import UUID

import asyncpg

from .subscriptions import CHANNEL

Status = Literal["pending", "delivered", "failed"]

DELIVERED_KEPT = timedelta(days=7)  # from matching; then the row is deleted (not the event)
FAILED_KEPT = timedelta(days=30)  # time enough to retry them

_COLUMNS = (
    "delivery_id, webhook_id, event_id, position, stream_id, version, status, attempts, "
    "last_status_code, last_error, last_attempt_at, next_attempt_at"
)


@dataclass(frozen=True, slots=True)
class Delivery:
    delivery_id: UUID
    webhook_id: UUID
    event_id: UUID
    position: int
    stream_id: str
    version: int
    status: Status
    attempts: int
    last_status_code: int | None
    last_error: str | None
    last_attempt_at: datetime | None
    next_attempt_at: datetime | None  # set while a failed delivery waits for its next try


class AlreadyDelivered(Exception):
    """Only a pending or failed delivery can be retried."""


class WebhookInactive(Exception):
    """A disabled webhook sends nothing until it is enabled."""


async def page(
    pool: asyncpg.Pool[Any],
    webhook_id: UUID,
    status: Status | None,
    after: int,
    limit: int,
) -> list[Delivery]:
    """Deliveries in event position order, after the position `after`. The status is spelled
    in the statement (one of three), so that the failed and the pending ones are read from
    their partial indexes."""
    where = f"AND status = '{status}'" if status in ("pending", "delivered", "failed") else ""
    rows = await pool.fetch(
        f"SELECT {_COLUMNS} FROM webhook_deliveries WHERE webhook_id = $1 {where} "
        "AND position > $2 ORDER BY position LIMIT $3",
        webhook_id,
        after,
        limit,
    )
    return [Delivery(*r.values()) for r in rows]


# '-infinity': due at once on whatever clock the dispatcher reads, and before every other stream.
_DUE_NOW = """
INSERT INTO webhook_queues (webhook_id, stream_id, next_attempt_at) VALUES ($1, $2, '-infinity')
ON CONFLICT (webhook_id, stream_id)
DO UPDATE SET next_attempt_at = '-infinity', touched = webhook_queues.touched + 1
"""


async def retry(pool: asyncpg.Pool[Any], webhook_id: UUID, delivery_id: UUID) -> Delivery | None:
    """Send a pending or failed delivery at once: its stream's queue is due now (so the
    deliveries of that stream before it, which it waits for, go first). A failed one is
    pending again, with a fresh 24 h. None if there is no such delivery."""
    async with pool.acquire() as conn, conn.transaction():
        active = await conn.fetchval(
            "SELECT active FROM webhooks WHERE webhook_id = $1", webhook_id
        )
        row = await conn.fetchrow(
            "UPDATE webhook_deliveries SET status = 'pending', next_attempt_at = NULL, "
            "first_attempt_at = CASE WHEN status = 'failed' THEN NULL ELSE first_attempt_at END "
            "WHERE webhook_id = $1 AND delivery_id = $2 AND status <> 'delivered' "
            f"AND $3::bool RETURNING {_COLUMNS}",
            webhook_id,
            delivery_id,
            bool(active),
        )
        if row is None:
            found = await conn.fetchval(
                "SELECT status FROM webhook_deliveries WHERE webhook_id = $1 AND delivery_id = $2",
                webhook_id,
                delivery_id,
            )
            if found is None:
                return None
            raise WebhookInactive() if not active else AlreadyDelivered()
        await conn.execute(_DUE_NOW, webhook_id, row["stream_id"])
        await conn.execute("SELECT pg_notify($1, $2)", CHANNEL, str(webhook_id))
    return Delivery(*row.values())


async def forget(pool: asyncpg.Pool[Any], now: datetime) -> int:
    """Delete deliveries matched more than DELIVERED_KEPT ago and delivered, or failed more
    than FAILED_KEPT ago, and idle queue rows (a row the matcher revives meanwhile is not idle
    any more when the DELETE re-reads it, and one deleted first is inserted again). The matcher
    adds a webhook's deliveries in position order, so those matched before an instant are the
    ones below a position: a range of the (webhook_id, position) key."""
    await pool.execute("DELETE FROM webhook_queues WHERE next_attempt_at = 'infinity'")
    forgotten = 0
    for webhook_id in [r[0] for r in await pool.fetch("SELECT webhook_id FROM webhooks")]:
        below = await pool.fetchval(
            "SELECT position FROM webhook_deliveries WHERE webhook_id = $1 AND matched_at >= $2 "
            "ORDER BY position LIMIT 1",
            webhook_id,
            now - DELIVERED_KEPT,
        )
        result: str = await pool.execute(
            "DELETE FROM webhook_deliveries WHERE webhook_id = $1 AND ("
            " (status = 'delivered' AND position < coalesce($2, 9223372036854775807))"
            " OR (status = 'failed' AND last_attempt_at < $3))",
            webhook_id,
            below,
            now - FAILED_KEPT,
        )
        forgotten += int(result.split()[-1])
    return forgotten
