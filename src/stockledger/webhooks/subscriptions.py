"""Webhook subscriptions in Postgres: register, list, delete, enable again.

Registering or enabling a webhook takes the matcher's cursor row in share mode (matcher.py
holds it exclusively for each pass), so it waits for a pass in flight: a webhook takes part in
matching from the cursor on, never from the middle of a pass that did not see it. Every change
is announced on CHANNEL (payload: the webhook id) for the dispatcher, wherever it runs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID, uuid4

import asyncpg

from ..store.event_store import Connection
from .secret_box import SecretBox, new_secret

CHANNEL = "stockledger_webhooks"

_COLUMNS = (
    "webhook_id, url, event_types, sku_prefix, description, active, created_at, created_by, "
    "failing_since, disabled_at, enabled_at"
)


@dataclass(frozen=True, slots=True)
class Subscription:
    webhook_id: UUID
    url: str
    event_types: tuple[str, ...] | None  # None: every type
    sku_prefix: str | None
    description: str | None
    active: bool
    created_at: datetime
    created_by: str
    failing_since: datetime | None  # first failed attempt since the last delivered one
    disabled_at: datetime | None
    enabled_at: datetime | None  # when it was last enabled again

    @staticmethod
    def of(row: asyncpg.Record) -> Subscription:
        types = row["event_types"]
        return Subscription(
            webhook_id=row["webhook_id"],
            url=row["url"],
            event_types=tuple(types) if types is not None else None,
            sku_prefix=row["sku_prefix"],
            description=row["description"],
            active=row["active"],
            created_at=row["created_at"],
            created_by=row["created_by"],
            failing_since=row["failing_since"],
            disabled_at=row["disabled_at"],
            enabled_at=row["enabled_at"],
        )


async def _announce(conn: Connection, webhook_id: UUID) -> None:
    await conn.execute("SELECT pg_notify($1, $2)", CHANNEL, str(webhook_id))


async def register(
    pool: asyncpg.Pool[Any],
    box: SecretBox,
    *,
    url: str,
    event_types: Sequence[str] | None,
    sku_prefix: str | None,
    description: str | None,
    principal: str,
    now: datetime,
) -> tuple[Subscription, str]:
    """A new active webhook and its signing secret (returned this once, stored sealed)."""
    webhook_id, secret = uuid4(), new_secret()
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute("SELECT position FROM webhook_cursor FOR SHARE")
        row = await conn.fetchrow(
            f"INSERT INTO webhooks ({_COLUMNS}, secret) "
            "VALUES ($1, $2, $3, $4, $5, true, $6, $7, NULL, NULL, NULL, $8) "
            f"RETURNING {_COLUMNS}",
            webhook_id,
            url,
            list(event_types) if event_types is not None else None,
            sku_prefix,
            description,
            now,
            principal,
            box.seal(secret, webhook_id),
        )
        await _announce(conn, webhook_id)
    assert row is not None  # RETURNING of an INSERT
    return Subscription.of(row), secret


async def listing(pool: asyncpg.Pool[Any]) -> list[Subscription]:
    rows = await pool.fetch(f"SELECT {_COLUMNS} FROM webhooks ORDER BY created_at, webhook_id")
    return [Subscription.of(r) for r in rows]


async def find(pool: asyncpg.Pool[Any], webhook_id: UUID) -> Subscription | None:
    row = await pool.fetchrow(f"SELECT {_COLUMNS} FROM webhooks WHERE webhook_id = $1", webhook_id)
    return Subscription.of(row) if row is not None else None


async def delete(pool: asyncpg.Pool[Any], webhook_id: UUID) -> bool:
    """Delete the webhook with its deliveries; False if there was none."""
    async with pool.acquire() as conn, conn.transaction():
        deleted = await conn.fetchval(
            "DELETE FROM webhooks WHERE webhook_id = $1 RETURNING true", webhook_id
        )
        if deleted:
            await _announce(conn, webhook_id)
    return bool(deleted)


async def enable(pool: asyncpg.Pool[Any], webhook_id: UUID, now: datetime) -> Subscription | None:
    """Enable a disabled webhook: its pending deliveries go at once, each with a fresh 24 h,
    and it takes part in matching again (events matched while it was disabled are not sent).
    An active webhook is left as it is. None if there is no such webhook."""
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute("SELECT position FROM webhook_cursor FOR SHARE")
        row = await conn.fetchrow(
            "UPDATE webhooks SET active = true, failing_since = NULL, disabled_at = NULL, "
            f"enabled_at = $2 WHERE webhook_id = $1 AND NOT active RETURNING {_COLUMNS}",
            webhook_id,
            now,
        )
        if row is None:
            return await find(pool, webhook_id)
        # No sender runs for an inactive webhook, so nothing else holds these rows.
        await conn.execute(  # due at once, whatever clock the dispatcher reads
            "UPDATE webhook_queues SET next_attempt_at = '-infinity', touched = touched + 1 "
            "WHERE webhook_id = $1 AND next_attempt_at <> 'infinity'",
            webhook_id,
        )
        await _announce(conn, webhook_id)
    return Subscription.of(row)


async def sealed_secrets(pool: asyncpg.Pool[Any]) -> dict[UUID, tuple[Subscription, bytes]]:
    """Every active webhook with its sealed secret (the dispatcher's endpoints)."""
    rows = await pool.fetch(f"SELECT {_COLUMNS}, secret FROM webhooks WHERE active")
    return {r["webhook_id"]: (Subscription.of(r), bytes(r["secret"])) for r in rows}
